package lab

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/lab/wsman"
	"github.com/exchops/exchops/runners"
)

// Default credentials of the lab's service account (what `exchops lab` prints).
const (
	DefaultUser     = `MSGLAB\svc-exchops`
	DefaultPassword = "Lab-Only-Passw0rd"
)

// Options configure a running lab.
type Options struct {
	// Host is the loopback address to listen on; "" is 127.0.0.1.
	Host string
	// TLS serves HTTPS with a certificate made at start (Lab.CertPEM).
	TLS bool
	// User and Password are the credentials every server accepts (HTTP Basic and NTLM).
	User, Password string
	// Clock drives everything that takes time in the organisation; nil is the wall clock.
	Clock clock.Clock
	// Timing overrides DefaultTiming when not nil.
	Timing *Timing
	// Latency is added to every WS-Management request; Startup to opening every
	// session on an Exchange endpoint (loading Exchange and the account's roles). Both
	// are real time: they model the network and the servers, not the organisation.
	Latency, Startup time.Duration
	// OperationTimeoutCap caps WS-Management long polls (tests shorten it); 0 is 60 s.
	OperationTimeoutCap time.Duration
	// Logger receives the servers' request logs; nil discards.
	Logger *slog.Logger
	// Scale, when set, grows the organisation before it is served (benchmarks).
	Scale *Scale
	// BranchSite adds a second Active Directory site (BranchSiteName) with its own
	// server and database (AddBranchSite), for tests of what is per site. The default
	// organisation, and what `exchops lab` prints, have one site.
	BranchSite bool
	// KerberosKeytab, when set, is a keytab file with the HTTP/<fqdn> keys of the
	// servers (internal/krbtest writes one): every server then also accepts Kerberos
	// tickets for its own SPN, as IIS and WinRM do with the machine account's keys.
	KerberosKeytab string
	// CredSSP makes WinRS shells hold a delegated credential, as CredSSP would: the
	// Exchange Management Shell then loads inside them (RemoteExchange.ps1 and
	// Connect-ExchangeServer, paying Startup each time). Without it that is a second
	// hop and refused, as on a real server. Only the benchmarks set it, to measure the
	// old WinRS way beside the Exchange endpoint; exchops never needs it.
	CredSSP bool
	// RequireEncryption makes every server refuse unencrypted traffic over plain HTTP,
	// as a 2008 R2 server does by default (AllowUnencrypted=false): Basic is refused with
	// 401, NTLM without message encryption with HTTP 500, and WinRS takes only
	// NTLM-sealed messages (the runner's ntlm-encrypted, which RunnerEndpoints uses over
	// HTTP). The Exchange endpoint is reached with Basic (the lab's servers hold no
	// Kerberos keys unless KerberosKeytab is set), so with this set it needs TLS.
	// `exchops lab` sets it unless started with --allow-unencrypted; tests and the demo,
	// which reach the Exchange endpoints over HTTP, leave it off.
	RequireEncryption bool
}

// Lab is a running simulated organisation: one WS-Management endpoint per server.
type Lab struct {
	Org     *Org
	Servers []*Endpoint
	User    string
	// Password is the lab's own, made-up credential; it protects nothing real.
	Password string
	// CertPEM is the bundle of every HTTPS endpoint's self-signed certificate, what a
	// client's CA file holds to trust the whole lab (nil without TLS).
	CertPEM []byte
}

// Endpoint is one simulated server as a client reaches it.
type Endpoint struct {
	Name string
	URL  string // WS-Management (WinRS): http(s)://127.0.0.1:<port>/wsman
	// PowerShellURL is the Exchange endpoint, http(s)://127.0.0.1:<port>/PowerShell/,
	// on the same listener; "" on a server without Exchange.
	PowerShellURL string
	Port          int
	// CertPEM is the endpoint's own certificate over HTTPS.
	CertPEM []byte
	Host    *Host
	// Exchange is the organisation behind PowerShellURL (nil without Exchange).
	Exchange *ExchangeEndpoint
	WSMan    *wsman.Server

	listener *wsman.Listener
}

