package lab

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/lab/ps"
	"github.com/exchops/exchops/lab/psrp"
)

const notRecognizedText = "The term '%s' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again."

// TestNoLanguageRefusesScripts: script text is refused with PowerShell's
// ScriptsNotAllowed error before any command of the pipeline runs.
func TestNoLanguageRefusesScripts(t *testing.T) {
	o, clk := newTestOrg(t)
	rs := openSession(t, o, "EX10-CAHT")
	cases := [][]psrp.Command{
		{{Name: "Get-MailboxDatabase | Where-Object { $_.Mounted }", IsScript: true}},
		{{Name: "Get-MailboxDatabase", IsScript: true}},
		{cmd("New-DatabaseAvailabilityGroup", "Name", "E14-DAG"), {Name: "$x = 1", IsScript: true}},
	}
	for _, pipeline := range cases {
		rec := &recorder{}
		err := invokeOn(t, rs, clk, pipeline, rec)
		var er *ps.ErrorRecord
		if !errors.As(err, &er) {
			t.Fatalf("%v: err = %v, want an error record", pipeline, err)
		}
		if er.Message != "The syntax is not supported by this runspace. This might be because it is in no-language mode." ||
			er.ErrorID != "ScriptsNotAllowed" || er.Category != "ParserError" || er.ExceptionType != "System.Management.Automation.ParseException" {
			t.Errorf("%v: %+v", pipeline, er)
		}
		if len(rec.lines) != 0 {
			t.Errorf("%v: something ran: %v", pipeline, rec.lines)
		}
	}
	if n := len(locked(o, func() []*DAG { return o.dags })); n != 0 {
		t.Errorf("a refused pipeline created %d DAGs", n)
	}
}

// TestRBAC: the account's roles decide which cmdlets its session has; the others are
// not recognized, exactly as on a real server.
func TestRBAC(t *testing.T) {
	cases := []struct {
		name    string
		roles   []string // nil: the default roles
		allowed []string
		refused []string
	}{
		{name: "default roles", allowed: []string{
			"Get-ExchangeServer", "New-DatabaseAvailabilityGroup", "Add-MailboxDatabaseCopy", "Update-MailboxDatabaseCopy",
			"Move-ActiveMailboxDatabase", "Set-MailboxDatabase", "New-ClientAccessArray", "Test-ReplicationHealth",
			"Test-OutlookWebServices", "Get-Command", "Select-Object", "Measure-Object", "Exit-PSSession",
		}, refused: []string{"Where-Object", "ForEach-Object", "ConvertTo-Csv", "Out-Null", "Write-Host", "Start-Sleep", "Import-Module", "Add-PSSnapin", "?", "%"}},
		{name: "view-only", roles: []string{RoleViewOnlyConfig},
			allowed: []string{"Get-ExchangeServer", "Get-MailboxDatabase", "Get-DatabaseAvailabilityGroup", "Get-MailboxDatabaseCopyStatus", "Get-ClientAccessArray"},
			refused: []string{"New-DatabaseAvailabilityGroup", "Add-MailboxDatabaseCopy", "Set-MailboxDatabase", "Move-ActiveMailboxDatabase", "Test-ReplicationHealth", "New-ClientAccessArray"}},
		{name: "database copies", roles: []string{RoleDatabaseCopies},
			allowed: []string{"Add-MailboxDatabaseCopy", "Move-ActiveMailboxDatabase", "Get-MailboxDatabaseCopyStatus"},
			refused: []string{"New-DatabaseAvailabilityGroup", "Set-MailboxDatabase", "New-ClientAccessArray", "Get-ClientAccessArray"}},
		{name: "monitoring", roles: []string{RoleMonitoring},
			allowed: []string{"Test-ReplicationHealth", "Test-OutlookWebServices", "Test-ServiceHealth", "Test-MapiConnectivity"},
			refused: []string{"Get-DatabaseAvailabilityGroup", "Suspend-MailboxDatabaseCopy", "Get-Queue", "Get-PublicFolderDatabase"}},
		{name: "transport queues", roles: []string{RoleTransportQueues},
			allowed: []string{"Get-Queue"},
			refused: []string{"Test-ServiceHealth", "Get-MailboxDatabase", "Get-PublicFolderDatabase"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, clk := newTestOrg(t)
			if c.roles != nil {
				must(t, o.SetRoles(DefaultUser, c.roles...))
			}
			rs := openSession(t, o, "EX10-CAHT")
			rec := &recorder{}
			if err := invokeOn(t, rs, clk, []psrp.Command{cmd("Get-Command")}, rec); err != nil {
				t.Fatal(err)
			}
			have := map[string]bool{}
			for _, obj := range rec.objects {
				have[strings.ToLower(ps.ToString(obj))] = true
			}
			for _, name := range c.allowed {
				if !have[strings.ToLower(name)] {
					t.Errorf("%s is missing (session has %v)", name, sortedKeys(have))
				}
			}
			for _, name := range c.refused {
				if have[strings.ToLower(name)] {
					t.Errorf("%s is in the session", name)
				}
				err := invokeOn(t, rs, clk, []psrp.Command{cmd(name)}, &recorder{})
				var er *ps.ErrorRecord
				if !errors.As(err, &er) || er.Message != fmt.Sprintf(notRecognizedText, name) ||
					er.ErrorID != "CommandNotFoundException" || er.Category != "ObjectNotFound" {
					t.Errorf("%s: %v", name, err)
				}
			}
		})
	}
}

