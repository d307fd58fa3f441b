package runners

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/exchops/exchops/commands"
	"github.com/google/uuid"
	"github.com/smnsjas/go-psrpcore/messages"
)

// One runspace pool per server, opened on first use, shared by every Exchange call and
// closed after Options.IdleClose without calls. The state machine is the runner's own
// (see docs/PSRP.md): WS-Management is request and reply, so a pipeline is a Command
// followed by Receives until its PIPELINE_STATE, each bounded by the operation timeout.

// exServer is one server's Exchange endpoint and its session.
type exServer struct {
	name  string
	ep    *ExchangeEndpoint
	opts  *Options
	wc    *wsmanClient
	slots chan struct{} // a token per pipeline running (Options.MaxPipelines)
	open  chan struct{} // held while a session is being opened: one open at a time

	// signals are the terminate Signals sent after pipelines ended, still in flight:
	// shutdown waits for them before it deletes the shell and closes the client.
	signals sync.WaitGroup

	mu     sync.Mutex
	sess   *exSession
	active int         // calls using sess
	idle   *time.Timer // closes sess when it has been unused for IdleClose
	closed bool
}

// exSession is one open runspace pool.
type exSession struct {
	shellID string
	rpid    uuid.UUID
	frag    fragmenter
	mu      sync.Mutex
	lost    string // why the server dropped it; "" while it is usable
}

func (x *exSession) drop(why string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.lost == "" {
		x.lost = why
	}
}

func (x *exSession) dropped() string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.lost
}

// acquire returns the open session, opening one if there is none or the last one was
// dropped. The caller must call release.
func (s *exServer) acquire(ctx context.Context) (*exSession, error) {
	select {
	case s.open <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.open }()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, &Error{Kind: Invalid, Server: s.name, Op: "open session", Msg: s.name + ": the runner is closed"}
	}
	if s.idle != nil {
		s.idle.Stop()
		s.idle = nil
	}
	old := s.sess
	if old != nil && old.dropped() == "" {
		s.active++
		s.mu.Unlock()
		return old, nil
	}
	s.sess = nil
	s.mu.Unlock()
	if old != nil {
		s.discard(old)
	}
	sess, err := s.openSession(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sess = sess
	s.active++
	return sess, nil
}

// release ends a call's use of sess; the last one out arms the idle close.
func (s *exServer) release(sess *exSession) {
	s.mu.Lock()
	s.active--
	if sess.dropped() != "" && s.sess == sess {
		s.sess = nil
		s.mu.Unlock()
		s.discard(sess)
		return
	}
	if s.active == 0 && s.sess != nil && !s.closed {
		cur := s.sess
		s.idle = time.AfterFunc(s.opts.IdleClose, func() { s.closeIdle(cur) })
	}
	s.mu.Unlock()
}

func (s *exServer) closeIdle(sess *exSession) {
	s.mu.Lock()
	if s.sess != sess || s.active > 0 {
		s.mu.Unlock()
		return
	}
	s.sess = nil
	s.idle = nil
	s.mu.Unlock()
	s.discard(sess)
}

// discard deletes a session's shell, bounded by StopGrace; a shell the server already
// dropped counts as closed.
func (s *exServer) discard(sess *exSession) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.StopGrace)
	defer cancel()
	_ = s.deleteShell(ctx, sess.shellID)
}

func (s *exServer) deleteShell(ctx context.Context, shellID string) error {
	_, err := s.wc.post(ctx, s.wc.deleteEnvelope(shellID))
	var f *wsFault
	if err == nil || (errors.As(err, &f) && f.shellNotFound()) {
		if s.opts.Shells != nil {
			s.opts.Shells.Closed(shellID)
		}
		return nil
	}
	return err
}

// shutdown deletes the open session, if any, and refuses new ones.
func (s *exServer) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	sess := s.sess
	s.sess = nil
	if s.idle != nil {
		s.idle.Stop()
		s.idle = nil
	}
	s.mu.Unlock()
	defer s.wc.close()
	s.signals.Wait() // each bounded by StopGrace
	if sess == nil {
		return nil
	}
	return s.deleteShell(ctx, sess.shellID)
}

