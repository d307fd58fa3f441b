package bot_test

import (
	"context"
	"strings"
	"testing"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/bot/bottest"
	"github.com/exchops/exchops/internal/report"
	"github.com/exchops/exchops/schedules"
)

// TestStepCommand: a next-step button's payload is taken only when it is a command
// exchops writes into a button.
func TestStepCommand(t *testing.T) {
	tests := []struct {
		payload string
		bad     string // part of the refusal; "" takes it
	}{
		{payload: "copy reseed MB01 EX10-MB02"},
		{payload: "copy status MB01"},
		{payload: "health E14-DAG"},
		{payload: "", bad: "empty"},
		{payload: "copy status " + strings.Repeat("M", bot.StepMax), bad: "longer than 80"},
		{payload: "copy status MB01\nhealth E14-DAG", bad: "character"},
		{payload: "copy status MB01\u00a0", bad: "character"},
		{payload: "copy  status MB01", bad: "not written as exchops writes one"},
		{payload: " copy status MB01", bad: "not written as exchops writes one"},
		{payload: "copy frobnicate MB01", bad: "does not parse"},
		{payload: "approve r-1", bad: "approve is not a command exchops puts on a button"},
		{payload: "deny r-1 no", bad: "deny is not a command"},
		{payload: "cancel r-1", bad: "cancel is not a command"},
		{payload: "help", bad: "help is not a command"},
	}
	for _, tc := range tests {
		got, err := bot.StepCommand(tc.payload)
		switch {
		case tc.bad == "" && (err != nil || got != tc.payload):
			t.Errorf("StepCommand(%q) = %q, %v; want it taken", tc.payload, got, err)
		case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
			t.Errorf("StepCommand(%q) = %q, %v; want a refusal saying %q", tc.payload, got, err, tc.bad)
		}
		if bot.StepButton(tc.payload) != (tc.bad == "") {
			t.Errorf("StepButton(%q) = %v", tc.payload, !(tc.bad == ""))
		}
	}
}

// FuzzStepCommand: whatever a forged click carries, StepCommand either refuses it or
// returns it unchanged, short, single-line and a command that is not the bot's own.
func FuzzStepCommand(f *testing.F) {
	for _, s := range []string{"copy reseed MB01 EX10-MB02", "health E14-DAG", "approve r-1", "copy  status", "copy status MB01\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		got, err := bot.StepCommand(payload)
		if err != nil {
			return
		}
		if got != payload || len(got) > bot.StepMax || strings.ContainsAny(got, "\r\n\t") {
			t.Fatalf("StepCommand(%q) took %q", payload, got)
		}
		for _, w := range []string{"approve", "deny", "cancel", "help", "requests", "history", "schedule"} {
			if got == w || strings.HasPrefix(got, w+" ") {
				t.Fatalf("StepCommand took the bot's own %q", got)
			}
		}
	})
}

// TestAlertReport: an alert becomes a report with its title, its text, and its next
// steps as buttons; a step that cannot be a button is listed to type.
func TestAlertReport(t *testing.T) {
	a := bottest.FailedCopyAlert()
	long := schedules.NextStep{Label: "Status", Command: "copy status " + strings.Repeat("X", bot.StepMax)}
	a.Next = append(a.Next, long)
	rep := bot.AlertReport(a)
	if rep.Title != a.Title {
		t.Errorf("title %q, want %q", rep.Title, a.Title)
	}
	want := []report.Step{{Label: "Reseed", Command: "copy reseed MB01 EX10-MB02"}, {Label: "Copy status", Command: "copy status MB01"}}
	if len(rep.Steps) != len(want) || rep.Steps[0] != want[0] || rep.Steps[1] != want[1] {
		t.Errorf("steps %+v, want %+v", rep.Steps, want)
	}
	text := rep.Text()
	if !strings.Contains(text, "The log file is corrupt.") || !strings.Contains(text, "Next steps:\n- Status: `/exchange "+long.Command+"`") {
		t.Errorf("text:\n%s", text)
	}
	if strings.Contains(text, "copy reseed") {
		t.Errorf("a button's command is also in the text:\n%s", text)
	}
}

// TestStep: a click on a next-step button files its command as the clicker, as if
// typed: a read-only command answers, a change waits for someone else's approval, a
// viewer's change is refused, and a payload exchops did not write files nothing.
func TestStep(t *testing.T) {
	s := newStack(t, nil)
	step := func(user, payload string) []bot.Reply {
		var r replies
		s.core.Step(context.Background(), bot.Invocation{Platform: "slack", User: user, Channel: "C1", Text: payload}, r.respond)
		s.core.Wait()
		return r.get()
	}

	got := step("UDAVE", "copy status MB01")
	if len(got) != 2 || got[1].Kind != bot.ReplyResult || !strings.Contains(got[1].Output, "output of copy status MB01") {
		t.Fatalf("dave's read-only click: %s %+v", kinds(got), got)
	}

	got = step("UDAVE", "copy reseed MB01 EX10-MB02")
	if len(got) != 1 || got[0].Kind != bot.ReplyRefused || !got[0].Private {
		t.Fatalf("dave's change click: %+v, want a private refusal", got)
	}
	typed := s.handle(t, "slack:UDAVE", "copy reseed MB01 EX10-MB02")
	if len(typed) != 1 || typed[0].Text != got[0].Text {
		t.Errorf("the click was refused with %q, typing with %+v: want the same", got[0].Text, typed)
	}

	got = step("UALICE", "copy reseed MB01 EX10-MB02")
	if len(got) != 2 || got[1].Kind != bot.ReplyRequest || got[1].Request == nil {
		t.Fatalf("alice's change click: %s %+v", kinds(got), got)
	}
	r := got[1].Request
	if r.Status != approvals.Pending || r.Requester != "alice" || r.Command != "copy reseed MB01 EX10-MB02" ||
		r.Origin != (approvals.Origin{Platform: "slack", Channel: "C1", User: "UALICE"}) {
		t.Errorf("request %+v", r)
	}
	if got := s.act(t, "UALICE", r.ID, approvals.Approve, ""); len(got) != 1 || got[0].Kind != bot.ReplyRefused {
		t.Errorf("alice approving her own click's request: %+v", got)
	}
	if n := s.exec.Executes.Load(); n != 1 {
		t.Errorf("%d runs, want only dave's read-only one before anyone approved", n)
	}

	for _, forged := range []string{"approve " + r.ID, "copy reseed MB01 EX10-MB02\napprove r-1", strings.Repeat("a", 200), "copy  reseed MB01 EX10-MB02"} {
		got := step("UBOB", forged)
		if len(got) != 1 || got[0].Kind != bot.ReplyError || !strings.Contains(got[0].Text, "did not take that click") {
			t.Errorf("forged %q: %+v, want a refusal", forged, got)
		}
	}
	if st := s.get(t, r.ID).Status; st != approvals.Pending {
		t.Errorf("%s is %s after forged clicks, want still pending", r.ID, st)
	}
	if h := ids(s.history(t)); len(h) != 1 {
		t.Errorf("stored %v, want the one request", h)
	}
}
