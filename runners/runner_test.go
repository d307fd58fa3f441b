package runners

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exchops/exchops/lab/wsman"
)

const (
	labUser      = `MSGLAB\svc-exchops`
	labLocalUser = "labadmin"
	labPassword  = "Lab-Pa55-w0rd!x"
)

// labHost plays a Windows server for the runner: it decodes the PowerShell command line
// the way powershell.exe would and answers a few scripts, named by their first line.
type labHost struct {
	started chan string          // each script, as Exec starts it
	ctxs    chan context.Context // each Exec's context
	gate    chan struct{}        // "block" takes one token to finish

	mu        sync.Mutex
	active    int
	maxActive int
	lines     []string // command lines seen
}

func newLabHost() *labHost {
	return &labHost{
		started: make(chan string, 100),
		ctxs:    make(chan context.Context, 100),
		gate:    make(chan struct{}, 100),
	}
}

const okStdout = "Welcome to the Exchange Management Shell!\r\n\r\n" +
	"exchops:section copystatus\r\n" +
	"\"Name\",\"Status\",\"CopyQueueLength\"\r\n" +
	"\"MB01\\EX10-MB01\",\"Mounted\",\"0\"\r\n" +
	"WARNING: The replication network is slow.\r\n" +
	"\"MB01\\EX10-MB02\",\"Healthy\",\"12\"\r\n" +
	"exchops:section dag\r\n"

// scriptOf recovers the script from a command line, as powershell.exe would.
func scriptOf(command string, stdin io.Reader) (string, error) {
	if enc, ok := strings.CutPrefix(command, encodedPrefix); ok {
		return DecodeCommand(enc)
	}
	if command == stdinCommandLine {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return "", err
		}
		s, ok := strings.CutPrefix(string(b), "& {\r\n")
		if !ok {
			return "", errors.New("stdin does not start with & {")
		}
		s, ok = strings.CutSuffix(s, "}\r\n\r\n")
		if !ok {
			return "", errors.New("stdin does not end with } and a blank line")
		}
		return s, nil
	}
	return "", fmt.Errorf("not a PowerShell command line: %.60q", command)
}

func (h *labHost) Exec(ctx context.Context, user, command string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	h.mu.Lock()
	h.lines = append(h.lines, command)
	h.active++
	h.maxActive = max(h.maxActive, h.active)
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.active--
		h.mu.Unlock()
	}()
	script, err := scriptOf(command, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "lab host: %v\r\n", err)
		return 99
	}
	h.ctxs <- ctx
	h.started <- script
	name, _, _ := strings.Cut(script, "\r\n")
	switch name {
	case "ok":
		io.WriteString(stdout, okStdout)
		io.WriteString(stderr, "progress noise\r\n")
		return 0
	case "catch":
		io.WriteString(stderr, "Database MB09 was not found.\r\n")
		return 1
	case "uncaught":
		io.WriteString(stderr, "Get-MailboxDatabase : The specified mailbox database \"MB09\" does not exist.\r\nAt line:1 char:20\r\n+ Get-MailboxDatabase <<<<  MB09\r\n")
		return 1
	case "clixml":
		io.WriteString(stderr, clixmlSample)
		return 1
	case "silent":
		io.WriteString(stdout, "step 1 done\r\nstep 2 failed quietly\r\n")
		return 3
	case "password":
		io.WriteString(stderr, "login failed for "+labPassword+"\r\n")
		return 1
	case "badcsv":
		io.WriteString(stdout, "exchops:section s\r\n\"A\",\"B\"\r\n\"1\"\r\n")
		return 0
	case "echo":
		io.WriteString(stdout, script)
		return 0
	case "hang":
		<-ctx.Done()
		return 1
	case "slow": // a slow start: nothing for a while, then output
		t := time.NewTimer(300 * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return 1
		}
		io.WriteString(stdout, "exchops:section s\r\n\"A\"\r\n\"late\"\r\n")
		return 0
	case "block":
		select {
		case <-h.gate:
		case <-ctx.Done():
			return 1
		}
		io.WriteString(stdout, "released\r\n")
		return 0
	}
	fmt.Fprintf(stderr, "lab host: unknown script %q\r\n", name)
	return 98
}

type lab struct {
	srv  *wsman.Server
	ln   *wsman.Listener
	host *labHost
}

