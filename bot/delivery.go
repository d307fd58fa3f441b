package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/internal/report"
)

// The delivery rules, one set for every platform (see the package doc).
const (
	// InlineAttempts is how many times a post is tried before it goes to the outbox.
	InlineAttempts = 3
	// FirstBackoff is the wait before the second attempt; each later wait doubles it.
	FirstBackoff = 500 * time.Millisecond
	// MaxInlineWait is the longest wait between inline attempts, Retry-After
	// included: a platform that asks for longer gets the post from the outbox, due
	// when it said.
	MaxInlineWait = 5 * time.Second
	// OutboxInterval is how often the outbox worker looks for posts that are due.
	OutboxInterval = 5 * time.Second
	// DedupKeep is how long a delivery's key is remembered: longer than any platform
	// retries a delivery (Slack: 5 minutes) or accepts a signature (5 minutes).
	DedupKeep = time.Hour
	// CloseGrace is how long Close lets queued posts finish before it cuts their waits
	// short; what is cut short goes to the outbox.
	CloseGrace = 5 * time.Second
	// replyMargin: a reply through an interaction's own way back (a Slack response_url,
	// a Discord interaction token) is not tried this close to its end.
	replyMargin = time.Minute
)

// Driver is one chat platform's wire, as the delivery layer drives it: it renders
// cards, thread lines, replies and reports into its own messages, and makes one
// attempt at sending one. It decides nothing about order, retries, the outbox or
// routing; Delivery does, the same way for every platform.
type Driver interface {
	// Platform is the core's name for the platform: "slack", "discord".
	Platform() string
	// Card renders a request's approval card; edit says it replaces a posted card
	// (whose files are not sent again).
	Card(r *approvals.Request, now time.Time, edit bool) Message
	// Thread renders what an event adds to its card's thread, in order: nothing, a
	// line, or the result (and its long output as a file).
	Thread(e approvals.Event, now time.Time) []Message
	// Reply renders the core's answer to the person who typed or clicked.
	Reply(rep Reply, w Where) Message
	// Report renders a report into the messages that post it, in order (none when it
	// is empty).
	Report(rep *report.Report) []Message
	// Send makes one attempt at o. A failure that trying again soon may cure is a
	// *SendError with Retry set (Temporary); a card that was deleted is ErrGone.
	Send(ctx context.Context, o Out) (Sent, error)
}

// Where tells Driver.Reply where the reply is shown.
type Where struct {
	Channel string // where the person typed or clicked
	Cards   string // where approval cards of requests made there go ("" none)
}

// Message is one message a driver rendered. Body is the driver's own encoding; the
// delivery layer keeps it in the outbox and never reads it.
type Message struct {
	Body  json.RawMessage `json:"body,omitempty"`
	Files []File          `json:"files,omitempty"`
	// InThread posts a report's message in the thread of the report's first message
	// (Slack's report files) rather than after it in the channel.
	InThread bool `json:"in_thread,omitempty"`
	// Line is the text of a one-line thread post (progress), so that a line that
	// repeats the previous one is not posted again.
	Line string `json:"line,omitempty"`
}

// File is a file sent with or as a message.
type File struct {
	Name  string `json:"name"`
	Title string `json:"title,omitempty"`
	Data  []byte `json:"data"`
	Alt   string `json:"alt,omitempty"` // an image's alternative text
}

// OutKind says what an Out is.
type OutKind string

const (
	OutCard   OutKind = "card"   // a request's card: posted, or edited when Edit is set
	OutThread OutKind = "thread" // a post in a request's card's thread (Thread is the card)
	OutReport OutKind = "report" // a report's message in a channel
	OutReply  OutKind = "reply"  // an answer to one person
)

