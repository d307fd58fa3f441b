package wsman

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/internal/pywinrm"
)

// systemPython is Debian's interpreter, where the python3-winrm package installs.
const systemPython = "/usr/bin/python3"

// skipOutsideCI skips a test whose tool is missing on a developer's machine, but fails
// it in CI, where .ci/run installs the tool: a conformance test must not vanish quietly.
func skipOutsideCI(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// TestPyWinRMConformance runs pywinrm, an independent WinRM client, against the server.
func TestPyWinRMConformance(t *testing.T) {
	if _, err := os.Stat(systemPython); err != nil {
		skipOutsideCI(t, "%s not found: install Debian's python3-winrm (apt-get install -y python3-winrm) to run this conformance test", systemPython)
	}
	if err := exec.Command(systemPython, "-c", "import winrm").Run(); err != nil {
		skipOutsideCI(t, "pywinrm is not importable by %s (%v): apt-get install -y python3-winrm", systemPython, err)
	}
	// Basic with a local account (WinRM refuses Basic for domain accounts), and NTLM with
	// the domain account. Debian's OpenSSL 3 keeps MD4, which NTLM needs, in its legacy
	// provider: the NTLM run enables it for the python process only.
	// The last case is pywinrm as it talks to a Windows server over HTTP: NTLM with
	// message encryption, against a server that refuses unencrypted traffic.
	for _, tc := range []struct {
		name, transport, encryption, user, password string
		strict                                      bool
	}{
		{"plaintext", "plaintext", "never", localUser, localPassword, false},
		{"ntlm", "ntlm", "never", testUser, testPassword, false},
		{"ntlm-encrypted", "ntlm", "always", testUser, testPassword, true},
	} {
		transport := tc.transport
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{OperationTimeoutCap: 50 * time.Millisecond}
			var h *harness
			if tc.strict {
				h = startStrictHarness(t, opts, false)
			} else {
				h = startHarness(t, opts, false)
			}
			commands := []string{"echo from python", "fail broken pipe", "args a b", "slow 2", "big 300000"}
			want := map[string]struct {
				stdout, stderr string
				code           int
			}{
				"echo from python": {"from python\r\n", "", 0},
				"fail broken pipe": {"partial", "broken pipe", 7},
				"args a b":         {"a b", "", 0},     // pywinrm joins arguments into one rsp:Arguments
				"slow 2":           {"finally", "", 3}, // pywinrm retries after OperationTimeout faults
				"big 300000":       {string(pattern(300000)), "", 0},
			}
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, systemPython, append([]string{"testdata/pywinrm_check.py", h.ln.URL, transport}, commands...)...)
			cmd.Env = append(os.Environ(), "WSMAN_USER="+tc.user, "WSMAN_PASSWORD="+tc.password, "WSMAN_ENCRYPTION="+tc.encryption, "OPENSSL_CONF="+pywinrm.LegacyOpenSSLConfig(t))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("pywinrm failed: %v\n%s", err, strings.ReplaceAll(stderr.String(), tc.password, "***"))
			}
			seen := 0
			sc := bufio.NewScanner(bytes.NewReader(out))
			sc.Buffer(nil, 4<<20)
			for sc.Scan() {
				var r struct {
					Command  string `json:"command"`
					Stdout   []byte `json:"stdout"`
					Stderr   []byte `json:"stderr"`
					ExitCode int    `json:"exit_code"`
				}
				if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
					t.Fatalf("bad line from the script: %v", err)
				}
				w, ok := want[r.Command]
				if !ok {
					t.Fatalf("unexpected command %q", r.Command)
				}
				seen++
				if string(r.Stdout) != w.stdout || string(r.Stderr) != w.stderr || r.ExitCode != w.code {
					t.Errorf("%s: got stdout %.60q (%d bytes) stderr %q exit %d, want %.60q %q %d",
						r.Command, r.Stdout, len(r.Stdout), r.Stderr, r.ExitCode, w.stdout, w.stderr, w.code)
				}
			}
			if seen != len(commands) {
				t.Errorf("the script reported %d commands, want %d", seen, len(commands))
			}
			if n := h.srv.OpenShells(); n != 0 {
				t.Errorf("%d shells left open after close_shell", n)
			}
		})
	}
}
