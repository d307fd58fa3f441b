// Package bot is the platform-neutral core of exchops' chat fronts. A front (the
// console, Slack, Discord) verifies and parses its own platform's events, hands the core
// an Invocation (a typed command) or an Action (a button click), and renders what the
// core answers. The core dispatches: bot commands (help, requests, history, cancel,
// approve, deny) are answered here, read-only commands run at once, and changes go to
// approvals; what approvals announces reaches every front through Notify.
//
// # Delivery
//
// Delivery (delivery.go) is what every chat platform shares: a platform is a Driver
// that renders cards, thread lines, replies and reports into its own wire messages
// and makes one attempt at sending one, answering "sent" or "retry (after)". The
// rules, the same for every platform:
//
//   - Order: everything about one request (its card, its thread) goes out in the order
//     of its events, one request's posts at a time; so do the replies to one
//     invocation and the reports to one channel. A card shows the newest snapshot
//     announced, and its edit is left to a later event already waiting; a progress
//     line is left out when the next event waiting is progress too, or when it
//     repeats the thread's last line.
//   - Routing: a request's card goes to the platform's approvals channel when one is
//     set (every card, wherever it was asked), else to the channel a request made on
//     that platform was asked in; a request made elsewhere then gets no card there.
//     Thread posts follow their card; a thread post queued before its card exists
//     waits in the outbox for it.
//   - Cards: posted once and attached to the request (so a restart, or another
//     replica, edits rather than posts again), then edited in place; a card someone
//     deleted is posted again.
//   - Retries: InlineAttempts tries, the waits FirstBackoff doubling (500 ms, 1 s), or
//     the platform's Retry-After when it gives one; a Retry-After above MaxInlineWait
//     sends the post to the outbox at once, due when the platform said. Doubling from
//     half a second (where Alertmanager's RetryStage starts its exponential backoff), clears a brief hiccup
//     quickly while a lane (one request's posts, a report's caller) never waits more
//     than a few seconds; the outbox takes the long waits.
//   - Outbox: a post that still fails (refusals such as a missing permission
//     included: a person fixes those, and the post then goes out) is kept and retried
//     every OutboxInterval, with OutboxBackoff between tries of one post, until it is
//     delivered; a report's messages are kept together with the one that failed, so
//     that they still arrive in order. A kept post that does not decode is kept too
//     and logged at each try, never dropped. A reply's own way back (a response_url,
//     an interaction token) is a capability and is never kept: a reply that cannot go
//     that way goes through the bot (Slack: ephemeral; Discord: in the channel, naming
//     the person), and that is what is kept.
//   - Replies through the invocation's own way back are used until one minute before
//     it expires (Slack's response_url lives 30 minutes, Discord's token 15).
//   - Replays: a delivery's key is remembered for DedupKeep; a replay is acknowledged
//     and ignored. When the store cannot say whether a key is new, the command or
//     click is refused with a message asking to try again (nothing changed), rather
//     than risk handling it twice.
//   - Close: queued posts get CloseGrace to finish, then their waits are cut short
//     and what is not sent is kept; what is announced or published after Close is
//     kept in the outbox (the next start posts it), never dropped.
//   - The outbox and the de-duplication store are required.
package bot

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/metrics"
	"github.com/exchops/exchops/internal/report"
	"github.com/exchops/exchops/runners"
)

// Invocation is a command someone typed, on any platform.
type Invocation struct {
	Platform string // "console", "slack", "discord"
	User     string // the platform's user id (the console: the person's name)
	Channel  string // where it was typed
	Text     string // what followed /exchange
}

// Action is a click on an approval card's button.
type Action struct {
	Platform  string
	User      string
	Channel   string
	RequestID string
	Decision  approvals.Decision
	Reason    string
}

// ReplyKind says what a Reply holds, so fronts can choose how to show it.
type ReplyKind string

const (
	ReplyText     ReplyKind = "text"     // Text: a sentence or two
	ReplyError    ReplyKind = "error"    // Text: what was wrong and how to fix it
	ReplyHelp     ReplyKind = "help"     // Text: preformatted help
	ReplyWorking  ReplyKind = "working"  // Text: "running casarray list on EX10-CAHT…"
	ReplyResult   ReplyKind = "result"   // Text: summary; Output: what the servers printed
	ReplyRequest  ReplyKind = "request"  // Request: the request someone just made or decided
	ReplyRequests ReplyKind = "requests" // Requests: pending, oldest first
	ReplyHistory  ReplyKind = "history"  // Requests: the most recent, newest first
	ReplyRefused  ReplyKind = "refused"  // Text (+ Findings): not allowed, blocked, nothing to do
)

