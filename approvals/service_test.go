package approvals_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/runners"
	"github.com/exchops/exchops/store"
)

var start = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

var env = commands.Env{ManagementServer: "EX10-CAHT", DNSServer: "DC01"}

func people(required int) approvals.Policy {
	return approvals.Policy{
		Required:    required,
		ExpireAfter: 30 * time.Minute,
		People: []approvals.Person{
			{Name: "alice", Roles: []approvals.Role{approvals.RoleAdmin}},
			{Name: "bob", Roles: []approvals.Role{approvals.RoleAdmin, approvals.RoleApprover}},
			{Name: "carol", Roles: []approvals.Role{approvals.RoleApprover}},
			{Name: "dave", Roles: []approvals.Role{approvals.RoleViewer}},
			{Name: "erin", Roles: []approvals.Role{approvals.RoleApprover}},
		},
	}
}

// fakeExec stands in for the WinRM runner where the test is about the lifecycle, not
// about Exchange: it counts what it is asked to do.
type fakeExec struct {
	preflights atomic.Int32
	executes   atomic.Int32
	// findings, when set, decides each preflight's findings (n counts from 1).
	findings func(n int32) commands.Findings
	// block, when set, makes Execute wait for it (or for ctx).
	block   chan struct{}
	started chan struct{} // receives once per Execute, if set
	fail    error
}

func (f *fakeExec) Preflight(ctx context.Context, p *commands.Plan) (commands.Findings, error) {
	n := f.preflights.Add(1)
	if f.findings != nil {
		return f.findings(n), nil
	}
	return commands.Findings{List: []commands.Finding{{Severity: commands.Info, Message: "E14-DAG does not exist yet."}}}, nil
}

func (f *fakeExec) Execute(ctx context.Context, p *commands.Plan, lock string, progress func(string)) (string, error) {
	f.executes.Add(1)
	if f.started != nil {
		f.started <- struct{}{}
	}
	if progress != nil {
		progress("step 1 of 1 on EX10-CAHT: create the DAG")
	}
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return "partial", ctx.Err()
		}
	}
	return "Name    : E14-DAG", f.fail
}

// events collects what the service announces.
type events struct {
	mu  sync.Mutex
	all []approvals.Event
	ch  chan approvals.Event
}

func newEvents() *events { return &events{ch: make(chan approvals.Event, 10000)} }

func (e *events) Notify(_ context.Context, ev approvals.Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
	e.ch <- ev
}

// waitFor returns the first event of kind for request id, failing after 10 s.
func (e *events) waitFor(t *testing.T, id string, kind approvals.EventKind) approvals.Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-e.ch:
			if ev.Request.ID == id && ev.Kind == kind {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event for %s; got %v", kind, id, e.kinds())
		}
	}
}

func (e *events) kinds() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.all {
		out = append(out, ev.Request.ID+":"+string(ev.Kind))
	}
	return out
}

