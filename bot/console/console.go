// Package console is exchops' first chat front: a web page, served by exchops' own
// HTTP server, where a person picks who they are, types /exchange commands, and
// approves or denies requests on their cards, with every change arriving live over
// server-sent events.
//
// It is the demo's front and needs no chat account: the person picker stands in for a
// platform's login, so the page belongs on loopback. Beyond loopback it needs a
// reverse proxy that signs people in (Options.Auth): the person is then whoever the
// proxy names, and the picker is gone. Either way it answers only to loopback host
// names and the configured ones (Options.Hosts), so that a page whose name rebinds to
// this machine's address cannot use it. The transcript lives in memory only, bounded
// in messages and bytes, and every event stream writes from the same copy; approval
// cards are rebuilt from the core's events, which also bring requests made on Slack
// or Discord.
package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"html/template"
	"log/slog"
	"net/netip"
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
	// MaxTranscriptBytes bounds the transcript's memory (a result shows up to 64 KB
	// of output, and a thousand of them would take tens of megabytes); the oldest
	// messages go first, the newest always stays.
	MaxTranscriptBytes = 4 << 20
	// MaxStreams bounds the event streams open at once (one per open page); one more
	// is refused with 503 until another closes.
	MaxStreams = 32
	// StreamWriteTimeout is how long a client may take to receive one message (or
	// heartbeat) of its event stream or of GET /api/transcript; one that takes longer
	// cannot keep up and is dropped. It replaces the server's WriteTimeout for
	// those routes, which would otherwise cut every stream after a while.
	StreamWriteTimeout = 20 * time.Second
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
	// Hosts are the host names, besides loopback ones (localhost, 127.0.0.1, [::1]),
	// that requests may name in their Host header (console_hosts): the console
	// refuses any other with 403 before a handler runs, so that a site whose name
	// an attacker rebinds to this machine's address gets nothing from it.
	Hosts []string
	// Auth, when set, signs people in through a trusted reverse proxy
	// (console_auth) instead of the picker.
	Auth *Auth
	Now  func() time.Time // default time.Now
	// Logger gets refusals and dropped streams; default: discard.
	Logger *slog.Logger
}

// Auth is sign-in through a reverse proxy: a request is believed only when it comes
// from one of Trusted, and its person is the one Header names, which must be one of
// Options.People. Anything else is refused with 403.
type Auth struct {
	Header  string
	Trusted []netip.Prefix
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

	hosts map[string]bool // Options.Hosts, normalised by hostName

	heartbeat    time.Duration // Heartbeat; tests shorten it
	writeTimeout time.Duration // StreamWriteTimeout; tests shorten it
	maxStreams   int64         // MaxStreams; tests change it
	streams      atomic.Int64  // open event streams
	done         chan struct{} // closed by Close: event streams end
	closeOnce    sync.Once
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
	hosts := map[string]bool{}
	for _, h := range opt.Hosts {
		hosts[hostName(h)] = true
	}
	return &Console{
		core:         core,
		opt:          opt,
		tmpl:         parseTemplates(),
		transcript:   newTranscript(hex.EncodeToString(b)),
		cards:        map[string]*card{},
		hosts:        hosts,
		heartbeat:    Heartbeat,
		writeTimeout: StreamWriteTimeout,
		maxStreams:   MaxStreams,
		done:         make(chan struct{}),
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
	c.put(cd.msgID, "", html)
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

// put puts a message in the transcript and forgets the cards whose message left it,
// so that a later event for such a request posts a fresh card at the end instead of
// updating nothing (and the card's request is not kept alive for nothing). c.mu is
// held.
func (c *Console) put(id, forPerson, html string) {
	for _, gone := range c.transcript.put(id, forPerson, html) {
		if rid, ok := strings.CutPrefix(gone, "card-"); ok {
			delete(c.cards, rid)
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
	c.put(id, forPerson, html)
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
// people were configured (the core then decides), unless people sign in through a
// proxy: then only configured people are anyone.
func (c *Console) person(name string) (approvals.Person, bool) {
	if len(c.opt.People) == 0 && c.opt.Auth == nil {
		return approvals.Person{Name: name}, name != ""
	}
	for _, p := range c.opt.People {
		if p.Name == name {
			return p, true
		}
	}
	return approvals.Person{}, false
}
