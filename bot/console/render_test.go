package console

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/golden"
)

var t0 = time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)

// testClock is a console's clock that the test moves.
type testClock struct{ now time.Time }

func (c *testClock) Now() time.Time { return c.now }

func (c *testClock) advance(d time.Duration) { c.now = c.now.Add(d) }

// request is a pending request as approvals makes it, with a wait and findings, and
// text that must be escaped.
func request() *approvals.Request {
	return &approvals.Request{
		ID: "r-7", Seq: 7, Version: 1,
		Command:   "copy add MB01 EX10-MB02",
		Summary:   "Add a copy of MB01 on EX10-MB02 & seed it.",
		Requester: "alice",
		Origin:    approvals.Origin{Platform: "console", Channel: "#exchange", User: "alice"},
		Steps: []commands.Step{{
			Target:  "EX10-CAHT",
			Purpose: "add the copy of MB01 on EX10-MB02",
			Script:  "Add-MailboxDatabaseCopy -Identity 'MB01' -MailboxServer 'EX10-MB02' | Out-Null\nif ($x -lt 1) { Write-Output \"<none> & 'quoted'\" }",
		}},
		Wait: &commands.Wait{
			Step:     commands.Step{Target: "EX10-MB02", Purpose: "read the copy's seeding state", Script: "Get-MailboxDatabaseCopyStatus -Identity 'MB01\\EX10-MB02'"},
			Progress: "seeding MB01 to EX10-MB02",
			Budget:   time.Hour,
			Interval: 5 * time.Second,
		},
		Lock: "dag:E14-DAG",
		Findings: []commands.Finding{
			{Severity: commands.Info, Message: "MB01 is 12 GB: seeding takes a while"},
			{Severity: commands.Warning, Message: "circular logging is on for MB01 <check> before the second copy"},
		},
		Required:  1,
		Status:    approvals.Pending,
		CreatedAt: t0,
		ExpiresAt: t0.Add(30 * time.Minute),
		UpdatedAt: t0,
	}
}

// next is the request as the store returns it after an update: a copy, one version on.
func next(r *approvals.Request, at time.Time, change func(r *approvals.Request)) *approvals.Request {
	n := *r
	n.Votes = append([]approvals.Vote(nil), r.Votes...)
	if r.Run != nil {
		run := *r.Run
		n.Run = &run
	}
	n.Version++
	n.UpdatedAt = at
	change(&n)
	return &n
}

// life drives a card through events the way approvals announces them.
type life struct {
	c     *Console
	clock *testClock
	r     *approvals.Request
}

func newLife(r *approvals.Request) *life {
	clk := &testClock{now: t0}
	l := &life{c: New(nil, Options{People: demoPeople, Now: clk.Now}), clock: clk, r: r}
	l.c.Announce(context.Background(), approvals.Event{Kind: approvals.EventRequested, Request: r, Actor: r.Requester})
	return l
}

func (l *life) step(d time.Duration, kind approvals.EventKind, actor, detail string, change func(r *approvals.Request)) *life {
	l.clock.advance(d)
	l.r = next(l.r, l.clock.now, change)
	l.c.Announce(context.Background(), approvals.Event{Kind: kind, Request: l.r, Actor: actor, Detail: detail})
	return l
}

func (l *life) vote(d time.Duration, person string, dec approvals.Decision, reason string) *life {
	l.clock.advance(d)
	now := l.clock.now
	l.r = next(l.r, now, func(r *approvals.Request) {
		r.Votes = append(r.Votes, approvals.Vote{Person: person, Decision: dec, At: now, Reason: reason,
			Via: approvals.Origin{Platform: "slack", Channel: "C0OPS", User: "U0" + strings.ToUpper(person)}})
		switch {
		case dec == approvals.Deny:
			r.Status, r.Reason = approvals.Denied, "denied by "+person
			if reason != "" {
				r.Reason += ": " + reason
			}
		case r.Needs() == 0:
			r.Status, r.Reason = approvals.Approved, "approved by "+strings.Join(r.Approvals(), " and ")
		}
	})
	kind := approvals.EventVoted
	switch l.r.Status {
	case approvals.Denied:
		kind = approvals.EventDenied
	case approvals.Approved:
		kind = approvals.EventApproved
	}
	l.c.Announce(context.Background(), approvals.Event{Kind: kind, Request: l.r, Actor: person, Detail: reason})
	return l
}

