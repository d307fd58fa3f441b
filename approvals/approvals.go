// Package approvals is the two-person rule: the life of a request from the moment an
// admin asks for a change until it has run (or was denied, expired, cancelled or
// refused as stale), who may do what on the way, and the audit trail.
//
// It knows no chat platform: people's ids are keyed by the platforms' registered
// names (Person.IDs), which main chooses. The bot hands it a person and an origin; it
// announces transitions through Notifier, and only after they are committed to the
// Store. A change is run either as its plan's steps, by the Runner, or, when it is
// more than fixed steps (a drill, a change to exchops' schedules), as the typed
// procedure stored with the request, by Procedures: never by looking the command
// text up.
// Nothing runs twice: every transition is a read-modify-write of one request inside a
// single serialised transaction, checked against the request's version, and only the
// transition that moved a request to "approved" starts its run.
package approvals

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/exchops/exchops/commands"
)

// Status is where a request is in its life.
//
//	pending -> approved -> running -> succeeded | failed | interrupted | stale
//	pending -> denied | expired | cancelled
//	approved -> interrupted (exchops stopped before the run began)
type Status string

const (
	Pending   Status = "pending"   // waiting for approvals
	Approved  Status = "approved"  // enough approvals; the run is about to start
	Running   Status = "running"   // the run has started: it will not start again
	Succeeded Status = "succeeded" // every step ran and the change completed
	Failed    Status = "failed"    // a step or the wait failed; Reason and Run.Error say how
	// Interrupted: exchops stopped while the request was approved or running. It is
	// never re-run by itself: a person looks at the organisation and asks again.
	Interrupted Status = "interrupted"
	// Stale: when the run was about to start, the preflight no longer matched what the
	// approvers saw (the organisation moved), so nothing ran.
	Stale     Status = "stale"
	Denied    Status = "denied"    // an approver said no; a denial wins over later approvals
	Expired   Status = "expired"   // nobody decided within approvals.expire_after
	Cancelled Status = "cancelled" // the requester withdrew it
)

// Final reports whether nothing more can happen to a request in this status.
func (s Status) Final() bool {
	switch s {
	case Pending, Approved, Running:
		return false
	}
	return true
}

// Origin says where something came from: the chat platform (a front's registered
// name, or "schedule" for exchops' own schedules), the channel and the platform's
// user id.
type Origin struct {
	Platform string `json:"platform"`
	Channel  string `json:"channel,omitempty"`
	User     string `json:"user,omitempty"`
}

func (o Origin) String() string {
	s := o.Platform
	if o.Channel != "" {
		s += " " + o.Channel
	}
	return s
}

// Decision is a vote.
type Decision string

const (
	Approve Decision = "approve"
	Deny    Decision = "deny"
)

// Vote is one person's decision on a request. A person votes at most once per request.
type Vote struct {
	Person   string    `json:"person"`
	Decision Decision  `json:"decision"`
	At       time.Time `json:"at"`
	Via      Origin    `json:"via"`
	Reason   string    `json:"reason,omitempty"`
}

// Run is the execution of an approved request. A request has at most one.
type Run struct {
	Owner      string    // the exchops process that started it (see Options.Instance)
	StartedAt  time.Time //
	FinishedAt time.Time // zero while running
	Progress   string    // the latest progress line, for people
	Output     string    // what the steps printed, for people
	Error      string    // why it failed; never holds a secret
}

// Card is a message a chat front posted about a request (an approval card), kept so
// that it can be updated later, even after a restart.
type Card struct {
	Platform  string `json:"platform"`
	Channel   string `json:"channel"`
	MessageID string `json:"message_id"`
	Thread    string `json:"thread,omitempty"`
}

