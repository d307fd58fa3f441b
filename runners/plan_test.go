package runners_test

// Preflight and Execute against the lab: the real WinRM client, the real plans from
// commands, and a simulated organisation whose time moves only when the tests say so.

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/golden"
	"github.com/exchops/exchops/internal/labtest"
	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/runners"
)

// The bot hands the WinRM runner to approvals as its Executor.
var _ approvals.Runner = (*runners.WinRM)(nil)

// labEnv is the organisation the lab simulates.
var labEnv = labtest.Env

// The DAG the tests build: two members, so that a copy can be added.
var dagSetup = []string{
	`dag create E14-DAG witness=EX10-CAHT dir=C:\FSW ip=10.0.0.50`,
	`dag add-member E14-DAG EX10-MB01`,
	`dag add-member E14-DAG EX10-MB02`,
}

// rig is the lab rig (internal/labtest) with the reads these tests make.
type rig struct{ *labtest.Rig }

func startRig(t *testing.T, timing *lab.Timing) *rig { return &rig{labtest.NewRig(t, timing)} }

// read runs one read-only call on the management server's Exchange endpoint and
// returns its section.
func (g *rig) read(call commands.Call) []map[string]string {
	g.T.Helper()
	res, err := g.Runner.RunStep(context.Background(), exchangeStep("EX10-CAHT", "read", call), nil)
	if err != nil {
		g.T.Fatal(err)
	}
	return res.Tables()[call.Section]
}

func exchangeStep(target, purpose string, calls ...commands.Call) commands.Step {
	return commands.Step{Target: target, Calls: calls, Script: commands.RenderCalls(calls), Purpose: purpose}
}

func (g *rig) dags() []map[string]string {
	return g.read(commands.Call{Pipeline: []commands.Cmd{commands.C("Get-DatabaseAvailabilityGroup")}, Section: "dags", Columns: []string{"Name", "*Servers"}})
}

func (g *rig) copyStatus(db string) map[string]string {
	out := map[string]string{}
	for _, row := range g.read(commands.Call{Pipeline: []commands.Cmd{commands.C("Get-MailboxDatabaseCopyStatus", commands.Str("Identity", db))}, Section: "c", Columns: []string{"Name", "Status"}}) {
		out[row["Name"]] = row["Status"]
	}
	return out
}

// eventually polls cond: for states another goroutine reaches with no event to wait on.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func wantKind(t *testing.T, err error, kind runners.Kind) *runners.Error {
	t.Helper()
	var e *runners.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want one wrapping a *runners.Error of kind %s", err, err, kind)
	}
	if got := runners.KindOf(err); got != kind {
		t.Fatalf("kind = %q, want %q; error: %v", got, kind, err)
	}
	return e
}

func wantContains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not mention %q:\n%s", what, sub, s)
		}
	}
}

func TestPreflight(t *testing.T) {
	g := startRig(t, nil)
	// The cases run in order on one organisation; setup changes it before a case.
	cases := []struct {
		name    string
		setup   []string
		command string
		blocked bool
		noop    bool
		mention string
	}{
		{name: "copy before any DAG", command: `copy add MB01 EX10-MB02`, blocked: true, mention: "DAG"},
		{name: "a new DAG", command: `dag create E14-DAG witness=EX10-CAHT dir=C:\FSW ip=10.0.0.50`},
		{name: "reads on two servers", command: `dag add-member E14-DAG EX10-MB01`, setup: dagSetup[:1]},
		{name: "a DAG name taken", command: `dag create E14-DAG witness=EX10-CAHT02 dir=C:\FSW2`, blocked: true, mention: "E14-DAG"},
		{name: "a copy on a member", command: `copy add MB01 EX10-MB02`, setup: dagSetup[1:]},
		{name: "a copy already there", command: `copy add MB01 EX10-MB02`, setup: []string{`copy add MB01 EX10-MB02`}, noop: true, mention: "nothing to do"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, text := range tc.setup {
				g.Change(text)
			}
			p := g.Plan(tc.command)
			f, err := g.Runner.Preflight(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			if f.Blocked() != tc.blocked || f.NoOp != tc.noop {
				t.Fatalf("blocked = %v, no-op = %v; want %v, %v; findings:\n%s", f.Blocked(), f.NoOp, tc.blocked, tc.noop, f)
			}
			if tc.mention != "" {
				wantContains(t, "the findings", f.String(), tc.mention)
			}
		})
	}
}

