package schedules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/config"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/internal/report"
)

// The jobs a schedule runs.
const (
	JobHealth = "health"
	JobDrill  = "drill"
)

// Where a schedule comes from.
const (
	SourceConfig = "config" // the configuration file's schedules: changed there
	SourceChat   = "chat"   // added with `schedule add`, kept in the store
)

// Time bounds of one run (real time): a run that hangs must not keep its schedule
// skipping forever.
const (
	healthRunLimit = 30 * time.Minute
	drillRunLimit  = 6 * time.Hour
)

// The procedures (commands.Procedure kinds) of the schedule changes that need a
// second admin's approval: adding a drill schedule (Args: the Entry) and removing one
// (Args: RemoveArgs). Perform carries them out once approved.
const (
	ProcedureAddSchedule    = "schedule add"
	ProcedureRemoveSchedule = "schedule remove"
)

// RemoveArgs are the arguments of ProcedureRemoveSchedule.
type RemoveArgs struct {
	Name string `json:"name"`
}

// Entry is one schedule.
type Entry struct {
	Name     string `json:"name"`
	Spec     string `json:"spec"`               // the cron fields, without a zone prefix
	TimeZone string `json:"timezone,omitempty"` // "" is the scheduler's default zone
	Job      string `json:"job"`                // JobHealth or JobDrill
	DAG      string `json:"dag"`
	// PostTo are the channels it posts to, by the registered name of the chat
	// platform each is on.
	PostTo  map[string]string `json:"post_to,omitempty"`
	Source  string            `json:"source"`             // SourceConfig or SourceChat
	AddedBy string            `json:"added_by,omitempty"` // the person, for SourceChat
	AddedAt time.Time         `json:"added_at,omitzero"`
}

// Store keeps schedules added in chat, when each schedule last ran, the health
// reports and the drill scorecards; store.DB implements it.
type Store interface {
	// Schedules returns the schedules added in chat.
	Schedules(ctx context.Context) ([]Entry, error)
	// AddSchedule stores a schedule; ErrExists when one has its name.
	AddSchedule(ctx context.Context, e Entry) error
	// RemoveSchedule deletes a schedule and its last run; ErrNotFound when there is none.
	RemoveSchedule(ctx context.Context, name string) error
	// LastRun is when the schedule last fired (the zero time when never).
	LastRun(ctx context.Context, name string) (time.Time, error)
	// SetLastRun records that the schedule fired at at.
	SetLastRun(ctx context.Context, name string, at time.Time) error
	// SaveReport keeps a health report.
	SaveReport(ctx context.Context, r *Report) error
	// Reports returns a DAG's reports made at or after since, oldest first.
	Reports(ctx context.Context, dag string, since time.Time) ([]*Report, error)
	// SaveScorecard keeps a drill's scorecard.
	SaveScorecard(ctx context.Context, s *Scorecard) error
	// Scorecards returns a DAG's most recent scorecards, newest first, at most limit.
	Scorecards(ctx context.Context, dag string, limit int) ([]*Scorecard, error)
}

// The Store's errors.
var (
	ErrExists   = errors.New("a schedule with this name exists")
	ErrNotFound = errors.New("no such schedule")
)

// Poster posts what schedules have to say into a schedule's channels (Entry.PostTo),
// as a report made of data (a health report's tables stay tables) that each front
// renders its own way; the bot implements it by handing each channel to its
// platform's front. An error is logged; the post is the Poster's to retry.
type Poster interface {
	Publish(ctx context.Context, to map[string]string, rep *report.Report) error
}

// Config is what a Scheduler needs.
type Config struct {
	Store  Store
	Runner Runner
	Env    commands.Env
	Poster Poster
	// Schedules are the configuration file's.
	Schedules []config.Schedule
	// Location is the zone of schedules that name none (default time.Local).
	Location *time.Location
	// Clock paces drills and measures their time-outs (default the wall clock; it
	// should be the runner's). Activations themselves follow the wall clock, as cron
	// does.
	Clock clock.Clock
	// Thresholds judge the health reports.
	Thresholds Thresholds
	// Observer, when set, hears every health report kept (the metrics).
	Observer Observer
	// Drill tunes the drills (its Clock and Thresholds come from this Config).
	Drill DrillOptions
	// ChartWindow is how far back the chart attached to a health report reaches
	// (default 7 days).
	ChartWindow time.Duration
	// Platforms are the registered names of the chat platforms whose channels a
	// schedule can post to (main registers them). A schedule added in chat on another
	// front (the console, which shows every post anyway) names no channel.
	Platforms []string
	// Policy, when set, limits adding and removing schedules to people with the admin
	// role; anyone exchops knows may list them.
	Policy *approvals.Policy
	Logger *slog.Logger
	// Now is the wall clock (default time.Now): when runs happen, for missed runs.
	Now func() time.Time
}

