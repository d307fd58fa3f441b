package discord

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/commands"
)

// Discord's message limits.
const (
	maxContent      = 2000
	maxTitle        = 256
	maxEmbedDesc    = 4096
	maxFieldValue   = 1024
	maxFooter       = 2048
	maxEmbedTotal   = 6000
	embedTotalGuard = 5800 // leaves room for what the counting below does not see
	// maxInlinePlan is how much PowerShell a card shows in its text; a longer plan is
	// attached as a file, so that the approver still reads every line.
	maxInlinePlan = 3000
)

// Colours of a card's side bar, by status.
const (
	colorPending = 0xF0B232 // amber: someone has to decide
	colorActive  = 0x5865F2 // blurple: approved, running
	colorGood    = 0x23A55A
	colorBad     = 0xF23F43
	colorGrey    = 0x80848E
)

// customID prefixes of the card's buttons; the request id follows.
const (
	approvePrefix = "exchops:approve:"
	denyPrefix    = "exchops:deny:"
	// stepPrefix starts the custom_id of an alert's next-step button; the command it
	// files follows (bot.StepCommand).
	stepPrefix = "exchops:step:"
)

// message is the body of a message post or edit (the wire form, which exchops owns).
type message struct {
	Content         string                            `json:"content"`
	Embeds          []*discordgo.MessageEmbed         `json:"embeds,omitempty"`
	Components      *[]discordgo.MessageComponent     `json:"components,omitempty"` // nil: untouched; empty: removed
	Flags           discordgo.MessageFlags            `json:"flags,omitempty"`
	AllowedMentions *discordgo.MessageAllowedMentions `json:"allowed_mentions,omitempty"`
	Reference       *discordgo.MessageReference       `json:"message_reference,omitempty"`
	Attachments     []attachmentRef                   `json:"attachments,omitempty"`
}

type attachmentRef struct {
	ID       int    `json:"id"`
	Filename string `json:"filename"`
}

// noMentions: text from people (reasons, command values) never pings anyone.
func noMentions() *discordgo.MessageAllowedMentions {
	return &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}
}

func newMessage(content string) message {
	return message{Content: clip(content, maxContent), AllowedMentions: noMentions()}
}

// attach adds files to m, declaring them as Discord asks for multipart posts.
func (m *message) attach(files []attachment) {
	for i, f := range files {
		m.Attachments = append(m.Attachments, attachmentRef{ID: i, Filename: f.Name})
	}
}

func (m message) json() json.RawMessage {
	b, err := json.Marshal(m)
	if err != nil {
		panic("discord: a message does not encode: " + err.Error()) // only our own types are in it
	}
	return b
}

// clip shortens s to n runes, marking the cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// code puts s in a code block; a ``` inside s would end the block early.
func code(lang, s string) string {
	s = strings.ReplaceAll(strings.TrimRight(s, "\n"), "```", "`\u200b``")
	return "```" + lang + "\n" + s + "\n```"
}

// inline puts s in inline code.
func inline(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "'") + "`"
}

