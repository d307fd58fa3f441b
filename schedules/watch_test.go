package schedules_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/config"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/schedules"
)

var watchT0 = time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)

// healthyReport is a two-member DAG with MB01 active on EX10-MB01 and MB02 on
// EX10-MB02, each copied to the other member; change edits it before it is returned.
func healthyReport(change ...func(*schedules.Report)) *schedules.Report {
	t := true
	rep := &schedules.Report{DAG: "E14-DAG", Verdict: schedules.OK,
		DAGStatus: schedules.DAGStatus{Servers: []string{"EX10-MB01", "EX10-MB02"}, OperationalServers: []string{"EX10-MB01", "EX10-MB02"}},
		Members:   []schedules.MemberHealth{{Server: "EX10-MB01", Operational: true, Read: true}, {Server: "EX10-MB02", Operational: true, Read: true}},
		Databases: []schedules.DatabaseSummary{
			{Name: "MB01", MountedOn: "EX10-MB01", Copies: 2, Healthy: 2, Mounted: &t},
			{Name: "MB02", MountedOn: "EX10-MB02", Copies: 2, Healthy: 2, Mounted: &t},
		},
		Copies: []schedules.CopyDetail{
			{Database: "MB01", Server: "EX10-MB01", Status: "Mounted", Active: true, Healthy: true},
			{Database: "MB01", Server: "EX10-MB02", Status: "Healthy", Healthy: true},
			{Database: "MB02", Server: "EX10-MB02", Status: "Mounted", Active: true, Healthy: true},
			{Database: "MB02", Server: "EX10-MB01", Status: "Healthy", Healthy: true},
		},
	}
	for _, c := range change {
		c(rep)
	}
	return rep
}

func copyStatus(name, status string) func(*schedules.Report) {
	return func(r *schedules.Report) {
		for i := range r.Copies {
			if r.Copies[i].Name() == name {
				r.Copies[i].Status = status
				r.Copies[i].Healthy = status == "Healthy" || status == "Mounted"
			}
		}
		r.Verdict = schedules.Failure
	}
}

func verdict(v schedules.Verdict) func(*schedules.Report) {
	return func(r *schedules.Report) { r.Verdict = v }
}

func memberDown(server string) func(*schedules.Report) {
	return func(r *schedules.Report) {
		r.DAGStatus.OperationalServers = slices.DeleteFunc(slices.Clone(r.DAGStatus.OperationalServers), func(s string) bool { return s == server })
		for i := range r.Members {
			if r.Members[i].Server == server {
				r.Members[i].Operational = false
			}
		}
		r.Verdict = schedules.Failure
	}
}

// watchStep feeds one report at a minute past watchT0 and names the alerts it must
// give, each as "change kind subject".
type engineStep struct {
	minute int
	rep    *schedules.Report
	want   []string
}

