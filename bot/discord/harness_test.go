package discord

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/bot/bottest"
	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/internal/metrics"
	"github.com/exchops/exchops/store"
)

const (
	testToken       = "TEST.bot-token.do-not-print-4f1c9a"
	testApp         = "4242"
	testGuild       = "900"
	testChannel     = "500"
	testApprovalsCh = "700"
	createDAG       = `dag create E14-DAG witness=EX10-CAHT dir=C:\FSW`
)

// The people of the tests: the same persons on Slack and Discord.
var testPeople = []approvals.Person{
	{Name: "alice", IDs: map[string]string{"slack": "U0ALICE", "discord": "1001"}, Roles: []approvals.Role{approvals.RoleAdmin}},
	{Name: "bob", IDs: map[string]string{"slack": "U0BOB", "discord": "1002"}, Roles: []approvals.Role{approvals.RoleAdmin, approvals.RoleApprover}},
	{Name: "carol", IDs: map[string]string{"slack": "U0CAROL", "discord": "1003"}, Roles: []approvals.Role{approvals.RoleApprover}},
	{Name: "dave", IDs: map[string]string{"slack": "U0DAVE", "discord": "1004"}, Roles: []approvals.Role{approvals.RoleViewer}},
}

var testEnv = commands.Env{ManagementServer: "EX10-CAHT", DNSServer: "DC01"}

// frontRecorder is a second front standing in for Slack: it keeps what it is told.
type frontRecorder struct {
	name   string
	mu     sync.Mutex
	events []approvals.Event
}

func (f *frontRecorder) Platform() string { return f.name }

func (f *frontRecorder) Announce(_ context.Context, e approvals.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, e)
}

func (f *frontRecorder) last(id string) *approvals.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var r *approvals.Request
	for _, e := range f.events {
		if e.Request.ID == id && (r == nil || e.Request.Version >= r.Version) {
			r = e.Request
		}
	}
	return r
}

// logBuffer collects the front's log for checks that no secret reaches it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// harness is a real core (SQLite store, approvals, bot) with the Discord front wired
// to a fake Discord, on a manual clock.
type harness struct {
	t       *testing.T
	clk     *clock.Manual
	db      *store.DB
	svc     *approvals.Service
	core    *bot.Core
	d       *Discord
	fake    *bottest.FakeDiscord
	exec    *bottest.FakeExec
	slack   *frontRecorder
	metrics *metrics.Metrics
	srv     *httptest.Server // exchops' HTTP side: /discord/interactions
	priv    ed25519.PrivateKey
	logs    *logBuffer

	mu     sync.Mutex
	seq    int
	waits  []time.Duration // inline waits between attempts
	tokens []string        // interaction tokens issued
}

// harnessOption changes the front's configuration before it is built; the fake
// Discord exists by then.
type harnessOption func(h *harness, c *Config)

func withApprovalsChannel(ch string) harnessOption {
	return func(_ *harness, c *Config) { c.ApprovalsChannel = ch }
}

func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	return newHarnessWith(t, approvals.Policy{People: testPeople, Required: 1, ExpireAfter: 30 * time.Minute}, opts...)
}

// newHarnessWith is newHarness under another approval policy.
func newHarnessWith(t *testing.T, pol approvals.Policy, opts ...harnessOption) *harness {
	t.Helper()
	ctx := context.Background()
	h := &harness{t: t, clk: clock.NewManual(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)),
		exec: &bottest.FakeExec{Progress: true, Started: make(chan string, 100),
			Findings: []commands.Finding{{Severity: commands.Info, Message: "no DAG is named E14-DAG yet"}}},
		slack: &frontRecorder{name: "slack"}, metrics: metrics.New(), logs: &logBuffer{}}
	t.Cleanup(h.checkNoSecrets) // last: once everything has stopped
	rig := bottest.NewRig(t, bottest.Options{Policy: pol, Exec: h.exec, Clock: h.clk, Metrics: h.metrics})
	h.db, h.svc, h.core = rig.DB, rig.Svc, rig.Core
	db := rig.DB

	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h.priv = priv
	h.fake = bottest.NewFakeDiscord(t, h.clk, testToken, testApp)
	cfg := Config{Core: h.core, PublicKey: hex.EncodeToString(pub), BotToken: testToken, ApplicationID: testApp,
		Outbox: db, Dedup: db, Clock: h.clk, HTTPClient: h.fake.Client(),
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, o := range opts {
		o(h, &cfg)
	}
	h.d, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.d.SetSleep(func(ctx context.Context, d time.Duration) error {
		h.mu.Lock()
		h.waits = append(h.waits, d)
		h.mu.Unlock()
		return ctx.Err()
	})
	startCtx, stop := context.WithCancel(ctx)
	rig.AddFront(h.d, func() { h.d.Close(); stop() })
	rig.AddFront(h.slack, nil)
	if err := h.d.Start(startCtx); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.d.Routes(mux)
	h.srv = httptest.NewServer(mux)
	// The rig stops the rest in the order the application does: approvals, core, front,
	// store.
	t.Cleanup(func() {
		h.exec.ReleaseAll() // a test that failed half-way may hold a run
		h.srv.Close()
	})
	return h
}

