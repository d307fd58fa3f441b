package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/commands"
)

const dagCreate = `dag create E14-DAG witness=EX10-CAHT dir=C:\FSW`

func isUpdateOf(ts string) func(call) bool { return func(c call) bool { return c.TS == ts } }

func inThread(ts string) func(call) bool { return func(c call) bool { return c.Thread == ts } }

func forUser(user string) func(call) bool { return func(c call) bool { return c.User == user } }

// TestApprovalFlow is the story of a change on Slack, over both transports: alice asks
// for a DAG; the acknowledgement says exchops is planning; the card reaches the
// approvals channel with the exact PowerShell; alice is told where it is; her own
// Approve is refused to her alone; bob approves; the card is updated in place and the
// result arrives in its thread.
func TestApprovalFlow(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := newHarness(t, options{socket: m.socket, approvals: "C0APPROVALS"})
			a := h.command("U0ALICE", "C0OPS", dagCreate)
			if a.Status != http.StatusOK || !strings.Contains(a.Body, `"response_type":"ephemeral"`) || !strings.Contains(a.Body, "Planning dag create E14-DAG") {
				t.Fatalf("acknowledgement = %d %s, want an ephemeral \"Planning…\"", a.Status, a.Body)
			}

			card := h.card("r-1", "C0APPROVALS")
			for _, want := range []string{
				"New-DatabaseAvailabilityGroup -Name 'E14-DAG' -WitnessServer 'EX10-CAHT' -WitnessDirectory 'C:\\\\FSW'",
				`"action_id":"approve"`, `"style":"primary"`, `"confirm":`, `"action_id":"deny"`, `"style":"danger"`,
				"r-1 · waiting for approval", "alice in Slack <#C0OPS>", "`EX10-CAHT`", "<!date^",
			} {
				if !strings.Contains(card.Blocks, want) {
					t.Errorf("the card lacks %s:\n%s", want, card.Blocks)
				}
			}
			h.waitFor("alice told where the card is", "response_url", nil, "r-1 is waiting for 1 approval", "<#C0APPROVALS>")

			h.click("U0ALICE", "C0APPROVALS", card.TS, "approve", "r-1")
			refusal := h.waitFor("alice's refusal", "chat.postEphemeral", forUser("U0ALICE"), "r-1 is your own request")
			if refusal.Channel != "C0APPROVALS" {
				t.Errorf("the refusal went to %s, want the card's channel", refusal.Channel)
			}
			if n := len(h.fake.Find("chat.update", nil)); n != 0 {
				t.Errorf("a refused vote updated the card %d times", n)
			}

			h.click("U0BOB", "C0APPROVALS", card.TS, "approve", "r-1")
			h.waitFor("bob's confirmation", "chat.postEphemeral", forUser("U0BOB"), "You approved r-1")
			final := h.waitFor("the card to show success", "chat.update", isUpdateOf(card.TS), "r-1 · succeeded")
			if strings.Contains(final.Blocks, `"action_id":"approve"`) {
				t.Error("the finished card still offers Approve")
			}
			if !strings.Contains(final.Blocks, "*bob* approved") {
				t.Errorf("the finished card does not say who approved:\n%s", final.Blocks)
			}
			h.waitFor("the approval in the thread", "chat.postMessage", inThread(card.TS), "Approved by bob")
			h.waitFor("progress in the thread", "chat.postMessage", inThread(card.TS), "running step 1 of 1")
			h.waitFor("the result in the thread", "chat.postMessage", inThread(card.TS), "r-1 succeeded", "output of dag create E14-DAG")
			h.quiet()

			r, err := h.svc.Get(context.Background(), "r-1")
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != approvals.Succeeded {
				t.Errorf("r-1 is %s, want succeeded", r.Status)
			}
			if len(r.Cards) != 1 || r.Cards[0] != (approvals.Card{Platform: "slack", Channel: "C0APPROVALS", MessageID: card.TS}) {
				t.Errorf("r-1's cards = %+v, want the Slack card", r.Cards)
			}
			if n := len(h.fake.Find("chat.postMessage", func(c call) bool { return c.Thread == "" })); n != 1 {
				t.Errorf("%d top-level posts, want the one card:\n%s", n, h.fake.Summary())
			}
			if h.undelivered() != 0 {
				t.Error("posts left in the outbox")
			}
		})
	}
}

