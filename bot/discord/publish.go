package discord

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/exchops/exchops/bot"
)

var _ bot.Publisher = (*Discord)(nil)

// Reports.
const (
	// maxReportInline is the longest report (title and text, in characters) posted as a
	// run of messages; a longer one is posted as its first part, with the whole report
	// attached as reportFile.
	maxReportInline = 8000
	reportFile      = "report.md"
	chartFile       = "chart.png"
	// maxFenceLang bounds the language of a code block opened again in the next message.
	maxFenceLang = 16
	// minSplit is the smallest piece splitMarkdown is asked for: room for a fence
	// opened again, a line and the fence closing it.
	minSplit = 64
)

// Publish is bot.Publisher: it posts a report (a scheduled health report, a drill's
// scorecard) into a Discord channel through the bot token. The title is in bold above
// the text. A text longer than a message goes in several messages, in order, cut
// between paragraphs where it can; a code block cut in two is closed at the end of one
// message and opened again at the start of the next. A report longer than
// maxReportInline characters goes as its first part with the whole report attached as
// report.md. png, when not nil, is attached as chart.png to the last message. Nobody
// is pinged.
//
// The messages are posted as the front's other posts are: tried a few times at once,
// then kept in the outbox, the parts not posted yet with the one that failed, so that
// they still arrive in order. Reports to one channel are posted one after the other,
// never interleaved. Publish fails only when a message could neither be posted nor
// kept for later.
func (d *Discord) Publish(ctx context.Context, channel, title, text string, png []byte) error {
	channel = strings.TrimSpace(channel)
	switch {
	case channel == "":
		return errors.New("discord: publishing a report: no channel was given: post_to.discord names the channel's id")
	case !isSnowflake(channel):
		return fmt.Errorf("discord: publishing a report: %q is not a channel id: it is a number (in Discord, turn on Developer Mode, right-click the channel, Copy Channel ID)", channel)
	}
	parts := renderReport(title, text, png)
	if len(parts) == 0 {
		return errors.New("discord: publishing a report: its title and text are both empty")
	}
	key := fmt.Sprintf("report %q", clip(strings.Join(strings.Fields(title), " "), 80))
	if strings.TrimSpace(title) == "" {
		key = "report"
	}
	calls := make([]*call, len(parts))
	for i, p := range parts {
		k := key
		if len(parts) > 1 {
			k += fmt.Sprintf(" (part %d of %d)", i+1, len(parts))
		}
		calls[i] = &call{Method: http.MethodPost, Path: "channels/" + channel + "/messages", Body: p.m.json(), Files: p.files, Key: k}
	}

	d.mu.Lock()
	closed := d.closed
	if !closed {
		d.work.Add(1) // Close waits for the report: what is not posted by then is kept
	}
	d.mu.Unlock()
	if closed {
		return d.keep(calls, errors.New("the Discord front is closed"))
	}
	defer d.work.Done()
	// The posts end with ctx or at Close; what is not posted by then goes to the outbox.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(d.ctx, cancel)()

	unlock, err := d.lockChannel(ctx, channel)
	if err != nil {
		return d.keep(calls, err)
	}
	defer unlock()
	for i, c := range calls {
		c.Then = calls[i+1:] // kept with it, should it go to the outbox
		_, queued, err := d.post(ctx, c)
		c.Then = nil
		switch {
		case queued:
			return nil
		case err != nil && i > 0:
			return fmt.Errorf("%w (%d of the report's %d messages were posted)", err, i, len(calls))
		case err != nil:
			return err
		}
	}
	return nil
}

// keep puts a report's messages in the outbox without trying them, in one post so
// that they go out in order.
func (d *Discord) keep(calls []*call, cause error) error {
	if d.cfg.Outbox == nil {
		return fmt.Errorf("discord: %s: not posted (%v), and there is no outbox to keep it in", calls[0].what(), cause)
	}
	c := *calls[0]
	c.Then = calls[1:]
	if err := d.enqueue(&c, cause); err != nil {
		d.log.Error("discord: a report could not be posted nor kept for later", "post", c.what(), "err", cause, "outbox", err)
		return fmt.Errorf("discord: %s: not posted (%v), and keeping it in the outbox failed: %w", c.what(), cause, err)
	}
	d.log.Warn("discord: a report is kept in the outbox and posted later", "post", c.what(), "why", cause)
	return nil
}

