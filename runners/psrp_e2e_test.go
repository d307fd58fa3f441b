package runners_test

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/lab/ps"
	"github.com/exchops/exchops/lab/psrp"
	"github.com/exchops/exchops/runners"
)

// testEndpoint is the lab's Exchange endpoint with three test cmdlets in front of it:
// Test-Hang blocks until the pipeline is stopped, Test-Refused answers as a NoLanguage
// runspace refuses script text, and Test-Warn writes a warning and a progress record.
type testEndpoint struct {
	inner   psrp.Endpoint
	started chan string // each pipeline's first command, as it starts
}

func (e *testEndpoint) Open(ctx context.Context, user string) (psrp.Runspace, error) {
	rs, err := e.inner.Open(ctx, user)
	if err != nil {
		return nil, err
	}
	return &testRunspace{inner: rs, started: e.started}, nil
}

// pair is where two Test-Pair pipelines meet.
var pair = make(chan struct{})

type testRunspace struct {
	inner   psrp.Runspace
	started chan string
}

func (r *testRunspace) Invoke(ctx context.Context, cmds []psrp.Command, out psrp.Output) error {
	select {
	case r.started <- cmds[0].Name:
	default:
	}
	switch cmds[0].Name {
	case "Test-Hang":
		<-ctx.Done()
		return ctx.Err()
	case "Test-Refused":
		return &ps.ErrorRecord{Message: "The syntax is not supported by this runspace. This might be because it is in no-language mode.",
			Category: "ParserError", ErrorID: "ScriptsNotAllowed", ExceptionType: "System.Management.Automation.ParseException"}
	case "Test-Pair":
		// Succeeds only when another Test-Pair runs at the same time.
		select {
		case pair <- struct{}{}:
		case <-pair:
		case <-time.After(2 * time.Second):
			return &ps.ErrorRecord{Message: "Test-Pair ran alone", Category: "OperationTimeout", ErrorID: "Alone"}
		case <-ctx.Done():
			return ctx.Err()
		}
		out.Object("paired")
		return nil
	case "Test-Warn":
		out.Warning("the replication network is slow")
		out.Progress(1, "Seeding MB01 to EX10-MB02", "Copying", 42, false)
		out.Object("done")
		return nil
	}
	return r.inner.Invoke(ctx, cmds, out)
}

func (r *testRunspace) Close() { r.inner.Close() }

type shellLog struct {
	mu     sync.Mutex
	open   map[string]string
	events []string
}

func (l *shellLog) Opened(server, uri, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open == nil {
		l.open = map[string]string{}
	}
	l.open[id] = server + " " + uri
	l.events = append(l.events, "opened")
}

func (l *shellLog) Closed(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.open, id)
	l.events = append(l.events, "closed")
}

func (l *shellLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.open)
}

type exRig struct {
	r      *runners.WinRM
	shim   *psrpShim
	org    *lab.Org
	srv    *httptest.Server
	log    *shellLog
	ep     *testEndpoint
	target string
}

func newExRig(t *testing.T, opts runners.Options) *exRig {
	t.Helper()
	org := lab.New(clock.Real{})
	inner, err := lab.NewExchangeEndpoint(org, "EX10-CAHT")
	if err != nil {
		t.Fatal(err)
	}
	ep := &testEndpoint{inner: inner, started: make(chan string, 16)}
	shim := newShim(ep, lab.DefaultUser, lab.DefaultPassword)
	srv := httptest.NewServer(shim)
	g := &exRig{shim: shim, org: org, srv: srv, log: &shellLog{}, ep: ep, target: "EX10-CAHT"}
	opts.Shells = g.log
	if opts.StopGrace == 0 {
		opts.StopGrace = 2 * time.Second
	}
	if opts.OperationTimeout == 0 {
		opts.OperationTimeout = 2 * time.Second
		opts.ReplySlack = time.Second
	}
	g.r, err = runners.New([]runners.Endpoint{{Name: "EX10-CAHT", Exchange: &runners.ExchangeEndpoint{
		URL: srv.URL + "/PowerShell/", Auth: runners.AuthBasic, User: lab.DefaultUser, Password: lab.DefaultPassword,
		PasswordFrom: "EXCHANGE_PASSWORD", AllowUnencrypted: true}}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.r.Close(ctx)
		srv.Close()
		shim.close()
	})
	return g
}

func (g *exRig) step(calls ...commands.Call) commands.Step {
	return commands.Step{Target: g.target, Calls: calls, Script: commands.RenderCalls(calls), Purpose: "test"}
}

func call(section string, cols []string, cmd commands.Cmd) commands.Call {
	return commands.Call{Pipeline: []commands.Cmd{cmd}, Section: section, Columns: cols}
}

