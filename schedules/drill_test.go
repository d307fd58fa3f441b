package schedules_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exchops/exchops/config"
	"github.com/exchops/exchops/internal/golden"
	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/schedules"
)

// homes is the lab after dagSetup: each database mounted on its preference-1 server,
// its other copy Healthy.
var homes = map[string]string{
	`MB01\EX10-MB01`: "Mounted", `MB01\EX10-MB02`: "Healthy",
	`MB02\EX10-MB02`: "Mounted", `MB02\EX10-MB01`: "Healthy",
}

// progressLog collects progress lines from the drill's goroutine.
type progressLog struct {
	mu    sync.Mutex
	lines []string
}

func (p *progressLog) add(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, line)
}

func (p *progressLog) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

func (g *rig) drill(opt schedules.DrillOptions) (*schedules.Scorecard, error, *progressLog) {
	g.T.Helper()
	stop := g.Advance()
	defer stop()
	opt.Clock = g.Clock
	var log progressLog
	sc, err := schedules.Drill(context.Background(), g.Runner, labEnv, "E14-DAG", opt, log.add)
	return sc, err, &log
}

// fixTimes replaces the measured durations, which depend on when polls land, so
// that golden files hold what is stable.
func fixTimes(sc *schedules.Scorecard) {
	sc.Started, sc.Finished = reportAt, reportAt.Add(3*time.Minute)
	for i := range sc.Databases {
		for j := range sc.Databases[i].Moves {
			m := &sc.Databases[i].Moves[j]
			m.Started = reportAt
			if m.TimeToMount > 0 {
				m.TimeToMount = 15 * time.Second
			}
			if m.TimeToHealthy > 0 {
				m.TimeToHealthy = 35 * time.Second
			}
		}
	}
}

func TestDrillOnAHealthyDAG(t *testing.T) {
	g := startRig(t, nil)
	sc, err, log := g.drill(schedules.DrillOptions{})
	if err != nil {
		t.Fatalf("drill: %v\nprogress:\n%s", err, log)
	}
	if sc.Outcome != schedules.Passed || len(sc.Databases) != 2 {
		t.Fatalf("scorecard:\n%s", sc.Text())
	}
	for _, db := range sc.Databases {
		if db.Result != "passed" || len(db.Moves) != 2 {
			t.Fatalf("%s: %s with %d moves:\n%s", db.Database, db.Result, len(db.Moves), sc.Text())
		}
		away, back := db.Moves[0], db.Moves[1]
		if away.From != db.StartedOn || away.To == db.StartedOn || back.From != away.To || back.To != db.StartedOn {
			t.Errorf("%s moved %s -> %s, then %s -> %s; it started on %s", db.Database, away.From, away.To, back.From, back.To, db.StartedOn)
		}
		for _, m := range db.Moves {
			// The lab's switchover takes 15 s and the old active copy initializes for 20 s.
			if m.Result != schedules.MoveOK || m.TimeToMount < 15*time.Second || m.TimeToHealthy < m.TimeToMount || m.TimeToHealthy > schedules.DefaultMoveTimeout {
				t.Errorf("%s %s: %s, mounted after %s, healthy after %s", db.Database, m.Kind, m.Result, m.TimeToMount, m.TimeToHealthy)
			}
		}
	}
	// Every database is back on its preference-1 server.
	if got := g.copies(); !reflect.DeepEqual(got, homes) {
		t.Errorf("after the drill the copies are %v, want %v", got, homes)
	}
	wantContains(t, "the progress", log.String(), "Pre-checks passed", "MB01: moving from EX10-MB01 to EX10-MB02", "MB02: moving from EX10-MB02 to EX10-MB01", "passed")
	fixTimes(sc)
	golden.Check(t, filepath.Join("testdata", "scorecard-passed.golden"), sc.Text())
}