// stamp is a Discord timestamp, shown in each reader's time zone: style t is the
// time, R is relative ("in 26 minutes").
func stamp(t time.Time, style string) string {
	return "<t:" + strconv.FormatInt(t.Unix(), 10) + ":" + style + ">"
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// preformatted shows text in a code block: in the message while it fits, in an embed
// up to 4096 characters, then as an attached file.
func preformatted(head, text, file string) (message, []attachment) {
	block := code("", text)
	if head != "" {
		head += "\n"
	}
	if utf8.RuneCountInString(head+block) <= maxContent {
		return newMessage(head + block), nil
	}
	if utf8.RuneCountInString(block) <= maxEmbedDesc && utf8.RuneCountInString(head) < maxContent {
		m := newMessage(strings.TrimSuffix(head, "\n"))
		m.Embeds = []*discordgo.MessageEmbed{{Description: block}}
		return m, nil
	}
	m := newMessage(head + fmt.Sprintf("(%s, attached as %s)", plural(strings.Count(strings.TrimRight(text, "\n"), "\n")+1, "line"), file))
	files := []attachment{{Name: file, Data: []byte(text)}}
	m.attach(files)
	return m, files
}

// renderReply turns what the core answered into a message.
func renderReply(r bot.Reply) (message, []attachment) {
	switch r.Kind {
	case bot.ReplyHelp:
		return preformatted("", r.Text, "exchops-help.txt")
	case bot.ReplyResult:
		icon := "✅ "
		if r.Failed {
			icon = "❌ "
		}
		if strings.TrimSpace(r.Output) == "" {
			return newMessage(icon + r.Text + "\n(no output)"), nil
		}
		return preformatted(icon+r.Text, r.Output, "output.txt")
	case bot.ReplyRequests, bot.ReplyHistory:
		if len(r.Requests) == 0 {
			if r.Kind == bot.ReplyRequests {
				return newMessage("No requests are waiting for approval."), nil
			}
			return newMessage("No requests yet."), nil
		}
		head := "Waiting for approval, oldest first:"
		if r.Kind == bot.ReplyHistory {
			head = "Recent requests, newest first:"
		}
		lines := make([]string, len(r.Requests))
		for i, q := range r.Requests {
			lines[i] = bot.RequestLine(q, r.Now)
		}
		return preformatted(head, strings.Join(lines, "\n"), string(r.Kind)+".txt")
	case bot.ReplyRefused, bot.ReplyError:
		icon := "⛔ "
		if r.Kind == bot.ReplyError {
			icon = "⚠️ "
		}
		text := r.Text
		if len(r.Findings) > 0 {
			text, _, _ = strings.Cut(text, "\n") // the rest repeats the findings
			text += "\n" + findingLines(r.Findings)
		}
		return newMessage(icon + text), nil
	case bot.ReplyWorking:
		return newMessage("⏳ " + r.Text), nil
	}
	return newMessage(r.Text), nil
}

func findingLines(fs []commands.Finding) string {
	lines := make([]string, len(fs))
	for i, f := range fs {
		lines[i] = "• **" + f.Severity.String() + "** " + f.Message
	}
	return strings.Join(lines, "\n")
}

// headline is a card's first line: the request and where it stands in a word.
func headline(r *approvals.Request) (icon, word string, color int) {
	switch r.Status {
	case approvals.Pending:
		return "🟡", "needs approval", colorPending
	case approvals.Approved:
		return "🔵", "approved, starting", colorActive
	case approvals.Running:
		return "🔵", "running", colorActive
	case approvals.Succeeded:
		return "✅", "succeeded", colorGood
	case approvals.Failed:
		return "❌", "failed", colorBad
	case approvals.Denied:
		return "⛔", "denied", colorBad
	case approvals.Stale:
		return "⚠️", "stale: nothing ran", colorBad
	case approvals.Interrupted:
		return "⚠️", "interrupted", colorBad
	case approvals.Expired:
		return "⌛", "expired", colorGrey
	case approvals.Cancelled:
		return "✖️", "cancelled", colorGrey
	}
	return "•", string(r.Status), colorGrey
}

// status is the card's status line. A pending request's expiry is left to the Expires
// field, a Discord timestamp that stays right between edits.
func status(r *approvals.Request, now time.Time) string {
	if r.Status != approvals.Pending {
		return bot.StatusLine(r, now)
	}
	if a := r.Approvals(); len(a) > 0 {
		return "waiting for " + r.StillNeeds() + " (approved by " + strings.Join(a, ", ") + ")"
	}
	return "waiting for " + bot.Needs(r)
}

// planFile is the whole plan as one PowerShell file, for plans too long for a card.
func planFile(r *approvals.Request) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: %s\n# requested by %s\n\n", r.ID, r.Command, r.Requester)
	for i, s := range r.Steps {
		fmt.Fprintf(&b, "# Step %d of %d on %s: %s\n%s\n\n", i+1, len(r.Steps), s.Target, s.Purpose, strings.TrimRight(s.Script, "\n"))
	}
	if w := r.Wait; w != nil {
		fmt.Fprintf(&b, "# Then polled on %s every %s, for at most %s, until %s\n%s\n", w.Step.Target, bot.Age(w.Interval), bot.Age(w.Budget), w.Progress, strings.TrimRight(w.Step.Script, "\n"))
	}
	return []byte(b.String())
}

