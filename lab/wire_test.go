package lab_test

// These tests drive the whole lab the way exchops does in production: the real
// WinRM client (through the runners package) over HTTP to each simulated server,
// PowerShell sent as -EncodedCommand, answers parsed from stdout, stderr and the exit
// code. The raw command-line cases use the masterzen client directly.

import (
	"bytes"
	"context"
	"fmt"
	goldenfile "github.com/exchops/exchops/internal/golden"
	"github.com/exchops/exchops/internal/pywinrm"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/masterzen/winrm"

	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/runners"
)

var start = time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)

// startLab starts a lab on a manual clock and a runner that reaches every server.
func startLab(t *testing.T, opts lab.Options) (*lab.Lab, *runners.WinRM, *clock.Manual) {
	t.Helper()
	c := clock.NewManual(start)
	opts.Clock = c
	if opts.OperationTimeoutCap == 0 {
		opts.OperationTimeoutCap = 200 * time.Millisecond
	}
	l, err := lab.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var eps []runners.Endpoint
	for _, e := range l.Servers {
		eps = append(eps, runners.Endpoint{
			Name: e.Name, Address: "127.0.0.1", Port: e.Port, HTTPS: opts.TLS, CAPEM: l.CertPEM,
			Auth: runners.AuthNTLM, User: l.User, Password: l.Password, AllowUnencrypted: !opts.TLS,
		})
	}
	r, err := runners.New(eps, runners.Options{Timeout: 20 * time.Second, OperationTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return l, r, c
}

const prologue = "$ErrorActionPreference = 'Stop'\n. (Join-Path $env:ExchangeInstallPath 'bin\\RemoteExchange.ps1')\nConnect-ExchangeServer -auto\n"

// transcript renders one run for a golden file.
func transcript(res *runners.Result, err error) string {
	var b strings.Builder
	if res != nil {
		fmt.Fprintf(&b, "exit: %d\n--- stdout ---\n%s--- stderr ---\n%s", res.ExitCode, strings.ReplaceAll(res.Stdout, "\r\n", "\n"), strings.ReplaceAll(res.Stderr, "\r\n", "\n"))
	}
	if err != nil {
		fmt.Fprintf(&b, "--- error (%s) ---\n%v\n", runners.KindOf(err), err)
	}
	return b.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", "wire", name+".golden"), got)
}

// TestScriptsOverWinRM runs PowerShell on the simulated servers through the real
// client and checks what a real Exchange 2010 server would answer, refusals included.
func TestScriptsOverWinRM(t *testing.T) {
	l, r, _ := startLab(t, lab.Options{})
	cases := []struct {
		name, server, script string
		wantExit             int
	}{
		{"second-hop-connect", "EX10-CAHT", prologue + "Get-ExchangeServer | Select-Object Name, ServerRole, AdminDisplayVersion | ConvertTo-Csv -NoTypeInformation", 1},
		{"second-hop-snapin", "EX10-MB01", "Add-PSSnapin Microsoft.Exchange.Management.PowerShell.E2010\nGet-MailboxDatabase | Select-Object Name, Server | ConvertTo-Csv -NoTypeInformation", 1},
		{"exchange-not-loaded", "EX10-CAHT", "$ErrorActionPreference = 'Stop'\nGet-MailboxDatabase", 1},
		{"no-exchange-on-dc", "DC01", prologue + "Get-MailboxDatabase", 1},
		{"snapin-missing-on-dc", "DC01", "Add-PSSnapin Microsoft.Exchange.Management.PowerShell.E2010", 1},
		{"unknown-parameter", "EX10-CAHT", "Import-Module ServerManager\nGet-WindowsFeature -Colour 'blue'", 1},
		{"missing-mandatory", "EX10-CAHT", "$ErrorActionPreference = 'Stop'\nImport-Module ServerManager\nAdd-WindowsFeature", 1},
		{"syntax-error", "EX10-CAHT", "Get-MailboxDatabase | ", 1},
		{"unknown-cmdlet", "EX10-MB02", "Get-Mailboxdatabse", 1},
		{"exit-code", "EX10-MB02", "'before'\nexit 7\n'after'", 7},
		{"catch-to-stderr", "EX10-CAHT", "try { . (Join-Path $env:ExchangeInstallPath 'bin\\RemoteExchange.ps1'); Connect-ExchangeServer -auto -ErrorAction Stop } catch { [Console]::Error.WriteLine($_.Exception.Message); exit 1 }", 1},
		{"nlb-module-needs-feature", "EX10-CAHT", "Import-Module NetworkLoadBalancingClusters", 1},
		{"unknown-module", "EX10-CAHT", "Import-Module FailoverClusters", 1},
		{"dnscmd-on-dc", "DC01", "& dnscmd.exe 'DC01' '/recordadd' 'msglab.local' 'client' 'A' '10.0.0.40'\n\"exit code $LASTEXITCODE\"", 0},
		{"dnscmd-duplicate", "DC01", "& dnscmd 'DC01' '/recordadd' 'msglab.local' 'client' 'A' '10.0.0.40'\n\"exit code $LASTEXITCODE\"", 0},
		{"dnscmd-not-on-exchange", "EX10-CAHT", "& dnscmd.exe 'DC01' '/enumrecords' 'msglab.local' '@'", 1},
		{"environment", "EX10-MB01", "$env:COMPUTERNAME\n$env:ExchangeInstallPath\n$env:USERDOMAIN", 0},
	}
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := r.Run(ctx, tc.server, tc.script)
			if res == nil {
				t.Fatalf("no result: %v", err)
			}
			if res.ExitCode != tc.wantExit {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", res.ExitCode, tc.wantExit, res.Stdout, res.Stderr)
			}
			golden(t, "script-"+tc.name, transcript(res, err))
		})
	}
	recs := l.Org.DNSRecords("msglab.local")
	n := 0
	for _, rec := range recs {
		if rec.Name == "client" && rec.Data == "10.0.0.40" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("want exactly one A record client -> 10.0.0.40 after an add and a duplicate add, found %d in %+v", n, recs)
	}
}