// startLab starts a WinRM server that accepts unencrypted HTTP (AllowUnencrypted), which
// most tests speak; startStrictLab one that refuses it, as Windows does by default.
func startLab(t *testing.T, opts wsman.Options, tlsOn bool) *lab {
	t.Helper()
	opts.AllowUnencrypted = true
	return startStrictLab(t, opts, tlsOn)
}

func startStrictLab(t *testing.T, opts wsman.Options, tlsOn bool) *lab {
	t.Helper()
	h := newLabHost()
	if opts.Users == nil {
		// WinRM takes Basic only for local accounts: the Basic cases use labLocalUser.
		opts.Users = map[string]string{labUser: labPassword, labLocalUser: labPassword}
	}
	srv := wsman.NewServer(h, opts)
	ln, _, err := wsman.Listen("127.0.0.1:0", tlsOn, srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &lab{srv: srv, ln: ln, host: h}
}

func (l *lab) endpoint(name string) Endpoint {
	return Endpoint{Name: name, Address: "127.0.0.1", Port: l.ln.Port(), HTTPS: l.ln.CertPEM != nil, CAPEM: l.ln.CertPEM,
		Auth: AuthNTLM, User: labUser, Password: labPassword, PasswordFrom: "WINRM_PASSWORD"}
}

func newRunner(t *testing.T, opts Options, eps ...Endpoint) *WinRM {
	t.Helper()
	w, err := New(eps, opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// waitFor polls cond until it holds, failing the test after 10 s. It is for states that
// other goroutines reach (a command started, runs queued), not for time to pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		<-tick.C
	}
}

func wantKind(t *testing.T, err error, kind Kind) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want an *Error of kind %s", err, err, kind)
	}
	if e.Kind != kind {
		t.Fatalf("kind = %q, want %q; error: %v", e.Kind, kind, err)
	}
	return e
}

// noSecret fails when the password appears anywhere in err's chain or formatting.
func noSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	var texts []string
	for e := err; e != nil; e = errors.Unwrap(e) {
		texts = append(texts, e.Error(), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e))
	}
	for _, s := range secrets {
		for _, text := range texts {
			if strings.Contains(text, s) {
				t.Fatalf("an error text holds the password: %q", strings.ReplaceAll(text, s, "<PASSWORD>"))
			}
		}
	}
}

func TestRunOutput(t *testing.T) {
	l := startLab(t, wsman.Options{}, false)
	for _, auth := range []Auth{AuthNTLM, AuthBasic} {
		t.Run(string(auth), func(t *testing.T) {
			ep := l.endpoint("EX10-MB01")
			ep.Auth, ep.AllowUnencrypted = auth, true
			if auth == AuthBasic {
				ep.User = labLocalUser
			}
			w := newRunner(t, Options{}, ep)
			res, err := w.Run(context.Background(), "ex10-mb01", "ok\r\n$ErrorActionPreference = 'Stop'")
			if err != nil {
				t.Fatal(err)
			}
			if res.Server != "EX10-MB01" || res.ExitCode != 0 || res.Stdout != okStdout || res.Stderr != "progress noise\r\n" {
				t.Fatalf("result = %+v", res)
			}
			if res.Started.IsZero() || res.Duration <= 0 {
				t.Fatalf("timing not recorded: %v %v", res.Started, res.Duration)
			}
			want := map[string][]map[string]string{
				"copystatus": {
					{"Name": `MB01\EX10-MB01`, "Status": "Mounted", "CopyQueueLength": "0"},
					{"Name": `MB01\EX10-MB02`, "Status": "Healthy", "CopyQueueLength": "12"},
				},
				"dag": {},
			}
			if got := res.Tables(); !reflect.DeepEqual(got, want) {
				t.Fatalf("tables = %v, want %v", got, want)
			}
			if !reflect.DeepEqual(res.Sections[0].Columns, []string{"Name", "Status", "CopyQueueLength"}) {
				t.Fatalf("columns = %q", res.Sections[0].Columns)
			}
			wantMsgs := []string{"Welcome to the Exchange Management Shell!", "WARNING: The replication network is slow."}
			if !reflect.DeepEqual(res.Messages, wantMsgs) {
				t.Fatalf("messages = %q, want %q", res.Messages, wantMsgs)
			}
			l.host.mu.Lock()
			line := l.host.lines[len(l.host.lines)-1]
			l.host.mu.Unlock()
			if !strings.HasPrefix(line, "powershell.exe -NoProfile -NonInteractive -EncodedCommand ") {
				t.Fatalf("command line = %q", line)
			}
			if n := l.srv.OpenShells(); n != 0 {
				t.Fatalf("%d shells left open", n)
			}
		})
	}
}