// planText is the plan for the card's text: every step with its script, or (attached)
// every step's purpose when the scripts are attached as a file.
func planText(r *approvals.Request, attached bool) string {
	var b strings.Builder
	n := plural(len(r.Steps), "step")
	if r.Wait != nil {
		n += ", then a wait"
	}
	fmt.Fprintf(&b, "**What will run** (%s)", n)
	if attached {
		fmt.Fprintf(&b, ": the exact PowerShell is attached as %s", planFileName(r))
	}
	b.WriteString("\n")
	for i, s := range r.Steps {
		fmt.Fprintf(&b, "**Step %d** on %s: %s\n", i+1, inline(s.Target), s.Purpose)
		if !attached {
			b.WriteString(code("powershell", s.Script) + "\n")
		}
	}
	if w := r.Wait; w != nil {
		fmt.Fprintf(&b, "Then waits on %s for %s: at most %s, checking every %s.\n", inline(w.Step.Target), w.Progress, bot.Age(w.Budget), bot.Age(w.Interval))
		if !attached {
			b.WriteString(code("powershell", w.Step.Script) + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func planFileName(r *approvals.Request) string { return r.ID + "-plan.ps1" }

// renderCard is a request's approval card: what the approver must see before
// clicking (the command, the exact PowerShell, the targets, the preflight findings),
// the votes, and, once it ran, how it ended. The buttons are there while it is pending.
// files is only for the first post: an edit keeps the attachments.
func renderCard(r *approvals.Request, now time.Time) (message, []attachment) {
	m, files := cardWith(r, now, false)
	if embedLen(m.Embeds[0]) > embedTotalGuard || utf8.RuneCountInString(m.Embeds[0].Description) > maxEmbedDesc {
		m, files = cardWith(r, now, true)
	}
	return m, files
}

func cardWith(r *approvals.Request, now time.Time, attachPlan bool) (message, []attachment) {
	icon, word, color := headline(r)
	m := newMessage(fmt.Sprintf("%s **%s** %s: %s", icon, r.ID, word, inline(clip(r.Command, 1500))))

	var desc []string
	if r.Summary != "" {
		desc = append(desc, r.Summary)
	}
	desc = append(desc, "**Status:** "+status(r, now))
	decided := r.Status != approvals.Pending && r.Status != approvals.Approved
	var files []attachment
	switch {
	case decided:
		desc = append(desc, fmt.Sprintf("**Plan:** %s on %s, as approvers saw it.", plural(len(r.Steps), "step"), strings.Join(bot.Targets(r), ", ")))
	default:
		plan := planText(r, false)
		if attachPlan || utf8.RuneCountInString(plan) > maxInlinePlan {
			plan = planText(r, true)
			attachPlan = true
		}
		desc = append(desc, plan)
	}
	if attachPlan && !decided {
		files = []attachment{{Name: planFileName(r), Data: planFile(r)}}
	}

	via := r.Origin.Platform
	if r.Origin.Platform == platform && r.Origin.Channel != "" {
		via = "Discord <#" + r.Origin.Channel + ">"
	}
	fields := []*discordgo.MessageEmbedField{
		{Name: "Requested by", Value: r.Requester + " via " + via + ", " + stamp(r.CreatedAt, "t"), Inline: true},
		{Name: "Target", Value: orNone(strings.Join(bot.Targets(r), ", ")), Inline: true},
	}
	if r.Status == approvals.Pending {
		fields = append(fields, &discordgo.MessageEmbedField{Name: "Expires", Value: stamp(r.ExpiresAt, "t") + " (" + stamp(r.ExpiresAt, "R") + ")", Inline: true})
	}
	if r.Lock != "" {
		fields = append(fields, &discordgo.MessageEmbedField{Name: "Lock", Value: inline(r.Lock), Inline: true})
	}
	findings := "Nothing to report."
	if len(r.Findings) > 0 {
		findings = findingLines(r.Findings)
	}
	fields = append(fields, &discordgo.MessageEmbedField{Name: "Preflight", Value: findings})
	fields = append(fields, &discordgo.MessageEmbedField{Name: "Votes", Value: votes(r)})
	if run := r.Run; run != nil && !run.FinishedAt.IsZero() {
		res := fmt.Sprintf("Ran from %s for %s.", stamp(run.StartedAt, "t"), runTime(run))
		if run.Error != "" {
			res += "\n" + run.Error
		}
		if strings.TrimSpace(run.Output) != "" {
			res += "\nOutput: in the reply below."
		}
		fields = append(fields, &discordgo.MessageEmbedField{Name: "Result", Value: res})
	}
	for _, f := range fields {
		f.Value = clip(f.Value, maxFieldValue)
	}
	footer := "exchops"
	if r.Status == approvals.Pending {
		footer = "Approve needs the approver role and someone other than " + r.Requester + "."
		if w := r.Whom(); w != "" {
			footer = "Approvals count from " + w + ", with the approver role; never from " + r.Requester + "."
		}
	}
	e := &discordgo.MessageEmbed{
		Title:       clip(r.ID+" · "+r.Command, maxTitle),
		Description: strings.Join(desc, "\n\n"),
		Color:       color,
		Fields:      fields,
		Footer:      &discordgo.MessageEmbedFooter{Text: clip(footer, maxFooter)},
		Timestamp:   r.CreatedAt.UTC().Format(time.RFC3339),
	}
	// Findings can be long: once the plan is out of the way (renderCard tries with the
	// plan attached first), what does not fit the embed's total is cut from them.
	if over := embedLen(e) - embedTotalGuard; over > 0 && (attachPlan || decided) {
		for _, f := range e.Fields {
			if f.Name == "Preflight" {
				f.Value = clip(f.Value, max(utf8.RuneCountInString(f.Value)-over, 100))
			}
		}
	}
	m.Embeds = []*discordgo.MessageEmbed{e}
	rows := []discordgo.MessageComponent{}
	if r.Status == approvals.Pending {
		rows = append(rows, discordgo.ActionsRow{Components: []discordgo.MessageComponent{
			discordgo.Button{Label: "Approve", Style: discordgo.SuccessButton, CustomID: approvePrefix + r.ID},
			discordgo.Button{Label: "Deny", Style: discordgo.DangerButton, CustomID: denyPrefix + r.ID},
		}})
	}
	m.Components = &rows
	m.attach(files)
	return m, files
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func votes(r *approvals.Request) string {
	var lines []string
	for _, v := range r.Votes {
		verb := "approved"
		if v.Decision == approvals.Deny {
			verb = "denied"
		}
		l := fmt.Sprintf("%s %s %s via %s", v.Person, verb, stamp(v.At, "t"), v.Via.Platform)
		if v.Reason != "" {
			l += ": " + v.Reason
		}
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		lines = append(lines, "None yet.")
	}
	if r.Status == approvals.Pending {
		lines = append(lines, fmt.Sprintf("Needs %s from %s.", plural(r.Needs(), "more approval"), bot.FromWhom(r)))
	}
	return strings.Join(lines, "\n")
}

func runTime(run *approvals.Run) string {
	d := run.FinishedAt.Sub(run.StartedAt)
	if d < time.Second {
		return "under a second"
	}
	return bot.Age(d)
}

func embedLen(e *discordgo.MessageEmbed) int {
	n := utf8.RuneCountInString(e.Title) + utf8.RuneCountInString(e.Description)
	if e.Footer != nil {
		n += utf8.RuneCountInString(e.Footer.Text)
	}
	for _, f := range e.Fields {
		n += utf8.RuneCountInString(f.Name) + utf8.RuneCountInString(f.Value)
	}
	return n
}

// eventMessage is the reply to a request's card that an event adds, if any: who
// decided, the run starting, its progress, how it ended with what the servers printed.
func eventMessage(e approvals.Event, now time.Time) (message, []attachment, bool) {
	r := e.Request
	var text string
	switch e.Kind {
	case approvals.EventVoted:
		text = fmt.Sprintf("👍 %s approved; it needs %s.", e.Actor, r.StillNeeds())
	case approvals.EventApproved:
		text = "✅ " + r.Reason + "."
	case approvals.EventRunning:
		text = "▶️ Run started"
		if r.Run != nil && r.Run.Progress != "" {
			text += ": " + r.Run.Progress
		}
	case approvals.EventProgress:
		if e.Detail == "" {
			return message{}, nil, false
		}
		text = "… " + e.Detail
	case approvals.EventSucceeded, approvals.EventFailed:
		icon, word, _ := headline(r)
		text = icon + " " + strings.ToUpper(word[:1]) + word[1:]
		if r.Run != nil && !r.Run.FinishedAt.IsZero() {
			text += " after " + runTime(r.Run)
		}
		if r.Run != nil && r.Run.Error != "" {
			text += ": " + r.Run.Error
		} else if e.Kind == approvals.EventFailed && r.Reason != "" {
			text += ": " + r.Reason
		}
		text = clip(text, 1500)
		if r.Run != nil && strings.TrimSpace(r.Run.Output) != "" {
			m, files := preformatted("**"+r.ID+"** "+text, r.Run.Output, r.ID+"-output.txt")
			return m, files, true
		}
		text += "."
	case approvals.EventDenied, approvals.EventExpired, approvals.EventCancelled, approvals.EventStale, approvals.EventInterrupted:
		icon, _, _ := headline(r)
		text = icon + " " + bot.StatusLine(r, now)
	default:
		return message{}, nil, false
	}
	return newMessage("**" + r.ID + "** " + text), nil, true
}