// openSession creates the runspace pool and waits until the server reports it Opened.
func (s *exServer) openSession(ctx context.Context) (*exSession, error) {
	sess := &exSession{rpid: uuid.New()}
	shellID := strings.ToUpper(sess.rpid.String())
	capMsg, err := sess.frag.encode(newMessage(messages.MessageTypeSessionCapability, sess.rpid, uuid.Nil, sessionCapability()))
	if err != nil {
		return nil, s.invalid("open session", err)
	}
	initMsg, err := sess.frag.encode(newMessage(messages.MessageTypeInitRunspacePool, sess.rpid, uuid.Nil, initRunspacePool(s.opts.MaxPipelines)))
	if err != nil {
		return nil, s.invalid("open session", err)
	}
	body, err := s.wc.post(ctx, s.wc.createEnvelope(shellID, append(capMsg, initMsg...)))
	if err != nil {
		return nil, s.failed(ctx, "open a session", err)
	}
	id, err := parseID(body, "ShellId")
	if err != nil {
		return nil, s.protocol("open a session", err)
	}
	sess.shellID = id
	if s.opts.Shells != nil {
		s.opts.Shells.Opened(s.name, ExchangeResourceURI, id)
	}
	if err := s.waitOpened(ctx, sess); err != nil {
		s.discard(sess)
		return nil, err
	}
	return sess, nil
}

// waitOpened receives the pool's messages until RUNSPACEPOOL_STATE says Opened or Broken.
func (s *exServer) waitOpened(ctx context.Context, sess *exSession) error {
	asm := newReassembler()
	for {
		body, err := s.wc.post(ctx, s.wc.receiveEnvelope(sess.shellID, ""))
		var f *wsFault
		if errors.As(err, &f) && f.timedOut() {
			continue // the server has nothing yet: ask again
		}
		if err != nil {
			return s.failed(ctx, "open a session", err)
		}
		reply, err := parseReceive(body)
		if err != nil {
			return s.protocol("open a session", err)
		}
		msgs, err := asm.add(reply.stdout)
		if err != nil {
			return s.protocol("open a session", err)
		}
		for _, m := range msgs {
			switch m.Type {
			case messages.MessageTypeSessionCapability:
				objs, err := decodeCLIXML(m.Data)
				if err != nil {
					return s.protocol("open a session", err)
				}
				if len(objs) > 0 {
					if o, ok := objs[0].(*psObject); ok {
						v, _ := o.prop("protocolversion")
						if pv := valueText(v); !strings.HasPrefix(pv, "2.") {
							return s.protocol("open a session", fmt.Errorf("the server speaks PSRP protocol %q, not 2.x", pv))
						}
					}
				}
			case messages.MessageTypeRunspacePoolState:
				state, reason, err := stateOf(m, "RunspaceState")
				if err != nil {
					return s.protocol("open a session", err)
				}
				switch state {
				case int64(messages.RunspacePoolStateOpened):
					return nil
				case int64(messages.RunspacePoolStateBroken), int64(messages.RunspacePoolStateClosed):
					return s.refusedSession(orDefault(reason, "it gave no reason"))
				}
			}
		}
		if reply.done {
			return s.protocol("open a session", errors.New("the server ended the runspace pool before it was opened"))
		}
	}
}

// callResult is what one pipeline produced.
type callResult struct {
	objects   []any
	warnings  []string
	truncated bool
}

