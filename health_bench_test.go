package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/internal/labtest"
	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/runners"
	"github.com/exchops/exchops/schedules"
)

// The health report benchmarks (issues 9 and 13) and the DAGs they read: the issue's
// large lab (16 DAG members, 100 databases with 3 copies each, built by
// lab.Options.Scale) and the lab's own DAG (two members, each database with a copy on
// the other), both with issue 13's timing: 3 s to open a session on an Exchange
// endpoint (loading Exchange and the account's roles), 20 ms of network latency per
// WS-Management request.

// dagSetup builds the walkthrough's DAG: two members, each database copied to the
// other member.
var dagSetup = []string{
	`dag create E14-DAG witness=EX10-CAHT dir=C:\FSW ip=10.0.0.50`,
	`dag add-member E14-DAG EX10-MB01`,
	`dag add-member E14-DAG EX10-MB02`,
	`copy add MB01 EX10-MB02`,
	`copy add MB02 EX10-MB01`,
}

// dagLab is a lab with the DAG built and the real WinRM runner pointed at it.
type dagLab struct {
	lab *lab.Lab
	r   *runners.WinRM
}

// startDAGLab starts a lab with lo (its Startup applies only once the DAG is built,
// so that building it stays quick) and builds the DAG as approvals would: preflight,
// then the steps under the plan's lock.
func startDAGLab(tb testing.TB, lo lab.Options) *dagLab {
	tb.Helper()
	startup := lo.Startup
	lo.Startup = 0
	if lo.Timing == nil {
		lo.Timing = &lab.Timing{}
	}
	l, r := labtest.Start(tb, lo, runners.Options{Timeout: 2 * time.Minute})
	ctx := context.Background()
	for _, text := range dagSetup {
		inv, err := commands.Parse(text)
		if err != nil {
			tb.Fatal(err)
		}
		p, err := inv.Plan(labEnv)
		if err != nil {
			tb.Fatal(err)
		}
		f, err := r.Preflight(ctx, p)
		if err != nil || f.Blocked() {
			tb.Fatalf("%s: preflight: %v %+v", text, err, f)
		}
		if out, err := r.Execute(ctx, p, approvals.EffectiveLock(p, f), nil); err != nil {
			tb.Fatalf("%s: %v\n%s", text, err, out)
		}
	}
	for _, e := range l.Servers {
		if e.Exchange != nil {
			e.Exchange.SetStartup(startup)
		}
	}
	return &dagLab{lab: l, r: r}
}

// BenchmarkHealthReportLarge is BenchmarkHealthReport on the large lab: 16
// DAG members, 100 databases with 3 copies each (lab.Options.Scale).
func BenchmarkHealthReportLarge(b *testing.B) {
	scale := &lab.Scale{Members: 16, Databases: 100, Copies: 3, DAG: "E14-DAG"}
	newLab := func(b *testing.B, c *requestCounter, credssp bool) (*runners.WinRM, commands.Env) {
		l := startTimedLab(b, lab.Options{Scale: scale, CredSSP: credssp}, c)
		return benchRunner(b, l), scaledEnv(l)
	}
	benchmarkHealth(b, newLab, 100*3, false)
}

// scaledEnv is the planning environment of a scaled lab: every server with its roles.
func scaledEnv(l *lab.Lab) commands.Env {
	env := labEnv
	env.Servers = nil
	for _, s := range l.Org.Servers() {
		roles := []string{}
		for _, role := range s.Roles {
			roles = append(roles, strings.ToLower(role))
		}
		if s.IsDC {
			roles = append(roles, "dns")
		}
		env.Servers = append(env.Servers, commands.Server{Name: s.Name, Roles: roles})
	}
	return env
}

// BenchmarkHealthReport measures a DAG health report (schedules.Collect) on the lab's
// own DAG (2 members, each database copied to the other), with 20 ms of latency and a
// 3 s session open. Its sides are BenchmarkHealthReportLarge's, and the naive old way.
// Run it with -benchtime=1x: each op takes many samples.
func BenchmarkHealthReport(b *testing.B) {
	newLab := func(b *testing.B, c *requestCounter, credssp bool) (*runners.WinRM, commands.Env) {
		d := startDAGLab(b, lab.Options{Startup: benchStartup, Latency: benchLatency, Logger: c.logger(), CredSSP: credssp})
		b.Cleanup(func() { closeRunner(d.r) })
		return d.r, labEnv
	}
	benchmarkHealth(b, newLab, 2*2, true)
}

