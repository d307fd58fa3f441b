package slack

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	slackgo "github.com/slack-go/slack"

	"github.com/exchops/exchops/bot"
)

var _ bot.Publisher = (*Slack)(nil)

const (
	// reportInline is how much of a report (characters, as sent) its message shows. A
	// longer report shows its beginning, and the whole text follows in the message's
	// thread as reportFile.
	reportInline = 12000
	reportFile   = "report.md"
	chartFile    = "chart.png"
	// fenceRoom is what opening and closing a code block take in a section.
	fenceRoom = len("```\n") + len("\n```")
)

// Publish posts a report into channel (a channel id; a #name works for the message,
// but Slack files uploads only by id, so the id the message went to is used for them):
// a message with the title as its header and the text as mrkdwn sections, split at
// Slack's limits without breaking a code block (a block cut in two is closed at the
// end of one section and reopened in the next). A report too long for one message
// shows its beginning, and the whole text follows in the message's thread as
// report.md; png, when not empty, follows there as chart.png.
//
// Delivery is that of every post: 429s and server errors are retried a few times,
// then the report is kept in the outbox and posted, files and all, later. When only
// an upload fails, only the upload is kept: the message is never posted twice.
// Publish waits for the first attempts and returns an error only when the report
// could neither be posted nor kept.
func (s *Slack) Publish(ctx context.Context, channel, title, text string, png []byte) error {
	channel = strings.TrimSpace(channel)
	if channel == "" {
		return errors.New("slack: no channel to post the report in: name one (a channel id such as C0123ABCD) in the schedule's post_to.slack")
	}
	if strings.TrimSpace(title) == "" && strings.TrimSpace(text) == "" {
		return errors.New("slack: a report with neither a title nor a text: nothing to post")
	}
	p := reportPost(channel, title, text, png)
	p.At = s.clock.Now()
	key := "report"
	if t := strings.TrimSpace(title); t != "" {
		key += " " + cutText(t, 80)
	}
	done := make(chan error, 1)
	// Reports to one channel go out in order, and Close lets one being sent finish.
	if !s.enqueue("report:"+channel, func(lane context.Context) { done <- s.publish(ctx, lane, key, p) }) {
		// Closed: nothing is sent now, but the next front posts it.
		if err := s.keep(ctx, key, p, nil, 0); err != nil {
			return fmt.Errorf("slack: the front is closed and the report could not be kept for later: %w", err)
		}
		return nil
	}
	return <-done
}

// publish runs in the channel's lane: the message (retried, else kept whole), then its
// files in its thread. Its waits end when the caller gives up or the front closes;
// what is not sent then is kept.
func (s *Slack) publish(caller, lane context.Context, key string, p post) error {
	ctx, cancel := context.WithCancel(lane)
	defer cancel()
	defer context.AfterFunc(caller, cancel)()
	if ctx.Err() != nil {
		if err := s.keep(ctx, key, p, nil, 0); err != nil {
			return fmt.Errorf("slack: the report could neither be posted nor kept for retry: %w", err)
		}
		return nil
	}
	var ch string
	ts, sent, err := s.attemptKeep(ctx, key, p, func(ctx context.Context) (string, error) {
		c, ts, err := s.postReport(ctx, p)
		ch = c
		return ts, err
	})
	if !sent {
		if err != nil {
			return fmt.Errorf("slack: the report could neither be posted nor kept for retry: %w", err)
		}
		return nil // kept: the outbox worker posts it
	}
	return s.reportFiles(ctx, key, ch, ts, p.Files, true)
}

// postReport posts a report's message and returns the id of the channel it went to
// (the uploads in its thread need it) and its ts.
func (s *Slack) postReport(ctx context.Context, p post) (string, string, error) {
	ch, ts, err := s.api.PostMessageContext(ctx, p.Channel, s.msgOptions(p)...)
	if ch == "" {
		ch = p.Channel
	}
	return ch, ts, err
}

