// Package kerberos is the lab's Kerberos acceptor: it validates the tickets clients send
// in "Authorization: Negotiate|Kerberos <base64>" with the service's keytab, as IIS and
// WinRM do with the machine account's keys, so the lab's WS-Management endpoints accept
// real tickets from a real KDC (internal/krbtest in tests, any MIT or AD realm otherwise).
//
// Ticket decryption, the clock-skew check and the replay cache are gokrb5's (service
// package); this package picks the AP-REQ out of the SPNEGO or raw Kerberos token, checks
// that the ticket names this server, maps the client to the lab's account name and, when
// the client asks for mutual authentication, builds the AP-REP that proves the server
// holds the key.
package kerberos

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// DefaultMaxClockSkew is Windows' default "maximum tolerance for computer clock
// synchronization" (and MIT's clockskew): 5 minutes.
const DefaultMaxClockSkew = 5 * time.Minute

// maxToken bounds the token Accept parses. Windows' default MaxTokenSize is 12000 bytes
// (48000 from Windows 2012); a ticket with a large PAC fits in 64 KB.
const maxToken = 64 << 10

// Config configures an Acceptor.
type Config struct {
	// Keytab holds the service's keys (LoadKeytab reads one from a file).
	Keytab *keytab.Keytab
	// SPNs are the service principals this server answers for, e.g.
	// "HTTP/ex10-mb01.msglab.local": IIS and WinRM register HTTP/<fqdn>. Each needs a key
	// in the keytab. A ticket for any other principal is refused, even one the keytab
	// could decrypt, so one keytab can serve every lab server without them accepting
	// each other's tickets.
	SPNs []string
	// MaxClockSkew is how far the client's clock may be from this one (and how long past
	// its end a ticket is still honoured); 0 is DefaultMaxClockSkew.
	MaxClockSkew time.Duration
}

// Acceptor validates Kerberos tokens for a set of service principals. It is safe for
// concurrent use; it implements lab/wsman's KerberosAcceptor.
type Acceptor struct {
	// verify serialises gokrb5's verification: its replay cache checks and then records
	// an authenticator in two steps, so two copies of one token arriving together could
	// otherwise both pass.
	verify sync.Mutex
	kt     *keytab.Keytab
	spns   []types.PrincipalName
	realm  string
	skew   time.Duration
}

// LoadKeytab reads a keytab file (MIT's ktadd, Windows' ktpass).
func LoadKeytab(path string) (*keytab.Keytab, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kerberos: cannot read the keytab: %w", err)
	}
	kt := keytab.New()
	if err := kt.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("kerberos: %s is not a keytab (%v): export one with kadmin's ktadd or Windows' ktpass", path, err)
	}
	return kt, nil
}

// New returns an acceptor for the SPNs of c. It fails when the keytab holds no key for
// one of them, which is what a server with a stale or wrong keytab would otherwise only
// show as every client being refused.
func New(c Config) (*Acceptor, error) {
	if c.Keytab == nil {
		return nil, errors.New("kerberos: no keytab: give the service's keytab (kadmin ktadd -k FILE HTTP/<fqdn>)")
	}
	if len(c.SPNs) == 0 {
		return nil, errors.New("kerberos: no service principal: give HTTP/<server fqdn>")
	}
	a := &Acceptor{kt: c.Keytab, skew: c.MaxClockSkew}
	if a.skew <= 0 {
		a.skew = DefaultMaxClockSkew
	}
	for _, s := range c.SPNs {
		name, realm, _ := strings.Cut(s, "@")
		pn := types.NewPrincipalName(0, name)
		found := ""
		for _, e := range c.Keytab.Entries {
			if samePrincipal(e.Principal.Components, pn.NameString) && (realm == "" || strings.EqualFold(e.Principal.Realm, realm)) {
				found = e.Principal.Realm
				// The keytab's spelling: gokrb5 looks keys up case-sensitively.
				pn.NameString = append([]string(nil), e.Principal.Components...)
				break
			}
		}
		if found == "" {
			return nil, fmt.Errorf("kerberos: the keytab has no key for %s (it holds %s): export it with kadmin's ktadd or Windows' ktpass", s, keytabPrincipals(c.Keytab))
		}
		if a.realm != "" && found != a.realm {
			return nil, fmt.Errorf("kerberos: the SPNs are in two realms, %s and %s: use one acceptor per realm", a.realm, found)
		}
		a.realm = found
		a.spns = append(a.spns, pn)
	}
	return a, nil
}

