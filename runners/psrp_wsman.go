package runners

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The WS-Management side of PowerShell Remoting: a runspace pool is a shell of resource
// URI http://schemas.microsoft.com/powershell/<configuration>, a pipeline a command in
// it, and PSRP fragments travel base64-encoded in creationXml, in the Command's
// Arguments and in the stdout stream of Receive (MS-PSRP 3.1.5.3, MS-WSMV).
//
// The Exchange endpoint gets its own HTTP client rather than masterzen/winrm's
// transporters: both of the library's URL builders (Endpoint.url and ClientKerberos.Post)
// hard-code the path /wsman, and the endpoint is at /PowerShell/. The authentication is
// the same code underneath: Basic from net/http, Kerberos as SPNEGO tokens from gokrb5,
// which masterzen's Kerberos transporter calls too (here the client logs in once per
// server, not once per request).

// ExchangeResourceURI is the resource URI of Exchange's remote PowerShell configuration.
const ExchangeResourceURI = "http://schemas.microsoft.com/powershell/Microsoft.Exchange"

const (
	nsSoap  = "http://www.w3.org/2003/05/soap-envelope"
	nsAddr  = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	nsWsman = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	nsWsmv  = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
	nsShell = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"

	actionCreate  = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
	actionDelete  = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
	actionCommand = nsShell + "/Command"
	actionReceive = nsShell + "/Receive"
	actionSignal  = nsShell + "/Signal"

	// signalStop is PowerShell's stop of a pipeline (the misspelling is the protocol's);
	// signalTerminate ends the command on the WS-Management side.
	signalStop      = "powershell/signal/crtl_c"
	signalStopURI   = "http://schemas.microsoft.com/powershell/signal/crtl_c"
	signalTerminate = nsShell + "/signal/terminate"

	stateDone = nsShell + "/CommandState/Done"

	// faultShellNotFound is ERROR_WSMAN_SHELL_NOT_FOUND (0x8033805B): the server no longer
	// has the shell (idle timeout, IIS recycled the application pool, a restart).
	faultShellNotFound = "2150858843"
)

// wsmanClient sends WS-Management requests to one server's Exchange endpoint.
type wsmanClient struct {
	ep         *ExchangeEndpoint
	url        string
	http       *http.Client
	transport  *http.Transport
	opTimeout  time.Duration
	replySlack time.Duration
	sessionID  string

	krb *krbLogin // nil unless the endpoint uses Kerberos
}