// Request is a change someone asked for, with everything the approvers saw.
type Request struct {
	ID        string // short and typeable: "r-42"; assigned by the Store
	Seq       int64  // the number in ID
	Version   int64  // bumped by every Update; the Store checks it
	Command   string // the canonical command text ("dag create E14-DAG witness=...")
	Summary   string // one line for people
	Requester string // a person's name from the configuration
	Origin    Origin // where it was asked
	// Steps, Wait and Lock are the plan as the approvers saw it. The run re-plans from
	// Command and refuses if the new plan or its preflight differs (see Hash).
	Steps    []commands.Step
	Wait     *commands.Wait
	Lock     string
	Findings []commands.Finding
	// Procedure, when not nil, is what the run carries out instead of Steps, with its
	// typed arguments as they were approved (a drill, a change to the schedules). It
	// is run as stored: the command text is not read again.
	Procedure *commands.Procedure
	Hash      string // PlanHash of the plan and findings at request time
	Required  int    // approvals needed from people other than the requester
	Status    Status
	Reason    string // why it is in its status, for people ("denied by bob: not today")

	// Approvers and ExcludedTeam are the request's rule as it was when the request was
	// made, so that a configuration change does not move what a pending request
	// needs. Approvers are "role:<role>" or people's names (none: any approver);
	// ExcludedTeam is the requester's team when the rule wants approvals from outside
	// it. Who holds a role or is in a team is read from the configuration at the vote.
	Approvers    []string
	ExcludedTeam string

	CreatedAt time.Time
	ExpiresAt time.Time
	UpdatedAt time.Time

	Votes []Vote
	Run   *Run // nil until the run starts
	Cards []Card
}

// Approvals returns the names of the people who approved, in vote order.
func (r *Request) Approvals() []string {
	var out []string
	for _, v := range r.Votes {
		if v.Decision == Approve {
			out = append(out, v.Person)
		}
	}
	return out
}

// Needs is how many more approvals the request needs.
func (r *Request) Needs() int {
	n := r.Required - len(r.Approvals())
	if n < 0 {
		return 0
	}
	return n
}

// Whom says, for people, whose approvals count when that is narrower than any
// approver's: "role dag-owner", "role dns-admin or bob outside team dns", or "" when
// any approver other than the requester may approve.
func (r *Request) Whom() string {
	s := approverWords(r.Approvers)
	if r.ExcludedTeam != "" {
		if s == "" {
			s = "approvers"
		}
		s += " outside team " + r.ExcludedTeam
	}
	return s
}

// StillNeeds says how many more approvals a request needs and, when the request's
// rule narrows it, from whom: "1 more approval", "2 more approvals from role dag-owner".
func (r *Request) StillNeeds() string {
	s := plural(r.Needs(), "approval")
	if w := r.Whom(); w != "" {
		s += " from " + w
	}
	return s
}

// VoteOf returns the vote person cast, if any.
func (r *Request) VoteOf(person string) (Vote, bool) {
	for _, v := range r.Votes {
		if v.Person == person {
			return v, true
		}
	}
	return Vote{}, false
}

// AuditEvent is one line of a request's audit trail: who did what, when, from where
// and why. Events are only ever added.
type AuditEvent struct {
	ID        int64
	RequestID string
	At        time.Time
	Actor     string // a person's name, or "exchops" for what the bot did by itself
	Via       Origin
	Event     string // "requested", "approved", "denied", "run started", ...
	Detail    string
}

// Store keeps requests durably; store.DB implements it. Update's fn runs while the
// write lock is held: it must not do I/O.
type Store interface {
	// Create stores a new request with its first audit event, assigning ID, Seq and
	// Version.
	Create(ctx context.Context, r *Request, ev AuditEvent) error
	// Update loads request id, calls fn on it and, when fn returns nil, saves what fn
	// changed (fields, new votes, the run, cards) with the audit events fn returned,
	// all in one transaction that no other Update can interleave with. If fn returns
	// an error nothing is saved and Update returns that error. It returns the request
	// as saved. ErrNotFound when there is no such request.
	Update(ctx context.Context, id string, fn func(r *Request) ([]AuditEvent, error)) (*Request, error)
	// Get returns one request. ErrNotFound when there is none.
	Get(ctx context.Context, id string) (*Request, error)
	// List returns requests in the given statuses (all when none), newest first, at
	// most limit (no limit when limit <= 0).
	List(ctx context.Context, statuses []Status, limit int) ([]*Request, error)
	// Audit returns a request's audit trail, oldest first.
	Audit(ctx context.Context, id string) ([]AuditEvent, error)
	// OfCommand returns the requests of one command (their command text is name, or
	// name and a space and arguments), oldest first.
	OfCommand(ctx context.Context, name string) ([]*Request, error)
	// Expiring returns the ids of pending requests whose expiry is at or before now,
	// oldest expiry first (at most limit), and the earliest expiry after now (zero when
	// none). It reads no request in full: the expiry worker calls it often.
	Expiring(ctx context.Context, now time.Time, limit int) (due []string, next time.Time, err error)
}

