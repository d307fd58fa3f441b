package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot/bottest"
	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/config"
	"github.com/exchops/exchops/internal/benchreport"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/lab"
)

// This file holds the root package's benchmark of the approval path and the pieces
// the soak (soak_test.go, -tags soak) shares with it: Slack's
// request signatures, and a log handler that timestamps the WinRM Commands the lab
// receives.

// Secrets of the benchmarks' and the soak's Slack app (made up).
const (
	benchSigningSecret = "5f1c0ffee0ddba11decafbadc0de5eed"
	benchBotToken      = "xoxb-0000-bench-bot-token"
)

// benchPeople are the Slack users of the benchmarks and the soak.
var benchPeople = []config.Person{
	{Name: "alice", Slack: "U0ALICE", Roles: []string{"admin"}},
	{Name: "dave", Slack: "U0DAVE", Roles: []string{"admin"}},
	{Name: "bob", Slack: "U0BOB", Roles: []string{"approver"}},
	{Name: "carol", Slack: "U0CAROL", Roles: []string{"approver"}},
	{Name: "erin", Slack: "U0ERIN", Roles: []string{"approver"}},
}

// slackSignature returns Slack's v0 signature headers for body at ts.
func slackSignature(secret string, ts time.Time, body string) http.Header {
	stamp := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:%s", stamp, body)
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", stamp)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	return h
}

// slashBody is a slash command's form as Slack posts it.
func slashBody(user, channel, text, trigger, responseURL string) string {
	return url.Values{
		"token": {"legacy"}, "team_id": {"T0EXCHOPS"}, "channel_id": {channel}, "channel_name": {"ops"},
		"user_id": {user}, "command": {"/exchange"}, "text": {text}, "response_url": {responseURL},
		"trigger_id": {trigger}, "api_app_id": {"A0EXCHOPS"},
	}.Encode()
}

// clickBody is a block_actions payload: user clicks action ("approve" or "deny") on
// the card of request id, the message cardTS in channel.
func clickBody(user, channel, cardTS, action, id, trigger, responseURL string) string {
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "api_app_id": "A0EXCHOPS", "trigger_id": trigger,
		"user":         map[string]any{"id": user},
		"team":         map[string]any{"id": "T0EXCHOPS"},
		"container":    map[string]any{"type": "message", "message_ts": cardTS, "channel_id": channel},
		"channel":      map[string]any{"id": channel},
		"message":      map[string]any{"type": "message", "ts": cardTS},
		"response_url": responseURL,
		"actions":      []map[string]any{{"type": "button", "action_id": action, "block_id": "decide:" + id, "value": id}},
	})
	return url.Values{"payload": {string(payload)}}.Encode()
}

// cardHeader finds a card's header ("r-12 · waiting for approval") in a message's
// blocks.
var cardHeader = regexp.MustCompile(`"(r-\d+) · ([a-z ,]+)"`)

// labCommands timestamps the WinRM Commands the lab's servers receive. It is a
// slog.Handler: the lab's WS-Management servers log one debug line per request,
// after reading and authenticating it and before running it, which is the moment a
// Command has arrived. No hook in the lab is needed.
type labCommands struct {
	mu       sync.Mutex
	arrivals []labArrival
}

// labArrival is one Command received by a lab server.
type labArrival struct {
	Server string
	At     time.Time
}

// actionCommand is WS-Management's Command action (what starts a process).
const actionCommand = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command"

// logger returns a logger to hand the lab (or the app that starts it).
func (l *labCommands) logger() *slog.Logger { return slog.New(&commandHandler{l: l}) }

// since returns the Commands server received at or after t, in order.
func (l *labCommands) since(server string, t time.Time) []labArrival {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []labArrival
	for _, a := range l.arrivals {
		if a.Server == server && !a.At.Before(t) {
			out = append(out, a)
		}
	}
	return out
}

type commandHandler struct {
	l      *labCommands
	server string
}

func (h *commandHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *commandHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "wsman: request" {
		return nil
	}
	command := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "action" {
			command = a.Value.String() == actionCommand
			return false
		}
		return true
	})
	if command {
		h.l.mu.Lock()
		h.l.arrivals = append(h.l.arrivals, labArrival{Server: h.server, At: r.Time})
		h.l.mu.Unlock()
	}
	return nil
}

func (h *commandHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	for _, a := range attrs {
		if a.Key == "server" {
			c.server = a.Value.String()
		}
	}
	return &c
}

func (h *commandHandler) WithGroup(string) slog.Handler { return h }

// eventFront is a chat front that only listens: it hands every transition to the
// benchmark, which waits for its request's to know when a run has ended.
type eventFront struct{ events chan approvals.Event }

func (eventFront) Platform() string { return "bench" }

func (f eventFront) Announce(_ context.Context, e approvals.Event) {
	select {
	case f.events <- e:
	default: // nobody is waiting for it
	}
}

