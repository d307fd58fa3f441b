package discord

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/bot/bottest"
	"github.com/exchops/exchops/internal/golden"
	"github.com/exchops/exchops/internal/report"
)

// testChart stands for a chart: the front sends it as it is given.
var testChart = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR the chart of a test")

const reportsPath = "channels/" + testChannel + "/messages"

// reportText is a report of sections, each a heading, a table of the given number of
// rows and a note; every line holds tag.
func reportText(title, tag string, png []byte, rows ...int) *report.Report {
	r := bottest.Sections(title, tag, rows...)
	r.Chart = png
	return r
}

// prose is the lines of s that are neither blank nor code fences, in order: what a
// reader reads, however the text was cut.
func prose(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" && !strings.Contains(l, "```") {
			out = append(out, l)
		}
	}
	return out
}

// checkPiece fails unless s fits a message and closes every code block it opens.
func checkPiece(t *testing.T, what, s string) {
	t.Helper()
	if n := utf8.RuneCountInString(s); n > maxContent {
		t.Errorf("%s: %d characters, more than %d", what, n, maxContent)
	}
	open := false
	for _, l := range strings.Split(s, "\n") {
		if strings.Count(l, "```")%2 == 1 {
			open = !open
		}
	}
	if open {
		t.Errorf("%s leaves a code block open:\n%s", what, s)
	}
}

// delivered returns the report posts Discord took, in order.
func (h *harness) delivered() []*bottest.DiscordRequest {
	var out []*bottest.DiscordRequest
	for _, r := range h.fake.Requests("POST", reportsPath) {
		if r.Status/100 == 2 {
			out = append(out, r)
		}
	}
	return out
}

func (h *harness) undelivered() int {
	h.t.Helper()
	n, err := h.db.Undelivered(context.Background(), "discord")
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

func contents(rs []*bottest.DiscordRequest) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Content()
	}
	return out
}

func partContents(parts []reportPart) []string {
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = p.m.Content
	}
	return out
}

// checkNoPings fails unless the post lets nobody be pinged.
func checkNoPings(t *testing.T, r *bottest.DiscordRequest) {
	t.Helper()
	am, ok := r.Body["allowed_mentions"].(map[string]any)
	parse, isList := am["parse"].([]any)
	if !ok || !isList || len(parse) != 0 || len(am) > 2 || am["users"] != nil || am["roles"] != nil {
		t.Errorf("allowed_mentions = %v, want {parse: []}", r.Body["allowed_mentions"])
	}
}

// TestPublishShort: a short report is one message, the title in bold above the text,
// posted with the bot token, pinging nobody, counted.
func TestPublishShort(t *testing.T) {
	h := newHarness(t)
	text := "Outcome: passed in 2m10s.\n- EX10-MB02 took over MB01 in 41s\n- @everyone can stop worrying\n"
	if err := h.d.PublishReport(context.Background(), testChannel, report.FromText("Failover drill of E14-DAG: passed", text, nil)); err != nil {
		t.Fatal(err)
	}
	rs := h.delivered()
	if len(rs) != 1 {
		t.Fatalf("%d posts, want 1:\n%s", len(rs), h.fake.Dump())
	}
	want := "**Failover drill of E14-DAG: passed**\n" + strings.TrimRight(text, "\n")
	if got := rs[0].Content(); got != want {
		t.Errorf("content:\n%s\nwant:\n%s", got, want)
	}
	if rs[0].Auth != "Bot "+testToken {
		t.Errorf("posted with Authorization %q, want the bot token", rs[0].Auth)
	}
	checkNoPings(t, rs[0])
	if len(rs[0].Files) != 0 {
		t.Errorf("files %v, want none", rs[0].Files)
	}
	if n := h.postsMetric("sent"); n != "1" {
		t.Errorf("sent posts counted: %q, want 1", n)
	}
}

