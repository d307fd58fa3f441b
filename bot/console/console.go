// Package console is exchops' first chat front: a web page, served by exchops' own
// HTTP server, where a person picks who they are, types /exchange commands, and
// approves or denies requests on their cards, with every change arriving live over
// server-sent events.
//
// It is the demo's front and needs no chat account: the person picker stands in for a
// platform's login, so the page belongs on loopback (or behind something that
// authenticates). The transcript lives in memory only; approval cards are rebuilt from
// the core's events, which also bring requests made on Slack or Discord.
package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"html/template"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
)

// Limits of the console, named so that tests and readers find them in one place.
const (
	// MaxMessages is how many messages the transcript keeps; the oldest go first.
	MaxMessages = 1000
	// MaxBody is the largest POST body accepted.
	MaxBody = 16 << 10
	// Heartbeat is how often an idle event stream gets a comment, so that proxies and
	// browsers keep it open and a dead client is noticed by the failed write.
	Heartbeat = 15 * time.Second
	// maxThread bounds the lines kept in a card's thread (long waits print many).
	maxThread = 200
	// maxShownOutput bounds how much of a run's output a card or reply shows; the
	// transcript holds up to MaxMessages of them in memory.
	maxShownOutput = 64 << 10
)

// Options configure a Console.
type Options struct {
	// People are the persons offered by the picker, in this order. A POST naming
	// anyone else is refused; when empty, every name is passed to the core, which
	// answers unknown people itself.
	People []approvals.Person
	// Channel is the channel name shown and passed to the core; default "#exchange".
	Channel string
	Now     func() time.Time // default time.Now
	Logger  *slog.Logger     // default: discard
}

// Console is the web front. It is safe for concurrent use; create it with New.
type Console struct {
	core *bot.Core
	opt  Options
	tmpl *template.Template

	mu         sync.Mutex
	transcript transcript
	cards      map[string]*card // by request id
	nextMsg    int64

	heartbeat time.Duration // Heartbeat; tests shorten it
	streams   atomic.Int64  // open event streams, for tests and logs
	done      chan struct{} // closed by Close: event streams end
	closeOnce sync.Once
}

