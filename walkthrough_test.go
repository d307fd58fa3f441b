package main

// The walkthrough, end to end: every step typed as a chat command, planned by
// commands, preflighted and executed by the real WinRM runner against the lab, and
// the lab's state checked afterwards. Then the preflight blockers, each refused with
// its reason by reading the real (simulated) organisation.

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/internal/labtest"
	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/runners"
)

type walk struct {
	t     *testing.T
	lab   *lab.Lab
	r     *runners.WinRM
	clock *clock.Manual
}

func startWalk(t *testing.T) *walk {
	t.Helper()
	g := labtest.NewRig(t, nil)
	// Time moves only when something waits on the lab's clock, which is also the
	// runner's (a DAG member joining, a switchover, Execute between polls): then it
	// moves one second.
	g.Advance()
	l, r, c := g.Lab, g.Runner, g.Clock
	return &walk{t: t, lab: l, r: r, clock: c}
}

// outcome is what happened to one command.
type outcome struct {
	findings commands.Findings
	output   string   // what Execute printed for people
	progress []string // the lines Execute reported while it worked
}

// do runs a command the way exchops will once approved: the runner's Preflight, then,
// unless a blocker refuses it or there is nothing to do, its Execute under the lock the
// findings or the plan name (none for reads). It returns an error for a blocker (with
// the findings), a failed step, or a wait that failed or ran out of time.
func (w *walk) do(text string) (outcome, error) {
	w.t.Helper()
	ctx := context.Background()
	inv, err := commands.Parse(text)
	if err != nil {
		return outcome{}, err
	}
	p, err := inv.Plan(labEnv)
	if err != nil {
		return outcome{}, err
	}
	var out outcome
	out.findings, err = w.r.Preflight(ctx, p)
	if err != nil {
		return out, err
	}
	if out.findings.Blocked() {
		return out, fmt.Errorf("blocked: %s", out.findings.String())
	}
	if out.findings.NoOp {
		return out, nil
	}
	p = p.Decide(out.findings) // the steps the preflight decided, as approvals runs them
	lock := out.findings.Lock
	if lock == "" {
		lock = p.Lock
	}
	if p.ReadOnly {
		lock = ""
	}
	out.output, err = w.r.Execute(ctx, p, lock, func(line string) { out.progress = append(out.progress, line) })
	if err != nil {
		return out, fmt.Errorf("%w\noutput:\n%s", err, out.output)
	}
	return out, nil
}

func (w *walk) must(text string) outcome {
	w.t.Helper()
	out, err := w.do(text)
	if err != nil {
		w.t.Fatalf("%s: %v", text, err)
	}
	return out
}

// rows runs a read-only command through do, as a person would, and returns one
// section's rows, read by running the plan's steps again with Run: Execute's output
// is text for people, not data.
func (w *walk) rows(text, section string) []map[string]string {
	w.t.Helper()
	out := w.must(text)
	if !strings.Contains(out.output, section+":") {
		w.t.Errorf("%s: the output has no section %s:\n%s", text, section, out.output)
	}
	inv, err := commands.Parse(text)
	if err != nil {
		w.t.Fatal(err)
	}
	p, err := inv.Plan(labEnv)
	if err != nil {
		w.t.Fatal(err)
	}
	if !p.ReadOnly {
		w.t.Fatalf("%s is not read-only", text)
	}
	var rows []map[string]string
	for _, s := range p.Steps {
		res, err := w.r.RunStep(context.Background(), s, nil)
		if err != nil {
			w.t.Fatalf("%s: step on %s: %v", text, s.Target, err)
		}
		rows = append(rows, res.Tables()[section]...)
	}
	return rows
}

// The walkthrough's commands, in its order: the CAS array with NLB, then the DAG.
var walkthrough = []string{
	`dns add client 10.0.0.40 zone=msglab.local`,
	`nlb create client.msglab.local ip=10.0.0.40 mask=255.255.255.0 interface="Local Area Connection" host=EX10-CAHT mode=multicast`,
	`nlb add-host client.msglab.local host=EX10-CAHT02 interface="Local Area Connection"`,
	`casarray create "CAS Array" fqdn=client.msglab.local site=Default-First-Site-Name`,
	`casarray assign client.msglab.local`,
	`dag create E14-DAG witness=EX10-CAHT dir=C:\FSW ip=10.0.0.50`,
	`dag add-member E14-DAG EX10-MB01`,
	`dag add-member E14-DAG EX10-MB02`,
	`copy add MB01 EX10-MB02`,
	`copy add MB02 EX10-MB01`,
}

