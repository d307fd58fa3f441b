// Package report is a report as data: a title, a verdict and blocks (lines, a table,
// a list) that schedules produces (a health report, a drill's scorecard) and every
// chat front renders its own way. Nothing reads a report back from Markdown: Text is
// the one plain rendering (the console, the attached file), and Pieces cuts the
// rendering for chats with a message limit between blocks and table rows, never
// inside a line it did not have to.
package report

import (
	"strings"
	"unicode/utf8"
)

// Report is what a report says.
type Report struct {
	// Title names the report: "E14-DAG replication health".
	Title string
	// Verdict, when set, is the report's one-word outcome ("ok", "warning",
	// "failure", "passed"): it follows the title in the heading, and opens the text
	// in capitals.
	Verdict string
	Blocks  []Block
	// Chart is a PNG to attach, or nil.
	Chart []byte
	// Steps are the obvious next commands (an alert's), which a front that can shows
	// as buttons that file them; the text does not list them.
	Steps []Step
}

// Step is a next command offered as a button: Label on the button, Command what it
// files, as if typed after /exchange.
type Step struct {
	Label   string
	Command string
}

// Block is one part of a report, shown in this order: its heading, its lines, its
// table, its list.
type Block struct {
	Heading string     // "Copies" (shown "Copies:"); "" none
	Lines   []string   // sentences, one a line
	Table   [][]string // rows, the header first; shown with aligned columns
	Items   []string   // a list
	// Verbatim lines are shown as written, light Markdown included, and never cut
	// apart (a text report whose structure is not known).
	Verbatim bool
}

// Heading is the report's heading: the title and, when there is one, the verdict.
func (r *Report) Heading() string {
	if r.Verdict == "" {
		return r.Title
	}
	if r.Title == "" {
		return r.Verdict
	}
	return r.Title + ": " + r.Verdict
}

// Empty reports whether there is nothing to show.
func (r *Report) Empty() bool {
	if strings.TrimSpace(r.Heading()) != "" {
		return false
	}
	for _, b := range r.Blocks {
		if len(b.lines(nil, "")) > 0 {
			return false
		}
	}
	return true
}

// FromText is a report whose text has no known structure: each paragraph is a
// verbatim block.
func FromText(title, text string, chart []byte) *Report {
	r := &Report{Title: strings.TrimSpace(title), Chart: chart}
	for _, p := range strings.Split(strings.ReplaceAll(strings.TrimSpace(text), "\r\n", "\n"), "\n\n") {
		if p = strings.Trim(p, "\n"); strings.TrimSpace(p) != "" {
			r.Blocks = append(r.Blocks, Block{Lines: strings.Split(p, "\n"), Verbatim: true})
		}
	}
	return r
}

// Text is the report as plain text with its tables fenced as code (light Markdown,
// what Slack and Discord both show as meant, and a file reads well as): the title
// line first when the report has a verdict, then the blocks, a blank line between.
func (r *Report) Text() string {
	var b strings.Builder
	if r.Verdict != "" {
		b.WriteString(r.Title + ": " + strings.ToUpper(r.Verdict) + "\n")
	}
	for i, bl := range r.Blocks {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(Render(bl.lines(nil, ""), "```"))
		b.WriteByte('\n')
	}
	return b.String()
}

// Plain is Text without the code fences: for a front that shows the whole report
// as one preformatted block.
func (r *Report) Plain() string {
	var b strings.Builder
	for l := range strings.Lines(r.Text()) {
		if strings.TrimSpace(l) != "```" {
			b.WriteString(l)
		}
	}
	return b.String()
}

// Line is a line of a rendered block: text and whether it is in a code block.
type Line struct {
	Text string
	Code bool
	keep bool // verbatim: not to be cut from its block
}