// Start builds the organisation and serves every server on its own loopback port.
func Start(opts Options) (*Lab, error) {
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.User == "" {
		opts.User = DefaultUser
	}
	if opts.Password == "" {
		opts.Password = DefaultPassword
	}
	c := opts.Clock
	if c == nil {
		c = clock.Real{}
	}
	org := New(c)
	if opts.Timing != nil {
		org.Timing = *opts.Timing
	}
	if opts.Scale != nil {
		if err := org.scale(*opts.Scale); err != nil {
			return nil, err
		}
	}
	if opts.BranchSite {
		org.AddBranchSite()
	}
	l := &Lab{Org: org, User: opts.User, Password: opts.Password}
	acceptors, err := kerberosAcceptors(opts.KerberosKeytab, org.Servers())
	if err != nil {
		return nil, err
	}
	for _, s := range org.Servers() {
		h := newHost(org, s)
		h.credssp = opts.CredSSP
		var ex *ExchangeEndpoint
		if s.Exchange {
			var err error
			if ex, err = NewExchangeEndpoint(org, s.Name); err != nil {
				l.Close()
				return nil, err
			}
			ex.SetStartup(opts.Startup)
			h.exchange = ex
		}
		log := opts.Logger
		if log != nil {
			log = log.With("server", s.Name)
		}
		wo := wsman.Options{
			Users:               map[string]string{opts.User: opts.Password},
			Latency:             opts.Latency,
			OperationTimeoutCap: opts.OperationTimeoutCap,
			Machine:             s.Name,
			Domain:              DomainNB,
			Logger:              log,
			Kerberos:            acceptors[s.Name],
			AllowUnencrypted:    !opts.RequireEncryption,
		}
		if ex != nil { // not a nil *ExchangeEndpoint in the interface: /PowerShell/ is 404 without Exchange
			wo.Exchange = ex
		}
		srv := wsman.NewServer(h, wo)
		ln, url, err := wsman.Listen(net.JoinHostPort(opts.Host, "0"), opts.TLS, srv, s.FQDN(), s.Name)
		if err != nil {
			srv.Close()
			l.Close()
			return nil, err
		}
		l.CertPEM = append(l.CertPEM, ln.CertPEM...)
		e := &Endpoint{Name: s.Name, URL: url, Port: ln.Port(), CertPEM: ln.CertPEM, Host: h, Exchange: ex, WSMan: srv, listener: ln}
		if ex != nil {
			e.PowerShellURL = strings.TrimSuffix(url, "/wsman") + "/PowerShell/"
		}
		l.Servers = append(l.Servers, e)
	}
	return l, nil
}

// Endpoint returns a server's endpoint by name (case-insensitive), or nil.
func (l *Lab) Endpoint(name string) *Endpoint {
	for _, e := range l.Servers {
		if strings.EqualFold(e.Name, name) {
			return e
		}
	}
	return nil
}

// FaultNames lists the server-level faults SetFault knows, for flags and errors.
const FaultNames = "none, unreachable, http500, unauthorized, malformed, hang (lasting, until none), " +
	"dropshells (the server forgets every Exchange endpoint session, once), clixml (the next Exchange output is malformed CLIXML, once), " +
	"stop-<service> (a required Windows service stops, e.g. stop-MSExchangeIS, until none), queue (a Hub Transport server's queue grows 10 messages a minute from 60, until none), " +
	"dismount (the databases active on the server dismount), publicfolder-dismounted (the server gets a dismounted public folder database)"

// SetFault applies a server-level fault by name: the WS-Management faults
// (unreachable, http500, unauthorized, malformed, none, and the one-shot dropshells
// and clixml of the Exchange endpoint) and "hang" (every WinRS command and every
// Exchange pipeline runs until stopped) — "none" also ends a hang.
func (l *Lab) SetFault(server, fault string) error {
	e := l.Endpoint(server)
	if e == nil {
		return fmt.Errorf("lab: no server %q (servers: %s)", server, l.names())
	}
	hang := func(v bool) {
		e.Host.SetHang(v)
		if e.Exchange != nil {
			e.Exchange.SetHang(v)
		}
	}
	if fault == "hang" {
		hang(true)
		return nil
	}
	if ok, err := l.Org.serverFault(e.Name, fault); ok {
		return err
	}
	f, err := wsman.ParseFault(fault)
	if err != nil {
		return fmt.Errorf("lab: unknown fault %q: use one of %s", fault, FaultNames)
	}
	if f == wsman.FaultNone {
		hang(false)
		l.Org.clearServerFaults(e.Name)
	}
	e.WSMan.SetFault(f)
	return nil
}

func (l *Lab) names() string {
	s := ""
	for i, e := range l.Servers {
		if i > 0 {
			s += ", "
		}
		s += e.Name
	}
	return s
}

// Close stops every endpoint and the commands running on them.
func (l *Lab) Close() error {
	var errs []error
	for _, e := range l.Servers {
		errs = append(errs, e.listener.Close())
	}
	return errors.Join(errs...)
}

// RunnerEndpoints is how exchops' WinRM runner reaches every server of the lab: on
// loopback with the lab's credentials, NTLM authentication (the lab's account is a
// domain account, and WinRM refuses Basic for those): over HTTPS trusting the lab's own
// certificates when it serves TLS, otherwise over HTTP with NTLM message encryption, as
// a Windows server requires. The Exchange endpoint is reached with Basic, which over
// plain HTTP works only when the lab does not RequireEncryption.
func (l *Lab) RunnerEndpoints() []runners.Endpoint {
	var eps []runners.Endpoint
	for _, e := range l.Servers {
		ep := runners.Endpoint{Name: e.Name, Address: "127.0.0.1", Port: e.Port,
			Auth: runners.AuthNTLMEncrypted, User: l.User, Password: l.Password}
		if len(e.CertPEM) > 0 {
			ep.Auth, ep.HTTPS, ep.CAPEM = runners.AuthNTLM, true, e.CertPEM
		}
		if e.PowerShellURL != "" {
			// Exchange steps go to the server's /PowerShell/ endpoint, with Basic (the
			// virtual directory accepts it for any account; Kerberos needs a keytab).
			ep.Exchange = &runners.ExchangeEndpoint{URL: e.PowerShellURL, Auth: runners.AuthBasic,
				User: l.User, Password: l.Password, CAPEM: e.CertPEM, AllowUnencrypted: len(e.CertPEM) == 0}
		}
		eps = append(eps, ep)
	}
	return eps
}
