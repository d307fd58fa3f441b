package runners

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// Kind says what went wrong with a run, in the few words that decide what an operator
// should check.
type Kind string

// The kinds of Error.
const (
	// Invalid: the request cannot be run as given (unknown server, bad endpoint
	// configuration, a script that cannot be sent).
	Invalid Kind = "invalid"
	// Unreachable: no WinRM listener answered (refused, reset, no such host, TLS failure).
	Unreachable Kind = "unreachable"
	// Unauthorized: WinRM refused the credentials (HTTP 401).
	Unauthorized Kind = "unauthorized"
	// Busy: the server refused a new shell because the account used up its quota.
	Busy Kind = "busy"
	// Protocol: the listener answered, but not as WinRM should (HTTP 500 without a
	// usable fault, a SOAP fault, malformed XML, output that does not parse).
	Protocol Kind = "protocol"
	// ScriptFailed: the script ran and exited non-zero.
	ScriptFailed Kind = "script failed"
	// Timeout: the run did not finish in time and was stopped.
	Timeout Kind = "timeout"
	// Canceled: the caller cancelled the run and it was stopped.
	Canceled Kind = "canceled"
	// RBAC: the Exchange endpoint does not offer a cmdlet (or parameter) to the account:
	// Exchange RBAC shows a session only what its roles allow (`exchops rbac`).
	RBAC Kind = "refused by RBAC"
	// NoLanguage: the Exchange endpoint refused something that is not a command with
	// typed parameters (its NoLanguage mode). A bug in exchops, never the operator's.
	NoLanguage Kind = "refused by NoLanguage"
	// ChangeFailed: a plan's steps ran, but its wait reports that the change did not
	// take (a copy that went Failed while seeding). Nothing was wrong with the run
	// itself; the organisation is in a state people must look at.
	ChangeFailed Kind = "change failed"
)

// Error is what the runner returns for a run that did not succeed. Its message names the
// server and says what to check; it never holds a password.
type Error struct {
	Kind     Kind
	Server   string // the server's name, e.g. EX10-MB01
	Op       string // what was being done: "create shell", "run", "lock", ...
	ExitCode int    // for ScriptFailed: the script's exit code
	Msg      string // the whole message, starting with the server's name
	Err      error  // the cause, with any password removed from its text; may be nil
}

func (e *Error) Error() string { return e.Msg }

func (e *Error) Unwrap() error { return e.Err }

// Redacted is err as it is told to people who do not run exchops (the viewer role):
// for a failure to reach or use a server (unreachable, credentials refused, busy, a
// reply that cannot be read, a setup problem, RBAC or NoLanguage refusals) only the
// server and what kind of failure it was, never the endpoint's URL, the account, the
// auth method or where the password comes from, which the full message names for the
// administrators who fix it. The failures of the command itself (script failed, change
// failed, timeout, cancelled) say nothing about the connection and are told in full.
// An error that is not the runner's is told as it is.
func Redacted(err error) string {
	var e *Error
	if !errors.As(err, &e) {
		return err.Error()
	}
	var what string
	switch e.Kind {
	case ScriptFailed, ChangeFailed, Timeout, Canceled:
		return err.Error()
	case Unreachable:
		what = "exchops could not reach the server"
	case Unauthorized:
		what = "the server refused exchops' credentials"
	case Busy:
		what = "the server has no session free for exchops just now; try again later"
	case RBAC, NoLanguage:
		what = "the server's Exchange endpoint refused the command"
		if e.Op != "" {
			what = "the server's Exchange endpoint refused " + e.Op // a cmdlet's name
		}
	case Invalid:
		what = "exchops is not set up to run this on the server"
	default:
		what = "the server's answer could not be understood"
	}
	server := e.Server
	if server == "" {
		server = "exchops"
	}
	return server + ": " + what + " (" + string(e.Kind) + "). The exchops administrators see the details."
}

// KindOf returns the Kind of err if it is or wraps an *Error, and "" otherwise.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

// redacted wraps an error whose text may contain a secret: Error() has the secret
// replaced, Unwrap still reaches the original for errors.Is and errors.As.
type redacted struct {
	err  error
	text string
}

func (r *redacted) Error() string { return r.text }
func (r *redacted) Unwrap() error { return r.err }

func redact(err error, secret string) error {
	if err == nil {
		return nil
	}
	return &redacted{err: err, text: scrub(err.Error(), secret)}
}

func scrub(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "********")
}

// statusRE finds the HTTP status in the masterzen/winrm client's errors, which are only
// text: "http error 500: ...", "http response error: 401 - ...", "request returned: 401 - ...".
var statusRE = regexp.MustCompile(`(?:http error|http response error:|request returned:) (\d{3})\b`)

