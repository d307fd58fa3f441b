package console

import (
	"net/http"
	"strings"
	"testing"
)

// TestDenyReasonRule: the console's Deny box gets the typed deny's rule. A reason with
// a bidirectional control (which would show the card's text reversed), a line break or
// more than 200 characters is refused with what is wrong, and the request stays
// pending until a reason the rule accepts.
func TestDenyReasonRule(t *testing.T) {
	h := newHarness(t)
	s := openStream(t, h.srv.URL+"/events", "")
	v := newView()
	if code, _ := h.post(t, "/api/command", commandBody{Person: "bob", Text: "copy add MB01 EX10-MB02"}); code != http.StatusAccepted {
		t.Fatal(code)
	}
	v.until(t, s, "the pending card", func() bool { return strings.Contains(v.html("card-r-1"), `data-status="pending"`) })
	for i, tc := range []struct{ reason, says string }{
		{"not today \u202Eyadot ton", "contains U&#43;202E (character 11), a bidirectional control character"},
		{"first line\nsecond line", "contains U&#43;000A (character 11), a line break"},
		{strings.Repeat("no ", 100), "is 299 characters long: keep it to 200"},
	} { // (the page's HTML writes + as &#43;)
		if code, _ := h.post(t, "/api/action", actionBody{Person: "carol", ID: "r-1", Decision: "deny", Reason: tc.reason}); code != http.StatusAccepted {
			t.Fatal(code)
		}
		v.until(t, s, "carol's error", func() bool {
			return len(v.find(`class="msg reply error"`, `data-for="carol"`, tc.says)) == 1
		})
		if html := v.html("card-r-1"); !strings.Contains(html, `data-status="pending"`) {
			t.Fatalf("after refused reason %d the card is no longer pending:\n%s", i, html)
		}
	}
	if code, _ := h.post(t, "/api/action", actionBody{Person: "carol", ID: "r-1", Decision: "deny", Reason: "  not today  "}); code != http.StatusAccepted {
		t.Fatal(code)
	}
	v.until(t, s, "the denied card", func() bool {
		html := v.html("card-r-1")
		return strings.Contains(html, `data-status="denied"`) && strings.Contains(html, "denied by carol: not today")
	})
}
