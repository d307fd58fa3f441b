package wsman

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/masterzen/winrm"
)

func TestRunCommands(t *testing.T) {
	h := startHarness(t, Options{}, false)
	c := h.client(clientConfig{})
	tests := []struct {
		command        string
		stdout, stderr string
		exitCode       int
	}{
		{"echo hello world", "hello world\r\n", "", 0},
		{"fail The operation could not be performed", "partial", "The operation could not be performed", 7},
		{"whoami", testUser, "", 0},
		{"echo a & b <c> \"d\" 'e'", "a & b <c> \"d\" 'e'\r\n", "", 0},
		{"echo ünïcødé ✓", "ünïcødé ✓\r\n", "", 0},
		{"nosuch", "", "'nosuch' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", 9009},
	}
	for _, tt := range tests {
		t.Run(tt.command, func(t *testing.T) {
			stdout, stderr, code, err := c.RunCmdWithContext(context.Background(), tt.command)
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if stdout != tt.stdout || stderr != tt.stderr || code != tt.exitCode {
				t.Errorf("got stdout %q stderr %q exit %d, want %q %q %d", stdout, stderr, code, tt.stdout, tt.stderr, tt.exitCode)
			}
		})
	}
	if n := h.srv.OpenShells(); n != 0 {
		t.Errorf("%d shells left open after RunCmdWithContext closed them", n)
	}
}

func TestArguments(t *testing.T) {
	h := startHarness(t, Options{}, false)
	c := h.client(clientConfig{})
	sh, err := c.CreateShell()
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	cmd, err := sh.ExecuteWithContext(context.Background(), "args", "one", "two & <three>")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	go io.Copy(io.Discard, cmd.Stderr)
	io.Copy(&out, cmd.Stdout)
	cmd.Wait()
	if got, want := out.String(), "one|two & <three>"; got != want {
		t.Errorf("arguments arrived as %q, want %q", got, want)
	}
}

func TestStdin(t *testing.T) {
	h := startHarness(t, Options{}, false)
	c := h.client(clientConfig{})
	input := strings.Repeat("line of input\n", 20000) // 280 KB: several Send requests
	stdout, stderr, code, err := c.RunWithContextWithString(context.Background(), "cat", input)
	if err != nil {
		t.Fatal(err)
	}
	if stdout != input || stderr != "" || code != 0 {
		t.Errorf("cat returned %d bytes (want %d), stderr %q, exit %d", len(stdout), len(input), stderr, code)
	}
}

func TestLargeOutputRespectsMaxEnvelopeSize(t *testing.T) {
	for _, envelope := range []int{153600, 16384} {
		t.Run(strconv.Itoa(envelope), func(t *testing.T) {
			h := startHarness(t, Options{}, false)
			c := h.client(clientConfig{envelope: envelope})
			const size = 1 << 20
			stdout, _, code, err := c.RunCmdWithContext(context.Background(), "big "+strconv.Itoa(size))
			if err != nil {
				t.Fatal(err)
			}
			if code != 0 || stdout != string(pattern(size)) {
				t.Fatalf("exit %d, got %d bytes of output (want %d, same pattern)", code, len(stdout), size)
			}
			receives := 0
			for _, ex := range h.recorded() {
				if !bytes.Contains(ex.request, []byte(actionReceive)) {
					continue
				}
				receives++
				if len(ex.response) > envelope {
					t.Errorf("a Receive reply is %d bytes, over the client's MaxEnvelopeSize %d", len(ex.response), envelope)
				}
			}
			if min := size * 4 / 3 / envelope; receives < min {
				t.Errorf("%d Receive replies carried 1 MB; with a %d-byte envelope at least %d are needed", receives, envelope, min)
			}
		})
	}
}

