package slack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	slackgo "github.com/slack-go/slack"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/golden"
)

// pendingCopy is a pending request as approvals makes it: a step, a wait, a lock,
// findings, and text that mrkdwn must not take for markup.
func pendingCopy() *approvals.Request {
	return &approvals.Request{
		ID: "r-7", Seq: 7, Version: 1,
		Command:   "copy add MB01 EX10-MB02",
		Summary:   "Add a copy of MB01 on EX10-MB02 & seed it.",
		Requester: "alice",
		Origin:    approvals.Origin{Platform: "slack", Channel: "C0OPS", User: "U0ALICE"},
		Steps: []commands.Step{{
			Target:  "EX10-CAHT",
			Purpose: "add the copy of MB01 on EX10-MB02",
			Script:  "Add-MailboxDatabaseCopy -Identity 'MB01' -MailboxServer 'EX10-MB02' 2>&1 | Out-Null\nif ($x -lt 1) { Write-Output \"<none> & 'quoted'\" }",
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

// then is r as the store returns it after a change: a copy, one version on, at.
func then(r *approvals.Request, at time.Time, change func(r *approvals.Request)) *approvals.Request {
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

var viaSlack = approvals.Origin{Platform: "slack", Channel: "C0APPROVALS", User: "U0BOB"}

func approvedBy(r *approvals.Request, person string, at time.Time) *approvals.Request {
	return then(r, at, func(r *approvals.Request) {
		r.Votes = append(r.Votes, approvals.Vote{Person: person, Decision: approvals.Approve, At: at, Via: viaSlack})
		if r.Needs() == 0 {
			r.Status, r.Reason = approvals.Approved, "approved by "+strings.Join(r.Approvals(), " and ")
		}
	})
}

func running(r *approvals.Request, at time.Time) *approvals.Request {
	return then(r, at, func(r *approvals.Request) {
		r.Status = approvals.Running
		r.Run = &approvals.Run{Owner: "test", StartedAt: at, Progress: "seeding MB01 to EX10-MB02: 40%"}
	})
}

func ended(r *approvals.Request, at time.Time, status approvals.Status, reason, output, runErr string) *approvals.Request {
	return then(r, at, func(r *approvals.Request) {
		r.Status, r.Reason = status, reason
		r.Run.FinishedAt, r.Run.Output, r.Run.Error = at, output, runErr
	})
}

// render is a message as JSON for a golden file, with <, > and & as Slack reads them.
func render(t *testing.T, m message) string {
	t.Helper()
	checkLimits(t, m)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	// Some blocks marshal themselves with encoding/json's HTML escapes; undo them so the
	// file reads as Slack does.
	return strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(b.String())
}

// checkLimits fails when a message breaks one of Block Kit's limits (Slack refuses
// such a message with invalid_blocks).
func checkLimits(t *testing.T, m message) {
	t.Helper()
	if n := len(m.Blocks); n > maxBlocks {
		t.Errorf("%d blocks, more than %d", n, maxBlocks)
	}
	count := utf8.RuneCountInString
	ids := map[string]bool{}
	for i, b := range m.Blocks {
		if id := b.ID(); id != "" {
			if ids[id] {
				t.Errorf("block %d: block_id %q repeats", i, id)
			}
			ids[id] = true
		}
		switch b := b.(type) {
		case *slackgo.HeaderBlock:
			if n := count(b.Text.Text); n > headerLimit {
				t.Errorf("block %d: header of %d characters", i, n)
			}
		case *slackgo.SectionBlock:
			if b.Text != nil && count(b.Text.Text) > sectionLimit {
				t.Errorf("block %d: section text of %d characters", i, count(b.Text.Text))
			}
			if len(b.Fields) > 10 {
				t.Errorf("block %d: %d fields", i, len(b.Fields))
			}
			for _, f := range b.Fields {
				if count(f.Text) > 2000 {
					t.Errorf("block %d: a field of %d characters", i, count(f.Text))
				}
			}
		case *slackgo.ContextBlock:
			if n := len(b.ContextElements.Elements); n > 10 {
				t.Errorf("block %d: %d context elements", i, n)
			}
		case *slackgo.ActionBlock:
			for _, e := range b.Elements.ElementSet {
				btn, ok := e.(*slackgo.ButtonBlockElement)
				if !ok {
					continue
				}
				if count(btn.Text.Text) > 75 || len(btn.Value) > 2000 || len(btn.ActionID) > 255 {
					t.Errorf("block %d: button %q over its limits", i, btn.Text.Text)
				}
				if c := btn.Confirm; c != nil && (count(c.Title.Text) > 100 || count(c.Text.Text) > 300 || count(c.Confirm.Text) > 30 || count(c.Deny.Text) > 30) {
					t.Errorf("block %d: confirmation over its limits", i)
				}
			}
		}
	}
}

func TestCardGolden(t *testing.T) {
	approved := func() *approvals.Request { return approvedBy(pendingCopy(), "bob", t0.Add(2*time.Minute)) }
	run := func() *approvals.Request { return running(approved(), t0.Add(2*time.Minute+time.Second)) }
	cases := []struct {
		name string
		r    func() *approvals.Request
	}{
		{"pending", pendingCopy},
		{"pending-console", func() *approvals.Request {
			r := pendingCopy()
			r.Origin = approvals.Origin{Platform: "console", Channel: "#exchange", User: "alice"}
			r.Findings, r.Wait, r.Lock = nil, nil, ""
			return r
		}},
		{"voted", func() *approvals.Request {
			r := pendingCopy()
			r.Required = 2
			return approvedBy(r, "bob", t0.Add(3*time.Minute))
		}},
		{"pending-rule", func() *approvals.Request {
			r := pendingCopy()
			r.Required, r.Approvers = 2, []string{"role:dag-owner"}
			return r
		}},
		{"voted-rule-other-team", func() *approvals.Request {
			r := pendingCopy()
			r.Required, r.Approvers, r.ExcludedTeam = 2, []string{"role:dns-admin", "bob"}, "messaging"
			return approvedBy(r, "bob", t0.Add(3*time.Minute))
		}},
		{"approved", approved},
		{"running", run},
		{"succeeded", func() *approvals.Request {
			return ended(run(), t0.Add(12*time.Minute), approvals.Succeeded, "done", "Name : MB01\\EX10-MB02\nStatus : Healthy\n", "")
		}},
		{"failed", func() *approvals.Request {
			return ended(run(), t0.Add(3*time.Minute), approvals.Failed, "the run failed: the copy <MB01> already exists", "WARNING: partial\n", "Add-MailboxDatabaseCopy: the copy <MB01> already exists")
		}},
		{"stale", func() *approvals.Request {
			return ended(running(approved(), t0.Add(3*time.Minute)), t0.Add(3*time.Minute+2*time.Second), approvals.Stale,
				"the organisation changed since the approval, so nothing ran; now blocker: MB01 has a copy on EX10-MB02", "", "")
		}},
		{"interrupted", func() *approvals.Request {
			reason := "exchops stopped while it was running; it will not run again by itself: check the organisation, then ask again if needed"
			return ended(run(), t0.Add(4*time.Minute), approvals.Interrupted, reason, "", "interrupted: "+reason)
		}},
		{"denied", func() *approvals.Request {
			return then(pendingCopy(), t0.Add(5*time.Minute), func(r *approvals.Request) {
				r.Votes = append(r.Votes, approvals.Vote{Person: "bob", Decision: approvals.Deny, At: t0.Add(5 * time.Minute), Via: viaSlack, Reason: "not during <business> hours"})
				r.Status, r.Reason = approvals.Denied, "denied by bob: not during <business> hours"
			})
		}},
		{"expired", func() *approvals.Request {
			return then(pendingCopy(), t0.Add(30*time.Minute), func(r *approvals.Request) {
				r.Status, r.Reason = approvals.Expired, "nobody decided within 30m"
			})
		}},
		{"cancelled", func() *approvals.Request {
			return then(pendingCopy(), t0.Add(time.Minute), func(r *approvals.Request) {
				r.Status, r.Reason = approvals.Cancelled, "cancelled by alice"
			})
		}},
		{"long-script", func() *approvals.Request {
			r := pendingCopy()
			r.Steps[0].Script = strings.Repeat("Set-MailboxDatabase -Identity 'MB01' -RpcClientAccessServer 'client.msglab.local' # <&>\n", 40)
			return r
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			golden.Check(t, "testdata/card-"+tc.name+".golden", render(t, cardMessage(tc.r())))
		})
	}
}

func TestResultGolden(t *testing.T) {
	run := running(approvedBy(pendingCopy(), "bob", t0.Add(time.Minute)), t0.Add(time.Minute))
	cases := []struct {
		name string
		r    *approvals.Request
	}{
		{"succeeded", ended(run, t0.Add(11*time.Minute), approvals.Succeeded, "done", "Name : MB01\\EX10-MB02\nStatus : Healthy\nCopyQueueLength : 0\n", "")},
		{"succeeded-quick", ended(run, t0.Add(time.Minute+300*time.Millisecond), approvals.Succeeded, "done", "", "")},
		{"failed", ended(run, t0.Add(2*time.Minute), approvals.Failed, "the run failed: the copy <MB01> already exists", "WARNING: partial\n", "Add-MailboxDatabaseCopy: the copy <MB01> already exists")},
		{"long-output", ended(run, t0.Add(15*time.Minute), approvals.Succeeded, "done", strings.Repeat("MB01\\EX10-MB02  Healthy  0  0\n", 300), "")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			golden.Check(t, "testdata/result-"+tc.name+".golden", render(t, resultMessage(tc.r)))
			_, file := outputFile(tc.r)
			if want := tc.name == "long-output"; file != want {
				t.Errorf("output attached as a file: %v, want %v", file, want)
			}
		})
	}
}

// TestThreadLinesGolden: the line each event adds to the card's thread.
func TestThreadLinesGolden(t *testing.T) {
	two := pendingCopy()
	two.Required = 2
	voted := approvedBy(two, "bob", t0.Add(time.Minute))
	ruled := pendingCopy()
	ruled.Required, ruled.Approvers = 2, []string{"role:dag-owner"}
	votedRule := approvedBy(ruled, "grace", t0.Add(time.Minute))
	approved := approvedBy(pendingCopy(), "bob", t0.Add(time.Minute))
	run := running(approved, t0.Add(time.Minute))
	events := []approvals.Event{
		{Kind: approvals.EventRequested, Request: pendingCopy(), Actor: "alice"},
		{Kind: approvals.EventVoted, Request: voted, Actor: "bob"},
		{Kind: approvals.EventVoted, Request: votedRule, Actor: "grace"},
		{Kind: approvals.EventApproved, Request: approved, Actor: "bob"},
		{Kind: approvals.EventRunning, Request: then(run, run.UpdatedAt, func(r *approvals.Request) {
			r.Run.Progress = "checking that the organisation is as the approvers saw it"
		}), Actor: approvals.Bot},
		{Kind: approvals.EventProgress, Request: run, Actor: approvals.Bot, Detail: "seeding MB01 to EX10-MB02: 40%"},
		{Kind: approvals.EventDenied, Request: then(pendingCopy(), t0, func(r *approvals.Request) {
			r.Status, r.Reason = approvals.Denied, "denied by bob: <not> now"
		}), Actor: "bob"},
		{Kind: approvals.EventExpired, Request: then(pendingCopy(), t0, func(r *approvals.Request) {
			r.Status, r.Reason = approvals.Expired, "nobody decided within 30m"
		}), Actor: approvals.Bot},
		{Kind: approvals.EventCancelled, Request: then(pendingCopy(), t0, func(r *approvals.Request) {
			r.Status, r.Reason = approvals.Cancelled, "cancelled by alice"
		}), Actor: "alice"},
		{Kind: approvals.EventStale, Request: ended(run, t0.Add(2*time.Minute), approvals.Stale, "the organisation changed since the approval, so nothing ran", "", ""), Actor: approvals.Bot},
		{Kind: approvals.EventInterrupted, Request: ended(run, t0.Add(2*time.Minute), approvals.Interrupted, "exchops stopped while it was running", "", ""), Actor: approvals.Bot},
	}
	var b strings.Builder
	for _, e := range events {
		line, ok := threadLine(e)
		if !ok {
			line = "(none)"
		}
		fmt.Fprintf(&b, "%-11s %s\n", e.Kind, line)
	}
	golden.Check(t, "testdata/thread-lines.golden", b.String())
}

func TestReplyGolden(t *testing.T) {
	now := t0.Add(10 * time.Minute)
	pending := pendingCopy()
	two := pendingCopy()
	two.Required = 2
	voted := then(approvedBy(two, "bob", t0.Add(2*time.Minute)), t0.Add(2*time.Minute), func(r *approvals.Request) {
		r.ID, r.Command, r.CreatedAt, r.ExpiresAt = "r-8", "dag add-member E14-DAG EX10-MB01", t0.Add(time.Minute), t0.Add(31*time.Minute)
		r.Approvers = []string{"role:dag-owner"} // under a rule: requests says from whom
	})
	succeeded := ended(running(approvedBy(pendingCopy(), "bob", t0.Add(-110*time.Minute)), t0.Add(-110*time.Minute)), t0.Add(-100*time.Minute), approvals.Succeeded, "done", "", "")
	succeeded.ID, succeeded.Command, succeeded.CreatedAt = "r-6", `dag create E14-DAG witness=EX10-CAHT dir=C:\FSW`, t0.Add(-2*time.Hour)
	denied := then(pendingCopy(), t0, func(r *approvals.Request) {
		r.ID, r.Command, r.Requester = "r-5", "failover MB01 to=EX10-MB02", "bob"
		r.CreatedAt = t0.Add(-3 * time.Hour)
		r.Status, r.Reason = approvals.Denied, "denied by carol: <not> now"
		r.Votes = []approvals.Vote{{Person: "carol", Decision: approvals.Deny, Reason: "<not> now"}}
	})
	expired := then(pendingCopy(), t0, func(r *approvals.Request) {
		r.ID, r.Command = "r-4", "dns add client 10.0.0.40 zone=msglab.local"
		r.CreatedAt = t0.Add(-50 * time.Hour)
		r.Status, r.Reason = approvals.Expired, "nobody decided within 30m"
	})
	health := "Server     Check              Result  Error\n" +
		"EX10-MB01  ReplayService      Passed\n" +
		"EX10-MB01  DBCopySuspended    Passed\n" +
		"EX10-MB02  DBCopyFailed       *FAILED* MB02\\EX10-MB02 is Failed: the log <E00> is missing\n" +
		"\nDatabase         Status   CopyQueue ReplayQueue ContentIndex\n" +
		"MB01\\EX10-MB01   Mounted  0         0           Healthy\n" +
		"MB01\\EX10-MB02   Healthy  0         2           Healthy\n" +
		"MB02\\EX10-MB02   Failed   112       0           Failed\n"
	here := replyContext{channel: "C0OPS"}
	elsewhere := replyContext{channel: "C0OPS", cards: "C0APPROVALS"}
	cases := []struct {
		name string
		rep  bot.Reply
		rc   replyContext
	}{
		{"working", bot.Reply{Kind: bot.ReplyWorking, Text: "Planning dag create E14-DAG witness=EX10-CAHT dir=C:\\FSW: reading the organisation first…"}, here},
		{"request-elsewhere", bot.Reply{Kind: bot.ReplyRequest, Request: pending, Text: "r-7 is waiting for 1 approval from someone other than you; it expires at 10:00 UTC."}, elsewhere},
		{"request-here", bot.Reply{Kind: bot.ReplyRequest, Request: pending, Text: "r-7 is waiting for 1 approval from someone other than you; it expires at 10:00 UTC."}, here},
		{"requests", bot.Reply{Kind: bot.ReplyRequests, Requests: []*approvals.Request{pending, voted}}, here},
		{"requests-none", bot.Reply{Kind: bot.ReplyRequests}, here},
		{"history", bot.Reply{Kind: bot.ReplyHistory, Requests: []*approvals.Request{pending, succeeded, denied, expired}}, here},
		{"history-none", bot.Reply{Kind: bot.ReplyHistory}, here},
		{"help", bot.Reply{Kind: bot.ReplyHelp, Text: "Commands:\n  dag create <name> witness=<server> dir=<path>\n  requests\n"}, here},
		{"health", bot.Reply{Kind: bot.ReplyResult, Text: "Replication health of E14-DAG: 1 check failed.", Output: health}, here},
		{"result-failed", bot.Reply{Kind: bot.ReplyResult, Failed: true, Text: "copy status failed: EX10-CAHT is unreachable"}, here},
		{"refused-findings", bot.Reply{Kind: bot.ReplyRefused, Text: "this change cannot be offered for approval:\n- EX10-MB01 runs NLB: a DAG member must not",
			Findings: []commands.Finding{
				{Severity: commands.Blocker, Message: "EX10-MB01 runs NLB: a DAG member must not"},
				{Severity: commands.Warning, Message: "E14-DAG has <no> IP address"},
				{Severity: commands.Info, Message: "E14-DAG has 1 member"},
			}}, here},
		{"refused-own", bot.Reply{Kind: bot.ReplyRefused, Text: "r-7 is your own request: someone else must approve it."}, elsewhere},
		{"error", bot.Reply{Kind: bot.ReplyError, Text: "dag create: name=\"E14-DAG-IS-FAR-TOO-LONG\" must be at most 15 characters\nusage: dag create <name> witness=<server> dir=<path> [ip=<ip>[,<ip>]]"}, here},
		{"voted", bot.Reply{Kind: bot.ReplyText, Text: "You approved r-7; it runs now.", Request: pending}, elsewhere},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := tc.rep
			rep.Private, rep.Now = true, now
			golden.Check(t, "testdata/reply-"+tc.name+".golden", render(t, renderReply(rep, tc.rc)))
		})
	}
}

// TestLimitsUnderPressure: whatever the size of a plan, an output or a list, the
// messages stay within Block Kit's limits.
func TestLimitsUnderPressure(t *testing.T) {
	huge := strings.Repeat("x", 10000)
	long := strings.Repeat("a line of output <&>\n", 5000)
	r := pendingCopy()
	r.Command = "dag create " + strings.Repeat("E", 400)
	r.Summary = huge
	for i := range 60 {
		r.Steps = append(r.Steps, commands.Step{Target: fmt.Sprintf("EX10-MB%02d", i), Purpose: huge, Script: long})
	}
	for range 30 {
		r.Findings = append(r.Findings, commands.Finding{Severity: commands.Warning, Message: huge})
	}
	checkLimits(t, cardMessage(r))
	if f, ok := planFile(r); !ok || !strings.Contains(f.Content, "step 60 of 61") {
		t.Error("a 61-step plan is not attached in full")
	}
	var many []*approvals.Request
	for range 200 {
		many = append(many, r)
	}
	for _, rep := range []bot.Reply{
		{Kind: bot.ReplyResult, Text: huge, Output: long},
		{Kind: bot.ReplyResult, Text: "one long line", Output: huge + huge},
		{Kind: bot.ReplyHelp, Text: long},
		{Kind: bot.ReplyRequests, Requests: many, Now: t0},
		{Kind: bot.ReplyHistory, Requests: many, Now: t0},
		{Kind: bot.ReplyRefused, Text: huge, Findings: r.Findings},
		{Kind: bot.ReplyError, Text: huge},
	} {
		checkLimits(t, renderReply(rep, replyContext{}))
	}
	done := ended(running(approvedBy(pendingCopy(), "bob", t0), t0), t0.Add(time.Minute), approvals.Failed, huge, long, huge)
	checkLimits(t, resultMessage(done))
}

// TestEscaping: nothing a person or a server writes can mention @channel, link or
// break out of a code block.
func TestEscaping(t *testing.T) {
	evil := "<!channel> <@U0BOB> <https://evil.example|click> ``` *bold*"
	r := pendingCopy()
	r.Command, r.Summary, r.Requester = "dag create "+evil, evil, evil
	r.Steps[0].Script, r.Steps[0].Purpose, r.Steps[0].Target = evil, evil, evil
	r.Findings = []commands.Finding{{Severity: commands.Warning, Message: evil}}
	r = then(r, t0, func(r *approvals.Request) {
		r.Votes = []approvals.Vote{{Person: "bob", Decision: approvals.Deny, At: t0, Reason: evil, Via: viaSlack}}
		r.Status, r.Reason = approvals.Denied, "denied by bob: "+evil
	})
	msgs := []message{
		cardMessage(r),
		renderReply(bot.Reply{Kind: bot.ReplyResult, Text: evil, Output: evil}, replyContext{}),
		renderReply(bot.Reply{Kind: bot.ReplyHistory, Requests: []*approvals.Request{r}, Now: t0}, replyContext{}),
		renderReply(bot.Reply{Kind: bot.ReplyRefused, Text: evil}, replyContext{}),
	}
	line, _ := threadLine(approvals.Event{Kind: approvals.EventDenied, Request: r, Actor: "bob"})
	msgs = append(msgs, message{Text: line})
	for i, m := range msgs {
		js := render(t, m)
		for _, bad := range []string{"<!channel>", "<@U0BOB>", "<https://evil"} {
			if strings.Contains(js, bad) {
				t.Errorf("message %d passes %s through:\n%s", i, bad, js)
			}
		}
	}
	if b, _ := codeBlock("a\n```\nb", 100); strings.Count(b, "```") != 2 {
		t.Errorf("a code block can be closed from inside: %q", b)
	}
}

func TestCodeBlockCuts(t *testing.T) {
	long := strings.Repeat("é & <x>\n", 2000)
	b, cut := codeBlock(long, codeLimit)
	if !cut || utf8.RuneCountInString(b) > codeLimit || !utf8.ValidString(b) {
		t.Fatalf("cut=%v, %d characters, valid UTF-8 %v", cut, utf8.RuneCountInString(b), utf8.ValidString(b))
	}
	if !strings.HasSuffix(b, "more lines)\n```") {
		t.Errorf("the cut block does not say what is missing: …%s", b[len(b)-60:])
	}
	body := strings.TrimSuffix(strings.TrimPrefix(b, "```\n"), "\n```")
	if i := strings.LastIndexByte(body, '&'); i >= 0 && !strings.HasPrefix(body[i:], "&amp;") && !strings.HasPrefix(body[i:], "&lt;") && !strings.HasPrefix(body[i:], "&gt;") {
		t.Errorf("the cut fell inside an escape: %q", body[i:])
	}
	if short, cut := codeBlock("Get-DatabaseAvailabilityGroup", codeLimit); cut || short != "```\nGet-DatabaseAvailabilityGroup\n```" {
		t.Errorf("short block = %q, cut %v", short, cut)
	}
	blocks, cut := codeBlocks(long, codeLimit, 3)
	if len(blocks) != 3 || !cut {
		t.Errorf("codeBlocks gave %d blocks, cut %v; want 3, cut", len(blocks), cut)
	}
}
