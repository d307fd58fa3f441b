package bottest

import (
	"fmt"
	"strings"
	"time"

	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/internal/report"
	"github.com/exchops/exchops/schedules"
)

// AlertReportOf is an alert as the core publishes it (bot.AlertReport).
func AlertReportOf(a schedules.Alert) *report.Report { return bot.AlertReport(a) }

// FailedCopyAlert is an alert of the watch as schedules makes it: a copy that turned
// FailedAndSuspended, with its next steps (a change, then a read-only command), for
// the fronts' golden files and click tests.
func FailedCopyAlert() schedules.Alert {
	at := time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)
	return schedules.Alert{DAG: "E14-DAG", Kind: schedules.AlertCopyFailed, Subject: "MB01\\EX10-MB02", Change: schedules.AlertOpened,
		Level: schedules.Failure, Title: "E14-DAG: copy MB01\\EX10-MB02 is FailedAndSuspended",
		Text:  "The copy of MB01 on EX10-MB02 is FailedAndSuspended: The log file is corrupt. Exchange suspended it: resuming helps only once its cause is fixed; otherwise reseed it.",
		Since: at, At: at,
		Next: []schedules.NextStep{{Label: "Reseed", Command: "copy reseed MB01 EX10-MB02"}, {Label: "Copy status", Command: "copy status MB01"}}}
}

// CopyFailed is a scheduled health report as data: schedules' report-copy-failed
// (a failed copy, its database warned about), for fronts' golden files.
func CopyFailed() *report.Report {
	return &report.Report{Title: "E14-DAG replication health", Verdict: "failure", Blocks: []report.Block{
		{Lines: []string{"2026-11-25 07:00 UTC · 2 members · 2 databases, 4 copies"}},
		{Heading: "Failures", Items: []string{
			"EX10-MB02: replication check DBCopyFailed failed: These database copies have failed: MB01\\EX10-MB02.",
			"Copy MB01\\EX10-MB02 is Failed: The log file is corrupt."}},
		{Heading: "Warnings", Items: []string{"Database MB01 has 1 unhealthy copy (MB01\\EX10-MB02)."}},
		{Heading: "DAG", Items: []string{"Members: EX10-MB01, EX10-MB02", "Primary Active Manager: EX10-MB01",
			"Witness: ex10-caht.msglab.local C:\\FSW (in use: Primary)"}},
		{Heading: "Databases", Table: [][]string{
			{"Database", "Mounted on", "Preference 1", "Copies", "Healthy", "Unhealthy", "Copy queue", "Replay queue", "Content index", "Verdict"},
			{"MB01", "EX10-MB01", "EX10-MB01", "2", "1", "1", "0", "0", "Healthy", "Warning"},
			{"MB02", "EX10-MB02", "EX10-MB02", "2", "2", "0", "0", "0", "Healthy", "OK"}}},
		{Heading: "Copies", Table: [][]string{
			{"Copy", "Preference", "Status", "Copy queue", "Replay queue", "Lag", "Content index", "Healthy"},
			{"MB01\\EX10-MB01", "1", "Mounted", "0", "0", "-", "Healthy", "yes"},
			{"MB01\\EX10-MB02", "2", "Failed", "0", "0", "-", "Healthy", "NO"},
			{"MB02\\EX10-MB02", "1", "Mounted", "0", "0", "-", "Healthy", "yes"},
			{"MB02\\EX10-MB01", "2", "Healthy", "0", "0", "-", "Healthy", "yes"}},
			Items: []string{"MB01\\EX10-MB02: The log file is corrupt."}},
		{Heading: "Replication checks (Test-ReplicationHealth)", Table: [][]string{
			{"Check", "EX10-MB01", "EX10-MB02"},
			{"ClusterService", "Passed", "Passed"},
			{"DBCopyFailed", "Passed", "Failed"},
			{"DBLogReplayKeepingUp", "Passed", "Passed"}}},
	}}
}

// Sections is a report of sections, each a heading, a table of the given number of
// rows and a note; every line holds tag, so that a test can tell reports apart.
func Sections(title, tag string, rows ...int) *report.Report {
	r := &report.Report{Title: title, Blocks: []report.Block{{Lines: []string{
		tag + ": E14-DAG replication health", "2026-11-25 07:00 UTC · " + tag + " 4 members"}}}}
	for s, n := range rows {
		t := [][]string{{tag, "Copy", "Status", "Copy queue", "Replay queue", "Healthy"}}
		for i := range n {
			t = append(t, []string{tag, fmt.Sprintf("MB%02d\\EX10-MB%02d", s+1, i+1), "Healthy", fmt.Sprint(i), fmt.Sprint(i * 2), "yes"})
		}
		r.Blocks = append(r.Blocks, report.Block{Heading: fmt.Sprintf("%s section %d", tag, s+1), Table: t,
			Items: []string{fmt.Sprintf("%s: a note on section %d.", tag, s+1)}})
	}
	return r
}

// LongReport is a report of several tables, some longer than a Slack section or a
// Discord message, with characters chats escape (<, >, &), of about n characters.
func LongReport(n int) *report.Report {
	r := &report.Report{Title: "Weekly copy report", Blocks: []report.Block{{Lines: []string{"E14-DAG copy report <weekly> & trends"}}}}
	size := 0
	for i := 0; size < n; i++ {
		t := [][]string{{"Copy", "Status", "Copy queue", "Replay queue", "Note"}}
		for row := range 12 + 25*(i%3) { // 12, 37 or 62 rows: under, at and over a section
			t = append(t, []string{fmt.Sprintf("MB%02d\\EX10-MB%02d", row, i), "Healthy", fmt.Sprint(row * 7), fmt.Sprint(row * 3), "<ok> & fine"})
			size += 60
		}
		r.Blocks = append(r.Blocks, report.Block{Heading: fmt.Sprintf("Block %d (%s)", i+1, strings.Repeat("x", i%3)), Table: t,
			Items: []string{fmt.Sprint("a note under block ", i+1)}})
	}
	return r
}
