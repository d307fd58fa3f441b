package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/bot/console"
	"github.com/exchops/exchops/bot/discord"
	"github.com/exchops/exchops/bot/slack"
	"github.com/exchops/exchops/config"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/internal/metrics"
	"github.com/exchops/exchops/internal/report"
	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/runners"
	"github.com/exchops/exchops/schedules"
	"github.com/exchops/exchops/store"
)

// appOptions say how to build exchops: from a configuration, against real servers or
// the embedded lab.
type appOptions struct {
	Config config.Config
	// Lab runs the embedded lab and points the runner at it instead of the configured
	// addresses (serve --lab, demo).
	Lab        bool
	LabOptions lab.Options
	Console    bool // serve the console at / (demo; serve when console: true)
	Logger     *slog.Logger
	Clock      clock.Clock // nil: the wall clock
	Env        []string    // the environment, for secrets named in the configuration
	// DrillInterval overrides the pause between a drill's polls (tests, against a lab
	// whose switchovers are instant); 0 keeps the default.
	DrillInterval time.Duration
	// HTTPTimeouts overrides the HTTP server's timeouts (tests); zero keeps
	// defaultHTTPTimeouts.
	HTTPTimeouts httpTimeouts
}

// httpTimeouts bound how long a client may hold a connection of exchops' HTTP server.
type httpTimeouts struct {
	ReadHeader time.Duration // the request line and headers
	Read       time.Duration // the whole request, body included
	Write      time.Duration // from the end of the request's headers to the end of the answer
	Idle       time.Duration // a kept-alive connection between requests
}

// defaultHTTPTimeouts: every request exchops takes is small (a signed webhook, a
// console POST of at most 16 KB) and answered at once (Slack and Discord want an
// answer within 3 s), so a client this slow is cut rather than allowed to hold a
// connection. The console's event stream lifts the read deadline and gives each of
// its writes console.StreamWriteTimeout instead of the write deadline.
var defaultHTTPTimeouts = httpTimeouts{ReadHeader: 5 * time.Second, Read: 15 * time.Second,
	Write: 30 * time.Second, Idle: 90 * time.Second}

// newHTTPServer is exchops' HTTP server with its timeouts.
func newHTTPServer(h http.Handler, t httpTimeouts, log *slog.Logger) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read,
		WriteTimeout: t.Write, IdleTimeout: t.Idle,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
}

// chatPlatforms are the registered names of the chat platforms exchops has a front
// for, besides the console: the keys of people's ids (approvals.Person.IDs) and of a
// schedule's channels (schedules.Entry.PostTo), and the platform label of the posts on
// /metrics. Each is its front's Platform() and its section's key in the configuration
// (config.Person.IDs, config.PostTo.Channels); TestChatPlatforms checks both. A
// schedule added on another front (the console) names no channel
// (schedules.Config.Platforms).
var chatPlatforms = []string{"slack", "discord"}

// app is a running exchops: every piece, built in dependency order and closed in the
// reverse order.
type app struct {
	log      *slog.Logger
	lab      *lab.Lab
	db       *store.DB
	runner   *runners.WinRM
	approval *approvals.Service
	core     *bot.Core
	console  *console.Console
	slack    *slack.Slack
	discord  *discord.Discord
	sched    *schedules.Scheduler
	watch    *schedules.Watcher // nil unless watch.enabled
	metrics  *metrics.Metrics
	server   *http.Server
	listener net.Listener
	URL      string // http://host:port/
	served   chan error
}

