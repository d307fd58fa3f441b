package wsman

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// XML namespaces of WS-Management and WinRS. Requests are matched on these URIs, never on
// prefixes: the masterzen client writes env:, pywinrm env:, Windows s:.
const (
	nsSOAP       = "http://www.w3.org/2003/05/soap-envelope"
	nsAddressing = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	nsTransfer   = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
	nsWSMan      = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	nsWSManMS    = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
	nsShell      = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
	nsWSManFault = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
	nsPowerShell = "http://schemas.microsoft.com/powershell"
)

// Actions this server answers, and the actions of its replies.
const (
	actionCreate          = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
	actionCreateResponse  = "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse"
	actionDelete          = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
	actionDeleteResponse  = "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse"
	actionCommand         = nsShell + "/Command"
	actionCommandResponse = nsShell + "/CommandResponse"
	actionReceive         = nsShell + "/Receive"
	actionReceiveResponse = nsShell + "/ReceiveResponse"
	actionSend            = nsShell + "/Send"
	actionSendResponse    = nsShell + "/SendResponse"
	actionSignal          = nsShell + "/Signal"
	actionSignalResponse  = nsShell + "/SignalResponse"

	resourceCmd      = nsShell + "/cmd"
	stateRunning     = nsShell + "/CommandState/Running"
	stateDone        = nsShell + "/CommandState/Done"
	signalTerminate  = nsShell + "/signal/terminate"
	signalCtrlC      = nsShell + "/signal/ctrl_c"
	signalCtrlBreak  = nsShell + "/signal/ctrl_break"
	addressAnonymous = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

	// resourceExchange is the session configuration of Exchange's PowerShell endpoint.
	resourceExchange = nsPowerShell + "/Microsoft.Exchange"
	// signalPSStop is how a PowerShell client stops a pipeline; the misspelling is
	// Microsoft's, as every client and server writes it.
	signalPSStop = nsPowerShell + "/signal/crtl_c"
	// signalPSStopShort is the same code as PowerShell's own client and pypsrp write
	// it, without the schema prefix; a Windows server takes both.
	signalPSStopShort = "powershell/signal/crtl_c"
)

// request is the part of a WS-Management request that WinRS needs, whatever prefixes the
// client chose.
type request struct {
	Action           string
	MessageID        string
	ResourceURI      string
	ShellID          string            // the ShellId selector, "" when absent
	Options          map[string]string // w:OptionSet, e.g. WINRS_SKIP_CMD_SHELL
	MaxEnvelopeSize  int               // 0 when absent
	OperationTimeout time.Duration     // 0 when absent
	HasTimeout       bool

	Shell   *shellBody   // Create
	Command *commandBody // Command
	Receive *receiveBody // Receive
	Send    *sendBody    // Send
	Signal  *signalBody  // Signal
}

type xmlEnvelope struct {
	XMLName xml.Name  `xml:"http://www.w3.org/2003/05/soap-envelope Envelope"`
	Header  xmlHeader `xml:"http://www.w3.org/2003/05/soap-envelope Header"`
	Body    xmlBody   `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
}

type xmlHeader struct {
	Action           string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Action"`
	MessageID        string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing MessageID"`
	ResourceURI      string `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd ResourceURI"`
	MaxEnvelopeSize  string `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd MaxEnvelopeSize"`
	OperationTimeout string `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OperationTimeout"`
	SelectorSet      struct {
		Selectors []xmlNamed `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd Selector"`
	} `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd SelectorSet"`
	OptionSet struct {
		Options []xmlNamed `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd Option"`
	} `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OptionSet"`
}

type xmlNamed struct {
	Name  string `xml:"Name,attr"`
	Value string `xml:",chardata"`
}

type xmlBody struct {
	Shell       *shellBody   `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Shell"`
	CommandLine *commandBody `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell CommandLine"`
	Receive     *receiveBody `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Receive"`
	Send        *sendBody    `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Send"`
	Signal      *signalBody  `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Signal"`
}

type shellBody struct {
	InputStreams  string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell InputStreams"`
	OutputStreams string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell OutputStreams"`
	// CreationXML is a PowerShell client's base64 SESSION_CAPABILITY and
	// INIT_RUNSPACEPOOL fragments.
	CreationXML *string `xml:"http://schemas.microsoft.com/powershell creationXml"`
}

type commandBody struct {
	CommandID string   `xml:"CommandId,attr"`
	Command   string   `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Command"`
	Arguments []string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Arguments"`
}

