package schedules_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/internal/golden"
	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/runners"
	"github.com/exchops/exchops/schedules"
)

// reportAt is the instant every golden report shows, so the files do not depend on
// how long the lab took to build.
var reportAt = time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)

// The health report against the lab: a healthy DAG, then each fault on its own.
// Each case sets its fault, collects, renders the golden file, and clears it.
func TestCollectAgainstTheLab(t *testing.T) {
	g := startRig(t, nil)
	o := g.Lab.Org
	cases := []struct {
		name    string
		fault   func() error
		clear   func() error
		verdict schedules.Verdict
		reasons []string // each must appear in a reason of the verdict's level
		mapi    bool     // with health.mapi_connectivity
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
			reasons: []string{`Warning: Database MB02 has 1 of 2 copies with unhealthy queues (MB02\EX10-MB01: copy queue 9`},
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
			// A content index that is neither Healthy nor Disabled: a warning while the
			// database has a healthy one (Get-DAGHealth.ps1's unhealthy indexes).
			name:    "index-failed",
			fault:   func() error { return o.SetContentIndexState("MB01", "EX10-MB02", "Failed") },
			clear:   func() error { return o.SetContentIndexState("MB01", "EX10-MB02", "Healthy") },
			verdict: schedules.Warning,
			reasons: []string{`Warning: Database MB01 has 1 of 2 content indexes unhealthy (MB01\EX10-MB02 is Failed)`},
		},
		{
			// A required service stopped: Test-ServiceHealth's RequiredServicesRunning
			// False is a failure of the member.
			name:    "service-stopped",
			fault:   func() error { return o.SetServiceStopped("EX10-MB02", "MSExchangeMailboxAssistants", true) },
			clear:   func() error { return o.SetServiceStopped("EX10-MB02", "MSExchangeMailboxAssistants", false) },
			verdict: schedules.Failure,
			reasons: []string{"Failure: EX10-MB02: Mailbox Server Role: required services are not running: MSExchangeMailboxAssistants"},
		},
		{
			// 85 messages waiting (and 30 in the shadow redundancy queue, which do not
			// count): over 80 is a warning.
			name:    "transport-queue-warning",
			fault:   func() error { return o.SetTransportQueue("EX10-CAHT", 85, 0, 30) },
			clear:   func() error { return o.SetTransportQueue("EX10-CAHT", 0, 0, 0) },
			verdict: schedules.Warning,
			reasons: []string{"Warning: EX10-CAHT: 85 messages in its transport queues (more than 80 is a warning)"},
		},
		{
			// A queue that grows 10 messages a minute from 60: five minutes on, 110.
			name: "transport-queue-failing",
			fault: func() error {
				err := o.SetTransportQueue("EX10-CAHT02", 60, 10, 0)
				g.Clock.Advance(5 * time.Minute)
				return err
			},
			clear:   func() error { return o.SetTransportQueue("EX10-CAHT02", 0, 0, 0) },
			verdict: schedules.Failure,
			reasons: []string{"Failure: EX10-CAHT02: 110 messages in its transport queues (100 or more is a failure)"},
		},
		{
			// The transport service stopped: Get-Queue cannot run, and the report says
			// so rather than passing the queue.
			name:    "transport-not-checked",
			fault:   func() error { return o.SetServiceStopped("EX10-CAHT02", "MSExchangeTransport", true) },
			clear:   func() error { return o.SetServiceStopped("EX10-CAHT02", "MSExchangeTransport", false) },
			verdict: schedules.Warning,
			reasons: []string{"Warning: EX10-CAHT02: could not check transport queue: ", "Microsoft Exchange Transport service"},
		},
		{
			name:    "dismounted",
			fault:   func() error { return o.SetMounted("MB02", false) },
			clear:   func() error { return o.SetMounted("MB02", true) },
			verdict: schedules.Failure,
			reasons: []string{"Failure: Database MB02 is not mounted on any server (Get-MailboxDatabase -Status: Mounted False, its active copy on EX10-MB02)"},
		},
		{
			// The Information Store stopped, with health.mapi_connectivity on: the
			// database dismounts and the MAPI logon to it fails.
			name:    "mapi-failed",
			mapi:    true,
			fault:   func() error { return o.SetServiceStopped("EX10-MB02", "MSExchangeIS", true) },
			clear:   func() error { return o.SetServiceStopped("EX10-MB02", "MSExchangeIS", false) },
			verdict: schedules.Failure,
			reasons: []string{"Failure: Database MB02: the MAPI logon to its system mailbox failed (Test-MapiConnectivity: Failure)",
				"Failure: EX10-MB02: Mailbox Server Role: required services are not running: MSExchangeIS"},
		},
		{
			name:    "member-down",
			fault:   func() error { return o.SetMemberDown("E14-DAG", "EX10-MB02", true) },
			clear:   func() error { return o.SetMemberDown("E14-DAG", "EX10-MB02", false) },
			verdict: schedules.Failure,
			reasons: []string{"EX10-MB02 is not an operational server of E14-DAG", "Database MB02 is not mounted"},
		},
		{
			// The replication service stopped on EX10-MB02: its copies read
			// ServiceDown, the one active there among them, but the database stays
			// mounted (Get-MailboxDatabase -Status): never "not mounted".
			name:    "replication-service-stopped",
			fault:   func() error { return o.SetServiceStopped("EX10-MB02", "MSExchangeRepl", true) },
			clear:   func() error { return o.SetServiceStopped("EX10-MB02", "MSExchangeRepl", false) },
			verdict: schedules.Failure,
			reasons: []string{"Warning: Database MB02 is mounted on EX10-MB02 (Get-MailboxDatabase -Status), but no copy status says so"},
		},
		{
			// Last: the lab keeps the public folder database once added.
			name:    "public-folder-dismounted",
			fault:   func() error { return o.AddPublicFolderDatabase("EX10-MB01", "PF01", false) },
			clear:   func() error { return o.AddPublicFolderDatabase("EX10-MB01", "PF01", true) },
			verdict: schedules.Failure,
			reasons: []string{"Failure: Public folder database PF01 on EX10-MB01 is not mounted"},
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
			env := labEnv
			env.MAPIConnectivity = tc.mapi
			rep, err := schedules.Collect(context.Background(), g.Runner, env, "e14-dag", schedules.Thresholds{}, clock.Real{})
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
			if schedules.ForgetReadErrors(rep); !reflect.DeepEqual(&back, rep) {
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
	if err := g.Lab.Org.SetQueues("MB02", "EX10-MB01", 9, 2); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rep, err := schedules.Collect(ctx, g.Runner, labEnv, "E14-DAG", schedules.Thresholds{CopyQueue: 20}, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != schedules.OK {
		t.Errorf("with a copy queue threshold of 20, a queue of 9: verdict %s, want OK:\n%s", rep.Verdict, rep.Text())
	}
	rep, err = schedules.Collect(ctx, g.Runner, labEnv, "E14-DAG", schedules.Thresholds{Ignore: []string{"MB02"}}, clock.Real{})
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
	if err := g.Lab.SetFault("EX10-MB02", "unreachable"); err != nil {
		t.Fatal(err)
	}
	rep, err := schedules.Collect(context.Background(), g.Runner, labEnv, "E14-DAG", schedules.Thresholds{}, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != schedules.Failure || len(rep.Errors) != 1 || !strings.HasPrefix(rep.Errors[0], "EX10-MB02") {
		t.Fatalf("verdict %s, errors %q; want a failure naming EX10-MB02:\n%s", rep.Verdict, rep.Errors, rep.Text())
	}
	wantContains(t, "the report", rep.Text(), "not read", "Could not read EX10-MB02", "not run")
	for _, s := range rep.Servers {
		if s.Server != "EX10-MB02" {
			continue
		}
		for _, c := range s.Checks {
			if c.Result != "" || c.Error == "" {
				t.Errorf("EX10-MB02's check %s passed as %q although the server cannot be reached", c.Name, c.Result)
			}
		}
	}
	rep.At = reportAt
	// The lab's ports change from run to run.
	text := regexp.MustCompile(`127\.0\.0\.1:\d+`).ReplaceAllString(rep.Text(), "127.0.0.1:PORT")
	golden.Check(t, filepath.Join("testdata", "report-member-unreachable.golden"), text)
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

// TestCollectMixed: one report showing, each classified as the scripts do, a lagged
// copy (information), a disabled index (information), a transport queue over 80 (a
// warning), a stopped service (a failure) and a member that cannot be reached (a
// failure, and its checks not run). The chat fronts' report fixtures are this file.
func TestCollectMixed(t *testing.T) {
	g := startRig(t, nil)
	o := g.Lab.Org
	for _, err := range []error{
		o.SetLag("MB02", "EX10-MB01", 7*24*time.Hour, 0),
		o.SetContentIndexState("MB01", "EX10-MB01", "Disabled"),
		o.SetTransportQueue("EX10-CAHT", 85, 0, 30),
		o.SetServiceStopped("EX10-MB01", "MSExchangeMailboxAssistants", true),
		g.Lab.SetFault("EX10-MB02", "unreachable"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	rep, err := schedules.Collect(context.Background(), g.Runner, labEnv, "E14-DAG", schedules.Thresholds{}, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, r := range rep.Reasons {
		all = append(all, string(r.Level)+": "+r.Text)
	}
	text := strings.Join(all, "\n")
	for _, want := range []string{
		"Failure: Could not read EX10-MB02",
		"Failure: EX10-MB01: Mailbox Server Role: required services are not running: MSExchangeMailboxAssistants",
		"Warning: EX10-CAHT: 85 messages in its transport queues",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no reason says %q:\n%s", want, text)
		}
	}
	for _, never := range []string{"MB02\\EX10-MB01: replay queue", "content index"} {
		if strings.Contains(text, never) {
			t.Errorf("a reason mentions %q (a lagged copy's queue, a Disabled index are information):\n%s", never, text)
		}
	}
	rep.At = reportAt
	out := regexp.MustCompile(`127\.0\.0\.1:\d+`).ReplaceAllString(rep.Text(), "127.0.0.1:PORT")
	golden.Check(t, filepath.Join("testdata", "report-mixed.golden"), out)
}

// TestCollectWithChecksRefused: the account lacks View-Only Configuration and Transport
// Queues, so each member's Get-PublicFolderDatabase and each hub's Get-Queue are
// refused inside steps that hold the other reads (a member's replication reads and
// checks; on EX10-CAHT the DAG's reads too). The refused checks are shown as not run,
// a warning each, and everything else is read and judged.
func TestCollectWithChecksRefused(t *testing.T) {
	g := startRig(t, nil)
	if err := g.Lab.Org.SetRoles(lab.DefaultUser, lab.RoleDAGs, lab.RoleDatabaseCopies, lab.RoleDatabases,
		lab.RoleExchangeServers, lab.RoleOrgClientAccess, lab.RoleMonitoring); err != nil {
		t.Fatal(err)
	}
	// A new runner: sessions opened from now on see the new roles.
	r, err := runners.New(g.Lab.RunnerEndpoints(), runners.Options{Timeout: 30 * time.Second, OperationTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	rep, err := schedules.Collect(context.Background(), r, labEnv, "E14-DAG", schedules.Thresholds{}, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) > 0 || len(rep.Copies) != 4 || len(rep.Databases) != 2 || len(rep.DAGStatus.Servers) != 2 || len(rep.Networks) != 2 {
		t.Fatalf("errors %q, %d copies, %d databases, %d DAG members, %d networks; want none, 4, 2, 2, 2:\n%s",
			rep.Errors, len(rep.Copies), len(rep.Databases), len(rep.DAGStatus.Servers), len(rep.Networks), rep.Text())
	}
	if rep.Verdict != schedules.Warning {
		t.Errorf("verdict %s, want Warning (checks not run):\n%s", rep.Verdict, rep.Text())
	}
	checks := map[string]schedules.ServerCheck{}
	for _, s := range rep.Servers {
		for _, c := range s.Checks {
			checks[s.Server+"/"+c.Name] = c
		}
	}
	for _, m := range []string{"EX10-MB01", "EX10-MB02"} {
		for _, name := range []string{schedules.CheckServices, schedules.CheckMounted} {
			if c := checks[m+"/"+name]; c.Result != "Pass" || c.Error != "" {
				t.Errorf("%s %s: %+v, want Pass", m, name, c)
			}
		}
		if c := checks[m+"/"+schedules.CheckPublicFolders]; c.Result != "" || !strings.Contains(c.Error, "Get-PublicFolderDatabase") {
			t.Errorf("%s %s: %+v, want not run, saying Get-PublicFolderDatabase was refused", m, schedules.CheckPublicFolders, c)
		}
	}
	for _, h := range []string{"EX10-CAHT", "EX10-CAHT02"} {
		if c := checks[h+"/"+schedules.CheckTransportQueue]; c.Result != "" || !strings.Contains(c.Error, "Get-Queue") {
			t.Errorf("%s %s: %+v, want not run, saying Get-Queue was refused", h, schedules.CheckTransportQueue, c)
		}
	}
	for _, m := range rep.Members {
		if !m.Read || len(m.Checks) == 0 {
			t.Errorf("member %s: read %v, %d replication checks; want its replication read", m.Server, m.Read, len(m.Checks))
		}
	}
	var all []string
	for _, r := range rep.Reasons {
		all = append(all, string(r.Level)+": "+r.Text)
	}
	wantContains(t, "the reasons", strings.Join(all, "\n"),
		"Warning: EX10-MB01: could not check public folder databases mounted: ",
		"Warning: EX10-CAHT: could not check transport queue: ")
}