// startApp builds and starts everything, listening on cfg.Listen. On error it closes
// what it had started.
func startApp(ctx context.Context, o appOptions) (a *app, err error) {
	cfg := o.Config
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	a = &app{log: o.Logger, metrics: metrics.New(chatPlatforms...), served: make(chan error, 1)}
	defer func() {
		if err != nil {
			a.Close()
			a = nil
		}
	}()

	withConsole := cfg
	withConsole.Console = o.Console || cfg.Console
	if withConsole.ConsoleUnprotected() {
		return a, fmt.Errorf("the console would listen on %s, beyond loopback, with no sign-in (console_auth): listen on 127.0.0.1 or configure console_auth", cfg.Listen)
	}
	// The address first: a port in use should fail before anything else starts.
	if a.listener, err = net.Listen("tcp", cfg.Listen); err != nil {
		return a, fmt.Errorf("cannot listen on %s (listen in the configuration, or --listen): %w", cfg.Listen, err)
	}

	var endpoints []runners.Endpoint
	if o.Lab {
		lo := o.LabOptions
		lo.Logger = o.Logger.With("component", "lab")
		if a.lab, err = lab.Start(lo); err != nil {
			return a, fmt.Errorf("starting the lab: %w", err)
		}
		endpoints = a.lab.RunnerEndpoints()
	} else {
		if endpoints, err = endpointsFromConfig(cfg.Exchange, o.Env); err != nil {
			return a, err
		}
	}
	// The database before the runner: the runner records every shell it opens there,
	// so that the next start can delete what a killed process left open.
	if a.db, err = store.Open(ctx, cfg.Database); err != nil {
		return a, err
	}
	ropts := runners.Options{Clock: o.Clock, MaxPerServer: cfg.Exchange.WinRM.MaxPerServer,
		Timeout: time.Duration(cfg.Exchange.WinRM.Timeout), IdleClose: time.Duration(cfg.Exchange.PowerShell.IdleTimeout),
		Shells: shellLog{db: a.db, log: o.Logger}}
	if a.runner, err = runners.New(endpoints, ropts); err != nil {
		return a, fmt.Errorf("exchange: %w", err)
	}
	deleteOrphanShells(ctx, a.db, a.runner, o.Logger)

	env := envFromConfig(cfg)
	policy := approvals.PolicyFromConfig(cfg)
	var core *bot.Core
	poster := publisherFunc(func(ctx context.Context, to map[string]string, rep *report.Report) error {
		return core.PublishReport(ctx, to, rep)
	})
	// The watch's alerts go out as alerts: on the fronts that show buttons, one per
	// next step, which files the command as the person who clicks.
	alerts := alertPoster{publisherFunc: poster, alert: func(ctx context.Context, to map[string]string, al schedules.Alert) error {
		return core.PublishAlert(ctx, to, al)
	}}
	// Every kept health report sets the DAG health gauges on /metrics and, with
	// watch.enabled, is compared with the one before for alerts.
	observers := schedules.Observers{a.metrics}
	if cfg.Watch.Enabled {
		if a.watch, err = schedules.NewWatcher(schedules.WatchConfig{Store: a.db, Poster: alerts, To: cfg.Watch.AlertChannels.Channels(),
			Settings: schedules.WatchSettings{SingleCopyAfter: time.Duration(cfg.Watch.SingleCopyAfter)},
			Clock:    o.Clock, Logger: o.Logger.With("component", "watch")}); err != nil {
			return a, fmt.Errorf("watch: %w", err)
		}
		observers = append(observers, a.watch)
	}
	a.sched, err = schedules.New(schedules.Config{Store: a.db, Runner: a.runner, Env: env, Poster: poster,
		Schedules: cfg.Schedules, Platforms: chatPlatforms, Clock: o.Clock, Policy: &policy, Logger: o.Logger.With("component", "schedules"),
		Observer: observers,
		Thresholds: schedules.Thresholds{CopyQueue: cfg.Health.CopyQueue, ReplayQueue: cfg.Health.ReplayQueue,
			Ignore: cfg.Health.Ignore, AlertsOnly: cfg.Health.AlertsOnly},
		Drill: schedules.DrillOptions{Timeout: time.Duration(cfg.Drill.Timeout), Interval: o.DrillInterval}})
	if err != nil {
		return a, fmt.Errorf("schedules: %w", err)
	}
	a.approval = approvals.New(a.db, a.runner, policy, approvals.Options{
		Clock:      o.Clock,
		Env:        env,
		Logger:     o.Logger.With("component", "approvals"),
		Notifier:   approvals.NotifierFunc(func(ctx context.Context, e approvals.Event) { core.Notify(ctx, e) }),
		Procedures: a.sched, // drills and drill schedule changes, once approved
	})
	core = bot.New(bot.Config{Approvals: a.approval, Executor: a.runner, Env: env, Metrics: a.metrics, Schedules: a.sched,
		Logger: o.Logger.With("component", "bot"), Now: o.Clock.Now})
	a.core = core

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", a.metrics.Handler())
	if o.Console || cfg.Console {
		copt := console.Options{People: policy.People, Hosts: cfg.ConsoleHosts,
			Logger: o.Logger.With("component", "console"), Now: o.Clock.Now}
		if cfg.ConsoleAuth.Enabled() {
			copt.Auth = &console.Auth{Header: cfg.ConsoleAuth.Header, Trusted: cfg.ConsoleAuth.Prefixes()}
		}
		a.console = console.New(core, copt)
		core.AddFront(a.console)
		mux.Handle("/", a.console.Handler())
	}

	// Slack runs when its bot token is set. The chat fronts are added before approvals
	// start, so that runs interrupted by the last stop are announced everywhere.
	if token := lookupEnv(o.Env, cfg.Slack.BotTokenEnv); token != "" {
		a.slack, err = slack.New(slack.Config{Core: core,
			SigningSecret: lookupEnv(o.Env, cfg.Slack.SigningSecretEnv), BotToken: token,
			AppToken: lookupEnv(o.Env, cfg.Slack.AppTokenEnv),
			APIURL:   cfg.Slack.APIURL, ApprovalsChannel: cfg.Slack.ApprovalsChannel,
			Outbox: a.db, Dedup: a.db, Clock: o.Clock, Logger: o.Logger.With("component", "slack")})
		if err != nil {
			return a, err
		}
		core.AddFront(a.slack)
		a.slack.Routes(mux)
	}

	// Discord runs when its bot token is set.
	if token := lookupEnv(o.Env, cfg.Discord.BotTokenEnv); token != "" {
		a.discord, err = discord.New(discord.Config{Core: core, PublicKey: cfg.Discord.PublicKey,
			BotToken: token, ApplicationID: cfg.Discord.ApplicationID, APIURL: cfg.Discord.APIURL,
			ApprovalsChannel: cfg.Discord.ApprovalsChannel, Gateway: cfg.Discord.Gateway,
			Outbox: a.db, Dedup: a.db, Clock: o.Clock, Logger: o.Logger.With("component", "discord")})
		if err != nil {
			return a, err
		}
		core.AddFront(a.discord)
		a.discord.Routes(mux)
	}

	if err := a.approval.Start(ctx); err != nil {
		return a, err
	}
	if a.discord != nil {
		if err := a.discord.Start(ctx); err != nil {
			return a, fmt.Errorf("starting Discord: %w", err)
		}
	}
	if err := a.sched.Start(ctx); err != nil {
		return a, fmt.Errorf("starting the schedules: %w", err)
	}
	if a.slack != nil {
		if err := a.slack.Start(ctx); err != nil {
			return a, fmt.Errorf("starting Slack: %w", err)
		}
	}
	a.URL = "http://" + a.listener.Addr().String() + "/"
	timeouts := o.HTTPTimeouts
	if timeouts == (httpTimeouts{}) {
		timeouts = defaultHTTPTimeouts
	}
	a.server = newHTTPServer(mux, timeouts, o.Logger)
	go func() { a.served <- a.server.Serve(a.listener) }()
	return a, nil
}

