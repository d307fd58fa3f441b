package runners

import (
	"encoding/base64"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/smnsjas/go-psrpcore/messages"
)

// envelopeFields is what a WS-Management server reads of a request.
type envelopeFields struct {
	To          string `xml:"Header>To"`
	Action      string `xml:"Header>Action"`
	ResourceURI string `xml:"Header>ResourceURI"`
	Timeout     string `xml:"Header>OperationTimeout"`
	MaxEnvelope string `xml:"Header>MaxEnvelopeSize"`
	Selector    struct {
		Name  string `xml:"Name,attr"`
		Value string `xml:",chardata"`
	} `xml:"Header>SelectorSet>Selector"`
	Option struct {
		Name       string `xml:"Name,attr"`
		MustComply string `xml:"MustComply,attr"`
		Value      string `xml:",chardata"`
	} `xml:"Header>OptionSet>Option"`
	Shell struct {
		ID       string `xml:"ShellId,attr"`
		Input    string `xml:"InputStreams"`
		Output   string `xml:"OutputStreams"`
		Creation struct {
			NS    string `xml:"xmlns,attr"`
			Value string `xml:",chardata"`
		} `xml:"creationXml"`
	} `xml:"Body>Shell"`
	Command struct {
		ID        string `xml:"CommandId,attr"`
		Command   string `xml:"Command"`
		Arguments string `xml:"Arguments"`
	} `xml:"Body>CommandLine"`
	Stream struct {
		CommandID string `xml:"CommandId,attr"`
		Value     string `xml:",chardata"`
	} `xml:"Body>Receive>DesiredStream"`
	Signal struct {
		CommandID string `xml:"CommandId,attr"`
		Code      string `xml:"Code"`
	} `xml:"Body>Signal"`
}

func parseEnvelope(t *testing.T, env string) envelopeFields {
	t.Helper()
	var f envelopeFields
	if err := xml.Unmarshal([]byte(env), &f); err != nil {
		t.Fatalf("the envelope is not XML: %v\n%s", err, env)
	}
	return f
}

