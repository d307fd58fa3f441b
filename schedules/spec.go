package schedules

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/robfig/cron/v3"
)

// Limits on what a cron spec typed in chat may be.
const (
	maxSpec = 200 // the chat grammar's own limit for text
	// minInterval keeps a schedule typed in chat from hammering the servers and the
	// channel: every activation starts PowerShell on every DAG member.
	minInterval = 5 * time.Minute
)

// parser reads the standard five fields (minute hour day-of-month month
// day-of-week) and the descriptors (@daily, @weekly, @every 6h, ...).
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// SpecError says why a cron spec was refused, in words for the person who typed it.
type SpecError struct {
	Spec string // as given, shortened for display
	Msg  string
}

func (e *SpecError) Error() string { return fmt.Sprintf("cron spec %q: %s", e.Spec, e.Msg) }

// ParseSpec parses a cron spec as typed in chat or written in the configuration, in
// time zone tz ("" is the machine's local zone; the Scheduler uses its own default).
// A spec may itself start with "CRON_TZ=<zone> " (or "TZ=<zone> "), which must then
// agree with tz. It never panics, whatever the text: robfig/cron's parser does on
// some input ("CRON_TZ=UTC" without a space), so the zone prefix is taken apart
// here and the parser runs inside recover. A spec that never fires, or fires more
// often than every five minutes, is refused. The schedule fires once on the days
// daylight saving skips or repeats its local time (see dstSchedule). Errors are
// *SpecError.
func ParseSpec(spec, tz string) (cron.Schedule, error) {
	p, err := parseSpec(spec, tz, time.Local, time.Now())
	return p.sched, err
}

// parsed is a spec taken apart.
type parsed struct {
	sched cron.Schedule
	zone  string // the zone named by tz or the prefix; "" when the default applies
	bare  string // the spec without its zone prefix
	loc   *time.Location
}

// parseSpec is ParseSpec with the default zone and the instant from which "never
// fires" and the minimum interval are judged.
func parseSpec(spec, tz string, def *time.Location, now time.Time) (parsed, error) {
	shown := spec
	if utf8.RuneCountInString(shown) > 64 {
		shown = string([]rune(shown)[:64]) + "…"
	}
	fail := func(format string, args ...any) (parsed, error) {
		return parsed{}, &SpecError{Spec: shown, Msg: fmt.Sprintf(format, args...)}
	}
	spec = strings.TrimSpace(spec)
	switch {
	case spec == "":
		return fail("is empty: write five fields, minute hour day-of-month month day-of-week, e.g. \"0 7 * * *\"")
	case len(spec) > maxSpec:
		return fail("is longer than %d characters", maxSpec)
	case !utf8.ValidString(spec) || strings.IndexFunc(spec, unicode.IsControl) >= 0:
		return fail("has control characters")
	}
	// The zone prefix is taken apart here rather than by robfig/cron, which slices
	// without checking and panics when no space follows the zone.
	if p := zonePrefix(spec); p != "" {
		rest := spec[len(p):]
		i := strings.IndexFunc(rest, unicode.IsSpace)
		if i < 0 {
			return fail("%s must be followed by a space and the five fields, e.g. \"CRON_TZ=Europe/Berlin 0 7 * * *\"", spec)
		}
		prefixZone := rest[:i]
		if prefixZone == "" {
			return fail("%s names no zone: write it like CRON_TZ=Europe/Berlin, then a space and the five fields", strings.TrimSpace(p))
		}
		if tz != "" && prefixZone != tz {
			return fail("names the time zone %s, but the schedule's time zone is %s: give one", prefixZone, tz)
		}
		tz, spec = prefixZone, strings.TrimSpace(rest[i:])
		if zonePrefix(spec) != "" {
			return fail("names a time zone twice")
		}
	}
	loc := def
	if tz != "" {
		if strings.EqualFold(tz, "local") {
			return fail("time zone %q: name a zone such as Europe/Berlin or UTC", tz)
		}
		l, err := time.LoadLocation(tz)
		if err != nil {
			return fail("%q is not a time zone: name one from the IANA database, such as Europe/Berlin or UTC", tz)
		}
		loc = l
	}
	if loc == nil {
		loc = time.Local
	}
	sched, err := safeParse(spec)
	if err != nil {
		return fail("%s", explain(err))
	}
	if s, ok := sched.(*cron.SpecSchedule); ok {
		c := *s
		c.Location = loc
		sched = &dstSchedule{spec: &c}
	}
	// A schedule that never comes (30 February) or comes too often is refused here,
	// where the person still sees why, rather than discovered later.
	first := sched.Next(now)
	if first.IsZero() {
		return fail("never fires: no date in the next five years matches it")
	}
	prev := first
	for range 3 {
		next := sched.Next(prev)
		if next.IsZero() {
			break
		}
		if next.Sub(prev) < minInterval {
			return fail("fires every %s: schedules may fire at most once every %s", next.Sub(prev), minInterval)
		}
		prev = next
	}
	return parsed{sched: sched, zone: tz, bare: spec, loc: loc}, nil
}