// Out is one message to send, as a driver's Send gets it. It is also what the outbox
// keeps (as JSON): Via, the interaction's own way back, is a capability and is never
// kept.
type Out struct {
	Kind    OutKind `json:"kind"`
	Key     string  `json:"key,omitempty"` // what it is, for people and logs: "r-3 card"
	Channel string  `json:"channel"`
	Request string  `json:"request,omitempty"` // card, thread: the request
	Edit    string  `json:"-"`                 // card: the message it replaces
	Thread  string  `json:"thread,omitempty"`  // the message it answers or goes in the thread of
	User    string  `json:"user,omitempty"`    // reply: the person
	Private bool    `json:"private,omitempty"` // reply: for that person only
	Message
	At time.Time `json:"at"` // when it was first tried
	// Then are the messages that follow once this one went through, in order (the
	// further messages of a report); they travel with it in the outbox.
	Then []Message `json:"then,omitempty"`

	// Via is a reply's own way back while it lives (a Slack response_url, a Discord
	// interaction token); "" sends through the bot. Never kept, never logged.
	Via string `json:"-"`
	// First: the first reply to a command (Discord edits its deferred answer).
	First bool `json:"-"`
}

// Sent is where a message went.
type Sent struct {
	ID      string // the platform's message id (Slack: ts)
	Channel string // the channel's id (a report may be addressed by name)
}

// SendError is a failed attempt that may be worth another soon.
type SendError struct {
	Err   error
	Retry bool          // trying again soon may work: 429, 5xx, the network
	After time.Duration // what the platform asked to wait (Retry-After), 0: not said
}

func (e *SendError) Error() string { return e.Err.Error() }
func (e *SendError) Unwrap() error { return e.Err }

// Temporary marks err as worth another attempt after after (0: the backoff).
func Temporary(err error, after time.Duration) error {
	return &SendError{Err: err, Retry: true, After: after}
}

// ErrGone is what Send answers when the message to edit no longer exists: a card
// someone deleted is posted again.
var ErrGone = errors.New("the message is gone")

// errNoCard: a thread post whose card is not posted yet; it waits in the outbox.
var errNoCard = errors.New("the request's card is not posted yet")

// backoff is the wait before attempt n+1 after a failed attempt n: FirstBackoff
// doubling, or what the platform asked for.
func backoff(n int, err error) (time.Duration, bool) {
	se, ok := errors.AsType[*SendError](err)
	if !ok || !se.Retry {
		return 0, false
	}
	if se.After > 0 {
		return se.After, true
	}
	return FirstBackoff << (n - 1), true
}

// DeliveryConfig is what a Delivery needs.
type DeliveryConfig struct {
	Core   *Core
	Driver Driver
	// ApprovalsChannel is where every approval card goes on this platform; "" means
	// the channel a request was made in, when it was made on this platform.
	ApprovalsChannel string
	Outbox           Outbox // required: nothing is dropped
	Dedup            Dedup  // required: replays are recognised
	Clock            clock.Clock
	Logger           *slog.Logger
	// Sleep waits between inline attempts; default Clock.Sleep (tests watch it).
	Sleep func(ctx context.Context, d time.Duration) error
}

// Delivery is the part of a chat front that is the same on every platform: it orders,
// retries, keeps and redelivers what the driver sends, tracks where cards are, and
// routes cards to channels. A front embeds it; it is the bot.Front and bot.Publisher.
type Delivery struct {
	cfg  DeliveryConfig
	drv  Driver
	name string
	log  *slog.Logger
	clk  clock.Clock

	ctx    context.Context // ends at Close: waits are cut short, goroutines end
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine started
	lanes  sync.WaitGroup // the lane goroutines, which Close lets finish first

	mu      sync.Mutex
	closed  bool
	started bool
	busy    int
	queues  map[string]*lane
	cards   map[string]*cardState // by request id + "|" + channel
	locks   [64]sync.Mutex        // serialise the card operations of one request
	closing sync.Once
	grace   time.Duration
}

// cardState is what the delivery layer remembers of a request's card in a channel.
type cardState struct {
	id      string                // the card's message; "" until it is posted
	shown   int64                 // the request version it shows (0: unknown, after a restart)
	pending bool                  // a card post waits in the outbox: it shows the latest state
	line    string                // the last thread line, so a repeated progress line is not
	newest  *approvals.Request    // the newest snapshot announced
	queued  []approvals.EventKind // events of the request waiting in its lane, in order
}

// lane is a queue of jobs run one after another: everything about one request, every
// reply to one invocation, every report to one channel, in order.
type lane struct{ jobs []func(context.Context) }

