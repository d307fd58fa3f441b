package runners

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/masterzen/winrm"
)

// Auth is how the runner authenticates to WinRM.
type Auth string

// The supported authentication methods.
const (
	// AuthBasic sends the password with every request: only over HTTPS (or with
	// AllowUnencrypted, for a lab).
	AuthBasic Auth = "basic"
	// AuthNTLM is NTLM over HTTPS (over plain HTTP the payload would travel in clear).
	AuthNTLM Auth = "ntlm"
	// AuthNTLMEncrypted is NTLM with WinRM message encryption over HTTP, what a Windows
	// client does by default on port 5985.
	AuthNTLMEncrypted Auth = "ntlm-encrypted"
	// AuthKerberos uses a Kerberos ticket (from a password or a credential cache).
	AuthKerberos Auth = "kerberos"
)

// Kerberos holds the Kerberos settings of an endpoint using AuthKerberos.
type Kerberos struct {
	Realm      string // e.g. MSGLAB.LOCAL
	ConfigPath string // krb5.conf, default /etc/krb5.conf
	SPN        string // service principal, default HTTP/<address>
	CCachePath string // use this credential cache instead of the password
}

// Endpoint is one server's WinRM listener and the credentials to use on it.
type Endpoint struct {
	Name          string // the server's name in chat and config, e.g. EX10-MB01
	Address       string // host name or IP address
	Port          int    // 0: 5986 with HTTPS, 5985 without
	HTTPS         bool
	Insecure      bool   // skip verifying the server's certificate (a lab only)
	CAPEM         []byte // CA certificates (PEM) that may sign the server's certificate
	CAFile        string // or a file holding them; read by New
	TLSServerName string // the name to verify the certificate against, if not Address
	Auth          Auth   // "" means ntlm
	User          string // e.g. MSGLAB\svc-exchops
	Password      string
	// PasswordFrom says where the password came from (e.g. WINRM_PASSWORD), so an
	// authentication error can tell the operator what to check.
	PasswordFrom string
	Kerberos     Kerberos
	// AllowUnencrypted permits Basic and Kerberos (which the client cannot encrypt)
	// over plain HTTP. WinRM refuses it by default and so does the runner; only a lab
	// should set this.
	AllowUnencrypted bool
	Timeout          time.Duration // per-command timeout on this server; 0: the runner's default
	// Exchange is the server's Exchange endpoint, where Exchange steps go; nil for a
	// server without Exchange (a DNS server, an NLB-only host). A server with only an
	// Exchange endpoint may leave Address empty.
	Exchange *ExchangeEndpoint
}

// String describes the endpoint without its password.
func (e Endpoint) String() string {
	return fmt.Sprintf("%s (%s, auth %s, user %s)", e.Name, e.url(), e.auth(), e.User)
}

// GoString keeps the password out of %#v.
func (e Endpoint) GoString() string { return "runners.Endpoint{" + e.String() + "}" }

func (e Endpoint) auth() Auth {
	if e.Auth == "" {
		return AuthNTLM
	}
	return e.Auth
}

func (e Endpoint) port() int {
	switch {
	case e.Port != 0:
		return e.Port
	case e.HTTPS:
		return 5986
	default:
		return 5985
	}
}

