package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/exchops/exchops/bot"
)

// Methods of a post: the Web API method it calls, or one of exchops' own steps.
const (
	methodPost      = "chat.postMessage"
	methodUpdate    = "chat.update"
	methodEphemeral = "chat.postEphemeral"
	methodUpload    = "files.upload" // the v2 flow: getUploadURLExternal, upload, completeUploadExternal
	// methodReply answers the person who typed a command: through the command's
	// response_url while it lives, else as an ephemeral message.
	methodReply = "reply"
	// methodCard makes a request's card in a channel show the request as it is now:
	// posted (and attached to the request) when there is none yet, else updated.
	methodCard = "card"
	// methodReport posts a report (Publish): its message, then its Files in the
	// message's thread.
	methodReport = "report"
)

// responseURLLife is how long a response_url is used; Slack honours it for 30 minutes.
const responseURLLife = 25 * time.Minute

// post is one thing to send to Slack. It is also the outbox's payload: what a failed
// post is retried with, after a restart too.
type post struct {
	Method  string `json:"method"`
	Channel string `json:"channel,omitempty"`
	TS      string `json:"ts,omitempty"`        // chat.update: the message
	Thread  string `json:"thread_ts,omitempty"` // post in this thread
	// ThreadOf names a request: post in its card's thread in Channel, looked up when
	// sent, so that a line queued before its card was posted still finds it.
	ThreadOf string          `json:"thread_of,omitempty"`
	User     string          `json:"user,omitempty"` // ephemeral: who sees it
	URL      string          `json:"response_url,omitempty"`
	Text     string          `json:"text,omitempty"`
	Blocks   json.RawMessage `json:"blocks,omitempty"`
	Request  string          `json:"request,omitempty"` // card: the request
	File     *filePost       `json:"file,omitempty"`
	Files    []*filePost     `json:"files,omitempty"` // report: uploaded in its message's thread
	At       time.Time       `json:"at"`              // when it was first tried
}

type filePost struct {
	Name    string `json:"name"`
	Title   string `json:"title"`
	Content string `json:"content"`
	// Data is a binary file (a chart), used instead of Content; base64 in the outbox.
	Data    []byte `json:"data,omitempty"`
	Alt     string `json:"alt,omitempty"` // an image's alternative text
	Comment string `json:"comment,omitempty"`
}

// empty reports whether f has nothing to upload.
func (f *filePost) empty() bool { return f == nil || f.Content == "" && len(f.Data) == 0 }

// errNoCard: a thread post whose card is not posted yet; it waits in the outbox.
var errNoCard = errors.New("the request's card is not posted yet")

// deliver sends p, retrying 429s and server errors a few times (honouring
// Retry-After), and keeps it in the outbox when it still fails. It returns the
// message's ts when it was delivered now.
func (s *Slack) deliver(ctx context.Context, key string, p post) (string, bool) {
	if p.At.IsZero() {
		p.At = s.clock.Now()
	}
	return s.attempt(ctx, key, p, func(ctx context.Context) (string, error) { return s.send(ctx, p, p.At) })
}

// attempt calls try until it succeeds, a failure is not worth retrying now, or the
// inline budget is spent; then p goes to the outbox.
func (s *Slack) attempt(ctx context.Context, key string, p post, try func(context.Context) (string, error)) (string, bool) {
	ts, sent, _ := s.attemptKeep(ctx, key, p, try)
	return ts, sent
}