// checkNoSecrets fails the test when the bot token or an interaction token reached the
// log or the outbox.
func (h *harness) checkNoSecrets() {
	h.t.Helper()
	logs := h.logs.String()
	h.mu.Lock()
	secrets := append([]string{testToken}, h.tokens...)
	h.mu.Unlock()
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			h.t.Errorf("a secret reached the log: %q", s)
		}
	}
}

// sign sends body to /discord/interactions signed with key at ts.
func (h *harness) sign(body []byte, key ed25519.PrivateKey, ts time.Time) (int, []byte) {
	h.t.Helper()
	req, err := http.NewRequest("POST", h.srv.URL+"/discord/interactions", bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	stamp := strconv.FormatInt(ts.Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Signature-Timestamp", stamp)
	req.Header.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(key, append([]byte(stamp), body...))))
	return h.do(req)
}

func (h *harness) do(req *http.Request) (int, []byte) {
	h.t.Helper()
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// interaction is a payload as Discord sends it.
type interaction struct {
	ID    string
	Token string
	Body  []byte
}

func (h *harness) newInteraction(kind int, user, channel string, data any, message any) interaction {
	h.t.Helper()
	h.mu.Lock()
	h.seq++
	id := fmt.Sprintf("88%04d", h.seq)
	tok := fmt.Sprintf("itoken-%d-secret", h.seq)
	h.tokens = append(h.tokens, tok)
	h.mu.Unlock()
	h.fake.Issue(tok)
	p := map[string]any{
		"id": id, "application_id": testApp, "type": kind, "token": tok, "version": 1,
		"guild_id": testGuild, "channel_id": channel,
		"member": map[string]any{"user": map[string]any{"id": user, "username": "user" + user}},
		"data":   data,
	}
	if message != nil {
		p["message"] = message
	}
	b, err := json.Marshal(p)
	if err != nil {
		h.t.Fatal(err)
	}
	return interaction{ID: id, Token: tok, Body: b}
}

// commandInteraction is /exchange as Discord sends it for the typed command text.
func (h *harness) commandInteraction(user, channel, text string) interaction {
	h.t.Helper()
	return h.newInteraction(2, user, channel, interactionData(h.t, text), nil)
}

// interactionData builds the options a Discord client sends for a command text.
func interactionData(t testing.TB, text string) discordgo.ApplicationCommandInteractionData {
	t.Helper()
	inv, err := commands.Parse(text)
	if err != nil {
		t.Fatalf("%q: %v", text, err)
	}
	var opts []*discordgo.ApplicationCommandInteractionDataOption
	for _, a := range inv.Spec.Args {
		v, ok := inv.Args[a.Name]
		if !ok || (a.Default != "" && v == a.Default) {
			continue
		}
		o := &discordgo.ApplicationCommandInteractionDataOption{Name: a.Name, Type: discordgo.ApplicationCommandOptionString, Value: v}
		if a.OptionType() == "integer" {
			n, _ := strconv.Atoi(v)
			o.Type, o.Value = discordgo.ApplicationCommandOptionInteger, float64(n)
		}
		opts = append(opts, o)
	}
	sub := &discordgo.ApplicationCommandInteractionDataOption{Name: inv.Spec.Subcommand(), Type: discordgo.ApplicationCommandOptionSubCommand, Options: opts}
	top := sub
	if g := inv.Spec.Group(); g != "" {
		top = &discordgo.ApplicationCommandInteractionDataOption{Name: g, Type: discordgo.ApplicationCommandOptionSubCommandGroup,
			Options: []*discordgo.ApplicationCommandInteractionDataOption{sub}}
	}
	return discordgo.ApplicationCommandInteractionData{ID: "3000", Name: CommandName, CommandType: discordgo.ChatApplicationCommand,
		Options: []*discordgo.ApplicationCommandInteractionDataOption{top}}
}

// clickInteraction is a click on a card's button.
func (h *harness) clickInteraction(user, channel, customID, messageID string) interaction {
	h.t.Helper()
	return h.newInteraction(3, user, channel, map[string]any{"custom_id": customID, "component_type": 2},
		map[string]any{"id": messageID, "channel_id": channel})
}

// send delivers an interaction, signed now, and returns the decoded answer.
func (h *harness) send(it interaction) map[string]any {
	h.t.Helper()
	status, body := h.sign(it.Body, h.priv, h.clk.Now())
	if status != http.StatusOK {
		h.t.Fatalf("interaction %s: HTTP %d: %s", it.ID, status, body)
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		h.t.Fatalf("interaction %s: answer is not JSON: %s", it.ID, body)
	}
	return out
}

// command sends /exchange <text> as user and checks the deferred, private answer.
func (h *harness) command(user, channel, text string) interaction {
	h.t.Helper()
	it := h.commandInteraction(user, channel, text)
	out := h.send(it)
	if out["type"] != float64(5) {
		h.t.Fatalf("/exchange %s: answer %v, want type 5 (deferred)", text, out)
	}
	if data, _ := out["data"].(map[string]any); data["flags"] != float64(64) {
		h.t.Errorf("/exchange %s: the deferred answer is not ephemeral: %v", text, out)
	}
	return it
}

// click sends a button click and checks the deferred update.
func (h *harness) click(user, channel, customID, messageID string) interaction {
	h.t.Helper()
	it := h.clickInteraction(user, channel, customID, messageID)
	out := h.send(it)
	if out["type"] != float64(6) {
		h.t.Fatalf("click %s: answer %v, want type 6 (deferred update)", customID, out)
	}
	return it
}

// card waits for the card of request id to be posted in channel and returns its
// message id.
func (h *harness) card(id, channel string) string {
	h.t.Helper()
	var msgID string
	h.fake.WaitFor(h.t, id+"'s card attached", func() bool {
		for _, m := range h.fake.Messages() {
			if m.Channel == channel && strings.Contains(m.Text(), approvePrefix+id) {
				msgID = m.ID
				return true
			}
		}
		return false
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := h.svc.Get(context.Background(), id)
		if err == nil && len(r.Cards) > 0 && r.Cards[0].MessageID == msgID {
			return msgID
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s's card %s was never attached to it (cards %v, err %v)", id, msgID, r, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// followup waits for a reply through interaction it's token whose content holds part.
func (h *harness) followup(it interaction, part string) *bottest.DiscordRequest {
	h.t.Helper()
	return h.fake.WaitRequest(h.t, fmt.Sprintf("a reply to %s holding %q", it.ID, part), "", "webhooks/"+testApp+"/"+it.Token, func(r *bottest.DiscordRequest) bool {
		return strings.Contains(r.Content(), part) || strings.Contains(fmt.Sprint(r.Body["embeds"]), part)
	})
}

// request waits until the store holds request id in status.
func (h *harness) request(id string, status approvals.Status) *approvals.Request {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := h.svc.Get(context.Background(), id)
		if err == nil && r.Status == status {
			return r
		}
		if time.Now().After(deadline) {
			got := "none"
			if r != nil {
				got = string(r.Status)
			}
			h.t.Fatalf("%s did not reach %s (it is %s, err %v)", id, status, got, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) postsMetric(outcome string) string {
	rec := httptest.NewRecorder()
	h.metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, l := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(l, `exchops_chat_posts_total{outcome="`+outcome+`",platform="discord"}`) {
			return strings.Fields(l)[1]
		}
	}
	return ""
}

// advanceUntil moves the clock on by step, giving the workers a moment each time,
// until ok holds; it fails after 10 s of real time.
func (h *harness) advanceUntil(what string, step time.Duration, ok func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; the fake received:\n%s", what, h.fake.Dump())
		}
		h.clk.Advance(step)
		time.Sleep(10 * time.Millisecond)
	}
}
