package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/config"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/internal/report"
	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/runners"
	"github.com/exchops/exchops/schedules"
	"github.com/exchops/exchops/store"
)

// The resident memory benchmark (issue 9): a child process stores 10,000 requests
// through approvals and lives through a day of schedules on virtual time
// (testing/synctest), then reports its resident set. A child, so that nothing the
// benchmark binary did before counts.
//
// What runs in the child is exchops' long-lived state: SQLite, approvals with its
// expiry worker (every request expires during the day), and the scheduler making a
// health report of E14-DAG every 10 minutes (144 reports, each kept, charted over the
// last 7 days and published). The WinRM runner is replayed from what the lab answered
// to one real report, because a network peer cannot run on virtual time; the chat
// fronts are left out (they keep nothing but their queues).

const (
	memoryChildEnv = "BENCH_MEMORY_CHILD_ANSWERS" // set in the child
	memoryRequests = 10000
	memorySpec     = "*/10 * * * *"
)

// BenchmarkResidentMemory runs the child once per op and reports its resident set
// after the day (rss-MB, the target's ≤ 40 MB), what is left once the Go runtime has
// returned what it freed (rss-scavenged-MB), its peak (peak-rss-MB), where it is
// (anonymous, file-backed, the Go heap in use, all the Go runtime holds), and what the
// child held when it started, before doing anything (start-rss-MB). Run it with
// -benchtime=1x.
func BenchmarkResidentMemory(b *testing.B) {
	// The lab's answers are recorded here, not in the child: the lab would be part of
	// the child's memory otherwise.
	replay := recordHealthReads(b)
	answers := filepath.Join(b.TempDir(), "answers.json")
	data, err := json.Marshal(replay.results)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(answers, data, 0o600); err != nil {
		b.Fatal(err)
	}
	var last map[string]float64
	for range b.N {
		cmd := exec.Command(os.Args[0], "-test.run=^TestResidentMemoryChild$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), memoryChildEnv+"="+answers)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("the child failed: %v\n%s", err, out)
		}
		last = nil
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "RESIDENT "); ok {
				last = map[string]float64{}
				for _, kv := range strings.Fields(rest) {
					k, v, _ := strings.Cut(kv, "=")
					f, _ := strconv.ParseFloat(v, 64)
					last[k] = f
				}
			}
		}
		if last == nil {
			b.Fatalf("the child printed no RESIDENT line:\n%s", out)
		}
		if last["expired"] != memoryRequests {
			b.Fatalf("the day expired %v requests, want %d:\n%s", last["expired"], memoryRequests, out)
		}
	}
	for _, m := range []struct{ key, unit string }{
		{"rss_kb", "rss-MB"}, {"scavenged_kb", "rss-scavenged-MB"}, {"hwm_kb", "peak-rss-MB"},
		{"anon_kb", "anon-MB"}, {"file_kb", "file-MB"}, {"heap_kb", "heap-MB"}, {"go_sys_kb", "go-held-MB"},
		{"base_rss_kb", "start-rss-MB"}, {"base_file_kb", "start-file-MB"},
	} {
		b.ReportMetric(last[m.key]/1024, m.unit)
	}
	b.ReportMetric(last["reports"], "reports")
}

