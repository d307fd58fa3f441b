package wsman

import (
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"time"
)

// users checks credentials. Windows compares account names case-insensitively and accepts
// them with a NetBIOS domain (MSGLAB\svc-exchops) or as a UPN (svc-exchops@msglab.local);
// the lab has one domain, so the domain part is not compared.
type users struct {
	byKey map[string]account
}

type account struct {
	name     string // as configured, handed to Host.Exec
	password string
}

func newUsers(m map[string]string) users {
	u := users{byKey: make(map[string]account, len(m))}
	for name, pw := range m {
		u.byKey[userKey(name)] = account{name: name, password: pw}
	}
	return u
}

// userKey is the canonical form of an account name: no domain, lower case.
func userKey(name string) string {
	if i := strings.LastIndexByte(name, '\\'); i >= 0 {
		name = name[i+1:]
	}
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name = name[:i]
	}
	return strings.ToLower(strings.TrimSpace(name))
}

// check returns the account for a user name and password, comparing the password in
// constant time.
func (u users) check(name, password string) (account, bool) {
	a, ok := u.byKey[userKey(name)]
	if !ok || subtle.ConstantTimeCompare([]byte(a.password), []byte(password)) != 1 {
		return account{}, false
	}
	return a, true
}

func (u users) lookup(name string) (account, bool) {
	a, ok := u.byKey[userKey(name)]
	return a, ok
}

// authResult is what authenticate decided.
type authResult struct {
	account account
	ok      bool
	// challenge is set when an NTLM handshake continues: it goes out in a 401's
	// WWW-Authenticate header as "<scheme> <base64>".
	challenge string
	// response is a Kerberos acceptor's mutual-authentication token, sent back as
	// "WWW-Authenticate: Negotiate <base64>" with the answer.
	response string
	// why says, for the log, why credentials were refused.
	why string
	// seal is the connection's new NTLM security context when the handshake negotiated
	// sealing (message encryption).
	seal *ntlmSeal
	// ntlm is set when the client authenticated with NTLM (on this request or earlier on
	// the connection); viaConn when it sent no credentials on a connection whose NTLM
	// context seals.
	ntlm, viaConn bool
}

// isLocal reports whether an account is a local account of the server: configured
// without a domain, or with the server's own name as its domain. The lab's service
// account (MSGLAB\svc-exchops) is a domain account.
func (s *Server) isLocal(name string) bool {
	if dom, _, ok := strings.Cut(name, "\\"); ok {
		return strings.EqualFold(dom, s.opts.Machine) || dom == "."
	}
	return !strings.Contains(name, "@")
}

// authenticate checks the request's Authorization header as the endpoint it reached does.
//
// /wsman (WinRM): Basic only for local accounts (WinRM refuses Basic for domain
// accounts); NTLM in the Negotiate or NTLM scheme; Kerberos in Negotiate or Kerberos when
// an acceptor is configured. NTLM is a three-leg handshake bound to the connection; the
// CHALLENGE sent on a connection is remembered by the client's address (one TCP
// connection) until the AUTHENTICATE arrives on it.
//
// /PowerShell/ (IIS): Basic (as when enabled on the virtual directory) for any account,
// and Kerberos; never NTLM.
func (s *Server) authenticate(r *http.Request, kind endpointKind) authResult {
	h := r.Header.Get("Authorization")
	scheme, data, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "basic":
		name, pw, ok := r.BasicAuth()
		if !ok {
			return authResult{why: "malformed Basic credentials"}
		}
		a, ok := s.users.check(name, pw)
		if !ok {
			return authResult{why: "bad user name or password"}
		}
		if r.TLS == nil && !s.opts.AllowUnencrypted {
			// Basic cannot be encrypted: over HTTP, WinRM (AllowUnencrypted=false, the
			// default) rejects it as it rejects a wrong password, with 401.
			return authResult{why: "Basic authentication over HTTP is refused (AllowUnencrypted=false): use HTTPS"}
		}
		if kind == endpointWinRS && (!s.isLocal(a.name) || !s.isLocal(name)) {
			return authResult{why: "Basic authentication is refused for domain accounts: use NTLM or Kerberos"}
		}
		return authResult{account: a, ok: true}
	case "negotiate", "ntlm", "kerberos":
		msg, err := base64.StdEncoding.DecodeString(strings.TrimSpace(data))
		if err != nil {
			return authResult{why: "the token is not base64"}
		}
		if t := ntlmMessageType(msg); t != 0 {
			if kind == endpointPowerShell || strings.EqualFold(scheme, "kerberos") {
				return authResult{why: "NTLM is not accepted here"}
			}
			switch t {
			case 1:
				challenge := s.ntlm.newChallenge(r.RemoteAddr, s.opts.Machine, s.opts.Domain, s.opts.Now(), negotiateFlags(msg))
				return authResult{challenge: scheme + " " + base64.StdEncoding.EncodeToString(challenge)}
			case 3:
				var a account
				ok := s.ntlm.takeVerified(r.RemoteAddr, s.opts.Now(), func(ch [8]byte) bool {
					var verified bool
					a, verified = verifyNTLMAuthenticate(msg, ch, s.users)
					return verified
				})
				if !ok {
					return authResult{why: "NTLM response does not verify against a CHALLENGE sent to this client"}
				}
				res := authResult{account: a, ok: true, ntlm: true}
				if key, flags, kok := ntlmExportedKey(msg, a); kok && flags&ntlmFlagSeal != 0 {
					if seal, err := newNTLMSeal(a, key, flags); err == nil {
						res.seal = seal
					}
				}
				return res
			}
			return authResult{why: "unexpected NTLM message"}
		}
		if s.opts.Kerberos == nil || strings.EqualFold(scheme, "ntlm") {
			return authResult{why: "Kerberos is not configured on this server"}
		}
		user, resp, err := s.opts.Kerberos.Accept(msg)
		if err != nil {
			return authResult{why: "Kerberos token refused: " + err.Error()}
		}
		a, ok := s.users.lookup(user)
		if !ok {
			return authResult{why: "Kerberos principal is not a user of this server"}
		}
		res := authResult{account: a, ok: true}
		if len(resp) > 0 {
			res.response = "Negotiate " + base64.StdEncoding.EncodeToString(resp)
		}
		return res
	}
	if h == "" && kind == endpointWinRS {
		// WinRM authenticates the connection: after a sealing NTLM handshake the client
		// sends its sealed messages without credentials.
		if seal := s.seals.get(r.RemoteAddr); seal != nil {
			return authResult{account: seal.account, ok: true, ntlm: true, viaConn: true}
		}
	}
	return authResult{why: "no credentials"}
}

