// Package runners executes plans on Exchange servers: it starts a PowerShell script over
// WinRM (github.com/masterzen/winrm), enforces timeouts and stops the remote command when a
// run is cancelled, bounds concurrent shells per server, serialises changing runs per lock
// key, and parses what the script printed (docs/POWERSHELL.md) into sections and messages.
// Preflight and Execute (plan.go) carry out a whole commands.Plan: its reads, its steps
// under one lock, and the polling of its wait. It decides nothing about whether a run is
// allowed.
package runners

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exchops/exchops/internal/clock"
)

// Options tune a WinRM runner. Zero values take the defaults.
type Options struct {
	// MaxPerServer bounds concurrent commands per server (default 2): Windows 2008 R2
	// allows 5 shells per user, and other admins use them too.
	MaxPerServer int
	// Timeout is the default per-command timeout (default 15 minutes), counted from when
	// the command gets a slot on its server. Endpoint.Timeout overrides it.
	Timeout time.Duration
	// OperationTimeout is how long the server may hold one WS-Management request open
	// waiting for output (default 60 s); not the command's timeout.
	OperationTimeout time.Duration
	// ReplySlack is how much longer than OperationTimeout the client waits for any reply
	// before it gives up on the connection (default 30 s).
	ReplySlack time.Duration
	// ConnectTimeout bounds a TCP connect (default 10 s).
	ConnectTimeout time.Duration
	// StopGrace is how long a timed-out or cancelled run waits for the server to confirm
	// that the command stopped (default 10 s). Run returns at most 1.5 × StopGrace after
	// its timeout or cancellation, confirmed or not.
	StopGrace time.Duration
	// MaxOutput bounds the bytes kept of each of stdout and stderr (default 32 MiB); the
	// rest is read and dropped.
	MaxOutput int
	// Now is the clock for Result.Started and Duration (default time.Now).
	Now func() time.Time
	// IdleClose is how long an Exchange session stays open without commands (default
	// 120 s, below WinRM's 180 s shell idle timeout, so the runner closes it before the
	// server drops it).
	IdleClose time.Duration
	// MaxPipelines bounds the Exchange commands running at once per server: the runspace
	// pool's MaxRunspaces (default 3: a step's independent reads, such as a member's
	// health checks, run at once; far below Exchange 2010's throttling of 18
	// PowerShell connections per user and WinRM's operations per user).
	MaxPipelines int
	// Shells, when not nil, is told of every shell opened and closed (see ShellLog).
	Shells ShellLog
	// Clock paces a plan's wait in Execute: the pause between polls and the wait's
	// budget (default the wall clock). Per-command timeouts and StopGrace stay on real
	// time: they guard the network, not the change.
	Clock clock.Clock
}

