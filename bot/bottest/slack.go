package bottest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack/slacktest"

	"github.com/exchops/exchops/internal/clock"
)

// FakeSlack is an in-process Slack: slacktest's server, extended with what exchops
// uses and slacktest lacks (chat.update, the v2 file upload, response_url endpoints, a
// Socket Mode websocket), with chat.postMessage and chat.postEphemeral answered with
// unique message timestamps. It records every call (without the token) so that tests
// can assert, and it can be told to fail a method for a while: a 429 with
// Retry-After, a 5xx, or Slack's {"ok":false,"error":...} (message_not_found for an
// update of a deleted message). Tests of bot/slack and the root package's benchmarks
// and soak use it.
type FakeSlack struct {
	t        testing.TB
	srv      *slacktest.Server
	clk      clock.Clock // stamps calls, so a test can see when a retry happened
	appToken string

	mu       sync.Mutex
	calls    []SlackCall
	nextTS   int
	nextFile int
	faults   map[string][]slackFault // the next calls' failures
	lasting  map[string]slackFault   // failures until recover
	uploads  map[string]string       // file id -> content uploaded to its URL
	names    map[string]string       // file id -> the file's name
	socket   *slackSocket
	sockets  int // connections made
	acks     map[string]json.RawMessage
	changed  chan struct{} // closed and replaced on every recorded change
	faultFn  func(method string) (status int, retryAfter string)
}

// SlackCall is one request the fake answered.
type SlackCall struct {
	Method  string
	At      time.Time  // on the test's clock
	Status  int        // what the fake answered
	Form    url.Values // the form, token removed
	JSON    map[string]any
	Channel string
	TS      string // the message's ts (posts: the one assigned)
	Thread  string
	User    string
	Text    string
	Blocks  string
}

// slackFault is a made-up failure: an HTTP status, with Retry-After for 429s, or (status
// 200) Slack's {"ok":false,"error":slackErr}.
type slackFault struct {
	status     int
	retryAfter string
	slackErr   string
}

// NewFakeSlack starts a fake Slack that stamps calls with clk and accepts appToken
// for Socket Mode; it stops when the test ends.
func NewFakeSlack(t testing.TB, clk clock.Clock, appToken string) *FakeSlack {
	t.Helper()
	f := &FakeSlack{t: t, clk: clk, appToken: appToken, nextTS: 100, faults: map[string][]slackFault{},
		lasting: map[string]slackFault{}, uploads: map[string]string{}, names: map[string]string{}, acks: map[string]json.RawMessage{}, changed: make(chan struct{})}
	f.srv = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", f.chat("chat.postMessage"))
		c.Handle("/chat.postEphemeral", f.chat("chat.postEphemeral"))
		c.Handle("/chat.update", f.chat("chat.update"))
		c.Handle("/files.getUploadURLExternal", f.getUploadURL)
		c.Handle("/upload/", f.upload)
		c.Handle("/files.completeUploadExternal", f.completeUpload)
		c.Handle("/response/", f.responseHook)
		c.Handle("/apps.connections.open", f.connectionsOpen)
		c.Handle("/socket", f.socketHandler)
	})
	f.srv.Start()
	t.Cleanup(f.srv.Stop)
	t.Cleanup(f.DropSocket)
	return f
}

// APIURL is what the Slack front's api_url names.
func (f *FakeSlack) APIURL() string { return f.srv.GetAPIURL() }

// ResponseURL is a fresh response_url on the fake.
func (f *FakeSlack) ResponseURL(name string) string { return f.APIURL() + "response/" + name }

// Fail makes the next n calls of method fail with status, with a Retry-After header
// when retryAfter is set (n < 0: until Recover).
func (f *FakeSlack) Fail(method string, status int, retryAfter string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n < 0 {
		f.lasting[method] = slackFault{status: status, retryAfter: retryAfter}
		return
	}
	for range n {
		f.faults[method] = append(f.faults[method], slackFault{status: status, retryAfter: retryAfter})
	}
}

