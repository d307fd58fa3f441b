package store_test

import (
	"errors"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/exchops/exchops/schedules"
	"github.com/pressly/goose/v3"
)

func TestSchedulesStore(t *testing.T) {
	ctx := t.Context()
	db := newDB(t)

	e := schedules.Entry{Name: "daily-health", Spec: "0 7 * * *", TimeZone: "Europe/Berlin", Job: schedules.JobHealth,
		DAG: "E14-DAG", PostTo: map[string]string{"slack": "C0OPS", "discord": "555"}, AddedBy: "alice", AddedAt: t0}
	if err := db.AddSchedule(ctx, e); err != nil {
		t.Fatal(err)
	}
	dup := e
	dup.Name = "DAILY-health"
	if err := db.AddSchedule(ctx, dup); !errors.Is(err, schedules.ErrExists) {
		t.Errorf("adding a name again (other case): %v, want ErrExists", err)
	}
	got, err := db.Schedules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := e
	want.Source = schedules.SourceChat
	want.AddedAt = t0.UTC()
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("schedules = %+v, want %+v", got, want)
	}

	if last, err := db.LastRun(ctx, "daily-health"); err != nil || !last.IsZero() {
		t.Errorf("last run before any: %v, %v", last, err)
	}
	for _, at := range []time.Time{t0, t0.Add(24 * time.Hour)} {
		if err := db.SetLastRun(ctx, "daily-health", at); err != nil {
			t.Fatal(err)
		}
	}
	if last, err := db.LastRun(ctx, "Daily-Health"); err != nil || !last.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("last run = %v, %v; want %v", last, err, t0.Add(24*time.Hour))
	}

	if err := db.RemoveSchedule(ctx, "daily-health"); err != nil {
		t.Fatal(err)
	}
	if err := db.RemoveSchedule(ctx, "daily-health"); !errors.Is(err, schedules.ErrNotFound) {
		t.Errorf("removing twice: %v, want ErrNotFound", err)
	}
	if last, _ := db.LastRun(ctx, "daily-health"); !last.IsZero() {
		t.Errorf("the last run outlived its schedule: %v", last)
	}
	if got, _ := db.Schedules(ctx); len(got) != 0 {
		t.Errorf("schedules after removing: %+v", got)
	}
}

func TestHealthReportsAndScorecards(t *testing.T) {
	ctx := t.Context()
	db := newDB(t)
	report := func(dag string, at time.Time, v schedules.Verdict) *schedules.Report {
		return &schedules.Report{DAG: dag, At: at, Verdict: v, Schedule: "daily-health",
			Reasons: []schedules.Reason{{Level: v, Text: "why"}},
			Copies:  []schedules.CopyDetail{{Database: "MB01", Server: "EX10-MB02", Status: "Healthy", CopyQueue: 3, LastInspected: at}},
		}
	}
	day := 24 * time.Hour
	base := t0.UTC()
	for i := range 5 {
		// Saved out of order: read back in time order.
		at := base.Add(time.Duration(4-i) * day)
		if err := db.SaveReport(ctx, report("E14-DAG", at, schedules.Warning)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.SaveReport(ctx, report("OTHER-DAG", base, schedules.OK)); err != nil {
		t.Fatal(err)
	}
	got, err := db.Reports(ctx, "E14-DAG", base.Add(2*day))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !got[0].At.Equal(base.Add(2*day)) || !got[2].At.Equal(base.Add(4*day)) {
		t.Fatalf("reports since day 2: %d, first %v", len(got), got[0].At)
	}
	if want := report("E14-DAG", base.Add(2*day), schedules.Warning); !reflect.DeepEqual(got[0], want) {
		t.Errorf("report came back as %+v, want %+v", got[0], want)
	}

	for i, o := range []schedules.Outcome{schedules.Passed, schedules.Stopped, schedules.Passed} {
		sc := &schedules.Scorecard{DAG: "E14-DAG", Started: base.Add(time.Duration(i) * 7 * day), Finished: base.Add(time.Duration(i)*7*day + time.Minute),
			Outcome: o, Databases: []schedules.DatabaseDrill{{Database: "MB01", Result: "passed",
				Moves: []schedules.Move{{Kind: "away", From: "EX10-MB01", To: "EX10-MB02", Result: schedules.MoveOK, TimeToMount: 15 * time.Second}}}}}
		if err := db.SaveScorecard(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	cards, err := db.Scorecards(ctx, "E14-DAG", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(cards) != 2 || !cards[0].Started.Equal(base.Add(14*day)) || cards[1].Outcome != schedules.Stopped {
		t.Fatalf("scorecards: %+v", cards)
	}
	if m := cards[0].Databases[0].Moves[0]; m.TimeToMount != 15*time.Second || m.To != "EX10-MB02" {
		t.Errorf("move came back as %+v", m)
	}
	if all, _ := db.Scorecards(ctx, "E14-DAG", 0); len(all) != 3 {
		t.Errorf("all scorecards: %d", len(all))
	}
}

// TestSchedulesFromBeforeKeyedChannels: schedules stored with a column per platform
// (before migration 6) keep their channels, now keyed by platform name, and a
// migration back down restores the columns.
func TestSchedulesFromBeforeKeyedChannels(t *testing.T) {
	ctx := t.Context()
	db := newDB(t)
	p, err := goose.NewProvider(goose.DialectSQLite3, db.SQL(), os.DirFS("migrations"), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 5); err != nil {
		t.Fatal(err)
	}
	old := []struct{ name, a, b string }{{"both", "C0OPS", "555"}, {"first", "C0OPS", ""}, {"second", "", "555"}, {"none", "", ""}}
	for _, o := range old {
		_, err := db.SQL().ExecContext(ctx, `INSERT INTO schedules (name, spec, timezone, job, dag, post_slack, post_discord, added_by, added_at)
			VALUES (?, '0 7 * * *', '', 'health', 'E14-DAG', ?, ?, 'alice', '2026-03-01T08:30:15.123456789Z')`, o.name, o.a, o.b)
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := db.Schedules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"both":   {"slack": "C0OPS", "discord": "555"},
		"first":  {"slack": "C0OPS"},
		"second": {"discord": "555"},
		"none":   nil,
	}
	if len(got) != len(want) {
		t.Fatalf("%d schedules after the migration, want %d", len(got), len(want))
	}
	for _, e := range got {
		if !reflect.DeepEqual(e.PostTo, want[e.Name]) {
			t.Errorf("%s posts to %v after the migration, want %v", e.Name, e.PostTo, want[e.Name])
		}
	}

	if _, err := p.DownTo(ctx, 5); err != nil {
		t.Fatal(err)
	}
	for _, o := range old {
		var a, b string
		if err := db.SQL().QueryRowContext(ctx, `SELECT post_slack, post_discord FROM schedules WHERE name = ?`, o.name).Scan(&a, &b); err != nil {
			t.Fatal(err)
		}
		if a != o.a || b != o.b {
			t.Errorf("%s after going back down: %q, %q; want %q, %q", o.name, a, b, o.a, o.b)
		}
	}
}