// TestCommandLines starts programs the way other WinRM clients do: plain command
// lines, cmd.exe built-ins, -Command, and broken -EncodedCommand values.
func TestCommandLines(t *testing.T) {
	l, _, _ := startLab(t, lab.Options{})
	cases := []struct {
		name, server, command string
		wantExit              int
	}{
		{"hostname", "EX10-MB01", "hostname", 0},
		{"dnscmd-direct", "DC01", "dnscmd DC01 /enumrecords msglab.local ex10-caht", 0},
		{"dnscmd-via-cmd", "DC01", `cmd /c dnscmd DC01 /recordadd msglab.local client A 10.0.0.40`, 0},
		{"dnscmd-missing-zone", "DC01", "dnscmd DC01 /recordadd nozone.local client A 10.0.0.40", 9601},
		{"no-such-program", "EX10-MB01", "robocopy C:\\ D:\\", 9009},
		{"powershell-command", "EX10-MB02", `powershell.exe -NoProfile -NonInteractive -Command "'a' + 'b'"`, 0},
		{"powershell-bad-encoding", "EX10-MB02", "powershell.exe -NoProfile -EncodedCommand not*base64", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := l.Endpoint(tc.server)
			client := rawClient(t, l, e.Port)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			code, err := client.RunWithContext(ctx, tc.command, &stdout, &stderr)
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantExit {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantExit, stdout.String(), stderr.String())
			}
			golden(t, "cmdline-"+tc.name, fmt.Sprintf("exit: %d\n--- stdout ---\n%s--- stderr ---\n%s", code,
				strings.ReplaceAll(stdout.String(), "\r\n", "\n"), strings.ReplaceAll(stderr.String(), "\r\n", "\n")))
		})
	}
}

