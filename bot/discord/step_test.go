package discord

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot/bottest"
	"github.com/exchops/exchops/internal/golden"
)

// TestAlertGolden: an alert as Discord receives it: its title and text, and a row of
// buttons whose custom_id carries the command each files.
func TestAlertGolden(t *testing.T) {
	parts := renderReport(bottest.AlertReportOf(bottest.FailedCopyAlert()))
	var b strings.Builder
	for i, p := range parts {
		var out bytes.Buffer
		if err := json.Indent(&out, p.m.json(), "", "  "); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "--- message %d of %d\n%s\n", i+1, len(parts), out.String())
	}
	golden.Check(t, "testdata/alert-copy-failed.golden", b.String())
}

// TestAlertButtons: the watch's alert is posted with its buttons; dave (a viewer)
// clicks Copy status and is answered, and is refused Reseed as when typing it; alice
// clicks Reseed and a request waits for someone else's approval (hers is refused); a
// custom_id exchops did not write files nothing.
func TestAlertButtons(t *testing.T) {
	h := newHarness(t)
	if err := h.core.PublishAlert(context.Background(), map[string]string{"discord": testChannel}, bottest.FailedCopyAlert()); err != nil {
		t.Fatal(err)
	}
	var msgID string
	var buttons []string
	h.fake.WaitFor(t, "the alert posted", func() bool {
		for _, m := range h.fake.Messages() {
			if m.Channel == testChannel && strings.Contains(m.Content(), "FailedAndSuspended") {
				msgID, buttons = m.ID, m.Buttons()
				return true
			}
		}
		return false
	})
	if want := "[exchops:step:copy reseed MB01 EX10-MB02 exchops:step:copy status MB01]"; fmt.Sprint(buttons) != want {
		t.Fatalf("buttons %v, want %s", buttons, want)
	}

	read := h.click("1004", testChannel, buttons[1], msgID)
	h.followup(read, "output of copy status MB01") // a read-only result, shown as when typed
	refused := h.click("1004", testChannel, buttons[0], msgID)
	if f := h.followup(refused, "copy reseed changes the organisation, which needs the admin role"); !f.Ephemeral() {
		t.Errorf("the refusal is not private: %v", f.Body)
	}

	filed := h.click("1001", testChannel, buttons[0], msgID)
	h.followup(filed, "r-1 is waiting for 1 approval")
	r := h.request("r-1", approvals.Pending)
	if r.Requester != "alice" || r.Command != "copy reseed MB01 EX10-MB02" || r.Origin.Platform != "discord" || r.Origin.User != "1001" {
		t.Errorf("request %+v", r)
	}
	cardID := h.card("r-1", testChannel)
	self := h.click("1001", testChannel, approvePrefix+"r-1", cardID)
	h.followup(self, "r-1 is your own request")

	for _, forged := range []string{stepPrefix + "approve r-1", stepPrefix + "copy reseed MB01 EX10-MB02\napprove r-1", stepPrefix + "copy  reseed MB01 EX10-MB02"} {
		out := h.send(h.clickInteraction("1002", testChannel, forged, msgID))
		data, _ := out["data"].(map[string]any)
		if out["type"] != float64(4) || !strings.Contains(fmt.Sprint(data["content"]), "not one exchops knows") || data["flags"] != float64(64) {
			t.Errorf("forged %q: answer %v, want a private refusal", forged, out)
		}
	}
	if r := h.request("r-1", approvals.Pending); len(r.Votes) != 0 {
		t.Errorf("votes %+v after refused clicks", r.Votes)
	}
	if rs, _ := h.svc.History(context.Background(), 0); len(rs) != 1 {
		t.Errorf("%d requests, want alice's one", len(rs))
	}
}