// NewDelivery checks the configuration and returns a delivery that sends nothing
// until it is used; Start starts its outbox worker.
func NewDelivery(cfg DeliveryConfig) (*Delivery, error) {
	if cfg.Core == nil || cfg.Driver == nil {
		return nil, errors.New("bot: a delivery needs a core and a driver")
	}
	name := cfg.Driver.Platform()
	if cfg.Outbox == nil || cfg.Dedup == nil {
		return nil, fmt.Errorf("%s: an outbox and a de-duplication store are required (the database)", name)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Sleep == nil {
		cfg.Sleep = cfg.Clock.Sleep
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Delivery{cfg: cfg, drv: cfg.Driver, name: name, log: cfg.Logger, clk: cfg.Clock,
		ctx: ctx, cancel: cancel, queues: map[string]*lane{}, cards: map[string]*cardState{}, grace: CloseGrace}, nil
}

// Platform is the driver's platform: bot.Front.
func (d *Delivery) Platform() string { return d.name }

// Context ends when the delivery is closed; a front's own goroutines use it.
func (d *Delivery) Context() context.Context { return d.ctx }

// SetSleep replaces the wait between inline attempts, for tests that watch it.
func (d *Delivery) SetSleep(sleep func(ctx context.Context, d time.Duration) error) {
	d.cfg.Sleep = sleep
}

// SetCloseGrace changes CloseGrace, for tests.
func (d *Delivery) SetCloseGrace(g time.Duration) { d.grace = g }

// Start starts the outbox worker; it stops when ctx ends or at Close.
func (d *Delivery) Start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("%s: started after Close", d.name)
	}
	if d.started {
		return fmt.Errorf("%s: started twice", d.name)
	}
	d.started = true
	run, stop := context.WithCancel(d.ctx)
	d.wg.Go(func() {
		defer stop()
		select {
		case <-ctx.Done():
		case <-run.Done():
		}
	})
	d.wg.Go(func() {
		DeliverOutbox(run, d.cfg.Outbox, d.name, d.clk, OutboxInterval, d.log, d.redeliver)
	})
	return nil
}

// Close stops taking work, lets queued posts finish for CloseGrace, then stops every
// goroutine and waits for them. What could not be posted stays in the outbox; what is
// announced or published after Close goes straight there.
func (d *Delivery) Close() {
	d.closing.Do(func() {
		d.mu.Lock()
		d.closed = true
		d.mu.Unlock()
		drained := make(chan struct{})
		go func() {
			d.lanes.Wait()
			close(drained)
		}()
		t := time.NewTimer(d.grace)
		select {
		case <-drained:
		case <-t.C:
			d.log.Warn(d.name + ": posts still queued at shutdown; what is not sent goes to the outbox")
		}
		t.Stop()
		d.cancel()
		<-drained
		d.wg.Wait()
	})
}

// Go runs f in a goroutine Close waits for; it reports false (and runs nothing) once
// the delivery is closed.
func (d *Delivery) Go(f func()) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.busy++
	d.wg.Go(func() {
		defer func() {
			d.mu.Lock()
			d.busy--
			d.mu.Unlock()
		}()
		f()
	})
	return true
}

// Serve runs a long-lived goroutine (a connection's reader) that ends when Context
// does; Close waits for it, Idle does not count it.
func (d *Delivery) Serve(f func()) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.wg.Go(f)
	return true
}

// Idle reports whether nothing is being handled and no lane has work.
func (d *Delivery) Idle() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.queues) == 0 && d.busy == 0
}

// enqueue adds job to the lane called key, starting its goroutine if it is idle. It
// reports false once the delivery is closed.
func (d *Delivery) enqueue(key string, job func(context.Context)) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	if l, ok := d.queues[key]; ok {
		l.jobs = append(l.jobs, job)
		return true
	}
	l := &lane{jobs: []func(context.Context){job}}
	d.queues[key] = l
	d.lanes.Add(1)
	go d.drain(key, l)
	return true
}

func (d *Delivery) drain(key string, l *lane) {
	defer d.lanes.Done()
	for {
		d.mu.Lock()
		if len(l.jobs) == 0 {
			delete(d.queues, key)
			d.mu.Unlock()
			return
		}
		job := l.jobs[0]
		l.jobs = l.jobs[1:]
		d.mu.Unlock()
		job(d.ctx)
	}
}