// attemptKeep is attempt that also returns why p could not be kept in the outbox, when
// it could be neither delivered nor kept.
func (s *Slack) attemptKeep(ctx context.Context, key string, p post, try func(context.Context) (string, error)) (string, bool, error) {
	var err error
	var wait time.Duration
	for n := 1; ; n++ {
		var ts string
		ts, err = try(ctx)
		if err == nil {
			s.core.Metrics().Post(platform, "sent")
			return ts, true, nil
		}
		if !errors.Is(err, errNoCard) {
			s.core.Metrics().Post(platform, "failed")
		}
		var again bool
		wait, again = retryable(err, n)
		if !again || n >= inlineAttempts || wait > maxInlineWait || ctx.Err() != nil {
			break
		}
		s.log.Warn("slack: a post failed; retrying", "post", key, "method", p.Method, "attempt", n, "wait", wait, "err", clean(err))
		if s.clock.Sleep(ctx, wait) != nil {
			break
		}
	}
	return "", false, s.keep(ctx, key, p, err, wait)
}

// keep puts a post that could not be delivered into the outbox. It logs and returns
// the error when even that fails.
func (s *Slack) keep(ctx context.Context, key string, p post, cause error, retryAfter time.Duration) error {
	if p.At.IsZero() {
		p.At = s.clock.Now()
	}
	payload, err := json.Marshal(p)
	if err != nil {
		s.log.Error("slack: encoding a post for the outbox; it is lost", "post", key, "err", err)
		return err
	}
	now := s.clock.Now()
	// A post kept without a try (the front was closing) goes out as soon as a front
	// runs; a failed one after the outbox's first backoff, or Slack's Retry-After.
	q := bot.Post{Platform: platform, Key: key, Payload: payload, NextAt: now, CreatedAt: now, LastError: "not tried yet"}
	if cause != nil {
		q.Attempts, q.LastError = 1, clean(cause).Error()
		q.NextAt = now.Add(max(bot.OutboxBackoff(1), retryAfter))
	}
	_, err = s.cfg.Outbox.Enqueue(context.WithoutCancel(ctx), q)
	if err != nil {
		s.log.Error("slack: a post failed and could not be kept for retry", "post", key, "err", err)
		return err
	}
	if p.Method == methodCard {
		s.cardPending(p.Request, p.Channel, true)
	}
	if cause != nil && !errors.Is(cause, errNoCard) {
		s.log.Warn("slack: a post failed; it is kept in the outbox and retried", "post", key, "method", p.Method, "err", clean(cause))
	}
	return nil
}

// sendQueued is the outbox worker's send: one attempt at a kept post.
func (s *Slack) sendQueued(ctx context.Context, q bot.Post) error {
	var p post
	if err := json.Unmarshal(q.Payload, &p); err != nil {
		// A payload that does not decode never will: say so loudly, once per try.
		return fmt.Errorf("the kept post does not decode: %w", err)
	}
	if p.At.IsZero() {
		p.At = q.CreatedAt
	}
	if p.Method == methodReport {
		return s.sendQueuedReport(ctx, q, p)
	}
	_, err := s.send(ctx, p, p.At)
	switch {
	case err == nil:
		s.core.Metrics().Post(platform, "sent")
		if p.Method == methodCard {
			s.cardPending(p.Request, p.Channel, false)
		}
		s.log.Info("slack: a kept post was delivered", "post", q.Key, "attempts", q.Attempts+1)
	case !errors.Is(err, errNoCard):
		s.core.Metrics().Post(platform, "failed")
	}
	return clean(err)
}