// invoke runs one call as a pipeline of sess and waits for its end. On ctx's end it
// stops the pipeline (PowerShell's stop signal, then terminate) and gives up after
// StopGrace.
func (s *exServer) invoke(ctx context.Context, sess *exSession, call commands.Call, progress func(string)) (*callResult, error) {
	what := call.Pipeline[0].Name
	cp, err := createPipeline(call)
	if err != nil {
		return nil, s.invalid(what, err)
	}
	pid := uuid.New()
	data, err := sess.frag.encode(newMessage(messages.MessageTypeCreatePipeline, sess.rpid, pid, cp))
	if err != nil {
		return nil, s.invalid(what, err)
	}
	// A cancel while the server accepts the pipeline waits up to StopGrace for its reply:
	// a 2.1 server chooses the CommandId, and without it the pipeline cannot be stopped.
	cmdCtx, cmdCancel := context.WithCancel(context.WithoutCancel(ctx))
	stopAfter := context.AfterFunc(ctx, func() { time.AfterFunc(s.opts.StopGrace, cmdCancel) })
	body, err := s.wc.post(cmdCtx, s.wc.commandEnvelope(sess.shellID, strings.ToUpper(pid.String()), data))
	stopAfter()
	cmdCancel()
	if err != nil {
		if ctx.Err() != nil {
			// Cancelled while the server was accepting the pipeline: it may be running,
			// under a CommandId the reply would have told (a 2.1 server chooses it).
			// Deleting the session's shell is the one way left to stop it.
			sess.drop("a command start was cut off")
			dctx, cancel := context.WithTimeout(context.Background(), s.opts.StopGrace)
			defer cancel()
			return nil, &stopResult{confirmed: s.deleteShell(dctx, sess.shellID) == nil}
		}
		var f *wsFault
		if errors.As(err, &f) && f.shellNotFound() {
			// The server refused the Command itself: the pipeline never started, so it
			// is safe to run it again in a new session, even when it changes things.
			sess.drop("the server no longer has its shell (idle timeout, IIS recycle or restart)")
			return nil, errNotStarted
		}
		return nil, s.sessionError(sess, "start "+what, err)
	}
	cmdID, err := parseID(body, "CommandId")
	if err != nil {
		sess.drop("its reply to Command had no CommandId")
		return nil, s.protocol("start "+what, err)
	}

	res := &callResult{}
	asm := newReassembler()
	var firstErr *pipelineError
	stopping := false
	received := 0
	var gate progressGate
	stop := func(code string) error {
		sctx, cancel := context.WithTimeout(context.Background(), s.opts.StopGrace)
		defer cancel()
		_, err := s.wc.post(sctx, s.wc.signalEnvelope(sess.shellID, cmdID, code))
		var f *wsFault
		if code == signalStop && errors.As(err, &f) && !f.shellNotFound() {
			// A server that wants the code as a URI (the lab's, at least) refuses the
			// short form PowerShell sends: one more try, nothing lost.
			_, err = s.wc.post(sctx, s.wc.signalEnvelope(sess.shellID, cmdID, signalStopURI))
		}
		return err
	}
	defer func() {
		// The command's end on the WS-Management side; pointless once the shell is gone.
		// The pipeline's outcome is known by now, so nobody waits for the reply: the
		// caller goes on while the Signal travels (a round trip saved per call), and
		// shutdown waits for it before the shell is deleted.
		if sess.dropped() == "" {
			s.signals.Add(1)
			go func() {
				defer s.signals.Done()
				_ = stop(signalTerminate)
			}()
		}
	}()
	recvCtx := ctx
	// graceCtx replaces ctx once the pipeline is being stopped: it ends StopGrace later.
	graceCtx, graceCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer graceCancel()
	var graceTimer *time.Timer
	defer func() {
		if graceTimer != nil {
			graceTimer.Stop()
		}
	}()
	for {
		body, err := s.wc.post(recvCtx, s.wc.receiveEnvelope(sess.shellID, cmdID))
		var f *wsFault
		if errors.As(err, &f) && f.timedOut() {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				if graceTimer == nil {
					// Cancelled or timed out: ask PowerShell to stop the pipeline and
					// keep receiving, for StopGrace at most, to see it stop.
					graceTimer = time.AfterFunc(s.opts.StopGrace, graceCancel)
					recvCtx = graceCtx
					if !stopping {
						stopping = true
						if err := stop(signalStop); err != nil {
							// The server refused the stop: deleting the shell ends the
							// pipeline (and the session) for sure.
							sess.drop("the server refused to stop a pipeline")
							dctx, cancel := context.WithTimeout(context.Background(), s.opts.StopGrace)
							defer cancel()
							return nil, &stopResult{confirmed: s.deleteShell(dctx, sess.shellID) == nil}
						}
					}
					continue
				}
				sess.drop("a pipeline did not confirm its stop")
				return nil, &stopResult{confirmed: false}
			}
			return nil, s.sessionError(sess, "receive the output of "+what, err)
		}
		reply, err := parseReceive(body)
		if err != nil {
			sess.drop("its reply could not be read")
			return nil, s.protocol("receive the output of "+what, err)
		}
		received += len(reply.stdout)
		msgs, err := asm.add(reply.stdout)
		if err != nil {
			sess.drop("its output could not be reassembled")
			return nil, s.protocol("receive the output of "+what, err)
		}
		for _, m := range msgs {
			switch m.Type {
			case messages.MessageTypePipelineOutput:
				if received > s.opts.MaxOutput {
					res.truncated = true
					continue
				}
				objs, err := decodeCLIXML(m.Data)
				if err != nil {
					return nil, s.malformed(sess, cmdID, what, err)
				}
				res.objects = append(res.objects, objs...)
			case messages.MessageTypeErrorRecord:
				objs, err := decodeCLIXML(m.Data)
				if err != nil {
					return nil, s.malformed(sess, cmdID, what, err)
				}
				if firstErr == nil && len(objs) > 0 {
					// As $ErrorActionPreference = 'Stop' did: the first error ends the
					// pipeline and fails the step.
					firstErr = &pipelineError{message: errorMessage(objs[0]), id: errorID(objs[0])}
					if !stopping {
						stopping = true
						_ = stop(signalStop)
					}
				}
			case messages.MessageTypeWarningRecord:
				objs, err := decodeCLIXML(m.Data)
				if err != nil {
					return nil, s.malformed(sess, cmdID, what, err)
				}
				for _, o := range objs {
					res.warnings = append(res.warnings, "WARNING: "+recordText(o))
				}
			case messages.MessageTypeProgressRecord:
				objs, err := decodeCLIXML(m.Data)
				if err == nil && len(objs) > 0 && progress != nil {
					line, pct, done := progressLine(objs[0])
					act := ""
					if o, ok := objs[0].(*psObject); ok {
						a, _ := o.prop("Activity")
						act = valueText(a)
					}
					if gate.pass(line, pct, done, act) {
						progress(line)
					}
				}
			case messages.MessageTypePipelineHostCall:
				if firstErr == nil {
					firstErr = &pipelineError{message: what + " asked a question (a confirmation prompt?) and nobody can answer it: the call needs -Confirm:$false"}
				}
				if !stopping {
					stopping = true
					_ = stop(signalStop)
				}
			case messages.MessageTypeRunspacePoolState:
				state, reason, _ := stateOf(m, "RunspaceState")
				if state != int64(messages.RunspacePoolStateOpened) {
					sess.drop("the server reported the runspace pool " + poolState(state) + ": " + reason)
					return nil, s.lost(sess, what)
				}
			case messages.MessageTypePipelineState:
				state, reason, err := stateOf(m, "PipelineState")
				if err != nil {
					return nil, s.malformed(sess, cmdID, what, err)
				}
				switch messages.PipelineState(state) {
				case messages.PipelineStateCompleted:
					if firstErr != nil {
						return res, firstErr
					}
					return res, nil
				case messages.PipelineStateFailed:
					if firstErr != nil {
						return res, firstErr
					}
					return res, &pipelineError{message: orDefault(reason, "the pipeline failed without an error record")}
				case messages.PipelineStateStopped:
					if firstErr != nil {
						return res, firstErr
					}
					if ctx.Err() != nil {
						return res, &stopResult{confirmed: true}
					}
					return res, &pipelineError{message: "the pipeline was stopped on the server"}
				}
			}
		}
		if reply.done {
			sess.drop("a command ended without a pipeline state")
			if ctx.Err() != nil {
				// The run ended (a timeout, a cancel) and the pipeline was stopped: a Receive
				// cut off with the run can have carried the state, and the server does not
				// send it twice. A stop the runner did not see confirmed, not a protocol error.
				return nil, &stopResult{confirmed: false}
			}
			return nil, s.protocol("receive the output of "+what, errors.New("the command ended without a PIPELINE_STATE message"))
		}
	}
}