func newWSManClient(ep *ExchangeEndpoint, opts *Options) (*wsmanClient, error) {
	u, err := url.Parse(ep.URL)
	if err != nil {
		return nil, err
	}
	tlsConf, err := tlsConfig(ep.Insecure, ep.TLSServerName, ep.CAPEM)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:                 nil, // a server on the organisation's network, never through a proxy from the environment
		DialContext:           (&net.Dialer{Timeout: opts.ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   opts.ConnectTimeout,
		ResponseHeaderTimeout: opts.OperationTimeout + opts.ReplySlack,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}
	c := &wsmanClient{
		ep: ep, url: u.String(), transport: tr, http: &http.Client{Transport: tr},
		opTimeout: opts.OperationTimeout, replySlack: opts.ReplySlack,
		sessionID: "uuid:" + strings.ToUpper(uuid.NewString()),
	}
	if ep.auth() == AuthKerberos {
		c.krb = &krbLogin{k: ep.Kerberos, user: ep.User, password: ep.Password}
	}
	return c, nil
}

func (c *wsmanClient) close() {
	c.transport.CloseIdleConnections()
	if c.krb != nil {
		c.krb.destroy()
	}
}

// header builds the SOAP header of a request on the shell shellID ("" for Create).
func (c *wsmanClient) header(action, shellID, options string, timeout time.Duration) string {
	var b strings.Builder
	b.WriteString(`<s:Header>`)
	b.WriteString(`<a:To>` + xmlText(c.url) + `</a:To>`)
	b.WriteString(`<a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>`)
	b.WriteString(`<a:Action s:mustUnderstand="true">` + action + `</a:Action>`)
	b.WriteString(`<w:MaxEnvelopeSize s:mustUnderstand="true">` + strconv.Itoa(envelopeSize) + `</w:MaxEnvelopeSize>`)
	b.WriteString(`<a:MessageID>uuid:` + strings.ToUpper(uuid.NewString()) + `</a:MessageID>`)
	b.WriteString(`<w:Locale xml:lang="en-US" s:mustUnderstand="false"/>`)
	b.WriteString(`<p:DataLocale xml:lang="en-US" s:mustUnderstand="false"/>`)
	b.WriteString(`<p:SessionId s:mustUnderstand="false">` + c.sessionID + `</p:SessionId>`)
	secs := max(int(timeout/time.Second), 1)
	b.WriteString(`<w:OperationTimeout>PT` + strconv.Itoa(secs) + `.000S</w:OperationTimeout>`)
	b.WriteString(`<w:ResourceURI s:mustUnderstand="true">` + ExchangeResourceURI + `</w:ResourceURI>`)
	if shellID != "" {
		b.WriteString(`<w:SelectorSet><w:Selector Name="ShellId">` + xmlText(shellID) + `</w:Selector></w:SelectorSet>`)
	}
	if options != "" {
		b.WriteString(options)
	}
	b.WriteString(`</s:Header>`)
	return b.String()
}

func envelope(header, body string) string {
	return `<s:Envelope xmlns:s="` + nsSoap + `" xmlns:a="` + nsAddr + `" xmlns:w="` + nsWsman +
		`" xmlns:p="` + nsWsmv + `" xmlns:rsp="` + nsShell + `">` + header + `<s:Body>` + body + `</s:Body></s:Envelope>`
}

func xmlText(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// createEnvelope opens a runspace pool: the shell's id is the pool's id, and creationXml
// carries SESSION_CAPABILITY and INIT_RUNSPACEPOOL.
func (c *wsmanClient) createEnvelope(shellID string, creation []byte) string {
	opts := `<w:OptionSet s:mustUnderstand="true"><w:Option MustComply="true" Name="protocolversion">` + psrpProtocolVersion + `</w:Option></w:OptionSet>`
	body := `<rsp:Shell ShellId="` + shellID + `"><rsp:InputStreams>stdin pr</rsp:InputStreams>` +
		`<rsp:OutputStreams>stdout</rsp:OutputStreams>` +
		`<creationXml xmlns="http://schemas.microsoft.com/powershell">` + base64.StdEncoding.EncodeToString(creation) + `</creationXml></rsp:Shell>`
	return envelope(c.header(actionCreate, "", opts, c.opTimeout), body)
}

// receiveEnvelope asks for the pool's (commandID "") or a pipeline's output.
func (c *wsmanClient) receiveEnvelope(shellID, commandID string) string {
	opts := `<w:OptionSet><w:Option Name="WSMAN_CMDSHELL_OPTION_KEEPALIVE">TRUE</w:Option></w:OptionSet>`
	stream := `<rsp:DesiredStream>stdout</rsp:DesiredStream>`
	if commandID != "" {
		stream = `<rsp:DesiredStream CommandId="` + xmlText(commandID) + `">stdout</rsp:DesiredStream>`
	}
	return envelope(c.header(actionReceive, shellID, opts, c.opTimeout), `<rsp:Receive>`+stream+`</rsp:Receive>`)
}

// commandEnvelope starts a pipeline: CREATE_PIPELINE goes in Arguments, and the command's
// id is the pipeline's id.
func (c *wsmanClient) commandEnvelope(shellID, commandID string, createPipeline []byte) string {
	body := `<rsp:CommandLine CommandId="` + commandID + `"><rsp:Command></rsp:Command>` +
		`<rsp:Arguments>` + base64.StdEncoding.EncodeToString(createPipeline) + `</rsp:Arguments></rsp:CommandLine>`
	return envelope(c.header(actionCommand, shellID, "", c.opTimeout), body)
}

func (c *wsmanClient) signalEnvelope(shellID, commandID, code string) string {
	body := `<rsp:Signal CommandId="` + xmlText(commandID) + `"><rsp:Code>` + code + `</rsp:Code></rsp:Signal>`
	return envelope(c.header(actionSignal, shellID, "", c.opTimeout), body)
}

func (c *wsmanClient) deleteEnvelope(shellID string) string {
	return envelope(c.header(actionDelete, shellID, "", c.opTimeout), "")
}

// wsFault is a SOAP fault the endpoint answered with.
type wsFault struct {
	status  int
	code    string // WSManFault Code, a decimal HRESULT
	subcode string // e.g. w:TimedOut
	message string
}

func (f *wsFault) Error() string {
	msg := f.message
	if msg == "" {
		msg = f.subcode
	}
	return fmt.Sprintf("http error %d: WS-Management fault %s: %s", f.status, f.code, msg)
}

func (f *wsFault) timedOut() bool {
	return strings.HasSuffix(f.subcode, "TimedOut") || f.code == "2150858793"
}

func (f *wsFault) shellNotFound() bool {
	return f.code == faultShellNotFound || strings.HasSuffix(f.subcode, "InvalidSelectors")
}

// httpError is an HTTP answer without a usable fault; its text has the form classify
// reads the status from.
type httpError struct {
	status int
	body   string
}

func (e *httpError) Error() string {
	return fmt.Sprintf("http error %d: %s", e.status, shorten(e.body))
}

// maxReply bounds a reply body: an envelope is at most envelopeSize, with room for
// headers and encoding.
const maxReply = 4 * envelopeSize

// post sends one request and returns the reply body. ctx bounds it; the operation
// timeout plus the reply slack bounds it too, so a server that stops answering cannot
// hold a long poll open for ever.
func (c *wsmanClient) post(ctx context.Context, env string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opTimeout+c.replySlack)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, strings.NewReader(env))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	req.Header.Set("User-Agent", "Microsoft WinRM Client")
	if err := c.authorize(req); err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReply+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxReply {
		return nil, fmt.Errorf("the reply is larger than %d bytes", maxReply)
	}
	if f := parseFault(body); f != nil {
		f.status = resp.StatusCode
		return nil, f
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &httpError{status: resp.StatusCode, body: string(body)}
	}
	return body, nil
}

