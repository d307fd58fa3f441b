package discord

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exchops/exchops/internal/clock"
)

// fakeDiscord is an in-process Discord REST API: it keeps the messages posted to it,
// answers as Discord does (a JSON message for posts and edits), refuses interaction
// tokens older than 15 minutes on its clock, and can be told to fail.
type fakeDiscord struct {
	t     testing.TB
	srv   *httptest.Server
	clk   clock.Clock
	auth  string // the Authorization header the bot must send
	appID string

	mu       sync.Mutex
	changed  chan struct{}
	reqs     []*recorded
	msgs     map[string]*fakeMessage // by message id
	tokens   map[string]time.Time    // interaction token -> when it was issued
	faults   []*fault
	nextID   int64
	gateway  string // the gateway URL GET gateway answers
	commands json.RawMessage
}

// recorded is one request as the fake received it.
type recorded struct {
	At     time.Time // on the fake's clock
	Method string
	Path   string // without /api/v9/
	Auth   string
	Body   map[string]any    // the JSON body, or a multipart body's payload_json
	Files  map[string]string // multipart files by name
	Types  map[string]string // their Content-Type, by name
	Status int               // what the fake answered
}

func (r *recorded) String() string { return r.Method + " " + redactPath(r.Path) }

// webhook reports whether the request used an interaction token.
func (r *recorded) webhook() bool {
	return strings.HasPrefix(r.Path, "webhooks/") || strings.HasPrefix(r.Path, "interactions/")
}

func (r *recorded) content() string { s, _ := r.Body["content"].(string); return s }

func (r *recorded) ephemeral() bool {
	f, _ := r.Body["flags"].(float64)
	return int(f)&64 != 0
}

// referenced is the message this one replies to.
func (r *recorded) referenced() string {
	ref, _ := r.Body["message_reference"].(map[string]any)
	id, _ := ref["message_id"].(string)
	return id
}

type fakeMessage struct {
	ID, Channel string
	Body        map[string]any // as it stands after edits
	Edits       int
}

func (m *fakeMessage) text() string {
	b, _ := json.Marshal(m.Body)
	return string(b)
}

// buttons returns the custom ids of the message's buttons.
func (m *fakeMessage) buttons() []string {
	var out []string
	rows, _ := m.Body["components"].([]any)
	for _, row := range rows {
		cs, _ := row.(map[string]any)["components"].([]any)
		for _, c := range cs {
			if id, ok := c.(map[string]any)["custom_id"].(string); ok {
				out = append(out, id)
			}
		}
	}
	return out
}

// fault makes matching requests fail: times of them (forever when times < 0).
type fault struct {
	method, prefix string
	status         int
	header         http.Header
	body           string
	times          int
	match          func(*recorded) bool // nil: every request to method and prefix
}

func newFakeDiscord(t testing.TB, clk clock.Clock, token, appID string) *fakeDiscord {
	f := &fakeDiscord{t: t, clk: clk, auth: "Bot " + token, appID: appID, changed: make(chan struct{}),
		msgs: map[string]*fakeMessage{}, tokens: map[string]time.Time{}, nextID: 7000}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// client reaches the fake for every request addressed to discord.com: discordgo's
// endpoints (and exchops' default base) are fixed to it.
func (f *fakeDiscord) client() *http.Client {
	target, _ := url.Parse(f.srv.URL)
	return &http.Client{Timeout: 10 * time.Second, Transport: toFake{target: target}}
}

type toFake struct{ target *url.URL }

func (tf toFake) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != "discord.com" {
		return nil, fmt.Errorf("test: a request to %s, which is not Discord", req.URL.Host)
	}
	r := req.Clone(req.Context())
	r.URL.Scheme, r.URL.Host, r.Host = tf.target.Scheme, tf.target.Host, ""
	return http.DefaultTransport.RoundTrip(r)
}

// issue registers an interaction token as Discord would when it sends the interaction.
func (f *fakeDiscord) issue(token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens[token] = f.clk.Now()
}

func (f *fakeDiscord) fail(method, prefix string, status int, times int, header http.Header, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &fault{method: method, prefix: prefix, status: status, times: times, header: header, body: body})
}

// failWhen is fail for the requests match accepts (called with the fake locked).
func (f *fakeDiscord) failWhen(method, prefix string, status int, times int, match func(*recorded) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &fault{method: method, prefix: prefix, status: status, times: times, match: match,
		body: fmt.Sprintf(`{"message":"%d: failing as the test asked","code":0}`, status)})
}

func (f *fakeDiscord) heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