// errNotStarted says the server dropped the session before it accepted the pipeline.
var errNotStarted = errors.New("the session was gone before the pipeline started")

// pipelineError is a pipeline's failure as the server reported it.
type pipelineError struct {
	message string
	id      string // FullyQualifiedErrorId
}

func (e *pipelineError) Error() string { return e.message }

// stopResult says a pipeline ended because the caller's context did.
type stopResult struct{ confirmed bool }

func (e *stopResult) Error() string { return "the pipeline was stopped" }

func poolState(n int64) string {
	switch messages.RunspacePoolState(n) {
	case messages.RunspacePoolStateBroken:
		return "Broken"
	case messages.RunspacePoolStateClosed:
		return "Closed"
	case messages.RunspacePoolStateClosing:
		return "Closing"
	}
	return fmt.Sprintf("in state %d", n)
}

// malformed stops a pipeline whose output cannot be read and drops the session, which
// may be out of step.
func (s *exServer) malformed(sess *exSession, cmdID, what string, err error) error {
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.StopGrace)
	defer cancel()
	_, _ = s.wc.post(sctx, s.wc.signalEnvelope(sess.shellID, cmdID, signalStop))
	sess.drop("its output could not be read")
	return &Error{Kind: Protocol, Server: s.name, Op: what, Err: err,
		Msg: fmt.Sprintf("%s: the Exchange endpoint's reply to %s could not be read (%v): the command was stopped; check the server's PowerShell virtual directory and any proxy in between", s.name, what, err)}
}