func rawClient(t *testing.T, l *lab.Lab, port int) *winrm.Client {
	t.Helper()
	ep := winrm.NewEndpoint("127.0.0.1", port, false, false, nil, nil, nil, 20*time.Second)
	params := winrm.NewParameters("PT1S", "en-US", 153600)
	params.TransportDecorator = func() winrm.Transporter { return &winrm.ClientNTLM{} } // Basic is refused for domain accounts
	c, err := winrm.NewClientWithParameters(ep, l.User, l.Password, params)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFaults: each server-level fault gives the runner a clear error of the right
// kind within its timeout, and healing the fault restores service.
func TestFaults(t *testing.T) {
	l, r, _ := startLab(t, lab.Options{})
	cases := []struct {
		fault string
		want  runners.Kind
	}{
		{"unreachable", runners.Unreachable},
		{"http500", runners.Protocol},
		{"unauthorized", runners.Unauthorized},
		{"malformed", runners.Protocol},
		{"hang", runners.Timeout},
	}
	for _, tc := range cases {
		t.Run(tc.fault, func(t *testing.T) {
			if err := l.SetFault("EX10-MB02", tc.fault); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			_, err := r.Run(ctx, "EX10-MB02", "'hello'")
			if got := runners.KindOf(err); got != tc.want && !(tc.fault == "hang" && got == runners.Canceled) {
				t.Fatalf("fault %s gave %s (%v), want %s", tc.fault, got, err, tc.want)
			}
			if strings.Contains(fmt.Sprint(err), l.Password) {
				t.Fatalf("the error shows the password: %v", err)
			}
			if err := l.SetFault("EX10-MB02", "none"); err != nil {
				t.Fatal(err)
			}
			res, err := r.Run(context.Background(), "EX10-MB02", "'hello'")
			if err != nil || !strings.Contains(res.Stdout, "hello") {
				t.Fatalf("after healing: %v %+v", err, res)
			}
		})
	}
	if err := l.SetFault("EX10-MB02", "flood"); err == nil {
		t.Error("an unknown fault name was accepted")
	}
	if err := l.SetFault("EX99", "hang"); err == nil {
		t.Error("an unknown server was accepted")
	}
}

// TestStartupCost: Options.Startup is the cost of opening an Exchange session; a
// WinRS powershell.exe loads no Exchange and starts at once.
func TestStartupCost(t *testing.T) {
	l, r, _ := startLab(t, lab.Options{Startup: 300 * time.Millisecond})
	begin := time.Now()
	res, err := r.Run(context.Background(), "EX10-MB01", "'up'")
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d >= 300*time.Millisecond {
		t.Errorf("a WinRS run took %v: powershell.exe should not pay for loading Exchange", d)
	}
	if !strings.Contains(res.Stdout, "up") {
		t.Errorf("stdout %q", res.Stdout)
	}
	begin = time.Now()
	rs, err := l.Endpoint("EX10-MB01").Exchange.Open(context.Background(), l.User)
	if err != nil {
		t.Fatal(err)
	}
	rs.Close()
	if d := time.Since(begin); d < 300*time.Millisecond {
		t.Errorf("opening an Exchange session took %v, less than the start-up cost", d)
	}
}

// TestTLS: the lab serves HTTPS with a certificate the runner can trust.
func TestTLS(t *testing.T) {
	_, r, _ := startLab(t, lab.Options{TLS: true})
	res, err := r.Run(context.Background(), "EX10-CAHT", "$env:COMPUTERNAME")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Stdout, "EX10-CAHT") {
		t.Errorf("stdout %q", res.Stdout)
	}
}

