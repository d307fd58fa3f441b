package slack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
)

// Action ids of the card's buttons; the button's value is the request id.
const (
	actionApprove = "approve"
	actionDeny    = "deny"
	// actionStepPrefix starts the action_id of an alert's next-step button ("step-0");
	// its value is the command it files (bot.StepCommand).
	actionStepPrefix = "step-"
)

// command takes a slash command (from either transport) and calls ack exactly once
// with the acknowledgement: the core's first answer when it comes within ackWait, else
// a short "working on it". Later answers go to the command's response_url, in order,
// once ack has returned. A replay is acknowledged with nil (an empty acknowledgement)
// and nothing else happens. delivery identifies what was delivered (deliveryKey) and
// recognises a replay of a command that has no trigger_id. ack is also given the
// conversation, for an acknowledgement that cannot carry the answer.
func (s *Slack) command(ctx context.Context, cmd slackgo.SlashCommand, delivery string, ack func(*message, *bot.Reply, bot.Respond)) {
	// A command is its trigger_id. Without one, it is the exact bytes Slack signed (or
	// sent over the socket): the same bytes again within the dedup window are a replay,
	// whoever sends them.
	key := "slack:command:" + cmd.TriggerID
	if cmd.TriggerID == "" {
		key = "slack:command:delivery:" + delivery
	}
	fresh, err := s.FirstSeen(ctx, key)
	if err != nil {
		ack(&message{Text: "exchops could not take this command just now (its database did not answer), so it did nothing. Try again in a moment."}, nil, nil)
		return
	}
	if !fresh {
		s.log.Info("slack: a command was delivered again; ignored", "user", cmd.UserID)
		ack(nil, nil, nil)
		return
	}
	inv := bot.Invocation{Platform: platform, User: cmd.UserID, Channel: cmd.ChannelID, Text: cmd.Text}
	rc := replyContext{channel: cmd.ChannelID, cards: s.CardsFor(cmd.ChannelID)}
	lane := "command:" + cmd.TriggerID
	if cmd.TriggerID == "" {
		lane = "command:" + cmd.UserID + ":" + cmd.ChannelID
	}
	acked := make(chan struct{}) // closed when the acknowledgement has been handed over
	later := s.Respond(bot.Conv{Channel: cmd.ChannelID, User: cmd.UserID, Via: cmd.ResponseURL, Issued: s.clk.Now(),
		Life: responseURLLife, Ready: acked, Lane: lane})

	var mu sync.Mutex
	first := make(chan bot.Reply, 1)
	answered := false // the first reply went to the acknowledgement or is on its way there
	gaveUp := false   // the acknowledgement went without it
	respond := func(rep bot.Reply) {
		mu.Lock()
		if !answered && !gaveUp {
			answered = true
			mu.Unlock()
			first <- rep
			return
		}
		mu.Unlock()
		later(rep)
	}
	if !s.Go(func() { s.core.Handle(s.Context(), inv, respond) }) {
		ack(&message{Text: "exchops is shutting down, so it did nothing with this command. Try again in a minute."}, nil, nil)
		return
	}
	t := time.NewTimer(s.ackWait)
	defer t.Stop()
	select {
	case rep := <-first:
		msg := renderReply(rep, rc)
		ack(&msg, &rep, later)
	case <-t.C:
		mu.Lock()
		late := answered // it arrived just now: it is in the channel
		gaveUp = !late
		mu.Unlock()
		if late {
			rep := <-first
			msg := renderReply(rep, rc)
			ack(&msg, &rep, later)
		} else {
			ack(&message{Text: "Working on it…"}, nil, nil)
		}
	}
	close(acked)
}

