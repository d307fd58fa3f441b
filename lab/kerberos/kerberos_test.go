package kerberos

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/spnego"

	"github.com/exchops/exchops/internal/krbtest"
	"github.com/exchops/exchops/lab/wsman"
)

var _ wsman.KerberosAcceptor = (*Acceptor)(nil)

const (
	mb01 = "ex10-mb01.msglab.local"
	mb02 = "ex10-mb02.msglab.local"
)

// realm is a KDC with the lab's principals, a client logged in as the service account,
// and an acceptor for EX10-MB01.
type realm struct {
	kdc *krbtest.KDC
	kt  *keytab.Keytab
	cl  *client.Client
	acc *Acceptor
}

func newRealm(t *testing.T) *realm {
	t.Helper()
	k := krbtest.Start(t)
	kt, err := LoadKeytab(k.Keytab)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	cl := client.NewWithPassword(k.User, k.Realm, k.Password, cfg, client.DisablePAFXFAST(true))
	if err := cl.Login(); err != nil {
		t.Fatalf("login: %v\n%s", err, k.Log())
	}
	t.Cleanup(cl.Destroy)
	acc, err := New(Config{Keytab: kt, SPNs: []string{krbtest.SPN(mb01)}})
	if err != nil {
		t.Fatal(err)
	}
	return &realm{kdc: k, kt: kt, cl: cl, acc: acc}
}

// TestAcceptValidTickets: tickets from the real KDC validate in every form a client
// sends, and an AP-REP comes back exactly when mutual authentication is asked for.
func TestAcceptValidTickets(t *testing.T) {
	r := newRealm(t)
	for _, tc := range []struct {
		name string
		spec tokenSpec
	}{
		{"spnego", tokenSpec{}},
		{"spnego mutual", tokenSpec{mutual: true}},
		{"spnego windows mech list, mutual", tokenSpec{mutual: true, msMech: true}},
		{"raw kerberos", tokenSpec{raw: true}},
		{"raw kerberos mutual", tokenSpec{raw: true, mutual: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, req, key := clientToken(t, r.cl, krbtest.SPN(mb01), tc.spec)
			user, resp, err := r.acc.Accept(tok)
			if err != nil {
				t.Fatalf("Accept: %v", err)
			}
			if user != `MSGLAB\svc-exchops` {
				t.Errorf("user %q, want MSGLAB\\svc-exchops", user)
			}
			if !tc.spec.mutual {
				if resp != nil {
					t.Errorf("a response token (%d bytes) without mutual authentication", len(resp))
				}
				return
			}
			rep := resp
			if !tc.spec.raw {
				var nt spnego.NegTokenResp
				if err := nt.Unmarshal(resp); err != nil {
					t.Fatalf("the response is not an SPNEGO NegTokenResp: %v", err)
				}
				if nt.State() != spnego.NegStateAcceptCompleted {
					t.Errorf("negState %v, want accept-completed", nt.State())
				}
				want := "1.2.840.113554.1.2.2"
				if tc.spec.msMech {
					want = "1.2.840.48018.1.2.2"
				}
				if nt.SupportedMech.String() != want {
					t.Errorf("supportedMech %v, want the client's first Kerberos mech %s", nt.SupportedMech, want)
				}
				rep = nt.ResponseToken
			}
			enc := decodeAPRep(t, rep, key)
			if !enc.CTime.Equal(req.Authenticator.CTime.Truncate(time.Second)) || enc.Cusec != req.Authenticator.Cusec {
				t.Errorf("AP-REP time %v.%06d, want the authenticator's %v.%06d", enc.CTime, enc.Cusec, req.Authenticator.CTime, req.Authenticator.Cusec)
			}
		})
	}
}

// TestAcceptRefuses: what a server must not accept, each with a message that says why.
func TestAcceptRefuses(t *testing.T) {
	r := newRealm(t)
	otherSPN, _, _ := clientToken(t, r.cl, krbtest.SPN(mb02), tokenSpec{})
	now := time.Now()
	expired := forgedToken(t, r.kt, krbtest.SPN(mb01), krbtest.Realm, 2, now.Add(-10*time.Hour), now.Add(-time.Hour), tokenSpec{})
	future := forgedToken(t, r.kt, krbtest.SPN(mb01), krbtest.Realm, 2, now.Add(time.Hour), now.Add(2*time.Hour), tokenSpec{})
	skewed, _, _ := clientToken(t, r.cl, krbtest.SPN(mb01), tokenSpec{ctime: now.Add(-10 * time.Minute)})
	ntlmOnly := []byte{0x60, 0x28, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02, 0xa0, 0x1e, 0x30, 0x1c, 0xa0, 0x0e, 0x30, 0x0c, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a, 0xa2, 0x0a, 0x04, 0x08, 'N', 'T', 'L', 'M', 'S', 'S', 'P', 0}
	for _, tc := range []struct {
		name  string
		token []byte
		want  string
	}{
		{"empty", nil, "empty token"},
		{"garbage", []byte("this is not a token"), "not a GSS-API token"},
		{"ntlm negotiate", append([]byte("NTLMSSP\x00\x01\x00\x00\x00"), make([]byte, 28)...), "not a GSS-API token"},
		{"spnego offering only ntlm", ntlmOnly, "no Kerberos mechanism"},
		{"spnego continuation", []byte{0xa1, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x0a, 0x01, 0x01}, "continuation"},
		{"truncated", otherSPN[:len(otherSPN)/2], "kerberos:"},
		{"ticket for another server", otherSPN, "wrong SPN"},
		{"expired ticket", expired, "validity period"},
		{"ticket not yet valid", future, "validity period"},
		{"client clock 10 minutes slow", skewed, "clock"},
		{"too large", make([]byte, maxToken+1), "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user, resp, err := r.acc.Accept(tc.token)
			if err == nil {
				t.Fatalf("accepted as %q", user)
			}
			if user != "" || resp != nil {
				t.Errorf("a refusal returned user %q and %d response bytes", user, len(resp))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), r.kdc.Password) {
				t.Error("the error shows the password")
			}
		})
	}
}

