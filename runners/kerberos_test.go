package runners

import (
	"context"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exchops/exchops/internal/krbtest"
	"github.com/exchops/exchops/lab/kerberos"
	"github.com/exchops/exchops/lab/wsman"
)

// The WinRS runner with auth kerberos against a WS-Management server that validates real
// tickets from a real KDC (internal/krbtest) with the server's keytab (lab/kerberos).

const krbServer = "ex10-mb01.msglab.local"

// userHost records the account each command runs as: what the server made of the ticket.
type userHost struct {
	*labHost
	mu    sync.Mutex
	users []string
}

func (h *userHost) Exec(ctx context.Context, user, command string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	h.mu.Lock()
	h.users = append(h.users, user)
	h.mu.Unlock()
	return h.labHost.Exec(ctx, user, command, args, stdin, stdout, stderr)
}

func (h *userHost) lastUser() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.users) == 0 {
		return ""
	}
	return h.users[len(h.users)-1]
}

type krbLab struct {
	kdc  *krbtest.KDC
	srv  *wsman.Server
	ln   *wsman.Listener
	host *userHost
}

// startKrbLab serves EX10-MB01 accepting Kerberos for HTTP/ex10-mb01.msglab.local (and
// NTLM/Basic for the lab's password, which these tests do not use).
func startKrbLab(t *testing.T, tlsOn bool) *krbLab {
	t.Helper()
	k := krbtest.Start(t)
	kt, err := kerberos.LoadKeytab(k.Keytab)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := kerberos.New(kerberos.Config{Keytab: kt, SPNs: []string{krbtest.SPN(krbServer)}})
	if err != nil {
		t.Fatal(err)
	}
	h := &userHost{labHost: newLabHost()}
	srv := wsman.NewServer(h, wsman.Options{Users: map[string]string{labUser: labPassword}, Kerberos: acc})
	t.Cleanup(func() { srv.Close() })
	ln, _, err := wsman.Listen("127.0.0.1:0", tlsOn, srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &krbLab{kdc: k, srv: srv, ln: ln, host: h}
}

func (l *krbLab) endpoint() Endpoint {
	return Endpoint{Name: "EX10-MB01", Address: "127.0.0.1", Port: l.ln.Port(),
		HTTPS: l.ln.CertPEM != nil, CAPEM: l.ln.CertPEM, AllowUnencrypted: l.ln.CertPEM == nil,
		Auth: AuthKerberos, User: labUser, Password: l.kdc.Password, PasswordFrom: "WINRM_PASSWORD",
		Kerberos: Kerberos{Realm: l.kdc.Realm, ConfigPath: l.kdc.Config, SPN: krbtest.SPN(krbServer)}}
}

// TestKerberosRun: the runner gets tickets for HTTP/<fqdn> from the KDC and the server
// runs the script as the ticket's client, over HTTP and HTTPS, with a password in each
// way an account is written, and from a kinit credential cache.
func TestKerberosRun(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		name := "http"
		if tlsOn {
			name = "https"
		}
		t.Run(name, func(t *testing.T) {
			l := startKrbLab(t, tlsOn)
			cases := []struct {
				name string
				edit func(*Endpoint)
			}{
				{`MSGLAB\svc-exchops`, func(*Endpoint) {}},
				{"svc-exchops", func(e *Endpoint) { e.User = "svc-exchops" }},
				{"svc-exchops@MSGLAB.LOCAL", func(e *Endpoint) { e.User = "svc-exchops@MSGLAB.LOCAL" }},
				{"ccache", func(e *Endpoint) {
					e.User, e.Password, e.Kerberos.CCachePath = "", "", l.kdc.Kinit(t)
				}},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					ep := l.endpoint()
					tc.edit(&ep)
					w := newRunner(t, Options{}, ep)
					res, err := w.Run(context.Background(), "EX10-MB01", "ok")
					if err != nil {
						t.Fatalf("Run: %v\nKDC log:\n%s", err, l.kdc.Log())
					}
					if res.Stdout != okStdout || res.ExitCode != 0 {
						t.Fatalf("result %+v", res)
					}
					if got := l.host.lastUser(); !strings.EqualFold(got, labUser) {
						t.Errorf("the script ran as %q, want %s", got, labUser)
					}
				})
			}
			if !strings.Contains(l.kdc.Log(), "svc-exchops@MSGLAB.LOCAL for HTTP/ex10-mb01.msglab.local@MSGLAB.LOCAL") {
				t.Errorf("the KDC issued no ticket for HTTP/%s:\n%s", krbServer, l.kdc.Log())
			}
		})
	}
}

