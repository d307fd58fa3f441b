package slack

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	slackgo "github.com/slack-go/slack"

	"github.com/exchops/exchops/bot"
)

// verified reads the body once and checks Slack's v0 signature over it. It answers the
// request itself (401, 413) and returns false when the request must not be looked at.
// Nothing is parsed, stored or handled before the signature holds.
func (s *Slack) verified(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		} else {
			http.Error(w, "cannot read the request body", http.StatusBadRequest)
		}
		return nil, false
	}
	if s.cfg.SigningSecret == "" {
		s.log.Warn("slack: a webhook arrived but no signing secret is configured (slack.signing_secret_env); refused", "path", r.URL.Path)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return nil, false
	}
	v, err := slackgo.NewSecretsVerifier(r.Header, s.cfg.SigningSecret)
	if err == nil {
		_, _ = v.Write(body)
		err = v.Ensure()
	}
	if err != nil {
		// The reason only: the headers hold the signature, which is of no use to anyone
		// reading the log.
		s.log.Warn("slack: a request with a bad, missing or stale signature was refused", "path", r.URL.Path, "reason", verifyReason(err))
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return nil, false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, true
}

func verifyReason(err error) string {
	switch {
	case errors.Is(err, slackgo.ErrMissingHeaders):
		return "missing signature headers"
	case errors.Is(err, slackgo.ErrExpiredTimestamp):
		return "timestamp outside the 5-minute window"
	case errors.Is(err, slackgo.ErrInvalidSignature):
		return "signature does not match"
	}
	return "malformed signature headers"
}

// handleCommands is POST /slack/commands: a slash command, answered within Slack's
// 3 seconds with an ephemeral acknowledgement.
func (s *Slack) handleCommands(w http.ResponseWriter, r *http.Request) {
	body, ok := s.verified(w, r)
	if !ok {
		return
	}
	cmd, err := slackgo.SlashCommandParse(r)
	if err != nil {
		http.Error(w, "cannot parse the slash command", http.StatusBadRequest)
		return
	}
	delivery := deliveryKey("v0", r.Header.Get("X-Slack-Request-Timestamp"), string(body))
	s.command(r.Context(), cmd, delivery, func(msg *message, _ *bot.Reply, _ bot.Respond) { writeAck(w, msg) })
}

// handleInteractions is POST /slack/interactions: a button click, acknowledged at once
// with an empty 200; the vote is counted afterwards.
func (s *Slack) handleInteractions(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.verified(w, r); !ok {
		return
	}
	ic, err := slackgo.InteractionCallbackParse(r)
	if err != nil {
		http.Error(w, "cannot parse the interaction payload", http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	s.click(r.Context(), ic)
}

// ackMessage is a slash command's acknowledgement: an ephemeral message.
type ackMessage struct {
	ResponseType string          `json:"response_type"`
	Text         string          `json:"text"`
	Blocks       []slackgo.Block `json:"blocks,omitempty"`
}

func ackOf(msg *message) ackMessage {
	return ackMessage{ResponseType: slackgo.ResponseTypeEphemeral, Text: msg.Text, Blocks: msg.Blocks}
}

func writeAck(w http.ResponseWriter, msg *message) {
	if msg == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // Slack's mrkdwn is not HTML: keep <#C123> readable
	if err := enc.Encode(ackOf(msg)); err != nil {
		http.Error(w, "cannot encode the answer", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b.Bytes())
}