func (l *life) running() *life {
	return l.step(time.Second, approvals.EventRunning, approvals.Bot, "", func(r *approvals.Request) {
		r.Status = approvals.Running
		r.Run = &approvals.Run{Owner: "test", StartedAt: r.UpdatedAt, Progress: "checking that the organisation is as the approvers saw it"}
	})
}

func (l *life) progress(d time.Duration, line string) *life {
	return l.step(d, approvals.EventProgress, approvals.Bot, line, func(r *approvals.Request) { r.Run.Progress = line })
}

func (l *life) end(d time.Duration, status approvals.Status, kind approvals.EventKind, reason, output, runErr string) *life {
	return l.step(d, kind, approvals.Bot, reason, func(r *approvals.Request) {
		r.Status, r.Reason = status, reason
		r.Run.FinishedAt, r.Run.Output, r.Run.Error = r.UpdatedAt, output, runErr
	})
}

func (l *life) card() string {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	m := l.c.transcript.byID["card-"+l.r.ID]
	if m == nil {
		return ""
	}
	return m.HTML + "\n"
}

func twoApprovals() *approvals.Request {
	r := request()
	r.Required = 2
	return r
}

func TestCardGolden(t *testing.T) {
	approved := func() *life { return newLife(request()).vote(2*time.Minute, "bob", approvals.Approve, "") }
	runningLife := func() *life {
		return approved().running().progress(20*time.Second, "seeding MB01 to EX10-MB02: 40%")
	}
	cases := []struct {
		name string
		life func() *life
	}{
		{"pending", func() *life { return newLife(request()).step(4*time.Minute, "", "", "", func(*approvals.Request) {}) }},
		{"pending-slack", func() *life {
			r := request()
			r.Origin = approvals.Origin{Platform: "slack", Channel: "C0OPS", User: "U0ALICE"}
			r.Findings = nil
			return newLife(r)
		}},
		{"voted", func() *life { return newLife(twoApprovals()).vote(3*time.Minute, "bob", approvals.Approve, "") }},
		{"pending-rule", func() *life {
			r := twoApprovals()
			r.Approvers = []string{"role:dag-owner"}
			return newLife(r)
		}},
		{"voted-rule-other-team", func() *life {
			r := twoApprovals()
			r.Approvers, r.ExcludedTeam = []string{"role:dns-admin", "bob"}, "messaging"
			return newLife(r).vote(3*time.Minute, "bob", approvals.Approve, "")
		}},
		{"approved", approved},
		{"running", runningLife},
		{"succeeded", func() *life {
			return runningLife().progress(10*time.Minute, "seeding MB01 to EX10-MB02: 100%").
				end(30*time.Second, approvals.Succeeded, approvals.EventSucceeded, "done", "Name : MB01\\EX10-MB02\nStatus : Healthy\n", "")
		}},
		{"failed", func() *life {
			return runningLife().end(time.Minute, approvals.Failed, approvals.EventFailed,
				"the run failed: Add-MailboxDatabaseCopy: the copy <MB01> already exists", "WARNING: partial\n", "Add-MailboxDatabaseCopy: the copy <MB01> already exists")
		}},
		{"stale", func() *life {
			return approved().running().end(2*time.Second, approvals.Stale, approvals.EventStale,
				"stale: the organisation changed since the approval, so nothing ran; now blocker: MB01 has a copy on EX10-MB02", "", "")
		}},
		{"interrupted", func() *life {
			reason := "exchops stopped while it was running; it will not run again by itself: check the organisation, then ask again if needed"
			return runningLife().end(time.Minute, approvals.Interrupted, approvals.EventInterrupted, reason, "", "interrupted: "+reason)
		}},
		{"denied", func() *life {
			return newLife(request()).vote(5*time.Minute, "bob", approvals.Deny, "not during <business> hours")
		}},
		{"denied-after-approval", func() *life {
			return newLife(twoApprovals()).vote(time.Minute, "bob", approvals.Approve, "").vote(time.Minute, "carol", approvals.Deny, "")
		}},
		{"expired", func() *life {
			return newLife(request()).step(30*time.Minute, approvals.EventExpired, approvals.Bot, "nobody decided within 30m", func(r *approvals.Request) {
				r.Status, r.Reason = approvals.Expired, "nobody decided within 30m"
			})
		}},
		{"cancelled", func() *life {
			return newLife(request()).step(time.Minute, approvals.EventCancelled, "alice", "", func(r *approvals.Request) {
				r.Status, r.Reason = approvals.Cancelled, "cancelled by alice"
			})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.life().card()
			if got == "" {
				t.Fatal("no card in the transcript")
			}
			golden.Check(t, "testdata/card-"+tc.name+".golden", got)
		})
	}
}