type receiveBody struct {
	DesiredStream struct {
		CommandID string `xml:"CommandId,attr"`
		Streams   string `xml:",chardata"`
	} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell DesiredStream"`
}

type sendBody struct {
	Streams []struct {
		Name      string `xml:"Name,attr"`
		CommandID string `xml:"CommandId,attr"`
		End       string `xml:"End,attr"`
		Data      string `xml:",chardata"`
	} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Stream"`
}

type signalBody struct {
	CommandID string `xml:"CommandId,attr"`
	Code      string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Code"`
}

// parseEnvelope reads one WS-Management request. It checks the shape that every request
// must have (a SOAP 1.2 envelope with an action and a message id) and the numbers in the
// header; what the action itself needs is checked by its handler.
func parseEnvelope(data []byte) (*request, error) {
	var env xmlEnvelope
	dec := xml.NewDecoder(bytes.NewReader(data))
	// Windows accepts only UTF-8 (and UTF-16) envelopes; refuse other charsets clearly
	// instead of misreading them.
	dec.CharsetReader = func(charset string, _ io.Reader) (io.Reader, error) {
		return nil, fmt.Errorf("charset %q is not supported, send UTF-8", charset)
	}
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("the request is not a SOAP 1.2 envelope: %v", err)
	}
	h := env.Header
	r := &request{
		Action:      strings.TrimSpace(h.Action),
		MessageID:   strings.TrimSpace(h.MessageID),
		ResourceURI: strings.TrimSpace(h.ResourceURI),
		Shell:       env.Body.Shell,
		Command:     env.Body.CommandLine,
		Receive:     env.Body.Receive,
		Send:        env.Body.Send,
		Signal:      env.Body.Signal,
	}
	if r.Action == "" {
		return nil, errors.New("the request has no a:Action header")
	}
	if r.MessageID == "" {
		return nil, errors.New("the request has no a:MessageID header")
	}
	for _, s := range h.SelectorSet.Selectors {
		if s.Name == "ShellId" {
			r.ShellID = strings.TrimSpace(s.Value)
		}
	}
	for _, o := range h.OptionSet.Options {
		if r.Options == nil {
			r.Options = make(map[string]string)
		}
		r.Options[o.Name] = strings.TrimSpace(o.Value)
	}
	if v := strings.TrimSpace(h.MaxEnvelopeSize); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("w:MaxEnvelopeSize %q is not a positive number of bytes", truncate(v, 40))
		}
		r.MaxEnvelopeSize = n
	}
	if v := strings.TrimSpace(h.OperationTimeout); v != "" {
		d, err := parseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("w:OperationTimeout: %v", err)
		}
		r.OperationTimeout, r.HasTimeout = d, true
	}
	return r, nil
}

