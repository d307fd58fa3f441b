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

// casarrayRig is the approvals service over a real store and the real runner against
// a lab with two Active Directory sites: the walkthrough's, with its CAS array, and
// Branch-Site with EX10-BR01 and its database BR01. MB02's RpcClientAccessServer is
// empty, as Exchange can leave it.
type casarrayRig struct {
	t   *testing.T
	lab *lab.Lab
	svc *approvals.Service
	ev  *events
}

func newCASArrayRig(t *testing.T) *casarrayRig {
	t.Helper()
	l, w := labtest.Start(t, lab.Options{Timing: &lab.Timing{}, OperationTimeoutCap: 200 * time.Millisecond, BranchSite: true},
		runners.Options{Timeout: 30 * time.Second, OperationTimeout: time.Second})
	ctx := context.Background()
	p, err := parse(t, `casarray create "CAS Array" fqdn=client.msglab.local site=Default-First-Site-Name`).Plan(env)
	if err != nil {
		t.Fatal(err)
	}
	if f, err := w.Preflight(ctx, p); err != nil || f.Blocked() {
		t.Fatalf("casarray create: %v %s", err, f)
	}
	if _, err := w.Execute(ctx, p, "", nil); err != nil {
		t.Fatal(err)
	}
	if err := l.Org.SetRpcClientAccessServer("MB02", ""); err != nil {
		t.Fatal(err)
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

// request files text as alice.
func (g *casarrayRig) request(text string) (*approvals.Request, error) {
	return g.svc.Request(context.Background(), approvals.Submit{Person: "alice", Origin: console("alice"), Command: parse(g.t, text)})
}

// run files text as alice, has bob approve it, and waits until it succeeded.
func (g *casarrayRig) run(text string) *approvals.Request {
	g.t.Helper()
	r, err := g.request(text)
	if err != nil {
		g.t.Fatalf("%s: %v", text, err)
	}
	if _, err := g.svc.Approve(context.Background(), r.ID, "bob", console("bob")); err != nil {
		g.t.Fatal(err)
	}
	e := g.ev.waitFor(g.t, r.ID, approvals.EventSucceeded)
	g.svc.Wait()
	return e.Request
}

// values is every database's RpcClientAccessServer in the lab.
func (g *casarrayRig) values() map[string]string {
	g.t.Helper()
	out := map[string]string{}
	for _, db := range []string{"MB01", "MB02", "BR01"} {
		v, err := g.lab.Org.RpcClientAccessServer(db)
		if err != nil {
			g.t.Fatal(err)
		}
		out[db] = v
	}
	return out
}

func (g *casarrayRig) want(what string, want map[string]string) {
	g.t.Helper()
	got := g.values()
	for db, v := range want {
		if got[db] != v {
			g.t.Errorf("%s: %s has RpcClientAccessServer %q, want %q", what, db, got[db], v)
		}
	}
}

// TestCASArrayAssignAndRestoreAgainstTheLab: casarray assign points only the array's
// site's databases at it (before, it pointed BR01 in Branch-Site at the first site's
// array too), and casarray restore, approved like any change, sets each one back
// exactly, an empty value included; a second restore is refused.
func TestCASArrayAssignAndRestoreAgainstTheLab(t *testing.T) {
	g := newCASArrayRig(t)
	before := map[string]string{"MB01": "ex10-mb01.msglab.local", "MB02": "", "BR01": "ex10-br01.msglab.local"}
	g.want("before", before)

	assign := g.run("casarray assign client.msglab.local")
	g.want("after assign", map[string]string{"MB01": "client.msglab.local", "MB02": "client.msglab.local", "BR01": "ex10-br01.msglab.local"})
	var card strings.Builder
	for _, s := range assign.Steps {
		card.WriteString(s.Script)
	}
	if strings.Contains(card.String(), "BR01") || !strings.Contains(card.String(), "Set-MailboxDatabase -Identity 'MB02' -RpcClientAccessServer 'client.msglab.local'") {
		t.Errorf("the assign's approved steps:\n%s", card.String())
	}

	r, err := g.request("casarray restore " + strings.TrimPrefix(assign.ID, "r-"))
	if err != nil {
		t.Fatal(err)
	}
	card.Reset()
	for _, s := range r.Steps {
		card.WriteString(s.Script)
	}
	for _, line := range []string{"Set-MailboxDatabase -Identity 'MB01' -RpcClientAccessServer 'ex10-mb01.msglab.local'", "Set-MailboxDatabase -Identity 'MB02' -RpcClientAccessServer $null"} {
		if !strings.Contains(card.String(), line) {
			t.Errorf("the restore's card lacks %q:\n%s", line, card.String())
		}
	}
	if strings.Contains(card.String(), "BR01") {
		t.Errorf("the restore touches BR01:\n%s", card.String())
	}
	if _, err := g.svc.Approve(context.Background(), r.ID, "bob", console("bob")); err != nil {
		t.Fatal(err)
	}
	g.svc.Wait()
	if got, err := g.svc.Get(context.Background(), r.ID); err != nil || got.Status != approvals.Succeeded {
		t.Fatalf("the restore: %v %s %s\n%s", err, got.Status, got.Reason, got.Run.Output)
	}
	g.want("after restore", before)

	_, err = g.request("casarray restore " + assign.ID)
	if err == nil || !strings.Contains(err.Error(), "was already restored by "+r.ID) {
		t.Errorf("a second restore: %v", err)
	}
}

// TestCASArrayRestoreRefusals: what casarray restore refuses, each with its reason,
// against requests as the store really holds them. Nothing is filed for a refusal.
func TestCASArrayRestoreRefusals(t *testing.T) {
	g := newCASArrayRig(t)
	ctx := context.Background()
	assign := g.run("casarray assign client.msglab.local database=MB01")

	pending, err := g.request("casarray restore " + assign.ID)
	if err != nil {
		t.Fatal(err)
	}
	denied, err := g.request("casarray assign client.msglab.local")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.svc.Deny(ctx, denied.ID, "bob", console("bob"), "not today"); err != nil {
		t.Fatal(err)
	}
	other := g.run("casarray assign ex10-caht.msglab.local database=MB01")

	tests := []struct {
		name, text, want string
	}{
		{"unknown id", "casarray restore r-999", `request-id="r-999" is not a request`},
		{"not an assign", "casarray restore " + pending.ID, "not a casarray assign"},
		{"being restored", "casarray restore " + assign.ID, "is already being restored by " + pending.ID + " (pending)"},
		{"did not run", "casarray restore " + denied.ID, "is denied, not succeeded"},
		{"another site's database", "casarray assign client.msglab.local database=BR01", "Database BR01 belongs to site Branch-Site"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := g.svc.History(ctx, 100)
			_, err := g.request(tt.text)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("%s: error %v, want one with %q", tt.text, err, tt.want)
			}
			if after, _ := g.svc.History(ctx, 100); len(after) != len(before) {
				t.Errorf("a refused request was filed")
			}
		})
	}
	// The pending restore, once cancelled, no longer stands in the way; the later
	// assign's restore needs nothing of the first.
	if _, err := g.svc.Cancel(ctx, pending.ID, "alice", console("alice")); err != nil {
		t.Fatal(err)
	}
	if _, err := g.request("casarray restore " + assign.ID); err != nil {
		t.Errorf("restore after the pending one was cancelled: %v", err)
	}
	if _, err := g.request("casarray restore " + other.ID); err != nil {
		t.Errorf("restore of the later assign: %v", err)
	}
}
