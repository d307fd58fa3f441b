package schedules

import (
	"strings"
	"testing"

	"github.com/exchops/exchops/runners"
)

// A read that failed is told in the report (posted where viewers read) with the server
// and the kind of failure only; the full message, with the endpoint and the account,
// is kept for the log.
func TestFailedReadIsToldRedacted(t *testing.T) {
	full := `EX10-MB02: WinRM refused the credentials for MSGLAB\svc-exchops (HTTP 401): check EXCHOPS_PASSWORD and the auth method "ntlm" at https://ex10-mb02.msglab.local:5986/wsman`
	var r Report
	told := r.told("EX10-MB02", &runners.Error{Kind: runners.Unauthorized, Server: "EX10-MB02", Msg: full})
	for _, secret := range []string{"svc-exchops", "EXCHOPS_PASSWORD", "ntlm", "5986"} {
		if strings.Contains(told, secret) {
			t.Errorf("the report tells %q: %s", secret, told)
		}
	}
	if !strings.HasPrefix(told, "EX10-MB02: ") || !strings.Contains(told, "unauthorized") {
		t.Errorf("told %q, want the server and the kind", told)
	}
	if got := r.ReadErrors(); len(got) != 1 || got[0] != full {
		t.Errorf("kept for the log %q, want the full message", got)
	}
}
