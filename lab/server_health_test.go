package lab

import (
	"strings"
	"testing"
	"time"
)

// TestServerHealthSession: the cmdlets of a server's own health in one session, with
// each fault that makes one of them go wrong, and what a real server refuses.
func TestServerHealthSession(t *testing.T) {
	o, clk := newTestOrg(t)
	withDAG(t, o)
	withCopies(t, o, clk)
	svc := []string{"Role", "RequiredServicesRunning", "ServicesNotRunning"}
	queues := []string{"Identity", "DeliveryType", "Status", "MessageCount", "NextHopDomain"}
	mounted := []string{"Name", "Mounted", "MountedOnServer"}
	mapi := []string{"MailboxServer", "Database", "Result", "Result.Value", "Error"}
	steps := []step{
		section("healthy"),
		pipe(svc, cmd("Test-ServiceHealth", "Server", "EX10-MB02")),
		pipe(svc, cmd("Test-ServiceHealth", "", "EX10-CAHT")),
		pipe(mounted, cmd("Get-MailboxDatabase", "Server", "EX10-MB02", "Status", true)),
		pipe(mounted, cmd("Get-MailboxDatabase", "Server", "EX10-MB02")),
		pipe([]string{"Name", "Mounted"}, cmd("Get-PublicFolderDatabase", "Server", "EX10-MB02", "Status", true)),
		pipe(mapi, cmd("Test-MapiConnectivity", "Server", "EX10-MB02")),
		pipe(queues, cmd("Get-Queue", "Server", "EX10-CAHT")),
	}
	got := runSessionMode(t, o, clk, "EX10-MB02", steps, false)

	must(t, o.SetServiceStopped("EX10-MB02", "MSExchangeIS", true))
	must(t, o.SetTransportQueue("EX10-CAHT", 60, 10, 7))
	must(t, o.AddPublicFolderDatabase("EX10-MB02", "PF02", false))
	got += runSessionMode(t, o, clk, "EX10-MB02", []step{
		section("the Information Store stops on EX10-MB02; EX10-MB02 gets a dismounted public folder database"),
		pipe(svc, cmd("Test-ServiceHealth", "Server", "EX10-MB02")),
		pipe(mounted, cmd("Get-MailboxDatabase", "Server", "EX10-MB02", "Status", true)),
		pipe([]string{"Name", "Status"}, cmd("Get-MailboxDatabaseCopyStatus", "", `MB02\EX10-MB02`)),
		pipe([]string{"Name", "Mounted"}, cmd("Get-PublicFolderDatabase", "Server", "EX10-MB02", "Status", true)),
		pipe(mapi, cmd("Test-MapiConnectivity", "Server", "EX10-MB02")),
		run(cmd("Mount-Database", "", "MB02", "Confirm", false)),
		section("a growing transport queue on EX10-CAHT (shadow redundancy apart)"),
		pipe(queues, cmd("Get-Queue", "Server", "EX10-CAHT")),
		wait(5 * time.Minute),
		pipe(queues, cmd("Get-Queue", "Server", "EX10-CAHT")),
		section("what a real server refuses"),
		run(cmd("Get-Queue", "Server", "EX10-MB01")),
		run(cmd("Get-Queue", "Server", "EX10-CAHT", "Include", "External")),
		run(cmd("Get-Queue", "Identity", `EX10-CAHT\Submission`, "Server", "EX10-CAHT")),
		run(cmd("Test-ServiceHealth", "Identity", "EX10-MB01")),
		run(cmd("Test-MapiConnectivity", "Server", "EX10-CAHT")),
		run(cmd("Test-MapiConnectivity", "Server", "EX10-MB01", "Database", "MB01")),
		run(cmd("Get-PublicFolderDatabase", "Identity", "PF02", "Server", "EX10-MB02")),
	}, false)
	must(t, o.SetServiceStopped("EX10-CAHT", "MSExchangeTransport", true))
	got += runSessionMode(t, o, clk, "EX10-CAHT", []step{
		section("the transport service stops on EX10-CAHT"),
		pipe(svc, cmd("Test-ServiceHealth")),
		run(cmd("Get-Queue")),
	}, false)
	golden(t, "server-health", got)
}

func TestServerHealthFaultsRefuseNonsense(t *testing.T) {
	o, _ := newTestOrg(t)
	for _, tc := range []struct {
		err  error
		want string
	}{
		{o.SetServiceStopped("EX10-MB01", "W3Svc", true), "unreachable fault"},
		{o.SetServiceStopped("EX10-MB01", "MSExchangeTransport", true), "not a service the roles of EX10-MB01 require"},
		{o.SetServiceStopped("DC01", "MSExchangeIS", true), "not an Exchange server"},
		{o.SetTransportQueue("EX10-MB01", 90, 0, 0), "not a Hub Transport server"},
		{o.SetTransportQueue("EX10-CAHT", -1, 0, 0), "negative"},
		{o.SetMounted("MB09", false), "no database"},
		{o.AddPublicFolderDatabase("EX10-CAHT", "", false), "not a mailbox server"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("got %v, want an error mentioning %q", tc.err, tc.want)
		}
	}
}

// The server-level faults are reachable by name, as --fault KIND:SERVER and POST
// /fault kind=server give them, and none ends the lasting ones.
func TestServerHealthFaultsByName(t *testing.T) {
	l, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	must(t, l.SetFault("EX10-MB02", "stop-MSExchangeMailboxAssistants"))
	must(t, l.SetFault("EX10-CAHT", "queue"))
	must(t, l.SetFault("EX10-MB01", "publicfolder-dismounted"))
	if got := l.Org.StoppedServices("EX10-MB02"); len(got) != 1 || got[0] != "MSExchangeMailboxAssistants" {
		t.Errorf("stopped on EX10-MB02: %v", got)
	}
	if err := l.SetFault("EX10-MB02", "stop-Spooler"); err == nil {
		t.Error("stop-Spooler: a service no role requires was stopped")
	}
	must(t, l.applyFault(func(k string) string {
		return map[string]string{"kind": "service", "server": "EX10-MB01", "service": "MSExchangeRepl", "running": "false"}[k]
	}))
	if got := l.Org.StoppedServices("EX10-MB01"); len(got) != 1 {
		t.Errorf("kind=service: stopped on EX10-MB01: %v", got)
	}
	must(t, l.SetFault("EX10-MB02", "none"))
	if got := l.Org.StoppedServices("EX10-MB02"); len(got) != 0 {
		t.Errorf("after none, stopped on EX10-MB02: %v", got)
	}
	if err := l.applyFault(func(k string) string {
		return map[string]string{"kind": "transport", "server": "EX10-CAHT", "messages": "lots"}[k]
	}); err == nil || !strings.Contains(err.Error(), "whole number") {
		t.Errorf("kind=transport messages=lots: %v", err)
	}
}
