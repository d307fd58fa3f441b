package schedules

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/clock"
)

// Drill defaults, from EXCHANGE.md: Initializing normally lasts 15-30 s, a move times
// out after a few minutes.
const (
	DefaultMoveTimeout  = 5 * time.Minute
	DefaultPollInterval = 10 * time.Second
	DefaultLockWait     = 10 * time.Minute
)

// DrillOptions tune a drill. The zero value is EXCHANGE.md's procedure.
type DrillOptions struct {
	// Clock paces the polls and measures the time-outs and the scorecard's times
	// (default the wall clock); it should be the runner's.
	Clock clock.Clock
	// Timeout bounds each move: from Move-ActiveMailboxDatabase until the new copy is
	// Mounted and every other copy Healthy (default 5 minutes).
	Timeout time.Duration
	// Interval is the pause between polls of the copies (default 10 s).
	Interval time.Duration
	// LockWait bounds the wait for the DAG's lock when another change holds it
	// (default 10 minutes, real time).
	LockWait time.Duration
	// Thresholds are the queue limits of the pre-checks. Their Ignore list does not
	// apply: a drill moves every database and checks every copy.
	Thresholds Thresholds
}

func (o *DrillOptions) defaults() {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultMoveTimeout
	}
	if o.Interval <= 0 {
		o.Interval = DefaultPollInterval
	}
	if o.LockWait <= 0 {
		o.LockWait = DefaultLockWait
	}
}

// Outcome is how a drill ended.
type Outcome string

const (
	Passed  Outcome = "passed"  // every database moved and came back where it was
	Aborted Outcome = "aborted" // a pre-check failed: nothing was moved
	Stopped Outcome = "stopped" // a move was blocked, failed or timed out: the drill stopped there
)

// MoveResult is how one switchover ended.
type MoveResult string

const (
	MoveOK        MoveResult = "ok"
	MoveTimedOut  MoveResult = "timed out"
	MoveFailed    MoveResult = "failed"
	MoveBlocked   MoveResult = "blocked"    // the failover preflight found a blocker; nothing ran
	MoveNotNeeded MoveResult = "not needed" // already active where it should go
)

// Scorecard is what a drill did, per database: plain data, stored as JSON for the
// trend.
type Scorecard struct {
	DAG       string          `json:"dag"`
	Schedule  string          `json:"schedule,omitempty"`
	Started   time.Time       `json:"started"`
	Finished  time.Time       `json:"finished"`
	Outcome   Outcome         `json:"outcome"`
	Reason    string          `json:"reason,omitempty"` // why it was aborted or stopped
	Databases []DatabaseDrill `json:"databases,omitempty"`
}

// DatabaseDrill is one database's part of a drill.
type DatabaseDrill struct {
	Database  string `json:"database"`
	StartedOn string `json:"started_on"` // where it was active when the drill began
	Preferred string `json:"preferred"`  // its activation preference 1 server (shown, not a target)
	Moves     []Move `json:"moves,omitempty"`
	Result    string `json:"result"`         // passed, stopped, not run, skipped
	Note      string `json:"note,omitempty"` // why it was skipped
}

// Move is one switchover.
type Move struct {
	Kind    string     `json:"kind"` // away, back, or failback (after a move that went wrong)
	From    string     `json:"from"`
	To      string     `json:"to"`
	Started time.Time  `json:"started"`
	Result  MoveResult `json:"result"`
	Detail  string     `json:"detail,omitempty"`
	// TimeToMount is from the start of Move-ActiveMailboxDatabase until it returned
	// with the database mounted on To.
	TimeToMount time.Duration `json:"time_to_mount,omitempty"`
	// TimeToHealthy is from the start until every other copy was Healthy again.
	TimeToHealthy time.Duration `json:"time_to_healthy,omitempty"`
}

// DrillError is Drill's error when it did not pass: the scorecard says the rest.
type DrillError struct {
	DAG     string
	Outcome Outcome
	Reason  string
}

func (e *DrillError) Error() string {
	return fmt.Sprintf("failover drill of %s %s: %s", e.DAG, e.Outcome, e.Reason)
}

