// Package slack is exchops' Slack front: the /exchange slash command and the approval
// cards' Approve and Deny buttons, over HTTP webhooks (Slack-signed) or Socket Mode (an
// outbound websocket, for networks that cannot expose an endpoint).
//
// It verifies and parses Slack's payloads, hands the core an Invocation or an Action,
// and renders what the core answers and announces as Block Kit: private (ephemeral)
// replies to the person who asked, one approval card per request that is updated in
// place, and progress and results in the card's thread. It also publishes reports
// (scheduled health reports, drill scorecards) into channels, with their chart in the
// thread. A post that Slack keeps refusing is kept in the outbox (SQLite) and retried
// until it is delivered.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
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
	AckWait = 2 * time.Second
	// DedupKeep is how long a delivery's key is remembered. Slack retries deliveries for
	// up to 5 minutes, so anything longer recognises every replay of its own.
	DedupKeep = 15 * time.Minute
	// OutboxInterval is how often the outbox worker looks for posts to retry.
	OutboxInterval = 5 * time.Second

	platform = "slack"
	// inlineAttempts bounds the quick retries of a post before it goes to the outbox.
	inlineAttempts = 3
	// maxInlineWait is the longest Retry-After honoured inline; a longer one sends the
	// post to the outbox at once, to be tried when Slack allows.
	maxInlineWait = 30 * time.Second
	// socketAckLimit is the largest acknowledgement sent over Socket Mode: Slack drops
	// 20 KB and more, and the envelope around the payload takes a little.
	socketAckLimit = 20<<10 - 512
	// closeGrace is how long Close lets queued posts finish before it cuts their waits
	// short (what is cut short goes to the outbox).
	closeGrace = 5 * time.Second
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

// Slack is the front. Create it with New, register its routes, add it to the core
// with AddFront, then Start it; Close stops it.
type Slack struct {
	cfg   Config
	api   *slackgo.Client
	core  *bot.Core
	log   *slog.Logger
	clock clock.Clock
	http  *http.Client

	ctx    context.Context // ends at Close: waits are cut short, goroutines end
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the front started
	lanes  sync.WaitGroup // the lane goroutines, which Close lets finish first

	mu     sync.Mutex
	closed bool
	busy   int // goroutines of goWork still running
	queues map[string]*lane
	cards  map[string]*cardState // by request id + "|" + channel

	cardLocks [64]sync.Mutex // serialise the card operations of one request

	started   bool
	closeOnce sync.Once

	// Timings tests shorten.
	ackWait    time.Duration
	closeGrace time.Duration
	ackLimit   int
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
	if cfg.Outbox == nil || cfg.Dedup == nil {
		return nil, errors.New("slack: an outbox and a de-duplication store are required (the database)")
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
	ctx, cancel := context.WithCancel(context.Background())
	return &Slack{
		cfg:        cfg,
		api:        slackgo.New(cfg.BotToken, opts...),
		core:       cfg.Core,
		log:        cfg.Logger,
		clock:      cfg.Clock,
		http:       cfg.HTTPClient,
		ctx:        ctx,
		cancel:     cancel,
		queues:     map[string]*lane{},
		cards:      map[string]*cardState{},
		ackWait:    AckWait,
		closeGrace: closeGrace,
		ackLimit:   socketAckLimit,
	}, nil
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
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("slack: started after Close")
	}
	if s.started {
		return errors.New("slack: started twice")
	}
	s.started = true
	run, stop := context.WithCancel(s.ctx)
	s.wg.Go(func() {
		select {
		case <-ctx.Done():
		case <-run.Done():
		}
		stop()
	})
	s.wg.Go(func() {
		bot.DeliverOutbox(run, s.cfg.Outbox, platform, s.clock, OutboxInterval, s.log, s.sendQueued)
	})
	if s.SocketMode() {
		s.wg.Go(func() { s.runSocketMode(run) })
	}
	return nil
}

// Close stops taking work, lets queued posts finish for a few seconds, then stops
// every goroutine and waits for them. What could not be posted stays in the outbox;
// announcements after Close go straight there.
func (s *Slack) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		drained := make(chan struct{})
		go func() {
			s.lanes.Wait()
			close(drained)
		}()
		t := time.NewTimer(s.closeGrace)
		select {
		case <-drained:
		case <-t.C:
			s.log.Warn("slack: posts still queued at shutdown; what is not sent goes to the outbox")
		}
		t.Stop()
		s.cancel()
		<-drained
		s.wg.Wait()
	})
}

// goWork runs f in a goroutine tracked by Close; it reports false (and runs nothing)
// once the front is closed.
func (s *Slack) goWork(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.busy++
	s.wg.Go(func() {
		defer func() {
			s.mu.Lock()
			s.busy--
			s.mu.Unlock()
		}()
		f()
	})
	return true
}

// lane is a queue of jobs run one after another by one goroutine: everything about one
// request (its card, its thread) and every reply to one invocation, in order.
type lane struct {
	jobs []func(context.Context)
}

// enqueue adds job to the lane called key, starting its goroutine if it is idle. It
// reports false once the front is closed.
func (s *Slack) enqueue(key string, job func(context.Context)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if l, ok := s.queues[key]; ok {
		l.jobs = append(l.jobs, job)
		return true
	}
	l := &lane{jobs: []func(context.Context){job}}
	s.queues[key] = l
	s.lanes.Add(1)
	go s.drain(key, l)
	return true
}

func (s *Slack) drain(key string, l *lane) {
	defer s.lanes.Done()
	for {
		s.mu.Lock()
		if len(l.jobs) == 0 {
			delete(s.queues, key)
			s.mu.Unlock()
			return
		}
		job := l.jobs[0]
		l.jobs = l.jobs[1:]
		s.mu.Unlock()
		job(s.ctx)
	}
}

// idle reports whether nothing is being handled and no lane has work; tests use it.
func (s *Slack) idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queues) == 0 && s.busy == 0
}