// TestControlEndpoint: faults can be injected into a running lab over HTTP.
func TestControlEndpoint(t *testing.T) {
	l, r, _ := startLab(t, lab.Options{})
	srv := httptest.NewServer(l.ControlHandler())
	defer srv.Close()
	post := func(v url.Values) (int, string) {
		resp, err := http.PostForm(srv.URL+"/fault", v)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	if code, body := post(url.Values{"kind": {"server"}, "server": {"EX10-MB01"}, "fault": {"http500"}}); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	if _, err := r.Run(context.Background(), "EX10-MB01", "'x'"); runners.KindOf(err) != runners.Protocol {
		t.Fatalf("after injecting http500: %v", err)
	}
	bad := []url.Values{
		{"kind": {"weather"}},
		{"kind": {"copy"}, "database": {"MB01"}},
		{"kind": {"network"}, "dag": {"E14-DAG"}, "network": {"DAGNetwork01"}, "down": {"maybe"}},
		{"kind": {"copy"}, "database": {"MB01"}, "server": {"EX10-MB02"}, "status": {"Failed"}}, // no DAG yet
		{"kind": {"lag"}, "database": {"MB01"}, "server": {"EX10-MB02"}, "replay": {"a week"}},
	}
	for _, v := range bad {
		if code, body := post(v); code != http.StatusBadRequest || strings.TrimSpace(body) == "" {
			t.Errorf("%v: %d %q, want 400 with a reason", v, code, body)
		}
	}
}

// TestPywinrmConformance runs scripts through an independent client, Debian's
// python3-winrm, and checks it sees the same stdout, stderr and exit code as the
// Go client.
func TestPywinrmConformance(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import winrm").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3-winrm is missing in CI: .ci/run should have installed it")
		}
		t.Skip("python3-winrm is not installed (apt-get install python3-winrm; .ci/run does)")
	}
	l, r, _ := startLab(t, lab.Options{})
	scripts := []struct{ server, script string }{
		{"EX10-CAHT", prologue + "Get-MailboxDatabase | Select-Object Name, Server, RpcClientAccessServer | ConvertTo-Csv -NoTypeInformation"},
		{"EX10-CAHT", "Add-PSSnapin Microsoft.Exchange.Management.PowerShell.E2010\nGet-MailboxDatabase -Identity 'NOPE'"},
		{"EX10-MB01", "Get-Nothing"},
		{"DC01", "& dnscmd.exe 'DC01' '/enumrecords' 'msglab.local' 'dc01'\nexit $LASTEXITCODE"},
	}
	for i, s := range scripts {
		e := l.Endpoint(s.server)
		cmd := exec.Command("/usr/bin/python3", "testdata/wire/pywinrm_run.py")
		cmd.Env = append(os.Environ(),
			"LAB_URL="+e.URL, "LAB_USER="+l.User, "LAB_PASSWORD="+l.Password,
			"LAB_COMMAND="+runners.CommandLine(s.script),
			// NTLM needs MD4, which Debian's OpenSSL 3 keeps in its legacy provider.
			"OPENSSL_CONF="+pywinrm.LegacyOpenSSLConfig(t))
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("script %d: pywinrm: %v\n%s", i, err, errb.String())
		}
		// The python helper prints exit code, then stdout and stderr, separated by NUL.
		parts := strings.SplitN(out.String(), "\x00", 3)
		if len(parts) != 3 {
			t.Fatalf("script %d: unexpected helper output %q", i, out.String())
		}
		res, err := r.Run(context.Background(), s.server, s.script)
		if res == nil {
			t.Fatalf("script %d: go client: %v", i, err)
		}
		if got, want := parts[0], fmt.Sprint(res.ExitCode); got != want {
			t.Errorf("script %d: pywinrm exit %s, go client %s", i, got, want)
		}
		if parts[1] != res.Stdout {
			t.Errorf("script %d: stdout differs:\npywinrm: %q\ngo:      %q", i, parts[1], res.Stdout)
		}
		if parts[2] != res.Stderr {
			t.Errorf("script %d: stderr differs:\npywinrm: %q\ngo:      %q", i, parts[2], res.Stderr)
		}
		if i == 0 && !strings.Contains(parts[2], "Connecting to remote server failed") {
			t.Errorf("script %d: pywinrm did not see the second hop's error on stderr: %q", i, parts[2])
		}
		if i == 1 && !strings.Contains(parts[2], "Active Directory operation failed") {
			t.Errorf("script %d: pywinrm did not see the snap-in's Active Directory error on stderr: %q", i, parts[2])
		}
	}
}

// TestLongScriptThroughStdin: a script too long for a command line reaches
// powershell.exe on stdin (-Command -), and its output and exit code still arrive.
func TestLongScriptThroughStdin(t *testing.T) {
	_, r, _ := startLab(t, lab.Options{})
	var b strings.Builder
	b.WriteString("Import-Module ServerManager\n'exchops:section features'\n")
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&b, "$x%d = 'padding to make this script longer than a Windows command line allows'\n", i)
	}
	b.WriteString("Get-WindowsFeature -Name NLB | Select-Object Name | ConvertTo-Csv -NoTypeInformation\nexit 3\n")
	if len(runners.CommandLine(b.String())) <= runners.MaxCommandLine {
		t.Fatal("the script is not long enough to need stdin")
	}
	res, err := r.Run(context.Background(), "EX10-CAHT", b.String())
	if res == nil {
		t.Fatal(err)
	}
	if res.ExitCode != 3 {
		t.Errorf("exit code %d, want 3 (stderr %q)", res.ExitCode, res.Stderr)
	}
	if rows := res.Tables()["features"]; len(rows) != 1 {
		t.Errorf("features section: %v (stdout %q)", rows, res.Stdout)
	}
}