// click takes a button click on a card: it records the delivery, then asks the core
// to count the vote; the answer goes to the clicker alone. The caller has already
// acknowledged the click.
func (s *Slack) click(ctx context.Context, ic slackgo.InteractionCallback) {
	if ic.Type != slackgo.InteractionTypeBlockActions {
		return
	}
	channel := ic.Container.ChannelID
	if channel == "" {
		channel = ic.Channel.ID
	}
	// A click is its message, its button and its clicker: Slack's retries repeat all
	// three, and a person clicking the same button again changes nothing either.
	msgTS := ic.Container.MessageTs
	if msgTS == "" {
		msgTS = ic.Message.Timestamp
	}
	if msgTS == "" {
		msgTS = "trigger-" + ic.TriggerID
	}
	// A click on a button is one action. A payload that carries more was not made by
	// a click: only its first action is read, so that one signed payload costs one
	// vote's work however many it lists.
	actions := ic.ActionCallback.BlockActions
	if len(actions) == 0 {
		return
	}
	if len(actions) > 1 {
		s.log.Warn("slack: a click carried several actions; only the first was read", "user", ic.User.ID, "actions", len(actions))
	}
	a := actions[0]
	if strings.HasPrefix(a.ActionID, actionStepPrefix) {
		s.step(ctx, ic, channel, msgTS, a)
		return
	}
	var d approvals.Decision
	switch a.ActionID {
	case actionApprove:
		d = approvals.Approve
	case actionDeny:
		d = approvals.Deny
	default:
		return
	}
	// The card's buttons carry the request's id and nothing else.
	if !approvals.IsRequestID(a.Value) {
		s.log.Warn("slack: a click's value is not a request id; ignored", "user", ic.User.ID, "action", a.ActionID, "length", len(a.Value))
		s.Tell(channel, ic.User.ID, bot.Reply{Kind: bot.ReplyText, Private: true, Text: "exchops did not count that click: the button does not name a request. Type approve or deny with the request's id instead."})
		return
	}
	if !s.firstClick(ctx, ic, channel, msgTS, a, "nothing changed") {
		return
	}
	act := bot.Action{Platform: platform, User: ic.User.ID, Channel: channel, RequestID: a.Value, Decision: d}
	user := ic.User.ID
	s.Go(func() {
		s.core.Act(s.Context(), act, func(rep bot.Reply) { s.Tell(channel, user, rep) })
	})
}

// step takes a click on an alert's next-step button: the command it carries is filed
// as the clicker, exactly as if they had typed it; the answers go to the clicker
// alone. A value that is not a command exchops writes into a button is refused before
// anything is recorded.
func (s *Slack) step(ctx context.Context, ic slackgo.InteractionCallback, channel, msgTS string, a *slackgo.BlockAction) {
	if _, err := bot.StepCommand(a.Value); err != nil {
		s.log.Warn("slack: a next-step click's value is not a command exchops writes; ignored", "user", ic.User.ID, "action", a.ActionID, "length", len(a.Value))
		s.Tell(channel, ic.User.ID, bot.Reply{Kind: bot.ReplyText, Private: true, Text: "exchops did not take that click: the button does not carry a command it wrote. Nothing was filed; type the command instead."})
		return
	}
	if !s.firstClick(ctx, ic, channel, msgTS, a, "nothing was filed") {
		return
	}
	inv := bot.Invocation{Platform: platform, User: ic.User.ID, Channel: channel, Text: a.Value}
	user := ic.User.ID
	s.Go(func() {
		s.core.Step(s.Context(), inv, func(rep bot.Reply) { s.Tell(channel, user, rep) })
	})
}

// firstClick records a click (its message, button, value and person) and reports
// whether it is the first delivery of it: Slack delivers a click again when it did
// not hear the answer in time. When the record cannot be written the clicker is told
// that nothing happened (outcome says what did not), and the click is not taken.
func (s *Slack) firstClick(ctx context.Context, ic slackgo.InteractionCallback, channel, msgTS string, a *slackgo.BlockAction, outcome string) bool {
	key := "slack:click:" + msgTS + ":" + a.ActionID + ":" + a.Value + ":" + ic.User.ID
	fresh, err := s.FirstSeen(ctx, key)
	if err != nil {
		s.Tell(channel, ic.User.ID, bot.Reply{Kind: bot.ReplyText, Private: true, Text: "exchops could not take your click just now (its database did not answer), so " + outcome + ". Click again in a moment."})
		return false
	}
	if !fresh {
		s.log.Info("slack: a click was delivered again; ignored", "user", ic.User.ID, "action", a.ActionID)
	}
	return fresh
}

// deliveryKey names one delivery by its bytes: over HTTP what Slack signed (the v0
// base string, timestamp and body), over Socket Mode the envelope's payload.
func deliveryKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