func TestRolesRefusals(t *testing.T) {
	o, _ := newTestOrg(t)
	if err := o.SetRoles(DefaultUser, "Organization Management Plus"); err == nil || !strings.Contains(err.Error(), "no management role") {
		t.Errorf("unknown role: %v", err)
	}
	must(t, o.SetRoles(`svc-exchops`))
	e, err := NewExchangeEndpoint(o, "EX10-MB01")
	must(t, err)
	if _, err := e.Open(context.Background(), DefaultUser); err == nil || err.Error() != `The user "MSGLAB\\svc-exchops" isn't assigned to any management roles.` {
		t.Errorf("an account without roles: %v", err)
	}
	if got := o.Roles("someone-else"); fmt.Sprint(got) != fmt.Sprint(DefaultRoles) {
		t.Errorf("other accounts: %v", got)
	}
	if _, err := NewExchangeEndpoint(o, "DC01"); err == nil {
		t.Error("DC01 has an Exchange endpoint")
	}
}

// TestOpenCostsStartup: opening a session takes the endpoint's start-up time (real
// time), and gives up when the client does.
func TestOpenCostsStartup(t *testing.T) {
	o, _ := newTestOrg(t)
	e, err := NewExchangeEndpoint(o, "EX10-MB01")
	must(t, err)
	e.SetStartup(150 * time.Millisecond)
	begin := time.Now()
	rs, err := e.Open(context.Background(), DefaultUser)
	must(t, err)
	rs.Close()
	if d := time.Since(begin); d < 150*time.Millisecond {
		t.Errorf("Open took %v, less than the start-up cost", d)
	}
	e.SetStartup(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := e.Open(ctx, DefaultUser); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Open with an ended context: %v", err)
	}
}

