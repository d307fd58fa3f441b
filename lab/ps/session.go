package ps

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"time"
)

// sessionState is the interpreter's side of a Session.
type sessionState struct {
	mu       sync.Mutex // one Run at a time, as one powershell.exe runs one script
	s        *Session
	cmds     map[string]*Cmdlet
	builtins map[*Cmdlet]string // built-in cmdlet -> its .NET type name
	env      map[string]string
	global   *scope

	// Per run.
	ctx       context.Context
	src       []rune
	cur       *scope
	fmt       *formatter
	steps     int
	callDepth int
	tryDepth  int
	lastOK    bool
	hasInput  bool // whether the command being invoked has pipeline input
}

var aliases = map[string]string{
	"%": "foreach-object", "foreach": "foreach-object", "?": "where-object", "where": "where-object",
	"select": "select-object", "sort": "sort-object", "measure": "measure-object", "echo": "write-output",
	"write": "write-output", "sleep": "start-sleep",
}

func newSession(cfg Config) *Session {
	s := &Session{cfg: cfg}
	st := &sessionState{s: s, cmds: map[string]*Cmdlet{}, builtins: map[*Cmdlet]string{}, env: map[string]string{}}
	for k, v := range cfg.Env {
		st.env[k] = v
	}
	st.global = newScope(nil)
	st.global.vars["erroractionpreference"] = "Continue"
	st.global.vars["verbosepreference"] = "SilentlyContinue"
	st.global.vars["warningpreference"] = "Continue"
	st.global.vars["debugpreference"] = "SilentlyContinue"
	st.global.vars["error"] = []any{}
	st.global.vars["lastexitcode"] = nil
	st.cur = st.global
	s.impl = st
	for _, b := range builtinCmdlets() {
		st.builtins[b.cmd] = b.typeName
		st.cmds[strings.ToLower(b.cmd.Name)] = b.cmd
	}
	s.define(cfg.Commands)
	return s
}

func (s *Session) define(cmds []*Cmdlet) {
	for _, c := range cmds {
		if c != nil {
			s.impl.cmds[strings.ToLower(c.Name)] = c
		}
	}
}

func (s *Session) defined(name string) bool { return s.impl.lookup(name) != nil }

func (st *sessionState) lookup(name string) *Cmdlet {
	n := strings.ToLower(name)
	if c, ok := st.cmds[n]; ok {
		return c
	}
	if a, ok := aliases[n]; ok {
		return st.cmds[a]
	}
	if base, ok := strings.CutSuffix(n, ".exe"); ok {
		if c, ok := st.cmds[base]; ok && c.Native {
			return c
		}
	} else if c, ok := st.cmds[n+".exe"]; ok {
		return c
	}
	return nil
}

func (st *sessionState) now() time.Time {
	if st.s.cfg.Now != nil {
		return st.s.cfg.Now()
	}
	return time.Now()
}

func (s *Session) run(ctx context.Context, script string) int {
	st := s.impl
	st.mu.Lock()
	defer st.mu.Unlock()
	st.ctx = noCtx(ctx)
	st.src = []rune(script)
	st.fmt = newFormatter(st, s.cfg.Stdout)
	st.cur, st.steps, st.callDepth, st.tryDepth, st.lastOK = st.global, 0, 0, 0, true
	body, perr := parseScript(script)
	if perr != nil {
		st.printParseError(perr)
		return 1
	}
	err := st.execBlock(body, st.fmt.add)
	st.fmt.flush()
	var rt *runtimeError
	var ex exitFlow
	switch {
	case err == nil:
		if !st.lastOK {
			return 1
		}
		return 0
	case errors.As(err, &ex):
		return ex.code
	case errors.As(err, &rt):
		st.recordError(rt.rec)
		st.printError(rt.rec, rt.at, rt.stopped)
		return 1
	}
	// break, continue or return outside any loop or block end the script quietly.
	return 0
}

func (st *sessionState) stdout() io.Writer {
	if st.s.cfg.Stdout == nil {
		return io.Discard
	}
	return st.s.cfg.Stdout
}

func (st *sessionState) stderr() io.Writer {
	if st.s.cfg.Stderr == nil {
		return io.Discard
	}
	return st.s.cfg.Stderr
}

// crlf normalises line ends to "\r\n", what powershell.exe writes over WinRS.
func crlf(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// writeOut writes a line to stdout after whatever the formatter holds.
func (st *sessionState) writeOut(line string) {
	if st.fmt != nil {
		st.fmt.flush()
	}
	io.WriteString(st.stdout(), crlf(line)+"\r\n")
}

func (st *sessionState) writeErr(line string) {
	if st.fmt != nil {
		st.fmt.flush()
	}
	io.WriteString(st.stderr(), crlf(line)+"\r\n")
}

func (st *sessionState) writeRaw(stderr bool, s string) {
	if st.fmt != nil {
		st.fmt.flush()
	}
	w := st.stdout()
	if stderr {
		w = st.stderr()
	}
	io.WriteString(w, crlf(s))
}

const stopPrefix = "Command execution stopped because the preference variable \"ErrorActionPreference\" or common parameter is set to Stop: "

// printError writes an error record in PowerShell 2.0's format.
func (st *sessionState) printError(rec *ErrorRecord, at int, stopped bool) {
	var b strings.Builder
	if rec.Command != "" {
		b.WriteString(rec.Command + " : ")
	}
	if stopped {
		b.WriteString(stopPrefix)
	}
	b.WriteString(rec.Message)
	line, col, text := position(st.src, at)
	b.WriteString("\r\n" + positionMessage(line, col, text))
	b.WriteString("\r\n    + CategoryInfo          : " + categoryInfo(rec))
	b.WriteString("\r\n    + FullyQualifiedErrorId : " + rec.ErrorID)
	st.writeErr(b.String())
}

func (st *sessionState) printParseError(pe *parseError) {
	line, col, text := position(st.src, pe.at)
	tgt := targetName(pe.target)
	typ := "String"
	if pe.target == "" {
		typ = ""
	}
	st.writeErr(pe.msg + "\r\n" + positionMessage(line, col, text) +
		"\r\n    + CategoryInfo          : ParserError: (" + tgt + ":" + typ + ") [], ParentContainsErrorRecordException" +
		"\r\n    + FullyQualifiedErrorId : " + pe.id)
}