// Refuse makes the next call of method answer {"ok":false,"error":code}.
func (f *FakeSlack) Refuse(method, code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[method] = append(f.faults[method], slackFault{status: http.StatusOK, slackErr: code})
}

// SetFault makes every call of a method fail that fn answers a status for (0: the
// call succeeds), with Retry-After when fn gives one; nil removes it. It is asked
// after Fail's and Refuse's faults, as a soak's weather is.
func (f *FakeSlack) SetFault(fn func(method string) (status int, retryAfter string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faultFn = fn
}

// Recover ends every failure of method.
func (f *FakeSlack) Recover(method string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.faults, method)
	delete(f.lasting, method)
}

// injected returns the fault for this call of method, if any.
func (f *FakeSlack) injected(method string) (slackFault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ft, ok := f.lasting[method]; ok {
		return ft, true
	}
	list := f.faults[method]
	if len(list) == 0 {
		if f.faultFn != nil {
			if status, retryAfter := f.faultFn(method); status != 0 {
				return slackFault{status: status, retryAfter: retryAfter}, true
			}
		}
		return slackFault{}, false
	}
	f.faults[method] = list[1:]
	return list[0], true
}

func (f *FakeSlack) record(c SlackCall) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c.At = f.clk.Now()
	f.calls = append(f.calls, c)
	close(f.changed)
	f.changed = make(chan struct{})
}

// failed answers a call with its injected fault and records it.
func (f *FakeSlack) failed(w http.ResponseWriter, c SlackCall) bool {
	ft, ok := f.injected(c.Method)
	if !ok {
		return false
	}
	if ft.slackErr != "" {
		c.Status = 0 // not delivered
		f.record(c)
		writeSlackJSON(w, map[string]any{"ok": false, "error": ft.slackErr})
		return true
	}
	if ft.retryAfter != "" {
		w.Header().Set("Retry-After", ft.retryAfter)
	}
	c.Status = ft.status
	f.record(c)
	http.Error(w, http.StatusText(ft.status), ft.status)
	return true
}

func slackForm(r *http.Request) url.Values {
	_ = r.ParseForm()
	v := url.Values{}
	for k, vs := range r.PostForm {
		if k != "token" {
			v[k] = vs
		}
	}
	return v
}

func (f *FakeSlack) chat(method string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := slackForm(r)
		c := SlackCall{Method: method, Form: v, Channel: v.Get("channel"), TS: v.Get("ts"), Thread: v.Get("thread_ts"),
			User: v.Get("user"), Text: v.Get("text"), Blocks: Readable(v.Get("blocks"))}
		if f.failed(w, c) {
			return
		}
		f.mu.Lock()
		if method != "chat.update" {
			f.nextTS++
			c.TS = fmt.Sprintf("1700000000.%06d", f.nextTS)
		}
		f.mu.Unlock()
		c.Status = http.StatusOK
		f.record(c)
		resp := map[string]any{"ok": true, "channel": c.Channel, "ts": c.TS}
		if method == "chat.postEphemeral" {
			resp = map[string]any{"ok": true, "message_ts": c.TS}
		}
		writeSlackJSON(w, resp)
	}
}

func (f *FakeSlack) getUploadURL(w http.ResponseWriter, r *http.Request) {
	v := slackForm(r)
	c := SlackCall{Method: "files.getUploadURLExternal", Form: v}
	if f.failed(w, c) {
		return
	}
	f.mu.Lock()
	f.nextFile++
	id := fmt.Sprintf("F%04d", f.nextFile)
	f.names[id] = v.Get("filename")
	f.mu.Unlock()
	c.Status = http.StatusOK
	c.Text = v.Get("filename")
	f.record(c)
	writeSlackJSON(w, map[string]any{"ok": true, "file_id": id, "upload_url": "http://" + r.Host + "/upload/" + id})
}

func (f *FakeSlack) upload(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/upload/")
	file, _, err := r.FormFile("file")
	if err != nil {
		http.Error(w, "no file", http.StatusBadRequest)
		return
	}
	b, _ := io.ReadAll(file)
	f.mu.Lock()
	f.uploads[id] = string(b)
	f.mu.Unlock()
	f.record(SlackCall{Method: "upload", Status: http.StatusOK, TS: id, Text: string(b)})
	_, _ = io.WriteString(w, "OK - "+strconv.Itoa(len(b)))
}

