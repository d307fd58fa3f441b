package schedules

// The watch: every kept health report of a DAG is compared with what the watcher
// holds from the report before it, and what changed becomes alerts, posted once when
// a condition opens and once when it clears, never again while it lasts. Watch is the
// pure engine (state in, report in, alerts and state out); Watcher (watch_run.go)
// runs it on the reports the scheduler keeps, stores its state and posts.

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/exchops/exchops/commands"
)

// AlertKind says what a watched condition is about.
type AlertKind string

// The conditions the watch alerts on.
const (
	// AlertVerdict: the report's verdict is not OK. A change of verdict (OK to
	// Warning, Warning to Failure, and back) is posted; its return to OK clears it.
	AlertVerdict AlertKind = "verdict"
	// AlertCopyFailed: a copy is Failed or FailedAndSuspended.
	AlertCopyFailed AlertKind = "copy-failed"
	// AlertSingleCopy: a replicated database has fewer than two healthy copies, counted
	// as CheckDatabaseRedundancy.ps1 counts them, for longer than
	// WatchSettings.SingleCopyAfter.
	AlertSingleCopy AlertKind = "single-copy"
	// AlertMemberDown: a DAG member is not among the DAG's operational servers.
	AlertMemberDown AlertKind = "member-down"
	// AlertNotMounted: a database is mounted nowhere. The verdict says it too, but only
	// when the verdict changes: a database that dismounts while the DAG is already
	// failing for another reason would pass unannounced.
	AlertNotMounted AlertKind = "not-mounted"
)

// DefaultSingleCopyAfter is how long a database may be down to one healthy copy
// before it is announced: CheckDatabaseRedundancy.ps1's
// $ReportRedEventAfterDurationSecs (1200 s), which keeps a copy that is only
// restarting or catching up from raising an alert.
const DefaultSingleCopyAfter = 20 * time.Minute

// The redundancy rule of CheckDatabaseRedundancy.ps1 (Exchange 2010's Scripts
// folder): a database is red with fewer than $AtLeastNCopies (2) healthy copies, and a
// passive copy whose copy queue is over $CopyQueueLengthThreshold (40 logs, set above
// the report's 8 on purpose, "to prevent transient alerts on spikes") is not healthy.
const (
	minHealthyCopies    = 2
	redundancyCopyQueue = 40
)

// Condition is one thing wrong that the watch holds for a DAG: posted (an open alert)
// or, for a single copy within its grace time, not yet.
type Condition struct {
	Kind    AlertKind `json:"kind"`
	Subject string    `json:"subject"` // the copy (MB01\EX10-MB02), database, member, or the DAG for the verdict
	// State is what the report showed: the verdict, the copy's status, the number of
	// healthy copies; Level is how bad it is.
	State string    `json:"state"`
	Level Verdict   `json:"level"`
	Since time.Time `json:"since"` // the first report that showed it
	// Posted is when its alert went out; zero while it waits for its grace time.
	Posted time.Time `json:"posted,omitzero"`
}

// Key names the condition within its DAG.
func (c Condition) Key() string { return string(c.Kind) + ":" + strings.ToUpper(c.Subject) }

// WatchState is what the watch holds for one DAG between two reports.
type WatchState struct {
	DAG        string      `json:"dag"`
	Conditions []Condition `json:"conditions,omitempty"` // in SortConditions' order
}

// WatchSettings tune the watch.
type WatchSettings struct {
	// SingleCopyAfter is how long a database must stay below two healthy copies before
	// it is announced (0: at the first report that shows it; the configuration's
	// default is DefaultSingleCopyAfter).
	SingleCopyAfter time.Duration
}

// AlertChange says what happened to a condition.
type AlertChange string

// The changes an alert announces.
const (
	AlertOpened  AlertChange = "opened"
	AlertChanged AlertChange = "changed" // the verdict went from Warning to Failure or back
	AlertCleared AlertChange = "cleared"
)