// New returns a console for core. Register it with core.AddFront so that it sees
// every request's transitions.
func New(core *bot.Core, opt Options) *Console {
	if opt.Channel == "" {
		opt.Channel = "#exchange"
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	b := make([]byte, 4)
	rand.Read(b)
	return &Console{
		core:       core,
		opt:        opt,
		tmpl:       parseTemplates(),
		transcript: newTranscript(hex.EncodeToString(b)),
		cards:      map[string]*card{},
		heartbeat:  Heartbeat,
		done:       make(chan struct{}),
	}
}

// Platform is "console": the core's name for this front.
func (c *Console) Platform() string { return "console" }

// Close ends every open event stream (an http.Server's Shutdown waits for handlers,
// and an event stream never ends by itself). The console keeps answering other
// requests; new event streams end at once.
func (c *Console) Close() {
	c.closeOnce.Do(func() { close(c.done) })
}

// card is what the console remembers about a request's card: the latest snapshot and
// the thread of lines its events added.
type card struct {
	msgID  string
	req    *approvals.Request
	thread []threadLine
}

// threadLine is one line in a card's thread: a vote, the start of the run, progress,
// the end.
type threadLine struct {
	At   time.Time
	Kind approvals.EventKind
	Text string
}

// Announce renders the request's card and puts it in the transcript: a new card for a
// request the console has not shown yet, otherwise the same card updated in place.
func (c *Console) Announce(_ context.Context, e approvals.Event) {
	r := e.Request
	if r == nil {
		return
	}
	now := c.opt.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	cd := c.cards[r.ID]
	if cd == nil {
		cd = &card{msgID: "card-" + r.ID}
		c.cards[r.ID] = cd
	}
	// Events for one request come in order, but a front must not show an older
	// snapshot over a newer one should two goroutines ever race to announce.
	if cd.req == nil || r.Version >= cd.req.Version {
		cd.req = r
	}
	if line, ok := lineFor(e, now); ok {
		if n := len(cd.thread); n == 0 || cd.thread[n-1].Text != line.Text {
			cd.thread = append(cd.thread, line)
		}
		if len(cd.thread) > maxThread {
			cd.thread = append(cd.thread[:0:0], cd.thread[len(cd.thread)-maxThread:]...)
		}
	}
	html, err := c.renderCard(cd.req, cd.thread, now)
	if err != nil {
		c.opt.Logger.Error("console: rendering a card", "request", r.ID, "err", err)
		return
	}
	c.transcript.put(cd.msgID, "", html)
	c.dropForgottenCards()
}

// lineFor is the thread line an event adds to its card, if any. The request itself
// needs none: the card is it.
func lineFor(e approvals.Event, now time.Time) (threadLine, bool) {
	r := e.Request
	l := threadLine{At: now, Kind: e.Kind}
	switch e.Kind {
	case approvals.EventVoted:
		l.Text = e.Actor + " approved; it needs " + r.StillNeeds()
	case approvals.EventApproved:
		l.Text = r.Reason
	case approvals.EventRunning:
		l.Text = "run started"
		if r.Run != nil && r.Run.Progress != "" {
			l.Text += ": " + r.Run.Progress
		}
	case approvals.EventProgress:
		l.Text = e.Detail
	case approvals.EventSucceeded:
		l.Text = "succeeded"
	case approvals.EventFailed:
		l.Text = "failed"
		if r.Run != nil && r.Run.Error != "" {
			l.Text += ": " + r.Run.Error
		} else if d := statusDetail(r, now); d != "" {
			l.Text += ": " + d
		}
	case approvals.EventDenied, approvals.EventExpired, approvals.EventCancelled,
		approvals.EventStale, approvals.EventInterrupted:
		// "denied by bob: not today", "expired: nobody decided within 30m"
		l.Text = string(r.Status)
		if d := statusDetail(r, now); strings.HasPrefix(d, l.Text) {
			l.Text = d
		} else if d != "" {
			l.Text += ": " + d
		}
	default:
		return l, false
	}
	if l.Text == "" {
		l.Text = string(e.Kind)
	}
	return l, true
}

func more(n int) string {
	if n == 1 {
		return "1 more approval"
	}
	return strconv.Itoa(n) + " more approvals"
}

// dropForgottenCards forgets cards whose message left the transcript, so a later event
// for that request posts a fresh card at the end instead of updating nothing.
func (c *Console) dropForgottenCards() {
	if len(c.cards) <= MaxMessages {
		return
	}
	for id, cd := range c.cards {
		if !c.transcript.has(cd.msgID) {
			delete(c.cards, id)
		}
	}
}

// post adds a message that is not a card (what someone typed, or a reply), rendered
// by render with the id it gets.
func (c *Console) post(forPerson string, render func(id string) (string, error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextMsg++
	id := "m-" + strconv.FormatInt(c.nextMsg, 10)
	html, err := render(id)
	if err != nil {
		c.opt.Logger.Error("console: rendering a message", "err", err)
		return
	}
	c.transcript.put(id, forPerson, html)
}

// reply posts a reply of the core; a private one is marked for the person who
// invoked.
func (c *Console) reply(person string, r bot.Reply) {
	forPerson := ""
	if r.Private {
		forPerson = person
	}
	if r.Now.IsZero() {
		r.Now = c.opt.Now()
	}
	c.post(forPerson, func(id string) (string, error) { return c.renderReply(id, forPerson, r) })
}

// said posts what a person typed, as a chat app shows your own line.
func (c *Console) said(person, text string) {
	now := c.opt.Now()
	c.post("", func(id string) (string, error) { return c.renderSaid(id, person, text, now) })
}

// person returns the configured person called name; ok is true for any name when no
// people were configured (the core then decides).
func (c *Console) person(name string) (approvals.Person, bool) {
	if len(c.opt.People) == 0 {
		return approvals.Person{Name: name}, name != ""
	}
	for _, p := range c.opt.People {
		if p.Name == name {
			return p, true
		}
	}
	return approvals.Person{}, false
}