// Realm is the realm of the acceptor's service principals.
func (a *Acceptor) Realm() string { return a.realm }

// Accept validates an SPNEGO token (the "Negotiate" scheme) or a raw Kerberos GSS token
// (the "Kerberos" scheme) holding an AP-REQ. It returns the client as the lab names
// accounts, DOMAIN\user with the realm's first label as the NetBIOS domain
// ("svc-exchops@MSGLAB.LOCAL" is "MSGLAB\svc-exchops"), and, when the client asked for
// mutual authentication, the token carrying the AP-REP, in the form the client sent.
// The error says why a token is refused; it is for the server's log, never the client.
func (a *Acceptor) Accept(token []byte) (user string, response []byte, err error) {
	defer func() {
		// gokrb5's ASN.1 decoding is not hardened against every malformed input; a
		// hostile header must cost the client a 401, not the server a goroutine.
		if p := recover(); p != nil {
			user, response, err = "", nil, fmt.Errorf("kerberos: malformed token (%v)", p)
		}
	}()
	if len(token) == 0 {
		return "", nil, errors.New("kerberos: empty token")
	}
	if len(token) > maxToken {
		return "", nil, fmt.Errorf("kerberos: token of %d bytes is larger than %d", len(token), maxToken)
	}
	mech, spnegoMech, err := parseToken(token)
	if err != nil {
		return "", nil, err
	}
	if !mech.IsAPReq() {
		return "", nil, errors.New("kerberos: the token holds no AP-REQ (only a client's first token is accepted)")
	}
	req := &mech.APReq
	target, err := a.checkTarget(req.Ticket)
	if err != nil {
		return "", nil, err
	}
	settings := service.NewSettings(a.kt,
		service.MaxClockSkew(a.skew),
		service.KeytabPrincipal(target.PrincipalNameString()),
		// The lab maps clients by name; group SIDs from an AD PAC are not needed, and
		// MIT's PAC lacks the logon information gokrb5 expects.
		service.DecodePAC(false))
	a.verify.Lock()
	ok, creds, err := service.VerifyAPREQ(req, settings)
	a.verify.Unlock()
	if err != nil {
		return "", nil, a.explain(req, err)
	}
	if !ok || creds == nil {
		return "", nil, errors.New("kerberos: the AP-REQ did not validate")
	}
	user = accountName(creds.CName().PrincipalNameString(), creds.Domain())
	if !wantsMutual(req) {
		return user, nil, nil
	}
	rep, err := apRepToken(req)
	if err != nil {
		return "", nil, err
	}
	if spnegoMech == nil {
		return user, rep, nil
	}
	resp := spnego.NegTokenResp{
		NegState:      asn1.Enumerated(spnego.NegStateAcceptCompleted),
		SupportedMech: spnegoMech,
		ResponseToken: rep,
	}
	b, err := resp.Marshal()
	if err != nil {
		return "", nil, fmt.Errorf("kerberos: cannot build the SPNEGO response: %w", err)
	}
	return user, b, nil
}