// Drill runs EXCHANGE.md's failover drill on a DAG while holding its lock
// ("dag:<DAG>", the lock every change to the DAG takes):
//
//  1. pre-checks from a fresh health report, aborting with the reason when any member
//     is not operational, any replication check is not Passed, any DAG network is not
//     Up, or any copy is not Mounted/Healthy, has a queue at the limit, a content index
//     that is neither Healthy nor Disabled, or its activation suspended (a lagged
//     copy's replay queue and suspended activation are on purpose and do not count);
//  2. the failback plan: each database's active server, where it goes back (the
//     drill tests failover, it does not rebalance: a database that was not on its
//     preference-1 server stays where the administrators left it);
//  3. one database at a time: a lossless switchover (the `failover <db> to=<server>`
//     command's own preflight and script: never a -Skip switch, never BestEffort) to
//     the best other copy that is not lagged (a database with no such copy is
//     skipped), waiting until it is Mounted and the other copies Healthy,
//     then the same back to the server it started on.
//
// A move that is blocked, fails or does not finish within the time-out stops the
// drill, and the database is failed back to the server it started on if it is not
// there. progress (may be nil) is told what happens, a line at a time.
//
// The scorecard is returned whenever the drill started, with a *DrillError when it
// did not pass; a nil scorecard means the request itself was wrong (not a DAG name,
// a configuration without a management server).
func Drill(ctx context.Context, r Runner, env commands.Env, dag string, opt DrillOptions, progress func(string)) (*Scorecard, error) {
	opt.defaults()
	inv, err := commands.Drill(dag)
	if err != nil {
		return nil, err
	}
	dag = inv.Value("dag")
	if _, err := commands.DAGRead(env, dag); err != nil {
		return nil, err
	}
	d := &driller{r: r, env: env, opt: opt, clk: opt.Clock, say: func(string) {}}
	if progress != nil {
		d.say = progress
	}
	sc := &Scorecard{DAG: dag, Started: d.clk.Now().UTC()}
	end := func(o Outcome, reason string) (*Scorecard, error) {
		sc.Outcome, sc.Reason, sc.Finished = o, reason, d.clk.Now().UTC()
		if o == Passed {
			d.say(fmt.Sprintf("The drill of %s passed: every database moved and came back to the server it started on.", dag))
			return sc, nil
		}
		d.say(fmt.Sprintf("The drill of %s %s: %s", dag, o, reason))
		return sc, &DrillError{DAG: dag, Outcome: o, Reason: reason}
	}

	d.say(fmt.Sprintf("Failover drill of %s: taking the DAG's lock", dag))
	lctx, cancel := context.WithTimeout(ctx, opt.LockWait)
	unlock, err := r.Lock(lctx, "dag:"+dag)
	cancel()
	if err != nil {
		return end(Aborted, "another change to "+dag+" holds its lock: "+err.Error())
	}
	defer unlock()

	d.say("Pre-checks: reading the health of " + dag)
	rep, err := Collect(ctx, r, env, dag, Thresholds{CopyQueue: opt.Thresholds.CopyQueue, ReplayQueue: opt.Thresholds.ReplayQueue, ReplicationOnly: true}, opt.Clock)
	if err != nil {
		return end(Aborted, "the pre-checks could not read the DAG: "+err.Error())
	}
	if problems := precheck(rep, opt.Thresholds); len(problems) > 0 {
		return end(Aborted, "the pre-checks found "+strings.Join(problems, "; ")+" (nothing was moved)")
	}

	// The failback plan, recorded before anything moves.
	for _, db := range rep.Databases {
		dd := DatabaseDrill{Database: db.Name, StartedOn: db.MountedOn, Preferred: db.Preferred, Result: "not run"}
		if dd.Preferred == "" {
			dd.Preferred = db.MountedOn
		}
		sc.Databases = append(sc.Databases, dd)
	}
	var plan []string
	for _, db := range sc.Databases {
		plan = append(plan, fmt.Sprintf("%s back to %s (preference 1 %s)", db.Database, db.StartedOn, db.Preferred))
	}
	d.say("Pre-checks passed. Failback plan: " + strings.Join(plan, ", "))

	for i := range sc.Databases {
		db := &sc.Databases[i]
		away := bestOther(rep, db.Database, db.StartedOn)
		// A database whose other copies are all lagged has nowhere a drill may move
		// it: activating a lagged copy would throw its point-in-time recovery away.
		if away == "" {
			db.Result = "skipped"
			db.Note = "its other copies are lagged, and a drill never activates a lagged copy"
			d.say(db.Database + ": not moved: " + db.Note)
			continue
		}
		m := d.move(ctx, db.Database, "away", db.StartedOn, away)
		db.Moves = append(db.Moves, m)
		if m.Result == MoveOK && !commands.SameHost(away, db.StartedOn) {
			m = d.move(ctx, db.Database, "back", away, db.StartedOn)
			db.Moves = append(db.Moves, m)
		}
		// "Not needed" is fine on the way back (it is already home), never on the
		// way out: the pre-checks saw it active elsewhere, so something moved it.
		if m.Result != MoveOK && (m.Kind == "away" || m.Result != MoveNotNeeded) {
			db.Result = "stopped"
			reason := fmt.Sprintf("%s: the move from %s to %s %s: %s", db.Database, m.From, m.To, m.Result, m.Detail)
			if fb := d.failback(ctx, db.Database, db.StartedOn); fb != nil {
				db.Moves = append(db.Moves, *fb)
				if fb.Result != MoveOK && fb.Result != MoveNotNeeded {
					reason += fmt.Sprintf("; the failback to %s %s too: %s", db.StartedOn, fb.Result, fb.Detail)
				}
			}
			return end(Stopped, reason)
		}
		db.Result = string(Passed)
	}
	return end(Passed, "")
}

