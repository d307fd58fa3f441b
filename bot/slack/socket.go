package slack

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	slackgo "github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/exchops/exchops/bot"
)

// runSocketMode keeps a Socket Mode connection until ctx ends. The library reconnects
// by itself when Slack asks or the connection drops; it only gives up on errors such
// as a revoked token, and then this tries again, slowly, so that fixing the token
// and restarting is not the only way back.
func (s *Slack) runSocketMode(ctx context.Context) {
	client := socketmode.New(s.api, socketmode.OptionLog(slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)))
	s.Serve(func() { s.socketEvents(ctx, client) })
	wait := time.Second
	for ctx.Err() == nil {
		err := client.RunContext(ctx)
		if ctx.Err() != nil {
			return
		}
		s.log.Error("slack: Socket Mode stopped; connecting again", "err", clean(err), "in", wait)
		// Real time: this waits for Slack, not for anything a test's clock drives.
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(wait*2, 2*time.Minute)
	}
}

// socketEvents drains the client's events at once (its buffer blocks the connection
// when full) and hands each request to a goroutine.
func (s *Slack) socketEvents(ctx context.Context, client *socketmode.Client) {
	for {
		var evt socketmode.Event
		select {
		case <-ctx.Done():
			return
		case evt = <-client.Events:
		}
		switch evt.Type {
		case socketmode.EventTypeSlashCommand:
			cmd, ok := evt.Data.(slackgo.SlashCommand)
			if !ok || evt.Request == nil {
				continue
			}
			req := *evt.Request
			s.Go(func() {
				s.command(ctx, cmd, deliveryKey("socket", string(req.Payload)), func(msg *message, rep *bot.Reply, later bot.Respond) {
					s.socketAck(ctx, client, req, msg, rep, later)
				})
			})
		case socketmode.EventTypeInteractive:
			ic, ok := evt.Data.(slackgo.InteractionCallback)
			if !ok || evt.Request == nil {
				continue
			}
			req := *evt.Request
			if err := client.AckCtx(ctx, req.EnvelopeID, nil); err != nil && ctx.Err() == nil {
				s.log.Warn("slack: acknowledging a click over Socket Mode", "err", err)
			}
			s.Go(func() { s.click(ctx, ic) })
		case socketmode.EventTypeEventsAPI:
			// exchops subscribes to no events; acknowledge so Slack does not resend.
			if evt.Request != nil {
				_ = client.AckCtx(ctx, evt.Request.EnvelopeID, nil)
			}
		case socketmode.EventTypeConnected:
			s.log.Info("slack: Socket Mode connected")
		case socketmode.EventTypeConnectionError:
			if ce, ok := evt.Data.(*slackgo.ConnectionErrorEvent); ok {
				s.log.Warn("slack: Socket Mode cannot connect; retrying", "attempt", ce.Attempt, "in", ce.Backoff, "err", clean(ce.ErrorObj))
			}
		case socketmode.EventTypeInvalidAuth:
			s.log.Error("slack: Socket Mode refused the app-level token (slack.app_token_env): it needs the connections:write scope")
		case socketmode.EventTypeIncomingError, socketmode.EventTypeErrorBadMessage, socketmode.EventTypeErrorWriteFailed:
			s.log.Warn("slack: Socket Mode message trouble", "type", string(evt.Type))
		}
	}
}

// socketAck acknowledges a slash command's envelope with msg (the rendering of rep, when
// it is the core's answer). Socket Mode refuses an acknowledgement of 20 KB or more: a
// long first answer goes through the conversation (later) instead, after an empty
// acknowledgement.
func (s *Slack) socketAck(ctx context.Context, client *socketmode.Client, req socketmode.Request, msg *message, rep *bot.Reply, later bot.Respond) {
	if msg == nil {
		_ = client.AckCtx(ctx, req.EnvelopeID, nil)
		return
	}
	if b, err := json.Marshal(ackOf(msg)); err == nil && len(b) <= s.ackLimit || rep == nil {
		err := client.AckCtx(ctx, req.EnvelopeID, ackOf(msg))
		if err == nil || ctx.Err() != nil || rep == nil {
			return
		}
		s.log.Warn("slack: a command's acknowledgement was refused; answering through its response_url", "err", err)
	}
	if err := client.AckCtx(ctx, req.EnvelopeID, nil); err != nil {
		s.log.Warn("slack: acknowledging a command over Socket Mode", "err", err)
	}
	later(*rep)
}
