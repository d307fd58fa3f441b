package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/runners"
	"github.com/exchops/exchops/schedules"
)

// The health report benchmarks (issue 9) and the DAGs they read: the large lab
// (16 DAG members, 100 databases with 3 copies each, built by lab.Options.Scale) and the
// lab's own DAG (two members, each database with a copy on the other), both with the
// large lab's timing: 2 s to start PowerShell and load Exchange, 20 ms of network
// latency per WS-Management request.

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
	l, err := lab.Start(lo)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	r, err := runners.New(l.RunnerEndpoints(), runners.Options{Timeout: 2 * time.Minute})
	if err != nil {
		tb.Fatal(err)
	}
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

// exchangePrelude loads the Exchange cmdlets as the trusted scripts do.
const exchangePrelude = "$ErrorActionPreference = 'Stop'\n. (Join-Path $env:ExchangeInstallPath 'bin\\RemoteExchange.ps1')\nConnect-ExchangeServer -auto\n"

// naiveReads is the health report the naive way: one invocation per cmdlet per
// server, one after the other (the cmdlets Collect batches into one invocation per
// server and runs on every server at once).
func naiveReads(dag string, members []string, mgmt string) []runners.Step {
	one := func(server, section, cmdlet string) runners.Step {
		return runners.Step{Server: server, Script: exchangePrelude + "'exchops:section " + section + "'\n" + cmdlet + " | ConvertTo-Csv -NoTypeInformation\n"}
	}
	var out []runners.Step
	for _, m := range members {
		q := "'" + m + "'"
		out = append(out,
			one(m, "server", "Get-MailboxServer -Identity "+q+" | Select-Object Name, DatabaseAvailabilityGroup"),
			one(m, "replicationhealth", "Test-ReplicationHealth -Identity "+q+" | Select-Object Server, Check, Result, Error"),
			one(m, "copystatus", "Get-MailboxDatabaseCopyStatus -Server "+q+" | Select-Object Name, Status, CopyQueueLength, ReplayQueueLength, ContentIndexState"),
		)
	}
	q := "'" + dag + "'"
	return append(out,
		one(mgmt, "dag", "Get-DatabaseAvailabilityGroup -Identity "+q+" -Status | Select-Object Name, Servers, OperationalServers, PrimaryActiveManager, WitnessShareInUse"),
		one(mgmt, "networks", "Get-DatabaseAvailabilityGroupNetwork -Identity "+q+" | Select-Object Name, MapiAccessEnabled, ReplicationEnabled"),
		one(mgmt, "databases", "Get-MailboxDatabase | Select-Object Name, Server, MasterServerOrAvailabilityGroup"),
	)
}

// BenchmarkHealthReportLarge is BenchmarkHealthReport on the large lab.
func BenchmarkHealthReportLarge(b *testing.B) {
	l, err := lab.Start(lab.Options{Startup: 2 * time.Second, Latency: 20 * time.Millisecond,
		Scale: &lab.Scale{Members: 16, Databases: 100, Copies: 3, DAG: "E14-DAG"}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	r, err := runners.New(l.RunnerEndpoints(), runners.Options{Timeout: 2 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
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
	benchmarkHealth(b, &dagLab{lab: l, r: r}, env, 100*3)
}

// BenchmarkHealthReport measures a DAG health report (schedules.Collect) beside one
// server's single invocation of its member read (the floor: nothing can be quicker
// than one PowerShell start) and the naive way. ns/op is the wall time of one report.
// Run it with -benchtime=1x: each op takes seconds.
func BenchmarkHealthReport(b *testing.B) {
	d := startDAGLab(b, lab.Options{Startup: 2 * time.Second, Latency: 20 * time.Millisecond})
	benchmarkHealth(b, d, labEnv, 2*2)
}

// benchmarkHealth runs the three sides on a lab whose DAG E14-DAG has copies copies.
func benchmarkHealth(b *testing.B, d *dagLab, labEnv commands.Env, copies int) {
	ctx := context.Background()
	inv, err := commands.Parse("health E14-DAG")
	if err != nil {
		b.Fatal(err)
	}
	p, err := inv.Plan(labEnv)
	if err != nil {
		b.Fatal(err)
	}
	members := []string{}
	for _, s := range p.Steps {
		members = append(members, s.Target)
	}

	b.Run("single-invocation", func(b *testing.B) {
		for range b.N {
			res, err := d.r.Run(ctx, p.Steps[0].Target, p.Steps[0].Script)
			if err != nil {
				b.Fatal(err)
			}
			if len(res.Tables()["copystatus"]) == 0 {
				b.Fatalf("the member read found no copies:\n%s", res.Stdout)
			}
		}
	})
	b.Run("collect", func(b *testing.B) {
		for range b.N {
			rep, err := schedules.Collect(ctx, d.r, labEnv, "E14-DAG", schedules.Thresholds{})
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
		b.ReportMetric(float64(len(members)+1), "invocations")
	})
	b.Run("naive", func(b *testing.B) {
		steps := naiveReads("E14-DAG", members, labEnv.ManagementServer)
		for range b.N {
			for _, s := range steps {
				res, err := d.r.Run(ctx, s.Server, s.Script)
				if err != nil {
					b.Fatalf("%s on %s: %v", strings.SplitN(s.Script, "\n", 5)[3], s.Server, err)
				}
				if res.ExitCode != 0 || len(res.Sections) == 0 {
					b.Fatalf("on %s: exit %d\n%s\n%s", s.Server, res.ExitCode, s.Script, res.Stderr)
				}
			}
		}
		b.ReportMetric(float64(len(steps)), "invocations")
	})
}