// unauthorized answers 401 with an empty body and the schemes the endpoint accepts:
// WinRM offers Negotiate and Basic; Exchange's virtual directory offers Negotiate
// (Kerberos) only when a Kerberos acceptor is configured, and Basic.
func (s *Server) unauthorized(w http.ResponseWriter, kind endpointKind, challenge string) {
	switch {
	case challenge != "":
		w.Header().Add("WWW-Authenticate", challenge)
	case kind == endpointPowerShell:
		if s.opts.Kerberos != nil {
			w.Header().Add("WWW-Authenticate", "Negotiate")
		}
		w.Header().Add("WWW-Authenticate", `Basic realm="`+s.opts.Machine+`"`)
	default:
		w.Header().Add("WWW-Authenticate", "Negotiate")
		w.Header().Add("WWW-Authenticate", `Basic realm="WSMAN"`)
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusUnauthorized)
}

// ntlmChallenges remembers the server challenge sent on each connection.
type ntlmChallenges struct {
	mu      sync.Mutex
	pending map[string]pendingChallenge
}

type pendingChallenge struct {
	challenge [8]byte
	expires   time.Time
}

// A client answers a CHALLENGE at once; one that has not within this time starts again.
const (
	ntlmChallengeTTL = 2 * time.Minute
	maxPendingNTLM   = 4096
)

func (n *ntlmChallenges) newChallenge(conn, machine, domain string, now time.Time, asked uint32) []byte {
	ch := randomChallenge()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.pending == nil {
		n.pending = make(map[string]pendingChallenge)
	}
	if len(n.pending) >= maxPendingNTLM {
		for k, p := range n.pending {
			if now.After(p.expires) {
				delete(n.pending, k)
			}
		}
		if len(n.pending) >= maxPendingNTLM {
			// Too many half-open handshakes: drop one rather than grow without bound.
			for k := range n.pending {
				delete(n.pending, k)
				break
			}
		}
	}
	n.pending[conn] = pendingChallenge{challenge: ch, expires: now.Add(ntlmChallengeTTL)}
	return buildNTLMChallenge(ch, machine, domain, now, asked)
}

// takeVerified finds the challenge an AUTHENTICATE answers and forgets it: each is good
// for one AUTHENTICATE only, so a captured one cannot be replayed. The challenge sent on
// the same connection is tried first. A client that runs requests concurrently (the
// masterzen client sends stdin while it receives) may have its HTTP library send the
// AUTHENTICATE on another of its pooled connections; http.sys would refuse it, which
// makes such clients fail at random. The lab accepts a challenge sent to the same client
// host instead: the NTLMv2 proof is an HMAC over the challenge, so only the challenge it
// was computed for verifies.
func (n *ntlmChallenges) takeVerified(conn string, now time.Time, verify func([8]byte) bool) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	try := func(key string) bool {
		p, ok := n.pending[key]
		if !ok || now.After(p.expires) || !verify(p.challenge) {
			return false
		}
		delete(n.pending, key)
		return true
	}
	if try(conn) {
		return true
	}
	host := hostOf(conn)
	for key := range n.pending {
		if key != conn && hostOf(key) == host && try(key) {
			return true
		}
	}
	return false
}

func hostOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		return addr[:i]
	}
	return addr
}