// TestAcceptRefusesReplay: the same token twice is a replay, whichever form it has.
func TestAcceptRefusesReplay(t *testing.T) {
	r := newRealm(t)
	for _, spec := range []tokenSpec{{}, {raw: true, mutual: true}} {
		tok, _, _ := clientToken(t, r.cl, krbtest.SPN(mb01), spec)
		if _, _, err := r.acc.Accept(tok); err != nil {
			t.Fatalf("first use: %v", err)
		}
		_, _, err := r.acc.Accept(tok)
		if err == nil || !strings.Contains(err.Error(), "replayed") {
			t.Fatalf("second use: %v, want a replay refusal", err)
		}
	}
	// A fresh authenticator for the same ticket is not a replay (the runner sends one per request).
	tok, _, _ := clientToken(t, r.cl, krbtest.SPN(mb01), tokenSpec{})
	if _, _, err := r.acc.Accept(tok); err != nil {
		t.Fatalf("a fresh authenticator: %v", err)
	}
}

// TestAcceptStaleKeytab: after the service's key changes in the KDC (a machine password
// change on Windows) the old keytab cannot decrypt new tickets, and the message says so.
func TestAcceptStaleKeytab(t *testing.T) {
	r := newRealm(t)
	if err := r.kdc.Kadmin("cpw -randkey " + krbtest.SPN(mb01)); err != nil {
		t.Fatal(err)
	}
	tok, _, _ := clientToken(t, r.cl, krbtest.SPN(mb01), tokenSpec{})
	_, _, err := r.acc.Accept(tok)
	if err == nil || !strings.Contains(err.Error(), "keytab is stale") || !strings.Contains(err.Error(), "kvno 3") {
		t.Fatalf("Accept with a stale keytab: %v", err)
	}
}

func TestNewChecksTheKeytab(t *testing.T) {
	kt := keytab.New()
	if err := kt.AddEntry("HTTP/ex10-mb01.msglab.local", "MSGLAB.LOCAL", "pw", time.Now(), 1, 18); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"no keytab", Config{SPNs: []string{"HTTP/x"}}, "no keytab"},
		{"no spn", Config{Keytab: kt}, "no service principal"},
		{"spn not in keytab", Config{Keytab: kt, SPNs: []string{"HTTP/ex10-mb02.msglab.local"}}, "HTTP/ex10-mb01.msglab.local@MSGLAB.LOCAL"},
		{"wrong realm", Config{Keytab: kt, SPNs: []string{"HTTP/ex10-mb01.msglab.local@OTHER.REALM"}}, "no key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	a, err := New(Config{Keytab: kt, SPNs: []string{"http/EX10-MB01.msglab.local@msglab.local"}})
	if err != nil {
		t.Fatalf("SPNs are case-insensitive, as in AD: %v", err)
	}
	if a.Realm() != "MSGLAB.LOCAL" {
		t.Errorf("Realm %q", a.Realm())
	}
	if _, err := LoadKeytab("/nonexistent/keytab"); err == nil {
		t.Error("LoadKeytab of a missing file succeeded")
	}
}

func TestAccountName(t *testing.T) {
	for _, tc := range []struct{ name, realm, want string }{
		{"svc-exchops", "MSGLAB.LOCAL", `MSGLAB\svc-exchops`},
		{"alice", "corp.example.com", `CORP\alice`},
		{"bob", "SINGLE", `SINGLE\bob`},
	} {
		if got := accountName(tc.name, tc.realm); got != tc.want {
			t.Errorf("accountName(%q, %q) = %q, want %q", tc.name, tc.realm, got, tc.want)
		}
	}
}

// TestAcceptConcurrently: a runner sends requests to one server from several goroutines;
// each fresh authenticator is accepted once, whatever the interleaving.
func TestAcceptConcurrently(t *testing.T) {
	r := newRealm(t)
	const n = 16
	tokens := make([][]byte, n)
	for i := range tokens {
		tokens[i], _, _ = clientToken(t, r.cl, krbtest.SPN(mb01), tokenSpec{mutual: i%2 == 0})
	}
	errs := make(chan error, 2*n)
	var wg sync.WaitGroup
	for _, tok := range tokens {
		for range 2 { // each token twice: one use succeeds, the other is a replay
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, err := r.acc.Accept(tok)
				errs <- err
			}()
		}
	}
	wg.Wait()
	close(errs)
	ok, replays := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case strings.Contains(err.Error(), "replayed"):
			replays++
		default:
			t.Errorf("unexpected refusal: %v", err)
		}
	}
	if ok != n || replays != n {
		t.Errorf("%d accepted and %d refused as replays, want %d of each", ok, replays, n)
	}
}
