package console

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/exchops/exchops/approvals"
)

// TestRuleTwoApprovalsFromARole: under a rule wanting two approvals from role
// dag-owner, alice's failover card says so; carol, an approver without the role, is
// refused privately; grace's approval is recorded and the card says one more is needed
// from the role; her second vote is refused; `requests` says from whom; heidi's
// approval runs it.
func TestRuleTwoApprovalsFromARole(t *testing.T) {
	people := append(slices.Clone(demoPeople),
		approvals.Person{Name: "grace", Roles: []approvals.Role{approvals.RoleApprover, "dag-owner"}},
		approvals.Person{Name: "heidi", Roles: []approvals.Role{approvals.RoleApprover, "dag-owner"}})
	pol := defaultPolicy(people)
	pol.Rules = []approvals.Rule{{Commands: []string{"failover", "drill"}, Required: 2, Approvers: []string{"role:dag-owner"}, SameTeam: true}}
	h := newHarnessWith(t, pol, Options{People: people})
	s := openStream(t, h.srv.URL+"/events", "")
	v := newView()
	accepted := func(path string, body any) {
		t.Helper()
		if code, out := h.post(t, path, body); code != http.StatusAccepted || out["ok"] != true {
			t.Fatalf("POST %s %+v = %d %v", path, body, code, out)
		}
	}
	card := func(parts ...string) func() bool {
		return func() bool {
			html := v.html("card-r-1")
			for _, p := range parts {
				if !strings.Contains(html, p) {
					return false
				}
			}
			return html != ""
		}
	}
	found := func(parts ...string) func() bool {
		return func() bool { return len(v.find(parts...)) > 0 }
	}

	accepted("/api/command", commandBody{Person: "alice", Text: "failover MB01 to=EX10-MB02"})
	v.until(t, s, "the pending card", card(`data-status="pending"`, "Needs 2 more approvals from role dag-owner other than alice."))
	v.until(t, s, "alice told what it needs", found(`data-for="alice"`, "r-1 is waiting for 2 approvals from role dag-owner"))

	accepted("/api/action", actionBody{Person: "carol", ID: "r-1", Decision: "approve"})
	v.until(t, s, "carol's refusal", found(`class="msg reply refused"`, `data-for="carol"`, "r-1 needs approval from role dag-owner; you are not one of them"))
	accepted("/api/action", actionBody{Person: "grace", ID: "r-1", Decision: "approve"})
	v.until(t, s, "the card after grace", card(`data-status="pending"`, "Needs 1 more approval from role dag-owner other than alice.",
		"grace approved; it needs 1 more approval from role dag-owner"))
	v.until(t, s, "grace's confirmation", found(`data-for="grace"`, "Your approval of r-1 is recorded; it still needs 1 more approval from role dag-owner."))
	accepted("/api/action", actionBody{Person: "grace", ID: "r-1", Decision: "approve"})
	v.until(t, s, "grace's second vote refused", found(`class="msg reply refused"`, `data-for="grace"`, "you already voted to approve r-1"))
	accepted("/api/command", commandBody{Person: "dave", Text: "requests"})
	v.until(t, s, "requests says from whom", found(`data-request="r-1"`, "1 more approval from role dag-owner (approved by grace)"))

	accepted("/api/action", actionBody{Person: "heidi", ID: "r-1", Decision: "approve"})
	v.until(t, s, "the card to succeed", card(`data-status="succeeded"`, "approved by grace and heidi"))
}
