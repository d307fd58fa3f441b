package discord

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/exchops/exchops/bot"
)

// userAgent is the form Discord asks bots to send.
const userAgent = "DiscordBot (https://github.com/exchops/exchops, 1)"

// rest calls Discord's REST API. discordgo's endpoint variables are fixed when the
// package loads and its session retries with wall-clock sleeps, so exchops builds the
// calls itself from base and uses discordgo for the wire types.
type rest struct {
	base   string // with a trailing slash
	appID  string
	auth   string // "Bot <token>": never logged, never in an error
	client *http.Client
	log    *slog.Logger
}

func newREST(cfg Config) (*rest, error) {
	var errs []error
	token := strings.TrimSpace(cfg.BotToken)
	token = strings.TrimPrefix(token, "Bot ")
	if token == "" {
		errs = append(errs, errors.New("discord.bot_token_env: the bot token is empty: set the environment variable that discord.bot_token_env names to the bot's token (Developer Portal, Bot)"))
	} else if strings.ContainsAny(token, " \t\r\n") {
		errs = append(errs, errors.New("discord.bot_token_env: the bot token holds white space; copy it again from the Developer Portal"))
	}
	if !isSnowflake(cfg.ApplicationID) {
		errs = append(errs, fmt.Errorf("discord.application_id: %q is not an application id: it is the number the Developer Portal shows as Application ID", cfg.ApplicationID))
	}
	base, err := checkAPIURL(cfg.APIURL)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: httpTimeout}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &rest{base: base, appID: cfg.ApplicationID, auth: "Bot " + token, client: client, log: log}, nil
}

// call is one REST call.
type call struct {
	Method string          `json:"method"`
	Path   string          `json:"path"` // relative to the API base: "channels/1/messages"
	Body   json.RawMessage `json:"body,omitempty"`
	Files  []attachment    `json:"files,omitempty"`
	// Key says what the call is for people and logs ("r-3 card").
	Key string `json:"key,omitempty"`

	token bool // the path holds an interaction token: no bot auth, never stored or logged
	// early: the call edits the answer to an interaction that was just given; Discord
	// may not have taken that answer yet, so a 404 is tried again.
	early bool
}

// attachment is a file sent with a message.
type attachment struct {
	Name string `json:"name"`
	Data []byte `json:"data"`
}

// contentType is the media type a file is sent as, from its name.
func (a attachment) contentType() string {
	switch strings.ToLower(path.Ext(a.Name)) {
	case ".png":
		return "image/png"
	case ".md":
		return "text/markdown; charset=utf-8"
	}
	return "text/plain; charset=utf-8"
}

func (c *call) what() string {
	if c.Key != "" {
		return c.Key
	}
	return c.Method + " " + redactPath(c.Path)
}

// redactPath hides the interaction token in webhook and callback paths.
func redactPath(p string) string {
	parts := strings.Split(p, "/")
	for i := 0; i+2 < len(parts); i++ {
		if parts[i] == "webhooks" || parts[i] == "interactions" {
			parts[i+2] = "…"
		}
	}
	return strings.Join(parts, "/")
}

// apiError is a REST call that failed. It never holds the token or an interaction
// token.
type apiError struct {
	What       string
	Status     int    // 0: no answer (network)
	Code       int    // Discord's JSON error code, when it sent one
	Message    string // Discord's message, or the network error
	Retry      bool   // trying again later may work (429, 5xx, network)
	RetryAfter time.Duration
}

func (e *apiError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("discord: %s: %s", e.What, e.Message)
	}
	s := fmt.Sprintf("discord: %s: HTTP %d", e.What, e.Status)
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Code != 0 {
		s += fmt.Sprintf(" (code %d)", e.Code)
	}
	return s
}

// once makes one attempt.
func (r *rest) once(ctx context.Context, c *call) ([]byte, error) {
	body, ctype := []byte(c.Body), "application/json"
	if len(c.Files) > 0 {
		files := make([]*discordgo.File, len(c.Files))
		for i, f := range c.Files {
			files[i] = &discordgo.File{Name: f.Name, ContentType: f.contentType(), Reader: bytes.NewReader(f.Data)}
		}
		var err error
		ctype, body, err = discordgo.MultipartBodyWithJSON(json.RawMessage(c.Body), files)
		if err != nil {
			return nil, &apiError{What: c.what(), Message: "encoding the attachment: " + err.Error()}
		}
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, c.Method, r.base+c.Path, rd)
	if err != nil {
		return nil, &apiError{What: c.what(), Message: "building the request failed"}
	}
	if body != nil {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("User-Agent", userAgent)
	if !c.token {
		req.Header.Set("Authorization", r.auth)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		// A *url.Error repeats the URL, which may hold an interaction token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		// Also when ctx ended (exchops is stopping): the outbox takes it from here.
		return nil, &apiError{What: c.what(), Message: err.Error(), Retry: true}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode/100 == 2 {
		if err != nil {
			return nil, &apiError{What: c.what(), Status: resp.StatusCode, Message: "reading the answer: " + err.Error()}
		}
		return data, nil
	}
	e := &apiError{What: c.what(), Status: resp.StatusCode}
	var de struct {
		Message string `json:"message"`
		Code    int    `json:"code"`
	}
	if json.Unmarshal(data, &de) == nil {
		e.Message, e.Code = shorten(de.Message, 200), de.Code
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		e.Retry = true
		var tm discordgo.TooManyRequests
		if json.Unmarshal(data, &tm) == nil && tm.RetryAfter > 0 {
			e.RetryAfter = tm.RetryAfter
		} else if s, err := strconv.ParseFloat(resp.Header.Get("Retry-After"), 64); err == nil && s > 0 {
			e.RetryAfter = time.Duration(s * float64(time.Second))
		} else {
			e.RetryAfter = time.Second
		}
	case resp.StatusCode >= 500:
		e.Retry = true
	case resp.StatusCode == http.StatusNotFound && c.early:
		e.Retry = true
	}
	return nil, e
}

// retried makes a call that has no outbox to wait in (an interaction's callback,
// registering the command), retried inline on bot's schedule.
func (r *rest) retried(ctx context.Context, c *call) ([]byte, error) {
	wait := bot.FirstBackoff
	for n := 1; ; n++ {
		data, err := r.once(ctx, c)
		e, ok := err.(*apiError)
		if err == nil || !ok || !e.Retry || n == bot.InlineAttempts {
			return data, err
		}
		if e.RetryAfter > 0 {
			wait = e.RetryAfter
		}
		if wait > bot.MaxInlineWait {
			return nil, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		wait *= 2
	}
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
