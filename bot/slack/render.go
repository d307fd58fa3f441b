package slack

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	slackgo "github.com/slack-go/slack"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/commands"
)

// Block Kit's limits, as Slack documents them.
const (
	sectionLimit = 3000 // characters in a section's text
	headerLimit  = 150  // characters in a header
	maxBlocks    = 50   // blocks in a message
	textLimit    = 3000 // what exchops puts in a message's notification text
	// codeLimit is the room for a code block in a section, leaving some for the line
	// above it and the fences.
	codeLimit = 2600
	// maxStepBlocks bounds the steps a card shows; the rest are in the attached file.
	maxStepBlocks = 12
	// maxOutputBlocks bounds the sections a private reply spends on output.
	maxOutputBlocks = 8
	// maxListed bounds the requests listed in one reply.
	maxListed = 40
)

// replyContext is what rendering a reply needs to know about where it is shown.
type replyContext struct {
	channel string // where the person typed or clicked
	cards   string // the approvals channel ("" when cards go where the command was typed)
}

// esc escapes the three characters Slack's mrkdwn reserves. Everything people or
// servers wrote goes through it.
func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// code is s as inline code.
func code(s string) string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "`", "ˋ"), "\n", " ")
	return "`" + esc(s) + "`"
}

// codeBlock is s as a code block of at most limit characters; cut reports that s did
// not fit (the block then ends with a line saying how much is missing).
func codeBlock(s string, limit int) (block string, cut bool) {
	s = strings.TrimRight(s, "\n")
	body := strings.ReplaceAll(esc(s), "```", "`\u200b``")
	if utf8.RuneCountInString(body)+8 <= limit {
		return "```\n" + body + "\n```", false
	}
	keep := limit - 80
	n := 0
	end := 0
	for i := range body {
		if n == keep {
			end = i
			break
		}
		n++
	}
	// Cut at a line end when one is near, and never inside an escape (&amp;).
	if nl := strings.LastIndexByte(body[:end], '\n'); nl > end-400 && nl > 0 {
		end = nl
	} else if amp := strings.LastIndexByte(body[:end], '&'); amp > end-5 && amp >= 0 {
		end = amp
	}
	rest := strings.Count(body[end:], "\n") + 1
	return "```\n" + body[:end] + "\n… (" + plural(rest, "more line") + ")\n```", true
}

// codeBlocks splits s into code blocks of at most limit characters each, at line ends,
// and at most max of them; cut reports that s did not fit.
func codeBlocks(s string, limit, max int) (blocks []string, cut bool) {
	lines := strings.SplitAfter(strings.TrimRight(s, "\n"), "\n")
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			b, _ := codeBlock(cur.String(), limit)
			blocks = append(blocks, b)
			cur.Reset()
		}
	}
	for i, l := range lines {
		if utf8.RuneCountInString(esc(cur.String()+l))+8 > limit {
			flush()
		}
		if len(blocks) == max {
			left := strings.Join(lines[i:], "")
			return blocks, strings.TrimSpace(left) != ""
		}
		if utf8.RuneCountInString(esc(l))+8 > limit {
			b, _ := codeBlock(l, limit) // one very long line: cut it
			blocks = append(blocks, b)
			continue
		}
		cur.WriteString(l)
	}
	flush()
	return blocks, false
}