// zonePrefix returns the "CRON_TZ=" or "TZ=" that spec starts with (any case), or "".
func zonePrefix(spec string) string {
	for _, p := range []string{"CRON_TZ=", "TZ="} {
		if len(spec) >= len(p) && strings.EqualFold(spec[:len(p)], p) {
			return spec[:len(p)]
		}
	}
	return ""
}

// safeParse calls robfig/cron's parser and turns a panic into an error.
func safeParse(spec string) (s cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("cannot be read (%v)", r)
		}
	}()
	return parser.Parse(spec)
}

// explain rewords the parser's messages where they are cryptic.
func explain(err error) string {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "expected exactly 5 fields"):
		return "needs five fields, minute hour day-of-month month day-of-week, e.g. \"0 7 * * *\" (" + msg + ")"
	case strings.Contains(msg, "above maximum"), strings.Contains(msg, "below minimum"):
		return "has a value out of range (" + msg + "); minutes are 0-59, hours 0-23, days 1-31, months 1-12, weekdays 0-6"
	}
	return msg
}

// dstSchedule fixes what robfig/cron does on daylight-saving days: a local time that
// the change skips (02:30 on the last Sunday of March in Berlin) is never fired, and
// one it repeats (02:30 on the last Sunday of October) fires twice. Like Vixie cron,
// it fires a skipped time at the moment of the change and a repeated time once, at
// its first occurrence.
type dstSchedule struct {
	spec *cron.SpecSchedule // with its Location set
}

func (d *dstSchedule) Next(t time.Time) time.Time {
	loc := d.spec.Location
	n := d.spec.Next(t)
	for !n.IsZero() && repeated(n, loc) {
		n = d.spec.Next(n)
	}
	if n.IsZero() {
		return n
	}
	if g := d.inGap(t, n); !g.IsZero() {
		return g.In(n.Location())
	}
	return n
}

// repeated reports whether the wall-clock time of n already happened earlier the
// same night (the hour a change back to standard time repeats).
func repeated(n time.Time, loc *time.Location) bool {
	wall := func(x time.Time) string { return x.In(loc).Format("2006-01-02 15:04:05") }
	for _, d := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
		if wall(n.Add(-d)) == wall(n) {
			return true
		}
	}
	return false
}

// inGap returns the first change to summer time in (t, n] whose skipped local times
// the spec matches, as the instant of the change; zero when there is none.
func (d *dstSchedule) inGap(t, n time.Time) time.Time {
	loc := d.spec.Location
	x := t.In(loc)
	for range 64 { // at most a few changes a year, and Next looks five years ahead
		_, end := x.ZoneBounds()
		if end.IsZero() || end.After(n) {
			return time.Time{}
		}
		_, before := x.Zone()
		_, after := end.Zone()
		if after > before {
			// The skipped wall times, read with the offset that was in force before the
			// change: [change, change + shift).
			old := *d.spec
			old.Location = time.FixedZone("before", before)
			if g := old.Next(end.Add(-time.Second)); !g.IsZero() && g.Before(end.Add(time.Duration(after-before)*time.Second)) && g.After(t) {
				return end
			}
		}
		x = end
	}
	return time.Time{}
}