// A database that is not on its preference-1 server when the drill starts goes back
// where it was, not to preference 1: the drill tests failover, it does not rebalance.
func TestDrillReturnsDatabasesWhereTheyWere(t *testing.T) {
	g := startRig(t, nil)
	g.Change("failover MB01 to=EX10-MB02")
	before := g.copies()
	if before[`MB01\EX10-MB02`] != "Mounted" {
		t.Fatalf("the setup did not move MB01: %v", before)
	}
	sc, err, log := g.drill(schedules.DrillOptions{})
	if err != nil {
		t.Fatalf("drill: %v\nprogress:\n%s", err, log)
	}
	mb01 := sc.Databases[0]
	if mb01.StartedOn != "EX10-MB02" || mb01.Preferred != "EX10-MB01" || len(mb01.Moves) != 2 || mb01.Moves[1].To != "EX10-MB02" {
		t.Fatalf("MB01: %+v\n%s", mb01, sc.Text())
	}
	if after := g.copies(); after[`MB01\EX10-MB02`] != "Mounted" || after[`MB02\EX10-MB02`] != "Mounted" {
		t.Errorf("after the drill the copies are %v, before it %v", after, before)
	}
}

// On a server whose Exchange is not in English every check's text is translated: the
// drill reads the results' values, so it neither aborts on every check nor misses one.
func TestDrillOnANonEnglishServer(t *testing.T) {
	g := startRig(t, nil)
	if err := g.Lab.Org.SetCulture("EX10-MB02", "de-DE"); err != nil {
		t.Fatal(err)
	}
	sc, err, log := g.drill(schedules.DrillOptions{})
	if err != nil || sc.Outcome != schedules.Passed {
		t.Fatalf("drill: %v\nprogress:\n%s", err, log)
	}
	if err := g.Lab.Org.SetWitnessUnreachable("E14-DAG", true); err != nil {
		t.Fatal(err)
	}
	sc, err, _ = g.drill(schedules.DrillOptions{})
	if err == nil || sc.Outcome != schedules.Aborted {
		t.Fatalf("outcome %s, err %v; want aborted", sc.Outcome, err)
	}
	wantContains(t, "the reason", sc.Reason, "EX10-MB02's replication check FileShareQuorum is Failed")
}

// A lagged copy keeps its activation suspended and a long replay queue on purpose:
// the drill does not abort because of it and never moves a database to it, so a
// database whose only other copy is lagged stays where it is.
func TestDrillLeavesLaggedCopiesAlone(t *testing.T) {
	g := startRig(t, nil)
	if err := g.Lab.Org.SetLag("MB01", "EX10-MB02", 7*24*time.Hour, 0); err != nil {
		t.Fatal(err)
	}
	sc, err, log := g.drill(schedules.DrillOptions{})
	if err != nil || sc.Outcome != schedules.Passed {
		t.Fatalf("drill: %v\nprogress:\n%s", err, log)
	}
	mb01, mb02 := sc.Databases[0], sc.Databases[1]
	if mb01.Result != "skipped" || len(mb01.Moves) != 0 || mb02.Result != "passed" || len(mb02.Moves) != 2 {
		t.Fatalf("scorecard:\n%s", sc.Text())
	}
	if got := g.copies(); !reflect.DeepEqual(got, homes) {
		t.Errorf("after the drill the copies are %v, want %v", got, homes)
	}
	wantContains(t, "the scorecard", sc.Text(), "MB01: its other copies are lagged")
}

// A copy whose content index is Disabled (indexing off on purpose) is no reason to
// abort a drill, and Exchange switches over to it.
func TestDrillWithADisabledContentIndex(t *testing.T) {
	g := startRig(t, nil)
	if err := g.Lab.Org.SetContentIndexState("MB01", "EX10-MB02", "Disabled"); err != nil {
		t.Fatal(err)
	}
	sc, err, log := g.drill(schedules.DrillOptions{})
	if err != nil || sc.Outcome != schedules.Passed {
		t.Fatalf("drill: %v\nprogress:\n%s", err, log)
	}
	if got := g.copies(); !reflect.DeepEqual(got, homes) {
		t.Errorf("after the drill the copies are %v, want %v", got, homes)
	}
}