func TestRunScriptFailed(t *testing.T) {
	l := startLab(t, wsman.Options{}, false)
	w := newRunner(t, Options{}, l.endpoint("EX10-MB01"))
	tests := []struct {
		script string
		exit   int
		msg    string
	}{
		{"catch", 1, "EX10-MB01: the script failed (exit code 1): Database MB09 was not found."},
		{"uncaught", 1, `EX10-MB01: the script failed (exit code 1): Get-MailboxDatabase : The specified mailbox database "MB09" does not exist.`},
		{"clixml", 1, `EX10-MB01: the script failed (exit code 1): Get-MailboxDatabase : The specified mailbox database "MB09" does not exist.`},
		{"silent", 3, "EX10-MB01: the script failed (exit code 3): step 2 failed quietly"},
		{"password", 1, "EX10-MB01: the script failed (exit code 1): login failed for ********"},
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			res, err := w.Run(context.Background(), "EX10-MB01", tt.script)
			e := wantKind(t, err, ScriptFailed)
			if e.Msg != tt.msg || e.ExitCode != tt.exit || e.Server != "EX10-MB01" {
				t.Fatalf("error = %q (exit %d), want %q (exit %d)", e.Msg, e.ExitCode, tt.msg, tt.exit)
			}
			if res == nil || res.ExitCode != tt.exit {
				t.Fatalf("result = %+v, want exit code %d", res, tt.exit)
			}
			noSecret(t, err, labPassword)
		})
	}
}

func TestRunUnparsableOutput(t *testing.T) {
	l := startLab(t, wsman.Options{}, false)
	w := newRunner(t, Options{}, l.endpoint("EX10-MB01"))
	res, err := w.Run(context.Background(), "EX10-MB01", "badcsv")
	wantKind(t, err, Protocol)
	if !errors.Is(err, ErrMalformedOutput) || res == nil || res.Stdout == "" {
		t.Fatalf("err = %v, result = %+v", err, res)
	}
}

func TestRunUnknownServer(t *testing.T) {
	w := newRunner(t, Options{}, Endpoint{Name: "EX10-MB01", Address: "127.0.0.1", User: "u"})
	_, err := w.Run(context.Background(), "EX10-MB09", "ok")
	e := wantKind(t, err, Invalid)
	if !strings.Contains(e.Msg, "EX10-MB09") || !strings.Contains(e.Msg, "EX10-MB01") {
		t.Fatalf("message %q should name the server and the known ones", e.Msg)
	}
}

func TestRunTimeoutStopsCommand(t *testing.T) {
	l := startLab(t, wsman.Options{}, false)
	const limit = 300 * time.Millisecond
	w := newRunner(t, Options{Timeout: limit, StopGrace: 5 * time.Second}, l.endpoint("EX10-MB01"))
	start := time.Now()
	res, err := w.Run(context.Background(), "EX10-MB01", "hang")
	elapsed := time.Since(start)
	e := wantKind(t, err, Timeout)
	if elapsed < limit || elapsed > limit+5*time.Second {
		t.Fatalf("Run returned after %v, timeout %v", elapsed, limit)
	}
	if !strings.Contains(e.Msg, "within 300ms") || !strings.Contains(e.Msg, "stopped on the server") {
		t.Fatalf("message = %q", e.Msg)
	}
	if res == nil {
		t.Fatal("no result with the timeout")
	}
	hostCtx := <-l.host.ctxs
	if hostCtx.Err() == nil {
		t.Fatal("the remote command's context was not cancelled")
	}
	if n := l.srv.OpenShells(); n != 0 {
		t.Fatalf("%d shells left open", n)
	}
	if running, queued := w.Load("EX10-MB01"); running != 0 || queued != 0 {
		t.Fatalf("load after the run: %d running, %d queued", running, queued)
	}
}

func TestRunEndpointTimeoutOverrides(t *testing.T) {
	l := startLab(t, wsman.Options{}, false)
	ep := l.endpoint("EX10-MB01")
	ep.Timeout = 200 * time.Millisecond
	w := newRunner(t, Options{Timeout: time.Hour}, ep)
	_, err := w.Run(context.Background(), "EX10-MB01", "hang")
	if e := wantKind(t, err, Timeout); !strings.Contains(e.Msg, "within 200ms") {
		t.Fatalf("message = %q", e.Msg)
	}
}

