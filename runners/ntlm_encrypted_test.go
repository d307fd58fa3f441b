package runners

import (
	"context"
	"strings"
	"testing"

	"github.com/exchops/exchops/lab/wsman"
)

// TestRunNTLMEncrypted runs the runner's ntlm-encrypted mode end to end against a WinRM
// server that refuses unencrypted HTTP (AllowUnencrypted=false, the Windows default):
// the script goes in, output and stderr come back, over sealed messages only. Plain NTLM
// over HTTP is refused with an error that says how to fix it.
func TestRunNTLMEncrypted(t *testing.T) {
	l := startStrictLab(t, wsman.Options{}, false)
	ep := l.endpoint("EX10-MB01")
	ep.Auth = AuthNTLMEncrypted
	w := newRunner(t, Options{}, ep)
	for i := range 3 { // several runs: each authenticates and seals afresh
		res, err := w.Run(context.Background(), "ex10-mb01", "ok\r\n$ErrorActionPreference = 'Stop'")
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if res.ExitCode != 0 || res.Stdout != okStdout || res.Stderr != "progress noise\r\n" {
			t.Fatalf("run %d: result = %+v", i, res)
		}
	}

	plain := l.endpoint("EX10-MB01")
	plain.AllowUnencrypted = true
	pw := newRunner(t, Options{}, plain)
	_, err := pw.Run(context.Background(), "ex10-mb01", "ok")
	if err == nil || !strings.Contains(err.Error(), "AllowUnencrypted=false") || !strings.Contains(err.Error(), "ntlm-encrypted") {
		t.Fatalf("plain NTLM over HTTP: err = %v, want the server's refusal naming ntlm-encrypted", err)
	}
}
