package commands

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Env is what planning needs to know about the organisation, from configuration.
type Env struct {
	ManagementServer string   // where Exchange cmdlets run (exchange.management_server): EX10-CAHT
	DNSServer        string   // where dnscmd runs (exchange.dns_server): DC01
	Servers          []Server // exchange.servers; when not empty, every target must be listed
	// CopyQueue and ReplayQueue are health.copy_queue and health.replay_queue: the queue
	// lengths from which failover's preflight and the drill call a copy unhealthy, the
	// same rule the health report judges by (0: DefaultQueueLimit).
	CopyQueue, ReplayQueue int
	// SeedTimeout is exchange.seed_timeout: how long a seed may run (0: DefaultSeedTimeout).
	SeedTimeout time.Duration
	// MAPIConnectivity is health.mapi_connectivity: the health report also runs
	// Test-MapiConnectivity on each member (a logon to the system mailbox of every
	// database active there). Off by default: it logs on to every database each run.
	MAPIConnectivity bool
}

// DefaultSeedTimeout is exchange.seed_timeout's default: a day, for the largest
// databases over a slow link.
const DefaultSeedTimeout = 24 * time.Hour

// SeedLimit is how long a seed may run.
func (e Env) SeedLimit() time.Duration {
	if e.SeedTimeout > 0 {
		return e.SeedTimeout
	}
	return DefaultSeedTimeout
}

// DefaultQueueLimit is EXCHANGE.md's threshold, the one default of health.copy_queue
// and health.replay_queue: a copy or replay queue of 8 or more logs is unhealthy.
const DefaultQueueLimit = 8

// CopyLimit is the copy queue length from which a copy is unhealthy.
func (e Env) CopyLimit() int {
	if e.CopyQueue > 0 {
		return e.CopyQueue
	}
	return DefaultQueueLimit
}

// ReplayLimit is the replay queue length from which a copy is unhealthy.
func (e Env) ReplayLimit() int {
	if e.ReplayQueue > 0 {
		return e.ReplayQueue
	}
	return DefaultQueueLimit
}

// Server is one configured server and its roles ("mailbox", "clientaccess",
// "hubtransport", "dns"; compared case-insensitively).
type Server struct {
	Name  string
	Roles []string
}

// Role names used in Env.Servers.
const (
	RoleMailbox      = "mailbox"
	RoleClientAccess = "clientaccess"
	RoleHubTransport = "hubtransport"
)

func (e Env) withRole(role string) []string {
	var out []string
	for _, s := range e.Servers {
		for _, r := range s.Roles {
			if strings.EqualFold(r, role) {
				out = append(out, strings.ToUpper(s.Name))
				break
			}
		}
	}
	return out
}

func (e Env) known(name string) bool {
	if len(e.Servers) == 0 {
		return true
	}
	for _, s := range e.Servers {
		if strings.EqualFold(s.Name, name) {
			return true
		}
	}
	return false
}

// Step is one unit of work on one server, of one of two kinds. An Exchange step has
// Calls: typed cmdlet pipelines sent to the server's Exchange endpoint, and Script is
// only their rendering for people (RenderCalls). A Windows step (NLB, DNS) has no
// Calls: Script is a complete PowerShell 2.0 script run over WinRS, as
// docs/POWERSHELL.md describes, and it never loads Exchange.
type Step struct {
	Target  string // the server's NetBIOS name, upper case: the runner maps it to an address
	Calls   []Call `json:"calls,omitempty"`
	Script  string // what people read; what WinRS runs when Calls is empty
	Purpose string // one line for people: what this step does
	// Timeout, when set, is this step's own time limit in place of the runner's
	// per-command timeout: a seed runs inside Update-MailboxDatabaseCopy for as long as
	// the database takes to copy, and ending the step ends the seed.
	Timeout time.Duration `json:"timeout,omitempty"`
	// Then, when set, is polled after this step succeeds and before the next one
	// starts, as Plan.Wait is after the last: a change made of several switchovers
	// (dag maintenance start, dag rebalance) moves one database at a time, each
	// Mounted with every other copy Healthy before the next moves, as a drill does.
	Then *Wait `json:"then,omitempty"`
}

// Exchange reports whether the step goes to the Exchange endpoint.
func (s Step) Exchange() bool { return len(s.Calls) > 0 }

// exchangeStep builds an Exchange step whose text is its calls' rendering.
func exchangeStep(target, purpose string, calls ...Call) Step {
	return Step{Target: target, Calls: calls, Script: RenderCalls(calls), Purpose: purpose}
}

// WaitSection is the section every WinRS wait script prints last: one row with the
// columns Done and Failed ("True" or "False") and Detail (a progress line for people).
const WaitSection = "wait"

