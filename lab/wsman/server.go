package wsman

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exchops/exchops/lab/psrp"
)

// Defaults of a Windows Server 2008 R2 WinRM 2.0 service, used where Options leaves a zero.
const (
	DefaultMaxShellsPerUser    = 5
	DefaultOperationTimeoutCap = 60 * time.Second
	DefaultIdleTimeout         = 180 * time.Second
	DefaultMaxEnvelopeSizeKB   = 500
	// defaultClientEnvelope is the MaxEnvelopeSize assumed when a request names none.
	defaultClientEnvelope = 153600
	// defaultOperationTimeout is the OperationTimeout assumed when a request names none.
	defaultOperationTimeout = 60 * time.Second
	// minEnvelopeSize is the smallest MaxEnvelopeSize a Receive can be answered within.
	minEnvelopeSize = 8192
	// closeWait bounds how long Close waits for Host.Exec calls to return after cancelling them.
	closeWait = 5 * time.Second
)

// Options configure a Server. Zero values take the Windows defaults.
type Options struct {
	// Users maps account names to passwords. Names are compared case-insensitively and
	// with or without a domain: "MSGLAB\svc-exchops", "svc-exchops" and
	// "svc-exchops@msglab.local" are one account.
	Users map[string]string
	// MaxShellsPerUser is the number of shells one user may hold open (WinRM's
	// MaxShellsPerUser, 5 on Windows 2008 R2).
	MaxShellsPerUser int
	// OperationTimeoutCap caps how long a Receive waits for output before answering with
	// the OperationTimeout fault, whatever the client asked (60 s by default; tests use
	// a short one).
	OperationTimeoutCap time.Duration
	// IdleTimeout is how long a shell lives without requests before it is deleted with its
	// commands, so abandoned shells do not hold the quota (180 s by default).
	IdleTimeout time.Duration
	// Latency is added to every request, to make the lab as slow as a network.
	Latency time.Duration
	// MaxEnvelopeSizeKB is the largest request accepted (WinRM's MaxEnvelopeSizekb, 500).
	MaxEnvelopeSizeKB int
	// Machine is the server's computer name, shown in faults and in NTLM challenges.
	Machine string
	// Domain is the NetBIOS domain name the server offers in NTLM challenges.
	Domain string
	// Logger receives one debug line per request and warnings; nil discards. Passwords
	// never reach it.
	Logger *slog.Logger
	// Now is the clock for idle expiry and NTLM; nil is time.Now.
	Now func() time.Time
	// Exchange, when set, is served at /PowerShell/: Exchange's PowerShell Remoting
	// endpoint (resource URI http://schemas.microsoft.com/powershell/Microsoft.Exchange).
	// Without it that path answers 404, as on a server without the Exchange role.
	Exchange psrp.Endpoint
	// Kerberos, when set, validates Kerberos (SPNEGO) tokens sent with Negotiate or
	// Kerberos; when nil, Negotiate is not offered on /PowerShell/.
	Kerberos KerberosAcceptor
	// AllowUnencrypted accepts unencrypted traffic over plain HTTP: Basic, and NTLM
	// without message encryption. Off, the lab does what a Windows 2008 R2 server does by
	// default (AllowUnencrypted=false): over HTTP it refuses Basic with 401 and an
	// unsealed NTLM request with HTTP 500, and accepts only NTLM-sealed
	// (multipart/encrypted) messages. HTTPS is unaffected. Kerberos over HTTP stays
	// accepted unsealed: the lab cannot unwrap Kerberos-sealed messages.
	AllowUnencrypted bool
}

// Server is a WS-Management listener for WinRS shells: an http.Handler for POST /wsman.
// It is safe for concurrent use. Close it to stop its commands and its idle reaper.
type Server struct {
	host  Host
	opts  Options
	users users
	ntlm  ntlmChallenges
	seals sealSessions
	fault atomic.Int32
	// corrupt arms the malformed-CLIXML fault: the next PIPELINE_OUTPUT is broken XML.
	corrupt atomic.Bool
	log     *slog.Logger
	newID   func() string // a fresh UUID, upper case as Windows writes ShellId and CommandId

	baseCtx   context.Context // parent of every command's context
	cancelAll context.CancelFunc
	closing   chan struct{}
	reaped    chan struct{} // closed when the reaper goroutine has stopped
	execs     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	shells map[string]*shell
}