func (f *FakeSlack) completeUpload(w http.ResponseWriter, r *http.Request) {
	v := slackForm(r)
	c := SlackCall{Method: "files.completeUploadExternal", Form: v, Channel: v.Get("channel_id"), Thread: v.Get("thread_ts"), Text: v.Get("initial_comment")}
	if f.failed(w, c) {
		return
	}
	var files []map[string]string
	if err := json.Unmarshal([]byte(v.Get("files")), &files); err != nil || len(files) == 0 {
		writeSlackJSON(w, map[string]any{"ok": false, "error": "invalid_arguments"})
		return
	}
	c.Status = http.StatusOK
	c.TS = files[0]["id"]
	f.record(c)
	writeSlackJSON(w, map[string]any{"ok": true, "files": files})
}

func (f *FakeSlack) responseHook(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	c := SlackCall{Method: "response_url", JSON: body, Channel: strings.TrimPrefix(r.URL.Path, "/response/")}
	c.Text, _ = body["text"].(string)
	if b, ok := body["blocks"]; ok {
		raw, _ := json.Marshal(b)
		c.Blocks = Readable(string(raw))
	}
	if f.failed(w, c) {
		return
	}
	c.Status = http.StatusOK
	f.record(c)
	_, _ = io.WriteString(w, "ok")
}

func (f *FakeSlack) connectionsOpen(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.appToken {
		writeSlackJSON(w, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	f.record(SlackCall{Method: "apps.connections.open", Status: http.StatusOK})
	writeSlackJSON(w, map[string]any{"ok": true, "url": "ws://" + r.Host + "/socket"})
}

// SlackFile is a completed upload: its name and what was uploaded.
type SlackFile struct {
	Name, Content string
	Done          SlackCall // the files.completeUploadExternal SlackCall
}

// Files returns the uploads completed in channel and thread, in order.
func (f *FakeSlack) Files(channel, thread string) []SlackFile {
	done := SlackOnlyIn(f.Delivered("files.completeUploadExternal"), channel, thread)
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]SlackFile, 0, len(done))
	for _, c := range done {
		out = append(out, SlackFile{Name: f.names[c.TS], Content: f.uploads[c.TS], Done: c})
	}
	return out
}

// Upload returns what was uploaded as the file id ("" when nothing was).
func (f *FakeSlack) Upload(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.uploads[id]
}

// Calls returns every call so far, failed ones too, in order.
func (f *FakeSlack) Calls() []SlackCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]SlackCall(nil), f.calls...)
}

// SlackOnlyIn returns the calls posted in channel and thread ("" for the channel
// itself).
func SlackOnlyIn(calls []SlackCall, channel, thread string) []SlackCall {
	var out []SlackCall
	for _, c := range calls {
		if c.Channel == channel && c.Thread == thread {
			out = append(out, c)
		}
	}
	return out
}

// Readable re-encodes JSON without HTML escapes (\u003c), so tests read what Slack
// shows.
func Readable(raw string) string {
	if raw == "" {
		return ""
	}
	var v any
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return raw
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}

func writeSlackJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// slackSocket is a Socket Mode connection from exchops to the fake.
type slackSocket struct {
	conn *websocket.Conn
	wmu  sync.Mutex
	done chan struct{}
}

