package lab_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/exchops/exchops/internal/krbtest"
	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/runners"
)

// kerberosEndpoints turns the lab's runner endpoints to Kerberos with the KDC's realm,
// each asking for its own server's SPN.
func kerberosEndpoints(l *lab.Lab, k *krbtest.KDC) []runners.Endpoint {
	eps := l.RunnerEndpoints()
	for i := range eps {
		eps[i].Auth, eps[i].Password = runners.AuthKerberos, k.Password
		// The runner cannot seal Kerberos messages: over HTTP it needs AllowUnencrypted,
		// which the lab (without RequireEncryption) grants to Kerberos.
		eps[i].AllowUnencrypted = !eps[i].HTTPS
		eps[i].Kerberos = runners.Kerberos{Realm: k.Realm, ConfigPath: k.Config,
			SPN: krbtest.SPN(strings.ToLower(eps[i].Name) + ".msglab.local")}
	}
	return eps
}

// TestKerberosLab: with Options.KerberosKeytab every server accepts tickets for its own
// HTTP/<fqdn> from the realm, over HTTP and HTTPS, and refuses another server's.
func TestKerberosLab(t *testing.T) {
	k := krbtest.Start(t)
	for _, tls := range []bool{false, true} {
		l, err := lab.Start(lab.Options{TLS: tls, KerberosKeytab: k.Keytab})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		eps := kerberosEndpoints(l, k)
		r, err := runners.New(eps, runners.Options{Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range eps {
			res, err := r.Run(context.Background(), e.Name, "hostname")
			if err != nil || !strings.Contains(strings.ToUpper(res.Stdout), e.Name) {
				t.Errorf("tls=%v: hostname on %s with Kerberos: %v %+v", tls, e.Name, err, res)
			}
		}
		// EX10-MB02 presented with a ticket for EX10-MB01: the KDC issues it, MB02
		// cannot use it.
		wrong := eps[0]
		for _, e := range eps {
			if e.Name == "EX10-MB02" {
				wrong = e
			}
		}
		wrong.Kerberos.SPN = krbtest.SPN("ex10-mb01.msglab.local")
		r2, err := runners.New([]runners.Endpoint{wrong}, runners.Options{Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		_, err = r2.Run(context.Background(), wrong.Name, "hostname")
		if runners.KindOf(err) != runners.Unauthorized {
			t.Errorf("tls=%v: a ticket for EX10-MB01 on %s: %v, want unauthorized", tls, wrong.Name, err)
		}
	}
}

func TestKerberosLabKeytabErrors(t *testing.T) {
	k := krbtest.Start(t, "ex10-mb01.msglab.local") // a keytab without the other servers
	_, err := lab.Start(lab.Options{KerberosKeytab: k.Keytab})
	if err == nil || !strings.Contains(err.Error(), "no key for HTTP/") {
		t.Errorf("Start with a keytab missing servers: %v", err)
	}
	notKeytab := filepath.Join(t.TempDir(), "not.keytab")
	if err := os.WriteFile(notKeytab, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := lab.Start(lab.Options{KerberosKeytab: notKeytab}); err == nil || !strings.Contains(err.Error(), "not a keytab") {
		t.Errorf("Start with a file that is not a keytab: %v", err)
	}
}

// mutualToken is what a Windows client sends: an SPNEGO NegTokenInit whose AP-REQ asks
// for mutual authentication. It returns the header value and the session key.
func mutualToken(t *testing.T, k *krbtest.KDC, spn string) (string, types.EncryptionKey) {
	t.Helper()
	cfg, err := config.Load(k.Config)
	if err != nil {
		t.Fatal(err)
	}
	cl := client.NewWithPassword(k.User, k.Realm, k.Password, cfg, client.DisablePAFXFAST(true))
	if err := cl.Login(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Destroy)
	tkt, key, err := cl.GetServiceTicket(spn)
	if err != nil {
		t.Fatal(err)
	}
	mt, err := spnego.NewKRB5TokenAPREQ(cl, tkt, key,
		[]int{gssapi.ContextFlagInteg, gssapi.ContextFlagConf, gssapi.ContextFlagMutual}, []int{flags.APOptionMutualRequired})
	if err != nil {
		t.Fatal(err)
	}
	mb, err := mt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	st := spnego.SPNEGOToken{Init: true, NegTokenInit: spnego.NegTokenInit{
		MechTypes: []asn1.ObjectIdentifier{gssapi.OIDKRB5.OID()}, MechTokenBytes: mb}}
	b, err := st.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return "Negotiate " + base64.StdEncoding.EncodeToString(b), key
}

// TestKerberosLabMutualAuthentication: a client that asks for mutual authentication gets
// the AP-REP in WWW-Authenticate with the reply, and it proves the server decrypted the
// ticket; the same header sent again is a replay and gets 401.
func TestKerberosLabMutualAuthentication(t *testing.T) {
	k := krbtest.Start(t)
	l, err := lab.Start(lab.Options{KerberosKeytab: k.Keytab})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	e := l.Endpoint("EX10-MB01")
	header, key := mutualToken(t, k, krbtest.SPN("ex10-mb01.msglab.local"))
	post := func() *http.Response {
		req, err := http.NewRequest("POST", e.URL, strings.NewReader("<s:Envelope/>"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
		req.Header.Set("Authorization", header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := post()
	if resp.StatusCode == http.StatusUnauthorized {
		t.Fatalf("the lab refused a valid ticket:\n%s", k.Log())
	}
	scheme, b64, _ := strings.Cut(resp.Header.Get("WWW-Authenticate"), " ")
	if scheme != "Negotiate" {
		t.Fatalf("WWW-Authenticate %q, want Negotiate <token>", resp.Header.Get("WWW-Authenticate"))
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	var nt spnego.NegTokenResp
	if err := nt.Unmarshal(raw); err != nil {
		t.Fatalf("the response token is not a NegTokenResp: %v", err)
	}
	if nt.State() != spnego.NegStateAcceptCompleted {
		t.Errorf("negState %v, want accept-completed", nt.State())
	}
	// The KRB5 token: OID, TOK_ID 0200, AP-REP.
	var oid asn1.ObjectIdentifier
	rest, err := asn1.UnmarshalWithParams(nt.ResponseToken, &oid, "application,explicit,tag:0")
	if err != nil || len(rest) < 2 || rest[0] != 2 || rest[1] != 0 {
		t.Fatalf("the response token holds no AP-REP: %v", err)
	}
	var rep messages.APRep
	if err := rep.Unmarshal(rest[2:]); err != nil {
		t.Fatal(err)
	}
	if _, err := crypto.DecryptEncPart(rep.EncPart, key, keyusage.AP_REP_ENCPART); err != nil {
		t.Errorf("the AP-REP does not decrypt with the session key: %v", err)
	}
	if resp := post(); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a replayed token got HTTP %d, want 401", resp.StatusCode)
	}
}