// TestSeedReportsProgress: Add-MailboxDatabaseCopy seeds inside the cmdlet; while it
// runs, another session sees the copy Seeding, and progress climbs to a completed 100.
func TestSeedReportsProgress(t *testing.T) {
	o, clk := newTestOrg(t)
	withDAG(t, o)
	rs := openSession(t, o, "EX10-CAHT")
	rec := &progressLog{}
	done := make(chan error, 1)
	go func() {
		done <- rs.Invoke(context.Background(), []psrp.Command{cmd("Add-MailboxDatabaseCopy", "Identity", "MB01", "MailboxServer", "EX10-MB02")}, rec)
	}()
	waitSleepers(t, clk, 1)
	clk.Advance(o.Timing.Seed / 2)
	waitSleepers(t, clk, 1)
	// The same session answers a read while its other pipeline seeds: a runspace pool
	// runs pipelines side by side, as a real server's does.
	st := &recorder{cols: []string{"Status"}}
	read := make(chan error, 1)
	go func() {
		read <- rs.Invoke(context.Background(), []psrp.Command{cmd("Get-MailboxDatabaseCopyStatus", "", `MB01\EX10-MB02`)}, st)
	}()
	select {
	case err := <-read:
		must(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("a read in the seeding session waited behind the seed")
	}
	if fmt.Sprint(st.lines) != "[Status=Seeding]" {
		t.Errorf("mid-seed status: %v", st.lines)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	must(t, drive(t, ctx, clk, done, "the seed"))
	last := -1
	for i, p := range rec.records {
		if p.percent < last {
			t.Errorf("progress went back: %v", rec.records)
		}
		last = p.percent
		if p.completed != (i == len(rec.records)-1) {
			t.Errorf("record %d completed=%v", i, p.completed)
		}
	}
	if len(rec.records) < 3 || last != 100 {
		t.Errorf("progress: %+v", rec.records)
	}
	if got := status(o, "MB01", "EX10-MB02"); got != statusHealthy {
		t.Errorf("after the seed: %s", got)
	}
}

type progressRecord struct {
	percent   int
	completed bool
}

type progressLog struct {
	recorder
	records []progressRecord
}

func (p *progressLog) Progress(id int, activity, status string, percent int, completed bool) {
	p.mu.Lock()
	p.records = append(p.records, progressRecord{percent, completed})
	p.mu.Unlock()
}

// TestSeedCancelled: closing the pipeline ends the seed; the copy is left
// FailedAndSuspended, and a reseed with -DeleteExistingFiles makes it Healthy.
func TestSeedCancelled(t *testing.T) {
	o, clk := newTestOrg(t)
	withDAG(t, o)
	rs := openSession(t, o, "EX10-CAHT")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- rs.Invoke(ctx, []psrp.Command{cmd("Add-MailboxDatabaseCopy", "Identity", "MB01", "MailboxServer", "EX10-MB02")}, &recorder{})
	}()
	waitSleepers(t, clk, 1)
	clk.Advance(10 * time.Second)
	waitSleepers(t, clk, 1)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Invoke after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the seed did not stop when the pipeline was closed")
	}
	if got := status(o, "MB01", "EX10-MB02"); got != statusFailedAndSuspended {
		t.Fatalf("after a cancelled seed: %s", got)
	}
	clk.Advance(time.Hour)
	if got := status(o, "MB01", "EX10-MB02"); got != statusFailedAndSuspended {
		t.Fatalf("an hour later: %s", got)
	}
	got := runSession(t, o, clk, "EX10-CAHT", []step{
		pipe([]string{"Name", "Status", "ActivationSuspended", "ErrorMessage"}, cmd("Get-MailboxDatabaseCopyStatus", "", `MB01\EX10-MB02`)),
		run(cmd("Resume-MailboxDatabaseCopy", "", `MB01\EX10-MB02`)),
		pipe([]string{"Name", "Status"}, cmd("Get-MailboxDatabaseCopyStatus", "", `MB01\EX10-MB02`)),
		run(cmd("Update-MailboxDatabaseCopy", "", `MB01\EX10-MB02`)),
	})
	got += runSession(t, o, clk, "EX10-CAHT", []step{
		run(cmd("Update-MailboxDatabaseCopy", "", `MB01\EX10-MB02`, "DeleteExistingFiles", true, "Confirm", false)),
		pipe([]string{"Name", "Status", "ActivationSuspended", "ErrorMessage"}, cmd("Get-MailboxDatabaseCopyStatus", "", `MB01\EX10-MB02`)),
		run(cmd("Update-MailboxDatabaseCopy", "", `MB01\EX10-MB01`)),
	})
	golden(t, "seed-cancelled", got)
}

