package bottest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exchops/exchops/internal/clock"
)

// FakeDiscord is an in-process Discord REST API: it keeps the messages posted to it,
// answers as Discord does (a JSON message for posts and edits, 404 Unknown Message
// for an edit of a message it does not hold, file attachments as multipart with
// payload_json), checks the bot token on bot endpoints and refuses interaction
// tokens older than 15 minutes on its clock, and can be told to fail (a 429 with
// Retry-After and X-RateLimit headers, a 5xx, any JSON error). Tests of bot/discord
// use it.
//
// Conditions handed to WaitFor run without the fake's lock, so they read it through
// Message, Messages and Requests.
type FakeDiscord struct {
	t     testing.TB
	srv   *httptest.Server
	clk   clock.Clock
	auth  string // the Authorization header the bot must send
	appID string

	mu       sync.Mutex
	changed  chan struct{}
	reqs     []*DiscordRequest
	msgs     map[string]*DiscordMessage // by message id
	tokens   map[string]time.Time       // interaction token -> when it was issued
	faults   []*discordFault
	nextID   int64
	gateway  string // the gateway URL GET gateway answers
	commands json.RawMessage
}

// DiscordRequest is one request as the fake received it.
type DiscordRequest struct {
	At     time.Time // on the fake's clock
	Method string
	Path   string // without /api/v9/
	Auth   string
	Body   map[string]any    // the JSON body, or a multipart body's payload_json
	Files  map[string]string // multipart files by name
	Types  map[string]string // their Content-Type, by name
	Status int               // what the fake answered
}

func (r *DiscordRequest) String() string { return r.Method + " " + redactDiscordPath(r.Path) }

// Webhook reports whether the request used an interaction token.
func (r *DiscordRequest) Webhook() bool {
	return strings.HasPrefix(r.Path, "webhooks/") || strings.HasPrefix(r.Path, "interactions/")
}

// Content is the message text the request sent.
func (r *DiscordRequest) Content() string { s, _ := r.Body["content"].(string); return s }

// Ephemeral reports whether the request asked for a message only its reader sees.
func (r *DiscordRequest) Ephemeral() bool {
	f, _ := r.Body["flags"].(float64)
	return int(f)&64 != 0
}

// Referenced is the message this one replies to.
func (r *DiscordRequest) Referenced() string {
	ref, _ := r.Body["message_reference"].(map[string]any)
	id, _ := ref["message_id"].(string)
	return id
}

// DiscordMessage is a message the fake holds.
type DiscordMessage struct {
	ID, Channel string
	Body        map[string]any // as it stands after edits
	Edits       int
}

// Text is the message as JSON, for checks on any part of it.
func (m *DiscordMessage) Text() string {
	b, _ := json.Marshal(m.Body)
	return string(b)
}

// Buttons returns the custom ids of the message's buttons.
func (m *DiscordMessage) Buttons() []string {
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

// discordFault makes matching requests fail: times of them (forever when times < 0).
type discordFault struct {
	method, prefix string
	status         int
	header         http.Header
	body           string
	times          int
	match          func(*DiscordRequest) bool // nil: every request to method and prefix
}

// NewFakeDiscord starts a fake Discord that stamps requests with clk, accepts token
// as the bot token and appID as the application; it stops when the test ends.
func NewFakeDiscord(t testing.TB, clk clock.Clock, token, appID string) *FakeDiscord {
	f := &FakeDiscord{t: t, clk: clk, auth: "Bot " + token, appID: appID, changed: make(chan struct{}),
		msgs: map[string]*DiscordMessage{}, tokens: map[string]time.Time{}, nextID: 7000}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// Client reaches the fake for every request addressed to discord.com: discordgo's
// endpoints (and exchops' default base) are fixed to it.
func (f *FakeDiscord) Client() *http.Client {
	target, _ := url.Parse(f.srv.URL)
	return &http.Client{Timeout: 10 * time.Second, Transport: toFakeDiscord{target: target}}
}

type toFakeDiscord struct{ target *url.URL }

func (tf toFakeDiscord) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != "discord.com" {
		return nil, fmt.Errorf("test: a request to %s, which is not Discord", req.URL.Host)
	}
	r := req.Clone(req.Context())
	r.URL.Scheme, r.URL.Host, r.Host = tf.target.Scheme, tf.target.Host, ""
	return http.DefaultTransport.RoundTrip(r)
}

// Issue registers an interaction token as Discord would when it sends the interaction.
func (f *FakeDiscord) Issue(token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens[token] = f.clk.Now()
}

// Fail makes the next times requests of method whose path starts with prefix fail
// with status, header and body (times < 0: until Heal).
func (f *FakeDiscord) Fail(method, prefix string, status int, times int, header http.Header, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &discordFault{method: method, prefix: prefix, status: status, times: times, header: header, body: body})
}

