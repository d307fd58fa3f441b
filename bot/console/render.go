package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
)

// assets are the page's templates and static files, built into the binary so that the
// demo works offline and needs no build step.
//
//go:embed templates/*.html static
var assets embed.FS

// hints are the walkthrough's commands, offered on the page to fill the input.
var hints = []string{
	"dns add client 10.0.0.40 zone=msglab.local",
	`nlb create client.msglab.local ip=10.0.0.40 mask=255.255.255.0 interface="Local Area Connection" host=EX10-CAHT mode=multicast`,
	`nlb add-host client.msglab.local host=EX10-CAHT02 interface="Local Area Connection"`,
	`casarray create "CAS Array" fqdn=client.msglab.local site=Default-First-Site-Name`,
	"casarray assign client.msglab.local",
	"autodiscover test",
	`dag create E14-DAG witness=EX10-CAHT dir=C:\FSW ip=10.0.0.50`,
	"dag add-member E14-DAG EX10-MB01",
	"dag add-member E14-DAG EX10-MB02",
	"copy add MB01 EX10-MB02",
	"copy add MB02 EX10-MB01",
	"copy status",
	"health E14-DAG",
}

// quick are the commands one click away.
var quick = []string{"requests", "history", "help"}

func parseTemplates() *template.Template {
	return template.Must(template.New("console").Funcs(template.FuncMap{
		"iso":        iso,
		"clock":      clockText,
		"ago":        func(now, t time.Time) string { return bot.Age(now.Sub(t)) },
		"until":      until,
		"duration":   durationText,
		"statusLine": bot.StatusLine,
		"detail":     statusDetail,
		"who":        bot.Who,
		"more":       more,
		"fromWhom":   bot.FromWhom,
		"inc":        func(i int) int { return i + 1 },
		"join":       strings.Join,
		"shown":      shown,
		"headline":   headline,
	}).ParseFS(assets, "templates/*.html"))
}

func iso(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// clockText is a time for people, in UTC as the core's messages write it; the date
// only when it is not now's.
func clockText(t, now time.Time) string {
	t, now = t.UTC(), now.UTC()
	if t.YearDay() == now.YearDay() && t.Year() == now.Year() {
		return t.Format("15:04 MST")
	}
	return t.Format("Jan 2 15:04 MST")
}

// until is a relative deadline: "in 26m", or "now" once it has passed.
func until(now, t time.Time) string {
	if d := t.Sub(now); d > 0 {
		return "in " + bot.Age(d)
	}
	return "now"
}

// durationText writes a wait's budget or interval the way people say it: "30m",
// "1h 30m", "5s".
func durationText(d time.Duration) string {
	if d <= 0 {
		return "no limit"
	}
	return bot.Age(d)
}

// statusDetail is bot.StatusLine without the status word in front, for places that
// show the status as a badge right before it ("denied" + "denied by bob: not today").
func statusDetail(r *approvals.Request, now time.Time) string {
	s := bot.StatusLine(r, now)
	if s == string(r.Status) {
		return ""
	}
	return strings.TrimPrefix(s, string(r.Status)+": ")
}

// headline is a refusal's first line: when its findings are listed below it, the
// rest of its text (the blockers again, as "- ..." lines) would repeat them.
func headline(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// shown cuts output that would bloat the page and the in-memory transcript.
func shown(s string) string {
	if len(s) <= maxShownOutput {
		return s
	}
	cut := maxShownOutput
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("\n… (%d more bytes not shown in the console)", len(s)-cut)
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// cardView is what the card template sees.
type cardView struct {
	R      *approvals.Request
	Now    time.Time
	Thread []threadLine
}

// Pending reports whether people can still vote.
func (v cardView) Pending() bool { return v.R.Status == approvals.Pending }

// Running reports whether the run is under way.
func (v cardView) Running() bool { return v.R.Status == approvals.Running }

// OpenPlan: the plan is unfolded while it matters for a decision, folded once the
// request is past that, so the transcript stays readable.
func (v cardView) OpenPlan() bool {
	return v.R.Status == approvals.Pending || v.R.Status == approvals.Approved
}

// Finished reports whether the run ended (so its output and error are final).
func (v cardView) Finished() bool { return v.R.Run != nil && !v.R.Run.FinishedAt.IsZero() }

// Targets are the servers the plan touches, in order of first use.
func (v cardView) Targets() []string { return bot.Targets(v.R) }

// RunTime is how long the run took.
func (v cardView) RunTime() string {
	if !v.Finished() {
		return ""
	}
	d := v.R.Run.FinishedAt.Sub(v.R.Run.StartedAt)
	if d < time.Second {
		return "under a second"
	}
	return bot.Age(d)
}

func (c *Console) renderCard(r *approvals.Request, thread []threadLine, now time.Time) (string, error) {
	return c.execute("card", cardView{R: r, Now: now, Thread: thread})
}

// replyView is what the reply template sees.
type replyView struct {
	ID  string
	For string // the person a private reply is for
	R   bot.Reply
}

// Class is the reply's kind as CSS classes: refusals and errors are styled apart, and
// a failed result looks like an error too.
func (v replyView) Class() string {
	switch {
	case v.R.Kind == bot.ReplyResult && v.R.Failed:
		return "result failed error"
	case v.R.Kind == "":
		return string(bot.ReplyText)
	}
	return string(v.R.Kind)
}

func (c *Console) renderReply(id, forPerson string, r bot.Reply) (string, error) {
	return c.execute("reply", replyView{ID: id, For: forPerson, R: r})
}

type saidView struct {
	ID, Person, Text string
	Now              time.Time
}

func (c *Console) renderSaid(id, person, text string, now time.Time) (string, error) {
	return c.execute("said", saidView{ID: id, Person: person, Text: text, Now: now})
}

type personView struct {
	Name  string
	Roles string
}

type pageView struct {
	Channel string
	// Me is the person the proxy signed in; the page then has no picker.
	Me     string
	MeView personView
	People []personView
	Hints  []string
	Quick  []string
}

func (c *Console) pageView(me string) pageView {
	v := pageView{Channel: c.opt.Channel, Me: me, Hints: hints, Quick: quick}
	for _, p := range c.opt.People {
		if me != "" && p.Name != me {
			continue
		}
		var roles []string
		for _, r := range p.Roles {
			roles = append(roles, string(r))
		}
		if len(roles) == 0 {
			roles = []string{"no role"}
		}
		pv := personView{Name: p.Name, Roles: strings.Join(roles, ", ")}
		if me != "" {
			v.MeView = pv
			continue
		}
		v.People = append(v.People, pv)
	}
	return v
}

func (c *Console) execute(name string, data any) (string, error) {
	var b bytes.Buffer
	if err := c.tmpl.ExecuteTemplate(&b, name, data); err != nil {
		return "", err
	}
	return b.String(), nil
}