func TestWatchEngine(t *testing.T) {
	failedCopy := copyStatus(`MB01\EX10-MB02`, "Failed")
	cases := []struct {
		name  string
		after time.Duration // SingleCopyAfter
		steps []engineStep
	}{
		{"healthy stays quiet", 20 * time.Minute, []engineStep{
			{0, healthyReport(), nil},
			{10, healthyReport(), nil},
		}},
		{"the first report already failing is announced", 20 * time.Minute, []engineStep{
			{0, healthyReport(failedCopy), []string{"opened verdict E14-DAG", `opened copy-failed MB01\EX10-MB02`}},
		}},
		{"a failed copy is posted once, and once when it clears", 20 * time.Minute, []engineStep{
			{0, healthyReport(), nil},
			{5, healthyReport(failedCopy), []string{"opened verdict E14-DAG", `opened copy-failed MB01\EX10-MB02`}},
			{10, healthyReport(failedCopy), nil},
			{15, healthyReport(copyStatus(`MB01\EX10-MB02`, "FailedAndSuspended")), nil},
			{20, healthyReport(), []string{"cleared verdict E14-DAG", `cleared copy-failed MB01\EX10-MB02`}},
			{25, healthyReport(), nil},
		}},
		{"a change of verdict is posted, the same verdict is not", 20 * time.Minute, []engineStep{
			{0, healthyReport(verdict(schedules.Warning)), []string{"opened verdict E14-DAG"}},
			{5, healthyReport(verdict(schedules.Warning)), nil},
			{10, healthyReport(verdict(schedules.Failure)), []string{"changed verdict E14-DAG"}},
			{15, healthyReport(verdict(schedules.Warning)), []string{"changed verdict E14-DAG"}},
			{20, healthyReport(), []string{"cleared verdict E14-DAG"}},
		}},
		{"a single copy waits for single_copy_after", 20 * time.Minute, []engineStep{
			{0, healthyReport(copyStatus(`MB01\EX10-MB02`, "Suspended")), []string{"opened verdict E14-DAG"}},
			{19, healthyReport(copyStatus(`MB01\EX10-MB02`, "Suspended")), nil},
			{20, healthyReport(copyStatus(`MB01\EX10-MB02`, "Suspended")), []string{"opened single-copy MB01"}},
			{40, healthyReport(copyStatus(`MB01\EX10-MB02`, "Suspended")), nil},
			{41, healthyReport(), []string{"cleared verdict E14-DAG", "cleared single-copy MB01"}},
		}},
		{"a single copy that recovers within its grace time is never announced", 20 * time.Minute, []engineStep{
			{0, healthyReport(copyStatus(`MB01\EX10-MB02`, "Suspended")), []string{"opened verdict E14-DAG"}},
			{10, healthyReport(), []string{"cleared verdict E14-DAG"}},
			// A new spell starts its own count.
			{15, healthyReport(copyStatus(`MB01\EX10-MB02`, "Suspended")), []string{"opened verdict E14-DAG"}},
			{30, healthyReport(copyStatus(`MB01\EX10-MB02`, "Suspended")), nil},
			{35, healthyReport(copyStatus(`MB01\EX10-MB02`, "Suspended")), []string{"opened single-copy MB01"}},
		}},
		{"single_copy_after 0 announces at once", 0, []engineStep{
			{0, healthyReport(copyStatus(`MB01\EX10-MB02`, "Suspended")), []string{"opened verdict E14-DAG", "opened single-copy MB01"}},
		}},
		{"a passive copy with a long copy queue does not count (more than 40 logs)", 0, []engineStep{
			{0, healthyReport(func(r *schedules.Report) { r.Copies[1].CopyQueue = 40 }), nil},
			{5, healthyReport(func(r *schedules.Report) { r.Copies[1].CopyQueue = 41 }), []string{"opened single-copy MB01"}},
		}},
		{"a copy on a member that is not operational does not count", 0, []engineStep{
			{0, healthyReport(memberDown("EX10-MB02")), []string{"opened verdict E14-DAG", "opened member-down EX10-MB02",
				"opened single-copy MB01", "opened single-copy MB02"}},
			{5, healthyReport(), []string{"cleared verdict E14-DAG", "cleared member-down EX10-MB02",
				"cleared single-copy MB01", "cleared single-copy MB02"}},
		}},
		{"the active copy dismounted without an error counts, as in the script", 0, []engineStep{
			{0, healthyReport(copyStatus(`MB01\EX10-MB01`, "Dismounted"), func(r *schedules.Report) {
				f := false
				r.Databases[0].Mounted, r.Databases[0].MountedOn = &f, ""
			}), []string{"opened verdict E14-DAG", "opened not-mounted MB01"}},
			{5, healthyReport(copyStatus(`MB01\EX10-MB01`, "Dismounted"), func(r *schedules.Report) {
				f := false
				r.Databases[0].Mounted, r.Databases[0].MountedOn = &f, ""
				r.Copies[0].Error = "The database is corrupt."
			}), []string{"opened single-copy MB01"}},
		}},
		{"a database with one configured copy has no redundancy to lose", 0, []engineStep{
			{0, healthyReport(func(r *schedules.Report) {
				r.Copies = slices.Delete(r.Copies, 1, 2)
				r.Databases[0].Copies = 1
			}), nil},
		}},
		{"a copy that could not be read is held, neither repeated nor cleared", 20 * time.Minute, []engineStep{
			{0, healthyReport(failedCopy), []string{"opened verdict E14-DAG", `opened copy-failed MB01\EX10-MB02`}},
			{5, healthyReport(copyStatus(`MB01\EX10-MB02`, "Unknown")), nil},
			{10, healthyReport(copyStatus(`MB01\EX10-MB02`, "ServiceDown")), nil},
			// Gone from a report whose reads failed: still held.
			{15, healthyReport(failedCopy, func(r *schedules.Report) {
				r.Copies = slices.Delete(r.Copies, 1, 2)
				r.Errors = []string{"EX10-MB02: the server did not answer"}
			}), nil},
			{20, healthyReport(), []string{"cleared verdict E14-DAG", `cleared copy-failed MB01\EX10-MB02`}},
		}},
		{"a copy gone from a complete report is cleared", 20 * time.Minute, []engineStep{
			{0, healthyReport(failedCopy), []string{"opened verdict E14-DAG", `opened copy-failed MB01\EX10-MB02`}},
			{5, healthyReport(verdict(schedules.Failure), func(r *schedules.Report) { r.Copies = slices.Delete(r.Copies, 1, 2) }),
				[]string{`cleared copy-failed MB01\EX10-MB02`}},
		}},
		{"a member is held while the DAG's own read fails", 20 * time.Minute, []engineStep{
			{0, healthyReport(memberDown("EX10-MB02")), []string{"opened verdict E14-DAG", "opened member-down EX10-MB02"}},
			{5, healthyReport(verdict(schedules.Failure), func(r *schedules.Report) {
				r.DAGStatus = schedules.DAGStatus{}
				r.Errors = []string{"EX10-CAHT: access denied"}
			}), nil},
			{10, healthyReport(), []string{"cleared verdict E14-DAG", "cleared member-down EX10-MB02"}},
		}},
		{"what health.ignore leaves out is not watched", 0, []engineStep{
			{0, healthyReport(memberDown("EX10-MB02"), func(r *schedules.Report) {
				r.Members[1].Ignored = true
				for i := range r.Copies {
					r.Copies[i].Ignored = r.Copies[i].Server == "EX10-MB02"
				}
				r.Databases[0].Ignored, r.Databases[1].Ignored = true, true
				r.Verdict = schedules.OK
			}), nil},
		}},
		{"the DAG's name in another case is the same DAG", 20 * time.Minute, []engineStep{
			{0, healthyReport(failedCopy), []string{"opened verdict E14-DAG", `opened copy-failed MB01\EX10-MB02`}},
			{5, healthyReport(failedCopy, func(r *schedules.Report) { r.DAG = "e14-dag" }), nil},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var st schedules.WatchState
			for _, s := range tc.steps {
				var alerts []schedules.Alert
				alerts, st = schedules.Watch(st, s.rep, watchT0.Add(time.Duration(s.minute)*time.Minute), schedules.WatchSettings{SingleCopyAfter: tc.after})
				var got []string
				for _, a := range alerts {
					got = append(got, fmt.Sprintf("%s %s %s", a.Change, a.Kind, a.Subject))
					if a.Title == "" || a.Text == "" {
						t.Errorf("minute %d: %s has no title or text", s.minute, got[len(got)-1])
					}
					for _, n := range a.Next {
						if _, err := commands.Parse(n.Command); err != nil {
							t.Errorf("minute %d: %s suggests %q, which does not parse: %v", s.minute, got[len(got)-1], n.Command, err)
						}
					}
				}
				if !slices.Equal(got, s.want) {
					t.Errorf("minute %d: alerts\n  %q\nwant\n  %q", s.minute, got, s.want)
				}
			}
		})
	}
}