// precheck lists what stops a drill before it moves anything.
func precheck(rep *Report, th Thresholds) []string {
	var p []string
	for _, e := range rep.Errors {
		p = append(p, "a read failed ("+e+")")
	}
	st := rep.DAGStatus
	if len(st.Servers) < 2 && len(rep.Errors) == 0 {
		p = append(p, fmt.Sprintf("%s has %d members: a drill needs two", rep.DAG, len(st.Servers)))
	}
	for _, m := range st.Servers {
		if !hasHost(st.OperationalServers, m) {
			p = append(p, m+" is not an operational server")
		}
	}
	for _, m := range rep.Members {
		for _, c := range m.Checks {
			if !c.Passed() {
				p = append(p, fmt.Sprintf("%s's replication check %s is %s%s", m.Server, c.Name, orDash(c.Result), colon(c.Error)))
			}
		}
	}
	for _, n := range rep.Networks {
		if !n.Up {
			p = append(p, fmt.Sprintf("DAG network %s is not Up (%s; %s)", n.Name, strings.Join(n.Subnets, ", "), strings.Join(n.Interfaces, ", ")))
		}
	}
	if len(rep.Databases) == 0 && len(rep.Errors) == 0 {
		p = append(p, rep.DAG+" holds no databases")
	}
	for _, db := range rep.Databases {
		switch {
		case db.MountedOn == "":
			p = append(p, db.Name+" is not mounted")
		case db.Copies < 2:
			p = append(p, db.Name+" has one copy: there is nowhere to move it")
		}
	}
	for _, c := range rep.Copies {
		var why []string
		if st := strings.ToLower(c.Status); st != "mounted" && st != "healthy" {
			why = append(why, "is "+c.Status)
		}
		if c.CopyQueue >= th.copyLimit() {
			why = append(why, fmt.Sprintf("has a copy queue of %d", c.CopyQueue))
		}
		// A lagged copy's long replay queue and suspended activation are on purpose.
		if c.ReplayQueue >= th.replayLimit() && !c.Lagged() {
			why = append(why, fmt.Sprintf("has a replay queue of %d", c.ReplayQueue))
		}
		if c.ContentIndex == "" || !commands.IndexUsable(c.ContentIndex) {
			why = append(why, "has content index "+orDash(c.ContentIndex))
		}
		if c.ActivationSuspended && !c.Lagged() {
			why = append(why, "has its activation suspended")
		}
		if len(why) > 0 {
			p = append(p, "copy "+c.Name()+" "+strings.Join(why, ", "))
		}
	}
	return p
}