// TestDenyFlow: bob denies alice's request; the card says so and loses its buttons;
// carol's later click is refused to her alone.
func TestDenyFlow(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := newHarness(t, options{socket: m.socket})
			h.command("U0ALICE", "C0OPS", "copy add MB01 EX10-MB02")
			card := h.card("r-1", "C0OPS") // no approvals channel: the card goes where alice asked
			h.waitFor("alice told where the card is", "response_url", nil, "r-1 is waiting", "Its card is in this channel")

			h.click("U0BOB", "C0OPS", card.TS, "deny", "r-1")
			h.waitFor("bob's confirmation", "chat.postEphemeral", forUser("U0BOB"), "You denied r-1")
			denied := h.waitFor("the denied card", "chat.update", isUpdateOf(card.TS), "r-1 · denied", "Denied by bob")
			if strings.Contains(denied.Blocks, `"type":"actions"`) {
				t.Error("the denied card still has buttons")
			}
			h.waitFor("the denial in the thread", "chat.postMessage", inThread(card.TS), "Denied by bob")

			h.click("U0CAROL", "C0OPS", card.TS, "approve", "r-1")
			h.waitFor("carol's refusal", "chat.postEphemeral", forUser("U0CAROL"), "r-1 is already denied")
			h.quiet()
			if r, _ := h.svc.Get(context.Background(), "r-1"); r.Status != approvals.Denied {
				t.Errorf("r-1 is %s, want denied", r.Status)
			}
		})
	}
}

// TestExpiryFlow: nobody decides; when the clock passes the expiry the card says the
// request expired and offers nothing more; a late click is refused.
func TestExpiryFlow(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := newHarness(t, options{socket: m.socket, approvals: "C0APPROVALS"})
			h.command("U0ALICE", "C0OPS", dagCreate)
			card := h.card("r-1", "C0APPROVALS")
			expired := func() bool {
				return len(h.fake.Find("chat.update", func(c call) bool {
					return c.TS == card.TS && strings.Contains(c.Blocks, "r-1 · expired")
				})) > 0
			}
			h.advanceUntil("the card to expire", time.Minute, expired)
			up := h.waitFor("the expired card", "chat.update", isUpdateOf(card.TS), "r-1 · expired", "Expired: nobody decided within 30m")
			if strings.Contains(up.Blocks, `"type":"actions"`) {
				t.Error("the expired card still has buttons")
			}
			h.waitFor("the expiry in the thread", "chat.postMessage", inThread(card.TS), "Expired: nobody decided within 30m")
			h.click("U0BOB", "C0APPROVALS", card.TS, "approve", "r-1")
			h.waitFor("bob's refusal", "chat.postEphemeral", forUser("U0BOB"), "r-1 is already expired")
		})
	}
}

// TestReplayedCommand: Slack delivers the same command twice (same trigger_id); one
// request exists and one card is posted. The same goes for a click.
func TestReplayedCommand(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := newHarness(t, options{socket: m.socket, approvals: "C0APPROVALS"})
			c := h.newSlash("U0ALICE", "C0OPS", dagCreate)
			if a := h.send(c); !strings.Contains(a.Body, "Planning") {
				t.Fatalf("first delivery acknowledged with %s", a.Body)
			}
			if a := h.send(c); a.Status != http.StatusOK || a.Body != "" {
				t.Fatalf("the replay was acknowledged with %d %q, want an empty 200", a.Status, a.Body)
			}
			card := h.card("r-1", "C0APPROVALS")
			click := h.clickPayload("U0BOB", "C0APPROVALS", card.TS, "deny", "r-1")
			h.sendClick(click)
			h.sendClick(click)
			h.waitFor("the denial", "chat.update", isUpdateOf(card.TS), "r-1 · denied")
			h.quiet()
			if n := len(h.history()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
			if n := len(h.fake.Find("chat.postMessage", func(c call) bool { return c.Thread == "" })); n != 1 {
				t.Errorf("%d cards, want 1", n)
			}
			if n := len(h.fake.Find("chat.postEphemeral", forUser("U0BOB"))); n != 1 {
				t.Errorf("bob was told %d times, want once (the replayed click is ignored)", n)
			}
		})
	}
}

