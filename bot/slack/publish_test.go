package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/bot/bottest"
	"github.com/exchops/exchops/internal/golden"
	"github.com/exchops/exchops/internal/report"
)

// copyFailed is a scheduled health report as data.
var copyFailed = bottest.CopyFailed()

// reportTitle is its heading.
const reportTitle = "E14-DAG replication health: failure"

// checkSections fails unless every section is within limit and reads right on its
// own: its fences balanced, no stray ``` and no escape cut in two.
func checkSections(t *testing.T, secs []string, limit int) {
	t.Helper()
	for i, s := range secs {
		if n := utf8.RuneCountInString(s); n > limit {
			t.Errorf("section %d: %d characters, more than %d", i, n, limit)
		}
		if s == "" {
			t.Errorf("section %d is empty", i)
		}
		open := false
		for _, l := range strings.Split(s, "\n") {
			switch {
			case l == "```":
				open = !open
			case strings.Contains(l, "```"):
				t.Errorf("section %d: a stray fence in %q", i, l)
			}
		}
		if open {
			t.Errorf("section %d leaves a code block open:\n%s", i, s)
		}
		for j := strings.IndexByte(s, '&'); j >= 0; j = nextAmp(s, j) {
			rest := s[j:]
			if !strings.HasPrefix(rest, "&amp;") && !strings.HasPrefix(rest, "&lt;") && !strings.HasPrefix(rest, "&gt;") {
				t.Errorf("section %d: an escape cut or missing at %q", i, rest[:min(len(rest), 8)])
			}
		}
		if strings.ContainsAny(s, "<>") {
			t.Errorf("section %d: an unescaped < or >", i)
		}
	}
}

func nextAmp(s string, j int) int {
	k := strings.IndexByte(s[j+1:], '&')
	if k < 0 {
		return -1
	}
	return j + 1 + k
}