func TestShellReuse(t *testing.T) {
	h := startHarness(t, Options{}, false)
	c := h.client(clientConfig{})
	sh, err := c.CreateShell()
	if err != nil {
		t.Fatal(err)
	}
	for i, command := range []string{"echo first", "fail second", "echo third"} {
		cmd, err := sh.ExecuteWithContext(context.Background(), command)
		if err != nil {
			t.Fatalf("command %d: %v", i, err)
		}
		var stdout, stderr bytes.Buffer
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); io.Copy(&stdout, cmd.Stdout) }()
		go func() { defer wg.Done(); io.Copy(&stderr, cmd.Stderr) }()
		cmd.Wait()
		wg.Wait()
		if err := cmd.Close(); err != nil {
			t.Errorf("command %d: terminate after it finished: %v", i, err)
		}
		wantCode := 0
		if i == 1 {
			wantCode = 7
		}
		if cmd.ExitCode() != wantCode {
			t.Errorf("command %d exit %d, want %d (stdout %q stderr %q)", i, cmd.ExitCode(), wantCode, stdout.String(), stderr.String())
		}
	}
	if n := h.srv.OpenShells(); n != 1 {
		t.Errorf("%d shells open while one is in use", n)
	}
	if err := sh.Close(); err != nil {
		t.Fatal(err)
	}
	if n := h.srv.OpenShells(); n != 0 {
		t.Errorf("%d shells open after Delete", n)
	}
}

func TestCancelTerminatesCommand(t *testing.T) {
	// A short long-poll cap: the client notices cancellation between Receives.
	h := startHarness(t, Options{OperationTimeoutCap: 100 * time.Millisecond}, false)
	c := h.client(clientConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, _, err := c.RunCmdWithContext(ctx, "block")
		done <- err
	}()
	waitFor(t, h.host.started, "the command to start")
	cancel()
	waitFor(t, h.host.cancelled, "the host to see its context cancelled")
	err := waitFor(t, done, "the client call to return")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("RunCmdWithContext returned %v, want context.Canceled", err)
	}
	if n := h.srv.OpenShells(); n != 0 {
		t.Errorf("%d shells open after the cancelled run", n)
	}
}

func TestSignalCtrlCStopsReader(t *testing.T) {
	h := startHarness(t, Options{}, false)
	shellID := createRaw(t, h)
	cmdID := commandRaw(t, h, shellID, "readblock")
	status, body := h.post(envelope(actionSignal, shellID,
		`<rsp:Signal CommandId="`+cmdID+`"><rsp:Code>`+signalCtrlC+`</rsp:Code></rsp:Signal>`, ""))
	if status != 200 || !strings.Contains(body, actionSignalResponse) {
		t.Fatalf("ctrl_c: %d %s", status, body)
	}
	waitFor(t, h.host.cancelled, "the stdin reader to be stopped")
	// ctrl_c keeps the command, so its exit code can still be received.
	status, body = h.post(envelope(actionReceive, shellID,
		`<rsp:Receive><rsp:DesiredStream CommandId="`+cmdID+`">stdout stderr</rsp:DesiredStream></rsp:Receive>`, ""))
	if status != 200 || !strings.Contains(body, stateDone) || !strings.Contains(body, "<rsp:ExitCode>131</rsp:ExitCode>") {
		t.Errorf("Receive after ctrl_c: %d %s", status, body)
	}
}

func TestLongPollTimeoutIsRetried(t *testing.T) {
	h := startHarness(t, Options{OperationTimeoutCap: 20 * time.Millisecond}, false)
	c := h.client(clientConfig{})
	stdout, stderr, code, err := c.RunCmdWithContext(context.Background(), "slow 3")
	if err != nil {
		t.Fatal(err)
	}
	if stdout != "finally" || stderr != "" || code != 3 {
		t.Errorf("got %q %q %d after timeouts, want \"finally\" \"\" 3", stdout, stderr, code)
	}
	timedOut := 0
	for _, ex := range h.recorded() {
		if ex.status == 500 && bytes.Contains(ex.response, []byte("OperationTimeout")) {
			timedOut++
		}
	}
	if timedOut < 3 {
		t.Errorf("%d OperationTimeout faults, want at least 3", timedOut)
	}
}