func (e *events) count(kind approvals.EventKind) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.all {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

type harness struct {
	t     *testing.T
	path  string
	db    *store.DB
	svc   *approvals.Service
	exec  *fakeExec
	ev    *events
	clock *clock.Manual
	pol   approvals.Policy
}

func newHarness(t *testing.T, required int, ex *fakeExec) *harness {
	t.Helper()
	h := &harness{t: t, path: filepath.Join(t.TempDir(), "exchops.db"), exec: ex, clock: clock.NewManual(start), pol: people(required)}
	h.open()
	return h
}

// open (re)starts the service on the harness's database, as exchops does at start-up.
func (h *harness) open() {
	h.t.Helper()
	db, err := store.Open(context.Background(), h.path)
	if err != nil {
		h.t.Fatal(err)
	}
	h.db, h.ev = db, newEvents()
	h.svc = approvals.New(db, h.exec, h.pol, approvals.Options{Clock: h.clock, Notifier: h.ev, Env: env})
	if err := h.svc.Start(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(h.close)
}

func (h *harness) close() {
	if h.svc != nil {
		h.svc.Close()
		h.db.Close()
		h.svc = nil
	}
}

func (h *harness) request(person, text string) *approvals.Request {
	h.t.Helper()
	r, err := h.svc.Request(context.Background(), approvals.Submit{Person: person, Origin: console(person), Command: parse(h.t, text)})
	if err != nil {
		h.t.Fatalf("%s requests %q: %v", person, text, err)
	}
	return r
}

func parse(t *testing.T, text string) *commands.Command {
	t.Helper()
	inv, err := commands.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func console(person string) approvals.Origin {
	return approvals.Origin{Platform: "console", Channel: "#exchange", User: person}
}

const dagCreate = `dag create E14-DAG witness=EX10-CAHT dir=C:\FSW`

func refusal(t *testing.T, err error, want approvals.RefusalCode) {
	t.Helper()
	ref := approvals.RefusalOf(err)
	if ref == nil || ref.Code != want {
		t.Fatalf("got %v, want a refusal %q", err, want)
	}
}

func TestApprovedRequestRunsOnceAndLeavesAnAuditTrail(t *testing.T) {
	h := newHarness(t, 1, &fakeExec{})
	ctx := context.Background()
	r := h.request("alice", dagCreate)
	if r.ID != "r-1" || r.Status != approvals.Pending || r.Hash == "" || len(r.Steps) == 0 || r.Lock == "" {
		t.Fatalf("request as stored: %+v", r)
	}
	if !r.ExpiresAt.Equal(start.Add(30 * time.Minute)) {
		t.Errorf("expires at %v", r.ExpiresAt)
	}
	_, err := h.svc.Approve(ctx, r.ID, "alice", console("alice"))
	refusal(t, err, approvals.RefusedOwnRequest)
	_, err = h.svc.Approve(ctx, "r-1", "dave", console("dave"))
	refusal(t, err, approvals.RefusedRole)
	_, err = h.svc.Approve(ctx, "r-99", "bob", console("bob"))
	refusal(t, err, approvals.RefusedNotFound)

	got, err := h.svc.Approve(ctx, "R-1", "bob", approvals.Origin{Platform: "slack", Channel: "C0OPS", User: "U0BOB"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != approvals.Approved || got.Reason != "approved by bob" {
		t.Fatalf("after bob's approval: %s %q", got.Status, got.Reason)
	}
	done := h.ev.waitFor(t, "r-1", approvals.EventSucceeded)
	if run := done.Request.Run; run == nil || run.Output != "Name    : E14-DAG" || run.FinishedAt.IsZero() || run.Error != "" {
		t.Fatalf("run: %+v", run)
	}
	// A second approval after the run is refused and runs nothing.
	_, err = h.svc.Approve(ctx, "r-1", "carol", console("carol"))
	refusal(t, err, approvals.RefusedDecided)
	h.svc.Wait()
	if n := h.exec.executes.Load(); n != 1 {
		t.Fatalf("executed %d times", n)
	}
	if n := h.exec.preflights.Load(); n != 2 {
		t.Errorf("preflights: %d, want 2 (at request, and again before the run)", n)
	}

	trail, err := h.svc.Audit(ctx, "r-1")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range trail {
		lines = append(lines, e.Actor+" "+e.Event+" via "+e.Via.Platform)
	}
	want := []string{"alice requested via console", "bob approval via slack", "bob approved via slack", "exchops run started via exchops", "exchops succeeded via exchops"}
	if !slices.Equal(lines, want) {
		t.Errorf("audit trail:\n got %q\nwant %q", lines, want)
	}
	kinds := h.ev.kinds()
	if !slices.Equal(kinds, []string{"r-1:requested", "r-1:approved", "r-1:running", "r-1:progress", "r-1:succeeded"}) {
		t.Errorf("events: %v", kinds)
	}
}

func TestBlockedAndNoOpChangesAreNotStored(t *testing.T) {
	for _, tt := range []struct {
		name     string
		findings commands.Findings
		want     approvals.RefusalCode
	}{
		{"blocked", commands.Findings{List: []commands.Finding{{Severity: commands.Blocker, Message: "E14-DAG has 16 members already."}}}, approvals.RefusedBlocked},
		{"no-op", commands.Findings{NoOp: true, List: []commands.Finding{{Message: "E14-DAG already exists as asked."}}}, approvals.RefusedNothingToDo},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 1, &fakeExec{findings: func(int32) commands.Findings { return tt.findings }})
			_, err := h.svc.Request(context.Background(), approvals.Submit{Person: "alice", Origin: console("alice"), Command: parse(t, dagCreate)})
			refusal(t, err, tt.want)
			if ref := approvals.RefusalOf(err); len(ref.Findings.List) != 1 {
				t.Errorf("the refusal should carry the findings: %+v", ref.Findings)
			}
			all, _ := h.svc.History(context.Background(), 0)
			if len(all) != 0 {
				t.Errorf("stored %d requests", len(all))
			}
		})
	}
	h := newHarness(t, 1, &fakeExec{})
	_, err := h.svc.Request(context.Background(), approvals.Submit{Person: "carol", Origin: console("carol"), Command: parse(t, dagCreate)})
	refusal(t, err, approvals.RefusedRole)
}

// TestHundredApprovalsOneRun: 100 goroutines click Approve on one request at once
// (duplicate deliveries, several approvers); exactly one run happens.
func TestHundredApprovalsOneRun(t *testing.T) {
	for _, required := range []int{1, 2} {
		t.Run(fmt.Sprintf("required=%d", required), func(t *testing.T) {
			h := newHarness(t, required, &fakeExec{})
			r := h.request("alice", dagCreate)
			approvers := []string{"bob", "carol", "erin"}
			var wg sync.WaitGroup
			var ok, refused atomic.Int32
			startGun := make(chan struct{})
			for i := range 100 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-startGun
					who := approvers[i%len(approvers)]
					if _, err := h.svc.Approve(context.Background(), r.ID, who, console(who)); err != nil {
						if approvals.RefusalOf(err) == nil {
							t.Errorf("%s: %v", who, err)
						}
						refused.Add(1)
						return
					}
					ok.Add(1)
				}()
			}
			close(startGun)
			wg.Wait()
			h.ev.waitFor(t, r.ID, approvals.EventSucceeded)
			h.svc.Wait()
			if n := h.exec.executes.Load(); n != 1 {
				t.Fatalf("%d runs", n)
			}
			if int(ok.Load()) != required || ok.Load()+refused.Load() != 100 {
				t.Errorf("%d votes counted, %d refused; want %d counted", ok.Load(), refused.Load(), required)
			}
			final, _ := h.svc.Get(context.Background(), r.ID)
			if len(final.Votes) != required || final.Status != approvals.Succeeded {
				t.Errorf("final: %s with votes %+v", final.Status, final.Votes)
			}
			if h.ev.count(approvals.EventApproved) != 1 {
				t.Errorf("approved announced %d times", h.ev.count(approvals.EventApproved))
			}
		})
	}
}

