package main

import (
	"context"
	"log/slog"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/benchreport"
	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/runners"
)

// The Exchange endpoint benchmarks (issue 13): what a read costs through Exchange's own
// PowerShell Remoting endpoint on a warm session, on a cold one, and the old way (a
// WinRS script loading the Exchange shell, on a CredSSP lab), all with the issue's
// timing: 20 ms of latency per WS-Management request (one round trip) and 3 s to open
// a session (loading Exchange and the account's roles).

const (
	benchLatency = 20 * time.Millisecond
	benchStartup = 3 * time.Second
)

// Samples per op of each side: a warm read takes tens of milliseconds, so many are
// taken for a median worth the name; a cold one or an old one takes the 3 s open, so a
// few. Together they keep `make bench` within minutes.
const (
	warmSamples        = 50
	warmCollectSamples = 10
	coldSamples        = 3
)

// requestCounter counts the WS-Management requests the lab's servers serve. It is a
// slog.Handler given to the lab: every server logs one debug line per request once it
// is read and authenticated, on WinRS and the Exchange endpoint alike.
type requestCounter struct{ n atomic.Int64 }

func (c *requestCounter) logger() *slog.Logger { return slog.New(c) }

func (c *requestCounter) Enabled(context.Context, slog.Level) bool { return true }

func (c *requestCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "wsman: request" {
		c.n.Add(1)
	}
	return nil
}

func (c *requestCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *requestCounter) WithGroup(string) slog.Handler      { return c }

// timeOps runs op samples times per b.N, timing each run, and reports: ns/op as the
// mean of one run, its p50-ms and p99-ms, round-trips-p50 (the median in round trips
// of the lab's latency), requests (WS-Management requests served per run, mean) and
// samples, and cpu-ms (the process's CPU time per run, mean: exchops and the lab's
// servers together, which share the machine's cores). What op returns, when not nil,
// runs after the clock stops (a cold runner's close).
func timeOps(b *testing.B, samples int, reqs *requestCounter, op func(b *testing.B) (after func())) {
	b.Helper()
	var lat []time.Duration
	var served int64
	var cpu time.Duration
	b.ResetTimer()
	for range b.N {
		for range samples {
			before := reqs.n.Load()
			cpuBefore := processCPU()
			start := time.Now()
			after := op(b)
			lat = append(lat, time.Since(start))
			cpu += processCPU() - cpuBefore
			served += reqs.n.Load() - before
			if after != nil {
				b.StopTimer()
				after()
				b.StartTimer()
			}
		}
	}
	b.StopTimer()
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	p50 := benchreport.Percentile(lat, 50)
	b.ReportMetric(float64(sum)/float64(len(lat)), "ns/op")
	b.ReportMetric(benchreport.Milliseconds(p50), "p50-ms")
	b.ReportMetric(benchreport.Milliseconds(benchreport.Percentile(lat, 99)), "p99-ms")
	b.ReportMetric(float64(p50)/float64(benchLatency), "round-trips-p50")
	b.ReportMetric(float64(served)/float64(len(lat)), "requests")
	b.ReportMetric(float64(len(lat)), "samples")
	b.ReportMetric(benchreport.Milliseconds(cpu/time.Duration(len(lat))), "cpu-ms")
}

// processCPU is the CPU time the process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchRunner is the real runner on l's endpoints; the test closes it.
func benchRunner(tb testing.TB, l *lab.Lab) *runners.WinRM {
	tb.Helper()
	r, err := runners.New(l.RunnerEndpoints(), runners.Options{Timeout: 2 * time.Minute})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { closeRunner(r) })
	return r
}

// closeRunner deletes the runner's sessions, as exchops does at shutdown.
func closeRunner(r *runners.WinRM) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = r.Close(ctx)
}