// Scheduler runs the schedules. Create it with New, then Start it.
type Scheduler struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	jobs    map[string]*job // by lower-case name
	cron    *cron.Cron
	ctx     context.Context // ends at Stop: runs in flight are cancelled
	cancel  context.CancelFunc
	started bool
}

// job is one schedule in the cron.
type job struct {
	s     *Scheduler
	entry Entry
	p     parsed
	id    cron.EntryID

	mu      sync.Mutex
	running time.Time // when the run in flight started; zero when none
}

// New checks the configuration's schedules and returns a scheduler; nothing runs
// until Start.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Store == nil || cfg.Poster == nil || cfg.Runner == nil {
		return nil, errors.New("schedules: a Store, a Poster and a Runner are required")
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ChartWindow <= 0 {
		cfg.ChartWindow = 7 * 24 * time.Hour
	}
	cfg.Drill.Clock = cfg.Clock
	cfg.Drill.Thresholds = cfg.Thresholds
	s := &Scheduler{cfg: cfg, log: cfg.Logger, jobs: map[string]*job{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	var errs []error
	for i, cs := range cfg.Schedules {
		e := Entry{Name: cs.Name, Spec: cs.Cron, TimeZone: cs.Timezone, Job: cs.Job, DAG: cs.DAG, PostTo: cs.PostTo.Channels(), Source: SourceConfig}
		j, err := s.newJob(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("schedules[%d] (%s): %w", i, cs.Name, err))
			continue
		}
		if s.jobs[key(e.Name)] != nil {
			errs = append(errs, fmt.Errorf("schedules[%d]: the name %s is used twice", i, cs.Name))
			continue
		}
		s.jobs[key(e.Name)] = j
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

func key(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// newJob checks an entry and parses its spec.
func (s *Scheduler) newJob(e Entry) (*job, error) {
	if e.Name == "" || len(e.Name) > 64 || strings.IndexFunc(e.Name, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r == ' ' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) >= 0 {
		return nil, fmt.Errorf("the name %q must be 1-64 letters, digits, spaces or - _ .", e.Name)
	}
	if e.Job != JobHealth && e.Job != JobDrill {
		return nil, fmt.Errorf("the job %q is not %s or %s", e.Job, JobHealth, JobDrill)
	}
	inv, err := commands.Drill(e.DAG) // a health report's DAG is checked the same way
	if err != nil || inv.Value("dag") == "" {
		return nil, fmt.Errorf("%q is not a DAG name: it must be %s", e.DAG, commands.KindDAG.Rule())
	}
	e.DAG = inv.Value("dag")
	for _, ch := range e.PostTo {
		if len(ch) > 80 || strings.IndexFunc(ch, func(r rune) bool {
			return !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		}) >= 0 {
			return nil, fmt.Errorf("%q is not a channel id: letters, digits, - and _ only", ch)
		}
	}
	p, err := parseSpec(e.Spec, e.TimeZone, s.cfg.Location, s.cfg.Now())
	if err != nil {
		return nil, err
	}
	e.Spec, e.TimeZone = p.bare, p.zone
	return &job{s: s, entry: e, p: p}, nil
}

// Start loads the schedules added in chat, reports the runs missed while exchops was
// not running, and starts the cron. A schedule added in chat that no longer parses is
// logged and left out.
func (s *Scheduler) Start(ctx context.Context) error {
	stored, err := s.cfg.Store.Schedules(ctx)
	if err != nil {
		return fmt.Errorf("schedules: reading the schedules added in chat: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("schedules: already started")
	}
	for _, e := range stored {
		e.Source = SourceChat
		if have := s.jobs[key(e.Name)]; have != nil {
			if have.entry.Source == SourceConfig {
				s.log.Warn("a schedule added in chat has the name of one in the configuration; the configuration's runs", "schedule", e.Name)
			}
			continue
		}
		j, err := s.newJob(e)
		if err != nil {
			s.log.Error("a schedule added in chat no longer parses; it does not run", "schedule", e.Name, "err", err)
			continue
		}
		s.jobs[key(e.Name)] = j
	}
	l := cronLogger{s.log}
	s.cron = cron.New(cron.WithLocation(s.cfg.Location), cron.WithLogger(l))
	now := s.cfg.Now()
	for _, j := range s.sortedJobs() {
		s.missed(ctx, j, now)
		s.schedule(j)
	}
	s.cron.Start()
	s.started = true
	return nil
}

// schedule adds a job to the cron. Each job has its own chain, in the order
// LIBRARIES.md prescribes (SkipIfStillRunning, then Recover, so that a panic cannot
// disable the job for good), with loggers that know which schedule it is: a skipped
// run is posted as a note, a panic is posted and logged.
func (s *Scheduler) schedule(j *job) {
	chain := cron.NewChain(cron.SkipIfStillRunning(skipNote{j}), cron.Recover(panicNote{j}))
	j.id = s.cron.Schedule(j.p.sched, chain.Then(j))
}

// missed reports a schedule whose previous activation passed while exchops was down,
// and records now as its last run, so it is reported once. A schedule seen for the
// first time starts its record now.
func (s *Scheduler) missed(ctx context.Context, j *job, now time.Time) {
	e := j.entry
	last, err := s.cfg.Store.LastRun(ctx, e.Name)
	if err != nil {
		s.log.Error("reading a schedule's last run", "schedule", e.Name, "err", err)
		return
	}
	if !last.IsZero() {
		first := j.p.sched.Next(last)
		if !first.IsZero() && !first.After(now) {
			n, latest := 0, first
			for t := first; !t.IsZero() && !t.After(now) && n < 1000; t = j.p.sched.Next(t) {
				n, latest = n+1, t
			}
			text := fmt.Sprintf("%s (%s) missed at %s: exchops was not running then, and the run was not made up.", e.Name, describe(e), j.local(first))
			if n > 1 {
				text = fmt.Sprintf("%s (%s) missed %d runs while exchops was not running, the first at %s, the last at %s; none was made up.", e.Name, describe(e), n, j.local(first), j.local(latest))
			}
			if next := j.p.sched.Next(now); !next.IsZero() {
				text += " The next run is at " + j.local(next) + "."
			}
			s.log.Warn("missed runs", "schedule", e.Name, "missed", n, "first", first)
			s.publish(ctx, e.PostTo, report.FromText("Missed: "+e.Name, text, nil))
		}
	}
	if err := s.cfg.Store.SetLastRun(ctx, e.Name, now); err != nil {
		s.log.Error("recording a schedule's last run", "schedule", e.Name, "err", err)
	}
}

// Stop stops the cron, cancels the runs in flight and waits (a minute at most) until
// they have ended: a drill stops its move and tries to fail back.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	c := s.cron
	s.started = false
	s.mu.Unlock()
	s.cancel()
	if c == nil {
		return
	}
	done := c.Stop()
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	select {
	case <-done.Done():
	case <-t.C:
		s.log.Error("runs still in flight a minute after Stop")
	}
}

// Run carries out one activation (cron calls it).
func (j *job) Run() { j.run(j.s.ctx) }

// run carries out one run unless one is going already (started by RunNow while cron
// fired, say): then it is skipped with the same note as cron's own skip.
func (j *job) run(ctx context.Context) bool {
	s := j.s
	now := s.cfg.Now()
	j.mu.Lock()
	if !j.running.IsZero() {
		j.mu.Unlock()
		skipNote{j}.Info("skip")
		return false
	}
	j.running = now
	j.mu.Unlock()
	defer func() {
		j.mu.Lock()
		j.running = time.Time{}
		j.mu.Unlock()
	}()
	if err := s.cfg.Store.SetLastRun(ctx, j.entry.Name, now); err != nil {
		s.log.Error("recording a schedule's last run", "schedule", j.entry.Name, "err", err)
	}
	switch j.entry.Job {
	case JobHealth:
		ctx, cancel := context.WithTimeout(ctx, healthRunLimit)
		defer cancel()
		s.health(ctx, j.entry)
	case JobDrill:
		ctx, cancel := context.WithTimeout(ctx, drillRunLimit)
		defer cancel()
		s.drill(ctx, j.entry)
	}
	return true
}

// RunNow runs a schedule at once, as if it had fired, and returns when the run has
// ended (its results are posted as usual). It refuses when the schedule is running.
func (s *Scheduler) RunNow(ctx context.Context, name string) error {
	s.mu.Lock()
	j := s.jobs[key(name)]
	s.mu.Unlock()
	if j == nil {
		return &approvals.Refusal{Code: approvals.RefusedNotFound, Msg: fmt.Sprintf("there is no schedule %s: `schedule list` shows them.", name)}
	}
	if !j.run(ctx) {
		return &approvals.Refusal{Code: approvals.RefusedBlocked, Msg: fmt.Sprintf("%s is running already.", j.entry.Name)}
	}
	return nil
}

// health makes, keeps and posts one health report.
func (s *Scheduler) health(ctx context.Context, e Entry) {
	rep, png, err := s.report(ctx, e.DAG, e.Name)
	if err != nil {
		s.log.Error("health report failed", "schedule", e.Name, "err", err)
		s.publish(ctx, e.PostTo, report.FromText(e.DAG+" replication health: no report", fmt.Sprintf("The health report of %s (schedule %s) could not be made: %v", e.DAG, e.Name, err), nil))
		return
	}
	if s.cfg.Thresholds.AlertsOnly && rep.Verdict == OK {
		s.log.Info("health report OK; alerts only, so not posted", "schedule", e.Name)
		return
	}
	doc := rep.Doc()
	doc.Chart = png
	s.publish(ctx, e.PostTo, doc)
}

// Health makes a health report of dag now (the `health <dag>` command), keeps it for
// the trend and draws the chart of the last days (nil when there is nothing to draw).
func (s *Scheduler) Health(ctx context.Context, dag string) (*Report, []byte, error) {
	return s.report(ctx, dag, "")
}

func (s *Scheduler) report(ctx context.Context, dag, schedule string) (*Report, []byte, error) {
	rep, err := Collect(ctx, s.cfg.Runner, s.cfg.Env, dag, s.cfg.Thresholds, s.cfg.Clock)
	if err != nil {
		return nil, nil, err
	}
	rep.At = s.cfg.Now().UTC()
	rep.Schedule = schedule
	for _, e := range rep.ReadErrors() {
		s.log.Warn("health report: a read failed", "dag", rep.DAG, "err", e)
	}
	if err := s.cfg.Store.SaveReport(ctx, rep); err != nil {
		s.log.Error("keeping a health report", "dag", rep.DAG, "err", err)
	}
	if s.cfg.Observer != nil {
		s.cfg.Observer.ObserveReport(rep)
	}
	since := rep.At.Add(-s.cfg.ChartWindow)
	history, err := s.cfg.Store.Reports(ctx, rep.DAG, since)
	if err != nil {
		s.log.Error("reading the health history", "dag", rep.DAG, "err", err)
		history = []*Report{rep}
	}
	png, err := Chart(history, since)
	if err != nil {
		s.log.Error("drawing the health chart", "dag", rep.DAG, "err", err)
		png = nil
	}
	return rep, png, nil
}

// drill runs one scheduled drill, posting its progress and its scorecard with the
// trend against earlier drills.
func (s *Scheduler) drill(ctx context.Context, e Entry) {
	var log []string
	var mu sync.Mutex
	say := func(line string) {
		mu.Lock()
		log = append(log, line)
		mu.Unlock()
	}
	sc, err := Drill(ctx, s.cfg.Runner, s.cfg.Env, e.DAG, s.cfg.Drill, say)
	if sc == nil {
		s.log.Error("drill could not start", "schedule", e.Name, "err", err)
		s.publish(ctx, e.PostTo, report.FromText("Failover drill of "+e.DAG+": not run", fmt.Sprintf("The failover drill of %s (schedule %s) could not start: %v", e.DAG, e.Name, err), nil))
		return
	}
	sc.Schedule = e.Name
	earlier, lerr := s.cfg.Store.Scorecards(ctx, sc.DAG, 10)
	if lerr != nil {
		s.log.Error("reading earlier scorecards", "dag", sc.DAG, "err", lerr)
	}
	if err := s.cfg.Store.SaveScorecard(context.WithoutCancel(ctx), sc); err != nil {
		s.log.Error("keeping a scorecard", "dag", sc.DAG, "err", err)
	}
	text := sc.Text()
	if tr := sc.Trend(earlier); tr != "" {
		text += "\n" + tr
	}
	mu.Lock()
	if len(log) > 0 {
		text += "\nProgress:\n"
		for _, l := range log {
			text += "- " + l + "\n"
		}
	}
	mu.Unlock()
	s.publish(context.WithoutCancel(ctx), e.PostTo, report.FromText(fmt.Sprintf("Failover drill of %s: %s", sc.DAG, sc.Outcome), text, nil))
}

func (s *Scheduler) publish(ctx context.Context, to map[string]string, rep *report.Report) {
	if err := s.cfg.Poster.Publish(ctx, to, rep); err != nil {
		s.log.Error("posting", "title", rep.Heading(), "err", err)
	}
}

// ---- the chat commands ----

// Listing is one schedule as `schedule list` shows it.
type Listing struct {
	Entry
	Next time.Time // the next activation, in the schedule's zone
}

// Entries returns every schedule, sorted by name, with its next run.
func (s *Scheduler) Entries(ctx context.Context) ([]Listing, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Listing
	now := s.cfg.Now()
	for _, j := range s.sortedJobs() {
		next := j.p.sched.Next(now)
		if s.started {
			if ce := s.cron.Entry(j.id); ce.Valid() && !ce.Next.IsZero() {
				next = ce.Next
			}
		}
		out = append(out, Listing{Entry: j.entry, Next: next.In(j.p.loc)})
	}
	return out, nil
}

// List is `schedule list`: every schedule with its spec, zone, job, DAG, channel and
// next run.
func (s *Scheduler) List(ctx context.Context) (string, error) {
	ls, err := s.Entries(ctx)
	if err != nil {
		return "", err
	}
	if len(ls) == 0 {
		return "No schedules. Add one with `schedule add <name> \"<cron>\" health|drill <dag> [channel]`.\n", nil
	}
	rows := [][]string{{"Name", "Cron", "Zone", "Job", "DAG", "Posts to", "Next run", "From"}}
	for _, l := range ls {
		from := "configuration"
		if l.Source == SourceChat {
			from = "chat (" + orDash(l.AddedBy) + ")"
		}
		rows = append(rows, []string{l.Name, l.Spec, s.zoneName(l.Entry), l.Job, l.DAG, channels(l.PostTo), l.Next.Format("2006-01-02 15:04 MST"), from})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s:\n```\n", plural(len(ls), "schedule"))
	table(&b, rows)
	b.WriteString("```\n")
	return b.String(), nil
}

func (s *Scheduler) zoneName(e Entry) string {
	if e.TimeZone != "" {
		return e.TimeZone
	}
	return s.cfg.Location.String() + " (default)"
}

// Add is `schedule add`: a health schedule starts at once; a drill schedule needs a
// second admin's approval, so nothing is added and Add returns the procedure to file
// as a request instead (ProcedureAddSchedule; once approved, Perform adds it).
// Refusals are *approvals.Refusal; a bad spec is a *commands.UsageError. It returns a
// sentence for the person.
func (s *Scheduler) Add(ctx context.Context, person string, e Entry) (string, *commands.Procedure, error) {
	return s.add(ctx, person, e, false)
}

// AddApproved adds a schedule whose request was approved: a drill schedule too.
func (s *Scheduler) AddApproved(ctx context.Context, requester string, e Entry) (string, error) {
	msg, _, err := s.add(ctx, requester, e, true)
	return msg, err
}

func (s *Scheduler) add(ctx context.Context, person string, e Entry, approved bool) (string, *commands.Procedure, error) {
	if err := s.mayChange(person, "schedule add"); err != nil {
		return "", nil, err
	}
	e.Source, e.AddedBy, e.AddedAt = SourceChat, person, s.cfg.Now().UTC()
	j, err := s.newJob(e)
	if err != nil {
		var se *SpecError
		if errors.As(err, &se) {
			u := commands.Lookup("schedule add")
			return "", nil, &commands.UsageError{Command: "schedule add", Arg: "cron", Value: se.Spec, Rule: "is not valid: " + se.Msg, Usage: u.Usage()}
		}
		return "", nil, &approvals.Refusal{Code: approvals.RefusedBlocked, Msg: "this schedule cannot be added: " + err.Error()}
	}
	e = j.entry
	s.mu.Lock()
	taken := s.jobs[key(e.Name)]
	s.mu.Unlock()
	if taken != nil {
		return "", nil, &approvals.Refusal{Code: approvals.RefusedBlocked, Msg: fmt.Sprintf("a schedule named %s exists already (from the %s): choose another name, or remove it first.", taken.entry.Name, sourceWord(taken.entry.Source))}
	}
	if e.Job == JobDrill && !approved {
		asked := e
		asked.Source, asked.AddedBy, asked.AddedAt = "", "", time.Time{}
		proc, err := commands.NewProcedure(ProcedureAddSchedule, asked)
		return "", proc, err
	}
	if err := s.cfg.Store.AddSchedule(ctx, e); err != nil {
		if errors.Is(err, ErrExists) {
			return "", nil, &approvals.Refusal{Code: approvals.RefusedBlocked, Msg: fmt.Sprintf("a schedule named %s exists already: choose another name.", e.Name)}
		}
		return "", nil, fmt.Errorf("schedules: keeping the schedule: %w", err)
	}
	// Its record starts now, so a run missed from here on is reported.
	if err := s.cfg.Store.SetLastRun(ctx, e.Name, s.cfg.Now()); err != nil {
		s.log.Error("recording a schedule's last run", "schedule", e.Name, "err", err)
	}
	s.mu.Lock()
	s.jobs[key(e.Name)] = j
	if s.started {
		s.schedule(j)
	}
	s.mu.Unlock()
	msg := fmt.Sprintf("Added %s: %s, at %q (%s)", e.Name, describe(e), e.Spec, s.zoneName(e))
	if next := j.p.sched.Next(s.cfg.Now()); !next.IsZero() {
		msg += "; the first run is at " + j.local(next)
	}
	return msg + ".", nil, nil
}

// Remove is `schedule remove`: a health schedule added in chat goes at once; a
// drill schedule needs approval (as in Add: Remove returns ProcedureRemoveSchedule to
// file as a request); a schedule from the configuration file is removed there.
func (s *Scheduler) Remove(ctx context.Context, person, name string) (string, *commands.Procedure, error) {
	return s.remove(ctx, person, name, false)
}

// RemoveApproved removes a schedule whose removal was approved: a drill schedule too.
func (s *Scheduler) RemoveApproved(ctx context.Context, requester, name string) (string, error) {
	msg, _, err := s.remove(ctx, requester, name, true)
	return msg, err
}

func (s *Scheduler) remove(ctx context.Context, person, name string, approved bool) (string, *commands.Procedure, error) {
	if err := s.mayChange(person, "schedule remove"); err != nil {
		return "", nil, err
	}
	s.mu.Lock()
	j := s.jobs[key(name)]
	s.mu.Unlock()
	switch {
	case j == nil:
		return "", nil, &approvals.Refusal{Code: approvals.RefusedNotFound, Msg: fmt.Sprintf("there is no schedule %s: `schedule list` shows them.", name)}
	case j.entry.Source == SourceConfig:
		return "", nil, &approvals.Refusal{Code: approvals.RefusedBlocked, Msg: fmt.Sprintf("%s comes from the configuration file: remove it there and restart exchops.", j.entry.Name)}
	case j.entry.Job == JobDrill && !approved:
		proc, err := commands.NewProcedure(ProcedureRemoveSchedule, RemoveArgs{Name: j.entry.Name})
		return "", proc, err
	}
	if err := s.cfg.Store.RemoveSchedule(ctx, j.entry.Name); err != nil && !errors.Is(err, ErrNotFound) {
		return "", nil, fmt.Errorf("schedules: removing the schedule: %w", err)
	}
	s.mu.Lock()
	delete(s.jobs, key(name))
	if s.started {
		s.cron.Remove(j.id)
	}
	s.mu.Unlock()
	return fmt.Sprintf("Removed %s (%s).", j.entry.Name, describe(j.entry)), nil, nil
}

func (s *Scheduler) mayChange(person, command string) error {
	if s.cfg.Policy == nil {
		return nil
	}
	return s.cfg.Policy.MayRun(person, false, command)
}

// EntryFrom builds the Entry of a `schedule add` invocation typed on platform (a
// chat front's registered name) in channel here: the channel argument, or here when
// it is absent, becomes the schedule's channel on that platform.
func EntryFrom(inv *commands.Command, platform, here string) (Entry, error) {
	if inv == nil || inv.Spec == nil || inv.Spec.Name != "schedule add" {
		return Entry{}, errors.New("schedules: not a schedule add command")
	}
	e := Entry{Name: inv.Value("name"), Spec: inv.Value("cron"), Job: inv.Value("job"), DAG: inv.Value("dag")}
	ch := inv.Value("channel")
	if ch == "" {
		ch = here
	}
	if platform != "" && ch != "" {
		e.PostTo = map[string]string{platform: ch}
	}
	return e, nil
}

// ---- helpers ----

func (s *Scheduler) sortedJobs() []*job {
	out := make([]*job, 0, len(s.jobs))
	for _, j := range s.jobs {
		out = append(out, j)
	}
	sort.Slice(out, func(a, b int) bool { return key(out[a].entry.Name) < key(out[b].entry.Name) })
	return out
}

func (j *job) local(t time.Time) string {
	return t.In(j.p.loc).Format("2006-01-02 15:04 MST")
}

func describe(e Entry) string {
	if e.Job == JobDrill {
		return "failover drill of " + e.DAG
	}
	return "health report of " + e.DAG
}

// channels lists a schedule's channels for people, in the order of the platforms'
// names: "<platform> <channel>, ...".
func channels(to map[string]string) string {
	var out []string
	for _, platform := range slices.Sorted(maps.Keys(to)) {
		if to[platform] != "" {
			out = append(out, platform+" "+to[platform])
		}
	}
	return orDash(strings.Join(out, ", "))
}

func sourceWord(src string) string {
	if src == SourceConfig {
		return "configuration file"
	}
	return "chat"
}

// cronLogger sends robfig/cron's own chatter to slog at debug level.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}

// skipNote is SkipIfStillRunning's logger for one schedule: a skipped activation is
// posted as a note and recorded as the schedule's last run (it was not missed).
type skipNote struct{ j *job }

func (n skipNote) Info(msg string, kv ...any) {
	if msg != "skip" {
		return
	}
	j, s := n.j, n.j.s
	now := s.cfg.Now()
	j.mu.Lock()
	since := j.running
	j.mu.Unlock()
	text := fmt.Sprintf("The run of %s (%s) due at %s was skipped: the previous run is still going", j.entry.Name, describe(j.entry), j.local(now))
	if !since.IsZero() {
		text += " (started at " + j.local(since) + ")"
	}
	s.log.Warn("overlapping run skipped", "schedule", j.entry.Name)
	if err := s.cfg.Store.SetLastRun(s.ctx, j.entry.Name, now); err != nil {
		s.log.Error("recording a schedule's last run", "schedule", j.entry.Name, "err", err)
	}
	s.publish(s.ctx, j.entry.PostTo, report.FromText("Skipped: "+j.entry.Name, text+".", nil))
}

func (n skipNote) Error(err error, msg string, kv ...any) {
	n.j.s.log.Error("cron: "+msg, append(kv, "schedule", n.j.entry.Name, "err", err)...)
}

// panicNote is Recover's logger for one schedule: a run that panicked is logged with
// its stack and posted without it.
type panicNote struct{ j *job }

func (n panicNote) Info(msg string, kv ...any) {}

func (n panicNote) Error(err error, msg string, kv ...any) {
	j, s := n.j, n.j.s
	s.log.Error("a scheduled run panicked", append(kv, "schedule", j.entry.Name, "err", err)...)
	s.publish(s.ctx, j.entry.PostTo, report.FromText("Failed: "+j.entry.Name, fmt.Sprintf("The run of %s (%s) failed inside exchops: %v. The details are in exchops' log.", j.entry.Name, describe(j.entry), err), nil))
}