// NewServer returns a listener that runs commands on host. It starts a goroutine that
// expires idle shells; Close stops it.
func NewServer(host Host, opts Options) *Server {
	if opts.MaxShellsPerUser <= 0 {
		opts.MaxShellsPerUser = DefaultMaxShellsPerUser
	}
	if opts.OperationTimeoutCap <= 0 {
		opts.OperationTimeoutCap = DefaultOperationTimeoutCap
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.MaxEnvelopeSizeKB <= 0 {
		opts.MaxEnvelopeSizeKB = DefaultMaxEnvelopeSizeKB
	}
	if opts.Machine == "" {
		opts.Machine = "WSMAN-LAB"
	}
	if opts.Domain == "" {
		opts.Domain = "MSGLAB"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		host: host, opts: opts, users: newUsers(opts.Users), log: log, newID: newUUID,
		baseCtx: ctx, cancelAll: cancel,
		closing: make(chan struct{}), reaped: make(chan struct{}),
		shells: make(map[string]*shell),
	}
	go s.reap()
	return s
}

// SetFault makes every following request fail the given way (FaultNone to heal), on
// both endpoints; the one-shot kinds (FaultDropShells, FaultMalformedCLIXML) act once
// and leave the lasting fault as it was. It is safe to call while requests are served.
func (s *Server) SetFault(f Fault) {
	switch f {
	case FaultDropShells:
		s.DropShells()
		return
	case FaultMalformedCLIXML:
		s.CorruptNextOutput()
		return
	}
	s.fault.Store(int32(f))
	s.log.Info("wsman: fault injected", "fault", f.String())
}

// CurrentFault returns the fault set with SetFault.
func (s *Server) CurrentFault() Fault { return Fault(s.fault.Load()) }

// OpenShells returns how many shells are open, for all users.
func (s *Server) OpenShells() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.shells)
}

// Close deletes every shell, cancels every running command and waits (a few seconds at
// most) for the Host to return from them. Requests that arrive later get a fault.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	var cmds []*command
	var pools []*psrp.Pool
	for id, sh := range s.shells {
		for _, c := range sh.commands {
			cmds = append(cmds, c)
		}
		if sh.pool != nil {
			pools = append(pools, sh.pool)
		}
		delete(s.shells, id)
	}
	s.mu.Unlock()
	for _, c := range cmds {
		c.terminate()
	}
	for _, p := range pools {
		p.Close()
	}
	s.cancelAll()
	<-s.reaped
	done := make(chan struct{})
	go func() {
		s.execs.Wait()
		for _, p := range pools {
			<-p.Done()
		}
		close(done)
	}()
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return fmt.Errorf("wsman: the host did not return from its commands within %v of being cancelled", closeWait)
	}
}

// reap deletes shells that have been idle longer than IdleTimeout.
func (s *Server) reap() {
	defer close(s.reaped)
	every := min(max(s.opts.IdleTimeout/4, 10*time.Millisecond), 15*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.closing:
			return
		case <-t.C:
			s.expireIdle(s.opts.Now())
		}
	}
}

// expireIdle deletes the shells idle at now and returns how many it deleted.
func (s *Server) expireIdle(now time.Time) int {
	var dropped []*shell
	s.mu.Lock()
	for id, sh := range s.shells {
		if sh.inFlight == 0 && now.Sub(sh.lastUsed) > s.opts.IdleTimeout {
			delete(s.shells, id)
			dropped = append(dropped, sh)
			s.log.Info("wsman: idle shell expired", "shell", id, "user", sh.user)
		}
	}
	s.mu.Unlock()
	for _, sh := range dropped {
		s.stopShell(sh)
	}
	return len(dropped)
}

// connClosed forgets the NTLM security context of a connection that closed.
func (s *Server) connClosed(remote string) { s.seals.drop(remote) }

