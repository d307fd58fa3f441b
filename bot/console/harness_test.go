package console

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/bot/bottest"
	"github.com/exchops/exchops/internal/clock"
)

// demoPeople are the demo's people (issue 5).
var demoPeople = []approvals.Person{
	{Name: "alice", Roles: []approvals.Role{approvals.RoleAdmin}},
	{Name: "bob", Roles: []approvals.Role{approvals.RoleAdmin, approvals.RoleApprover}},
	{Name: "carol", Roles: []approvals.Role{approvals.RoleApprover}},
	{Name: "dave", Roles: []approvals.Role{approvals.RoleViewer}},
}

// harness is a real core (SQLite store, approvals, bot) with the console as its only
// front, served by an httptest server.
type harness struct {
	c    *Console
	core *bot.Core
	svc  *approvals.Service
	srv  *httptest.Server
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, defaultPolicy(demoPeople), Options{People: demoPeople})
}

func defaultPolicy(people []approvals.Person) approvals.Policy {
	return approvals.Policy{People: people, Required: 1, ExpireAfter: 30 * time.Minute}
}

// newHarnessWith is newHarness under another approval policy and with the console's
// options (its people included).
func newHarnessWith(t *testing.T, pol approvals.Policy, opt Options) *harness {
	t.Helper()
	rig := bottest.NewRig(t, bottest.Options{Policy: pol, Clock: clock.Real{}, Exec: &bottest.FakeExec{Progress: true}})
	core, svc := rig.Core, rig.Svc
	c := New(core, opt)
	rig.AddFront(c, nil)
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(c.Close) // first: end the event streams so that srv.Close does not wait for them
	return &harness{c: c, core: core, svc: svc, srv: srv}
}

// post sends a JSON body as the page does and returns the status and decoded answer.
func (h *harness) post(t *testing.T, path string, body any) (int, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", h.srv.URL+path, strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", h.srv.URL)
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("POST %s: answer is not JSON: %v", path, err)
	}
	return resp.StatusCode, out
}

// event is one server-sent event as a client receives it.
type event struct {
	ID    string
	Batch batch
}

// stream is an open GET /events, read by a goroutine into a channel.
type stream struct {
	events chan event
	cancel context.CancelFunc
	done   chan struct{}
}

func openStream(t *testing.T, url string, lastID string) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q, want text/event-stream", ct)
	}
	s := &stream{events: make(chan event, 100), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		var ev event
		var data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if data != "" {
					if err := json.Unmarshal([]byte(data), &ev.Batch); err != nil {
						t.Errorf("event data is not a batch: %v: %s", err, data)
					}
					s.events <- ev
				}
				ev, data = event{}, ""
			case strings.HasPrefix(line, "id: "):
				ev.ID = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *stream) close() {
	s.cancel()
	<-s.done
}

// next returns the next event, failing the test after timeout.
func (s *stream) next(t *testing.T, timeout time.Duration) event {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-time.After(timeout):
		t.Fatalf("no event within %s", timeout)
		return event{}
	}
}

// view is what a page shows: the messages by id, in transcript order, updated in
// place the way console.js does it.
type view struct {
	mu    sync.Mutex
	order []string
	msgs  map[string]*message
}

func newView() *view { return &view{msgs: map[string]*message{}} }

func (v *view) apply(b batch) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if b.Reset {
		v.order, v.msgs = nil, map[string]*message{}
	}
	for _, m := range b.Messages {
		if _, ok := v.msgs[m.ID]; !ok {
			v.order = append(v.order, m.ID)
		}
		v.msgs[m.ID] = m
	}
}

func (v *view) html(id string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if m := v.msgs[id]; m != nil {
		return m.HTML
	}
	return ""
}

// find returns the messages whose HTML contains every one of parts.
func (v *view) find(parts ...string) []*message {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []*message
next:
	for _, id := range v.order {
		m := v.msgs[id]
		for _, p := range parts {
			if !strings.Contains(m.HTML, p) {
				continue next
			}
		}
		out = append(out, m)
	}
	return out
}

// until applies events from s to v until ok reports true, failing after 10 s.
func (v *view) until(t *testing.T, s *stream, what string, ok func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !ok() {
		select {
		case ev := <-s.events:
			v.apply(ev.Batch)
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