// authorize adds the credentials: Basic, or a fresh SPNEGO token from the Kerberos
// client (gokrb5 caches the service ticket).
func (c *wsmanClient) authorize(req *http.Request) error {
	switch c.ep.auth() {
	case AuthBasic:
		req.SetBasicAuth(c.ep.User, c.ep.Password)
		return nil
	case AuthKerberos:
		spn := c.ep.Kerberos.SPN
		if spn == "" {
			spn = "HTTP/" + req.URL.Hostname()
		}
		return c.krb.authorize(req, spn)
	}
	return fmt.Errorf("auth %q is not supported on the Exchange endpoint", c.ep.Auth)
}

// krbError is a failure to get a Kerberos ticket: the KDC refused or could not be reached.
type krbError struct{ err error }

func (e *krbError) Error() string { return "kerberos: " + e.err.Error() }
func (e *krbError) Unwrap() error { return e.err }

// parseFault returns the SOAP fault in body, or nil.
func parseFault(body []byte) *wsFault {
	if !faultRE.Match(body) {
		return nil
	}
	f := &wsFault{}
	var reason string // s:Reason's text, used when the WSManFault has no message
	d := xml.NewDecoder(bytes.NewReader(body))
	var path []string
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			path = append(path, t.Name.Local)
			if t.Name.Local == "WSManFault" {
				f.code, _ = attr(t, "Code")
			}
		case xml.EndElement:
			if len(path) > 0 {
				path = path[:len(path)-1]
			}
		case xml.CharData:
			v := strings.TrimSpace(string(t))
			if v == "" || len(path) == 0 {
				continue
			}
			last := path[len(path)-1]
			inSub := len(path) >= 2 && path[len(path)-2] == "Subcode"
			switch {
			case last == "Value" && inSub:
				f.subcode = v
			case last == "Message" && f.message == "":
				f.message = v
			case last == "Text" && reason == "":
				reason = v
			}
		}
	}
	if f.message == "" {
		f.message = reason
	}
	return f
}

// receiveReply is what one Receive returned.
type receiveReply struct {
	stdout []byte
	done   bool // the command's state is Done
}

// parseReceive reads a ReceiveResponse: the stdout stream's data, decoded, and whether
// the command is done.
//
// The fast scanner reads it when it can (every Receive of a pipeline's output comes
// through here); otherwise, and whenever that fails, encoding/xml reads it again, so
// the result and any error are encoding/xml's.
func parseReceive(body []byte) (*receiveReply, error) {
	if r, err := parseReceiveFrom(newXMLScanner(skipDeclaration(body))); err == nil {
		return r, nil
	}
	return parseReceiveFrom(xml.NewDecoder(bytes.NewReader(body)))
}

// skipDeclaration drops a leading XML declaration that names no encoding other than
// UTF-8 (what WS-Management servers write), which the fast scanner does not read;
// anything else is left for encoding/xml.
func skipDeclaration(body []byte) []byte {
	const decl = `<?xml version="1.0" encoding="`
	if !bytes.HasPrefix(body, []byte(decl)) {
		return body
	}
	rest := body[len(decl):]
	for _, enc := range []string{`UTF-8"?>`, `utf-8"?>`} {
		if bytes.HasPrefix(rest, []byte(enc)) {
			return rest[len(enc):]
		}
	}
	return body
}

func parseReceiveFrom(d interface{ Token() (xml.Token, error) }) (*receiveReply, error) {
	r := &receiveReply{}
	inStream := false
	var data strings.Builder
	seen := false
	for {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("the Receive reply is not XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "ReceiveResponse":
				seen = true
			case "Stream":
				name, _ := attr(t, "Name")
				inStream = name == "stdout"
			case "CommandState":
				if s, _ := attr(t, "State"); s == stateDone {
					r.done = true
				}
			}
		case xml.EndElement:
			if t.Name.Local == "Stream" && inStream {
				inStream = false
				chunk, err := base64.StdEncoding.DecodeString(strings.TrimSpace(data.String()))
				if err != nil {
					return nil, fmt.Errorf("the stdout stream is not base64: %w", err)
				}
				r.stdout = append(r.stdout, chunk...)
				data.Reset()
			}
		case xml.CharData:
			if inStream {
				data.Write(t)
			}
		}
	}
	if !seen {
		return nil, errors.New("the reply to Receive has no ReceiveResponse")
	}
	return r, nil
}

// parseIDs finds a Create reply's ShellId or a Command reply's CommandId.
func parseID(body []byte, want string) (string, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	capture := false
	for {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return "", fmt.Errorf("the reply has no %s", want)
			}
			return "", fmt.Errorf("the reply is not XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name, _ := attr(t, "Name")
			capture = t.Name.Local == want || (t.Name.Local == "Selector" && name == want)
		case xml.CharData:
			if capture {
				if v := strings.TrimSpace(string(t)); v != "" {
					return v, nil
				}
			}
		case xml.EndElement:
			capture = false
		}
	}
}
