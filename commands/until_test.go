package commands

import (
	"strings"
	"testing"
)

func TestUntilCheck(t *testing.T) {
	healthy := Until{Kind: UntilCopyHealthy, Database: "MB01", Server: "EX10-MB02"}
	mounted := Until{Kind: UntilMounted, Database: "MB01", Server: "EX10-MB02"}
	copies := func(rs ...row) Tables { return Tables{UntilSection: rs} }
	tests := []struct {
		name         string
		u            Until
		t            Tables
		done, failed bool
		detail       string
	}{
		{"seeding", healthy, copies(cp(`MB01\EX10-MB01`, "Mounted"), cp(`MB01\EX10-MB02`, "Seeding")), false, false, `copy MB01\EX10-MB02 is Seeding`},
		{"healthy", healthy, copies(cp(`MB01\EX10-MB02`, "Healthy")), true, false, `copy MB01\EX10-MB02 is Healthy`},
		{"server as FQDN", healthy, copies(with(cp(`MB01\EX10-MB02`, "Healthy"), "MailboxServer", "ex10-mb02.msglab.local")), true, false, ""},
		{"failed", healthy, copies(cp(`MB01\EX10-MB02`, "Failed")), false, true, `is Failed`},
		{"failed and suspended", healthy, copies(cp(`MB01\EX10-MB02`, "FailedAndSuspended")), false, true, ""},
		{"another copy failed does not matter", healthy, copies(cp(`MB01\EX10-MB03`, "Failed"), cp(`MB01\EX10-MB02`, "Seeding")), false, false, ""},
		{"not listed yet", healthy, copies(), false, false, "not listed yet"},
		{"moved", mounted, copies(cp(`MB01\EX10-MB01`, "Healthy"), cp(`MB01\EX10-MB02`, "Mounted")), true, false, "1 mounted on target, 0 other copies not yet Healthy"},
		{"old copy initializing", mounted, copies(cp(`MB01\EX10-MB01`, "Initializing"), cp(`MB01\EX10-MB02`, "Mounted")), false, false, "1 mounted on target, 1 other copies"},
		{"still on the source", mounted, copies(cp(`MB01\EX10-MB01`, "Mounted"), cp(`MB01\EX10-MB02`, "Healthy")), false, false, "0 mounted on target, 1 other"},
		{"target mounting", mounted, copies(cp(`MB01\EX10-MB01`, "Healthy"), cp(`MB01\EX10-MB02`, "Mounting")), false, false, "0 mounted"},
		{"a copy failed", mounted, copies(cp(`MB01\EX10-MB01`, "FailedAndSuspended"), cp(`MB01\EX10-MB02`, "Mounted")), false, true, ""},
		{"nothing read", mounted, Tables{}, false, false, "0 mounted on target"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := &Wait{Until: &tc.u}
			done, failed, detail, err := w.Check(tc.t)
			if err != nil {
				t.Fatal(err)
			}
			if done != tc.done || failed != tc.failed || !strings.Contains(detail, tc.detail) {
				t.Errorf("Check = %v, %v, %q; want %v, %v, %q", done, failed, detail, tc.done, tc.failed, tc.detail)
			}
		})
	}
	if _, _, _, err := (&Until{Kind: "later"}).Check(Tables{}); err == nil || !strings.Contains(err.Error(), "unknown wait condition") {
		t.Errorf("an unknown kind must be an error, got %v", err)
	}
}

// TestPlansNeverLoadExchangeInWinRS: every plan of every example sends Exchange
// cmdlets only as Calls; no WinRS script loads Exchange (a second hop) or names an
// Exchange cmdlet, and every Exchange step's text is exactly its calls' rendering.
func TestPlansNeverLoadExchangeInWinRS(t *testing.T) {
	forbidden := []string{"RemoteExchange.ps1", "Connect-ExchangeServer", "Add-PSSnapin", "Microsoft.Exchange"}
	exchange := map[string]bool{}
	for _, c := range rbacRoles {
		exchange[strings.ToLower(c.Cmdlet)] = true
	}
	for _, s := range Catalog() {
		for _, ex := range s.Examples {
			inv, err := Parse(ex)
			if err != nil {
				t.Fatal(err)
			}
			p, err := withPast(inv).Plan(walkEnv)
			if err != nil {
				t.Fatal(err)
			}
			text := p.String()
			for _, f := range forbidden {
				if strings.Contains(text, f) {
					t.Errorf("%s: the plan contains %q", ex, f)
				}
			}
			for _, st := range planSteps(p) {
				if st.Exchange() {
					for _, c := range st.Calls {
						for _, cmd := range c.Pipeline {
							checkMove(t, ex, cmd)
						}
					}
					if st.Script != RenderCalls(st.Calls) {
						t.Errorf("%s: Exchange step on %s shows text that is not its calls:\n%s", ex, st.Target, st.Script)
					}
					continue
				}
				for _, word := range strings.FieldsFunc(st.Script, func(r rune) bool {
					return !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
				}) {
					if exchange[strings.ToLower(word)] {
						t.Errorf("%s: WinRS script on %s runs the Exchange cmdlet %s", ex, st.Target, word)
					}
				}
			}
		}
	}
}

// checkMove: a switchover is Lossless, never skips a check, and does not wait for a
// confirmation the remote session cannot give.
func checkMove(t *testing.T, ex string, cmd Cmd) {
	t.Helper()
	if cmd.Name != "Move-ActiveMailboxDatabase" {
		return
	}
	params := map[string]Param{}
	for _, p := range cmd.Params {
		params[p.Name] = p
		if strings.HasPrefix(strings.ToLower(p.Name), "skip") {
			t.Errorf("%s: Move-ActiveMailboxDatabase with -%s", ex, p.Name)
		}
	}
	if p := params["MountDialOverride"]; p.Value != "Lossless" {
		t.Errorf("%s: Move-ActiveMailboxDatabase -MountDialOverride %q, want Lossless", ex, p.Value)
	}
	if p := params["Confirm"]; p.Type != TypeBool || p.Value != "false" {
		t.Errorf("%s: Move-ActiveMailboxDatabase without -Confirm:$false", ex)
	}
}