func TestUnknownShell(t *testing.T) {
	h := startHarness(t, Options{}, false)
	c := h.client(clientConfig{})
	// This masterzen version returns a non-200 SOAP reply as if it were a success, so the
	// fault shows up as an unexpected action, with the fault in the error's Body.
	_, err := c.NewShell("3E0D7CBE-0000-4000-8000-000000000000").ExecuteWithContext(context.Background(), "echo x")
	var cmdErr *winrm.ExecuteCommandError
	if !errors.As(err, &cmdErr) || !strings.Contains(cmdErr.Body, "shell was not found on the server") || !strings.Contains(cmdErr.Body, `Code="2150858843"`) {
		t.Errorf("unknown shell gave %v", err)
	}
	// A shell belongs to its user: another user cannot see it.
	sh, err := c.CreateShell()
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	other := h.client(clientConfig{user: `MSGLAB\other`, password: "other-pw"})
	_, err = other.NewShell(reflectShellID(t, h)).ExecuteWithContext(context.Background(), "echo x")
	if !errors.As(err, &cmdErr) || !strings.Contains(cmdErr.Body, "shell was not found on the server") {
		t.Errorf("another user's shell gave %v", err)
	}
}

// reflectShellID returns the id of the only open shell.
func reflectShellID(t *testing.T, h *harness) string {
	t.Helper()
	h.srv.mu.Lock()
	defer h.srv.mu.Unlock()
	for id := range h.srv.shells {
		return id
	}
	t.Fatal("no shell open")
	return ""
}

func TestShellQuota(t *testing.T) {
	h := startHarness(t, Options{}, false)
	c := h.client(clientConfig{})
	var shells []*winrm.Shell
	for i := range 5 {
		sh, err := c.CreateShell()
		if err != nil {
			t.Fatalf("shell %d: %v", i+1, err)
		}
		shells = append(shells, sh)
	}
	// The 6th is checked on the wire: this masterzen version does not report the fault of a
	// Create (it returns a Shell with an empty id).
	status, body := h.post(envelope(actionCreate, "", "", ""))
	if status != 500 || !strings.Contains(body, "This user is allowed a maximum number of 5 concurrent shells, which has been exceeded") ||
		!strings.Contains(body, `Code="2150859173"`) {
		t.Fatalf("6th shell: %d %s", status, body)
	}
	if n := h.srv.OpenShells(); n != 5 {
		t.Fatalf("%d shells open, want 5", n)
	}
	// The quota is per user, whatever the spelling of the name; other users have their own.
	upper := h.client(clientConfig{user: "SVC-EXCHOPS", password: testPassword})
	upper.CreateShell()
	other := h.client(clientConfig{user: `MSGLAB\other`, password: "other-pw"})
	osh, err := other.CreateShell()
	if err != nil {
		t.Fatalf("another user's shell: %v", err)
	}
	if n := h.srv.OpenShells(); n != 6 {
		t.Fatalf("%d shells open, want 6 (5 + the other user's)", n)
	}
	osh.Close()
	if err := shells[0].Close(); err != nil {
		t.Fatal(err)
	}
	status, body = h.post(envelope(actionCreate, "", "", ""))
	if status != 200 {
		t.Fatalf("shell after one was deleted: %d %s", status, body)
	}
}

