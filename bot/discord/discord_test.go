package discord

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/bot/bottest"
	"github.com/exchops/exchops/commands"
)

func TestPing(t *testing.T) {
	h := newHarness(t)
	status, body := h.sign([]byte(`{"id":"1","application_id":"4242","type":1,"token":"t","version":1}`), h.priv, h.clk.Now())
	if status != http.StatusOK || strings.TrimSpace(string(body)) != `{"type":1}` {
		t.Fatalf("PING: HTTP %d %s, want 200 {\"type\":1}", status, body)
	}
}

// TestRefusesBadSignatures: unsigned, wrongly signed, altered and stale interactions
// get 401 and nothing happens, not even de-duplication: the same interaction, properly
// signed afterwards, is handled as new.
func TestRefusesBadSignatures(t *testing.T) {
	h := newHarness(t)
	it := h.commandInteraction("1001", testChannel, createDAG)
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	now := h.clk.Now()
	// send is what a client sends: body, signed (over signedBody) with key at ts.
	send := func(body, signedBody []byte, key ed25519.PrivateKey, ts string) *http.Request {
		req, _ := http.NewRequest("POST", h.srv.URL+"/discord/interactions", bytes.NewReader(body))
		req.Header.Set("X-Signature-Timestamp", ts)
		req.Header.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(key, append([]byte(ts), signedBody...))))
		return req
	}
	signed := func(key ed25519.PrivateKey, ts string) *http.Request { return send(it.Body, it.Body, key, ts) }
	nowTS := strconv.FormatInt(now.Unix(), 10)
	altered := bytes.Replace(it.Body, []byte("E14-DAG"), []byte("E15-DAG"), 1)
	cases := map[string]*http.Request{
		"no signature": func() *http.Request {
			req, _ := http.NewRequest("POST", h.srv.URL+"/discord/interactions", bytes.NewReader(it.Body))
			return req
		}(),
		"another key":  signed(otherKey, nowTS),
		"altered body": send(altered, it.Body, h.priv, nowTS),
		"signature not hex": func() *http.Request {
			req := signed(h.priv, nowTS)
			req.Header.Set("X-Signature-Ed25519", "zz"+req.Header.Get("X-Signature-Ed25519")[2:])
			return req
		}(),
		"stale (6 minutes old)":     signed(h.priv, strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10)),
		"from 6 minutes ahead":      signed(h.priv, strconv.FormatInt(now.Add(6*time.Minute).Unix(), 10)),
		"timestamp not a number":    signed(h.priv, "yesterday"),
		"timestamp in milliseconds": signed(h.priv, strconv.FormatInt(now.UnixMilli(), 10)),
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			status, body := h.do(req)
			if status != http.StatusUnauthorized {
				t.Errorf("HTTP %d %s, want 401", status, body)
			}
		})
	}
	// Just inside the window is fine.
	h.clk.Advance(4 * time.Minute)
	if got := h.fake.Requests("", ""); len(got) != 0 {
		t.Fatalf("refused interactions reached Discord: %v", got)
	}
	if rs, _ := h.svc.History(context.Background(), 10); len(rs) != 0 {
		t.Fatalf("refused interactions made requests: %v", rs)
	}
	status, body := h.sign(it.Body, h.priv, now)
	if status != http.StatusOK || !strings.Contains(string(body), `"type":5`) {
		t.Fatalf("the same interaction, signed 4 minutes ago: HTTP %d %s, want a deferred answer", status, body)
	}
	h.card("r-1", testChannel)
}

