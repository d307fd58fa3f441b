package report_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/exchops/exchops/bot/bottest"
	"github.com/exchops/exchops/internal/report"
)

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// lines is what a reader reads of pieces: their lines but fences and blank ones.
func lines(pieces ...string) []string {
	var out []string
	for _, p := range pieces {
		for _, l := range strings.Split(p, "\n") {
			if l != "```" && strings.TrimSpace(l) != "" {
				out = append(out, l)
			}
		}
	}
	return out
}

// TestPieces: whatever the limit, every piece fits, closes the code block it opens,
// and the pieces hold every line of the report, in order; a table cut in two is
// fenced again in the next piece.
func TestPieces(t *testing.T) {
	long := strings.Repeat("a very long cell with an & and a <tag> ", 40)
	reports := map[string]*report.Report{
		"copy failed": bottest.CopyFailed(),
		"long":        bottest.LongReport(20000),
		"sections":    bottest.Sections("t", "r1", 10, 40, 6, 24, 3),
		"long lines":  {Blocks: []report.Block{{Heading: "Intro", Lines: []string{long}, Table: [][]string{{"h", long}, {"x", "y"}}}}},
		"fences":      {Blocks: []report.Block{{Lines: []string{"say ``` in prose"}, Table: [][]string{{"row ``` with a fence"}}}}},
	}
	for name, r := range reports {
		for _, limit := range []int{3000, 2000, 700, 150} {
			t.Run(fmt.Sprintf("%s/%d", name, limit), func(t *testing.T) {
				pieces, cut := r.Pieces(limit, esc, "`\u200b``")
				if cut {
					t.Fatal("a report of known structure was cut short")
				}
				for i, p := range pieces {
					if n := utf8.RuneCountInString(p); n > limit {
						t.Errorf("piece %d: %d characters, more than %d", i, n, limit)
					}
					open := false
					for _, l := range strings.Split(p, "\n") {
						switch {
						case l == "```":
							open = !open
						case strings.Contains(l, "```"):
							t.Errorf("piece %d: a stray fence in %q", i, l)
						}
					}
					if open {
						t.Errorf("piece %d leaves a code block open", i)
					}
				}
				whole, _ := r.Pieces(1<<30, esc, "`\u200b``")
				if got, want := strings.Join(lines(pieces...), ""), strings.Join(lines(whole...), ""); got != want {
					t.Errorf("the pieces do not read as the report:\n%.300s\nwant\n%.300s", got, want)
				}
			})
		}
	}
	// A table longer than a piece is cut between rows and goes on in the next piece,
	// fenced again; one that fits a piece of its own is not cut to fill the one before.
	pieces, _ := bottest.Sections("t", "r1", 2, 60, 20).Pieces(2000, nil, "")
	if len(pieces) < 3 || !strings.HasPrefix(pieces[1], "```\n") || !strings.HasPrefix(pieces[len(pieces)-1], "r1 section 3:\n```") {
		t.Errorf("the long table was not cut between rows into pieces of its own:\n%s", strings.Join(pieces, "\n~~~~\n"))
	}
}

// TestText: the plain rendering opens with the verdict in capitals, fences tables and
// separates blocks with a blank line; Plain drops the fences; FromText keeps the
// text's paragraphs as written and a verbatim paragraph too long for a piece cuts
// the pieces short, saying so.
func TestText(t *testing.T) {
	r := &report.Report{Title: "E14-DAG replication health", Verdict: "warning", Blocks: []report.Block{
		{Lines: []string{"first"}},
		{Heading: "Copies", Table: [][]string{{"Copy", "Healthy"}, {"MB01\\EX10-MB02", "NO"}}, Items: []string{"a note"}},
	}}
	want := "E14-DAG replication health: WARNING\nfirst\n\nCopies:\n```\nCopy            Healthy\nMB01\\EX10-MB02  NO\n```\n- a note\n"
	if got := r.Text(); got != want {
		t.Errorf("Text:\n%s\nwant:\n%s", got, want)
	}
	if got := r.Plain(); strings.Contains(got, "```") || !strings.Contains(got, "MB01\\EX10-MB02  NO") {
		t.Errorf("Plain:\n%s", got)
	}
	if h := r.Heading(); h != "E14-DAG replication health: warning" {
		t.Errorf("Heading = %q", h)
	}
	text := "One.\nTwo ``` as written.\n\n\nThree."
	ft := report.FromText("Note", text, nil)
	if got := ft.Text(); got != "One.\nTwo ``` as written.\n\nThree.\n" {
		t.Errorf("FromText's Text = %q", got)
	}
	if !report.FromText(" ", "\n", nil).Empty() || ft.Empty() {
		t.Error("Empty is wrong")
	}
	big := report.FromText("", "short\n\n"+strings.Repeat("line\n", 100), nil)
	if pieces, cut := big.Pieces(100, nil, ""); !cut || len(pieces) != 1 || pieces[0] != "short" {
		t.Errorf("a verbatim paragraph too long: %q, cut %v", pieces, cut)
	}
}