// ErrNotFound is returned for a request id that does not exist.
var ErrNotFound = errors.New("no such request")

// ErrConflict is returned by a Store when an Update would rewrite history (change or
// remove a vote or the run) or the request changed under it (its version moved). The
// update was not applied; retrying the same change would fail again.
var ErrConflict = errors.New("the request changed while it was being updated")

// Runner carries out plans: main wires the WinRM runner into it.
type Runner interface {
	// Preflight runs the plan's read-only checks and judges them with Plan.Evaluate.
	Preflight(ctx context.Context, p *commands.Plan) (commands.Findings, error)
	// Execute runs the plan's steps in order under lock (none when ""), then polls its
	// Wait; progress receives lines for people while it works. output is what the
	// steps printed, for people; it is returned even when err is not nil.
	Execute(ctx context.Context, p *commands.Plan, lock string, progress func(string)) (output string, err error)
}

// EventKind names a transition or a moment worth telling people about.
type EventKind string

const (
	EventRequested   EventKind = "requested"
	EventVoted       EventKind = "voted" // an approval that did not reach the quorum yet
	EventApproved    EventKind = "approved"
	EventDenied      EventKind = "denied"
	EventExpired     EventKind = "expired"
	EventCancelled   EventKind = "cancelled"
	EventRunning     EventKind = "running"
	EventProgress    EventKind = "progress"
	EventSucceeded   EventKind = "succeeded"
	EventFailed      EventKind = "failed"
	EventStale       EventKind = "stale"
	EventInterrupted EventKind = "interrupted"
)

// Event is what Notifier is told. Request is a snapshot taken after the commit.
type Event struct {
	Kind    EventKind
	Request *Request
	Actor   string // who caused it ("exchops" for the bot itself)
	Detail  string // the progress line, the denial's reason, ...
}

// Notifier is told about every committed transition. It must not block for long:
// chat fronts queue their posts.
type Notifier interface {
	Notify(ctx context.Context, e Event)
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(ctx context.Context, e Event)

func (f NotifierFunc) Notify(ctx context.Context, e Event) { f(ctx, e) }

// RefusalCode says why a person may not do something.
type RefusalCode string

const (
	RefusedUnknownPerson RefusalCode = "unknown person"  // not in the people list
	RefusedRole          RefusalCode = "role"            // lacks the role
	RefusedOwnRequest    RefusalCode = "own request"     // the requester approving or denying
	RefusedNotRequester  RefusalCode = "not requester"   // cancelling someone else's request
	RefusedAlreadyVoted  RefusalCode = "already voted"   // a second vote by the same person
	RefusedNotEligible   RefusalCode = "not eligible"    // an approver the request's rule does not name
	RefusedSameTeam      RefusalCode = "same team"       // from the requester's team, which the rule excludes
	RefusedDecided       RefusalCode = "already decided" // not pending any more
	RefusedExpired       RefusalCode = "expired"         // pending, but past its expiry
	RefusedBlocked       RefusalCode = "blocked"         // the preflight found a blocker
	RefusedNothingToDo   RefusalCode = "nothing to do"   // the organisation is already so
	RefusedNotFound      RefusalCode = "no such request" // a mistyped id
	RefusedUnavailable   RefusalCode = "unavailable"     // the preflight could not read the organisation
)

// Refusal is the error for anything a person was not allowed to do, or that could
// not be offered for approval. Its message is written for that person.
type Refusal struct {
	Code RefusalCode
	Msg  string
	// Findings are the preflight's findings, for RefusedBlocked and RefusedNothingToDo.
	Findings commands.Findings
}

func (r *Refusal) Error() string { return r.Msg }

func refuse(code RefusalCode, format string, args ...any) *Refusal {
	return &Refusal{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// RefusalOf returns the *Refusal in err's chain, or nil.
func RefusalOf(err error) *Refusal {
	var r *Refusal
	if errors.As(err, &r) {
		return r
	}
	return nil
}
