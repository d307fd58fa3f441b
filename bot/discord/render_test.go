package discord

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/golden"
)

var renderNow = time.Date(2026, 11, 25, 9, 4, 0, 0, time.UTC)

// sampleRequest is a request as the approvals layer stores it, planned for real.
func sampleRequest(t *testing.T, text string) *approvals.Request {
	t.Helper()
	inv, err := commands.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	p, err := inv.Plan(testEnv)
	if err != nil {
		t.Fatal(err)
	}
	created := renderNow.Add(-4 * time.Minute)
	return &approvals.Request{
		ID: "r-7", Seq: 7, Version: 1, Command: p.Command, Summary: p.Summary, Requester: "alice",
		Origin: approvals.Origin{Platform: "discord", Channel: testChannel, User: "1001"},
		Steps:  p.Steps, Wait: p.Wait, Lock: p.Lock,
		Findings: []commands.Finding{{Severity: commands.Warning, Message: "EX10-MB01 has 2 databases with circular logging on"}},
		Required: 1, Status: approvals.Pending, CreatedAt: created, ExpiresAt: created.Add(30 * time.Minute), UpdatedAt: created,
	}
}

func messageJSON(t *testing.T, m message, files []attachment) string {
	t.Helper()
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // <t:…> timestamps stay readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	s := buf.String()
	for _, f := range files {
		s += "--- attached " + f.Name + " (" + strconv.Itoa(len(f.Data)) + " bytes)\n"
	}
	return s
}

// TestCardGolden renders the card of one request through its life: what approvers and
// everyone else read.
func TestCardGolden(t *testing.T) {
	r := sampleRequest(t, `dag create E14-DAG witness=EX10-CAHT dir=C:\FSW ip=10.0.0.50`)
	var b strings.Builder
	stage := func(name string, r *approvals.Request) {
		m, files := renderCard(r, renderNow)
		checkLimits(t, name, m)
		b.WriteString("=== " + name + "\n" + messageJSON(t, m, files))
	}
	stage("pending", r)

	voted := *r
	voted.Required = 2
	voted.Votes = []approvals.Vote{{Person: "bob", Decision: approvals.Approve, At: renderNow.Add(-time.Minute), Via: approvals.Origin{Platform: "slack"}}}
	stage("pending, one of two approvals", &voted)

	ruled := voted
	ruled.Approvers, ruled.ExcludedTeam = []string{"role:dag-owner", "carol"}, "messaging"
	stage("pending under a rule, one of two approvals", &ruled)

	done := *r
	done.Status, done.Reason = approvals.Succeeded, "done"
	done.Votes = []approvals.Vote{{Person: "bob", Decision: approvals.Approve, At: renderNow.Add(-time.Minute), Via: approvals.Origin{Platform: "discord"}}}
	done.Run = &approvals.Run{StartedAt: renderNow.Add(-time.Minute), FinishedAt: renderNow, Output: "Name,Servers\nE14-DAG,\n"}
	stage("succeeded", &done)

	denied := *r
	denied.Status, denied.Reason = approvals.Denied, "denied by carol: not during business hours"
	denied.Votes = []approvals.Vote{{Person: "carol", Decision: approvals.Deny, At: renderNow, Via: approvals.Origin{Platform: "discord"}, Reason: "not during business hours"}}
	stage("denied", &denied)

	golden.Check(t, "testdata/cards.golden", b.String())
}

// TestLongPlanAttached: a plan too long for the card goes up whole as a file, and the
// card says so.
func TestLongPlanAttached(t *testing.T) {
	r := sampleRequest(t, `nlb create client.msglab.local ip=10.0.0.40 mask=255.255.255.0 interface="Local Area Connection" host=EX10-CAHT mode=multicast`)
	r.Steps = append(r.Steps, r.Steps[0], r.Steps[0], r.Steps[0])
	m, files := renderCard(r, renderNow)
	checkLimits(t, "long plan", m)
	if len(files) != 1 || files[0].Name != "r-7-plan.ps1" || !strings.Contains(string(files[0].Data), r.Steps[0].Script) {
		t.Fatalf("files = %v", files)
	}
	if !strings.Contains(m.Embeds[0].Description, "attached as r-7-plan.ps1") || strings.Contains(m.Embeds[0].Description, "```") {
		t.Errorf("the card does not point at the attached plan:\n%s", m.Embeds[0].Description)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].Filename != "r-7-plan.ps1" {
		t.Errorf("attachments = %+v", m.Attachments)
	}
}

func checkLimits(t *testing.T, name string, m message) {
	t.Helper()
	if utf8.RuneCountInString(m.Content) > maxContent {
		t.Errorf("%s: content of %d characters", name, utf8.RuneCountInString(m.Content))
	}
	for _, e := range m.Embeds {
		if n := embedLen(e); n > maxEmbedTotal {
			t.Errorf("%s: embed of %d characters", name, n)
		}
		if n := utf8.RuneCountInString(e.Description); n > maxEmbedDesc {
			t.Errorf("%s: embed description of %d characters", name, n)
		}
		for _, f := range e.Fields {
			if n := utf8.RuneCountInString(f.Value); n > maxFieldValue {
				t.Errorf("%s: field %s of %d characters", name, f.Name, n)
			}
		}
	}
}

// ruledRequest is r under an approval rule: two approvals from role dag-owner.
func ruledRequest(r *approvals.Request) *approvals.Request {
	c := *r
	c.ID, c.Command, c.Required, c.Approvers = "r-8", "failover MB01 to=EX10-MB02", 2, []string{"role:dag-owner"}
	return &c
}

func TestRepliesGolden(t *testing.T) {
	r := sampleRequest(t, `dag create E14-DAG witness=EX10-CAHT dir=C:\FSW`)
	replies := []bot.Reply{
		{Kind: bot.ReplyWorking, Private: true, Text: "Planning dag create E14-DAG: reading the organisation first…"},
		{Kind: bot.ReplyRefused, Private: true, Text: "this change cannot be offered for approval:\n- E14-DAG exists", Findings: []commands.Finding{{Severity: commands.Blocker, Message: "E14-DAG exists with another witness"}}},
		{Kind: bot.ReplyError, Private: true, Text: "dag create: name is required"},
		{Kind: bot.ReplyResult, Text: "Show copy status.", Output: "Name,Status\nMB01\\EX10-MB01,Mounted\n"},
		{Kind: bot.ReplyResult, Failed: true, Text: "copy status failed: EX10-CAHT is unreachable"},
		{Kind: bot.ReplyRequests, Private: true, Requests: []*approvals.Request{r, ruledRequest(r)}, Now: renderNow},
		{Kind: bot.ReplyHistory, Private: true, Now: renderNow},
	}
	var b strings.Builder
	for _, rp := range replies {
		m, files := renderReply(rp)
		checkLimits(t, string(rp.Kind), m)
		b.WriteString("=== " + string(rp.Kind) + "\n" + messageJSON(t, m, files))
	}
	golden.Check(t, "testdata/replies.golden", b.String())
}