// TestCardInPlace checks that every event updates the one card rather than adding
// messages, and that an older snapshot never replaces a newer one.
func TestCardInPlace(t *testing.T) {
	l := newLife(request()).vote(time.Minute, "bob", approvals.Approve, "").running().progress(time.Second, "seeding")
	if n := len(l.c.transcript.msgs); n != 1 {
		t.Fatalf("transcript has %d messages, want the one card", n)
	}
	old := next(request(), t0, func(*approvals.Request) {}) // version 2: older than the running one
	l.c.Announce(context.Background(), approvals.Event{Kind: approvals.EventVoted, Request: old, Actor: "carol"})
	if got := l.card(); !strings.Contains(got, `data-status="running"`) {
		t.Errorf("an older snapshot replaced the newer one:\n%s", got)
	}
}

func TestReplyGolden(t *testing.T) {
	now := t0.Add(10 * time.Minute)
	pending := request()
	voted := next(twoApprovals(), t0.Add(time.Minute), func(r *approvals.Request) {
		r.ID, r.Command, r.CreatedAt, r.ExpiresAt = "r-8", "dag add-member E14-DAG EX10-MB01", t0.Add(time.Minute), t0.Add(31*time.Minute)
		r.Votes = []approvals.Vote{{Person: "bob", Decision: approvals.Approve, At: t0.Add(2 * time.Minute)}}
		r.Approvers = []string{"role:dag-owner"} // under a rule: requests says from whom
	})
	succeeded := next(request(), t0.Add(5*time.Minute), func(r *approvals.Request) {
		r.ID, r.Command = "r-6", `dag create E14-DAG witness=EX10-CAHT dir=C:\FSW`
		r.CreatedAt = t0.Add(-2 * time.Hour)
		r.Status, r.Reason = approvals.Succeeded, "done"
		r.Votes = []approvals.Vote{{Person: "bob", Decision: approvals.Approve, At: t0.Add(-110 * time.Minute)}}
	})
	denied := next(request(), t0, func(r *approvals.Request) {
		r.ID, r.Command, r.Requester = "r-5", "failover MB01 to=EX10-MB02", "bob"
		r.CreatedAt = t0.Add(-3 * time.Hour)
		r.Status, r.Reason = approvals.Denied, "denied by carol: <not> now"
		r.Votes = []approvals.Vote{{Person: "carol", Decision: approvals.Deny, Reason: "<not> now"}}
	})
	expired := next(request(), t0, func(r *approvals.Request) {
		r.ID, r.Command = "r-4", "dns add client 10.0.0.40 zone=msglab.local"
		r.CreatedAt = t0.Add(-50 * time.Hour)
		r.Status, r.Reason = approvals.Expired, "nobody decided within 30m"
	})
	cases := []struct {
		name string
		rep  bot.Reply
		to   string
	}{
		{"refused-findings", bot.Reply{Kind: bot.ReplyRefused, Private: true,
			Text: "this change cannot be offered for approval:\n- EX10-MB01 runs NLB: a DAG member must not",
			Findings: []commands.Finding{
				{Severity: commands.Blocker, Message: "EX10-MB01 runs NLB: a DAG member must not"},
				{Severity: commands.Warning, Message: "E14-DAG has <no> IP address"},
				{Severity: commands.Info, Message: "E14-DAG has 1 member"},
			}}, "alice"},
		{"refused-own", bot.Reply{Kind: bot.ReplyRefused, Private: true, Text: "r-7 is your own request: someone else must approve it."}, "alice"},
		{"requests", bot.Reply{Kind: bot.ReplyRequests, Private: true, Requests: []*approvals.Request{pending, voted}}, "carol"},
		{"requests-none", bot.Reply{Kind: bot.ReplyRequests, Private: true}, "carol"},
		{"history", bot.Reply{Kind: bot.ReplyHistory, Private: true, Requests: []*approvals.Request{pending, succeeded, denied, expired}}, "bob"},
		{"history-none", bot.Reply{Kind: bot.ReplyHistory, Private: true}, "bob"},
		{"help", bot.Reply{Kind: bot.ReplyHelp, Private: true, Text: "Commands:\n  dag create <name> witness=<server> dir=<path>\n"}, "dave"},
		{"error", bot.Reply{Kind: bot.ReplyError, Private: true, Text: "dag create: name=\"E14-DAG-IS-FAR-TOO-LONG\" must be at most 15 characters\nusage: dag create <name> witness=<server> dir=<path> [ip=<ip>[,<ip>]]"}, "alice"},
		{"working", bot.Reply{Kind: bot.ReplyWorking, Private: true, Text: "Running copy status (on EX10-CAHT)…"}, "dave"},
		{"result", bot.Reply{Kind: bot.ReplyResult, Text: "Copy status of every database.", Output: "Name          Status\nMB01\\EX10-MB01 Mounted\n"}, "dave"},
		{"result-failed", bot.Reply{Kind: bot.ReplyResult, Failed: true, Text: "copy status failed: EX10-CAHT is unreachable", Output: ""}, "dave"},
		{"voted", bot.Reply{Kind: bot.ReplyText, Private: true, Text: "You approved r-7; it runs now.", Request: pending}, "bob"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := New(nil, Options{People: demoPeople, Now: func() time.Time { return now }})
			rep := tc.rep
			rep.Now = now
			c.reply(tc.to, rep)
			got := c.transcript.msgs[0].HTML + "\n"
			golden.Check(t, "testdata/reply-"+tc.name+".golden", got)
			wantFor := ""
			if rep.Private {
				wantFor = tc.to
			}
			if f := c.transcript.msgs[0].For; f != wantFor {
				t.Errorf("for = %q, want %q", f, wantFor)
			}
		})
	}
}