// benchApp is exchops as `serve --lab` builds it (startApp): the lab, SQLite, the real
// WinRM runner, approvals, the core and the Slack front, talking to a fake Slack.
type benchApp struct {
	*app
	slack *bottest.FakeSlack
	cmds  *labCommands
	front eventFront
	n     int
}

func startBenchApp(tb testing.TB, lo lab.Options) *benchApp {
	tb.Helper()
	b := &benchApp{slack: bottest.NewFakeSlack(tb, clock.Real{}, ""), cmds: &labCommands{}, front: eventFront{events: make(chan approvals.Event, 1024)}}
	cfg := demoConfig("127.0.0.1:0", filepath.Join(tb.TempDir(), "exchops.db"))
	cfg.Console = false
	cfg.People = benchPeople
	cfg.Slack = config.Slack{SigningSecretEnv: "SLACK_SIGNING_SECRET", BotTokenEnv: "SLACK_BOT_TOKEN",
		APIURL: b.slack.APIURL(), ApprovalsChannel: "C0APPROVALS"}
	if lo.Timing == nil {
		lo.Timing = &lab.Timing{} // seeding, convergence and switchovers are instant
	}
	a, err := startApp(context.Background(), appOptions{Config: cfg, Lab: true, LabOptions: lo,
		Logger: b.cmds.logger(),
		Env:    []string{"SLACK_SIGNING_SECRET=" + benchSigningSecret, "SLACK_BOT_TOKEN=" + benchBotToken}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(a.Close)
	b.app = a
	a.core.AddFront(b.front)
	return b
}

// post sends a signed body to path and checks that exchops answered 200.
func (b *benchApp) post(tb testing.TB, path, body string) {
	tb.Helper()
	req, err := http.NewRequest("POST", b.URL+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header = slackSignature(benchSigningSecret, time.Now(), body)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		tb.Fatalf("POST %s: %s", path, res.Status)
	}
}

// request files a change as alice (through approvals, with the real preflight
// against the lab) and returns it.
func (b *benchApp) request(tb testing.TB, text string) *approvals.Request {
	tb.Helper()
	inv, err := commands.Parse(text)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := b.approval.Request(context.Background(), approvals.Submit{Person: "alice",
		Origin: approvals.Origin{Platform: "slack", Channel: "C0OPS", User: "U0ALICE"}, Command: inv})
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// click clicks a card's button as user.
func (b *benchApp) click(tb testing.TB, user, action, id string) {
	tb.Helper()
	b.n++
	b.post(tb, "/slack/interactions", clickBody(user, "C0APPROVALS", "1700000000.card-"+id, action, id,
		fmt.Sprintf("click-%d", b.n), b.slack.ResponseURL(fmt.Sprintf("click-%d", b.n))))
}

// waitFinal waits for request id's run to end and returns the event.
func (b *benchApp) waitFinal(tb testing.TB, id string) approvals.Event {
	tb.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e := <-b.front.events:
			if e.Request != nil && e.Request.ID == id && e.Request.Status.Final() {
				return e
			}
		case <-timeout:
			tb.Fatalf("%s did not finish within 30 s", id)
		}
	}
}

// BenchmarkApproveToCommand measures the time from an approver's click on Approve
// (POST /slack/interactions, signed, as Slack sends it) to the lab's DNS server
// receiving the WinRM Command that makes the change, with the lab's latency and
// PowerShell start-up at 0. Each op is one request (`dns add` of a new name, filed
// before the clock starts), approved by bob. In between, the run checks the
// organisation again (its preflight, one Command of its own, reported as
// first-command-p50-ms). ns/op is the mean; the target is on p50-ms (≤ 50 ms).
func BenchmarkApproveToCommand(b *testing.B) {
	app := startBenchApp(b, lab.Options{})
	var toChange, toFirst []time.Duration
	for i := range b.N {
		r := app.request(b, fmt.Sprintf("dns add bench%d 10.9.%d.%d zone=msglab.local", i, i/250, i%250+1))
		start := time.Now()
		app.click(b, "U0BOB", "approve", r.ID)
		e := app.waitFinal(b, r.ID)
		if e.Request.Status != approvals.Succeeded {
			b.Fatalf("%s ended %s: %s", r.ID, e.Request.Status, e.Request.Reason)
		}
		got := app.cmds.since("DC01", start)
		if len(got) != 2 {
			b.Fatalf("%s: the lab received %d Commands after the click, want 2 (the preflight and the change)", r.ID, len(got))
		}
		toFirst = append(toFirst, got[0].At.Sub(start))
		toChange = append(toChange, got[1].At.Sub(start))
	}
	b.StopTimer()
	var sum time.Duration
	for _, d := range toChange {
		sum += d
	}
	b.ReportMetric(float64(sum)/float64(len(toChange)), "ns/op")
	b.ReportMetric(benchreport.Milliseconds(benchreport.Percentile(toChange, 50)), "p50-ms")
	b.ReportMetric(benchreport.Milliseconds(benchreport.Percentile(toChange, 99)), "p99-ms")
	b.ReportMetric(benchreport.Milliseconds(benchreport.Percentile(toFirst, 50)), "first-command-p50-ms")
}
