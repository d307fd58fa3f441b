package lab

import (
	"testing"
	"time"

	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/lab/psrp"
)

// Columns the transcripts show, in the notation of exchops' tables.
var (
	copyCols     = []string{"Name", "Status", "ActiveCopy", "CopyQueueLength", "ReplayQueueLength", "ActivationSuspended", "ContentIndexState", "ActiveDatabaseCopy", "ErrorMessage"}
	healthCols   = []string{"Server", "Check", "Result", "Error"}
	dagCols      = []string{"Name", "Servers", "WitnessServer", "WitnessDirectory", "DatabaseAvailabilityGroupIpAddresses", "OperationalServers", "PrimaryActiveManager", "WitnessShareInUse"}
	networkCols  = []string{"Name", "Subnets", "Interfaces", "MapiAccessEnabled", "ReplicationEnabled"}
	databaseCols = []string{"Name", "Server", "Servers", "ActivationPreference", "RpcClientAccessServer", "CircularLoggingEnabled", "MasterServerOrAvailabilityGroup", "Mounted", "EdbFilePath"}
)

// walkthroughSetup builds the walkthrough's DAG and copies through the cmdlets.
func walkthroughSetup() []step {
	return []step{
		pipe([]string{"Name"}, cmd("New-DatabaseAvailabilityGroup", "Name", "E14-DAG", "WitnessServer", "EX10-CAHT", "WitnessDirectory", `C:\FSW`, "DatabaseAvailabilityGroupIPAddresses", []any{"10.0.0.50"})),
		run(cmd("Add-DatabaseAvailabilityGroupServer", "Identity", "E14-DAG", "MailboxServer", "EX10-MB01")),
		run(cmd("Add-DatabaseAvailabilityGroupServer", "Identity", "E14-DAG", "MailboxServer", "EX10-MB02")),
		run(cmd("Add-MailboxDatabaseCopy", "Identity", "MB01", "MailboxServer", "EX10-MB02")),
		run(cmd("Add-MailboxDatabaseCopy", "Identity", "MB02", "MailboxServer", "EX10-MB01")),
	}
}