func (f *fakeDiscord) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeDiscord) serve(w http.ResponseWriter, req *http.Request) {
	rec := &recorded{At: f.clk.Now(), Method: req.Method, Path: strings.TrimPrefix(req.URL.Path, "/api/v9/"), Auth: req.Header.Get("Authorization")}
	if err := readBody(req, rec); err != nil {
		f.t.Errorf("fake discord: %s: %v", rec, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.notifyLocked()
	f.reqs = append(f.reqs, rec)
	answer := func(status int, v any) {
		rec.Status = status
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if v != nil {
			json.NewEncoder(w).Encode(v)
		}
	}
	for _, ft := range f.faults {
		if ft.times != 0 && ft.method == req.Method && strings.HasPrefix(rec.Path, ft.prefix) && (ft.match == nil || ft.match(rec)) {
			if ft.times > 0 {
				ft.times--
			}
			for k, v := range ft.header {
				w.Header()[k] = v
			}
			rec.Status = ft.status
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(ft.status)
			io.WriteString(w, ft.body)
			return
		}
	}
	parts := strings.Split(rec.Path, "/")
	switch {
	case parts[0] == "channels" || parts[0] == "applications" || parts[0] == "gateway":
		if rec.Auth != f.auth {
			answer(http.StatusUnauthorized, map[string]any{"message": "401: Unauthorized", "code": 0})
			return
		}
	case parts[0] == "webhooks" || parts[0] == "interactions":
		if rec.Auth != "" {
			f.t.Errorf("fake discord: %s carried an Authorization header; interaction endpoints need none", rec)
		}
		if len(parts) < 3 {
			answer(http.StatusNotFound, map[string]any{"message": "404: Not Found", "code": 0})
			return
		}
		tok := parts[2]
		issued, ok := f.tokens[tok]
		if !ok || f.clk.Now().Sub(issued) >= 15*time.Minute {
			answer(http.StatusNotFound, map[string]any{"message": "Unknown Webhook", "code": 10015})
			return
		}
	}
	switch {
	case req.Method == "GET" && rec.Path == "gateway":
		answer(http.StatusOK, map[string]any{"url": f.gateway})
	case req.Method == "POST" && len(parts) == 3 && parts[0] == "channels" && parts[2] == "messages":
		answer(http.StatusOK, f.store(parts[1], rec.Body))
	case req.Method == "PATCH" && len(parts) == 4 && parts[0] == "channels" && parts[2] == "messages":
		m := f.msgs[parts[3]]
		if m == nil || m.Channel != parts[1] {
			answer(http.StatusNotFound, map[string]any{"message": "Unknown Message", "code": 10008})
			return
		}
		for k, v := range rec.Body {
			m.Body[k] = v
		}
		m.Edits++
		answer(http.StatusOK, f.wire(m))
	case req.Method == "PATCH" && len(parts) == 5 && parts[0] == "webhooks" && parts[4] == "@original":
		answer(http.StatusOK, f.store("", rec.Body))
	case req.Method == "POST" && len(parts) == 3 && parts[0] == "webhooks":
		answer(http.StatusOK, f.store("", rec.Body))
	case req.Method == "POST" && len(parts) == 4 && parts[0] == "interactions" && parts[3] == "callback":
		rec.Status = http.StatusNoContent
		w.WriteHeader(http.StatusNoContent)
	case req.Method == "PUT" && parts[0] == "applications" && parts[len(parts)-1] == "commands":
		if parts[1] != f.appID {
			answer(http.StatusForbidden, map[string]any{"message": "Missing Access", "code": 50001})
			return
		}
		b, _ := json.Marshal(rec.Body["_array"])
		f.commands = b
		answer(http.StatusOK, rec.Body["_array"])
	default:
		answer(http.StatusNotFound, map[string]any{"message": "404: Not Found", "code": 0})
	}
}

func (f *fakeDiscord) store(channel string, body map[string]any) map[string]any {
	f.nextID++
	m := &fakeMessage{ID: fmt.Sprint(f.nextID), Channel: channel, Body: map[string]any{}}
	for k, v := range body {
		m.Body[k] = v
	}
	f.msgs[m.ID] = m
	return f.wire(m)
}

func (f *fakeDiscord) wire(m *fakeMessage) map[string]any {
	out := map[string]any{"id": m.ID, "channel_id": m.Channel, "type": 0}
	for k, v := range m.Body {
		out[k] = v
	}
	return out
}

func readBody(req *http.Request, rec *recorded) error {
	data, err := io.ReadAll(req.Body)
	if err != nil || len(data) == 0 {
		return err
	}
	mt, params, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if mt == "multipart/form-data" {
		rec.Files, rec.Types = map[string]string{}, map[string]string{}
		mr := multipart.NewReader(strings.NewReader(string(data)), params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			b, _ := io.ReadAll(p)
			if p.FormName() == "payload_json" {
				if err := json.Unmarshal(b, &rec.Body); err != nil {
					return err
				}
				continue
			}
			rec.Files[p.FileName()] = string(b)
			rec.Types[p.FileName()] = p.Header.Get("Content-Type")
		}
		return nil
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("body is not JSON: %v", err)
	}
	switch v := v.(type) {
	case map[string]any:
		rec.Body = v
	default:
		rec.Body = map[string]any{"_array": v}
	}
	return nil
}

// requests returns what the fake received so far, matching method and path prefix
// ("" matches any).
func (f *fakeDiscord) requests(method, prefix string) []*recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*recorded
	for _, r := range f.reqs {
		if (method == "" || r.Method == method) && strings.HasPrefix(r.Path, prefix) {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeDiscord) message(id string) *fakeMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.msgs[id]
	if m == nil {
		return nil
	}
	cp := *m
	cp.Body = map[string]any{}
	for k, v := range m.Body {
		cp.Body[k] = v
	}
	return &cp
}

// waitFor waits until ok (called with the fake locked) holds, failing after 10 s.
func (f *fakeDiscord) waitFor(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		f.mu.Lock()
		done, ch := ok(), f.changed
		f.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s; the fake received:\n%s", what, f.dump())
		}
	}
}

// waitRequest waits for a request matching method, path prefix and pred.
func (f *fakeDiscord) waitRequest(t testing.TB, what, method, prefix string, pred func(*recorded) bool) *recorded {
	t.Helper()
	var found *recorded
	f.waitFor(t, what, func() bool {
		for _, r := range f.reqs {
			if (method == "" || r.Method == method) && strings.HasPrefix(r.Path, prefix) && r.Status/100 == 2 && (pred == nil || pred(r)) {
				found = r
				return true
			}
		}
		return false
	})
	return found
}

func (f *fakeDiscord) dump() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for _, r := range f.reqs {
		fmt.Fprintf(&b, "  %s -> %d %.200s\n", r, r.Status, r.content())
	}
	return b.String()
}