// reportFiles uploads a posted report's files in its thread: inline, each retried like
// any post; from the outbox worker, one try each. An upload that fails is kept in the
// outbox on its own, so that the message is not posted again. The error says what
// could be neither uploaded nor kept.
func (s *Slack) reportFiles(ctx context.Context, key, ch, ts string, files []*filePost, inline bool) error {
	var errs []error
	for _, f := range files {
		if f.empty() {
			continue
		}
		up := post{Method: methodUpload, Channel: ch, Thread: ts, File: f, At: s.clock.Now()}
		k := key + " " + f.Name
		var err error
		switch {
		case ctx.Err() != nil:
			err = s.keep(ctx, k, up, nil, 0)
		case inline:
			_, _, err = s.attemptKeep(ctx, k, up, func(ctx context.Context) (string, error) { return s.send(ctx, up, up.At) })
		default:
			err = s.once(ctx, k, up)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.Name, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("slack: the report was posted, but a file could neither be uploaded in its thread nor kept for retry: %w", errors.Join(errs...))
	}
	return nil
}

// once makes one attempt at p and keeps it in the outbox when that fails.
func (s *Slack) once(ctx context.Context, key string, p post) error {
	_, err := s.send(ctx, p, p.At)
	if err == nil {
		s.core.Metrics().Post(platform, "sent")
		return nil
	}
	s.core.Metrics().Post(platform, "failed")
	wait, _ := retryable(err, 1)
	return s.keep(ctx, key, p, err, wait)
}

// sendQueuedReport is the outbox worker's attempt at a kept report: the message, then
// its files, each of which is kept on its own when it fails.
func (s *Slack) sendQueuedReport(ctx context.Context, q bot.Post, p post) error {
	ch, ts, err := s.postReport(ctx, p)
	if err != nil {
		s.core.Metrics().Post(platform, "failed")
		return clean(err)
	}
	s.core.Metrics().Post(platform, "sent")
	s.log.Info("slack: a kept post was delivered", "post", q.Key, "attempts", q.Attempts+1)
	if err := s.reportFiles(ctx, q.Key, ch, ts, p.Files, false); err != nil {
		// Logged where it failed; the message is up, so the report is done with.
		s.log.Error("slack: a report's file is lost", "post", q.Key, "err", clean(err))
	}
	return nil
}

// reportPost is the post that publishes a report: the message and what goes in its
// thread.
func reportPost(channel, title, text string, png []byte) post {
	msg, whole := reportMessage(title, text, len(png) > 0)
	p := post{Method: methodReport, Channel: channel, Text: msg.Text, Blocks: msg.blocksJSON()}
	name := strings.TrimSpace(title)
	if name == "" {
		name = "Report"
	}
	if whole {
		p.Files = append(p.Files, &filePost{Name: reportFile, Title: name, Content: reportMarkdown(title, text)})
	}
	if len(png) > 0 {
		p.Files = append(p.Files, &filePost{Name: chartFile, Title: name + ": chart", Data: png, Alt: "Chart: " + name})
	}
	return p
}

// reportMarkdown is a report as the file attached when it is too long for a message:
// the title as a heading, then the text as it was written.
func reportMarkdown(title, text string) string {
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	if t := strings.TrimSpace(title); t != "" {
		return "# " + t + "\n\n" + text
	}
	return text
}

// reportMessage renders a report: the title as a header, the text as sections. whole
// reports that the text does not fit and goes in the thread as a file: the message then
// shows the sections that fit and says so.
func reportMessage(title, text string, chart bool) (msg message, whole bool) {
	var blocks []slackgo.Block
	title = strings.TrimSpace(title)
	if title != "" {
		blocks = append(blocks, slackgo.NewHeaderBlock(plain(title, headerLimit)))
	}
	secs := reportSections(text, sectionLimit)
	shown := shownSections(secs, maxBlocks-len(blocks)-1, reportInline) // a block left for the context line
	whole = shown < len(secs)
	blocks = append(blocks, sections(secs[:shown])...)
	var notes []string
	if whole {
		notes = append(notes, fmt.Sprintf(":page_facing_up: The report goes on: all of it (%s) is attached in the thread as %s.", size(len(text)), reportFile))
	}
	if chart {
		notes = append(notes, ":chart_with_upwards_trend: The chart is in the thread as "+chartFile+".")
	}
	if len(notes) > 0 {
		blocks = append(blocks, contextLine(strings.Join(notes, " ")))
	}
	note := title
	if note == "" {
		for l := range strings.Lines(text) {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "```") {
				note = l
				break
			}
		}
	}
	return message{Text: cutText(esc(note), textLimit), Blocks: blocks}, whole
}

// shownSections is how many of secs a message shows: at most room, and those within
// chars characters (at least one).
func shownSections(secs []string, room, chars int) int {
	shown, n := 0, 0
	for _, sec := range secs {
		n += utf8.RuneCountInString(sec)
		if shown == room || shown > 0 && n > chars {
			break
		}
		shown++
	}
	return shown
}

