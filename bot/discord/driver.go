package discord

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
)

// driver is the Discord wire: it renders into messages with embeds and components and
// makes one REST call per attempt. Order, retries, the outbox and cards' places are
// bot.Delivery's.
type driver struct {
	rest *rest
}

var _ bot.Driver = (*driver)(nil)

// codeUnknownMessage is Discord's JSON error code for a message that does not exist.
const codeUnknownMessage = 10008

func (w *driver) Platform() string { return platform }

func files(as []attachment) []bot.File {
	var out []bot.File
	for _, a := range as {
		out = append(out, bot.File{Name: a.Name, Data: a.Data})
	}
	return out
}

func attachments(fs []bot.File) []attachment {
	var out []attachment
	for _, f := range fs {
		out = append(out, attachment{Name: f.Name, Data: f.Data})
	}
	return out
}

// Card is the approval card; an edit keeps the card's files.
func (w *driver) Card(r *approvals.Request, now time.Time, edit bool) bot.Message {
	m, fs := renderCard(r, now)
	if edit {
		m.Attachments, fs = nil, nil
	}
	return bot.Message{Body: m.json(), Files: files(fs)}
}

func (w *driver) Thread(e approvals.Event, now time.Time) []bot.Message {
	m, fs, ok := eventMessage(e, now)
	if !ok {
		return nil
	}
	msg := bot.Message{Body: m.json(), Files: files(fs)}
	if len(fs) == 0 && len(m.Embeds) == 0 {
		msg.Line = m.Content
	}
	return []bot.Message{msg}
}

func (w *driver) Reply(rep bot.Reply, _ bot.Where) bot.Message {
	m, fs := renderReply(rep)
	return bot.Message{Body: m.json(), Files: files(fs)}
}

// CheckChannel refuses a report's channel that is not a channel id.
func (w *driver) CheckChannel(channel string) error {
	if !isSnowflake(channel) {
		return errors.New("discord: publishing a report: " + quote(channel) + " is not a channel id: it is a number (in Discord, turn on Developer Mode, right-click the channel, Copy Channel ID)")
	}
	return nil
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

// Send makes one REST call: a channel message posted (answering o.Thread) or edited,
// or an answer to one person through the interaction's token (o.Via: the deferred
// answer edited first, follow-ups after) or, once that has expired or failed, in the
// channel, naming the person.
func (w *driver) Send(ctx context.Context, o bot.Out) (bot.Sent, error) {
	// The body is changed field by field: components do not decode into discordgo's
	// types, and they go back as they were rendered.
	var m map[string]json.RawMessage
	if err := json.Unmarshal(o.Body, &m); err != nil {
		return bot.Sent{}, errors.New("discord: a message that does not decode: " + err.Error())
	}
	set := func(k string, v any) {
		b, _ := json.Marshal(v)
		m[k] = b
	}
	c := &call{Method: http.MethodPost, Path: "channels/" + o.Channel + "/messages", Files: attachments(o.Files), Key: o.Key}
	switch {
	case o.Kind == bot.OutReply && o.Via != "":
		c.Path, c.token = "webhooks/"+o.Via, true
		if o.First {
			c.Method, c.Path, c.early = http.MethodPatch, c.Path+"/messages/@original", true
		} else if o.Private {
			set("flags", discordgo.MessageFlagsEphemeral)
		}
	case o.Kind == bot.OutReply:
		delete(m, "flags")
		if o.Private && o.User != "" {
			var content string
			_ = json.Unmarshal(m["content"], &content)
			set("content", clip("<@"+o.User+"> "+content, maxContent))
			set("allowed_mentions", &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}, Users: []string{o.User}})
		}
	case o.Edit != "":
		c.Method, c.Path = http.MethodPatch, c.Path+"/"+o.Edit
	case o.Thread != "":
		set("message_reference", &discordgo.MessageReference{MessageID: o.Thread, ChannelID: o.Channel, FailIfNotExists: new(bool)})
	}
	body, err := json.Marshal(m)
	if err != nil {
		return bot.Sent{}, err
	}
	c.Body = body
	data, err := w.rest.once(ctx, c)
	if err != nil {
		var e *apiError
		if errors.As(err, &e) {
			if o.Edit != "" && e.Status == http.StatusNotFound && e.Code == codeUnknownMessage {
				return bot.Sent{}, bot.ErrGone
			}
			if e.Retry {
				return bot.Sent{}, bot.Temporary(err, e.RetryAfter)
			}
		}
		return bot.Sent{}, err
	}
	sent := bot.Sent{ID: o.Edit, Channel: o.Channel}
	var msg struct {
		ID        string `json:"id"`
		ChannelID string `json:"channel_id"`
	}
	if json.Unmarshal(data, &msg) == nil && msg.ID != "" {
		sent.ID = msg.ID
		if msg.ChannelID != "" {
			sent.Channel = msg.ChannelID
		}
	}
	if o.Kind == bot.OutCard && o.Edit == "" && sent.ID == "" {
		return bot.Sent{}, errors.New("discord: Discord's answer to a card post has no message id; the card cannot be updated")
	}
	return sent, nil
}

// via is a conversation's way back: the application and the interaction's token.
func via(appID, token string) string {
	if token == "" {
		return ""
	}
	return appID + "/" + strings.TrimSpace(token)
}