// Alert is one message of the watch, platform-neutral like Report: what the bot
// posts into the alert channels.
type Alert struct {
	DAG     string      `json:"dag"`
	Kind    AlertKind   `json:"kind"`
	Subject string      `json:"subject"`
	Change  AlertChange `json:"change"`
	Level   Verdict     `json:"level"` // OK for a clear
	Title   string      `json:"title"`
	Text    string      `json:"text"`
	Since   time.Time   `json:"since"` // when the condition was first seen
	At      time.Time   `json:"at"`
	// Next are the obvious next steps, each a command of the catalog that parses
	// today; a front that can file a command from a button shows them as buttons.
	Next []NextStep `json:"next,omitempty"`
}

// NextStep is a suggested command: Label for a button, Command the text typed after
// /exchange.
type NextStep struct {
	Label   string `json:"label"`
	Command string `json:"command"`
}

// Watch compares a DAG's new report with the state the watch held after the one
// before, at now, and returns the alerts to post, in a stable order (verdict first,
// then by key), and the state to hold until the next report. It is pure: the same
// inputs always give the same alerts.
//
// A condition opens when a report first shows it (a single copy only once it has
// lasted SingleCopyAfter) and clears when a report shows it gone; one that a report
// cannot judge (a copy or member that was not read) is held as it was, neither
// repeated nor cleared. A condition that goes away before its grace time ends is
// dropped without a word.
func Watch(prev WatchState, rep *Report, now time.Time, set WatchSettings) ([]Alert, WatchState) {
	now = now.UTC()
	obs := observe(rep)
	held := map[string]Condition{}
	for _, c := range prev.Conditions {
		held[c.Key()] = c
	}
	next := WatchState{DAG: rep.DAG}
	var alerts []Alert
	keys := make([]string, 0, len(obs.present)+len(held))
	for k := range obs.present {
		keys = append(keys, k)
	}
	for k := range held {
		if _, ok := obs.present[k]; !ok {
			keys = append(keys, k)
		}
	}
	sortKeys(keys)
	for _, k := range keys {
		o, isNow := obs.present[k]
		h, wasHeld := held[k]
		switch {
		case isNow && !wasHeld:
			c := o.cond
			c.Since = now
			if due(c, now, set) {
				c.Posted = now
				alerts = append(alerts, o.alert(rep, c, AlertOpened, now))
			}
			next.Conditions = append(next.Conditions, c)
		case isNow:
			c := o.cond
			c.Since, c.Posted = h.Since, h.Posted
			switch {
			case c.Posted.IsZero() && due(c, now, set):
				c.Posted = now
				alerts = append(alerts, o.alert(rep, c, AlertOpened, now))
			case !c.Posted.IsZero() && c.Kind == AlertVerdict && c.State != h.State:
				alerts = append(alerts, o.alert(rep, c, AlertChanged, now))
			}
			next.Conditions = append(next.Conditions, c)
		case obs.cannotJudge(h):
			next.Conditions = append(next.Conditions, h)
		case !h.Posted.IsZero():
			alerts = append(alerts, clearAlert(rep, h, obs, now))
		}
	}
	return alerts, next
}

// due reports whether a condition is announced now: at once, except a single copy,
// which waits for its grace time.
func due(c Condition, now time.Time, set WatchSettings) bool {
	return c.Kind != AlertSingleCopy || now.Sub(c.Since) >= set.SingleCopyAfter
}

// SortConditions puts conditions in the order Watch returns them: the verdict first,
// then by key.
func SortConditions(cs []Condition) {
	keys := make([]string, len(cs))
	byKey := make(map[string]Condition, len(cs))
	for i, c := range cs {
		keys[i] = c.Key()
		byKey[keys[i]] = c
	}
	sortKeys(keys)
	for i, k := range keys {
		cs[i] = byKey[k]
	}
}

// sortKeys puts the verdict first, then the rest by key.
func sortKeys(keys []string) {
	rank := func(k string) int {
		if strings.HasPrefix(k, string(AlertVerdict)+":") {
			return 0
		}
		return 1
	}
	sort.Slice(keys, func(a, b int) bool {
		if ra, rb := rank(keys[a]), rank(keys[b]); ra != rb {
			return ra < rb
		}
		return keys[a] < keys[b]
	})
}

// observation is what one report shows: the conditions present, and the keys it
// cannot judge.
type observation struct {
	present map[string]observed
	// unknown are the keys the report cannot judge; unknownKinds the kinds it cannot
	// judge at all, except the keys in judged.
	unknown      map[string]bool
	unknownKinds map[AlertKind]bool
	judged       map[string]bool
	// why explains, per database, the copies that did not count as healthy (for the
	// single copy alert and its clear).
	copies map[string]redundancy
}

