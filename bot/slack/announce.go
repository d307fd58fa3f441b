package slack

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"sync"

	slackgo "github.com/slack-go/slack"

	"github.com/exchops/exchops/approvals"
)

// cardState is what the front remembers about a request's card in one channel.
type cardState struct {
	ts      string // the card's message; "" until it is posted
	shown   int64  // the request version the card shows (0: unknown, after a restart)
	pending bool   // a "card" post waits in the outbox: it will show the latest state
	line    string // the last thread line posted, so a repeated progress line is not
}

// cardChannel is where a request's card goes on Slack: the approvals channel when one
// is set, else the channel a Slack request was made in. A request made on another
// platform gets a card only in the approvals channel.
func (s *Slack) cardChannel(r *approvals.Request) string {
	if s.cfg.ApprovalsChannel != "" {
		return s.cfg.ApprovalsChannel
	}
	if r.Origin.Platform == platform {
		return r.Origin.Channel
	}
	return ""
}

// Announce queues what a request's transition means on Slack: the card posted or
// updated, a line or the result in its thread. It returns at once; a request's posts
// go out in the order of its events.
func (s *Slack) Announce(_ context.Context, e approvals.Event) {
	r := e.Request
	if r == nil {
		return
	}
	ch := s.cardChannel(r)
	if ch == "" {
		return
	}
	if !s.enqueue("request:"+r.ID, func(ctx context.Context) { s.announce(ctx, e, ch) }) {
		// Closed: nothing is sent now, but nothing is lost either. One kept card post
		// is enough: it shows the request as it is when it is sent.
		if !s.isCardPending(r.ID, ch) {
			s.keep(s.ctx, r.ID+" card", post{Method: methodCard, Request: r.ID, Channel: ch}, nil, 0)
		}
		for _, p := range s.threadPosts(e, ch) {
			s.keep(s.ctx, r.ID+" thread", p, nil, 0)
		}
	}
}

// threadPosts are the posts an event adds to its card's thread: the full plan when
// the card had to shorten it, a line, or the result (and its output as a file).
func (s *Slack) threadPosts(e approvals.Event, ch string) []post {
	r := e.Request
	switch e.Kind {
	case approvals.EventRequested:
		if file, ok := planFile(r); ok {
			return []post{{Method: methodUpload, Channel: ch, ThreadOf: r.ID, File: file}}
		}
		return nil
	case approvals.EventSucceeded, approvals.EventFailed:
		msg := resultMessage(r)
		out := []post{{Method: methodPost, Channel: ch, ThreadOf: r.ID, Text: msg.Text, Blocks: msg.blocksJSON()}}
		if file, ok := outputFile(r); ok {
			out = append(out, post{Method: methodUpload, Channel: ch, ThreadOf: r.ID, File: file})
		}
		return out
	}
	line, ok := threadLine(e)
	if !ok {
		return nil
	}
	return []post{{Method: methodPost, Channel: ch, ThreadOf: r.ID, Text: line}}
}

// announce runs in the request's lane: the card first, then its thread.
func (s *Slack) announce(ctx context.Context, e approvals.Event, ch string) {
	r := e.Request
	key := r.ID + " card"
	if !s.isCardPending(r.ID, ch) {
		p := post{Method: methodCard, Request: r.ID, Channel: ch, At: s.clock.Now()}
		s.attempt(ctx, key, p, func(ctx context.Context) (string, error) { return s.syncCard(ctx, r.ID, ch, r) })
	}
	for _, p := range s.threadPosts(e, ch) {
		if s.lineRepeats(r.ID, ch, p) {
			continue
		}
		s.deliver(ctx, r.ID+" thread", p)
	}
	if r.Status.Final() {
		s.forgetCard(r.ID, ch)
	}
}

// syncCard makes the request's card in ch show r (or, when r is nil, the request as
// stored now): it posts the card when there is none and attaches it to the request,
// else updates it in place. An older snapshot than the one shown is not shown.
func (s *Slack) syncCard(ctx context.Context, id, ch string, r *approvals.Request) (string, error) {
	mu := s.cardLock(id)
	mu.Lock()
	defer mu.Unlock()
	if r == nil {
		var err error
		if r, err = s.core.Request(ctx, id); err != nil {
			return "", err
		}
	}
	ts, shown, err := s.cardRef(ctx, id, ch, r)
	if err != nil {
		return "", err
	}
	msg := cardMessage(r)
	opts := []slackgo.MsgOption{slackgo.MsgOptionText(msg.Text, false), slackgo.MsgOptionBlocks(msg.Blocks...)}
	if ts == "" {
		return s.postCard(ctx, id, ch, r, opts)
	}
	if shown != 0 && r.Version < shown {
		return ts, nil
	}
	_, _, _, err = s.api.UpdateMessageContext(ctx, ch, ts, opts...)
	if se, ok := errors.AsType[slackgo.SlackErrorResponse](err); ok && se.Err == "message_not_found" {
		// Someone deleted the card: post it again, so that the request can still be
		// decided and followed from Slack.
		s.log.Warn("slack: a card was deleted; posting it again", "request", id, "channel", ch)
		return s.postCard(ctx, id, ch, r, opts)
	}
	if err != nil {
		return "", err
	}
	s.rememberCard(id, ch, ts, r.Version)
	return ts, nil
}