func (s *exServer) lost(sess *exSession, what string) error {
	return &Error{Kind: Unreachable, Server: s.name, Op: what,
		Msg: fmt.Sprintf("%s: the Exchange endpoint dropped the session while %s ran (%s): whether it took effect is unknown, so check before running it again; the next command opens a new session",
			s.name, what, sess.dropped())}
}

// sessionError classifies a failed request of a running call, and drops the session
// when the server no longer has it.
func (s *exServer) sessionError(sess *exSession, op string, err error) error {
	var f *wsFault
	if errors.As(err, &f) && f.shellNotFound() {
		sess.drop("the server no longer has its shell (idle timeout, IIS recycle or restart)")
		return s.lost(sess, op)
	}
	var netErr net.Error
	if isUnreachable(err, &netErr) {
		sess.drop("the connection failed")
	}
	return s.classify(op, err)
}

func (s *exServer) invalid(op string, err error) error {
	return &Error{Kind: Invalid, Server: s.name, Op: op, Err: err,
		Msg: fmt.Sprintf("%s: cannot send %s to the Exchange endpoint: %v", s.name, op, err)}
}

func (s *exServer) protocol(op string, err error) error {
	return &Error{Kind: Protocol, Server: s.name, Op: op, Err: err,
		Msg: fmt.Sprintf("%s: the Exchange endpoint's reply to %s could not be understood (%v): check the server's PowerShell virtual directory and any proxy in between", s.name, op, err)}
}

func (s *exServer) refusedSession(reason string) error {
	kind := Protocol
	hint := "check the Exchange server's event log (MSExchange Management) and the PowerShell virtual directory"
	if strings.Contains(reason, "Access") || strings.Contains(reason, "denied") || strings.Contains(strings.ToLower(reason), "role") {
		kind = Unauthorized
		hint = "the account needs Exchange management roles (run `exchops rbac`) and remote PowerShell enabled (Set-User -RemotePowerShellEnabled $true)"
	}
	return &Error{Kind: kind, Server: s.name, Op: "open a session",
		Msg: fmt.Sprintf("%s: the Exchange endpoint refused to open a session for %s: %s: %s", s.name, s.ep.User, scrub(reason, s.ep.Password), hint)}
}