// Reply is the core's answer to the person who invoked or clicked. Private replies are
// for that person only (Slack ephemeral, Discord ephemeral, the console marks them).
type Reply struct {
	Kind     ReplyKind
	Private  bool
	Text     string
	Output   string // preformatted: what a read-only command printed
	Failed   bool   // for ReplyResult: the command failed
	Findings []commands.Finding
	Request  *approvals.Request
	Requests []*approvals.Request
	Now      time.Time // when the reply was made, for ages and expiry
	// Steps are a published alert's next steps, for the console to show as buttons
	// that file the command as the person at the page.
	Steps []report.Step
}

// Respond delivers replies to the person who invoked; a front may be called several
// times for one invocation (working…, then the result).
type Respond func(Reply)

// Front is a chat platform's adapter as the core sees it.
type Front interface {
	// Platform is "console", "slack" or "discord".
	Platform() string
	// Announce shows a request's transition where people follow it: post the approval
	// card when it is requested, update it afterwards, post progress and results in
	// its thread. It must not block for long.
	Announce(ctx context.Context, e approvals.Event)
}

// Config is what the core needs.
type Config struct {
	Approvals *approvals.Service
	Executor  approvals.Runner // runs read-only commands; approvals uses its own
	Env       commands.Env
	Metrics   *metrics.Metrics // may be nil
	Schedules Schedules        // may be nil: schedule commands then say so
	Logger    *slog.Logger     // default: discard
	Now       func() time.Time // default time.Now
}

// Schedules is what the core needs of the scheduler: the schedule commands and the
// health report on demand. schedules.Scheduler implements it.
type Schedules interface {
	// Command answers a schedule command, or returns the procedure to file as a
	// request when the change needs approval (a drill schedule).
	Command(ctx context.Context, person, platform, channel string, inv *commands.Command) (string, *commands.Procedure, error)
	HealthReport(ctx context.Context, dag string) (text string, png []byte, err error)
}

// Core dispatches invocations and actions. It is safe for concurrent use.
type Core struct {
	cfg    Config
	mu     sync.RWMutex
	fronts []Front
	work   sync.WaitGroup
}

// New returns a core with no fronts yet.
func New(cfg Config) *Core {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Core{cfg: cfg}
}

// AddFront registers a front to be told about transitions.
func (c *Core) AddFront(f Front) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fronts = append(c.fronts, f)
}

// Wait blocks until background work started by Handle (read-only runs) is done.
func (c *Core) Wait() { c.work.Wait() }

// Notify is the approvals.Notifier: it counts outcomes and tells every front.
func (c *Core) Notify(ctx context.Context, e approvals.Event) {
	c.count(e)
	c.mu.RLock()
	fronts := append([]Front(nil), c.fronts...)
	c.mu.RUnlock()
	for _, f := range fronts {
		f.Announce(ctx, e)
	}
}

func (c *Core) count(e approvals.Event) {
	m := c.cfg.Metrics
	switch e.Kind {
	case approvals.EventRequested, approvals.EventApproved, approvals.EventDenied, approvals.EventExpired,
		approvals.EventCancelled, approvals.EventStale, approvals.EventSucceeded, approvals.EventFailed, approvals.EventInterrupted:
		m.Request(string(e.Kind))
	}
	if r := e.Request; r != nil && r.Run != nil && !r.Run.FinishedAt.IsZero() {
		switch e.Kind {
		// Not EventStale: a stale request ran no PowerShell, and metrics.RunOutcomes
		// holds only the ends of runs that did.
		case approvals.EventSucceeded, approvals.EventFailed, approvals.EventInterrupted:
			m.Run(string(e.Kind), r.Run.FinishedAt.Sub(r.Run.StartedAt))
		}
	}
}