// parseDuration reads an xs:duration as WS-Management uses it for timeouts: PT60S,
// PT60.000S, PT1M30S, P1DT2H. Years and months have no fixed length and are refused.
func parseDuration(s string) (time.Duration, error) {
	bad := func(why string) (time.Duration, error) {
		return 0, fmt.Errorf("%q is not an xs:duration such as PT60S: %s", truncate(s, 40), why)
	}
	if !strings.HasPrefix(s, "P") {
		return bad("it must start with P")
	}
	rest := s[1:]
	if rest == "" || rest == "T" {
		return bad("it has no value")
	}
	const max = time.Duration(1<<63 - 1)
	var total time.Duration
	inTime := false
	seen := ""
	for rest != "" {
		if rest[0] == 'T' {
			if inTime {
				return bad("T appears twice")
			}
			inTime = true
			rest = rest[1:]
			if rest == "" {
				return bad("nothing follows T")
			}
			continue
		}
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 || i == len(rest) {
			return bad("a number must be followed by a unit")
		}
		num, unit := rest[:i], rest[i]
		rest = rest[i+1:]
		var per time.Duration
		switch {
		case !inTime && unit == 'D':
			per = 24 * time.Hour
		case inTime && unit == 'H':
			per = time.Hour
		case inTime && unit == 'M':
			per = time.Minute
		case inTime && unit == 'S':
			per = time.Second
		case !inTime && (unit == 'Y' || unit == 'M'):
			return bad("years and months are not supported in timeouts")
		default:
			return bad(fmt.Sprintf("unit %q is not valid here", unit))
		}
		key := string(unit)
		if inTime {
			key = "T" + key
		}
		if strings.Contains(seen, key+",") {
			return bad("a unit appears twice")
		}
		seen += key + ","
		if strings.Contains(num, ".") && unit != 'S' {
			return bad("only seconds may have a fraction")
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || strings.Count(num, ".") > 1 || num[0] == '.' || num[len(num)-1] == '.' {
			return bad("bad number " + strconv.Quote(num))
		}
		v := f * float64(per)
		if v >= float64(max-total) {
			return bad("it is too long")
		}
		total += time.Duration(v)
	}
	return total, nil
}

// reply is a rendered SOAP reply; body is the inside of s:Body.
type reply struct {
	action    string
	relatesTo string
	body      string
}

// envelopeHead and envelopeTail frame every reply the way Windows does: the prefixes s:,
// a:, x:, w:, rsp: and p: declared on the envelope, because some clients look elements up
// by prefix.
const envelopeOpen = `<s:Envelope xml:lang="en-US" xmlns:s="` + nsSOAP + `" xmlns:a="` + nsAddressing +
	`" xmlns:x="` + nsTransfer + `" xmlns:w="` + nsWSMan + `" xmlns:rsp="` + nsShell + `" xmlns:p="` + nsWSManMS + `">`

func (r reply) render(messageID string) []byte {
	var b bytes.Buffer
	b.Grow(len(r.body) + 1024)
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>`)
	b.WriteString(envelopeOpen)
	b.WriteString(`<s:Header><a:Action>`)
	escape(&b, r.action)
	b.WriteString(`</a:Action><a:MessageID>`)
	escape(&b, messageID)
	b.WriteString(`</a:MessageID><a:To>` + addressAnonymous + `</a:To><a:RelatesTo>`)
	escape(&b, r.relatesTo)
	b.WriteString(`</a:RelatesTo></s:Header><s:Body>`)
	b.WriteString(r.body)
	b.WriteString(`</s:Body></s:Envelope>`)
	return b.Bytes()
}

// renderedSize is the size of a reply with an empty body, used to budget Receive output.
func renderedSize(action, relatesTo, messageID string) int {
	return len(reply{action: action, relatesTo: relatesTo}.render(messageID))
}

func escape(b *bytes.Buffer, s string) {
	_ = xml.EscapeText(b, []byte(s))
}

func escaped(s string) string {
	var b bytes.Buffer
	escape(&b, s)
	return b.String()
}

func createBody(address, shellID, owner, clientIP string, idle time.Duration, in, out string) string {
	var b bytes.Buffer
	b.WriteString(`<x:ResourceCreated><a:Address>`)
	escape(&b, address)
	b.WriteString(`</a:Address><a:ReferenceParameters><w:ResourceURI>` + resourceCmd +
		`</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">`)
	escape(&b, shellID)
	b.WriteString(`</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>`)
	b.WriteString(`<rsp:Shell><rsp:ShellId>`)
	escape(&b, shellID)
	b.WriteString(`</rsp:ShellId><rsp:ResourceUri>` + resourceCmd + `</rsp:ResourceUri><rsp:Owner>`)
	escape(&b, owner)
	b.WriteString(`</rsp:Owner><rsp:ClientIP>`)
	escape(&b, clientIP)
	fmt.Fprintf(&b, `</rsp:ClientIP><rsp:IdleTimeOut>PT%.3fS</rsp:IdleTimeOut><rsp:InputStreams>`, idle.Seconds())
	escape(&b, in)
	b.WriteString(`</rsp:InputStreams><rsp:OutputStreams>`)
	escape(&b, out)
	b.WriteString(`</rsp:OutputStreams><rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>`)
	return b.String()
}

func commandResponseBody(commandID string) string {
	return `<rsp:CommandResponse><rsp:CommandId>` + escaped(commandID) + `</rsp:CommandId></rsp:CommandResponse>`
}

// chunk is output of one stream in one Receive reply.
type chunk struct {
	stream string
	data   []byte
	end    bool
}

// streamOverhead is the size of one stream's rsp:Stream elements around its base64 text:
// a data element and the separate, empty End="true" element that closes the stream.
func streamOverhead(stream, commandID string) int {
	return len(`<rsp:Stream Name="" CommandId=""></rsp:Stream>`) +
		len(`<rsp:Stream Name="" CommandId="" End="true"></rsp:Stream>`) + 2*(len(stream)+len(escaped(commandID)))
}

// stateOverhead is the size of the rsp:CommandState element, at its largest.
func stateOverhead(commandID string) int {
	return len(`<rsp:CommandState CommandId="" State=""><rsp:ExitCode>-2147483648</rsp:ExitCode></rsp:CommandState>`) +
		len(escaped(commandID)) + len(stateRunning)
}

func receiveBodyXML(commandID string, chunks []chunk, done bool, exitCode int) string {
	var b bytes.Buffer
	b.WriteString(`<rsp:ReceiveResponse>`)
	id := escaped(commandID)
	// As Windows answers: data goes only in elements without End, and a stream's end is a
	// separate, empty End="true" element after all the data of the reply. Clients such as
	// the npm winrm-client read only elements without End.
	stream := func(c chunk, end bool, data []byte) {
		b.WriteString(`<rsp:Stream Name="`)
		escape(&b, c.stream)
		b.WriteString(`" CommandId="` + id + `"`)
		if end {
			b.WriteString(` End="true"`)
		}
		b.WriteString(`>`)
		b.WriteString(base64.StdEncoding.EncodeToString(data))
		b.WriteString(`</rsp:Stream>`)
	}
	for _, c := range chunks {
		if len(c.data) > 0 {
			stream(c, false, c.data)
		}
	}
	for _, c := range chunks {
		if c.end {
			stream(c, true, nil)
		}
	}
	if done {
		fmt.Fprintf(&b, `<rsp:CommandState CommandId="%s" State="%s"><rsp:ExitCode>%d</rsp:ExitCode></rsp:CommandState>`, id, stateDone, exitCode)
	} else {
		fmt.Fprintf(&b, `<rsp:CommandState CommandId="%s" State="%s"></rsp:CommandState>`, id, stateRunning)
	}
	b.WriteString(`</rsp:ReceiveResponse>`)
	return b.String()
}

// faultBody renders a fault the way WinRM does: the WSManFault detail sits in the
// wsmanfault namespace (prefix f:), which is where pywinrm looks for its Code.
func faultBody(f *soapFault, machine string) string {
	var b bytes.Buffer
	b.WriteString(`<s:Fault><s:Code><s:Value>` + f.code + `</s:Value><s:Subcode><s:Value>` + f.subcode +
		`</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">`)
	escape(&b, f.message)
	fmt.Fprintf(&b, `</s:Text></s:Reason><s:Detail><f:WSManFault xmlns:f="%s" Code="%d" Machine="`, nsWSManFault, f.wsCode)
	escape(&b, machine)
	b.WriteString(`"><f:Message>`)
	escape(&b, f.message)
	b.WriteString(`</f:Message></f:WSManFault></s:Detail></s:Fault>`)
	return b.String()
}

// psrpCreateBody is a CreateResponse of the PowerShell endpoint: as captured from
// Windows, only the new shell's reference (no rsp:Shell).
func psrpCreateBody(address, resourceURI, shellID string) string {
	var b bytes.Buffer
	b.WriteString(`<x:ResourceCreated><a:Address>`)
	escape(&b, address)
	b.WriteString(`</a:Address><a:ReferenceParameters><w:ResourceURI>`)
	escape(&b, resourceURI)
	b.WriteString(`</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">`)
	escape(&b, shellID)
	b.WriteString(`</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>`)
	return b.String()
}

// psrpReceiveBody is a ReceiveResponse of the PowerShell endpoint: one rsp:Stream per
// fragment; a pipeline's streams carry its CommandId and its state, the pool's neither.
func psrpReceiveBody(commandID string, packets [][]byte, done bool) string {
	var b bytes.Buffer
	b.WriteString(`<rsp:ReceiveResponse>`)
	id := escaped(commandID)
	for _, p := range packets {
		b.WriteString(`<rsp:Stream Name="stdout"`)
		if commandID != "" {
			b.WriteString(` CommandId="` + id + `"`)
		}
		b.WriteString(`>`)
		b.WriteString(base64.StdEncoding.EncodeToString(p))
		b.WriteString(`</rsp:Stream>`)
	}
	if commandID != "" {
		if done {
			fmt.Fprintf(&b, `<rsp:CommandState CommandId="%s" State="%s"><rsp:ExitCode>0</rsp:ExitCode></rsp:CommandState>`, id, stateDone)
		} else {
			fmt.Fprintf(&b, `<rsp:CommandState CommandId="%s" State="%s"></rsp:CommandState>`, id, stateRunning)
		}
	}
	b.WriteString(`</rsp:ReceiveResponse>`)
	return b.String()
}
