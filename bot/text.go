package bot

import (
	"fmt"
	"strings"
	"time"

	"github.com/exchops/exchops/approvals"
)

// Words every front uses for requests, so a request reads the same in the console,
// Slack and Discord.

// Age is a short human duration: "45s", "4m", "2h 5m", "3d".
func Age(d time.Duration) string {
	switch {
	case d < 0:
		d = -d
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		h := int(d.Hours())
		if m := int(d.Minutes()) % 60; m != 0 {
			return fmt.Sprintf("%dh %dm", h, m)
		}
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// StatusLine says where a request stands, for a card's header or a list:
// "waiting for 1 approval, expires in 26m", "approved by bob, running: seeding MB01".
func StatusLine(r *approvals.Request, now time.Time) string {
	switch r.Status {
	case approvals.Pending:
		s := "waiting for " + Needs(r)
		if a := r.Approvals(); len(a) > 0 {
			s = "waiting for " + r.StillNeeds() + " (approved by " + strings.Join(a, ", ") + ")"
		}
		if left := r.ExpiresAt.Sub(now); left > 0 {
			s += ", expires in " + Age(left)
		} else {
			s += ", expiring now"
		}
		return s
	case approvals.Approved:
		return r.Reason + ", starting"
	case approvals.Running:
		s := "running"
		if r.Run != nil && r.Run.Progress != "" {
			s += ": " + r.Run.Progress
		}
		return s
	}
	if r.Reason != "" && r.Reason != "done" {
		if strings.HasPrefix(r.Reason, string(r.Status)) {
			return r.Reason // "denied by bob: ...", "stale: ..."
		}
		return string(r.Status) + ": " + r.Reason
	}
	return string(r.Status)
}

// Needs is how many approvals a pending request needs and, when its rule narrows
// that, from whom: "1 approval", "2 approvals from role dag-owner".
func Needs(r *approvals.Request) string {
	s := approvalsWord(r.Needs())
	if w := r.Whom(); w != "" {
		s += " from " + w
	}
	return s
}

// FromWhom is who may give a pending request's missing approvals, for its card:
// "an approver other than alice", "role dag-owner other than alice", "role dns-admin
// or bob outside team dns" (the requester's team, which the rule excludes).
func FromWhom(r *approvals.Request) string {
	s := "an approver"
	if len(r.Approvers) > 0 {
		s = strings.TrimSuffix(r.Whom(), " outside team "+r.ExcludedTeam)
	}
	if r.ExcludedTeam != "" {
		return s + " outside team " + r.ExcludedTeam
	}
	return s + " other than " + r.Requester
}

// RequestLine is one request in `requests` and `history`:
// "r-3  dag create E14-DAG ...  by alice 4m ago  waiting for 1 approval, expires in 26m".
func RequestLine(r *approvals.Request, now time.Time) string {
	return fmt.Sprintf("%s  %s  by %s %s ago  %s", r.ID, r.Command, r.Requester, Age(now.Sub(r.CreatedAt)), StatusLine(r, now))
}

// Who lists the people who decided a request, in vote order: "approved by bob, carol".
func Who(r *approvals.Request) string {
	var approved, denied []string
	for _, v := range r.Votes {
		if v.Decision == approvals.Deny {
			denied = append(denied, v.Person)
		} else {
			approved = append(approved, v.Person)
		}
	}
	var parts []string
	if len(approved) > 0 {
		parts = append(parts, "approved by "+strings.Join(approved, ", "))
	}
	if len(denied) > 0 {
		parts = append(parts, "denied by "+strings.Join(denied, ", "))
	}
	return strings.Join(parts, "; ")
}

// Targets are the servers a request's plan touches, in order of first use (its wait's
// too), for every front's card.
func Targets(r *approvals.Request) []string {
	seen := map[string]bool{}
	var out []string
	add := func(t string) {
		if t != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, s := range r.Steps {
		add(s.Target)
	}
	if r.Wait != nil {
		add(r.Wait.Step.Target)
	}
	return out
}
