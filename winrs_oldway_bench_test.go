package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/runners"
)

// The old way, kept only to be measured beside the Exchange endpoint: before issue 13
// every Exchange read was a PowerShell script run over WinRS that loaded the Exchange
// Management Shell itself (RemoteExchange.ps1, then Connect-ExchangeServer, which opens
// a session to an Exchange endpoint from inside the WinRS shell) and printed its tables
// with Select-Object and ConvertTo-Csv. On a real server that is a Kerberos second hop
// and fails; the lab lets it through only with lab.Options.CredSSP, which only these
// benchmarks set. The scripts below are what the catalog generated then (commit
// e84c413, commands/catalog.go and commands/ps.go), rebuilt here so that the catalog no
// longer has to.

// oldPrologue opens every old Exchange script: stop at the first error, load the
// Exchange Management Shell, connect to the best Exchange server.
const oldPrologue = "$ErrorActionPreference = 'Stop'\ntry {\n" +
	"    . (Join-Path $env:ExchangeInstallPath 'bin\\RemoteExchange.ps1')\n" +
	"    Connect-ExchangeServer -auto\n"

// oldEpilogue closes the try block the way every old script did.
const oldEpilogue = "} catch {\n    [Console]::Error.WriteLine($_.Exception.Message)\n    exit 1\n}\n"

// The column sets of the old scripts (the same notation and columns the typed calls use).
var (
	oldColsDAG = []string{"Name", "*Servers", "*OperationalServers", "PrimaryActiveManager", "WitnessServer",
		"WitnessDirectory", "WitnessShareInUse", "*DatabaseAvailabilityGroupIpv4Addresses"}
	oldColsDatabases = []string{"Name", "Server", "MasterServerOrAvailabilityGroup", "*Servers", "*ActivationPreference",
		"CircularLoggingEnabled", "RpcClientAccessServer"}
	oldColsCopyStatus = []string{"Name", "DatabaseName", "MailboxServer", "Status", "ActiveCopy", "ActivationSuspended",
		"#CopyQueueLength", "#ReplayQueueLength", "@LastInspectedLogTime", "ContentIndexState", "ErrorMessage"}
	oldColsNetworks = []string{"Name", "*Subnets", "*Interfaces", "MapiAccessEnabled", "ReplicationEnabled"}
	oldColsHealth   = []string{"Server", "Check", "CheckDescription", "Result", "Error"}
)

// oldScript accumulates the body of an old script, indented inside its try block.
type oldScript struct{ b strings.Builder }

func newOldScript() *oldScript {
	s := &oldScript{}
	s.b.WriteString(oldPrologue)
	return s
}

func (s *oldScript) add(lines ...string) {
	for _, l := range lines {
		s.b.WriteString("    " + l + "\n")
	}
}

func (s *oldScript) header(name string) { s.add("'exchops:section " + name + "'") }

func (s *oldScript) section(name, source string, cols ...string) {
	s.header(name)
	s.add(source + " | " + oldSelectCSV(cols...))
}

func (s *oldScript) String() string { return s.b.String() + oldEpilogue }

// oldSelectCSV is the Select-Object with calculated properties and the ConvertTo-Csv
// that ended every old table: "#Name" cast to [int], "*Name" a multi-valued property
// joined with ';', "@Name" a date as UTC ISO 8601, anything else [string].
func oldSelectCSV(cols ...string) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		name, expr := c, "[string]$_."+c
		switch {
		case strings.HasPrefix(c, "#"):
			name = c[1:]
			expr = "[int]$_." + name
		case strings.HasPrefix(c, "*"):
			name = c[1:]
			expr = "($_." + name + " | ForEach-Object { [string]$_ }) -join ';'"
		case strings.HasPrefix(c, "@"):
			name = c[1:]
			expr = "if ($_." + name + ") { $_." + name + ".ToUniversalTime().ToString('o') } else { '' }"
		}
		parts[i] = "@{Name='" + name + "';Expression={" + expr + "}}"
	}
	return "Select-Object " + strings.Join(parts, ", ") + " | ConvertTo-Csv -NoTypeInformation"
}

// oldCopyStatusScript is `copy status` (every database) as the catalog generated it.
func oldCopyStatusScript() string {
	s := newOldScript()
	s.add("$dbs = @(Get-MailboxDatabase)")
	s.section("databases", "$dbs", oldColsDatabases...)
	s.section("copystatus", "$dbs | Get-MailboxDatabaseCopyStatus", oldColsCopyStatus...)
	return s.String()
}