// parseToken returns the Kerberos mechanism token inside an SPNEGO NegTokenInit, with the
// mechanism the client named (Windows names MS's legacy Kerberos OID first), or a raw GSS
// Kerberos token with a nil mechanism.
func parseToken(token []byte) (*spnego.KRB5Token, asn1.ObjectIdentifier, error) {
	var oid asn1.ObjectIdentifier
	if _, err := asn1.UnmarshalWithParams(token, &oid, "application,explicit,tag:0"); err != nil {
		if token[0] == 0xa1 {
			return nil, nil, errors.New("kerberos: the token is an SPNEGO continuation (NegTokenResp); the lab completes Kerberos in one round and accepts only a first token")
		}
		return nil, nil, fmt.Errorf("kerberos: not a GSS-API token (%v)", err)
	}
	switch {
	case oid.Equal(gssapi.OIDKRB5.OID()):
		var m spnego.KRB5Token
		if err := m.Unmarshal(token); err != nil {
			return nil, nil, fmt.Errorf("kerberos: malformed Kerberos token: %v", err)
		}
		return &m, nil, nil
	case oid.Equal(gssapi.OIDSPNEGO.OID()):
		var st spnego.SPNEGOToken
		if err := st.Unmarshal(token); err != nil {
			return nil, nil, fmt.Errorf("kerberos: malformed SPNEGO token: %v", err)
		}
		if !st.Init {
			return nil, nil, errors.New("kerberos: the SPNEGO token is not a NegTokenInit")
		}
		var mech asn1.ObjectIdentifier
		for _, m := range st.NegTokenInit.MechTypes {
			if m.Equal(gssapi.OIDKRB5.OID()) || m.Equal(gssapi.OIDMSLegacyKRB5.OID()) {
				mech = m
				break
			}
		}
		if mech == nil {
			return nil, nil, fmt.Errorf("kerberos: the client offers no Kerberos mechanism (it offers %v): NTLM goes in the NTLM handshake", st.NegTokenInit.MechTypes)
		}
		if len(st.NegTokenInit.MechTokenBytes) == 0 {
			return nil, nil, errors.New("kerberos: the SPNEGO token carries no Kerberos ticket (an optimistic token is required)")
		}
		var m spnego.KRB5Token
		if err := m.Unmarshal(st.NegTokenInit.MechTokenBytes); err != nil {
			return nil, nil, fmt.Errorf("kerberos: malformed Kerberos token in SPNEGO: %v", err)
		}
		return &m, mech, nil
	}
	return nil, nil, fmt.Errorf("kerberos: GSS-API mechanism %v is neither SPNEGO nor Kerberos", oid)
}

// checkTarget returns the service principal a ticket is for, as the keytab spells it, and
// refuses a ticket for a principal this server is not.
func (a *Acceptor) checkTarget(t messages.Ticket) (types.PrincipalName, error) {
	for _, s := range a.spns {
		if samePrincipal(t.SName.NameString, s.NameString) {
			if !strings.EqualFold(t.Realm, a.realm) {
				return s, fmt.Errorf("kerberos: the ticket is from realm %s, this server's keys are in %s", t.Realm, a.realm)
			}
			return s, nil
		}
	}
	return types.PrincipalName{}, fmt.Errorf("kerberos: the ticket is for %s@%s but this server is %s: the client asked for the wrong SPN (it must be HTTP/<this server's fqdn>)",
		t.SName.PrincipalNameString(), t.Realm, a.spnList())
}

// explain turns gokrb5's verification errors into what an operator can act on.
func (a *Acceptor) explain(req *messages.APReq, err error) error {
	msg := err.Error()
	var kerr messages.KRBError
	if errors.As(err, &kerr) {
		msg = kerr.EText
	}
	spn := req.Ticket.SName.PrincipalNameString()
	switch {
	case strings.Contains(msg, "replay"):
		return fmt.Errorf("kerberos: replayed authenticator for %s: this exact token was already accepted", spn)
	case strings.Contains(msg, "clock skew"):
		return fmt.Errorf("kerberos: the client's clock is more than %v from the server's: synchronise both with the domain's time source", a.skew)
	case strings.Contains(msg, "ticket not valid") || strings.Contains(msg, "expired") || strings.Contains(msg, "not yet valid"):
		return fmt.Errorf("kerberos: the ticket for %s is outside its validity period (%s): the client must get a new ticket (kinit again)", spn, strings.TrimSpace(msg))
	case strings.Contains(msg, "matching key not found"), strings.Contains(msg, "decrypting encpart"):
		return fmt.Errorf("kerberos: cannot decrypt the ticket for %s with the keytab (kvno %d, etype %d): the keytab is stale or for another account; export it again after the key changed (%v)",
			spn, req.Ticket.EncPart.KVNO, req.Ticket.EncPart.EType, err)
	}
	return fmt.Errorf("kerberos: the AP-REQ for %s was refused: %v", spn, err)
}

