package discord

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/exchops/exchops/approvals"
)

// queue holds one request's events until they are posted: each request has its own
// worker, so that a slow post delays only that request, and its posts keep their order.
type queue struct {
	events []approvals.Event
}

// Announce is bot.Front: it queues the event and returns at once.
func (d *Discord) Announce(_ context.Context, e approvals.Event) {
	if e.Request == nil {
		return
	}
	id := e.Request.ID
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		d.log.Warn("discord: an event arrived after the front was closed; it is not posted", "request", id, "event", string(e.Kind))
		return
	}
	q := d.queues[id]
	if q == nil {
		q = &queue{}
		d.queues[id] = q
		d.work.Add(1)
		go d.drain(id)
	}
	q.events = append(q.events, e)
}

// drain posts a request's events in order until its queue is empty.
func (d *Discord) drain(id string) {
	defer d.work.Done()
	for {
		d.mu.Lock()
		q := d.queues[id]
		if len(q.events) == 0 {
			delete(d.queues, id)
			d.mu.Unlock()
			return
		}
		e := q.events[0]
		q.events = q.events[1:]
		later := append([]approvals.Event(nil), q.events...)
		d.mu.Unlock()
		d.announce(e, later)
	}
}

// cardChannel is where a request's card goes: the channel it was asked in on Discord,
// the approvals channel for requests made elsewhere ("" when there is none).
func (d *Discord) cardChannel(r *approvals.Request) string {
	if r.Origin.Platform == platform && r.Origin.Channel != "" {
		return r.Origin.Channel
	}
	return d.cfg.ApprovalsChannel
}

// cardOf returns where the request's Discord card is, if it has one.
func (d *Discord) cardOf(r *approvals.Request) (approvals.Card, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.cards[r.ID]; ok {
		return c, true
	}
	for _, c := range r.Cards {
		if c.Platform == platform && c.MessageID != "" {
			d.cards[r.ID] = c
			return c, true
		}
	}
	return approvals.Card{}, false
}

func (d *Discord) cardPending(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pending[id]
}

// announce posts one event: the card when the request is made, an edit of the card
// afterwards (skipped when a later event is already waiting, which edits it anyway),
// and a reply to the card saying what happened.
func (d *Discord) announce(e approvals.Event, later []approvals.Event) {
	ctx := d.ctx
	r := e.Request
	// Snapshots can arrive out of order (a vote and the run it starts are announced
	// from different goroutines): the card shows the newest.
	latest := r
	for _, l := range later {
		if l.Request != nil && l.Request.Version > latest.Version {
			latest = l.Request
		}
	}
	card, known := d.cardOf(r)
	switch {
	case known:
		if len(later) == 0 {
			d.editCard(ctx, card, latest)
		}
	case e.Kind == approvals.EventRequested && !d.cardPending(r.ID):
		ch := d.cardChannel(r)
		if ch == "" {
			return
		}
		d.postCard(ctx, latest, ch)
		card, known = d.cardOf(r)
	}
	if !known && !d.cardPending(r.ID) {
		return // no card on Discord: nothing to reply to
	}
	if e.Kind == approvals.EventProgress && len(later) > 0 && later[0].Kind == approvals.EventProgress {
		return // the next progress line says more
	}
	m, files, ok := eventMessage(e, d.clk.Now())
	if !ok {
		return
	}
	ch := card.Channel
	if !known {
		ch = d.cardChannel(r)
	}
	if ch == "" {
		return
	}
	m.attach(files)
	c := &call{Method: http.MethodPost, Path: "channels/" + ch + "/messages", Body: m.json(), Files: files,
		ReplyTo: r.ID, Key: fmt.Sprintf("%s %s", r.ID, e.Kind)}
	if err := d.prepare(ctx, c); err != nil {
		d.log.Error("discord: preparing a reply to a card", "request", r.ID, "err", err)
		return
	}
	d.post(ctx, c)
}

