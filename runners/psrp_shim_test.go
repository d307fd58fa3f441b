package runners_test

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/exchops/exchops/lab/psrp"
)

// psrpShim serves the lab's PSRP engine (lab/psrp: an independent server-side
// implementation of fragments, messages and CLIXML) over WS-Management, enough for the
// runner's client: Create, Receive, Command, Signal, Delete. It injects the faults the
// tests need. (The lab's own WS-Management mount of the engine replaces it where it
// exists.)
type psrpShim struct {
	ep       psrp.Endpoint
	user     string
	password string
	opWait   time.Duration // how long a Receive waits before the TimedOut fault

	mu      sync.Mutex
	pools   map[string]*psrp.Pool
	fault   string // "", "401", "500", "hang"
	corrupt bool   // PIPELINE_OUTPUT carries CLIXML that does not parse
	actions []string
	bodies  []string
}

func newShim(ep psrp.Endpoint, user, password string) *psrpShim {
	return &psrpShim{ep: ep, user: user, password: password, opWait: 200 * time.Millisecond, pools: map[string]*psrp.Pool{}}
}

func (h *psrpShim) setFault(f string) {
	h.mu.Lock()
	h.fault = f
	h.mu.Unlock()
}

// drop forgets every shell, as IIS recycling the application pool does.
func (h *psrpShim) drop() {
	h.mu.Lock()
	pools := h.pools
	h.pools = map[string]*psrp.Pool{}
	h.mu.Unlock()
	for _, p := range pools {
		p.Close()
	}
}

func (h *psrpShim) shells() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.pools)
}

func (h *psrpShim) close() { h.drop() }

// request is the part of a WS-Management request the shim reads.
type request struct {
	Action  string `xml:"Header>Action"`
	ShellID string `xml:"Header>SelectorSet>Selector"`
	Options []struct {
		Name  string `xml:"Name,attr"`
		Value string `xml:",chardata"`
	} `xml:"Header>OptionSet>Option"`
	Shell struct {
		ShellID  string `xml:"ShellId,attr"`
		Creation string `xml:"creationXml"`
	} `xml:"Body>Shell"`
	Command struct {
		ID        string `xml:"CommandId,attr"`
		Arguments string `xml:"Arguments"`
	} `xml:"Body>CommandLine"`
	Receive struct {
		CommandID string `xml:"CommandId,attr"`
	} `xml:"Body>Receive>DesiredStream"`
	Signal struct {
		CommandID string `xml:"CommandId,attr"`
		Code      string `xml:"Code"`
	} `xml:"Body>Signal"`
}