func testClient(t *testing.T) *wsmanClient {
	opts := Options{}
	opts.defaults()
	c, err := newWSManClient(&ExchangeEndpoint{URL: "https://ex10-caht.msglab.local/PowerShell/", Auth: AuthBasic, User: "u", Password: "p"}, &opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEnvelopes(t *testing.T) {
	c := testClient(t)
	rpid := uuid.New()
	shellID := strings.ToUpper(rpid.String())
	var frag fragmenter
	capMsg, _ := frag.encode(newMessage(messages.MessageTypeSessionCapability, rpid, uuid.Nil, sessionCapability()))
	initMsg, _ := frag.encode(newMessage(messages.MessageTypeInitRunspacePool, rpid, uuid.Nil, initRunspacePool(2)))

	f := parseEnvelope(t, c.createEnvelope(shellID, append(capMsg, initMsg...)))
	if f.To != "https://ex10-caht.msglab.local/PowerShell/" || f.Action != actionCreate || f.ResourceURI != ExchangeResourceURI ||
		f.Timeout != "PT60.000S" || f.MaxEnvelope != "153600" {
		t.Errorf("Create header %+v", f)
	}
	if f.Option.Name != "protocolversion" || f.Option.MustComply != "true" || f.Option.Value != "2.1" {
		t.Errorf("Create option %+v", f.Option)
	}
	if f.Shell.ID != shellID || f.Shell.Input != "stdin pr" || f.Shell.Output != "stdout" || f.Shell.Creation.NS != "http://schemas.microsoft.com/powershell" {
		t.Errorf("Create body %+v", f.Shell)
	}
	creation, err := base64.StdEncoding.DecodeString(f.Shell.Creation.Value)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := newReassembler().add(creation)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("creationXml holds %d messages (%v)", len(msgs), err)
	}
	if msgs[0].Type != messages.MessageTypeSessionCapability || msgs[1].Type != messages.MessageTypeInitRunspacePool ||
		msgs[1].RunspaceID != rpid || msgs[0].Destination != messages.DestinationServer {
		t.Errorf("creationXml messages %+v %+v", msgs[0], msgs[1])
	}
	if !strings.HasPrefix(string(msgs[0].Data), "\xEF\xBB\xBF<Obj") {
		t.Errorf("message data does not start with a BOM and <Obj>: %.20q", msgs[0].Data)
	}

	f = parseEnvelope(t, c.receiveEnvelope(shellID, ""))
	if f.Action != actionReceive || f.Selector.Name != "ShellId" || f.Selector.Value != shellID || f.Stream.Value != "stdout" || f.Stream.CommandID != "" ||
		f.Option.Name != "WSMAN_CMDSHELL_OPTION_KEEPALIVE" {
		t.Errorf("pool Receive %+v", f)
	}
	f = parseEnvelope(t, c.receiveEnvelope(shellID, "ABC"))
	if f.Stream.CommandID != "ABC" {
		t.Errorf("pipeline Receive %+v", f.Stream)
	}
	f = parseEnvelope(t, c.commandEnvelope(shellID, "ABC", []byte{1, 2, 3}))
	if f.Action != actionCommand || f.Command.ID != "ABC" || f.Command.Command != "" || f.Command.Arguments != "AQID" {
		t.Errorf("Command %+v", f.Command)
	}
	f = parseEnvelope(t, c.signalEnvelope(shellID, "ABC", signalStop))
	if f.Action != actionSignal || f.Signal.CommandID != "ABC" || f.Signal.Code != "powershell/signal/crtl_c" {
		t.Errorf("Signal %+v", f.Signal)
	}
	f = parseEnvelope(t, c.deleteEnvelope(shellID))
	if f.Action != actionDelete || f.Selector.Value != shellID {
		t.Errorf("Delete %+v", f)
	}
}

// Replies in the shape WinRM on Windows Server 2008 R2 sends them (prefixes s: a: x: w:
// rsp:, the ShellId in the ResourceCreated's selector).
const (
	createReply   = `<s:Envelope xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"><s:Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse</a:Action><a:MessageID>uuid:9A0D6F0E-2D61-4C39-9B1F-3E5F2F0C1A11</a:MessageID><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To><a:RelatesTo>uuid:1</a:RelatesTo></s:Header><s:Body><x:ResourceCreated><a:Address>https://ex10-caht.msglab.local/PowerShell/</a:Address><a:ReferenceParameters><w:ResourceURI>http://schemas.microsoft.com/powershell/Microsoft.Exchange</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">2A4D8C6E-1B3F-4E5A-9C7D-0F1E2D3C4B5A</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated><rsp:Shell xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><rsp:ShellId>2A4D8C6E-1B3F-4E5A-9C7D-0F1E2D3C4B5A</rsp:ShellId><rsp:ResourceUri>http://schemas.microsoft.com/powershell/Microsoft.Exchange</rsp:ResourceUri></rsp:Shell></s:Body></s:Envelope>`
	receiveReply_ = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell"><s:Header/><s:Body><rsp:ReceiveResponse><rsp:Stream Name="stdout" CommandId="ABC">AQID</rsp:Stream><rsp:Stream Name="stdout" CommandId="ABC">BAU=</rsp:Stream><rsp:Stream Name="stderr" CommandId="ABC">/w==</rsp:Stream><rsp:CommandState CommandId="ABC" State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"><rsp:ExitCode>0</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse></s:Body></s:Envelope>`
	notFoundFault = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header/><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>w:InvalidSelectors</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">The WS-Management service cannot process the request because the request contained invalid selectors for the resource. </s:Text></s:Reason><s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="2150858843" Machine="ex10-caht.msglab.local"><f:Message>The request for the Windows Remote Shell with ShellId 2A4D8C6E-1B3F-4E5A-9C7D-0F1E2D3C4B5A failed because the shell was not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server. Provide the correct ShellId or create a new shell and retry the operation. </f:Message></f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>`
	timeoutFault  = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header/><s:Body><s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:TimedOut</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  </s:Text></s:Reason><s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="2150858793" Machine="ex10-caht.msglab.local"><f:Message>The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  </f:Message></f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>`
)

func TestReplies(t *testing.T) {
	id, err := parseID([]byte(createReply), "ShellId")
	if err != nil || id != "2A4D8C6E-1B3F-4E5A-9C7D-0F1E2D3C4B5A" {
		t.Errorf("ShellId %q, %v", id, err)
	}
	id, err = parseID([]byte(`<s:Envelope xmlns:s="x" xmlns:rsp="y"><s:Body><rsp:CommandResponse><rsp:CommandId>ABC</rsp:CommandId></rsp:CommandResponse></s:Body></s:Envelope>`), "CommandId")
	if err != nil || id != "ABC" {
		t.Errorf("CommandId %q, %v", id, err)
	}
	if _, err := parseID([]byte(`<a/>`), "CommandId"); err == nil {
		t.Error("a reply without CommandId was accepted")
	}
	r, err := parseReceive([]byte(receiveReply_))
	if err != nil || string(r.stdout) != "\x01\x02\x03\x04\x05" || !r.done {
		t.Errorf("receive %+v, %v", r, err)
	}
	if _, err := parseReceive([]byte(`<s:Envelope xmlns:s="x"><s:Body/></s:Envelope>`)); err == nil {
		t.Error("a reply without ReceiveResponse was accepted")
	}
	f := parseFault([]byte(notFoundFault))
	if f == nil || !f.shellNotFound() || f.timedOut() || !strings.Contains(f.message, "shell was not found") {
		t.Errorf("not-found fault %+v", f)
	}
	f = parseFault([]byte(timeoutFault))
	if f == nil || !f.timedOut() || f.shellNotFound() {
		t.Errorf("timeout fault %+v", f)
	}
	if parseFault([]byte(receiveReply_)) != nil {
		t.Error("a reply was taken for a fault")
	}
}

func TestFragmentsSplitAndRejoin(t *testing.T) {
	var frag fragmenter
	big := make([]byte, 3*maxFragment+17)
	for i := range big {
		big[i] = byte('a' + i%26)
	}
	rpid := uuid.New()
	data, err := frag.encode(newMessage(messages.MessageTypePipelineOutput, rpid, uuid.New(), big))
	if err != nil {
		t.Fatal(err)
	}
	r := newReassembler()
	// Fed in odd pieces, as Receive replies cut them: whole fragments only.
	var got []*messages.Message
	for off := 0; off < len(data); {
		n := maxFragment
		if off+n > len(data) {
			n = len(data) - off
		}
		msgs, err := r.add(data[off : off+n])
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, msgs...)
		off += n
	}
	if len(got) != 1 || string(got[0].Data) != string(big) || got[0].RunspaceID != rpid {
		t.Fatalf("rejoined %d messages", len(got))
	}
	if _, err := r.add(data[:10]); err == nil {
		t.Error("a cut fragment was accepted")
	}
}

func TestExchangeEndpointCheck(t *testing.T) {
	for _, tc := range []struct {
		ep   ExchangeEndpoint
		want string // "" when valid
	}{
		{ExchangeEndpoint{URL: "https://ex/PowerShell/", Auth: AuthBasic, User: "u"}, ""},
		{ExchangeEndpoint{URL: "http://ex/PowerShell/", Auth: AuthBasic, User: "u"}, "use https"},
		{ExchangeEndpoint{URL: "http://ex/PowerShell/", Auth: AuthBasic, User: "u", AllowUnencrypted: true}, ""},
		{ExchangeEndpoint{URL: "http://ex/PowerShell/", User: "u", Kerberos: Kerberos{Realm: "MSGLAB.LOCAL"}}, "message encryption"},
		{ExchangeEndpoint{URL: "https://ex/PowerShell/", User: "u", Kerberos: Kerberos{Realm: "MSGLAB.LOCAL"}}, ""},
		{ExchangeEndpoint{URL: "https://ex/PowerShell/", User: "u"}, "realm"},
		{ExchangeEndpoint{URL: "https://ex/PowerShell/", Auth: AuthNTLM, User: "u"}, "not one of kerberos, basic"},
		{ExchangeEndpoint{URL: "ftp://ex/", Auth: AuthBasic, User: "u"}, "not http"},
		{ExchangeEndpoint{URL: "https://u:p@ex/PowerShell/", Auth: AuthBasic, User: "u"}, "credentials"},
		{ExchangeEndpoint{Auth: AuthBasic, User: "u"}, "no URL"},
		{ExchangeEndpoint{URL: "https://ex/PowerShell/", Auth: AuthBasic}, "no user"},
		{ExchangeEndpoint{URL: "https://ex/PowerShell/", Auth: AuthBasic, User: "u", CAFile: "/nonexistent/ca.pem"}, "ca_file"},
	} {
		err := tc.ep.check("EX10-CAHT")
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.ep, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: err = %v, want %q", tc.ep, err, tc.want)
		}
	}
	// An Exchange-only endpoint needs no WinRM address; one with neither is refused.
	ep := Endpoint{Name: "EX10-CAHT", Exchange: &ExchangeEndpoint{URL: "https://ex/PowerShell/", Auth: AuthBasic, User: "u"}}
	if err := ep.check(); err != nil {
		t.Errorf("Exchange-only endpoint: %v", err)
	}
	if err := (&Endpoint{Name: "X"}).check(); err == nil {
		t.Error("an endpoint with no address was accepted")
	}
}

func TestTimeoutBoundsOfARequest(t *testing.T) {
	c := testClient(t)
	if got := c.opTimeout + c.replySlack; got != 90*time.Second {
		t.Errorf("a request may take %s, want 90s (operation timeout + slack)", got)
	}
}
