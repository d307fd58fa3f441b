package discord

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot/bottest"
)

// TestRuleTwoApprovalsFromARole: under a rule wanting two approvals from role
// dag-owner, alice's failover says so on its card and to her; carol, an approver
// without the role, is refused privately; grace's approval is recorded and the card
// says one more is needed from the role; her second vote is refused; `requests` says
// from whom; heidi's approval runs it.
func TestRuleTwoApprovalsFromARole(t *testing.T) {
	people := append(slices.Clone(testPeople),
		approvals.Person{Name: "grace", IDs: map[string]string{"discord": "1007"}, Roles: []approvals.Role{approvals.RoleApprover, "dag-owner"}},
		approvals.Person{Name: "heidi", IDs: map[string]string{"discord": "1008"}, Roles: []approvals.Role{approvals.RoleApprover, "dag-owner"}})
	h := newHarnessWith(t, approvals.Policy{People: people, Required: 1, ExpireAfter: 30 * time.Minute, Rules: []approvals.Rule{
		{Commands: []string{"failover", "drill"}, Required: 2, Approvers: []string{"role:dag-owner"}, SameTeam: true}}})

	it := h.command("1001", testChannel, "failover MB01 to=EX10-MB02")
	h.followup(it, "r-1 is waiting for 2 approvals from role dag-owner")
	msgID := h.card("r-1", testChannel)
	if card := h.fake.Message(msgID).Text(); !strings.Contains(card, "waiting for 2 approvals from role dag-owner") ||
		!strings.Contains(card, "Needs 2 more approvals from role dag-owner other than alice.") {
		t.Errorf("the card does not say what it needs:\n%s", card)
	}

	carol := h.click("1003", testChannel, approvePrefix+"r-1", msgID)
	if f := h.followup(carol, "r-1 needs approval from role dag-owner; you are not one of them"); !f.Ephemeral() {
		t.Errorf("the refusal is not ephemeral: %v", f.Body)
	}
	grace := h.click("1007", testChannel, approvePrefix+"r-1", msgID)
	h.followup(grace, "Your approval of r-1 is recorded; it still needs 1 more approval from role dag-owner.")
	h.fake.WaitFor(t, "the card after grace", func() bool {
		return strings.Contains(h.fake.Message(msgID).Text(), "waiting for 1 more approval from role dag-owner (approved by grace)")
	})
	h.fake.WaitRequest(t, "grace's approval replying to the card", "POST", "channels/"+testChannel+"/messages", func(r *bottest.DiscordRequest) bool {
		return r.Referenced() == msgID && strings.Contains(r.Content(), "grace approved; it needs 1 more approval from role dag-owner")
	})
	again := h.command("1007", testChannel, "approve r-1")
	h.followup(again, "you already voted to approve r-1")
	list := h.command("1004", testChannel, "requests")
	h.followup(list, "waiting for 1 more approval from role dag-owner (approved by grace)")
	if r := h.request("r-1", approvals.Pending); len(r.Approvals()) != 1 {
		t.Fatalf("r-1 has approvals %v", r.Approvals())
	}

	heidi := h.click("1008", testChannel, approvePrefix+"r-1", msgID)
	h.followup(heidi, "You approved r-1; it runs now.")
	if r := h.request("r-1", approvals.Succeeded); !slices.Equal(r.Approvals(), []string{"grace", "heidi"}) {
		t.Errorf("r-1 approved by %v, want grace and heidi", r.Approvals())
	}
}
