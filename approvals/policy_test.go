package approvals

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func demoPolicy(required int) Policy {
	return Policy{
		Required:    required,
		ExpireAfter: 30 * time.Minute,
		People: []Person{
			{Name: "alice", Slack: "U0ALICE", Discord: "1001", Roles: []Role{RoleAdmin}},
			{Name: "bob", Slack: "U0BOB", Discord: "1002", Roles: []Role{RoleAdmin, RoleApprover}},
			{Name: "carol", Slack: "U0CAROL", Discord: "1003", Roles: []Role{RoleApprover}},
			{Name: "dave", Slack: "U0DAVE", Discord: "1004", Roles: []Role{RoleViewer}},
			{Name: "erin", Slack: "U0ERIN", Discord: "1005", Roles: []Role{RoleApprover}},
			{Name: "frank", Roles: []Role{RoleAdmin, RoleApprover}},
		},
	}
}

func pendingBy(requester string, votes ...Vote) *Request {
	return &Request{ID: "r-7", Requester: requester, Required: 2, Status: Pending,
		CreatedAt: t0, ExpiresAt: t0.Add(30 * time.Minute), Votes: votes}
}

// TestMayVote is every case of the one function that decides whether a vote counts.
func TestMayVote(t *testing.T) {
	pol := demoPolicy(2)
	bobApproved := Vote{Person: "bob", Decision: Approve, At: t0}
	denied := pendingBy("alice", Vote{Person: "carol", Decision: Deny, At: t0})
	denied.Status, denied.Reason = Denied, "denied by carol"
	expired := pendingBy("alice")
	expired.Status, expired.Reason = Expired, "nobody decided within 30m"
	cancelled := pendingBy("alice")
	cancelled.Status = Cancelled
	running := pendingBy("alice", bobApproved, Vote{Person: "carol", Decision: Approve})
	running.Status = Running

	in := t0.Add(time.Minute)
	tests := []struct {
		name   string
		r      *Request
		person string
		d      Decision
		at     time.Time
		want   RefusalCode // "" = the vote counts
	}{
		{"approver approves someone else's request", pendingBy("alice"), "bob", Approve, in, ""},
		{"approver without admin role approves", pendingBy("alice"), "carol", Approve, in, ""},
		{"approver denies", pendingBy("alice"), "carol", Deny, in, ""},
		{"second distinct approver", pendingBy("alice", bobApproved), "carol", Approve, in, ""},
		{"requester approves own request", pendingBy("bob"), "bob", Approve, in, RefusedOwnRequest},
		{"requester denies own request", pendingBy("bob"), "bob", Deny, in, RefusedOwnRequest},
		{"requester without the approver role approves own request", pendingBy("alice"), "alice", Approve, in, RefusedOwnRequest},
		{"requester approves after another approval", pendingBy("frank", bobApproved), "frank", Approve, in, RefusedOwnRequest},
		{"unknown person", pendingBy("alice"), "mallory", Approve, in, RefusedUnknownPerson},
		{"empty name", pendingBy("alice"), "", Approve, in, RefusedUnknownPerson},
		{"name differing only in case", pendingBy("alice"), "Bob", Approve, in, RefusedUnknownPerson},
		{"viewer approves", pendingBy("alice"), "dave", Approve, in, RefusedRole},
		{"viewer denies", pendingBy("alice"), "dave", Deny, in, RefusedRole},
		{"admin without approver role approves", pendingBy("bob"), "alice", Approve, in, RefusedRole},
		{"approver approves twice", pendingBy("alice", bobApproved), "bob", Approve, in, RefusedAlreadyVoted},
		{"approver denies after approving", pendingBy("alice", bobApproved), "bob", Deny, in, RefusedAlreadyVoted},
		{"approver at the expiry instant", pendingBy("alice"), "bob", Approve, t0.Add(30 * time.Minute), RefusedExpired},
		{"approver after expiry, before the worker ran", pendingBy("alice"), "bob", Approve, t0.Add(time.Hour), RefusedExpired},
		{"approver after expiry was recorded", expired, "bob", Approve, in, RefusedDecided},
		{"approver after denial", denied, "bob", Approve, in, RefusedDecided},
		{"approver after cancel", cancelled, "bob", Approve, in, RefusedDecided},
		{"approver while running", running, "erin", Approve, in, RefusedDecided},
		{"deny after denial", denied, "erin", Deny, in, RefusedDecided},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := pol.MayVote(tt.r, tt.person, tt.d, tt.at)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			ref := RefusalOf(err)
			if ref == nil || ref.Code != tt.want {
				t.Fatalf("got %v, want refusal %q", err, tt.want)
			}
			if strings.TrimSpace(ref.Msg) == "" {
				t.Fatal("a refusal must say why")
			}
		})
	}
}

func TestMayRunAndCancel(t *testing.T) {
	pol := demoPolicy(1)
	tests := []struct {
		person   string
		readOnly bool
		want     RefusalCode
	}{
		{"alice", false, ""},
		{"alice", true, ""},
		{"carol", false, RefusedRole},
		{"carol", true, ""},
		{"dave", true, ""},
		{"dave", false, RefusedRole},
		{"mallory", true, RefusedUnknownPerson},
	}
	for _, tt := range tests {
		err := pol.MayRun(tt.person, tt.readOnly, "dag create")
		if got := code(err); got != tt.want {
			t.Errorf("MayRun(%s, readOnly=%v) = %v, want %q", tt.person, tt.readOnly, err, tt.want)
		}
	}

	r := pendingBy("alice")
	done := pendingBy("alice")
	done.Status = Approved
	cancels := []struct {
		r      *Request
		person string
		want   RefusalCode
	}{
		{r, "alice", ""},
		{r, "bob", RefusedNotRequester},
		{r, "mallory", RefusedUnknownPerson},
		{done, "alice", RefusedDecided},
	}
	for _, tt := range cancels {
		if got := code(pol.MayCancel(tt.r, tt.person)); got != tt.want {
			t.Errorf("MayCancel(%s on %s) = %q, want %q", tt.person, tt.r.Status, got, tt.want)
		}
	}
}

func code(err error) RefusalCode {
	if err == nil {
		return ""
	}
	if r := RefusalOf(err); r != nil {
		return r.Code
	}
	return "not a refusal: " + RefusalCode(err.Error())
}

func TestIdentify(t *testing.T) {
	pol := demoPolicy(1)
	for _, tt := range []struct{ platform, user, want string }{
		{"slack", "U0BOB", "bob"},
		{"discord", "1003", "carol"},
		{"console", "dave", "dave"},
		{"slack", "1003", ""},
		{"discord", "", ""},
		{"slack", "", ""}, // frank has no Slack id: an empty id must not match him
		{"teams", "bob", ""},
	} {
		p, ok := pol.Identify(tt.platform, tt.user)
		if got := p.Name; got != tt.want || ok != (tt.want != "") {
			t.Errorf("Identify(%s, %q) = %q %v, want %q", tt.platform, tt.user, got, ok, tt.want)
		}
	}
}

func TestNormalizeID(t *testing.T) {
	for in, want := range map[string]string{"r-42": "r-42", "R-42": "r-42", "42": "r-42", "#42": "r-42", " r-7 ": "r-7", "x": "x"} {
		if got := NormalizeID(in); got != want {
			t.Errorf("NormalizeID(%q) = %q, want %q", in, got, want)
		}
	}
}