// Wait is a read-only step the runner polls after the steps succeed, until it is done
// or failed, or Budget runs out. A WinRS wait's script computes that itself (its wait
// section); an Exchange wait's calls only read, and Until decides in Go, because the
// Exchange endpoint runs no script. Either way a Wait is plain data that survives
// being stored.
type Wait struct {
	Step     Step
	Until    *Until        // set for an Exchange wait
	Progress string        // what people are told while it polls: "seeding MB01 to EX10-MB02"
	Budget   time.Duration // give up (and report) after this long
	Interval time.Duration // between polls
}

// Check reads one poll's output. err is set when the output cannot be judged.
func (w *Wait) Check(t Tables) (done, failed bool, detail string, err error) {
	if w.Until != nil {
		return w.Until.Check(t)
	}
	rows := t[WaitSection]
	if len(rows) != 1 {
		return false, false, "", fmt.Errorf("wait output has %d rows in section %q, want 1", len(rows), WaitSection)
	}
	r := rows[0]
	return isTrue(r["Done"]), isTrue(r["Failed"]), r["Detail"], nil
}

// Tables is one script's parsed output: section name -> rows, each row column -> value,
// exactly as ConvertTo-Csv printed them: plain data, what the runner's parsed output
// converts to directly.
type Tables map[string][]map[string]string

// Severity ranks a Finding.
type Severity int

const (
	Info    Severity = iota // for the approver's information
	Warning                 // worth reading before approving
	Blocker                 // the change must not be offered for approval
)

func (s Severity) String() string {
	switch s {
	case Info:
		return "info"
	case Warning:
		return "warning"
	case Blocker:
		return "blocker"
	}
	return fmt.Sprintf("Severity(%d)", int(s))
}

// Finding is one conclusion of a preflight, written for the approver.
type Finding struct {
	Severity Severity
	Message  string
	// Record, when set, is data the finding states, kept with the request so that a
	// later command can read it back exactly instead of parsing Message: casarray
	// assign records each database's RpcClientAccessServer before the change
	// (NewRecord: database name -> value, "" for an empty one), which casarray restore
	// sets again. It is text, so that a Finding stays comparable.
	Record string `json:",omitempty"`
}

// NewRecord is a Finding.Record holding m: a JSON object, keys sorted.
func NewRecord(m map[string]string) string {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // strings always marshal
	}
	return string(b)
}