// benchmarkHealth runs the sides of the health report on labs newLab starts (with
// CredSSP for the old way), whose DAG E14-DAG has copies copies:
//
//   - one-cmdlet-warm: one typed read, Get-MailboxDatabaseCopyStatus -Server <member>,
//     on the member's warm session: the unit of the target;
//   - collect-warm: schedules.Collect with every member's session (and the management
//     server's) already open, as the scheduler finds them between reports; the target
//     is collect-warm ≤ 3× one-cmdlet-warm;
//   - collect-winrs-credssp: the old way, schedules.Collect with each step replaced by
//     the WinRS script the catalog generated before issue 13 (every member at once,
//     each loading the Exchange shell), on a CredSSP lab;
//   - naive-winrs-credssp (when naive): the old naive way, one WinRS invocation per
//     cmdlet per server, one after the other.
func benchmarkHealth(b *testing.B, newLab func(*testing.B, *requestCounter, bool) (*runners.WinRM, commands.Env), copies int, naive bool) {
	ctx := context.Background()
	// The old ways read replication only (they had no server checks): they are
	// compared with the same report.
	collectAs := func(b *testing.B, r schedules.Runner, env commands.Env, th schedules.Thresholds) {
		rep, err := schedules.Collect(ctx, r, env, "E14-DAG", th, clock.Real{})
		if err != nil {
			b.Fatal(err)
		}
		if len(rep.Errors) > 0 {
			b.Fatalf("the report has errors: %s", strings.Join(rep.Errors, "; "))
		}
		if len(rep.Copies) != copies || rep.Verdict != schedules.OK {
			b.Fatalf("the report has %d copies (want %d) and verdict %s: %v", len(rep.Copies), copies, rep.Verdict, rep.Reasons)
		}
	}
	collect := func(b *testing.B, r schedules.Runner, env commands.Env) { collectAs(b, r, env, schedules.Thresholds{}) }

	// The warm sides share one lab, every session opened by a first report.
	c := &requestCounter{}
	r, env := newLab(b, c, false)
	collect(b, r, env)
	p := planOf(b, "health E14-DAG", env)
	member := p.Steps[0].Target
	one := commands.Step{Target: member, Purpose: "copy status on " + member, Calls: []commands.Call{{
		Pipeline: []commands.Cmd{commands.C("Get-MailboxDatabaseCopyStatus", commands.Str("Server", member))},
		Section:  "copystatus",
		Columns:  []string{"Name", "Status", "#CopyQueueLength", "#ReplayQueueLength", "ContentIndexState"},
	}}}

	b.Run("one-cmdlet-warm", func(b *testing.B) {
		timeOps(b, warmSamples, c, func(b *testing.B) func() {
			res, err := r.RunStep(ctx, one, nil)
			if err != nil {
				b.Fatal(err)
			}
			if len(res.Tables()["copystatus"]) == 0 {
				b.Fatalf("%s holds no copies", member)
			}
			return nil
		})
	})
	b.Run("collect-warm", func(b *testing.B) {
		timeOps(b, warmCollectSamples, c, func(b *testing.B) func() {
			collect(b, r, env)
			return nil
		})
		steps, reads := collectSteps(p, env)
		b.ReportMetric(float64(steps), "steps")
		b.ReportMetric(float64(reads), "reads")
	})
	// The replication part alone (the drill's pre-checks, and the report before the
	// server checks): what the server checks add is the difference.
	b.Run("collect-warm-replication-only", func(b *testing.B) {
		timeOps(b, warmCollectSamples, c, func(b *testing.B) func() {
			collectAs(b, r, env, schedules.Thresholds{ReplicationOnly: true})
			return nil
		})
		b.ReportMetric(float64(len(memberSteps(p))+1), "steps")
		b.ReportMetric(float64(3*len(memberSteps(p))+3), "reads")
	})
	b.Run("collect-winrs-credssp", func(b *testing.B) {
		c := &requestCounter{}
		r, env := newLab(b, c, true)
		timeOps(b, coldSamples, c, func(b *testing.B) func() {
			collectAs(b, oldWayRunner{r}, env, schedules.Thresholds{ReplicationOnly: true})
			return nil
		})
		b.ReportMetric(float64(len(memberSteps(p))+1), "invocations")
	})
	if !naive {
		return
	}
	b.Run("naive-winrs-credssp", func(b *testing.B) {
		c := &requestCounter{}
		r, env := newLab(b, c, true)
		members := []string{}
		for _, s := range memberSteps(p) {
			members = append(members, s.Target)
		}
		steps := oldNaiveReads("E14-DAG", members, env.ManagementServer)
		timeOps(b, 1, c, func(b *testing.B) func() {
			for _, s := range steps {
				res, err := r.Run(ctx, s.Target, s.Script)
				if err != nil {
					b.Fatalf("%s: %v%s", s.Purpose, err, stderrOf(res))
				}
				if len(res.Sections) == 0 {
					b.Fatalf("%s printed no table:\n%s", s.Purpose, res.Stdout)
				}
			}
			return nil
		})
		b.ReportMetric(float64(len(steps)), "invocations")
	})
}

// memberSteps are a health plan's steps on the members, which hold the replication
// reads (the old ways read those alone: the server checks came after them).
func memberSteps(p *commands.Plan) []commands.Step {
	var out []commands.Step
	for _, s := range p.Steps {
		if len(s.Calls) > 0 && s.Calls[0].Section == "mailboxserver" {
			out = append(out, s)
		}
	}
	return out
}

// collectSteps is how many steps schedules.Collect runs for the health plan p (one per
// server: the DAG's read joins the management server's step when it has one) and how
// many reads they hold (the DAG's three included).
func collectSteps(p *commands.Plan, env commands.Env) (steps, reads int) {
	steps, reads = 1, 3
	for _, s := range p.Steps {
		if !commands.SameHost(s.Target, env.ManagementServer) {
			steps++
		}
		reads += len(s.Calls)
	}
	return steps, reads
}
