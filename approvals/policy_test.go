package approvals

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/config"
	"go.yaml.in/yaml/v3"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func demoPolicy(required int) Policy {
	return Policy{
		Required:    required,
		ExpireAfter: 30 * time.Minute,
		People: []Person{
			{Name: "alice", IDs: map[string]string{"slack": "U0ALICE", "discord": "1001"}, Roles: []Role{RoleAdmin}},
			{Name: "bob", IDs: map[string]string{"slack": "U0BOB", "discord": "1002"}, Roles: []Role{RoleAdmin, RoleApprover}},
			{Name: "carol", IDs: map[string]string{"slack": "U0CAROL", "discord": "1003"}, Roles: []Role{RoleApprover}},
			{Name: "dave", IDs: map[string]string{"slack": "U0DAVE", "discord": "1004"}, Roles: []Role{RoleViewer}},
			{Name: "erin", IDs: map[string]string{"slack": "U0ERIN", "discord": "1005"}, Roles: []Role{RoleApprover}},
			{Name: "frank", Roles: []Role{RoleAdmin, RoleApprover}},
			// For approval rules: dag-owner and dns-admin are groups, messaging and
			// network teams.
			{Name: "grace", Roles: []Role{RoleApprover, "dag-owner"}, Team: "messaging"},
			{Name: "heidi", Roles: []Role{RoleApprover, "dag-owner"}, Team: "network"},
			{Name: "ivan", Roles: []Role{RoleAdmin, "dag-owner"}, Team: "messaging"},
			{Name: "judy", Roles: []Role{RoleAdmin, RoleApprover, "dag-owner", "dns-admin"}, Team: "messaging"},
		},
	}
}

// ruled is a pending request made under a rule: approvers (none: any approver) and,
// when excluded is set, not from that team.
func ruled(requester string, approvers []string, excluded string, votes ...Vote) *Request {
	r := pendingBy(requester, votes...)
	r.Approvers, r.ExcludedTeam = approvers, excluded
	return r
}

func pendingBy(requester string, votes ...Vote) *Request {
	return &Request{ID: "r-7", Requester: requester, Required: 2, Status: Pending,
		CreatedAt: t0, ExpiresAt: t0.Add(30 * time.Minute), Votes: votes}
}