// startTimedLab starts a lab with the latency and session open, whose requests
// c counts.
func startTimedLab(tb testing.TB, lo lab.Options, c *requestCounter) *lab.Lab {
	tb.Helper()
	lo.Latency, lo.Startup, lo.Logger = benchLatency, benchStartup, c.logger()
	if lo.Timing == nil {
		lo.Timing = &lab.Timing{}
	}
	l, err := lab.Start(lo)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

// planOf plans a command on env.
func planOf(tb testing.TB, text string, env commands.Env) *commands.Plan {
	tb.Helper()
	inv, err := commands.Parse(text)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := inv.Plan(env)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// runCopyStatus runs the plan's steps through RunStep and checks that every copy of
// the lab's databases came back.
func runCopyStatus(tb testing.TB, r *runners.WinRM, p *commands.Plan) {
	tb.Helper()
	for _, s := range p.Steps {
		res, err := r.RunStep(context.Background(), s, nil)
		if err != nil {
			tb.Fatalf("%s on %s: %v", s.Purpose, s.Target, err)
		}
		checkCopyStatus(tb, res)
	}
}

func checkCopyStatus(tb testing.TB, res *runners.Result) {
	tb.Helper()
	t := res.Tables()
	if len(t["databases"]) == 0 || len(t["copystatus"]) < len(t["databases"]) {
		tb.Fatalf("copy status read %d databases and %d copies:\n%+v", len(t["databases"]), len(t["copystatus"]), t)
	}
}

// BenchmarkCopyStatus measures a read-only command, `copy status` (every database's
// copies: two pipelines on the management server's Exchange endpoint), as the bot runs
// it: its plan's steps through runner.RunStep. warm reuses the runner's open session
// (the first run, which opens it, is not timed); cold is a fresh runner for each run,
// which pays the 3 s session open; winrs-credssp is the old way, the script the catalog
// generated before issue 13 (RemoteExchange.ps1, Connect-ExchangeServer,
// Get-MailboxDatabase | Get-MailboxDatabaseCopyStatus, ConvertTo-Csv) run over WinRS
// on a lab that lets the Exchange shell load there (lab.Options.CredSSP). The target
// is warm's round-trips-p50 ≤ 5. Run it with -benchtime=1x: each op takes many samples.
func BenchmarkCopyStatus(b *testing.B) {
	p := planOf(b, "copy status", labEnv)
	if len(p.Steps) != 1 || !p.Steps[0].Exchange() {
		b.Fatalf("copy status is no longer one Exchange step: %+v", p.Steps)
	}
	b.Run("warm", func(b *testing.B) {
		c := &requestCounter{}
		l := startTimedLab(b, lab.Options{}, c)
		r := benchRunner(b, l)
		runCopyStatus(b, r, p) // opens the session
		timeOps(b, warmSamples, c, func(b *testing.B) func() {
			runCopyStatus(b, r, p)
			return nil
		})
	})
	b.Run("cold", func(b *testing.B) {
		c := &requestCounter{}
		l := startTimedLab(b, lab.Options{}, c)
		timeOps(b, coldSamples, c, func(b *testing.B) func() {
			r, err := runners.New(l.RunnerEndpoints(), runners.Options{Timeout: 2 * time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			runCopyStatus(b, r, p)
			return func() { closeRunner(r) }
		})
	})
	b.Run("winrs-credssp", func(b *testing.B) {
		c := &requestCounter{}
		l := startTimedLab(b, lab.Options{CredSSP: true}, c)
		r := benchRunner(b, l)
		script := oldCopyStatusScript()
		timeOps(b, coldSamples, c, func(b *testing.B) func() {
			res, err := r.Run(context.Background(), labEnv.ManagementServer, script)
			if err != nil {
				b.Fatalf("the old copy status script: %v%s", err, stderrOf(res))
			}
			checkCopyStatus(b, res)
			return nil
		})
	})
}

// stderrOf is a WinRS result's stderr for a failure message ("" without a result).
func stderrOf(res *runners.Result) string {
	if res == nil || res.Stderr == "" {
		return ""
	}
	return "\n" + res.Stderr
}