// TestApprovalFlow is the whole path on Discord: a request, its card with buttons, the
// requester's own click refused privately, a viewer refused, bob's approval, the card
// edited to say who decided and how it ended, the result replying to the card.
func TestApprovalFlow(t *testing.T) {
	h := newHarness(t)
	it := h.command("1001", testChannel, createDAG)

	working := h.followup(it, "Planning dag create E14-DAG")
	if working.Method != "PATCH" || !strings.HasSuffix(working.Path, "/messages/@original") {
		t.Errorf("the first reply is %s, want an edit of the deferred answer", working)
	}
	waiting := h.followup(it, "r-1 is waiting for 1 approval")
	if waiting.Method != "POST" || !waiting.Ephemeral() {
		t.Errorf("the request's confirmation is %s ephemeral=%v, want a private follow-up", waiting, waiting.Ephemeral())
	}

	msgID := h.card("r-1", testChannel)
	card := h.fake.Message(msgID)
	if got := card.Buttons(); fmt.Sprint(got) != "[exchops:approve:r-1 exchops:deny:r-1]" {
		t.Errorf("card buttons = %v", got)
	}
	for _, want := range []string{"needs approval", "New-DatabaseAvailabilityGroup -Name 'E14-DAG'", "EX10-CAHT", "no DAG is named E14-DAG yet", `"style":3`, `"style":4`} {
		if !strings.Contains(card.Text(), want) {
			t.Errorf("the card does not show %q:\n%s", want, card.Text())
		}
	}
	for _, r := range h.fake.Requests("POST", "channels/") {
		if r.Auth != "Bot "+testToken {
			t.Errorf("%s was not sent with the bot token", r)
		}
	}
	r := h.request("r-1", approvals.Pending)
	if len(r.Cards) != 1 || r.Cards[0] != (approvals.Card{Platform: "discord", Channel: testChannel, MessageID: msgID}) {
		t.Errorf("cards = %+v, want the Discord card %s", r.Cards, msgID)
	}

	self := h.click("1001", testChannel, approvePrefix+"r-1", msgID)
	if f := h.followup(self, "r-1 is your own request: someone else must approve it"); !f.Ephemeral() {
		t.Errorf("the refusal is not ephemeral: %v", f.Body)
	}
	viewer := h.click("1004", testChannel, approvePrefix+"r-1", msgID)
	if f := h.followup(viewer, "only approvers can approve"); !f.Ephemeral() {
		t.Errorf("the refusal is not ephemeral: %v", f.Body)
	}
	if r := h.request("r-1", approvals.Pending); len(r.Votes) != 0 {
		t.Fatalf("refused clicks voted: %+v", r.Votes)
	}

	ok := h.click("1002", testChannel, approvePrefix+"r-1", msgID)
	if f := h.followup(ok, "You approved r-1; it runs now."); !f.Ephemeral() {
		t.Errorf("the confirmation is not ephemeral: %v", f.Body)
	}
	h.request("r-1", approvals.Succeeded)
	h.fake.WaitFor(t, "the card edited to succeeded", func() bool {
		m := h.fake.Message(msgID)
		return strings.Contains(m.Content(), "succeeded") && len(m.Buttons()) == 0
	})
	card = h.fake.Message(msgID)
	for _, want := range []string{"bob approved", "via discord", `"components":[]`} {
		if !strings.Contains(card.Text(), want) {
			t.Errorf("the edited card does not show %q:\n%s", want, card.Text())
		}
	}
	h.fake.WaitRequest(t, "the approval replying to the card", "POST", "channels/"+testChannel+"/messages", func(r *bottest.DiscordRequest) bool {
		return r.Referenced() == msgID && strings.Contains(r.Content(), "approved by bob")
	})
	res := h.fake.WaitRequest(t, "the result replying to the card", "POST", "channels/"+testChannel+"/messages", func(r *bottest.DiscordRequest) bool {
		return r.Referenced() == msgID && strings.Contains(r.Content(), "Succeeded")
	})
	if !strings.Contains(res.Content(), "output of "+createDAG) {
		t.Errorf("the result does not show the output: %q", res.Content())
	}
	for _, r := range h.fake.Requests("PATCH", "channels/") {
		if r.Auth != "Bot "+testToken {
			t.Errorf("%s was not sent with the bot token", r)
		}
	}
	if n := h.postsMetric("sent"); n == "" || n == "0" {
		t.Errorf("no sent posts counted: %q", n)
	}
}

