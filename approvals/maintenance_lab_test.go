package approvals_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/internal/labtest"
	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/runners"
	"github.com/exchops/exchops/store"
)

// newDAGRig is casarrayRig over a lab with E14-DAG built: EX10-MB01 and EX10-MB02,
// MB01 active on EX10-MB01 and MB02 on EX10-MB02, each with a copy on the other.
func newDAGRig(t *testing.T) *casarrayRig {
	t.Helper()
	l, w := labtest.Start(t, lab.Options{Timing: &lab.Timing{}, OperationTimeoutCap: 200 * time.Millisecond},
		runners.Options{Timeout: 30 * time.Second, OperationTimeout: time.Second})
	ctx := context.Background()
	for _, text := range []string{dagCreate, "dag add-member E14-DAG EX10-MB01", "dag add-member E14-DAG EX10-MB02",
		"copy add MB01 EX10-MB02", "copy add MB02 EX10-MB01"} {
		p, err := parse(t, text).Plan(env)
		if err != nil {
			t.Fatal(err)
		}
		f, err := w.Preflight(ctx, p)
		if err != nil || f.Blocked() {
			t.Fatalf("%s: %v %s", text, err, f)
		}
		if _, err := w.Execute(ctx, p.Decide(f), "", nil); err != nil {
			t.Fatalf("%s: %v", text, err)
		}
	}
	db, err := store.Open(ctx, t.TempDir()+"/exchops.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ev := newEvents()
	svc := approvals.New(db, w, people(1), approvals.Options{Notifier: ev, Env: env})
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return &casarrayRig{t: t, lab: l, svc: svc, ev: ev}
}

// refused files text and wants it refused as blocked, with a blocker containing want.
func (g *casarrayRig) refused(text, want string) {
	g.t.Helper()
	_, err := g.request(text)
	ref := approvals.RefusalOf(err)
	if ref == nil || ref.Code != approvals.RefusedBlocked || !strings.Contains(ref.Msg, want) {
		g.t.Errorf("%s: %v, want a blocker containing %q", text, err, want)
	}
}

// TestMaintenanceStartStopAgainstTheLab: an administrator has blocked activation on
// EX10-MB01 and suspended activation of MB02's copy there on purpose. dag maintenance
// start moves MB01 off, pauses the node and suspends MB01's copy; while it lasts a
// second member cannot start maintenance and status tells who started it; dag
// maintenance stop sets back exactly what was there (the block and the admin's
// suspension stay, unlike StopDagServerMaintenance.ps1), and with MB01 moved back the
// organisation is exactly as before.
func TestMaintenanceStartStopAgainstTheLab(t *testing.T) {
	g := newDAGRig(t)
	o := g.lab.Org
	if err := o.SetActivationPolicy("EX10-MB01", "Blocked"); err != nil {
		t.Fatal(err)
	}
	if err := o.SuspendActivation("MB02", "EX10-MB01", true, "DR copy: never activate"); err != nil {
		t.Fatal(err)
	}
	before := o.DAGState()

	start := g.run("dag maintenance start EX10-MB01")
	during := o.DAGState()
	for _, want := range []string{"server EX10-MB01 policy=Blocked", "node EX10-MB01 Paused", "pam=EX10-MB02",
		"database MB01 active=EX10-MB02 mounted=true", `activationOnly=true comment="exchops: dag maintenance start EX10-MB01"`,
		`comment="DR copy: never activate"`} {
		if !strings.Contains(during, want) {
			t.Errorf("in maintenance, the lab lacks %q:\n%s", want, during)
		}
	}

	// One member at a time, and the history says who and since when.
	g.refused("dag maintenance start EX10-MB02", "EX10-MB01 is in maintenance")
	if _, err := g.request("dag maintenance start EX10-MB01"); err == nil || !strings.Contains(err.Error(), "which no dag maintenance stop has ended") {
		t.Errorf("a second start of EX10-MB01: %v", err)
	}
	inv := parse(t, "dag maintenance status")
	if err := g.svc.Recall(context.Background(), inv); err != nil {
		t.Fatal(err)
	}
	p, err := inv.Plan(env)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Summary, "EX10-MB01 since") || !strings.Contains(p.Summary, "by alice ("+start.ID+", succeeded)") {
		t.Errorf("status: %s", p.Summary)
	}

	stop := g.run("dag maintenance stop EX10-MB01")
	if !strings.Contains(stop.Run.Output, "Resume-ClusterNode") && !strings.Contains(strings.Join(stepScripts(stop), ""), "Resume-ClusterNode") {
		t.Errorf("stop did not resume the node: %s", stop.Run.Output)
	}
	if strings.Contains(strings.Join(stepScripts(stop), ""), "Set-MailboxServer") {
		t.Errorf("stop changed the activation policy that was Blocked before start")
	}
	after := o.DAGState()
	if !strings.Contains(after, "server EX10-MB01 policy=Blocked") || !strings.Contains(after, `comment="DR copy: never activate"`) {
		t.Errorf("stop cleared an administrator's block:\n%s", after)
	}
	// Stop does not move databases back (that is dag rebalance, or failover).
	g.run("failover MB01 to=EX10-MB01")
	if got := o.DAGState(); got != before {
		t.Errorf("after start, stop and moving MB01 home, the lab is\n%s\nwant as before\n%s", got, before)
	}
	// The maintenance is over: stop has nothing to restore.
	if _, err := g.request("dag maintenance stop EX10-MB01"); approvals.RefusalOf(err) == nil || approvals.RefusalOf(err).Code != approvals.RefusedNothingToDo {
		t.Errorf("a second stop: %v", err)
	}
}