func (g *exRig) creates() int {
	n := 0
	for _, a := range g.shim.snapshot().actions {
		if a == "Create" {
			n++
		}
	}
	return n
}

func TestExchangeStepThroughTheLab(t *testing.T) {
	g := newExRig(t, runners.Options{})
	dbs := call("databases", []string{"Name", "Server", "*Servers", "*ActivationPreference", "CircularLoggingEnabled"}, commands.C("Get-MailboxDatabase"))
	servers := call("servers", []string{"Name", "AdminDisplayVersion"}, commands.C("Get-ExchangeServer"))
	servers.Where = &commands.Match{Column: "Name", Value: "ex10-mb01"}
	skipped := call("copystatus", []string{"Name"}, commands.C("Get-MailboxDatabaseCopyStatus", commands.Str("Server", "EX10-MB01")))
	skipped.When = &commands.Match{Section: "databases", Column: "Name", Value: "NoSuchDatabase"}
	res, err := g.r.RunStep(context.Background(), g.step(dbs, servers, skipped), nil)
	if err != nil {
		t.Fatal(err)
	}
	tables := res.Tables()
	if len(tables["databases"]) == 0 {
		t.Fatalf("no databases: %+v", res)
	}
	for _, row := range tables["databases"] {
		if row["Name"] == "" || row["Server"] == "" || (row["CircularLoggingEnabled"] != "True" && row["CircularLoggingEnabled"] != "False") {
			t.Errorf("database row %v", row)
		}
	}
	if rows := tables["servers"]; len(rows) != 1 || rows[0]["Name"] != "EX10-MB01" || !strings.HasPrefix(rows[0]["AdminDisplayVersion"], "Version 14") {
		t.Errorf("servers = %v, want EX10-MB01 only, version 14", rows)
	}
	if rows, ok := tables["copystatus"]; !ok || len(rows) != 0 {
		t.Errorf("skipped call: copystatus = %v, %v; want present and empty", rows, ok)
	}

	// The second step reuses the session.
	if _, err := g.r.RunStep(context.Background(), g.step(servers), nil); err != nil {
		t.Fatal(err)
	}
	if n := g.creates(); n != 1 {
		t.Errorf("%d sessions opened for two steps, want 1", n)
	}
	for _, body := range g.shim.snapshot().bodies {
		if strings.Contains(body, "<rsp:Command>") && !strings.Contains(body, "<rsp:Command></rsp:Command>") {
			t.Errorf("a Command carried command text: %.200s", body)
		}
	}
}

func TestExchangeWarningsAndProgress(t *testing.T) {
	g := newExRig(t, runners.Options{})
	var lines []string
	res, err := g.r.RunStep(context.Background(), g.step(call("", nil, commands.C("Test-Warn"))), func(l string) { lines = append(lines, l) })
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Messages) != 1 || res.Messages[0] != "WARNING: the replication network is slow" {
		t.Errorf("messages %q", res.Messages)
	}
	if len(lines) != 1 || lines[0] != "Seeding MB01 to EX10-MB02: Copying: 42%" {
		t.Errorf("progress %q", lines)
	}
}

func TestExchangeSessionIdleCloseAndShellLog(t *testing.T) {
	g := newExRig(t, runners.Options{IdleClose: 100 * time.Millisecond})
	if _, err := g.r.RunStep(context.Background(), g.step(call("s", []string{"Name"}, commands.C("Get-ExchangeServer"))), nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for g.shim.shells() > 0 || g.log.count() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the idle session was not closed: %d shells on the server, %d in the log", g.shim.shells(), g.log.count())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := g.r.RunStep(context.Background(), g.step(call("s", []string{"Name"}, commands.C("Get-ExchangeServer"))), nil); err != nil {
		t.Fatal(err)
	}
	if n := g.creates(); n != 2 {
		t.Errorf("%d sessions, want 2 (one reopened after the idle close)", n)
	}
}