func TestRunCancel(t *testing.T) {
	l := startLab(t, wsman.Options{}, false)
	w := newRunner(t, Options{}, l.endpoint("EX10-MB01"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := w.Run(ctx, "EX10-MB01", "hang")
		errc <- err
	}()
	hostCtx := <-l.host.ctxs
	cancel()
	e := wantKind(t, <-errc, Canceled)
	if !strings.Contains(e.Msg, "cancelled and was stopped on the server") {
		t.Fatalf("message = %q", e.Msg)
	}
	if hostCtx.Err() == nil {
		t.Fatal("the remote command's context was not cancelled")
	}
	if n := l.srv.OpenShells(); n != 0 {
		t.Fatalf("%d shells left open", n)
	}
}

func TestRunCancelledWhileQueued(t *testing.T) {
	l := startLab(t, wsman.Options{}, false)
	w := newRunner(t, Options{MaxPerServer: 1}, l.endpoint("EX10-MB01"))
	done := make(chan error, 1)
	go func() { _, err := w.Run(context.Background(), "EX10-MB01", "block"); done <- err }()
	<-l.host.started
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := w.Run(ctx, "EX10-MB01", "ok"); errc <- err }()
	waitFor(t, "the second run is queued", func() bool { _, q := w.Load("EX10-MB01"); return q == 1 })
	cancel()
	e := wantKind(t, <-errc, Canceled)
	if !strings.Contains(e.Msg, "nothing ran") {
		t.Fatalf("message = %q", e.Msg)
	}
	l.host.gate <- struct{}{}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestRunUnauthorized(t *testing.T) {
	l := startLab(t, wsman.Options{}, false)
	const wrong = "Wr0ng-Passw0rd-123"
	for _, auth := range []Auth{AuthNTLM, AuthBasic} {
		t.Run(string(auth), func(t *testing.T) {
			ep := l.endpoint("EX10-MB01")
			ep.Auth, ep.AllowUnencrypted, ep.Password = auth, true, wrong
			w := newRunner(t, Options{}, ep)
			_, err := w.Run(context.Background(), "EX10-MB01", "ok")
			e := wantKind(t, err, Unauthorized)
			want := `EX10-MB01: WinRM refused the credentials for MSGLAB\svc-exchops (HTTP 401): check the password in WINRM_PASSWORD and that the account may use WinRM`
			if !strings.HasPrefix(e.Msg, want) {
				t.Fatalf("message = %q, want it to start with %q", e.Msg, want)
			}
			noSecret(t, err, wrong, labPassword)
		})
	}
	t.Run("fault with good credentials", func(t *testing.T) {
		l.srv.SetFault(wsman.FaultUnauthorized)
		defer l.srv.SetFault(wsman.FaultNone)
		w := newRunner(t, Options{}, l.endpoint("EX10-MB01"))
		_, err := w.Run(context.Background(), "EX10-MB01", "ok")
		wantKind(t, err, Unauthorized)
		noSecret(t, err, labPassword)
	})
}

func TestRunUnreachable(t *testing.T) {
	t.Run("closed port", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		w := newRunner(t, Options{}, Endpoint{Name: "EX10-MB01", Address: "127.0.0.1", Port: port, User: labUser, Password: labPassword})
		start := time.Now()
		_, err = w.Run(context.Background(), "EX10-MB01", "ok")
		e := wantKind(t, err, Unreachable)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("took %v to find a closed port", d)
		}
		if !strings.Contains(e.Msg, fmt.Sprintf("http://127.0.0.1:%d/wsman", port)) || !strings.Contains(e.Msg, "firewall") {
			t.Fatalf("message = %q", e.Msg)
		}
		noSecret(t, err, labPassword)
	})
	t.Run("connection closed by the listener", func(t *testing.T) {
		l := startLab(t, wsman.Options{}, false)
		l.srv.SetFault(wsman.FaultUnreachable)
		w := newRunner(t, Options{}, l.endpoint("EX10-MB01"))
		_, err := w.Run(context.Background(), "EX10-MB01", "ok")
		wantKind(t, err, Unreachable)
	})
}

