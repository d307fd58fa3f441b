package slack

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
)

// TestReplayWithoutTrigger: a signed command without a trigger_id, delivered twice
// (the same signed bytes over HTTP, the same payload over Socket Mode), makes one
// request; another command without a trigger_id is still taken.
func TestReplayWithoutTrigger(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := newHarness(t, options{socket: m.socket, approvals: "C0APPROVALS"})
			c := h.newSlash("U0ALICE", "C0OPS", dagCreate)
			c.Trigger = ""
			deliver := h.send
			if !m.socket {
				// One signature for both deliveries: a replay is the same bytes.
				body, hd := c.form().Encode(), sign(testSecret, time.Now(), c.form().Encode())
				deliver = func(slash) ack {
					status, answer := h.postSigned("/slack/commands", body, hd)
					return ack{Status: status, Body: answer}
				}
			}
			if a := deliver(c); !strings.Contains(a.Body, "Planning") {
				t.Fatalf("first delivery acknowledged with %d %s", a.Status, a.Body)
			}
			if a := deliver(c); a.Status != http.StatusOK || a.Body != "" {
				t.Fatalf("the replay was acknowledged with %d %q, want an empty 200", a.Status, a.Body)
			}
			h.card("r-1", "C0APPROVALS")
			other := h.newSlash("U0ALICE", "C0OPS", "copy add MB01 EX10-MB02")
			other.Trigger = ""
			if a := h.send(other); !strings.Contains(a.Body, "Planning") {
				t.Fatalf("another command without trigger_id acknowledged with %d %s", a.Status, a.Body)
			}
			h.card("r-2", "C0APPROVALS")
			h.quiet()
			if n := len(h.history()); n != 2 {
				t.Errorf("%d requests, want 2 (the replay made none)", n)
			}
		})
	}
}

// TestClickWithManyActions: one signed block_actions payload listing many actions is
// one click: only its first action counts.
func TestClickWithManyActions(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := newHarness(t, options{socket: m.socket, approvals: "C0APPROVALS"})
			h.command("U0ALICE", "C0OPS", dagCreate)
			card := h.card("r-1", "C0APPROVALS")
			h.command("U0ALICE", "C0OPS", "copy add MB01 EX10-MB02")
			h.card("r-2", "C0APPROVALS")
			p := h.clickPayload("U0BOB", "C0APPROVALS", card.TS, "deny", "r-1")
			actions := p["actions"].([]map[string]any)
			for i := range 1000 {
				actions = append(actions, map[string]any{"type": "button", "action_id": "approve", "block_id": "decide:r-2",
					"value": "r-2", "action_ts": fmt.Sprintf("1700000200.%06d", i)})
			}
			p["actions"] = actions
			h.sendClick(p)
			h.waitFor("the denial of r-1", "chat.update", isUpdateOf(card.TS), "r-1 · denied")
			h.quiet()
			ctx := context.Background()
			if r, _ := h.svc.Get(ctx, "r-2"); r.Status != approvals.Pending || len(r.Votes) != 0 {
				t.Errorf("r-2 is %s with %d votes, want pending with none: a later action of the payload was counted", r.Status, len(r.Votes))
			}
			if n := len(h.fake.Find("chat.postEphemeral", forUser("U0BOB"))); n != 1 {
				t.Errorf("bob was told %d things, want one (his denial)", n)
			}
		})
	}
}

// TestClickValueNotARequestID: a button value that is not a request id as the cards
// carry them (r-<n>) is refused, even when a person typing it would be understood.
func TestClickValueNotARequestID(t *testing.T) {
	h := newHarness(t, options{approvals: "C0APPROVALS"})
	h.command("U0ALICE", "C0OPS", dagCreate)
	card := h.card("r-1", "C0APPROVALS")
	for _, v := range []string{"1", "#1", "R-1", "r-01", " r-1", "r-1 ", "r-1\u202e", "r-" + strings.Repeat("9", 20), "", "../r-1"} {
		h.click("U0BOB", "C0APPROVALS", card.TS, "approve", v)
	}
	h.quiet()
	if r, _ := h.svc.Get(context.Background(), "r-1"); r.Status != approvals.Pending || len(r.Votes) != 0 {
		t.Fatalf("r-1 is %s with %d votes, want pending with none", r.Status, len(r.Votes))
	}
	if n := len(h.fake.Delivered("chat.postEphemeral", "the button does not name a request")); n != 10 {
		t.Errorf("bob was told %d times that the button names no request, want 10", n)
	}
}