// A read that fails ends the preflight with an error, never with findings.
func TestPreflightReadFails(t *testing.T) {
	cases := []struct {
		down, command string
		kind          runners.Kind
		mention       []string
	}{
		{"EX10-CAHT", `dag create E14-DAG witness=EX10-CAHT dir=C:\FSW`, runners.Unreachable,
			[]string{"preflight read 1 of 1 on EX10-CAHT (read DAGs and Exchange servers)", "cannot reach the Exchange endpoint"}},
		// dag add-member reads on the management server and on the new member.
		{"EX10-MB01", `dag add-member E14-DAG EX10-MB01`, runners.Unreachable,
			[]string{"preflight read 2 of 2 on EX10-MB01", "cannot reach"}},
	}
	for _, tc := range cases {
		t.Run(tc.down, func(t *testing.T) {
			g := startRig(t, nil)
			if err := g.Lab.SetFault(tc.down, "unreachable"); err != nil {
				t.Fatal(err)
			}
			f, err := g.Runner.Preflight(context.Background(), g.Plan(tc.command))
			e := wantKind(t, err, tc.kind)
			if !strings.EqualFold(e.Server, tc.down) {
				t.Errorf("the error's server is %q, want %s", e.Server, tc.down)
			}
			wantContains(t, "the error", err.Error(), tc.mention...)
			if len(f.List) != 0 || f.NoOp {
				t.Errorf("findings on partial knowledge: %s", f)
			}
		})
	}
}

// The DAG and a copy, built by Execute: every step, the lock, the seeding wait.
func TestExecute(t *testing.T) {
	g := startRig(t, nil)
	want := map[string][]string{
		dagSetup[0]: {`step 1 of 1 on EX10-CAHT: create DAG E14-DAG`},
		dagSetup[1]: {`step 1 of 1 on EX10-CAHT: add EX10-MB01 to E14-DAG`},
		dagSetup[2]: {`step 1 of 1 on EX10-CAHT: add EX10-MB02 to E14-DAG`},
		// The copy is added unseeded; Update-MailboxDatabaseCopy seeds it in a step of
		// its own: its progress records reach people (one line per 10 points), and the
		// wait finds the copy Healthy.
		`copy add MB01 EX10-MB02`: {
			`step 1 of 2 on EX10-CAHT: add a copy of MB01 on EX10-MB02 (seeded next)`,
			`step 2 of 2 on EX10-CAHT: seed copy MB01\EX10-MB02 (at most 24h0m0s)`,
			`Seeding database copy MB01\EX10-MB02: Copying the database file from EX10-MB01 (0% complete)`,
			`Seeding database copy MB01\EX10-MB02: Copying the database file from EX10-MB01 (11% complete)`,
			`Seeding database copy MB01\EX10-MB02: Copying the database file from EX10-MB01 (22% complete)`,
			`Seeding database copy MB01\EX10-MB02: Copying the database file from EX10-MB01 (33% complete)`,
			`Seeding database copy MB01\EX10-MB02: Copying the database file from EX10-MB01 (44% complete)`,
			`Seeding database copy MB01\EX10-MB02: Copying the database file from EX10-MB01 (55% complete)`,
			`Seeding database copy MB01\EX10-MB02: Copying the database file from EX10-MB01 (66% complete)`,
			`Seeding database copy MB01\EX10-MB02: Copying the database file from EX10-MB01 (77% complete)`,
			`Seeding database copy MB01\EX10-MB02: Copying the database file from EX10-MB01 (88% complete)`,
			`Seeding database copy MB01\EX10-MB02: Seeding is complete: 100%`,
			`then resuming the seeded copy MB01\EX10-MB02 (polling EX10-CAHT every 10s, for at most 30m)`,
			`copy MB01\EX10-MB02 is Healthy`,
		},
	}
	for _, text := range append(dagSetup, `copy add MB01 EX10-MB02`) {
		got := g.Change(text)
		if strings.Join(got, "\n") != strings.Join(want[text], "\n") {
			t.Errorf("%s: progress:\n%s\nwant:\n%s", text, strings.Join(got, "\n"), strings.Join(want[text], "\n"))
		}
	}
	dags := g.dags()
	if len(dags) != 1 || dags[0]["Name"] != "E14-DAG" || dags[0]["Servers"] != "EX10-MB01;EX10-MB02" {
		t.Errorf("DAGs: %v", dags)
	}
	copies := g.copyStatus("MB01")
	if len(copies) != 2 || copies[`MB01\EX10-MB01`] != "Mounted" || copies[`MB01\EX10-MB02`] != "Healthy" {
		t.Errorf("copies of MB01: %v", copies)
	}
}