// unsplit is the text of sections without their fences and blank lines: what a reader
// reads, to compare with the report.
func unsplit(secs []string) string {
	var out []string
	for _, s := range secs {
		for _, l := range strings.Split(s, "\n") {
			if l != "```" && strings.TrimSpace(l) != "" {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}

func TestReportGolden(t *testing.T) {
	msg, whole := reportMessage(withChart(copyFailed))
	if whole {
		t.Error("a short report is attached as a file")
	}
	golden.Check(t, "testdata/report-copy-failed.golden", render(t, msg))

	// A report given as text (its structure unknown): schedules' golden health
	// report, each paragraph shown as written.
	mixed, err := os.ReadFile("../../schedules/testdata/report-mixed.golden")
	if err != nil {
		t.Fatal(err)
	}
	msg, _ = reportMessage(report.FromText("E14-DAG replication health: failure", string(mixed), chartPNG))
	golden.Check(t, "testdata/report-mixed.golden", render(t, msg))

	msg, whole = reportMessage(bottest.LongReport(16000))
	if !whole {
		t.Error("a long report is not attached as a file")
	}
	golden.Check(t, "testdata/report-long.golden", render(t, msg))
}

// TestShownSections: a message shows the sections within the characters and the
// blocks it has room for, and always the first.
func TestShownSections(t *testing.T) {
	many := make([]string, 100)
	for i := range many {
		many[i] = "```\nrow\n```"
	}
	for _, tc := range []struct {
		secs        []string
		room, chars int
		want        int
	}{
		{many, 48, reportInline, 48},
		{many[:10], 48, reportInline, 10},
		{[]string{strings.Repeat("x", 3000), strings.Repeat("y", 3000), "z"}, 48, 6000, 2},
		{[]string{strings.Repeat("x", 3000), "z"}, 48, 100, 1},
		{nil, 48, 100, 0},
	} {
		if got := shownSections(tc.secs, tc.room, tc.chars); got != tc.want {
			t.Errorf("%d sections, room %d, %d characters: shows %d, want %d", len(tc.secs), tc.room, tc.chars, got, tc.want)
		}
	}
}

// shown is what a posted report shows: its header, its sections and its context lines.
type shown struct {
	header   string
	sections []string
	context  []string
}

func shownIn(t *testing.T, c call) shown {
	t.Helper()
	var blocks []struct {
		Type string `json:"type"`
		Text struct {
			Text string `json:"text"`
		} `json:"text"`
		Elements []struct {
			Text string `json:"text"`
		} `json:"elements"`
	}
	if err := json.Unmarshal([]byte(c.Blocks), &blocks); err != nil {
		t.Fatalf("the message's blocks: %v: %s", err, c.Blocks)
	}
	var s shown
	for _, b := range blocks {
		switch b.Type {
		case "header":
			s.header = b.Text.Text
		case "section":
			s.sections = append(s.sections, b.Text.Text)
		case "context":
			for _, e := range b.Elements {
				s.context = append(s.context, e.Text)
			}
		default:
			t.Errorf("a %s block in a report", b.Type)
		}
	}
	return s
}

// report waits for the one report posted in channel.
func (h *harness) report(channel string) call {
	h.t.Helper()
	h.waitFor("the report", "chat.postMessage", func(c call) bool { return c.Channel == channel })
	got := onlyIn(h.fake.Delivered("chat.postMessage"), channel, "")
	if len(got) != 1 {
		h.t.Fatalf("%d reports posted in %s, want 1:\n%s", len(got), channel, h.fake.Summary())
	}
	return got[0]
}

func TestPublishShortReport(t *testing.T) {
	h := newHarness(t, options{})
	if err := h.s.PublishReport(context.Background(), "C0REPORTS", copyFailed); err != nil {
		t.Fatal(err)
	}
	h.quiet()
	c := h.report("C0REPORTS")
	if c.Text != reportTitle {
		t.Errorf("notification text %q, want the title", c.Text)
	}
	s := shownIn(t, c)
	if s.header != reportTitle {
		t.Errorf("header %q", s.header)
	}
	if len(s.sections) != 1 || len(s.context) != 0 {
		t.Fatalf("%d sections and %d context lines, want the text in one section", len(s.sections), len(s.context))
	}
	for _, want := range []string{"Failures:\n- EX10-MB02: replication check", "Databases:\n```\nDatabase  Mounted on",
		"MB02\\EX10-MB01  2           Healthy  0           0             -    Healthy        yes\n```\n- MB01\\EX10-MB02: The log file is corrupt."} {
		if !strings.Contains(s.sections[0], want) {
			t.Errorf("the report lacks %q:\n%s", want, s.sections[0])
		}
	}
	if n := len(h.fake.Find("files.getUploadURLExternal", nil)); n != 0 {
		t.Errorf("%d uploads for a short report without a chart", n)
	}
	if h.posts("sent") != 1 || h.undelivered() != 0 {
		t.Errorf("sent %v, %d in the outbox", h.posts("sent"), h.undelivered())
	}
}

func TestPublishLongReport(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		file bool
	}{{"split", 6000, false}, {"attached", 30000, true}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, options{})
			rep := bottest.LongReport(tc.size)
			text := rep.Text()
			if err := h.s.PublishReport(context.Background(), "C0REPORTS", rep); err != nil {
				t.Fatal(err)
			}
			h.quiet()
			c := h.report("C0REPORTS")
			s := shownIn(t, c)
			if len(s.sections) < 3 {
				t.Errorf("%d sections for %d characters", len(s.sections), len(text))
			}
			checkSections(t, s.sections, sectionLimit)
			if !strings.Contains(s.sections[0], "E14-DAG copy report &lt;weekly&gt; &amp; trends") {
				t.Errorf("the first section is not the report's beginning:\n%.200s", s.sections[0])
			}
			files := h.fake.Files("C0REPORTS", c.TS)
			if !tc.file {
				// Everything is in the message.
				if got, want := unsplit(s.sections), unsplit([]string{esc(text)}); got != want {
					t.Error("the message does not show the whole report")
				}
				if len(files) != 0 || len(s.context) != 0 {
					t.Errorf("%d files and %q for a report that fits", len(files), s.context)
				}
				return
			}
			total := 0
			for _, sec := range s.sections {
				total += utf8.RuneCountInString(sec)
			}
			if total > reportInline {
				t.Errorf("the message shows %d characters of the report, more than %d", total, reportInline)
			}
			if len(s.context) != 1 || !strings.Contains(s.context[0], "attached in the thread as report.md") {
				t.Errorf("the message does not say the report is attached: %q", s.context)
			}
			if len(files) != 1 || files[0].Name != "report.md" {
				t.Fatalf("files in the thread: %+v", files)
			}
			if want := "# Weekly copy report\n\n" + text; files[0].Content != want {
				t.Errorf("report.md is %d bytes, want the whole report (%d)", len(files[0].Content), len(want))
			}
		})
	}
}