// rline is a line of a report as it is sent (escaped) and the code block it is in (0:
// none; the blocks are numbered from 1).
type rline struct {
	text  string
	block int
}

// reportSections splits a report's text (light Markdown with ``` code blocks) into
// mrkdwn sections of at most limit characters. It cuts between paragraphs and code
// blocks when it can, keeping a block with the line that leads into it, and else
// between lines; a code block cut in two is closed at the end of one section and
// reopened at the start of the next, so that every section reads right on its own.
func reportSections(text string, limit int) []string {
	units := reportUnits(text, limit-fenceRoom)
	var out []string
	var cur []rline
	fits := func(ls ...[]rline) bool {
		var all []rline
		for _, l := range ls {
			all = append(all, l...)
		}
		return utf8.RuneCountInString(renderLines(all)) <= limit
	}
	flush := func() {
		if s := renderLines(cur); s != "" {
			out = append(out, s)
		}
		cur = nil
	}
	for _, u := range units {
		switch {
		case fits(cur, u):
			cur = append(cur, u...)
		case fits(u):
			// A unit that fits a section of its own starts one rather than be cut.
			flush()
			cur = append(cur, u...)
		default:
			// Too long for any section: it is cut between lines. It starts a section
			// of its own unless the current one has room to spare, so that a table
			// does not begin with a couple of rows at the end of a full section.
			if utf8.RuneCountInString(renderLines(cur)) > limit/2 {
				flush()
			}
			for _, l := range u {
				if !fits(cur, []rline{l}) {
					flush()
				}
				cur = append(cur, l) // every line fits an empty section: reportUnits cut it
			}
		}
	}
	flush()
	return out
}

// reportUnits reads a report into the units that sections are cut between: a
// paragraph (with the blank lines after it), or a code block with the paragraph that
// leads right into it ("Copies:" above its table). Lines longer than room are cut.
func reportUnits(text string, room int) [][]rline {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	var units [][]rline
	var cur []rline
	flush := func() {
		if len(cur) > 0 {
			units = append(units, cur)
			cur = nil
		}
	}
	open, blocks := 0, 0
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		t := strings.TrimSpace(l)
		switch {
		case open == 0 && isFence(t):
			if len(cur) == 0 || cur[len(cur)-1].block != 0 || cur[len(cur)-1].text == "" {
				flush()
			}
			blocks++
			open = blocks
			continue
		case open != 0 && t == "```":
			open = 0
			flush()
			continue
		case open == 0 && t == "":
			cur = append(cur, rline{})
			flush()
			continue
		}
		for _, piece := range cutLine(l, room) {
			cur = append(cur, rline{text: piece, block: open})
		}
	}
	flush()
	return units
}

// isFence reports whether a trimmed line opens a code block: ``` and maybe a language.
func isFence(t string) bool {
	rest, ok := strings.CutPrefix(t, "```")
	return ok && !strings.ContainsAny(rest, "` \t")
}

// cutLine escapes a line for mrkdwn (and defuses ``` in it, which would end a code
// block) and cuts it into pieces of at most room characters, never inside an escape.
func cutLine(l string, room int) []string {
	l = strings.ReplaceAll(l, "```", "`\u200b``")
	if e := esc(l); utf8.RuneCountInString(e) <= room {
		return []string{e}
	}
	var out []string
	var b strings.Builder
	n := 0
	for _, r := range l {
		w := 1
		switch r {
		case '&':
			w = len("&amp;")
		case '<', '>':
			w = len("&lt;")
		}
		if n+w > room {
			out = append(out, esc(b.String()))
			b.Reset()
			n = 0
		}
		b.WriteRune(r)
		n += w
	}
	return append(out, esc(b.String()))
}

// renderLines is a section's text: the lines, with their code blocks fenced, and no
// blank lines around.
func renderLines(ls []rline) string {
	for len(ls) > 0 && ls[0].block == 0 && strings.TrimSpace(ls[0].text) == "" {
		ls = ls[1:]
	}
	for len(ls) > 0 && ls[len(ls)-1].block == 0 && strings.TrimSpace(ls[len(ls)-1].text) == "" {
		ls = ls[:len(ls)-1]
	}
	var b strings.Builder
	open := 0
	for _, l := range ls {
		if l.block != open {
			if open != 0 {
				b.WriteString("```\n")
			}
			if l.block != 0 {
				b.WriteString("```\n")
			}
			open = l.block
		}
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	if open != 0 {
		b.WriteString("```")
	}
	return strings.TrimSuffix(b.String(), "\n")
}
