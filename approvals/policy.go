package approvals

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/config"
)

// Role is what a person may do.
type Role string

const (
	RoleAdmin    Role = "admin"    // may request changes and run read-only commands
	RoleApprover Role = "approver" // may approve or deny other people's requests
	RoleViewer   Role = "viewer"   // may run read-only commands only
)

// Person is someone exchops knows, with their identity on each platform.
type Person struct {
	Name string
	// IDs are the person's user ids by the registered name of each chat platform.
	// The console and exchops' own schedules know people by Name instead.
	IDs   map[string]string
	Roles []Role
	Team  string // for rules that want approvals from outside the requester's team
}

// Has reports whether the person has role.
func (p Person) Has(role Role) bool {
	for _, r := range p.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// SeesRunnerDetails reports whether the person is told the runner's full error
// messages, which name endpoint URLs, the service account and its auth method: those
// who change or approve changes (admin, approver) fix them; a viewer gets
// runners.Redacted.
func (p Person) SeesRunnerDetails() bool {
	return p.Has(RoleAdmin) || p.Has(RoleApprover)
}

// Policy is the two-person rule as configured.
type Policy struct {
	People      []Person
	Required    int           // approvals needed from people other than the requester
	ExpireAfter time.Duration // a pending request expires this long after it was made
	// Rules set, per command or group of commands, how many approvals and from whom;
	// see RuleFor.
	Rules []Rule
}

// Rule is how many approvals some commands need and from whom (approvals.rules).
// It narrows who may approve, never widens it: an approver must hold the approver
// role whatever the rule names.
type Rule struct {
	Commands  []string // command names and groups as in the grammar: "failover", "dag"
	Required  int      // approvals needed from people other than the requester
	Approvers []string // "role:<role>" or people's names; none: any approver
	SameTeam  bool     // people of the requester's team may approve
}

// PolicyFromConfig builds the policy from a validated configuration.
func PolicyFromConfig(c config.Config) Policy {
	p := Policy{Required: c.Approvals.Required, ExpireAfter: time.Duration(c.Approvals.ExpireAfter)}
	for _, cp := range c.People {
		person := Person{Name: cp.Name, IDs: cp.IDs(), Team: cp.Team}
		for _, r := range cp.Roles {
			person.Roles = append(person.Roles, Role(strings.ToLower(r)))
		}
		p.People = append(p.People, person)
	}
	for _, cr := range c.Approvals.Rules {
		r := Rule{Commands: cr.Commands, Required: cr.Required, Approvers: cr.Approvers, SameTeam: cr.SameTeam == nil || *cr.SameTeam}
		if r.Required == 0 {
			r.Required = c.Approvals.Required
		}
		p.Rules = append(p.Rules, r)
	}
	return p
}

// RuleFor returns the rule for the command called command: of the rules naming it
// or a group it is in, the most specific one (the command's own name before its
// group), whatever their order. A command no rule names needs Required approvals
// from any approver, its requester's team included.
func (p Policy) RuleFor(command string) Rule {
	best, words := Rule{Required: p.Required, SameTeam: true}, 0
	for _, r := range p.Rules {
		for _, c := range r.Commands {
			if n := len(strings.Fields(c)); n > words && commands.Covers(c, command) {
				best, words = r, n
			}
		}
	}
	return best
}

// mayApprove reports whether who is among approvers (a request's, or a rule's): an
// approver named there or holding a role named there; anyone with the approver role
// when approvers is empty.
func mayApprove(approvers []string, who Person) bool {
	if !who.Has(RoleApprover) {
		return false
	}
	if len(approvers) == 0 {
		return true
	}
	for _, a := range approvers {
		if role, ok := strings.CutPrefix(a, config.RolePrefix); ok {
			if who.Has(Role(role)) {
				return true
			}
		} else if a == who.Name {
			return true
		}
	}
	return false
}

// Check reports the rules that the people configured can never satisfy: a rule
// naming someone without the approver role, one that wants approvals from outside
// the requester's team while someone who may ask (an admin) has no team, and one for
// which, when some admin asks, fewer people than it requires could approve (the
// requester never approves their own request). config check and serve refuse a
// configuration with such a rule.
func (p Policy) Check() config.Problems {
	var probs config.Problems
	add := func(key, format string, args ...any) {
		probs = append(probs, config.Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	var admins []Person
	for _, x := range p.People {
		if x.Has(RoleAdmin) {
			admins = append(admins, x)
		}
	}
	for i, rule := range p.Rules {
		key := fmt.Sprintf("approvals.rules[%d]", i)
		what := strings.Join(rule.Commands, ", ")
		for _, a := range rule.Approvers {
			if who, ok := p.Person(a); ok && !who.Has(RoleApprover) {
				add(key+".approvers", "names %s, who lacks the approver role: a rule only narrows who may approve, so give %s the approver role or leave them out", a, a)
			}
		}
		var eligible []string
		for _, x := range p.People {
			if mayApprove(rule.Approvers, x) {
				eligible = append(eligible, x.Name)
			}
		}
		from := "approvers"
		if len(rule.Approvers) > 0 {
			from = approverWords(rule.Approvers) + " (with the approver role)"
		}
		if !rule.SameTeam {
			from += " outside the requester's team"
		}
		var stuck []string
		for _, req := range admins {
			if !rule.SameTeam && req.Team == "" {
				add(key+".same_team", "is false, but %s, who may ask for %s, has no team: give every admin a team (people[].team)", req.Name, what)
				continue
			}
			n := 0
			for _, x := range p.People {
				if x.Name != req.Name && mayApprove(rule.Approvers, x) && (rule.SameTeam || x.Team != req.Team) {
					n++
				}
			}
			if n < rule.Required {
				stuck = append(stuck, req.Name)
			}
		}
		switch {
		case len(eligible) < rule.Required:
			add(key, "%s need %s from %s, but only %s could give them: add people, or lower required", what, count(rule.Required, "approval"), from, nobody(eligible))
		case len(stuck) > 0:
			add(key, "%s need %s from %s, but a request by %s could never get them (%s could approve, never their own): add people, or lower required", what, count(rule.Required, "approval"), from, orList(stuck), nobody(eligible))
		}
	}
	return probs
}

// approverWords names approvers for people: "role dag-owner", "role dns-admin or bob".
func approverWords(approvers []string) string {
	var w []string
	for _, a := range approvers {
		if role, ok := strings.CutPrefix(a, config.RolePrefix); ok {
			w = append(w, "role "+role)
		} else {
			w = append(w, a)
		}
	}
	return orList(w)
}

func orList(w []string) string {
	if len(w) <= 1 {
		return strings.Join(w, "")
	}
	return strings.Join(w[:len(w)-1], ", ") + " or " + w[len(w)-1]
}

func nobody(names []string) string {
	if len(names) == 0 {
		return "nobody"
	}
	return strings.Join(names, ", ")
}

// Person returns the person called name.
func (p Policy) Person(name string) (Person, bool) {
	for _, x := range p.People {
		if x.Name == name {
			return x, true
		}
	}
	return Person{}, false
}

// ByName are the platforms whose user is a person's name rather than an id: the
// console, where people sign in by name, and exchops' own schedules.
var ByName = []string{"console", "schedule"}

// Identify returns the person behind a platform's user id (Person.IDs), or behind a
// name on a platform that knows people by name (ByName).
func (p Policy) Identify(platform, user string) (Person, bool) {
	if user == "" || platform == "" {
		return Person{}, false
	}
	byName := slices.Contains(ByName, platform)
	for _, x := range p.People {
		if byName && x.Name == user || !byName && x.IDs[platform] == user {
			return x, true
		}
	}
	return Person{}, false
}

// MayRun decides whether person may run a command: anyone known may run read-only
// commands; changes need the admin role.
func (p Policy) MayRun(person string, readOnly bool, command string) error {
	who, ok := p.Person(person)
	if !ok {
		return refuse(RefusedUnknownPerson, "exchops does not know you: ask an exchops administrator to add you to people in its configuration.")
	}
	if readOnly || who.Has(RoleAdmin) {
		return nil
	}
	return refuse(RefusedRole, "%s changes the organisation, which needs the admin role; you have %s.", command, roleList(who))
}

// MayVote is the one place that decides whether person may approve or deny request r
// at time now. A nil error means the vote counts.
func (p Policy) MayVote(r *Request, person string, d Decision, now time.Time) error {
	who, ok := p.Person(person)
	if !ok {
		return refuse(RefusedUnknownPerson, "exchops does not know you: only people in its configuration can approve or deny.")
	}
	verb := "approve"
	if d == Deny {
		verb = "deny"
	}
	if r.Requester == person {
		if d == Deny {
			return refuse(RefusedOwnRequest, "%s is your own request: withdraw it with `cancel %s` instead.", r.ID, r.ID)
		}
		return refuse(RefusedOwnRequest, "%s is your own request: someone else must approve it.", r.ID)
	}
	if !who.Has(RoleApprover) {
		return refuse(RefusedRole, "only approvers can %s requests; you have %s.", verb, roleList(who))
	}
	if r.Status != Pending {
		return refuse(RefusedDecided, "%s is already %s%s.", r.ID, r.Status, reasonSuffix(r))
	}
	if !now.Before(r.ExpiresAt) {
		return refuse(RefusedExpired, "%s expired at %s: ask %s to request it again.", r.ID, r.ExpiresAt.UTC().Format("15:04 MST"), r.Requester)
	}
	if v, ok := r.VoteOf(person); ok {
		return refuse(RefusedAlreadyVoted, "you already voted to %s %s; it still needs %s.", v.Decision, r.ID, r.StillNeeds())
	}
	// The request's rule, as recorded when it was made, narrows who may approve. Any
	// approver may still deny: a denial runs nothing.
	if d == Approve {
		if !mayApprove(r.Approvers, who) {
			return refuse(RefusedNotEligible, "%s needs approval from %s; you are not one of them, so your approval would not count (you may still deny it).", r.ID, approverWords(r.Approvers))
		}
		if r.ExcludedTeam != "" && who.Team == r.ExcludedTeam {
			return refuse(RefusedSameTeam, "%s needs approval from outside team %s, the team of %s who asked for it; you are in that team too.", r.ID, r.ExcludedTeam, r.Requester)
		}
	}
	return nil
}

// MayCancel decides whether person may cancel request r: only its requester, only
// while it is pending.
func (p Policy) MayCancel(r *Request, person string) error {
	if _, ok := p.Person(person); !ok {
		return refuse(RefusedUnknownPerson, "exchops does not know you: only people in its configuration can cancel requests.")
	}
	if r.Requester != person {
		return refuse(RefusedNotRequester, "only %s, who asked for %s, can cancel it; approvers can deny it.", r.Requester, r.ID)
	}
	if r.Status != Pending {
		return refuse(RefusedDecided, "%s is already %s%s: only pending requests can be cancelled.", r.ID, r.Status, reasonSuffix(r))
	}
	return nil
}

func reasonSuffix(r *Request) string {
	if r.Reason == "" {
		return ""
	}
	return " (" + r.Reason + ")"
}

func roleList(p Person) string {
	if len(p.Roles) == 0 {
		return "no role"
	}
	var s []string
	for _, r := range p.Roles {
		s = append(s, string(r))
	}
	return "the role " + strings.Join(s, " and ")
}

// count is "1 approval", "2 approvals".
func count(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 more " + word
	}
	return fmt.Sprintf("%d more %ss", n, word)
}
