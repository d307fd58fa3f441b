package slack

import (
	"fmt"
	"strings"
	"unicode/utf8"

	slackgo "github.com/slack-go/slack"

	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/internal/report"
)

var _ bot.Publisher = (*Slack)(nil)

const (
	// reportInline is how much of a report (characters, as sent) its message shows. A
	// longer report shows its beginning, and the whole text follows in the message's
	// thread as reportFile.
	reportInline = 12000
	reportFile   = "report.md"
	chartFile    = "chart.png"
)

// Report renders a report: a message with its heading as the header and its blocks
// as mrkdwn sections (a table in a code block, cut between rows and fenced again when
// it does not fit one section). A report too long for one message shows its
// beginning, and the whole text follows in the message's thread as report.md; the
// chart, when there is one, follows there as chart.png.
func (w *driver) Report(rep *report.Report) []bot.Message {
	if rep.Empty() {
		return nil
	}
	msg, whole := reportMessage(rep)
	out := []bot.Message{{Body: msg.body()}}
	name := strings.TrimSpace(rep.Heading())
	if name == "" {
		name = "Report"
	}
	if whole {
		m := upload(&filePost{Name: reportFile, Title: name, Content: reportMarkdown(rep)})
		m.InThread = true
		out = append(out, m)
	}
	if len(rep.Chart) > 0 {
		m := upload(&filePost{Name: chartFile, Title: name + ": chart", Data: rep.Chart, Alt: "Chart: " + name})
		m.InThread = true
		out = append(out, m)
	}
	return out
}

// reportMarkdown is a report as the file attached when it is too long for a message:
// the heading as a Markdown heading, then its text.
func reportMarkdown(rep *report.Report) string {
	if h := strings.TrimSpace(rep.Heading()); h != "" {
		return "# " + h + "\n\n" + rep.Text()
	}
	return rep.Text()
}

// reportMessage renders a report: the heading as a header, the blocks as sections.
// whole reports that they do not all fit and go in the thread as a file: the message
// then shows the sections that fit and says so.
func reportMessage(rep *report.Report) (msg message, whole bool) {
	var blocks []slackgo.Block
	title := strings.TrimSpace(rep.Heading())
	if title != "" {
		blocks = append(blocks, slackgo.NewHeaderBlock(plain(title, headerLimit)))
	}
	secs, cut := rep.Pieces(sectionLimit, esc, "`\u200b``")
	room := maxBlocks - len(blocks) - 1 // a block left for the context line
	if len(rep.Steps) > 0 {
		room-- // and one for the next steps' buttons
	}
	shown := shownSections(secs, room, reportInline)
	whole = cut || shown < len(secs)
	blocks = append(blocks, sections(secs[:shown])...)
	if len(rep.Steps) > 0 {
		blocks = append(blocks, stepButtons(rep.Steps))
	}
	var notes []string
	if whole {
		notes = append(notes, fmt.Sprintf(":page_facing_up: The report goes on: all of it (%s) is attached in the thread as %s.", size(len(rep.Text())), reportFile))
	}
	if len(rep.Chart) > 0 {
		notes = append(notes, ":chart_with_upwards_trend: The chart is in the thread as "+chartFile+".")
	}
	if len(notes) > 0 {
		blocks = append(blocks, contextLine(strings.Join(notes, " ")))
	}
	note := esc(title)
	if note == "" && len(secs) > 0 {
		note, _, _ = strings.Cut(strings.TrimPrefix(secs[0], "```\n"), "\n")
	}
	return message{Text: cutText(note, textLimit), Blocks: blocks}, whole
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

// stepButtons are a report's next steps (an alert's) as buttons: each carries its
// command as its value (bot.StepCommand), which a click files as the clicker, as if
// typed. Slack shows at most 25 elements in an actions block.
func stepButtons(steps []report.Step) *slackgo.ActionBlock {
	var els []slackgo.BlockElement
	for i, st := range steps {
		if i == 25 {
			break
		}
		b := slackgo.NewButtonBlockElement(fmt.Sprintf("%s%d", actionStepPrefix, i), st.Command, plain(cutText(st.Label, 75), 75))
		els = append(els, b)
	}
	return slackgo.NewActionBlock("next-steps", els...)
}