// chartPNG stands in for a chart: binary, with the bytes text would mangle.
var chartPNG = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), []byte{0, 0xff, 0xfe, '\n', '\r', 0x80}...)

func TestPublishChart(t *testing.T) {
	h := newHarness(t, options{})
	if err := h.s.PublishReport(context.Background(), "C0REPORTS", withChart(copyFailed)); err != nil {
		t.Fatal(err)
	}
	h.quiet()
	c := h.report("C0REPORTS")
	if s := shownIn(t, c); len(s.context) != 1 || !strings.Contains(s.context[0], "chart.png") {
		t.Errorf("the message does not point at the chart: %q", s.context)
	}
	files := h.fake.Files("C0REPORTS", c.TS)
	if len(files) != 1 || files[0].Name != "chart.png" || files[0].Content != string(chartPNG) {
		t.Fatalf("files in the report's thread: %+v, want the chart", files)
	}
	asked := h.fake.Find("files.getUploadURLExternal", nil)
	if len(asked) != 1 || asked[0].Form.Get("alt_txt") != "Chart: "+reportTitle || asked[0].Form.Get("length") != fmt.Sprint(len(chartPNG)) {
		t.Errorf("upload URL asked with %v", asked)
	}
	if h.posts("sent") != 2 {
		t.Errorf("sent %v, want the message and the chart", h.posts("sent"))
	}
}

// publishAsync publishes in a goroutine, for the tests that move the clock through
// the retries, and returns what Publish returned.
func (h *harness) publishAsync(channel string, rep *report.Report) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- h.s.PublishReport(context.Background(), channel, rep) }()
	return errc
}

func (h *harness) published(errc <-chan error) {
	h.t.Helper()
	select {
	case err := <-errc:
		if err != nil {
			h.t.Fatalf("Publish: %v", err)
		}
	case <-time.After(10 * time.Second):
		h.t.Fatal("Publish did not return")
	}
}

// TestPublishKeptUntilDelivered: Slack keeps answering 500; after the quick tries the
// report, chart and all, waits in the outbox; Publish says nothing failed, and the
// worker posts the report and its chart once Slack recovers.
func TestPublishKeptUntilDelivered(t *testing.T) {
	h := newHarness(t, options{})
	h.fake.Fail("chat.postMessage", http.StatusInternalServerError, "", -1)
	errc := h.publishAsync("C0REPORTS", withChart(bottest.LongReport(30000)))
	h.advanceUntil("the report in the outbox", 500*time.Millisecond, func() bool { return h.undelivered() == 1 })
	h.published(errc)
	if n := len(h.fake.Find("chat.postMessage", nil)); n != bot.InlineAttempts {
		t.Errorf("%d attempts before the outbox, want %d", n, bot.InlineAttempts)
	}
	if n := len(h.fake.Find("files.getUploadURLExternal", nil)); n != 0 {
		t.Errorf("%d uploads before the message", n)
	}

	h.fake.Recover("chat.postMessage")
	h.advanceUntil("the report from the outbox", time.Second, func() bool { return h.undelivered() == 0 })
	c := h.report("C0REPORTS")
	if s := shownIn(t, c); s.header != "Weekly copy report" || len(s.sections) < 2 {
		t.Errorf("the kept report shows %q and %d sections", s.header, len(s.sections))
	}
	files := h.fake.Files("C0REPORTS", c.TS)
	if len(files) != 2 || files[0].Name != "report.md" || files[1].Name != "chart.png" || files[1].Content != string(chartPNG) {
		t.Fatalf("files in the thread: %+v, want report.md then the chart", files)
	}
	if h.posts("failed") != bot.InlineAttempts || h.posts("sent") != 3 {
		t.Errorf("metrics: %v failed, %v sent", h.posts("failed"), h.posts("sent"))
	}
}

