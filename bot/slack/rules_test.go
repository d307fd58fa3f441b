package slack

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
)

// dagOwnerPolicy is the tests' people plus two owners of the DAG, grace and heidi, and
// a rule: failovers and drills need two approvals from role dag-owner.
func dagOwnerPolicy() *approvals.Policy {
	people := append(slices.Clone(testPeople),
		approvals.Person{Name: "grace", IDs: map[string]string{"slack": "U0GRACE"}, Roles: []approvals.Role{approvals.RoleApprover, "dag-owner"}},
		approvals.Person{Name: "heidi", IDs: map[string]string{"slack": "U0HEIDI"}, Roles: []approvals.Role{approvals.RoleApprover, "dag-owner"}})
	return &approvals.Policy{People: people, Required: 1, ExpireAfter: 30 * time.Minute, Rules: []approvals.Rule{
		{Commands: []string{"failover", "drill"}, Required: 2, Approvers: []string{"role:dag-owner"}, SameTeam: true}}}
}

// TestRuleTwoApprovalsFromARole: under a rule wanting two approvals from role
// dag-owner, alice's failover says so on its card and to her; carol, an approver
// without the role, is refused to her alone; grace's approval is recorded and the card
// says one more is needed from the role; her second vote is refused; heidi's
// approval runs it.
func TestRuleTwoApprovalsFromARole(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := newHarness(t, options{socket: m.socket, approvals: "C0APPROVALS", policy: dagOwnerPolicy()})
			h.command("U0ALICE", "C0OPS", "failover MB01 to=EX10-MB02")
			card := h.card("r-1", "C0APPROVALS")
			if !strings.Contains(card.Blocks, "Needs *2 approvals* from role dag-owner other than alice.") {
				t.Errorf("the card does not say what it needs:\n%s", card.Blocks)
			}
			h.waitFor("alice told what it needs", "response_url", nil, "r-1 is waiting for 2 approvals from role dag-owner")

			h.click("U0CAROL", "C0APPROVALS", card.TS, "approve", "r-1")
			h.waitFor("carol's refusal", "chat.postEphemeral", forUser("U0CAROL"), "r-1 needs approval from role dag-owner; you are not one of them")

			h.click("U0GRACE", "C0APPROVALS", card.TS, "approve", "r-1")
			h.waitFor("grace's confirmation", "chat.postEphemeral", forUser("U0GRACE"), "Your approval of r-1 is recorded; it still needs 1 more approval from role dag-owner.")
			h.waitFor("the card after grace", "chat.update", isUpdateOf(card.TS), "Needs *1 approval* from role dag-owner other than alice.", "Approved so far by grace")
			h.waitFor("grace's approval in the thread", "chat.postMessage", inThread(card.TS), "grace approved; r-1 still needs 1 approval from role dag-owner")
			// A second click on the same button is a redelivery, ignored; typed, it is refused.
			if a := h.command("U0GRACE", "C0OPS", "approve r-1"); !strings.Contains(a.Body, "you already voted to approve r-1") {
				t.Errorf("grace's second approval was answered %s", a.Body)
			}
			if a := h.command("U0DAVE", "C0OPS", "requests"); !strings.Contains(a.Body, "waiting for 1 more approval from role dag-owner (approved by grace)") {
				t.Errorf("requests does not say from whom:\n%s", a.Body)
			}
			if r, _ := h.svc.Get(context.Background(), "r-1"); r.Status != approvals.Pending {
				t.Fatalf("r-1 is %s with one approval of two", r.Status)
			}

			h.click("U0HEIDI", "C0APPROVALS", card.TS, "approve", "r-1")
			h.waitFor("heidi's confirmation", "chat.postEphemeral", forUser("U0HEIDI"), "You approved r-1; it runs now.")
			h.waitFor("the card to show success", "chat.update", isUpdateOf(card.TS), "r-1 · succeeded")
			h.quiet()
			r, err := h.svc.Get(context.Background(), "r-1")
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != approvals.Succeeded || !slices.Equal(r.Approvals(), []string{"grace", "heidi"}) {
				t.Errorf("r-1 is %s, approved by %v; want succeeded, approved by grace and heidi", r.Status, r.Approvals())
			}
		})
	}
}
