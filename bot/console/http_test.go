package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
)

func TestPage(t *testing.T) {
	c := New(nil, Options{People: demoPeople})
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	for _, want := range []string{
		`id="command"`, `id="send"`, `id="transcript"`,
		`data-person="alice"`, `alice</span> <span class="roles">— admin</span>`,
		`bob</span> <span class="roles">— admin, approver</span>`,
		`data-person="dave"`, `#exchange`,
		`data-text="dag create E14-DAG witness=EX10-CAHT dir=C:\FSW ip=10.0.0.50"`,
		`data-command="requests"`, `data-command="history"`, `data-command="help"`,
		`<label for="command"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	// Offline: nothing may come from elsewhere.
	if m := regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).FindString(page); m != "" {
		t.Errorf("the page loads %s from the network", m)
	}

	for path, ctype := range map[string]string{
		"/static/console.js":  "text/javascript",
		"/static/console.css": "text/css",
		"/static/favicon.svg": "image/svg+xml",
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) {
			t.Errorf("GET %s = %d %s, want 200 %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), ctype)
		}
		// (an SVG's namespace is a name, not a download)
		if regexp.MustCompile(`(?i)url\(\s*["']?(https?:)?//|@import|https?://`).Match(bytes.ReplaceAll(b, []byte(`xmlns="http://www.w3.org/2000/svg"`), nil)) {
			t.Errorf("%s refers to the network", path)
		}
	}
	resp, err = http.Get(srv.URL + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("GET /nope = %d, want 404", resp.StatusCode)
	}
}

func TestTranscriptJSON(t *testing.T) {
	c := New(nil, Options{People: demoPeople, Now: func() time.Time { return t0 }})
	c.Announce(context.Background(), approvals.Event{Kind: approvals.EventRequested, Request: request()})
	c.reply("alice", bot.Reply{Kind: bot.ReplyText, Private: true, Text: "hello"})
	rec := httptest.NewRecorder()
	c.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1:8080/api/transcript", nil))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("GET /api/transcript = %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	var b batch
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	if b.Seq != 2 || !b.Reset || b.Epoch == "" || b.Now != "2025-03-14T09:30:00Z" || len(b.Messages) != 2 {
		t.Fatalf("transcript = %+v", b)
	}
	if m := b.Messages[0]; m.ID != "card-r-7" || m.For != "" || m.Seq != 1 || !strings.Contains(m.HTML, `class="msg card status-pending"`) {
		t.Errorf("first message = %+v", m)
	}
	if m := b.Messages[1]; m.ID != "m-1" || m.For != "alice" || m.Seq != 2 {
		t.Errorf("second message = %+v", m)
	}
}

// TestPostValidation checks what the POST endpoints refuse before the core hears of
// it: the core is nil, so a request that got through would panic.
func TestPostValidation(t *testing.T) {
	c := New(nil, Options{People: demoPeople})
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()

	big := `{"person":"alice","text":"` + strings.Repeat("x", MaxBody) + `"}`
	cases := []struct {
		name    string
		path    string
		ctype   string
		headers map[string]string
		body    string
		code    int
		errLike string
	}{
		{"too big", "/api/command", "application/json", nil, big, 400, "over 16 KB"},
		{"not json", "/api/command", "application/json", nil, `person=alice&text=help`, 400, "not the JSON"},
		{"two values", "/api/command", "application/json", nil, `{"person":"alice"} {"person":"bob"}`, 400, "more than one"},
		{"json array", "/api/command", "application/json", nil, `["alice"]`, 400, "not the JSON"},
		{"unknown person", "/api/command", "application/json", nil, `{"person":"mallory","text":"help"}`, 400, `unknown person "mallory"`},
		{"no person", "/api/command", "application/json", nil, `{"text":"help"}`, 400, "person is missing"},
		{"form post", "/api/command", "application/x-www-form-urlencoded", nil, `person=alice&text=help`, 403, "application/json"},
		{"text/plain", "/api/command", "text/plain", nil, `{"person":"alice","text":"help"}`, 403, "application/json"},
		{"no content type", "/api/command", "", nil, `{"person":"alice","text":"help"}`, 403, "application/json"},
		{"cross origin", "/api/command", "application/json", map[string]string{"Origin": "http://evil.example"}, `{"person":"alice","text":"help"}`, 403, "cross-origin"},
		{"null origin", "/api/command", "application/json", map[string]string{"Origin": "null"}, `{"person":"alice","text":"help"}`, 403, "cross-origin"},
		{"cross site fetch", "/api/action", "application/json", map[string]string{"Sec-Fetch-Site": "cross-site"}, `{"person":"bob","id":"r-1","decision":"approve"}`, 403, "cross-origin"},
		{"bad decision", "/api/action", "application/json", nil, `{"person":"bob","id":"r-1","decision":"maybe"}`, 400, `decision must be "approve" or "deny"`},
		{"no id", "/api/action", "application/json", nil, `{"person":"bob","decision":"approve"}`, 400, "id is missing"},
		{"action unknown person", "/api/action", "application/json", nil, `{"person":"eve","id":"r-1","decision":"deny"}`, 400, `unknown person "eve"`},
		{"action too big", "/api/action", "application/json", nil, `{"person":"bob","id":"r-1","decision":"deny","reason":"` + strings.Repeat("x", MaxBody) + `"}`, 400, "over 16 KB"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", srv.URL+tc.path, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e apiError
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatalf("the refusal is not JSON: %v", err)
			}
			if resp.StatusCode != tc.code || e.OK || !strings.Contains(e.Error, tc.errLike) {
				t.Errorf("POST %s = %d %+v, want %d and an error like %q", tc.path, resp.StatusCode, e, tc.code, tc.errLike)
			}
		})
	}
	resp, err := http.Get(srv.URL + "/api/command")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /api/command = %d, want 405", resp.StatusCode)
	}
	if n := len(c.transcript.msgs); n != 0 {
		t.Errorf("refused posts left %d messages in the transcript", n)
	}
}