// TestMayVote is every case of the one function that decides whether a vote counts.
func TestMayVote(t *testing.T) {
	pol := demoPolicy(2)
	pol.Rules = []Rule{{Commands: []string{"failover", "dag create"}, Required: 1, Approvers: []string{"bob"}, SameTeam: true}}
	bobApproved := Vote{Person: "bob", Decision: Approve, At: t0}
	graceApproved := Vote{Person: "grace", Decision: Approve, At: t0}
	dagOwners := []string{"role:dag-owner"}
	dnsOrBob := []string{"role:dns-admin", "bob"}
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

		// Approval rules, as recorded with the request when it was made.
		{"rule: an approver holding the rule's role", ruled("alice", dagOwners, ""), "grace", Approve, in, ""},
		{"rule: an approver without the rule's role", ruled("alice", dagOwners, ""), "carol", Approve, in, RefusedNotEligible},
		{"rule: an approver without the rule's role denies", ruled("alice", dagOwners, ""), "carol", Deny, in, ""},
		{"rule: the role without the approver role", ruled("alice", dagOwners, ""), "ivan", Approve, in, RefusedRole},
		{"rule: the role without the approver role denies", ruled("alice", dagOwners, ""), "ivan", Deny, in, RefusedRole},
		{"rule: a requester holding the rule's role", ruled("judy", dagOwners, ""), "judy", Approve, in, RefusedOwnRequest},
		{"rule: second approval from the role", ruled("alice", dagOwners, "", graceApproved), "heidi", Approve, in, ""},
		{"rule: the role's approver approves twice", ruled("alice", dagOwners, "", graceApproved), "grace", Approve, in, RefusedAlreadyVoted},
		{"rule: a person the rule names", ruled("alice", dnsOrBob, ""), "bob", Approve, in, ""},
		{"rule: a person with a role the rule names", ruled("alice", dnsOrBob, ""), "judy", Approve, in, ""},
		{"rule: an approver the rule does not name", ruled("alice", dnsOrBob, ""), "erin", Approve, in, RefusedNotEligible},
		{"rule: a role the rule does not name", ruled("alice", dnsOrBob, ""), "grace", Approve, in, RefusedNotEligible},
		{"rule: a name differing only in case", ruled("alice", []string{"Bob"}, ""), "bob", Approve, in, RefusedNotEligible},
		{"rule: a role named like the person", ruled("alice", []string{"role:bob"}, ""), "bob", Approve, in, RefusedNotEligible},
		{"team: an approver of the requester's team", ruled("ivan", nil, "messaging"), "grace", Approve, in, RefusedSameTeam},
		{"team: an approver of the requester's team denies", ruled("ivan", nil, "messaging"), "grace", Deny, in, ""},
		{"team: an approver of another team", ruled("ivan", nil, "messaging"), "heidi", Approve, in, ""},
		{"team: an approver of no team", ruled("ivan", nil, "messaging"), "carol", Approve, in, ""},
		{"team and role: the role, same team", ruled("ivan", dagOwners, "messaging"), "judy", Approve, in, RefusedSameTeam},
		{"team and role: the role, other team", ruled("ivan", dagOwners, "messaging"), "heidi", Approve, in, ""},
		{"team and role: other team without the role", ruled("ivan", dagOwners, "messaging"), "carol", Approve, in, RefusedNotEligible},
		{"team: no team excluded when the rule allows it", ruled("ivan", dagOwners, ""), "grace", Approve, in, ""},
		{"rule: expired", ruled("alice", dagOwners, ""), "grace", Approve, t0.Add(time.Hour), RefusedExpired},
		{"rule: decided", denied, "grace", Approve, in, RefusedDecided},
		// What the request recorded counts, not the policy's rules now: the policy
		// below has a rule for failover naming only bob.
		{"rule changed since the request: the recorded role", ruled("alice", dagOwners, ""), "grace", Approve, in, ""},
		{"rule changed since the request: the new rule's person", ruled("alice", dagOwners, ""), "bob", Approve, in, RefusedNotEligible},
		{"no rule recorded: any approver, whatever the policy's rules", pendingBy("alice"), "carol", Approve, in, ""},
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
	// Any platform main registers is looked up the same way, by its name.
	pol.People[3].IDs["teams"] = "T0DAVE"
	for _, tt := range []struct{ platform, user, want string }{
		{"teams", "T0DAVE", "dave"},
		{"teams", "U0DAVE", ""},
		{"schedule", "erin", "erin"},
		{"console", "U0BOB", ""}, // the console knows people by name only
		{"", "bob", ""},
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

// TestRuleFor: a command takes the most specific rule naming it, whatever the order
// of the rules; a command no rule names needs the global count from any approver.
func TestRuleFor(t *testing.T) {
	dag := Rule{Commands: []string{"dag"}, Required: 2, Approvers: []string{"role:dag-owner"}, SameTeam: true}
	create := Rule{Commands: []string{"dag create", "failover"}, Required: 3, SameTeam: true}
	dns := Rule{Commands: []string{"dns add"}, Required: 1, Approvers: []string{"role:dns-admin", "bob"}}
	global := Rule{Required: 1, SameTeam: true}
	for _, order := range [][]Rule{{dag, create, dns}, {dns, create, dag}} {
		pol := demoPolicy(1)
		pol.Rules = order
		for _, tt := range []struct {
			command string
			want    Rule
		}{
			{"dag create", create},
			{"dag add-member", dag},
			{"failover", create},
			{"dns add", dns},
			{"drill", global},
			{"copy add", global},
			{"dagx", global}, // a group matches whole words only
		} {
			if got := pol.RuleFor(tt.command); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("rules %v: RuleFor(%q) = %+v, want %+v", order, tt.command, got, tt.want)
			}
		}
	}
}

// TestStillNeeds is what a pending request says it needs, on every front.
func TestStillNeeds(t *testing.T) {
	one := pendingBy("alice")
	one.Required = 1
	for _, tt := range []struct {
		r          *Request
		whom, want string
	}{
		{one, "", "1 more approval"},
		{pendingBy("alice"), "", "2 more approvals"},
		{ruled("alice", []string{"role:dag-owner"}, ""), "role dag-owner", "2 more approvals from role dag-owner"},
		{ruled("alice", []string{"role:dag-owner"}, "", Vote{Person: "grace", Decision: Approve}), "role dag-owner", "1 more approval from role dag-owner"},
		{ruled("alice", []string{"role:dns-admin", "bob"}, ""), "role dns-admin or bob", "2 more approvals from role dns-admin or bob"},
		{ruled("alice", []string{"role:a", "role:b", "carol"}, ""), "role a, role b or carol", "2 more approvals from role a, role b or carol"},
		{ruled("ivan", nil, "messaging"), "approvers outside team messaging", "2 more approvals from approvers outside team messaging"},
		{ruled("ivan", []string{"role:dag-owner"}, "messaging"), "role dag-owner outside team messaging", "2 more approvals from role dag-owner outside team messaging"},
	} {
		if got := tt.r.Whom(); got != tt.whom {
			t.Errorf("Whom() = %q, want %q", got, tt.whom)
		}
		if got := tt.r.StillNeeds(); got != tt.want {
			t.Errorf("StillNeeds() = %q, want %q", got, tt.want)
		}
	}
}

// TestCheck: the rules that the people configured can never satisfy are refused,
// naming the rule and why; those they can satisfy are not.
func TestCheck(t *testing.T) {
	people := []Person{
		{Name: "alice", Roles: []Role{RoleAdmin}, Team: "messaging"},
		{Name: "bob", Roles: []Role{RoleAdmin, RoleApprover, "dag-owner"}, Team: "messaging"},
		{Name: "carol", Roles: []Role{RoleApprover, "dag-owner"}, Team: "network"},
		{Name: "dave", Roles: []Role{RoleViewer, "dns-admin"}},
		{Name: "erin", Roles: []Role{RoleApprover, "dag-owner"}, Team: "network"},
		{Name: "frank", Roles: []Role{RoleApprover}},
	}
	rule := func(required int, sameTeam bool, approvers ...string) Rule {
		return Rule{Commands: []string{"failover", "drill"}, Required: required, Approvers: approvers, SameTeam: sameTeam}
	}
	for _, tt := range []struct {
		name  string
		rule  Rule
		key   string // "" = no problem
		parts []string
	}{
		{"two from a role of three", rule(2, true, "role:dag-owner"), "", nil},
		{"one from a person and a role", rule(1, true, "role:dag-owner", "frank"), "", nil},
		{"any approver", rule(3, true), "", nil},
		{"three from a role of three, one of them an admin", rule(3, true, "role:dag-owner"), "approvals.rules[0]",
			[]string{"failover, drill need 3 approvals from role dag-owner", "a request by bob could never get them", "bob, carol, erin could approve"}},
		{"more than anyone could give", rule(4, true, "role:dag-owner"), "approvals.rules[0]",
			[]string{"need 4 approvals from role dag-owner (with the approver role), but only bob, carol, erin could give them"}},
		{"a role nobody holds", rule(1, true, "role:net-admin"), "approvals.rules[0]", []string{"only nobody could give them"}},
		{"a role held only without the approver role", rule(1, true, "role:dns-admin"), "approvals.rules[0]", []string{"from role dns-admin (with the approver role)", "only nobody"}},
		{"a named person who is no approver", rule(1, true, "dave", "frank"), "approvals.rules[0].approvers", []string{"names dave, who lacks the approver role"}},
		{"a sole named approver who is an admin", rule(1, true, "bob"), "approvals.rules[0]", []string{"a request by bob could never get them"}},
		{"other team: enough", rule(2, false, "role:dag-owner"), "", nil},
		{"other team: too few", rule(3, false, "role:dag-owner"), "approvals.rules[0]",
			[]string{"outside the requester's team", "a request by alice or bob could never get them"}},
		{"other team: an admin without a team", rule(1, false, "role:dag-owner"), "approvals.rules[0].same_team",
			[]string{"grace, who may ask for failover, drill, has no team"}},
		{"same team allowed: an admin without a team", rule(1, true, "role:dag-owner"), "", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pol := Policy{People: slices.Clone(people), Required: 1, Rules: []Rule{tt.rule}}
			if strings.Contains(tt.name, "without a team") {
				pol.People = append(pol.People, Person{Name: "grace", Roles: []Role{RoleAdmin}})
			}
			probs := pol.Check()
			if tt.key == "" {
				if len(probs) > 0 {
					t.Fatalf("refused: %v", probs)
				}
				return
			}
			if len(probs) == 0 {
				t.Fatal("accepted")
			}
			if probs[0].Key != tt.key {
				t.Errorf("key %s, want %s: %v", probs[0].Key, tt.key, probs)
			}
			for _, p := range tt.parts {
				if !strings.Contains(probs.Error(), p) {
					t.Errorf("the problem does not say %q:\n%v", p, probs)
				}
			}
		})
	}
	// The global approvals.required is not a rule: Check leaves it as it always was.
	if probs := (Policy{People: people, Required: 5}).Check(); len(probs) > 0 {
		t.Errorf("the global count was checked: %v", probs)
	}
}

