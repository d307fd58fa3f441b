package runners_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/internal/labtest"
	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/lab/wsman"
	"github.com/exchops/exchops/runners"
)

// These run the runner against the lab's own Exchange endpoint: its WS-Management
// listener serving /PowerShell/ over HTTPS, with its faults.

// labExchange is one Exchange server of the lab behind the lab's WS-Management
// listener, which serves its /PowerShell/ endpoint.
type labExchange struct {
	org      *lab.Org
	srv      *wsman.Server
	password string
}

func (l *labExchange) SetFault(f string) error {
	fault, err := wsman.ParseFault(f)
	if err != nil {
		return err
	}
	l.srv.SetFault(fault)
	return nil
}

type nopHost struct{}

func (nopHost) Exec(ctx context.Context, user, command string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return 1
}

func startLabExchange(t *testing.T) (*labExchange, *runners.WinRM, *shellLog) {
	t.Helper()
	org := lab.New(clock.Real{})
	ep, err := lab.NewExchangeEndpoint(org, "EX10-CAHT")
	if err != nil {
		t.Fatal(err)
	}
	srv := wsman.NewServer(nopHost{}, wsman.Options{Users: map[string]string{lab.DefaultUser: lab.DefaultPassword},
		OperationTimeoutCap: 300 * time.Millisecond, Machine: "EX10-CAHT", Domain: lab.DomainNB, Exchange: ep})
	ln, url, err := wsman.Listen("127.0.0.1:0", true, srv, "ex10-caht.msglab.local", "EX10-CAHT")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close(); srv.Close() })
	log := &shellLog{}
	r, err := runners.New([]runners.Endpoint{{Name: "EX10-CAHT", Exchange: &runners.ExchangeEndpoint{
		URL: strings.TrimSuffix(url, "/wsman") + "/PowerShell/", Auth: runners.AuthBasic, User: lab.DefaultUser, Password: lab.DefaultPassword, CAPEM: ln.CertPEM}}},
		runners.Options{Shells: log, OperationTimeout: 2 * time.Second, ReplySlack: time.Second, StopGrace: 2 * time.Second, ConnectTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		if n := log.count(); n != 0 {
			t.Errorf("%d shells left open after Close", n)
		}
	})
	return &labExchange{org: org, srv: srv, password: lab.DefaultPassword}, r, log
}

func labStep(calls ...commands.Call) commands.Step {
	return commands.Step{Target: "EX10-CAHT", Calls: calls, Script: commands.RenderCalls(calls), Purpose: "read"}
}

var (
	labDatabases = commands.Call{Pipeline: []commands.Cmd{commands.C("Get-MailboxDatabase")}, Section: "databases",
		Columns: []string{"Name", "Server", "*Servers", "*ActivationPreference", "CircularLoggingEnabled", "RpcClientAccessServer"}}
	labServers = commands.Call{Pipeline: []commands.Cmd{commands.C("Get-ExchangeServer")}, Section: "servers",
		Columns: []string{"Name", "Fqdn", "*ServerRole", "Site", "AdminDisplayVersion"}}
)

func TestExchangeAgainstTheLabEndpoint(t *testing.T) {
	_, r, log := startLabExchange(t)
	res, err := r.RunStep(context.Background(), labStep(labDatabases, labServers), nil)
	if err != nil {
		t.Fatal(err)
	}
	tables := res.Tables()
	if len(tables["servers"]) < 3 {
		t.Fatalf("servers %v", tables["servers"])
	}
	for _, row := range tables["servers"] {
		if row["Name"] == "" || !strings.HasSuffix(strings.ToLower(row["Fqdn"]), ".msglab.local") || !strings.HasPrefix(row["AdminDisplayVersion"], "Version 14") {
			t.Errorf("server row %v", row)
		}
	}
	for _, row := range tables["databases"] {
		if row["Name"] == "" || row["Server"] == "" || strings.Contains(row["Servers"], "System.") {
			t.Errorf("database row %v", row)
		}
	}
	if _, err := r.RunStep(context.Background(), labStep(labServers), nil); err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	opened := strings.Count(strings.Join(log.events, " "), "opened")
	log.mu.Unlock()
	if opened != 1 {
		t.Errorf("%d sessions opened for two steps, want 1 (events %v)", opened, log.events)
	}
}