func TestExchangeFaults(t *testing.T) {
	get := func(g *exRig) commands.Step {
		return g.step(call("s", []string{"Name"}, commands.C("Get-ExchangeServer")))
	}
	for _, tc := range []struct {
		name     string
		setup    func(g *exRig)
		step     func(g *exRig) commands.Step
		kind     runners.Kind
		contains []string
	}{
		{name: "401", setup: func(g *exRig) { g.shim.setFault("401") }, kind: runners.Unauthorized,
			contains: []string{"refused the credentials", "EXCHANGE_PASSWORD"}},
		{name: "500", setup: func(g *exRig) { g.shim.setFault("500") }, kind: runners.Protocol,
			contains: []string{"HTTP 500"}},
		{name: "rbac", setup: func(g *exRig) { _ = g.org.SetRoles(lab.DefaultUser, lab.RoleViewOnlyConfig) },
			step: func(g *exRig) commands.Step {
				return g.step(call("", nil, commands.C("Set-MailboxDatabase", commands.Str("Identity", "MB01"), commands.Str("RpcClientAccessServer", "x"))))
			},
			kind: runners.RBAC, contains: []string{"Set-MailboxDatabase", "exchops rbac"}},
		{name: "no roles at all", setup: func(g *exRig) { _ = g.org.SetRoles(lab.DefaultUser) }, kind: runners.Unauthorized,
			contains: []string{"refused to open a session", "management roles"}},
		{name: "nolanguage", step: func(g *exRig) commands.Step { return g.step(call("", nil, commands.C("Test-Refused"))) },
			kind: runners.NoLanguage, contains: []string{"NoLanguage", "bug in exchops"}},
		{name: "cmdlet error", step: func(g *exRig) commands.Step {
			return g.step(call("s", []string{"Name"}, commands.C("Get-MailboxDatabase", commands.Str("Identity", "NoSuchDatabase"))))
		}, kind: runners.ScriptFailed, contains: []string{"Get-MailboxDatabase failed", "NoSuchDatabase"}},
		{name: "malformed CLIXML", setup: func(g *exRig) { g.shim.corrupt = true }, kind: runners.Protocol,
			contains: []string{"could not be read"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newExRig(t, runners.Options{})
			if tc.setup != nil {
				tc.setup(g)
			}
			step := get(g)
			if tc.step != nil {
				step = tc.step(g)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := g.r.RunStep(ctx, step, nil)
			if runners.KindOf(err) != tc.kind {
				t.Fatalf("err = %v (kind %q), want kind %q", err, runners.KindOf(err), tc.kind)
			}
			for _, want := range tc.contains {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%q does not say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), lab.DefaultPassword) {
				t.Error("the error holds the password")
			}
			// Once the fault is gone, the next command works.
			g.shim.setFault("")
			g.shim.mu.Lock()
			g.shim.corrupt = false
			g.shim.mu.Unlock()
			_ = g.org.SetRoles(lab.DefaultUser, lab.DefaultRoles...)
			if _, err := g.r.RunStep(ctx, get(g), nil); err != nil {
				t.Errorf("after the fault: %v", err)
			}
		})
	}
}

func TestExchangeEndpointDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r, err := runners.New([]runners.Endpoint{{Name: "EX10-CAHT", Exchange: &runners.ExchangeEndpoint{
		URL: "http://" + addr + "/PowerShell/", Auth: runners.AuthBasic, User: "u", Password: "p", AllowUnencrypted: true}}},
		runners.Options{ConnectTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	calls := []commands.Call{call("s", []string{"Name"}, commands.C("Get-ExchangeServer"))}
	_, err = r.RunStep(context.Background(), commands.Step{Target: "EX10-CAHT", Calls: calls}, nil)
	if runners.KindOf(err) != runners.Unreachable || !strings.Contains(err.Error(), "cannot reach the Exchange endpoint") {
		t.Fatalf("err = %v", err)
	}
}

func TestExchangeSessionDroppedMidPipeline(t *testing.T) {
	g := newExRig(t, runners.Options{})
	done := make(chan error, 1)
	go func() {
		_, err := g.r.RunStep(context.Background(), g.step(call("", nil, commands.C("Test-Hang"))), nil)
		done <- err
	}()
	select {
	case <-g.ep.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the pipeline did not start")
	}
	g.shim.drop()
	select {
	case err := <-done:
		if runners.KindOf(err) != runners.Unreachable || !strings.Contains(err.Error(), "dropped the session") || !strings.Contains(err.Error(), "next command opens a new session") {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunStep did not return after the session was dropped")
	}
	if _, err := g.r.RunStep(context.Background(), g.step(call("s", []string{"Name"}, commands.C("Get-ExchangeServer"))), nil); err != nil {
		t.Fatalf("the next command: %v", err)
	}
	if n := g.creates(); n != 2 {
		t.Errorf("%d sessions, want 2", n)
	}
}

func TestExchangeCommandTimeoutStopsThePipeline(t *testing.T) {
	g := newExRig(t, runners.Options{Timeout: 500 * time.Millisecond})
	start := time.Now()
	_, err := g.r.RunStep(context.Background(), g.step(call("", nil, commands.C("Test-Hang"))), nil)
	if runners.KindOf(err) != runners.Timeout || !strings.Contains(err.Error(), "stopped on the server") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("took %s", d)
	}
	// The session survives a stopped pipeline.
	if _, err := g.r.RunStep(context.Background(), g.step(call("s", []string{"Name"}, commands.C("Get-ExchangeServer"))), nil); err != nil {
		t.Fatal(err)
	}
	if n := g.creates(); n != 1 {
		t.Errorf("%d sessions, want 1", n)
	}
}

func TestExchangeServerHangsWithinTheTimeout(t *testing.T) {
	g := newExRig(t, runners.Options{Timeout: 800 * time.Millisecond, StopGrace: 300 * time.Millisecond,
		OperationTimeout: time.Second, ReplySlack: 200 * time.Millisecond})
	g.shim.setFault("hang")
	start := time.Now()
	_, err := g.r.RunStep(context.Background(), g.step(call("s", []string{"Name"}, commands.C("Get-ExchangeServer"))), nil)
	if k := runners.KindOf(err); k != runners.Timeout {
		t.Fatalf("err = %v (kind %q), want a timeout", err, k)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s against a hanging server", d)
	}
}

func TestExchangeCancelStopsThePipeline(t *testing.T) {
	g := newExRig(t, runners.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := g.r.RunStep(ctx, g.step(call("", nil, commands.C("Test-Hang"))), nil)
		done <- err
	}()
	<-g.ep.started
	cancel()
	select {
	case err := <-done:
		if runners.KindOf(err) != runners.Canceled {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunStep did not return after cancel")
	}
}

func TestExchangePipelinesBounded(t *testing.T) {
	g := newExRig(t, runners.Options{MaxPipelines: 1, Timeout: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := make(chan error, 1)
	go func() {
		_, err := g.r.RunStep(ctx, g.step(call("", nil, commands.C("Test-Hang"))), nil)
		first <- err
	}()
	<-g.ep.started
	qctx, qcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer qcancel()
	_, err := g.r.RunStep(qctx, g.step(call("s", []string{"Name"}, commands.C("Get-ExchangeServer"))), nil)
	if runners.KindOf(err) != runners.Timeout || !strings.Contains(err.Error(), "nothing ran") {
		t.Fatalf("a second pipeline while MaxPipelines=1 is busy: %v", err)
	}
	cancel()
	<-first
}

// TestIndependentReadsRunTogether: a step's reads that do not depend on each other
// run at the same time in the session (two Test-Pair calls meet), as many as the
// pool's pipelines allow: with one, they run one after the other and do not meet.
func TestIndependentReadsRunTogether(t *testing.T) {
	a := call("a", []string{"Name"}, commands.C("Test-Pair"))
	b := call("b", []string{"Name"}, commands.C("Test-Pair"))
	g := newExRig(t, runners.Options{MaxPipelines: 2})
	res, err := g.r.RunStep(context.Background(), g.step(a, b), nil)
	if err != nil {
		t.Fatalf("two independent reads with two pipelines: %v", err)
	}
	if names := []string{res.Sections[0].Name, res.Sections[1].Name}; names[0] != "a" || names[1] != "b" {
		t.Errorf("sections in the order %v, want the calls' order", names)
	}
	one := newExRig(t, runners.Options{MaxPipelines: 1})
	if _, err := one.r.RunStep(context.Background(), one.step(a, b), nil); err == nil || !strings.Contains(err.Error(), "ran alone") {
		t.Errorf("with one pipeline the reads must run one after the other: %v", err)
	}
}

// TestReadsWhenDecidedAsIfInOrder: a read whose When looks at another read of the
// same step runs at the same time, but what it returned — an error too — counts only
// if its When holds on what came before it, as if the reads had run one by one.
func TestReadsWhenDecidedAsIfInOrder(t *testing.T) {
	g := newExRig(t, runners.Options{MaxPipelines: 2})
	refused := call("refused", []string{"Name"}, commands.C("Test-Refused"))
	none := call("arrays", []string{"Name"}, commands.C("Get-ClientAccessArray")) // none in a new organisation
	some := call("servers", []string{"Name"}, commands.C("Get-ExchangeServer"))

	skipped := refused
	skipped.When = &commands.Match{Section: "arrays"}
	res, err := g.r.RunStep(context.Background(), g.step(none, skipped), nil)
	if err != nil {
		t.Fatalf("a refused read whose When does not hold must not fail the step: %v", err)
	}
	if rows := res.Tables()["refused"]; len(rows) != 0 {
		t.Errorf("the dropped read left rows: %v", rows)
	}

	kept := refused
	kept.When = &commands.Match{Section: "servers"}
	_, err = g.r.RunStep(context.Background(), g.step(some, kept), nil)
	if runners.KindOf(err) != runners.NoLanguage {
		t.Errorf("a refused read whose When holds: %v, want the NoLanguage refusal", err)
	}
}