// Handle answers an invocation. Quick answers are given before it returns; a
// read-only command's result and a change's preflight arrive through respond later,
// from another goroutine.
func (c *Core) Handle(ctx context.Context, inv Invocation, respond Respond) {
	// Each reply is stamped when it is made: a change's request arrives after its
	// preflight, and its ages and expiry must be read from then.
	reply := func(r Reply) {
		r.Now = c.cfg.Now()
		respond(r)
	}
	pol := c.cfg.Approvals.Policy()
	person, ok := pol.Identify(inv.Platform, inv.User)
	if !ok {
		c.cfg.Metrics.Command("unknown")
		reply(Reply{Kind: ReplyRefused, Private: true, Text: "Sorry, exchops does not know you yet, so it cannot take commands from you. Ask an exchops administrator to add your " + platformID(inv.Platform) + " to people in exchops' configuration."})
		return
	}
	text := strings.TrimSpace(inv.Text)
	if text == "" {
		text = "help"
	}
	parsed, err := commands.Parse(text)
	if err != nil {
		c.cfg.Metrics.Command("unknown")
		reply(Reply{Kind: ReplyError, Private: true, Text: err.Error()})
		return
	}
	spec := parsed.Spec
	c.cfg.Metrics.Command(spec.Name)
	if err := pol.MayRun(person.Name, spec.ReadOnly, spec.Name); err != nil {
		reply(Reply{Kind: ReplyRefused, Private: true, Text: err.Error()})
		return
	}
	origin := approvals.Origin{Platform: inv.Platform, Channel: inv.Channel, User: inv.User}
	switch {
	case spec.Handler == commands.HandlerBot:
		c.botCommand(ctx, person.Name, origin, parsed, reply)
	case spec.ReadOnly:
		c.readOnly(ctx, person, parsed, reply)
	default:
		c.change(ctx, person.Name, origin, parsed, nil, reply)
	}
}

// Act handles an Approve or Deny click.
func (c *Core) Act(ctx context.Context, a Action, respond Respond) {
	reply := func(r Reply) {
		r.Now = c.cfg.Now()
		respond(r)
	}
	person, ok := c.cfg.Approvals.Policy().Identify(a.Platform, a.User)
	if !ok {
		reply(Reply{Kind: ReplyRefused, Private: true, Text: "Sorry, exchops does not know you, so your click was not counted. Ask an exchops administrator to add your " + platformID(a.Platform) + " to people in exchops' configuration."})
		return
	}
	// The two-person rule fails closed: a click that is neither approve nor deny (a
	// front's bug, a forged payload) is not an approval.
	if a.Decision != approvals.Approve && a.Decision != approvals.Deny {
		reply(Reply{Kind: ReplyError, Private: true, Text: "exchops could not tell whether that click approves or denies, so it was not counted. Type approve or deny with the request's id instead."})
		return
	}
	c.vote(ctx, person.Name, approvals.Origin{Platform: a.Platform, Channel: a.Channel, User: a.User}, a.RequestID, a.Decision, a.Reason, reply)
}

func (c *Core) vote(ctx context.Context, person string, via approvals.Origin, id string, d approvals.Decision, reason string, reply Respond) {
	var r *approvals.Request
	var err error
	if d == approvals.Deny {
		r, err = c.cfg.Approvals.Deny(ctx, id, person, via, reason)
	} else {
		r, err = c.cfg.Approvals.Approve(ctx, id, person, via)
	}
	if err != nil {
		c.refuse(err, reply)
		return
	}
	var msg string
	switch {
	case r.Status == approvals.Denied:
		msg = fmt.Sprintf("You denied %s.", r.ID)
	case r.Needs() > 0:
		msg = fmt.Sprintf("Your approval of %s is recorded; it still needs %s.", r.ID, r.StillNeeds())
	default:
		msg = fmt.Sprintf("You approved %s; it runs now.", r.ID)
	}
	reply(Reply{Kind: ReplyText, Private: true, Text: msg, Request: r})
}

func (c *Core) refuse(err error, reply Respond) {
	if ref := approvals.RefusalOf(err); ref != nil {
		reply(Reply{Kind: ReplyRefused, Private: true, Text: ref.Msg, Findings: ref.Findings.List})
		return
	}
	var ue *commands.UsageError
	if errors.As(err, &ue) {
		reply(Reply{Kind: ReplyError, Private: true, Text: err.Error()})
		return
	}
	ref := "E" + rand.Text()[:8]
	c.cfg.Logger.Error("internal error", "ref", ref, "err", err)
	reply(Reply{Kind: ReplyError, Private: true, Text: "Something went wrong inside exchops (reference " + ref + " in its log). Nothing was changed by this message; try again, and tell the exchops administrators if it repeats."})
}

