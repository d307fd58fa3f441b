package approvals

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/runners"
)

// MaxOutput is how much of a run's output is kept with the request; chat fronts
// attach it as a file when it is long.
const MaxOutput = 256 << 10

// Bot is the actor name of what exchops does by itself (expiry, interruption).
const Bot = "exchops"

// Options configure a Service.
type Options struct {
	Clock    clock.Clock  // default clock.Real{}
	Notifier Notifier     // default: tell nobody
	Logger   *slog.Logger // default: discard
	// Env is what planning needs (commands.Env): a run re-plans the command it was
	// approved for and refuses when the plan changed.
	Env commands.Env
	// Instance names this process in Run.Owner; default a random id.
	Instance string
	// Procedures carry out approved requests that are more than a plan's scripts
	// (Request.Procedure): changes to exchops itself (adding a drill schedule) and
	// procedures that decide as they go (a failover drill). The plan's preflight, if
	// it has one, still runs before the request is filed; at run time the procedure
	// checks what it needs itself (there is no stale-plan comparison). Approval,
	// exactly-once and the audit trail work as for any change. Nil: such requests are
	// refused.
	Procedures Procedures
}

// Procedures carry out typed procedures (commands.Procedure) once approved;
// schedules.Scheduler implements them. progress takes lines for people while it
// works. Perform returns what to tell people, also when it fails, and an error for a
// kind it does not know.
type Procedures interface {
	Perform(ctx context.Context, requester string, p commands.Procedure, progress func(string)) (output string, err error)
}

// Service runs the request lifecycle. Create it with New, then Start it.
type Service struct {
	store  Store
	runner Runner
	policy Policy
	opt    Options

	ctx    context.Context // ends when the service closes: runs in flight are interrupted
	cancel context.CancelFunc
	runs   sync.WaitGroup
	wake   chan struct{} // tells the expiry worker that a request was created
	done   chan struct{} // closed when the expiry worker has stopped
}