// TestDenialRacingApprovals: approvals and denials arrive together; the request ends
// either denied (nothing ran) or approved and ran once, never both.
func TestDenialRacingApprovals(t *testing.T) {
	for round := range 10 {
		h := newHarness(t, 2, &fakeExec{})
		r := h.request("alice", dagCreate)
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				who := []string{"bob", "carol", "erin"}[i%3]
				if i%7 == round%7 {
					h.svc.Deny(context.Background(), r.ID, who, console(who), "not now")
				} else {
					h.svc.Approve(context.Background(), r.ID, who, console(who))
				}
			}()
		}
		wg.Wait()
		final, _ := h.svc.Get(context.Background(), r.ID)
		if final.Status == approvals.Approved || final.Status == approvals.Running || final.Status == approvals.Succeeded {
			h.ev.waitFor(t, r.ID, approvals.EventSucceeded)
		}
		h.svc.Wait()
		final, _ = h.svc.Get(context.Background(), r.ID)
		runs := h.exec.executes.Load()
		switch final.Status {
		case approvals.Denied:
			if runs != 0 {
				t.Fatalf("round %d: denied, but ran %d times", round, runs)
			}
		case approvals.Succeeded:
			if runs != 1 || len(final.Approvals()) != 2 {
				t.Fatalf("round %d: ran %d times with approvals %v", round, runs, final.Approvals())
			}
		default:
			t.Fatalf("round %d: ended %s", round, final.Status)
		}
		h.close()
	}
}

// TestRequesterApprovalNeverCounts drives random sequences of votes, cancels and
// expiries by everyone, the requesters included, and checks after every step that no
// request reached approval without Required approvals from approvers other than its
// requester, and that nothing ran twice.
func TestRequesterApprovalNeverCounts(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	everyone := []string{"alice", "bob", "carol", "dave", "erin", "mallory"}
	admins := []string{"alice", "bob"}
	for round := range 20 {
		required := 1 + round%3
		h := newHarness(t, required, &fakeExec{})
		ctx := context.Background()
		var ids []string
		for range 4 {
			who := admins[rng.IntN(len(admins))]
			ids = append(ids, h.request(who, dagCreate).ID)
		}
		for range 60 {
			id := ids[rng.IntN(len(ids))]
			who := everyone[rng.IntN(len(everyone))]
			switch rng.IntN(10) {
			case 0:
				h.svc.Deny(ctx, id, who, console(who), "")
			case 1:
				h.svc.Cancel(ctx, id, who, console(who))
			case 2:
				h.clock.Advance(time.Duration(rng.IntN(10)) * time.Minute)
			default:
				h.svc.Approve(ctx, id, who, console(who))
			}
		}
		h.svc.Wait()
		for _, id := range ids {
			r, err := h.svc.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range r.Votes {
				p, known := h.pol.Person(v.Person)
				if v.Person == r.Requester || !known || !p.Has(approvals.RoleApprover) {
					t.Fatalf("round %d: %s has a vote by %s (requester %s)", round, id, v.Person, r.Requester)
				}
			}
			ran := r.Run != nil
			if (ran || r.Status == approvals.Approved) && len(r.Approvals()) < required {
				t.Fatalf("round %d: %s is %s with approvals %v, required %d", round, id, r.Status, r.Approvals(), required)
			}
		}
		var runs int32
		all, _ := h.svc.History(ctx, 0)
		for _, r := range all {
			if r.Run != nil {
				runs++
			}
		}
		if got := h.exec.executes.Load(); got != runs {
			t.Fatalf("round %d: %d executions for %d runs", round, got, runs)
		}
		h.close()
	}
}

