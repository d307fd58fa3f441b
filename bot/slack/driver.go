package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
)

// driver is the Slack wire: it renders into Block Kit and makes one Web API call (or
// the few of a file upload) per attempt. Order, retries, the outbox and cards' places
// are bot.Delivery's.
type driver struct {
	api  *slackgo.Client
	http *http.Client
	log  *slog.Logger
}

var _ bot.Driver = (*driver)(nil)

// responseURLLife is how long Slack honours a command's response_url.
const responseURLLife = 30 * time.Minute

func (w *driver) Platform() string { return platform }

// message is a rendered Slack message: the notification text and the blocks.
type message struct {
	Text   string          `json:"text"`
	Blocks []slackgo.Block `json:"blocks,omitempty"`
}

// body is m as a bot.Message body.
func (m message) body() json.RawMessage {
	b, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	return b
}

// filePost is a file exchops attaches in a thread.
type filePost struct {
	Name    string
	Title   string
	Content string
	Data    []byte // a binary file (a chart), instead of Content
	Alt     string // an image's alternative text
}

func (f *filePost) file() bot.File {
	data := f.Data
	if len(data) == 0 {
		data = []byte(f.Content)
	}
	return bot.File{Name: f.Name, Title: f.Title, Data: data, Alt: f.Alt}
}

// upload is a message that uploads one file (in its thread).
func upload(f *filePost) bot.Message { return bot.Message{Files: []bot.File{f.file()}} }

func (w *driver) Card(r *approvals.Request, _ time.Time, _ bool) bot.Message {
	return bot.Message{Body: cardMessage(r).body()}
}

// Thread is what an event adds to its card's thread: the full plan when the card had
// to shorten it, a line, or the result (and its output as a file).
func (w *driver) Thread(e approvals.Event, _ time.Time) []bot.Message {
	r := e.Request
	switch e.Kind {
	case approvals.EventRequested:
		if file, ok := planFile(r); ok {
			return []bot.Message{upload(file)}
		}
		return nil
	case approvals.EventSucceeded, approvals.EventFailed:
		out := []bot.Message{{Body: resultMessage(r).body()}}
		if file, ok := outputFile(r); ok {
			out = append(out, upload(file))
		}
		return out
	}
	line, ok := threadLine(e)
	if !ok {
		return nil
	}
	return []bot.Message{{Body: message{Text: line}.body(), Line: line}}
}

func (w *driver) Reply(rep bot.Reply, wh bot.Where) bot.Message {
	return bot.Message{Body: renderReply(rep, replyContext{channel: wh.Channel, cards: wh.Cards}).body()}
}

// Send makes one attempt at o: a message posted (in a thread) or updated, files
// uploaded in a thread, or an answer to one person (through the command's
// response_url, o.Via, else as an ephemeral message).
func (w *driver) Send(ctx context.Context, o bot.Out) (bot.Sent, error) {
	var text string
	var blocks json.RawMessage
	if len(o.Body) > 0 {
		var m struct {
			Text   string          `json:"text"`
			Blocks json.RawMessage `json:"blocks"`
		}
		if err := json.Unmarshal(o.Body, &m); err != nil {
			return bot.Sent{}, fmt.Errorf("slack: a message that does not decode: %w", err)
		}
		text, blocks = m.Text, m.Blocks
	}
	opts := []slackgo.MsgOption{slackgo.MsgOptionText(text, false)}
	if len(blocks) > 0 {
		opts = append(opts, slackgo.MsgOptionBlocks(rawBlocks(blocks)...))
	}
	sent := bot.Sent{Channel: o.Channel}
	var err error
	switch {
	case o.Kind == bot.OutReply && o.Via != "":
		err = w.respond(ctx, o.Via, text, blocks)
	case o.Kind == bot.OutReply:
		sent.ID, err = w.api.PostEphemeralContext(ctx, o.Channel, o.User, opts...)
	case o.Edit != "":
		_, _, _, err = w.api.UpdateMessageContext(ctx, o.Channel, o.Edit, opts...)
		if se, ok := errors.AsType[slackgo.SlackErrorResponse](err); ok && se.Err == "message_not_found" {
			return bot.Sent{}, bot.ErrGone
		}
		sent.ID = o.Edit
	case len(o.Body) == 0:
		for _, f := range o.Files {
			up := slackgo.UploadFileParameters{Filename: f.Name, Title: f.Title, Channel: o.Channel, ThreadTimestamp: o.Thread}
			if strings.HasSuffix(f.Name, ".png") {
				// A fresh reader each attempt: a retry uploads the whole file again.
				up.Reader, up.FileSize, up.AltTxt = bytes.NewReader(f.Data), len(f.Data), f.Alt
			} else {
				up.Content, up.FileSize = string(f.Data), len(f.Data)
			}
			var file *slackgo.FileSummary
			if file, err = w.api.UploadFileContext(ctx, up); err != nil {
				break
			}
			sent.ID = file.ID
		}
	default:
		if o.Thread != "" {
			opts = append(opts, slackgo.MsgOptionTS(o.Thread))
		}
		var ch string
		ch, sent.ID, err = w.api.PostMessageContext(ctx, o.Channel, opts...)
		if ch != "" {
			sent.Channel = ch // a report may name its channel; its files need the id
		}
	}
	if err != nil {
		return bot.Sent{}, classify(err)
	}
	return sent, nil
}

