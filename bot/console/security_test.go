package console

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
)

// waitSettled polls until request id exists and is no longer pending or running; nil
// when there is no such request after a while.
func waitSettled(t *testing.T, h *harness, id string) *approvals.Request {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r, err := h.svc.Get(context.Background(), id)
		if err == nil && r.Status != approvals.Pending && r.Status != approvals.Approved && r.Status != approvals.Running {
			return r
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// rebound sends what a page on evil.example, whose name was rebound to 127.0.0.1,
// sends to the console from a visitor's browser: its own Host and Origin and, the
// page being same-origin with itself, Sec-Fetch-Site: same-origin.
func rebound(t *testing.T, h *harness, path string, body any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest("POST", h.srv.URL+path, strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	port := h.srv.URL[strings.LastIndexByte(h.srv.URL, ':'):]
	req.Host = "evil.example" + port
	req.Header.Set("Origin", "http://evil.example"+port)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDNSRebinding is issue 15's first finding: a page whose name rebinds to the
// console's address filed a change as alice and approved it as bob, and it ran. The
// console now refuses its requests before any handler runs.
func TestDNSRebinding(t *testing.T) {
	h := newHarness(t)
	if code := rebound(t, h, "/api/command", commandBody{Person: "alice", Text: "dns add client 10.0.0.40 zone=msglab.local"}); code != http.StatusForbidden {
		t.Errorf("the rebound page's command: %d, want 403", code)
	}
	h.core.Wait()
	if code := rebound(t, h, "/api/action", actionBody{Person: "bob", ID: "r-1", Decision: "approve"}); code != http.StatusForbidden {
		t.Errorf("the rebound page's approval: %d, want 403", code)
	}
	h.core.Wait()
	if r, err := h.svc.Get(context.Background(), "r-1"); err == nil {
		t.Fatalf("the rebound page filed %s, now %s", r.ID, r.Status)
	}
	if n := len(h.c.transcript.msgs); n != 0 {
		t.Errorf("refused requests left %d messages", n)
	}
	// It cannot read the transcript or the stream either.
	for _, path := range []string{"/", "/api/transcript", "/events", "/static/console.js"} {
		req, _ := http.NewRequest("GET", h.srv.URL+path, nil)
		req.Host = "evil.example"
		resp, err := h.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "console_hosts") {
			t.Errorf("GET %s for evil.example: %d %s", path, resp.StatusCode, body)
		}
	}
	// The same clicks from the console's own page go through.
	if code, _ := h.post(t, "/api/command", commandBody{Person: "alice", Text: "dns add client 10.0.0.40 zone=msglab.local"}); code != http.StatusAccepted {
		t.Fatalf("alice's own command: %d", code)
	}
	h.core.Wait()
	if code, _ := h.post(t, "/api/action", actionBody{Person: "bob", ID: "r-1", Decision: "approve"}); code != http.StatusAccepted {
		t.Fatalf("bob's own approval: %d", code)
	}
	if r := waitSettled(t, h, "r-1"); r == nil || r.Status != approvals.Succeeded {
		t.Fatalf("the console's own request did not run: %+v", r)
	}
}

// TestHostNames: loopback names with or without a port, and console_hosts, are
// answered; every other Host is refused.
func TestHostNames(t *testing.T) {
	c := New(nil, Options{People: demoPeople, Hosts: []string{"ops.example.com", "EXCHOPS.corp.example.", "[fd00::7]", "10.0.0.7"}})
	h := c.Handler()
	for host, want := range map[string]int{
		"localhost": 200, "localhost:8080": 200, "LocalHost:8080": 200, "127.0.0.1": 200, "127.0.0.1:8080": 200,
		"[::1]": 200, "[::1]:8080": 200, "127.0.0.2:8080": 200,
		"ops.example.com": 200, "ops.example.com:443": 200, "OPS.example.com.": 200, "exchops.corp.example": 200,
		"[fd00::7]:8080": 200, "10.0.0.7": 200,
		"": 403, "evil.example": 403, "evil.example:8080": 403, "localhost.evil.example": 403, "127.0.0.1.nip.io": 403,
		"ops.example.com.evil.example": 403, "example.com": 403, "10.0.0.8:8080": 403, "[fd00::8]": 403, "0.0.0.0:8080": 403,
	} {
		req := httptest.NewRequest("GET", "/api/transcript", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Host %q: %d, want %d: %s", host, rec.Code, want, rec.Body)
		}
	}
}

// proxied is a request as the trusted proxy forwards it: from addr, naming user
// (none when empty).
func proxied(method, path, addr, user string, body any) *http.Request {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req := httptest.NewRequest(method, "http://127.0.0.1:8080"+path, rd)
	req.RemoteAddr = addr
	if user != "" {
		req.Header.Set("X-Forwarded-User", user)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// TestSignInThroughProxy is issue 15's third finding, on the console's side: with
// console_auth, the person is whoever the trusted proxy's header names, nobody else
// gets in, the page offers no picker, and a signed-in person sees no one else's
// private replies.
func TestSignInThroughProxy(t *testing.T) {
	const proxy = "10.0.0.5:41000"
	h := newHarnessWith(t, defaultPolicy(demoPeople), Options{People: demoPeople,
		Auth: &Auth{Header: "X-Forwarded-User", Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32")}}})
	handler := h.c.Handler()
	serve := func(req *http.Request) (int, string) {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}

	// alice, signed in, asks; the body names nobody (the page sends no picker choice).
	if code, body := serve(proxied("POST", "/api/command", proxy, "alice", map[string]string{"text": "dns add client 10.0.0.40 zone=msglab.local"})); code != http.StatusAccepted {
		t.Fatalf("alice's command through the proxy: %d %s", code, body)
	}
	h.core.Wait()
	r, err := h.svc.Get(context.Background(), "r-1")
	if err != nil || r.Requester != "alice" {
		t.Fatalf("r-1: %+v %v, want a request by alice", r, err)
	}

	refused := []struct {
		name string
		req  *http.Request
		like string
	}{
		{"alice naming bob", proxied("POST", "/api/action", proxy, "alice", actionBody{Person: "bob", ID: "r-1", Decision: "approve"}), "signed in as alice"},
		{"bob from another address", proxied("POST", "/api/action", "10.0.0.9:41000", "bob", actionBody{ID: "r-1", Decision: "approve"}), "10.0.0.9 is not one"},
		{"bob from loopback", proxied("POST", "/api/action", "127.0.0.1:41000", "bob", actionBody{ID: "r-1", Decision: "approve"}), "127.0.0.1 is not one"},
		{"no header", proxied("POST", "/api/action", proxy, "", actionBody{Person: "bob", ID: "r-1", Decision: "approve"}), "did not say who you are"},
		{"unknown person", proxied("POST", "/api/action", proxy, "mallory", actionBody{ID: "r-1", Decision: "approve"}), "is not one of the people"},
		{"the page without header", proxied("GET", "/", proxy, "", nil), "did not say who you are"},
		{"the stream from elsewhere", proxied("GET", "/events", "192.0.2.1:5000", "bob", nil), "is not one"},
		{"the transcript from elsewhere", proxied("GET", "/api/transcript", "192.0.2.1:5000", "bob", nil), "is not one"},
	}
	two := proxied("POST", "/api/action", proxy, "bob", actionBody{ID: "r-1", Decision: "approve"})
	two.Header.Add("X-Forwarded-User", "carol")
	refused = append(refused, struct {
		name string
		req  *http.Request
		like string
	}{"two names", two, "did not say who you are"})
	for _, tc := range refused {
		if code, body := serve(tc.req); code != http.StatusForbidden || !strings.Contains(body, tc.like) {
			t.Errorf("%s: %d %s, want 403 like %q", tc.name, code, body, tc.like)
		}
	}
	h.core.Wait()
	if r, _ := h.svc.Get(context.Background(), "r-1"); r.Status != approvals.Pending || len(r.Votes) != 0 {
		t.Fatalf("a refused request voted: %s %+v", r.Status, r.Votes)
	}

	// The page: no picker, the signed-in person instead.
	code, page := serve(proxied("GET", "/", proxy, "bob", nil))
	if code != 200 || strings.Contains(page, `class="person"`) || strings.Contains(page, "data-person=") ||
		!strings.Contains(page, `data-signed-in="bob"`) || !strings.Contains(page, `Signed in as <span class="name">bob</span> <span class="roles">— admin, approver</span>`) {
		t.Errorf("bob's page (%d) still offers the picker or does not say who he is:\n%s", code, page)
	}

	// bob, signed in, approves; the run happens as bob's approval.
	if code, body := serve(proxied("POST", "/api/action", proxy, "bob", actionBody{ID: "r-1", Decision: "approve"})); code != http.StatusAccepted {
		t.Fatalf("bob's approval through the proxy: %d %s", code, body)
	}
	if r := waitSettled(t, h, "r-1"); r == nil || r.Status != approvals.Succeeded || len(r.Votes) != 1 || r.Votes[0].Person != "bob" {
		t.Fatalf("r-1 after bob's approval: %+v", r)
	}
	h.core.Wait()

	// alice's private replies reach alice only.
	transcriptFor := func(who string) batch {
		t.Helper()
		code, body := serve(proxied("GET", "/api/transcript", proxy, who, nil))
		var b batch
		if err := json.Unmarshal([]byte(body), &b); code != 200 || err != nil {
			t.Fatalf("GET /api/transcript as %s: %d %v", who, code, err)
		}
		return b
	}
	private := func(b batch, who string) int {
		n := 0
		for _, m := range b.Messages {
			if m.For == who {
				n++
			}
		}
		return n
	}
	if a, b := transcriptFor("alice"), transcriptFor("bob"); private(a, "alice") == 0 || private(b, "alice") != 0 || private(a, "bob") != 0 || private(b, "bob") == 0 {
		t.Errorf("private replies: alice sees %d of hers and %d of bob's; bob sees %d of alice's and %d of his",
			private(a, "alice"), private(a, "bob"), private(b, "alice"), private(b, "bob"))
	}
}