func TestQuorumOfTwo(t *testing.T) {
	h := newHarness(t, 2, &fakeExec{})
	ctx := context.Background()
	r := h.request("bob", dagCreate)
	_, err := h.svc.Approve(ctx, r.ID, "bob", console("bob"))
	refusal(t, err, approvals.RefusedOwnRequest)
	got, err := h.svc.Approve(ctx, r.ID, "carol", console("carol"))
	if err != nil || got.Status != approvals.Pending || got.Needs() != 1 {
		t.Fatalf("after carol: %v %+v", err, got)
	}
	h.ev.waitFor(t, r.ID, approvals.EventVoted)
	_, err = h.svc.Approve(ctx, r.ID, "carol", console("carol"))
	refusal(t, err, approvals.RefusedAlreadyVoted)
	if h.exec.executes.Load() != 0 {
		t.Fatal("ran with one approval of two")
	}
	got, err = h.svc.Approve(ctx, r.ID, "erin", console("erin"))
	if err != nil || got.Status != approvals.Approved || got.Reason != "approved by carol and erin" {
		t.Fatalf("after erin: %v %+v", err, got)
	}
	h.ev.waitFor(t, r.ID, approvals.EventSucceeded)
}

// TestRuleTwoFromARole: a rule wants two approvals from role dag-owner for failovers
// (and, in the same policy, one from outside the requester's team for DNS). The
// request records its rule; an approver without the role is refused; one owner's
// approval is not enough; a configuration change while it waits changes nothing.
func TestRuleTwoFromARole(t *testing.T) {
	h := newHarness(t, 1, &fakeExec{})
	h.pol.People = append(h.pol.People,
		approvals.Person{Name: "grace", Roles: []approvals.Role{approvals.RoleApprover, "dag-owner"}, Team: "messaging"},
		approvals.Person{Name: "heidi", Roles: []approvals.Role{approvals.RoleApprover, "dag-owner"}, Team: "network"},
		approvals.Person{Name: "ivan", Roles: []approvals.Role{approvals.RoleAdmin}, Team: "messaging"})
	h.pol.Rules = []approvals.Rule{
		{Commands: []string{"failover", "drill"}, Required: 2, Approvers: []string{"role:dag-owner"}, SameTeam: true},
		{Commands: []string{"dns"}, Required: 1, SameTeam: false},
	}
	h.close()
	h.open()
	ctx := context.Background()

	r := h.request("alice", "failover MB01 to=EX10-MB02")
	if r.Required != 2 || !slices.Equal(r.Approvers, []string{"role:dag-owner"}) || r.ExcludedTeam != "" {
		t.Fatalf("the request recorded required %d, approvers %q, excluded team %q", r.Required, r.Approvers, r.ExcludedTeam)
	}
	if got := r.StillNeeds(); got != "2 more approvals from role dag-owner" {
		t.Errorf("StillNeeds() = %q", got)
	}
	_, err := h.svc.Approve(ctx, r.ID, "carol", console("carol"))
	refusal(t, err, approvals.RefusedNotEligible)
	got, err := h.svc.Approve(ctx, r.ID, "grace", console("grace"))
	if err != nil || got.Status != approvals.Pending || got.StillNeeds() != "1 more approval from role dag-owner" {
		t.Fatalf("after grace: %v %+v", err, got)
	}

	// The configuration changes while r-1 waits: failovers now need one approval from
	// carol. r-1 still needs what it needed when it was made.
	h.pol.Rules = []approvals.Rule{{Commands: []string{"failover"}, Required: 1, Approvers: []string{"carol"}, SameTeam: true}}
	h.close()
	h.open()
	_, err = h.svc.Approve(ctx, r.ID, "carol", console("carol"))
	refusal(t, err, approvals.RefusedNotEligible)
	if h.exec.executes.Load() != 0 {
		t.Fatal("ran with one approval of two")
	}
	got, err = h.svc.Approve(ctx, r.ID, "heidi", console("heidi"))
	if err != nil || got.Status != approvals.Approved || got.Reason != "approved by grace and heidi" {
		t.Fatalf("after heidi: %v %+v", err, got)
	}
	h.ev.waitFor(t, r.ID, approvals.EventSucceeded)

	// A command no rule names needs the global count from any approver.
	other := h.request("alice", dagCreate)
	if other.Required != 1 || other.Approvers != nil || other.ExcludedTeam != "" {
		t.Errorf("dag create recorded required %d, approvers %q, excluded team %q", other.Required, other.Approvers, other.ExcludedTeam)
	}
}