// FirstSeen records a delivery's key and reports whether it is new. The rule for
// every platform: when the store cannot answer, the caller refuses the command or
// click with a message that asks to try again, rather than risk handling a replay.
func (d *Delivery) FirstSeen(ctx context.Context, key string) (bool, error) {
	fresh, err := d.cfg.Dedup.FirstSeen(ctx, key, d.clk.Now(), DedupKeep)
	if err != nil {
		d.log.Error(d.name+": recording a delivery", "err", err)
	}
	return fresh, err
}

// DedupRefusal is what a person is told when FirstSeen failed.
const DedupRefusal = "exchops could not take this just now (its database did not answer), so nothing changed. Try again in a moment."

// CardChannel is where a request's card goes on this platform, the one routing rule:
// the approvals channel when one is set (every card, whichever platform the request
// was made on), else the channel a request made on this platform was made in; a
// request made elsewhere then gets no card here.
func (d *Delivery) CardChannel(r *approvals.Request) string {
	if d.cfg.ApprovalsChannel != "" {
		return d.cfg.ApprovalsChannel
	}
	if r.Origin.Platform == d.name {
		return r.Origin.Channel
	}
	return ""
}

// CardsFor is where the card of a request made in channel goes ("" none).
func (d *Delivery) CardsFor(channel string) string {
	if d.cfg.ApprovalsChannel != "" {
		return d.cfg.ApprovalsChannel
	}
	return channel
}

// Announce is bot.Front: it queues what a request's transition means on this
// platform (its card posted or updated, a line or the result in its thread) and
// returns at once. A request's posts go out in the order of its events.
func (d *Delivery) Announce(_ context.Context, e approvals.Event) {
	r := e.Request
	if r == nil {
		return
	}
	ch := d.CardChannel(r)
	if ch == "" {
		return
	}
	d.mu.Lock()
	st := d.state(r.ID, ch)
	if st.newest == nil || r.Version >= st.newest.Version {
		st.newest = r
	}
	st.queued = append(st.queued, e.Kind)
	d.mu.Unlock()
	if d.enqueue("request:"+r.ID, func(ctx context.Context) { d.announce(ctx, e, ch) }) {
		return
	}
	// Closed: nothing is sent now, but nothing is lost either. One kept card post is
	// enough: it shows the request as it is when it is sent.
	d.mu.Lock()
	st.queued = st.queued[1:]
	d.mu.Unlock()
	if !d.cardPending(r.ID, ch) {
		d.keep(d.ctx, Out{Kind: OutCard, Key: r.ID + " card", Channel: ch, Request: r.ID}, nil)
	}
	for _, o := range d.threadOuts(e, ch, "") {
		d.keep(d.ctx, o, nil)
	}
}

// threadOuts are the posts an event adds to its card's thread. A progress line is
// left out when the next event waiting is progress too (it says more) or when it
// repeats the thread's last line.
func (d *Delivery) threadOuts(e approvals.Event, ch string, next approvals.EventKind) []Out {
	r := e.Request
	var out []Out
	for _, m := range d.drv.Thread(e, d.clk.Now()) {
		if m.Line != "" {
			if e.Kind == approvals.EventProgress && next == approvals.EventProgress {
				continue
			}
			d.mu.Lock()
			st := d.state(r.ID, ch)
			repeat := st.line == m.Line
			st.line = m.Line
			d.mu.Unlock()
			if repeat {
				continue
			}
		}
		out = append(out, Out{Kind: OutThread, Key: r.ID + " " + string(e.Kind), Channel: ch, Request: r.ID, Message: m, At: d.clk.Now()})
	}
	return out
}

// announce runs in the request's lane: the card first, then its thread. The card
// shows the newest snapshot announced (snapshots can arrive out of order), and its
// edit is left to a later event when one is already waiting.
func (d *Delivery) announce(ctx context.Context, e approvals.Event, ch string) {
	r := e.Request
	d.mu.Lock()
	st := d.state(r.ID, ch)
	st.queued = st.queued[1:]
	more := len(st.queued) > 0
	var next approvals.EventKind
	if more {
		next = st.queued[0]
	}
	newest, known, pending := st.newest, st.id != "", st.pending
	d.mu.Unlock()
	if !pending && !(known && more) {
		o := Out{Kind: OutCard, Key: r.ID + " card", Channel: ch, Request: r.ID, At: d.clk.Now()}
		d.attempt(ctx, o, func(ctx context.Context) (Sent, error) { return d.syncCard(ctx, r.ID, ch, newest) })
	}
	for _, o := range d.threadOuts(e, ch, next) {
		d.deliver(ctx, o)
	}
	if r.Status.Final() && !more {
		d.forgetCard(r.ID, ch)
	}
}