// bestOther is the copy Active Manager would pick: the lowest activation preference
// on another server, never a lagged copy ("" when there is none).
func bestOther(rep *Report, db, active string) string {
	var cands []CopyDetail
	for _, c := range rep.Copies {
		if c.Database == db && !commands.SameHost(c.Server, active) && !c.Lagged() {
			cands = append(cands, c)
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		pi, pj := cands[i].Preference, cands[j].Preference
		if pi == 0 {
			pi = 1 << 20
		}
		if pj == 0 {
			pj = 1 << 20
		}
		return pi < pj
	})
	if len(cands) == 0 {
		return ""
	}
	return cands[0].Server
}

type driller struct {
	r   Runner
	env commands.Env
	opt DrillOptions
	clk clock.Clock
	say func(string)
}

// move switches db over from one server to another with the failover command's own
// preflight, script and wait, bounded by the drill's time-out on its clock. While
// Move-ActiveMailboxDatabase runs, the copies are polled for progress and to notice
// the time-out; when it passes, the move is cancelled (the runner stops the remote
// command).
func (d *driller) move(ctx context.Context, db, kind, from, to string) Move {
	m := Move{Kind: kind, From: from, To: to, Started: d.clk.Now().UTC()}
	if to == "" {
		m.Result, m.Detail = MoveBlocked, "there is no other copy to move to"
		return m
	}
	inv, err := commands.Failover(db, to)
	if err != nil {
		m.Result, m.Detail = MoveFailed, err.Error()
		return m
	}
	p, err := inv.Plan(d.env)
	if err != nil {
		m.Result, m.Detail = MoveFailed, err.Error()
		return m
	}
	f, err := d.r.Preflight(ctx, p)
	switch {
	case err != nil:
		m.Result, m.Detail = MoveFailed, "its preflight could not read the copies: "+err.Error()
		return m
	case f.NoOp:
		m.Result, m.Detail = MoveNotNeeded, strings.TrimSpace(f.String())
		return m
	case f.Blocked():
		var b []string
		for _, x := range f.List {
			if x.Severity == commands.Blocker {
				b = append(b, strings.TrimSuffix(x.Message, "."))
			}
		}
		m.Result, m.Detail = MoveBlocked, strings.Join(b, "; ")
		return m
	}

	d.say(fmt.Sprintf("%s: moving from %s to %s (lossless, %s)", db, from, to, kind))
	start := d.clk.Now()
	m.Started = start.UTC()
	deadline := start.Add(d.opt.Timeout)
	type returned struct {
		err error
		at  time.Time
	}
	done := make(chan returned, 1)
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	step := p.Steps[0]
	go func() {
		_, err := d.r.RunStep(mctx, step, nil)
		done <- returned{err, d.clk.Now()}
	}()
	detail := ""
	var ret returned
	for waiting := true; waiting; {
		select {
		case ret = <-done:
			waiting = false
			continue
		default:
		}
		now := d.clk.Now()
		if !now.Before(deadline) {
			cancel()
			<-done
			m.Result = MoveTimedOut
			m.Detail = fmt.Sprintf("Move-ActiveMailboxDatabase did not return within %s, so exchops stopped it (Active Manager may still finish the move)", human(d.opt.Timeout))
			return m
		}
		if err := d.clk.Sleep(ctx, min(d.opt.Interval, deadline.Sub(now))); err != nil {
			cancel()
			<-done
			m.Result, m.Detail = MoveFailed, "the drill was cancelled during the move"
			return m
		}
		select {
		case ret = <-done:
			waiting = false
			continue
		default:
		}
		// A poll while the cmdlet runs: progress for people, and each one costs real
		// time, so the time-out cannot run ahead of the servers.
		if _, _, det, err := d.poll(ctx, p.Wait); err == nil && det != "" && det != detail {
			detail = det
			d.say(fmt.Sprintf("%s: while moving to %s: %s", db, to, det))
		}
	}
	if ret.err != nil {
		m.Result, m.Detail = MoveFailed, ret.err.Error()
		return m
	}
	m.TimeToMount = ret.at.Sub(start)
	d.say(fmt.Sprintf("%s: Move-ActiveMailboxDatabase returned after %s; waiting for %s to be Mounted and the other copies Healthy", db, human(m.TimeToMount), to))

	failures := 0
	for {
		ok, failed, det, err := d.poll(ctx, p.Wait)
		now := d.clk.Now()
		switch {
		case err != nil:
			failures++
			if ctx.Err() != nil || failures >= 3 {
				m.Result, m.Detail = MoveFailed, "polling the copies failed: "+err.Error()
				return m
			}
		case ok:
			m.TimeToHealthy = now.Sub(start)
			m.Result = MoveOK
			d.say(fmt.Sprintf("%s: Mounted on %s, the other copies Healthy after %s", db, to, human(m.TimeToHealthy)))
			return m
		case failed:
			m.Result, m.Detail = MoveFailed, det
			return m
		default:
			failures = 0
			if det != detail {
				detail = det
				d.say(fmt.Sprintf("%s: %s", db, det))
			}
		}
		if !now.Before(deadline) {
			m.Result = MoveTimedOut
			m.Detail = fmt.Sprintf("%s was not Mounted with every other copy Healthy within %s (last seen: %s)", to, human(d.opt.Timeout), orDash(detail))
			return m
		}
		if err := d.clk.Sleep(ctx, min(d.opt.Interval, deadline.Sub(now))); err != nil {
			m.Result, m.Detail = MoveFailed, "the drill was cancelled while waiting for the copies"
			return m
		}
	}
}

