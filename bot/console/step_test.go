package console

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot/bottest"
	"github.com/exchops/exchops/internal/golden"
)

// TestAlertGolden: an alert as the console shows it: its title and text, and a
// button per next step that sends its command as the person at the page.
func TestAlertGolden(t *testing.T) {
	c := New(nil, Options{People: demoPeople, Now: func() time.Time { return t0 }})
	if err := c.PublishReport(context.Background(), "console", bottest.AlertReportOf(bottest.FailedCopyAlert())); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/alert-copy-failed.golden", c.transcript.msgs[0].HTML+"\n")
}

var stepButton = regexp.MustCompile(`<button type="button" class="quick-cmd step" data-command="([^"]*)"`)

// TestAlertButtons: the alert's buttons send their command through POST /api/command,
// as the page does, and it is filed as the person at the page: dave (a viewer) reads
// the copy status and is refused the reseed; alice's reseed waits for someone else;
// a command that does not parse files nothing.
func TestAlertButtons(t *testing.T) {
	h := newHarness(t)
	s := openStream(t, h.srv.URL+"/events", "")
	defer s.close()
	v := newView()
	if err := h.core.PublishAlert(context.Background(), map[string]string{}, bottest.FailedCopyAlert()); err != nil {
		t.Fatal(err)
	}
	v.until(t, s, "the alert", func() bool { return len(v.find("FailedAndSuspended", "quick-cmd step")) > 0 })
	var cmds []string
	for _, m := range stepButton.FindAllStringSubmatch(v.find("FailedAndSuspended")[0].HTML, -1) {
		cmds = append(cmds, html.UnescapeString(m[1]))
	}
	if len(cmds) != 2 || cmds[0] != "copy reseed MB01 EX10-MB02" || cmds[1] != "copy status MB01" {
		t.Fatalf("the buttons send %q", cmds)
	}
	click := func(person, text string) {
		t.Helper()
		if code, out := h.post(t, "/api/command", commandBody{Person: person, Text: text}); code != http.StatusAccepted || out["ok"] != true {
			t.Fatalf("POST /api/command as %s: %d %v", person, code, out)
		}
	}
	found := func(parts ...string) func() bool { return func() bool { return len(v.find(parts...)) > 0 } }

	click("dave", cmds[1])
	v.until(t, s, "dave's copy status", found("output of copy status MB01"))
	click("dave", cmds[0])
	v.until(t, s, "dave refused", found(`data-for="dave"`, "copy reseed changes the organisation, which needs the admin role"))
	click("alice", cmds[0])
	v.until(t, s, "alice's request", found(`data-for="alice"`, "r-1 is waiting for 1 approval"))
	if code, _ := h.post(t, "/api/action", actionBody{Person: "alice", ID: "r-1", Decision: "approve"}); code != http.StatusAccepted {
		t.Fatalf("alice's approval answered %d", code)
	}
	v.until(t, s, "alice's own approval refused", found(`data-for="alice"`, "r-1 is your own request"))
	click("bob", "copy frobnicate MB01")
	v.until(t, s, "a command that does not parse refused", found(`data-for="bob"`, "frobnicate"))

	r, err := h.svc.Get(context.Background(), "r-1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != approvals.Pending || r.Requester != "alice" || r.Command != cmds[0] || len(r.Votes) != 0 {
		t.Errorf("r-1: %+v", r)
	}
	if rs, _ := h.svc.History(context.Background(), 0); len(rs) != 1 {
		t.Errorf("%d requests, want alice's one", len(rs))
	}
	if strings.Contains(v.find("FailedAndSuspended")[0].HTML, "<script") {
		t.Error("markup in the alert")
	}
}