func TestDenyFromDiscord(t *testing.T) {
	h := newHarness(t)
	h.command("1001", testChannel, createDAG)
	msgID := h.card("r-1", testChannel)
	h.click("1003", testChannel, denyPrefix+"r-1", msgID)
	h.request("r-1", approvals.Denied)
	h.fake.WaitFor(t, "the card edited to denied", func() bool {
		m := h.fake.Message(msgID)
		return strings.Contains(m.Content(), "denied") && len(m.Buttons()) == 0 && strings.Contains(m.Text(), "carol denied")
	})
	h.fake.WaitRequest(t, "the denial replying to the card", "POST", "channels/"+testChannel+"/messages", func(r *bottest.DiscordRequest) bool {
		return r.Referenced() == msgID && strings.Contains(r.Content(), "denied by carol")
	})
}

// TestUnknownUser: someone exchops does not know is refused privately by the core and
// nothing is stored.
func TestUnknownUser(t *testing.T) {
	h := newHarness(t)
	it := h.command("9999", testChannel, createDAG)
	f := h.followup(it, "exchops does not know you yet")
	if !strings.Contains(f.Content(), "Discord user id") {
		t.Errorf("the refusal does not say what to add: %q", f.Content())
	}
	h.core.Wait()
	if rs, _ := h.svc.History(context.Background(), 10); len(rs) != 0 {
		t.Fatalf("an unknown user made a request: %v", rs)
	}
	if got := h.fake.Requests("POST", "channels/"); len(got) != 0 {
		t.Fatalf("an unknown user's command posted in a channel: %v", got)
	}
}

// TestLongRunAfterTokenExpiry: a run that ends 16 minutes after the approval (the
// interaction tokens are dead by then) still edits the card and replies to it, with the
// bot token.
func TestLongRunAfterTokenExpiry(t *testing.T) {
	h := newHarness(t)
	release := h.exec.Hold("dag create")
	h.command("1001", testChannel, createDAG)
	msgID := h.card("r-1", testChannel)
	ok := h.click("1002", testChannel, approvePrefix+"r-1", msgID)
	h.followup(ok, "You approved r-1")
	h.request("r-1", approvals.Running)
	h.fake.WaitFor(t, "the card edited to running", func() bool {
		return strings.Contains(h.fake.Message(msgID).Content(), "running")
	})

	h.clk.Advance(16 * time.Minute)
	expiredAt := h.clk.Now()
	release()
	h.request("r-1", approvals.Succeeded)
	h.fake.WaitFor(t, "the card edited to succeeded", func() bool {
		m := h.fake.Message(msgID)
		return strings.Contains(m.Content(), "succeeded") && len(m.Buttons()) == 0
	})
	h.fake.WaitRequest(t, "the result replying to the card", "POST", "channels/"+testChannel+"/messages", func(r *bottest.DiscordRequest) bool {
		return r.Referenced() == msgID && strings.Contains(r.Content(), "Succeeded after 16m")
	})
	for _, r := range h.fake.Requests("", "") {
		if !r.At.Before(expiredAt) && r.Webhook() {
			t.Errorf("%s used an interaction token after it expired", r)
		}
		if r.Status/100 != 2 {
			t.Errorf("%s failed with HTTP %d", r, r.Status)
		}
	}
}

// TestReadOnlyResultAfterTokenExpiry: a read-only command whose result comes after the
// token died is answered in the channel with the bot token.
func TestReadOnlyResultAfterTokenExpiry(t *testing.T) {
	h := newHarness(t)
	release := h.exec.Hold("copy status")
	it := h.command("1004", testChannel, "copy status MB01")
	h.followup(it, "Running copy status MB01")
	<-h.exec.Started
	h.clk.Advance(15 * time.Minute)
	expiredAt := h.clk.Now()
	release()
	res := h.fake.WaitRequest(t, "the result in the channel", "POST", "channels/"+testChannel+"/messages", func(r *bottest.DiscordRequest) bool {
		return strings.Contains(r.Content(), "output of copy status MB01")
	})
	if res.Auth != "Bot "+testToken {
		t.Errorf("the late result was not posted with the bot token")
	}
	for _, r := range h.fake.Requests("", "webhooks/") {
		if !r.At.Before(expiredAt) {
			t.Errorf("%s used the interaction token after it expired", r)
		}
	}
}

