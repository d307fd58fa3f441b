package wsman

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/rc4" //nolint:gosec // NTLM sealing is RC4 by definition (MS-NLMP 3.4.3)
	"encoding/binary"
	"strings"
	"time"
	"unicode/utf16"

	"golang.org/x/crypto/md4" //nolint:staticcheck // NTLM's NT hash is MD4 by definition (MS-NLMP 3.3.1)
)

// The server side of NTLMv2 (MS-NLMP), enough to authenticate clients such as the
// masterzen client's ClientNTLM (github.com/Azure/go-ntlmssp) and pywinrm's requests-ntlm.
// Authentication here; the session security WinRM over plain HTTP seals its messages with
// (signing and sealing with the session key) is in ntlmseal.go.

var ntlmSignature = []byte("NTLMSSP\x00")

const (
	ntlmFlagUnicode          = 1 << 0
	ntlmFlagRequestTarget    = 1 << 2
	ntlmFlagSign             = 1 << 4
	ntlmFlagSeal             = 1 << 5
	ntlmFlagNTLM             = 1 << 9
	ntlmFlagAlwaysSign       = 1 << 15
	ntlmFlagTargetTypeDomain = 1 << 16
	ntlmFlagExtendedSecurity = 1 << 19
	ntlmFlagTargetInfo       = 1 << 23
	ntlmFlag128              = 1 << 29
	ntlmFlagKeyExch          = 1 << 30
	ntlmFlag56               = 1 << 31
)

// AV pair ids of the CHALLENGE's TargetInfo.
const (
	avEOL            = 0
	avNbComputerName = 1
	avNbDomainName   = 2
	avDNSComputer    = 3
	avDNSDomain      = 4
	avTimestamp      = 7
)

// ntlmMessageType returns 1 (NEGOTIATE), 2 (CHALLENGE) or 3 (AUTHENTICATE), or 0 when msg
// is not an NTLMSSP message (for example SPNEGO from a Kerberos-capable client).
func ntlmMessageType(msg []byte) uint32 {
	if len(msg) < 12 || !bytes.Equal(msg[:8], ntlmSignature) {
		return 0
	}
	return binary.LittleEndian.Uint32(msg[8:12])
}