// observed is one condition present in a report, with what its alert says.
type observed struct {
	cond   Condition
	title  string
	detail string
	next   []NextStep
}

func (o observed) alert(rep *Report, c Condition, change AlertChange, now time.Time) Alert {
	title := rep.DAG + ": " + o.title
	text := o.detail
	switch {
	case change == AlertChanged:
		title = rep.DAG + " health changed to " + c.State
	case c.Kind == AlertSingleCopy && now.After(c.Since):
		text += fmt.Sprintf(" It has been so since %s (%s).", stamp(c.Since), span(now.Sub(c.Since)))
	}
	return Alert{DAG: rep.DAG, Kind: c.Kind, Subject: c.Subject, Change: change, Level: c.Level,
		Title: title, Text: text, Since: c.Since, At: now, Next: o.next}
}

func observe(rep *Report) observation {
	obs := observation{present: map[string]observed{}, unknown: map[string]bool{}, unknownKinds: map[AlertKind]bool{},
		judged: map[string]bool{}, copies: map[string]redundancy{}}
	add := func(o observed) { obs.present[o.cond.Key()] = o }
	dagRead := len(rep.DAGStatus.Servers) > 0
	operational := func(server string) bool { return !dagRead || hasHost(rep.DAGStatus.OperationalServers, server) }

	// The verdict.
	if rep.Verdict != OK {
		var b strings.Builder
		fmt.Fprintf(&b, "The replication health of %s is %s.", rep.DAG, rep.Verdict)
		const most = 5
		for i, r := range rep.Reasons {
			if i == most {
				fmt.Fprintf(&b, "\n- and %d more: `health %s` shows them.", len(rep.Reasons)-most, rep.DAG)
				break
			}
			fmt.Fprintf(&b, "\n- %s: %s", r.Level, r.Text)
		}
		add(observed{cond: Condition{Kind: AlertVerdict, Subject: rep.DAG, State: string(rep.Verdict), Level: rep.Verdict},
			title: "health is " + string(rep.Verdict), detail: b.String(),
			next: steps(NextStep{"Health report", "health " + rep.DAG})})
	}

	// Failed copies. A copy whose status could not be read (Unknown, or ServiceDown:
	// its replication service gives the status) is neither failed nor recovered.
	for _, c := range rep.Copies {
		key := Condition{Kind: AlertCopyFailed, Subject: c.Name()}.Key()
		obs.judged[key] = c.QueuesKnown() || c.Ignored
		switch {
		case c.Ignored:
		case !c.QueuesKnown():
			obs.unknown[key] = true
		case strings.EqualFold(c.Status, "Failed"), strings.EqualFold(c.Status, "FailedAndSuspended"):
			detail := fmt.Sprintf("The copy of %s on %s is %s%s.", c.Database, c.Server, c.Status, colon(c.Error))
			var next []NextStep
			if strings.EqualFold(c.Status, "FailedAndSuspended") {
				detail += " Exchange suspended it: resuming helps only once its cause is fixed; otherwise reseed it."
				next = steps(NextStep{"Reseed", "copy reseed " + c.Database + " " + c.Server},
					NextStep{"Resume", "copy resume " + c.Database + " " + c.Server},
					NextStep{"Copy status", "copy status " + c.Database})
			} else {
				detail += " The replication service keeps trying; if it stays Failed, reseed it."
				next = steps(NextStep{"Reseed", "copy reseed " + c.Database + " " + c.Server},
					NextStep{"Copy status", "copy status " + c.Database})
			}
			add(observed{cond: Condition{Kind: AlertCopyFailed, Subject: c.Name(), State: c.Status, Level: Failure},
				title: "copy " + c.Name() + " is " + c.Status, detail: detail, next: next})
		}
	}
	// A copy the report does not list at all: gone, unless some read failed.
	if len(rep.Errors) > 0 {
		obs.unknownKinds[AlertCopyFailed] = true
	}

	// Redundancy, database by database.
	for _, db := range rep.Databases {
		if db.Ignored {
			continue
		}
		r := countRedundancy(rep, db.Name, operational)
		obs.copies[strings.ToUpper(db.Name)] = r
		if r.copies < minHealthyCopies || r.healthy >= minHealthyCopies {
			continue // not replicated (nothing to lose), or redundant
		}
		detail := fmt.Sprintf("Database %s has %s of its %d copies (CheckDatabaseRedundancy.ps1 wants at least %d).",
			db.Name, plural(r.healthy, "healthy copy"), r.copies, minHealthyCopies)
		if len(r.why) > 0 {
			detail += " Not counted: " + strings.Join(r.why, "; ") + "."
		}
		next := []NextStep{{"Copy status", "copy status " + db.Name}}
		for _, c := range r.reseed {
			next = append(next, NextStep{"Reseed " + c.Server, "copy reseed " + c.Database + " " + c.Server})
		}
		add(observed{cond: Condition{Kind: AlertSingleCopy, Subject: db.Name, State: fmt.Sprint(r.healthy), Level: Failure},
			title: db.Name + " is down to " + plural(r.healthy, "healthy copy"), detail: detail, next: steps(next...)})
	}

	// Mounted or not: Get-MailboxDatabase -Status when it was read, else the copies'
	// status, unless one of them could not be read.
	for _, db := range rep.Databases {
		key := Condition{Kind: AlertNotMounted, Subject: db.Name}.Key()
		if db.Ignored || db.Copies == 0 {
			continue
		}
		notMounted := false
		switch {
		case db.Mounted != nil:
			notMounted = !*db.Mounted
		case db.MountedOn != "":
		case slices.ContainsFunc(rep.Copies, func(c CopyDetail) bool { return c.Database == db.Name && !c.QueuesKnown() }):
			obs.unknown[key] = true
		default:
			notMounted = true
		}
		if notMounted {
			add(observed{cond: Condition{Kind: AlertNotMounted, Subject: db.Name, State: "Dismounted", Level: Failure},
				title:  db.Name + " is not mounted",
				detail: fmt.Sprintf("Database %s is not mounted on any server: its mailboxes are offline.", db.Name),
				next:   steps(NextStep{"Copy status", "copy status " + db.Name})})
		}
	}
	if len(rep.Errors) > 0 && len(rep.Databases) == 0 {
		obs.unknownKinds[AlertNotMounted] = true
		obs.unknownKinds[AlertSingleCopy] = true
	}

	// Members: only a DAG read that succeeded says who is operational.
	if !dagRead {
		obs.unknownKinds[AlertMemberDown] = true
	}
	for _, m := range rep.Members {
		if m.Ignored || !dagRead || operational(m.Server) {
			continue
		}
		add(observed{cond: Condition{Kind: AlertMemberDown, Subject: m.Server, State: "NotOperational", Level: Failure},
			title: m.Server + " is not operational",
			detail: fmt.Sprintf("%s is a member of %s but not one of its operational servers (Get-DatabaseAvailabilityGroup -Status): its cluster service is down or it cannot be reached. Its copies do not count as healthy.",
				m.Server, rep.DAG),
			next: steps(NextStep{"DAG status", "dag status " + rep.DAG})})
	}
	return obs
}