// lines renders a block: esc escapes text (nil: none), fence is what a line holding
// a code fence would end a block with and is defused.
func (b Block) lines(esc func(string) string, defuse string) []Line {
	if esc == nil {
		esc = func(s string) string { return s }
	}
	var out []Line
	add := func(s string, code bool) {
		if defuse != "" && !b.Verbatim {
			s = strings.ReplaceAll(s, "```", defuse)
		}
		out = append(out, Line{Text: s, Code: code, keep: b.Verbatim})
	}
	if b.Heading != "" {
		add(esc(b.Heading)+":", false)
	}
	for _, l := range b.Lines {
		add(esc(l), false)
	}
	for _, row := range Table(b.Table) {
		add(esc(row), true)
	}
	for _, it := range b.Items {
		add("- "+esc(it), false)
	}
	return out
}

// Render is lines as text, their code runs fenced with fence.
func Render(ls []Line, fence string) string {
	var b strings.Builder
	code := false
	for _, l := range ls {
		if l.Code != code {
			b.WriteString(fence + "\n")
			code = l.Code
		}
		b.WriteString(l.Text + "\n")
	}
	if code {
		b.WriteString(fence + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// Pieces renders the blocks (escaped by esc; a ``` in a line is replaced by defuse)
// into pieces of at most limit characters each, fences included: a block that fits
// goes whole, a longer one starts a piece of its own and is cut between lines; a
// table cut in two is closed at the end of one piece and opened again in the next.
// Blocks in one piece are a blank line apart. A verbatim block that fits no piece
// ends the pieces (cut reports it): what follows is not shown.
func (r *Report) Pieces(limit int, esc func(string) string, defuse string) (pieces []string, cut bool) {
	const fence = "```"
	size := func(ls []Line) int { return utf8.RuneCountInString(Render(ls, fence)) }
	var cur []Line
	flush := func() {
		if len(cur) > 0 {
			pieces = append(pieces, Render(cur, fence))
			cur = nil
		}
	}
	join := func(a, b []Line) []Line {
		if len(a) == 0 {
			return b
		}
		out := append(append([]Line(nil), a...), Line{})
		return append(out, b...)
	}
	for _, b := range r.Blocks {
		ls := b.lines(esc, defuse)
		if len(ls) == 0 {
			continue
		}
		switch {
		case size(join(cur, ls)) <= limit:
			cur = join(cur, ls)
			continue
		case size(ls) <= limit:
			flush()
			cur = ls
			continue
		case b.Verbatim:
			flush()
			return pieces, true
		}
		// Too long for any piece: cut between lines, in a piece of its own unless
		// the current one has room to spare.
		if size(cur) > limit/2 {
			flush()
		} else if len(cur) > 0 {
			cur = append(cur, Line{})
		}
		for _, l := range ls {
			for _, part := range cutLine(l, limit-2*len(fence+"\n")) {
				if len(cur) > 0 && size(append(cur, part)) > limit {
					flush()
				}
				cur = append(cur, part)
			}
		}
	}
	flush()
	return pieces, false
}

// cutLine cuts a line longer than n characters into lines of n.
func cutLine(l Line, n int) []Line {
	r := []rune(l.Text)
	if len(r) <= n || n <= 0 {
		return []Line{l}
	}
	var out []Line
	for len(r) > n {
		out = append(out, Line{Text: string(r[:n]), Code: l.Code})
		r = r[n:]
	}
	return append(out, Line{Text: string(r), Code: l.Code})
}

// Table aligns rows (the header first) into lines: each cell on one line, columns
// two spaces apart, no trailing spaces.
func Table(rows [][]string) []string {
	width := map[int]int{}
	for _, r := range rows {
		for i, v := range r {
			width[i] = max(width[i], utf8.RuneCountInString(oneLine(v)))
		}
	}
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		var l strings.Builder
		for i, v := range r {
			v = oneLine(v)
			l.WriteString(v)
			if i < len(r)-1 {
				l.WriteString(strings.Repeat(" ", width[i]-utf8.RuneCountInString(v)+2))
			}
		}
		out = append(out, strings.TrimRight(l.String(), " "))
	}
	return out
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