// ServeHTTP answers one WS-Management request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var kind endpointKind
	switch {
	case strings.EqualFold(r.URL.Path, "/wsman"):
		kind = endpointWinRS
	case (strings.EqualFold(r.URL.Path, "/PowerShell") || strings.EqualFold(r.URL.Path, "/PowerShell/")) && s.opts.Exchange != nil:
		kind = endpointPowerShell
	default:
		msg := "not found: the WS-Management endpoint is /wsman"
		if s.opts.Exchange != nil {
			msg += " and Exchange's PowerShell endpoint is /PowerShell/"
		}
		http.Error(w, msg, http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed: WS-Management requests are POSTed", http.StatusMethodNotAllowed)
		return
	}
	switch s.CurrentFault() {
	case FaultUnreachable:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // HTTP/2 or a wrapped writer: abort the stream instead
	case FaultHTTP500:
		drain(r)
		http.Error(w, "500 - Internal server error (injected by the lab)", http.StatusInternalServerError)
		return
	case FaultUnauthorized:
		drain(r)
		s.unauthorized(w, kind, "")
		return
	case FaultMalformed:
		drain(r)
		w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
		_, _ = io.WriteString(w, `<s:Envelope xmlns:s="`+nsSOAP+`"><s:Header><a:Action>`)
		return
	}
	if s.opts.Latency > 0 && !s.sleep(r.Context(), s.opts.Latency) {
		return
	}
	auth := s.authenticate(r, kind)
	if !auth.ok {
		if auth.challenge == "" && r.Header.Get("Authorization") != "" {
			s.log.Info("wsman: authentication failed", "remote", r.RemoteAddr, "scheme", authScheme(r), "path", r.URL.Path, "why", auth.why)
		}
		drain(r)
		s.unauthorized(w, kind, auth.challenge)
		return
	}
	if auth.response != "" {
		w.Header().Set("WWW-Authenticate", auth.response)
	}
	switch {
	case auth.seal != nil:
		s.seals.put(r.RemoteAddr, auth.seal)
	case auth.ntlm && !auth.viaConn:
		s.seals.drop(r.RemoteAddr) // a new handshake without sealing replaces the context
	}
	seal := auth.seal
	if auth.ok && seal == nil && auth.viaConn {
		seal = s.seals.get(r.RemoteAddr)
	}
	limit := int64(s.opts.MaxEnvelopeSizeKB) * 1024
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 2*limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.writeFault(w, "", faultRequestTooLarge(s.opts.MaxEnvelopeSizeKB))
		}
		return // otherwise the client went away
	}
	encrypted := isEncrypted(r.Header.Get("Content-Type"))
	switch {
	case encrypted && seal == nil:
		s.log.Info("wsman: encrypted message without an NTLM sealing context on this connection", "remote", r.RemoteAddr)
		drain(r)
		s.unauthorized(w, kind, "")
		return
	case encrypted:
		part, perr := parseEncrypted(body, r.Header.Get("Content-Type"))
		if perr == nil {
			body, perr = seal.unseal(part.sealed, part.signature)
		}
		if perr != nil {
			// The context is out of step with the client: it must authenticate again.
			s.log.Info("wsman: cannot decrypt a message", "remote", r.RemoteAddr, "why", perr.Error())
			s.seals.drop(r.RemoteAddr)
			s.unauthorized(w, kind, "")
			return
		}
	case len(body) == 0 && auth.viaConn:
		// An empty request without credentials starts a new handshake (the masterzen
		// client authenticates every message afresh this way).
		s.unauthorized(w, kind, "")
		return
	case len(body) == 0 && auth.seal != nil:
		// The handshake of an encrypting client travels with an empty body; the SOAP
		// follows sealed on the same connection.
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return
	case r.TLS == nil && !s.opts.AllowUnencrypted && auth.ntlm:
		s.log.Info("wsman: unencrypted NTLM request over HTTP refused (AllowUnencrypted=false)", "remote", r.RemoteAddr)
		s.writeFault(w, "", faultUnencrypted())
		return
	default:
		seal = nil // the client chose not to encrypt this message: answer in clear
	}
	if int64(len(body)) > limit {
		s.writeFault(w, "", faultRequestTooLarge(s.opts.MaxEnvelopeSizeKB))
		return
	}
	w = sealingWriter(w, seal)
	req, err := parseEnvelope(body)
	if err != nil {
		s.writeFault(w, "", faultBadRequest(err.Error()))
		return
	}
	s.log.Debug("wsman: request", "action", req.Action, "user", auth.account.name, "shell", req.ShellID)
	rep, f := s.dispatch(r, kind, auth.account, req)
	if f != nil {
		s.writeFault(w, req.MessageID, f)
		return
	}
	if rep == nil {
		return // the client went away during a long poll
	}
	s.write(w, http.StatusOK, rep.render(rep.messageID))
}

func authScheme(r *http.Request) string {
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	return scheme
}

// drain reads a bounded part of an unanswered request body so the connection can be reused
// (an NTLM handshake needs the same connection for all its legs).
func drain(r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
}

func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closing:
		return true // answer at once; the request then meets the closed server
	}
}