func TestDrillAbortsOnAnUnhealthyCopy(t *testing.T) {
	g := startRig(t, nil)
	if err := g.Lab.Org.SetContentIndexState("MB02", "EX10-MB01", "Failed"); err != nil {
		t.Fatal(err)
	}
	before := g.copies()
	sc, err, log := g.drill(schedules.DrillOptions{})
	var de *schedules.DrillError
	if !errors.As(err, &de) || de.Outcome != schedules.Aborted {
		t.Fatalf("err = %v, want an aborted drill", err)
	}
	if sc == nil || sc.Outcome != schedules.Aborted || len(sc.Databases) != 0 {
		t.Fatalf("scorecard: %+v", sc)
	}
	wantContains(t, "the reason", sc.Reason, `copy MB02\EX10-MB01 has content index Failed`, "nothing was moved")
	if strings.Contains(log.String(), "moving from") {
		t.Errorf("an aborted drill moved something:\n%s", log)
	}
	if after := g.copies(); !reflect.DeepEqual(after, before) {
		t.Errorf("the copies changed: %v, before %v", after, before)
	}
	sc.Started, sc.Finished = reportAt, reportAt.Add(2*time.Second)
	golden.Check(t, filepath.Join("testdata", "scorecard-aborted.golden"), sc.Text())
}

func TestDrillAbortsOnEachPrecheck(t *testing.T) {
	g := startRig(t, nil)
	o := g.Lab.Org
	cases := []struct {
		name         string
		fault, clear func() error
		reason       string
	}{
		{"failed copy", func() error { return o.SetCopyFault("MB01", "EX10-MB02", "Failed", "corrupt log") },
			func() error { return o.SetCopyFault("MB01", "EX10-MB02", "", "") }, `copy MB01\EX10-MB02 is Failed`},
		{"queue", func() error { return o.SetQueues("MB01", "EX10-MB02", 8, 0) },
			func() error { return o.SetQueues("MB01", "EX10-MB02", 0, 0) }, "copy queue of 8"},
		{"network", func() error { return o.SetNetworkDown("E14-DAG", "DAGNetwork02", true) },
			func() error { return o.SetNetworkDown("E14-DAG", "DAGNetwork02", false) }, "DAG network DAGNetwork02 is not Up"},
		{"member", func() error { return o.SetMemberDown("E14-DAG", "EX10-MB02", true) },
			func() error { return o.SetMemberDown("E14-DAG", "EX10-MB02", false) }, "EX10-MB02 is not an operational server"},
		{"witness", func() error { return o.SetWitnessUnreachable("E14-DAG", true) },
			func() error { return o.SetWitnessUnreachable("E14-DAG", false) }, "FileShareQuorum is Failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.fault(); err != nil {
				t.Fatal(err)
			}
			defer tc.clear()
			sc, err, _ := g.drill(schedules.DrillOptions{})
			if err == nil || sc.Outcome != schedules.Aborted {
				t.Fatalf("outcome %v, err %v; want aborted", sc.Outcome, err)
			}
			wantContains(t, "the reason", sc.Reason, tc.reason)
		})
	}
}