func stepScripts(r *approvals.Request) []string {
	var out []string
	for _, s := range r.Steps {
		out = append(out, s.Script)
	}
	return out
}

// TestMaintenanceAndRebalanceAgainstTheLab: start, stop and dag rebalance leave the
// organisation exactly as it was; rebalance moves nothing when all is home.
func TestMaintenanceAndRebalanceAgainstTheLab(t *testing.T) {
	g := newDAGRig(t)
	o := g.lab.Org
	before := o.DAGState()
	g.run("dag maintenance start EX10-MB02")
	if s := o.DAGState(); !strings.Contains(s, "database MB02 active=EX10-MB01") || !strings.Contains(s, "node EX10-MB02 Paused") {
		t.Fatalf("in maintenance:\n%s", s)
	}
	// While EX10-MB02 is in maintenance, rebalance does not move MB02 back there.
	g.refused("dag rebalance E14-DAG", "No database of E14-DAG")
	g.run("dag maintenance stop EX10-MB02")
	r := g.run("dag rebalance E14-DAG")
	if !strings.Contains(strings.Join(stepScripts(r), ""), "-Identity 'MB02' -ActivateOnServer 'EX10-MB02'") {
		t.Errorf("rebalance steps: %v", stepScripts(r))
	}
	if got := o.DAGState(); got != before {
		t.Errorf("after start, stop and rebalance the lab is\n%s\nwant as before\n%s", got, before)
	}
	if _, err := g.request("dag rebalance E14-DAG"); approvals.RefusalOf(err) == nil || approvals.RefusalOf(err).Code != approvals.RefusedNothingToDo {
		t.Errorf("balanced: %v", err)
	}
}

// TestMaintenanceRefusalsAgainstTheLab: quorum and a stop with no record.
func TestMaintenanceRefusalsAgainstTheLab(t *testing.T) {
	g := newDAGRig(t)
	o := g.lab.Org
	if err := o.SetWitnessUnreachable("E14-DAG", true); err != nil {
		t.Fatal(err)
	}
	g.refused("dag maintenance start EX10-MB01", "would lose quorum")
	if err := o.SetWitnessUnreachable("E14-DAG", false); err != nil {
		t.Fatal(err)
	}
	// Paused by hand, outside exchops: stop resumes the node and touches nothing else.
	if err := o.SetNodePaused("EX10-MB01", true); err != nil {
		t.Fatal(err)
	}
	if err := o.SetActivationPolicy("EX10-MB01", "Blocked"); err != nil {
		t.Fatal(err)
	}
	g.refused("dag maintenance start EX10-MB02", "EX10-MB01 is in maintenance")
	r := g.run("dag maintenance stop EX10-MB01")
	if s := o.DAGState(); !strings.Contains(s, "node EX10-MB01 Up") || !strings.Contains(s, "server EX10-MB01 policy=Blocked") {
		t.Errorf("stop without a record:\n%s", s)
	}
	found := false
	for _, f := range r.Findings {
		found = found || strings.Contains(f.Message, "has no record")
	}
	if !found {
		t.Errorf("no warning that nothing was recorded: %+v", r.Findings)
	}
}

// TestReseedAgainstTheLab: a FailedAndSuspended copy is reseeded and Healthy again;
// the active copy is refused.
func TestReseedAgainstTheLab(t *testing.T) {
	g := newDAGRig(t)
	o := g.lab.Org
	if err := o.SetCopyFault("MB01", "EX10-MB02", "FailedAndSuspended", "The log file is damaged."); err != nil {
		t.Fatal(err)
	}
	g.refused("copy reseed MB01 EX10-MB01", "is the active copy")
	r := g.run("copy reseed MB01 EX10-MB02")
	if !strings.Contains(r.Run.Output, "Healthy") {
		t.Errorf("output: %s", r.Run.Output)
	}
	if s := o.DAGState(); !strings.Contains(s, "copy EX10-MB02 pref=2 status=Healthy suspended=false activationOnly=false") {
		t.Errorf("after reseed:\n%s", s)
	}
}