// syncCard makes the request's card in ch show r (nil: the request as stored now):
// it posts the card when there is none and attaches it to the request, else edits
// it in place; a card someone deleted is posted again. An older snapshot than the
// one shown is not shown.
func (d *Delivery) syncCard(ctx context.Context, id, ch string, r *approvals.Request) (Sent, error) {
	mu := d.cardLock(id)
	mu.Lock()
	defer mu.Unlock()
	if r == nil {
		var err error
		if r, err = d.cfg.Core.Request(ctx, id); err != nil {
			return Sent{}, err
		}
	}
	ref, shown, err := d.cardRef(ctx, id, ch, r)
	if err != nil {
		return Sent{}, err
	}
	now := d.clk.Now()
	if ref == "" {
		return d.postCard(ctx, id, ch, r)
	}
	if shown != 0 && r.Version < shown {
		return Sent{ID: ref, Channel: ch}, nil
	}
	o := Out{Kind: OutCard, Key: id + " card update", Channel: ch, Request: id, Edit: ref, Message: d.drv.Card(r, now, true)}
	_, err = d.drv.Send(ctx, o)
	if errors.Is(err, ErrGone) {
		d.log.Warn(d.name+": a card was deleted; posting it again", "request", id, "channel", ch)
		return d.postCard(ctx, id, ch, r)
	}
	if err != nil {
		return Sent{}, err
	}
	d.rememberCard(id, ch, ref, r.Version)
	return Sent{ID: ref, Channel: ch}, nil
}

// postCard posts a request's card and records where it is.
func (d *Delivery) postCard(ctx context.Context, id, ch string, r *approvals.Request) (Sent, error) {
	o := Out{Kind: OutCard, Key: id + " card", Channel: ch, Request: id, Message: d.drv.Card(r, d.clk.Now(), false)}
	sent, err := d.drv.Send(ctx, o)
	if err != nil {
		return Sent{}, err
	}
	if sent.Channel == "" {
		sent.Channel = ch
	}
	d.rememberCard(id, ch, sent.ID, r.Version)
	card := approvals.Card{Platform: d.name, Channel: sent.Channel, MessageID: sent.ID}
	if err := d.cfg.Core.AttachCard(context.WithoutCancel(ctx), id, card); err != nil {
		// The card is up and this process remembers it; only a restart would lose
		// track of it, so this is worth a log line, not a second card.
		d.log.Error(d.name+": recording where a card was posted", "request", id, "err", err)
	}
	return sent, nil
}

// cardRef returns the card's message and the version it shows, from memory or, after
// a restart or when another process posted it, from the request's cards.
func (d *Delivery) cardRef(ctx context.Context, id, ch string, r *approvals.Request) (string, int64, error) {
	d.mu.Lock()
	c := d.cards[id+"|"+ch]
	d.mu.Unlock()
	if c != nil && c.id != "" {
		return c.id, c.shown, nil
	}
	if r != nil {
		if ref := d.cardIn(r, ch); ref != "" {
			return ref, 0, nil
		}
		if r.Status == approvals.Pending && r.Version <= 1 {
			return "", 0, nil // just created: no card can exist yet
		}
	}
	stored, err := d.cfg.Core.Request(ctx, id)
	if err != nil {
		return "", 0, err
	}
	return d.cardIn(stored, ch), 0, nil
}

func (d *Delivery) cardIn(r *approvals.Request, ch string) string {
	for _, c := range r.Cards {
		if c.Platform == d.name && c.Channel == ch {
			return c.MessageID
		}
	}
	return ""
}

func (d *Delivery) cardLock(id string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(id))
	return &d.locks[h.Sum32()%uint32(len(d.locks))]
}

// state returns the card state of id in ch, made when needed; d.mu is held.
func (d *Delivery) state(id, ch string) *cardState {
	k := id + "|" + ch
	c := d.cards[k]
	if c == nil {
		c = &cardState{}
		d.cards[k] = c
	}
	return c
}

