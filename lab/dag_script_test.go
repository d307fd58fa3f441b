package lab

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/lab/ps"
)

// runScript runs a PowerShell script in a session with the DAG cmdlets of server on,
// as the Exchange Management Shell on that server would, and renders exit code,
// stdout and stderr for a golden file.
//
// Cmdlets that take time (and Start-Sleep) wait on the manual clock; while the script
// runs, this drives the clock one second at a time whenever something waits on it,
// so every wait ends exactly at its deadline and the output is deterministic.
func runScript(t *testing.T, o *Org, clk *clock.Manual, on, script string) string {
	t.Helper()
	var stdout, stderr strings.Builder
	srv := locked(o, func() *Server { return o.server(on) })
	if srv == nil {
		t.Fatalf("no server %s", on)
	}
	sess := ps.NewSession(ps.Config{
		Stdout: &stdout, Stderr: &stderr,
		Commands: o.dagCmdlets(srv),
		Now:      clk.Now,
		Sleep:    clk.Sleep,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- sess.Run(ctx, script) }()
	start := clk.Now()
	for {
		wctx, stop := context.WithCancel(ctx)
		waited := make(chan error, 1)
		go func() { waited <- clk.WaitForSleepers(wctx, 1) }()
		select {
		case code := <-done:
			stop()
			<-waited
			return fmt.Sprintf("exit: %d\nclock: +%s\n--- stdout ---\n%s--- stderr ---\n%s",
				code, clk.Now().Sub(start), normalize(stdout.String()), normalize(stderr.String()))
		case err := <-waited:
			stop()
			if err != nil {
				t.Fatalf("script did not finish: %v", err)
			}
			clk.Advance(time.Second)
		}
	}
}

func normalize(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

// csv pipes a command's output through the shape docs/POWERSHELL.md prescribes.
const copyStatusCSV = `Select-Object @{Name='Name';Expression={[string]$_.Name}}, @{Name='Status';Expression={[string]$_.Status}}, ` +
	`@{Name='ActiveCopy';Expression={[string]$_.ActiveCopy}}, @{Name='CopyQueueLength';Expression={[int]$_.CopyQueueLength}}, ` +
	`@{Name='ReplayQueueLength';Expression={[int]$_.ReplayQueueLength}}, @{Name='ActivationSuspended';Expression={[string]$_.ActivationSuspended}}, ` +
	`@{Name='ContentIndexState';Expression={[string]$_.ContentIndexState}}, @{Name='ActiveDatabaseCopy';Expression={[string]$_.ActiveDatabaseCopy}}, ` +
	`@{Name='ErrorMessage';Expression={[string]$_.ErrorMessage}} | ConvertTo-Csv -NoTypeInformation`

const healthCSV = `Select-Object Server, Check, Result, Error | ConvertTo-Csv -NoTypeInformation`

const dagCSV = `Select-Object Name, @{Name='Servers';Expression={($_.Servers | ForEach-Object { [string]$_ }) -join ';'}}, ` +
	`WitnessServer, WitnessDirectory, @{Name='IPs';Expression={($_.DatabaseAvailabilityGroupIpAddresses | ForEach-Object { [string]$_ }) -join ';'}}, ` +
	`@{Name='OperationalServers';Expression={($_.OperationalServers | ForEach-Object { [string]$_ }) -join ';'}}, ` +
	`@{Name='PrimaryActiveManager';Expression={[string]$_.PrimaryActiveManager}}, @{Name='WitnessShareInUse';Expression={[string]$_.WitnessShareInUse}} | ConvertTo-Csv -NoTypeInformation`

const networkCSV = `Select-Object Name, @{Name='Subnets';Expression={($_.Subnets | ForEach-Object { [string]$_ }) -join ';'}}, ` +
	`@{Name='Interfaces';Expression={($_.Interfaces | ForEach-Object { $_.NodeName + ' ' + $_.Interface + ' ' + $_.IpAddress + ' ' + $_.State }) -join ';'}}, ` +
	`MapiAccessEnabled, ReplicationEnabled | ConvertTo-Csv -NoTypeInformation`

const databaseCSV = `Select-Object Name, Server, @{Name='Servers';Expression={($_.Servers | ForEach-Object { [string]$_ }) -join ';'}}, ` +
	`@{Name='ActivationPreference';Expression={($_.ActivationPreference | ForEach-Object { [string]$_ }) -join ';'}}, ` +
	`RpcClientAccessServer, CircularLoggingEnabled, MasterServerOrAvailabilityGroup, @{Name='Mounted';Expression={[string]$_.Mounted}}, EdbFilePath | ConvertTo-Csv -NoTypeInformation`

// catchAll is the runner's wrapper (docs/POWERSHELL.md): the error text on stderr, exit 1.
func catchAll(body string) string {
	return "$ErrorActionPreference = 'Stop'\ntry {\n" + body + "\n} catch {\n    [Console]::Error.WriteLine($_.Exception.Message)\n    exit 1\n}\n"
}

func TestScripts(t *testing.T) {
	walkthroughSetup := `
New-DatabaseAvailabilityGroup -Name E14-DAG -WitnessServer EX10-CAHT -WitnessDirectory "C:\FSW" -DatabaseAvailabilityGroupIPAddresses 10.0.0.50 | Out-Null
Add-DatabaseAvailabilityGroupServer -Identity E14-DAG -MailboxServer EX10-MB01
Add-DatabaseAvailabilityGroupServer -Identity E14-DAG -MailboxServer EX10-MB02
Add-MailboxDatabaseCopy -Identity MB01 -MailboxServer EX10-MB02
Add-MailboxDatabaseCopy -Identity MB02 -MailboxServer EX10-MB01
Start-Sleep -Seconds 90
`
	cases := []struct {
		name   string
		on     string
		setup  func(t *testing.T, o *Org, clk *clock.Manual)
		script string
	}{
		{
			name: "walkthrough", on: "EX10-CAHT",
			script: catchAll(`
'exchops:section before'
Get-DatabaseAvailabilityGroup | ` + dagCSV + `
New-DatabaseAvailabilityGroup -Name E14-DAG -WitnessServer EX10-CAHT -WitnessDirectory "C:\FSW" -DatabaseAvailabilityGroupIPAddresses 10.0.0.50 | ` + dagCSV + `
Add-DatabaseAvailabilityGroupServer -Identity E14-DAG -MailboxServer EX10-MB01 -Verbose
Add-DatabaseAvailabilityGroupServer -Identity E14-DAG -MailboxServer EX10-MB02 -Verbose
'exchops:section dag'
Get-DatabaseAvailabilityGroup -Identity E14-DAG | ` + dagCSV + `
'exchops:section dagstatus'
Get-DatabaseAvailabilityGroup -Identity E14-DAG -Status | ` + dagCSV + `
'exchops:section networks'
Get-DatabaseAvailabilityGroupNetwork -Identity E14-DAG | ` + networkCSV + `
Add-MailboxDatabaseCopy -Identity MB01 -MailboxServer EX10-MB02
Add-MailboxDatabaseCopy -Identity MB02 -MailboxServer EX10-MB01
'exchops:section seeding'
Get-MailboxDatabaseCopyStatus -Server EX10-MB02 | ` + copyStatusCSV + `
Start-Sleep -Seconds 90
'exchops:section copystatus'
Get-MailboxDatabaseCopyStatus MB01 | ` + copyStatusCSV + `
Get-MailboxDatabaseCopyStatus 'MB02\EX10-MB01' | ` + copyStatusCSV + `
'exchops:section databases'
Get-MailboxDatabase -Status | ` + databaseCSV + `
'exchops:section health'
Test-ReplicationHealth -Identity EX10-MB01 | ` + healthCSV + `
Test-ReplicationHealth EX10-MB02 | ` + healthCSV),
		},
		{
			name: "local-copy-status", on: "EX10-MB02",
			script: catchAll(walkthroughSetup + `
Get-MailboxDatabaseCopyStatus | ` + copyStatusCSV + `
Test-ReplicationHealth | Select-Object Server -First 1 | ConvertTo-Csv -NoTypeInformation`),
		},
		{
			name: "servers-and-databases", on: "EX10-CAHT",
			script: catchAll(`
Get-ExchangeServer | Select-Object Name, Fqdn, ServerRole, AdminDisplayVersion, Site | ConvertTo-Csv -NoTypeInformation
Get-MailboxServer | Select-Object Name, @{Name='DAG';Expression={[string]$_.DatabaseAvailabilityGroup}} | ConvertTo-Csv -NoTypeInformation
Get-MailboxDatabase | ` + databaseCSV + `
Get-MailboxDatabase | Set-MailboxDatabase -RpcClientAccessServer "Client.msglab.local"
Set-MailboxDatabase MB02 -CircularLoggingEnabled $true
New-MailboxDatabase -Name MB03 -Server EX10-MB01 | Out-Null
Get-MailboxDatabase MB03 -Status | ` + databaseCSV + `
Mount-Database MB03
Get-MailboxDatabase -Server EX10-MB01 -Status | ` + databaseCSV),
		},
		{
			name: "switchover", on: "EX10-CAHT",
			script: catchAll(walkthroughSetup + `
Move-ActiveMailboxDatabase MB01 -ActivateOnServer EX10-MB02 -MoveComment 'drill' -Confirm:$false | Select-Object Identity, ActiveServerAtStart, ActiveServerAtEnd, Status, MountStatusAtMoveEnd, ErrorMessage | ConvertTo-Csv -NoTypeInformation
'exchops:section after-move'
Get-MailboxDatabaseCopyStatus MB01 | ` + copyStatusCSV + `
Test-ReplicationHealth EX10-MB01 | Where-Object { $_.Result -ne 'Passed' } | ` + healthCSV + `
Start-Sleep -Seconds 20
'exchops:section after-initialize'
Get-MailboxDatabaseCopyStatus MB01 | ` + copyStatusCSV + `
Get-MailboxDatabase MB01 | ` + databaseCSV),
		},
		{
			name: "switchover-refused", on: "EX10-CAHT",
			setup: func(t *testing.T, o *Org, clk *clock.Manual) {},
			script: catchAll(walkthroughSetup + `
Suspend-MailboxDatabaseCopy 'MB01\EX10-MB02' -SuspendComment 'patching' -Confirm:$false
Get-MailboxDatabaseCopyStatus 'MB01\EX10-MB02' | Select-Object Name, Status, SuspendComment | ConvertTo-Csv -NoTypeInformation
Move-ActiveMailboxDatabase MB01 -ActivateOnServer EX10-MB02 -Confirm:$false`),
		},
		{
			name: "suspend-resume-remove", on: "EX10-CAHT",
			script: catchAll(walkthroughSetup + `
Suspend-MailboxDatabaseCopy -Identity 'MB02\EX10-MB01' -ActivationOnly -Confirm:$false
Get-MailboxDatabaseCopyStatus 'MB02\EX10-MB01' | ` + copyStatusCSV + `
Resume-MailboxDatabaseCopy -Identity 'mb02\ex10-mb01' -Confirm:$false
Get-MailboxDatabaseCopyStatus 'MB02\EX10-MB01' | ` + copyStatusCSV + `
Remove-MailboxDatabaseCopy -Identity 'MB02\EX10-MB01' -Confirm:$false
Get-MailboxDatabase MB02 | ` + databaseCSV + `
Remove-MailboxDatabaseCopy -Identity 'MB01\EX10-MB02' -Confirm:$false
Remove-DatabaseAvailabilityGroupServer -Identity E14-DAG -MailboxServer EX10-MB02 -Confirm:$false
Remove-DatabaseAvailabilityGroupServer -Identity E14-DAG -MailboxServer EX10-MB01 -Confirm:$false
Remove-DatabaseAvailabilityGroup -Identity E14-DAG -Confirm:$false
@(Get-DatabaseAvailabilityGroup).Count`),
		},
		{
			name: "faults", on: "EX10-CAHT",
			setup: func(t *testing.T, o *Org, clk *clock.Manual) {
				withDAG(t, o)
				withCopies(t, o, clk)
				must(t, o.SetCopyFault("MB01", "EX10-MB02", "Failed", "The log file is damaged."))
				must(t, o.SetQueues("MB02", "EX10-MB01", 14, 3))
				must(t, o.SetNetworkDown("E14-DAG", "DAGNetwork02", true))
				must(t, o.SetWitnessUnreachable("E14-DAG", true))
			},
			script: catchAll(`
Get-MailboxDatabaseCopyStatus MB01 | ` + copyStatusCSV + `
Get-MailboxDatabaseCopyStatus MB02 | ` + copyStatusCSV + `
Get-DatabaseAvailabilityGroup E14-DAG -Status | ` + dagCSV + `
Get-DatabaseAvailabilityGroupNetwork E14-DAG | ` + networkCSV + `
Test-ReplicationHealth EX10-MB01 | ` + healthCSV + `
Test-ReplicationHealth EX10-MB02 | ` + healthCSV),
		},
		{
			name: "member-down", on: "EX10-CAHT",
			setup: func(t *testing.T, o *Org, clk *clock.Manual) {
				withDAG(t, o)
				withCopies(t, o, clk)
				must(t, o.SetMemberDown("E14-DAG", "EX10-MB01", true))
			},
			script: catchAll(`
Get-DatabaseAvailabilityGroup E14-DAG -Status | ` + dagCSV + `
Get-DatabaseAvailabilityGroupNetwork E14-DAG | ` + networkCSV + `
Get-MailboxDatabaseCopyStatus MB01 | ` + copyStatusCSV + `
Test-ReplicationHealth EX10-MB01 | ` + healthCSV + `
Move-ActiveMailboxDatabase MB02 -ActivateOnServer EX10-MB01 -SkipHealthChecks -Confirm:$false`),
		},
		{name: "refused-dag-name", on: "EX10-CAHT", script: catchAll(`New-DatabaseAvailabilityGroup -Name E14-DAG-TOO-LONG -WitnessServer EX10-CAHT -WitnessDirectory C:\FSW`)},
		{name: "refused-join-cas", on: "EX10-CAHT", script: catchAll(`New-DatabaseAvailabilityGroup -Name E14-DAG -WitnessServer EX10-CAHT02 -WitnessDirectory C:\FSW | Out-Null
Add-DatabaseAvailabilityGroupServer -Identity E14-DAG -MailboxServer EX10-CAHT`)},
		{name: "refused-copy-outside-dag", on: "EX10-CAHT", script: catchAll(`Add-MailboxDatabaseCopy -Identity MB01 -MailboxServer EX10-MB02`)},
		{name: "refused-unknown-database", on: "EX10-CAHT", script: catchAll(`Get-MailboxDatabaseCopyStatus MB07`)},
		{name: "refused-duplicate-database", on: "EX10-CAHT", script: catchAll(`New-MailboxDatabase -Name MB01 -Server EX10-MB02`)},
		{name: "refused-bad-dial", on: "EX10-CAHT", script: catchAll(walkthroughSetup + `Move-ActiveMailboxDatabase MB01 -ActivateOnServer EX10-MB02 -MountDialOverride Sometimes`)},
		{name: "refused-health-outside-dag", on: "EX10-MB01", script: catchAll(`Test-ReplicationHealth`)},
		{name: "uncaught-error", on: "EX10-CAHT", script: `Get-DatabaseAvailabilityGroup NOPE`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, clk := newTestOrg(t)
			if c.setup != nil {
				c.setup(t, o, clk)
			}
			golden(t, "script-"+c.name, runScript(t, o, clk, c.on, c.script))
		})
	}
}