func TestSaidGolden(t *testing.T) {
	c := New(nil, Options{People: demoPeople, Now: func() time.Time { return t0 }})
	c.said("alice", `casarray create "CAS <Array>" fqdn=client.msglab.local`)
	golden.Check(t, "testdata/said.golden", c.transcript.msgs[0].HTML+"\n")
}

// TestEscaping checks that nothing a person or a server can put in a request reaches
// the page as markup.
func TestEscaping(t *testing.T) {
	evil := `<script>alert(1)</script>`
	r := request()
	r.Command, r.Summary, r.Requester = "dag create "+evil, evil, evil
	r.Steps[0].Script, r.Steps[0].Purpose, r.Steps[0].Target = evil, evil, evil
	r.Findings = []commands.Finding{{Severity: commands.Warning, Message: evil}}
	l := newLife(r).vote(time.Minute, "bob", approvals.Deny, evil)
	c := l.c
	c.reply(evil, bot.Reply{Kind: bot.ReplyResult, Private: true, Text: evil, Output: evil})
	c.reply("bob", bot.Reply{Kind: bot.ReplyHistory, Requests: []*approvals.Request{l.r}})
	c.said("bob", evil)
	for _, m := range c.transcript.msgs {
		if strings.Contains(m.HTML, "<script") {
			t.Errorf("message %s holds raw markup:\n%s", m.ID, m.HTML)
		}
	}
}

func TestShownCutsLongOutput(t *testing.T) {
	long := strings.Repeat("é", maxShownOutput) // two bytes each: the cut falls inside a rune
	got := shown(long)
	if len(got) > maxShownOutput+100 {
		t.Errorf("shown kept %d bytes", len(got))
	}
	if !strings.Contains(got, "more bytes not shown") {
		t.Errorf("shown does not say it cut the output")
	}
	if !strings.HasPrefix(got, "éé") || !utf8.ValidString(got) {
		t.Errorf("shown cut a character in half")
	}
}
