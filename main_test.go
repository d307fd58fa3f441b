package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLI checks the contract of the command line: exit codes and where messages go.
func TestCLI(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // substring of stdout
		wantErr  string // substring of stderr
	}{
		{"no args", nil, exitUsage, "", "Usage:"},
		{"help", []string{"--help"}, exitOK, "exchops plan", ""},
		{"version", []string{"version"}, exitOK, "exchops ", ""},
		{"unknown", []string{"frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{"plan", []string{"plan", `dag create E14-DAG witness=EX10-CAHT dir=C:\FSW ip=10.0.0.50`}, exitOK,
			"New-DatabaseAvailabilityGroup -Name 'E14-DAG' -WitnessServer 'EX10-CAHT' -WitnessDirectory 'C:\\FSW' -DatabaseAvailabilityGroupIPAddresses '10.0.0.50'", ""},
		{"plan bad value", []string{"plan", "dag create E14-DAG-IS-FAR-TOO-LONG witness=EX10-CAHT dir=C:\\FSW"}, exitUsage, "", "at most 15"},
		{"plan typo", []string{"plan", "dag craete E14-DAG"}, exitUsage, "", `did you mean "dag create"`},
		{"plan nothing", []string{"plan"}, exitUsage, "", "give the command"},
		{"plan help", []string{"plan", "help"}, exitOK, "dag create <name>", ""},
		{"plan with config", []string{"plan", "--config", "exchops.example.yaml", "copy status MB01"}, exitOK, "Get-MailboxDatabaseCopyStatus", ""},
		{"plan with missing config", []string{"plan", "--config", "nope.yaml", "copy status"}, exitUsage, "", "nope.yaml"},
		{"config check ok", []string{"config", "check", "--config", "exchops.example.yaml"}, exitOK, "is valid", ""},
		{"config check missing", []string{"config", "check", "--config", "nope.yaml"}, exitUsage, "", "nope.yaml"},
		{"config without check", []string{"config"}, exitUsage, "", "config check"},
		{"demo bad timing", []string{"demo", "--timing", "slow"}, exitUsage, "", "fast or real"},
		{"demo extra argument", []string{"demo", "now"}, exitUsage, "", `unexpected argument "now"`},
		{"serve without config", []string{"serve"}, exitUsage, "", "--config"},
		{"serve with missing config", []string{"serve", "--config", "nope.yaml"}, exitUsage, "", "nope.yaml"},
		{"discord register print", []string{"discord", "register", "--print"}, exitOK, `"name": "exchange"`, ""},
		{"discord register without token", []string{"discord", "register", "--config", "exchops.example.yaml"}, exitUsage, "", "DISCORD_BOT_TOKEN"},
		{"discord without register", []string{"discord"}, exitUsage, "", "exchops discord register"},
		{"slack manifest", []string{"slack", "manifest"}, exitOK, "/exchange", ""},
		{"slack manifest socket mode", []string{"slack", "manifest", "--socket-mode"}, exitOK, "socket_mode_enabled: true", ""},
		{"slack manifest url", []string{"slack", "manifest", "--url", "https://exchops.example.com"}, exitOK, "https://exchops.example.com/slack/commands", ""},
		{"slack manifest both", []string{"slack", "manifest", "--socket-mode", "--url", "https://x"}, exitUsage, "", "Socket Mode needs no request URL"},
		{"slack without manifest", []string{"slack"}, exitUsage, "", "exchops slack manifest"},
		{"lab bad flag", []string{"lab", "--latnecy", "1s"}, exitUsage, "", "flag provided but not defined"},
		{"lab bad fault", []string{"lab", "--fault", "hang"}, exitUsage, "", "KIND:SERVER"},
		{"lab bad timing", []string{"lab", "--timing", "slow"}, exitUsage, "", "real or fast"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errb)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("stdout lacks %q:\n%s", tc.wantOut, out.String())
			}
			if !strings.Contains(errb.String(), tc.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantErr, errb.String())
			}
		})
	}
}

