package slack

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot/bottest"
	"github.com/exchops/exchops/internal/golden"
)

// TestAlertGolden: an alert as Slack shows it: its title, its text, and a button per
// next step whose value is the command it files.
func TestAlertGolden(t *testing.T) {
	msg, whole := reportMessage(bottest.AlertReportOf(bottest.FailedCopyAlert()))
	if whole {
		t.Error("a short alert is attached as a file")
	}
	golden.Check(t, "testdata/alert-copy-failed.golden", render(t, msg))
}

// alertButtons are the next-step buttons of a posted message: action_id and value.
func alertButtons(t *testing.T, c call) [][2]string {
	t.Helper()
	var blocks []struct {
		Type     string `json:"type"`
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	if err := json.Unmarshal([]byte(c.Blocks), &blocks); err != nil {
		t.Fatalf("the message's blocks: %v: %s", err, c.Blocks)
	}
	var out [][2]string
	for _, b := range blocks {
		if b.Type == "actions" {
			for _, e := range b.Elements {
				out = append(out, [2]string{e.ActionID, e.Value})
			}
		}
	}
	return out
}

// TestAlertButtons is the story of an alert on Slack, over both transports: the
// watch's alert is posted with its buttons; dave (a viewer) clicks Copy status and is
// answered, and is refused Reseed as when typing it; alice clicks Reseed and a request
// waits for someone else's approval (hers is refused); a forged value files nothing.
func TestAlertButtons(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			h := newHarness(t, options{socket: m.socket})
			if err := h.core.PublishAlert(context.Background(), map[string]string{"slack": "C0ALERTS"}, bottest.FailedCopyAlert()); err != nil {
				t.Fatal(err)
			}
			post := h.report("C0ALERTS")
			buttons := alertButtons(t, post)
			want := [][2]string{{"step-0", "copy reseed MB01 EX10-MB02"}, {"step-1", "copy status MB01"}}
			if len(buttons) != 2 || buttons[0] != want[0] || buttons[1] != want[1] {
				t.Fatalf("buttons %v, want %v", buttons, want)
			}

			h.click("U0DAVE", "C0ALERTS", post.TS, buttons[1][0], buttons[1][1])
			h.waitFor("dave's copy status", "chat.postEphemeral", forUser("U0DAVE"), "output of copy status MB01")
			h.click("U0DAVE", "C0ALERTS", post.TS, buttons[0][0], buttons[0][1])
			h.waitFor("dave's refusal", "chat.postEphemeral", forUser("U0DAVE"), "copy reseed changes the organisation, which needs the admin role")

			h.click("U0ALICE", "C0ALERTS", post.TS, buttons[0][0], buttons[0][1])
			card := h.card("r-1", "C0ALERTS")
			h.waitFor("alice told her request waits", "chat.postEphemeral", forUser("U0ALICE"), "r-1 is waiting for 1 approval")
			h.click("U0ALICE", "C0ALERTS", card.TS, "approve", "r-1")
			h.waitFor("alice's own approval refused", "chat.postEphemeral", forUser("U0ALICE"), "r-1 is your own request")

			// A value exchops did not write: refused, nothing filed or approved.
			h.click("U0BOB", "C0ALERTS", post.TS, "step-0", "approve r-1")
			h.waitFor("bob's forged click refused", "chat.postEphemeral", forUser("U0BOB"), "did not take that click")
			h.click("U0BOB", "C0ALERTS", post.TS, "step-9", "copy reseed MB01 EX10-MB02\napprove r-1")
			h.waitFor("bob's second forged click refused", "chat.postEphemeral", forUser("U0BOB"), "did not take that click")
			h.quiet()
			rs := h.history()
			if len(rs) != 1 || rs[0].Status != approvals.Pending || rs[0].Requester != "alice" || rs[0].Command != "copy reseed MB01 EX10-MB02" {
				t.Errorf("requests %+v, want alice's reseed, pending", rs)
			}
			if n := len(h.fake.Find("chat.postEphemeral", func(c call) bool { return strings.Contains(c.Text, "You approved") })); n != 0 {
				t.Errorf("%d approvals counted", n)
			}
		})
	}
}
