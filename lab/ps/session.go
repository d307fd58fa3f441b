package ps

import (
	"context"
	"errors"
	"io"
	"sort"
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
	hasInput  bool   // whether the command being invoked has pipeline input
	typed     Output // set while Invoke runs: the streams go to it, not to Stdout/Stderr
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
	var keep map[string]bool
	if cfg.Builtins != nil {
		keep = map[string]bool{}
		for _, n := range cfg.Builtins {
			keep[strings.ToLower(n)] = true
		}
	}
	for _, b := range builtinCmdlets() {
		if keep != nil && !keep[strings.ToLower(b.cmd.Name)] {
			continue
		}
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
	if a, ok := aliases[n]; ok && st.s.cfg.Builtins == nil {
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

// invokeTyped runs a pipeline of typed commands (Session.Invoke).
func (s *Session) invokeTyped(ctx context.Context, cmds []Command, out Output) error {
	st := s.impl
	st.mu.Lock()
	defer st.mu.Unlock()
	st.ctx = noCtx(ctx)
	st.src, st.fmt = nil, nil
	st.cur, st.steps, st.callDepth, st.tryDepth, st.lastOK = st.global, 0, 0, 0, true
	st.typed = out
	defer func() { st.typed = nil }()
	var input []any
	hasInput := false
	for i, cmd := range cmds {
		if err := st.ctx.Err(); err != nil {
			return err
		}
		var buf []any
		sink := out.Object
		if i < len(cmds)-1 {
			sink = func(v any) { buf = append(buf, v) }
		}
		c := st.lookup(cmd.Name)
		if c == nil || c.Native {
			return notRecognized(cmd.Name)
		}
		args := make([]evArg, 0, len(cmd.Args))
		for _, a := range cmd.Args {
			ea := evArg{param: a.Name, value: a.Value, hasValue: true}
			if a.Name != "" {
				ea.colon, ea.raw = true, "-"+a.Name
			}
			args = append(args, ea)
		}
		if err := st.invoke(c, cmd.Name, args, input, hasInput, sink, 0); err != nil {
			if cerr := st.ctx.Err(); cerr != nil {
				return cerr
			}
			var rt *runtimeError
			if errors.As(err, &rt) {
				st.recordError(rt.rec)
				return rt.rec
			}
			return err
		}
		input, hasInput = buf, true
	}
	return nil
}

// notRecognized is PowerShell's CommandNotFoundException.
func notRecognized(name string) *ErrorRecord {
	return &ErrorRecord{
		Message: "The term '" + name + "' is not recognized as the name of a cmdlet, function, script file, or operable program. " +
			"Check the spelling of the name, or if a path was included, verify that the path is correct and try again.",
		Category: "ObjectNotFound", ErrorID: "CommandNotFoundException", Target: name,
		ExceptionType: "System.Management.Automation.CommandNotFoundException"}
}

// warning, verbose and progress send a cmdlet's other streams to the typed pipeline's
// Output, or to stdout the way powershell.exe prints them.
func (st *sessionState) warning(text string) {
	if st.typed != nil {
		st.typed.Warning(text)
		return
	}
	st.writeOut("WARNING: " + text)
}

func (st *sessionState) verboseLine(text string) {
	if st.typed != nil {
		st.typed.Verbose(text)
		return
	}
	st.writeOut("VERBOSE: " + text)
}

func (st *sessionState) progress(id int, activity, status string, percent int, completed bool) {
	if st.typed != nil {
		st.typed.Progress(id, activity, status, percent, completed)
	}
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
	if st.typed != nil {
		st.typed.Error(rec)
		return
	}
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

// commandNames lists the session's commands by their declared names, sorted.
func (s *Session) commandNames() []string {
	var names []string
	for _, c := range s.impl.cmds {
		names = append(names, c.Name)
	}
	sort.Strings(names)
	return names
}