// cutText shortens s to at most n characters, marking the cut.
func cutText(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func mrkdwn(s string) *slackgo.TextBlockObject {
	return slackgo.NewTextBlockObject(slackgo.MarkdownType, cutText(s, sectionLimit), false, false)
}

func plain(s string, limit int) *slackgo.TextBlockObject {
	return slackgo.NewTextBlockObject(slackgo.PlainTextType, cutText(s, limit), false, false)
}

func section(s string) *slackgo.SectionBlock { return slackgo.NewSectionBlock(mrkdwn(s), nil, nil) }

func contextLine(s string) *slackgo.ContextBlock {
	return slackgo.NewContextBlock("", mrkdwn(s))
}

// date is a time Slack shows in each reader's own time zone, with UTC as the fallback.
func date(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.Format("Jan 2 15:04 UTC"))
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

func approvalsText(n int) string { return plural(n, "approval") }

// via says where a vote or a request came from, for people.
func via(o approvals.Origin) string {
	switch o.Platform {
	case platform:
		if o.Channel != "" {
			return "Slack <#" + o.Channel + ">"
		}
		return "Slack"
	case "discord":
		return "Discord"
	case "console":
		return "the console"
	case "schedule":
		return "a schedule"
	}
	return esc(o.String())
}

// statusIcon is the emoji in front of a request's status.
func statusIcon(s approvals.Status) string {
	switch s {
	case approvals.Pending:
		return ":hourglass_flowing_sand:"
	case approvals.Approved:
		return ":white_check_mark:"
	case approvals.Running:
		return ":gear:"
	case approvals.Succeeded:
		return ":large_green_circle:"
	case approvals.Failed:
		return ":red_circle:"
	case approvals.Denied:
		return ":no_entry:"
	case approvals.Expired:
		return ":alarm_clock:"
	case approvals.Cancelled:
		return ":heavy_multiplication_x:"
	case approvals.Stale:
		return ":warning:"
	case approvals.Interrupted:
		return ":double_vertical_bar:"
	}
	return ":grey_question:"
}

// statusWord is the status in a card's header.
func statusWord(r *approvals.Request) string {
	switch r.Status {
	case approvals.Pending:
		return "waiting for approval"
	case approvals.Approved:
		return "approved, starting"
	}
	return string(r.Status)
}

func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return strings.ToUpper(string(r)) + s[n:]
}

// statusText is the card's line under the command: where the request stands.
func statusText(r *approvals.Request) string {
	icon := statusIcon(r.Status) + " "
	switch r.Status {
	case approvals.Pending:
		s := icon + "Needs *" + approvalsText(r.Needs()) + "* from " + esc(bot.FromWhom(r)) + "."
		if a := r.Approvals(); len(a) > 0 {
			s += " Approved so far by " + esc(strings.Join(a, ", ")) + "."
		}
		return s
	}
	line := icon + "*" + esc(capitalize(bot.StatusLine(r, r.UpdatedAt))) + "*"
	switch r.Status {
	case approvals.Denied, approvals.Cancelled:
		return line + ". Nothing ran."
	case approvals.Expired:
		return line + ". Nothing ran; ask again if it is still needed."
	case approvals.Stale:
		return line + ". Ask again if it is still needed."
	case approvals.Succeeded, approvals.Failed:
		return line + ". The result is in the thread."
	case approvals.Interrupted:
		return line + "."
	}
	return line
}

func findingIcon(s commands.Severity) string {
	switch s {
	case commands.Info:
		return ":information_source:"
	case commands.Warning:
		return ":warning:"
	}
	return ":no_entry:"
}

func findingsText(fs []commands.Finding) string {
	var b strings.Builder
	for i, f := range fs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(findingIcon(f.Severity) + " " + esc(f.Message))
	}
	return b.String()
}

// cardMessage renders a request's approval card: what the approvers decide on (the
// command, its target, the exact PowerShell of every step, the preflight findings,
// the expiry), where it stands, the votes, and, while it is pending, the buttons.
func cardMessage(r *approvals.Request) message {
	var blocks []slackgo.Block
	blocks = append(blocks, slackgo.NewHeaderBlock(plain(r.ID+" · "+statusWord(r), headerLimit)))
	head := code(r.Command)
	if r.Summary != "" {
		head += "\n" + esc(r.Summary)
	}
	blocks = append(blocks, section(head), section(statusText(r)))

	tg := "none"
	if t := bot.Targets(r); len(t) > 0 {
		var cs []string
		for _, x := range t {
			cs = append(cs, code(x))
		}
		tg = strings.Join(cs, ", ")
	}
	fields := []*slackgo.TextBlockObject{
		mrkdwn("*Requested by*\n" + esc(r.Requester) + " in " + via(r.Origin)),
		mrkdwn("*Target*\n" + tg),
		mrkdwn("*Requested*\n" + date(r.CreatedAt)),
	}
	if r.Status == approvals.Pending || r.Status == approvals.Expired {
		fields = append(fields, mrkdwn("*Expires*\n"+date(r.ExpiresAt)))
	}
	if r.Lock != "" {
		fields = append(fields, mrkdwn("*Lock*\n"+code(r.Lock)))
	}
	blocks = append(blocks, slackgo.NewSectionBlock(nil, fields, nil))

	if len(r.Findings) > 0 {
		blocks = append(blocks, section("*Preflight findings*\n"+findingsText(r.Findings)))
	} else {
		blocks = append(blocks, section("*Preflight:* nothing to report."))
	}

	cut := false
	for i, st := range r.Steps {
		if i == maxStepBlocks {
			blocks = append(blocks, section(fmt.Sprintf("*…and %s more*: see the attached %s.", plural(len(r.Steps)-i, "step"), planFileName(r))))
			cut = true
			break
		}
		b, c := codeBlock(st.Script, codeLimit)
		cut = cut || c
		blocks = append(blocks, section(fmt.Sprintf("*Step %d of %d* on %s: %s\n%s", i+1, len(r.Steps), code(st.Target), esc(st.Purpose), b)))
	}
	if w := r.Wait; w != nil {
		b, c := codeBlock(w.Step.Script, codeLimit)
		cut = cut || c
		blocks = append(blocks, section(fmt.Sprintf("*Then waits* on %s for %s: at most %s, checking every %s.\n%s",
			code(w.Step.Target), esc(w.Progress), durationText(w.Budget), durationText(w.Interval), b)))
	}
	if cut {
		blocks = append(blocks, contextLine(":page_facing_up: The PowerShell is shortened here; the full script is attached in the thread as "+planFileName(r)+"."))
	}

	blocks = append(blocks, contextLine(votesText(r)))
	if r.Status == approvals.Pending {
		blocks = append(blocks, buttons(r))
	}
	text := fmt.Sprintf("%s %s: %s asks to run %s", r.ID, statusWord(r), esc(r.Requester), code(r.Command))
	return message{Text: cutText(text, textLimit), Blocks: blocks}
}

