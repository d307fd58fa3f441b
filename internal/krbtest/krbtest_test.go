package krbtest

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

func login(t *testing.T, k *KDC, user, password string) (*client.Client, error) {
	t.Helper()
	cfg, err := config.Load(k.Config)
	if err != nil {
		t.Fatalf("the KDC's krb5.conf does not load: %v", err)
	}
	cl := client.NewWithPassword(user, k.Realm, password, cfg, client.DisablePAFXFAST(true))
	return cl, cl.Login()
}

// TestKDCIssuesServiceTickets: the service account logs in with its password (after the
// PREAUTH_REQUIRED round), gets a ticket for each lab server, and the keytab decrypts it.
func TestKDCIssuesServiceTickets(t *testing.T) {
	start := time.Now()
	k := Start(t)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the KDC took %v to start; it should take well under 3 s", d)
	}
	if !strings.HasPrefix(k.Addr, "127.0.0.1:") {
		t.Errorf("the KDC listens on %s, want loopback", k.Addr)
	}
	cl, err := login(t, k, k.User, k.Password)
	if err != nil {
		t.Fatalf("login as %s: %v\nKDC log:\n%s", k.User, err, k.Log())
	}
	defer cl.Destroy()
	kt, err := keytab.Load(k.Keytab)
	if err != nil {
		t.Fatalf("the keytab does not load: %v", err)
	}
	if strings.Contains(k.Log(), "(Error)") {
		t.Errorf("the KDC logged an error:\n%s", k.Log())
	}
	for _, h := range LabHosts {
		tkt, _, err := cl.GetServiceTicket(SPN(h))
		if err != nil {
			t.Fatalf("service ticket for %s: %v", SPN(h), err)
		}
		if err := tkt.DecryptEncPart(kt, nil); err != nil {
			t.Errorf("the keytab does not decrypt the ticket for %s: %v", SPN(h), err)
		}
		if got := tkt.DecryptedEncPart.CName.PrincipalNameString(); got != User {
			t.Errorf("ticket for %s names client %q, want %q", h, got, User)
		}
	}
}

func TestKDCRefusesWrongPasswordAndStops(t *testing.T) {
	k := Start(t, "ex10-mb01.msglab.local")
	if _, err := login(t, k, k.User, "not-the-password"); err == nil {
		t.Fatal("login with a wrong password succeeded")
	} else if strings.Contains(err.Error(), k.Password) {
		t.Fatal("the error shows the real password")
	}
	if err := k.AddUser("alice", "Alice-Passw0rd"); err != nil {
		t.Fatal(err)
	}
	if _, err := login(t, k, "alice", "Alice-Passw0rd"); err != nil {
		t.Fatalf("a user added later cannot log in: %v", err)
	}
	if err := k.Kadmin("addprinc -pw x alice"); err == nil {
		t.Error("adding an existing principal did not report an error")
	}
	k.Stop()
	k.Stop()
	if _, err := login(t, k, k.User, k.Password); err == nil {
		t.Fatal("login succeeded after the KDC stopped")
	}
}

func TestKinitWritesCCache(t *testing.T) {
	k := Start(t, "ex10-mb01.msglab.local")
	path := k.Kinit(t)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cc credentials.CCache
	if err := cc.Unmarshal(b); err != nil {
		t.Fatalf("kinit's ccache does not parse: %v", err)
	}
	if got := cc.DefaultPrincipal.PrincipalName.PrincipalNameString(); got != User {
		t.Errorf("ccache principal %q, want %q", got, User)
	}
}

func TestRedactPasswordArg(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"addprinc -pw s3cret alice", "addprinc -pw *** alice"},
		{"addprinc -randkey HTTP/x", "addprinc -randkey HTTP/x"},
		{"-pw", "-pw"},
	} {
		if got := redactPasswordArg(tc.in); got != tc.want {
			t.Errorf("redactPasswordArg(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestStartSkipsWithoutTheKDC: on a machine without MIT's programs (and CI unset) the test
// is skipped with the command that installs them.
func TestStartSkipsWithoutTheKDC(t *testing.T) {
	saved := kdcBinaries
	kdcBinaries = []string{"no-such-krb5kdc"}
	t.Cleanup(func() { kdcBinaries = saved })
	t.Setenv("CI", "")
	var skipped bool
	t.Run("inner", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		Start(t)
	})
	if !skipped {
		t.Fatal("Start did not skip without krb5kdc")
	}
	if _, err := findBinaries([]string{"no-such-krb5kdc"}); err == nil || !strings.Contains(err.Error(), "no-such-krb5kdc not found") {
		t.Errorf("findBinaries: %v", err)
	}
}