// Close shuts down in order: stop taking requests, interrupt runs in flight (each
// records how it ended), then close the database and the lab.
func (a *app) Close() {
	if a.console != nil {
		a.console.Close() // its event streams never end by themselves
	}
	if a.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		a.server.Shutdown(ctx)
		cancel()
	} else if a.listener != nil {
		a.listener.Close()
	}
	if a.sched != nil {
		a.sched.Stop()
	}
	if a.watch != nil {
		a.watch.Close() // the alerts of the last reports, while the fronts still post
	}
	if a.approval != nil {
		a.approval.Close()
	}
	if a.core != nil {
		a.core.Wait()
	}
	if a.slack != nil {
		a.slack.Close() // it may still write to the outbox
	}
	if a.discord != nil {
		a.discord.Close()
	}
	if a.runner != nil {
		// Close the warm Exchange sessions (deleting their shells on the servers) while
		// the database can still forget them.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		a.runner.Close(ctx)
		cancel()
	}
	if a.db != nil {
		a.db.Close()
	}
	if a.lab != nil {
		a.lab.Close()
	}
}

// endpointsFromConfig turns exchange.servers, exchange.winrm, exchange.powershell and
// exchange.kerberos into the runner's endpoints, reading the password from the
// environment variable the file names. Servers with an Exchange role get the Exchange
// endpoint (http(s)://<address>:<port><path>); the DNS-only server gets WinRS alone.
func endpointsFromConfig(x config.Exchange, env []string) ([]runners.Endpoint, error) {
	w, ps := x.WinRM, x.PowerShell
	password := lookupEnv(env, w.PasswordEnv)
	kerberosOnly := strings.EqualFold(w.Auth, "kerberos") && strings.EqualFold(ps.Auth, "kerberos")
	if w.PasswordEnv != "" && password == "" && !kerberosOnly {
		return nil, fmt.Errorf("exchange.winrm.password_env: %s is not set; set it to the password of %s", envVar("exchange.winrm.password_env", w.PasswordEnv), w.User)
	}
	passwordFrom := ""
	if config.IsEnvName(w.PasswordEnv) {
		passwordFrom = w.PasswordEnv // runner errors name it; a value that is no name may be the secret
	}
	krb := runners.Kerberos{Realm: x.Kerberos.Realm, ConfigPath: x.Kerberos.Config}
	scheme := "http"
	if ps.HTTPS {
		scheme = "https"
	}
	var out []runners.Endpoint
	for _, s := range x.Servers {
		ep := runners.Endpoint{
			Name: strings.ToUpper(s.Name), Address: s.Address, Port: w.Port, HTTPS: w.HTTPS,
			Insecure: w.InsecureSkipVerify, CAFile: w.CAFile, Auth: runners.Auth(strings.ToLower(w.Auth)),
			User: w.User, Password: password, PasswordFrom: passwordFrom, Kerberos: krb,
		}
		if hasExchangeRole(s.Roles) {
			ep.Exchange = &runners.ExchangeEndpoint{
				URL:  scheme + "://" + net.JoinHostPort(s.Address, strconv.Itoa(ps.Port)) + ps.Path,
				Auth: runners.Auth(strings.ToLower(ps.Auth)), User: w.User, Password: password, PasswordFrom: passwordFrom,
				CAFile: ps.CAFile, Insecure: ps.InsecureSkipVerify, Kerberos: krb,
			}
		}
		out = append(out, ep)
	}
	if len(out) == 0 {
		return nil, errors.New("exchange.servers is empty: list the servers exchops may run commands on")
	}
	return out, nil
}

