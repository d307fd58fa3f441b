package discord

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/internal/report"
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
)

// Report renders a report (a scheduled health report, a drill's scorecard) into its
// messages: the heading in bold above the blocks; blocks that do not fit one message
// go in several, a table cut between rows and fenced again in the next. A report
// longer than maxReportInline characters goes as its first part with the whole report
// attached as report.md. The chart, when there is one, is attached as chart.png to the
// last message. Nobody is pinged.
func (w *driver) Report(rep *report.Report) []bot.Message {
	var out []bot.Message
	for _, p := range renderReport(rep) {
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
func renderReport(rep *report.Report) []reportPart {
	if rep.Empty() {
		return nil
	}
	head := ""
	if h := strings.Join(strings.Fields(rep.Heading()), " "); h != "" {
		head = "**" + escapeMarkdown(clip(h, maxTitle)) + "**"
	}
	var chart []attachment
	if rep.Chart != nil {
		chart = []attachment{{Name: chartFile, Data: rep.Chart}}
	}
	// The heading leads the first piece: every piece leaves room for it.
	pieces, cut := rep.Pieces(maxContent-utf8.RuneCountInString(head)-1, nil, "`\u200b``")
	switch {
	case head != "" && len(pieces) > 0:
		pieces[0] = head + "\n" + pieces[0]
	case head != "":
		pieces = []string{head}
	}
	total := 0
	for _, p := range pieces {
		total += utf8.RuneCountInString(p)
	}
	if cut || total > maxReportInline {
		whole := rep.Text()
		if h := strings.TrimSpace(rep.Heading()); h != "" {
			whole = "# " + h + "\n\n" + whole
		}
		note := fmt.Sprintf("(the whole report, %s, is attached as %s)", plural(strings.Count(whole, "\n"), "line"), reportFile)
		first := pieces[0]
		if utf8.RuneCountInString(first)+1+utf8.RuneCountInString(note) > maxContent {
			first = head
		}
		files := append([]attachment{{Name: reportFile, Data: []byte(whole)}}, chart...)
		m := newMessage(first + "\n" + note)
		m.attach(files)
		m.Components = stepRows(rep.Steps)
		return []reportPart{{m, files}}
	}
	parts := make([]reportPart, len(pieces))
	for i, p := range pieces {
		parts[i].m = newMessage(p)
	}
	last := &parts[len(parts)-1]
	last.files = chart
	last.m.attach(chart)
	last.m.Components = stepRows(rep.Steps)
	return parts
}

// stepRows are a report's next steps (an alert's) as buttons, five to a row and at
// most five rows (Discord's limits): each button's custom_id is stepPrefix and the
// command it files (bot.StepCommand keeps it within the 100 characters Discord
// allows). nil when there are none.
func stepRows(steps []report.Step) *[]discordgo.MessageComponent {
	if len(steps) == 0 {
		return nil
	}
	var rows []discordgo.MessageComponent
	var row []discordgo.MessageComponent
	for i, st := range steps {
		if i == 25 {
			break
		}
		row = append(row, discordgo.Button{Label: clip(st.Label, 80), Style: discordgo.SecondaryButton, CustomID: stepPrefix + st.Command})
		if len(row) == 5 {
			rows = append(rows, discordgo.ActionsRow{Components: row})
			row = nil
		}
	}
	if len(row) > 0 {
		rows = append(rows, discordgo.ActionsRow{Components: row})
	}
	return &rows
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