func httpStatus(text string) int {
	m := statusRE.FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// classify turns an error from the WinRM client into an *Error with advice for the
// operator. op is what was being done.
func (s *server) classify(op string, err error) *Error {
	ep := s.ep
	err = redact(err, ep.Password)
	text := err.Error()
	e := &Error{Server: ep.Name, Op: op, Err: err}
	status := httpStatus(text)
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recordErr tls.RecordHeaderError
	var fault *faultError
	var ke *krbError
	switch {
	case errors.As(err, &ke):
		e.Kind = Unauthorized
		e.Msg = fmt.Sprintf("%s: cannot get a Kerberos ticket for %s to %s (%s): check the realm, the password%s, krb5.conf and that the KDC is reachable",
			ep.Name, ep.User, ep.url(), shorten(text), from(ep.PasswordFrom))
	case errors.As(err, &fault) || (status != 0 && isShellQuota(text)):
		if isShellQuota(text) {
			e.Kind = Busy
			e.Msg = fmt.Sprintf("%s: WinRM refused a new shell for %s: the account has used up its shells (MaxShellsPerUser, 5 on Windows 2008 R2, and other admins' sessions count too): try again later, close idle sessions, or lower the runner's concurrency", ep.Name, ep.User)
			break
		}
		e.Kind = Protocol
		e.Msg = fmt.Sprintf("%s: WinRM answered %s with a fault: %s", ep.Name, op, orDefault(soapFaultText(text), shorten(text)))
	case status == 401 || status == 403:
		e.Kind = Unauthorized
		where := "the password"
		if ep.PasswordFrom != "" {
			where = "the password in " + ep.PasswordFrom
		}
		e.Msg = fmt.Sprintf("%s: WinRM refused the credentials for %s (HTTP %d): check %s and that the account may use WinRM (a member of the server's local Administrators or WinRMRemoteWMIUsers__ group), and the auth method %q",
			ep.Name, ep.User, status, where, ep.auth())
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr):
		e.Kind = Unreachable
		e.Msg = fmt.Sprintf("%s: the TLS certificate of %s was not accepted (%s): set ca_file to the CA that issued it, or check that the address matches the certificate's name",
			ep.Name, ep.url(), shorten(text))
	case errors.As(err, &recordErr):
		e.Kind = Unreachable
		e.Msg = fmt.Sprintf("%s: %s does not speak TLS (%s): check https and the port (5985 is HTTP, 5986 HTTPS)", ep.Name, ep.url(), shorten(text))
	case isUnreachable(err, &netErr):
		e.Kind = Unreachable
		e.Msg = fmt.Sprintf("%s: cannot reach WinRM at %s (%s): check that the server is up, that the WinRM service listens there (winrm quickconfig) and that no firewall blocks the port",
			ep.Name, ep.url(), shorten(text))
	case status != 0:
		e.Kind = Protocol
		hint := "check the WinRM service on the server and any proxy in between"
		if status == 400 && !ep.HTTPS {
			hint = "is the port an HTTPS listener (5986)? then set https"
		}
		if fault := soapFaultText(text); fault != "" {
			e.Msg = fmt.Sprintf("%s: WinRM answered %s with HTTP %d: %s", ep.Name, op, status, fault)
		} else {
			e.Msg = fmt.Sprintf("%s: WinRM answered %s with HTTP %d and no WS-Management fault (%s): %s",
				ep.Name, op, status, shorten(text), hint)
		}
	default:
		e.Kind = Protocol
		e.Msg = fmt.Sprintf("%s: WinRM's reply to %s could not be understood (%s): check the WinRM service on the server and any proxy in between",
			ep.Name, op, shorten(text))
	}
	return e
}

func isUnreachable(err error, netErr *net.Error) bool {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	if errors.As(err, netErr) {
		return true // dial and response-header timeouts
	}
	text := err.Error()
	return strings.Contains(text, "connection refused") || strings.Contains(text, "connection reset") ||
		strings.HasSuffix(text, ": EOF") || strings.Contains(text, "server closed")
}

func isShellQuota(text string) bool {
	return strings.Contains(text, "MaxShellsPerUser") || strings.Contains(text, "concurrent shells") || strings.Contains(text, strconv.FormatUint(0x803381A5, 10))
}

// soapFaultText returns the reason of a SOAP fault found in text (the body the client
// puts in its error), or "".
func soapFaultText(text string) string {
	i := strings.Index(text, "<")
	if i < 0 {
		return ""
	}
	d := xml.NewDecoder(strings.NewReader(text[i:]))
	d.Strict = false
	var in string
	var reason, message string
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			in = t.Name.Local
		case xml.EndElement:
			in = ""
		case xml.CharData:
			v := strings.TrimSpace(string(t))
			switch {
			case v == "":
			case in == "Message" && message == "":
				message = v
			case in == "Text" && reason == "":
				reason = v
			}
		}
	}
	if message != "" {
		return shorten(message)
	}
	return shorten(reason)
}

// shorten keeps error details readable in chat.
func shorten(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	const max = 300
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