func TestWalkthroughEndToEnd(t *testing.T) {
	w := startWalk(t)
	for _, text := range walkthrough {
		out := w.must(text)
		if out.findings.NoOp {
			t.Fatalf("%s: planned nothing on a fresh organisation: %s", text, out.findings)
		}
		if len(out.progress) == 0 || !strings.HasPrefix(out.progress[0], "step 1 of ") {
			t.Errorf("%s: progress %q does not start with the first step", text, out.progress)
		}
	}
	o := w.lab.Org

	// Step 1: the DNS record.
	found := false
	for _, r := range o.DNSRecords("msglab.local") {
		found = found || (r.Name == "client" && r.Type == "A" && r.Data == "10.0.0.40")
	}
	if !found {
		t.Errorf("no A record client.msglab.local -> 10.0.0.40: %+v", o.DNSRecords("msglab.local"))
	}
	// Step 2: an NLB cluster with two converged hosts.
	nlb := o.NLBClusters()
	if len(nlb) != 1 || len(nlb[0].Nodes) != 2 || !strings.EqualFold(nlb[0].Name, "client.msglab.local") || nlb[0].IP != "10.0.0.40" {
		t.Fatalf("NLB clusters: %+v", nlb)
	}
	for _, n := range nlb[0].Nodes {
		if w.clock.Now().Before(n.ConvergingUntil) {
			t.Errorf("NLB node %s has not converged", n.Host)
		}
	}
	// Step 3: the CAS array.
	if arr := o.CASArrays(); len(arr) != 1 || arr[0].Fqdn != "client.msglab.local" || arr[0].Site != lab.SiteName {
		t.Errorf("CAS arrays: %+v", arr)
	}
	// Step 4: both databases point at it (read back through Exchange).
	res, err := w.r.RunStep(context.Background(), exchangeRead("EX10-CAHT", commands.Call{
		Pipeline: []commands.Cmd{commands.C("Get-MailboxDatabase")}, Section: "databases",
		Columns: []string{"Name", "RpcClientAccessServer"}}), nil)
	if err != nil {
		t.Fatal(err)
	}
	dbs := res.Tables()["databases"]
	if len(dbs) != 2 {
		t.Fatalf("databases: %v", dbs)
	}
	for _, db := range dbs {
		if !strings.EqualFold(db["RpcClientAccessServer"], "client.msglab.local") {
			t.Errorf("database %s still uses %s", db["Name"], db["RpcClientAccessServer"])
		}
	}
	// Step 5: Autodiscover passes.
	ad := w.rows("autodiscover test", "autodiscover")
	if len(ad) == 0 {
		t.Fatal("autodiscover test returned no rows")
	}
	for _, row := range ad {
		if strings.EqualFold(row["Type"], "Error") {
			t.Errorf("autodiscover test reports an error: %v", row)
		}
	}
	// The DAG: two members, a copy of each database on the other server, all healthy.
	dag := w.rows("dag status E14-DAG", "dag")
	if len(dag) != 1 || !strings.Contains(dag[0]["Servers"], "EX10-MB01") || !strings.Contains(dag[0]["Servers"], "EX10-MB02") {
		t.Errorf("dag status: %v", dag)
	}
	copies := map[string]string{}
	for _, row := range w.rows("copy status", "copystatus") {
		copies[row["Name"]] = row["Status"]
	}
	want := map[string]string{
		`MB01\EX10-MB01`: "Mounted", `MB01\EX10-MB02`: "Healthy",
		`MB02\EX10-MB02`: "Mounted", `MB02\EX10-MB01`: "Healthy",
	}
	for name, status := range want {
		if copies[name] != status {
			t.Errorf("copy %s is %q, want %s (all copies: %v)", name, copies[name], status, copies)
		}
	}
	health := w.rows("health E14-DAG", "replicationhealth")
	if len(health) < 2*15 {
		t.Fatalf("Test-ReplicationHealth returned %d rows, want the 15 checks of each of 2 members", len(health))
	}
	for _, row := range health {
		if row["Result"] != "Passed" {
			t.Errorf("Test-ReplicationHealth: %v", row)
		}
	}

	// Running the walkthrough again changes nothing: every step sees it is done.
	for _, text := range walkthrough {
		out := w.must(text)
		if !out.findings.NoOp {
			t.Errorf("%s: a second run was not a no-op: %s", text, out.findings)
		}
	}

	// A failover to the passive copy and back, as a drill would.
	w.must(`failover MB01 to=EX10-MB02`)
	if got := activeOn(t, w, "MB01"); got != "EX10-MB02" {
		t.Errorf("after failover MB01 is active on %q", got)
	}
	w.must(`failover MB01 to=EX10-MB01`)
	if got := activeOn(t, w, "MB01"); got != "EX10-MB01" {
		t.Errorf("after failing back MB01 is active on %q", got)
	}
}