func (d *Discord) postCard(ctx context.Context, r *approvals.Request, channel string) {
	m, files := renderCard(r, d.clk.Now())
	c := &call{Method: http.MethodPost, Path: "channels/" + channel + "/messages", Body: m.json(), Files: files,
		Card: r.ID, Key: r.ID + " card"}
	data, queued, err := d.post(ctx, c)
	switch {
	case err == nil:
		d.delivered(ctx, c, data)
	case queued:
		d.mu.Lock()
		d.pending[r.ID] = true
		d.mu.Unlock()
	}
}

func (d *Discord) editCard(ctx context.Context, card approvals.Card, r *approvals.Request) {
	m, _ := renderCard(r, d.clk.Now())
	m.Attachments = nil // an edit keeps the card's files
	c := &call{Method: http.MethodPatch, Path: "channels/" + card.Channel + "/messages/" + card.MessageID, Body: m.json(),
		Card: r.ID, Key: r.ID + " card update"}
	d.post(ctx, c)
}

// prepare completes a call just before it is made (again): a card is rendered from
// the request as it is now, and a reply refers to the card if it is known by now.
func (d *Discord) prepare(ctx context.Context, c *call) error {
	if c.Card != "" {
		r, err := d.cfg.Core.Request(ctx, c.Card)
		if err != nil {
			return err
		}
		m, files := renderCard(r, d.clk.Now())
		switch c.Method {
		case http.MethodPost:
			if card, ok := d.cardOf(r); ok {
				// Posted meanwhile (by another process): edit it rather than post twice.
				c.Method, c.Path = http.MethodPatch, "channels/"+card.Channel+"/messages/"+card.MessageID
				m.Attachments, files = nil, nil
			}
		default:
			m.Attachments, files = nil, nil
		}
		c.Body, c.Files = m.json(), files
	}
	if c.ReplyTo != "" {
		card, ok := d.cardByID(ctx, c.ReplyTo)
		if ok && strings.HasPrefix(c.Path, "channels/"+card.Channel+"/") {
			var body map[string]json.RawMessage
			if err := json.Unmarshal(c.Body, &body); err != nil {
				return err
			}
			ref, _ := json.Marshal(map[string]any{"message_id": card.MessageID, "channel_id": card.Channel, "fail_if_not_exists": false})
			body["message_reference"] = ref
			b, err := json.Marshal(body)
			if err != nil {
				return err
			}
			c.Body = b
		}
	}
	return nil
}

// cardByID finds a request's card by its id, from memory or from the store.
func (d *Discord) cardByID(ctx context.Context, id string) (approvals.Card, bool) {
	d.mu.Lock()
	c, ok := d.cards[id]
	d.mu.Unlock()
	if ok {
		return c, true
	}
	r, err := d.cfg.Core.Request(ctx, id)
	if err != nil {
		return approvals.Card{}, false
	}
	return d.cardOf(r)
}

// delivered is told what Discord answered to a call that went through: a posted card
// is remembered, here and with the request.
func (d *Discord) delivered(ctx context.Context, c *call, data []byte) {
	if c.Card == "" || c.Method != http.MethodPost {
		return
	}
	var msg struct {
		ID        string `json:"id"`
		ChannelID string `json:"channel_id"`
	}
	if err := json.Unmarshal(data, &msg); err != nil || msg.ID == "" {
		d.log.Error("discord: Discord's answer to a card post has no message id; the card cannot be updated", "request", c.Card)
		return
	}
	if msg.ChannelID == "" {
		msg.ChannelID = strings.TrimSuffix(strings.TrimPrefix(c.Path, "channels/"), "/messages")
	}
	card := approvals.Card{Platform: platform, Channel: msg.ChannelID, MessageID: msg.ID}
	d.mu.Lock()
	d.cards[c.Card] = card
	delete(d.pending, c.Card)
	d.mu.Unlock()
	if err := d.cfg.Core.AttachCard(context.WithoutCancel(ctx), c.Card, card); err != nil {
		d.log.Error("discord: remembering a card", "request", c.Card, "err", err)
	}
}
