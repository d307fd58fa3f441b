package runners

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ExchangeEndpoint is a server's Exchange remote PowerShell endpoint
// (http(s)://<server>/PowerShell/, configuration Microsoft.Exchange) and the credentials
// to use on it. Exchange steps (commands.Step with Calls) go there; WinRS steps go to the
// Endpoint's WinRM listener.
type ExchangeEndpoint struct {
	URL  string // e.g. https://ex10-caht.msglab.local/PowerShell/
	Auth Auth   // kerberos or basic ("" means kerberos, the virtual directory's default)
	User string // e.g. MSGLAB\svc-exchops
	// Password and where it came from (e.g. EXCHANGE_PASSWORD), for error messages.
	Password, PasswordFrom string
	CAPEM                  []byte // CA certificates (PEM) that may sign the server's certificate
	CAFile                 string // or a file holding them; read by New
	Insecure               bool   // skip verifying the certificate (a lab only)
	TLSServerName          string // the name to verify the certificate against, if not the URL's host
	Kerberos               Kerberos
	// AllowUnencrypted permits Basic over plain HTTP: a lab only.
	AllowUnencrypted bool
}

func (e *ExchangeEndpoint) auth() Auth {
	if e.Auth == "" {
		return AuthKerberos
	}
	return e.Auth
}

// check refuses what cannot work or would expose the password, and loads the CA file.
func (e *ExchangeEndpoint) check(name string) error {
	var problems []string
	u, err := url.Parse(e.URL)
	https := false
	switch {
	case e.URL == "":
		problems = append(problems, "it has no URL (e.g. https://ex10-caht.msglab.local/PowerShell/)")
	case err != nil:
		problems = append(problems, fmt.Sprintf("its URL %q does not parse: %v", e.URL, err))
	case u.Scheme != "http" && u.Scheme != "https":
		problems = append(problems, fmt.Sprintf("its URL %q is not http:// or https://", e.URL))
	case u.Host == "":
		problems = append(problems, fmt.Sprintf("its URL %q has no host", e.URL))
	case u.User != nil:
		problems = append(problems, "its URL must not hold credentials: set user and password")
	default:
		https = u.Scheme == "https"
	}
	switch e.auth() {
	case AuthBasic:
		if !https && !e.AllowUnencrypted {
			problems = append(problems, "basic authentication over HTTP would send the password in clear: use https")
		}
	case AuthKerberos:
		if !https && err == nil && e.URL != "" {
			// Over plain HTTP, WinRM requires the payload to be sealed with the Kerberos
			// session key (multipart/encrypted), which this client does not do.
			problems = append(problems, "kerberos over plain HTTP needs WinRM message encryption, which exchops does not implement: use https")
		}
		if e.Kerberos.Realm == "" && e.Kerberos.CCachePath == "" {
			problems = append(problems, "kerberos needs a realm (or a credential cache)")
		}
	default:
		problems = append(problems, fmt.Sprintf("auth %q is not one of kerberos, basic (the Exchange virtual directory offers no NTLM by default)", e.Auth))
	}
	if e.User == "" && !(e.auth() == AuthKerberos && e.Kerberos.CCachePath != "") {
		problems = append(problems, "it has no user")
	}
	if p := loadCA(e.CAFile, &e.CAPEM); p != "" {
		problems = append(problems, p)
	}
	if len(problems) > 0 {
		return errors.New("Exchange endpoint of " + name + ": " + strings.Join(problems, "; "))
	}
	return nil
}

// ShellLog is told about every WS-Management shell the runner opens and closes (WinRS
// shells and Exchange runspace pools), so that shells a killed process left open can be
// deleted at start-up with DeleteShell. Its methods must not block.
type ShellLog interface {
	Opened(server, resourceURI, shellID string)
	Closed(shellID string)
}

// WinRSResourceURI is the resource URI of a WinRS (cmd) shell.
const WinRSResourceURI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
