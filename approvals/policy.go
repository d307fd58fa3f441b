package approvals

import (
	"fmt"
	"strings"
	"time"

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
	Name    string
	Slack   string
	Discord string
	Roles   []Role
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
}

// PolicyFromConfig builds the policy from a validated configuration.
func PolicyFromConfig(c config.Config) Policy {
	p := Policy{Required: c.Approvals.Required, ExpireAfter: time.Duration(c.Approvals.ExpireAfter)}
	for _, cp := range c.People {
		person := Person{Name: cp.Name, Slack: cp.Slack, Discord: cp.Discord}
		for _, r := range cp.Roles {
			person.Roles = append(person.Roles, Role(strings.ToLower(r)))
		}
		p.People = append(p.People, person)
	}
	return p
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

// Identify returns the person behind a platform's user id. The console identifies
// people by name.
func (p Policy) Identify(platform, user string) (Person, bool) {
	if user == "" {
		return Person{}, false
	}
	for _, x := range p.People {
		switch platform {
		case "slack":
			if x.Slack == user {
				return x, true
			}
		case "discord":
			if x.Discord == user {
				return x, true
			}
		case "console", "schedule":
			if x.Name == user {
				return x, true
			}
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
		return refuse(RefusedAlreadyVoted, "you already voted to %s %s; it still needs %s.", v.Decision, r.ID, plural(r.Needs(), "approval"))
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

func plural(n int, word string) string {
	if n == 1 {
		return "1 more " + word
	}
	return fmt.Sprintf("%d more %ss", n, word)
}