// TestObjectShapes records every property of each cmdlet's objects with its kind:
// the .NET type names, enums, lists and key/value pairs a 2010 server sends.
func TestObjectShapes(t *testing.T) {
	o, clk := newTestOrg(t)
	withDAG(t, o)
	withCopies(t, o, clk)
	if _, err := o.newCASArray("CAS Array", "client.msglab.local", SiteName); err != nil {
		t.Fatal(err)
	}
	o.Timing.Switchover = 0
	rs := openSession(t, o, "EX10-CAHT")
	pipelines := [][]psrp.Command{
		{cmd("Get-ExchangeServer", "", "EX10-MB01")},
		{cmd("Get-MailboxServer", "", "EX10-MB01")},
		{cmd("Get-MailboxDatabase", "", "MB01", "Status", true)},
		{cmd("Get-DatabaseAvailabilityGroup", "", "E14-DAG", "Status", true)},
		{cmd("Get-DatabaseAvailabilityGroupNetwork", "", `E14-DAG\DAGNetwork01`)},
		{cmd("Get-MailboxDatabaseCopyStatus", "", `MB01\EX10-MB02`)},
		{cmd("Test-ReplicationHealth", "", "EX10-MB01"), cmd("Select-Object", "First", 1)},
		{cmd("Get-ClientAccessArray")},
		{cmd("Get-ClientAccessServer", "", "EX10-CAHT")},
		{cmd("Test-OutlookWebServices"), cmd("Select-Object", "First", 1)},
		{cmd("Move-ActiveMailboxDatabase", "", "MB02", "ActivateOnServer", "EX10-MB01", "Confirm", false)},
		{cmd("Test-ServiceHealth", "Server", "EX10-CAHT")},
		{cmd("Get-PublicFolderDatabase", "Server", "EX10-MB01", "Status", true)},
		{cmd("Test-MapiConnectivity", "Server", "EX10-MB01")},
		{cmd("Get-Queue", "Server", "EX10-CAHT")},
	}
	must(t, o.AddPublicFolderDatabase("EX10-MB01", "PF01", true))
	must(t, o.SetTransportQueue("EX10-CAHT", 12, 0, 3))
	var b strings.Builder
	for _, p := range pipelines {
		rec := &recorder{}
		must(t, invokeOn(t, rs, clk, p, rec))
		fmt.Fprintf(&b, "> %s\n", render(p))
		for _, obj := range rec.objects {
			describe(&b, "", obj)
			serialises(t, obj)
		}
	}
	golden(t, "object-shapes", b.String())
}

// serialises checks that the PSRP encoder carries an object's type name, its text
// and its enums' and key/value pairs' text: what a client reads.
func serialises(t *testing.T, v any) {
	t.Helper()
	obj := v.(*ps.Object)
	xml := string(psrp.SerializeValue(obj))
	want := []string{"<T>" + obj.TypeName + "</T>", "<ToString>" + xmlText(obj.String()) + "</ToString>"}
	for _, p := range obj.Props() {
		switch x := p.Value.(type) {
		case ps.Enum:
			want = append(want, "<T>"+x.Type+"</T>", "<ToString>"+x.Name+"</ToString>")
		case []any:
			for _, e := range x {
				if kv, ok := e.(*ps.Object); ok {
					want = append(want, "<ToString>"+xmlText(kv.String())+"</ToString>")
				}
			}
		}
	}
	for _, w := range want {
		if !strings.Contains(xml, w) {
			t.Errorf("%s: the CLIXML lacks %s:\n%s", obj.TypeName, w, xml)
		}
	}
}

