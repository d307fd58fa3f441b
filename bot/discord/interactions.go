package discord

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
)

// serveInteractions is POST /discord/interactions: verify, answer at once, and carry
// on in the background.
func (d *Discord) serveInteractions(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read the request body", http.StatusBadRequest)
		return
	}
	if reason := d.verify(r, body); reason != "" {
		// Discord sends badly signed requests on purpose to check that they are refused.
		d.log.Info("discord: refused an interaction", "reason", reason, "remote", r.RemoteAddr)
		http.Error(w, "invalid request signature", http.StatusUnauthorized)
		return
	}
	var it discordgo.Interaction
	if err := json.Unmarshal(body, &it); err != nil {
		http.Error(w, "the body is not an interaction", http.StatusBadRequest)
		return
	}
	if !isSnowflake(it.ID) {
		d.log.Warn("discord: refused an interaction without a valid id", "remote", r.RemoteAddr)
		http.Error(w, "the interaction has no valid id", http.StatusBadRequest)
		return
	}
	resp, work := d.interaction(&it)
	if resp == nil {
		http.Error(w, "exchops does not take this kind of interaction", http.StatusBadRequest)
		return
	}
	out, err := json.Marshal(resp)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.Write(out)
	// The answer must be on its way before the follow-ups edit it.
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	if work != nil && !d.Go(work) {
		d.log.Warn("discord: an interaction arrived while stopping; it was acknowledged but not handled")
	}
}

// verify returns why a request is refused, or "" when it is signed by Discord with
// the application's key and fresh.
func (d *Discord) verify(r *http.Request, body []byte) string {
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !discordgo.VerifyInteraction(r, d.key) {
		return "bad or missing signature"
	}
	ts, err := strconv.ParseInt(r.Header.Get("X-Signature-Timestamp"), 10, 64)
	if err != nil {
		return "the signature timestamp is not a number"
	}
	age := d.clk.Now().Sub(time.Unix(ts, 0))
	if age > SignatureWindow || age < -SignatureWindow {
		return "the signature timestamp is outside the freshness window"
	}
	return ""
}

// interaction answers an interaction and returns what to do after answering. resp is
// nil for interactions exchops does not take. Both the HTTP endpoint and the gateway
// come here.
func (d *Discord) interaction(it *discordgo.Interaction) (resp *discordgo.InteractionResponse, work func()) {
	switch it.Type {
	case discordgo.InteractionPing:
		return &discordgo.InteractionResponse{Type: discordgo.InteractionResponsePong}, nil
	case discordgo.InteractionApplicationCommand:
		return d.command(it)
	case discordgo.InteractionMessageComponent:
		return d.click(it)
	case discordgo.InteractionApplicationCommandAutocomplete:
		// /exchange declares no autocompletion; an empty answer keeps the client calm.
		return &discordgo.InteractionResponse{Type: discordgo.InteractionApplicationCommandAutocompleteResult,
			Data: &discordgo.InteractionResponseData{Choices: []*discordgo.ApplicationCommandOptionChoice{}}}, nil
	}
	return nil, nil
}

// ephemeral is an immediate answer only the person sees.
func ephemeral(text string) *discordgo.InteractionResponse {
	m := newMessage(text)
	return &discordgo.InteractionResponse{Type: discordgo.InteractionResponseChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{Content: m.Content, Flags: discordgo.MessageFlagsEphemeral, AllowedMentions: m.AllowedMentions}}
}

func userOf(it *discordgo.Interaction) string {
	if it.Member != nil && it.Member.User != nil {
		return it.Member.User.ID
	}
	if it.User != nil {
		return it.User.ID
	}
	return ""
}

// dedupKey names an interaction for de-duplication: its id, which Discord gives every
// interaction and every delivery of it repeats. An interaction without one is refused
// before it gets here (isSnowflake), so that no two interactions share a key.
func dedupKey(it *discordgo.Interaction) string { return "discord:interaction:" + it.ID }

// command is /exchange: a deferred, private answer now; the core's replies follow
// through the interaction's token.
func (d *Discord) command(it *discordgo.Interaction) (*discordgo.InteractionResponse, func()) {
	deferred := &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{Flags: discordgo.MessageFlagsEphemeral}}
	if fresh, err := d.FirstSeen(d.Context(), dedupKey(it)); err != nil {
		return ephemeral("⚠️ exchops could not take this command just now (its database did not answer), so it did nothing. Try again in a moment."), nil
	} else if !fresh {
		d.log.Info("discord: an interaction arrived again; it was handled the first time", "interaction", it.ID)
		return deferred, nil
	}
	text, err := commandText(it.ApplicationCommandData())
	if err != nil {
		return ephemeral("⚠️ " + err.Error()), nil
	}
	user := userOf(it)
	respond := d.conversation(it, user, false)
	return deferred, func() {
		d.cfg.Core.Handle(d.Context(), bot.Invocation{Platform: platform, User: user, Channel: it.ChannelID, Text: text}, respond)
	}
}

// parseCustomID reads a card button's custom id: a prefix and a request id exactly as
// the card wrote it (approvals.IsRequestID); anything else is not a card's button.
func parseCustomID(id string) (approvals.Decision, string, bool) {
	if rest, ok := strings.CutPrefix(id, approvePrefix); ok && approvals.IsRequestID(rest) {
		return approvals.Approve, rest, true
	}
	if rest, ok := strings.CutPrefix(id, denyPrefix); ok && approvals.IsRequestID(rest) {
		return approvals.Deny, rest, true
	}
	return "", "", false
}

