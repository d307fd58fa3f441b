package lab

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/lab/ps"
	"github.com/exchops/exchops/lab/psrp"
)

// recorder is a psrp.Output that keeps what a pipeline produced, in order, for a
// transcript. Objects are rendered by the caller's columns.
type recorder struct {
	mu      sync.Mutex
	lines   []string
	objects []any
	cols    []string
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *recorder) Object(v any) {
	r.mu.Lock()
	r.objects = append(r.objects, v)
	r.mu.Unlock()
	r.add("%s", renderRow(v, r.cols))
}

func (r *recorder) Error(rec *ps.ErrorRecord) {
	r.add("error: %s\n  + CategoryInfo: %s\n  + FullyQualifiedErrorId: %s", rec.Message, rec.Category, rec.ErrorID)
}
func (r *recorder) Warning(text string) { r.add("warning: %s", text) }
func (r *recorder) Verbose(text string) { r.add("verbose: %s", text) }
func (r *recorder) Progress(id int, activity, status string, percent int, completed bool) {
	done := ""
	if completed {
		done = " (completed)"
	}
	r.add("progress %d: %s: %s %d%%%s", id, activity, status, percent, done)
}

func (r *recorder) errors() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.lines {
		if strings.HasPrefix(l, "error: ") {
			n++
		}
	}
	return n
}

// text renders a value the way the tables read it: lists as their elements' text
// joined with ';', dates as UTC ISO 8601.
func text(v any) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = text(e)
		}
		return strings.Join(parts, ";")
	case time.Time:
		if x.IsZero() {
			return ""
		}
		return x.UTC().Format(time.RFC3339)
	}
	return ps.ToString(v)
}

// renderRow shows the columns of an object (all of them when cols is empty).
func renderRow(v any, cols []string) string {
	o, ok := v.(*ps.Object)
	if !ok {
		return text(v)
	}
	var parts []string
	if len(cols) == 0 {
		for _, p := range o.Props() {
			parts = append(parts, p.Name+"="+text(p.Value))
		}
	}
	for _, c := range cols {
		val, _ := o.Get(c)
		parts = append(parts, c+"="+text(val))
	}
	return strings.Join(parts, " | ")
}

// cmd builds a typed command from name, value pairs; a name "" is positional, a
// value of true on a switch is the switch.
func cmd(name string, nameValues ...any) psrp.Command {
	c := psrp.Command{Name: name}
	for i := 0; i+1 < len(nameValues); i += 2 {
		c.Args = append(c.Args, psrp.Arg{Name: nameValues[i].(string), Value: nameValues[i+1]})
	}
	return c
}

// render shows a pipeline as an administrator would type it, for transcripts.
func render(cmds []psrp.Command) string {
	parts := make([]string, len(cmds))
	for i, c := range cmds {
		var b strings.Builder
		b.WriteString(c.Name)
		for _, a := range c.Args {
			if a.Name != "" {
				b.WriteString(" -" + a.Name)
				if a.Value == true {
					continue
				}
			}
			switch v := a.Value.(type) {
			case string:
				b.WriteString(" '" + v + "'")
			case []any:
				var q []string
				for _, e := range v {
					q = append(q, fmt.Sprintf("'%v'", e))
				}
				b.WriteString(" " + strings.Join(q, ","))
			case bool:
				b.WriteString(fmt.Sprintf(":$%v", v))
			default:
				b.WriteString(fmt.Sprintf(" %v", v))
			}
		}
		parts[i] = b.String()
	}
	return strings.Join(parts, " | ")
}

// step is one pipeline of a typed session, or a wait on the lab clock.
type step struct {
	section string // a heading line in the transcript
	pipe    []psrp.Command
	cols    []string
	wait    time.Duration
}

func pipe(cols []string, cmds ...psrp.Command) step { return step{pipe: cmds, cols: cols} }
func run(cmds ...psrp.Command) step                 { return step{pipe: cmds} }
func section(name string) step                      { return step{section: name} }
func wait(d time.Duration) step                     { return step{wait: d} }

// invokeOn opens a session on server on's Exchange endpoint as the lab's account and
// runs one pipeline, driving the manual clock one second at a time whenever
// something waits on it, so every wait ends exactly at its deadline.
func invokeOn(t *testing.T, rs psrp.Runspace, clk *clock.Manual, cmds []psrp.Command, out psrp.Output) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- rs.Invoke(ctx, cmds, out) }()
	return drive(t, ctx, clk, done, render(cmds))
}

// drive advances the manual clock a second at a time whenever something waits on it,
// until done delivers.
func drive(t *testing.T, ctx context.Context, clk *clock.Manual, done <-chan error, what string) error {
	t.Helper()
	for {
		wctx, stop := context.WithCancel(ctx)
		waited := make(chan error, 1)
		go func() { waited <- clk.WaitForSleepers(wctx, 1) }()
		select {
		case err := <-done:
			stop()
			<-waited
			return err
		case err := <-waited:
			stop()
			if err != nil {
				t.Fatalf("%s did not finish: %v", what, err)
			}
			clk.Advance(time.Second)
		}
	}
}

func openSession(t *testing.T, o *Org, on string) psrp.Runspace {
	t.Helper()
	e, err := NewExchangeEndpoint(o, on)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := e.Open(context.Background(), DefaultUser)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Close)
	return rs
}

// runSession runs steps in one session on server on and renders the transcript. Like
// exchops' runner, it stops at the first pipeline that reports an error.
func runSession(t *testing.T, o *Org, clk *clock.Manual, on string, steps []step) string {
	t.Helper()
	return runSessionMode(t, o, clk, on, steps, true)
}

// runSessionMode is runSession; with stop false it goes on after errors, as a
// script of try/catch statements would.
func runSessionMode(t *testing.T, o *Org, clk *clock.Manual, on string, steps []step, stop bool) string {
	t.Helper()
	rs := openSession(t, o, on)
	var b strings.Builder
	start := clk.Now()
	for _, s := range steps {
		switch {
		case s.section != "":
			fmt.Fprintf(&b, "## %s\n", s.section)
			continue
		case s.wait > 0:
			clk.Advance(s.wait)
			fmt.Fprintf(&b, "(%s later)\n", s.wait)
			continue
		}
		rec := &recorder{cols: s.cols}
		err := invokeOn(t, rs, clk, s.pipe, rec)
		fmt.Fprintf(&b, "> %s\n", render(s.pipe))
		for _, l := range squeezeProgress(rec.lines) {
			b.WriteString(l + "\n")
		}
		if err != nil {
			fmt.Fprintf(&b, "terminating: %v\n", err)
		}
		if stop && (err != nil || rec.errors() > 0) {
			b.WriteString("(stopped)\n")
			break
		}
	}
	fmt.Fprintf(&b, "clock: +%s\n", clk.Now().Sub(start))
	return b.String()
}

// sortedKeys is for maps in messages.
func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// squeezeProgress keeps the first and last of each run of progress records, with a
// count of those in between: transcripts stay readable, the ends stay checked.
func squeezeProgress(lines []string) []string {
	var out []string
	for i := 0; i < len(lines); {
		j := i
		for j < len(lines) && strings.HasPrefix(lines[j], "progress ") {
			j++
		}
		switch n := j - i; {
		case n == 0:
			out = append(out, lines[i])
			j = i + 1
		case n <= 2:
			out = append(out, lines[i:j]...)
		default:
			out = append(out, lines[i], fmt.Sprintf("(%d more progress records)", n-2), lines[j-1])
		}
		i = j
	}
	return out
}
