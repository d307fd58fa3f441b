// Package bottest is the test kit of exchops' chat fronts: one in-process executor
// that behaves like the runners (FakeExec), one way to wire a real core, approvals
// service and SQLite store together (NewRig), one in-process fake per chat platform
// that answers as the platform's API does, failures included (FakeSlack, FakeDiscord),
// and the contract every front's delivery must keep (contract.go). Tests of bot and
// of every front use it instead of wiring their own. The lab rig (a lab and a runner
// wired to it) is internal/labtest.
package bottest

import (
	"context"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/internal/metrics"
	"github.com/exchops/exchops/store"
)

// Env is the Exchange environment of the tests.
var Env = commands.Env{ManagementServer: "EX10-CAHT", DNSServer: "DC01"}

// FakeExec stands in for the runners: the organisation takes every change unless the
// test says otherwise, and every run prints "output of <command>". What the core and
// approvals decide stays real. The zero value is ready; it is safe for concurrent use.
type FakeExec struct {
	// Findings is what every preflight finds (nil: nothing).
	Findings []commands.Finding
	// PreflightFunc, when set, answers the n-th preflight (n counts from 1).
	PreflightFunc func(n int32) (commands.Findings, error)
	// Output, when set, is what a run prints.
	Output func(p *commands.Plan) string
	// ExecuteFunc, when set, answers Execute (after progress and holds).
	ExecuteFunc func(p *commands.Plan) (string, error)
	// Progress makes changes (not read-only runs) report "running step 1 of N".
	Progress bool
	// Started, when not nil, is told the command of every run.
	Started chan string

	Preflights, Executes atomic.Int32

	mu   sync.Mutex
	hold map[string]chan struct{}
}

// Preflight is approvals.Executor.
func (e *FakeExec) Preflight(context.Context, *commands.Plan) (commands.Findings, error) {
	n := e.Preflights.Add(1)
	if e.PreflightFunc != nil {
		return e.PreflightFunc(n)
	}
	return commands.Findings{List: e.Findings}, nil
}

// Hold makes runs of the named command (its spec name, "dag create") wait until the
// returned func is called or their context ends.
func (e *FakeExec) Hold(name string) (release func()) {
	ch := make(chan struct{})
	e.mu.Lock()
	if e.hold == nil {
		e.hold = map[string]chan struct{}{}
	}
	e.hold[name] = ch
	e.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

// ReleaseAll lets every held run finish.
func (e *FakeExec) ReleaseAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for name, ch := range e.hold {
		select {
		case <-ch:
		default:
			close(ch)
		}
		delete(e.hold, name)
	}
}

// Execute is approvals.Executor.
func (e *FakeExec) Execute(ctx context.Context, p *commands.Plan, _ string, progress func(string)) (string, error) {
	e.Executes.Add(1)
	if e.Started != nil {
		e.Started <- p.Command
	}
	if progress != nil && e.Progress && !p.ReadOnly {
		progress("running step 1 of " + strconv.Itoa(len(p.Steps)))
	}
	if inv, err := commands.Parse(p.Command); err == nil {
		e.mu.Lock()
		ch := e.hold[inv.Spec.Name]
		e.mu.Unlock()
		if ch != nil {
			select {
			case <-ch:
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
	}
	if e.ExecuteFunc != nil {
		return e.ExecuteFunc(p)
	}
	if e.Output != nil {
		return e.Output(p), nil
	}
	return "output of " + p.Command + "\n", nil
}

// Options configure a Rig. The zero value is a rig with no people.
type Options struct {
	Policy  approvals.Policy  // People, Required, ExpireAfter (default 30 minutes)
	Exec    *FakeExec         // default: a new FakeExec
	Clock   clock.Clock       // default: a manual clock at Start
	Logger  *slog.Logger      // default: discard
	Metrics *metrics.Metrics  // default: new metrics
	Env     *commands.Env     // default: Env
	Core    func(*bot.Config) // changes the core's configuration before it is made
}

// Start is when a rig's manual clock starts.
var Start = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// Rig is a real core, approvals service and SQLite store wired as the application
// wires them. Fronts are added to Core; the rig is stopped in the application's
// order when the test ends (approvals, core, then the store).
type Rig struct {
	DB      *store.DB
	Svc     *approvals.Service
	Core    *bot.Core
	Exec    *FakeExec
	Clock   clock.Clock
	Manual  *clock.Manual // the clock when it is the default manual one
	Metrics *metrics.Metrics

	mu     sync.Mutex
	closes []func()
}

// AddFront adds a front to the core; close, when not nil, is called when the test
// ends, after approvals and the core have stopped (so that what they announce while
// stopping reaches it), as the application stops them.
func (r *Rig) AddFront(f bot.Front, close func()) {
	r.Core.AddFront(f)
	if close != nil {
		r.mu.Lock()
		r.closes = append(r.closes, close)
		r.mu.Unlock()
	}
}

// stop stops the rig in the application's order: held runs released, approvals,
// the core's background work, then the fronts, newest first.
func (r *Rig) stop() {
	r.Exec.ReleaseAll()
	r.Svc.Close()
	r.Core.Wait()
	r.mu.Lock()
	closes := r.closes
	r.mu.Unlock()
	for i := len(closes) - 1; i >= 0; i-- {
		closes[i]()
	}
}

// NewRig wires a core, approvals and a store in a temporary folder and starts
// approvals. Add fronts with AddFront, so that they are closed in the right order.
func NewRig(t testing.TB, opt Options) *Rig {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "exchops.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r := &Rig{DB: db, Exec: opt.Exec, Clock: opt.Clock, Metrics: opt.Metrics}
	if r.Exec == nil {
		r.Exec = &FakeExec{}
	}
	if r.Clock == nil {
		r.Manual = clock.NewManual(Start)
		r.Clock = r.Manual
	}
	if m, ok := r.Clock.(*clock.Manual); ok {
		r.Manual = m
	}
	if r.Metrics == nil {
		r.Metrics = metrics.New()
	}
	env := Env
	if opt.Env != nil {
		env = *opt.Env
	}
	pol := opt.Policy
	if pol.ExpireAfter == 0 {
		pol.ExpireAfter = 30 * time.Minute
	}
	r.Svc = approvals.New(db, r.Exec, pol, approvals.Options{Clock: r.Clock, Env: env, Logger: opt.Logger,
		Notifier: approvals.NotifierFunc(func(ctx context.Context, e approvals.Event) { r.Core.Notify(ctx, e) })})
	cfg := bot.Config{Approvals: r.Svc, Executor: r.Exec, Env: env, Metrics: r.Metrics, Logger: opt.Logger, Now: r.Clock.Now}
	if opt.Core != nil {
		opt.Core(&cfg)
	}
	r.Core = bot.New(cfg)
	if err := r.Svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.stop)
	return r
}