// TestDuplicateInteraction: the same interaction delivered twice makes one request,
// and the same click twice counts once.
func TestDuplicateInteraction(t *testing.T) {
	h := newHarness(t)
	it := h.commandInteraction("1001", testChannel, createDAG)
	h.send(it)
	out := h.send(it)
	if out["type"] != float64(5) {
		t.Errorf("the repeat was answered %v, want the same deferred answer", out)
	}
	msgID := h.card("r-1", testChannel)
	h.core.Wait()
	if rs, _ := h.svc.History(context.Background(), 10); len(rs) != 1 {
		t.Fatalf("%d requests, want 1", len(rs))
	}
	if n := len(h.fake.Requests("PATCH", "webhooks/"+testApp+"/"+it.Token+"/messages/@original")); n != 1 {
		t.Errorf("the deferred answer was edited %d times, want 1", n)
	}
	click := h.clickInteraction("1002", testChannel, approvePrefix+"r-1", msgID)
	h.send(click)
	h.send(click)
	h.request("r-1", approvals.Succeeded)
	h.core.Wait()
	h.d.Close() // wait for the posts
	if n := len(h.fake.Requests("POST", "webhooks/"+testApp+"/"+click.Token)); n != 1 {
		t.Errorf("the click was answered %d times, want 1", n)
	}
	if n := len(h.fake.Requests("POST", "channels/"+testChannel+"/messages")); n < 2 {
		t.Errorf("%d channel posts, want the card and its replies", n)
	}
	cards := 0
	for _, r := range h.fake.Requests("POST", "channels/") {
		if strings.Contains(fmt.Sprint(r.Body["components"]), approvePrefix) {
			cards++
		}
	}
	if cards != 1 {
		t.Errorf("%d cards posted, want 1", cards)
	}
}

// TestRateLimited: a 429 is waited out as Discord says (retry_after), then the post
// goes through.
func TestRateLimited(t *testing.T) {
	h := newHarness(t)
	h.fake.Fail("POST", "channels/"+testChannel+"/messages", http.StatusTooManyRequests, 1,
		http.Header{"Retry-After": {"3"}}, `{"message":"You are being rate limited.","retry_after":2.5,"global":false}`)
	h.command("1001", testChannel, createDAG)
	h.card("r-1", testChannel)
	h.mu.Lock()
	waits := append([]time.Duration(nil), h.waits...)
	h.mu.Unlock()
	if len(waits) != 1 || waits[0] != 2500*time.Millisecond {
		t.Errorf("waited %v before trying again, want [2.5s]", waits)
	}
	if n := h.postsMetric("failed"); n != "1" {
		t.Errorf("failed posts counted: %s, want 1", n)
	}
	if n, _ := h.db.Undelivered(context.Background(), "discord"); n != 0 {
		t.Errorf("%d posts in the outbox, want none", n)
	}
}

// TestRetryAfterHeader: without retry_after in the body, the Retry-After header says
// how long to wait.
func TestRetryAfterHeader(t *testing.T) {
	h := newHarness(t)
	h.fake.Fail("POST", "channels/"+testChannel+"/messages", http.StatusTooManyRequests, 1,
		http.Header{"Retry-After": {"1"}}, `{"message":"slow down"}`)
	h.command("1001", testChannel, createDAG)
	h.card("r-1", testChannel)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.waits) != 1 || h.waits[0] != time.Second {
		t.Errorf("waited %v, want [1s]", h.waits)
	}
}

