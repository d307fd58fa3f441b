package wsman

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exchops/exchops/lab/ps"
	"github.com/exchops/exchops/lab/psrp"
)

// fakeExchange is a tiny psrp.Endpoint: commands that echo, emit every kind of record,
// fail, or block until stopped.
type fakeExchange struct {
	openErr  error
	opened   chan string   // users, as sessions open
	closed   chan struct{} // one per Runspace.Close
	started  chan string   // blocking commands, as they start
	stopped  chan string   // blocking commands whose ctx ended
	release  chan struct{} // closing it lets blocking commands return normally
	running  atomic.Int32
	maxSeen  atomic.Int32
	openWait chan struct{} // when set, Open waits for it
}

func newFakeExchange() *fakeExchange {
	return &fakeExchange{
		opened: make(chan string, 100), closed: make(chan struct{}, 100),
		started: make(chan string, 100), stopped: make(chan string, 100), release: make(chan struct{}),
	}
}

func (x *fakeExchange) Open(ctx context.Context, user string) (psrp.Runspace, error) {
	if x.openWait != nil {
		select {
		case <-x.openWait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if x.openErr != nil {
		return nil, x.openErr
	}
	x.opened <- user
	return fakeRunspace{x}, nil
}

type fakeRunspace struct{ x *fakeExchange }

func (r fakeRunspace) Close() { r.x.closed <- struct{}{} }

func (r fakeRunspace) Invoke(ctx context.Context, cmds []psrp.Command, out psrp.Output) error {
	x := r.x
	c := cmds[0]
	if c.IsScript {
		return &ps.ErrorRecord{Message: "The syntax is not supported by this runspace. This might be because it is in no-language mode.",
			Category: "ParserError", ErrorID: "ScriptsNotAllowed"}
	}
	switch c.Name {
	case "Echo": // each argument back, then an Exchange-like object
		for _, a := range c.Args {
			out.Object(a.Value)
			if a.Name != "" {
				out.Object("name:" + a.Name)
			}
		}
		out.Object(ps.NewObject("Microsoft.Exchange.Management.SystemConfigurationTasks.DatabaseCopyStatusEntry",
			"Name", `MB01\EX10-MB01`, "Status", ps.Enum{Type: "Microsoft.Exchange.Management.SystemConfigurationTasks.CopyStatus", Name: "Healthy", Value: 2},
			"CopyQueueLength", 0, "LastInspectedLogTime", time.Date(2010, 11, 9, 8, 0, 0, 0, time.UTC)))
	case "Emit":
		out.Warning("The copy is not yet seeded.")
		out.Verbose("Seeding MB01.")
		out.Progress(1, "Seeding", "Copying MB01", 50, false)
		out.Error(&ps.ErrorRecord{Message: "non-terminating", Category: "InvalidOperation", ErrorID: "Oops"})
		out.Progress(1, "Seeding", "Done", 100, true)
		out.Object("after")
	case "Fail":
		out.Object("before")
		return ps.Errorf("ObjectNotFound", "ABC,Microsoft.Exchange.Management.SystemConfigurationTasks.GetMailboxDatabase", "Couldn't find database %q.", "NOPE")
	case "Big": // N strings of 1000 characters
		n, _ := c.Args[0].Value.(int)
		for i := range n {
			out.Object(fmt.Sprintf("%04d", i) + strings.Repeat("x", 996))
		}
	case "Block":
		n := x.running.Add(1)
		for {
			m := x.maxSeen.Load()
			if n <= m || x.maxSeen.CompareAndSwap(m, n) {
				break
			}
		}
		defer x.running.Add(-1)
		name := fmt.Sprint(c.Args[0].Value)
		x.started <- name
		select {
		case <-ctx.Done():
			x.stopped <- name
			return ctx.Err()
		case <-x.release:
			out.Object("released " + name)
		}
	case "Panic":
		panic("endpoint bug")
	default:
		return &ps.ErrorRecord{Message: fmt.Sprintf("The term '%s' is not recognized as the name of a cmdlet.", c.Name),
			Category: "ObjectNotFound", ErrorID: "CommandNotFoundException"}
	}
	return nil
}

// psHarness is a server with the Exchange endpoint and a fake Exchange behind it.
type psHarness struct {
	*harness
	ex *fakeExchange
}

func startPSHarness(t *testing.T, opts Options) *psHarness {
	t.Helper()
	ex := newFakeExchange()
	if opts.Exchange == nil {
		opts.Exchange = ex
	}
	return &psHarness{harness: startHarness(t, opts, false), ex: ex}
}

// psClient is a minimal PowerShell Remoting client: it writes the envelopes, messages
// and CLIXML a PowerShell 2.0 client sends, by hand, and reads what the server sends
// with package psrp's decoders.
type psClient struct {
	t        *testing.T
	url      string
	user     string
	password string
	envelope int
	hc       *http.Client

	shellID string
	rpid    psrp.GUID
	oid     uint64
	mu      sync.Mutex
	reasm   map[string]*psrp.Reassembler // per CommandId ("" for the pool)
}

func (h *psHarness) client() *psClient {
	return &psClient{t: h.t, url: strings.TrimSuffix(h.ln.URL, "/wsman") + "/PowerShell/", user: testUser, password: testPassword,
		envelope: 153600, hc: &http.Client{Timeout: 20 * time.Second}, reasm: map[string]*psrp.Reassembler{}}
}

func randomGUID() psrp.GUID {
	var g psrp.GUID
	_, _ = rand.Read(g[:])
	return g
}

// post sends one request; it returns the status and the body.
func (c *psClient) post(action, body, extraHeader string) (int, string) {
	c.t.Helper()
	sel := ""
	if c.shellID != "" {
		sel = `<w:SelectorSet><w:Selector Name="ShellId">` + c.shellID + `</w:Selector></w:SelectorSet>`
	}
	env := `<s:Envelope xmlns:s="` + nsSOAP + `" xmlns:a="` + nsAddressing + `" xmlns:w="` + nsWSMan + `" xmlns:rsp="` + nsShell +
		`"><s:Header><a:To>` + c.url + `</a:To><a:Action s:mustUnderstand="true">` + action + `</a:Action>` +
		`<a:MessageID>uuid:` + strings.ToLower(newUUID()) + `</a:MessageID>` +
		`<w:ResourceURI s:mustUnderstand="true">` + resourceExchange + `</w:ResourceURI>` +
		fmt.Sprintf(`<w:MaxEnvelopeSize s:mustUnderstand="true">%d</w:MaxEnvelopeSize>`, c.envelope) +
		`<w:OperationTimeout>PT20S</w:OperationTimeout>` + sel + extraHeader + `</s:Header><s:Body>` + body + `</s:Body></s:Envelope>`
	req, err := http.NewRequest(http.MethodPost, c.url, strings.NewReader(env))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	req.SetBasicAuth(c.user, c.password)
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// packet encodes one client message as one fragment.
func (c *psClient) packet(t psrp.MessageType, pid psrp.GUID, clixml string) []byte {
	c.oid++
	m := psrp.Message{Destination: psrp.DestinationServer, Type: t, RPID: c.rpid, PID: pid, Data: []byte(clixml)}
	return psrp.Fragment{ObjectID: c.oid, Start: true, End: true, Blob: m.Encode()}.Append(nil)
}

const clientCapability = `<Obj RefId="0"><MS><Version N="protocolversion">2.1</Version><Version N="PSVersion">2.0</Version><Version N="SerializationVersion">1.1.0.1</Version></MS></Obj>`

func initRunspacePool(min, max int) string {
	return fmt.Sprintf(`<Obj RefId="0"><MS><I32 N="MinRunspaces">%d</I32><I32 N="MaxRunspaces">%d</I32>`+
		`<Obj N="PSThreadOptions" RefId="1"><TN RefId="0"><T>System.Management.Automation.Runspaces.PSThreadOptions</T><T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN><ToString>Default</ToString><I32>0</I32></Obj>`+
		`<Obj N="ApartmentState" RefId="2"><TN RefId="1"><T>System.Threading.ApartmentState</T><T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN><ToString>MTA</ToString><I32>1</I32></Obj>`+
		`<Obj N="HostInfo" RefId="3"><MS><B N="_isHostNull">true</B><B N="_isHostUINull">true</B><B N="_isHostRawUINull">true</B><B N="_useRunspaceHost">true</B></MS></Obj>`+
		`<Nil N="ApplicationArguments" /></MS></Obj>`, min, max)
}

// create opens a runspace pool; it returns the fault text, "" on success.
func (c *psClient) create(min, max int) string {
	c.t.Helper()
	c.rpid = randomGUID()
	creation := append(c.packet(psrp.MsgSessionCapability, psrp.GUID{}, clientCapability),
		c.packet(psrp.MsgInitRunspacePool, psrp.GUID{}, initRunspacePool(min, max))...)
	status, body := c.post(actionCreate, `<rsp:Shell ShellId="`+c.rpid.String()+`"><rsp:InputStreams>stdin pr</rsp:InputStreams><rsp:OutputStreams>stdout</rsp:OutputStreams>`+
		`<creationXml xmlns="`+nsPowerShell+`">`+base64.StdEncoding.EncodeToString(creation)+`</creationXml></rsp:Shell>`,
		`<w:OptionSet s:mustUnderstand="true"><w:Option MustComply="true" Name="protocolversion">2.1</w:Option></w:OptionSet>`)
	if status != 200 {
		return body
	}
	m := regexp.MustCompile(`<w:Selector Name="ShellId">([^<]+)</w:Selector>`).FindStringSubmatch(body)
	if m == nil {
		c.t.Fatalf("CreateResponse without a ShellId: %s", body)
	}
	c.shellID = m[1]
	return ""
}

var (
	streamRE = regexp.MustCompile(`<rsp:Stream Name="stdout"(?: CommandId="([^"]+)")?>([^<]*)</rsp:Stream>`)
	doneRE   = regexp.MustCompile(`<rsp:CommandState CommandId="[^"]+" State="` + regexp.QuoteMeta(stateDone) + `">`)
)

// receive polls once; it returns the messages completed, whether the command is done,
// and the fault text if the server answered with one.
func (c *psClient) receive(commandID string) ([]psrp.Message, bool, string) {
	c.t.Helper()
	attr := ""
	if commandID != "" {
		attr = ` CommandId="` + commandID + `"`
	}
	status, body := c.post(actionReceive, `<rsp:Receive><rsp:DesiredStream`+attr+`>stdout</rsp:DesiredStream></rsp:Receive>`,
		`<w:OptionSet><w:Option Name="WSMAN_CMDSHELL_OPTION_KEEPALIVE">TRUE</w:Option></w:OptionSet>`)
	if status != 200 {
		return nil, false, body
	}
	c.mu.Lock()
	r := c.reasm[commandID]
	if r == nil {
		r = &psrp.Reassembler{}
		c.reasm[commandID] = r
	}
	c.mu.Unlock()
	var msgs []psrp.Message
	for _, s := range streamRE.FindAllStringSubmatch(body, -1) {
		if s[1] != commandID {
			c.t.Fatalf("a stream for %q in a Receive for %q", s[1], commandID)
		}
		data, err := base64.StdEncoding.DecodeString(s[2])
		if err != nil {
			c.t.Fatal(err)
		}
		raw, err := r.Feed(data)
		if err != nil {
			c.t.Fatal(err)
		}
		for _, b := range raw {
			m, err := psrp.DecodeMessage(b)
			if err != nil {
				c.t.Fatal(err)
			}
			if m.RPID != c.rpid && m.Type != psrp.MsgSessionCapability {
				c.t.Fatalf("%s for pool %s, not %s", m.Type, m.RPID, c.rpid)
			}
			msgs = append(msgs, m)
		}
	}
	return msgs, doneRE.MatchString(body), ""
}

// poolState polls the pool until a RUNSPACEPOOL_STATE arrives and returns its data.
func (c *psClient) poolState() (int, *ps.Object) {
	c.t.Helper()
	for range 50 {
		msgs, _, fault := c.receive("")
		if fault != "" {
			c.t.Fatalf("pool Receive: %s", fault)
		}
		for _, m := range msgs {
			if m.Type == psrp.MsgRunspacePoolState {
				v, err := psrp.DecodeValue(m.Text())
				if err != nil {
					c.t.Fatal(err)
				}
				o := v.(*ps.Object)
				state, _ := o.Get("RunspaceState")
				return state.(int), o
			}
		}
	}
	c.t.Fatal("no RUNSPACEPOOL_STATE")
	return 0, nil
}

// open creates the pool and waits for it to open.
func (c *psClient) open(min, max int) {
	c.t.Helper()
	if f := c.create(min, max); f != "" {
		c.t.Fatalf("Create: %s", f)
	}
	if state, o := c.poolState(); state != psrp.PoolOpened {
		c.t.Fatalf("pool state %d: %v", state, o)
	}
}

// arg is one argument of a command: name "" for positional; value is CLIXML.
type arg struct{ name, value string }

// command starts a pipeline of one command; it returns the CommandId, or the fault text.
func (c *psClient) command(name string, isScript bool, args ...arg) (string, string) {
	c.t.Helper()
	return c.commandSplit(0, name, isScript, args...)
}

// commandSplit is command with the CREATE_PIPELINE cut into fragments of at most
// maxBlob bytes (0: one fragment): the first goes in the Command, the rest in Sends.
func (c *psClient) commandSplit(maxBlob int, name string, isScript bool, args ...arg) (string, string) {
	c.t.Helper()
	var a strings.Builder
	for i, x := range args {
		n := `<Nil N="N" />`
		if x.name != "" {
			n = `<S N="N">` + x.name + `</S>`
		}
		fmt.Fprintf(&a, `<Obj RefId="%d"><MS>%s%s</MS></Obj>`, 10+i, n, x.value)
	}
	clixml := `<Obj RefId="0"><MS><B N="NoInput">true</B>` +
		`<Obj N="ApartmentState" RefId="1"><TN RefId="0"><T>System.Threading.ApartmentState</T><T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN><ToString>MTA</ToString><I32>1</I32></Obj>` +
		`<Obj N="RemoteStreamOptions" RefId="2"><TN RefId="1"><T>System.Management.Automation.RemoteStreamOptions</T><T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN><ToString>0</ToString><I32>0</I32></Obj>` +
		`<B N="AddToHistory">false</B><Obj N="HostInfo" RefId="3"><MS><B N="_isHostNull">true</B><B N="_isHostUINull">true</B><B N="_isHostRawUINull">true</B><B N="_useRunspaceHost">true</B></MS></Obj>` +
		`<Obj N="PowerShell" RefId="4"><MS><B N="IsNested">false</B><Nil N="ExtraCmds" /><Obj N="Cmds" RefId="5"><TN RefId="2"><T>System.Collections.Generic.List` + "`" +
		`1[[System.Management.Automation.PSObject, System.Management.Automation, Version=1.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]</T><T>System.Object</T></TN><LST>` +
		`<Obj RefId="6"><MS><S N="Cmd">` + psrp.EncodeString(name) + `</S><B N="IsScript">` + fmt.Sprint(isScript) + `</B><Nil N="UseLocalScope" />` +
		`<Obj N="MergeMyResult" RefId="7"><TN RefId="3"><T>System.Management.Automation.Runspaces.PipelineResultTypes</T><T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN><ToString>None</ToString><I32>0</I32></Obj>` +
		`<Obj N="Args" RefId="8"><TNRef RefId="2" /><LST>` + a.String() + `</LST></Obj></MS></Obj></LST></Obj>` +
		`<Nil N="History" /><B N="RedirectShellErrorOutputPipe">false</B></MS></Obj><B N="IsNested">false</B></MS></Obj>`
	pid := randomGUID()
	c.oid++
	msg := psrp.Message{Destination: psrp.DestinationServer, Type: psrp.MsgCreatePipeline, RPID: c.rpid, PID: pid, Data: []byte(clixml)}.Encode()
	if maxBlob == 0 {
		maxBlob = len(msg)
	}
	frags := psrp.Fragmentize(c.oid, msg, maxBlob)
	status, body := c.post(actionCommand, `<rsp:CommandLine CommandId="`+pid.String()+`"><rsp:Command></rsp:Command><rsp:Arguments>`+
		base64.StdEncoding.EncodeToString(frags[0].Append(nil))+`</rsp:Arguments></rsp:CommandLine>`, "")
	if status != 200 {
		return "", body
	}
	m := regexp.MustCompile(`<rsp:CommandId>([^<]+)</rsp:CommandId>`).FindStringSubmatch(body)
	if m == nil {
		c.t.Fatalf("CommandResponse without a CommandId: %s", body)
	}
	for _, f := range frags[1:] {
		status, body := c.post(actionSend, `<rsp:Send><rsp:Stream Name="stdin" CommandId="`+m[1]+`">`+
			base64.StdEncoding.EncodeToString(f.Append(nil))+`</rsp:Stream></rsp:Send>`, "")
		if status != 200 {
			return m[1], body
		}
	}
	return m[1], ""
}

// result is what a pipeline produced, decoded.
type result struct {
	outputs  []any
	errors   []*ps.Object
	warnings []string
	verbose  []string
	progress []*ps.Object
	state    int
	reason   *ps.Object // ExceptionAsErrorRecord
	receives int
}

// collect receives until the command is done.
func (c *psClient) collect(commandID string) result {
	c.t.Helper()
	var r result
	for !c.t.Failed() {
		msgs, done, fault := c.receive(commandID)
		if fault != "" {
			c.t.Fatalf("Receive: %s", fault)
		}
		r.receives++
		for _, m := range msgs {
			v, err := psrp.DecodeValue(m.Text())
			if err != nil {
				c.t.Fatalf("%s: %v", m.Type, err)
			}
			switch m.Type {
			case psrp.MsgPipelineOutput:
				r.outputs = append(r.outputs, v)
			case psrp.MsgErrorRecord:
				r.errors = append(r.errors, v.(*ps.Object))
			case psrp.MsgWarningRecord, psrp.MsgVerboseRecord:
				msg, _ := v.(*ps.Object).Get("InformationalRecord_Message")
				if m.Type == psrp.MsgWarningRecord {
					r.warnings = append(r.warnings, msg.(string))
				} else {
					r.verbose = append(r.verbose, msg.(string))
				}
			case psrp.MsgProgressRecord:
				r.progress = append(r.progress, v.(*ps.Object))
			case psrp.MsgPipelineState:
				o := v.(*ps.Object)
				s, _ := o.Get("PipelineState")
				r.state = s.(int)
				if e, ok := o.Get("ExceptionAsErrorRecord"); ok {
					r.reason = e.(*ps.Object)
				}
			default:
				c.t.Fatalf("unexpected %s", m.Type)
			}
		}
		if done {
			return r
		}
	}
	return r
}

func (c *psClient) signal(commandID, code string) string {
	status, body := c.post(actionSignal, `<rsp:Signal CommandId="`+commandID+`"><rsp:Code>`+code+`</rsp:Code></rsp:Signal>`, "")
	if status != 200 {
		return body
	}
	return ""
}

func (c *psClient) deleteShell() string {
	status, body := c.post(actionDelete, "", "")
	if status != 200 {
		return body
	}
	return ""
}

// reasonMessage is the exception message of an error record object.
func reasonMessage(o *ps.Object) string {
	if o == nil {
		return ""
	}
	exc, _ := o.Get("Exception")
	e, ok := exc.(*ps.Object)
	if !ok {
		return ""
	}
	m, _ := e.Get("Message")
	s, _ := m.(string)
	return s
}

var errOpenRefused = errors.New("The user MSGLAB\\svc-exchops isn't assigned to any management roles.")
