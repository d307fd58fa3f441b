package wsman

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/exchops/exchops/lab/psrp"
)

// The PowerShell endpoint (/PowerShell/): shells are runspace pools of package lab/psrp,
// commands are pipelines, and their streams carry PSRP fragments in base64. As on
// Windows, the two endpoints share nothing but the listener here: a PSRP shell counts
// against the same per-user quota and idle timeout as a WinRS shell.

// faultUnknownConfiguration is WinRM's answer for a resource URI that names no session
// configuration of the endpoint.
func faultUnknownConfiguration(uri, machine string) *soapFault {
	name := uri[strings.LastIndexByte(uri, '/')+1:]
	return &soapFault{
		status: 500, action: actionWSManFault, code: "s:Sender", subcode: "w:DestinationUnreachable",
		wsCode: codeInvalidResourceURI,
		message: "The WS-Management service cannot process the request. Cannot find the " + name +
			" session configuration in the WSMan: drive on the " + machine + " computer. Use " + resourceExchange + ".",
	}
}

// faultPSRP is the fault for a PowerShell message the server cannot accept: the plugin
// reports it as a provider failure with the reason.
func faultPSRP(err error) *soapFault {
	return &soapFault{
		status: 500, action: actionWSManFault, code: "s:Receiver", subcode: "w:InternalError",
		wsCode:  codeProviderFailure,
		message: "The WS-Management service cannot process the request: the PowerShell plugin refused it: " + truncate(err.Error(), 400) + ".",
	}
}

func (s *Server) createPSRP(r *http.Request, a account, req *request) (*out, *soapFault) {
	if !strings.EqualFold(req.ResourceURI, resourceExchange) {
		return nil, faultUnknownConfiguration(req.ResourceURI, s.opts.Machine)
	}
	if req.Shell == nil || req.Shell.CreationXML == nil {
		return nil, faultBadRequest("a PowerShell shell needs a creationXml (namespace " + nsPowerShell + ") with SESSION_CAPABILITY and INIT_RUNSPACEPOOL")
	}
	creation, err := base64.StdEncoding.DecodeString(strings.TrimSpace(*req.Shell.CreationXML))
	if err != nil {
		return nil, faultBadRequest("creationXml is not valid base64")
	}
	key := userKey(a.name)
	s.mu.Lock()
	n := 0
	for _, sh := range s.shells {
		if sh.quotaKey == key {
			n++
		}
	}
	s.mu.Unlock()
	if n >= s.opts.MaxShellsPerUser {
		s.log.Info("wsman: shell quota reached", "user", a.name, "open", n)
		return nil, faultMaxShells(s.opts.MaxShellsPerUser)
	}
	pool, err := psrp.NewPool(s.opts.Exchange, a.name, creation, psrp.PoolOptions{Corrupt: s.takeCorrupt})
	if err != nil {
		return nil, faultPSRP(err)
	}
	sh := &shell{
		id: s.newID(), user: a.name, quotaKey: key, clientIP: clientIP(r),
		inputStreams: "stdin pr", outputStreams: "stdout",
		lastUsed: s.opts.Now(), commands: make(map[string]*command), pool: pool,
	}
	s.mu.Lock()
	// Count again: another Create may have won the race while the pool was built.
	n = 0
	for _, o := range s.shells {
		if o.quotaKey == key {
			n++
		}
	}
	if s.closed || n >= s.opts.MaxShellsPerUser {
		closed := s.closed
		s.mu.Unlock()
		pool.Close()
		if closed {
			return nil, faultShuttingDown()
		}
		return nil, faultMaxShells(s.opts.MaxShellsPerUser)
	}
	s.shells[sh.id] = sh
	s.mu.Unlock()
	s.log.Info("wsman: PowerShell session created", "shell", sh.id, "user", a.name,
		"client_protocol", pool.ClientCapability().ProtocolVersion, "max_runspaces", pool.MaxRunspaces())
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return s.newReply(req, actionCreateResponse, psrpCreateBody(scheme+"://"+r.Host+r.URL.Path, resourceExchange, sh.id)), nil
}