// socketHandler speaks Socket Mode: hello first, then the envelopes tests send; it
// records every acknowledgement, and pings so that the client knows it is alive.
func (f *FakeSlack) socketHandler(w http.ResponseWriter, r *http.Request) {
	slacktest.Websocket(func(c *websocket.Conn) {
		s := &slackSocket{conn: c, done: make(chan struct{})}
		defer close(s.done)
		if err := s.write(map[string]any{"type": "hello", "num_connections": 1,
			"connection_info": map[string]any{"app_id": "A0EXCHOPS"}}); err != nil {
			return
		}
		f.mu.Lock()
		f.socket = s
		f.sockets++
		close(f.changed)
		f.changed = make(chan struct{})
		f.mu.Unlock()
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-s.done:
					return
				case <-t.C:
					_ = c.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second))
				}
			}
		}()
		for {
			var ack struct {
				EnvelopeID string          `json:"envelope_id"`
				Payload    json.RawMessage `json:"payload"`
			}
			if err := c.ReadJSON(&ack); err != nil {
				f.mu.Lock()
				if f.socket == s {
					f.socket = nil
				}
				f.mu.Unlock()
				return
			}
			f.mu.Lock()
			f.acks[ack.EnvelopeID] = ack.Payload
			close(f.changed)
			f.changed = make(chan struct{})
			f.mu.Unlock()
		}
	})(w, r)
}

func (s *slackSocket) write(v any) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.conn.WriteJSON(v)
}

// DropSocket closes the current Socket Mode connection, as Slack does now and then.
func (f *FakeSlack) DropSocket() {
	f.mu.Lock()
	s := f.socket
	f.socket = nil
	f.mu.Unlock()
	if s != nil {
		_ = s.conn.Close()
	}
}

// Disconnect asks the connected client to reconnect, as Slack does before it
// refreshes a connection.
func (f *FakeSlack) Disconnect(t testing.TB) {
	t.Helper()
	f.mu.Lock()
	s := f.socket
	f.mu.Unlock()
	if s == nil {
		t.Fatal("no Socket Mode connection to refresh")
	}
	if err := s.write(map[string]any{"type": "disconnect", "reason": "refresh_requested",
		"debug_info": map[string]any{"host": "fake"}}); err != nil {
		t.Fatal(err)
	}
}

// Connections is how many Socket Mode connections were made.
func (f *FakeSlack) Connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.socket == nil {
		return -1 // none up right now
	}
	return f.sockets
}

// Envelope sends a Socket Mode envelope once a connection is up, and returns what the
// client acknowledged it with.
func (f *FakeSlack) Envelope(t testing.TB, id, kind string, payload any) json.RawMessage {
	t.Helper()
	var s *slackSocket
	f.Until(t, "a Socket Mode connection", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		s = f.socket
		return s != nil
	})
	raw, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]any{"envelope_id": id, "type": kind, "payload": json.RawMessage(raw), "accepts_response_payload": kind == "slash_commands"}
	if err := s.write(env); err != nil {
		t.Fatalf("sending envelope %s: %v", id, err)
	}
	var ack json.RawMessage
	f.Until(t, "the acknowledgement of "+id, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		a, ok := f.acks[id]
		ack = a
		return ok
	})
	return ack
}

// Find returns the calls of method for which ok holds.
func (f *FakeSlack) Find(method string, ok func(SlackCall) bool) []SlackCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []SlackCall
	for _, c := range f.calls {
		if c.Method == method && (ok == nil || ok(c)) {
			out = append(out, c)
		}
	}
	return out
}

// Delivered returns the calls of method that succeeded and contain every part.
func (f *FakeSlack) Delivered(method string, parts ...string) []SlackCall {
	return f.Find(method, func(c SlackCall) bool {
		if c.Status != http.StatusOK {
			return false
		}
		all := c.Text + "\n" + c.Blocks
		for _, p := range parts {
			if !strings.Contains(all, p) {
				return false
			}
		}
		return true
	})
}

// Until waits for cond, failing the test after 10 s.
func (f *FakeSlack) Until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		ch := f.changed
		f.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-time.After(20 * time.Millisecond):
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s; the fake saw:\n%s", what, f.Summary())
		}
	}
}

// Summary lists the calls, one line each, for failure messages.
func (f *FakeSlack) Summary() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for _, c := range f.calls {
		text := c.Text
		if len(text) > 120 {
			text = text[:120] + "…"
		}
		fmt.Fprintf(&b, "  %s %d channel=%s ts=%s thread=%s user=%s %q\n", c.Method, c.Status, c.Channel, c.TS, c.Thread, c.User, text)
	}
	return b.String()
}
