// Package discord is exchops' Discord front. People type /exchange, one application
// command whose subcommand groups, subcommands and typed options are generated from the
// command catalog; approvers click Approve or Deny on an approval card that the bot posts
// in the channel.
//
// Interactions arrive at POST /discord/interactions (Ed25519-signed, checked with the
// application's public key and a freshness window) or, in gateway mode, over the bot's
// own outbound connection; both take the same path. Every interaction is acknowledged
// at once (a deferred response), and what the core answers follows through the
// interaction's token. The token dies after 15 minutes, so everything about a request
// itself (its card, its progress, its result) goes through the bot token as channel
// messages: a run that ends an hour later still updates its card.
//
// Reports (a scheduled health report, a drill's scorecard) are posted into a channel by
// Publish, in as many messages as they need.
//
// Posts that Discord refuses for a while (429, 5xx, a network error) are retried a few
// times at once, then kept in the outbox and retried from there until delivered.
package discord

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/internal/clock"
)

// platform is the core's name for this front.
const platform = "discord"

// Limits of the front, named so that tests and readers find them in one place.
const (
	// MaxBody is the largest interaction body accepted.
	MaxBody = 1 << 20
	// SignatureWindow is how far X-Signature-Timestamp may be from now: discordgo checks
	// the signature but not the age, and a captured request must not be replayable later.
	SignatureWindow = 5 * time.Minute
	// TokenLife is how long Discord accepts an interaction's token for follow-ups.
	TokenLife = 15 * time.Minute
	// tokenMargin: a reply that would reach Discord this close to the token's end goes
	// through the bot token instead, so that a slow request does not race the deadline.
	tokenMargin = time.Minute
	// DedupKeep is how long an interaction id is remembered. Discord never reuses one;
	// the window only needs to outlast the signature window.
	DedupKeep = time.Hour
	// OutboxInterval is how often the outbox is checked for posts that are due.
	OutboxInterval = 5 * time.Second
	// inlineAttempts is how many times a post is tried before it goes to the outbox;
	// maxInlineWait caps how long one wait between them may be (a longer retry_after
	// sends the post to the outbox at once, due when Discord said).
	inlineAttempts = 3
	maxInlineWait  = 5 * time.Second
	// httpTimeout bounds one REST call when Config.HTTPClient is not given.
	httpTimeout = 30 * time.Second
)

// Config is what the Discord front needs. BotToken is a secret: it is never logged and
// never appears in an error.
type Config struct {
	Core *bot.Core
	// PublicKey is the application's Ed25519 public key, hex (discord.public_key).
	PublicKey string
	// BotToken is the bot's token, read from the environment variable named by
	// discord.bot_token_env; with or without the "Bot " prefix.
	BotToken string
	// ApplicationID is the application's id (discord.application_id).
	ApplicationID string
	// APIURL is the REST base (discord.api_url); "" is https://discord.com/api/v9/.
	APIURL string
	// ApprovalsChannel is the channel id where cards of requests made on other platforms
	// are posted (discord.approvals_channel); "" means they are not shown on Discord.
	// Requests made on Discord get their card in the channel they were asked in.
	ApprovalsChannel string
	// Outbox keeps posts Discord refused for a while; nil: they are logged and dropped.
	Outbox bot.Outbox
	// Dedup recognises an interaction delivered twice; nil: an in-memory set.
	Dedup      bot.Dedup
	Clock      clock.Clock  // default clock.Real{}
	Logger     *slog.Logger // default: discard
	HTTPClient *http.Client // default: a client with a 30 s timeout
	// Gateway makes Start open the bot's gateway connection and take interactions from
	// it, for installations without a public HTTPS endpoint.
	Gateway bool
}

// Discord is the front. Create it with New, register it with core.AddFront, serve
// Routes, then Start it; Close it after the approvals service and the core have
// stopped, so that the transitions they announce while stopping are posted.
type Discord struct {
	cfg  Config
	key  ed25519.PublicKey
	rest *rest
	log  *slog.Logger
	clk  clock.Clock

	ctx    context.Context // ends at Close: posts in flight go to the outbox
	cancel context.CancelFunc
	work   sync.WaitGroup

	mu      sync.Mutex
	queues  map[string]*queue         // per request: events waiting to be posted
	cards   map[string]approvals.Card // per request: where its card is
	pending map[string]bool           // per request: its card post is in the outbox
	closed  bool
	// publishing: per channel, held while a report is posted there (made when needed)
	publishing map[string]chan struct{}

	memSeen *memDedup
	session *discordgo.Session // gateway mode
}