func randomChallenge() [8]byte {
	var c [8]byte
	if _, err := rand.Read(c[:]); err != nil {
		panic("wsman: no randomness for an NTLM challenge: " + err.Error())
	}
	return c
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, v := range u {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	return b
}

func fromUTF16LE(b []byte) string {
	if len(b)%2 != 0 {
		b = b[:len(b)-1]
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// windowsFileTime is t in 100 ns units since 1601, the NTLM timestamp format.
func windowsFileTime(t time.Time) uint64 {
	const epochDiff = 116444736000000000 // 1601-01-01 to 1970-01-01 in 100 ns
	return uint64(t.UnixNano()/100) + epochDiff
}

// ntlmOfferable are the NEGOTIATE flags the server grants when a client asks for them:
// signing, sealing and key exchange, which message encryption needs. They are granted
// only when asked for, as Windows does: go-ntlmssp, which asks for none of them, refuses
// a CHALLENGE that offers key exchange.
const ntlmOfferable = ntlmFlagSign | ntlmFlagSeal | ntlmFlagKeyExch

// negotiateFlags returns the flags of a NEGOTIATE message (0 when it has none).
func negotiateFlags(msg []byte) uint32 {
	if ntlmMessageType(msg) != 1 || len(msg) < 16 {
		return 0
	}
	return binary.LittleEndian.Uint32(msg[12:16])
}

// buildNTLMChallenge builds a CHALLENGE message for a server in a domain, granting the
// offerable flags the client asked for in asked. It never offers LM keys.
func buildNTLMChallenge(challenge [8]byte, machine, domain string, now time.Time, asked uint32) []byte {
	var info bytes.Buffer
	av := func(id uint16, v []byte) {
		_ = binary.Write(&info, binary.LittleEndian, id)
		_ = binary.Write(&info, binary.LittleEndian, uint16(len(v)))
		info.Write(v)
	}
	dnsDomain := strings.ToLower(domain) + ".local"
	av(avNbDomainName, utf16le(strings.ToUpper(domain)))
	av(avNbComputerName, utf16le(strings.ToUpper(machine)))
	av(avDNSDomain, utf16le(dnsDomain))
	av(avDNSComputer, utf16le(strings.ToLower(machine)+"."+dnsDomain))
	ts := make([]byte, 8)
	binary.LittleEndian.PutUint64(ts, windowsFileTime(now))
	av(avTimestamp, ts)
	av(avEOL, nil)

	target := utf16le(strings.ToUpper(domain))
	const headerLen = 48
	flags := uint32(ntlmFlagUnicode | ntlmFlagRequestTarget | ntlmFlagNTLM | ntlmFlagAlwaysSign |
		ntlmFlagTargetTypeDomain | ntlmFlagExtendedSecurity | ntlmFlagTargetInfo | ntlmFlag128 | ntlmFlag56)
	flags |= asked & ntlmOfferable

	var m bytes.Buffer
	m.Write(ntlmSignature)
	le := func(v any) { _ = binary.Write(&m, binary.LittleEndian, v) }
	le(uint32(2))
	le(uint16(len(target)))
	le(uint16(len(target)))
	le(uint32(headerLen))
	le(flags)
	m.Write(challenge[:])
	m.Write(make([]byte, 8)) // reserved
	le(uint16(info.Len()))
	le(uint16(info.Len()))
	le(uint32(headerLen + len(target)))
	m.Write(target)
	m.Write(info.Bytes())
	return m.Bytes()
}

// ntlmField reads a security buffer (length, capacity, offset) at pos of an NTLM message.
func ntlmField(msg []byte, pos int) ([]byte, bool) {
	if pos+8 > len(msg) {
		return nil, false
	}
	n := int(binary.LittleEndian.Uint16(msg[pos:]))
	off := int(binary.LittleEndian.Uint32(msg[pos+4:]))
	if n == 0 {
		return nil, true
	}
	if off < 0 || off > len(msg) || n > len(msg)-off {
		return nil, false
	}
	return msg[off : off+n], true
}

// ntlmAuthenticate is the part of an AUTHENTICATE message that verification needs.
type ntlmAuthenticate struct {
	ntResponse []byte
	domain     string
	user       string
	// sessionKey is the EncryptedRandomSessionKey (key exchange); flags what the client
	// settled on.
	sessionKey []byte
	flags      uint32
}

func parseNTLMAuthenticate(msg []byte) (ntlmAuthenticate, bool) {
	var a ntlmAuthenticate
	if ntlmMessageType(msg) != 3 || len(msg) < 64 {
		return a, false
	}
	nt, ok1 := ntlmField(msg, 20)
	dom, ok2 := ntlmField(msg, 28)
	usr, ok3 := ntlmField(msg, 36)
	if !ok1 || !ok2 || !ok3 {
		return a, false
	}
	key, ok4 := ntlmField(msg, 52)
	if !ok4 {
		return a, false
	}
	flags := binary.LittleEndian.Uint32(msg[60:])
	a.ntResponse, a.sessionKey, a.flags = nt, key, flags
	if flags&ntlmFlagUnicode != 0 {
		a.domain, a.user = fromUTF16LE(dom), fromUTF16LE(usr)
	} else {
		a.domain, a.user = string(dom), string(usr)
	}
	return a, true
}

// ntowfv2 is NTOWFv2 of MS-NLMP 3.3.2: HMAC-MD5 keyed with the NT hash over the upper-cased
// user name and the domain as the client sent it.
func ntowfv2(password, user, domain string) []byte {
	h := md4.New()
	h.Write(utf16le(password))
	mac := hmac.New(md5.New, h.Sum(nil))
	mac.Write(utf16le(strings.ToUpper(user) + domain))
	return mac.Sum(nil)
}

// verifyNTLMAuthenticate checks an NTLMv2 response against the configured password. NTLMv1
// (24-byte responses) is refused, as current Windows policy does.
func verifyNTLMAuthenticate(msg []byte, serverChallenge [8]byte, u users) (account, bool) {
	a, ok := parseNTLMAuthenticate(msg)
	if !ok || len(a.ntResponse) < 16+28 {
		return account{}, false
	}
	acct, ok := u.lookup(a.user)
	if !ok {
		return account{}, false
	}
	proof, blob := a.ntResponse[:16], a.ntResponse[16:]
	mac := hmac.New(md5.New, ntowfv2(acct.password, a.user, a.domain))
	mac.Write(serverChallenge[:])
	mac.Write(blob)
	if !hmac.Equal(mac.Sum(nil), proof) {
		return account{}, false
	}
	return acct, true
}

// ntlmExportedKey returns the session key of a verified NTLMv2 AUTHENTICATE (MS-NLMP
// 3.3.2 and 3.4.5.1): the session base key HMAC-MD5(NTOWFv2, NTProofStr), which with
// extended session security is the key-exchange key, decrypting the client's random
// session key when key exchange was negotiated. It also returns the negotiated flags.
func ntlmExportedKey(msg []byte, acct account) ([]byte, uint32, bool) {
	a, ok := parseNTLMAuthenticate(msg)
	if !ok || len(a.ntResponse) < 16 {
		return nil, 0, false
	}
	base := hmacMD5(ntowfv2(acct.password, a.user, a.domain), a.ntResponse[:16])
	if a.flags&ntlmFlagKeyExch == 0 {
		return base, a.flags, true
	}
	if len(a.sessionKey) != 16 {
		return nil, 0, false
	}
	c, err := rc4.NewCipher(base)
	if err != nil {
		return nil, 0, false
	}
	key := make([]byte, 16)
	c.XORKeyStream(key, a.sessionKey)
	return key, a.flags, true
}

func hmacMD5(key []byte, data ...[]byte) []byte {
	mac := hmac.New(md5.New, key)
	for _, d := range data {
		mac.Write(d)
	}
	return mac.Sum(nil)
}