// poll runs a failover wait script once.
func (d *driller) poll(ctx context.Context, w *commands.Wait) (done, failed bool, detail string, err error) {
	if w == nil {
		return false, false, "", errors.New("the failover plan has no wait")
	}
	res, err := d.r.RunStep(ctx, w.Step, nil)
	if err != nil {
		return false, false, "", err
	}
	return w.Check(commands.Tables(res.Tables()))
}

// failback puts db back on the server it was on before the drill (home) after a move
// went wrong: it waits (within the time-out) until the database is mounted somewhere
// and, unless that is home, the copy there is Healthy, then moves it back. nil means
// the drill was cancelled and nothing was attempted.
func (d *driller) failback(ctx context.Context, db, home string) *Move {
	if ctx.Err() != nil {
		return nil
	}
	d.say(fmt.Sprintf("%s: failing back to %s, where it was before the drill", db, home))
	m := Move{Kind: "failback", To: home, Started: d.clk.Now().UTC()}
	inv, err := commands.CopyStatus(db)
	if err != nil {
		m.Result, m.Detail = MoveFailed, err.Error()
		return &m
	}
	p, err := inv.Plan(d.env)
	if err != nil {
		m.Result, m.Detail = MoveFailed, err.Error()
		return &m
	}
	deadline := d.clk.Now().Add(d.opt.Timeout)
	for {
		mounted, homeStatus, err := d.where(ctx, p.Steps[0], home)
		now := d.clk.Now()
		if err == nil && mounted != "" {
			m.From = mounted
			if commands.SameHost(mounted, home) {
				m.Result, m.Detail = MoveNotNeeded, fmt.Sprintf("%s is mounted on %s, where it was before the drill", db, mounted)
				d.say(m.Detail)
				return &m
			}
			if strings.EqualFold(homeStatus, "Healthy") {
				mv := d.move(ctx, db, "failback", mounted, home)
				return &mv
			}
		}
		if !now.Before(deadline) {
			m.Result = MoveFailed
			switch {
			case err != nil:
				m.Detail = "could not read the copies: " + err.Error()
			case mounted == "":
				m.Detail = db + " is not mounted on any server: it needs a person now"
			default:
				m.Detail = fmt.Sprintf("the copy on %s stayed %s, so %s could not be moved back from %s", home, orDash(homeStatus), db, mounted)
			}
			return &m
		}
		if d.clk.Sleep(ctx, min(d.opt.Interval, deadline.Sub(now))) != nil {
			m.Result, m.Detail = MoveFailed, "the drill was cancelled during the failback"
			return &m
		}
	}
}

// where reads a database's copies: the server it is mounted on ("" when none) and the
// status of its copy on server.
func (d *driller) where(ctx context.Context, s commands.Step, server string) (mounted, status string, err error) {
	res, err := d.r.RunStep(ctx, s, nil)
	if err != nil {
		return "", "", err
	}
	for _, c := range res.Tables()["copystatus"] {
		srv := strings.ToUpper(commands.ShortHost(c["MailboxServer"]))
		if strings.EqualFold(c["Status"], "Mounted") {
			mounted = srv
		}
		if commands.SameHost(srv, server) {
			status = c["Status"]
		}
	}
	return mounted, status, nil
}