// What Execute returns for people: each step's output, then the wait's last word and
// the last poll's tables.
func TestExecuteOutput(t *testing.T) {
	g := startRig(t, nil)
	for _, text := range dagSetup {
		g.Change(text)
	}
	g.Advance()
	out, err := g.Runner.Execute(context.Background(), g.Plan(`copy add MB01 EX10-MB02`), "database:MB01", nil)
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/execute-copy-add.golden", out)
}

// The wait's ends other than success, and the failed polls it forgives.
func TestExecuteWait(t *testing.T) {
	slowSeed := lab.DefaultTiming
	slowSeed.Seed = 24 * time.Hour // a big database: seeding outlasts the budget
	// The wait starts once the step has seeded the copy; the cases break things then.
	const waiting = `then resuming the seeded copy MB01\EX10-MB02 (polling EX10-CAHT`
	const suspended = `copy MB01\EX10-MB02 is Suspended`
	cases := []struct {
		name   string
		timing *lab.Timing
		budget time.Duration // replaces the plan's, when set
		// during is told each progress line and may break the lab.
		during  func(g *rig, line string, failedPolls int)
		kind    runners.Kind // "" for success
		mention []string
		lines   []string // progress lines that must appear
	}{
		{
			name: "budget runs out", budget: 5 * time.Minute,
			during: func(g *rig, line string, _ int) {
				if strings.HasPrefix(line, waiting) {
					// A suspended copy is neither Healthy nor Failed: the wait goes on.
					_, err := g.Runner.RunStep(context.Background(), exchangeStep("EX10-CAHT", "suspend",
						commands.Call{Pipeline: []commands.Cmd{commands.C("Suspend-MailboxDatabaseCopy", commands.Str("Identity", `MB01\EX10-MB02`), commands.Bool("Confirm", false))}}), nil)
					if err != nil {
						g.T.Error(err)
					}
				}
			},
			kind:    runners.Timeout,
			mention: []string{"the wait on EX10-CAHT", `resuming the seeded copy MB01\EX10-MB02 is still not done after 5m`, suspended, "check it on the server"},
		},
		{
			name: "the copy fails",
			during: func(g *rig, line string, _ int) {
				if strings.HasPrefix(line, waiting) {
					if err := g.Lab.Org.SetCopyFault("MB01", "EX10-MB02", "Failed", "The seeding operation failed."); err != nil {
						g.T.Error(err)
					}
				}
			},
			kind:    runners.ChangeFailed,
			mention: []string{`resuming the seeded copy MB01\EX10-MB02 failed`, `copy MB01\EX10-MB02 is Failed`},
			lines:   []string{waiting, `copy MB01\EX10-MB02 is Failed`},
		},
		{
			name: "two polls fail, then the server answers",
			during: func(g *rig, line string, failed int) {
				switch {
				case strings.HasPrefix(line, waiting):
					_ = g.Lab.SetFault("EX10-CAHT", "unreachable")
				case failed == 2:
					_ = g.Lab.SetFault("EX10-CAHT", "none")
				}
			},
			lines: []string{waiting, "poll of EX10-CAHT failed (1 in a row; exchops stops waiting at 3): cannot reach the Exchange endpoint",
				"poll of EX10-CAHT failed (2 in a row; exchops stops waiting at 3)", `copy MB01\EX10-MB02 is Healthy`},
		},
		{
			name: "polls keep failing",
			during: func(g *rig, line string, _ int) {
				if strings.HasPrefix(line, waiting) {
					_ = g.Lab.SetFault("EX10-CAHT", "unreachable")
				}
			},
			kind:    runners.Unreachable,
			mention: []string{"the wait on EX10-CAHT", "3 polls in a row failed, so exchops stopped waiting", "cannot reach the Exchange endpoint"},
		},
		{
			name: "credentials refused: no retry",
			during: func(g *rig, line string, _ int) {
				if strings.HasPrefix(line, waiting) {
					_ = g.Lab.SetFault("EX10-CAHT", "unauthorized")
				}
			},
			kind:    runners.Unauthorized,
			mention: []string{"the wait on EX10-CAHT", `resuming the seeded copy MB01\EX10-MB02: the Exchange endpoint`, "refused the credentials"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := startRig(t, tc.timing)
			for _, text := range dagSetup {
				g.Change(text)
			}
			g.Advance()
			p := g.Plan(`copy add MB01 EX10-MB02`)
			if tc.budget != 0 {
				p.Wait.Budget = tc.budget
			}
			var lines []string
			failed := 0
			out, err := g.Runner.Execute(context.Background(), p, p.Lock, func(line string) {
				lines = append(lines, line)
				if strings.HasPrefix(line, "poll of ") {
					failed++
				}
				if tc.during != nil {
					tc.during(g, line, failed)
				}
			})
			all := strings.Join(lines, "\n")
			if tc.kind == "" {
				if err != nil {
					t.Fatalf("%v\nprogress:\n%s", err, all)
				}
			} else {
				if err == nil {
					t.Fatalf("no error; progress:\n%s", all)
				}
				wantKind(t, err, tc.kind)
				wantContains(t, "the error", err.Error(), tc.mention...)
			}
			wantContains(t, "the progress", all, tc.lines...)
			// The step ran whatever the wait said, and the output says so.
			wantContains(t, "the output", out, "step 1 of 2 on EX10-CAHT: add a copy of MB01 on EX10-MB02", "then resuming the seeded copy MB01\\EX10-MB02")
		})
	}
}

