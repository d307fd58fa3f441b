// Package slack is exchops' Slack front: the /exchange slash command and the approval
// cards' Approve and Deny buttons, over HTTP webhooks (Slack-signed) or Socket Mode (an
// outbound websocket, for networks that cannot expose an endpoint).
//
// It verifies and parses Slack's payloads, hands the core an Invocation or an Action,
// and renders what the core answers and announces as Block Kit: private (ephemeral)
// replies to the person who asked, one approval card per request that is updated in
// place, and progress and results in the card's thread. It also publishes reports
// (scheduled health reports, drill scorecards) into channels, rendered from their data,
// with their chart in the thread.
//
// This package is a bot.Driver: it renders and makes one Web API call per attempt, and
// says whether a failure is worth another. Order, retries, the outbox, where cards go
// and what a replay does are bot.Delivery's rules, the same as every platform's.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/internal/clock"
)

// Limits and timings of the Slack front, named so that tests and readers find them in
// one place.
const (
	// MaxBody is the largest request body accepted from Slack. A click's payload carries
	// the whole card, so this is well above a slash command's size.
	MaxBody = 1 << 20
	// AckWait is how long a slash command waits for the core's first answer, so that it
	// can be the acknowledgement itself. Slack gives up after 3 seconds.
	AckWait  = 2 * time.Second
	platform = "slack"
	// socketAckLimit is the largest acknowledgement sent over Socket Mode: Slack drops
	// 20 KB and more, and the envelope around the payload takes a little.
	socketAckLimit = 20<<10 - 512
)

// Config is what the Slack front needs. Secrets arrive as values, already read from
// the environment variables that exchops.yaml names.
type Config struct {
	Core          *bot.Core
	SigningSecret string // verifies HTTP requests; required unless AppToken is set
	BotToken      string // xoxb-…: every Web API call
	AppToken      string // xapp-…: set => Socket Mode
	// APIURL is the Web API base; "" means Slack's own (tests point it at a fake).
	APIURL string
	// ApprovalsChannel is where approval cards go; "" means the channel the command
	// came from (and no card for requests made on another platform).
	ApprovalsChannel string
	Outbox           bot.Outbox
	Dedup            bot.Dedup
	Clock            clock.Clock  // default clock.Real{}
	Logger           *slog.Logger // default: discard
	HTTPClient       *http.Client // default: a client with a 30 s timeout
}

// Slack is the front: the Slack driver under bot.Delivery, which orders, retries and
// keeps its posts. Create it with New, register its routes, add it to the core with
// AddFront, then Start it; Close stops it.
type Slack struct {
	*bot.Delivery
	cfg  Config
	api  *slackgo.Client
	core *bot.Core
	log  *slog.Logger
	clk  clock.Clock
	http *http.Client

	// Timings tests shorten.
	ackWait  time.Duration
	ackLimit int
}

// New checks the configuration and returns a front that does nothing until its
// routes are served or it is started.
func New(cfg Config) (*Slack, error) {
	if cfg.Core == nil {
		return nil, errors.New("slack: no core to hand commands to")
	}
	if cfg.BotToken == "" {
		return nil, errors.New("slack: no bot token: set the environment variable that slack.bot_token_env names to the app's Bot User OAuth Token (xoxb-…)")
	}
	if strings.HasPrefix(cfg.BotToken, "xapp-") {
		return nil, errors.New("slack: the bot token is an app-level token (xapp-…): slack.bot_token_env must name the Bot User OAuth Token (xoxb-…), and slack.app_token_env the app-level one")
	}
	if cfg.AppToken != "" && !strings.HasPrefix(cfg.AppToken, "xapp-") && strings.HasPrefix(cfg.AppToken, "xox") {
		return nil, errors.New("slack: the app token is not an app-level token: slack.app_token_env must name a token that starts with xapp- and has the connections:write scope")
	}
	if cfg.AppToken == "" && cfg.SigningSecret == "" {
		return nil, errors.New("slack: no signing secret: set the environment variable that slack.signing_secret_env names to the app's Signing Secret (or use Socket Mode with slack.app_token_env)")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	opts := []slackgo.Option{slackgo.OptionHTTPClient(cfg.HTTPClient),
		slackgo.OptionLog(slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug))}
	if cfg.APIURL != "" {
		u := cfg.APIURL
		if !strings.HasSuffix(u, "/") {
			u += "/"
		}
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return nil, fmt.Errorf("slack.api_url: %q is not an http(s) URL", cfg.APIURL)
		}
		opts = append(opts, slackgo.OptionAPIURL(u))
	}
	if cfg.AppToken != "" {
		opts = append(opts, slackgo.OptionAppLevelToken(cfg.AppToken))
	}
	api := slackgo.New(cfg.BotToken, opts...)
	d, err := bot.NewDelivery(bot.DeliveryConfig{Core: cfg.Core, Driver: &driver{api: api, http: cfg.HTTPClient, log: cfg.Logger},
		ApprovalsChannel: cfg.ApprovalsChannel, Outbox: cfg.Outbox, Dedup: cfg.Dedup, Clock: cfg.Clock, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	return &Slack{Delivery: d, cfg: cfg, api: api, core: cfg.Core, log: cfg.Logger, clk: cfg.Clock, http: cfg.HTTPClient,
		ackWait: AckWait, ackLimit: socketAckLimit}, nil
}

// Platform is "slack": the core's name for this front.
func (s *Slack) Platform() string { return platform }

// SocketMode reports whether the front takes its events over Socket Mode.
func (s *Slack) SocketMode() bool { return s.cfg.AppToken != "" }

// Routes registers the Slack webhooks: POST /slack/commands and
// POST /slack/interactions.
func (s *Slack) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /slack/commands", s.handleCommands)
	mux.HandleFunc("POST /slack/interactions", s.handleInteractions)
}

// Start starts the outbox worker and, with an app token, Socket Mode. Both stop when
// ctx ends or at Close.
func (s *Slack) Start(ctx context.Context) error {
	if err := s.Delivery.Start(ctx); err != nil {
		return err
	}
	if s.SocketMode() {
		run, stop := context.WithCancel(s.Context())
		s.Serve(func() {
			defer stop()
			select {
			case <-ctx.Done():
			case <-run.Done():
			}
		})
		s.Serve(func() { s.runSocketMode(run) })
	}
	return nil
}