func (d *Delivery) rememberCard(id, ch, ref string, version int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.state(id, ch)
	c.id = ref
	c.shown = max(c.shown, version)
}

func (d *Delivery) setCardPending(id, ch string, pending bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !pending && d.cards[id+"|"+ch] == nil {
		return
	}
	d.state(id, ch).pending = pending
}

func (d *Delivery) cardPending(id, ch string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.cards[id+"|"+ch]
	return c != nil && c.pending
}

// forgetCard drops what is remembered of a finished request's card, unless a post for
// it waits in the outbox or an event in its lane. The store still knows where it is.
func (d *Delivery) forgetCard(id, ch string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c := d.cards[id+"|"+ch]; c != nil && !c.pending && len(c.queued) == 0 {
		delete(d.cards, id+"|"+ch)
	}
}

// thread fills in a thread post's card, looked up when it is sent, so that a line
// queued before its card was posted still finds it.
func (d *Delivery) thread(ctx context.Context, o *Out) error {
	if o.Kind != OutThread || o.Thread != "" {
		return nil
	}
	ref, _, err := d.cardRef(ctx, o.Request, o.Channel, nil)
	if err != nil {
		return err
	}
	if ref == "" {
		return errNoCard
	}
	o.Thread = ref
	return nil
}

// send makes one attempt at o (its card looked up first, for a thread post).
func (d *Delivery) send(ctx context.Context, o Out) (Sent, error) {
	if o.Kind == OutCard {
		return d.syncCard(ctx, o.Request, o.Channel, nil)
	}
	if err := d.thread(ctx, &o); err != nil {
		return Sent{}, err
	}
	return d.drv.Send(ctx, o)
}

// deliver sends o and what follows it, each retried inline and kept in the outbox
// when it still fails. It returns an error only when something could be neither
// delivered nor kept.
func (d *Delivery) deliver(ctx context.Context, o Out) error {
	if o.At.IsZero() {
		o.At = d.clk.Now()
	}
	sent, ok, err := d.attempt(ctx, o, func(ctx context.Context) (Sent, error) { return d.send(ctx, o) })
	if !ok {
		return err
	}
	return d.follow(ctx, o, sent, true)
}

// follow sends the messages that wait behind o, which went through as sent, in
// order: inline, each retried like any post; from the outbox worker, one attempt
// each. The first that fails is kept with those after it. A message InThread goes in
// the thread of the chain's first message (kept ones carry that thread along).
func (d *Delivery) follow(ctx context.Context, o Out, sent Sent, inline bool) error {
	anchor := sent
	if o.Thread != "" && o.Kind == OutReport {
		anchor = Sent{ID: o.Thread, Channel: o.Channel}
	}
	for i, m := range o.Then {
		next := Out{Kind: o.Kind, Key: o.Key, Channel: o.Channel, Message: m, At: d.clk.Now(), Then: o.Then[i+1:]}
		if m.InThread {
			next.Thread = anchor.ID
			if anchor.Channel != "" {
				next.Channel = anchor.Channel
			}
		}
		if inline && ctx.Err() == nil {
			if _, ok, err := d.attempt(ctx, next, func(ctx context.Context) (Sent, error) { return d.drv.Send(ctx, next) }); !ok {
				return err // kept with those after it, or neither sent nor kept
			}
			continue
		}
		if ctx.Err() != nil {
			return d.keep(ctx, next, nil)
		}
		_, err := d.drv.Send(ctx, next)
		d.count(err)
		if err != nil {
			return d.keep(ctx, next, err)
		}
	}
	return nil
}

// attempt calls try until it succeeds, a failure is not worth retrying now, or the
// inline budget is spent; then o (with what follows it) goes to the outbox. ok
// reports delivery; err what could be neither delivered nor kept.
func (d *Delivery) attempt(ctx context.Context, o Out, try func(context.Context) (Sent, error)) (Sent, bool, error) {
	var err error
	for n := 1; ; n++ {
		var sent Sent
		sent, err = try(ctx)
		d.count(err)
		if err == nil {
			return sent, true, nil
		}
		wait, again := backoff(n, err)
		if !again || n >= InlineAttempts || wait > MaxInlineWait || ctx.Err() != nil {
			break
		}
		d.log.Warn(d.name+": a post failed; retrying", "post", o.Key, "attempt", n, "wait", wait, "err", err)
		if d.cfg.Sleep(ctx, wait) != nil {
			break
		}
	}
	return Sent{}, false, d.keep(ctx, o, err)
}

