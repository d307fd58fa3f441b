package discord

import (
	"fmt"
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

// Report renders a report (a scheduled health report, a drill's scorecard) into its
// messages: the title in bold above the text; a text longer than a message goes in
// several messages, cut between paragraphs where it can (a code block cut in two is
// closed at the end of one message and opened again at the start of the next). A
// report longer than maxReportInline characters goes as its first part with the whole
// report attached as report.md. png, when not nil, is attached as chart.png to the
// last message. Nobody is pinged.
func (w *driver) Report(title, text string, png []byte) []bot.Message {
	var out []bot.Message
	for _, p := range renderReport(title, text, png) {
		out = append(out, bot.Message{Body: p.m.json(), Files: files(p.files)})
	}
	return out
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