// TestBadSignatures: unsigned, wrongly signed, stale and tampered requests get 401 and
// change nothing: no request, no post, and not even the delivery is remembered (the
// properly signed command with the same trigger_id is then taken).
func TestBadSignatures(t *testing.T) {
	h := newHarness(t, options{approvals: "C0APPROVALS"})
	c := h.newSlash("U0ALICE", "C0OPS", dagCreate)
	body := c.form().Encode()
	tampered := strings.Replace(body, "E14-DAG", "E15-DAG", 1)
	unsigned := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	click := url2body(h.clickPayload("U0BOB", "C0APPROVALS", "1700000000.000001", "approve", "r-1"))
	cases := []struct {
		name, path, body string
		hd               http.Header
	}{
		{"unsigned", "/slack/commands", body, unsigned},
		{"wrong secret", "/slack/commands", body, sign("not-the-secret", time.Now(), body)},
		{"stale", "/slack/commands", body, sign(testSecret, time.Now().Add(-6*time.Minute), body)},
		{"from the future", "/slack/commands", body, sign(testSecret, time.Now().Add(6*time.Minute), body)},
		{"tampered", "/slack/commands", tampered, sign(testSecret, time.Now(), body)},
		{"garbled signature", "/slack/commands", body, func() http.Header {
			hd := sign(testSecret, time.Now(), body)
			hd.Set("X-Slack-Signature", "v0=zz")
			return hd
		}()},
		{"unsigned click", "/slack/interactions", click, unsigned},
		{"wrong secret click", "/slack/interactions", click, sign("not-the-secret", time.Now(), click)},
	}
	for _, tc := range cases {
		if status, _ := h.postSigned(tc.path, tc.body, tc.hd); status != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", tc.name, status)
		}
	}
	h.quiet()
	if n := len(h.history()); n != 0 {
		t.Fatalf("%d requests after bad signatures, want none", n)
	}
	if s := h.fake.Summary(); s != "" {
		t.Fatalf("bad signatures reached Slack:\n%s", s)
	}
	if !strings.Contains(h.logs.String(), "bad, missing or stale signature") {
		t.Error("refusals are not logged")
	}
	// The same trigger_id, properly signed, is new: the refusals left no trace.
	if a := h.send(c); !strings.Contains(a.Body, "Planning") {
		t.Fatalf("the signed command after the refusals was acknowledged with %s", a.Body)
	}
	h.card("r-1", "C0APPROVALS")
}

func url2body(payload map[string]any) string {
	b, _ := json.Marshal(payload)
	return "payload=" + strings.NewReplacer("%", "%25", "&", "%26", "+", "%2B", "=", "%3D", " ", "+").Replace(string(b))
}

// TestRateLimitedPost: Slack answers the card's chat.postMessage with 429 and
// Retry-After: 1; the front waits that long (on its clock) and posts again.
func TestRateLimitedPost(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := newHarness(t, options{socket: m.socket, approvals: "C0APPROVALS"})
			h.fake.Fail("chat.postMessage", http.StatusTooManyRequests, "1", 1)
			h.command("U0ALICE", "C0OPS", dagCreate)
			posted := func() bool { return len(h.fake.Delivered("chat.postMessage", "r-1 · ")) > 0 }
			h.fake.Until(t, "the rate-limited attempt", func() bool { return len(h.fake.Find("chat.postMessage", nil)) > 0 })
			h.advanceUntil("the card after the retry", 250*time.Millisecond, posted)
			tries := h.fake.Find("chat.postMessage", func(c call) bool { return c.Channel == "C0APPROVALS" })
			if len(tries) != 2 || tries[0].Status != http.StatusTooManyRequests || tries[1].Status != http.StatusOK {
				t.Fatalf("attempts:\n%s", h.fake.Summary())
			}
			if gap := tries[1].At.Sub(tries[0].At); gap < time.Second {
				t.Errorf("retried %s after the 429, want at least Retry-After (1s)", gap)
			}
			h.quiet()
			if h.undelivered() != 0 {
				t.Error("the retried post also went to the outbox")
			}
			if h.posts("failed") != 1 {
				t.Errorf("failed posts = %v, want 1", h.posts("failed"))
			}
		})
	}
}

