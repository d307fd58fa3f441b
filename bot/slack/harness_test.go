package slack

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/bot/bottest"
	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/internal/metrics"
	"github.com/exchops/exchops/store"
)

var t0 = time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)

// Secrets of the tests' Slack app: they must never show up in a log line or an error.
const (
	testSecret   = "d4c1f0e2b3a5968778695a4b3c2d1e0f"
	testBotToken = "xoxb-1111-2222-botTOKENsecret"
	testAppToken = "xapp-1-A0EXCHOPS-3333-appTOKENsecret"
)

// testPeople are the people of the tests' configuration.
var testPeople = []approvals.Person{
	{Name: "alice", IDs: map[string]string{"slack": "U0ALICE"}, Roles: []approvals.Role{approvals.RoleAdmin}},
	{Name: "bob", IDs: map[string]string{"slack": "U0BOB"}, Roles: []approvals.Role{approvals.RoleAdmin, approvals.RoleApprover}},
	{Name: "carol", IDs: map[string]string{"slack": "U0CAROL"}, Roles: []approvals.Role{approvals.RoleApprover}},
	{Name: "dave", IDs: map[string]string{"slack": "U0DAVE"}, Roles: []approvals.Role{approvals.RoleViewer}},
}

var testEnv = commands.Env{ManagementServer: "EX10-CAHT", DNSServer: "DC01"}

// syncBuffer is a log destination several goroutines write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type options struct {
	socket    bool   // Socket Mode instead of HTTP webhooks
	approvals string // slack.approvals_channel
	output    func(p *commands.Plan) string
	policy    *approvals.Policy // default: testPeople, one approval
}

// harness is a real core (SQLite, approvals, bot) with the Slack front talking to a
// fake Slack, on a manual clock.
type harness struct {
	t       *testing.T
	opt     options
	cfg     Config // the front's configuration, for a second front after a "restart"
	clk     *clock.Manual
	fake    *bottest.FakeSlack
	db      *store.DB
	svc     *approvals.Service
	core    *bot.Core
	s       *Slack
	srv     *httptest.Server
	metrics *metrics.Metrics
	logs    *syncBuffer
	n       int // numbers triggers, envelopes and response URLs
}

func newHarness(t *testing.T, opt options) *harness {
	t.Helper()
	ctx := context.Background()
	clk := clock.NewManual(t0)
	h := &harness{t: t, opt: opt, clk: clk, logs: &syncBuffer{}, metrics: metrics.New()}
	h.fake = bottest.NewFakeSlack(t, clk, testAppToken)
	t.Cleanup(h.checkNoSecrets)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the logs:\n%s", redact(h.logs.String()))
		}
	})
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	pol := approvals.Policy{People: testPeople, Required: 1, ExpireAfter: 30 * time.Minute}
	if opt.policy != nil {
		pol = *opt.policy
	}
	rig := bottest.NewRig(t, bottest.Options{Policy: pol, Clock: clk, Logger: log, Metrics: h.metrics,
		Exec: &bottest.FakeExec{Output: opt.output, Progress: true}})
	h.db, h.svc, h.core = rig.DB, rig.Svc, rig.Core
	core, db := rig.Core, rig.DB

	cfg := Config{Core: core, SigningSecret: testSecret, BotToken: testBotToken, APIURL: h.fake.APIURL(),
		ApprovalsChannel: opt.approvals, Outbox: db, Dedup: db, Clock: clk, Logger: log,
		HTTPClient: &http.Client{Timeout: 5 * time.Second}}
	if opt.socket {
		cfg.AppToken = testAppToken
	}
	h.cfg = cfg
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.SetCloseGrace(time.Second)
	h.s = s
	rig.AddFront(s, s.Close)
	mux := http.NewServeMux()
	s.Routes(mux)

	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	return h
}

// checkNoSecrets fails the test when a secret reached the logs.
func (h *harness) checkNoSecrets() {
	logs := h.logs.String()
	for _, secret := range []string{testSecret, testBotToken, testAppToken, "botTOKENsecret", "appTOKENsecret"} {
		if strings.Contains(logs, secret) {
			h.t.Errorf("a secret (%d characters) appears in the logs", len(secret))
		}
	}
}