// FailWhen is Fail for the requests match accepts, with Discord's JSON error body.
func (f *FakeDiscord) FailWhen(method, prefix string, status int, times int, match func(*DiscordRequest) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &discordFault{method: method, prefix: prefix, status: status, times: times, match: match,
		body: fmt.Sprintf(`{"message":"%d: failing as the test asked","code":0}`, status)})
}

// Heal ends every failure.
func (f *FakeDiscord) Heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

func (f *FakeDiscord) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *FakeDiscord) serve(w http.ResponseWriter, req *http.Request) {
	rec := &DiscordRequest{At: f.clk.Now(), Method: req.Method, Path: strings.TrimPrefix(req.URL.Path, "/api/v9/"), Auth: req.Header.Get("Authorization")}
	if err := readDiscordBody(req, rec); err != nil {
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

func (f *FakeDiscord) store(channel string, body map[string]any) map[string]any {
	f.nextID++
	m := &DiscordMessage{ID: fmt.Sprint(f.nextID), Channel: channel, Body: map[string]any{}}
	for k, v := range body {
		m.Body[k] = v
	}
	f.msgs[m.ID] = m
	return f.wire(m)
}

func (f *FakeDiscord) wire(m *DiscordMessage) map[string]any {
	out := map[string]any{"id": m.ID, "channel_id": m.Channel, "type": 0}
	for k, v := range m.Body {
		out[k] = v
	}
	return out
}

func readDiscordBody(req *http.Request, rec *DiscordRequest) error {
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

// Requests returns what the fake received so far, matching method and path prefix
// ("" matches any).
func (f *FakeDiscord) Requests(method, prefix string) []*DiscordRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*DiscordRequest
	for _, r := range f.reqs {
		if (method == "" || r.Method == method) && strings.HasPrefix(r.Path, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// Message returns a copy of message id as it stands (nil when the fake has none).
func (f *FakeDiscord) Message(id string) *DiscordMessage {
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

// WaitFor waits until ok holds, failing after 10 s.
func (f *FakeDiscord) WaitFor(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		f.mu.Lock()
		ch := f.changed
		f.mu.Unlock()
		if ok() {
			return
		}
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s; the fake received:\n%s", what, f.Dump())
		}
	}
}

// WaitRequest waits for a request matching method, path prefix and pred.
func (f *FakeDiscord) WaitRequest(t testing.TB, what, method, prefix string, pred func(*DiscordRequest) bool) *DiscordRequest {
	t.Helper()
	var found *DiscordRequest
	f.WaitFor(t, what, func() bool {
		for _, r := range f.Requests(method, prefix) {
			if r.Status/100 == 2 && (pred == nil || pred(r)) {
				found = r
				return true
			}
		}
		return false
	})
	return found
}

// Dump lists the requests, one line each, for failure messages.
func (f *FakeDiscord) Dump() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for _, r := range f.reqs {
		fmt.Fprintf(&b, "  %s -> %d %.200s\n", r, r.Status, r.Content())
	}
	return b.String()
}

// Content is the message's text as it stands.
func (m *DiscordMessage) Content() string { s, _ := m.Body["content"].(string); return s }

// Messages returns copies of every message the fake holds, oldest first.
func (f *FakeDiscord) Messages() []*DiscordMessage {
	f.mu.Lock()
	ids := make([]string, 0, len(f.msgs))
	for id := range f.msgs {
		ids = append(ids, id)
	}
	f.mu.Unlock()
	slices.SortFunc(ids, func(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b)) })
	out := make([]*DiscordMessage, 0, len(ids))
	for _, id := range ids {
		if m := f.Message(id); m != nil {
			out = append(out, m)
		}
	}
	return out
}

// URL is the fake's base URL (an api_url names URL+"/api/v9").
func (f *FakeDiscord) URL() string { return f.srv.URL }

// Commands is the application commands last registered with the fake (a JSON array).
func (f *FakeDiscord) Commands() json.RawMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.commands
}

// SetGateway sets the URL that GET gateway answers.
func (f *FakeDiscord) SetGateway(url string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gateway = url
}

// redactDiscordPath hides the interaction token in webhook and callback paths, so
// failure messages never show one.
func redactDiscordPath(p string) string {
	parts := strings.Split(p, "/")
	for i := 0; i+2 < len(parts); i++ {
		if parts[i] == "webhooks" || parts[i] == "interactions" {
			parts[i+2] = "…"
		}
	}
	return strings.Join(parts, "/")
}