// TestOutbox: while Discord answers 500, the card goes to the outbox; once Discord is
// back, the outbox posts it (as the request stands then) and it becomes the card.
func TestOutbox(t *testing.T) {
	h := newHarness(t)
	h.fake.Fail("POST", "channels/", http.StatusInternalServerError, -1, nil, `{"message":"500: Internal Server Error","code":0}`)
	it := h.command("1001", testChannel, createDAG)
	h.followup(it, "r-1 is waiting")
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for n, _ := h.db.Undelivered(ctx, "discord"); n == 0; n, _ = h.db.Undelivered(ctx, "discord") {
		if time.Now().After(deadline) {
			t.Fatalf("the card never went to the outbox:\n%s", h.fake.Dump())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := len(h.fake.Requests("POST", "channels/")); n != bot.InlineAttempts {
		t.Errorf("%d attempts before the outbox, want %d", n, bot.InlineAttempts)
	}
	posts, err := h.db.Due(ctx, "discord", h.clk.Now().Add(time.Hour), 10)
	if err != nil || len(posts) != 1 {
		t.Fatalf("outbox: %v %v", posts, err)
	}
	if strings.Contains(string(posts[0].Payload), testToken) {
		t.Errorf("the outbox holds the bot token")
	}
	var payload map[string]any
	json.Unmarshal(posts[0].Payload, &payload)
	if payload["kind"] != "card" || payload["channel"] != testChannel || payload["request"] != "r-1" {
		t.Errorf("outbox payload = %v", payload)
	}

	// Still failing when it is first due: it stays.
	h.advanceUntil("a retry from the outbox", time.Second, func() bool { return len(h.fake.Requests("POST", "channels/")) > bot.InlineAttempts })
	if n, _ := h.db.Undelivered(ctx, "discord"); n != 1 {
		t.Fatalf("%d posts in the outbox after a failed retry, want 1", n)
	}
	h.fake.Heal()
	var msgID string
	h.advanceUntil("the outbox to deliver the card", 5*time.Second, func() bool {
		if r, _ := h.svc.Get(ctx, "r-1"); r != nil && len(r.Cards) == 1 {
			msgID = r.Cards[0].MessageID
		}
		return msgID != ""
	})
	if m := h.fake.Message(msgID); m == nil || len(m.Buttons()) != 2 {
		t.Fatalf("the delivered card is %v", m)
	}
	if n, _ := h.db.Undelivered(ctx, "discord"); n != 0 {
		t.Errorf("%d posts still in the outbox", n)
	}
	// The card works: approving edits it.
	h.click("1002", testChannel, approvePrefix+"r-1", msgID)
	h.request("r-1", approvals.Succeeded)
	h.fake.WaitFor(t, "the card edited to succeeded", func() bool {
		return strings.Contains(h.fake.Message(msgID).Content(), "succeeded")
	})
	if n := h.postsMetric("failed"); n == "0" || n == "" {
		t.Errorf("failed posts not counted: %q", n)
	}
	if !strings.Contains(h.logs.String(), "kept in the outbox") {
		t.Errorf("the log does not say the post was kept:\n%s", h.logs.String())
	}
}

// TestCrossPlatform: a request made in Slack is approved in Discord (its card is in the
// approvals channel), and one made in Discord is approved from Slack (its card is in
// the approvals channel too: with one set, every card goes there); both fronts see how
// each ended.
func TestCrossPlatform(t *testing.T) {
	h := newHarness(t, withApprovalsChannel(testApprovalsCh))
	ctx := context.Background()
	h.core.Handle(ctx, bot.Invocation{Platform: "slack", User: "U0ALICE", Channel: "C0OPS", Text: createDAG}, func(bot.Reply) {})
	h.core.Wait()
	msgID := h.card("r-1", testApprovalsCh)
	h.click("1002", testApprovalsCh, approvePrefix+"r-1", msgID)
	h.request("r-1", approvals.Succeeded)
	h.fake.WaitFor(t, "the Discord card of the Slack request edited", func() bool {
		m := h.fake.Message(msgID)
		return strings.Contains(m.Content(), "succeeded") && strings.Contains(m.Text(), "alice via slack") && strings.Contains(m.Text(), "bob approved")
	})
	waitRecorder(t, h.slack, "r-1", approvals.Succeeded)
	if r := h.slack.last("r-1"); r.Votes[0].Via.Platform != "discord" || r.Votes[0].Person != "bob" {
		t.Errorf("Slack saw votes %+v, want bob's via discord", r.Votes)
	}

	// And the other way: asked in Discord, approved in Slack.
	h.command("1001", testChannel, "dag add-member E14-DAG EX10-MB01")
	msg2 := h.card("r-2", testApprovalsCh)
	var act []bot.Reply
	h.core.Act(ctx, bot.Action{Platform: "slack", User: "U0CAROL", Channel: "C0OPS", RequestID: "r-2", Decision: approvals.Approve}, func(r bot.Reply) { act = append(act, r) })
	if len(act) != 1 || !strings.Contains(act[0].Text, "You approved r-2") {
		t.Fatalf("Slack approval answered %+v", act)
	}
	h.request("r-2", approvals.Succeeded)
	h.fake.WaitFor(t, "the Discord card edited after the Slack approval", func() bool {
		m := h.fake.Message(msg2)
		return strings.Contains(m.Content(), "succeeded") && strings.Contains(m.Text(), "carol approved") && strings.Contains(m.Text(), "via slack")
	})
	waitRecorder(t, h.slack, "r-2", approvals.Succeeded)
	if n := len(h.fake.Requests("POST", "channels/"+testApprovalsCh+"/messages")); n == 0 {
		t.Errorf("nothing posted in the approvals channel")
	}
}

func waitRecorder(t *testing.T, f *frontRecorder, id string, st approvals.Status) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if r := f.last(id); r != nil && r.Status == st {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never saw %s %s", f.name, id, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestNoApprovalsChannel: without an approvals channel, a request made elsewhere gets
// no Discord card.
func TestNoApprovalsChannel(t *testing.T) {
	h := newHarness(t)
	h.core.Handle(context.Background(), bot.Invocation{Platform: "slack", User: "U0ALICE", Channel: "C0OPS", Text: createDAG}, func(bot.Reply) {})
	h.core.Wait()
	h.core.Act(context.Background(), bot.Action{Platform: "slack", User: "U0BOB", RequestID: "r-1", Decision: approvals.Approve}, func(bot.Reply) {})
	h.request("r-1", approvals.Succeeded)
	h.svc.Wait()
	h.d.Close()
	if got := h.fake.Requests("", ""); len(got) != 0 {
		t.Errorf("posted to Discord: %v", got)
	}
}

// TestLongOutputAttached: output longer than a message goes up as a file.
func TestLongOutputAttached(t *testing.T) {
	h := newHarness(t)
	output := strings.Repeat("Name,Status,CopyQueueLength\nMB01\\EX10-MB02,Healthy,0\n", 200)
	h.exec.Output = func(*commands.Plan) string { return output }
	h.command("1001", testChannel, createDAG)
	msgID := h.card("r-1", testChannel)
	h.click("1002", testChannel, approvePrefix+"r-1", msgID)
	res := h.fake.WaitRequest(t, "the result with its output attached", "POST", "channels/"+testChannel+"/messages", func(r *bottest.DiscordRequest) bool {
		return r.Referenced() == msgID && r.Files["r-1-output.txt"] != ""
	})
	if res.Files["r-1-output.txt"] != output {
		t.Errorf("the attached output differs from what the run printed")
	}
	if !strings.Contains(res.Content(), "attached as r-1-output.txt") {
		t.Errorf("the message does not point at the file: %q", res.Content())
	}
}

// TestHelpAndLists: bot commands answer privately; long help goes in an embed.
func TestHelpAndLists(t *testing.T) {
	h := newHarness(t)
	it := h.command("1004", testChannel, "help")
	f := h.followup(it, "dag create")
	if f.Method != "PATCH" {
		t.Errorf("help came as %s", f)
	}
	it = h.command("1004", testChannel, "help dag create")
	h.followup(it, "dag create <name> witness=<server>")
	it = h.command("1004", testChannel, "requests")
	h.followup(it, "No requests are waiting for approval.")
	it = h.command("1004", testChannel, "history 20")
	h.followup(it, "No requests yet.")
}

// TestBadOptions: an option the grammar cannot carry is refused at once, privately.
func TestBadOptions(t *testing.T) {
	h := newHarness(t)
	data := interactionData(t, `casarray create "CAS Array" fqdn=client.msglab.local site=Default-First-Site-Name`)
	data.Options[0].Options[0].Options[0].Value = `CAS "Array"`
	it := h.newInteraction(2, "1001", testChannel, data, nil)
	out := h.send(it)
	d, _ := out["data"].(map[string]any)
	if out["type"] != float64(4) || d["flags"] != float64(64) || !strings.Contains(fmt.Sprint(d["content"]), "double quote") {
		t.Errorf("answer %v, want an ephemeral refusal about the double quote", out)
	}
	// A value the grammar rejects is explained by the core, as for typed text.
	bad := interactionData(t, createDAG)
	bad.Options[0].Options[0].Options[0].Value = "THIS-NAME-IS-FAR-TOO-LONG"
	it = h.newInteraction(2, "1001", testChannel, bad, nil)
	h.send(it)
	h.followup(it, `name="THIS-NAME-IS-FAR-TOO-LONG" is not valid`)
}

func TestConfigErrors(t *testing.T) {
	h := newHarness(t)
	good := Config{Core: h.core, PublicKey: strings.Repeat("ab", 32), BotToken: testToken, ApplicationID: testApp, Outbox: h.db, Dedup: h.db}
	cases := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no public key", func(c *Config) { c.PublicKey = "" }, "discord.public_key is empty"},
		{"short public key", func(c *Config) { c.PublicKey = "abcd" }, "discord.public_key is not an Ed25519 public key"},
		{"no token", func(c *Config) { c.BotToken = "" }, "discord.bot_token_env"},
		{"no application", func(c *Config) { c.ApplicationID = "" }, "discord.application_id"},
		{"bad api url", func(c *Config) { c.APIURL = "discord.example" }, "discord.api_url"},
		{"bad approvals channel", func(c *Config) { c.ApprovalsChannel = "#ops" }, "discord.approvals_channel"},
		{"no core", func(c *Config) { c.Core = nil }, "no bot core"},
		{"no outbox", func(c *Config) { c.Outbox = nil }, "an outbox and a de-duplication store are required"},
		{"no dedup", func(c *Config) { c.Dedup = nil }, "an outbox and a de-duplication store are required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.change(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("the error repeats the bot token")
			}
		})
	}
	if _, err := New(good); err != nil {
		t.Fatalf("a good configuration: %v", err)
	}
}