func TestCommandText(t *testing.T) {
	for in, want := range map[string]string{
		"/exchange dag status E14-DAG": "dag status E14-DAG",
		"  /exchange   help  ":         "help",
		"/exchange":                    "",
		"/exchangex help":              "/exchangex help",
		"copy status":                  "copy status",
	} {
		if got := commandText(in); got != want {
			t.Errorf("commandText(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEventsCardAndUpdate: a stream gets the announced card, then the same card
// (same id) when it changes.
func TestEventsCardAndUpdate(t *testing.T) {
	c := New(nil, Options{People: demoPeople, Now: func() time.Time { return t0 }})
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	defer c.Close()

	s := openStream(t, srv.URL+"/events", "")
	first := s.next(t, 5*time.Second)
	if !first.Batch.Reset || len(first.Batch.Messages) != 0 || first.ID != "0" {
		t.Fatalf("first event = %+v, want an empty reset with id 0", first)
	}

	r := request()
	c.Announce(context.Background(), approvals.Event{Kind: approvals.EventRequested, Request: r})
	ev := s.next(t, 5*time.Second)
	if ev.ID != "1" || ev.Batch.Reset || len(ev.Batch.Messages) != 1 {
		t.Fatalf("event after the request = %+v", ev)
	}
	card := ev.Batch.Messages[0]
	if card.ID != "card-r-7" || !strings.Contains(card.HTML, `data-status="pending"`) || !strings.Contains(card.HTML, `<button type="button" class="approve"`) {
		t.Fatalf("card = %+v", card)
	}

	r2 := next(r, t0.Add(time.Minute), func(r *approvals.Request) {
		r.Status, r.Reason = approvals.Denied, "denied by bob: no"
		r.Votes = []approvals.Vote{{Person: "bob", Decision: approvals.Deny, Reason: "no", At: t0.Add(time.Minute)}}
	})
	c.Announce(context.Background(), approvals.Event{Kind: approvals.EventDenied, Request: r2, Actor: "bob", Detail: "no"})
	ev = s.next(t, 5*time.Second)
	if ev.ID != "2" || len(ev.Batch.Messages) != 1 {
		t.Fatalf("event after the denial = %+v", ev)
	}
	upd := ev.Batch.Messages[0]
	if upd.ID != card.ID || upd.Seq != 2 || !strings.Contains(upd.HTML, `data-status="denied"`) || strings.Contains(upd.HTML, `class="approve"`) {
		t.Fatalf("updated card = %+v", upd)
	}
	if n := len(c.transcript.msgs); n != 1 {
		t.Errorf("the transcript has %d messages, want the one card", n)
	}
}

// TestEventsReplay: a client that reconnects gets what it missed, in transcript
// order, with updated cards where they were; one that is ahead of the server, or from
// an older epoch, gets everything again.
func TestEventsReplay(t *testing.T) {
	c := New(nil, Options{People: demoPeople, Now: func() time.Time { return t0 }})
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	defer c.Close()

	r := request()
	c.Announce(context.Background(), approvals.Event{Kind: approvals.EventRequested, Request: r})    // seq 1: card
	c.said("alice", "help")                                                                          // seq 2: m-1
	c.Announce(context.Background(), approvals.Event{Kind: approvals.EventCancelled, Actor: "alice", // seq 3: card again
		Request: next(r, t0, func(r *approvals.Request) { r.Status, r.Reason = approvals.Cancelled, "cancelled by alice" })})
	c.said("bob", "requests") // seq 4: m-2

	ids := func(b batch) string {
		var s []string
		for _, m := range b.Messages {
			s = append(s, fmt.Sprintf("%s@%d", m.ID, m.Seq))
		}
		return strings.Join(s, " ")
	}
	cases := []struct {
		name, url, lastID string
		reset             bool
		want              string
	}{
		{"missed 2 to 4", "/events", "1", false, "card-r-7@3 m-1@2 m-2@4"},
		{"missed the update", "/events", "3", false, "m-2@4"},
		{"since instead of the header", "/events?since=2", "", false, "card-r-7@3 m-2@4"},
		{"header wins over since", "/events?since=0", "3", false, "m-2@4"},
		{"ahead of the server", "/events", "99", true, "card-r-7@3 m-1@2 m-2@4"},
		{"older epoch", "/events?since=3&epoch=old", "", true, "card-r-7@3 m-1@2 m-2@4"},
		{"not a number", "/events", "x", true, "card-r-7@3 m-1@2 m-2@4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := openStream(t, srv.URL+tc.url, tc.lastID)
			ev := s.next(t, 5*time.Second)
			if ev.ID != "4" || ev.Batch.Reset != tc.reset || ids(ev.Batch) != tc.want {
				t.Errorf("replay = id %s reset %v [%s], want id 4 reset %v [%s]", ev.ID, ev.Batch.Reset, ids(ev.Batch), tc.reset, tc.want)
			}
			s.close()
		})
	}

	// Up to date: nothing until the next change, then only that change.
	s := openStream(t, srv.URL+"/events?epoch="+c.transcript.epoch, "4")
	select {
	case ev := <-s.events:
		t.Fatalf("an up-to-date client got %+v", ev)
	case <-time.After(100 * time.Millisecond):
	}
	c.said("carol", "history")
	if ev := s.next(t, 5*time.Second); ev.ID != "5" || ids(ev.Batch) != "m-3@5" {
		t.Errorf("next event = id %s [%s], want id 5 [m-3@5]", ev.ID, ids(ev.Batch))
	}
}

// TestEventsEndWithTheClient: a client that goes away ends its handler, and so does
// Close.
func TestEventsEndWithTheClient(t *testing.T) {
	c := New(nil, Options{People: demoPeople})
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()

	waitStreams := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for c.streams.Load() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%d streams open, want %d", c.streams.Load(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	a := openStream(t, srv.URL+"/events", "")
	b := openStream(t, srv.URL+"/events", "")
	a.next(t, 5*time.Second)
	b.next(t, 5*time.Second)
	waitStreams(2)
	a.close()
	waitStreams(1)
	c.Close()
	waitStreams(0)
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the client's stream did not end after Close")
	}
}

// lockedRecorder is a ResponseRecorder that a test may read while the handler writes.
type lockedRecorder struct {
	mu  sync.Mutex
	rec *httptest.ResponseRecorder
}

func (l *lockedRecorder) Header() http.Header { return l.rec.Header() }

func (l *lockedRecorder) WriteHeader(code int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rec.WriteHeader(code)
}

func (l *lockedRecorder) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rec.Write(b)
}

func (l *lockedRecorder) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rec.Flush()
}