// hasExchangeRole reports whether a configured server runs Exchange (and so serves
// the Exchange endpoint), as opposed to a DNS server only.
func hasExchangeRole(roles []string) bool {
	for _, r := range roles {
		switch r {
		case "mailbox", "client_access", "hub_transport":
			return true
		}
	}
	return false
}

// shellLog records the runner's shells in the database (runners.ShellLog). A failed
// write is logged: it costs at most an orphan after a crash, never a command.
type shellLog struct {
	db  *store.DB
	log *slog.Logger
}

func (l shellLog) Opened(server, resourceURI, shellID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.db.RecordShell(ctx, store.Shell{ID: shellID, Server: server, ResourceURI: resourceURI, OpenedAt: time.Now()}); err != nil {
		l.log.Warn("recording an open shell", "server", server, "err", err)
	}
}

func (l shellLog) Closed(shellID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.db.ForgetShell(ctx, shellID); err != nil {
		l.log.Warn("forgetting a closed shell", "err", err)
	}
}

// deleteOrphanShells deletes, on the servers, every shell the database still lists:
// they were opened by an exchops that did not live to close them (SIGKILL, power
// loss) and would otherwise hold the account's shell quota until the servers' idle
// timeout. A shell the server no longer has counts as deleted, and one on a server the
// configuration no longer names is forgotten (nothing can reach it); one whose server
// cannot be reached now is kept for the next start.
func deleteOrphanShells(ctx context.Context, db *store.DB, r *runners.WinRM, log *slog.Logger) {
	shells, err := db.Shells(ctx)
	if err != nil {
		log.Warn("reading shells left open by the last run", "err", err)
		return
	}
	for _, sh := range shells {
		dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := r.DeleteShell(dctx, sh.Server, sh.ResourceURI, sh.ID)
		cancel()
		if err != nil && runners.KindOf(err) != runners.Invalid {
			log.Warn("deleting a shell left open by the last run", "server", sh.Server, "shell", sh.ID, "err", err)
			continue
		}
		log.Info("deleted a shell left open by the last run", "server", sh.Server, "shell", sh.ID)
		if err := db.ForgetShell(ctx, sh.ID); err != nil {
			log.Warn("forgetting a deleted shell", "err", err)
		}
	}
}

// lookupEnv returns the value of the environment variable name (from env, or from the
// process when env is nil). A name that is not a variable's name (config check refuses
// it; it may be a secret pasted into a *_env key) is looked up nowhere.
func lookupEnv(env []string, name string) string {
	if !config.IsEnvName(name) {
		return ""
	}
	if env == nil {
		return os.Getenv(name)
	}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// publisherFunc adapts the core's PublishReport, built after the scheduler, to
// schedules.Poster.
type publisherFunc func(ctx context.Context, to map[string]string, rep *report.Report) error

func (f publisherFunc) Publish(ctx context.Context, to map[string]string, rep *report.Report) error {
	return f(ctx, to, rep)
}

// alertPoster adds the core's PublishAlert, built after the watcher, to a
// publisherFunc: schedules.AlertPoster.
type alertPoster struct {
	publisherFunc
	alert func(ctx context.Context, to map[string]string, a schedules.Alert) error
}

func (p alertPoster) PublishAlert(ctx context.Context, to map[string]string, a schedules.Alert) error {
	return p.alert(ctx, to, a)
}

var _ schedules.AlertPoster = alertPoster{}

// envVar names, for a message, the environment variable a *_env key gives: "the
// environment variable NAME", or, when the key holds something that is not a name
// (most often the secret itself), only the key, so that the value is never repeated.
func envVar(key, name string) string {
	if config.IsEnvName(name) {
		return "the environment variable " + name
	}
	return "the environment variable named by " + key + " (which holds no valid name; run config check)"
}