// redact hides the secrets in s, for test output.
func redact(s string) string {
	return strings.NewReplacer(testSecret, "[secret]", testBotToken, "[bot token]", testAppToken, "[app token]").Replace(s)
}

// sign returns Slack's v0 signature headers for body at ts with secret.
func sign(secret string, ts time.Time, body string) http.Header {
	stamp := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:%s", stamp, body)
	hd := http.Header{}
	hd.Set("X-Slack-Request-Timestamp", stamp)
	hd.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	hd.Set("Content-Type", "application/x-www-form-urlencoded")
	return hd
}

// postSigned sends body to path with the given headers and returns the status and the
// answer's body.
func (h *harness) postSigned(path, body string, hd http.Header) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest("POST", h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header = hd
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// slash is a slash command as Slack sends it.
type slash struct {
	User, Channel, Text, Trigger, ResponseURL string
}

func (c slash) form() url.Values {
	return url.Values{
		"token": {"legacy-verification-token"}, "team_id": {"T0EXCHOPS"}, "team_domain": {"msglab"},
		"channel_id": {c.Channel}, "channel_name": {"ops"}, "user_id": {c.User}, "user_name": {strings.ToLower(strings.TrimPrefix(c.User, "U0"))},
		"command": {"/exchange"}, "text": {c.Text}, "response_url": {c.ResponseURL}, "trigger_id": {c.Trigger}, "api_app_id": {"A0EXCHOPS"},
	}
}

func (c slash) payload() map[string]any {
	out := map[string]any{}
	for k, v := range c.form() {
		out[k] = v[0]
	}
	return out
}

// newSlash numbers a new slash command of user in channel.
func (h *harness) newSlash(user, channel, text string) slash {
	h.n++
	return slash{User: user, Channel: channel, Text: text, Trigger: fmt.Sprintf("trigger-%d", h.n), ResponseURL: h.fake.ResponseURL(fmt.Sprintf("cmd-%d", h.n))}
}

// ack is how a slash command was acknowledged: over HTTP the response, over Socket
// Mode the envelope's acknowledgement payload.
type ack struct {
	Status int
	Body   string // the message JSON ("" for an empty acknowledgement)
}

// send delivers a slash command over the harness' transport.
func (h *harness) send(c slash) ack {
	h.t.Helper()
	if h.opt.socket {
		h.n++
		raw := h.fake.Envelope(h.t, fmt.Sprintf("env-%d", h.n), "slash_commands", c.payload())
		body := string(raw)
		if body == "null" {
			body = ""
		}
		return ack{Status: http.StatusOK, Body: body}
	}
	body := c.form().Encode()
	start := time.Now()
	status, answer := h.postSigned("/slack/commands", body, sign(testSecret, time.Now(), body))
	if d := time.Since(start); d > 3*time.Second {
		h.t.Errorf("the command took %s to acknowledge; Slack gives up after 3 s", d)
	}
	return ack{Status: status, Body: answer}
}

// command types text as user in channel and returns the acknowledgement.
func (h *harness) command(user, channel, text string) ack {
	h.t.Helper()
	return h.send(h.newSlash(user, channel, text))
}

// clickPayload is a block_actions payload for a click on a card's button.
func (h *harness) clickPayload(user, channel, ts, action, value string) map[string]any {
	h.n++
	return map[string]any{
		"type": "block_actions", "api_app_id": "A0EXCHOPS", "token": "legacy-verification-token",
		"trigger_id":   fmt.Sprintf("click-trigger-%d", h.n),
		"user":         map[string]any{"id": user, "username": strings.ToLower(strings.TrimPrefix(user, "U0"))},
		"team":         map[string]any{"id": "T0EXCHOPS"},
		"container":    map[string]any{"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": false},
		"channel":      map[string]any{"id": channel, "name": "approvals"},
		"message":      map[string]any{"type": "message", "ts": ts, "text": "the card"},
		"response_url": h.fake.ResponseURL(fmt.Sprintf("click-%d", h.n)),
		"actions": []map[string]any{{"type": "button", "action_id": action, "block_id": "decide:" + value, "value": value,
			"action_ts": fmt.Sprintf("1700000100.%06d", h.n)}},
	}
}

// click clicks a card's button (action "approve" or "deny") as user.
func (h *harness) click(user, channel, ts, action, value string) {
	h.t.Helper()
	h.sendClick(h.clickPayload(user, channel, ts, action, value))
}

func (h *harness) sendClick(payload map[string]any) {
	h.t.Helper()
	if h.opt.socket {
		h.n++
		if raw := h.fake.Envelope(h.t, fmt.Sprintf("env-%d", h.n), "interactive", payload); string(raw) != "null" && len(raw) > 0 {
			h.t.Errorf("a click was acknowledged with a payload: %s", raw)
		}
		return
	}
	b, _ := json.Marshal(payload)
	body := url.Values{"payload": {string(b)}}.Encode()
	start := time.Now()
	status, answer := h.postSigned("/slack/interactions", body, sign(testSecret, time.Now(), body))
	if status != http.StatusOK || answer != "" {
		h.t.Fatalf("click answered %d %q, want an empty 200", status, answer)
	}
	if d := time.Since(start); d > AckWait {
		h.t.Errorf("a click took %s to acknowledge", d)
	}
}

// card waits for the card of request id to be posted in channel and returns the post.
func (h *harness) card(id, channel string) call {
	h.t.Helper()
	var got []call
	h.fake.Until(h.t, id+"'s card in "+channel, func() bool {
		got = h.fake.Delivered("chat.postMessage", id+" · ")
		got = onlyIn(got, channel, "")
		return len(got) > 0
	})
	if len(got) != 1 {
		h.t.Fatalf("%d cards for %s, want 1:\n%s", len(got), id, h.fake.Summary())
	}
	return got[0]
}

// call is one request the fake Slack answered.
type call = bottest.SlackCall

func onlyIn(calls []call, channel, thread string) []call {
	return bottest.SlackOnlyIn(calls, channel, thread)
}

// waitFor waits until the fake saw a successful call of method that matches.
func (h *harness) waitFor(what, method string, ok func(call) bool, parts ...string) call {
	h.t.Helper()
	var got []call
	h.fake.Until(h.t, what, func() bool {
		got = nil
		for _, c := range h.fake.Delivered(method, parts...) {
			if ok == nil || ok(c) {
				got = append(got, c)
			}
		}
		return len(got) > 0
	})
	return got[len(got)-1]
}

// advanceUntil moves the clock step by step until cond holds (code under test waits
// on the clock: retries, the outbox, expiry), failing after 10 s of real time.
func (h *harness) advanceUntil(what string, step time.Duration, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s (clock at +%s); the fake saw:\n%s", what, h.clk.Now().Sub(t0), h.fake.Summary())
		}
		h.clk.Advance(step)
		time.Sleep(10 * time.Millisecond)
	}
}

// quiet waits until the front has nothing queued and the core nothing running.
func (h *harness) quiet() {
	h.t.Helper()
	// Work hands work on: the front to the core, the core to approvals and back.
	for range 3 {
		h.svc.Wait()
		h.core.Wait()
		h.fake.Until(h.t, "the Slack front to finish its posts", h.s.Idle)
	}
}

// undelivered counts the Slack posts waiting in the outbox.
func (h *harness) undelivered() int {
	h.t.Helper()
	n, err := h.db.Undelivered(context.Background(), "slack")
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

// history is every request the store holds.
func (h *harness) history() []*approvals.Request {
	h.t.Helper()
	rs, err := h.svc.History(context.Background(), 0)
	if err != nil {
		h.t.Fatal(err)
	}
	return rs
}

// metric reads one exchops_chat_posts_total series.
func (h *harness) posts(outcome string) float64 {
	h.t.Helper()
	rec := httptest.NewRecorder()
	h.metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	want := `exchops_chat_posts_total{outcome="` + outcome + `",platform="slack"} `
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, want); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	h.t.Fatalf("no %s series in the metrics", want)
	return 0
}

// modes are the two transports every flow runs over.
var modes = []struct {
	name   string
	socket bool
}{{"http", false}, {"socket", true}}