func (c *Core) botCommand(ctx context.Context, person string, origin approvals.Origin, inv *commands.Command, reply Respond) {
	svc := c.cfg.Approvals
	switch inv.Spec.Name {
	case "help":
		h, err := commands.Help(inv.Value("command"))
		if err != nil {
			reply(Reply{Kind: ReplyError, Private: true, Text: err.Error()})
			return
		}
		reply(Reply{Kind: ReplyHelp, Private: true, Text: h})
	case "requests":
		rs, err := svc.Pending(ctx)
		if err != nil {
			c.refuse(err, reply)
			return
		}
		reply(Reply{Kind: ReplyRequests, Private: true, Requests: rs})
	case "history":
		n, _ := strconv.Atoi(inv.Value("n"))
		rs, err := svc.History(ctx, n)
		if err != nil {
			c.refuse(err, reply)
			return
		}
		reply(Reply{Kind: ReplyHistory, Private: true, Requests: rs})
	case "cancel":
		r, err := svc.Cancel(ctx, inv.Value("id"), person, origin)
		if err != nil {
			c.refuse(err, reply)
			return
		}
		reply(Reply{Kind: ReplyText, Private: true, Text: "You cancelled " + r.ID + ".", Request: r})
	case "schedule list", "schedule add", "schedule remove":
		if c.cfg.Schedules == nil {
			reply(Reply{Kind: ReplyError, Private: true, Text: "Schedules are not running in this exchops."})
			return
		}
		text, proc, err := c.cfg.Schedules.Command(ctx, person, origin.Platform, origin.Channel, inv)
		if err == nil && proc != nil {
			c.change(ctx, person, origin, inv, proc, reply) // a drill schedule: a request like any change
			return
		}
		if err != nil {
			c.refuse(err, reply)
			return
		}
		reply(Reply{Kind: ReplyResult, Private: inv.Spec.Name == "schedule list", Text: inv.Spec.Summary, Output: Unfence(text)})
	case "approve":
		c.vote(ctx, person, origin, inv.Value("id"), approvals.Approve, "", reply)
	case "deny":
		c.vote(ctx, person, origin, inv.Value("id"), approvals.Deny, inv.Value("reason"), reply)
	default:
		reply(Reply{Kind: ReplyError, Private: true, Text: inv.Spec.Name + " is not handled by this version of exchops."})
	}
}

// readOnly runs a read-only command now and replies with what the servers printed.
// `health <dag>` is the scheduler's report, verdict first, when schedules run. A
// failure is told in full to admins and approvers, redacted to viewers
// (approvals.Person.SeesRunnerDetails).
func (c *Core) readOnly(ctx context.Context, person approvals.Person, inv *commands.Command, reply Respond) {
	failure := func(err error) string {
		if person.SeesRunnerDetails() {
			return err.Error()
		}
		return runners.Redacted(err)
	}
	if dag := inv.Value("dag"); inv.Spec.Name == "health" && dag != "" && c.cfg.Schedules != nil {
		reply(Reply{Kind: ReplyWorking, Private: true, Text: "Reading the health of " + dag + " on every member…"})
		c.work.Add(1)
		go func() {
			defer c.work.Done()
			text, _, err := c.cfg.Schedules.HealthReport(context.WithoutCancel(ctx), dag)
			if err != nil {
				c.cfg.Metrics.WinRMError(string(runners.KindOf(err)))
				reply(Reply{Kind: ReplyResult, Failed: true, Text: "health " + dag + " failed: " + failure(err)})
				return
			}
			reply(Reply{Kind: ReplyResult, Text: "Replication health of " + dag + ".", Output: Unfence(text)})
		}()
		return
	}
	// dag maintenance status tells who started a maintenance and when, from the
	// request history.
	if err := c.cfg.Approvals.Recall(ctx, inv); err != nil {
		c.refuse(err, reply)
		return
	}
	p, err := inv.Plan(c.cfg.Env)
	if err != nil {
		c.refuse(err, reply)
		return
	}
	reply(Reply{Kind: ReplyWorking, Private: true, Text: "Running " + p.Command + " (" + targets(p) + ")…"})
	c.work.Add(1)
	go func() {
		defer c.work.Done()
		ctx := context.WithoutCancel(ctx)
		out, err := c.cfg.Executor.Execute(ctx, p, "", nil)
		if err != nil {
			c.cfg.Metrics.WinRMError(string(runners.KindOf(err)))
			reply(Reply{Kind: ReplyResult, Failed: true, Text: p.Command + " failed: " + failure(err), Output: out})
			return
		}
		reply(Reply{Kind: ReplyResult, Text: p.Summary, Output: out})
	}()
}

