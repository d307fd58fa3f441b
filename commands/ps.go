package commands

import (
	"strings"
)

// script builds one PowerShell 2.0 script for WinRS in the shape docs/POWERSHELL.md
// fixes: $ErrorActionPreference, one try block, sections of CSV, and a catch that
// writes the message to stderr and exits 1. Values from chat must reach add/section
// only through Quote. A script never loads Exchange: inside a WinRS shell that is a
// second hop (RemoteExchange.ps1 and Connect-ExchangeServer authenticate to the
// local Exchange endpoint with credentials the shell does not hold), so Exchange
// cmdlets travel as Calls to the Exchange endpoint instead.
type script struct {
	b strings.Builder
}

const indent = "    "

func newScript() *script {
	s := &script{}
	s.b.WriteString("$ErrorActionPreference = 'Stop'\ntry {\n")
	return s
}

// add appends lines to the try block, indented one level more than the block.
func (s *script) add(lines ...string) {
	for _, l := range lines {
		for _, part := range strings.Split(l, "\n") {
			s.b.WriteString(indent + part + "\n")
		}
	}
}

// header prints the section marker the runner splits output on.
func (s *script) header(name string) {
	s.add("'exchops:section " + name + "'")
}

// section prints a section marker and then source's objects as CSV with the columns
// cols (see columns for the notation).
func (s *script) section(name, source string, cols ...string) {
	s.header(name)
	s.add(source + " | " + selectCSV(cols...))
}

// selectCSV is the Select-Object with calculated properties plus ConvertTo-Csv that
// ends every table. Column notation: "Name" is [string]$_.Name, "#Name" is [int],
// "*Name" joins a multi-valued property with ';' after casting each element to
// string, "@Name" is a date as UTC ISO 8601 (empty when unset), and "Name={expr}" is
// a computed column (never from chat).
func selectCSV(cols ...string) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = column(c)
	}
	return "Select-Object " + strings.Join(parts, ", ") + " | ConvertTo-Csv -NoTypeInformation"
}

func column(c string) string {
	var name, expr string
	switch {
	case strings.Contains(c, "={"):
		i := strings.Index(c, "={")
		name, expr = c[:i], strings.TrimSuffix(c[i+2:], "}")
	case strings.HasPrefix(c, "#"):
		name = c[1:]
		expr = "[int]$_." + name
	case strings.HasPrefix(c, "*"):
		name = c[1:]
		expr = "($_." + name + " | ForEach-Object { [string]$_ }) -join ';'"
	case strings.HasPrefix(c, "@"):
		name = c[1:]
		expr = "if ($_." + name + ") { $_." + name + ".ToUniversalTime().ToString('o') } else { '' }"
	default:
		name = c
		expr = "[string]$_." + name
	}
	return "@{Name='" + name + "';Expression={" + expr + "}}"
}

// String closes the try block with the standard catch.
func (s *script) String() string {
	return s.b.String() + "} catch {\n" + indent + "[Console]::Error.WriteLine($_.Exception.Message)\n" + indent + "exit 1\n}\n"
}

// Column sets shared by several commands, so the same table has the same columns
// wherever it appears (Call.Columns for Exchange reads, selectCSV for WinRS scripts).
var (
	colsDAGs = []string{"Name", "*Servers", "WitnessServer", "WitnessDirectory", "*DatabaseAvailabilityGroupIpv4Addresses"}
	colsDAG  = []string{"Name", "*Servers", "*OperationalServers", "PrimaryActiveManager", "WitnessServer",
		"WitnessDirectory", "WitnessShareInUse", "*DatabaseAvailabilityGroupIpv4Addresses"}
	colsServers   = []string{"Name", "Fqdn", "ServerRole", "Site", "AdminDisplayVersion"}
	colsDatabases = []string{"Name", "Server", "MasterServerOrAvailabilityGroup", "*Servers", "*ActivationPreference",
		"CircularLoggingEnabled", "RpcClientAccessServer"}
	colsCopyStatus = []string{"Name", "DatabaseName", "MailboxServer", "Status", "ActiveCopy", "ActivationSuspended",
		"#CopyQueueLength", "#ReplayQueueLength", "@LastInspectedLogTime", "ContentIndexState", "ErrorMessage"}
	colsCASArrays = []string{"Name", "Fqdn", "Site", "*Members"}
	colsNetworks  = []string{"Name", "*Subnets", "*Interfaces", "MapiAccessEnabled", "ReplicationEnabled"}
	// Result is the console's text (localised, "*FAILED*"); Result.Value decides.
	colsHealth = []string{"Server", "Check", "CheckDescription", "Result", "Result.Value", "Error"}
	colsNLB    = []string{"Name", "IPAddress", "SubnetMask", "Mode"}
	// Test-ServiceHealth: one row per server role.
	colsServiceHealth = []string{"Role", "RequiredServicesRunning", "*ServicesNotRunning"}
	// Get-MailboxDatabase -Status and Get-PublicFolderDatabase -Status: Mounted is
	// $null without -Status, True or False with it.
	colsMounted       = []string{"Name", "Server", "MasterServerOrAvailabilityGroup", "Mounted", "MountedOnServer", "Recovery"}
	colsPublicFolders = []string{"Name", "Server", "Mounted"}
	// Get-Queue: MessageCount of every queue; shadow redundancy queues are left out in
	// exchops by their DeliveryType.
	colsQueues = []string{"Identity", "DeliveryType", "Status", "#MessageCount", "NextHopDomain", "LastError"}
	// Test-MapiConnectivity: Result is the console's text, Result.Value its enum member
	// (Success, Failure), as for Test-ReplicationHealth.
	colsMAPI = []string{"MailboxServer", "Database", "Result", "Result.Value", "Error"}
	// Get-NlbClusterNode's properties: its table view labels InterfaceName "Interface"
	// and HostPriority "HostID", names no object carries.
	colsNLBNodes = []string{"Name", "State", "InterfaceName", "#HostPriority"}
	// Get-NlbClusterPortRule's properties, not its table view's labels (IPAddress,
	// Start, End, Mode, State). VirtualIPAddress 255.255.255.255 is "All".
	colsNLBRules = []string{"VirtualIPAddress", "#StartPort", "#EndPort", "Protocol", "FilteringMode", "Affinity", "#Timeout"}
)

// waitRow prints the wait section from three PowerShell expressions.
func (s *script) waitRow(done, failed, detail string) {
	s.header(WaitSection)
	s.add("'' | " + selectCSV("Done={[string]("+done+")}", "Failed={[string]("+failed+")}", "Detail={[string]("+detail+")}"))
}

// nlbProbe loads the NLB module if the feature is installed and records whether it
// could; scripts on a host that may not have NLB yet read NLB state only when it did.
func (s *script) nlbProbe() {
	s.add("$nlbModule = 'Loaded'",
		"try {",
		indent+"Import-Module NetworkLoadBalancingClusters",
		"} catch {",
		indent+"$nlbModule = 'Unavailable'",
		"}")
	s.header("nlbprobe")
	s.add("'' | " + selectCSV("Module={$nlbModule}"))
	// A host with the feature but no cluster answers Get-NlbCluster with an error:
	// that is "no cluster here", not a failed preflight.
	s.add("$nlbLocal = @()",
		"if ($nlbModule -eq 'Loaded') {",
		indent+"try {",
		indent+indent+"$nlbLocal = @(Get-NlbCluster)",
		indent+"} catch {",
		indent+indent+"$nlbLocal = @()",
		indent+"}",
		"}")
	s.section("nlb", "$nlbLocal", colsNLB...)
}
