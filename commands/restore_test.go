package commands

import (
	"errors"
	"strings"
	"testing"
)

// pastAssign is a succeeded casarray assign as approvals hands it to planning: it
// changed MB01 (from its own server) and MB03 (whose value was empty).
func pastAssign(id string) *PastRequest {
	return &PastRequest{
		ID: NormalizeTestID(id), Found: true, Status: "succeeded", Command: "casarray assign client.msglab.local",
		Findings: []Finding{
			{Severity: Info, Message: "Previous RpcClientAccessServer (to undo with casarray restore): MB01=ex10-mb01.msglab.local, MB03=(empty).",
				Record: NewRecord(map[string]string{"MB01": "ex10-mb01.msglab.local", "MB03": ""})},
		},
	}
}

// NormalizeTestID keeps the fixture's id as approvals would store it.
func NormalizeTestID(id string) string {
	if !strings.HasPrefix(id, "r-") {
		return "r-" + id
	}
	return id
}

func TestRestoreRefusals(t *testing.T) {
	mod := func(f func(p *PastRequest)) *PastRequest {
		p := pastAssign("r-12")
		f(p)
		return p
	}
	tests := []struct {
		name string
		past *PastRequest
		want string // a substring of the error; "" for a plan
	}{
		{"ok", pastAssign("r-12"), ""},
		{"no record given", nil, "only a running exchops reads"},
		{"unknown id", mod(func(p *PastRequest) { *p = PastRequest{ID: "r-12"} }), `request-id="r-12" is not a request`},
		{"not an assign", mod(func(p *PastRequest) { p.Command = "dag create E14-DAG witness=EX10-CAHT dir=C:\\FSW" }), "not a casarray assign"},
		{"a restore", mod(func(p *PastRequest) { p.Command = "casarray restore r-3" }), "not a casarray assign"},
		{"failed", mod(func(p *PastRequest) { p.Status = "failed" }), "is failed, not succeeded"},
		{"pending", mod(func(p *PastRequest) { p.Status = "pending" }), "is pending, not succeeded"},
		{"stale", mod(func(p *PastRequest) { p.Status = "stale" }), "is stale, not succeeded"},
		{"already restored", mod(func(p *PastRequest) {
			p.Referrers = []Referrer{{ID: "r-13", Status: "denied"}, {ID: "r-14", Status: "succeeded"}}
		}), "was already restored by r-14"},
		{"being restored", mod(func(p *PastRequest) { p.Referrers = []Referrer{{ID: "r-15", Status: "pending"}} }), "already being restored by r-15 (pending)"},
		{"earlier restore failed", mod(func(p *PastRequest) { p.Referrers = []Referrer{{ID: "r-15", Status: "failed"}} }), ""},
		{"nothing recorded", mod(func(p *PastRequest) { p.Findings = nil }), "changed no database"},
		{"old text record", mod(func(p *PastRequest) { p.Findings[0].Record = "" }), ""},
		{"unreadable record", mod(func(p *PastRequest) { p.Findings[0].Record = "{not json" }), "cannot be read back exactly"},
		{"unreadable text", mod(func(p *PastRequest) {
			p.Findings = []Finding{{Severity: Info, Message: "Previous RpcClientAccessServer (to undo): MB01=not a name, MB02."}}
		}), "cannot be read back exactly"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := Parse("casarray restore 12")
			if err != nil {
				t.Fatal(err)
			}
			inv.Past = tc.past
			p, err := inv.Plan(walkEnv)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("plan: %v", err)
				}
				if len(p.Steps) != 1 || !strings.Contains(p.Steps[0].Script, "Set-MailboxDatabase -Identity 'MB01' -RpcClientAccessServer 'ex10-mb01.msglab.local'") ||
					!strings.Contains(p.Steps[0].Script, "Set-MailboxDatabase -Identity 'MB03' -RpcClientAccessServer $null") {
					t.Errorf("steps do not set each database back:\n%s", p)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one with %q", err, tc.want)
			}
			var ue *UsageError
			if tc.past != nil && !errors.As(err, &ue) {
				t.Errorf("%T is not a *UsageError", err)
			}
		})
	}
}

func TestPreviousValuesFromText(t *testing.T) {
	got, ok := previousValues([]Finding{{Message: "Previous RpcClientAccessServer (to undo): MB01=ex10-mb01.msglab.local, Mailbox Database 2=EX10-MB02.msglab.local."}})
	if !ok || len(got) != 2 || got["MB01"] != "ex10-mb01.msglab.local" || got["Mailbox Database 2"] != "ex10-mb02.msglab.local" {
		t.Errorf("previousValues = %v, %v", got, ok)
	}
}