func (s *Server) write(w http.ResponseWriter, status int, data []byte) {
	w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

func (s *Server) writeFault(w http.ResponseWriter, relatesTo string, f *soapFault) {
	rep := reply{action: f.action, relatesTo: relatesTo, body: faultBody(f, s.opts.Machine)}
	s.write(w, f.status, rep.render("uuid:"+strings.ToLower(s.newID())))
}

// out is a reply with the MessageID it will carry, chosen before rendering so Receive can
// budget its size exactly.
type out struct {
	reply
	messageID string
}

func (s *Server) newReply(req *request, action, body string) *out {
	return &out{reply: reply{action: action, relatesTo: req.MessageID, body: body}, messageID: "uuid:" + strings.ToLower(s.newID())}
}

// endpointKind is which of the listener's endpoints a request reached.
type endpointKind int

const (
	endpointWinRS      endpointKind = iota // /wsman: WinRM's own listener, cmd shells
	endpointPowerShell                     // /PowerShell/: Exchange's endpoint in IIS, PSRP shells
)

func (s *Server) dispatch(r *http.Request, kind endpointKind, a account, req *request) (*out, *soapFault) {
	if s.isClosed() {
		return nil, faultShuttingDown()
	}
	switch req.Action {
	case actionCreate:
		if kind == endpointPowerShell {
			return s.createPSRP(r, a, req)
		}
		return s.create(r, a, req)
	case actionDelete, actionCommand, actionReceive, actionSend, actionSignal:
	default:
		return nil, faultActionNotSupported(req.Action)
	}
	if req.ShellID == "" {
		return nil, faultMissingShellID()
	}
	sh, f := s.acquire(req.ShellID, a, kind)
	if f != nil {
		return nil, f
	}
	defer s.release(sh)
	if kind == endpointPowerShell {
		return s.dispatchPSRP(r, req, sh)
	}
	switch req.Action {
	case actionDelete:
		return s.deleteShell(req, sh)
	case actionCommand:
		return s.command(req, sh)
	case actionReceive:
		return s.receive(r, req, sh)
	case actionSend:
		return s.send(req, sh)
	default:
		return s.signal(req, sh)
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// acquire finds a shell for a request and marks it busy. A shell belongs to the user who
// created it: another user gets the same answer as for a shell that does not exist.
func (s *Server) acquire(id string, a account, kind endpointKind) (*shell, *soapFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, ok := s.shells[strings.ToUpper(id)]
	// The two endpoints are different services (WinRM and IIS): neither sees the
	// other's shells.
	if !ok || sh.quotaKey != userKey(a.name) || (sh.pool != nil) != (kind == endpointPowerShell) {
		return nil, faultShellNotFound(id)
	}
	sh.inFlight++
	sh.lastUsed = s.opts.Now()
	return sh, nil
}

func (s *Server) release(sh *shell) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh.inFlight--
	sh.lastUsed = s.opts.Now()
}

func (s *Server) create(r *http.Request, a account, req *request) (*out, *soapFault) {
	if req.ResourceURI != "" && !strings.EqualFold(req.ResourceURI, resourceCmd) {
		return nil, faultBadRequest("only the cmd shell (" + resourceCmd + ") can be created here, not " + req.ResourceURI)
	}
	in, outs := "stdin", "stdout stderr"
	if req.Shell != nil {
		if v := strings.TrimSpace(req.Shell.InputStreams); v != "" {
			in = v
		}
		if v := strings.TrimSpace(req.Shell.OutputStreams); v != "" {
			outs = v
		}
	}
	key := userKey(a.name)
	ip := clientIP(r)
	s.mu.Lock()
	n := 0
	for _, sh := range s.shells {
		if sh.quotaKey == key {
			n++
		}
	}
	if n >= s.opts.MaxShellsPerUser {
		s.mu.Unlock()
		s.log.Info("wsman: shell quota reached", "user", a.name, "open", n)
		return nil, faultMaxShells(s.opts.MaxShellsPerUser)
	}
	sh := &shell{
		id: s.newID(), user: a.name, quotaKey: key, clientIP: ip,
		inputStreams: in, outputStreams: outs,
		lastUsed: s.opts.Now(), commands: make(map[string]*command),
	}
	s.shells[sh.id] = sh
	s.mu.Unlock()
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	address := scheme + "://" + r.Host + r.URL.Path
	return s.newReply(req, actionCreateResponse, createBody(address, sh.id, a.name, ip, s.opts.IdleTimeout, in, outs)), nil
}

func clientIP(r *http.Request) string {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return ip
}

func (s *Server) deleteShell(req *request, sh *shell) (*out, *soapFault) {
	s.mu.Lock()
	mine := s.shells[sh.id] == sh
	if mine {
		delete(s.shells, sh.id)
	}
	s.mu.Unlock()
	if mine {
		s.stopShell(sh)
	}
	return s.newReply(req, actionDeleteResponse, ""), nil
}

// stopShell ends what a shell removed from s.shells still runs: its commands are
// terminated, its runspace pool closed.
func (s *Server) stopShell(sh *shell) {
	s.mu.Lock()
	cmds := make([]*command, 0, len(sh.commands))
	for _, c := range sh.commands {
		cmds = append(cmds, c)
	}
	sh.commands = map[string]*command{}
	s.mu.Unlock()
	for _, c := range cmds {
		c.terminate()
	}
	if sh.pool != nil {
		sh.pool.Close()
	}
}

func (s *Server) command(req *request, sh *shell) (*out, *soapFault) {
	if req.Command == nil || strings.TrimSpace(req.Command.Command) == "" {
		return nil, faultBadRequest("a Command request needs an rsp:CommandLine with an rsp:Command")
	}
	c := newCommand(s.baseCtx, s.newID())
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.cancel()
		return nil, faultShuttingDown()
	}
	if s.shells[sh.id] != sh {
		s.mu.Unlock()
		c.cancel()
		return nil, faultShellNotFound(sh.id)
	}
	sh.commands[c.id] = c
	s.execs.Add(1)
	s.mu.Unlock()

	cmdLine, args, user := strings.TrimSpace(req.Command.Command), req.Command.Arguments, sh.user
	go func() {
		defer s.execs.Done()
		c.finish(s.exec(c, user, cmdLine, args))
	}()
	return s.newReply(req, actionCommandResponse, commandResponseBody(c.id)), nil
}

// exec runs the Host and turns a panic in it into a failed command instead of a crashed lab.
func (s *Server) exec(c *command, user, cmdLine string, args []string) (code int) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("wsman: host panicked", "command", c.id, "panic", fmt.Sprint(p))
			c.mu.Lock()
			c.stderr = append(c.stderr, "The lab's host failed while running this command.\r\n"...)
			c.changedLocked()
			c.mu.Unlock()
			code = 1
		}
	}()
	return s.host.Exec(c.ctx, user, cmdLine, args, stdinReader{c}, outputWriter{c: c}, outputWriter{c: c, stderr: true})
}