// A step that fails stops the plan: later steps do not run, the error names the step
// and its server, and the output holds what ran.
func TestExecuteStepFails(t *testing.T) {
	read := func(server string) commands.Step {
		return exchangeStep(server, "list the databases",
			commands.Call{Pipeline: []commands.Cmd{commands.C("Get-MailboxDatabase")}, Section: "databases", Columns: []string{"Name", "Server"}})
	}
	failing := commands.Step{Target: "EX10-MB02", Purpose: "fail on purpose",
		Script: "$ErrorActionPreference = 'Stop'\ntry {\n    Write-Warning 'about to fail'\n    throw 'the disk is full'\n} catch {\n    [Console]::Error.WriteLine($_.Exception.Message)\n    exit 1\n}\n"}
	cases := []struct {
		name    string
		fault   string // on EX10-MB02
		step2   commands.Step
		kind    runners.Kind
		mention []string
		output  string // in the output of step 2
	}{
		{"server unreachable", "unreachable", read("EX10-MB02"), runners.Unreachable,
			[]string{"step 2 of 3 on EX10-MB02 (list the databases): cannot reach the Exchange endpoint"}, ""},
		{"script fails", "", failing, runners.ScriptFailed,
			[]string{"step 2 of 3 on EX10-MB02 (fail on purpose): the script failed (exit code 1): the disk is full"}, "WARNING: about to fail"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := startRig(t, nil)
			if tc.fault != "" {
				if err := g.Lab.SetFault("EX10-MB02", tc.fault); err != nil {
					t.Fatal(err)
				}
			}
			create := g.Plan(dagSetup[0])
			p := &commands.Plan{Steps: []commands.Step{read("EX10-MB01"), tc.step2, create.Steps[0]}, Lock: create.Lock}
			var lines []string
			out, err := g.Runner.Execute(context.Background(), p, p.Lock, func(s string) { lines = append(lines, s) })
			e := wantKind(t, err, tc.kind)
			if e.Server != "EX10-MB02" {
				t.Errorf("the error's server is %q", e.Server)
			}
			wantContains(t, "the error", err.Error(), tc.mention...)
			if len(lines) != 2 || !strings.HasPrefix(lines[1], "step 2 of 3 on EX10-MB02") {
				t.Errorf("progress: %q", lines)
			}
			wantContains(t, "the output", out, "step 1 of 3 on EX10-MB01: list the databases", "MB01  EX10-MB01", "step 2 of 3 on EX10-MB02", tc.output)
			if strings.Contains(out, "step 3") {
				t.Errorf("the output has step 3:\n%s", out)
			}
			if dags := g.dags(); len(dags) != 0 {
				t.Errorf("step 3 ran: DAGs %v", dags)
			}
			if n := runners.LockRefs(g.Runner, p.Lock); n != 0 {
				t.Errorf("the lock is still held after a failed step (%d refs)", n)
			}
		})
	}
}

