package schedules_test

// The lab rig: a simulated organisation behind real WS-Management endpoints, the real
// WinRM runner, and a manual clock that both run on (as in runners/plan_test.go).

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/runners"
)

// labEnv is the organisation the lab simulates, as configuration would describe it.
var labEnv = commands.Env{
	ManagementServer: "EX10-CAHT",
	DNSServer:        "DC01",
	Servers: []commands.Server{
		{Name: "EX10-MB01", Roles: []string{commands.RoleMailbox}},
		{Name: "EX10-MB02", Roles: []string{commands.RoleMailbox}},
		{Name: "EX10-CAHT", Roles: []string{commands.RoleClientAccess, "hubtransport"}},
		{Name: "EX10-CAHT02", Roles: []string{commands.RoleClientAccess, "hubtransport"}},
		{Name: "DC01", Roles: []string{"dns"}},
	},
}

// dagSetup builds the walkthrough's DAG: two members, each database with a second
// copy on the other member, so each has its preference-1 server where it started.
var dagSetup = []string{
	`dag create E14-DAG witness=EX10-CAHT dir=C:\FSW ip=10.0.0.50`,
	`dag add-member E14-DAG EX10-MB01`,
	`dag add-member E14-DAG EX10-MB02`,
	`copy add MB01 EX10-MB02`,
	`copy add MB02 EX10-MB01`,
}

type rig struct {
	t     *testing.T
	lab   *lab.Lab
	r     *runners.WinRM
	clock *clock.Manual
}

// startRig starts a lab with the DAG built. timing overrides the lab's (nil: its
// defaults).
func startRig(t *testing.T, timing *lab.Timing) *rig {
	t.Helper()
	c := clock.NewManual(time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC))
	l, err := lab.Start(lab.Options{Clock: c, Timing: timing, OperationTimeoutCap: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	r, err := runners.New(l.RunnerEndpoints(), runners.Options{Timeout: 30 * time.Second, OperationTimeout: time.Second, Clock: c})
	if err != nil {
		t.Fatal(err)
	}
	g := &rig{t: t, lab: l, r: r, clock: c}
	stop := g.advance()
	for _, text := range dagSetup {
		g.change(text)
	}
	stop()
	return g
}

// advance moves the clock one second whenever something sleeps on it (a switchover
// in the lab, a drill between polls), until the returned function is called or the
// test ends.
func (g *rig) advance() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if g.clock.WaitForSleepers(ctx, 1) != nil {
				return
			}
			g.clock.Advance(time.Second)
		}
	}()
	stop = func() { cancel(); <-done }
	g.t.Cleanup(stop)
	return stop
}

// change preflights and executes a command under its lock, as approvals would.
func (g *rig) change(text string) {
	g.t.Helper()
	inv, err := commands.Parse(text)
	if err != nil {
		g.t.Fatal(err)
	}
	p, err := inv.Plan(labEnv)
	if err != nil {
		g.t.Fatal(err)
	}
	f, err := g.r.Preflight(context.Background(), p)
	if err != nil {
		g.t.Fatalf("%s: preflight: %v", text, err)
	}
	if f.Blocked() || f.NoOp {
		g.t.Fatalf("%s: preflight says:\n%s", text, f)
	}
	lock := f.Lock
	if lock == "" {
		lock = p.Lock
	}
	if _, err := g.r.Execute(context.Background(), p, lock, nil); err != nil {
		g.t.Fatalf("%s: %v", text, err)
	}
}

// copies reads every copy's status through Exchange: "MB01\EX10-MB01" -> "Mounted".
func (g *rig) copies() map[string]string {
	g.t.Helper()
	inv, err := commands.Parse("copy status")
	if err != nil {
		g.t.Fatal(err)
	}
	p, err := inv.Plan(labEnv)
	if err != nil {
		g.t.Fatal(err)
	}
	res, err := g.r.RunStep(context.Background(), p.Steps[0], nil)
	if err != nil {
		g.t.Fatal(err)
	}
	out := map[string]string{}
	for _, row := range res.Tables()["copystatus"] {
		out[row["Name"]] = row["Status"]
	}
	return out
}

func wantContains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not mention %q:\n%s", what, sub, s)
		}
	}
}