func (l *lockedRecorder) body() (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rec.Body.String(), l.rec.Flushed
}

// TestEventsHeartbeatAndCancel runs the handler on a fake clock: an idle stream gets a
// comment every Heartbeat, and the handler returns as soon as its context ends.
func TestEventsHeartbeatAndCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(nil, Options{People: demoPeople})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		w := &lockedRecorder{rec: httptest.NewRecorder()}
		req := httptest.NewRequest("GET", "http://localhost:8080/events", nil).WithContext(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.Handler().ServeHTTP(w, req)
		}()
		heartbeats := func() int {
			body, flushed := w.body()
			if !flushed {
				t.Error("the stream was never flushed")
			}
			return strings.Count(body, ": heartbeat\n\n")
		}
		time.Sleep(Heartbeat - time.Second)
		synctest.Wait()
		if n := heartbeats(); n != 0 {
			t.Fatalf("%d heartbeats before %s", n, Heartbeat)
		}
		time.Sleep(Heartbeat + 2*time.Second) // 31 s in all
		synctest.Wait()
		if n := heartbeats(); n != 2 {
			body, _ := w.body()
			t.Fatalf("%d heartbeats after 31s, want 2:\n%s", n, body)
		}
		cancel()
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("the handler is still running after its client went away")
		}
		if n := c.streams.Load(); n != 0 {
			t.Errorf("%d streams counted open", n)
		}
	})
}

