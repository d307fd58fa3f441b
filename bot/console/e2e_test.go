package console

import (
	"net/http"
	"strings"
	"testing"
)

// TestApprovalFlow is the demo's story through the handler and the event stream, with
// the real core, approvals and SQLite deciding: alice asks for a DAG, cannot approve it
// herself, dave (a viewer) cannot either, bob approves, the card runs to "succeeded",
// and history shows both people.
func TestApprovalFlow(t *testing.T) {
	h := newHarness(t)
	s := openStream(t, h.srv.URL+"/events", "")
	v := newView()

	accepted := func(path string, body any) {
		t.Helper()
		if code, out := h.post(t, path, body); code != http.StatusAccepted || out["ok"] != true {
			t.Fatalf("POST %s %+v = %d %v", path, body, code, out)
		}
	}
	has := func(id string, parts ...string) func() bool {
		return func() bool {
			html := v.html(id)
			for _, p := range parts {
				if !strings.Contains(html, p) {
					return false
				}
			}
			return html != ""
		}
	}
	found := func(parts ...string) func() bool {
		return func() bool { return len(v.find(parts...)) > 0 }
	}

	accepted("/api/command", commandBody{Person: "alice", Text: `/exchange dag create E14-DAG witness=EX10-CAHT dir=C:\FSW`})
	v.until(t, s, "alice's command line", found(`class="msg said"`, `data-by="alice"`, `dag create E14-DAG`))
	v.until(t, s, "the pending card", has("card-r-1", `data-status="pending"`, "New-DatabaseAvailabilityGroup -Name &#39;E14-DAG&#39;",
		`<span class="server">EX10-CAHT</span>`, `class="approve"`, `class="deny"`, `<span class="person">alice</span> <span class="via">via console #exchange</span>`))
	v.until(t, s, "the private confirmation", found(`data-for="alice"`, "r-1 is waiting for 1 approval"))

	accepted("/api/action", actionBody{Person: "alice", ID: "r-1", Decision: "approve"})
	v.until(t, s, "alice's refusal", found(`class="msg reply refused"`, `data-for="alice"`, "r-1 is your own request"))
	accepted("/api/action", actionBody{Person: "dave", ID: "r-1", Decision: "approve"})
	v.until(t, s, "dave's refusal", found(`class="msg reply refused"`, `data-for="dave"`, "only approvers can approve"))
	if !has("card-r-1", `data-status="pending"`)() {
		t.Fatal("a refused vote changed the card")
	}

	accepted("/api/action", actionBody{Person: "bob", ID: "r-1", Decision: "approve"})
	v.until(t, s, "the card to succeed", has("card-r-1", `data-status="succeeded"`, "output of dag create E14-DAG",
		`<span class="person">bob</span> approved at`, "approved by bob", "running step 1 of 1"))
	v.until(t, s, "bob's confirmation", found(`data-for="bob"`, "You approved r-1"))
	if card := v.html("card-r-1"); strings.Contains(card, `class="approve"`) {
		t.Error("the finished card still offers Approve")
	}

	// A second click after the run is refused politely.
	accepted("/api/action", actionBody{Person: "carol", ID: "r-1", Decision: "deny", Reason: "too late"})
	v.until(t, s, "carol's refusal", found(`data-for="carol"`, "r-1 is already succeeded"))

	accepted("/api/command", commandBody{Person: "carol", Text: "history"})
	v.until(t, s, "history", found(`class="history-row" data-request="r-1" data-status="succeeded"`, "<td>alice</td>", "approved by bob"))

	accepted("/api/command", commandBody{Person: "dave", Text: "copy status"})
	v.until(t, s, "a read-only result", found(`class="msg reply result"`, "output of copy status"))

	// One card for the request, however many events it had.
	if n := len(v.find(`data-request="r-1"`, `class="msg card`)); n != 1 {
		t.Errorf("%d cards for r-1, want 1", n)
	}
}

// TestDenyFlow: bob, an approver, cannot approve his own request; carol denies it with
// a reason; the card shows it and offers nothing more.
func TestDenyFlow(t *testing.T) {
	h := newHarness(t)
	s := openStream(t, h.srv.URL+"/events", "")
	v := newView()
	if code, _ := h.post(t, "/api/command", commandBody{Person: "bob", Text: "copy add MB01 EX10-MB02"}); code != http.StatusAccepted {
		t.Fatal(code)
	}
	v.until(t, s, "the pending card", func() bool { return strings.Contains(v.html("card-r-1"), `data-status="pending"`) })
	if code, _ := h.post(t, "/api/action", actionBody{Person: "bob", ID: "r-1", Decision: "approve"}); code != http.StatusAccepted {
		t.Fatal(code)
	}
	v.until(t, s, "bob's refusal", func() bool {
		return len(v.find(`class="msg reply refused"`, `data-for="bob"`, "r-1 is your own request: someone else must approve it.")) == 1
	})
	if code, _ := h.post(t, "/api/action", actionBody{Person: "carol", ID: "r-1", Decision: "deny", Reason: "not <today>"}); code != http.StatusAccepted {
		t.Fatal(code)
	}
	v.until(t, s, "the denied card", func() bool {
		html := v.html("card-r-1")
		return strings.Contains(html, `data-status="denied"`) && strings.Contains(html, "denied by carol: not &lt;today&gt;")
	})
	if strings.Contains(v.html("card-r-1"), `class="deny"`) {
		t.Error("the denied card still offers Deny")
	}
}