func TestRunProtocolFaults(t *testing.T) {
	for _, f := range []wsman.Fault{wsman.FaultHTTP500, wsman.FaultMalformed} {
		t.Run(f.String(), func(t *testing.T) {
			l := startLab(t, wsman.Options{}, false)
			l.srv.SetFault(f)
			w := newRunner(t, Options{}, l.endpoint("EX10-MB01"))
			_, err := w.Run(context.Background(), "EX10-MB01", "ok")
			e := wantKind(t, err, Protocol)
			if !strings.HasPrefix(e.Msg, "EX10-MB01: WinRM") || e.Op != "create shell" {
				t.Fatalf("error = %+v", e)
			}
			noSecret(t, err, labPassword)
		})
	}
}

func TestRunSlowStart(t *testing.T) {
	// The server answers each long poll after 50 ms with the OperationTimeout fault; the
	// client must keep asking until the output comes.
	l := startLab(t, wsman.Options{OperationTimeoutCap: 50 * time.Millisecond}, false)
	w := newRunner(t, Options{Timeout: 10 * time.Second}, l.endpoint("EX10-MB01"))
	res, err := w.Run(context.Background(), "EX10-MB01", "slow")
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Tables()["s"]; len(got) != 1 || got[0]["A"] != "late" {
		t.Fatalf("tables = %v", res.Tables())
	}
}

func TestRunTLS(t *testing.T) {
	l := startLab(t, wsman.Options{}, true)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, l.ln.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*Endpoint)
		kind Kind
	}{
		{"CA PEM", func(*Endpoint) {}, ""},
		{"CA file", func(e *Endpoint) { e.CAPEM, e.CAFile = nil, caFile }, ""},
		{"basic over HTTPS", func(e *Endpoint) { e.Auth, e.User = AuthBasic, labLocalUser }, ""},
		{"insecure", func(e *Endpoint) { e.CAPEM, e.Insecure = nil, true }, ""},
		{"untrusted certificate", func(e *Endpoint) { e.CAPEM = nil }, Unreachable},
		{"HTTP to an HTTPS port", func(e *Endpoint) { e.HTTPS = false }, Protocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := l.endpoint("EX10-MB01")
			tt.edit(&ep)
			w := newRunner(t, Options{}, ep)
			res, err := w.Run(context.Background(), "EX10-MB01", "ok")
			if tt.kind == "" {
				if err != nil || res.Stdout != okStdout {
					t.Fatalf("err = %v", err)
				}
				return
			}
			wantKind(t, err, tt.kind)
			noSecret(t, err, labPassword)
		})
	}
	t.Run("untrusted certificate message", func(t *testing.T) {
		ep := l.endpoint("EX10-MB01")
		ep.CAPEM = nil
		_, err := newRunner(t, Options{}, ep).Run(context.Background(), "EX10-MB01", "ok")
		if e := wantKind(t, err, Unreachable); !strings.Contains(e.Msg, "ca_file") {
			t.Fatalf("message = %q", e.Msg)
		}
	})
}