// respond posts an ephemeral message through a response_url. The URL is a bearer
// capability for the conversation, so errors never include it.
func (w *driver) respond(ctx context.Context, responseURL, text string, blocks json.RawMessage) error {
	msg := &slackgo.WebhookMessage{ResponseType: slackgo.ResponseTypeEphemeral, Text: text}
	if len(blocks) > 0 {
		msg.Blocks = &slackgo.Blocks{BlockSet: rawBlocks(blocks)}
	}
	if err := slackgo.PostWebhookCustomHTTPContext(ctx, responseURL, w.http, msg); err != nil {
		return fmt.Errorf("posting to the command's response_url: %w", clean(err))
	}
	return nil
}

// classify says whether a failed call is worth another try soon, and after how long:
// 429s after their Retry-After, server errors and network failures after the backoff.
// Anything else (a bad channel, a missing scope) waits in the outbox, where a person
// can fix its cause meanwhile.
func classify(err error) error {
	err = clean(err)
	if rl, ok := errors.AsType[*slackgo.RateLimitedError](err); ok {
		return bot.Temporary(err, max(rl.RetryAfter, time.Second))
	}
	if sc, ok := errors.AsType[slackgo.StatusCodeError](err); ok {
		if sc.Code == http.StatusTooManyRequests || sc.Code >= 500 {
			return bot.Temporary(err, 0)
		}
		return err
	}
	if se, ok := errors.AsType[slackgo.SlackErrorResponse](err); ok {
		switch se.Err {
		case "ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout":
			return bot.Temporary(err, 0)
		}
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return bot.Temporary(err, 0)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return bot.Temporary(err, 0)
	}
	return err
}

// clean drops URLs from errors: a response_url or an upload URL is a capability that
// belongs in no log.
func clean(err error) error {
	if err == nil {
		return nil
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// rawBlock is a block kept as JSON (in the outbox), sent to Slack as it is.
type rawBlock struct {
	raw  json.RawMessage
	kind slackgo.MessageBlockType
	id   string
}

func (b rawBlock) BlockType() slackgo.MessageBlockType { return b.kind }
func (b rawBlock) ID() string                          { return b.id }
func (b rawBlock) MarshalJSON() ([]byte, error)        { return b.raw, nil }

func rawBlocks(data json.RawMessage) []slackgo.Block {
	var list []json.RawMessage
	if err := json.Unmarshal(data, &list); err != nil {
		return nil
	}
	out := make([]slackgo.Block, 0, len(list))
	for _, r := range list {
		var head struct {
			Type    string `json:"type"`
			BlockID string `json:"block_id"`
		}
		_ = json.Unmarshal(r, &head)
		out = append(out, rawBlock{raw: r, kind: slackgo.MessageBlockType(head.Type), id: head.BlockID})
	}
	return out
}