// TestPublishSplit: a report longer than a message goes in several, in order, each
// within the limit with its code blocks closed; a table cut in two is opened again;
// nothing is lost and the chart goes with the last.
func TestPublishSplit(t *testing.T) {
	h := newHarness(t)
	title := "E14-DAG replication health: warning"
	rep := reportText(title, "r1", testChart, 10, 40, 6, 24, 3) // one table longer than a message
	text := rep.Text()
	if err := h.d.PublishReport(context.Background(), testChannel, rep); err != nil {
		t.Fatal(err)
	}
	rs := h.delivered()
	if len(rs) < 3 {
		t.Fatalf("%d posts for a report of %d characters, want 3 or more", len(rs), len(text))
	}
	var got []string
	reopened := false
	for i, r := range rs {
		what := fmt.Sprintf("message %d of %d", i+1, len(rs))
		checkPiece(t, what, r.Content())
		checkNoPings(t, r)
		got = append(got, prose(r.Content())...)
		reopened = reopened || strings.HasPrefix(r.Content(), "```")
		if i < len(rs)-1 && len(r.Files) != 0 {
			t.Errorf("%s has files %v; the chart goes with the last", what, r.Files)
		}
	}
	if !reopened {
		t.Errorf("no message starts in a code block: the long table was not cut in two")
	}
	if !strings.HasPrefix(rs[0].Content(), "**"+title+"**\n") {
		t.Errorf("the first message does not start with the title:\n%s", rs[0].Content())
	}
	want := append([]string{"**" + title + "**"}, prose(text)...)
	if !slices.Equal(got, want) {
		t.Errorf("the messages do not read as the report:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	last := rs[len(rs)-1]
	if last.Files[chartFile] != string(testChart) || last.Types[chartFile] != "image/png" {
		t.Errorf("the last message's files %v (%v), want chart.png as image/png", last.Files, last.Types)
	}
	if at, _ := last.Body["attachments"].([]any); len(at) != 1 {
		t.Errorf("attachments declared: %v", last.Body["attachments"])
	}
	if n := h.postsMetric("sent"); n != fmt.Sprint(len(rs)) {
		t.Errorf("sent posts counted: %q, want %d", n, len(rs))
	}
}

// TestPublishChart: the chart of a short report goes with its one message, as a PNG
// declared as an attachment.
func TestPublishChart(t *testing.T) {
	h := newHarness(t)
	if err := h.d.PublishReport(context.Background(), testChannel, report.FromText("E14-DAG replication health: ok", "Every copy is healthy.", testChart)); err != nil {
		t.Fatal(err)
	}
	rs := h.delivered()
	if len(rs) != 1 {
		t.Fatalf("%d posts, want 1", len(rs))
	}
	r := rs[0]
	if r.Files[chartFile] != string(testChart) || r.Types[chartFile] != "image/png" || len(r.Files) != 1 {
		t.Errorf("files %v (%v), want chart.png as image/png", r.Files, r.Types)
	}
	at, _ := r.Body["attachments"].([]any)
	if len(at) != 1 || at[0].(map[string]any)["filename"] != chartFile {
		t.Errorf("attachments declared: %v", r.Body["attachments"])
	}
	if !strings.Contains(r.Content(), "Every copy is healthy.") {
		t.Errorf("content %q", r.Content())
	}
	checkNoPings(t, r)
}

// TestPublishVeryLong: a report too long for a few messages goes as its first part,
// saying so, with the whole report attached as report.md (and the chart).
func TestPublishVeryLong(t *testing.T) {
	h := newHarness(t)
	title := "E14-DAG replication health: failure"
	rep := reportText(title, "r2", testChart, 30, 30, 30, 30, 30)
	text := rep.Text()
	if err := h.d.PublishReport(context.Background(), testChannel, rep); err != nil {
		t.Fatal(err)
	}
	rs := h.delivered()
	if len(rs) != 1 {
		t.Fatalf("%d posts, want 1", len(rs))
	}
	r := rs[0]
	checkPiece(t, "the message", r.Content())
	if !strings.HasPrefix(r.Content(), "**"+title+"**\n") || !strings.HasSuffix(r.Content(), "is attached as report.md)") {
		t.Errorf("content:\n%s", r.Content())
	}
	if got, want := r.Files[reportFile], "# "+title+"\n\n"+text; got != want {
		t.Errorf("report.md holds:\n%s\nwant:\n%s", got, want)
	}
	if !strings.HasPrefix(r.Types[reportFile], "text/markdown") || r.Files[chartFile] != string(testChart) || r.Types[chartFile] != "image/png" {
		t.Errorf("files %v", r.Types)
	}
	checkNoPings(t, r)
}

// TestPublishOutbox: while Discord answers 500, the report goes to the outbox, all its
// messages in one post with the chart; it stays there while Discord fails and is
// delivered, in order and with the chart, once Discord is back.
func TestPublishOutbox(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.fake.Fail("POST", reportsPath, http.StatusInternalServerError, -1, nil, `{"message":"500: Internal Server Error","code":0}`)
	rep := reportText("E14-DAG replication health: warning", "r3", testChart, 20, 20, 20)
	parts := renderReport(rep)
	if len(parts) < 2 {
		t.Fatalf("the test needs a report of several messages, not %d", len(parts))
	}
	if err := h.d.PublishReport(ctx, testChannel, rep); err != nil {
		t.Fatalf("Publish = %v, want nil: the report is kept", err)
	}
	if n := len(h.fake.Requests("POST", reportsPath)); n != bot.InlineAttempts {
		t.Errorf("%d attempts before the outbox, want %d", n, bot.InlineAttempts)
	}
	posts, err := h.db.Due(ctx, "discord", h.clk.Now().Add(time.Hour), 10)
	if err != nil || len(posts) != 1 {
		t.Fatalf("outbox: %v %v, want one post", posts, err)
	}
	if strings.Contains(string(posts[0].Payload), testToken) {
		t.Errorf("the outbox holds the bot token")
	}
	var kept bot.Out
	if err := json.Unmarshal(posts[0].Payload, &kept); err != nil {
		t.Fatal(err)
	}
	if len(kept.Then) != len(parts)-1 || kept.Channel != testChannel {
		t.Fatalf("the outbox holds a message to %s and %d more, want %d messages to %s", kept.Channel, len(kept.Then), len(parts), testChannel)
	}
	if f := kept.Then[len(kept.Then)-1].Files; len(f) != 1 || f[0].Name != chartFile || string(f[0].Data) != string(testChart) {
		t.Errorf("the last message kept has files %+v, want the chart", f)
	}

	// Still failing when it is first due: it stays.
	h.advanceUntil("a retry from the outbox", time.Second, func() bool {
		return len(h.fake.Requests("POST", reportsPath)) > bot.InlineAttempts
	})
	if n := h.undelivered(); n != 1 {
		t.Fatalf("%d posts in the outbox after a failed retry, want 1", n)
	}
	h.fake.Heal()
	h.advanceUntil("the outbox to deliver the report", 5*time.Second, func() bool { return h.undelivered() == 0 })
	rs := h.delivered()
	if got, want := contents(rs), partContents(parts); !slices.Equal(got, want) {
		t.Fatalf("delivered:\n%s\nwant:\n%s", strings.Join(got, "\n~~~~\n"), strings.Join(want, "\n~~~~\n"))
	}
	last := rs[len(rs)-1]
	if last.Files[chartFile] != string(testChart) || last.Types[chartFile] != "image/png" {
		t.Errorf("the last message delivered has files %v, want the chart", last.Types)
	}
	for _, r := range rs {
		checkNoPings(t, r)
		if r.Auth != "Bot "+testToken {
			t.Errorf("delivered without the bot token")
		}
	}
	if n := h.postsMetric("failed"); n == "" || n == "0" {
		t.Errorf("failed posts not counted: %q", n)
	}
	if n := h.postsMetric("sent"); n != fmt.Sprint(len(parts)) {
		t.Errorf("sent posts counted: %q, want %d", n, len(parts))
	}
}

// TestPublishOrderKept: when a later message of a report fails, it goes to the outbox
// with those after it; when one fails again after the outbox delivered the one before,
// the rest goes back. Every message arrives once, in order.
func TestPublishOrderKept(t *testing.T) {
	h := newHarness(t)
	rep := reportText("E14-DAG replication health: warning", "r4", nil, 20, 20, 20)
	parts := renderReport(rep)
	if len(parts) < 3 {
		t.Fatalf("the test needs a report of 3 messages or more, not %d", len(parts))
	}
	is := func(k int) func(*bottest.DiscordRequest) bool {
		return func(r *bottest.DiscordRequest) bool { return r.Content() == parts[k].m.Content }
	}
	h.fake.FailWhen("POST", reportsPath, http.StatusBadGateway, -1, is(1))
	if err := h.d.PublishReport(context.Background(), testChannel, rep); err != nil {
		t.Fatal(err)
	}
	if got := contents(h.delivered()); !slices.Equal(got, partContents(parts[:1])) {
		t.Fatalf("delivered at once: %d messages, want the first only", len(got))
	}
	if n := h.undelivered(); n != 1 {
		t.Fatalf("%d posts in the outbox, want 1", n)
	}
	// The outbox delivers the second; the third fails meanwhile and goes back.
	h.fake.Heal()
	h.fake.FailWhen("POST", reportsPath, http.StatusServiceUnavailable, bot.InlineAttempts, is(2))
	h.advanceUntil("the outbox to deliver the rest", 5*time.Second, func() bool {
		return h.undelivered() == 0 && len(h.delivered()) == len(parts)
	})
	if got, want := contents(h.delivered()), partContents(parts); !slices.Equal(got, want) {
		t.Fatalf("delivered %d messages:\n%s\nwant %d:\n%s", len(got), strings.Join(got, "\n~~~~\n"), len(want), strings.Join(want, "\n~~~~\n"))
	}
}

// TestPublishNotInterleaved: two reports published at once to one channel go one
// after the other.
func TestPublishNotInterleaved(t *testing.T) {
	h := newHarness(t)
	var wg sync.WaitGroup
	for _, tag := range []string{"ra", "rb"} {
		wg.Go(func() {
			if err := h.d.PublishReport(context.Background(), testChannel, reportText("Report "+tag, tag, nil, 20, 20, 20)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	var order []string
	for _, r := range h.delivered() {
		tag := "ra"
		if strings.Contains(r.Content(), "rb") {
			tag = "rb"
		}
		order = append(order, tag)
	}
	if len(order) < 6 {
		t.Fatalf("%d messages, want 3 or more per report", len(order))
	}
	if changes := len(slices.Compact(slices.Clone(order))); changes != 2 {
		t.Errorf("the reports' messages interleave: %v", order)
	}
}

// TestPublishErrors: Publish fails only when the report can neither be posted nor kept.
func TestPublishErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("no channel", func(t *testing.T) {
		h := newHarness(t)
		err := h.d.PublishReport(ctx, " ", report.FromText("Report", "text", nil))
		if err == nil || !strings.Contains(err.Error(), "no channel to post the report in") {
			t.Errorf("err = %v", err)
		}
		err = h.d.PublishReport(ctx, "#ops", report.FromText("Report", "text", nil))
		if err == nil || !strings.Contains(err.Error(), `"#ops" is not a channel id`) {
			t.Errorf("err = %v", err)
		}
		if err := h.d.PublishReport(ctx, testChannel, report.FromText(" ", "\n", nil)); err == nil || !strings.Contains(err.Error(), "nothing to post") {
			t.Errorf("an empty report: err = %v", err)
		}
		if got := h.fake.Requests("", ""); len(got) != 0 {
			t.Errorf("posted: %v", got)
		}
	})
	t.Run("refused", func(t *testing.T) {
		// A refusal (a missing permission) is not retried at once, but kept: once a
		// person fixes the permission, the outbox delivers it.
		h := newHarness(t)
		h.fake.Fail("POST", reportsPath, http.StatusForbidden, -1, nil, `{"message":"Missing Access","code":50001}`)
		if err := h.d.PublishReport(ctx, testChannel, report.FromText("Report", "text", nil)); err != nil {
			t.Errorf("err = %v", err)
		}
		if n := len(h.fake.Requests("POST", reportsPath)); n != 1 {
			t.Errorf("%d attempts, want 1: a 403 is not retried at once", n)
		}
		if n := h.undelivered(); n != 1 {
			t.Errorf("%d posts in the outbox, want 1", n)
		}
	})
	t.Run("refused half-way", func(t *testing.T) {
		h := newHarness(t)
		rep := reportText("Report", "r5", nil, 20, 20, 20)
		parts := renderReport(rep)
		h.fake.FailWhen("POST", reportsPath, http.StatusBadRequest, -1, func(r *bottest.DiscordRequest) bool { return r.Content() == parts[1].m.Content })
		if err := h.d.PublishReport(ctx, testChannel, rep); err != nil {
			t.Errorf("err = %v", err)
		}
		if n := h.undelivered(); n != 1 {
			t.Errorf("%d outbox entries, want 1 holding the messages after the first", n)
		}
	})
	t.Run("closed", func(t *testing.T) {
		// After Close the report is not tried but kept, and posted at the next start.
		h := newHarness(t)
		h.d.Close()
		if err := h.d.PublishReport(ctx, testChannel, report.FromText("Report", "text", testChart)); err != nil {
			t.Fatalf("err = %v, want nil: the report is kept", err)
		}
		if got := h.fake.Requests("", ""); len(got) != 0 {
			t.Errorf("posted after Close: %v", got)
		}
		if n := h.undelivered(); n != 1 {
			t.Errorf("%d posts in the outbox, want 1", n)
		}
	})
}

// TestPublishGolden: the bodies of the messages that post a few reports, as Discord
// receives them: what the channel reads.
func TestPublishGolden(t *testing.T) {
	h := newHarness(t)
	copyFailed := bottest.CopyFailed()
	copyFailed.Chart = testChart
	// A report given as text (its structure unknown): schedules' golden health
	// report, each paragraph shown as written.
	mixed, err := os.ReadFile("../../schedules/testdata/report-mixed.golden")
	if err != nil {
		t.Fatal(err)
	}
	reports := []struct {
		name string
		rep  *report.Report
	}{
		{"a drill's scorecard", report.FromText("Failover drill of E14-DAG: passed",
			"Outcome: passed in 2m10s.\n- MB01 moved from EX10-MB01 to EX10-MB02 in 41s\n- MB01 moved back in 38s\n", nil)},
		{"a health report with its chart", copyFailed},
		{"a health report with server checks", report.FromText("E14-DAG replication health: failure", string(mixed), nil)},
		{"a long report", reportText("E15-DAG replication health: warning", "x", nil, 8, 36, 4)},
		{"a very long report", reportText("E16-DAG replication health: failure", "y", testChart, 30, 30, 30, 30, 30)},
		{"a title holding Markdown", report.FromText("Missed: daily_health *07:00*", "The run of daily_health was missed: exchops was not running.\n<@&1234> @everyone", nil)},
	}
	var b strings.Builder
	for _, r := range reports {
		before := len(h.delivered())
		if err := h.d.PublishReport(context.Background(), testChannel, r.rep); err != nil {
			t.Fatal(err)
		}
		rs := h.delivered()[before:]
		fmt.Fprintf(&b, "=== %s\n", r.name)
		for i, rec := range rs {
			checkPiece(t, fmt.Sprintf("%s, message %d", r.name, i+1), rec.Content())
			fmt.Fprintf(&b, "--- message %d of %d: %s %s, %d characters\n%s\n", i+1, len(rs), rec.Method, rec.Path, utf8.RuneCountInString(rec.Content()), rec.Content())
			rest := map[string]any{}
			for k, v := range rec.Body {
				if k != "content" {
					rest[k] = v
				}
			}
			var j strings.Builder
			enc := json.NewEncoder(&j)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(rest); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "--- and %s", j.String())
			names := make([]string, 0, len(rec.Files))
			for n := range rec.Files {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				fmt.Fprintf(&b, "--- attached %s (%s, %d bytes)\n", n, rec.Types[n], len(rec.Files[n]))
			}
		}
	}
	golden.Check(t, "testdata/publish.golden", b.String())
}