// ReadRecord reads a Finding.Record back; ok is false when it is not one.
func ReadRecord(s string) (m map[string]string, ok bool) {
	if err := json.Unmarshal([]byte(s), &m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}

// Findings is what a preflight concluded.
type Findings struct {
	List []Finding
	// NoOp means the organisation is already as the command asks ("E14-DAG already
	// exists with ..."): nothing needs to run, and nothing should be approved.
	NoOp bool
	// Lock, when set, replaces Plan.Lock: some commands only learn from the preflight
	// which DAG they touch (a database's DAG), and changes to one DAG must not overlap.
	Lock string
	// Steps, when not nil, replace Plan.Steps (see Plan.Decide): some changes only
	// learn from the preflight exactly what to change (casarray assign: the databases
	// of the array's Active Directory site; nlb add-host: the cluster's parameters and
	// port rules as an existing host holds them), and the approvers see those steps.
	Steps []Step
}

// Blocked reports whether any finding is a Blocker.
func (f Findings) Blocked() bool {
	for _, x := range f.List {
		if x.Severity == Blocker {
			return true
		}
	}
	return false
}

// String is the findings as plain text lines, "blocker: ...".
func (f Findings) String() string {
	var b strings.Builder
	for _, x := range f.List {
		fmt.Fprintf(&b, "%s: %s\n", x.Severity, x.Message)
	}
	if f.NoOp {
		b.WriteString("nothing to do\n")
	}
	return b.String()
}

func (f *Findings) add(s Severity, format string, args ...any) {
	f.List = append(f.List, Finding{Severity: s, Message: fmt.Sprintf(format, args...)})
}

func (f *Findings) noop(format string, args ...any) {
	f.add(Info, format, args...)
	f.NoOp = true
}

// Plan is everything that will happen for one invocation, computed before anything
// runs, so that an approver sees exactly what will run and where.
type Plan struct {
	Command  string  // the invocation's canonical text
	Summary  string  // one line for people
	ReadOnly bool    // no approval needed
	Handler  Handler // HandlerBot plans have no scripts at all
	// Preflight are read-only scripts run before the change is offered for approval;
	// Evaluate turns their output into Findings.
	Preflight []Step
	// Steps run in order, each only if the one before succeeded. For read-only
	// commands these are the reads.
	Steps []Step
	// Lock names what a change touches ("dag:E14-DAG", "nlb:client.msglab.local",
	// "casarray", "dns:msglab.local/client"); runners run one change per lock at a
	// time. Empty for read-only plans.
	Lock string
	Wait *Wait // nil when the steps' end is the change's end
	// Procedure, for a change whose scripts are decided while it runs (a failover
	// drill), says for people what will run instead of Steps; CarriedOutBy is that
	// procedure with its typed arguments, what an approval stores and runs.
	Procedure    string
	CarriedOutBy *Procedure
	// Decided, for a change whose steps the preflight decides (Findings.Steps), says
	// for people what they will be before the preflight has run (`exchops plan`).
	// A plan may instead hold Steps with placeholders that are not PowerShell (nlb
	// add-host), so that they can neither run nor be approved before the preflight.
	Decided string

	evaluate func(results []Tables) Findings
}

// Evaluate judges the preflight output: results holds one Tables per Preflight step,
// in order. Missing results are a Blocker: a change is never offered on partial
// knowledge. For a plan whose steps depend on what the preflight read, the findings
// carry them (Findings.Steps); Decide applies them.
func (p *Plan) Evaluate(results []Tables) Findings {
	if len(p.Preflight) == 0 {
		return Findings{}
	}
	if len(results) != len(p.Preflight) {
		var f Findings
		f.add(Blocker, "the preflight is incomplete: %d of %d reads returned", len(results), len(p.Preflight))
		return f
	}
	if p.evaluate == nil {
		return Findings{}
	}
	return p.evaluate(results)
}

// Decide returns the plan as its preflight's findings fix it: a copy whose Steps are
// f.Steps when the preflight decided them, else p itself. What is approved, hashed and
// run is the decided plan.
func (p *Plan) Decide(f Findings) *Plan {
	if f.Steps == nil {
		return p
	}
	d := *p
	d.Steps, d.Decided = f.Steps, ""
	return &d
}

// String is what `exchops plan` prints and what an approval shows in full: the
// command, the lock, and every step with the server it runs on: an Exchange step as
// its cmdlet lines, a WinRS step as its script verbatim.
func (p *Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "command:  %s\n", p.Command)
	fmt.Fprintf(&b, "summary:  %s\n", p.Summary)
	switch {
	case p.Handler == HandlerBot:
		b.WriteString("kind:     bot command (answered by exchops, runs no PowerShell)\n")
	case p.ReadOnly:
		b.WriteString("kind:     read-only (runs without approval)\n")
	default:
		b.WriteString("kind:     change (needs a second admin's approval)\n")
	}
	if p.Lock != "" {
		fmt.Fprintf(&b, "lock:     %s\n", p.Lock)
	}
	for i, s := range p.Preflight {
		fmt.Fprintf(&b, "\n=== preflight %d of %d on %s%s: %s\n%s", i+1, len(p.Preflight), s.Target, s.via(), s.Purpose, s.Script)
	}
	for i, s := range p.Steps {
		fmt.Fprintf(&b, "\n=== step %d of %d on %s%s: %s\n%s", i+1, len(p.Steps), s.Target, s.via(), s.Purpose, s.Script)
		if w := s.Then; w != nil {
			fmt.Fprintf(&b, "\n=== then wait on %s%s before the next step: %s (every %s, for at most %s)\n%s", w.Step.Target, w.Step.via(), w.Progress, w.Interval, w.Budget, w.Step.Script)
			if w.Until != nil {
				fmt.Fprintf(&b, "# exchops: %s\n", w.Until)
			}
		}
	}
	if p.Decided != "" {
		fmt.Fprintf(&b, "\n=== steps, decided by the preflight:\n%s\n", p.Decided)
	}
	if p.Procedure != "" {
		fmt.Fprintf(&b, "\n=== then, decided while it runs:\n%s\n", p.Procedure)
	}
	if w := p.Wait; w != nil {
		fmt.Fprintf(&b, "\n=== then wait on %s%s: %s (every %s, for at most %s)\n%s", w.Step.Target, w.Step.via(), w.Progress, w.Interval, w.Budget, w.Step.Script)
		if w.Until != nil {
			fmt.Fprintf(&b, "# exchops: %s\n", w.Until)
		}
	}
	return b.String()
}

// via says how a step reaches its server, for the plan's headers.
func (s Step) via() string {
	if s.Exchange() {
		return " (Exchange PowerShell)"
	}
	return " (WinRS script)"
}

// Plan computes the plan for the invocation. Errors are *UsageError when the
// invocation names something the configuration does not know, plain errors when the
// configuration lacks what the command needs.
func (inv *Command) Plan(env Env) (*Plan, error) {
	p, err := inv.Spec.plan(inv, env)
	if err != nil {
		return nil, err
	}
	p.Command = inv.Text
	p.ReadOnly = inv.Spec.ReadOnly
	p.Handler = inv.Spec.Handler
	return p, nil
}

func isTrue(s string) bool { return strings.EqualFold(strings.TrimSpace(s), "true") }