// failed classifies a request that failed while no call's outcome is at stake.
func (s *exServer) failed(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return s.classify(op, err)
}

// classify turns a transport error into an *Error with advice for the operator.
func (s *exServer) classify(op string, err error) *Error {
	ep := s.ep
	err = redact(err, ep.Password)
	text := err.Error()
	e := &Error{Server: s.name, Op: op, Err: err}
	var f *wsFault
	var he *httpError
	var ke *krbError
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recordErr tls.RecordHeaderError
	status := 0
	if errors.As(err, &he) {
		status = he.status
	}
	switch {
	case errors.As(err, &ke):
		e.Kind = Unauthorized
		e.Msg = fmt.Sprintf("%s: cannot get a Kerberos ticket for %s to %s (%s): check the realm, the password%s, krb5.conf and that the KDC is reachable",
			s.name, ep.User, ep.URL, shorten(text), from(ep.PasswordFrom))
	case errors.As(err, &f) && isShellQuota(f.code+" "+f.message):
		e.Kind = Busy
		e.Msg = fmt.Sprintf("%s: the Exchange endpoint refused a new session for %s: the account has used up its sessions (Exchange throttling or WinRM's MaxShellsPerUser): try again later or lower max_pipelines", s.name, ep.User)
	case errors.As(err, &f):
		e.Kind = Protocol
		if f.status == 401 || f.status == 403 {
			e.Kind = Unauthorized
		}
		e.Msg = fmt.Sprintf("%s: the Exchange endpoint answered %s with a fault: %s", s.name, op, shorten(orDefault(f.message, f.subcode)))
	case status == 401 || status == 403:
		e.Kind = Unauthorized
		e.Msg = fmt.Sprintf("%s: the Exchange endpoint %s refused the credentials for %s (HTTP %d): check the password%s, that %s authentication is enabled on the PowerShell virtual directory, and that the account may use remote PowerShell",
			s.name, ep.URL, ep.User, status, from(ep.PasswordFrom), ep.auth())
	case status == 404:
		e.Kind = Invalid
		e.Msg = fmt.Sprintf("%s: there is no Exchange endpoint at %s (HTTP 404): check the URL (it ends in /PowerShell/)", s.name, ep.URL)
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr):
		e.Kind = Unreachable
		e.Msg = fmt.Sprintf("%s: the TLS certificate of %s was not accepted (%s): set ca_file to the CA that issued it, or check that the URL's host matches the certificate's name",
			s.name, ep.URL, shorten(text))
	case errors.As(err, &recordErr):
		e.Kind = Unreachable
		e.Msg = fmt.Sprintf("%s: %s does not speak TLS (%s): check the URL's scheme", s.name, ep.URL, shorten(text))
	case status != 0:
		e.Kind = Protocol
		e.Msg = fmt.Sprintf("%s: the Exchange endpoint answered %s with HTTP %d and no WS-Management fault (%s): check IIS and the PowerShell virtual directory on the server",
			s.name, op, status, shorten(he.body))
	case isUnreachable(err, &netErr):
		e.Kind = Unreachable
		e.Msg = fmt.Sprintf("%s: cannot reach the Exchange endpoint at %s (%s): check that the server and IIS are up and that no firewall blocks the port",
			s.name, ep.URL, shorten(text))
	default:
		e.Kind = Protocol
		e.Msg = fmt.Sprintf("%s: the Exchange endpoint's reply to %s could not be understood (%s): check the server's PowerShell virtual directory and any proxy in between",
			s.name, op, shorten(text))
	}
	return e
}

func from(where string) string {
	if where == "" {
		return ""
	}
	return " in " + where
}
