package schedules_test

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/exchops/exchops/config"
	"github.com/exchops/exchops/schedules"
)

// observer records the reports it hears.
type observer struct {
	mu   sync.Mutex
	reps []schedules.Report
}

func (o *observer) ObserveReport(rep *schedules.Report) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reps = append(o.reps, *rep)
}

func (o *observer) heard() []schedules.Report {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]schedules.Report(nil), o.reps...)
}

// The observer hears every report the scheduler keeps, scheduled and on demand, as it
// was kept; not the drill's pre-check report, which is not kept.
func TestObserverHearsKeptReports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sleepUntil(time.Date(2026, 11, 25, 6, 30, 0, 0, time.UTC))
		obs := &observer{}
		b := newBench(t, schedules.Config{Observer: obs, Thresholds: schedules.Thresholds{AlertsOnly: true},
			Schedules: []config.Schedule{{Name: "daily-health", Cron: "0 7 * * *", Job: "health", DAG: "E14-DAG", PostTo: ops}},
			Drill:     schedules.DrillOptions{Timeout: time.Minute, Interval: time.Second}})
		if err := b.s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Hour) // 07:00: the scheduled report, OK, so not posted (alerts only), but kept
		if _, _, err := b.s.Health(t.Context(), "E14-DAG"); err != nil {
			t.Fatal(err)
		}
		// The drill reads the DAG's health first (and then stops: the fake runner
		// does not preflight the moves).
		b.runner.mu.Lock()
		before := b.runner.calls
		b.runner.mu.Unlock()
		out, _ := b.s.DrillNow(t.Context(), "E14-DAG", nil)
		b.runner.mu.Lock()
		drillReads := b.runner.calls - before
		b.runner.mu.Unlock()
		if drillReads < 3 {
			t.Fatalf("the drill made %d reads, want at least its health read of the 3 servers:\n%s", drillReads, out)
		}
		b.s.Stop()

		heard := obs.heard()
		if len(heard) != 2 || len(b.store.reports) != 2 {
			t.Fatalf("observer heard %d reports, the store kept %d; want the scheduled and the on-demand one, each heard once", len(heard), len(b.store.reports))
		}
		if heard[0].Schedule != "daily-health" || heard[1].Schedule != "" {
			t.Errorf("heard reports of schedules %q and %q, want daily-health then on demand", heard[0].Schedule, heard[1].Schedule)
		}
		for i, rep := range heard {
			kept := b.store.reports[i]
			if !rep.At.Equal(kept.At) || rep.Verdict != kept.Verdict || rep.DAG != "E14-DAG" || len(rep.Copies) != len(kept.Copies) {
				t.Errorf("heard %s %s %s with %d copies, kept %s %s %s with %d", rep.DAG, rep.At, rep.Verdict, len(rep.Copies), kept.DAG, kept.At, kept.Verdict, len(kept.Copies))
			}
		}
	})
}

func TestReportExportHelpers(t *testing.T) {
	levels := map[schedules.Verdict]int{schedules.OK: 0, schedules.Warning: 1, schedules.Failure: 2, "": 2, "Bogus": 2}
	for v, want := range levels {
		if got := v.Level(); got != want {
			t.Errorf("Verdict(%q).Level() = %d, want %d", v, got, want)
		}
	}

	checks := []struct {
		c    schedules.Check
		want bool
	}{
		{schedules.Check{Result: "Passed"}, true},
		{schedules.Check{Result: "Passed", Shown: "Bestanden"}, true}, // the enum, not the text
		{schedules.Check{Result: "passed"}, true},
		{schedules.Check{Result: "Failed", Shown: "*FAILED*"}, false},
		{schedules.Check{Result: "Warning"}, false},
		{schedules.Check{Result: "Undefined"}, false},
		{schedules.Check{Result: "", Shown: "Passed"}, false}, // no enum value: not a pass
	}
	for _, tt := range checks {
		if got := tt.c.Passed(); got != tt.want {
			t.Errorf("%+v.Passed() = %v, want %v", tt.c, got, tt.want)
		}
	}

	statuses := map[string]bool{
		"Mounted": true, "Healthy": true, "Failed": true, "FailedAndSuspended": true, "Suspended": true,
		"Seeding": true, "Initializing": true, "DisconnectedAndHealthy": true, "Dismounted": true,
		"Unknown": false, "unknown": false, "ServiceDown": false,
	}
	for st, want := range statuses {
		if got := (schedules.CopyDetail{Status: st}).QueuesKnown(); got != want {
			t.Errorf("a %s copy: QueuesKnown() = %v, want %v", st, got, want)
		}
	}

	seen := []struct {
		name string
		r    schedules.Report
		want bool
	}{
		{"DAG read", schedules.Report{DAGStatus: schedules.DAGStatus{Servers: []string{"EX10-MB01"}}}, true},
		{"DAG without members", schedules.Report{DAGStatus: schedules.DAGStatus{WitnessServer: "EX10-CAHT", WitnessDirectory: `C:\FSW`}}, true},
		{"only a member said so", schedules.Report{Members: []schedules.MemberHealth{{Server: "EX10-MB01", Read: true}}}, true},
		{"only copies", schedules.Report{Copies: []schedules.CopyDetail{{Database: "MB01", Server: "EX10-MB01"}}}, true},
		{"no such DAG", schedules.Report{Verdict: schedules.Failure, Errors: []string{"EX10-CAHT: object 'E14-DGA' couldn't be found"}}, false},
		{"nothing read", schedules.Report{Verdict: schedules.Failure}, false},
	}
	for _, tt := range seen {
		if got := tt.r.DAGSeen(); got != tt.want {
			t.Errorf("%s: DAGSeen() = %v, want %v", tt.name, got, tt.want)
		}
	}
}