// change runs the preflight and, when the organisation can take the change, files the
// request; approvals announces it, so the card reaches every front.
func (c *Core) change(ctx context.Context, person string, origin approvals.Origin, inv *commands.Command, proc *commands.Procedure, reply Respond) {
	reply(Reply{Kind: ReplyWorking, Private: true, Text: "Planning " + inv.Text + ": reading the organisation first…"})
	c.work.Add(1)
	go func() {
		defer c.work.Done()
		ctx := context.WithoutCancel(ctx)
		r, err := c.cfg.Approvals.Request(ctx, approvals.Submit{Person: person, Origin: origin, Command: inv, Procedure: proc})
		if err != nil {
			c.refuse(err, reply)
			return
		}
		reply(Reply{Kind: ReplyRequest, Private: true, Request: r,
			Text: fmt.Sprintf("%s is waiting for %s; it expires at %s.", r.ID, waitingFor(r), r.ExpiresAt.UTC().Format("15:04 MST"))})
	}()
}

// waitingFor is what a new request waits for, told to its requester: "1 approval from
// someone other than you", "2 approvals from role dag-owner".
func waitingFor(r *approvals.Request) string {
	if r.Whom() == "" {
		return approvalsWord(r.Needs()) + " from someone other than you"
	}
	return Needs(r)
}

func approvalsWord(n int) string {
	if n == 1 {
		return "1 approval"
	}
	return strconv.Itoa(n) + " approvals"
}

func targets(p *commands.Plan) string {
	seen := map[string]bool{}
	var out []string
	for _, s := range p.Steps {
		if !seen[s.Target] {
			seen[s.Target] = true
			out = append(out, s.Target)
		}
	}
	if len(out) == 0 {
		return "exchops itself"
	}
	return "on " + strings.Join(out, ", ")
}

func platformID(platform string) string {
	switch platform {
	case "slack":
		return "Slack user id"
	case "discord":
		return "Discord user id"
	}
	return "name"
}

// Request returns a request as stored, for a front re-rendering its card.
func (c *Core) Request(ctx context.Context, id string) (*approvals.Request, error) {
	return c.cfg.Approvals.Get(ctx, id)
}

// AttachCard remembers where a front posted a request's card, so that it can update
// it later, after a restart too.
func (c *Core) AttachCard(ctx context.Context, id string, card approvals.Card) error {
	return c.cfg.Approvals.AttachCard(ctx, id, card)
}

// Policy is the people and rules in force.
func (c *Core) Policy() approvals.Policy { return c.cfg.Approvals.Policy() }

// Metrics returns the metrics fronts count their posts in (may be nil).
func (c *Core) Metrics() *metrics.Metrics { return c.cfg.Metrics }

// Publisher is a front that can post a report into one of its channels: a scheduled
// health report, a drill's scorecard, a note that a run was missed. The report is
// data; each front renders it its own way. Delivery follows the front's rules for
// posts: retried, and kept for retry rather than dropped.
type Publisher interface {
	PublishReport(ctx context.Context, channel string, rep *report.Report) error
}

// Unfence drops the ``` lines of a Markdown report, for fronts that show it as one
// preformatted block.
func Unfence(text string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(text, "\n") {
		if strings.TrimSpace(line) == "```" {
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

// PublishReport posts a report to the channels to names, on every front that can
// publish, and always to the console when it runs (it shows everything). It fails
// only when no named channel could take the report.
func (c *Core) PublishReport(ctx context.Context, to map[string]string, rep *report.Report) error {
	c.mu.RLock()
	fronts := append([]Front(nil), c.fronts...)
	c.mu.RUnlock()
	var errs []error
	named, done := 0, 0
	for _, f := range fronts {
		p, ok := f.(Publisher)
		if !ok {
			continue
		}
		channel := to[f.Platform()]
		if f.Platform() == "console" {
			channel = "console"
		}
		if channel == "" {
			continue
		}
		if f.Platform() != "console" {
			named++
		}
		if err := p.PublishReport(ctx, channel, rep); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", f.Platform(), channel, err))
			continue
		}
		if f.Platform() != "console" {
			done++
		}
	}
	want := 0
	for platform, channel := range to {
		if channel != "" && platform != "console" {
			want++
		}
	}
	if want > named {
		errs = append(errs, fmt.Errorf("%d of the channels named have no running front (is that platform configured?)", want-named))
	}
	if want > 0 && done == 0 {
		return errors.Join(errs...)
	}
	for _, err := range errs {
		c.cfg.Logger.Warn("publishing a report", "title", rep.Heading(), "err", err)
	}
	return nil
}