// TestRuleOtherTeam: a rule with same_team false records the requester's team, and
// an approver of that team cannot approve.
func TestRuleOtherTeam(t *testing.T) {
	h := newHarness(t, 1, &fakeExec{})
	h.pol.People = append(h.pol.People,
		approvals.Person{Name: "grace", Roles: []approvals.Role{approvals.RoleApprover}, Team: "messaging"},
		approvals.Person{Name: "ivan", Roles: []approvals.Role{approvals.RoleAdmin}, Team: "messaging"})
	h.pol.Rules = []approvals.Rule{{Commands: []string{"dns"}, Required: 1, SameTeam: false}}
	h.close()
	h.open()
	ctx := context.Background()
	r := h.request("ivan", "dns add client 10.0.0.40 zone=msglab.local")
	if r.ExcludedTeam != "messaging" || r.StillNeeds() != "1 more approval from approvers outside team messaging" {
		t.Fatalf("the request recorded excluded team %q and needs %q", r.ExcludedTeam, r.StillNeeds())
	}
	_, err := h.svc.Approve(ctx, r.ID, "grace", console("grace"))
	refusal(t, err, approvals.RefusedSameTeam)
	if _, err := h.svc.Approve(ctx, r.ID, "carol", console("carol")); err != nil {
		t.Fatal(err)
	}
	h.ev.waitFor(t, r.ID, approvals.EventSucceeded)
}

func TestDenialWinsAndIsFinal(t *testing.T) {
	h := newHarness(t, 2, &fakeExec{})
	ctx := context.Background()
	r := h.request("alice", dagCreate)
	if _, err := h.svc.Approve(ctx, r.ID, "bob", console("bob")); err != nil {
		t.Fatal(err)
	}
	_, err := h.svc.Deny(ctx, r.ID, "alice", console("alice"), "")
	refusal(t, err, approvals.RefusedOwnRequest)
	got, err := h.svc.Deny(ctx, r.ID, "carol", console("carol"), "  not during business hours ")
	if err != nil || got.Status != approvals.Denied || got.Reason != "denied by carol: not during business hours" {
		t.Fatalf("deny: %v %+v", err, got)
	}
	ev := h.ev.waitFor(t, r.ID, approvals.EventDenied)
	if ev.Actor != "carol" || ev.Detail != "not during business hours" {
		t.Errorf("event: %+v", ev)
	}
	_, err = h.svc.Approve(ctx, r.ID, "erin", console("erin"))
	refusal(t, err, approvals.RefusedDecided)
	_, err = h.svc.Cancel(ctx, r.ID, "alice", console("alice"))
	refusal(t, err, approvals.RefusedDecided)
	h.svc.Wait()
	if h.exec.executes.Load() != 0 {
		t.Fatal("a denied request ran")
	}
}

// A reason the typed deny refuses is refused however it arrives (the console's Deny
// box, a button), and the request stays pending.
func TestDenyReasonRule(t *testing.T) {
	for _, reason := range []string{"invoice_\u202Efdp.exe", "line\nbreak", strings.Repeat("x", 201), "zero\u200Bwidth"} {
		h := newHarness(t, 1, &fakeExec{})
		ctx := context.Background()
		r := h.request("alice", dagCreate)
		_, err := h.svc.Deny(ctx, r.ID, "carol", console("carol"), reason)
		var ue *commands.UsageError
		if !errors.As(err, &ue) || ue.Command != "deny" || ue.Arg != "reason" {
			t.Errorf("Deny with reason %q: %v, want the deny command's *UsageError for reason", reason, err)
		}
		if got, _ := h.svc.Get(ctx, r.ID); got.Status != approvals.Pending || len(got.Votes) != 0 {
			t.Errorf("after a refused reason %q: %s with %d votes, want pending with none", reason, got.Status, len(got.Votes))
		}
	}
}