// autoAdvance moves the manual clock a second whenever something waits on it, so
// cmdlets that take time (joining a DAG, a switchover) finish without sleeping.
func autoAdvance(t *testing.T, c *clock.Manual) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		for c.WaitForSleepers(ctx, 1) == nil {
			c.Advance(time.Second)
		}
	}()
}

// TestEveryCmdletOverWinRM drives the NLB and DNS steps with the pinned client,
// refusals included, in one session per server, and checks the transcript; the last
// step shows that Exchange cannot be reached from a WinRS shell (the Exchange cmdlets
// are covered through the Exchange endpoint by the lab package's own tests).
func TestEveryCmdletOverWinRM(t *testing.T) {
	_, r, c := startLab(t, lab.Options{})
	autoAdvance(t, c)
	try := func(stmt string) string {
		return "try { " + stmt + " } catch { 'refused: ' + $_.Exception.Message }\n"
	}
	steps := []struct {
		server, script string
		fails          bool
	}{
		{"EX10-CAHT", "Import-Module ServerManager\nAdd-WindowsFeature NLB | Select-Object Success, RestartNeeded, ExitCode | ConvertTo-Csv -NoTypeInformation\n" +
			"Get-WindowsFeature -Name NLB | Select-Object Name, Installed | ConvertTo-Csv -NoTypeInformation\n" +
			"Import-Module NetworkLoadBalancingClusters\n" +
			"New-NlbCluster -InterfaceName 'Local Area Connection' -ClusterPrimaryIP 10.0.0.40 -SubnetMask 255.255.255.0 -ClusterName client.msglab.local -OperationMode Multicast | Select-Object Name, IPAddress, SubnetMask, Mode | ConvertTo-Csv -NoTypeInformation\n" +
			try("New-NlbCluster -InterfaceName 'Ethernet 9' -ClusterPrimaryIP 10.0.0.41 -ClusterName x.msglab.local -OperationMode Multicast") +
			"Get-NlbClusterNode | Select-Object Name, State, Interface, HostID | ConvertTo-Csv -NoTypeInformation\n", false},
		{"DC01", "& dnscmd.exe 'DC01' '/recordadd' 'msglab.local' 'client' 'A' '10.0.0.40'\n& dnscmd.exe 'DC01' '/enumrecords' 'msglab.local' 'client'\n& dnscmd.exe 'DC01' '/recorddelete' 'msglab.local' 'client' 'A' '10.0.0.40' '/f'\n& dnscmd.exe 'DC01' '/enumrecords' 'msglab.local' 'client'\n\"exit $LASTEXITCODE\"", false},
		{"EX10-MB01", prologue + "Test-ReplicationHealth | Select-Object Check, Result | ConvertTo-Csv -NoTypeInformation\n", true},
	}
	var b strings.Builder
	for i, s := range steps {
		res, err := r.Run(context.Background(), s.server, s.script)
		fmt.Fprintf(&b, "=== step %d on %s\n%s", i+1, s.server, transcript(res, err))
		if (err != nil) != s.fails {
			t.Errorf("step %d on %s: %v", i+1, s.server, err)
		}
	}
	golden(t, "every-cmdlet", b.String())
}

// TestCredSSPLoadsTheShellOverWinRS: only with a delegated credential (the
// benchmarks' CredSSP option) does the Exchange Management Shell load inside a WinRS
// shell, paying the start-up cost; without it the same script is the second hop a
// real server refuses.
func TestCredSSPLoadsTheShellOverWinRS(t *testing.T) {
	script := prologue + "Get-ExchangeServer | Select-Object Name | ConvertTo-Csv -NoTypeInformation\n"
	for _, credssp := range []bool{false, true} {
		_, r, _ := startLab(t, lab.Options{CredSSP: credssp, Startup: 100 * time.Millisecond})
		begin := time.Now()
		res, err := r.Run(context.Background(), "EX10-CAHT", script)
		took := time.Since(begin)
		switch {
		case !credssp && (err == nil || !strings.Contains(res.Stderr, "A specified logon session does not exist")):
			t.Errorf("without CredSSP: err %v, stderr %q; want the second hop refused", err, res.Stderr)
		case credssp && err != nil:
			t.Errorf("with CredSSP: %v", err)
		case credssp && (!strings.Contains(res.Stdout, `"EX10-MB01"`) || took < 100*time.Millisecond):
			t.Errorf("with CredSSP: took %v (start-up 100ms), stdout %q", took, res.Stdout)
		}
	}
}