func xmlText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// describe writes a value with its kind, recursing into lists and objects.
func describe(b *strings.Builder, indent string, v any) {
	switch x := v.(type) {
	case *ps.Object:
		fmt.Fprintf(b, "%s%s %q\n", indent, x.TypeName, x.String())
		for _, p := range x.Props() {
			fmt.Fprintf(b, "%s  .%s: ", indent, p.Name)
			switch p.Value.(type) {
			case *ps.Object, []any:
				b.WriteString("\n")
				describe(b, indent+"    ", p.Value)
			default:
				describe(b, "", p.Value)
			}
		}
	case []any:
		fmt.Fprintf(b, "%slist of %d\n", indent, len(x))
		for _, e := range x {
			describe(b, indent+"  ", e)
		}
	case ps.Enum:
		fmt.Fprintf(b, "%senum %s = %s (%d)\n", indent, x.Type, x.Name, x.Value)
	case nil:
		fmt.Fprintf(b, "%snull\n", indent)
	case time.Time:
		fmt.Fprintf(b, "%sdatetime %s\n", indent, x.UTC().Format(time.RFC3339))
	default:
		fmt.Fprintf(b, "%s%T %q\n", indent, v, ps.ToString(v))
	}
}

func TestByteQuantifiedSize(t *testing.T) {
	cases := map[int64]string{
		0:                 "0 B (0 bytes)",
		1023:              "1023 B (1,023 bytes)",
		1024:              "1 KB (1,024 bytes)",
		1610612736:        "1.5 GB (1,610,612,736 bytes)",
		5 << 40:           "5 TB (5,497,558,138,880 bytes)",
		(1 << 20) * 3 / 2: "1.5 MB (1,572,864 bytes)",
		123456789:         "117.7 MB (123,456,789 bytes)",
	}
	for n, want := range cases {
		if got := byteQuantifiedSize(n); got != want {
			t.Errorf("%d: %q, want %q", n, got, want)
		}
	}
}

// TestHangFault: with the server's hang fault, an Exchange pipeline runs until the
// client stops it; healing the fault restores service.
func TestHangFault(t *testing.T) {
	o, _ := newTestOrg(t)
	e, err := NewExchangeEndpoint(o, "EX10-MB01")
	must(t, err)
	rs, err := e.Open(context.Background(), DefaultUser)
	must(t, err)
	defer rs.Close()
	e.SetHang(true)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := rs.Invoke(ctx, []psrp.Command{cmd("Get-ExchangeServer")}, &recorder{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hung pipeline: %v", err)
	}
	e.SetHang(false)
	rec := &recorder{cols: []string{"Name"}}
	must(t, rs.Invoke(context.Background(), []psrp.Command{cmd("Get-ExchangeServer", "", "EX10-MB01")}, rec))
	if fmt.Sprint(rec.lines) != "[Name=EX10-MB01]" {
		t.Errorf("after healing: %v", rec.lines)
	}
}

// TestLabHangFaultWedgesBothEndpoints: the lab's "hang" fault (exchops lab --fault,
// the control endpoint) wedges Exchange pipelines as well as WinRS commands, and
// "none" ends both.
func TestLabHangFaultWedgesBothEndpoints(t *testing.T) {
	l, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	e := l.Endpoint("EX10-CAHT")
	if err := l.SetFault("EX10-CAHT", "hang"); err != nil {
		t.Fatal(err)
	}
	if !e.Host.hanging() || !e.Exchange.hanging() {
		t.Errorf("after hang: WinRS hanging %v, Exchange hanging %v", e.Host.hanging(), e.Exchange.hanging())
	}
	if err := l.SetFault("EX10-CAHT", "none"); err != nil {
		t.Fatal(err)
	}
	if e.Host.hanging() || e.Exchange.hanging() {
		t.Error("none did not end the hang")
	}
	if err := l.SetFault("EX10-CAHT", "sideways"); err == nil || !strings.Contains(err.Error(), "dropshells") {
		t.Errorf("an unknown fault: %v; want the list of faults", err)
	}
}