// send makes one attempt at p. at is when p was first tried (a response_url expires).
func (s *Slack) send(ctx context.Context, p post, at time.Time) (string, error) {
	switch p.Method {
	case methodPost:
		thread, err := s.thread(ctx, p)
		if err != nil {
			return "", err
		}
		opts := s.msgOptions(p)
		if thread != "" {
			opts = append(opts, slackgo.MsgOptionTS(thread))
		}
		_, ts, err := s.api.PostMessageContext(ctx, p.Channel, opts...)
		return ts, err
	case methodUpdate:
		_, ts, _, err := s.api.UpdateMessageContext(ctx, p.Channel, p.TS, s.msgOptions(p)...)
		return ts, err
	case methodEphemeral:
		return s.api.PostEphemeralContext(ctx, p.Channel, p.User, s.msgOptions(p)...)
	case methodReply:
		if p.URL != "" && s.clock.Now().Sub(at) < responseURLLife {
			return "", s.respond(ctx, p)
		}
		return s.api.PostEphemeralContext(ctx, p.Channel, p.User, s.msgOptions(p)...)
	case methodUpload:
		thread, err := s.thread(ctx, p)
		if err != nil {
			return "", err
		}
		if p.File.empty() {
			return "", nil
		}
		up := slackgo.UploadFileParameters{
			Filename: p.File.Name, Title: p.File.Title, Content: p.File.Content, FileSize: len(p.File.Content),
			InitialComment: p.File.Comment, Channel: p.Channel, ThreadTimestamp: thread,
		}
		if len(p.File.Data) > 0 {
			// A fresh reader each attempt: a retry uploads the whole file again.
			up.Content, up.Reader, up.FileSize, up.AltTxt = "", bytes.NewReader(p.File.Data), len(p.File.Data), p.File.Alt
		}
		f, err := s.api.UploadFileContext(ctx, up)
		if err != nil {
			return "", err
		}
		return f.ID, nil
	case methodReport:
		// The message only: the caller uploads the files in its thread (reportFiles).
		_, ts, err := s.postReport(ctx, p)
		return ts, err
	case methodCard:
		return s.syncCard(ctx, p.Request, p.Channel, nil)
	}
	return "", fmt.Errorf("unknown post method %q", p.Method)
}

// thread returns the thread a post goes in: its own, or its request's card's.
func (s *Slack) thread(ctx context.Context, p post) (string, error) {
	if p.Thread != "" || p.ThreadOf == "" {
		return p.Thread, nil
	}
	ts, err := s.cardTS(ctx, p.ThreadOf, p.Channel)
	if err != nil {
		return "", err
	}
	if ts == "" {
		return "", errNoCard
	}
	return ts, nil
}

func (s *Slack) msgOptions(p post) []slackgo.MsgOption {
	opts := []slackgo.MsgOption{slackgo.MsgOptionText(p.Text, false)}
	if len(p.Blocks) > 0 {
		opts = append(opts, slackgo.MsgOptionBlocks(rawBlocks(p.Blocks)...))
	}
	return opts
}

// respond posts an ephemeral message through a response_url. The URL is a bearer
// capability for the conversation, so errors never include it.
func (s *Slack) respond(ctx context.Context, p post) error {
	msg := &slackgo.WebhookMessage{ResponseType: slackgo.ResponseTypeEphemeral, Text: p.Text}
	if len(p.Blocks) > 0 {
		msg.Blocks = &slackgo.Blocks{BlockSet: rawBlocks(p.Blocks)}
	}
	err := slackgo.PostWebhookCustomHTTPContext(ctx, p.URL, s.http, msg)
	if err != nil {
		return fmt.Errorf("posting to the command's response_url: %w", clean(err))
	}
	return nil
}

// retryable says whether a failed attempt is worth another try soon, and after how
// long: 429s after their Retry-After, server errors and network failures after a short
// backoff. Anything else (a bad channel, a missing scope) waits in the outbox, where a
// person can fix its cause meanwhile.
func retryable(err error, attempt int) (time.Duration, bool) {
	backoff := time.Duration(attempt) * time.Second
	if rl, ok := errors.AsType[*slackgo.RateLimitedError](err); ok {
		return max(rl.RetryAfter, time.Second), true
	}
	if sc, ok := errors.AsType[slackgo.StatusCodeError](err); ok {
		return backoff, sc.Code == http.StatusTooManyRequests || sc.Code >= 500
	}
	if se, ok := errors.AsType[slackgo.SlackErrorResponse](err); ok {
		switch se.Err {
		case "ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout":
			return backoff, true
		}
		return 0, false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return 0, false
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return backoff, true
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return backoff, true
	}
	return 0, false
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