// The same inputs give the same alerts and state: Watch keeps nothing of its own.
func TestWatchIsPure(t *testing.T) {
	prev := schedules.WatchState{DAG: "E14-DAG"}
	rep := healthyReport(memberDown("EX10-MB02"))
	set := schedules.WatchSettings{SingleCopyAfter: time.Minute}
	a1, s1 := schedules.Watch(prev, rep, watchT0, set)
	a2, s2 := schedules.Watch(prev, rep, watchT0, set)
	if fmt.Sprint(a1) != fmt.Sprint(a2) || fmt.Sprint(s1) != fmt.Sprint(s2) {
		t.Errorf("two calls differ:\n%v\n%v", a1, a2)
	}
	if len(prev.Conditions) != 0 {
		t.Errorf("Watch changed its input state: %+v", prev)
	}
}

// The watch's messages: the next steps are the catalog's commands, typed after
// /exchange; a verdict with many reasons shows the first five.
func TestAlertMessage(t *testing.T) {
	rep := healthyReport(memberDown("EX10-MB02"), func(r *schedules.Report) {
		for i := range 7 {
			r.Reasons = append(r.Reasons, schedules.Reason{Level: schedules.Failure, Text: fmt.Sprintf("Reason %d.", i+1)})
		}
	})
	alerts, _ := schedules.Watch(schedules.WatchState{}, rep, watchT0, schedules.WatchSettings{})
	var msgs []string
	for _, a := range alerts {
		msgs = append(msgs, a.Title+"\n"+a.Message())
	}
	all := strings.Join(msgs, "\n\n")
	wantContains(t, "the alerts", all,
		"E14-DAG: health is Failure", "- Failure: Reason 5.", "- and 2 more: `health E14-DAG` shows them.",
		"- Health report: `/exchange health E14-DAG`",
		"E14-DAG: EX10-MB02 is not operational", "- DAG status: `/exchange dag status E14-DAG`",
		`MB01\EX10-MB02 (EX10-MB02 is not operational)`)
	if strings.Contains(all, "Reason 6") {
		t.Errorf("more than five reasons shown:\n%s", all)
	}
}