// TestServerErrorsGoToTheOutbox: chat.postMessage keeps failing with 500; after a few
// quick tries the card is kept in the outbox, and the worker posts it once Slack
// recovers: the card is attached to the request and bob can approve from it.
func TestServerErrorsGoToTheOutbox(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := newHarness(t, options{socket: m.socket, approvals: "C0APPROVALS"})
			h.fake.Fail("chat.postMessage", http.StatusInternalServerError, "", -1)
			h.command("U0ALICE", "C0OPS", dagCreate)
			h.advanceUntil("the card in the outbox", 500*time.Millisecond, func() bool { return h.undelivered() == 1 })
			if n := len(h.fake.Find("chat.postMessage", nil)); n != bot.InlineAttempts {
				t.Errorf("%d attempts before the outbox, want %d", n, bot.InlineAttempts)
			}
			h.fake.Until(t, "the lane to give up", h.s.Idle)

			h.fake.Recover("chat.postMessage")
			h.advanceUntil("the card from the outbox", time.Second, func() bool { return h.undelivered() == 0 })
			card := h.card("r-1", "C0APPROVALS")
			h.fake.Until(t, "the card attached", func() bool {
				r, err := h.svc.Get(context.Background(), "r-1")
				return err == nil && len(r.Cards) == 1 && r.Cards[0].MessageID == card.TS
			})
			if h.posts("failed") < bot.InlineAttempts || h.posts("sent") < 1 {
				t.Errorf("metrics: %v failed, %v sent", h.posts("failed"), h.posts("sent"))
			}

			h.click("U0BOB", "C0APPROVALS", card.TS, "approve", "r-1")
			h.waitFor("the card updated after all", "chat.update", isUpdateOf(card.TS), "r-1 · succeeded")
			h.waitFor("the result in the thread", "chat.postMessage", inThread(card.TS), "r-1 succeeded")
		})
	}
}

// TestThreadWaitsForItsCard: when the card cannot be posted, what follows in its
// thread waits in the outbox too and is posted, in the thread, after the card.
func TestThreadWaitsForItsCard(t *testing.T) {
	h := newHarness(t, options{approvals: "C0APPROVALS"})
	h.fake.Fail("chat.postMessage", http.StatusServiceUnavailable, "", -1)
	h.command("U0ALICE", "C0OPS", dagCreate)
	h.advanceUntil("the card in the outbox", 500*time.Millisecond, func() bool { return h.undelivered() == 1 })
	h.fake.Until(t, "the lane to give up", h.s.Idle)
	// bob approves by command while the card is missing.
	if a := h.command("U0BOB", "C0OPS", "approve r-1"); !strings.Contains(a.Body, "You approved r-1") {
		t.Fatalf("bob's approval acknowledged with %s", a.Body)
	}
	h.svc.Wait()
	h.fake.Until(t, "the lane to queue the thread", h.s.Idle)
	if h.undelivered() < 2 {
		t.Fatalf("%d posts in the outbox, want the card and its thread", h.undelivered())
	}
	h.fake.Recover("chat.postMessage")
	h.advanceUntil("the outbox to empty", time.Second, func() bool { return h.undelivered() == 0 })
	posts := h.fake.Delivered("chat.postMessage")
	if len(posts) == 0 || posts[0].Thread != "" || !strings.Contains(posts[0].Blocks, "r-1 · succeeded") {
		t.Fatalf("the first post delivered is not the card, showing the latest state:\n%s", h.fake.Summary())
	}
	for _, p := range posts[1:] {
		if p.Thread != posts[0].TS {
			t.Errorf("a post outside the card's thread: %+v", p)
		}
	}
	h.waitFor("the result in the thread", "chat.postMessage", inThread(posts[0].TS), "r-1 succeeded")
}