func TestIsRequestID(t *testing.T) {
	for id, want := range map[string]bool{
		"r-1": true, "r-42": true, "r-9223372036854775807": true,
		"": false, "r-": false, "1": false, "#1": false, "R-1": false, "r-01": false, "r-0": false, " r-1": false,
		"r-1 ": false, "r-1\u202e": false, "r-١": false, "r-12345678901234567890": false, "r--1": false, "x-1": false,
	} {
		if got := approvals.IsRequestID(id); got != want {
			t.Errorf("IsRequestID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestCancelByRequesterOnly(t *testing.T) {
	h := newHarness(t, 1, &fakeExec{})
	ctx := context.Background()
	r := h.request("alice", dagCreate)
	_, err := h.svc.Cancel(ctx, r.ID, "bob", console("bob"))
	refusal(t, err, approvals.RefusedNotRequester)
	got, err := h.svc.Cancel(ctx, "1", "alice", console("alice"))
	if err != nil || got.Status != approvals.Cancelled {
		t.Fatalf("cancel: %v %+v", err, got)
	}
	h.ev.waitFor(t, r.ID, approvals.EventCancelled)
	_, err = h.svc.Approve(ctx, r.ID, "bob", console("bob"))
	refusal(t, err, approvals.RefusedDecided)
	if p, _ := h.svc.Pending(ctx); len(p) != 0 {
		t.Errorf("pending after cancel: %d", len(p))
	}
}

// advanceTo moves the manual clock once the expiry worker is asleep on it.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.clock.WaitForSleepers(ctx, 1); err != nil {
		h.t.Fatal("the expiry worker is not waiting on the clock")
	}
	h.clock.Advance(d)
}

func TestExpiryOnVirtualTime(t *testing.T) {
	h := newHarness(t, 1, &fakeExec{})
	ctx := context.Background()
	r1 := h.request("alice", dagCreate)
	h.advance(10 * time.Minute)
	r2 := h.request("bob", dagCreate)
	h.advance(19*time.Minute + 59*time.Second) // r1 has 1 s left
	if got, _ := h.svc.Get(ctx, r1.ID); got.Status != approvals.Pending {
		t.Fatalf("r1 expired early: %s", got.Status)
	}
	h.advance(time.Second)
	ev := h.ev.waitFor(t, r1.ID, approvals.EventExpired)
	if ev.Request.Status != approvals.Expired || ev.Request.Reason != "nobody decided within 30m" || ev.Actor != approvals.Bot {
		t.Fatalf("expired: %+v", ev.Request)
	}
	_, err := h.svc.Approve(ctx, r1.ID, "bob", console("bob"))
	refusal(t, err, approvals.RefusedDecided)
	if got, _ := h.svc.Get(ctx, r2.ID); got.Status != approvals.Pending {
		t.Fatalf("r2: %s", got.Status)
	}
	h.advance(10 * time.Minute)
	h.ev.waitFor(t, r2.ID, approvals.EventExpired)
	if h.exec.executes.Load() != 0 {
		t.Fatal("an expired request ran")
	}
}

// TestPendingSurvivesRestartAndExpiresOnTime: a pending request outlives exchops and
// expires at its original time, not 30 minutes after the restart.
func TestPendingSurvivesRestartAndExpiresOnTime(t *testing.T) {
	h := newHarness(t, 1, &fakeExec{})
	r := h.request("alice", dagCreate)
	h.advance(20 * time.Minute)
	h.close()
	h.open()
	got, err := h.svc.Get(context.Background(), r.ID)
	if err != nil || got.Status != approvals.Pending {
		t.Fatalf("after restart: %v %+v", err, got)
	}
	h.advance(10 * time.Minute)
	h.ev.waitFor(t, r.ID, approvals.EventExpired)
}

// TestApprovedButNotStartedIsInterruptedAtStart: exchops stopped between the approval
// and the run's start; at the next start the request is interrupted, not run.
func TestApprovedButNotStartedIsInterruptedAtStart(t *testing.T) {
	h := newHarness(t, 1, &fakeExec{})
	r := h.request("alice", dagCreate)
	// What a crash right after the approval's commit leaves behind.
	_, err := h.db.Update(context.Background(), r.ID, func(r *approvals.Request) ([]approvals.AuditEvent, error) {
		r.Status = approvals.Approved
		r.Votes = append(r.Votes, approvals.Vote{Person: "bob", Decision: approvals.Approve, At: start})
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h.close()
	h.open()
	ev := h.ev.waitFor(t, r.ID, approvals.EventInterrupted)
	if ev.Request.Status != approvals.Interrupted {
		t.Fatalf("status %s", ev.Request.Status)
	}
	h.svc.Wait()
	if h.exec.executes.Load() != 0 {
		t.Fatal("ran after restart")
	}
}

func TestStopDuringRunInterrupts(t *testing.T) {
	ex := &fakeExec{block: make(chan struct{}), started: make(chan struct{}, 1)}
	h := newHarness(t, 1, ex)
	r := h.request("alice", dagCreate)
	if _, err := h.svc.Approve(context.Background(), r.ID, "bob", console("bob")); err != nil {
		t.Fatal(err)
	}
	<-ex.started
	h.svc.Close()
	got, err := h.db.Get(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != approvals.Interrupted || got.Run.Output != "partial" || got.Run.FinishedAt.IsZero() {
		t.Fatalf("after stop: %s %+v", got.Status, got.Run)
	}
	h.db.Close()
	h.svc = nil
}

func TestFailedRunKeepsTheError(t *testing.T) {
	h := newHarness(t, 1, &fakeExec{fail: errors.New("EX10-CAHT: the script failed (exit code 1): the witness share cannot be created")})
	r := h.request("alice", dagCreate)
	h.svc.Approve(context.Background(), r.ID, "bob", console("bob"))
	ev := h.ev.waitFor(t, r.ID, approvals.EventFailed)
	if ev.Request.Status != approvals.Failed || ev.Request.Run.Error == "" || ev.Request.Run.Output == "" {
		t.Fatalf("failed run: %+v %+v", ev.Request, ev.Request.Run)
	}
}

// A run that could not use its server says so on the card, in `requests` and in
// `history` (which viewers read) with the server and the kind of failure only: the
// endpoint, the account and its auth method stay in the log.
func TestFailedRunIsToldRedacted(t *testing.T) {
	full := `EX10-CAHT: WinRM refused the credentials for MSGLAB\svc-exchops (HTTP 401): check EXCHOPS_PASSWORD and the auth method "ntlm"`
	h := newHarness(t, 1, &fakeExec{fail: &runners.Error{Kind: runners.Unauthorized, Server: "EX10-CAHT", Msg: full}})
	r := h.request("alice", dagCreate)
	h.svc.Approve(context.Background(), r.ID, "bob", console("bob"))
	ev := h.ev.waitFor(t, r.ID, approvals.EventFailed)
	for _, told := range []string{ev.Request.Reason, ev.Request.Run.Error} {
		if !strings.HasPrefix(told, "EX10-CAHT: ") || !strings.Contains(told, "unauthorized") {
			t.Errorf("told %q, want the server and the kind of failure", told)
		}
		for _, secret := range []string{"svc-exchops", "EXCHOPS_PASSWORD", "ntlm"} {
			if strings.Contains(told, secret) {
				t.Errorf("told %q: it names %s", told, secret)
			}
		}
	}
}

// TestStaleFindingsRefuseTheRun: the preflight before the run differs from the one the
// approvers saw, so nothing runs and the request says what moved.
func TestStaleFindingsRefuseTheRun(t *testing.T) {
	ex := &fakeExec{findings: func(n int32) commands.Findings {
		if n == 1 {
			return commands.Findings{List: []commands.Finding{{Message: "E14-DAG does not exist yet."}}}
		}
		return commands.Findings{List: []commands.Finding{{Severity: commands.Warning, Message: "EX10-CAHT is now a DAG member."}}}
	}}
	h := newHarness(t, 1, ex)
	r := h.request("alice", dagCreate)
	h.svc.Approve(context.Background(), r.ID, "bob", console("bob"))
	ev := h.ev.waitFor(t, r.ID, approvals.EventStale)
	want := "stale: the organisation changed since the approval, so nothing ran; now warning: EX10-CAHT is now a DAG member.; no longer info: E14-DAG does not exist yet."
	if ev.Request.Status != approvals.Stale || ev.Request.Reason != want {
		t.Fatalf("stale:\n got %s %q\nwant %q", ev.Request.Status, ev.Request.Reason, want)
	}
	h.svc.Wait()
	if ex.executes.Load() != 0 {
		t.Fatal("a stale plan ran")
	}
}

// procedures records what it is asked to perform (approvals.Procedures).
type procedures struct {
	mu   sync.Mutex
	done []string
}

func (p *procedures) Perform(_ context.Context, requester string, proc commands.Procedure, _ func(string)) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = append(p.done, requester+" "+proc.Kind+" "+string(proc.Args))
	return "Performed " + proc.Kind + ".", nil
}

func (p *procedures) performed() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.done)
}

// procedureHarness is a service whose approved procedures procs performs.
func procedureHarness(t *testing.T, procs approvals.Procedures) *harness {
	ex := &fakeExec{}
	h := &harness{t: t, path: filepath.Join(t.TempDir(), "exchops.db"), exec: ex, clock: clock.NewManual(start), pol: people(1)}
	db, err := store.Open(context.Background(), h.path)
	if err != nil {
		t.Fatal(err)
	}
	h.db, h.ev = db, newEvents()
	withMailbox := env
	withMailbox.Servers = []commands.Server{{Name: "EX10-CAHT", Roles: []string{"clientaccess"}}, {Name: "EX10-MB01", Roles: []string{"mailbox"}}}
	h.svc = approvals.New(db, ex, h.pol, approvals.Options{Clock: h.clock, Notifier: h.ev, Env: withMailbox, Procedures: procs})
	if err := h.svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.close)
	return h
}

