package store_test

import (
	"context"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/internal/report"
	"github.com/exchops/exchops/schedules"
	"github.com/exchops/exchops/store"
)

func TestWatchStateRoundTrip(t *testing.T) {
	ctx := t.Context()
	db := newDB(t)
	if st, err := db.WatchState(ctx, "E14-DAG"); err != nil || len(st.Conditions) != 0 {
		t.Fatalf("nothing held yet: %+v, %v", st, err)
	}
	st := schedules.WatchState{DAG: "E14-DAG", Conditions: []schedules.Condition{
		{Kind: schedules.AlertVerdict, Subject: "E14-DAG", State: "Failure", Level: schedules.Failure, Since: t0, Posted: t0},
		{Kind: schedules.AlertCopyFailed, Subject: `MB01\EX10-MB02`, State: "Failed", Level: schedules.Failure, Since: t0, Posted: t0.Add(time.Minute)},
		{Kind: schedules.AlertSingleCopy, Subject: "MB01", State: "1", Level: schedules.Failure, Since: t0}, // pending: never posted
	}}
	if err := db.SaveWatchState(ctx, st); err != nil {
		t.Fatal(err)
	}
	other := schedules.WatchState{DAG: "OTHER-DAG", Conditions: []schedules.Condition{{Kind: schedules.AlertMemberDown, Subject: "EX10-MB09", Level: schedules.Failure, Since: t0, Posted: t0}}}
	if err := db.SaveWatchState(ctx, other); err != nil {
		t.Fatal(err)
	}
	got, err := db.WatchState(ctx, "e14-dag")
	if err != nil {
		t.Fatal(err)
	}
	want := st
	want.DAG = "e14-dag"
	want.Conditions = slices.Clone(st.Conditions)
	for i := range want.Conditions {
		c := &want.Conditions[i]
		c.Since = c.Since.UTC()
		if !c.Posted.IsZero() {
			c.Posted = c.Posted.UTC()
		}
	}
	schedules.SortConditions(want.Conditions)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back\n%+v\nwant\n%+v", got, want)
	}
	// A save replaces the DAG's state, and only that DAG's.
	if err := db.SaveWatchState(ctx, schedules.WatchState{DAG: "E14-DAG"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.WatchState(ctx, "E14-DAG"); len(got.Conditions) != 0 {
		t.Errorf("after clearing: %+v", got.Conditions)
	}
	if got, _ := db.WatchState(ctx, "OTHER-DAG"); len(got.Conditions) != 1 {
		t.Errorf("the other DAG's state: %+v", got.Conditions)
	}
}

// posts records what a watcher posts.
type posts struct {
	mu     sync.Mutex
	titles []string
}

func (p *posts) Publish(ctx context.Context, to map[string]string, rep *report.Report) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.titles = append(p.titles, rep.Heading())
	return nil
}

// A restart neither repeats an open alert nor forgets it: the watcher of the next
// process reads the state the last one kept, stays quiet while the fault lasts, and
// posts the clear when it ends; a single copy within its grace time keeps its start.
func TestWatchSurvivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "exchops.db")
	clk := clock.NewManual(time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC))
	failing := func() *schedules.Report {
		return &schedules.Report{DAG: "E14-DAG", Verdict: schedules.Failure,
			DAGStatus: schedules.DAGStatus{Servers: []string{"EX10-MB01", "EX10-MB02"}, OperationalServers: []string{"EX10-MB01", "EX10-MB02"}},
			Databases: []schedules.DatabaseSummary{{Name: "MB01", MountedOn: "EX10-MB01", Copies: 2}},
			Copies: []schedules.CopyDetail{
				{Database: "MB01", Server: "EX10-MB01", Status: "Mounted", Active: true},
				{Database: "MB01", Server: "EX10-MB02", Status: "FailedAndSuspended"},
			}}
	}
	healthy := func() *schedules.Report {
		r := failing()
		r.Verdict, r.Copies[1].Status = schedules.OK, "Healthy"
		return r
	}
	life := func(reps ...*schedules.Report) []string {
		db, err := store.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		p := &posts{}
		w, err := schedules.NewWatcher(schedules.WatchConfig{Store: db, Poster: p, To: map[string]string{"slack": "C0ALERTS"}, Clock: clk,
			Settings: schedules.WatchSettings{SingleCopyAfter: 20 * time.Minute}})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range reps {
			w.ObserveReport(r)
			clk.Advance(10 * time.Minute)
		}
		w.Close()
		return p.titles
	}
	want := func(got []string, want ...string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("posted %q, want %q", got, want)
		}
	}
	// 07:00: the fault; 07:10: still, the single copy 10 minutes old.
	want(life(failing(), failing()), "E14-DAG: health is Failure", `E14-DAG: copy MB01\EX10-MB02 is FailedAndSuspended`)
	// Restarted at 07:20: nothing repeated, and the single copy, 20 minutes old now,
	// is due: its start was kept.
	want(life(failing()), "E14-DAG: MB01 is down to 1 healthy copy")
	// Restarted again: quiet while it lasts, then every clear.
	want(life(failing(), healthy()), "E14-DAG health is OK again", `E14-DAG: copy MB01\EX10-MB02 recovered`, "E14-DAG: MB01 is redundant again")
	want(life(healthy()))
}