func (e Endpoint) url() string {
	scheme := "http"
	if e.HTTPS {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(e.Address, strconv.Itoa(e.port())) + "/wsman"
}

// check validates the endpoint and loads its CA file.
func (e *Endpoint) check() error {
	var problems []string
	if strings.TrimSpace(e.Name) == "" {
		problems = append(problems, "it has no name")
	}
	if e.Exchange != nil {
		ex := *e.Exchange // a copy: check loads the CA file into it, not into the caller's
		if err := ex.check(orDefault(e.Name, e.Address)); err != nil {
			problems = append(problems, err.Error())
		}
		e.Exchange = &ex
		if strings.TrimSpace(e.Address) == "" && e.Port == 0 {
			// Exchange only: the WinRS settings do not apply.
			if len(problems) > 0 {
				return errors.New("endpoint " + orDefault(e.Name, e.Exchange.URL) + ": " + strings.Join(problems, "; "))
			}
			return nil
		}
	}
	if strings.TrimSpace(e.Address) == "" {
		problems = append(problems, "it has no address")
	}
	if e.Port < 0 || e.Port > 65535 {
		problems = append(problems, fmt.Sprintf("port %d is out of range", e.Port))
	}
	switch e.auth() {
	case AuthBasic:
		if !e.HTTPS && !e.AllowUnencrypted {
			problems = append(problems, "basic authentication over HTTP would send the password in clear: use https, or ntlm-encrypted")
		}
	case AuthNTLM:
	case AuthKerberos:
		if !e.HTTPS && !e.AllowUnencrypted {
			// The library sends the SOAP in clear after the Authorization header: it has no
			// Kerberos message encryption, and WinRM refuses unencrypted traffic (HTTP 500)
			// unless AllowUnencrypted=true.
			problems = append(problems, "kerberos over HTTP would send the payload in clear (the WinRM client has no Kerberos message encryption) and WinRM refuses it: use https")
		}
	case AuthNTLMEncrypted:
		if e.HTTPS {
			problems = append(problems, "ntlm-encrypted is message encryption for HTTP: over HTTPS use ntlm")
		}
	default:
		problems = append(problems, fmt.Sprintf("auth %q is not one of basic, ntlm, ntlm-encrypted, kerberos", e.Auth))
	}
	if e.auth() != AuthKerberos || e.Kerberos.CCachePath == "" {
		if e.User == "" {
			problems = append(problems, "it has no user")
		}
	}
	if e.auth() == AuthKerberos && e.Kerberos.Realm == "" && e.Kerberos.CCachePath == "" {
		problems = append(problems, "kerberos needs a realm")
	}
	if p := loadCA(e.CAFile, &e.CAPEM); p != "" {
		problems = append(problems, p)
	}
	if e.Timeout < 0 {
		problems = append(problems, "its timeout is negative")
	}
	if len(problems) > 0 {
		name := e.Name
		if name == "" {
			name = e.Address
		}
		return errors.New("WinRM endpoint " + name + ": " + strings.Join(problems, "; "))
	}
	return nil
}

// parameters returns fresh client parameters: never the shared winrm.DefaultParameters,
// which every client of the process would see changed.
func parameters(operationTimeout time.Duration, decorator func() winrm.Transporter) *winrm.Parameters {
	secs := int(operationTimeout / time.Second)
	if secs < 1 {
		secs = 1
	}
	p := winrm.NewParameters("PT"+strconv.Itoa(secs)+"S", "en-US", envelopeSize)
	p.TransportDecorator = decorator
	return p
}

// envelopeSize is WinRM's default MaxEnvelopeSizekb (150 KB on Windows 2008 R2).
const envelopeSize = 153600

// transport returns a new transport for the endpoint's auth method. dial bounds how long
// connecting may take; the ntlm-encrypted and kerberos transports of the library use their
// own dialers.
func (e *Endpoint) transport(dial func(network, addr string) (net.Conn, error), krb *krbLogin) (winrm.Transporter, error) {
	switch e.auth() {
	case AuthBasic:
		return winrm.NewClientWithDial(dial), nil
	case AuthNTLM:
		return winrm.NewClientNTLMWithDial(dial), nil
	case AuthNTLMEncrypted:
		return winrm.NewEncryption("ntlm")
	case AuthKerberos:
		// The SPN is given rather than left to gokrb5, which would canonicalise the host
		// through a DNS CNAME lookup (and ask for HTTP/<ip> when Address is an IP).
		spn := e.Kerberos.SPN
		if spn == "" {
			spn = "HTTP/" + e.Address
		}
		return &krbTransport{login: krb, url: e.url(), spn: spn, dial: dial}, nil
	}
	return nil, fmt.Errorf("auth %q is not supported", e.Auth)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