func (s *Server) dispatchPSRP(r *http.Request, req *request, sh *shell) (*out, *soapFault) {
	switch req.Action {
	case actionDelete:
		return s.deleteShell(req, sh)
	case actionCommand:
		if req.Command == nil || len(req.Command.Arguments) == 0 {
			return nil, faultBadRequest("a PowerShell Command needs rsp:Arguments with a CREATE_PIPELINE message")
		}
		data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(req.Command.Arguments[0]))
		if err != nil {
			return nil, faultBadRequest("rsp:Arguments is not valid base64")
		}
		// A protocol 2.1 server chooses the CommandId itself (the capture of Windows
		// Server 2008 R2 answers with a new id, not the client's).
		pl, err := sh.pool.CreatePipeline(s.newID(), data)
		if err != nil {
			return nil, faultPSRP(err)
		}
		return s.newReply(req, actionCommandResponse, commandResponseBody(pl.ID)), nil
	case actionReceive:
		return s.receivePSRP(r, req, sh)
	case actionSend:
		if req.Send == nil || len(req.Send.Streams) == 0 {
			return nil, faultBadRequest("a Send request needs an rsp:Send with an rsp:Stream")
		}
		for _, st := range req.Send.Streams {
			if st.Name != "stdin" && st.Name != "pr" {
				return nil, faultBadRequest(fmt.Sprintf("stream %q is not an input stream of this shell (stdin pr)", st.Name))
			}
			data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(st.Data))
			if err != nil {
				return nil, faultBadRequest("the " + st.Name + " stream is not valid base64")
			}
			if st.CommandID == "" {
				err = sh.pool.Input(data)
			} else {
				pl := sh.pool.Pipeline(st.CommandID)
				if pl == nil {
					return nil, faultCommandNotFound(sh.id, st.CommandID)
				}
				err = pl.Input(data)
			}
			if err != nil {
				return nil, faultPSRP(err)
			}
		}
		return s.newReply(req, actionSendResponse, "<rsp:SendResponse></rsp:SendResponse>"), nil
	case actionSignal:
		if req.Signal == nil || req.Signal.CommandID == "" {
			return nil, faultBadRequest("a Signal request needs an rsp:Signal with a CommandId")
		}
		code := strings.TrimSpace(req.Signal.Code)
		pl := sh.pool.Pipeline(req.Signal.CommandID)
		if pl == nil {
			return nil, faultCommandNotFound(sh.id, req.Signal.CommandID)
		}
		switch code {
		case signalPSStop, signalPSStopShort:
			pl.Stop()
		case signalTerminate:
			sh.pool.Forget(req.Signal.CommandID)
		default:
			return nil, faultBadRequest("signal code " + truncate(code, 120) + " is not " + signalPSStop + " or terminate")
		}
		return s.newReply(req, actionSignalResponse, "<rsp:SignalResponse></rsp:SignalResponse>"), nil
	}
	return nil, faultActionNotSupported(req.Action)
}

// psrpStreamOverhead is the size of an rsp:Stream element with a CommandId, without its
// base64 text.
var psrpStreamOverhead = len(`<rsp:Stream Name="stdout" CommandId="00000000-0000-0000-0000-000000000000"></rsp:Stream>`)

func (s *Server) receivePSRP(r *http.Request, req *request, sh *shell) (*out, *soapFault) {
	commandID := ""
	if req.Receive != nil {
		commandID = strings.TrimSpace(req.Receive.DesiredStream.CommandID)
	}
	var pl *psrp.Pipeline
	if commandID != "" {
		if pl = sh.pool.Pipeline(commandID); pl == nil {
			return nil, faultCommandNotFound(sh.id, commandID)
		}
		commandID = pl.ID
	}
	envelope, f := s.replyEnvelope(req)
	if f != nil {
		return nil, f
	}
	rep := s.newReply(req, actionReceiveResponse, "")
	fixed := renderedSize(rep.action, rep.relatesTo, rep.messageID) +
		len(`<rsp:ReceiveResponse></rsp:ReceiveResponse>`) + stateOverhead(commandID)
	// Budget in raw bytes: base64 grows data by 4/3, and each fragment's element costs
	// its overhead in the envelope, i.e. 3/4 of that in raw bytes.
	budget := (envelope - fixed) / 4 * 3
	overhead := (psrpStreamOverhead+3)/4*3 + 3
	if budget <= overhead+psrp.FragmentHeaderLen {
		return nil, faultEnvelopeTooSmall(envelope)
	}
	timer := time.NewTimer(s.longPoll(req))
	defer timer.Stop()
	for {
		var packets [][]byte
		var done, ready bool
		var wake <-chan struct{}
		if pl != nil {
			wake = pl.Wait()
			packets, done, ready = pl.Take(budget, overhead)
		} else {
			wake = sh.pool.Wait()
			packets, ready = sh.pool.Take(budget, overhead)
		}
		if ready {
			rep.body = psrpReceiveBody(commandID, packets, done)
			return rep, nil
		}
		if f, gone := s.await(r, wake, timer); f != nil || gone {
			return nil, f
		}
		if s.shellGone(sh) {
			return nil, faultShellNotFound(sh.id)
		}
		if pl != nil && sh.pool.Pipeline(commandID) != pl {
			return nil, faultCommandNotFound(sh.id, commandID) // terminated while we waited
		}
	}
}

// shellGone reports whether a shell was deleted while a request about it waited.
func (s *Server) shellGone(sh *shell) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shells[sh.id] != sh
}

// DropShells deletes every PowerShell endpoint shell on the server side, as an IIS
// application pool recycle does: the next request about one gets WinRM's "shell not
// found" fault. WinRS shells are kept. It returns how many were dropped.
func (s *Server) DropShells() int {
	var dropped []*shell
	s.mu.Lock()
	for id, sh := range s.shells {
		if sh.pool != nil {
			delete(s.shells, id)
			dropped = append(dropped, sh)
		}
	}
	s.mu.Unlock()
	for _, sh := range dropped {
		s.stopShell(sh)
	}
	s.log.Info("wsman: PowerShell shells dropped", "count", len(dropped))
	return len(dropped)
}

// CorruptNextOutput arms the malformed-CLIXML fault: the next PIPELINE_OUTPUT any
// pipeline sends carries CLIXML that does not parse.
func (s *Server) CorruptNextOutput() {
	s.corrupt.Store(true)
	s.log.Info("wsman: the next PIPELINE_OUTPUT will carry malformed CLIXML")
}

// takeCorrupt is asked by pools before each PIPELINE_OUTPUT.
func (s *Server) takeCorrupt() bool { return s.corrupt.CompareAndSwap(true, false) }

// OpenPSRPShells returns how many PowerShell endpoint shells are open.
func (s *Server) OpenPSRPShells() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, sh := range s.shells {
		if sh.pool != nil {
			n++
		}
	}
	return n
}
