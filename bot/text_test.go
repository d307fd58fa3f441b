package bot_test

import (
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
)

func TestAge(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{45 * time.Second, "45s"},
		{-45 * time.Second, "45s"}, // a clock that moved back reads as a duration
		{59*time.Second + 900*time.Millisecond, "59s"},
		{time.Minute, "1m"},
		{4*time.Minute + 59*time.Second, "4m"},
		{59*time.Minute + 59*time.Second, "59m"},
		{time.Hour, "1h"},
		{2*time.Hour + 5*time.Minute, "2h 5m"},
		{2*time.Hour + 5*time.Minute + 30*time.Second, "2h 5m"},
		{24 * time.Hour, "24h"},
		{47*time.Hour + 59*time.Minute, "47h 59m"},
		{48 * time.Hour, "2d"},
		{73 * time.Hour, "3d"},
		{-73 * time.Hour, "3d"},
		{400 * 24 * time.Hour, "400d"},
	}
	for _, tt := range tests {
		if got := bot.Age(tt.d); got != tt.want {
			t.Errorf("Age(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

var now = time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)

func vote(person string, d approvals.Decision) approvals.Vote {
	return approvals.Vote{Person: person, Decision: d, At: now.Add(-time.Minute), Via: approvals.Origin{Platform: "slack"}}
}

func TestStatusLine(t *testing.T) {
	pending := func(required int, expiresIn time.Duration, votes ...approvals.Vote) *approvals.Request {
		return &approvals.Request{ID: "r-3", Status: approvals.Pending, Required: required,
			CreatedAt: now.Add(-4 * time.Minute), ExpiresAt: now.Add(expiresIn), Votes: votes}
	}
	final := func(s approvals.Status, reason string) *approvals.Request {
		return &approvals.Request{ID: "r-3", Status: s, Reason: reason, Required: 1}
	}
	running := func(run *approvals.Run) *approvals.Request {
		return &approvals.Request{ID: "r-3", Status: approvals.Running, Reason: "approved by bob", Required: 1,
			Votes: []approvals.Vote{vote("bob", approvals.Approve)}, Run: run}
	}
	tests := []struct {
		name string
		r    *approvals.Request
		want string
	}{
		{"pending", pending(1, 26*time.Minute), "waiting for 1 approval, expires in 26m"},
		{"pending, two needed", pending(2, 26*time.Minute), "waiting for 2 approvals, expires in 26m"},
		{"pending with an approval", pending(2, 26*time.Minute, vote("bob", approvals.Approve)),
			"waiting for 1 more approval (approved by bob), expires in 26m"},
		{"pending with approvals", pending(3, 26*time.Minute, vote("bob", approvals.Approve), vote("carol", approvals.Approve)),
			"waiting for 1 more approval (approved by bob, carol), expires in 26m"},
		{"pending, two more needed", pending(3, time.Hour+2*time.Minute, vote("carol", approvals.Approve)),
			"waiting for 2 more approvals (approved by carol), expires in 1h 2m"},
		{"pending, last seconds", pending(1, 30*time.Second), "waiting for 1 approval, expires in 30s"},
		{"pending under a rule", ruled(pending(2, 26*time.Minute), "", "role:dag-owner"),
			"waiting for 2 approvals from role dag-owner, expires in 26m"},
		{"pending under a rule, one approval", ruled(pending(2, 26*time.Minute, vote("grace", approvals.Approve)), "", "role:dag-owner"),
			"waiting for 1 more approval from role dag-owner (approved by grace), expires in 26m"},
		{"pending under a rule naming people and roles", ruled(pending(1, 26*time.Minute), "", "role:dns-admin", "bob"),
			"waiting for 1 approval from role dns-admin or bob, expires in 26m"},
		{"pending under a rule excluding a team", ruled(pending(1, 26*time.Minute), "dns"),
			"waiting for 1 approval from approvers outside team dns, expires in 26m"},
		{"expiring: at its expiry", pending(1, 0), "waiting for 1 approval, expiring now"},
		{"expiring: past its expiry, not yet expired by the worker", pending(1, -time.Minute), "waiting for 1 approval, expiring now"},
		{"approved", final(approvals.Approved, "approved by bob and carol"), "approved by bob and carol, starting"},
		{"running, not started", running(nil), "running"},
		{"running, no progress yet", running(&approvals.Run{StartedAt: now}), "running"},
		{"running with progress", running(&approvals.Run{StartedAt: now, Progress: "seeding MB01 to EX10-MB02: 40%"}),
			"running: seeding MB01 to EX10-MB02: 40%"},
		{"denied with a reason", final(approvals.Denied, "denied by bob: not during business hours"), "denied by bob: not during business hours"},
		{"denied without a reason", final(approvals.Denied, "denied by bob"), "denied by bob"},
		{"denied, no reason recorded", final(approvals.Denied, ""), "denied"},
		{"stale", final(approvals.Stale, "stale: the organisation changed since the approval, so nothing ran; now warning: EX10-MB02 restarted"),
			"stale: the organisation changed since the approval, so nothing ran; now warning: EX10-MB02 restarted"},
		{"expired", final(approvals.Expired, "nobody decided within 30m"), "expired: nobody decided within 30m"},
		{"cancelled", final(approvals.Cancelled, "cancelled by alice"), "cancelled by alice"},
		{"succeeded", final(approvals.Succeeded, "done"), "succeeded"},
		{"succeeded without a reason", final(approvals.Succeeded, ""), "succeeded"},
		{"failed", final(approvals.Failed, "the preflight before the run could not read the organisation, so nothing ran: EX10-CAHT: cannot reach WinRM"),
			"failed: the preflight before the run could not read the organisation, so nothing ran: EX10-CAHT: cannot reach WinRM"},
		{"interrupted", final(approvals.Interrupted, "exchops stopped during the run; it will not run again by itself"),
			"interrupted: exchops stopped during the run; it will not run again by itself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bot.StatusLine(tt.r, now)
			if got != tt.want {
				t.Errorf("StatusLine = %q\nwant         %q", got, tt.want)
			}
			// The status word is said once, whichever way the reason is written.
			if w := string(tt.r.Status); strings.Count(got, w+" ")+strings.Count(got, w+":") > 1 {
				t.Errorf("StatusLine %q repeats %q", got, w)
			}
		})
	}
}

// ruled puts r under an approval rule: approvers, and excluded the team whose
// members may not approve.
func ruled(r *approvals.Request, excluded string, approvers ...string) *approvals.Request {
	r.Approvers, r.ExcludedTeam = approvers, excluded
	return r
}

// TestFromWhom is who a card says may give the missing approvals.
func TestFromWhom(t *testing.T) {
	r := func() *approvals.Request {
		return &approvals.Request{Requester: "alice", Status: approvals.Pending, Required: 2}
	}
	for _, tt := range []struct {
		r    *approvals.Request
		want string
	}{
		{r(), "an approver other than alice"},
		{ruled(r(), "", "role:dag-owner"), "role dag-owner other than alice"},
		{ruled(r(), "", "role:dns-admin", "bob"), "role dns-admin or bob other than alice"},
		{ruled(r(), "dns", "role:dns-admin", "bob"), "role dns-admin or bob outside team dns"},
		{ruled(r(), "dns"), "an approver outside team dns"},
	} {
		if got := bot.FromWhom(tt.r); got != tt.want {
			t.Errorf("FromWhom = %q, want %q", got, tt.want)
		}
	}
}

func TestRequestLine(t *testing.T) {
	tests := []struct {
		name string
		r    *approvals.Request
		want string
	}{
		{
			name: "pending",
			r: &approvals.Request{ID: "r-3", Command: `dag create E14-DAG witness=EX10-CAHT dir=C:\FSW`, Requester: "alice",
				Status: approvals.Pending, Required: 1, CreatedAt: now.Add(-4 * time.Minute), ExpiresAt: now.Add(26 * time.Minute)},
			want: `r-3  dag create E14-DAG witness=EX10-CAHT dir=C:\FSW  by alice 4m ago  waiting for 1 approval, expires in 26m`,
		},
		{
			name: "just made",
			r: &approvals.Request{ID: "r-4", Command: "failover MB01 to=EX10-MB02", Requester: "bob",
				Status: approvals.Pending, Required: 1, CreatedAt: now.Add(-20 * time.Second), ExpiresAt: now.Add(30*time.Minute - 20*time.Second)},
			want: "r-4  failover MB01 to=EX10-MB02  by bob 20s ago  waiting for 1 approval, expires in 29m",
		},
		{
			name: "under a rule",
			r: ruled(&approvals.Request{ID: "r-5", Command: "failover MB01 to=EX10-MB02", Requester: "alice",
				Status: approvals.Pending, Required: 2, CreatedAt: now.Add(-4 * time.Minute), ExpiresAt: now.Add(26 * time.Minute),
				Votes: []approvals.Vote{vote("grace", approvals.Approve)}}, "", "role:dag-owner"),
			want: "r-5  failover MB01 to=EX10-MB02  by alice 4m ago  waiting for 1 more approval from role dag-owner (approved by grace), expires in 26m",
		},
		{
			name: "denied yesterday",
			r: &approvals.Request{ID: "r-1", Command: "copy add MB01 EX10-MB02", Requester: "alice",
				Status: approvals.Denied, Reason: "denied by carol: wait for the backup", Required: 1,
				CreatedAt: now.Add(-26 * time.Hour), ExpiresAt: now.Add(-25*time.Hour - 30*time.Minute)},
			want: "r-1  copy add MB01 EX10-MB02  by alice 26h ago  denied by carol: wait for the backup",
		},
		{
			name: "succeeded last week",
			r: &approvals.Request{ID: "r-2", Command: "casarray assign client.msglab.local", Requester: "bob",
				Status: approvals.Succeeded, Reason: "done", Required: 1, CreatedAt: now.Add(-7 * 24 * time.Hour)},
			want: "r-2  casarray assign client.msglab.local  by bob 7d ago  succeeded",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := bot.RequestLine(tt.r, now); got != tt.want {
				t.Errorf("RequestLine =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestWho(t *testing.T) {
	tests := []struct {
		name  string
		votes []approvals.Vote
		want  string
	}{
		{"nobody", nil, ""},
		{"one approval", []approvals.Vote{vote("bob", approvals.Approve)}, "approved by bob"},
		{"in vote order", []approvals.Vote{vote("carol", approvals.Approve), vote("bob", approvals.Approve)}, "approved by carol, bob"},
		{"denied", []approvals.Vote{vote("carol", approvals.Deny)}, "denied by carol"},
		{"denied after an approval", []approvals.Vote{vote("bob", approvals.Approve), vote("carol", approvals.Deny)}, "approved by bob; denied by carol"},
		{"approvals first, whatever the order", []approvals.Vote{vote("carol", approvals.Deny), vote("bob", approvals.Approve), vote("erin", approvals.Approve)},
			"approved by bob, erin; denied by carol"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &approvals.Request{ID: "r-3", Votes: tt.votes}
			if got := bot.Who(r); got != tt.want {
				t.Errorf("Who = %q, want %q", got, tt.want)
			}
		})
	}
}
