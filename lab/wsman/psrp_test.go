package wsman

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/lab/ps"
	"github.com/exchops/exchops/lab/psrp"
)

const stopSignal = "http://schemas.microsoft.com/powershell/signal/crtl_c"

func TestPSRPOpenRunClose(t *testing.T) {
	h := startPSHarness(t, Options{})
	c := h.client()
	if f := c.create(1, 2); f != "" {
		t.Fatalf("Create: %s", f)
	}
	if user := waitFor(t, h.ex.opened, "Endpoint.Open"); user != testUser {
		t.Errorf("Open for %q", user)
	}
	// The pool's first messages, in order, as a real server sends them.
	var types []psrp.MessageType
	var caps *ps.Object
	for len(types) < 3 {
		msgs, _, f := c.receive("")
		if f != "" {
			t.Fatal(f)
		}
		for _, m := range msgs {
			types = append(types, m.Type)
			if m.Type == psrp.MsgSessionCapability {
				v, _ := psrp.DecodeValue(m.Text())
				caps = v.(*ps.Object)
			}
		}
	}
	if want := []psrp.MessageType{psrp.MsgSessionCapability, psrp.MsgApplicationPrivateData, psrp.MsgRunspacePoolState}; !reflect.DeepEqual(types, want) {
		t.Errorf("pool messages %v, want %v", types, want)
	}
	if v, _ := caps.Get("protocolversion"); v != "2.1" {
		t.Errorf("server protocol version %v", v)
	}

	id, f := c.command("Echo", false,
		arg{"Identity", `<S N="V">MB01\EX10-MB02</S>`},
		arg{"Server", `<Obj N="V" RefId="20"><TN RefId="9"><T>System.String[]</T><T>System.Array</T><T>System.Object</T></TN><LST><S>A</S><S>B</S></LST></Obj>`},
		arg{"Active", `<Nil N="V" />`},
		arg{"", `<I32 N="V">7</I32>`})
	if f != "" {
		t.Fatalf("Command: %s", f)
	}
	r := c.collect(id)
	if r.state != psrp.PipelineCompleted || len(r.outputs) != 8 {
		t.Fatalf("state %d, outputs %#v", r.state, r.outputs)
	}
	// Active with Nil is -Active:$null, as PowerShell reads a parameter whose name has no dash.
	want := []any{`MB01\EX10-MB02`, "name:Identity", []any{"A", "B"}, "name:Server", nil, "name:Active", 7}
	if !reflect.DeepEqual(r.outputs[:7], want) {
		t.Errorf("outputs %#v", r.outputs[:7])
	}
	obj := r.outputs[7].(*ps.Object)
	status, _ := obj.Get("Status")
	when, _ := obj.Get("LastInspectedLogTime")
	if obj.TypeName != "Microsoft.Exchange.Management.SystemConfigurationTasks.DatabaseCopyStatusEntry" || status != 2 ||
		!when.(time.Time).Equal(time.Date(2010, 11, 9, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("object %+v", obj)
	}

	if f := c.deleteShell(); f != "" {
		t.Fatalf("Delete: %s", f)
	}
	waitFor(t, h.ex.closed, "Runspace.Close")
	if _, _, f := c.receive(""); !strings.Contains(f, "shell was not found") {
		t.Errorf("Receive after Delete: %s", f)
	}
	if n := h.srv.OpenShells(); n != 0 {
		t.Errorf("%d shells open", n)
	}
}

func TestPSRPStreamsAndFailures(t *testing.T) {
	h := startPSHarness(t, Options{})
	c := h.client()
	c.open(1, 1)

	id, _ := c.command("Emit", false)
	r := c.collect(id)
	if r.state != psrp.PipelineCompleted || !reflect.DeepEqual(r.outputs, []any{"after"}) ||
		!reflect.DeepEqual(r.warnings, []string{"The copy is not yet seeded."}) || !reflect.DeepEqual(r.verbose, []string{"Seeding MB01."}) ||
		len(r.errors) != 1 || reasonMessage(r.errors[0]) != "non-terminating" || len(r.progress) != 2 {
		t.Fatalf("%+v", r)
	}
	pct, _ := r.progress[0].Get("PercentComplete")
	typ, _ := r.progress[1].Get("Type")
	if pct != 50 || typ != 1 {
		t.Errorf("progress %v %v", pct, typ)
	}

	id, _ = c.command("Fail", false)
	r = c.collect(id)
	if r.state != psrp.PipelineFailed || reasonMessage(r.reason) != `Couldn't find database "NOPE".` || !reflect.DeepEqual(r.outputs, []any{"before"}) {
		t.Errorf("Fail: %+v reason %q", r, reasonMessage(r.reason))
	}
	if id, _ := r.reason.Get("FullyQualifiedErrorId"); id != "ABC,Microsoft.Exchange.Management.SystemConfigurationTasks.GetMailboxDatabase" {
		t.Errorf("FullyQualifiedErrorId %v", id)
	}

	id, _ = c.command("Get-Date; Remove-Item C:\\", true)
	if r = c.collect(id); r.state != psrp.PipelineFailed || !strings.Contains(reasonMessage(r.reason), "no-language mode") {
		t.Errorf("script: %+v", r)
	}
	id, _ = c.command("Panic", false)
	if r = c.collect(id); r.state != psrp.PipelineFailed || !strings.Contains(reasonMessage(r.reason), "endpoint bug") {
		t.Errorf("panic: %+v", r)
	}
}

// TestPSRPLargeOutput: with the smallest envelope a client may ask for, messages larger
// than one Receive reply are split into fragments and continue in the next reply.
func TestPSRPLargeOutput(t *testing.T) {
	h := startPSHarness(t, Options{})
	c := h.client()
	c.envelope = 8192
	c.open(1, 1)
	id, _ := c.command("Big", false, arg{"", `<I32 N="V">40</I32>`})
	r := c.collect(id)
	if r.state != psrp.PipelineCompleted || len(r.outputs) != 40 || r.receives < 6 {
		t.Fatalf("state %d, %d outputs in %d receives", r.state, len(r.outputs), r.receives)
	}
	for i, o := range r.outputs {
		if s := o.(string); len(s) != 1000 || !strings.HasPrefix(s, fmt.Sprintf("%04d", i)) {
			t.Fatalf("output %d is %.20q", i, s)
		}
	}
	// One object bigger than a reply.
	c2 := h.client()
	c2.envelope = 8192
	c2.open(1, 1)
	id, _ = c2.command("Echo", false, arg{"", `<S N="V">` + strings.Repeat("y", 20000) + `</S>`})
	if r := c2.collect(id); r.state != psrp.PipelineCompleted || r.outputs[0] != strings.Repeat("y", 20000) {
		t.Errorf("large object: state %d", r.state)
	}
}

// TestPSRPConcurrencyAndStop: MaxRunspaces pipelines run at once, the rest wait; a stop
// signal ends a pipeline (its context ends, state Stopped), the others go on.
func TestPSRPConcurrencyAndStop(t *testing.T) {
	h := startPSHarness(t, Options{})
	c := h.client()
	c.open(1, 2)
	a, _ := c.command("Block", false, arg{"", `<S N="V">a</S>`})
	b, _ := c.command("Block", false, arg{"", `<S N="V">b</S>`})
	third, _ := c.command("Block", false, arg{"", `<S N="V">c</S>`})
	started := map[string]bool{waitFor(t, h.ex.started, "first start"): true, waitFor(t, h.ex.started, "second start"): true}
	if !started["a"] || !started["b"] {
		t.Fatalf("started %v", started)
	}
	select {
	case s := <-h.ex.started:
		t.Fatalf("%s started beyond MaxRunspaces 2", s)
	case <-time.After(100 * time.Millisecond):
	}
	if f := c.signal(a, stopSignal); f != "" {
		t.Fatalf("Signal: %s", f)
	}
	if s := waitFor(t, h.ex.stopped, "the stopped pipeline's ctx"); s != "a" {
		t.Errorf("stopped %s", s)
	}
	r := c.collect(a)
	if r.state != psrp.PipelineStopped || reasonMessage(r.reason) != "The pipeline has been stopped." {
		t.Errorf("stopped pipeline: %+v", r)
	}
	if s := waitFor(t, h.ex.started, "the queued pipeline"); s != "c" {
		t.Errorf("started %s", s)
	}
	if m := h.ex.maxSeen.Load(); m != 2 {
		t.Errorf("%d pipelines ran at once", m)
	}
	close(h.ex.release)
	for _, id := range []string{b, third} {
		if r := c.collect(id); r.state != psrp.PipelineCompleted || len(r.outputs) != 1 {
			t.Errorf("%s: %+v", id, r)
		}
	}
	// A stopped pipeline that is still queued never runs.
	if f := c.signal(a, signalTerminate); f != "" {
		t.Errorf("terminate: %s", f)
	}
	if _, _, f := c.receive(a); !strings.Contains(f, "was not found in the shell") {
		t.Errorf("Receive of a terminated command: %s", f)
	}
}

func TestPSRPSetMaxRunspaces(t *testing.T) {
	h := startPSHarness(t, Options{})
	c := h.client()
	c.open(1, 1)
	pkt := c.packet(psrp.MsgSetMaxRunspaces, psrp.GUID{}, `<Obj RefId="0"><MS><I32 N="MaxRunspaces">3</I32><I64 N="ci">1</I64></MS></Obj>`)
	pkt = append(pkt, c.packet(psrp.MsgGetAvailableRunspaces, psrp.GUID{}, `<Obj RefId="0"><MS><I64 N="ci">2</I64></MS></Obj>`)...)
	if status, body := c.post(actionSend, `<rsp:Send><rsp:Stream Name="stdin">`+base64.StdEncoding.EncodeToString(pkt)+`</rsp:Stream></rsp:Send>`, ""); status != 200 {
		t.Fatal(body)
	}
	var got []any
	for len(got) < 2 {
		msgs, _, f := c.receive("")
		if f != "" {
			t.Fatal(f)
		}
		for _, m := range msgs {
			if m.Type == psrp.MsgRunspaceAvailability {
				v, _ := psrp.DecodeValue(m.Text())
				r, _ := v.(*ps.Object).Get("SetMinMaxRunspacesResponse")
				got = append(got, r)
			}
		}
	}
	if !reflect.DeepEqual(got, []any{true, 3}) {
		t.Errorf("RUNSPACE_AVAILABILITY %v", got)
	}
}

func TestPSRPOpenRefused(t *testing.T) {
	h := startPSHarness(t, Options{})
	h.ex.openErr = errOpenRefused
	c := h.client()
	if f := c.create(1, 1); f != "" {
		t.Fatal(f)
	}
	state, o := c.poolState()
	reason, _ := o.Get("ExceptionAsErrorRecord")
	if state != psrp.PoolBroken || reasonMessage(reason.(*ps.Object)) != errOpenRefused.Error() {
		t.Fatalf("state %d, %+v", state, o)
	}
	if _, f := c.command("Echo", false); !strings.Contains(f, "not open") {
		t.Errorf("Command on a broken pool: %s", f)
	}
}

func TestPSRPRefusals(t *testing.T) {
	h := startPSHarness(t, Options{})
	c := h.client()
	// Another configuration than Microsoft.Exchange.
	status, body := c.post(actionCreate, `<rsp:Shell><rsp:InputStreams>stdin pr</rsp:InputStreams></rsp:Shell>`, "")
	if status != 500 || !strings.Contains(body, "creationXml") {
		t.Errorf("no creationXml: %d %s", status, body)
	}
	raw := strings.Replace(envelope(actionCreate, "", `<rsp:Shell><creationXml xmlns="`+nsPowerShell+`">AAAA</creationXml></rsp:Shell>`, ""),
		resourceCmd, "http://schemas.microsoft.com/powershell/Microsoft.PowerShell", 1)
	req, _ := http.NewRequest(http.MethodPost, c.url, strings.NewReader(raw))
	req.SetBasicAuth(testUser, testPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4096)
	n, _ := resp.Body.Read(b)
	resp.Body.Close()
	if resp.StatusCode != 500 || !strings.Contains(string(b[:n]), "Cannot find the Microsoft.PowerShell session configuration") ||
		!strings.Contains(string(b[:n]), `Code="2150858770"`) {
		t.Errorf("Microsoft.PowerShell: %d %s", resp.StatusCode, b[:n])
	}
	// Garbage in creationXml.
	status, body = c.post(actionCreate, `<rsp:Shell><creationXml xmlns="`+nsPowerShell+`">AAAA</creationXml></rsp:Shell>`, "")
	if status != 500 || !strings.Contains(body, "fragment header") {
		t.Errorf("bad creationXml: %d %s", status, body)
	}
	// GET_COMMAND_METADATA is refused.
	c.open(1, 1)
	pkt := c.packet(psrp.MsgGetCommandMetadata, randomGUID(), `<Obj RefId="0"><MS></MS></Obj>`)
	status, body = c.post(actionCommand, `<rsp:CommandLine><rsp:Command></rsp:Command><rsp:Arguments>`+base64.StdEncoding.EncodeToString(pkt)+`</rsp:Arguments></rsp:CommandLine>`, "")
	if status != 500 || !strings.Contains(body, "GET_COMMAND_METADATA is not supported") {
		t.Errorf("GET_COMMAND_METADATA: %d %s", status, body)
	}
	// The endpoints do not share shells.
	wsmanURL := c.url
	c.url = h.ln.URL
	c.user, c.password = localUser, localPassword
	if _, _, f := c.receive(""); !strings.Contains(f, "shell was not found") {
		t.Errorf("a PowerShell shell seen on /wsman: %s", f)
	}
	c.url = wsmanURL
}

func TestPSRPNotServedWithoutExchange(t *testing.T) {
	h := startHarness(t, Options{}, false)
	for _, path := range []string{"/PowerShell/", "/powershell", "/PowerShell/x"} {
		resp, err := http.Post(strings.TrimSuffix(h.ln.URL, "/wsman")+path, "application/soap+xml", strings.NewReader("<x/>"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
}

// fakeKerberos accepts the token "good-ticket" as the lab's account.
type fakeKerberos struct{}

func (fakeKerberos) Accept(token []byte) (string, []byte, error) {
	if string(token) != "good-ticket" {
		return "", nil, errFakeTicket
	}
	return "svc-exchops@MSGLAB.LOCAL", []byte("mutual"), nil
}

var errFakeTicket = &ps.ErrorRecord{Message: "the ticket does not decrypt with the service key"}

func TestPSRPAuthentication(t *testing.T) {
	ntlmNegotiate := base64.StdEncoding.EncodeToString(append([]byte("NTLMSSP\x00"), 1, 0, 0, 0, 0, 0, 0, 0))
	for _, kerberos := range []bool{false, true} {
		opts := Options{}
		if kerberos {
			opts.Kerberos = fakeKerberos{}
		}
		h := startPSHarness(t, opts)
		url := strings.TrimSuffix(h.ln.URL, "/wsman") + "/PowerShell/"
		try := func(authz string) (int, []string) {
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(envelope(actionDelete, "X", "", "")))
			if authz != "" {
				req.Header.Set("Authorization", authz)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode, resp.Header.Values("WWW-Authenticate")
		}
		offered := []string{`Basic realm="WSMAN-LAB"`}
		if kerberos {
			offered = []string{"Negotiate", `Basic realm="WSMAN-LAB"`}
		}
		for _, authz := range []string{"", "Negotiate " + ntlmNegotiate, "NTLM " + ntlmNegotiate, "Basic " + base64.StdEncoding.EncodeToString([]byte(testUser+":wrong"))} {
			status, www := try(authz)
			if status != 401 || !reflect.DeepEqual(www, offered) {
				t.Errorf("kerberos %v, %.20q: %d %q, want 401 %q", kerberos, authz, status, www, offered)
			}
		}
		// Basic works for the domain account here (Basic enabled on the virtual directory).
		if status, _ := try("Basic " + base64.StdEncoding.EncodeToString([]byte(testUser+":"+testPassword))); status != 500 {
			t.Errorf("Basic: %d, want the shell-not-found fault (500)", status)
		}
		good := "Negotiate " + base64.StdEncoding.EncodeToString([]byte("good-ticket"))
		status, www := try(good)
		if kerberos && (status != 500 || !reflect.DeepEqual(www, []string{"Negotiate " + base64.StdEncoding.EncodeToString([]byte("mutual"))})) {
			t.Errorf("Kerberos: %d %q", status, www)
		}
		if !kerberos && status != 401 {
			t.Errorf("Kerberos without an acceptor: %d", status)
		}
	}
}

func TestPSRPQuotaAndIdle(t *testing.T) {
	h := startPSHarness(t, Options{MaxShellsPerUser: 2})
	// A WinRS shell and a PowerShell shell count against the same quota.
	if _, err := h.harness.client(clientConfig{}).CreateShell(); err != nil {
		t.Fatal(err)
	}
	c1 := h.client()
	c1.open(1, 1)
	c2 := h.client()
	if f := c2.create(1, 1); !strings.Contains(f, "maximum number of 2 concurrent shells") {
		t.Fatalf("third shell: %s", f)
	}
	if n := h.srv.OpenPSRPShells(); n != 1 {
		t.Errorf("%d PowerShell shells", n)
	}
	// Idle expiry closes the session.
	if n := h.srv.expireIdle(time.Now().Add(DefaultIdleTimeout + time.Minute)); n != 2 {
		t.Errorf("%d shells expired", n)
	}
	waitFor(t, h.ex.closed, "Runspace.Close on expiry")
	if _, _, f := c1.receive(""); !strings.Contains(f, "shell was not found") {
		t.Errorf("after expiry: %s", f)
	}
}

func TestPSRPFaults(t *testing.T) {
	h := startPSHarness(t, Options{})
	c := h.client()
	c.open(1, 1)

	// Lasting faults apply to /PowerShell/ as to /wsman.
	h.srv.SetFault(FaultHTTP500)
	if status, _ := c.post(actionReceive, `<rsp:Receive><rsp:DesiredStream>stdout</rsp:DesiredStream></rsp:Receive>`, ""); status != 500 {
		t.Errorf("http500: %d", status)
	}
	h.srv.SetFault(FaultUnauthorized)
	if status, _ := c.post(actionReceive, `<rsp:Receive><rsp:DesiredStream>stdout</rsp:DesiredStream></rsp:Receive>`, ""); status != 401 {
		t.Errorf("unauthorized: %d", status)
	}
	h.srv.SetFault(FaultNone)

	// clixml: the next object is broken XML; the one after is fine again.
	f, err := ParseFault("clixml")
	if err != nil {
		t.Fatal(err)
	}
	h.srv.SetFault(f)
	id, _ := c.command("Echo", false, arg{"", `<S N="V">x</S>`})
	var outputs [][]byte
	for done := false; !done; {
		var msgs []psrp.Message
		var fault string
		msgs, done, fault = c.receive(id)
		if fault != "" {
			t.Fatal(fault)
		}
		for _, m := range msgs {
			if m.Type == psrp.MsgPipelineOutput {
				outputs = append(outputs, m.Text())
			}
		}
	}
	if len(outputs) != 2 {
		t.Fatalf("%d outputs", len(outputs))
	}
	if _, err := psrp.DecodeValue(outputs[0]); err == nil {
		t.Error("the corrupted output decodes")
	}
	if _, err := psrp.DecodeValue(outputs[1]); err != nil {
		t.Errorf("the next output: %v", err)
	}
	if h.srv.CurrentFault() != FaultNone {
		t.Errorf("a one-shot fault stayed: %v", h.srv.CurrentFault())
	}

	// dropshells: a waiting Receive and later requests get "shell not found"; WinRS
	// shells stay.
	wc := h.harness.client(clientConfig{})
	if _, err := wc.CreateShell(); err != nil {
		t.Fatal(err)
	}
	faults := make(chan string, 1)
	go func() {
		_, _, f := c.receive("")
		faults <- f
	}()
	time.Sleep(50 * time.Millisecond) // let the Receive start waiting; it is answered either way
	df, _ := ParseFault("dropshells")
	h.srv.SetFault(df)
	if f := waitFor(t, faults, "the waiting Receive"); !strings.Contains(f, "shell was not found") || !strings.Contains(f, `Code="2150858843"`) {
		t.Errorf("waiting Receive: %s", f)
	}
	if _, f := c.command("Echo", false); !strings.Contains(f, "shell was not found") {
		t.Errorf("Command after drop: %s", f)
	}
	waitFor(t, h.ex.closed, "Runspace.Close on drop")
	if n := h.srv.OpenShells(); n != 1 {
		t.Errorf("%d shells left, want the WinRS one", n)
	}
}

func TestPSRPServerClose(t *testing.T) {
	h := startPSHarness(t, Options{})
	c := h.client()
	c.open(1, 1)
	id, _ := c.command("Block", false, arg{"", `<S N="V">z</S>`})
	waitFor(t, h.ex.started, "the blocking pipeline")
	_ = id
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, h.ex.stopped, "the pipeline's ctx on Close")
	waitFor(t, h.ex.closed, "Runspace.Close on server Close")
}

// TestWSManKerberos: /wsman takes Kerberos through the acceptor when one is set, next to
// NTLM; a bad ticket is refused.
func TestWSManKerberos(t *testing.T) {
	h := startHarness(t, Options{Kerberos: fakeKerberos{}}, false)
	try := func(token string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, h.ln.URL, strings.NewReader(envelope(actionCreate, "", "", "")))
		req.Header.Set("Authorization", "Negotiate "+base64.StdEncoding.EncodeToString([]byte(token)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}
	if status, www := try("good-ticket"); status != 200 || www != "Negotiate "+base64.StdEncoding.EncodeToString([]byte("mutual")) {
		t.Errorf("good ticket: %d %q", status, www)
	}
	if status, _ := try("forged"); status != 401 {
		t.Errorf("bad ticket: %d", status)
	}
	if status, body := h.post(envelope(actionCreate, "", "", "")); status != 200 {
		t.Errorf("NTLM next to Kerberos: %d %s", status, body)
	}
	if n := h.srv.OpenShells(); n != 2 {
		t.Errorf("%d shells", n)
	}
}

// TestPSRPTerminateWakesReceive: a Receive waiting on a pipeline that the client
// terminates answers at once with the command-not-found fault.
func TestPSRPTerminateWakesReceive(t *testing.T) {
	h := startPSHarness(t, Options{})
	c := h.client()
	c.open(1, 1)
	id, _ := c.command("Block", false, arg{"", `<S N="V">t</S>`})
	waitFor(t, h.ex.started, "the blocking pipeline")
	// Drain what is there (nothing yet), then wait.
	faults := make(chan string, 1)
	go func() {
		for {
			msgs, _, f := c.receive(id)
			if f != "" || len(msgs) == 0 {
				faults <- f
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond) // let the Receive wait; it is answered either way
	if f := c.signal(id, signalTerminate); f != "" {
		t.Fatal(f)
	}
	if f := waitFor(t, faults, "the waiting Receive"); !strings.Contains(f, "was not found in the shell") {
		t.Errorf("waiting Receive: %q", f)
	}
	waitFor(t, h.ex.stopped, "the terminated pipeline's ctx")
}

// TestPSRPCreatePipelineInSends: a CREATE_PIPELINE larger than one envelope starts in the
// Command and ends in Sends to the new command; the pipeline runs when it is whole.
func TestPSRPCreatePipelineInSends(t *testing.T) {
	h := startPSHarness(t, Options{})
	c := h.client()
	c.open(1, 1)
	big := strings.Repeat("z", 5000)
	id, f := c.commandSplit(1024, "Echo", false, arg{"Identity", `<S N="V">` + big + `</S>`})
	if f != "" {
		t.Fatal(f)
	}
	if r := c.collect(id); r.state != psrp.PipelineCompleted || len(r.outputs) != 3 || r.outputs[0] != big {
		t.Fatalf("state %d, %d outputs", r.state, len(r.outputs))
	}
	// One that never completes ends Stopped when the client stops it.
	pid := randomGUID()
	c.oid++
	msg := psrp.Message{Destination: psrp.DestinationServer, Type: psrp.MsgCreatePipeline, RPID: c.rpid, PID: pid, Data: []byte(`<Obj RefId="0"><MS>`)}.Encode()
	first := psrp.Fragmentize(c.oid, msg, 30)[0]
	status, body := c.post(actionCommand, `<rsp:CommandLine><rsp:Command></rsp:Command><rsp:Arguments>`+base64.StdEncoding.EncodeToString(first.Append(nil))+`</rsp:Arguments></rsp:CommandLine>`, "")
	if status != 200 {
		t.Fatal(body)
	}
	id = regexpCommandID(t, body)
	// The short form PowerShell's own client sends stops it as the URI form does.
	if f := c.signal(id, "powershell/signal/crtl_c"); f != "" {
		t.Fatal(f)
	}
	if r := c.collect(id); r.state != psrp.PipelineStopped {
		t.Errorf("incomplete pipeline: state %d", r.state)
	}
}

func regexpCommandID(t *testing.T, body string) string {
	t.Helper()
	_, rest, ok := strings.Cut(body, "<rsp:CommandId>")
	id, _, ok2 := strings.Cut(rest, "</rsp:CommandId>")
	if !ok || !ok2 {
		t.Fatalf("no CommandId in %s", body)
	}
	return id
}

// TestParsePSRPCreateCapture: a real client's Create (pypsrp's, from the capture in
// lab/psrp/testdata/captures, with the Exchange configuration) parses, and its
// creationXml opens a pool.
func TestParsePSRPCreateCapture(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzParseEnvelope", "psrp-create"))
	if err != nil {
		t.Fatal(err)
	}
	req, err := parseEnvelope([]byte(unquoteSeed(t, data)))
	if err != nil {
		t.Fatal(err)
	}
	if req.ResourceURI != resourceExchange || req.Options["protocolversion"] != "2.3" || req.Shell == nil || req.Shell.CreationXML == nil {
		t.Fatalf("%+v", req)
	}
	creation, err := base64.StdEncoding.DecodeString(*req.Shell.CreationXML)
	if err != nil {
		t.Fatal(err)
	}
	p, err := psrp.NewPool(newFakeExchange(), testUser, creation, psrp.PoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.ClientCapability().ProtocolVersion != "2.3" || p.MaxRunspaces() != 1 {
		t.Errorf("%+v %d", p.ClientCapability(), p.MaxRunspaces())
	}
	p.Close()
}