// TestPublishUploadKeptAlone: the message goes out but the chart's upload keeps
// failing; only the upload waits in the outbox, and it is posted in the message's
// thread later, without a second message.
func TestPublishUploadKeptAlone(t *testing.T) {
	h := newHarness(t, options{})
	h.fake.Fail("files.getUploadURLExternal", http.StatusServiceUnavailable, "", -1)
	errc := h.publishAsync("C0REPORTS", withChart(copyFailed))
	h.advanceUntil("the upload in the outbox", 500*time.Millisecond, func() bool { return h.undelivered() == 1 })
	h.published(errc)
	c := h.report("C0REPORTS")
	if n := len(h.fake.Find("files.getUploadURLExternal", nil)); n != bot.InlineAttempts {
		t.Errorf("%d upload attempts before the outbox, want %d", n, bot.InlineAttempts)
	}

	h.fake.Recover("files.getUploadURLExternal")
	h.advanceUntil("the chart from the outbox", time.Second, func() bool { return h.undelivered() == 0 })
	h.report("C0REPORTS") // still the one message
	files := h.fake.Files("C0REPORTS", c.TS)
	if len(files) != 1 || files[0].Content != string(chartPNG) {
		t.Fatalf("files in the thread: %+v, want the chart", files)
	}
}

// TestPublishRateLimited: a 429 is retried after its Retry-After, inline.
func TestPublishRateLimited(t *testing.T) {
	h := newHarness(t, options{})
	h.fake.Fail("chat.postMessage", http.StatusTooManyRequests, "2", 1)
	errc := h.publishAsync("C0REPORTS", copyFailed)
	h.fake.Until(t, "the rate-limited attempt", func() bool { return len(h.fake.Find("chat.postMessage", nil)) > 0 })
	h.advanceUntil("the report after the retry", 250*time.Millisecond, func() bool { return len(h.fake.Delivered("chat.postMessage")) > 0 })
	h.published(errc)
	tries := h.fake.Find("chat.postMessage", nil)
	if len(tries) != 2 || tries[1].At.Sub(tries[0].At) < 2*time.Second {
		t.Errorf("attempts:\n%s", h.fake.Summary())
	}
	if h.undelivered() != 0 {
		t.Error("the retried report also went to the outbox")
	}
}

func TestPublishRefuses(t *testing.T) {
	h := newHarness(t, options{})
	ctx := context.Background()
	if err := h.s.PublishReport(ctx, " ", copyFailed); err == nil || !strings.Contains(err.Error(), "no channel") {
		t.Errorf("no channel: %v", err)
	}
	if err := h.s.PublishReport(ctx, "C0REPORTS", report.FromText("", "\n", nil)); err == nil {
		t.Error("an empty report was taken")
	}
	h.quiet()
	if s := h.fake.Summary(); s != "" || h.undelivered() != 0 {
		t.Errorf("a refused report was posted or kept:\n%s", s)
	}
}

// TestPublishAfterClose: a report published while the front is closed is kept, and the
// next front posts it.
func TestPublishAfterClose(t *testing.T) {
	h := newHarness(t, options{})
	h.s.Close()
	if err := h.s.PublishReport(context.Background(), "C0REPORTS", withChart(copyFailed)); err != nil {
		t.Fatal(err)
	}
	if h.undelivered() != 1 || h.fake.Summary() != "" {
		t.Fatalf("%d kept; the fake saw:\n%s", h.undelivered(), h.fake.Summary())
	}
	s2, err := New(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s2.Close)
	if err := s2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.advanceUntil("the kept report", time.Second, func() bool { return h.undelivered() == 0 })
	c := h.report("C0REPORTS")
	if files := h.fake.Files("C0REPORTS", c.TS); len(files) != 1 || files[0].Content != string(chartPNG) {
		t.Errorf("files in the thread: %+v", files)
	}
}

// withChart is rep with the test's chart.
func withChart(rep *report.Report) *report.Report {
	r := *rep
	r.Chart = chartPNG
	return &r
}