// New checks the configuration and returns the front. Errors name the configuration
// key at fault and never repeat a secret.
func New(cfg Config) (*Discord, error) {
	var errs []error
	if cfg.Core == nil {
		errs = append(errs, errors.New("discord: no bot core was given"))
	}
	key, err := parsePublicKey(cfg.PublicKey)
	if err != nil {
		errs = append(errs, err)
	}
	if cfg.ApprovalsChannel != "" && !isSnowflake(cfg.ApprovalsChannel) {
		errs = append(errs, fmt.Errorf("discord.approvals_channel: %q is not a channel id: it is a number (in Discord, turn on Developer Mode, right-click the channel, Copy Channel ID)", cfg.ApprovalsChannel))
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r, err := newREST(cfg)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	r.metrics = cfg.Core.Metrics()
	ctx, cancel := context.WithCancel(context.Background())
	d := &Discord{
		cfg: cfg, key: key, rest: r, log: cfg.Logger, clk: cfg.Clock,
		ctx: ctx, cancel: cancel,
		queues: map[string]*queue{}, cards: map[string]approvals.Card{}, pending: map[string]bool{},
	}
	if cfg.Dedup == nil {
		d.memSeen = &memDedup{seen: map[string]time.Time{}}
	}
	return d, nil
}

func parsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("discord.public_key is empty: copy the application's public key from the Discord Developer Portal (General Information)")
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("discord.public_key is not an Ed25519 public key: it must be %d hexadecimal characters, as the Developer Portal shows it", 2*ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// isSnowflake reports whether s looks like a Discord id: a decimal number.
func isSnowflake(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// checkAPIURL returns the REST base with a trailing slash.
func checkAPIURL(s string) (string, error) {
	if s == "" {
		return discordgo.EndpointAPI, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("discord.api_url: %q is not an http(s) URL such as https://discord.com/api/v9/", s)
	}
	if !strings.HasSuffix(s, "/") {
		s += "/"
	}
	return s, nil
}

// Platform is "discord".
func (d *Discord) Platform() string { return platform }

// Routes registers POST /discord/interactions.
func (d *Discord) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /discord/interactions", d.serveInteractions)
}

// Start runs the outbox worker and, in gateway mode, opens the gateway. The worker
// stops when ctx ends or at Close.
func (d *Discord) Start(ctx context.Context) error {
	if d.cfg.Outbox != nil {
		wctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(d.ctx, cancel)
		d.work.Add(1)
		go func() {
			defer d.work.Done()
			defer stop()
			defer cancel()
			bot.DeliverOutbox(wctx, d.cfg.Outbox, platform, d.clk, OutboxInterval, d.log, d.redeliver)
		}()
	}
	if d.cfg.Gateway {
		if err := d.openGateway(); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the gateway, ends the posts in flight (what could not be posted goes to
// the outbox) and waits for the front's goroutines.
func (d *Discord) Close() {
	d.mu.Lock()
	already := d.closed
	d.closed = true
	d.mu.Unlock()
	if already {
		return
	}
	d.mu.Lock()
	session := d.session
	d.mu.Unlock()
	if session != nil {
		if err := session.Close(); err != nil {
			d.log.Warn("discord: closing the gateway", "err", err)
		}
	}
	// Give the queued announcements a moment to go out before cutting them off.
	done := make(chan struct{})
	go func() { d.work.Wait(); close(done) }()
	d.drainQueues(done)
	d.cancel()
	<-done
}

// drainQueues waits until the announcement queues are empty, done is closed, or a few
// seconds have passed.
func (d *Discord) drainQueues(done <-chan struct{}) {
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		d.mu.Lock()
		n := len(d.queues)
		d.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-done:
			return
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}

// goWork runs fn in the background unless the front is closed; Close waits for it.
func (d *Discord) goWork(fn func()) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.work.Add(1)
	go func() {
		defer d.work.Done()
		fn()
	}()
	return true
}

// firstSeen reports whether the key is new (and remembers it). When the store cannot
// answer, the interaction is handled: approvals already refuses a second vote, and
// dropping a person's command for a database hiccup would be worse.
func (d *Discord) firstSeen(ctx context.Context, key string) bool {
	now := d.clk.Now()
	if d.cfg.Dedup == nil {
		return d.memSeen.firstSeen(key, now, DedupKeep)
	}
	first, err := d.cfg.Dedup.FirstSeen(ctx, key, now, DedupKeep)
	if err != nil {
		d.log.Error("discord: checking for a repeated interaction", "err", err)
		return true
	}
	return first
}

// memDedup is the in-memory Dedup used when none is configured.
type memDedup struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func (m *memDedup) firstSeen(key string, now time.Time, keep time.Duration) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, at := range m.seen {
		if at.Before(now.Add(-keep)) {
			delete(m.seen, k)
		}
	}
	if _, ok := m.seen[key]; ok {
		return false
	}
	m.seen[key] = now
	return true
}
