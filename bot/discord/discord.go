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
// Reports (a scheduled health report, a drill's scorecard) are rendered from their data
// into as many messages as they need.
//
// This package is a bot.Driver: it renders and makes one REST call per attempt, and
// says whether a failure is worth another. Order, retries, the outbox, where cards go
// and what a replay does are bot.Delivery's rules, the same as every platform's.
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
	// ApprovalsChannel is the channel id where every approval card goes
	// (discord.approvals_channel); "" means the channel a request made on Discord was
	// made in (and no card for requests made elsewhere).
	ApprovalsChannel string
	// Outbox keeps posts Discord refused for a while (required).
	Outbox bot.Outbox
	// Dedup recognises an interaction delivered twice (required).
	Dedup      bot.Dedup
	Clock      clock.Clock  // default clock.Real{}
	Logger     *slog.Logger // default: discard
	HTTPClient *http.Client // default: a client with a 30 s timeout
	// Gateway makes Start open the bot's gateway connection and take interactions from
	// it, for installations without a public HTTPS endpoint.
	Gateway bool
}

// Discord is the front: the Discord driver under bot.Delivery, which orders, retries
// and keeps its posts. Create it with New, register it with core.AddFront, serve
// Routes, then Start it; Close it after the approvals service and the core have
// stopped, so that the transitions they announce while stopping are posted.
type Discord struct {
	*bot.Delivery
	cfg  Config
	key  ed25519.PublicKey
	rest *rest
	log  *slog.Logger
	clk  clock.Clock

	mu      sync.Mutex
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
	del, err := bot.NewDelivery(bot.DeliveryConfig{Core: cfg.Core, Driver: &driver{rest: r}, ApprovalsChannel: cfg.ApprovalsChannel,
		Outbox: cfg.Outbox, Dedup: cfg.Dedup, Clock: cfg.Clock, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	return &Discord{Delivery: del, cfg: cfg, key: key, rest: r, log: cfg.Logger, clk: cfg.Clock}, nil
}

// Platform is "discord": the core's name for this front.
func (d *Discord) Platform() string { return platform }

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

// Routes registers POST /discord/interactions.
func (d *Discord) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /discord/interactions", d.serveInteractions)
}

// Start runs the outbox worker and, in gateway mode, opens the gateway. The worker
// stops when ctx ends or at Close.
func (d *Discord) Start(ctx context.Context) error {
	if err := d.Delivery.Start(ctx); err != nil {
		return err
	}
	if d.cfg.Gateway {
		return d.openGateway()
	}
	return nil
}

// Close closes the gateway, lets queued posts finish for a few seconds (what could not
// be posted goes to the outbox) and waits for the front's goroutines.
func (d *Discord) Close() {
	d.mu.Lock()
	session := d.session
	d.session = nil
	d.mu.Unlock()
	if session != nil {
		if err := session.Close(); err != nil {
			d.log.Warn("discord: closing the gateway", "err", err)
		}
	}
	d.Delivery.Close()
}