// TestProcedureRequests: a change carried out by a procedure (a drill schedule's
// addition, handed in typed; a drill, named by its plan) is requested, approved and
// performed once with the typed arguments it was asked with, never by reading the
// command text again; a schedule change needs no preflight.
func TestProcedureRequests(t *testing.T) {
	procs := &procedures{}
	h := procedureHarness(t, procs)
	ctx := context.Background()
	add := &commands.Procedure{Kind: "schedule add", Args: []byte(`{"name":"weekly","job":"drill"}`)}
	text := `schedule add weekly "0 3 * * SUN" drill E14-DAG`
	_, err := h.svc.Request(ctx, approvals.Submit{Person: "carol", Origin: console("carol"), Command: parse(t, text), Procedure: add})
	refusal(t, err, approvals.RefusedRole) // approvers without the admin role cannot ask
	r, err := h.svc.Request(ctx, approvals.Submit{Person: "alice", Origin: console("alice"), Command: parse(t, text), Procedure: add})
	if err != nil {
		t.Fatal(err)
	}
	if h.exec.preflights.Load() != 0 {
		t.Errorf("a schedule change ran %d preflights", h.exec.preflights.Load())
	}
	if stored, err := h.db.Get(ctx, r.ID); err != nil || !reflect.DeepEqual(stored.Procedure, add) {
		t.Fatalf("stored procedure %+v (%v), want %+v", stored.Procedure, err, add)
	}
	if _, err := h.svc.Approve(ctx, r.ID, "bob", console("bob")); err != nil {
		t.Fatal(err)
	}
	done := h.ev.waitFor(t, r.ID, approvals.EventSucceeded)
	if done.Request.Run.Output != "Performed schedule add." {
		t.Errorf("run output %q", done.Request.Run.Output)
	}

	d := h.request("alice", "drill E14-DAG")
	if d.Procedure == nil || d.Procedure.Kind != commands.ProcedureDrill || string(d.Procedure.Args) != `{"dag":"E14-DAG"}` {
		t.Fatalf("the drill's request carries %+v", d.Procedure)
	}
	if _, err := h.svc.Approve(ctx, d.ID, "bob", console("bob")); err != nil {
		t.Fatal(err)
	}
	h.ev.waitFor(t, d.ID, approvals.EventSucceeded)
	want := []string{`alice schedule add {"name":"weekly","job":"drill"}`, `alice drill {"dag":"E14-DAG"}`}
	if got := procs.performed(); !reflect.DeepEqual(got, want) {
		t.Errorf("performed %q, want %q", got, want)
	}
	if h.exec.executes.Load() != 0 {
		t.Errorf("the runner executed %d plans", h.exec.executes.Load())
	}
	// Without a procedure, a bot command cannot be requested.
	_, err = h.svc.Request(ctx, approvals.Submit{Person: "alice", Origin: console("alice"), Command: parse(t, "schedule remove weekly")})
	if err == nil {
		t.Fatal("schedule remove was requested without a procedure")
	}
}