// TestUnknownUser: someone exchops does not know is refused politely, and nothing is
// stored or posted in a channel.
func TestUnknownUser(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := newHarness(t, options{socket: m.socket, approvals: "C0APPROVALS"})
			a := h.command("U0MALLORY", "C0OPS", dagCreate)
			if !strings.Contains(a.Body, "does not know you") || !strings.Contains(a.Body, "Slack user id") {
				t.Fatalf("acknowledgement = %s", a.Body)
			}
			h.click("U0MALLORY", "C0APPROVALS", "1700000000.000001", "approve", "r-1")
			h.waitFor("the click's refusal", "chat.postEphemeral", forUser("U0MALLORY"), "does not know you")
			h.quiet()
			if n := len(h.history()); n != 0 {
				t.Errorf("%d requests, want none", n)
			}
			if n := len(h.fake.Find("chat.postMessage", nil)); n != 0 {
				t.Errorf("%d channel posts, want none", n)
			}
		})
	}
}

// TestCrossPlatformCard: a request made in the console gets a card in the approvals
// channel, and an approver approves it from Slack.
func TestCrossPlatformCard(t *testing.T) {
	h := newHarness(t, options{approvals: "C0APPROVALS"})
	done := make(chan struct{}, 4)
	h.core.Handle(context.Background(), bot.Invocation{Platform: "console", User: "alice", Channel: "#exchange", Text: dagCreate},
		func(bot.Reply) { done <- struct{}{} })
	card := h.card("r-1", "C0APPROVALS")
	if !strings.Contains(card.Blocks, "alice in the console") {
		t.Errorf("the card does not say where it was asked:\n%s", card.Blocks)
	}
	h.click("U0BOB", "C0APPROVALS", card.TS, "approve", "r-1")
	h.waitFor("the card to succeed", "chat.update", isUpdateOf(card.TS), "r-1 · succeeded")
}

// TestNoCardWithoutAChannel: without an approvals channel, a console request gets no
// Slack card (there is no channel to put it in).
func TestNoCardWithoutAChannel(t *testing.T) {
	h := newHarness(t, options{})
	h.core.Handle(context.Background(), bot.Invocation{Platform: "console", User: "alice", Channel: "#exchange", Text: dagCreate}, func(bot.Reply) {})
	h.core.Wait()
	h.quiet()
	if s := h.fake.Summary(); s != "" {
		t.Errorf("posts for a console request without an approvals channel:\n%s", s)
	}
}

// TestLongOutputIsAFile: a run's output too long for the thread is uploaded there as a
// file (the v2 flow: an upload URL, the upload, then completing it in the thread).
func TestLongOutputIsAFile(t *testing.T) {
	long := strings.Repeat("Identity: MB01\\EX10-MB02  Status: Healthy  CopyQueueLength: 0 <ok>\n", 200)
	h := newHarness(t, options{approvals: "C0APPROVALS", output: func(*commands.Plan) string { return long }})
	h.command("U0ALICE", "C0OPS", dagCreate)
	card := h.card("r-1", "C0APPROVALS")
	h.click("U0BOB", "C0APPROVALS", card.TS, "approve", "r-1")
	h.waitFor("the result", "chat.postMessage", inThread(card.TS), "r-1 succeeded", "attached below as r-1-output.txt")
	done := h.waitFor("the upload completed in the thread", "files.completeUploadExternal", inThread(card.TS))
	if done.Channel != "C0APPROVALS" {
		t.Errorf("the file went to %q", done.Channel)
	}
	got := h.fake.Upload(done.TS)
	if got != long {
		t.Errorf("uploaded %d bytes, want the whole output (%d bytes)", len(got), len(long))
	}
	if n := len(h.fake.Find("files.getUploadURLExternal", func(c call) bool { return c.Text == "r-1-output.txt" })); n != 1 {
		t.Errorf("%d upload URLs asked for r-1-output.txt", n)
	}
}

