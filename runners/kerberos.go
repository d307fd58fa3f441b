package runners

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"

	krbclient "github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"
)

// krbLogin is one server's Kerberos client, shared by every request to that server:
// it logs in to the KDC once and caches the service ticket (gokrb5 renews it). WinRS
// and the Exchange endpoint each keep one; Close destroys it, which stops gokrb5's
// renewal.
type krbLogin struct {
	k              Kerberos
	user, password string

	mu sync.Mutex
	cl *krbclient.Client
}

// client returns the logged-in client, logging in on first use. Its errors are
// *krbError: the KDC refused or could not be reached, or the configuration is wrong.
func (l *krbLogin) client() (*krbclient.Client, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cl != nil {
		return l.cl, nil
	}
	path := orDefault(l.k.ConfigPath, "/etc/krb5.conf")
	cfg, err := krbconfig.Load(path)
	if err != nil {
		return nil, &krbError{err: fmt.Errorf("cannot read %s: %w", path, err)}
	}
	var cl *krbclient.Client
	if l.k.CCachePath != "" {
		cc, err := credentials.LoadCCache(l.k.CCachePath)
		if err != nil {
			return nil, &krbError{err: fmt.Errorf("cannot read the credential cache %s: %w", l.k.CCachePath, err)}
		}
		if cl, err = krbclient.NewFromCCache(cc, cfg, krbclient.DisablePAFXFAST(true)); err != nil {
			return nil, &krbError{err: err}
		}
	} else {
		cl = krbclient.NewWithPassword(kerberosUser(l.user), l.k.Realm, l.password, cfg, krbclient.DisablePAFXFAST(true))
		if err := cl.Login(); err != nil {
			return nil, &krbError{err: err}
		}
	}
	l.cl = cl
	return cl, nil
}

// authorize puts a SPNEGO token for spn on req.
func (l *krbLogin) authorize(req *http.Request, spn string) error {
	cl, err := l.client()
	if err != nil {
		return err
	}
	if err := spnego.SetSPNEGOHeader(cl, req, spn); err != nil {
		return &krbError{err: err}
	}
	return nil
}

// destroy logs out: gokrb5 stops renewing the ticket.
func (l *krbLogin) destroy() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cl != nil {
		l.cl.Destroy()
		l.cl = nil
	}
}

// kerberosUser is the principal name in an account name: the KDC knows svc-exchops, not
// MSGLAB\svc-exchops or svc-exchops@msglab.local.
func kerberosUser(user string) string {
	if i := strings.LastIndexByte(user, '\\'); i >= 0 {
		user = user[i+1:]
	}
	if i := strings.IndexByte(user, '@'); i >= 0 {
		user = user[:i]
	}
	return user
}

// krbTransport is WinRS over Kerberos: a winrm.Transporter that puts a token from the
// server's shared krbLogin on each request. masterzen/winrm's own Kerberos transporter
// makes a new client, and so a new KDC login, for every request and never destroys
// it: each one goes on renewing its ticket in the background.
type krbTransport struct {
	login *krbLogin
	url   string // http(s)://<address>:<port>/wsman
	spn   string
	dial  func(network, addr string) (net.Conn, error)
	http  *http.Client
}

// Transport implements winrm.Transporter: TLS and timeouts from the endpoint, the
// runner's dialer, never a proxy from the environment.
func (t *krbTransport) Transport(ep *winrm.Endpoint) error {
	tlsConf, err := tlsConfig(ep.Insecure, ep.TLSServerName, ep.CACert)
	if err != nil {
		return err
	}
	t.http = &http.Client{Transport: &http.Transport{
		Proxy:                 nil,
		Dial:                  t.dial,
		TLSClientConfig:       tlsConf,
		ResponseHeaderTimeout: ep.Timeout,
	}}
	return nil
}

// Post implements winrm.Transporter. A reply other than 200 is an error in the text
// masterzen's transporters use ("http error 401: ..."), which the runner classifies.
func (t *krbTransport) Post(_ *winrm.Client, m *soap.SoapMessage) (string, error) {
	req, err := http.NewRequest(http.MethodPost, t.url, strings.NewReader(m.String())) //nolint:noctx // the tracker bounds the request through its connections
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	if err := t.login.authorize(req, t.spn); err != nil {
		return "", err
	}
	resp, err := t.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReply+1))
	if err != nil {
		return "", fmt.Errorf("http response error: %d - %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("http error %d: %s", resp.StatusCode, body)
	}
	return string(body), nil
}

// tlsConfig is the TLS of a client of the servers: their certificates checked against
// caPEM when given (the system's roots otherwise), or not at all when insecure (a lab).
func tlsConfig(insecure bool, serverName string, caPEM []byte) (*tls.Config, error) {
	conf := &tls.Config{InsecureSkipVerify: insecure, ServerName: serverName} //nolint:gosec // Insecure is the operator's choice for a lab
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("the CA certificates hold no PEM certificate")
		}
		conf.RootCAs = pool
	}
	return conf, nil
}

// loadCA reads file into *pem unless *pem is already set, and says what went wrong
// for an endpoint's list of problems ("" when nothing did).
func loadCA(file string, pem *[]byte) string {
	if file == "" || len(*pem) > 0 {
		return ""
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Sprintf("cannot read ca_file: %v", err)
	}
	*pem = b
	return ""
}