// TestResidentMemoryChild is BenchmarkResidentMemory's child; it does nothing when
// run normally.
func TestResidentMemoryChild(t *testing.T) {
	answers := os.Getenv(memoryChildEnv)
	if answers == "" {
		t.Skip("the child process of BenchmarkResidentMemory")
	}
	// What the process holds before it does anything: the runtime and the binary's
	// pages that starting it touched.
	baseRSS, baseFile := procStatus(t, "VmRSS"), procStatus(t, "RssFile")
	replay := &replayRunner{}
	data, err := os.ReadFile(answers)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &replay.results); err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		db, err := store.Open(ctx, filepath.Join(t.TempDir(), "exchops.db"))
		if err != nil {
			t.Fatal(err)
		}
		pol := approvals.Policy{Required: 1, ExpireAfter: 30 * time.Minute, People: []approvals.Person{
			{Name: "alice", Roles: []approvals.Role{approvals.RoleAdmin}},
			{Name: "bob", Roles: []approvals.Role{approvals.RoleApprover}},
		}}
		svc := approvals.New(db, memoryExec{}, pol, approvals.Options{Env: labEnv})
		if err := svc.Start(ctx); err != nil {
			t.Fatal(err)
		}
		pub := &countingPublisher{}
		sched, err := schedules.New(schedules.Config{Store: db, Runner: replay, Env: labEnv, Poster: pub, Location: time.UTC,
			Schedules: []config.Schedule{{Name: "health-10m", Cron: memorySpec, Job: schedules.JobHealth, DAG: "E14-DAG", PostTo: config.PostTo{Slack: "C0OPS"}}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := sched.Start(ctx); err != nil {
			t.Fatal(err)
		}
		for i := range memoryRequests {
			text := fmt.Sprintf("dns add mem%d 10.%d.%d.%d zone=msglab.local", i, 100+i/62500, i/250%250, i%250+1)
			inv, err := commands.Parse(text)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Request(ctx, approvals.Submit{Person: "alice", Origin: approvals.Origin{Platform: "slack", Channel: "C0OPS", User: "U0ALICE"}, Command: inv}); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		day := time.Since(start)

		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		rss, hwm, anon, file := procStatus(t, "VmRSS"), procStatus(t, "VmHWM"), procStatus(t, "RssAnon"), procStatus(t, "RssFile")
		// The Go runtime gives freed memory back to the system a little at a time, in
		// real time; a virtual day passes in seconds, so it has not had the time. This
		// is what it holds once it has.
		debug.FreeOSMemory()
		scavenged := procStatus(t, "VmRSS")
		expired, err := db.List(ctx, []approvals.Status{approvals.Expired}, 0)
		if err != nil {
			t.Fatal(err)
		}
		reports, err := db.Reports(ctx, "E14-DAG", start.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("RESIDENT rss_kb=%d hwm_kb=%d anon_kb=%d file_kb=%d scavenged_kb=%d heap_kb=%d go_sys_kb=%d base_rss_kb=%d base_file_kb=%d requests=%d expired=%d reports=%d posts=%d virtual_h=%.0f\n",
			rss, hwm, anon, file, scavenged, ms.HeapInuse/1024, (ms.Sys-ms.HeapReleased)/1024, baseRSS, baseFile, memoryRequests, len(expired), len(reports), pub.n.Load(), day.Hours())

		sched.Stop()
		svc.Close()
		db.Close()
	})
}

// procStatus reads a kB field of /proc/self/status.
func procStatus(t *testing.T, field string) int {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// memoryExec is the executor of the memory child: every change can be offered, and
// nothing runs (every request expires).
type memoryExec struct{}

func (memoryExec) Preflight(context.Context, *commands.Plan) (commands.Findings, error) {
	return commands.Findings{List: []commands.Finding{{Severity: commands.Info, Message: "The record does not exist yet."}}}, nil
}

func (memoryExec) Execute(context.Context, *commands.Plan, string, func(string)) (string, error) {
	return "", nil
}

// countingPublisher counts what the scheduler posts and drops it.
type countingPublisher struct{ n atomic.Int64 }

func (p *countingPublisher) Publish(context.Context, map[string]string, *report.Report) error {
	p.n.Add(1)
	return nil
}

// replayRunner answers the scheduler's reads with what the lab answered to the same
// steps.
type replayRunner struct {
	mu      sync.Mutex
	results map[string]*runners.Result // by server and script
}

func (r *replayRunner) RunStep(ctx context.Context, step commands.Step, progress func(string)) (*runners.Result, error) {
	r.mu.Lock()
	res, ok := r.results[strings.ToUpper(step.Target)+"\n"+step.Script]
	r.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("replay: no recorded answer for this step on %s", step.Target)
	}
	c := *res
	return &c, nil
}

func (r *replayRunner) Preflight(context.Context, *commands.Plan) (commands.Findings, error) {
	return commands.Findings{}, nil
}

func (r *replayRunner) Lock(context.Context, string) (func(), error) { return func() {}, nil }

// recordingRunner passes reads to the real runner and keeps the answers.
type recordingRunner struct {
	*runners.WinRM
	into *replayRunner
}

func (r recordingRunner) RunStep(ctx context.Context, step commands.Step, progress func(string)) (*runners.Result, error) {
	res, err := r.WinRM.RunStep(ctx, step, progress)
	if err == nil {
		r.into.mu.Lock()
		r.into.results[strings.ToUpper(step.Target)+"\n"+step.Script] = res
		r.into.mu.Unlock()
	}
	return res, err
}

// recordHealthReads makes one real health report of the lab's DAG and returns a
// runner that replays its answers.
func recordHealthReads(tb testing.TB) *replayRunner {
	tb.Helper()
	d := startDAGLab(tb, lab.Options{})
	replay := &replayRunner{results: map[string]*runners.Result{}}
	rep, err := schedules.Collect(context.Background(), recordingRunner{d.r, replay}, labEnv, "E14-DAG", schedules.Thresholds{}, clock.Real{})
	if err != nil {
		tb.Fatal(err)
	}
	if len(rep.Errors) > 0 {
		tb.Fatalf("the recorded report has errors: %v", rep.Errors)
	}
	d.lab.Close()
	return replay
}