// TestPolicyFromConfig: a rule without required takes approvals.required, same_team
// defaults to true, and people keep their teams and custom roles.
func TestPolicyFromConfig(t *testing.T) {
	no := false
	c := config.Default()
	c.Approvals.Required = 2
	if err := yaml.Unmarshal([]byte(`[{name: grace, slack: U1, discord: "71", roles: [approver, dag-owner], team: messaging}]`), &c.People); err != nil {
		t.Fatal(err)
	}
	c.Approvals.Rules = []config.ApprovalRule{
		{Commands: []string{"failover"}, Required: 3, Approvers: []string{"role:dag-owner"}},
		{Commands: []string{"dns add"}, SameTeam: &no},
	}
	pol := PolicyFromConfig(c)
	want := []Rule{
		{Commands: []string{"failover"}, Required: 3, Approvers: []string{"role:dag-owner"}, SameTeam: true},
		{Commands: []string{"dns add"}, Required: 2, SameTeam: false},
	}
	if !reflect.DeepEqual(pol.Rules, want) {
		t.Errorf("rules = %+v, want %+v", pol.Rules, want)
	}
	if g := pol.People[0]; g.Team != "messaging" || !g.Has("dag-owner") || !g.Has(RoleApprover) {
		t.Errorf("grace = %+v", g)
	}
	// The file's slack: and discord: keys become ids keyed by those platforms' names.
	if want := map[string]string{"slack": "U1", "discord": "71"}; !reflect.DeepEqual(pol.People[0].IDs, want) {
		t.Errorf("grace's ids = %v, want %v", pol.People[0].IDs, want)
	}
	for _, c := range []struct{ platform, user string }{{"slack", "U1"}, {"discord", "71"}, {"console", "grace"}} {
		if who, ok := pol.Identify(c.platform, c.user); !ok || who.Name != "grace" {
			t.Errorf("Identify(%q, %q) = %q, %v; want grace", c.platform, c.user, who.Name, ok)
		}
	}
}