// exchangeRead is a test's own read through the Exchange endpoint: typed calls, as
// the catalog's reads are.
func exchangeRead(server string, calls ...commands.Call) commands.Step {
	return commands.Step{Target: server, Calls: calls, Script: commands.RenderCalls(calls), Purpose: "a test's read"}
}

func activeOn(t *testing.T, w *walk, db string) string {
	t.Helper()
	res, err := w.r.RunStep(context.Background(), exchangeRead("EX10-CAHT", commands.Call{
		Pipeline: []commands.Cmd{commands.C("Get-MailboxDatabase", commands.Str("Identity", db), commands.Switch("Status"))},
		Section:  "db", Columns: []string{"Server", "Mounted"}}), nil)
	if err != nil {
		t.Fatal(err)
	}
	rows := res.Tables()["db"]
	if len(rows) != 1 || rows[0]["Mounted"] != "True" {
		t.Fatalf("database %s: %v", db, rows)
	}
	return rows[0]["Server"]
}

// TestPreflightBlockersAgainstTheLab: each best-practice rule refuses the command
// with its reason, by reading the organisation as it really is.
func TestPreflightBlockersAgainstTheLab(t *testing.T) {
	w := startWalk(t)
	for _, text := range walkthrough {
		w.must(text)
	}
	if err := w.lab.Org.SetCopyFault("MB02", "EX10-MB01", "Failed", "The log copier was unable to communicate with server 'EX10-MB02'."); err != nil {
		t.Fatal(err)
	}
	if err := w.lab.Org.SetQueues("MB01", "EX10-MB02", 40, 3); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		command, reason string
	}{
		{`nlb add-host client.msglab.local host=EX10-MB01 interface=MAPI from=EX10-CAHT`, "DAG"},
		{`nlb create other.msglab.local ip=10.0.0.60 mask=255.255.255.0 interface=MAPI host=EX10-MB02 mode=multicast`, "DAG"},
		{`dag add-member E14-DAG EX10-CAHT`, "NLB"},
		{`dag create E14-DAG witness=EX10-CAHT02 dir=C:\FSW2`, "E14-DAG"},
		{`dag create E15-DAG witness=EX10-MB01 dir=C:\FSW`, "member"},
		{`casarray create "Other Array" fqdn=other.msglab.local site=Default-First-Site-Name`, "CAS Array"},
		{`dns add client 10.0.0.99 zone=msglab.local`, "10.0.0.40"},
		{`failover MB02 to=EX10-MB01`, "Failed"},
		{`failover MB01 to=EX10-MB02`, "queue"},
		{`casarray assign nothere.msglab.local`, "nothere.msglab.local"},
	}
	for _, tc := range cases {
		t.Run(tc.command, func(t *testing.T) {
			out, err := w.do(tc.command)
			if err == nil {
				t.Fatalf("not refused; findings: %s", out.findings)
			}
			if !out.findings.Blocked() {
				t.Fatalf("failed, but not by a preflight blocker: %v", err)
			}
			if !strings.Contains(out.findings.String(), tc.reason) {
				t.Errorf("the reason does not mention %q:\n%s", tc.reason, out.findings)
			}
		})
	}
}