// count counts an attempt in the metrics; a thread post waiting for its card is not
// a failed attempt.
func (d *Delivery) count(err error) {
	switch {
	case err == nil:
		d.cfg.Core.Metrics().Post(d.name, "sent")
	case !errors.Is(err, errNoCard):
		d.cfg.Core.Metrics().Post(d.name, "failed")
	}
}

// keep puts o (and what follows it) into the outbox, due when the platform said or
// after the outbox's first backoff. It logs and returns the error when even that
// fails. A reply is kept in its bot form: an interaction's own way back is never
// stored.
func (d *Delivery) keep(ctx context.Context, o Out, cause error) error {
	if o.At.IsZero() {
		o.At = d.clk.Now()
	}
	o.Via, o.First = "", false
	payload, err := json.Marshal(o)
	if err == nil {
		now := d.clk.Now()
		next := now.Add(OutboxBackoff(1))
		if se, ok := errors.AsType[*SendError](cause); ok && se.After > 0 {
			next = now.Add(max(se.After, time.Second))
		}
		if cause == nil || errors.Is(cause, errNoCard) {
			next = now // not tried yet, or waiting for its card: as soon as the worker runs
		}
		last := ""
		if cause != nil {
			last = cause.Error()
		}
		// The outbox must take it even while the front is stopping.
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, err = d.cfg.Outbox.Enqueue(kctx, Post{Platform: d.name, Key: o.Key, Payload: payload, NextAt: next, CreatedAt: now, LastError: last})
	}
	if err != nil {
		d.log.Error(d.name+": a post failed and could not be kept for retry", "post", o.Key, "err", err)
		return err
	}
	if o.Kind == OutCard {
		d.setCardPending(o.Request, o.Channel, true)
	}
	if cause != nil && !errors.Is(cause, errNoCard) {
		d.log.Warn(d.name+": a post failed; it is kept in the outbox and retried", "post", o.Key, "err", cause)
	}
	return nil
}

// redeliver is the outbox worker's one attempt at a kept post. Nothing is dropped: a
// post the platform refuses stays until it is accepted (a missing permission is
// fixed by a person), and so does one that does not decode (it is logged each time,
// at a pace that slows to once in ten minutes, for a person to look at).
func (d *Delivery) redeliver(ctx context.Context, p Post) error {
	var o Out
	if err := json.Unmarshal(p.Payload, &o); err != nil {
		d.log.Error(d.name+": a kept post does not decode; it stays in the outbox", "post", p.Key, "err", err)
		return fmt.Errorf("the kept post does not decode: %w", err)
	}
	if o.At.IsZero() {
		o.At = p.CreatedAt
	}
	sent, err := d.send(ctx, o)
	d.count(err)
	if err != nil {
		return err
	}
	if o.Kind == OutCard {
		d.setCardPending(o.Request, o.Channel, false)
	}
	d.log.Info(d.name+": a kept post was delivered", "post", p.Key, "attempts", p.Attempts+1)
	if err := d.follow(ctx, o, sent, false); err != nil {
		// Neither sent nor kept: the outbox tries the whole post again, messages
		// posted twice rather than lost.
		return err
	}
	return nil
}

// Conv is one invocation's conversation: where the core's replies to the person go.
type Conv struct {
	Channel string
	User    string
	// Via is the invocation's own way back (a response_url, an interaction token),
	// usable for Life after Issued; "" replies through the bot.
	Via    string
	Issued time.Time
	Life   time.Duration
	// Click: the invocation is a button click (no first reply to edit).
	Click bool
	// Ready, when not nil, holds the replies back until it is closed (a slash
	// command's acknowledgement must go first).
	Ready <-chan struct{}
	// Lane names the conversation; its replies go out in order.
	Lane string
}

