package runners

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"
)

// errAbandoned ends the library's receive loop once the runner has given up on a command.
// It must not look like a timeout, or the library would ask again.
var errAbandoned = errors.New("the runner stopped waiting for this command")

// tracker wraps a client's transport. It records the shell and command ids from the
// replies (the library keeps them private, and the runner needs them to signal the
// command from a second client), turns a panic in the library's reply handling into an
// error (it runs in the library's own goroutine, where a panic would end the process), and
// can be abandoned: then every request fails at once, ending the receive loop.
type tracker struct {
	inner     winrm.Transporter
	conns     *connSet
	abandoned atomic.Bool

	mu        sync.Mutex
	shellID   string
	commandID string
}

func (t *tracker) Transport(ep *winrm.Endpoint) error { return t.inner.Transport(ep) }

func (t *tracker) Post(c *winrm.Client, m *soap.SoapMessage) (resp string, err error) {
	if t.abandoned.Load() {
		return "", errAbandoned
	}
	defer func() {
		if p := recover(); p != nil {
			resp, err = "", fmt.Errorf("the WinRM client could not handle a reply: %v", p)
		}
	}()
	resp, err = t.inner.Post(c, m)
	if err != nil {
		if t.abandoned.Load() {
			return "", errAbandoned
		}
		return "", err
	}
	// The library hands a SOAP fault that came with HTTP 500 back as if it were a reply
	// (it overwrites its error only after returning). Then a faulted Receive looks like
	// "no output yet" and is asked again, forever. So a fault becomes an error here,
	// except the OperationTimeout one, which does mean "ask again".
	if faultRE.MatchString(resp) && !strings.Contains(resp, "OperationTimeout") && !strings.Contains(resp, "TimedOut") {
		return "", &faultError{body: resp}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.shellID == "" && strings.Contains(resp, "ShellId"):
		if id, perr := winrm.ParseOpenShellResponse(resp); perr == nil {
			t.shellID = id
		}
	case t.commandID == "" && strings.Contains(resp, "CommandResponse"):
		if id, perr := winrm.ParseExecuteCommandResponse(resp); perr == nil {
			t.commandID = id
		}
	}
	return resp, nil
}

// faultRE finds a SOAP Fault element; base64 stream data holds no '<'.
var faultRE = regexp.MustCompile(`<([A-Za-z0-9_]+:)?Fault[\s>]`)

// faultError is a WS-Management fault the server answered with.
type faultError struct{ body string }

func (e *faultError) Error() string { return "WS-Management fault: " + e.body }

func (t *tracker) ids() (shellID, commandID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.shellID, t.commandID
}

// abandon makes every later request fail and cuts the connections of requests in flight.
func (t *tracker) abandon() {
	t.abandoned.Store(true)
	t.conns.closeAll()
}

// connSet remembers the connections a client dialled, so they are closed when its run
// ends: the library builds an http.Transport per client and never closes idle
// connections.
type connSet struct {
	timeout time.Duration
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closed  bool
}

func newConnSet(timeout time.Duration) *connSet {
	return &connSet{timeout: timeout, conns: make(map[net.Conn]struct{})}
}

func (s *connSet) dial(network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: s.timeout, KeepAlive: 30 * time.Second}
	c, err := d.Dial(network, addr)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return nil, errAbandoned
	}
	s.conns[c] = struct{}{}
	return trackedConn{Conn: c, set: s}, nil
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	conns := s.conns
	s.conns = map[net.Conn]struct{}{}
	s.closed = true
	s.mu.Unlock()
	for c := range conns {
		c.Close()
	}
}

type trackedConn struct {
	net.Conn
	set *connSet
}

func (c trackedConn) Close() error {
	c.set.mu.Lock()
	delete(c.set.conns, c.Conn)
	c.set.mu.Unlock()
	return c.Conn.Close()
}

// client is one WinRM client with its tracked transport.
type client struct {
	*winrm.Client
	tr     *tracker
	params *winrm.Parameters
	url    string // as the library builds it, for requests the runner sends itself
}

// newClient builds a client with fresh parameters and transport.
func (s *server) newClient() (*client, error) {
	ep := &s.ep
	conns := newConnSet(s.opts.ConnectTimeout)
	inner, err := ep.transport(conns.dial, s.krb)
	if err != nil {
		return nil, err
	}
	tr := &tracker{inner: inner, conns: conns}
	params := parameters(s.opts.OperationTimeout, func() winrm.Transporter { return tr })
	wep := winrm.NewEndpoint(ep.Address, ep.port(), ep.HTTPS, ep.Insecure, ep.CAPEM, nil, nil,
		s.opts.OperationTimeout+s.opts.ReplySlack)
	wep.TLSServerName = ep.TLSServerName
	c, err := winrm.NewClientWithParameters(wep, ep.User, ep.Password, params)
	if err != nil {
		return nil, redact(err, ep.Password)
	}
	scheme := "http"
	if ep.HTTPS {
		scheme = "https"
	}
	return &client{Client: c, tr: tr, params: params,
		url: fmt.Sprintf("%s://%s:%d/wsman", scheme, ep.Address, ep.port())}, nil
}

func (c *client) close() { c.tr.conns.closeAll() }

// signal asks the server to terminate a command.
func (c *client) signal(shellID, commandID string) error {
	req := winrm.NewSignalRequest(c.url, shellID, commandID, c.params)
	defer req.Free()
	_, err := c.tr.Post(c.Client, req)
	return err
}

// send writes data to a command's stdin, in pieces that fit the envelope once base64
// encoded, and marks the end of input.
func (c *client) send(shellID, commandID string, data []byte, stop <-chan struct{}) error {
	const piece = (envelopeSize - 4096) / 4 * 3
	for {
		n := min(len(data), piece)
		last := n == len(data)
		req := winrm.NewSendInputRequest(c.url, shellID, commandID, data[:n], last, c.params)
		_, err := c.tr.Post(c.Client, req)
		req.Free()
		if err != nil || last {
			return err
		}
		data = data[n:]
		select {
		case <-stop:
			return errAbandoned
		default:
		}
	}
}

// deleteShell deletes a shell, which also ends what still runs in it.
func (c *client) deleteShell(shellID string) error {
	return c.NewShell(shellID).Close()
}