// Cancelling stops Execute where it is: before the lock, between steps, in the wait.
func TestExecuteCancel(t *testing.T) {
	cases := []struct {
		name string
		// run starts Execute with ctx and cancel; it returns the output and error.
		run     func(t *testing.T, g *rig, ctx context.Context, cancel context.CancelFunc) (string, error)
		mention []string
		output  []string
		dag     bool // whether the DAG exists afterwards
	}{
		{
			name: "waiting for the lock",
			run: func(t *testing.T, g *rig, ctx context.Context, cancel context.CancelFunc) (string, error) {
				unlock, err := g.Runner.Lock(context.Background(), "dag:E14-DAG")
				if err != nil {
					t.Fatal(err)
				}
				defer unlock()
				cancel()
				return g.Runner.Execute(ctx, g.Plan(dagSetup[0]), "dag:E14-DAG", func(s string) { t.Errorf("progress while waiting for the lock: %s", s) })
			},
			mention: []string{"gave up waiting for dag:E14-DAG", "nothing ran"},
		},
		{
			name: "before step 2",
			run: func(t *testing.T, g *rig, ctx context.Context, cancel context.CancelFunc) (string, error) {
				create := g.Plan(dagSetup[0])
				read := commands.Step{Target: "EX10-MB01", Purpose: "say hello", Script: "'hello'"}
				p := &commands.Plan{Steps: []commands.Step{read, create.Steps[0]}}
				return g.Runner.Execute(ctx, p, create.Lock, func(s string) {
					if strings.HasPrefix(s, "step 2 of 2") {
						cancel()
					}
				})
			},
			mention: []string{"step 2 of 2 on EX10-CAHT (create DAG E14-DAG)"},
			output:  []string{"step 1 of 2 on EX10-MB01: say hello\nhello\n"},
		},
		{
			name: "while the step seeds",
			run: func(t *testing.T, g *rig, ctx context.Context, cancel context.CancelFunc) (string, error) {
				for _, text := range dagSetup {
					g.Change(text)
				}
				// No one advances the clock now: Update-MailboxDatabaseCopy seeds on it, so
				// the step runs until cancelled, and the pipeline is stopped on the server.
				go func() {
					if g.Clock.WaitForSleepers(ctx, 1) == nil {
						cancel()
					}
				}()
				return g.Runner.Execute(ctx, g.Plan(`copy add MB01 EX10-MB02`), "database:MB01", nil)
			},
			mention: []string{`step 2 of 2 on EX10-CAHT (seed copy MB01\EX10-MB02 (at most 24h0m0s))`, "the run was cancelled and was stopped on the server"},
			output:  []string{"step 1 of 2 on EX10-CAHT: add a copy of MB01 on EX10-MB02 (seeded next)"},
			dag:     true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := startRig(t, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out, err := tc.run(t, g, ctx, cancel)
			wantKind(t, err, runners.Canceled)
			wantContains(t, "the error", err.Error(), tc.mention...)
			wantContains(t, "the output", out, tc.output...)
			if len(tc.output) == 0 && out != "" {
				t.Errorf("output when nothing ran: %q", out)
			}
			if got := len(g.dags()) == 1; got != tc.dag {
				t.Errorf("the DAG exists: %v, want %v", got, tc.dag)
			}
		})
	}
}