// ---- the Watcher ----

// memWatch is a WatchStore in memory; fail makes its next save fail.
type memWatch struct {
	mu     sync.Mutex
	states map[string]schedules.WatchState
	fail   bool
	saves  int
}

func (m *memWatch) WatchState(ctx context.Context, dag string) (schedules.WatchState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.states[strings.ToUpper(dag)], nil
}

func (m *memWatch) SaveWatchState(ctx context.Context, st schedules.WatchState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		m.fail = false
		return errors.New("disk full")
	}
	if m.states == nil {
		m.states = map[string]schedules.WatchState{}
	}
	m.saves++
	m.states[strings.ToUpper(st.DAG)] = st
	return nil
}

var alertsChannel = postTo("{slack: C0ALERTS, discord: '777'}").Channels()

func newWatcher(t *testing.T, st schedules.WatchStore, pub schedules.Poster, clk clock.Clock) *schedules.Watcher {
	t.Helper()
	w, err := schedules.NewWatcher(schedules.WatchConfig{Store: st, Poster: pub, To: alertsChannel, Clock: clk,
		Settings: schedules.WatchSettings{SingleCopyAfter: schedules.DefaultSingleCopyAfter}})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// The watcher keeps the state before it posts; when the state cannot be kept nothing
// is posted, and the next report brings the same alerts.
func TestWatcherPostsAfterKeeping(t *testing.T) {
	st, pub := &memWatch{fail: true}, &recorder{}
	clk := clock.NewManual(watchT0)
	w := newWatcher(t, st, pub, clk)
	w.ObserveReport(healthyReport(failedCopy()))
	clk.Advance(5 * time.Minute)
	w.ObserveReport(healthyReport(failedCopy()))
	w.ObserveReport(healthyReport(failedCopy()))
	w.Close()
	posts := pub.all()
	if len(posts) != 2 {
		t.Fatalf("%d posts, want the verdict and the copy once each after the failed save", len(posts))
	}
	for _, p := range posts {
		if !maps.Equal(p.To, alertsChannel) {
			t.Errorf("posted to %+v, want the alert channels", p.To)
		}
	}
	wantContains(t, "the copy's alert", posts[1].Title+"\n"+posts[1].Text, `E14-DAG: copy MB01\EX10-MB02 is Failed`, "/exchange copy status MB01")
	if c := st.states["E14-DAG"].Conditions; len(c) != 3 || !c[0].Since.Equal(watchT0.Add(5*time.Minute)) {
		t.Errorf("kept state %+v, want the verdict, the copy and the pending single copy since the save that worked", c)
	}
	// After Close, reports are not watched.
	w.ObserveReport(healthyReport())
	if len(pub.all()) != 2 {
		t.Errorf("a report after Close was posted")
	}
}

func failedCopy() func(*schedules.Report) { return copyStatus(`MB01\EX10-MB02`, "Failed") }

// An AlertPoster gets the alert itself, with its next steps, to render buttons.
type alertPub struct {
	recorder
	mu     sync.Mutex
	alerts []schedules.Alert
}

func (p *alertPub) PublishAlert(ctx context.Context, to map[string]string, a schedules.Alert) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.alerts = append(p.alerts, a)
	return nil
}