// cannotJudge reports whether the report leaves a held condition that it does not
// show undecided: then it is held as it was.
func (obs *observation) cannotJudge(h Condition) bool {
	k := h.Key()
	return obs.unknown[k] || obs.unknownKinds[h.Kind] && !obs.judged[k]
}

// redundancy is one database's count of healthy copies.
type redundancy struct {
	copies, healthy int
	why             []string     // "MB01\EX10-MB02 is FailedAndSuspended"
	reseed          []CopyDetail // the failed passive copies, to reseed
}

// countRedundancy counts a database's healthy copies as CheckDatabaseRedundancy.ps1
// does (Get-ActiveDatabaseCopyHealth and Get-PassiveDatabaseCopyHealth): a copy on a
// member that is not operational never counts; the active copy counts when Mounted or
// Mounting, or Dismounted (or Dismounting) without an error; a passive copy counts
// when Healthy, DisconnectedAndHealthy or SeedingSource with a copy queue of at most
// 40 logs, unless the active copy's replication service is down on an operational
// member (then its queues are stale).
func countRedundancy(rep *Report, db string, operational func(string) bool) redundancy {
	var r redundancy
	var active *CopyDetail
	for i := range rep.Copies {
		if c := &rep.Copies[i]; c.Database == db && c.Active {
			active = c
		}
	}
	for _, c := range rep.Copies {
		if c.Database != db {
			continue
		}
		r.copies++
		st := strings.ToLower(c.Status)
		var why string
		switch {
		case !operational(c.Server):
			why = c.Server + " is not operational"
		case c.Active:
			switch st {
			case "mounted", "mounting":
			case "dismounted", "dismounting":
				if c.Error != "" {
					why = "the active copy is " + c.Status + colon(c.Error)
				}
			default:
				why = "the active copy is " + orDash(c.Status)
			}
		case st != "healthy" && st != "disconnectedandhealthy" && st != "seedingsource":
			why = "it is " + orDash(c.Status)
			if st == "failed" || st == "failedandsuspended" {
				r.reseed = append(r.reseed, c)
			}
		case c.CopyQueue > redundancyCopyQueue:
			why = fmt.Sprintf("its copy queue is %d logs (more than %d)", c.CopyQueue, redundancyCopyQueue)
		case active != nil && strings.EqualFold(active.Status, "ServiceDown") && operational(active.Server):
			why = "its queues may be stale, the replication service of the active copy on " + active.Server + " being down"
		}
		if why == "" {
			r.healthy++
			continue
		}
		r.why = append(r.why, c.Name()+" ("+why+")")
	}
	return r
}