func (h *psrpShim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	fault := h.fault
	h.mu.Unlock()
	switch fault {
	case "401":
		w.WriteHeader(http.StatusUnauthorized)
		return
	case "500":
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	case "hang":
		// The body is read first: only then does the server notice the client leaving.
		_, _ = io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != h.user || p != h.password {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req request
	if err := xml.Unmarshal(body, &req); err != nil {
		h.fail(w, "2150858817", "the request is not XML: "+err.Error())
		return
	}
	action := req.Action[strings.LastIndex(req.Action, "/")+1:]
	h.mu.Lock()
	h.actions = append(h.actions, action)
	h.bodies = append(h.bodies, string(body))
	corrupt := h.corrupt
	h.mu.Unlock()
	switch action {
	case "Create":
		creation, err := base64.StdEncoding.DecodeString(req.Shell.Creation)
		if err != nil {
			h.fail(w, "2150858817", "creationXml is not base64")
			return
		}
		pool, err := psrp.NewPool(h.ep, h.user, creation, psrp.PoolOptions{Corrupt: func() bool { return corrupt }})
		if err != nil {
			h.fail(w, "2150858817", err.Error())
			return
		}
		id := strings.ToUpper(req.Shell.ShellID)
		h.mu.Lock()
		h.pools[id] = pool
		h.mu.Unlock()
		h.reply(w, "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse",
			`<x:ResourceCreated><a:Address>`+r.URL.String()+`</a:Address><a:ReferenceParameters><w:ResourceURI>http://schemas.microsoft.com/powershell/Microsoft.Exchange</w:ResourceURI>`+
				`<w:SelectorSet><w:Selector Name="ShellId">`+id+`</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>`)
		return
	}
	pool := h.pool(req.ShellID)
	if pool == nil {
		h.fail(w, "2150858843", "The request for the Windows Remote Shell with ShellId "+req.ShellID+" failed because the shell was not found on the server.")
		return
	}
	switch action {
	case "Command":
		args, err := base64.StdEncoding.DecodeString(req.Command.Arguments)
		if err != nil {
			h.fail(w, "2150858817", "Arguments is not base64")
			return
		}
		id := strings.ToUpper(req.Command.ID)
		if _, err := pool.CreatePipeline(id, args); err != nil {
			h.fail(w, "2150858817", err.Error())
			return
		}
		h.reply(w, "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandResponse", `<rsp:CommandResponse><rsp:CommandId>`+id+`</rsp:CommandId></rsp:CommandResponse>`)
	case "Receive":
		h.receive(w, r, pool, req.ShellID, strings.ToUpper(req.Receive.CommandID))
	case "Signal":
		if pl := pool.Pipeline(req.Signal.CommandID); pl != nil {
			if strings.HasSuffix(req.Signal.Code, "terminate") {
				pool.Forget(req.Signal.CommandID)
			} else {
				pl.Stop()
			}
		}
		h.reply(w, "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/SignalResponse", `<rsp:SignalResponse/>`)
	case "Delete":
		h.mu.Lock()
		delete(h.pools, strings.ToUpper(req.ShellID))
		h.mu.Unlock()
		pool.Close()
		h.reply(w, "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse", "")
	default:
		h.fail(w, "2150858817", "unknown action "+action)
	}
}

func (h *psrpShim) pool(id string) *psrp.Pool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pools[strings.ToUpper(id)]
}

func (h *psrpShim) receive(w http.ResponseWriter, r *http.Request, pool *psrp.Pool, shellID, cmdID string) {
	deadline := time.NewTimer(h.opWait)
	defer deadline.Stop()
	var streams strings.Builder
	state := ""
	for {
		var packets [][]byte
		var ready, done bool
		var wake <-chan struct{}
		if cmdID == "" {
			wake = pool.Wait()
			packets, ready = pool.Take(100000, 100)
		} else {
			pl := pool.Pipeline(cmdID)
			if pl == nil {
				h.fail(w, "2150858843", "The request for the Windows Remote Shell with ShellId failed because the shell was not found on the server.")
				return
			}
			wake = pl.Wait()
			packets, done, ready = pl.Take(100000, 100)
		}
		if ready {
			for _, p := range packets {
				fmt.Fprintf(&streams, `<rsp:Stream Name="stdout"%s>%s</rsp:Stream>`, cmdAttr(cmdID), base64.StdEncoding.EncodeToString(p))
			}
			s := "Running"
			if done {
				s = "Done"
			}
			state = fmt.Sprintf(`<rsp:CommandState%s State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/%s"/>`, cmdAttr(cmdID), s)
			h.reply(w, "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReceiveResponse", `<rsp:ReceiveResponse>`+streams.String()+state+`</rsp:ReceiveResponse>`)
			return
		}
		if h.pool(shellID) == nil {
			h.fail(w, "2150858843", "The request for the Windows Remote Shell failed because the shell was not found on the server.")
			return
		}
		select {
		case <-wake:
		case <-deadline.C:
			w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, envelopeOf("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault",
				`<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:TimedOut</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">The WS-Management service cannot complete the operation within the time specified in OperationTimeout.</s:Text></s:Reason>`+
					`<s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="2150858793" Machine="lab"><f:Message>The WS-Management service cannot complete the operation within the time specified in OperationTimeout.</f:Message></f:WSManFault></s:Detail></s:Fault>`))
			return
		case <-r.Context().Done():
			return
		}
	}
}

func cmdAttr(id string) string {
	if id == "" {
		return ""
	}
	return ` CommandId="` + id + `"`
}

func envelopeOf(action, body string) string {
	return `<s:Envelope xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">` +
		`<s:Header><a:Action>` + action + `</a:Action><a:MessageID>uuid:1</a:MessageID><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To></s:Header><s:Body>` + body + `</s:Body></s:Envelope>`
}

func (h *psrpShim) reply(w http.ResponseWriter, action, body string) {
	w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
	io.WriteString(w, envelopeOf(action, body))
}

func (h *psrpShim) fail(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
	w.WriteHeader(http.StatusInternalServerError)
	io.WriteString(w, envelopeOf("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault",
		`<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>w:InvalidParameter</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">`+xmlEscape(msg)+`</s:Text></s:Reason>`+
			`<s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="`+code+`" Machine="lab"><f:Message>`+xmlEscape(msg)+`</f:Message></f:WSManFault></s:Detail></s:Fault>`))
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// shimLog is a copy of what the shim saw, safe to read while requests still arrive
// (the runner sends a pipeline's terminate Signal without waiting for it).
type shimLog struct{ actions, bodies []string }

func (h *psrpShim) snapshot() shimLog {
	h.mu.Lock()
	defer h.mu.Unlock()
	return shimLog{actions: append([]string(nil), h.actions...), bodies: append([]string(nil), h.bodies...)}
}