func TestWatcherHandsAlertsToAnAlertPoster(t *testing.T) {
	pub := &alertPub{}
	w := newWatcher(t, &memWatch{}, pub, clock.NewManual(watchT0))
	w.ObserveReport(healthyReport(memberDown("EX10-MB02")))
	w.Close()
	if len(pub.all()) != 0 || len(pub.alerts) != 2 || pub.alerts[1].Kind != schedules.AlertMemberDown || len(pub.alerts[1].Next) == 0 {
		t.Errorf("plain posts %d, alerts %+v; want the 2 alerts as such", len(pub.all()), pub.alerts)
	}
}

func TestNewWatcherRefusesBadConfiguration(t *testing.T) {
	for _, c := range []schedules.WatchConfig{
		{Poster: &recorder{}, To: alertsChannel},
		{Store: &memWatch{}, To: alertsChannel},
		{Store: &memWatch{}, Poster: &recorder{}},
		{Store: &memWatch{}, Poster: &recorder{}, To: alertsChannel, Settings: schedules.WatchSettings{SingleCopyAfter: -time.Minute}},
	} {
		if _, err := schedules.NewWatcher(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// End to end: a scheduled health report of a healthy DAG, then a fault in the lab and
// the next scheduled report: one alert for the copy (and one for the verdict) in the
// alert channel, the reports in the schedule's; a third report posts no alert again.
func TestScheduledReportThenFaultPostsOneAlert(t *testing.T) {
	g := startRig(t, nil)
	pub := &recorder{}
	w := newWatcher(t, &memWatch{}, pub, g.Clock)
	s, err := schedules.New(schedules.Config{Store: newMemStore(), Runner: g.Runner, Env: labEnv, Poster: pub, Clock: g.Clock,
		Observer:  schedules.Observers{&observer{}, w},
		Schedules: []config.Schedule{{Name: "hourly-health", Cron: "0 * * * *", Job: "health", DAG: "E14-DAG", PostTo: ops}},
		Location:  time.UTC, Now: g.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	run := func() {
		t.Helper()
		if err := s.RunNow(t.Context(), "hourly-health"); err != nil {
			t.Fatal(err)
		}
		g.Clock.Advance(time.Hour)
	}
	run()
	g.labFault(`kind=copy&database=MB02&server=EX10-MB01&status=FailedAndSuspended&message=The database file is corrupt.`)
	run()
	run()
	w.Close()
	var alerts, reports []*post
	for _, p := range pub.all() {
		switch {
		case maps.Equal(p.To, alertsChannel):
			alerts = append(alerts, p)
		case maps.Equal(p.To, ops.Channels()):
			reports = append(reports, p)
		default:
			t.Errorf("posted to %+v: %s", p.To, p.Title)
		}
	}
	if len(reports) != 3 {
		t.Errorf("%d reports posted to the schedule's channel, want 3", len(reports))
	}
	var titles []string
	for _, a := range alerts {
		titles = append(titles, a.Title)
	}
	want := []string{"E14-DAG: health is Failure", `E14-DAG: copy MB02\EX10-MB01 is FailedAndSuspended`, "E14-DAG: MB02 is down to 1 healthy copy"}
	if !slices.Equal(titles, want) {
		t.Errorf("alerts %q, want %q", titles, want)
	}
}