// clearAlert announces that a held condition is gone.
func clearAlert(rep *Report, h Condition, obs observation, now time.Time) Alert {
	a := Alert{DAG: rep.DAG, Kind: h.Kind, Subject: h.Subject, Change: AlertCleared, Level: OK, Since: h.Since, At: now}
	lasted := fmt.Sprintf(" (since %s, %s).", stamp(h.Since), span(now.Sub(h.Since)))
	switch h.Kind {
	case AlertVerdict:
		a.Title = rep.DAG + " health is OK again"
		a.Text = fmt.Sprintf("The replication health of %s is OK again after %s", rep.DAG, h.State) + lasted
	case AlertCopyFailed:
		st := "gone from the report"
		for _, c := range rep.Copies {
			if strings.EqualFold(c.Name(), h.Subject) {
				st = c.Status
				if c.Ignored {
					st += ", and ignored (health.ignore)"
				}
			}
		}
		a.Title = rep.DAG + ": copy " + h.Subject + " recovered"
		a.Text = fmt.Sprintf("The copy %s is %s, no longer %s", h.Subject, st, h.State) + lasted
	case AlertSingleCopy:
		r := obs.copies[strings.ToUpper(h.Subject)]
		a.Title = rep.DAG + ": " + h.Subject + " is redundant again"
		a.Text = fmt.Sprintf("Database %s has %s of %d again", h.Subject, plural(r.healthy, "healthy copy"), r.copies) + lasted
	case AlertMemberDown:
		a.Title = rep.DAG + ": " + h.Subject + " is operational again"
		a.Text = fmt.Sprintf("%s is one of the operational servers of %s again", h.Subject, rep.DAG) + lasted
	case AlertNotMounted:
		a.Title = rep.DAG + ": " + h.Subject + " is mounted again"
		a.Text = fmt.Sprintf("Database %s is mounted again", h.Subject) + lasted
	default:
		a.Title = rep.DAG + ": " + string(h.Kind) + " " + h.Subject + " cleared"
		a.Text = "The condition is gone" + lasted
	}
	return a
}

// steps keeps the suggestions that are commands of the catalog today (copy reseed and
// copy resume come with the day-two commands; until then they are left out).
func steps(in ...NextStep) []NextStep {
	var out []NextStep
	for _, s := range in {
		if _, err := commands.Parse(s.Command); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// span is a duration in whole minutes (seconds under a minute).
func span(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	}
	h, m := int(d.Hours()), int(d.Minutes())%60
	if m == 0 {
		return fmt.Sprintf("%d h", h)
	}
	return fmt.Sprintf("%d h %d min", h, m)
}