// TestLongScriptIsAttached: a plan too long for the card is shortened there and
// attached in full in the card's thread.
func TestLongScriptIsAttached(t *testing.T) {
	h := newHarness(t, options{approvals: "C0APPROVALS"})
	script := strings.Repeat("Set-MailboxDatabase -Identity 'MB01' -RpcClientAccessServer 'client.msglab.local'\n", 60)
	r := &approvals.Request{
		Command: "casarray assign client.msglab.local", Summary: "Point every database at the CAS array.", Requester: "alice",
		Origin:   approvals.Origin{Platform: "slack", Channel: "C0OPS", User: "U0ALICE"},
		Steps:    []commands.Step{{Target: "EX10-CAHT", Purpose: "set RpcClientAccessServer", Script: script}},
		Required: 1, Status: approvals.Pending, CreatedAt: t0, ExpiresAt: t0.Add(30 * time.Minute), UpdatedAt: t0,
	}
	if err := h.db.Create(context.Background(), r, approvals.AuditEvent{At: t0, Actor: "alice", Event: "requested"}); err != nil {
		t.Fatal(err)
	}
	h.s.Announce(context.Background(), approvals.Event{Kind: approvals.EventRequested, Request: r, Actor: "alice"})
	card := h.card(r.ID, "C0APPROVALS")
	if !strings.Contains(card.Blocks, "shortened here") || !strings.Contains(card.Blocks, "more lines") {
		t.Errorf("the card does not say the script is cut:\n%s", card.Blocks)
	}
	done := h.waitFor("the plan attached in the thread", "files.completeUploadExternal", inThread(card.TS))
	got := h.fake.Upload(done.TS)
	if !strings.Contains(got, strings.TrimSpace(script)) || !strings.Contains(got, "step 1 of 1 on EX10-CAHT") {
		t.Errorf("the attached plan is not the full script:\n%.300s", got)
	}
}

// TestSocketModeReconnects: when Slack drops the websocket, or asks the client to
// reconnect, the front connects again and takes the next command.
func TestSocketModeReconnects(t *testing.T) {
	h := newHarness(t, options{socket: true, approvals: "C0APPROVALS"})
	if a := h.command("U0ALICE", "C0OPS", "requests"); !strings.Contains(a.Body, "No requests are waiting") {
		t.Fatalf("acknowledgement = %s", a.Body)
	}
	h.fake.DropSocket()
	h.fake.Until(t, "a second connection", func() bool { return h.fake.Connections() >= 2 })
	if a := h.command("U0ALICE", "C0OPS", dagCreate); !strings.Contains(a.Body, "Planning") {
		t.Fatalf("after reconnecting: acknowledgement = %s", a.Body)
	}
	h.card("r-1", "C0APPROVALS")

	h.fake.Disconnect(t)
	h.fake.Until(t, "a third connection", func() bool { return h.fake.Connections() >= 3 })
	if a := h.command("U0BOB", "C0OPS", "requests"); !strings.Contains(a.Body, "r-1") {
		t.Fatalf("after a refresh: acknowledgement = %s", a.Body)
	}
	if n := len(h.fake.Find("apps.connections.open", nil)); n < 3 {
		t.Errorf("apps.connections.open called %d times, want a call per connection", n)
	}
}

// TestBotCommandsAnswerInBlocks: requests, history and help come back as Block Kit in
// the acknowledgement.
func TestBotCommandsAnswerInBlocks(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := newHarness(t, options{socket: m.socket, approvals: "C0APPROVALS"})
			h.command("U0ALICE", "C0OPS", dagCreate)
			h.card("r-1", "C0APPROVALS")
			for _, tc := range []struct{ text, want string }{
				{"requests", "*Waiting for approval* (1)"},
				{"history", "*Recent requests* (1)"},
				{"help", "dag create"},
				{"copy status", "output of copy status"},
			} {
				a := h.command("U0BOB", "C0OPS", tc.text)
				var msg struct {
					ResponseType string            `json:"response_type"`
					Blocks       []json.RawMessage `json:"blocks"`
				}
				if err := json.Unmarshal([]byte(a.Body), &msg); err != nil {
					t.Fatalf("%s: acknowledgement is not a message: %v: %s", tc.text, err, a.Body)
				}
				if msg.ResponseType != "ephemeral" || len(msg.Blocks) == 0 {
					t.Errorf("%s: acknowledgement %s", tc.text, a.Body)
				}
				if tc.text == "copy status" {
					// Read-only: the acknowledgement says it runs; the output follows.
					h.waitFor("the read-only result", "response_url", nil, tc.want)
					continue
				}
				if !strings.Contains(a.Body, tc.want) {
					t.Errorf("%s: acknowledgement lacks %q: %s", tc.text, tc.want, a.Body)
				}
			}
		})
	}
}