func durationText(d time.Duration) string {
	if d <= 0 {
		return "no limit"
	}
	return bot.Age(d)
}

func votesText(r *approvals.Request) string {
	if len(r.Votes) == 0 {
		if r.Status == approvals.Pending {
			return "No votes yet."
		}
		return "Nobody voted."
	}
	var parts []string
	for _, v := range r.Votes {
		verb := "approved"
		if v.Decision == approvals.Deny {
			verb = "denied"
		}
		s := fmt.Sprintf("*%s* %s %s in %s", esc(v.Person), verb, date(v.At), via(v.Via))
		if v.Reason != "" {
			s += ": “" + esc(v.Reason) + "”"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " · ")
}

// buttons are the card's Approve (with a confirmation) and Deny.
func buttons(r *approvals.Request) *slackgo.ActionBlock {
	where := "exchops' plan"
	if t := bot.Targets(r); len(t) > 0 {
		where = strings.Join(t, ", ")
	}
	confirmLabel := "Approve and run"
	if r.Needs() > 1 {
		confirmLabel = "Approve"
	}
	confirm := slackgo.NewConfirmationBlockObject(
		plain("Approve "+r.ID+"?", 100),
		plain(cutText(fmt.Sprintf("%s asked for: %s. Once approved it runs on %s as exchops' service account.", r.Requester, r.Command, where), 300), 300),
		plain(confirmLabel, 30),
		plain("Not yet", 30),
	)
	approve := slackgo.NewButtonBlockElement(actionApprove, r.ID, plain("Approve", 75)).WithStyle(slackgo.StylePrimary).WithConfirm(confirm)
	deny := slackgo.NewButtonBlockElement(actionDeny, r.ID, plain("Deny", 75)).WithStyle(slackgo.StyleDanger)
	return slackgo.NewActionBlock("decide:"+r.ID, approve, deny)
}

func planFileName(r *approvals.Request) string { return r.ID + "-plan.ps1" }

// planFile is the full PowerShell of a request, attached in its card's thread when
// the card had to shorten it.
func planFile(r *approvals.Request) (*filePost, bool) {
	long := len(r.Steps) > maxStepBlocks
	for _, st := range r.Steps {
		if _, c := codeBlock(st.Script, codeLimit); c {
			long = true
		}
	}
	if r.Wait != nil {
		if _, c := codeBlock(r.Wait.Step.Script, codeLimit); c {
			long = true
		}
	}
	if !long {
		return nil, false
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: %s\n# requested by %s; every step below runs only after approval.\n", r.ID, r.Command, r.Requester)
	for i, st := range r.Steps {
		fmt.Fprintf(&b, "\n# ---- step %d of %d on %s: %s\n%s\n", i+1, len(r.Steps), st.Target, st.Purpose, strings.TrimRight(st.Script, "\n"))
	}
	if w := r.Wait; w != nil {
		fmt.Fprintf(&b, "\n# ---- then polled on %s until done (%s): %s\n%s\n", w.Step.Target, w.Progress, w.Step.Purpose, strings.TrimRight(w.Step.Script, "\n"))
	}
	return &filePost{Name: planFileName(r), Title: r.ID + ": the PowerShell exchops will run", Content: b.String()}, true
}

// threadLine is what an event adds to the card's thread, other than the result.
func threadLine(e approvals.Event) (string, bool) {
	r := e.Request
	switch e.Kind {
	case approvals.EventVoted:
		return fmt.Sprintf(":ballot_box_with_check: %s approved; %s still needs %s.", esc(e.Actor), r.ID, esc(bot.Needs(r))), true
	case approvals.EventApproved:
		return ":white_check_mark: " + esc(capitalize(r.Reason)) + ". The run starts now.", true
	case approvals.EventRunning:
		s := ":gear: Run started"
		if r.Run != nil && r.Run.Progress != "" {
			s += ": " + esc(r.Run.Progress)
		}
		return s, true
	case approvals.EventProgress:
		if e.Detail == "" {
			return "", false
		}
		return ":hourglass: " + esc(e.Detail), true
	case approvals.EventDenied, approvals.EventExpired, approvals.EventCancelled, approvals.EventStale, approvals.EventInterrupted:
		return statusIcon(r.Status) + " " + esc(capitalize(bot.StatusLine(r, r.UpdatedAt))) + ".", true
	}
	return "", false
}

func runTime(r *approvals.Request) string {
	if r.Run == nil || r.Run.FinishedAt.IsZero() {
		return ""
	}
	d := r.Run.FinishedAt.Sub(r.Run.StartedAt)
	if d < time.Second {
		return "under a second"
	}
	return bot.Age(d)
}

func outputFileName(r *approvals.Request) string { return r.ID + "-output.txt" }

// outputTooLong reports whether a run's output goes up as a file instead of into the
// result message.
func outputTooLong(out string) bool {
	_, cut := codeBlock(out, codeLimit)
	return cut
}

// resultMessage is a finished run's message in the card's thread: how it ended, how
// long it took and what the servers printed (or that the output is attached).
func resultMessage(r *approvals.Request) message {
	icon := statusIcon(r.Status)
	took := runTime(r)
	var head string
	if r.Status == approvals.Succeeded {
		head = fmt.Sprintf("%s *%s succeeded*", icon, r.ID)
		if took != "" {
			head += " in " + took
		}
		if r.Summary != "" {
			head += ": " + esc(r.Summary)
		}
	} else {
		head = fmt.Sprintf("%s *%s %s*", icon, r.ID, r.Status)
		if took != "" {
			head += " after " + took
		}
		detail := r.Reason
		if r.Run != nil && r.Run.Error != "" {
			detail = r.Run.Error
		}
		if detail != "" {
			head += ": " + esc(detail)
		}
	}
	blocks := []slackgo.Block{section(head)}
	out := ""
	if r.Run != nil {
		out = r.Run.Output
	}
	switch {
	case strings.TrimSpace(out) == "":
		blocks = append(blocks, contextLine("No output."))
	case outputTooLong(out):
		blocks = append(blocks, contextLine(fmt.Sprintf(":page_facing_up: The output (%s) is attached below as %s.", size(len(out)), outputFileName(r))))
	default:
		b, _ := codeBlock(out, codeLimit)
		blocks = append(blocks, section(b))
	}
	text := fmt.Sprintf("%s %s: %s", r.ID, r.Status, code(r.Command))
	return message{Text: cutText(text, textLimit), Blocks: blocks}
}

// outputFile is a run's output as a file, when it is too long for the thread.
func outputFile(r *approvals.Request) (*filePost, bool) {
	if r.Run == nil || !outputTooLong(r.Run.Output) {
		return nil, false
	}
	return &filePost{Name: outputFileName(r), Title: r.ID + ": what " + r.Command + " printed", Content: r.Run.Output}, true
}

func size(n int) string {
	switch {
	case n < 1<<10:
		return plural(n, "byte")
	case n < 1<<20:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
}

// renderReply renders the core's answer to the person who typed or clicked; Slack
// shows it to them alone.
func renderReply(rep bot.Reply, rc replyContext) message {
	switch rep.Kind {
	case bot.ReplyHelp:
		blocks, cut := codeBlocks(rep.Text, codeLimit, maxOutputBlocks)
		msg := message{Text: "exchops help", Blocks: sections(blocks)}
		if cut {
			msg.Blocks = append(msg.Blocks, contextLine("The help is longer than a message; ask for one command's help with `help <command>`."))
		}
		return msg
	case bot.ReplyResult:
		return resultReply(rep)
	case bot.ReplyRequests:
		return listReply(rep, "Waiting for approval", "oldest first", "No requests are waiting for approval.")
	case bot.ReplyHistory:
		return listReply(rep, "Recent requests", "newest first", "No requests yet.")
	case bot.ReplyRefused, bot.ReplyError:
		icon := ":no_entry_sign:"
		if rep.Kind == bot.ReplyError {
			icon = ":warning:"
		}
		text := rep.Text
		if len(rep.Findings) > 0 {
			text, _, _ = strings.Cut(text, "\n")
		}
		blocks := []slackgo.Block{section(icon + " " + esc(text))}
		if len(rep.Findings) > 0 {
			blocks = append(blocks, section("*Preflight findings*\n"+findingsText(rep.Findings)))
		}
		return message{Text: cutText(esc(text), textLimit), Blocks: blocks}
	case bot.ReplyRequest:
		s := ":inbox_tray: " + esc(rep.Text)
		if r := rep.Request; r != nil {
			switch {
			case rc.cards != "" && rc.cards != rc.channel:
				s += "\nApprovers see its card in <#" + rc.cards + ">."
			default:
				s += "\nIts card is in this channel."
			}
		}
		return message{Text: cutText(esc(rep.Text), textLimit), Blocks: []slackgo.Block{section(s)}}
	case bot.ReplyWorking:
		return message{Text: cutText(esc(rep.Text), textLimit), Blocks: []slackgo.Block{section(":hourglass_flowing_sand: " + esc(rep.Text))}}
	}
	return message{Text: cutText(esc(rep.Text), textLimit), Blocks: []slackgo.Block{section(esc(rep.Text))}}
}

func sections(texts []string) []slackgo.Block {
	out := make([]slackgo.Block, 0, len(texts))
	for _, t := range texts {
		out = append(out, section(t))
	}
	return out
}

// resultReply is a read-only command's answer: the summary and what the servers
// printed, over several sections when it is long.
func resultReply(rep bot.Reply) message {
	icon := ":clipboard:"
	if rep.Failed {
		icon = ":red_circle:"
	}
	blocks := []slackgo.Block{section(icon + " " + esc(rep.Text))}
	if strings.TrimSpace(rep.Output) == "" {
		blocks = append(blocks, contextLine("No output."))
	} else {
		outs, cut := codeBlocks(rep.Output, codeLimit, maxOutputBlocks)
		blocks = append(blocks, sections(outs)...)
		if cut {
			blocks = append(blocks, contextLine("The output is longer than a message holds; the rest is not shown. Narrow the command (name a database or a server) to see it all."))
		}
	}
	return message{Text: cutText(esc(rep.Text), textLimit), Blocks: blocks}
}

// listReply renders `requests` and `history`: one section per request.
func listReply(rep bot.Reply, title, order, none string) message {
	if len(rep.Requests) == 0 {
		return message{Text: none, Blocks: []slackgo.Block{section(none)}}
	}
	blocks := []slackgo.Block{section(fmt.Sprintf("*%s* (%d), %s", title, len(rep.Requests), order))}
	for i, r := range rep.Requests {
		if i == maxListed {
			blocks = append(blocks, contextLine(fmt.Sprintf("…and %d more.", len(rep.Requests)-i)))
			break
		}
		line := fmt.Sprintf("%s *%s* %s\nby %s, %s ago · %s", statusIcon(r.Status), r.ID, code(r.Command),
			esc(r.Requester), bot.Age(rep.Now.Sub(r.CreatedAt)), esc(bot.StatusLine(r, rep.Now)))
		if who := bot.Who(r); who != "" && rep.Kind == bot.ReplyHistory && r.Status != approvals.Pending {
			if !strings.Contains(bot.StatusLine(r, rep.Now), who) {
				line += " · " + esc(who)
			}
		}
		blocks = append(blocks, section(line))
	}
	return message{Text: fmt.Sprintf("%s: %d", title, len(rep.Requests)), Blocks: blocks}
}