func steps(groups ...[]step) []step {
	var out []step
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// TestSessions runs the DAG cmdlets through the Exchange endpoint's typed
// invocation, refusals included, and records each session's transcript.
func TestSessions(t *testing.T) {
	cases := []struct {
		name  string
		on    string
		setup func(t *testing.T, o *Org, clk *clock.Manual)
		steps []step
	}{
		{name: "walkthrough", on: "EX10-CAHT", steps: []step{
			section("before"),
			pipe(dagCols, cmd("Get-DatabaseAvailabilityGroup")),
			pipe(dagCols, cmd("New-DatabaseAvailabilityGroup", "Name", "E14-DAG", "WitnessServer", "EX10-CAHT", "WitnessDirectory", `C:\FSW`, "DatabaseAvailabilityGroupIPAddresses", []any{"10.0.0.50"})),
			run(cmd("Add-DatabaseAvailabilityGroupServer", "Identity", "E14-DAG", "MailboxServer", "EX10-MB01", "Verbose", true)),
			run(cmd("Add-DatabaseAvailabilityGroupServer", "Identity", "E14-DAG", "MailboxServer", "EX10-MB02")),
			section("dag"),
			pipe(dagCols, cmd("Get-DatabaseAvailabilityGroup", "Identity", "E14-DAG")),
			section("dagstatus"),
			pipe(dagCols, cmd("Get-DatabaseAvailabilityGroup", "Identity", "E14-DAG", "Status", true)),
			section("networks"),
			pipe(networkCols, cmd("Get-DatabaseAvailabilityGroupNetwork", "Identity", "E14-DAG")),
			section("seeding"),
			run(cmd("Add-MailboxDatabaseCopy", "Identity", "MB01", "MailboxServer", "EX10-MB02")),
			run(cmd("Add-MailboxDatabaseCopy", "", "MB02", "", "EX10-MB01", "SeedingPostponed", true)),
			pipe(copyCols, cmd("Get-MailboxDatabaseCopyStatus", "Server", "EX10-MB01")),
			run(cmd("Update-MailboxDatabaseCopy", "Identity", `MB02\EX10-MB01`)),
			section("copystatus"),
			pipe(copyCols, cmd("Get-MailboxDatabaseCopyStatus", "", "MB01")),
			pipe(copyCols, cmd("Get-MailboxDatabaseCopyStatus", "", `MB02\EX10-MB01`)),
			section("databases"),
			pipe(databaseCols, cmd("Get-MailboxDatabase", "Status", true)),
			section("health"),
			pipe(healthCols, cmd("Test-ReplicationHealth", "Identity", "EX10-MB01")),
			pipe(healthCols, cmd("Test-ReplicationHealth", "", "EX10-MB02")),
		}},
		{name: "local-copy-status", on: "EX10-MB02", steps: steps(walkthroughSetup(), []step{
			pipe(copyCols, cmd("Get-MailboxDatabaseCopyStatus")),
			pipe([]string{"Server"}, cmd("Test-ReplicationHealth"), cmd("Select-Object", "First", 1)),
		})},
		{name: "servers-and-databases", on: "EX10-CAHT", steps: []step{
			pipe([]string{"Name", "Fqdn", "ServerRole", "AdminDisplayVersion", "Site"}, cmd("Get-ExchangeServer")),
			pipe([]string{"Name", "DatabaseAvailabilityGroup"}, cmd("Get-MailboxServer")),
			pipe(databaseCols, cmd("Get-MailboxDatabase")),
			// RpcClientAccessServer is a ClientAccessServerOrArrayIdParameter: the array must exist.
			run(cmd("New-ClientAccessArray", "Fqdn", "client.msglab.local", "Site", "Default-First-Site-Name")),
			run(cmd("Get-MailboxDatabase"), cmd("Set-MailboxDatabase", "RpcClientAccessServer", "Client.msglab.local")),
			run(cmd("Set-MailboxDatabase", "", "MB02", "CircularLoggingEnabled", true)),
			run(cmd("New-MailboxDatabase", "Name", "MB03", "Server", "EX10-MB01")),
			pipe(databaseCols, cmd("Get-MailboxDatabase", "", "MB03", "Status", true)),
			run(cmd("Mount-Database", "", "MB03")),
			pipe(databaseCols, cmd("Get-MailboxDatabase", "Server", "EX10-MB01", "Status", true)),
		}},
		{name: "switchover", on: "EX10-CAHT", steps: steps(walkthroughSetup(), []step{
			pipe([]string{"Identity", "ActiveServerAtStart", "ActiveServerAtEnd", "Status", "MountStatusAtMoveEnd", "ErrorMessage"},
				cmd("Move-ActiveMailboxDatabase", "", "MB01", "ActivateOnServer", "EX10-MB02", "MoveComment", "drill", "Confirm", false)),
			section("after-move"),
			pipe(copyCols, cmd("Get-MailboxDatabaseCopyStatus", "", "MB01")),
			pipe(healthCols, cmd("Test-ReplicationHealth", "", "EX10-MB01")),
			wait(20 * time.Second),
			section("after-initialize"),
			pipe(copyCols, cmd("Get-MailboxDatabaseCopyStatus", "", "MB01")),
			pipe(databaseCols, cmd("Get-MailboxDatabase", "", "MB01")),
		})},
		{name: "switchover-refused", on: "EX10-CAHT", steps: steps(walkthroughSetup(), []step{
			run(cmd("Suspend-MailboxDatabaseCopy", "", `MB01\EX10-MB02`, "SuspendComment", "patching", "Confirm", false)),
			pipe([]string{"Name", "Status", "SuspendComment"}, cmd("Get-MailboxDatabaseCopyStatus", "", `MB01\EX10-MB02`)),
			run(cmd("Move-ActiveMailboxDatabase", "", "MB01", "ActivateOnServer", "EX10-MB02", "Confirm", false)),
		})},
		{name: "suspend-resume-remove", on: "EX10-CAHT", steps: steps(walkthroughSetup(), []step{
			run(cmd("Suspend-MailboxDatabaseCopy", "Identity", `MB02\EX10-MB01`, "ActivationOnly", true, "Confirm", false)),
			pipe(copyCols, cmd("Get-MailboxDatabaseCopyStatus", "", `MB02\EX10-MB01`)),
			run(cmd("Resume-MailboxDatabaseCopy", "Identity", `mb02\ex10-mb01`, "Confirm", false)),
			pipe(copyCols, cmd("Get-MailboxDatabaseCopyStatus", "", `MB02\EX10-MB01`)),
			run(cmd("Remove-MailboxDatabaseCopy", "Identity", `MB02\EX10-MB01`, "Confirm", false)),
			pipe(databaseCols, cmd("Get-MailboxDatabase", "", "MB02")),
			run(cmd("Remove-MailboxDatabaseCopy", "Identity", `MB01\EX10-MB02`, "Confirm", false)),
			run(cmd("Remove-DatabaseAvailabilityGroupServer", "Identity", "E14-DAG", "MailboxServer", "EX10-MB02", "Confirm", false)),
			run(cmd("Remove-DatabaseAvailabilityGroupServer", "Identity", "E14-DAG", "MailboxServer", "EX10-MB01", "Confirm", false)),
			run(cmd("Remove-DatabaseAvailabilityGroup", "Identity", "E14-DAG", "Confirm", false)),
			pipe([]string{"Count"}, cmd("Get-DatabaseAvailabilityGroup"), cmd("Measure-Object")),
		})},
		{name: "faults", on: "EX10-CAHT",
			setup: func(t *testing.T, o *Org, clk *clock.Manual) {
				withDAG(t, o)
				withCopies(t, o, clk)
				must(t, o.SetCopyFault("MB01", "EX10-MB02", "Failed", "The log file is damaged."))
				must(t, o.SetQueues("MB02", "EX10-MB01", 14, 3))
				must(t, o.SetNetworkDown("E14-DAG", "DAGNetwork02", true))
				must(t, o.SetWitnessUnreachable("E14-DAG", true))
			},
			steps: []step{
				pipe(copyCols, cmd("Get-MailboxDatabaseCopyStatus", "", "MB01")),
				pipe(copyCols, cmd("Get-MailboxDatabaseCopyStatus", "", "MB02")),
				pipe(dagCols, cmd("Get-DatabaseAvailabilityGroup", "", "E14-DAG", "Status", true)),
				pipe(networkCols, cmd("Get-DatabaseAvailabilityGroupNetwork", "", "E14-DAG")),
				pipe(healthCols, cmd("Test-ReplicationHealth", "", "EX10-MB01")),
				pipe(healthCols, cmd("Test-ReplicationHealth", "", "EX10-MB02")),
			}},
		{name: "member-down", on: "EX10-CAHT",
			setup: func(t *testing.T, o *Org, clk *clock.Manual) {
				withDAG(t, o)
				withCopies(t, o, clk)
				must(t, o.SetMemberDown("E14-DAG", "EX10-MB01", true))
			},
			steps: []step{
				pipe(dagCols, cmd("Get-DatabaseAvailabilityGroup", "", "E14-DAG", "Status", true)),
				pipe(networkCols, cmd("Get-DatabaseAvailabilityGroupNetwork", "", "E14-DAG")),
				pipe(copyCols, cmd("Get-MailboxDatabaseCopyStatus", "", "MB01")),
				pipe(healthCols, cmd("Test-ReplicationHealth", "", "EX10-MB01")),
				run(cmd("Move-ActiveMailboxDatabase", "", "MB02", "ActivateOnServer", "EX10-MB01", "SkipHealthChecks", true, "Confirm", false)),
			}},
		{name: "refused-dag-name", on: "EX10-CAHT", steps: []step{run(cmd("New-DatabaseAvailabilityGroup", "Name", "E14-DAG-TOO-LONG", "WitnessServer", "EX10-CAHT", "WitnessDirectory", `C:\FSW`))}},
		{name: "refused-join-cas", on: "EX10-CAHT", steps: []step{
			run(cmd("New-DatabaseAvailabilityGroup", "Name", "E14-DAG", "WitnessServer", "EX10-CAHT02", "WitnessDirectory", `C:\FSW`)),
			run(cmd("Add-DatabaseAvailabilityGroupServer", "Identity", "E14-DAG", "MailboxServer", "EX10-CAHT")),
		}},
		{name: "refused-copy-outside-dag", on: "EX10-CAHT", steps: []step{run(cmd("Add-MailboxDatabaseCopy", "Identity", "MB01", "MailboxServer", "EX10-MB02"))}},
		{name: "refused-unknown-database", on: "EX10-CAHT", steps: []step{run(cmd("Get-MailboxDatabaseCopyStatus", "", "MB07"))}},
		{name: "refused-duplicate-database", on: "EX10-CAHT", steps: []step{run(cmd("New-MailboxDatabase", "Name", "MB01", "Server", "EX10-MB02"))}},
		{name: "refused-bad-dial", on: "EX10-CAHT", steps: steps(walkthroughSetup(), []step{
			run(cmd("Move-ActiveMailboxDatabase", "", "MB01", "ActivateOnServer", "EX10-MB02", "MountDialOverride", "Sometimes")),
		})},
		{name: "refused-health-outside-dag", on: "EX10-MB01", steps: []step{run(cmd("Test-ReplicationHealth"))}},
		{name: "refused-unknown-parameter", on: "EX10-CAHT", steps: []step{run(cmd("Get-MailboxDatabase", "Colour", "blue"))}},
		{name: "refused-missing-mandatory", on: "EX10-CAHT", steps: []step{run(cmd("New-DatabaseAvailabilityGroup", "WitnessServer", "EX10-CAHT"))}},
		{name: "error-action-stop", on: "EX10-CAHT", steps: []step{run(cmd("Get-DatabaseAvailabilityGroup", "", "NOPE", "ErrorAction", "Stop"))}},
		{name: "non-terminating-error", on: "EX10-CAHT", steps: []step{
			pipe([]string{"Name"}, cmd("Get-MailboxDatabase", "", "NOPE", "ErrorAction", "SilentlyContinue")),
			pipe([]string{"Name"}, cmd("Get-DatabaseAvailabilityGroup", "", "NOPE")),
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, clk := newTestOrg(t)
			if c.setup != nil {
				c.setup(t, o, clk)
			}
			golden(t, "session-"+c.name, runSession(t, o, clk, c.on, c.steps))
		})
	}
}

var _ psrp.Output = (*recorder)(nil)

// TestEveryExchangeCmdlet drives every Exchange cmdlet of the walkthrough and the
// day-two operations in one session, refusals included, going on after each error.
func TestEveryExchangeCmdlet(t *testing.T) {
	o, clk := newTestOrg(t)
	name := []string{"Name"}
	s := []step{
		pipe(name, cmd("Get-ClientAccessServer")),
		pipe([]string{"Name", "Fqdn", "Site"}, cmd("New-ClientAccessArray", "Name", "CAS Array", "Fqdn", "client.msglab.local", "Site", "Default-First-Site-Name")),
		run(cmd("New-ClientAccessArray", "Name", "Second", "Fqdn", "client.msglab.local", "Site", "Default-First-Site-Name")),
		run(cmd("Set-ClientAccessArray", "Identity", "CAS Array", "Fqdn", "ex10-caht02.msglab.local")),
		run(cmd("Remove-ClientAccessArray", "Identity", "CAS Array", "Confirm", false)),
		pipe([]string{"Count"}, cmd("Get-ClientAccessArray"), cmd("Measure-Object")),
		pipe([]string{"Name", "HubSiteEnabled"}, cmd("Get-ADSite")),
		pipe([]string{"Id", "Type"}, cmd("Test-OutlookWebServices")),
		pipe([]string{"Name", "Server"}, cmd("New-MailboxDatabase", "Name", "MB03", "Server", "EX10-MB01")),
		run(cmd("New-MailboxDatabase", "Name", "MB03", "Server", "EX10-MB02")),
		pipe(name, cmd("New-DatabaseAvailabilityGroup", "Name", "E14-DAG", "WitnessServer", "EX10-CAHT", "WitnessDirectory", `C:\FSW`, "DatabaseAvailabilityGroupIPAddresses", []any{"10.0.0.50"})),
		run(cmd("New-DatabaseAvailabilityGroup", "Name", "E14-DAG-WITH-A-LONG-NAME", "WitnessServer", "EX10-CAHT", "WitnessDirectory", `C:\FSW`)),
		run(cmd("Set-DatabaseAvailabilityGroup", "Identity", "E14-DAG", "WitnessDirectory", `C:\DAGFSW`)),
		run(cmd("Add-DatabaseAvailabilityGroupServer", "Identity", "E14-DAG", "MailboxServer", "EX10-CAHT")),
		run(cmd("Add-DatabaseAvailabilityGroupServer", "Identity", "E14-DAG", "MailboxServer", "EX10-MB01")),
		run(cmd("Add-DatabaseAvailabilityGroupServer", "Identity", "E14-DAG", "MailboxServer", "EX10-MB02")),
		pipe([]string{"Name", "DatabaseAvailabilityGroup"}, cmd("Get-MailboxServer")),
		run(cmd("Set-MailboxDatabase", "Identity", "MB02", "CircularLoggingEnabled", true)),
		run(cmd("Add-MailboxDatabaseCopy", "Identity", "MB02", "MailboxServer", "EX10-MB01")),
		run(cmd("Set-MailboxDatabase", "Identity", "MB02", "CircularLoggingEnabled", false)),
		run(cmd("Add-MailboxDatabaseCopy", "Identity", "MB01", "MailboxServer", "EX10-MB02", "ActivationPreference", 2)),
		run(cmd("Add-MailboxDatabaseCopy", "Identity", "MB01", "MailboxServer", "EX10-MB02")),
		pipe([]string{"Name", "Status"}, cmd("Get-MailboxDatabaseCopyStatus", "Identity", "MB01")),
		pipe([]string{"Identity", "Status"}, cmd("Move-ActiveMailboxDatabase", "", "MB01", "ActivateOnServer", "EX10-MB02", "Confirm", false)),
		pipe([]string{"Identity", "Status"}, cmd("Move-ActiveMailboxDatabase", "", "MB01", "ActivateOnServer", "EX10-MB01", "Confirm", false)),
		wait(20 * time.Second),
		pipe([]string{"Identity", "Status"}, cmd("Move-ActiveMailboxDatabase", "", "MB01", "ActivateOnServer", "EX10-MB01", "Confirm", false)),
		wait(20 * time.Second),
		run(cmd("Suspend-MailboxDatabaseCopy", "Identity", `MB01\EX10-MB02`, "SuspendComment", "maintenance", "Confirm", false)),
		pipe([]string{"Name", "Status", "SuspendComment"}, cmd("Get-MailboxDatabaseCopyStatus", "Identity", `MB01\EX10-MB02`)),
		run(cmd("Update-MailboxDatabaseCopy", "Identity", `MB01\EX10-MB02`, "DeleteExistingFiles", true, "Confirm", false)),
		pipe([]string{"Name", "Status"}, cmd("Get-MailboxDatabaseCopyStatus", "Identity", `MB01\EX10-MB02`)),
		run(cmd("Resume-MailboxDatabaseCopy", "Identity", `MB01\EX10-MB02`, "Confirm", false)),
		run(cmd("Remove-MailboxDatabaseCopy", "Identity", `MB01\EX10-MB02`, "Confirm", false)),
		run(cmd("Move-ActiveMailboxDatabase", "", "MB01", "ActivateOnServer", "EX10-MB02", "Confirm", false)),
		pipe(name, cmd("Get-DatabaseAvailabilityGroupNetwork", "Identity", "E14-DAG")),
		pipe([]string{"Check", "Result"}, cmd("Test-ReplicationHealth", "Identity", "EX10-MB01")),
		run(cmd("Remove-DatabaseAvailabilityGroupServer", "Identity", "E14-DAG", "MailboxServer", "EX10-MB02", "Confirm", false)),
		pipe([]string{"Servers"}, cmd("Get-DatabaseAvailabilityGroup", "Identity", "E14-DAG", "Status", true)),
		run(cmd("Remove-DatabaseAvailabilityGroup", "Identity", "E14-DAG", "Confirm", false)),
		run(cmd("Mount-Database", "Identity", "MB03")),
		pipe([]string{"Name", "Mounted"}, cmd("Get-MailboxDatabase", "Identity", "MB03", "Status", true)),
		pipe([]string{"Name", "ServerRole"}, cmd("Get-ExchangeServer")),
	}
	golden(t, "every-exchange-cmdlet", runSessionMode(t, o, clk, "EX10-CAHT", s, false))
}