// A switchover slower than the drill's time-out: the move is stopped, the drill ends
// there (MB02 is never moved), and the failback finds MB01 still at home.
func TestDrillSwitchoverTimesOut(t *testing.T) {
	timing := lab.DefaultTiming
	// Far longer than the time-out: the lab's clock runs freely while the switchover
	// sleeps on it, so the margin must cover however long a poll takes in real time.
	timing.Switchover = 1000 * time.Hour
	g := startRig(t, &timing)
	sc, err, log := g.drill(schedules.DrillOptions{Timeout: 2 * time.Minute})
	var de *schedules.DrillError
	if !errors.As(err, &de) || de.Outcome != schedules.Stopped {
		t.Fatalf("err = %v, want a stopped drill\nprogress:\n%s", err, log)
	}
	mb01, mb02 := sc.Databases[0], sc.Databases[1]
	if mb01.Result != "stopped" || len(mb01.Moves) != 2 {
		t.Fatalf("MB01: %s, moves %+v", mb01.Result, mb01.Moves)
	}
	if m := mb01.Moves[0]; m.Kind != "away" || m.Result != schedules.MoveTimedOut {
		t.Errorf("MB01's first move: %+v", m)
	}
	if m := mb01.Moves[1]; m.Kind != "failback" || m.To != "EX10-MB01" || m.Result != schedules.MoveNotNeeded {
		t.Errorf("MB01's failback: %+v", m)
	}
	if mb02.Result != "not run" || len(mb02.Moves) != 0 {
		t.Errorf("MB02 was touched after the drill stopped: %+v", mb02)
	}
	wantContains(t, "the reason", sc.Reason, "MB01", "timed out")
	wantContains(t, "the progress", log.String(), "failing back to EX10-MB01, where it was before the drill")
	if got := g.copies(); !reflect.DeepEqual(got, homes) {
		t.Errorf("after the drill the copies are %v, want %v", got, homes)
	}
	fixTimes(sc)
	golden.Check(t, filepath.Join("testdata", "scorecard-timed-out.golden"), sc.Text())
}

// A move that mounts but whose old copy never becomes Healthy in time: the drill
// stops, and the failback moves the database home once the copy there is Healthy.
func TestDrillFailsBackAfterATimeOutAway(t *testing.T) {
	timing := lab.DefaultTiming
	// The old active copy initializes for longer than the time-out, but not for longer
	// than the failback waits for it.
	timing.Initialize = 3 * time.Minute
	g := startRig(t, &timing)
	sc, err, log := g.drill(schedules.DrillOptions{Timeout: 2 * time.Minute})
	if err == nil {
		t.Fatalf("the drill passed:\n%s", sc.Text())
	}
	mb01 := sc.Databases[0]
	if len(mb01.Moves) != 2 || mb01.Moves[0].Result != schedules.MoveTimedOut || mb01.Moves[1].Kind != "failback" {
		t.Fatalf("MB01's moves: %+v\nprogress:\n%s", mb01.Moves, log)
	}
	fb := mb01.Moves[1]
	// It mounts at home; its own wait for the other copy may time out the same way.
	if fb.From != "EX10-MB02" || fb.To != "EX10-MB01" || fb.TimeToMount <= 0 {
		t.Errorf("failback: %+v", fb)
	}
	// Home again: mounted on its preference-1 server (the other copy may still be
	// initializing after the failback, so only the active side is checked).
	if got := g.copies(); got[`MB01\EX10-MB01`] != "Mounted" || got[`MB02\EX10-MB02`] != "Mounted" {
		t.Errorf("after the failback: %v", got)
	}
}

func TestScorecardTrend(t *testing.T) {
	mk := func(at time.Time, mount time.Duration) *schedules.Scorecard {
		return &schedules.Scorecard{DAG: "E14-DAG", Started: at, Outcome: schedules.Passed, Databases: []schedules.DatabaseDrill{{
			Database: "MB01", Result: "passed", Moves: []schedules.Move{
				{Kind: "away", Result: schedules.MoveOK, TimeToMount: mount},
				{Kind: "back", Result: schedules.MoveOK, TimeToMount: mount + 2*time.Second},
			}}}}
	}
	t0 := time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC)
	now := mk(t0.Add(21*24*time.Hour), 20*time.Second)
	earlier := []*schedules.Scorecard{mk(t0, 14*time.Second), mk(t0.Add(7*24*time.Hour), 16*time.Second), mk(t0.Add(14*24*time.Hour), 18*time.Second)}
	got := now.Trend(earlier)
	want := "Trend (time to mount, the mean of the moves away and back):\n- MB01: 21s now; 17s on average over 3 earlier drills (latest first: 19s, 17s, 15s)\n"
	if got != want {
		t.Errorf("trend:\n%s\nwant:\n%s", got, want)
	}
	if got := now.Trend(nil); got != "" {
		t.Errorf("trend of nothing: %q", got)
	}
}