// Text renders the scorecard: the outcome first, then one line per move with its
// times, and what went wrong.
func (s *Scorecard) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Failover drill of %s: %s\n", s.DAG, strings.ToUpper(string(s.Outcome)))
	took := "-"
	if !s.Finished.IsZero() {
		took = human(s.Finished.Sub(s.Started))
	}
	fmt.Fprintf(&b, "%s · took %s", stamp(s.Started), took)
	moved := 0
	for _, db := range s.Databases {
		if db.Result == string(Passed) {
			moved++
		}
	}
	switch {
	case s.Outcome == Aborted || len(s.Databases) == 0:
		b.WriteString(" · nothing was moved\n")
	case moved == len(s.Databases):
		fmt.Fprintf(&b, " · %s moved and back where they started\n", plural(moved, "database"))
	default:
		fmt.Fprintf(&b, " · %d of %s moved and back where they started\n", moved, plural(len(s.Databases), "database"))
	}
	if s.Schedule != "" {
		fmt.Fprintf(&b, "Schedule %s\n", s.Schedule)
	}
	if s.Reason != "" {
		fmt.Fprintf(&b, "\n%s\n", capitalize(s.Reason))
	}
	rows := [][]string{{"Database", "Move", "From", "To", "Mounted after", "Healthy after", "Result"}}
	var details []string
	for _, db := range s.Databases {
		if len(db.Moves) == 0 {
			rows = append(rows, []string{db.Database, "-", orDash(db.StartedOn), "-", "-", "-", db.Result})
			if db.Note != "" {
				details = append(details, db.Database+": "+db.Note)
			}
			continue
		}
		for _, m := range db.Moves {
			mount, healthy := "-", "-"
			if m.TimeToMount > 0 {
				mount = human(m.TimeToMount)
			}
			if m.TimeToHealthy > 0 {
				healthy = human(m.TimeToHealthy)
			}
			rows = append(rows, []string{db.Database, m.Kind, orDash(m.From), orDash(m.To), mount, healthy, string(m.Result)})
			if m.Result != MoveOK && m.Detail != "" {
				details = append(details, fmt.Sprintf("%s %s: %s", db.Database, m.Kind, m.Detail))
			}
		}
	}
	if len(s.Databases) > 0 {
		section(&b, "Moves", rows)
		for _, x := range details {
			fmt.Fprintf(&b, "- %s\n", oneLine(x))
		}
	}
	return b.String()
}

// Trend compares this drill's times to mount with earlier drills' (any order), per
// database: what a team watches to see failovers getting slower. "" when there is
// nothing to compare.
func (s *Scorecard) Trend(earlier []*Scorecard) string {
	type sample struct {
		at time.Time
		d  time.Duration
	}
	past := map[string][]sample{}
	for _, e := range earlier {
		if e == nil || e == s || e.DAG != s.DAG || e.Started.Equal(s.Started) {
			continue
		}
		for _, db := range e.Databases {
			if d := mountTime(db); d > 0 {
				past[db.Database] = append(past[db.Database], sample{e.Started, d})
			}
		}
	}
	var lines []string
	for _, db := range s.Databases {
		now := mountTime(db)
		ps := past[db.Database]
		if now <= 0 || len(ps) == 0 {
			continue
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i].at.After(ps[j].at) })
		var sum time.Duration
		var shown []string
		for i, p := range ps {
			sum += p.d
			if i < 5 {
				shown = append(shown, human(p.d))
			}
		}
		avg := sum / time.Duration(len(ps))
		lines = append(lines, fmt.Sprintf("- %s: %s now; %s on average over %s (latest first: %s)",
			db.Database, human(now), human(avg), plural(len(ps), "earlier drill"), strings.Join(shown, ", ")))
	}
	if len(lines) == 0 {
		return ""
	}
	return "Trend (time to mount, the mean of the moves away and back):\n" + strings.Join(lines, "\n") + "\n"
}

// mountTime is a database's mean time to mount over its successful moves.
func mountTime(db DatabaseDrill) time.Duration {
	var sum time.Duration
	n := 0
	for _, m := range db.Moves {
		if m.Result == MoveOK && m.TimeToMount > 0 && m.Kind != "failback" {
			sum += m.TimeToMount
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / time.Duration(n)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