func (s *Server) findCommand(sh *shell, id string) (*command, *soapFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := sh.commands[strings.ToUpper(strings.TrimSpace(id))]
	if !ok {
		return nil, faultCommandNotFound(sh.id, id)
	}
	return c, nil
}

func (s *Server) receive(r *http.Request, req *request, sh *shell) (*out, *soapFault) {
	if req.Receive == nil || req.Receive.DesiredStream.CommandID == "" {
		return nil, faultBadRequest("a Receive request needs an rsp:DesiredStream with a CommandId")
	}
	c, f := s.findCommand(sh, req.Receive.DesiredStream.CommandID)
	if f != nil {
		return nil, f
	}
	wantOut, wantErr := false, false
	for _, name := range strings.Fields(req.Receive.DesiredStream.Streams) {
		switch name {
		case "stdout":
			wantOut = true
		case "stderr":
			wantErr = true
		}
	}
	if strings.TrimSpace(req.Receive.DesiredStream.Streams) == "" {
		wantOut, wantErr = true, true
	}

	envelope, f := s.replyEnvelope(req)
	if f != nil {
		return nil, f
	}
	rep := s.newReply(req, actionReceiveResponse, "")
	fixed := renderedSize(rep.action, rep.relatesTo, rep.messageID) +
		len(`<rsp:ReceiveResponse></rsp:ReceiveResponse>`) + stateOverhead(c.id) +
		streamOverhead("stdout", c.id) + streamOverhead("stderr", c.id) +
		16 // an exit code beyond 32 bits is longer than stateOverhead assumes
	budget := (envelope - fixed) / 4 * 3 // raw bytes whose base64 fits
	if budget <= 0 {
		return nil, faultEnvelopeTooSmall(envelope)
	}

	timer := time.NewTimer(s.longPoll(req))
	defer timer.Stop()
	for {
		c.mu.Lock()
		o, ready := c.takeLocked(wantOut, wantErr, budget)
		wake := c.wake
		c.mu.Unlock()
		if ready {
			rep.body = receiveBodyXML(c.id, o.chunks, o.done, o.exitCode)
			return rep, nil
		}
		if f, gone := s.await(r, wake, timer); f != nil || gone {
			return nil, f
		}
	}
}

