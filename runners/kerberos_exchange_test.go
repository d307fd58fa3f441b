package runners_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/krbtest"
	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/runners"
)

// TestKerberosExchangeEndpoint: the Exchange endpoint's default authentication. With a
// real KDC up and the lab accepting tickets for HTTP/<fqdn>, the runner's PowerShell
// Remoting client opens a session on https://<CAS>/PowerShell/ with Kerberos and runs
// an Exchange read; a ticket for another server is refused.
func TestKerberosExchangeEndpoint(t *testing.T) {
	k := krbtest.Start(t)
	l, err := lab.Start(lab.Options{TLS: true, KerberosKeytab: k.Keytab})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	cas := l.Endpoint("EX10-CAHT")
	if cas == nil || cas.PowerShellURL == "" {
		t.Fatal("the lab has no Exchange endpoint on EX10-CAHT")
	}
	endpoint := func(spn string) runners.Endpoint {
		return runners.Endpoint{Name: "EX10-CAHT", Exchange: &runners.ExchangeEndpoint{
			URL: cas.PowerShellURL, Auth: runners.AuthKerberos, User: lab.DefaultUser, Password: k.Password,
			PasswordFrom: "EXCHANGE_PASSWORD", CAPEM: cas.CertPEM,
			Kerberos: runners.Kerberos{Realm: k.Realm, ConfigPath: k.Config, SPN: spn}}}
	}
	servers := commands.Call{Pipeline: []commands.Cmd{commands.C("Get-ExchangeServer")}, Section: "servers", Columns: []string{"Name", "AdminDisplayVersion"}}
	step := commands.Step{Target: "EX10-CAHT", Calls: []commands.Call{servers}, Script: commands.RenderCalls([]commands.Call{servers}), Purpose: "test"}
	run := func(t *testing.T, ep runners.Endpoint) (*runners.Result, error) {
		t.Helper()
		r, err := runners.New([]runners.Endpoint{ep}, runners.Options{Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = r.Close(ctx)
		})
		return r.RunStep(context.Background(), step, nil)
	}

	t.Run("own SPN", func(t *testing.T) {
		res, err := run(t, endpoint(krbtest.SPN("ex10-caht.msglab.local")))
		if err != nil {
			t.Fatalf("RunStep: %v\nKDC log:\n%s", err, k.Log())
		}
		names := map[string]bool{}
		for _, row := range res.Tables()["servers"] {
			names[row["Name"]] = true
			if !strings.HasPrefix(row["AdminDisplayVersion"], "Version 14") {
				t.Errorf("server row %v: want an Exchange 2010 version", row)
			}
		}
		if !names["EX10-MB01"] || !names["EX10-CAHT"] {
			t.Errorf("Get-ExchangeServer over Kerberos returned %v", res.Tables()["servers"])
		}
		if !strings.Contains(k.Log(), "for HTTP/ex10-caht.msglab.local@MSGLAB.LOCAL") {
			t.Errorf("the KDC issued no ticket for HTTP/ex10-caht.msglab.local:\n%s", k.Log())
		}
		// A session is several HTTP requests (Create, Command, Receive, Signal); the
		// client logs in and gets the service ticket once, not for each of them.
		if n := k.Issued("AS_REQ"); n != 1 {
			t.Errorf("%d logins (AS exchanges) for one step, want 1", n)
		}
		if n := k.Issued("TGS_REQ"); n != 1 {
			t.Errorf("%d service tickets (TGS exchanges) for one step, want 1", n)
		}
	})
	t.Run("kinit ccache", func(t *testing.T) {
		ep := endpoint(krbtest.SPN("ex10-caht.msglab.local"))
		ep.Exchange.User, ep.Exchange.Password, ep.Exchange.Kerberos.CCachePath = "", "", k.Kinit(t)
		res, err := run(t, ep)
		if err != nil {
			t.Fatalf("RunStep with a ccache: %v", err)
		}
		if len(res.Tables()["servers"]) == 0 {
			t.Errorf("no servers: %+v", res)
		}
	})
	t.Run("another server's SPN", func(t *testing.T) {
		_, err := run(t, endpoint(krbtest.SPN("ex10-mb01.msglab.local")))
		if runners.KindOf(err) != runners.Unauthorized {
			t.Fatalf("RunStep with a ticket for EX10-MB01: %v, want unauthorized", err)
		}
		if strings.Contains(err.Error(), k.Password) {
			t.Fatal("the error shows the password")
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		ep := endpoint(krbtest.SPN("ex10-caht.msglab.local"))
		ep.Exchange.Password = "Wr0ng-Passw0rd-123"
		_, err := run(t, ep)
		if err == nil || !strings.Contains(err.Error(), "KDC_ERR_PREAUTH_FAILED") {
			t.Fatalf("RunStep with a wrong password: %v", err)
		}
		if strings.Contains(err.Error(), "Wr0ng-Passw0rd-123") {
			t.Fatal("the error shows the password")
		}
	})
}