// Respond returns the core's Respond for a conversation: each reply is rendered by
// the driver and delivered in order, through the invocation's own way back while it
// lives, else (or when that fails) through the bot, retried and kept like any post.
func (d *Delivery) Respond(c Conv) Respond {
	var mu sync.Mutex
	first := !c.Click
	return func(rep Reply) {
		msg := d.drv.Reply(rep, Where{Channel: c.Channel, Cards: d.CardsFor(c.Channel)})
		o := Out{Kind: OutReply, Key: "reply to " + c.User, Channel: c.Channel, User: c.User, Private: rep.Private, Message: msg, At: d.clk.Now()}
		job := func(ctx context.Context) {
			if c.Ready != nil {
				select {
				case <-c.Ready:
				case <-ctx.Done(): // shutting down: what follows keeps it in the outbox
				}
			}
			if c.Via != "" && d.clk.Now().Sub(c.Issued) < c.Life-replyMargin && ctx.Err() == nil {
				v := o
				v.Via = c.Via
				mu.Lock()
				v.First = first
				mu.Unlock()
				if _, err := d.tryVia(ctx, v); err == nil {
					mu.Lock()
					first = false
					mu.Unlock()
					return
				} else {
					d.log.Warn(d.name+": replying through the invocation failed; replying through the bot", "err", err)
				}
			}
			_ = d.deliver(ctx, o)
		}
		if !d.enqueue("conv:"+c.Lane, job) {
			d.keep(d.ctx, o, nil)
		}
	}
}

// tryVia sends a reply through its invocation's own way back, retried inline, never
// kept: the way back expires, and it is a capability the outbox must not hold.
func (d *Delivery) tryVia(ctx context.Context, o Out) (Sent, error) {
	var err error
	for n := 1; ; n++ {
		var sent Sent
		sent, err = d.drv.Send(ctx, o)
		d.count(err)
		if err == nil {
			return sent, nil
		}
		wait, again := backoff(n, err)
		if !again || n >= InlineAttempts || wait > MaxInlineWait || ctx.Err() != nil {
			return Sent{}, err
		}
		if d.cfg.Sleep(ctx, wait) != nil {
			return Sent{}, err
		}
	}
}

// Tell delivers one reply to user in channel through the bot, in order with what else
// they were told there.
func (d *Delivery) Tell(channel, user string, rep Reply) {
	d.Respond(Conv{Channel: channel, User: user, Click: true, Lane: "user:" + user + ":" + channel})(rep)
}

// PublishReport is bot.Publisher: it posts a report into channel as the driver renders it,
// in order with other reports to that channel, each message retried inline and, when
// it still fails, kept in the outbox with the messages after it. It waits for the
// first attempts and fails only when the report could neither be posted nor kept.
func (d *Delivery) PublishReport(ctx context.Context, channel string, rep *report.Report) error {
	channel = strings.TrimSpace(channel)
	if channel == "" {
		return fmt.Errorf("%s: no channel to post the report in: name its id in the schedule's post_to.%s", d.name, d.name)
	}
	if v, ok := d.drv.(interface{ CheckChannel(string) error }); ok {
		if err := v.CheckChannel(channel); err != nil {
			return err
		}
	}
	msgs := d.drv.Report(rep)
	if len(msgs) == 0 {
		return fmt.Errorf("%s: a report with neither a title nor a text: nothing to post", d.name)
	}
	key := "report"
	if t := strings.Join(strings.Fields(rep.Heading()), " "); t != "" {
		key += " " + cut(t, 80)
	}
	o := Out{Kind: OutReport, Key: key, Channel: channel, Message: msgs[0], Then: msgs[1:], At: d.clk.Now()}
	done := make(chan error, 1)
	if !d.enqueue("report:"+channel, func(lane context.Context) {
		// Its waits end when the caller gives up or the front closes; what is not
		// sent then is kept.
		jctx, cancel := context.WithCancel(lane)
		defer cancel()
		defer context.AfterFunc(ctx, cancel)()
		if jctx.Err() != nil {
			done <- d.keep(jctx, o, nil)
			return
		}
		done <- d.deliver(jctx, o)
	}) {
		if err := d.keep(ctx, o, nil); err != nil {
			return fmt.Errorf("%s: the front is closed and the report could not be kept for later: %w", d.name, err)
		}
		return nil
	}
	if err := <-done; err != nil {
		return fmt.Errorf("%s: the report could neither be posted nor kept for retry: %w", d.name, err)
	}
	return nil
}

func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