func TestIdleShellsExpire(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	h := startHarness(t, Options{Now: clock, IdleTimeout: time.Minute}, false)
	c := h.client(clientConfig{})
	for range 5 {
		if _, err := c.CreateShell(); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.srv.expireIdle(clock().Add(59 * time.Second)); n != 0 {
		t.Errorf("%d shells expired before the idle timeout", n)
	}
	if n := h.srv.expireIdle(clock().Add(61 * time.Second)); n != 5 {
		t.Errorf("%d shells expired after the idle timeout, want 5", n)
	}
	if _, err := c.CreateShell(); err != nil {
		t.Errorf("quota not freed by expiry: %v", err)
	}
}

func TestIdleExpiryCancelsCommands(t *testing.T) {
	h := startHarness(t, Options{}, false)
	shellID := createRaw(t, h)
	commandRaw(t, h, shellID, "block")
	waitFor(t, h.host.started, "the command to start")
	if n := h.srv.expireIdle(time.Now().Add(time.Hour)); n != 1 {
		t.Fatalf("expired %d shells, want 1", n)
	}
	waitFor(t, h.host.cancelled, "the expired shell's command to be cancelled")
}

func TestAuthentication(t *testing.T) {
	h := startHarness(t, Options{}, false)
	tests := []struct {
		name, user, password string
		basic                bool
		want                 string // the account whoami shows; "" when refused
	}{
		// WinRM refuses Basic for domain accounts, however the name is written.
		{"basic domain account", testUser, testPassword, true, ""},
		{"basic domain account without domain", "svc-exchops", testPassword, true, ""},
		{"basic upper case", `msglab\SVC-EXCHOPS`, testPassword, true, ""},
		{"basic upn", "svc-exchops@msglab.local", testPassword, true, ""},
		{"basic local account", localUser, localPassword, true, localUser},
		{"basic local account upper case", "LABADMIN", localPassword, true, localUser},
		{"basic local account with machine name", `WSMAN-LAB\labadmin`, localPassword, true, localUser},
		{"basic local account named with a domain", `MSGLAB\labadmin`, localPassword, true, ""},
		{"basic wrong password", localUser, "Wrong-Pa55word", true, ""},
		{"basic unknown user", "mallory", testPassword, true, ""},
		{"ntlm with domain", testUser, testPassword, false, testUser},
		{"ntlm without domain", "svc-exchops", testPassword, false, testUser},
		{"ntlm wrong password", testUser, "Wrong-Pa55word", false, ""},
		{"ntlm unknown user", `MSGLAB\mallory`, testPassword, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := h.client(clientConfig{user: tt.user, password: tt.password, basic: tt.basic})
			stdout, _, _, err := c.RunCmdWithContext(context.Background(), "whoami")
			if tt.want != "" {
				if err != nil || stdout != tt.want {
					t.Fatalf("got %q, %v; want %q", stdout, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "401") {
				t.Fatalf("got %v, want a 401 error", err)
			}
			if strings.Contains(err.Error(), tt.password) || strings.Contains(err.Error(), testPassword) {
				t.Error("the error text contains a password")
			}
		})
	}
}

func TestUnauthorizedChallenge(t *testing.T) {
	h := startHarness(t, Options{}, false)
	resp, err := http.Post(h.ln.URL, "application/soap+xml;charset=UTF-8", strings.NewReader(envelope(actionCreate, "", "", "")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := resp.Header.Values("WWW-Authenticate")
	if resp.StatusCode != 401 || len(got) != 2 || got[0] != "Negotiate" || got[1] != `Basic realm="WSMAN"` {
		t.Errorf("no credentials: %d %q", resp.StatusCode, got)
	}
}

func TestTLS(t *testing.T) {
	h := startHarness(t, Options{}, true)
	if !strings.HasPrefix(h.ln.URL, "https://127.0.0.1:") || len(h.ln.CertPEM) == 0 {
		t.Fatalf("URL %s, %d bytes of certificate", h.ln.URL, len(h.ln.CertPEM))
	}
	c := h.client(clientConfig{caPEM: h.ln.CertPEM})
	stdout, _, code, err := c.RunCmdWithContext(context.Background(), "echo over tls")
	if err != nil || stdout != "over tls\r\n" || code != 0 {
		t.Fatalf("got %q %d %v", stdout, code, err)
	}
	// Without the certificate as CA, the client must refuse the server.
	untrusting := h.client(clientConfig{caPEM: []byte(otherCA)})
	if _, _, _, err := untrusting.RunCmdWithContext(context.Background(), "echo x"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client that does not trust the certificate got %v", err)
	}
}

// otherCA is some unrelated self-signed certificate.
var otherCA = func() string {
	pem, _, err := selfSigned(nil, time.Now())
	if err != nil {
		panic(err)
	}
	return string(pem)
}()

func TestInjectedFaults(t *testing.T) {
	h := startHarness(t, Options{}, false)
	tests := []struct {
		fault Fault
		want  *regexp.Regexp
	}{
		{FaultUnreachable, regexp.MustCompile(`EOF|connection reset`)},
		{FaultHTTP500, regexp.MustCompile(`500 - invalid content type`)},
		{FaultUnauthorized, regexp.MustCompile(`401 - invalid content type`)},
		{FaultMalformed, regexp.MustCompile(`XML|EOF|xml`)},
	}
	for _, tt := range tests {
		t.Run(tt.fault.String(), func(t *testing.T) {
			h.srv.SetFault(tt.fault)
			defer h.srv.SetFault(FaultNone)
			c := h.client(clientConfig{timeout: 5 * time.Second})
			done := make(chan error, 1)
			go func() {
				_, _, _, err := c.RunCmdWithContext(context.Background(), "echo x")
				done <- err
			}()
			err := waitFor(t, done, "the client to give up")
			if err == nil || !tt.want.MatchString(err.Error()) {
				t.Errorf("fault %v gave %v, want an error matching %s", tt.fault, err, tt.want)
			}
		})
	}
	c := h.client(clientConfig{})
	if out, _, _, err := c.RunCmdWithContext(context.Background(), "echo healed"); err != nil || out != "healed\r\n" {
		t.Errorf("after FaultNone: %q %v", out, err)
	}
}

func TestParseFault(t *testing.T) {
	for _, f := range []Fault{FaultNone, FaultUnreachable, FaultHTTP500, FaultUnauthorized, FaultMalformed} {
		got, err := ParseFault(f.String())
		if err != nil || got != f {
			t.Errorf("ParseFault(%q) = %v, %v", f.String(), got, err)
		}
	}
	if _, err := ParseFault("flaky"); err == nil {
		t.Error("ParseFault accepted an unknown name")
	}
}

func TestRawProtocolErrors(t *testing.T) {
	h := startHarness(t, Options{MaxEnvelopeSizeKB: 8}, false)
	shellID := createRaw(t, h)
	cmdID := commandRaw(t, h, shellID, "cat")
	tests := []struct {
		name       string
		body       string
		status     int
		wantInBody []string
	}{
		{"unknown action", envelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/Get", shellID, "", ""), 500,
			[]string{"a:ActionNotSupported", `Code="2150858771"`, "<a:RelatesTo>uuid:11111111-2222-4333-8444-555555555555</a:RelatesTo>"}},
		{"no shell id", envelope(actionCommand, "", "", ""), 500, []string{"w:InvalidSelectors", `Code="2150858842"`}},
		{"unknown command", envelope(actionReceive, shellID, `<rsp:Receive><rsp:DesiredStream CommandId="ABC">stdout</rsp:DesiredStream></rsp:Receive>`, ""), 500,
			[]string{"CommandId ABC was not found"}},
		{"not xml", "this is not a SOAP envelope", 500, []string{"w:SchemaValidationError"}},
		{"bad timeout", envelope(actionCreate, "", "", "<w:OperationTimeout>60 seconds</w:OperationTimeout>"), 500, []string{"xs:duration"}},
		{"too large", envelope(actionCreate, "", strings.Repeat("x", 9*1024), ""), 413, []string{"w:EncodingLimit", `Code="2150859025"`}},
		{"bad base64", envelope(actionSend, shellID, `<rsp:Send><rsp:Stream Name="stdin" CommandId="`+cmdID+`">!!!</rsp:Stream></rsp:Send>`, ""), 500,
			[]string{"not valid base64"}},
		{"bad stream", envelope(actionSend, shellID, `<rsp:Send><rsp:Stream Name="stdout" CommandId="`+cmdID+`">eA==</rsp:Stream></rsp:Send>`, ""), 500,
			[]string{"not an input stream"}},
		{"bad signal", envelope(actionSignal, shellID, `<rsp:Signal CommandId="`+cmdID+`"><rsp:Code>reboot</rsp:Code></rsp:Signal>`, ""), 500,
			[]string{"is not terminate"}},
		{"tiny envelope", strings.Replace(envelope(actionReceive, shellID, `<rsp:Receive><rsp:DesiredStream CommandId="`+cmdID+`">stdout</rsp:DesiredStream></rsp:Receive>`, ""), ">153600<", ">512<", 1), 500,
			[]string{"below the minimum", `Code="2150858790"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := h.post(tt.body)
			if status != tt.status {
				t.Errorf("status %d, want %d (%s)", status, tt.status, body)
			}
			for _, w := range tt.wantInBody {
				if !strings.Contains(body, w) {
					t.Errorf("reply lacks %q:\n%s", w, body)
				}
			}
		})
	}
}

func TestNotWSMan(t *testing.T) {
	h := startHarness(t, Options{}, false)
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/wsman", 405},
		{http.MethodPost, "/other", 404},
	} {
		req, _ := http.NewRequest(tt.method, strings.Replace(h.ln.URL, "/wsman", tt.path, 1), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, resp.StatusCode, tt.status)
		}
	}
}

func TestHostPanicFailsCommand(t *testing.T) {
	h := startHarness(t, Options{}, false)
	c := h.client(clientConfig{})
	_, stderr, code, err := c.RunCmdWithContext(context.Background(), "panic")
	if err != nil || code != 1 || !strings.Contains(stderr, "host failed") {
		t.Errorf("got stderr %q exit %d err %v", stderr, code, err)
	}
}

func TestCloseCancelsCommands(t *testing.T) {
	h := startHarness(t, Options{}, false)
	shellID := createRaw(t, h)
	commandRaw(t, h, shellID, "block")
	waitFor(t, h.host.started, "the command to start")
	if err := h.ln.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, h.host.cancelled, "Close to cancel the command")
	if n := h.srv.OpenShells(); n != 0 {
		t.Errorf("%d shells open after Close", n)
	}
}

func TestLatency(t *testing.T) {
	h := startHarness(t, Options{Latency: 30 * time.Millisecond}, false)
	start := time.Now()
	createRaw(t, h)
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("a request took %v with 30ms of latency", d)
	}
}

var selectorRE = regexp.MustCompile(`<w:Selector Name="ShellId">([^<]+)</w:Selector>`)
var commandIDRE = regexp.MustCompile(`<rsp:CommandId>([^<]+)</rsp:CommandId>`)

func createRaw(t *testing.T, h *harness) string {
	t.Helper()
	status, body := h.post(envelope(actionCreate, "", `<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>`, ""))
	m := selectorRE.FindStringSubmatch(body)
	if status != 200 || m == nil {
		t.Fatalf("Create: %d %s", status, body)
	}
	return m[1]
}

func commandRaw(t *testing.T, h *harness, shellID, command string) string {
	t.Helper()
	status, body := h.post(envelope(actionCommand, shellID, `<rsp:CommandLine><rsp:Command>`+command+`</rsp:Command></rsp:CommandLine>`, ""))
	m := commandIDRE.FindStringSubmatch(body)
	if status != 200 || m == nil {
		t.Fatalf("Command: %d %s", status, body)
	}
	return m[1]
}