// One lock, two changes: the second starts only when the first has settled, its wait
// included.
func TestExecuteHoldsLockThroughTheWait(t *testing.T) {
	g := startRig(t, nil)
	for _, text := range dagSetup {
		g.Change(text)
	}
	var (
		mu     sync.Mutex
		events []string
	)
	record := func(who string) func(string) {
		return func(s string) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, who+": "+s)
		}
	}
	const lock = "database:MB01"
	ctx := context.Background()
	errs := make(chan error, 2)
	go func() {
		_, err := g.Runner.Execute(ctx, g.Plan(`copy add MB01 EX10-MB02`), lock, record("first"))
		errs <- err
	}()
	// The first is in its step, seeding on the clock, which no one advances yet.
	if err := g.Clock.WaitForSleepers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	second := &commands.Plan{Steps: []commands.Step{{Target: "EX10-CAHT", Purpose: "say hello", Script: "'hello'"}}}
	go func() {
		_, err := g.Runner.Execute(ctx, second, lock, record("second"))
		errs <- err
	}()
	eventually(t, "the second change waits for the lock", func() bool { return runners.LockRefs(g.Runner, lock) == 2 })
	mu.Lock()
	for _, e := range events {
		if strings.HasPrefix(e, "second") {
			t.Errorf("the second change ran while the first was waiting: %q", events)
		}
	}
	mu.Unlock()

	g.Advance()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// The first's whole story (step, seeding progress, wait), then the second.
	var order []string
	for _, e := range events {
		if !strings.HasPrefix(e, "first: Seeding database copy") {
			order = append(order, e)
		}
	}
	want := []string{
		"first: step 1 of 2 on EX10-CAHT: add a copy of MB01 on EX10-MB02 (seeded next)",
		`first: step 2 of 2 on EX10-CAHT: seed copy MB01\EX10-MB02 (at most 24h0m0s)`,
		`first: then resuming the seeded copy MB01\EX10-MB02 (polling EX10-CAHT every 10s, for at most 30m)`,
		`first: copy MB01\EX10-MB02 is Healthy`,
		"second: step 1 of 1 on EX10-CAHT: say hello",
	}
	if strings.Join(order, "\n") != strings.Join(want, "\n") || len(events) == len(order) {
		t.Errorf("events:\n%s\nwant (besides the seeding progress):\n%s", strings.Join(events, "\n"), strings.Join(want, "\n"))
	}
	if n := runners.LockRefs(g.Runner, lock); n != 0 {
		t.Errorf("%d refs left on the lock", n)
	}
}

// A plan with no steps and no wait runs nothing and says nothing.
func TestExecuteEmptyPlan(t *testing.T) {
	r, err := runners.New(nil, runners.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.Execute(context.Background(), &commands.Plan{}, "dag:E14-DAG", nil)
	if out != "" || err != nil {
		t.Fatalf("Execute of an empty plan = %q, %v", out, err)
	}
	f, err := r.Preflight(context.Background(), &commands.Plan{})
	if err != nil || len(f.List) != 0 {
		t.Fatalf("Preflight of an empty plan = %v, %v", f, err)
	}
}

func TestFormatResult(t *testing.T) {
	res := &runners.Result{
		Server:   "EX10-CAHT",
		Messages: []string{"Welcome to the Exchange Management Shell!", "WARNING: The replication network is slow.   "},
		Sections: []runners.Section{
			{Name: "copystatus", Columns: []string{"Name", "Status", "CopyQueueLength", "ErrorMessage"}, Rows: []map[string]string{
				{"Name": `MB01\EX10-MB01`, "Status": "Mounted", "CopyQueueLength": "0", "ErrorMessage": ""},
				{"Name": `MB01\EX10-MB02`, "Status": "FailedAndSuspended", "CopyQueueLength": "1234",
					"ErrorMessage": "The log copier was unable\r\nto communicate with\tserver 'EX10-MB01'."},
			}},
			{Name: "dag"},
			{Name: "servers", Columns: []string{"Name", "Site"}, Rows: []map[string]string{
				{"Name": "EX10-MB01", "Site": "Köln-Süd"},
				{"Name": "EX10-CAHT02", "Site": "Default-First-Site-Name"},
			}},
			{Name: "wide", Columns: []string{"A", "LongerThanItsValues"}, Rows: []map[string]string{{"A": "a value wider than its header", "LongerThanItsValues": "x"}}},
		},
		Truncated: true,
	}
	golden.Check(t, "testdata/formatresult.golden", runners.FormatResult(res))
	if got := runners.FormatResult(nil); got != "" {
		t.Errorf("FormatResult(nil) = %q", got)
	}
	if got := runners.FormatResult(&runners.Result{}); got != "" {
		t.Errorf("FormatResult of an empty result = %q", got)
	}
}