func TestRunConcurrencyBoundPerServer(t *testing.T) {
	l := startLab(t, wsman.Options{}, false)
	w := newRunner(t, Options{MaxPerServer: 2}, l.endpoint("EX10-MB01"))
	const runs = 5
	errc := make(chan error, runs)
	for range runs {
		go func() { _, err := w.Run(context.Background(), "EX10-MB01", "block"); errc <- err }()
	}
	waitFor(t, "2 commands run and 3 wait", func() bool {
		running, queued := w.Load("EX10-MB01")
		return running == 2 && queued == 3 && len(l.host.started) == 2
	})
	for range runs {
		l.host.gate <- struct{}{}
	}
	for range runs {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	l.host.mu.Lock()
	defer l.host.mu.Unlock()
	if l.host.maxActive != 2 {
		t.Fatalf("the host ran up to %d commands at once, want 2", l.host.maxActive)
	}
}

func TestRunBusyWhenShellQuotaIsUsed(t *testing.T) {
	l := startLab(t, wsman.Options{MaxShellsPerUser: 1}, false)
	w := newRunner(t, Options{MaxPerServer: 2}, l.endpoint("EX10-MB01"))
	done := make(chan error, 1)
	go func() { _, err := w.Run(context.Background(), "EX10-MB01", "block"); done <- err }()
	<-l.host.started
	_, err := w.Run(context.Background(), "EX10-MB01", "ok")
	if e := wantKind(t, err, Busy); !strings.Contains(e.Msg, "MaxShellsPerUser") {
		t.Fatalf("message = %q", e.Msg)
	}
	l.host.gate <- struct{}{}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestRunLockedSerialisesChanges(t *testing.T) {
	l := startLab(t, wsman.Options{}, false)
	w := newRunner(t, Options{MaxPerServer: 4}, l.endpoint("EX10-MB01"))
	errc := make(chan error, 2)
	for range 2 {
		go func() { _, err := w.RunLocked(context.Background(), "dag:E14-DAG", "EX10-MB01", "block"); errc <- err }()
	}
	<-l.host.started
	waitFor(t, "the second change waits for the lock", func() bool {
		w.locks.mu.Lock()
		defer w.locks.mu.Unlock()
		k := w.locks.locks["dag:E14-DAG"]
		return k != nil && k.refs == 2
	})
	if running, _ := w.Load("EX10-MB01"); running != 1 {
		t.Fatalf("%d commands running while one change holds the lock", running)
	}
	l.host.gate <- struct{}{}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	<-l.host.started
	l.host.gate <- struct{}{}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	l.host.mu.Lock()
	defer l.host.mu.Unlock()
	if l.host.maxActive != 1 {
		t.Fatalf("two changes under one key ran together (%d at once)", l.host.maxActive)
	}
	w.locks.mu.Lock()
	defer w.locks.mu.Unlock()
	if len(w.locks.locks) != 0 {
		t.Fatalf("lock entries left: %v", w.locks.locks)
	}
}

func TestRunLockedDifferentKeysRunTogether(t *testing.T) {
	l := startLab(t, wsman.Options{}, false)
	w := newRunner(t, Options{MaxPerServer: 4}, l.endpoint("EX10-MB01"))
	errc := make(chan error, 2)
	for _, key := range []string{"dag:E14-DAG", "nlb:client.msglab.local"} {
		go func() { _, err := w.RunLocked(context.Background(), key, "EX10-MB01", "block"); errc <- err }()
	}
	<-l.host.started
	<-l.host.started // both started while neither was released
	l.host.gate <- struct{}{}
	l.host.gate <- struct{}{}
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

func TestRunLongScriptOnStdin(t *testing.T) {
	l := startLab(t, wsman.Options{}, false)
	w := newRunner(t, Options{}, l.endpoint("EX10-MB01"))
	var b strings.Builder
	b.WriteString("echo\r\n\r\n")
	for i := range 2000 { // about 60 KB, several Send requests
		fmt.Fprintf(&b, "'line %d with some padding to make it longer'\r\n", i)
	}
	script := b.String()
	res, err := w.Run(context.Background(), "EX10-MB01", script)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(script, "echo\r\n\r\n", "echo\r\n", 1)
	if res.Stdout != want {
		t.Fatalf("the host received %d bytes of script, want %d", len(res.Stdout), len(want))
	}
	l.host.mu.Lock()
	defer l.host.mu.Unlock()
	if got := l.host.lines[len(l.host.lines)-1]; got != "powershell.exe -NoProfile -NonInteractive -Command -" {
		t.Fatalf("command line = %q", got)
	}
}

func TestRunEach(t *testing.T) {
	l1 := startLab(t, wsman.Options{}, false)
	l2 := startLab(t, wsman.Options{}, false)
	w := newRunner(t, Options{}, l1.endpoint("EX10-MB01"), l2.endpoint("EX10-MB02"))
	out := w.RunEach(context.Background(), []ServerScript{
		{Server: "EX10-MB01", Script: "ok"},
		{Server: "EX10-MB02", Script: "catch"},
		{Server: "EX10-MB09", Script: "ok"},
		{Server: "EX10-MB02", Script: "ok"},
	})
	if len(out) != 4 {
		t.Fatalf("%d outcomes", len(out))
	}
	if out[0].Err != nil || out[0].Result.Server != "EX10-MB01" {
		t.Fatalf("outcome 0 = %+v", out[0])
	}
	wantKind(t, out[1].Err, ScriptFailed)
	wantKind(t, out[2].Err, Invalid)
	if out[3].Err != nil || out[3].Result.Server != "EX10-MB02" {
		t.Fatalf("outcome 3 = %+v", out[3])
	}
}

func TestLock(t *testing.T) {
	w := newRunner(t, Options{})
	unlock, err := w.Lock(context.Background(), "dag:E14-DAG")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := w.Lock(ctx, "dag:E14-DAG"); KindOf(err) != Canceled {
		t.Fatalf("locking a held key with a cancelled context: %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if _, err := w.Lock(ctx, "dag:E14-DAG"); KindOf(err) != Timeout {
		t.Fatalf("locking a held key past a deadline: %v", err)
	}
	other, err := w.Lock(context.Background(), "dag:OTHER")
	if err != nil {
		t.Fatal(err)
	}
	other()
	unlock()
	unlock() // a second call does nothing
	again, err := w.Lock(context.Background(), "dag:E14-DAG")
	if err != nil {
		t.Fatal(err)
	}
	again()
	if len(w.locks.locks) != 0 {
		t.Fatalf("lock entries left: %v", w.locks.locks)
	}
}

func TestNewValidatesEndpoints(t *testing.T) {
	ok := Endpoint{Name: "EX10-MB01", Address: "ex10-mb01.msglab.local", HTTPS: true, User: labUser, Password: labPassword}
	tests := []struct {
		name string
		edit func(*Endpoint)
		want string
	}{
		{"no name", func(e *Endpoint) { e.Name = "" }, "no name"},
		{"no address", func(e *Endpoint) { e.Address = "" }, "no address"},
		{"bad port", func(e *Endpoint) { e.Port = 70000 }, "out of range"},
		{"basic over http", func(e *Endpoint) { e.Auth, e.HTTPS = AuthBasic, false }, "in clear"},
		{"ntlm-encrypted over https", func(e *Endpoint) { e.Auth = AuthNTLMEncrypted }, "over HTTPS use ntlm"},
		{"unknown auth", func(e *Endpoint) { e.Auth = "digest" }, "not one of"},
		{"no user", func(e *Endpoint) { e.User = "" }, "no user"},
		{"kerberos without realm", func(e *Endpoint) { e.Auth = AuthKerberos }, "realm"},
		{"missing CA file", func(e *Endpoint) { e.CAFile = "/nonexistent/ca.pem" }, "ca_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := ok
			tt.edit(&ep)
			_, err := New([]Endpoint{ep}, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
			noSecret(t, err, labPassword)
		})
	}
	t.Run("duplicate names", func(t *testing.T) {
		dup := ok
		dup.Name = "ex10-mb01"
		if _, err := New([]Endpoint{ok, dup}, Options{}); err == nil || !strings.Contains(err.Error(), "twice") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("valid auths", func(t *testing.T) {
		eps := []Endpoint{ok}
		for i, edit := range []func(*Endpoint){
			func(e *Endpoint) { e.Auth = AuthBasic },
			func(e *Endpoint) { e.Auth, e.HTTPS = AuthNTLMEncrypted, false },
			func(e *Endpoint) { e.Auth, e.Kerberos.Realm = AuthKerberos, "MSGLAB.LOCAL" },
		} {
			ep := ok
			ep.Name = fmt.Sprintf("S%d", i)
			edit(&ep)
			eps = append(eps, ep)
		}
		w, err := New(eps, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := w.Servers(); !reflect.DeepEqual(got, []string{"EX10-MB01", "S0", "S1", "S2"}) {
			t.Fatalf("Servers() = %q", got)
		}
		// Every auth method builds a client with its own transport.
		for _, s := range w.servers {
			c, err := s.newClient()
			if err != nil {
				t.Fatalf("%s: %v", s.ep.Name, err)
			}
			c.close()
		}
	})
}

func TestEndpointFormattingHidesPassword(t *testing.T) {
	ep := Endpoint{Name: "EX10-MB01", Address: "ex10-mb01", HTTPS: true, User: labUser, Password: labPassword}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(verb, ep); strings.Contains(s, labPassword) {
			t.Fatalf("%s shows the password: %s", verb, strings.ReplaceAll(s, labPassword, "<PASSWORD>"))
		}
	}
	if s := fmt.Sprintf("%v", []Endpoint{ep}); strings.Contains(s, labPassword) {
		t.Fatal("a slice of endpoints shows the password")
	}
	if got, want := ep.String(), `EX10-MB01 (https://ex10-mb01:5986/wsman, auth ntlm, user MSGLAB\svc-exchops)`; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}
