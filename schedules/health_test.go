package schedules_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/internal/golden"
	"github.com/exchops/exchops/schedules"
)

// reportAt is the instant every golden report shows, so the files do not depend on
// how long the lab took to build.
var reportAt = time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)

// The health report against the lab: a healthy DAG, then each fault on its own.
// Each case sets its fault, collects, renders the golden file, and clears it.
func TestCollectAgainstTheLab(t *testing.T) {
	g := startRig(t, nil)
	o := g.lab.Org
	cases := []struct {
		name    string
		fault   func() error
		clear   func() error
		verdict schedules.Verdict
		reasons []string // each must appear in a reason of the verdict's level
	}{
		{name: "ok", verdict: schedules.OK},
		{
			name:    "copy-failed",
			fault:   func() error { return o.SetCopyFault("MB01", "EX10-MB02", "Failed", "The log file is corrupt.") },
			clear:   func() error { return o.SetCopyFault("MB01", "EX10-MB02", "", "") },
			verdict: schedules.Failure,
			reasons: []string{`Copy MB01\EX10-MB02 is Failed: The log file is corrupt`, "DBCopyFailed"},
		},
		{
			// 9 logs: over exchops' threshold (8), under the lab's own check (10), so
			// the report's threshold is what finds it.
			name:    "queue-growing",
			fault:   func() error { return o.SetQueues("MB02", "EX10-MB01", 9, 2) },
			clear:   func() error { return o.SetQueues("MB02", "EX10-MB01", 0, 0) },
			verdict: schedules.Warning,
			reasons: []string{`Copy MB02\EX10-MB01 has a copy queue of 9 logs`, `Database MB02 has 1 unhealthy copy`},
		},
		{
			name:    "queue-failing",
			fault:   func() error { return o.SetQueues("MB02", "EX10-MB01", 40, 12) },
			clear:   func() error { return o.SetQueues("MB02", "EX10-MB01", 0, 0) },
			verdict: schedules.Failure,
			reasons: []string{`replication check DBLogCopyKeepingUp failed`},
		},
		{
			// Lagged copies (a replay lag on one, a truncation lag on the other):
			// their long replay queues and suspended activation are on purpose, counted
			// as lagged, not as unhealthy.
			name: "lagged",
			fault: func() error {
				return errors.Join(o.SetLag("MB01", "EX10-MB02", 7*24*time.Hour, 0), o.SetLag("MB02", "EX10-MB01", 0, 24*time.Hour))
			},
			clear: func() error {
				return errors.Join(o.SetLag("MB01", "EX10-MB02", 0, 0), o.SetLag("MB02", "EX10-MB01", 0, 0))
			},
			verdict: schedules.OK,
		},
		{
			// A German server: its checks' texts are translated, their values are not.
			name: "german-ok",
			fault: func() error {
				return errors.Join(o.SetCulture("EX10-MB01", "de-DE"), o.SetCulture("EX10-MB02", "de-DE"))
			},
			clear: func() error {
				return errors.Join(o.SetCulture("EX10-MB01", "en-US"), o.SetCulture("EX10-MB02", "en-US"))
			},
			verdict: schedules.OK,
		},
		{
			// A failed check on a German server is a failure, not a warning.
			name: "german-check-failed",
			fault: func() error {
				return errors.Join(o.SetCulture("EX10-MB02", "de-DE"), o.SetCopyFault("MB01", "EX10-MB02", "Failed", "The log file is corrupt."))
			},
			clear: func() error {
				return errors.Join(o.SetCulture("EX10-MB02", "en-US"), o.SetCopyFault("MB01", "EX10-MB02", "", ""))
			},
			verdict: schedules.Failure,
			reasons: []string{"Failure: EX10-MB02: replication check DBCopyFailed failed"},
		},
		{
			// Indexing turned off for a database: information, as Get-DAGHealth.ps1
			// has it, not a failure.
			name:    "index-disabled",
			fault:   func() error { return o.SetContentIndexState("MB01", "EX10-MB02", "Disabled") },
			clear:   func() error { return o.SetContentIndexState("MB01", "EX10-MB02", "Healthy") },
			verdict: schedules.OK,
		},
		{
			name:    "network-down",
			fault:   func() error { return o.SetNetworkDown("E14-DAG", "DAGNetwork02", true) },
			clear:   func() error { return o.SetNetworkDown("E14-DAG", "DAGNetwork02", false) },
			verdict: schedules.Failure,
			reasons: []string{"DAG network DAGNetwork02", "ClusterNetwork"},
		},
		{
			name:    "witness-unreachable",
			fault:   func() error { return o.SetWitnessUnreachable("E14-DAG", true) },
			clear:   func() error { return o.SetWitnessUnreachable("E14-DAG", false) },
			verdict: schedules.Failure,
			reasons: []string{"FileShareQuorum", "file share witness"},
		},
		{
			name:    "member-down",
			fault:   func() error { return o.SetMemberDown("E14-DAG", "EX10-MB02", true) },
			clear:   func() error { return o.SetMemberDown("E14-DAG", "EX10-MB02", false) },
			verdict: schedules.Failure,
			reasons: []string{"EX10-MB02 is not an operational server of E14-DAG", "Database MB02 is not mounted"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.fault != nil {
				if err := tc.fault(); err != nil {
					t.Fatal(err)
				}
				defer func() {
					if err := tc.clear(); err != nil {
						t.Fatal(err)
					}
				}()
			}
			rep, err := schedules.Collect(context.Background(), g.r, labEnv, "e14-dag", schedules.Thresholds{}, clock.Real{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.DAG != "E14-DAG" || len(rep.Databases) != 2 || len(rep.Copies) != 4 || len(rep.Members) != 2 || len(rep.Networks) != 2 {
				t.Fatalf("report of %s: %d databases, %d copies, %d members, %d networks; want 2, 4, 2, 2:\n%s",
					rep.DAG, len(rep.Databases), len(rep.Copies), len(rep.Members), len(rep.Networks), rep.Text())
			}
			if rep.Verdict != tc.verdict {
				t.Errorf("verdict %s, want %s:\n%s", rep.Verdict, tc.verdict, rep.Text())
			}
			if tc.verdict == schedules.OK && len(rep.Reasons) > 0 {
				t.Errorf("an OK report with reasons: %+v", rep.Reasons)
			}
			var all []string
			for _, r := range rep.Reasons {
				all = append(all, string(r.Level)+": "+r.Text)
			}
			for _, want := range tc.reasons {
				if !strings.Contains(strings.Join(all, "\n"), want) {
					t.Errorf("no reason mentions %q; reasons:\n%s", want, strings.Join(all, "\n"))
				}
			}
			if len(rep.Reasons) > 0 && rep.Reasons[0].Level != rep.Verdict {
				t.Errorf("the first reason is %s, the verdict %s: failures must come first", rep.Reasons[0].Level, rep.Verdict)
			}
			// The report is plain data: it goes through JSON unchanged.
			b, err := json.Marshal(rep)
			if err != nil {
				t.Fatal(err)
			}
			var back schedules.Report
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(&back, rep) {
				t.Errorf("the report changed through JSON:\n%+v\n%+v", back, *rep)
			}
			rep.At = reportAt
			golden.Check(t, filepath.Join("testdata", "report-"+tc.name+".golden"), rep.Text())
		})
	}
}

// Thresholds and the ignore list change the verdict, not what is read.
func TestThresholdsAndIgnore(t *testing.T) {
	g := startRig(t, nil)
	if err := g.lab.Org.SetQueues("MB02", "EX10-MB01", 9, 2); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rep, err := schedules.Collect(ctx, g.r, labEnv, "E14-DAG", schedules.Thresholds{CopyQueue: 20}, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != schedules.OK {
		t.Errorf("with a copy queue threshold of 20, a queue of 9: verdict %s, want OK:\n%s", rep.Verdict, rep.Text())
	}
	rep, err = schedules.Collect(ctx, g.r, labEnv, "E14-DAG", schedules.Thresholds{Ignore: []string{"MB02"}}, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != schedules.OK {
		t.Errorf("with MB02 ignored: verdict %s, want OK:\n%s", rep.Verdict, rep.Text())
	}
	wantContains(t, "the report", rep.Text(), "Ignored (shown, not judged): MB02", "(ignored)")
}

// A member that cannot be reached is a failure of the report, not of Collect.
func TestCollectWithAMemberUnreachable(t *testing.T) {
	g := startRig(t, nil)
	if err := g.lab.SetFault("EX10-MB02", "unreachable"); err != nil {
		t.Fatal(err)
	}
	rep, err := schedules.Collect(context.Background(), g.r, labEnv, "E14-DAG", schedules.Thresholds{}, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != schedules.Failure || len(rep.Errors) != 1 || !strings.HasPrefix(rep.Errors[0], "EX10-MB02") {
		t.Fatalf("verdict %s, errors %q; want a failure naming EX10-MB02:\n%s", rep.Verdict, rep.Errors, rep.Text())
	}
	wantContains(t, "the report", rep.Text(), "not read", "Could not read EX10-MB02")
}

func TestCollectRefusesBadInput(t *testing.T) {
	for _, dag := range []string{"", "not a dag", "E14-DAG-NAME-TOO-LONG"} {
		if _, err := schedules.Collect(context.Background(), nil, labEnv, dag, schedules.Thresholds{}, clock.Real{}); err == nil {
			t.Errorf("Collect(%q) did not fail", dag)
		}
	}
	if _, err := schedules.Collect(context.Background(), nil, commands.Env{ManagementServer: "EX10-CAHT"}, "E14-DAG", schedules.Thresholds{}, clock.Real{}); err == nil {
		t.Error("Collect without mailbox servers did not fail")
	}
}

// The management-server read a report adds, as an approver of nothing but a reader
// of `exchops plan` would see it.
func TestDAGReadScript(t *testing.T) {
	s, err := commands.DAGRead(labEnv, "e14-dag")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "dagread.golden"), s.Target+": "+s.Purpose+"\n"+s.Script)
}