// A drill schedule against the lab: the scorecard posted with the trend against the
// earlier drill and the drill's progress, both scorecards kept.
func TestScheduledDrillPostsScorecardAndTrend(t *testing.T) {
	g := startRig(t, nil)
	stop := g.Advance()
	defer stop()
	st := newMemStore()
	pub := &recorder{}
	s, err := schedules.New(schedules.Config{Store: st, Poster: pub, Runner: g.Runner, Env: labEnv, Clock: g.Clock, Location: time.UTC,
		Schedules: []config.Schedule{{Name: "weekly-drill", Cron: "0 3 * * SUN", Job: "drill", DAG: "E14-DAG", PostTo: postTo(`{discord: "555"}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 2 {
		if err := s.RunNow(ctx, "weekly-drill"); err != nil {
			t.Fatal(err)
		}
	}
	if len(st.scorecards) != 2 || st.scorecards[1].Outcome != schedules.Passed || st.scorecards[1].Schedule != "weekly-drill" {
		t.Fatalf("scorecards kept: %+v", st.scorecards)
	}
	finals := pub.titled("Failover drill of E14-DAG")
	if len(finals) != 2 || finals[0].Title != "Failover drill of E14-DAG: passed" || finals[1].Title != finals[0].Title {
		t.Fatalf("posts: %+v", pub.all())
	}
	if want := map[string]string{"discord": "555"}; !reflect.DeepEqual(finals[0].To, want) {
		t.Errorf("the scorecard went to %v, want %v", finals[0].To, want)
	}
	wantContains(t, "the first scorecard's progress", finals[0].Text, "Progress:", "Pre-checks passed", "MB01: moving from EX10-MB01 to EX10-MB02")
	if strings.Contains(finals[0].Text, "Trend") {
		t.Errorf("the first drill has a trend:\n%s", finals[0].Text)
	}
	wantContains(t, "the second scorecard", finals[1].Text, "Failover drill of E14-DAG: PASSED", "Trend (time to mount", "MB01:", "over 1 earlier drill")
	if got := g.copies(); !reflect.DeepEqual(got, homes) {
		t.Errorf("after two drills the copies are %v, want %v", got, homes)
	}
}

// Health on demand against the lab: the report is kept, and the chart drawn from
// what is kept.
func TestHealthOnDemand(t *testing.T) {
	g := startRig(t, nil)
	st := newMemStore()
	s, err := schedules.New(schedules.Config{Store: st, Poster: &recorder{}, Runner: g.Runner, Env: labEnv, Clock: g.Clock})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		rep, png, err := s.Health(context.Background(), "E14-DAG")
		if err != nil || rep.Verdict != schedules.OK || png == nil {
			t.Fatalf("health: %v, %v, %d bytes", rep, err, len(png))
		}
	}
	if len(st.reports) != 3 {
		t.Errorf("%d reports kept", len(st.reports))
	}
}

// The drill takes the DAG's lock, the one every change to the DAG takes: while a
// change holds it, the drill waits, then gives up without moving anything.
func TestDrillWaitsForTheDAGLock(t *testing.T) {
	g := startRig(t, nil)
	unlock, err := g.Runner.Lock(context.Background(), "dag:E14-DAG")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	sc, err, log := g.drill(schedules.DrillOptions{LockWait: 50 * time.Millisecond})
	if err == nil || sc.Outcome != schedules.Aborted {
		t.Fatalf("outcome %s, err %v; want aborted", sc.Outcome, err)
	}
	wantContains(t, "the reason", sc.Reason, "holds its lock")
	if strings.Contains(log.String(), "Pre-checks") {
		t.Errorf("the drill read the DAG without its lock:\n%s", log)
	}
}