// wantsMutual reports whether the client asked for the AP-REP: the AP option, or the GSS
// mutual flag in the authenticator's checksum (RFC 4121 4.1.1), which is what Windows sets.
func wantsMutual(req *messages.APReq) bool {
	if types.IsFlagSet(&req.APOptions, flags.APOptionMutualRequired) {
		return true
	}
	ck := req.Authenticator.Cksum
	if ck.CksumType == chksumtype.GSSAPI && len(ck.Checksum) >= 24 {
		f := uint32(ck.Checksum[20]) | uint32(ck.Checksum[21])<<8 | uint32(ck.Checksum[22])<<16 | uint32(ck.Checksum[23])<<24
		return f&uint32(gssapi.ContextFlagMutual) != 0
	}
	return false
}

// apRepToken builds the GSS Kerberos token with the AP-REP (RFC 4120 5.5.2): the client's
// own ctime and cusec, encrypted in the session key, prove the server decrypted the ticket.
func apRepToken(req *messages.APReq) ([]byte, error) {
	enc := messages.EncAPRepPart{
		CTime:          req.Authenticator.CTime,
		Cusec:          req.Authenticator.Cusec,
		SequenceNumber: req.Authenticator.SeqNumber,
	}
	pb, err := asn1.Marshal(enc)
	if err != nil {
		return nil, fmt.Errorf("kerberos: cannot encode the AP-REP: %w", err)
	}
	pb = asn1tools.AddASNAppTag(pb, asnAppTag.EncAPRepPart)
	ed, err := crypto.GetEncryptedData(pb, req.Ticket.DecryptedEncPart.Key, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		return nil, fmt.Errorf("kerberos: cannot encrypt the AP-REP: %w", err)
	}
	rep := messages.APRep{PVNO: 5, MsgType: msgtype.KRB_AP_REP, EncPart: ed}
	rb, err := asn1.Marshal(rep)
	if err != nil {
		return nil, fmt.Errorf("kerberos: cannot encode the AP-REP: %w", err)
	}
	rb = asn1tools.AddASNAppTag(rb, asnAppTag.APREP)
	ob, _ := asn1.Marshal(gssapi.OIDKRB5.OID())
	var tok bytes.Buffer
	tok.Write(ob)
	tok.Write([]byte{0x02, 0x00}) // TOK_ID of an AP-REP
	tok.Write(rb)
	return asn1tools.AddASNAppTag(tok.Bytes(), 0), nil
}

// accountName is how the lab names a Kerberos client: MSGLAB\svc-exchops for
// svc-exchops@MSGLAB.LOCAL (a domain's NetBIOS name is by default its DNS name's first
// label).
func accountName(name, realm string) string {
	nb, _, _ := strings.Cut(realm, ".")
	return strings.ToUpper(nb) + `\` + name
}

// samePrincipal compares principal names the way AD does, ignoring case: Windows SPNs are
// case-insensitive.
func samePrincipal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i], b[i]) {
			return false
		}
	}
	return true
}

func (a *Acceptor) spnList() string {
	names := make([]string, len(a.spns))
	for i, s := range a.spns {
		names[i] = s.PrincipalNameString() + "@" + a.realm
	}
	return strings.Join(names, ", ")
}

func keytabPrincipals(kt *keytab.Keytab) string {
	seen := map[string]bool{}
	var names []string
	for _, e := range kt.Entries {
		n := strings.Join(e.Principal.Components, "/") + "@" + e.Principal.Realm
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "no keys"
	}
	return strings.Join(names, ", ")
}