// lockChannel waits until no other report is being posted to channel; unlock lets the
// next one go.
func (d *Discord) lockChannel(ctx context.Context, channel string) (unlock func(), err error) {
	d.mu.Lock()
	if d.publishing == nil {
		d.publishing = map[string]chan struct{}{}
	}
	l := d.publishing[channel]
	if l == nil {
		l = make(chan struct{}, 1)
		d.publishing[channel] = l
	}
	d.mu.Unlock()
	select {
	case l <- struct{}{}:
		return func() { <-l }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// follow makes the calls that waited behind one the outbox just delivered (the further
// messages of a report), in order. One that fails for a while goes back to the outbox
// with those after it. Only when that fails too is an error returned, and the outbox
// tries the whole post again: messages posted twice rather than lost.
func (d *Discord) follow(ctx context.Context, then []*call) error {
	for i, c := range then {
		if err := d.prepare(ctx, c); err != nil {
			d.log.Error("discord: dropping an outbox post", "post", c.what(), "err", err)
			continue
		}
		data, err := d.rest.do(ctx, c)
		if err == nil {
			d.delivered(ctx, c, data)
			continue
		}
		rest := then[i+1:]
		if !retryable(err) {
			d.log.Error("discord: dropping an outbox post Discord does not take, with the posts after it", "post", c.what(), "after", len(rest), "err", err)
			return nil
		}
		c.Then = rest
		if qerr := d.enqueue(c, err); qerr != nil {
			d.log.Error("discord: a post failed and could not be kept for later; the outbox tries its whole post again", "post", c.what(), "err", err, "outbox", qerr)
			return err
		}
		d.log.Warn("discord: a post failed; it is kept in the outbox and retried", "post", c.what(), "err", err)
		return nil
	}
	return nil
}

// reportPart is one message of a report, with its files.
type reportPart struct {
	m     message
	files []attachment
}

// renderReport turns a report into the messages that post it (none when it is empty).
func renderReport(title, text string, png []byte) []reportPart {
	title = strings.Join(strings.Fields(title), " ")
	text = strings.TrimRight(text, " \t\r\n")
	// A health report's text opens with its title (the verdict in capitals): it is not
	// said twice.
	if first, rest, _ := strings.Cut(text, "\n"); title != "" && strings.EqualFold(strings.TrimSpace(first), title) {
		text = strings.TrimLeft(rest, "\r\n")
	}
	var content string
	if title != "" {
		content = "**" + escapeMarkdown(clip(title, maxTitle)) + "**"
		if text != "" {
			content += "\n"
		}
	}
	content += text
	if strings.TrimSpace(content) == "" {
		return nil
	}
	var chart []attachment
	if png != nil {
		chart = []attachment{{Name: chartFile, Data: png}}
	}
	if utf8.RuneCountInString(content) > maxReportInline {
		whole := text + "\n"
		if title != "" {
			whole = "# " + title + "\n\n" + whole
		}
		note := fmt.Sprintf("(the whole report, %s, is attached as %s)", plural(strings.Count(whole, "\n"), "line"), reportFile)
		first := splitMarkdown(content, maxContent-utf8.RuneCountInString(note)-1)[0]
		files := append([]attachment{{Name: reportFile, Data: []byte(whole)}}, chart...)
		m := newMessage(first + "\n" + note)
		m.attach(files)
		return []reportPart{{m, files}}
	}
	pieces := splitMarkdown(content, maxContent)
	parts := make([]reportPart, len(pieces))
	for i, p := range pieces {
		parts[i].m = newMessage(p)
	}
	last := &parts[len(parts)-1]
	last.files = chart
	last.m.attach(chart)
	return parts
}

// escapeMarkdown makes s show as written in Discord's Markdown.
func escapeMarkdown(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\*_~`|", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Where splitMarkdown likes to cut, best last.
const (
	cutEmptyBlock  = iota // just after a code block opens: it would be empty
	cutInBlock            // inside a code block: closed here, opened again next
	cutBeforeBlock        // between a line and the code block it introduces
	cutLine               // between two lines outside code blocks
	cutParagraph          // at a blank line outside code blocks
)

// splitMarkdown cuts s into pieces of at most limit characters, at line ends: between
// paragraphs where it can, then outside code blocks, and only then inside a code block,
// which is closed at the end of the piece and opened again (with its language) at the
// start of the next, so that each piece shows as meant on its own. It takes the best
// cut that leaves a piece at least half full; a line longer than a piece is cut too,
// at a space where there is one. Blank lines at a cut are dropped.
func splitMarkdown(s string, limit int) []string {
	limit = max(limit, minSplit)
	lines := strings.Split(strings.TrimRight(s, " \t\r\n"), "\n")
	var pieces []string
	open := "" // the fence of the code block the next piece starts inside; "" outside
	for i := 0; i < len(lines); {
		if open == "" && strings.TrimSpace(lines[i]) == "" {
			i++
			continue
		}
		var cuts []splitCut
		var piece []string
		size := 0
		if open != "" {
			piece, size = []string{open}, utf8.RuneCountInString(open)
		}
		fence := open
		j := i
		for ; j < len(lines); j++ {
			line := lines[j]
			after := fenceAfter(fence, line)
			sep := 0
			if len(piece) > 0 {
				sep = 1
			}
			n := size + sep + utf8.RuneCountInString(line)
			need := n
			if after != "" {
				need += len("\n```")
			}
			if need > limit {
				if j > i {
					break
				}
				// The piece holds no line yet: this one is too long for any piece.
				head, tail := cutLongLine(line, max(limit-size-sep-len("\n```"), 1))
				lines[j] = head
				lines = slices.Insert(lines, j+1, tail)
				j--
				continue
			}
			piece = append(piece, line)
			size = n
			rank := cutInBlock
			switch {
			case after != "" && fence == "":
				rank = cutEmptyBlock
			case after != "":
			case strings.TrimSpace(line) == "":
				rank = cutParagraph
			case j+1 < len(lines) && fenceAfter("", lines[j+1]) != "":
				rank = cutBeforeBlock
			default:
				rank = cutLine
			}
			fence = after
			cuts = append(cuts, splitCut{next: j + 1, count: len(piece), size: size, rank: rank, open: fence})
		}
		c := cuts[len(cuts)-1] // all the rest fits
		if j < len(lines) {
			c = bestCut(cuts, limit)
		}
		p := strings.TrimRight(strings.Join(piece[:c.count], "\n"), " \t\r\n")
		if c.open != "" {
			p += "\n```"
		}
		pieces = append(pieces, p)
		i, open = c.next, c.open
	}
	return pieces
}