// TestKerberosRefused: what goes wrong with Kerberos reaches the operator as an error
// naming the cause, never with the password.
func TestKerberosRefused(t *testing.T) {
	l := startKrbLab(t, true)
	cases := []struct {
		name string
		edit func(*Endpoint)
		kind Kind
		want string
	}{
		{"wrong password", func(e *Endpoint) { e.Password = "Wr0ng-Passw0rd-123" }, Unauthorized, "KDC_ERR_PREAUTH_FAILED"},
		{"unknown account", func(e *Endpoint) { e.User = `MSGLAB\nobody` }, Unauthorized, "KDC_ERR_C_PRINCIPAL_UNKNOWN"},
		{"SPN not registered", func(e *Endpoint) { e.Kerberos.SPN = "HTTP/ex10-mb09.msglab.local" }, Unauthorized, "KDC_ERR_S_PRINCIPAL_UNKNOWN"},
		{"IP address as SPN", func(e *Endpoint) { e.Kerberos.SPN = "" }, Unauthorized, "HTTP/127.0.0.1"},
		// A ticket the KDC issues for another server: this one cannot use it.
		{"ticket for another server", func(e *Endpoint) { e.Kerberos.SPN = krbtest.SPN("ex10-mb02.msglab.local") }, Unauthorized, "HTTP 401"},
		{"no krb5.conf", func(e *Endpoint) { e.Kerberos.ConfigPath = "/nonexistent/krb5.conf" }, Unauthorized, "/nonexistent/krb5.conf"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ep := l.endpoint()
			tc.edit(&ep)
			w := newRunner(t, Options{}, ep)
			_, err := w.Run(context.Background(), "EX10-MB01", "ok")
			if err == nil {
				t.Fatal("Run succeeded")
			}
			if tc.kind != "" {
				wantKind(t, err, tc.kind)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			noSecret(t, err, l.kdc.Password, "Wr0ng-Passw0rd-123")
		})
	}
	t.Run("KDC down", func(t *testing.T) {
		l.kdc.Stop()
		_, err := newRunner(t, Options{}, l.endpoint()).Run(context.Background(), "EX10-MB01", "ok")
		if err == nil || !strings.Contains(err.Error(), "KDC") {
			t.Fatalf("Run with the KDC down: %v", err)
		}
		wantKind(t, err, Unauthorized)
		noSecret(t, err, l.kdc.Password)
	})
}

// TestKerberosOverHTTPNeedsAllowUnencrypted: the WinRM client cannot encrypt Kerberos
// messages, and a real WinRM refuses them in clear on port 5985.
func TestKerberosOverHTTPNeedsAllowUnencrypted(t *testing.T) {
	ep := Endpoint{Name: "EX10-MB01", Address: krbServer, Auth: AuthKerberos, User: labUser,
		Password: "x", Kerberos: Kerberos{Realm: "MSGLAB.LOCAL"}}
	if _, err := New([]Endpoint{ep}, Options{}); err == nil || !strings.Contains(err.Error(), "kerberos over HTTP") {
		t.Fatalf("New: %v, want a refusal of kerberos over HTTP", err)
	}
	ep.HTTPS = true
	if _, err := New([]Endpoint{ep}, Options{}); err != nil {
		t.Fatalf("kerberos over HTTPS: %v", err)
	}
}

func TestKerberosUser(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`MSGLAB\svc-exchops`, "svc-exchops"},
		{"svc-exchops@msglab.local", "svc-exchops"},
		{"svc-exchops", "svc-exchops"},
		{"", ""},
	} {
		if got := kerberosUser(tc.in); got != tc.want {
			t.Errorf("kerberosUser(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestKerberosLogsInOncePerServer: WinRS requests to a server share one Kerberos
// login and one service ticket, however many commands run (each command is several
// requests), and Close ends the login. masterzen/winrm's own transporter logged in
// for every request and never let go of the client.
func TestKerberosLogsInOncePerServer(t *testing.T) {
	l := startKrbLab(t, true)
	before := runtime.NumGoroutine()
	w := newRunner(t, Options{}, l.endpoint())
	for range 5 {
		if _, err := w.Run(context.Background(), "EX10-MB01", "ok"); err != nil {
			t.Fatalf("Run: %v\nKDC log:\n%s", err, l.kdc.Log())
		}
	}
	if n := l.kdc.Issued("AS_REQ"); n != 1 {
		t.Errorf("%d logins (AS exchanges) for five commands, want 1", n)
	}
	if n := l.kdc.Issued("TGS_REQ"); n != 1 {
		t.Errorf("%d service tickets for five commands on one server, want 1", n)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Nothing of the login is left running (gokrb5's renewal ends with the client).
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Errorf("%d goroutines after Close, %d before the runner", n, before)
	}
}