// TestTranscriptCap: the oldest messages go, the newest stay, and a stream that
// replays from the start gets only what is left.
func TestTranscriptCap(t *testing.T) {
	c := New(nil, Options{People: demoPeople, Now: func() time.Time { return t0 }})
	c.Announce(context.Background(), approvals.Event{Kind: approvals.EventRequested, Request: request()})
	for i := range MaxMessages + 10 {
		c.said("alice", fmt.Sprint("copy status ", i))
	}
	msgs := c.transcript.msgs
	if len(msgs) != MaxMessages || len(c.transcript.byID) != MaxMessages {
		t.Fatalf("%d messages (%d by id), want %d", len(msgs), len(c.transcript.byID), MaxMessages)
	}
	if msgs[0].ID != "m-11" || msgs[len(msgs)-1].ID != fmt.Sprint("m-", MaxMessages+10) {
		t.Errorf("kept %s to %s", msgs[0].ID, msgs[len(msgs)-1].ID)
	}
	// The card was dropped: a later event posts it again, at the end.
	c.Announce(context.Background(), approvals.Event{Kind: approvals.EventExpired,
		Request: next(request(), t0, func(r *approvals.Request) { r.Status = approvals.Expired })})
	if last := c.transcript.msgs[MaxMessages-1]; last.ID != "card-r-7" || !strings.Contains(last.HTML, "status-expired") {
		t.Errorf("last message = %s", last.ID)
	}
}

// TestConcurrentPosts drives the real core through the handler from many goroutines
// at once (run with -race).
func TestConcurrentPosts(t *testing.T) {
	h := newHarness(t)
	const perPerson = 8
	texts := []string{"help", "requests", "history", "/exchange help copy add", "dag craete E14-DAG"}
	var wg sync.WaitGroup
	for _, p := range demoPeople {
		for i := range perPerson {
			wg.Go(func() {
				code, out := h.post(t, "/api/command", commandBody{Person: p.Name, Text: texts[i%len(texts)]})
				if code != http.StatusAccepted || out["ok"] != true {
					t.Errorf("POST /api/command = %d %v", code, out)
				}
			})
			wg.Go(func() {
				code, _ := h.post(t, "/api/action", actionBody{Person: p.Name, ID: "r-404", Decision: "approve"})
				if code != http.StatusAccepted {
					t.Errorf("POST /api/action = %d", code)
				}
			})
		}
	}
	wg.Wait()
	h.core.Wait()
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	// Each command: what was typed and one reply; each click: one reply.
	want := len(demoPeople) * perPerson * 3
	if n := len(h.c.transcript.msgs); n != want {
		t.Errorf("%d messages, want %d", n, want)
	}
	seen := map[string]bool{}
	for i, m := range h.c.transcript.msgs {
		if seen[m.ID] {
			t.Errorf("message id %s used twice", m.ID)
		}
		seen[m.ID] = true
		if i > 0 && m.Seq <= h.c.transcript.msgs[i-1].Seq {
			t.Errorf("sequence numbers out of order at %s", m.ID)
		}
	}
}
