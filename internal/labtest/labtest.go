// Package labtest is the lab rig of exchops' tests: a simulated organisation (lab)
// behind its real WS-Management endpoints, the real WinRM runner wired to it with the
// lab's credentials, and cleanup when the test ends. Tests outside lab and runners
// use it instead of wiring their own; lab itself and package runners' internal tests
// cannot (lab and runners are below it).
package labtest

import (
	"context"
	"testing"
	"time"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/runners"
)

// Env is the organisation the lab simulates (lab.Env).
var Env = lab.Env()

// Start starts a lab with opt and a WinRM runner for all its servers (with the
// lab's credentials) with ropt; both close when the test ends, the runner first.
func Start(t testing.TB, opt lab.Options, ropt runners.Options) (*lab.Lab, *runners.WinRM) {
	t.Helper()
	l, err := lab.Start(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	r, err := runners.New(l.RunnerEndpoints(), ropt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return l, r
}

// Rig is a lab, a runner for all its servers, and the manual clock both run on.
type Rig struct {
	T      testing.TB
	Lab    *lab.Lab
	Runner *runners.WinRM
	Clock  *clock.Manual
}

// T0 is when a Rig's clock starts.
var T0 = time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)

// NewRig starts a lab and its runner on a manual clock at T0. timing overrides the
// lab's (nil: its defaults).
func NewRig(t testing.TB, timing *lab.Timing) *Rig {
	t.Helper()
	c := clock.NewManual(T0)
	l, r := Start(t, lab.Options{Clock: c, Timing: timing, OperationTimeoutCap: 200 * time.Millisecond},
		runners.Options{Timeout: 30 * time.Second, OperationTimeout: time.Second, Clock: c})
	return &Rig{T: t, Lab: l, Runner: r, Clock: c}
}

// Advance moves the clock one second whenever something sleeps on it (a DAG member
// joining, a switchover, the runner between polls), until the returned function is
// called or the test ends.
func (g *Rig) Advance() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if g.Clock.WaitForSleepers(ctx, 1) != nil {
				return
			}
			g.Clock.Advance(time.Second)
		}
	}()
	stop = func() { cancel(); <-done }
	g.T.Cleanup(stop)
	return stop
}

// Plan parses text and plans it for Env, failing the test when either fails.
func (g *Rig) Plan(text string) *commands.Plan {
	g.T.Helper()
	inv, err := commands.Parse(text)
	if err != nil {
		g.T.Fatal(err)
	}
	p, err := inv.Plan(Env)
	if err != nil {
		g.T.Fatal(err)
	}
	return p
}

// Change preflights a command, fails the test if it is blocked or has nothing to do,
// and executes it under its lock, as approvals would, time moving as it needs. It
// returns the progress lines.
func (g *Rig) Change(text string) []string {
	g.T.Helper()
	stop := g.Advance()
	defer stop()
	p := g.Plan(text)
	f, err := g.Runner.Preflight(context.Background(), p)
	if err != nil {
		g.T.Fatalf("%s: preflight: %v", text, err)
	}
	if f.Blocked() || f.NoOp {
		g.T.Fatalf("%s: preflight says:\n%s", text, f)
	}
	var lines []string
	if _, err := g.Runner.Execute(context.Background(), p, LockOf(p, f), func(s string) { lines = append(lines, s) }); err != nil {
		g.T.Fatalf("%s: %v", text, err)
	}
	return lines
}

// LockOf is the lock a plan runs under: the one its preflight found, else its own.
func LockOf(p *commands.Plan, f commands.Findings) string {
	if f.Lock != "" {
		return f.Lock
	}
	return p.Lock
}
