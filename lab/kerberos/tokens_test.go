package kerberos

import (
	"bytes"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// What a client puts in a token, built here the way gokrb5's and Windows' clients do so a
// test can vary one part (the mutual flag, the authenticator's time, the ticket).

// tokenSpec describes one AP-REQ token.
type tokenSpec struct {
	mutual bool      // ask for the AP-REP (the GSS flag and the AP option)
	raw    bool      // a bare Kerberos GSS token (the "Kerberos" scheme), not SPNEGO
	msMech bool      // name MS's legacy Kerberos OID first, as Windows does
	ctime  time.Time // the authenticator's time; zero is now
}

// apReq builds an AP-REQ for a ticket and its session key.
func apReq(t testing.TB, crealm string, cname types.PrincipalName, tkt messages.Ticket, key types.EncryptionKey, s tokenSpec) messages.APReq {
	t.Helper()
	auth, err := types.NewAuthenticator(crealm, cname)
	if err != nil {
		t.Fatal(err)
	}
	if !s.ctime.IsZero() {
		auth.CTime = s.ctime.UTC()
		auth.Cusec = s.ctime.Nanosecond() / 1000
	}
	gssFlags := uint32(gssapi.ContextFlagInteg | gssapi.ContextFlagConf)
	if s.mutual {
		gssFlags |= uint32(gssapi.ContextFlagMutual)
	}
	ck := make([]byte, 24)
	ck[0] = 16 // length of the (empty) channel bindings hash
	ck[20], ck[21], ck[22], ck[23] = byte(gssFlags), byte(gssFlags>>8), byte(gssFlags>>16), byte(gssFlags>>24)
	auth.Cksum = types.Checksum{CksumType: chksumtype.GSSAPI, Checksum: ck}
	req, err := messages.NewAPReq(tkt, key, auth)
	if err != nil {
		t.Fatal(err)
	}
	if s.mutual {
		types.SetFlag(&req.APOptions, flags.APOptionMutualRequired)
	}
	req.Authenticator = auth // the clear authenticator, for the test's expectations
	return req
}

// wrap puts an AP-REQ in the token a client sends.
func wrap(t testing.TB, req messages.APReq, s tokenSpec) []byte {
	t.Helper()
	rb, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ob, _ := asn1.Marshal(gssapi.OIDKRB5.OID())
	krb := asn1tools.AddASNAppTag(append(append(ob, 0x01, 0x00), rb...), 0)
	if s.raw {
		return krb
	}
	mechs := []asn1.ObjectIdentifier{gssapi.OIDKRB5.OID()}
	if s.msMech {
		mechs = []asn1.ObjectIdentifier{gssapi.OIDMSLegacyKRB5.OID(), gssapi.OIDKRB5.OID(), {1, 3, 6, 1, 4, 1, 311, 2, 2, 10}}
	}
	st := spnego.SPNEGOToken{Init: true, NegTokenInit: spnego.NegTokenInit{MechTypes: mechs, MechTokenBytes: krb}}
	b, err := st.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// clientToken gets a service ticket from the KDC with a logged-in client and wraps it.
func clientToken(t testing.TB, cl *client.Client, spn string, s tokenSpec) ([]byte, messages.APReq, types.EncryptionKey) {
	t.Helper()
	tkt, key, err := cl.GetServiceTicket(spn)
	if err != nil {
		t.Fatalf("service ticket for %s: %v", spn, err)
	}
	req := apReq(t, cl.Credentials.Domain(), cl.Credentials.CName(), tkt, key, s)
	return wrap(t, req, s), req, key
}

// forgedToken makes a ticket with the service's own key (what only the KDC or the service
// can do) valid from start to end, for the expiry cases a KDC will not issue.
func forgedToken(t testing.TB, kt *keytab.Keytab, spn, realm string, kvno int, start, end time.Time, s tokenSpec) []byte {
	t.Helper()
	cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "svc-exchops")
	sname := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, spn)
	tkt, key, err := messages.NewTicket(cname, realm, sname, realm, types.NewKrbFlags(), kt,
		etypeID.AES256_CTS_HMAC_SHA1_96, kvno, start, start, end, end)
	if err != nil {
		t.Fatalf("forging a ticket: %v", err)
	}
	return wrap(t, apReq(t, realm, cname, tkt, key, s), s)
}

// decodeAPRep opens the AP-REP token an acceptor answered with, as a client checking
// mutual authentication does.
func decodeAPRep(t testing.TB, tok []byte, key types.EncryptionKey) messages.EncAPRepPart {
	t.Helper()
	var oid asn1.ObjectIdentifier
	rest, err := asn1.UnmarshalWithParams(tok, &oid, "application,explicit,tag:0")
	if err != nil || !oid.Equal(gssapi.OIDKRB5.OID()) {
		t.Fatalf("the response is not a Kerberos GSS token: oid %v, %v", oid, err)
	}
	if !bytes.HasPrefix(rest, []byte{0x02, 0x00}) {
		t.Fatalf("the response's TOK_ID is %x, want 0200 (AP-REP)", rest[:2])
	}
	var rep messages.APRep
	if err := rep.Unmarshal(rest[2:]); err != nil {
		t.Fatalf("the AP-REP does not parse: %v", err)
	}
	plain, err := crypto.DecryptEncPart(rep.EncPart, key, keyusage.AP_REP_ENCPART)
	if err != nil {
		t.Fatalf("the AP-REP does not decrypt with the session key: %v", err)
	}
	var enc messages.EncAPRepPart
	if err := enc.Unmarshal(plain); err != nil {
		t.Fatalf("the AP-REP's encrypted part does not parse: %v", err)
	}
	return enc
}