// TestLabCommand starts `exchops lab`, reads its contract lines, and stops it.
func TestLabCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr := &lineWaiter{want: "faults: POST", ready: make(chan struct{})}
	done := make(chan int)
	go func() { done <- run(ctx, []string{"lab", "--fault", "hang:EX10-MB02"}, pr, &bytes.Buffer{}) }()
	<-pr.ready
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(pr.String()), "\n")
	names := []string{"EX10-MB01", "EX10-MB02", "EX10-CAHT", "EX10-CAHT02", "DC01"}
	if len(lines) < len(names)+1 {
		t.Fatalf("output:\n%s", pr.String())
	}
	for i, name := range names {
		f := strings.Fields(lines[i])
		// NAME WINRM-URL, then EXCHANGE-URL on the same listener for Exchange servers.
		cols := 3
		if name == "DC01" {
			cols = 2
		}
		if len(f) != cols || f[0] != name || !strings.HasPrefix(f[1], "http://127.0.0.1:") || !strings.HasSuffix(f[1], "/wsman") {
			t.Errorf("line %d = %q, want %q followed by its URLs", i, lines[i], name)
			continue
		}
		if cols == 3 && f[2] != strings.TrimSuffix(f[1], "/wsman")+"/PowerShell/" {
			t.Errorf("line %d = %q: the Exchange URL is not /PowerShell/ on the WinRM listener", i, lines[i])
		}
	}
	if !strings.HasPrefix(lines[len(names)], `credentials: user MSGLAB\svc-exchops password `) {
		t.Errorf("credentials line: %q", lines[len(names)])
	}
}

// lineWaiter is a writer that signals once the output contains want.
type lineWaiter struct {
	bytes.Buffer
	want  string
	ready chan struct{}
	done  bool
}

func (w *lineWaiter) Write(p []byte) (int, error) {
	n, err := w.Buffer.Write(p)
	if !w.done && strings.Contains(w.Buffer.String(), w.want) {
		w.done = true
		close(w.ready)
	}
	return n, err
}

// TestServeWithLab runs `exchops serve --config F --lab` as the contract says: it
// logs JSON, serves /healthz, /metrics and (console: true) the console, and stops
// cleanly on cancellation.
func TestServeWithLab(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "exchops.yaml")
	yaml := "listen: 127.0.0.1:0\ndatabase: " + filepath.Join(dir, "exchops.db") + "\nconsole: true\n" +
		"people:\n  - {name: alice, slack: U0ALICE, roles: [admin]}\n  - {name: bob, slack: U0BOB, roles: [admin, approver]}\n" +
		"exchange:\n  management_server: EX10-CAHT\n  dns_server: DC01\n  winrm: {user: 'MSGLAB\\svc-exchops'}\n  servers:\n" +
		"    - {name: EX10-CAHT, address: ex10-caht.msglab.local, roles: [client_access]}\n    - {name: DC01, address: dc01.msglab.local, roles: [dns]}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int)
	go func() {
		code := run(ctx, []string{"serve", "--config", cfg, "--lab"}, io.Discard, pw)
		pw.Close()
		done <- code
	}()
	var url string
	sc := bufio.NewScanner(pr)
	for url == "" && sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("serve logs a line that is not JSON: %s", sc.Text())
		}
		if u, ok := line["url"].(string); ok && line["msg"] == "exchops is serving" {
			url = u
		}
	}
	go io.Copy(io.Discard, pr)
	if url == "" {
		t.Fatal("serve did not log its URL")
	}
	for _, path := range []string{"healthz", "metrics", ""} {
		res, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET /%s: %s", path, res.Status)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("serve exited %d after cancellation", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// TestDemoPortInUse: a busy port is reported at once, naming the address.
func TestDemoPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"demo", "--listen", ln.Addr().String()}, &out, &errb)
	if code != exitFail || !strings.Contains(errb.String(), "cannot listen on "+ln.Addr().String()) {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}