func (o *Options) defaults() {
	if o.MaxPerServer <= 0 {
		o.MaxPerServer = 2
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Minute
	}
	if o.OperationTimeout <= 0 {
		o.OperationTimeout = 60 * time.Second
	}
	if o.ReplySlack <= 0 {
		o.ReplySlack = 30 * time.Second
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.StopGrace <= 0 {
		o.StopGrace = 10 * time.Second
	}
	if o.MaxOutput <= 0 {
		o.MaxOutput = 32 << 20
	}
	if o.IdleClose <= 0 {
		o.IdleClose = idleCloseDefault
	}
	if o.MaxPipelines <= 0 {
		o.MaxPipelines = 3
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
}

// WinRM runs scripts on a fixed set of servers over WinRM. It is safe for concurrent use.
type WinRM struct {
	opts    Options
	servers map[string]*server // by upper-case name
	locks   keyLocks
}

type server struct {
	ep     Endpoint
	opts   *Options
	slots  chan struct{} // a token per command running on the server
	queued atomic.Int32  // runs waiting for a slot
	ex     *exServer     // the Exchange endpoint; nil when none is configured
	krb    *krbLogin     // WinRS's Kerberos login, shared by its requests; nil without Kerberos
}

// New returns a runner for endpoints. Server names are matched without regard to case
// and must be unique.
func New(endpoints []Endpoint, opts Options) (*WinRM, error) {
	opts.defaults()
	w := &WinRM{opts: opts, servers: make(map[string]*server, len(endpoints))}
	var errs []error
	for _, ep := range endpoints {
		if err := ep.check(); err != nil {
			errs = append(errs, err)
			continue
		}
		key := strings.ToUpper(ep.Name)
		if _, dup := w.servers[key]; dup {
			errs = append(errs, fmt.Errorf("WinRM endpoint %s: the name is configured twice", ep.Name))
			continue
		}
		s := &server{ep: ep, opts: &w.opts, slots: make(chan struct{}, opts.MaxPerServer)}
		if ep.auth() == AuthKerberos && ep.Address != "" {
			s.krb = &krbLogin{k: ep.Kerberos, user: ep.User, password: ep.Password}
		}
		if ep.Exchange != nil {
			wc, err := newWSManClient(ep.Exchange, &w.opts)
			if err != nil {
				errs = append(errs, fmt.Errorf("Exchange endpoint of %s: %v", ep.Name, err))
				continue
			}
			s.ex = &exServer{name: ep.Name, ep: ep.Exchange, opts: &w.opts, wc: wc,
				slots: make(chan struct{}, opts.MaxPipelines), open: make(chan struct{}, 1)}
		}
		w.servers[key] = s
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return w, nil
}

// Servers returns the configured server names, sorted.
func (w *WinRM) Servers() []string {
	names := make([]string, 0, len(w.servers))
	for _, s := range w.servers {
		names = append(names, s.ep.Name)
	}
	sort.Strings(names)
	return names
}

// Load returns how many commands (WinRS scripts and Exchange pipelines) run on server
// and how many WinRS runs wait for a free slot there, for status displays and metrics.
func (w *WinRM) Load(server string) (running, queued int) {
	s, ok := w.servers[strings.ToUpper(server)]
	if !ok {
		return 0, 0
	}
	running, queued = len(s.slots), int(s.queued.Load())
	if s.ex != nil {
		running += len(s.ex.slots) // Exchange pipelines count too
	}
	return running, queued
}

// Result is what one run of a script produced.
type Result struct {
	Server   string
	ExitCode int
	Stdout   string // raw, as the server sent it
	Stderr   string // raw; may be CLIXML (see DecodeCLIXML)
	// Sections are the script's result tables in the order printed (see ParseOutput).
	Sections []Section
	// Messages are the non-blank stdout lines outside tables: banners, WARNING:, VERBOSE:.
	Messages  []string
	Truncated bool // stdout or stderr was longer than Options.MaxOutput and was cut
	// Failed holds, by section, the tolerated calls (commands.Call.Tolerated) of an
	// Exchange step that failed: the *Error each would have failed the step with. Their
	// sections are in Sections, empty. Nil when none failed.
	Failed   map[string]error
	Started  time.Time
	Duration time.Duration
}

// Tables returns the sections by name (see the package function Tables).
func (r *Result) Tables() map[string][]map[string]string { return Tables(r.Sections) }

// Run runs script on server with PowerShell and waits for it.
//
// It waits for a free slot on the server (honouring ctx), then runs the script with the
// per-command timeout. On timeout or cancellation it terminates the remote command and
// returns an *Error of kind Timeout or Canceled. A non-zero exit is an *Error of kind
// ScriptFailed carrying the script's error text; the Result is returned with it, as it is
// with an error of kind Protocol for output that does not parse. Other failures are
// *Error values of kind Invalid, Unreachable, Unauthorized, Busy or Protocol.
func (w *WinRM) Run(ctx context.Context, server, script string) (*Result, error) {
	s, ok := w.servers[strings.ToUpper(server)]
	if !ok {
		return nil, &Error{Kind: Invalid, Server: server, Op: "run",
			Msg: fmt.Sprintf("%s: no WinRM endpoint is configured for this server (known: %s)", server, strings.Join(w.Servers(), ", "))}
	}
	return s.run(ctx, script)
}

// errTimedOut is the cause of a run's context when its timeout expires.
var errTimedOut = errors.New("the command timeout expired")

// stepTimedOut is the cause when a step's own limit (commands.Step.Timeout) expires:
// it is a timeout like errTimedOut, but the limit and what raises it differ.
type stepTimedOut struct{ limit time.Duration }

func (e stepTimedOut) Error() string {
	return "the step's time limit of " + e.limit.String() + " expired"
}
func (e stepTimedOut) Is(target error) bool { return target == errTimedOut }

func (s *server) run(ctx context.Context, script string) (*Result, error) {
	if s.ep.Address == "" {
		return nil, &Error{Kind: Invalid, Server: s.ep.Name, Op: "run",
			Msg: fmt.Sprintf("%s: this step runs a script over WinRS, and no WinRM endpoint is configured for the server (only its Exchange endpoint)", s.ep.Name)}
	}
	inv, err := planInvocation(script)
	if err != nil {
		return nil, &Error{Kind: Invalid, Server: s.ep.Name, Op: "run", Err: err,
			Msg: fmt.Sprintf("%s: cannot send this script (%d characters): %v", s.ep.Name, len(script), err)}
	}
	s.queued.Add(1)
	select {
	case s.slots <- struct{}{}:
		s.queued.Add(-1)
	case <-ctx.Done():
		s.queued.Add(-1)
		return nil, s.stopped("wait for a free shell", ctx, context.Cause(ctx), false, false)
	}
	limit := s.ep.Timeout
	if limit <= 0 {
		limit = s.opts.Timeout
	}
	runCtx, cancel := context.WithTimeoutCause(ctx, limit, errTimedOut)
	defer cancel()

	res := &Result{Server: s.ep.Name, Started: s.opts.Now()}
	done := make(chan *execution, 1)
	go func() {
		defer func() { <-s.slots }()
		done <- s.execute(runCtx, inv)
	}()

	var x *execution
	select {
	case x = <-done:
	case <-runCtx.Done():
		// The execution signals the command, waits StopGrace for the server to confirm,
		// then cuts its connections; this waits a little longer to see that happen.
		grace := time.NewTimer(s.opts.StopGrace + s.opts.StopGrace/2)
		defer grace.Stop()
		select {
		case x = <-done:
		case <-grace.C:
		}
	}
	res.Duration = s.opts.Now().Sub(res.Started)
	if x == nil {
		// The server has not confirmed the stop; the execution goroutine keeps the slot
		// until it gives up on the command.
		return res, s.stopped("run", runCtx, context.Cause(runCtx), true, false)
	}
	res.ExitCode = x.exitCode
	res.Stdout, res.Stderr = x.stdout.String(), x.stderr.String()
	res.Truncated = x.stdout.dropped > 0 || x.stderr.dropped > 0
	if x.signalled {
		return res, s.stopped("run", runCtx, context.Cause(runCtx), x.started, x.confirmed)
	}
	if x.err != nil {
		return res, x.err
	}
	res.Sections, res.Messages, err = ParseOutput(res.Stdout)
	if x.exitCode != 0 {
		msg := ErrorText(res.Stderr)
		if msg == "" && len(res.Messages) > 0 {
			msg = res.Messages[len(res.Messages)-1]
		}
		if msg == "" {
			msg = "it wrote no error text"
		}
		return res, &Error{Kind: ScriptFailed, Server: s.ep.Name, Op: "run", ExitCode: x.exitCode,
			Msg: fmt.Sprintf("%s: the script failed (exit code %d): %s", s.ep.Name, x.exitCode, scrub(msg, s.ep.Password))}
	}
	if err != nil {
		return res, &Error{Kind: Protocol, Server: s.ep.Name, Op: "parse output", Err: err,
			Msg: fmt.Sprintf("%s: the script succeeded but its output could not be read: %v", s.ep.Name, err)}
	}
	return res, nil
}

// stopped builds the error for a run ended by its context. started says whether a remote
// command existed; confirmed whether the server reported it ended.
func (s *server) stopped(op string, ctx context.Context, cause error, started, confirmed bool) *Error {
	timedOut := errors.Is(cause, errTimedOut) || errors.Is(cause, context.DeadlineExceeded)
	var st stepTimedOut
	ownLimit := errors.As(cause, &st)
	what := "the run was cancelled"
	kind := Canceled
	if timedOut {
		kind = Timeout
		what = "the command did not finish in time"
		if ownLimit {
			what = fmt.Sprintf("the command did not finish within %s, the step's own limit", st.limit)
		} else if errors.Is(cause, errTimedOut) {
			limit := s.ep.Timeout
			if limit <= 0 {
				limit = s.opts.Timeout
			}
			what = fmt.Sprintf("the command did not finish within %s", limit)
		}
	}
	if cause == nil {
		cause = ctx.Err()
	}
	var tail string
	switch {
	case op != "run":
		tail = " while waiting to " + op + "; nothing ran"
	case confirmed:
		tail = " and was stopped on the server"
	case started:
		tail = ": the runner asked the server to stop it, but the server did not confirm; check for a leftover powershell.exe"
	default:
		tail = " before the command started"
	}
	msg := s.ep.Name + ": " + what + tail
	if timedOut && op == "run" && ownLimit {
		msg += " (for a seed, raise exchange.seed_timeout if the database needs longer)"
	} else if timedOut && op == "run" {
		msg += " (raise exchange.winrm.timeout if the operation needs longer)"
	}
	return &Error{Kind: kind, Server: s.ep.Name, Op: op, Err: cause, Msg: msg}
}

// execution is what happened to one remote command.
type execution struct {
	stdout, stderr capBuffer
	exitCode       int
	err            *Error
	started        bool // the command was started on the server
	signalled      bool // the runner asked the server to terminate it
	confirmed      bool // and the server reported it ended
}

// execute runs inv on the server. It returns when the command has ended or the runner has
// given up on it; ctx ending terminates the command.
func (s *server) execute(ctx context.Context, inv invocation) *execution {
	x := &execution{}
	x.stdout.max, x.stderr.max = s.opts.MaxOutput, s.opts.MaxOutput
	c, err := s.newClient()
	if err != nil {
		x.err = &Error{Kind: Invalid, Server: s.ep.Name, Op: "connect", Err: err,
			Msg: fmt.Sprintf("%s: cannot set up the WinRM client: %v", s.ep.Name, err)}
		return x
	}
	defer c.close()

	shell, err := c.CreateShell()
	if err != nil {
		x.err = s.classify("create shell", err)
		return x
	}
	shellID, _ := c.tr.ids()
	if shellID == "" {
		x.err = &Error{Kind: Protocol, Server: s.ep.Name, Op: "create shell",
			Msg: fmt.Sprintf("%s: WinRM created a shell but its reply has no ShellId: check the WinRM service", s.ep.Name)}
		return x
	}
	if s.opts.Shells != nil {
		s.opts.Shells.Opened(s.ep.Name, WinRSResourceURI, shellID)
	}
	// ctl is a second client for requests sent while the first one waits for output
	// (stdin, terminate, and the final delete when the first is abandoned): transports,
	// the ntlm-encrypted one above all, are not safe for concurrent requests.
	var ctl *client
	control := func() *client {
		if ctl == nil {
			if cc, err := s.newClient(); err == nil {
				ctl = cc
			}
		}
		return ctl
	}
	defer func() {
		del := c
		if c.tr.abandoned.Load() {
			del = control()
		}
		if del != nil {
			if err := del.deleteShell(shellID); (err == nil || shellGone(err)) && s.opts.Shells != nil {
				s.opts.Shells.Closed(shellID)
			}
		}
		if ctl != nil {
			ctl.close()
		}
	}()
	if ctx.Err() != nil {
		x.signalled = true // nothing ran: the shell is deleted on the way out
		return x
	}

	// The library's own cancellation waits for the pending receive (up to the operation
	// timeout) before it sends terminate, from the same client. So the command gets a
	// context that never ends, and the runner terminates it itself from the control client.
	cmd, err := shell.ExecuteWithContext(context.Background(), inv.commandLine)
	if err != nil {
		x.err = s.classify("start the command", err)
		return x
	}
	x.started = true
	_, commandID := c.tr.ids()

	var drained sync.WaitGroup
	var outErr, errErr error
	drained.Add(2)
	go func() { defer drained.Done(); _, outErr = io.Copy(&x.stdout, cmd.Stdout) }()
	go func() { defer drained.Done(); _, errErr = io.Copy(&x.stderr, cmd.Stderr) }()

	finished := make(chan struct{})
	controlled := make(chan struct{})
	var sendErr error
	go func() {
		defer close(controlled)
		if inv.stdin != "" {
			if cc := control(); cc == nil || commandID == "" {
				sendErr = errors.New("no control client or command id for stdin")
			} else {
				sendErr = cc.send(shellID, commandID, []byte(inv.stdin), finished)
			}
			if sendErr != nil {
				sendErr = redact(sendErr, s.ep.Password)
			}
		}
		if sendErr == nil {
			select {
			case <-finished:
				return
			case <-ctx.Done():
			}
		}
		// Stop the command: the runner timed out, was cancelled, or could not feed it.
		x.signalled = sendErr == nil
		if cc := control(); cc != nil && commandID != "" {
			_ = cc.signal(shellID, commandID)
		}
		grace := time.NewTimer(s.opts.StopGrace)
		defer grace.Stop()
		select {
		case <-finished:
			x.confirmed = true
		case <-grace.C:
			c.tr.abandon()
		}
	}()

	cmd.Wait()
	drained.Wait()
	close(finished)
	<-controlled
	x.exitCode = cmd.ExitCode()
	if x.signalled {
		return x
	}
	switch {
	case sendErr != nil:
		x.err = s.classify("send the script on stdin", sendErr)
	case outErr != nil:
		x.err = s.classify("receive output", outErr)
	case errErr != nil:
		x.err = s.classify("receive output", errErr)
	}
	return x
}

// capBuffer keeps the first max bytes written to it and counts the rest.
type capBuffer struct {
	strings.Builder
	max     int
	dropped int
}

func (b *capBuffer) Write(p []byte) (int, error) {
	room := b.max - b.Len()
	if room < len(p) {
		if room < 0 {
			room = 0
		}
		b.dropped += len(p) - room
		b.Builder.Write(p[:room])
		return len(p), nil
	}
	return b.Builder.Write(p)
}