func TestExchangeLabFaults(t *testing.T) {
	for _, tc := range []struct {
		fault    string
		kind     runners.Kind
		contains string
		warm     bool // open the session before the fault
	}{
		{fault: "unreachable", kind: runners.Unreachable, contains: "cannot reach the Exchange endpoint"},
		{fault: "http500", kind: runners.Protocol, contains: "HTTP 500"},
		{fault: "unauthorized", kind: runners.Unauthorized, contains: "refused the credentials"},
		{fault: "malformed", kind: runners.Protocol, contains: "could not be understood"},
		{fault: "clixml", kind: runners.Protocol, contains: "could not be read", warm: true},
		// A session dropped between commands: the Command is refused before anything
		// runs, so the runner opens a new session and the call succeeds.
		{fault: "dropshells", warm: true},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			l, r, _ := startLabExchange(t)
			if tc.warm {
				if _, err := r.RunStep(context.Background(), labStep(labServers), nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.SetFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			_, err := r.RunStep(ctx, labStep(labServers), nil)
			if time.Since(start) > 10*time.Second {
				t.Errorf("the fault took %s to report", time.Since(start))
			}
			if tc.kind == "" {
				if err != nil {
					t.Fatalf("after %s: %v", tc.fault, err)
				}
			} else {
				if runners.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.contains) {
					t.Fatalf("err = %v (kind %q), want kind %q saying %q", err, runners.KindOf(err), tc.kind, tc.contains)
				}
				if strings.Contains(err.Error(), l.password) {
					t.Error("the error holds the password")
				}
			}
			if err := l.SetFault("none"); err != nil {
				t.Fatal(err)
			}
			if _, err := r.RunStep(ctx, labStep(labServers), nil); err != nil {
				t.Errorf("after the fault: %v", err)
			}
		})
	}
}

func TestDeleteShellLeftOpen(t *testing.T) {
	l, r, log := startLabExchange(t)
	if _, err := r.RunStep(context.Background(), labStep(labServers), nil); err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	var id string
	for k := range log.open {
		id = k
	}
	log.mu.Unlock()
	// As start-up recovery would: delete the shell by its id, then again (already gone).
	for i := 0; i < 2; i++ {
		if err := r.DeleteShell(context.Background(), "EX10-CAHT", runners.ExchangeResourceURI, id); err != nil {
			t.Fatalf("DeleteShell #%d: %v", i+1, err)
		}
	}
	if n := log.count(); n != 0 {
		t.Errorf("%d shells still logged open", n)
	}
	_ = l
}

// The lab's hang fault wedges Exchange pipelines: the command's timeout stops it on the
// server, within the timeout and the stop's grace, and the session stays usable.
func TestExchangeHangInTheLab(t *testing.T) {
	l, r := labtest.Start(t, lab.Options{OperationTimeoutCap: 300 * time.Millisecond},
		runners.Options{Timeout: time.Second, StopGrace: 2 * time.Second, OperationTimeout: time.Second, ReplySlack: time.Second})
	if err := l.SetFault("EX10-CAHT", "hang"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := r.RunStep(context.Background(), labStep(labServers), nil)
	if runners.KindOf(err) != runners.Timeout || !strings.Contains(err.Error(), "stopped on the server") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("a hung pipeline took %s to give up", d)
	}
	if err := l.SetFault("EX10-CAHT", "none"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.RunStep(context.Background(), labStep(labServers), nil); err != nil {
		t.Fatalf("after the hang: %v", err)
	}
}