// TestAnnouncementsAfterCloseAreKept: what happens while the front is closed (say,
// during a restart) goes to the outbox, and the next front delivers it: the card is
// updated from the request as stored and the thread gets what it missed.
func TestAnnouncementsAfterCloseAreKept(t *testing.T) {
	h := newHarness(t, options{approvals: "C0APPROVALS"})
	h.command("U0ALICE", "C0OPS", dagCreate)
	card := h.card("r-1", "C0APPROVALS")
	h.quiet()
	h.s.Close()

	h.core.Act(context.Background(), bot.Action{Platform: "slack", User: "U0BOB", Channel: "C0APPROVALS", RequestID: "r-1", Decision: approvals.Approve}, func(bot.Reply) {})
	h.svc.Wait()
	if n := len(h.fake.Find("chat.update", nil)); n != 0 {
		t.Fatalf("a closed front posted %d updates", n)
	}
	if h.undelivered() == 0 {
		t.Fatal("nothing kept while the front was closed")
	}

	s2, err := New(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s2.Close)
	if err := s2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.advanceUntil("the kept posts to go out", time.Second, func() bool { return h.undelivered() == 0 })
	h.waitFor("the card updated", "chat.update", isUpdateOf(card.TS), "r-1 · succeeded")
	h.waitFor("the result in the thread", "chat.postMessage", inThread(card.TS), "r-1 succeeded")
	if n := len(h.fake.Find("chat.postMessage", func(c call) bool { return c.Thread == "" })); n != 1 {
		t.Errorf("%d cards after the restart, want the one", n)
	}
}

// TestSlowFirstAnswer: when the core's first answer misses the acknowledgement, the
// acknowledgement says exchops is working on it and the answer follows through the
// response_url; either way it reaches the person exactly once.
func TestSlowFirstAnswer(t *testing.T) {
	h := newHarness(t, options{})
	h.s.ackWait = time.Nanosecond
	for i := range 5 {
		a := h.command("U0BOB", "C0OPS", "requests")
		url := fmt.Sprintf("cmd-%d", i+1)
		inAck := strings.Contains(a.Body, "No requests are waiting")
		if !inAck && !strings.Contains(a.Body, "Working on it") {
			t.Fatalf("acknowledgement = %s", a.Body)
		}
		h.quiet()
		later := len(h.fake.Find("response_url", func(c call) bool { return c.Channel == url && strings.Contains(c.Text, "No requests") }))
		if inAck && later != 0 || !inAck && later != 1 {
			t.Errorf("command %d: answered in the acknowledgement %v and %d times through the response_url", i+1, inAck, later)
		}
	}
}

// TestLongAcknowledgementOverSocketMode: an acknowledgement too large for Socket Mode
// is sent empty and the answer goes through the response_url.
func TestLongAcknowledgementOverSocketMode(t *testing.T) {
	h := newHarness(t, options{socket: true})
	h.s.ackLimit = 100
	if a := h.command("U0BOB", "C0OPS", "help"); a.Body != "" {
		t.Fatalf("acknowledgement = %s, want an empty one", a.Body)
	}
	h.waitFor("the help through the response_url", "response_url", nil, "dag create")
}

// TestDeletedCardIsPostedAgain: when someone deleted the card, the next update posts
// it again and the request remembers the new one.
func TestDeletedCardIsPostedAgain(t *testing.T) {
	h := newHarness(t, options{approvals: "C0APPROVALS"})
	h.command("U0ALICE", "C0OPS", dagCreate)
	first := h.card("r-1", "C0APPROVALS")
	h.quiet()
	h.fake.Refuse("chat.update", "message_not_found")
	h.click("U0BOB", "C0APPROVALS", first.TS, "deny", "r-1")
	again := h.waitFor("the card posted again", "chat.postMessage", func(c call) bool { return c.Thread == "" && c.TS != first.TS }, "r-1 · denied")
	h.waitFor("the thread under the new card", "chat.postMessage", inThread(again.TS), "Denied by bob")
	h.quiet()
	r, err := h.svc.Get(context.Background(), "r-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Cards) != 1 || r.Cards[0].MessageID != again.TS {
		t.Errorf("r-1's cards = %+v, want the new card %s", r.Cards, again.TS)
	}
	if h.undelivered() != 0 {
		t.Error("posts left in the outbox")
	}
}