// click is Approve or Deny on a card: a deferred update now (the card changes when
// the core announces the vote), the core's answer as a private follow-up.
func (d *Discord) click(it *discordgo.Interaction) (*discordgo.InteractionResponse, func()) {
	if cmd, ok := strings.CutPrefix(it.MessageComponentData().CustomID, stepPrefix); ok {
		return d.step(it, cmd)
	}
	decision, id, ok := parseCustomID(it.MessageComponentData().CustomID)
	if !ok {
		return ephemeral("⚠️ This button is not one exchops knows."), nil
	}
	update := &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate}
	if fresh, err := d.FirstSeen(d.Context(), dedupKey(it)); err != nil {
		return ephemeral("⚠️ exchops could not count your click just now (its database did not answer), so nothing changed. Click again in a moment."), nil
	} else if !fresh {
		d.log.Info("discord: a click arrived again; it was counted the first time", "interaction", it.ID)
		return update, nil
	}
	user := userOf(it)
	respond := d.conversation(it, user, true)
	return update, func() {
		d.cfg.Core.Act(d.Context(), bot.Action{Platform: platform, User: user, Channel: it.ChannelID, RequestID: id, Decision: decision}, respond)
	}
}

// step is a click on an alert's next-step button: the command its custom_id carries is
// filed as the clicker, exactly as if they had typed it, and the core's answers follow
// privately. A custom_id that is not a command exchops writes is refused before
// anything is recorded.
func (d *Discord) step(it *discordgo.Interaction, cmd string) (*discordgo.InteractionResponse, func()) {
	if _, err := bot.StepCommand(cmd); err != nil {
		d.log.Warn("discord: a next-step click does not carry a command exchops writes; refused", "user", userOf(it), "length", len(cmd))
		return ephemeral("⚠️ This button is not one exchops knows; nothing was filed. Type the command instead."), nil
	}
	update := &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate}
	if fresh, err := d.FirstSeen(d.Context(), dedupKey(it)); err != nil {
		return ephemeral("⚠️ exchops could not take your click just now (its database did not answer), so nothing was filed. Click again in a moment."), nil
	} else if !fresh {
		d.log.Info("discord: a click arrived again; it was handled the first time", "interaction", it.ID)
		return update, nil
	}
	user := userOf(it)
	respond := d.conversation(it, user, true)
	return update, func() {
		d.cfg.Core.Step(d.Context(), bot.Invocation{Platform: platform, User: user, Channel: it.ChannelID, Text: cmd}, respond)
	}
}

// conversation is an interaction's Respond: the core's replies to the person, in
// order, through the interaction's token while it lives (the deferred answer edited
// first, for a command), through the bot afterwards.
func (d *Discord) conversation(it *discordgo.Interaction, user string, click bool) bot.Respond {
	app := it.AppID
	if app == "" {
		app = d.rest.appID
	}
	return d.Respond(bot.Conv{Channel: it.ChannelID, User: user, Via: via(app, it.Token), Issued: d.clk.Now(),
		Life: TokenLife, Click: click, Lane: "interaction:" + it.ID})
}

// openGateway connects to Discord's gateway and takes interactions from it.
func (d *Discord) openGateway() error {
	s, err := discordgo.New(d.rest.auth)
	if err != nil {
		return fmt.Errorf("discord: gateway: %v", err)
	}
	s.Client = d.gatewayClient()
	s.StateEnabled = false
	s.Identify.Intents = discordgo.IntentsNone // interactions come whatever the intents
	s.AddHandler(func(_ *discordgo.Session, ic *discordgo.InteractionCreate) {
		if ic.Interaction != nil {
			d.gatewayInteraction(ic.Interaction)
		}
	})
	if err := s.Open(); err != nil {
		return fmt.Errorf("discord: opening the gateway: %v", err)
	}
	d.mu.Lock()
	d.session = s
	d.mu.Unlock()
	return nil
}

// gatewayInteraction answers through the callback endpoint what the HTTP endpoint
// answers in its response.
func (d *Discord) gatewayInteraction(it *discordgo.Interaction) {
	if !isSnowflake(it.ID) {
		d.log.Warn("discord: ignored an interaction from the gateway without a valid id")
		return
	}
	resp, work := d.interaction(it)
	if resp == nil {
		return
	}
	body, err := json.Marshal(resp)
	if err != nil {
		return
	}
	c := &call{Method: http.MethodPost, Path: "interactions/" + it.ID + "/" + it.Token + "/callback", Body: body, token: true, Key: "answer to an interaction"}
	if _, err := d.rest.retried(d.Context(), c); err != nil {
		d.log.Error("discord: answering an interaction from the gateway", "err", err)
		return
	}
	if work != nil {
		d.Go(work)
	}
}

// gatewayClient is the HTTP client for discordgo's own calls (the gateway's address):
// its endpoints are fixed to discord.com, so with api_url set they are rewritten.
func (d *Discord) gatewayClient() *http.Client {
	c := *d.rest.client
	if d.rest.base == discordgo.EndpointAPI {
		return &c
	}
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c.Transport = rebase{from: discordgo.EndpointAPI, to: d.rest.base, next: next}
	return &c
}

// rebase sends requests for one URL prefix to another.
type rebase struct {
	from, to string
	next     http.RoundTripper
}

func (rb rebase) RoundTrip(req *http.Request) (*http.Response, error) {
	u := req.URL.String()
	if !strings.HasPrefix(u, rb.from) {
		return rb.next.RoundTrip(req)
	}
	nr := req.Clone(req.Context())
	nu, err := nr.URL.Parse(rb.to + strings.TrimPrefix(u, rb.from))
	if err != nil {
		return nil, err
	}
	nr.URL, nr.Host = nu, ""
	return rb.next.RoundTrip(nr)
}