// New returns a service; nothing happens until Start.
func New(st Store, runner Runner, pol Policy, opt Options) *Service {
	if opt.Clock == nil {
		opt.Clock = clock.Real{}
	}
	if opt.Notifier == nil {
		opt.Notifier = NotifierFunc(func(context.Context, Event) {})
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Instance == "" {
		b := make([]byte, 6)
		rand.Read(b)
		opt.Instance = hex.EncodeToString(b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{store: st, runner: runner, policy: pol, opt: opt, ctx: ctx, cancel: cancel,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// Policy returns the policy the service enforces.
func (s *Service) Policy() Policy { return s.policy }

// Start recovers from the last process's end, then runs the expiry worker until
// Close. Recovery marks every request that was approved or running as interrupted
// and announces it: a run cut off by a crash is never repeated by itself, because
// nobody knows how far it got.
func (s *Service) Start(ctx context.Context) error {
	cut, err := s.store.List(ctx, []Status{Approved, Running}, 0)
	if err != nil {
		return fmt.Errorf("approvals: reading requests cut off by the last stop: %w", err)
	}
	for _, r := range cut {
		was := r.Status
		reason := "exchops stopped while it was running; it will not run again by itself: check the organisation, then ask again if needed"
		if was == Approved {
			reason = "exchops stopped after the approval, before the run began; nothing ran: ask again if it is still needed"
		}
		saved, err := s.store.Update(ctx, r.ID, func(r *Request) ([]AuditEvent, error) {
			if r.Status != Approved && r.Status != Running {
				return nil, errSkip
			}
			now := s.now()
			r.Status, r.Reason, r.UpdatedAt = Interrupted, reason, now
			if r.Run != nil && r.Run.FinishedAt.IsZero() {
				r.Run.FinishedAt = now
				r.Run.Error = "interrupted: " + reason
			}
			return []AuditEvent{{At: now, Actor: Bot, Via: Origin{Platform: Bot}, Event: "interrupted", Detail: "was " + string(was) + " when exchops stopped"}}, nil
		})
		if errors.Is(err, errSkip) {
			continue
		}
		if err != nil {
			return fmt.Errorf("approvals: marking %s interrupted: %w", r.ID, err)
		}
		s.opt.Logger.Warn("request interrupted by the last stop", "request", saved.ID, "was", string(was))
		s.notify(Event{Kind: EventInterrupted, Request: saved, Actor: Bot, Detail: reason})
	}
	go s.expiryWorker()
	return nil
}

// Close stops the expiry worker and interrupts runs in flight, waiting until each has
// recorded how it ended.
func (s *Service) Close() {
	s.cancel()
	s.runs.Wait()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
}

// Wait blocks until no run is in flight. Tests use it.
func (s *Service) Wait() { s.runs.Wait() }

var errSkip = errors.New("approvals: transition no longer applies")

func (s *Service) now() time.Time { return s.opt.Clock.Now().UTC() }

func (s *Service) notify(e Event) {
	s.opt.Notifier.Notify(s.ctx, e)
}

// Submit is a change someone asked for.
type Submit struct {
	Person  string // a person's name
	Origin  Origin
	Command *commands.Command
	// Procedure, when not nil, is what the request carries out once approved, for a
	// command whose plan has no steps of its own (a drill schedule's addition, by
	// schedules). Without it, the plan's own procedure is used (Plan.CarriedOutBy).
	Procedure *commands.Procedure
}

// Request plans the invocation, runs its preflight and, when the organisation can
// take the change, stores it as pending and announces it. A blocked or no-op change
// is refused (a *Refusal carrying the findings) and nothing is stored.
func (s *Service) Request(ctx context.Context, sub Submit) (*Request, error) {
	inv := sub.Command
	if inv == nil || inv.Spec == nil {
		return nil, errors.New("approvals: no command")
	}
	if err := s.policy.MayRun(sub.Person, inv.Spec.ReadOnly, inv.Spec.Name); err != nil {
		return nil, err
	}
	if sub.Procedure == nil && (inv.Spec.ReadOnly || inv.Spec.Handler != commands.HandlerExchange) {
		return nil, fmt.Errorf("approvals: %s does not need approval", inv.Spec.Name)
	}
	if err := s.past(ctx, inv, ""); err != nil {
		return nil, err
	}
	p, err := inv.Plan(s.opt.Env)
	if err != nil {
		return nil, err
	}
	proc := sub.Procedure
	if proc == nil {
		proc = p.CarriedOutBy
	}
	if proc != nil {
		if s.opt.Procedures == nil {
			return nil, fmt.Errorf("approvals: %s is carried out by a procedure (%s), and this exchops runs none", inv.Spec.Name, proc.Kind)
		}
		if err := s.policy.MayRun(sub.Person, false, inv.Spec.Name); err != nil {
			return nil, err
		}
	}
	if proc == nil && len(p.Steps) == 0 && p.Decided == "" {
		return nil, fmt.Errorf("approvals: %s has nothing to run in this exchops (no action carries it out)", inv.Spec.Name)
	}
	var f commands.Findings
	if proc == nil || len(p.Preflight) > 0 {
		if f, err = s.runner.Preflight(ctx, p); err != nil {
			return nil, &Refusal{Code: RefusedUnavailable, Msg: "the preflight could not read the organisation, so nothing was requested: " + err.Error()}
		}
	}
	if f.Blocked() {
		return nil, &Refusal{Code: RefusedBlocked, Findings: f, Msg: "this change cannot be offered for approval:\n" + blockers(f)}
	}
	if f.NoOp {
		return nil, &Refusal{Code: RefusedNothingToDo, Findings: f, Msg: "nothing to do: " + strings.TrimSpace(infos(f))}
	}
	p = p.Decide(f)
	if proc == nil && len(p.Steps) == 0 {
		return nil, fmt.Errorf("approvals: the preflight of %s decided no steps and found nothing to refuse", inv.Spec.Name)
	}
	lock := EffectiveLock(p, f)
	now := s.now()
	summary := p.Summary
	if p.Procedure != "" {
		summary += " " + p.Procedure // what the approvers approve when no script is fixed yet
	}
	rule := s.policy.RuleFor(inv.Spec.Name)
	r := &Request{
		Command: p.Command, Summary: summary, Requester: sub.Person, Origin: sub.Origin,
		Steps: p.Steps, Wait: p.Wait, Lock: lock, Findings: f.List, Procedure: proc,
		Hash:      PlanHash(p, f, lock),
		Required:  max(rule.Required, 1),
		Approvers: rule.Approvers,
		Status:    Pending,
		CreatedAt: now, ExpiresAt: now.Add(s.policy.ExpireAfter), UpdatedAt: now,
	}
	if requester, _ := s.policy.Person(sub.Person); !rule.SameTeam {
		r.ExcludedTeam = requester.Team
	}
	err = s.store.Create(ctx, r, AuditEvent{At: now, Actor: sub.Person, Via: sub.Origin, Event: "requested", Detail: p.Command})
	if err != nil {
		return nil, fmt.Errorf("approvals: storing the request: %w", err)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	s.notify(Event{Kind: EventRequested, Request: r, Actor: sub.Person})
	return r, nil
}

// Approve records person's approval. When it completes the quorum the request becomes
// approved and its run starts; only that one transition can start it.
func (s *Service) Approve(ctx context.Context, id, person string, via Origin) (*Request, error) {
	reached := false
	r, err := s.update(ctx, id, func(r *Request) ([]AuditEvent, error) {
		now := s.now()
		if err := s.policy.MayVote(r, person, Approve, now); err != nil {
			return nil, err
		}
		r.Votes = append(r.Votes, Vote{Person: person, Decision: Approve, At: now, Via: via})
		r.UpdatedAt = now
		ev := []AuditEvent{{At: now, Actor: person, Via: via, Event: "approval", Detail: fmt.Sprintf("%d of %d", len(r.Approvals()), r.Required)}}
		if r.Needs() == 0 {
			reached = true
			r.Status = Approved
			r.Reason = "approved by " + strings.Join(r.Approvals(), " and ")
			ev = append(ev, AuditEvent{At: now, Actor: person, Via: via, Event: "approved", Detail: r.Reason})
		}
		return ev, nil
	})
	if err != nil {
		return nil, err
	}
	if !reached {
		s.notify(Event{Kind: EventVoted, Request: r, Actor: person})
		return r, nil
	}
	s.notify(Event{Kind: EventApproved, Request: r, Actor: person})
	s.runs.Add(1)
	go s.run(r.ID)
	return r, nil
}

// Deny records person's denial: the request is denied at once, whatever approvals it
// already had, and no later approval can revive it. The reason gets the typed deny's
// rule (commands.CheckReason) whichever front it came from; one it refuses is a
// *commands.UsageError and nothing is recorded.
func (s *Service) Deny(ctx context.Context, id, person string, via Origin, reason string) (*Request, error) {
	reason, err := commands.CheckReason(reason)
	if err != nil {
		return nil, err
	}
	r, err := s.update(ctx, id, func(r *Request) ([]AuditEvent, error) {
		now := s.now()
		if err := s.policy.MayVote(r, person, Deny, now); err != nil {
			return nil, err
		}
		r.Votes = append(r.Votes, Vote{Person: person, Decision: Deny, At: now, Via: via, Reason: reason})
		r.Status, r.UpdatedAt = Denied, now
		r.Reason = "denied by " + person
		if reason != "" {
			r.Reason += ": " + reason
		}
		return []AuditEvent{{At: now, Actor: person, Via: via, Event: "denied", Detail: reason}}, nil
	})
	if err != nil {
		return nil, err
	}
	s.notify(Event{Kind: EventDenied, Request: r, Actor: person, Detail: reason})
	return r, nil
}

// Cancel withdraws a pending request; only its requester may.
func (s *Service) Cancel(ctx context.Context, id, person string, via Origin) (*Request, error) {
	r, err := s.update(ctx, id, func(r *Request) ([]AuditEvent, error) {
		if err := s.policy.MayCancel(r, person); err != nil {
			return nil, err
		}
		now := s.now()
		if !now.Before(r.ExpiresAt) {
			return nil, refuse(RefusedExpired, "%s has already expired.", r.ID)
		}
		r.Status, r.Reason, r.UpdatedAt = Cancelled, "cancelled by "+person, now
		return []AuditEvent{{At: now, Actor: person, Via: via, Event: "cancelled"}}, nil
	})
	if err != nil {
		return nil, err
	}
	s.notify(Event{Kind: EventCancelled, Request: r, Actor: person})
	return r, nil
}

// AttachCard remembers a chat message about the request, replacing an earlier one on
// the same platform and channel.
func (s *Service) AttachCard(ctx context.Context, id string, c Card) error {
	_, err := s.update(ctx, id, func(r *Request) ([]AuditEvent, error) {
		for i, old := range r.Cards {
			if old.Platform == c.Platform && old.Channel == c.Channel {
				r.Cards[i] = c
				return nil, nil
			}
		}
		r.Cards = append(r.Cards, c)
		return nil, nil
	})
	return err
}

// Get returns one request.
func (s *Service) Get(ctx context.Context, id string) (*Request, error) {
	id = NormalizeID(id)
	r, err := s.store.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, notFound(id)
	}
	return r, err
}

// Pending returns the requests waiting for approval, oldest first.
func (s *Service) Pending(ctx context.Context) ([]*Request, error) {
	rs, err := s.store.List(ctx, []Status{Pending}, 0)
	for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
		rs[i], rs[j] = rs[j], rs[i]
	}
	return rs, err
}

// History returns the n most recent requests, newest first.
func (s *Service) History(ctx context.Context, n int) ([]*Request, error) {
	return s.store.List(ctx, nil, n)
}

// Audit returns a request's audit trail.
func (s *Service) Audit(ctx context.Context, id string) ([]AuditEvent, error) {
	return s.store.Audit(ctx, NormalizeID(id))
}

// NormalizeID accepts what people type for an id: "r-42", "R-42", "42", "#42".
func NormalizeID(id string) string {
	id = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(id), "#")))
	if id != "" && strings.Trim(id, "0123456789") == "" {
		return "r-" + id
	}
	return id
}

// IsRequestID reports whether s is a request id exactly as the store assigns them and
// cards carry them: "r-" and the request's number (1-19 digits, no leading zero).
// Button values and component ids are checked with it: they hold nothing else.
func IsRequestID(s string) bool {
	n, ok := strings.CutPrefix(s, "r-")
	if !ok || len(n) == 0 || len(n) > 19 || n[0] == '0' {
		return false
	}
	return strings.Trim(n, "0123456789") == ""
}

func notFound(id string) *Refusal {
	return refuse(RefusedNotFound, "there is no request %s: `requests` lists the pending ones, `history` the recent ones.", id)
}

func (s *Service) update(ctx context.Context, id string, fn func(r *Request) ([]AuditEvent, error)) (*Request, error) {
	id = NormalizeID(id)
	r, err := s.store.Update(ctx, id, fn)
	if errors.Is(err, ErrNotFound) {
		return nil, notFound(id)
	}
	return r, err
}

// run carries out an approved request: claim it (approved -> running, which only one
// caller can do), re-plan and re-run the preflight, refuse if anything differs from
// what was approved, then execute.
func (s *Service) run(id string) {
	defer s.runs.Done()
	ctx := s.ctx
	log := s.opt.Logger.With("request", id)
	r, err := s.store.Update(context.WithoutCancel(ctx), id, func(r *Request) ([]AuditEvent, error) {
		if r.Status != Approved {
			return nil, errSkip
		}
		now := s.now()
		r.Status, r.UpdatedAt = Running, now
		r.Run = &Run{Owner: s.opt.Instance, StartedAt: now, Progress: "checking that the organisation is as the approvers saw it"}
		return []AuditEvent{{At: now, Actor: Bot, Via: Origin{Platform: Bot}, Event: "run started", Detail: "process " + s.opt.Instance}}, nil
	})
	if err != nil {
		if !errors.Is(err, errSkip) {
			log.Error("claiming the run", "err", err)
		}
		return
	}
	s.notify(Event{Kind: EventRunning, Request: r, Actor: Bot})

	status, reason, output, runErr := s.execute(ctx, r, func(line string) {
		saved, err := s.store.Update(context.WithoutCancel(ctx), id, func(r *Request) ([]AuditEvent, error) {
			if r.Status != Running || r.Run == nil {
				return nil, errSkip
			}
			r.Run.Progress = line
			return nil, nil
		})
		if err == nil {
			s.notify(Event{Kind: EventProgress, Request: saved, Actor: Bot, Detail: line})
		}
	})
	if ctx.Err() != nil && status != Succeeded && status != Stale {
		status = Interrupted
		reason = "exchops stopped during the run; it will not run again by itself: check the organisation, then ask again if needed"
	}
	if runErr != nil {
		log.Warn("the run failed", "status", string(status), "err", runErr) // the full message, for the administrators
	}
	if len(output) > MaxOutput {
		output = output[:MaxOutput] + fmt.Sprintf("\n... (output cut at %d bytes)", MaxOutput)
	}
	saved, err := s.store.Update(context.WithoutCancel(ctx), id, func(r *Request) ([]AuditEvent, error) {
		if r.Status != Running {
			return nil, errSkip
		}
		now := s.now()
		r.Status, r.Reason, r.UpdatedAt = status, reason, now
		r.Run.FinishedAt, r.Run.Output = now, output
		if runErr != nil {
			// Cards, `requests` and `history` show it in channels viewers read: the
			// server and the kind of failure only; the full message is in the log.
			r.Run.Error = runners.Redacted(runErr)
		}
		return []AuditEvent{{At: now, Actor: Bot, Via: Origin{Platform: Bot}, Event: string(status), Detail: reason}}, nil
	})
	if err != nil {
		log.Error("recording how the run ended", "status", string(status), "err", err)
		return
	}
	kind := map[Status]EventKind{Succeeded: EventSucceeded, Failed: EventFailed, Stale: EventStale, Interrupted: EventInterrupted}[status]
	s.notify(Event{Kind: kind, Request: saved, Actor: Bot, Detail: reason})
}

func (s *Service) execute(ctx context.Context, r *Request, progress func(string)) (Status, string, string, error) {
	if r.Procedure != nil {
		return s.perform(ctx, r, *r.Procedure, progress)
	}
	inv, err := commands.Parse(r.Command)
	if err != nil {
		return Failed, "the command no longer parses, so nothing ran: " + err.Error(), "", err
	}
	if err := s.past(ctx, inv, r.ID); err != nil {
		return Failed, "the earlier request it refers to could not be read, so nothing ran: " + err.Error(), "", err
	}
	p, err := inv.Plan(s.opt.Env)
	if err != nil {
		return Failed, "the command no longer plans, so nothing ran: " + err.Error(), "", err
	}
	// A request stored before procedures were typed carries none: a drill's plan
	// still names its procedure; a schedule change's cannot, and is refused below.
	if p.CarriedOutBy != nil {
		return s.perform(ctx, r, *p.CarriedOutBy, progress)
	}
	if inv.Spec.Handler != commands.HandlerExchange || inv.Spec.ReadOnly {
		err := fmt.Errorf("approvals: %s has no procedure recorded", r.ID)
		return Failed, "this request was made by an earlier version of exchops, which did not record what to carry out, so nothing ran: ask again", "", err
	}
	f, err := s.runner.Preflight(ctx, p)
	if err != nil {
		return Failed, "the preflight before the run could not read the organisation, so nothing ran: " + runners.Redacted(err), "", err
	}
	p = p.Decide(f)
	lock := EffectiveLock(p, f)
	if PlanHash(p, f, lock) != r.Hash {
		return Stale, staleReason(r, p, f, lock), "", nil
	}
	output, err := s.runner.Execute(ctx, p, lock, progress)
	if err != nil {
		return Failed, runners.Redacted(err), output, err
	}
	return Succeeded, "done", output, nil
}

// perform carries out a request's procedure.
func (s *Service) perform(ctx context.Context, r *Request, proc commands.Procedure, progress func(string)) (Status, string, string, error) {
	if s.opt.Procedures == nil {
		err := fmt.Errorf("approvals: no procedures to carry out %s", proc.Kind)
		return Failed, "this exchops runs no procedures, so nothing ran: " + err.Error(), "", err
	}
	output, err := s.opt.Procedures.Perform(ctx, r.Requester, proc, progress)
	if err != nil {
		return Failed, runners.Redacted(err), output, err
	}
	return Succeeded, "done", output, nil
}

// past gives a command that refers to an earlier request (Spec.Refers: casarray
// restore r-12) exchops' record of it, which planning needs: that request as stored and
// the other requests of the same command that refer to it (self, the request being
// run, excepted). Whether the command may go on is the command's rule, not this one.
func (s *Service) past(ctx context.Context, inv *commands.Command, self string) error {
	if inv.Spec.Session != nil {
		return s.session(ctx, inv, self)
	}
	if inv.Spec.Refers == "" {
		return nil
	}
	id := NormalizeID(inv.Value(inv.Spec.Refers))
	p := &commands.PastRequest{ID: id}
	r, err := s.store.Get(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		inv.Past = p
		return nil
	case err != nil:
		return fmt.Errorf("approvals: reading %s: %w", id, err)
	}
	p.Found, p.Status, p.Command, p.Findings = true, string(r.Status), r.Command, r.Findings
	others, err := s.store.OfCommand(ctx, inv.Spec.Name)
	if err != nil {
		return fmt.Errorf("approvals: reading the requests that refer to %s: %w", id, err)
	}
	for _, o := range others {
		if o.ID == self {
			continue
		}
		oi, err := commands.Parse(o.Command)
		if err != nil || oi.Spec.Refers == "" || NormalizeID(oi.Value(oi.Spec.Refers)) != id {
			continue
		}
		p.Referrers = append(p.Referrers, commands.Referrer{ID: o.ID, Status: string(o.Status)})
	}
	inv.Past = p
	return nil
}

// Recall gives a read-only command the request history its planning needs (dag
// maintenance status: who started a maintenance, and when); for any other command it
// does nothing. Changes get it in Request and before their run.
func (s *Service) Recall(ctx context.Context, inv *commands.Command) error {
	return s.past(ctx, inv, "")
}

// session gives a command with a Spec.Session (dag maintenance start, stop, status)
// exchops' record of the latest Session.Start request of its server (Invocation.Past),
// or of every server when the command names none (Invocation.Sessions), each with the
// Session.Stop requests of that server made after it as its referrers. Requests that
// never ran (denied, expired, cancelled, stale) do not count; self is left out.
func (s *Service) session(ctx context.Context, inv *commands.Command, self string) error {
	ss := inv.Spec.Session
	starts, err := s.store.OfCommand(ctx, ss.Start)
	if err != nil {
		return fmt.Errorf("approvals: reading the %s requests: %w", ss.Start, err)
	}
	stops, err := s.store.OfCommand(ctx, ss.Stop)
	if err != nil {
		return fmt.Errorf("approvals: reading the %s requests: %w", ss.Stop, err)
	}
	by := func(r *Request) string {
		oi, err := commands.Parse(r.Command)
		if err != nil || oi.Spec.Name != ss.Start && oi.Spec.Name != ss.Stop {
			return ""
		}
		return strings.ToUpper(oi.Value(ss.By))
	}
	latest := map[string]*Request{}
	var order []string
	for _, r := range starts {
		v := by(r)
		if r.ID == self || v == "" || neverRan(r.Status) {
			continue
		}
		if _, seen := latest[v]; !seen {
			order = append(order, v)
		}
		latest[v] = r // oldest first: the last one wins
	}
	record := func(r *Request) commands.PastRequest {
		p := commands.PastRequest{ID: r.ID, Found: true, Status: string(r.Status), Command: r.Command,
			Findings: r.Findings, Requester: r.Requester}
		if r.Run != nil {
			p.Started = r.Run.StartedAt
		}
		for _, o := range stops {
			if o.ID != self && o.Seq > r.Seq && by(o) == by(r) {
				p.Referrers = append(p.Referrers, commands.Referrer{ID: o.ID, Status: string(o.Status)})
			}
		}
		return p
	}
	if v := strings.ToUpper(inv.Value(ss.By)); v != "" {
		inv.Past = &commands.PastRequest{}
		if r := latest[v]; r != nil {
			p := record(r)
			inv.Past = &p
		}
		return nil
	}
	sort.Strings(order)
	inv.Sessions = []commands.PastRequest{}
	for _, v := range order {
		inv.Sessions = append(inv.Sessions, record(latest[v]))
	}
	return nil
}

// neverRan reports whether a request in status st never ran and never will.
func neverRan(st Status) bool {
	switch st {
	case Denied, Expired, Cancelled, Stale:
		return true
	}
	return false
}

// expiryWorker expires pending requests when their time comes, on the service's clock.
func (s *Service) expiryWorker() {
	defer close(s.done)
	for s.ctx.Err() == nil {
		next := s.expireDue()
		wait := time.Hour
		if !next.IsZero() {
			wait = next.Sub(s.now())
		}
		sctx, cancel := context.WithCancel(s.ctx)
		go func() {
			select {
			case <-s.wake:
				cancel()
			case <-sctx.Done():
			}
		}()
		s.opt.Clock.Sleep(sctx, max(wait, time.Millisecond))
		cancel()
	}
}

// expireDue expires every pending request whose time has come and returns the next
// expiry time (zero when nothing is pending). It reads only ids and times, however
// many requests wait.
func (s *Service) expireDue() time.Time {
	for {
		due, next, err := s.store.Expiring(s.ctx, s.now(), 100)
		if err != nil {
			if s.ctx.Err() == nil {
				s.opt.Logger.Error("reading expiring requests", "err", err)
			}
			return s.now().Add(time.Minute)
		}
		for _, id := range due {
			s.expire(id)
		}
		if len(due) < 100 || s.ctx.Err() != nil {
			return next
		}
	}
}

func (s *Service) expire(id string) {
	saved, err := s.store.Update(s.ctx, id, func(r *Request) ([]AuditEvent, error) {
		now := s.now()
		if r.Status != Pending || now.Before(r.ExpiresAt) {
			return nil, errSkip
		}
		r.Status, r.UpdatedAt = Expired, now
		r.Reason = fmt.Sprintf("nobody decided within %s", roundDuration(r.ExpiresAt.Sub(r.CreatedAt)))
		return []AuditEvent{{At: now, Actor: Bot, Via: Origin{Platform: Bot}, Event: "expired", Detail: r.Reason}}, nil
	})
	if errors.Is(err, errSkip) {
		return
	}
	if err != nil {
		if s.ctx.Err() == nil {
			s.opt.Logger.Error("expiring a request", "request", id, "err", err)
		}
		return
	}
	s.notify(Event{Kind: EventExpired, Request: saved, Actor: Bot, Detail: saved.Reason})
}

func roundDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// EffectiveLock is what a change locks: the DAG the preflight found when it found
// one, else the plan's own lock.
func EffectiveLock(p *commands.Plan, f commands.Findings) string {
	if f.Lock != "" {
		return f.Lock
	}
	return p.Lock
}

// PlanHash binds an approval to what the approvers saw: every step and its target
// (an Exchange step's typed calls, which are what runs, as well as its text), the
// wait and the condition it polls for, the lock and the preflight's findings. If any
// of it differs when the run is about to start, the organisation (or the
// configuration) moved.
func PlanHash(p *commands.Plan, f commands.Findings, lock string) string {
	type wait struct {
		Target, Script string
		Calls          []commands.Call `json:",omitempty"`
		Until          *commands.Until `json:",omitempty"`
		Budget         time.Duration
	}
	type step struct {
		Target, Script string
		Calls          []commands.Call `json:",omitempty"`
		// omitempty: a step without a limit or a wait of its own hashes as before
		// those fields.
		Timeout time.Duration `json:",omitempty"`
		Then    *wait         `json:",omitempty"`
	}
	var h struct {
		Steps    []step
		Wait     *step
		Until    *commands.Until `json:",omitempty"`
		Budget   time.Duration
		Lock     string
		Findings []commands.Finding
		NoOp     bool
	}
	for _, s := range p.Steps {
		x := step{Target: s.Target, Script: s.Script, Calls: s.Calls, Timeout: s.Timeout}
		if w := s.Then; w != nil {
			x.Then = &wait{w.Step.Target, w.Step.Script, w.Step.Calls, w.Until, w.Budget}
		}
		h.Steps = append(h.Steps, x)
	}
	if p.Wait != nil {
		h.Wait = &step{Target: p.Wait.Step.Target, Script: p.Wait.Step.Script, Calls: p.Wait.Step.Calls, Timeout: p.Wait.Step.Timeout}
		h.Until = p.Wait.Until
		h.Budget = p.Wait.Budget
	}
	h.Lock, h.Findings, h.NoOp = lock, f.List, f.NoOp
	b, err := json.Marshal(h)
	if err != nil {
		panic(err) // plain strings and numbers always marshal
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// staleReason tells people what moved between the approval and the run.
func staleReason(r *Request, p *commands.Plan, f commands.Findings, lock string) string {
	var parts []string
	if PlanHash(p, commands.Findings{List: r.Findings}, lock) != PlanHash(&commands.Plan{Steps: r.Steps, Wait: r.Wait}, commands.Findings{List: r.Findings}, r.Lock) {
		parts = append(parts, "the PowerShell it would run is no longer what was approved (the configuration changed)")
	}
	was := map[string]bool{}
	for _, x := range r.Findings {
		was[x.Severity.String()+": "+x.Message] = true
	}
	now := map[string]bool{}
	for _, x := range f.List {
		k := x.Severity.String() + ": " + x.Message
		now[k] = true
		if !was[k] {
			parts = append(parts, "now "+k)
		}
	}
	for _, x := range r.Findings {
		if k := x.Severity.String() + ": " + x.Message; !now[k] {
			parts = append(parts, "no longer "+k)
		}
	}
	if f.NoOp {
		parts = append(parts, "the organisation is already as requested")
	}
	if len(parts) == 0 {
		parts = append(parts, "the preflight differs from what was approved")
	}
	return "stale: the organisation changed since the approval, so nothing ran; " + strings.Join(parts, "; ")
}

func blockers(f commands.Findings) string {
	var b strings.Builder
	for _, x := range f.List {
		if x.Severity == commands.Blocker {
			b.WriteString("- " + x.Message + "\n")
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func infos(f commands.Findings) string {
	var b strings.Builder
	for _, x := range f.List {
		b.WriteString(x.Message + " ")
	}
	return b.String()
}
