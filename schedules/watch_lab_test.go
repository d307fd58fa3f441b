package schedules_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/golden"
	"github.com/exchops/exchops/schedules"
)

// labFault sets a fault through the lab's switchboard (POST /fault), as a person
// running the demo does; the form is the fault as lab/control.go lists it.
func (g *rig) labFault(form string) {
	g.T.Helper()
	v, err := url.ParseQuery(form)
	if err != nil {
		g.T.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/fault", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	g.Lab.ControlHandler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		g.T.Fatalf("fault %s: %d %s", form, rec.Code, rec.Body.String())
	}
}

// watchStep is one step of the scripted fault sequence: at a minute past the start,
// set these faults (none: only collect again), collect, compare.
type watchStep struct {
	minute int
	what   string
	faults []string
}

// The scripted sequence of lab faults of issue 18: a failed copy, a stopped
// replication service, a member down, a dismount, a queue that grows then recovers,
// each collected on virtual time and compared with the report before. The golden file
// is every alert and clear, in order; the checks below it hold whatever the file
// says: no condition is opened twice without a clear between, and nothing is left
// open at the end.
func TestWatchScriptedFaults(t *testing.T) {
	g := startRig(t, nil)
	start := g.Clock.Now()
	set := schedules.WatchSettings{SingleCopyAfter: schedules.DefaultSingleCopyAfter}
	script := []watchStep{
		{0, "a healthy DAG", nil},
		{5, "MB01's copy on EX10-MB02 fails", []string{`kind=copy&database=MB01&server=EX10-MB02&status=Failed&message=The log file is damaged.`}},
		{15, "still failed, 10 minutes on: nothing new", nil},
		{26, "still failed, 21 minutes on: MB01 has been down to one healthy copy for over 20 minutes", nil},
		{30, "Exchange suspends the failed copy: the same condition, not repeated", []string{`kind=copy&database=MB01&server=EX10-MB02&status=FailedAndSuspended&message=The log file is damaged.`}},
		{35, "the copy is reseeded", []string{`kind=copy&database=MB01&server=EX10-MB02&status=`}},
		{40, "the replication service stops on EX10-MB02", []string{`kind=service&server=EX10-MB02&service=MSExchangeRepl&running=false`}},
		{50, "still stopped, 10 minutes on", nil},
		{61, "still stopped, 21 minutes on: both databases have been down to one healthy copy", nil},
		{65, "the replication service starts again", []string{`kind=service&server=EX10-MB02&service=MSExchangeRepl&running=true`}},
		{70, "EX10-MB02 goes down (cluster and replication services)", []string{`kind=member&dag=E14-DAG&server=EX10-MB02&down=true`}},
		{75, "EX10-MB02 is back within 20 minutes: its single copies were never announced", []string{`kind=member&dag=E14-DAG&server=EX10-MB02&down=false`}},
		{80, "MB01 is dismounted", []string{`kind=mount&database=MB01&mounted=false`}},
		{85, "MB02's copy on EX10-MB01 fails while the verdict is already Failure", []string{`kind=copy&database=MB02&server=EX10-MB01&status=FailedAndSuspended&message=The database file is corrupt.`}},
		{90, "MB01 is mounted again and the copy reseeded", []string{`kind=mount&database=MB01&mounted=true`, `kind=copy&database=MB02&server=EX10-MB01&status=`}},
		{95, "MB02's copy on EX10-MB01 falls 9 logs behind", []string{`kind=queues&database=MB02&server=EX10-MB01&copy=9&replay=2`}},
		{100, "it falls 45 logs behind", []string{`kind=queues&database=MB02&server=EX10-MB01&copy=45&replay=12`}},
		{105, "it catches up", []string{`kind=queues&database=MB02&server=EX10-MB01&copy=0&replay=0`}},
	}
	var state schedules.WatchState
	var b strings.Builder
	open := map[string]bool{}
	for _, s := range script {
		if d := start.Add(time.Duration(s.minute) * time.Minute).Sub(g.Clock.Now()); d > 0 {
			g.Clock.Advance(d)
		}
		for _, f := range s.faults {
			g.labFault(f)
		}
		rep, err := schedules.Collect(context.Background(), g.Runner, labEnv, "E14-DAG", schedules.Thresholds{}, g.Clock)
		if err != nil {
			t.Fatalf("%s: %v", s.what, err)
		}
		var alerts []schedules.Alert
		alerts, state = schedules.Watch(state, rep, g.Clock.Now(), set)
		fmt.Fprintf(&b, "== %s (%s) — report %s\n", g.Clock.Now().Format("15:04"), s.what, rep.Verdict)
		if len(alerts) == 0 {
			b.WriteString("   no alert\n")
		}
		for _, a := range alerts {
			fmt.Fprintf(&b, "-- %s %s: %s\n", a.Change, a.Level, a.Title)
			for _, line := range strings.Split(a.Message(), "\n") {
				b.WriteString("   " + line + "\n")
			}
			key := string(a.Kind) + ":" + a.Subject
			switch a.Change {
			case schedules.AlertOpened:
				if open[key] {
					t.Errorf("%s: %s opened again without a clear", s.what, key)
				}
				open[key] = true
			case schedules.AlertChanged:
				if !open[key] || a.Kind != schedules.AlertVerdict {
					t.Errorf("%s: %s changed, but only an open verdict changes", s.what, key)
				}
			case schedules.AlertCleared:
				if !open[key] {
					t.Errorf("%s: %s cleared but was not open", s.what, key)
				}
				delete(open, key)
			}
			for _, n := range a.Next {
				if _, err := commands.Parse(n.Command); err != nil {
					t.Errorf("%s: next step %q does not parse: %v", a.Title, n.Command, err)
				}
			}
		}
	}
	if len(open) > 0 || len(state.Conditions) > 0 {
		t.Errorf("left open at the end: %v, state %+v", open, state.Conditions)
	}
	golden.Check(t, filepath.Join("testdata", "watch_faults.golden"), b.String())
}