// TestErrorsHideTokens: a failing call through an interaction token, and a network
// error, never repeat the token.
func TestErrorsHideTokens(t *testing.T) {
	h := newHarness(t)
	c := &call{Method: "POST", Path: "webhooks/" + testApp + "/itoken-secret-value", token: true}
	if got := c.what(); strings.Contains(got, "itoken-secret-value") {
		t.Errorf("what() = %q", got)
	}
	r := *h.d.rest
	r.base = "http://127.0.0.1:1/api/v9/"
	r.client = &http.Client{Timeout: time.Second}
	_, err := r.once(context.Background(), c)
	if err == nil || strings.Contains(err.Error(), "itoken-secret-value") || !err.(*apiError).Retry {
		t.Errorf("network error = %v", err)
	}
}

// TestExpiry: a request nobody decides expires half an hour later, long after every
// interaction token died; its card loses its buttons through the bot token.
func TestExpiry(t *testing.T) {
	h := newHarness(t)
	h.command("1001", testChannel, createDAG)
	msgID := h.card("r-1", testChannel)
	h.clk.Advance(31 * time.Minute)
	expiredAt := h.clk.Now()
	h.request("r-1", approvals.Expired)
	h.fake.WaitFor(t, "the card edited to expired", func() bool {
		m := h.fake.Message(msgID)
		return strings.Contains(m.Content(), "expired") && len(m.Buttons()) == 0
	})
	h.fake.WaitRequest(t, "the expiry replying to the card", "POST", "channels/"+testChannel+"/messages", func(r *bottest.DiscordRequest) bool {
		return r.Referenced() == msgID && strings.Contains(r.Content(), "expired: nobody decided within 30m")
	})
	for _, r := range h.fake.Requests("", "webhooks/") {
		if !r.At.Before(expiredAt) {
			t.Errorf("%s used an interaction token after the expiry", r)
		}
	}
	// A late click on a stale copy of the card is refused privately.
	late := h.click("1002", testChannel, approvePrefix+"r-1", msgID)
	h.followup(late, "r-1 is already expired")
}

func TestRebase(t *testing.T) {
	var got string
	rb := rebase{from: "https://discord.com/api/v9/", to: "http://127.0.0.1:9/fake/", next: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = r.URL.String()
		return nil, fmt.Errorf("stop")
	})}
	req, _ := http.NewRequest("GET", "https://discord.com/api/v9/gateway?x=1", nil)
	rb.RoundTrip(req)
	if got != "http://127.0.0.1:9/fake/gateway?x=1" {
		t.Errorf("rewritten to %q", got)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