// splitCut is a place splitMarkdown can cut a piece at.
type splitCut struct {
	next  int    // the line the next piece starts at
	count int    // the piece's lines
	size  int    // the piece's characters
	rank  int    // how good a place it is (cutParagraph is best)
	open  string // the code block open there ("" none)
}

// bestCut picks the best of the cuts (in order) that leave a piece at least half full,
// the last among equals; when none does, the last that leaves no empty code block.
func bestCut(cuts []splitCut, limit int) splitCut {
	best := -1
	for k, c := range cuts {
		if c.size*2 >= limit && (best < 0 || c.rank >= cuts[best].rank) {
			best = k
		}
	}
	if best >= 0 {
		return cuts[best]
	}
	for k := len(cuts) - 1; k > 0; k-- {
		if cuts[k].rank != cutEmptyBlock {
			return cuts[k]
		}
	}
	return cuts[0]
}

// fenceAfter is the code block open after line, given the one open before it ("" for
// none): a line holding an odd number of ``` opens or closes one. An opening fence is
// returned as it can be written again to reopen the block: ``` and the language.
func fenceAfter(open, line string) string {
	if strings.Count(line, "```")%2 == 0 {
		return open
	}
	if open != "" {
		return ""
	}
	t := strings.TrimSpace(line)
	lang := t[strings.LastIndex(t, "```")+3:]
	if lang == "" || len(lang) > maxFenceLang || strings.ContainsAny(lang, " \t`*_~|") {
		return "```"
	}
	return "```" + lang
}

// cutLongLine cuts a line into a head of at most n characters and the rest, at the last
// space of the head when there is one in its second half.
func cutLongLine(line string, n int) (head, tail string) {
	r := []rune(line)
	if len(r) <= n {
		return line, ""
	}
	for k := n; k > n/2; k-- {
		if r[k] == ' ' {
			return string(r[:k]), string(r[k+1:])
		}
	}
	return string(r[:n]), string(r[n:])
}