// TestProcedureRequestsWithoutProcedures: an exchops that runs no procedures takes
// no request for one.
func TestProcedureRequestsWithoutProcedures(t *testing.T) {
	h := procedureHarness(t, nil)
	_, err := h.svc.Request(context.Background(), approvals.Submit{Person: "alice", Origin: console("alice"), Command: parse(t, "drill E14-DAG")})
	if err == nil || !strings.Contains(err.Error(), "runs none") {
		t.Fatalf("a drill with no procedures: %v", err)
	}
}

// TestRequestsFromBeforeTypedProcedures: requests stored before procedures were
// recorded with them (no procedure column value). An approved drill still runs: its
// plan names its procedure. A schedule change cannot be told from its text any more
// and fails, saying to ask again, with nothing performed.
func TestRequestsFromBeforeTypedProcedures(t *testing.T) {
	procs := &procedures{}
	h := procedureHarness(t, procs)
	ctx := context.Background()
	drill := h.request("alice", "drill E14-DAG")
	text := `schedule add weekly "0 3 * * SUN" drill E14-DAG`
	add, err := h.svc.Request(ctx, approvals.Submit{Person: "alice", Origin: console("alice"), Command: parse(t, text),
		Procedure: &commands.Procedure{Kind: "schedule add", Args: []byte(`{}`)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.db.SQL().ExecContext(ctx, `UPDATE requests SET procedure = ''`); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{drill.ID, add.ID} {
		if r, err := h.db.Get(ctx, id); err != nil || r.Procedure != nil {
			t.Fatalf("%s reads back with procedure %+v (%v), want none", id, r.Procedure, err)
		}
		if _, err := h.svc.Approve(ctx, id, "bob", console("bob")); err != nil {
			t.Fatal(err)
		}
	}
	// The two runs end in either order.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		kinds := h.ev.kinds()
		if slices.Contains(kinds, drill.ID+":"+string(approvals.EventSucceeded)) && slices.Contains(kinds, add.ID+":"+string(approvals.EventFailed)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %s succeeded and %s failed; got %v", drill.ID, add.ID, kinds)
		}
	}
	failed, err := h.db.Get(ctx, add.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(failed.Reason, "earlier version of exchops") || !strings.Contains(failed.Reason, "ask again") {
		t.Errorf("the old schedule change failed with %q", failed.Reason)
	}
	if got, want := procs.performed(), []string{`alice drill {"dag":"E14-DAG"}`}; !reflect.DeepEqual(got, want) {
		t.Errorf("performed %q, want %q", got, want)
	}
}
