package slack

import (
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

// Report renders a report: a message with the title as its header and the text as
// mrkdwn sections, split at Slack's limits without breaking a code block (a block cut
// in two is closed at the end of one section and reopened in the next). A report too
// long for one message shows its beginning, and the whole text follows in the
// message's thread as report.md; png, when not empty, follows there as chart.png.
func (w *driver) Report(title, text string, png []byte) []bot.Message {
	if strings.TrimSpace(title) == "" && strings.TrimSpace(text) == "" {
		return nil
	}
	msg, whole := reportMessage(title, text, len(png) > 0)
	out := []bot.Message{{Body: msg.body()}}
	name := strings.TrimSpace(title)
	if name == "" {
		name = "Report"
	}
	if whole {
		m := upload(&filePost{Name: reportFile, Title: name, Content: reportMarkdown(title, text)})
		m.InThread = true
		out = append(out, m)
	}
	if len(png) > 0 {
		m := upload(&filePost{Name: chartFile, Title: name + ": chart", Data: png, Alt: "Chart: " + name})
		m.InThread = true
		out = append(out, m)
	}
	return out
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
