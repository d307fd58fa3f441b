package discord

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/exchops/exchops/approvals"
)

// TestComponentIDNotARequestID: a button whose custom_id does not end in a request id
// exactly as cards write it (r-<n>) is not a card's button, even when a person typing
// the rest would be understood.
func TestComponentIDNotARequestID(t *testing.T) {
	h := newHarness(t)
	h.command("1001", testChannel, createDAG)
	msgID := h.card("r-1", testChannel)
	for _, id := range []string{"1", "#1", "R-1", "r-01", " r-1", "r-1 ", "r-1\u202e", "r-" + strings.Repeat("9", 20)} {
		out := h.send(h.clickInteraction("1002", testChannel, approvePrefix+id, msgID))
		data, _ := out["data"].(map[string]any)
		if out["type"] != float64(4) || !strings.Contains(fmt.Sprint(data["content"]), "not one exchops knows") {
			t.Errorf("custom_id %q answered %v, want the unknown-button answer", approvePrefix+id, out)
		}
	}
	h.core.Wait()
	if r, _ := h.svc.Get(context.Background(), "r-1"); r.Status != approvals.Pending || len(r.Votes) != 0 {
		t.Fatalf("r-1 is %s with %d votes, want pending with none", r.Status, len(r.Votes))
	}
}

// TestInteractionWithoutID: an interaction without a Discord id is refused before it
// is looked at. Before, all such interactions shared one de-duplication key: the first
// was handled and every later one for the next 15 minutes taken for its replay.
func TestInteractionWithoutID(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"", "abc", "12 ", "-1", "123456789012345678901"} {
		it := h.commandInteraction("1001", testChannel, createDAG)
		var p map[string]any
		if err := json.Unmarshal(it.Body, &p); err != nil {
			t.Fatal(err)
		}
		p["id"] = id
		body, _ := json.Marshal(p)
		if status, answer := h.sign(body, h.priv, h.clk.Now()); status != http.StatusBadRequest || !strings.Contains(string(answer), "no valid id") {
			t.Errorf("id %q: HTTP %d %s, want 400 saying the id is not valid", id, status, answer)
		}
	}
	h.command("1001", testChannel, createDAG)
	h.card("r-1", testChannel)
	h.core.Wait()
	if rs, _ := h.svc.History(context.Background(), 10); len(rs) != 1 {
		t.Fatalf("%d requests, want 1 (only the interaction with an id)", len(rs))
	}
}