// oldMemberScript is a health report's read on one member: whether it is in dag
// ("" for any DAG), its Test-ReplicationHealth and the copies it holds.
func oldMemberScript(srv, dag string) string {
	s := newOldScript()
	s.add("$dag = [string](Get-MailboxServer -Identity " + commands.Quote(srv) + ").DatabaseAvailabilityGroup")
	cond := "$dag -ne ''"
	if dag != "" {
		cond = "$dag -eq " + commands.Quote(dag)
	}
	s.header("replicationhealth")
	s.add("if ("+cond+") {", "    Test-ReplicationHealth -Identity "+commands.Quote(srv)+" | "+oldSelectCSV(oldColsHealth...), "}")
	s.header("copystatus")
	s.add("if ("+cond+") {", "    Get-MailboxDatabaseCopyStatus -Server "+commands.Quote(srv)+" | "+oldSelectCSV(oldColsCopyStatus...), "}")
	return s.String()
}

// oldDAGScript is a health report's read of the DAG on the management server.
func oldDAGScript(dag string) string {
	s := newOldScript()
	s.section("dag", "Get-DatabaseAvailabilityGroup -Identity "+commands.Quote(dag)+" -Status", oldColsDAG...)
	s.section("networks", "Get-DatabaseAvailabilityGroupNetwork -Identity "+commands.Quote(dag), oldColsNetworks...)
	s.add("$dbs = @(Get-MailboxDatabase | Where-Object { ([string]$_.MasterServerOrAvailabilityGroup) -eq " + commands.Quote(dag) + " })")
	s.section("databases", "$dbs", append(append([]string(nil), oldColsDatabases...), "*ReplayLagTimes")...)
	return s.String()
}

// oldWayRunner runs a health report's steps the old way: each typed step is replaced by
// the WinRS script the catalog generated for it before issue 13, so that
// schedules.Collect itself (its concurrency, its report) is what is measured.
type oldWayRunner struct{ *runners.WinRM }

func (r oldWayRunner) RunStep(ctx context.Context, step commands.Step, _ func(string)) (*runners.Result, error) {
	script, err := oldScriptFor(step)
	if err != nil {
		return nil, err
	}
	res, err := r.Run(ctx, step.Target, script)
	if res != nil {
		// The old scripts printed Result as text; on the lab's English servers a
		// pass reads Passed, which is the value the report judges by now.
		for _, sec := range res.Sections {
			if sec.Name == "replicationhealth" {
				for _, row := range sec.Rows {
					row[commands.HealthResult] = row["Result"]
				}
			}
		}
	}
	return res, err
}

// oldScriptFor recognises the two kinds of step a health report has (a member's
// checks, the DAG's read) by their first cmdlet, and rebuilds the old script of each.
func oldScriptFor(step commands.Step) (string, error) {
	if len(step.Calls) == 0 {
		return "", fmt.Errorf("old way: step %q on %s has no Exchange calls", step.Purpose, step.Target)
	}
	first := step.Calls[0].Pipeline[0]
	identity := ""
	for _, p := range first.Params {
		if p.Name == "Identity" {
			identity = p.Value
		}
	}
	switch first.Name {
	case "Get-MailboxServer":
		dag := ""
		if len(step.Calls) > 1 && step.Calls[1].When != nil && !step.Calls[1].When.NotEmpty {
			dag = step.Calls[1].When.Value
		}
		return oldMemberScript(identity, dag), nil
	case "Get-DatabaseAvailabilityGroup":
		return oldDAGScript(identity), nil
	}
	return "", fmt.Errorf("old way: no old script for step %q on %s (it starts with %s)", step.Purpose, step.Target, first.Name)
}

// oldNaiveReads is the health report the naive old way: one WinRS invocation per
// cmdlet per server, one after the other, each loading the Exchange shell.
func oldNaiveReads(dag string, members []string, mgmt string) []commands.Step {
	one := func(server, section, source string, cols ...string) commands.Step {
		s := newOldScript()
		s.section(section, source, cols...)
		return commands.Step{Target: server, Script: s.String(), Purpose: section + " on " + server}
	}
	var out []commands.Step
	for _, m := range members {
		q := commands.Quote(m)
		out = append(out,
			one(m, "mailboxserver", "Get-MailboxServer -Identity "+q, "Name", "DatabaseAvailabilityGroup"),
			one(m, "replicationhealth", "Test-ReplicationHealth -Identity "+q, oldColsHealth...),
			one(m, "copystatus", "Get-MailboxDatabaseCopyStatus -Server "+q, oldColsCopyStatus...),
		)
	}
	q := commands.Quote(dag)
	return append(out,
		one(mgmt, "dag", "Get-DatabaseAvailabilityGroup -Identity "+q+" -Status", oldColsDAG...),
		one(mgmt, "networks", "Get-DatabaseAvailabilityGroupNetwork -Identity "+q, oldColsNetworks...),
		one(mgmt, "databases", "Get-MailboxDatabase", oldColsDatabases...),
	)
}