func (s *Server) send(req *request, sh *shell) (*out, *soapFault) {
	if req.Send == nil || len(req.Send.Streams) == 0 {
		return nil, faultBadRequest("a Send request needs an rsp:Send with an rsp:Stream")
	}
	for _, st := range req.Send.Streams {
		if !containsField(sh.inputStreams, st.Name) {
			return nil, faultBadRequest(fmt.Sprintf("stream %q is not an input stream of this shell (%s)", st.Name, sh.inputStreams))
		}
		c, f := s.findCommand(sh, st.CommandID)
		if f != nil {
			return nil, f
		}
		data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(st.Data))
		if err != nil {
			return nil, faultBadRequest("the stdin stream is not valid base64")
		}
		if err := c.send(data, strings.EqualFold(st.End, "true")); err != nil {
			return nil, faultBadRequest(err.Error())
		}
	}
	return s.newReply(req, actionSendResponse, "<rsp:SendResponse></rsp:SendResponse>"), nil
}

// replyEnvelope is the size a Receive's reply must fit: what the client asked
// (MaxEnvelopeSize, or the default when it names none), at most the server's limit,
// and a fault when that leaves no room for a reply.
func (s *Server) replyEnvelope(req *request) (int, *soapFault) {
	envelope := defaultClientEnvelope
	if req.MaxEnvelopeSize > 0 {
		envelope = req.MaxEnvelopeSize
	}
	envelope = min(envelope, s.opts.MaxEnvelopeSizeKB*1024)
	if envelope < minEnvelopeSize {
		return 0, faultEnvelopeTooSmall(envelope)
	}
	return envelope, nil
}

// await holds a Receive until wake fires (more output) and reports what ends it
// otherwise: the long poll's end (the OperationTimeout fault the client answers by
// asking again), the server closing, or the client gone (gone: nothing to answer).
func (s *Server) await(r *http.Request, wake <-chan struct{}, timer *time.Timer) (f *soapFault, gone bool) {
	select {
	case <-wake:
		return nil, false
	case <-timer.C:
		return faultTimedOut(), false
	case <-r.Context().Done():
		return nil, true
	case <-s.closing:
		return faultShuttingDown(), false
	}
}

// longPoll is how long a Receive may wait for output before it answers with the
// OperationTimeout fault: what the client asked (or the default), at most the cap.
func (s *Server) longPoll(req *request) time.Duration {
	wait := defaultOperationTimeout
	if req.HasTimeout {
		wait = req.OperationTimeout
	}
	return min(wait, s.opts.OperationTimeoutCap)
}

func containsField(list, name string) bool {
	for _, f := range strings.Fields(list) {
		if f == name {
			return true
		}
	}
	return false
}

func (s *Server) signal(req *request, sh *shell) (*out, *soapFault) {
	if req.Signal == nil || req.Signal.CommandID == "" {
		return nil, faultBadRequest("a Signal request needs an rsp:Signal with a CommandId")
	}
	code := strings.TrimSpace(req.Signal.Code)
	switch code {
	case signalTerminate, signalCtrlC, signalCtrlBreak:
	default:
		return nil, faultBadRequest("signal code " + truncate(code, 120) + " is not terminate, ctrl_c or ctrl_break")
	}
	id := strings.ToUpper(strings.TrimSpace(req.Signal.CommandID))
	s.mu.Lock()
	c, ok := sh.commands[id]
	if ok && code == signalTerminate {
		// terminate ends the command for good: WinRS forgets it, later requests that
		// name it get a fault.
		delete(sh.commands, id)
	}
	s.mu.Unlock()
	if !ok {
		return nil, faultCommandNotFound(sh.id, req.Signal.CommandID)
	}
	// ctrl_c and ctrl_break stop the process too (console programs exit on them); the
	// command stays known so its exit code can still be received.
	c.terminate()
	return s.newReply(req, actionSignalResponse, "<rsp:SignalResponse></rsp:SignalResponse>"), nil
}

// newUUID returns a random (version 4) UUID in upper case.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("wsman: no randomness for an id: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]))
}