// postCard posts a request's card and records where it is.
func (s *Slack) postCard(ctx context.Context, id, ch string, r *approvals.Request, opts []slackgo.MsgOption) (string, error) {
	_, ts, err := s.api.PostMessageContext(ctx, ch, opts...)
	if err != nil {
		return "", err
	}
	s.rememberCard(id, ch, ts, r.Version)
	card := approvals.Card{Platform: platform, Channel: ch, MessageID: ts}
	if err := s.core.AttachCard(context.WithoutCancel(ctx), id, card); err != nil {
		// The card is up and this process remembers it; only a restart would lose
		// track of it, so this is worth a log line, not a second card.
		s.log.Error("slack: recording where a card was posted", "request", id, "err", err)
	}
	return ts, nil
}

// cardRef returns the card's ts and the version it shows, from memory or, after a
// restart, from the request's cards.
func (s *Slack) cardRef(ctx context.Context, id, ch string, r *approvals.Request) (string, int64, error) {
	s.mu.Lock()
	c := s.cards[id+"|"+ch]
	s.mu.Unlock()
	if c != nil && c.ts != "" {
		return c.ts, c.shown, nil
	}
	if r != nil {
		if ts := slackCard(r, ch); ts != "" {
			return ts, 0, nil
		}
		if r.Status == approvals.Pending && r.Version <= 1 {
			return "", 0, nil // just created: no card can exist yet
		}
	}
	stored, err := s.core.Request(ctx, id)
	if err != nil {
		return "", 0, err
	}
	return slackCard(stored, ch), 0, nil
}

// cardTS returns the ts of the request's card in ch ("" when there is none yet).
func (s *Slack) cardTS(ctx context.Context, id, ch string) (string, error) {
	ts, _, err := s.cardRef(ctx, id, ch, nil)
	return ts, err
}

func slackCard(r *approvals.Request, ch string) string {
	for _, c := range r.Cards {
		if c.Platform == platform && c.Channel == ch {
			return c.MessageID
		}
	}
	return ""
}

func (s *Slack) cardLock(id string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(id))
	return &s.cardLocks[h.Sum32()%uint32(len(s.cardLocks))]
}

func (s *Slack) state(id, ch string) *cardState {
	k := id + "|" + ch
	c := s.cards[k]
	if c == nil {
		c = &cardState{}
		s.cards[k] = c
	}
	return c
}

func (s *Slack) rememberCard(id, ch, ts string, version int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.state(id, ch)
	c.ts = ts
	c.shown = max(c.shown, version)
}

func (s *Slack) cardPending(id, ch string, pending bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !pending && s.cards[id+"|"+ch] == nil {
		return
	}
	s.state(id, ch).pending = pending
}

func (s *Slack) isCardPending(id, ch string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cards[id+"|"+ch]
	return c != nil && c.pending
}

// lineRepeats reports whether p repeats the thread's last line (a wait prints the same
// progress many times), and remembers p otherwise.
func (s *Slack) lineRepeats(id, ch string, p post) bool {
	if p.File != nil || len(p.Blocks) > 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.state(id, ch)
	if c.line == p.Text {
		return true
	}
	c.line = p.Text
	return false
}

// forgetCard drops what the front remembers of a finished request's card, unless a
// post for it still waits in the outbox. The store still knows where the card is.
func (s *Slack) forgetCard(id, ch string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.cards[id+"|"+ch]; c != nil && !c.pending {
		delete(s.cards, id+"|"+ch)
	}
}

// message is a rendered Slack message: the notification text and the blocks.
type message struct {
	Text   string          `json:"text"`
	Blocks []slackgo.Block `json:"blocks,omitempty"`
}

func (m message) blocksJSON() json.RawMessage {
	if len(m.Blocks) == 0 {
		return nil
	}
	b, err := json.Marshal(m.Blocks)
	if err != nil {
		return nil
	}
	return b
}
