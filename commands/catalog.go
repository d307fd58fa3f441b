package commands

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Thresholds from EXCHANGE.md and the walkthrough's best practices.
const (
	maxDAGMembers = 16 // Exchange 2010: at most 16 members, so at most 16 copies
	maxNLBNodes   = 32 // Windows NLB cluster limit
)

// Time budgets for waits: long enough for a real small lab, short enough that a stuck
// run is reported the same day.
const (
	nlbBudget   = 5 * time.Minute
	nlbInterval = 10 * time.Second
	// After its seed (a step of its own, under exchange.seed_timeout), a copy resumes,
	// replays what arrived during the seed and turns Healthy.
	resumeBudget   = 30 * time.Minute
	resumeInterval = 10 * time.Second
	switchBudget   = 5 * time.Minute
	switchInterval = 10 * time.Second
)

// Argument templates, so the same argument reads the same in every command.
func argServer(name, help string, positional, required bool) Arg {
	return Arg{Name: name, Positional: positional, Kind: KindServer, Required: required, Help: help}
}

func catalog() []*Spec {
	return []*Spec{
		{
			Name:    "dns add",
			Summary: "Add the DNS A record for the CAS array name (walkthrough step 1).",
			Args: []Arg{
				{Name: "name", Positional: true, Kind: KindHostLabel, Required: true, Help: "record name within the zone, e.g. client"},
				{Name: "ip", Positional: true, Kind: KindIPv4, Required: true, Help: "the address the name points to (the NLB cluster address)"},
				{Name: "zone", Kind: KindFQDN, Placeholder: "zone", Required: true, Help: "the DNS zone, e.g. msglab.local"},
			},
			Target:   "the DNS server (exchange.dns_server), with dnscmd over WinRS",
			Examples: []string{"dns add client 10.0.0.40 zone=msglab.local"},
			Notes:    []string{"Preflight lists the name's A records: the same address means nothing to do, another address blocks."},
			plan:     planDNSAdd,
		},
		{
			Name:    "nlb create",
			Summary: "Install Windows NLB on the first Client Access server and create the cluster (step 2).",
			Args: []Arg{
				{Name: "fqdn", Positional: true, Kind: KindFQDN, Required: true, Help: "the cluster's full Internet name, e.g. client.msglab.local"},
				{Name: "ip", Kind: KindIPv4, Required: true, Help: "the cluster's primary IP address"},
				{Name: "mask", Kind: KindMask, Required: true, Help: "the cluster IP's subnet mask"},
				{Name: "interface", Kind: KindNIC, Required: true, Help: "the network connection NLB binds to"},
				argServer("host", "the first cluster host", false, true),
				{Name: "mode", Kind: KindEnum, Required: true, Choices: []string{"unicast", "multicast", "igmpmulticast"}, Help: "cluster operation mode; the walkthrough uses multicast"},
			},
			Target: "the host= server, over WinRS; the preflight also reads DAG membership through the management server's Exchange endpoint",
			Examples: []string{
				`nlb create client.msglab.local ip=10.0.0.40 mask=255.255.255.0 interface="Local Area Connection" host=EX10-CAHT mode=multicast`,
			},
			Notes:   []string{"Blocked when the host is a DAG member: Microsoft does not support NLB and a DAG on the same server."},
			Cmdlets: []string{"Get-DatabaseAvailabilityGroup", "Get-ExchangeServer"},
			plan:    planNLBCreate,
		},
		{
			Name:    "nlb add-host",
			Summary: "Install Windows NLB on another Client Access server and join it to the cluster.",
			Args: []Arg{
				{Name: "fqdn", Positional: true, Kind: KindFQDN, Required: true, Help: "the cluster's full Internet name"},
				argServer("host", "the server to add", false, true),
				{Name: "interface", Kind: KindNIC, Required: true, Help: "the new host's network connection for NLB"},
				argServer("from", "an existing host of the cluster, whose parameters and port rules the new host copies (default: the only other Client Access server in exchange.servers)", false, false),
			},
			Target: "the host= server (the new node), over WinRS; the preflight also reads the cluster on the from= host over WinRS and DAG membership through the management server's Exchange endpoint",
			Examples: []string{
				`nlb add-host client.msglab.local host=EX10-CAHT02 interface="Local Area Connection"`,
				`nlb add-host client.msglab.local host=EX10-CAHT02 interface="Local Area Connection" from=EX10-CAHT`,
			},
			Notes: []string{
				"Every script runs on the one server it is about, so nothing needs a second hop (Add-NlbClusterNode would talk WMI from one host to the other, which a WinRS shell cannot do without Kerberos delegation or CredSSP). The preflight reads the cluster's parameters, nodes and port rules on the from= host; the change configures the new host locally with the same parameters, a free host priority and the same port rules, stopped until they are all in place, and NLB converges the hosts. The approver sees the values the preflight read in the script.",
				"Blocked when from= is not a host of the cluster, when the new host is a DAG member or in another cluster, when a node is not converged, and for single-host port rules (each host needs its own handling priority: add such a host with NLB Manager).",
			},
			Cmdlets: []string{"Get-DatabaseAvailabilityGroup", "Get-ExchangeServer"},
			plan:    planNLBAddHost,
		},
		{
			Name:    "casarray create",
			Summary: "Create the Client Access array for an Active Directory site (step 3).",
			Args: []Arg{
				{Name: "name", Positional: true, Kind: KindName, Required: true, Help: "the array's display name, e.g. \"CAS Array\""},
				{Name: "fqdn", Kind: KindFQDN, Required: true, Help: "the array's name in DNS, e.g. client.msglab.local"},
				{Name: "site", Kind: KindSite, Required: true, Help: "the Active Directory site, e.g. Default-First-Site-Name"},
			},
			Target:   "the management server's Exchange endpoint",
			Examples: []string{`casarray create "CAS Array" fqdn=client.msglab.local site=Default-First-Site-Name`},
			Cmdlets:  []string{"Get-ClientAccessArray", "Get-ADSite", "New-ClientAccessArray"},
			plan:     planCASArrayCreate,
		},
		{
			Name:    "casarray assign",
			Summary: "Point the mailbox databases of the CAS array's Active Directory site at it (step 4).",
			Args: []Arg{
				{Name: "fqdn", Positional: true, Kind: KindFQDN, Required: true, Help: "the CAS array's FQDN (or a Client Access server's, to undo)"},
				{Name: "database", Kind: KindDatabase, Help: "one database of that site; every database of the site when absent"},
			},
			Target:   "the management server's Exchange endpoint",
			Examples: []string{"casarray assign client.msglab.local", "casarray assign client.msglab.local database=MB01"},
			Notes: []string{
				"A CAS array serves one Active Directory site, so only that site's databases are pointed at it. A database belongs to the site of the server holding its activation preference 1 copy (for a database outside a DAG, its own server); copies in other sites and a database mounted in another site right now are shown on the card. database= naming a database of another site is refused.",
				"Preflight records each changed database's previous RpcClientAccessServer with the request, so that `casarray restore <request-id>` can set them back.",
			},
			Cmdlets: []string{"Get-ClientAccessArray", "Get-ExchangeServer", "Get-MailboxDatabase", "Set-MailboxDatabase"},
			plan:    planCASArrayAssign,
		},
		{
			Name:    "casarray restore",
			Summary: "Set the databases a casarray assign changed back to their RpcClientAccessServer before it.",
			Args: []Arg{
				{Name: "request-id", Positional: true, Kind: KindRequestID, Required: true, Help: "the casarray assign request to undo, e.g. r-12 (see history)"},
			},
			Target:   "the management server's Exchange endpoint",
			Examples: []string{"casarray restore r-12"},
			Notes: []string{
				"A change like any other: a second admin approves it, and the card shows each database with the value it gets back (a value that was empty is set to $null).",
				"Refused for an unknown request, a request that is not a casarray assign or did not succeed, and one already restored (or being restored) by another request. A database that no longer exists is skipped with a note; one that already has its old value is left alone. Blocked when an old value names neither a CAS array nor an Exchange server any more, as Set-MailboxDatabase would refuse it; a warning when it names a server without the Client Access role.",
			},
			Cmdlets: []string{"Get-ClientAccessArray", "Get-ExchangeServer", "Get-MailboxDatabase", "Set-MailboxDatabase"},
			Refers:  "request-id",
			plan:    planCASArrayRestore,
		},
		{
			Name:    "dag create",
			Summary: "Create a database availability group with its file share witness.",
			Args: []Arg{
				{Name: "name", Positional: true, Kind: KindDAG, Required: true, Help: "the DAG's name (a computer name, at most 15 characters)"},
				argServer("witness", "the file share witness server (not a DAG member)", false, true),
				{Name: "dir", Kind: KindLocalPath, Required: true, Help: "the witness directory on the witness server"},
				{Name: "ip", Kind: KindIPv4List, Help: "the DAG's IP address(es), one per MAPI subnet"},
			},
			Target:   "the management server's Exchange endpoint",
			Examples: []string{`dag create E14-DAG witness=EX10-CAHT dir=C:\FSW ip=10.0.0.50`},
			Cmdlets:  []string{"Get-DatabaseAvailabilityGroup", "Get-ExchangeServer", "New-DatabaseAvailabilityGroup"},
			plan:     planDAGCreate,
		},
		{
			Name:    "dag add-member",
			Summary: "Add a mailbox server to a DAG.",
			Args: []Arg{
				{Name: "dag", Positional: true, Kind: KindDAG, Required: true, Help: "the DAG"},
				argServer("server", "the mailbox server to add", true, true),
			},
			Target:   "the management server's Exchange endpoint; the preflight also reads NLB state on the server over WinRS",
			Examples: []string{"dag add-member E14-DAG EX10-MB01", "dag add-member E14-DAG EX10-MB02"},
			Notes:    []string{"Blocked for an NLB node, a member of another DAG, the DAG's witness, or a 17th member."},
			Cmdlets:  []string{"Get-DatabaseAvailabilityGroup", "Get-ExchangeServer", "Add-DatabaseAvailabilityGroupServer"},
			plan:     planDAGAddMember,
		},
		{
			Name:    "copy add",
			Summary: "Add a copy of a mailbox database on another DAG member and wait for seeding.",
			Args: []Arg{
				{Name: "database", Positional: true, Kind: KindDatabase, Required: true, Help: "the database"},
				argServer("server", "the DAG member to hold the copy", true, true),
				{Name: "preference", Kind: KindInt, Min: 1, Max: maxDAGMembers, Help: "activation preference (1 is tried first); Exchange puts it last when absent"},
			},
			Target:   "the management server's Exchange endpoint",
			Examples: []string{"copy add MB01 EX10-MB02", "copy add MB02 EX10-MB01 preference=2"},
			Notes: []string{"Blocked when circular logging is on for the second copy, when the copy exists with another preference, or for a 17th copy.",
				"The copy is added with -SeedingPostponed and seeded by Update-MailboxDatabaseCopy in a step of its own, limited by exchange.seed_timeout (default 24h) rather than the command timeout: Exchange 2010 seeds inside the cmdlet, and ending the step ends the seed. The seed's progress shows on the card."},
			Cmdlets: []string{"Get-DatabaseAvailabilityGroup", "Get-MailboxDatabase", "Get-MailboxDatabaseCopyStatus", "Add-MailboxDatabaseCopy", "Update-MailboxDatabaseCopy"},
			plan:    planCopyAdd,
		},
		{
			Name:    "failover",
			Summary: "Move a database's active copy to another server (a switchover).",
			Args: []Arg{
				{Name: "database", Positional: true, Kind: KindDatabase, Required: true, Help: "the database"},
				argServer("to", "the server whose copy becomes active", false, true),
			},
			Target:   "the management server's Exchange endpoint",
			Examples: []string{"failover MB01 to=EX10-MB02"},
			Notes: []string{
				"Lossless only: the move never skips health, queue or content index checks. Blocked when the target copy is not Healthy, a queue reaches health.copy_queue or health.replay_queue (default 8), its content index is not Healthy or its activation is suspended.",
			},
			Cmdlets: []string{"Get-DatabaseAvailabilityGroup", "Get-MailboxDatabase", "Get-MailboxDatabaseCopyStatus", "Move-ActiveMailboxDatabase"},
			plan:    planFailover,
		},
		{
			Name:    "drill",
			Summary: "Run a failover drill now: move each database of the DAG away and back.",
			Args: []Arg{
				{Name: "dag", Positional: true, Kind: KindDAG, Required: true, Help: "the DAG"},
			},
			Target:   "the management server's Exchange endpoint; the preflight also reads Test-ReplicationHealth through each mailbox server's own endpoint",
			Examples: []string{"drill E14-DAG"},
			Notes: []string{
				"Blocked unless every member is operational, every replication check passed, every DAG network is Up and every copy is healthy with queues below health.copy_queue and health.replay_queue (default 8).",
				"Once approved, for each database in turn: the move is exactly `failover <database> to=<server>` (see `help failover`; `exchops plan` prints its cmdlets) to the best other healthy copy, Lossless and never with a Skip switch; the drill waits until it is Mounted and every other copy Healthy (at most drill.timeout), then moves it back to the server it was on before the drill the same way (a drill does not rebalance). It checks again before each move, stops at the first problem, fails back, and reports a scorecard (time to mount per move) with the trend against earlier drills.",
			},
			Cmdlets: []string{"Get-DatabaseAvailabilityGroup", "Get-DatabaseAvailabilityGroupNetwork", "Get-MailboxDatabase", "Get-MailboxDatabaseCopyStatus", "Get-MailboxServer", "Test-ReplicationHealth", "Move-ActiveMailboxDatabase"},
			plan:    planDrill,
		},
		{
			Name:     "dag maintenance start",
			Summary:  "Put a DAG member into maintenance for patching: move its databases off, block activation, pause its node.",
			Args:     []Arg{argServer("server", "the DAG member to patch", true, true)},
			Target:   "the management server's Exchange endpoint; the cluster node is read and paused over WinRS on the member itself (FailoverClusters is not an Exchange module)",
			Examples: []string{"dag maintenance start EX10-MB01"},
			Notes: []string{
				"What StartDagServerMaintenance.ps1 does in Exchange 2010 SP1 and later: Set-MailboxServer -DatabaseCopyAutoActivationPolicy Blocked; each database active on the server moved, one at a time, exactly as `failover <database> to=<server>` moves it (lossless, never a Skip switch) to the best other healthy copy (lowest activation preference; never a lagged copy or a server whose activation is blocked), waiting until it is Mounted and every other copy Healthy; Suspend-MailboxDatabaseCopy -ActivationOnly on each of its copies; Suspend-ClusterNode, moving the cluster group (the Primary Active Manager) off it.",
				"Blocked when another member is in maintenance (its cluster node is Paused), when a database would be left without a healthy copy (a database with no other copy, or whose other copies cannot take it losslessly), and when the DAG would lose quorum with the member down. Refused while an earlier dag maintenance start of the same server has not been ended by dag maintenance stop.",
				"The card records what was set before (activation policy, cluster node state, copies already suspended for activation), so that dag maintenance stop restores exactly that.",
			},
			Cmdlets: []string{"Get-DatabaseAvailabilityGroup", "Get-MailboxServer", "Get-MailboxDatabase", "Get-MailboxDatabaseCopyStatus", "Set-MailboxServer", "Move-ActiveMailboxDatabase", "Suspend-MailboxDatabaseCopy"},
			Session: maintenanceSession,
			plan:    planMaintenanceStart,
		},
		{
			Name:     "dag maintenance stop",
			Summary:  "Take a DAG member out of maintenance: resume its node, set activation back exactly as it was before start.",
			Args:     []Arg{argServer("server", "the DAG member that was patched", true, true)},
			Target:   "the management server's Exchange endpoint; the cluster node is read and resumed over WinRS on the member itself",
			Examples: []string{"dag maintenance stop EX10-MB01"},
			Notes: []string{
				"Restores what dag maintenance start recorded, not defaults: StopDagServerMaintenance.ps1 sets the activation policy to Unrestricted and resumes every copy, clearing activation blocks an administrator had set on purpose (and a lagged copy's). exchops resumes the cluster node, sets the policy back to its value before start and resumes only the copies start suspended; then it waits for the member's copies to settle and reports their health.",
				"Without a record (maintenance started outside exchops, or already ended) it only resumes a paused cluster node, and says which activation block and suspended copies it leaves for a person to judge.",
			},
			Cmdlets: []string{"Get-DatabaseAvailabilityGroup", "Get-MailboxServer", "Get-MailboxDatabase", "Get-MailboxDatabaseCopyStatus", "Set-MailboxServer", "Resume-MailboxDatabaseCopy"},
			Session: maintenanceSession,
			plan:    planMaintenanceStop,
		},
		{
			Name:     "dag rebalance",
			Summary:  "Move each database back to its activation preference 1 server where that copy is healthy.",
			Args:     []Arg{{Name: "dag", Positional: true, Kind: KindDAG, Required: true, Help: "the DAG"}},
			Target:   "the management server's Exchange endpoint",
			Examples: []string{"dag rebalance E14-DAG"},
			Notes: []string{
				"What RedistributeActiveDatabases.ps1 -BalanceDbsByActivationPreference does, lossless: each database not mounted on its activation preference 1 server moves there, one at a time, exactly as `failover` moves it, when that copy is Healthy, its queues are below health.copy_queue and health.replay_queue (default 8), its content index is usable and its activation is not suspended. A lagged copy never moves; a server whose activation is blocked (in maintenance) gets nothing. The card lists every move and why any database stays.",
			},
			Cmdlets: []string{"Get-DatabaseAvailabilityGroup", "Get-MailboxServer", "Get-MailboxDatabase", "Get-MailboxDatabaseCopyStatus", "Move-ActiveMailboxDatabase"},
			plan:    planRebalance,
		},
		{
			Name:    "copy reseed",
			Summary: "Reseed a passive database copy (a failed one, say): suspend, seed again deleting its files, resume.",
			Args: []Arg{
				{Name: "database", Positional: true, Kind: KindDatabase, Required: true, Help: "the database"},
				argServer("server", "the server of the copy to reseed", true, true),
			},
			Target:   "the management server's Exchange endpoint",
			Examples: []string{"copy reseed MB01 EX10-MB02"},
			Notes: []string{
				"Suspend-MailboxDatabaseCopy, Update-MailboxDatabaseCopy -DeleteExistingFiles -ManualResume (Exchange 2010 seeds inside the cmdlet, so the seed is a step of its own limited by exchange.seed_timeout, its progress on the card), Resume-MailboxDatabaseCopy (-ReplicationOnly for a lagged copy, whose activation stays suspended), then a wait until the copy is Healthy.",
				"Refused for the active copy (Exchange seeds only passive copies: move the database first), a copy being seeded, and a database not mounted anywhere.",
			},
			Cmdlets: []string{"Get-DatabaseAvailabilityGroup", "Get-MailboxDatabase", "Get-MailboxDatabaseCopyStatus", "Suspend-MailboxDatabaseCopy", "Update-MailboxDatabaseCopy", "Resume-MailboxDatabaseCopy"},
			plan:    planCopyReseed,
		},
		{
			Name:     "dag status",
			Summary:  "Show a DAG's members, operational servers, witness and Primary Active Manager.",
			Args:     []Arg{{Name: "dag", Positional: true, Kind: KindDAG, Required: true, Help: "the DAG"}},
			ReadOnly: true,
			Target:   "the management server's Exchange endpoint",
			Examples: []string{"dag status E14-DAG"},
			Cmdlets:  []string{"Get-DatabaseAvailabilityGroup"},
			plan:     planDAGStatus,
		},
		{
			Name:     "dag networks",
			Summary:  "Show a DAG's networks with their subnets and interfaces.",
			Args:     []Arg{{Name: "dag", Positional: true, Kind: KindDAG, Required: true, Help: "the DAG"}},
			ReadOnly: true,
			Target:   "the management server's Exchange endpoint",
			Examples: []string{"dag networks E14-DAG"},
			Cmdlets:  []string{"Get-DatabaseAvailabilityGroupNetwork"},
			plan:     planDAGNetworks,
		},
		{
			Name:     "dag maintenance status",
			Summary:  "Show which DAG members are in maintenance, since when and started by whom.",
			Args:     []Arg{{Name: "dag", Positional: true, Kind: KindDAG, Help: "one DAG; every DAG when absent"}},
			ReadOnly: true,
			Target:   "the management server's Exchange endpoint, and exchops' request history",
			Examples: []string{"dag maintenance status", "dag maintenance status E14-DAG"},
			Notes:    []string{"From the organisation: the mailbox servers whose activation policy is Blocked and the copies suspended for activation (with their suspend comments). From exchops' history: each dag maintenance start not yet ended by a stop, with who asked and when it ran."},
			Cmdlets:  []string{"Get-DatabaseAvailabilityGroup", "Get-MailboxServer", "Get-MailboxDatabase", "Get-MailboxDatabaseCopyStatus"},
			Session:  maintenanceSession,
			plan:     planMaintenanceStatus,
		},
		{
			Name:     "copy status",
			Summary:  "Show database copy status: state, queues, content index.",
			Args:     []Arg{{Name: "database", Positional: true, Kind: KindDatabase, Help: "one database; all when absent"}},
			ReadOnly: true,
			Target:   "the management server's Exchange endpoint",
			Examples: []string{"copy status", "copy status MB01"},
			Cmdlets:  []string{"Get-MailboxDatabase", "Get-MailboxDatabaseCopyStatus"},
			plan:     planCopyStatus,
		},
		{
			Name:     "health",
			Summary:  "Test-ReplicationHealth and copy status, services, mounted databases per member; hubs' queues.",
			Args:     []Arg{{Name: "dag", Positional: true, Kind: KindDAG, Help: "only this DAG's members; every DAG member when absent"}},
			ReadOnly: true,
			Target:   "each configured mailbox server, through its own Exchange endpoint, so Test-ReplicationHealth and Test-ServiceHealth run on the member they test, and each hub transport server for its own queues (a report for one DAG also reads the DAG through the management server's)",
			Examples: []string{"health", "health E14-DAG"},
			Notes: []string{
				"Besides the replication checks and copy status, each mailbox server runs Test-ServiceHealth (required services per role), Get-MailboxDatabase -Status and Get-PublicFolderDatabase -Status (mounted or not), and, with health.mapi_connectivity, Test-MapiConnectivity; each hub transport server in exchange.servers runs Get-Queue. Each is its own read: one that fails is reported as not run, and the others still count.",
				"Judged as Get-DAGHealth.ps1 and Test-ExchangeServerHealth.ps1 do: a transport queue (shadow redundancy queues left out) above 80 messages is a warning, 100 or more a failure; a stopped required service, a dismounted database or a failed MAPI logon is a failure.",
			},
			Cmdlets: []string{"Get-MailboxServer", "Test-ReplicationHealth", "Get-MailboxDatabaseCopyStatus", "Get-DatabaseAvailabilityGroup", "Get-DatabaseAvailabilityGroupNetwork", "Get-MailboxDatabase",
				"Test-ServiceHealth", "Get-PublicFolderDatabase", "Get-Queue", "Test-MapiConnectivity"},
			plan: planHealth,
		},
		{
			Name:     "casarray list",
			Summary:  "List the Client Access arrays.",
			ReadOnly: true,
			Target:   "the management server's Exchange endpoint",
			Examples: []string{"casarray list"},
			Cmdlets:  []string{"Get-ClientAccessArray"},
			plan:     planCASArrayList,
		},
		{
			Name:     "autodiscover test",
			Summary:  "Test Autodiscover and the Outlook web services (step 5).",
			Args:     []Arg{{Name: "mailbox", Kind: KindSMTP, Help: "the mailbox to test with; the test mailbox from New-TestCasConnectivityUser.ps1 when absent"}},
			ReadOnly: true,
			Target:   "the management server's Exchange endpoint",
			Examples: []string{"autodiscover test", "autodiscover test mailbox=administrator@msglab.local"},
			Cmdlets:  []string{"Test-OutlookWebServices"},
			plan:     planAutodiscover,
		},
		{
			Name:     "help",
			Summary:  "List the commands, or explain one.",
			Args:     []Arg{{Name: "command", Positional: true, Kind: KindCommand, Rest: true, Help: "a command or command group"}},
			ReadOnly: true,
			Handler:  HandlerBot,
			Target:   "exchops itself",
			Examples: []string{"help", "help dag create"},
			plan:     planBot("Show help."),
		},
		{
			Name:     "requests",
			Summary:  "List the requests waiting for approval.",
			ReadOnly: true,
			Handler:  HandlerBot,
			Target:   "exchops itself",
			Examples: []string{"requests"},
			plan:     planBot("List pending requests."),
		},
		{
			Name:     "history",
			Summary:  "Show the most recent requests and runs.",
			Args:     []Arg{{Name: "n", Positional: true, Kind: KindInt, Min: 1, Max: 100, Default: "10", Help: "how many (default 10)"}},
			ReadOnly: true,
			Handler:  HandlerBot,
			Target:   "exchops itself",
			Examples: []string{"history", "history 20"},
			plan:     planBot("Show recent history."),
		},
		{
			Name:     "cancel",
			Summary:  "Cancel a pending request of yours.",
			Args:     []Arg{{Name: "id", Positional: true, Kind: KindRequestID, Required: true, Help: "the request's id"}},
			ReadOnly: true,
			Handler:  HandlerBot,
			Target:   "exchops itself",
			Examples: []string{"cancel r-42"},
			plan:     planBot("Cancel a pending request."),
		},
		{
			Name:     "approve",
			Summary:  "Approve someone else's pending request (the typed form of the Approve button).",
			Args:     []Arg{{Name: "id", Positional: true, Kind: KindRequestID, Required: true, Help: "the request's id"}},
			ReadOnly: true,
			Handler:  HandlerBot,
			Target:   "exchops itself",
			Examples: []string{"approve r-42"},
			Notes:    []string{"Needs the approver role and, when an approval rule (approvals.rules) names who may approve the command, to be one of them: the card says from whom. Nobody can approve their own request. Read the card first: the approval is for exactly the PowerShell and findings it shows."},
			plan:     planBot("Approve a pending request."),
		},
		{
			Name:    "deny",
			Summary: "Deny someone else's pending request (the typed form of the Deny button).",
			Args: []Arg{
				{Name: "id", Positional: true, Kind: KindRequestID, Required: true, Help: "the request's id"},
				{Name: "reason", Positional: true, Kind: KindText, Rest: true, Help: "why, for the requester"},
			},
			ReadOnly: true,
			Handler:  HandlerBot,
			Target:   "exchops itself",
			Examples: []string{"deny r-42", "deny r-42 not during business hours"},
			Notes:    []string{"Needs the approver role. A denial is final: later approvals do not revive the request."},
			plan:     planBot("Deny a pending request."),
		},
		{
			Name:     "schedule list",
			Summary:  "List the schedules (health reports and failover drills) with their next run.",
			ReadOnly: true,
			Handler:  HandlerBot,
			Target:   "exchops itself",
			Examples: []string{"schedule list"},
			plan:     planBot("List the schedules."),
		},
		{
			Name:    "schedule add",
			Summary: "Post a DAG's replication health report, or run a failover drill, on a schedule.",
			Args: []Arg{
				{Name: "name", Positional: true, Kind: KindName, Required: true, Help: "the schedule's name, unique among schedules, e.g. daily-health"},
				{Name: "cron", Positional: true, Kind: KindText, Required: true, Help: `when it runs: a cron spec (minute hour day-of-month month day-of-week) in double quotes, optionally starting with CRON_TZ=<zone> and a space`},
				{Name: "job", Positional: true, Kind: KindEnum, Required: true, Choices: []string{"health", "drill"}, Help: "health posts the replication health report; drill runs a failover drill"},
				{Name: "dag", Positional: true, Kind: KindDAG, Required: true, Help: "the DAG"},
				{Name: "channel", Positional: true, Kind: KindText, Help: "the channel id to post to; the channel it is typed in when absent"},
			},
			// Static: a health schedule needs no approval. Whether the job is a drill is
			// only known from the arguments, so schedules enforces the approval a drill
			// schedule needs.
			ReadOnly: true,
			Handler:  HandlerBot,
			Target:   "exchops itself",
			Examples: []string{
				`schedule add daily-health "0 7 * * *" health E14-DAG`,
				`schedule add weekly-drill "CRON_TZ=Europe/Berlin 0 3 * * SUN" drill E14-DAG C0OPS`,
			},
			Notes: []string{
				"A health schedule is added at once. A drill schedule moves databases on every run, so adding or removing one needs a second admin's approval, like any change.",
				"Times are in exchops' time zone unless the spec starts with CRON_TZ=<zone>, e.g. CRON_TZ=Europe/Berlin. A run missed while exchops was down is reported when it starts again; a run that would overlap the previous one is skipped with a note.",
			},
			plan: planBot("Add a schedule."),
			// Adding or removing a drill schedule is a change: approval rules may name it.
			Approvable: true,
		},
		{
			Name:     "schedule remove",
			Summary:  "Remove a schedule that was added in chat.",
			Args:     []Arg{{Name: "name", Positional: true, Kind: KindName, Required: true, Help: "the schedule's name"}},
			ReadOnly: true,
			Handler:  HandlerBot,
			Target:   "exchops itself",
			Examples: []string{"schedule remove daily-health"},
			Notes:    []string{"Schedules from the configuration file are removed there. Removing a drill schedule needs a second admin's approval."},
			plan:     planBot("Remove a schedule."),
			// Adding or removing a drill schedule is a change: approval rules may name it.
			Approvable: true,
		},
	}
}

func planBot(summary string) func(*Command, Env) (*Plan, error) {
	return func(*Command, Env) (*Plan, error) { return &Plan{Summary: summary}, nil }
}

// mgmt returns the management server or a configuration error.
func mgmt(env Env) (string, error) {
	if !isComputerName(env.ManagementServer) {
		return "", fmt.Errorf("commands: exchange.management_server %q is not a server name", env.ManagementServer)
	}
	return strings.ToUpper(env.ManagementServer), nil
}

// configured refuses a host the runners could not reach because it is not configured.
func configured(inv *Command, env Env, arg string) error {
	if v := inv.Value(arg); !env.known(v) {
		return &UsageError{Command: inv.Spec.Name, Arg: arg, Value: v,
			Rule: "is not a configured server: exchops can only run scripts on servers listed in exchange.servers", Usage: inv.Spec.Usage()}
	}
	return nil
}

func planDNSAdd(inv *Command, env Env) (*Plan, error) {
	if !isComputerName(env.DNSServer) {
		return nil, fmt.Errorf("commands: exchange.dns_server %q is not a server name", env.DNSServer)
	}
	dns := strings.ToUpper(env.DNSServer)
	name, ip, zone := inv.Value("name"), inv.Value("ip"), inv.Value("zone")

	pre := newScript()
	// dnscmd answers a name that does not exist with status 9714
	// (DNS_ERROR_NAME_DOES_NOT_EXIST): that is "no records", anything else fails.
	pre.add(
		"$out = @(& dnscmd.exe "+Quote(dns)+" '/enumrecords' "+Quote(zone)+" "+Quote(name)+" '/type' 'A')",
		"$code = $LASTEXITCODE",
		"if ($code -ne 0 -and -not (($out -join ' ') -like '*9714*')) { throw ('dnscmd /enumrecords failed with exit code ' + $code + ': ' + ($out -join ' ')) }",
		"$ips = @()",
		"if ($code -eq 0) {",
		indent+"foreach ($line in $out) {",
		indent+indent+"$f = @(([string]$line).Trim() -split '\\s+')",
		indent+indent+"$i = 0",
		indent+indent+"while ($i -lt $f.Count - 1) {",
		indent+indent+indent+"if ($f[$i] -eq 'A' -and $f[$i + 1] -match '^\\d+\\.\\d+\\.\\d+\\.\\d+$') { $ips += $f[$i + 1] }",
		indent+indent+indent+"$i += 1",
		indent+indent+"}",
		indent+"}",
		"}",
	)
	pre.section("records", "$ips", "IPAddress={[string]$_}")

	step := newScript()
	step.add(
		"& dnscmd.exe "+Quote(dns)+" '/recordadd' "+Quote(zone)+" "+Quote(name)+" 'A' "+Quote(ip),
		"if ($LASTEXITCODE -ne 0) { throw ('dnscmd failed with exit code ' + $LASTEXITCODE) }",
	)
	fqdn := name + "." + zone
	return &Plan{
		Summary:   fmt.Sprintf("Add DNS A record %s -> %s on %s.", fqdn, ip, dns),
		Preflight: []Step{{Target: dns, Script: pre.String(), Purpose: "list the A records of " + fqdn}},
		Steps:     []Step{{Target: dns, Script: step.String(), Purpose: "add the A record " + fqdn + " -> " + ip}},
		Lock:      "dns:" + zone + "/" + name,
		evaluate:  func(r []Tables) Findings { return evalDNSAdd(r, fqdn, ip) },
	}, nil
}

// Building calls, so plans read as the cmdlet lines they render to.

// read is a call whose output objects become rows of section, with the columns cols.
func read(section string, cols []string, pipeline ...Cmd) Call {
	return Call{Pipeline: pipeline, Section: section, Columns: cols}
}

// do is a call run for its effect; its output is discarded.
func do(pipeline ...Cmd) Call { return Call{Pipeline: pipeline} }

// where keeps only the objects whose column equals value (decided in exchops).
func (c Call) where(column, value string) Call {
	c.Where = &Match{Column: column, Value: value}
	return c
}

// when runs the call only if an earlier call of the step produced a row matching m.
func (c Call) when(m Match) Call {
	c.When = &m
	return c
}

// exchangeReads is the management-server preflight most changes share: DAGs and
// Exchange servers.
func exchangeReads() []Call {
	return []Call{
		read("dags", colsDAGs, C("Get-DatabaseAvailabilityGroup")),
		read("servers", colsServers, C("Get-ExchangeServer")),
	}
}

func nlbFeature(s *script) {
	s.add("Import-Module ServerManager")
	s.section("feature", "Add-WindowsFeature -Name 'NLB'", "Success", "RestartNeeded", "ExitCode")
	s.add("Import-Module NetworkLoadBalancingClusters")
}

// nlbConvergedWait polls the local host's cluster until every node's state starts
// with Converged.
func nlbConvergedWait(host, fqdn string) *Wait {
	w := newScript()
	w.add("Import-Module NetworkLoadBalancingClusters",
		"$nodes = @(Get-NlbClusterNode)")
	w.section("nlbnodes", "$nodes", colsNLBNodes...)
	w.add("$converged = @($nodes | Where-Object { ([string]$_.State) -like 'Converged*' })")
	w.waitRow("$nodes.Count -gt 0 -and $converged.Count -eq $nodes.Count", "$false",
		"[string]$converged.Count + ' of ' + [string]$nodes.Count + ' nodes converged'")
	return &Wait{
		Step:     Step{Target: host, Script: w.String(), Purpose: "read the NLB nodes of " + fqdn},
		Progress: "waiting for every node of " + fqdn + " to converge",
		Budget:   nlbBudget, Interval: nlbInterval,
	}
}

func planNLBCreate(inv *Command, env Env) (*Plan, error) {
	m, err := mgmt(env)
	if err != nil {
		return nil, err
	}
	if err := configured(inv, env, "host"); err != nil {
		return nil, err
	}
	fqdn, ip, mask, nic, host := inv.Value("fqdn"), inv.Value("ip"), inv.Value("mask"), inv.Value("interface"), inv.Value("host")
	mode := map[string]string{"unicast": "Unicast", "multicast": "Multicast", "igmpmulticast": "IgmpMulticast"}[inv.Value("mode")]

	probe := newScript()
	probe.nlbProbe()

	s := newScript()
	nlbFeature(s)
	s.add("New-NlbCluster -InterfaceName " + Quote(nic) + " -ClusterPrimaryIP " + Quote(ip) + " -SubnetMask " + Quote(mask) +
		" -ClusterName " + Quote(fqdn) + " -OperationMode " + Quote(mode) + " | Out-Null")
	s.section("nlb", "Get-NlbCluster", colsNLB...)

	return &Plan{
		Summary: fmt.Sprintf("Create NLB cluster %s (%s/%s, %s) on %s, interface %q.", fqdn, ip, mask, mode, host, nic),
		Preflight: []Step{
			exchangeStep(m, "read DAG membership and Exchange servers", exchangeReads()...),
			{Target: host, Script: probe.String(), Purpose: "read NLB state on " + host},
		},
		Steps: []Step{{Target: host, Script: s.String(), Purpose: "install NLB and create cluster " + fqdn}},
		Lock:  "nlb:" + fqdn,
		Wait:  nlbConvergedWait(host, fqdn),
		evaluate: func(r []Tables) Findings {
			return evalNLBCreate(r, fqdn, ip, mask, mode, host)
		},
	}, nil
}

func planNLBAddHost(inv *Command, env Env) (*Plan, error) {
	m, err := mgmt(env)
	if err != nil {
		return nil, err
	}
	if err := configured(inv, env, "host"); err != nil {
		return nil, err
	}
	fqdn, nic, host := inv.Value("fqdn"), inv.Value("interface"), strings.ToUpper(inv.Value("host"))
	from := strings.ToUpper(inv.Value("from"))
	if from == "" {
		var others []string
		for _, s := range env.withRole(RoleClientAccess) {
			if !SameHost(s, host) {
				others = append(others, s)
			}
		}
		if len(others) != 1 {
			return nil, &UsageError{Command: inv.Spec.Name, Arg: "from", Value: "",
				Rule: "is needed: name an existing host of the cluster with from=<server> (exchange.servers does not list exactly one other Client Access server to take it from)", Usage: inv.Spec.Usage()}
		}
		from = others[0]
	} else if err := configured(inv, env, "from"); err != nil {
		return nil, err
	}
	if SameHost(from, host) {
		return nil, &UsageError{Command: inv.Spec.Name, Arg: "from", Value: inv.Value("from"),
			Rule: "must be an existing host of the cluster, not the host being added", Usage: inv.Spec.Usage()}
	}

	probe := newScript()
	probe.nlbProbe()

	// The cluster as the existing host itself has it: no -HostName, so every read is
	// local to the server the script runs on.
	read := newScript()
	read.nlbProbe()
	read.header("nlbnodes")
	read.add("if ($nlbLocal.Count -gt 0) { Get-NlbClusterNode | " + selectCSV(colsNLBNodes...) + " }")
	read.header("nlbrules")
	read.add("if ($nlbLocal.Count -gt 0) { Get-NlbClusterPortRule | " + selectCSV(colsNLBRules...) + " }")

	p := &Plan{
		Summary: fmt.Sprintf("Install NLB on %s and join it to cluster %s, interface %q, with the parameters and port rules of %s.", host, fqdn, nic, from),
		Preflight: []Step{
			exchangeStep(m, "read DAG membership and Exchange servers", exchangeReads()...),
			{Target: host, Script: probe.String(), Purpose: "read NLB state on " + host},
			{Target: from, Script: read.String(), Purpose: "read cluster " + fqdn + ", its nodes and port rules on " + from},
		},
		Steps: nlbJoinSteps(host, nic, from, nil),
		Lock:  "nlb:" + fqdn,
		Wait:  nlbConvergedWait(host, fqdn),
		evaluate: func(r []Tables) Findings {
			f := evalNLBAddHost(r, fqdn, host, from)
			if !f.Blocked() && !f.NoOp {
				j, _ := readNLBJoin(r, host, from)
				f.Steps = nlbJoinSteps(host, nic, from, j)
			}
			return f
		},
	}
	return p, nil
}

// nlbJoin is what the new host copies from the existing one, as its preflight read it.
type nlbJoin struct {
	Name, IP, Mask, Mode string
	Priority             int // the lowest host priority no node has
	Rules                []nlbRule
}

type nlbRule struct {
	IP                       string // "" for every cluster IP (255.255.255.255)
	Start, End, Timeout      int
	Protocol, Mode, Affinity string
}

// The values NLB's enumerations take, as Add-NlbClusterPortRule accepts them.
var (
	nlbProtocols  = []string{"Both", "Tcp", "Udp"}
	nlbRuleModes  = []string{"Multiple", "Single", "Disabled"}
	nlbAffinities = []string{"None", "Single", "Network"}
)

func enumOf(v string, values []string) (string, bool) {
	for _, x := range values {
		if strings.EqualFold(strings.TrimSpace(v), x) {
			return x, true
		}
	}
	return "", false
}

// readNLBJoin reads the cluster, its nodes and port rules from the existing host's
// preflight (step 2). Every value that goes into the script is checked here: numbers
// are parsed, enumerations matched against their values and addresses parsed, so the
// script carries only values NLB itself could have printed. The error says what is
// wrong, for the approver.
func readNLBJoin(r []Tables, host, from string) (*nlbJoin, error) {
	cl := rows(r, 2, "nlb")
	if len(cl) != 1 {
		return nil, fmt.Errorf("%s is not a host of an NLB cluster", from)
	}
	j := &nlbJoin{Name: strings.TrimSpace(cl[0]["Name"]), IP: strings.TrimSpace(cl[0]["IPAddress"]), Mask: strings.TrimSpace(cl[0]["SubnetMask"])}
	var ok bool
	if j.Mode, ok = enumOf(cl[0]["Mode"], []string{"Unicast", "Multicast", "IgmpMulticast"}); !ok {
		return nil, fmt.Errorf("the cluster's operation mode %q is not one NLB knows", cl[0]["Mode"])
	}
	if !isHostIPv4(j.IP) || !isMask(j.Mask) {
		return nil, fmt.Errorf("the cluster's address %q/%q is not an IPv4 address and mask", j.IP, j.Mask)
	}
	used := map[int]bool{}
	for _, n := range rows(r, 2, "nlbnodes") {
		p, err := strconv.Atoi(strings.TrimSpace(n["HostPriority"]))
		if err != nil {
			return nil, fmt.Errorf("node %s has host priority %q, not a number", n["Name"], n["HostPriority"])
		}
		used[p] = true
	}
	for p := 1; p <= maxNLBNodes; p++ {
		if !used[p] {
			j.Priority = p
			break
		}
	}
	if j.Priority == 0 {
		return nil, fmt.Errorf("every host priority from 1 to %d is taken", maxNLBNodes)
	}
	for _, x := range rows(r, 2, "nlbrules") {
		var rule nlbRule
		var err error
		desc := fmt.Sprintf("port rule %s %s-%s", x["VirtualIPAddress"], x["StartPort"], x["EndPort"])
		if rule.Start, err = strconv.Atoi(strings.TrimSpace(x["StartPort"])); err != nil {
			return nil, fmt.Errorf("%s: the start port is not a number", desc)
		}
		if rule.End, err = strconv.Atoi(strings.TrimSpace(x["EndPort"])); err != nil {
			return nil, fmt.Errorf("%s: the end port is not a number", desc)
		}
		if rule.Timeout, err = strconv.Atoi(strings.TrimSpace(x["Timeout"])); err != nil {
			return nil, fmt.Errorf("%s: the timeout is not a number", desc)
		}
		if ip := strings.TrimSpace(x["VirtualIPAddress"]); ip != "255.255.255.255" && !strings.EqualFold(ip, "All") {
			if !isHostIPv4(ip) {
				return nil, fmt.Errorf("%s: %q is not an IPv4 address", desc, ip)
			}
			rule.IP = ip
		}
		if rule.Protocol, ok = enumOf(x["Protocol"], nlbProtocols); !ok {
			return nil, fmt.Errorf("%s: protocol %q is not one NLB knows", desc, x["Protocol"])
		}
		if rule.Mode, ok = enumOf(x["FilteringMode"], nlbRuleModes); !ok {
			return nil, fmt.Errorf("%s: filtering mode %q is not one NLB knows", desc, x["FilteringMode"])
		}
		if rule.Mode == "Single" {
			return nil, fmt.Errorf("%s is a single-host rule: each host needs its own handling priority for it, which exchops does not set; add this host with NLB Manager", desc)
		}
		if rule.Mode == "Multiple" {
			if rule.Affinity, ok = enumOf(x["Affinity"], nlbAffinities); !ok {
				return nil, fmt.Errorf("%s: affinity %q is not one NLB knows", desc, x["Affinity"])
			}
		}
		j.Rules = append(j.Rules, rule)
	}
	return j, nil
}

// nlbJoinSteps is the change on the new host, all of it local to it: install NLB,
// configure the host as a cluster of its own with the existing cluster's parameters
// (New-NlbCluster has no -HostPriority, so it starts with priority 1 and the default
// port rule), stop it at once so that it does not converge with the others while its
// priority and rules differ, give it a free priority and exactly the cluster's port
// rules, and start it: the hosts that answer for the cluster IP then converge with it.
// With j nil (before the preflight has read the cluster) the values are placeholders
// that are not PowerShell, so the unbound script cannot run.
func nlbJoinSteps(host, nic, from string, j *nlbJoin) []Step {
	v := func(what string) string { return "<" + what + " read on " + from + ">" }
	name, ip, mask, mode, prio := v("the cluster Name"), v("the cluster IPAddress"), v("the cluster SubnetMask"), v("the cluster Mode"), v("a host priority no node has")
	if j != nil {
		name, ip, mask, mode, prio = Quote(j.Name), Quote(j.IP), Quote(j.Mask), Quote(j.Mode), strconv.Itoa(j.Priority)
	}
	s := newScript()
	nlbFeature(s)
	// No -Force: New-NlbCluster asks only before it overwrites a DHCP setting, and a
	// cluster host needs a static address; that question should stop the change.
	s.add("New-NlbCluster -InterfaceName "+Quote(nic)+" -ClusterPrimaryIP "+ip+" -SubnetMask "+mask+
		" -ClusterName "+name+" -OperationMode "+mode+" | Out-Null",
		"Stop-NlbClusterNode -InterfaceName "+Quote(nic)+" | Out-Null",
		"Set-NlbClusterNode -InterfaceName "+Quote(nic)+" -HostPriority "+prio+" -Force | Out-Null",
		"Get-NlbClusterPortRule | Remove-NlbClusterPortRule -Force | Out-Null")
	if j == nil {
		s.add(v("one Add-NlbClusterPortRule per port rule"))
	} else {
		for _, r := range j.Rules {
			line := "Add-NlbClusterPortRule -InterfaceName " + Quote(nic)
			if r.IP != "" {
				line += " -IP " + Quote(r.IP)
			}
			line += fmt.Sprintf(" -StartPort %d -EndPort %d -Protocol %s -Mode %s", r.Start, r.End, Quote(r.Protocol), Quote(r.Mode))
			if r.Affinity != "" {
				line += " -Affinity " + Quote(r.Affinity)
			}
			line += fmt.Sprintf(" -Timeout %d | Out-Null", r.Timeout)
			s.add(line)
		}
	}
	s.add("Start-NlbClusterNode -InterfaceName " + Quote(nic) + " | Out-Null")
	s.section("nlbnodes", "Get-NlbClusterNode", colsNLBNodes...)
	return []Step{{Target: host, Script: s.String(), Purpose: "install NLB on " + host + " and configure it as a host of the cluster read on " + from}}
}

func planCASArrayCreate(inv *Command, env Env) (*Plan, error) {
	m, err := mgmt(env)
	if err != nil {
		return nil, err
	}
	name, fqdn, site := inv.Value("name"), inv.Value("fqdn"), inv.Value("site")
	return &Plan{
		Summary: fmt.Sprintf("Create CAS array %q (%s) in site %s.", name, fqdn, site),
		Preflight: []Step{exchangeStep(m, "read CAS arrays and AD sites",
			read("casarrays", colsCASArrays, C("Get-ClientAccessArray")),
			read("sites", []string{"Name"}, C("Get-ADSite")),
		)},
		Steps: []Step{exchangeStep(m, "create CAS array "+fqdn,
			do(C("New-ClientAccessArray", Str("Name", name), Str("Fqdn", fqdn), Str("Site", site))),
			read("casarrays", colsCASArrays, C("Get-ClientAccessArray")),
		)},
		Lock:     "casarray",
		evaluate: func(r []Tables) Findings { return evalCASArrayCreate(r, name, fqdn, site) },
	}, nil
}

// casarrayReads is the preflight casarray assign and restore share: the arrays (each
// with its site), the Exchange servers (each with its site) and every mailbox database
// with its RpcClientAccessServer, so the value before the change is on record.
func casarrayReads(m string) Step {
	return exchangeStep(m, "read CAS arrays, servers (their AD sites) and databases (previous RpcClientAccessServer)",
		read("casarrays", colsCASArrays, C("Get-ClientAccessArray")),
		read("servers", colsServers, C("Get-ExchangeServer")),
		read("databases", colsDatabases, C("Get-MailboxDatabase")),
	)
}

// assignStep sets RpcClientAccessServer of each database in dbs to fqdn, then reads
// the databases back for the run's output.
func assignStep(m, purpose, fqdn string, dbs []string) Step {
	var calls []Call
	for _, db := range dbs {
		calls = append(calls, do(C("Set-MailboxDatabase", Str("Identity", db), Str("RpcClientAccessServer", fqdn))))
	}
	get := C("Get-MailboxDatabase")
	if len(dbs) == 1 {
		get = C("Get-MailboxDatabase", Str("Identity", dbs[0]))
	}
	return exchangeStep(m, purpose, append(calls, read("databases", colsDatabases, get))...)
}

func planCASArrayAssign(inv *Command, env Env) (*Plan, error) {
	m, err := mgmt(env)
	if err != nil {
		return nil, err
	}
	fqdn, db := inv.Value("fqdn"), inv.Value("database")
	p := &Plan{
		Preflight: []Step{casarrayReads(m)},
		Lock:      "casarray",
		evaluate:  func(r []Tables) Findings { return evalCASArrayAssign(r, m, fqdn, db) },
	}
	if db != "" {
		p.Summary = fmt.Sprintf("Set RpcClientAccessServer of database %s to %s.", db, fqdn)
		p.Steps = []Step{assignStep(m, "point database "+db+" at "+fqdn, fqdn, []string{db})}
		return p, nil
	}
	// Which databases are in the array's site is only known from the preflight: it
	// decides the steps (Findings.Steps), and the approvers see one line per database.
	p.Summary = fmt.Sprintf("Set RpcClientAccessServer of every mailbox database in the Active Directory site of %s to %s.", fqdn, fqdn)
	p.Decided = "Set-MailboxDatabase -Identity <database> -RpcClientAccessServer " + Quote(fqdn) +
		"  # one line for each database of the site of " + fqdn + " (the site of its activation preference 1 server) whose value differs\n" +
		"Get-MailboxDatabase"
	return p, nil
}

// Request statuses as approvals names them, for the rules on an earlier request.
const (
	statusSucceeded = "succeeded"
	statusPending   = "pending"
	statusApproved  = "approved"
	statusRunning   = "running"
)

func planCASArrayRestore(inv *Command, env Env) (*Plan, error) {
	m, err := mgmt(env)
	if err != nil {
		return nil, err
	}
	id := inv.Value("request-id")
	past := inv.Past
	if past == nil {
		return nil, fmt.Errorf("commands: casarray restore %s plans from the values %s recorded, which only a running exchops reads from its request history: ask in chat, where the approval card shows each database and the value it gets back", id, id)
	}
	refuse := func(format string, args ...any) error {
		return &UsageError{Command: inv.Spec.Name, Arg: "request-id", Value: past.ID, Rule: fmt.Sprintf(format, args...), Usage: inv.Spec.Usage()}
	}
	if !past.Found {
		return nil, refuse("is not a request: `history` lists the recent ones")
	}
	assign, err := Parse(past.Command)
	if err != nil || assign.Spec.Name != "casarray assign" {
		return nil, refuse("is %q, not a casarray assign: only what casarray assign changed can be restored", past.Command)
	}
	for _, ref := range past.Referrers {
		switch ref.Status {
		case statusSucceeded:
			return nil, refuse("was already restored by %s", ref.ID)
		case statusPending, statusApproved, statusRunning:
			return nil, refuse("is already being restored by %s (%s): approve, deny or cancel that one first", ref.ID, ref.Status)
		}
	}
	if past.Status != statusSucceeded {
		return nil, refuse("is %s, not succeeded: only a casarray assign that ran to its end is restored. Read the databases (copy status) and set each one with casarray assign <fqdn> database=<db>", past.Status)
	}
	prev, ok := previousValues(past.Findings)
	if !ok {
		return nil, refuse("recorded its previous values only as text that cannot be read back exactly: set each database with casarray assign <fqdn> database=<db>")
	}
	if len(prev) == 0 {
		return nil, refuse("changed no database, so there is nothing to restore")
	}
	dbs := make([]string, 0, len(prev))
	for db := range prev {
		dbs = append(dbs, db)
	}
	sort.Strings(dbs)
	set := assign.Value("fqdn")
	return &Plan{
		Summary:   fmt.Sprintf("Set RpcClientAccessServer of %s back to the values before %s (%s).", strings.Join(dbs, ", "), past.ID, past.Command),
		Preflight: []Step{casarrayReads(m)},
		Steps:     restoreSteps(m, past.ID, dbs, prev),
		Lock:      "casarray",
		evaluate:  func(r []Tables) Findings { return evalCASArrayRestore(r, m, past.ID, set, dbs, prev) },
	}, nil
}

// restoreSteps sets each database in dbs back to its value in prev: one step, whose
// lines are one Set-MailboxDatabase per database with its own value.
func restoreSteps(m, id string, dbs []string, prev map[string]string) []Step {
	var calls []Call
	for _, db := range dbs {
		set := Str("RpcClientAccessServer", prev[db])
		if prev[db] == "" {
			set = Null("RpcClientAccessServer")
		}
		calls = append(calls, do(C("Set-MailboxDatabase", Str("Identity", db), set)))
	}
	calls = append(calls, read("databases", colsDatabases, C("Get-MailboxDatabase")))
	return []Step{exchangeStep(m, "set "+strings.Join(dbs, ", ")+" back to their RpcClientAccessServer before "+id, calls...)}
}

func planDAGCreate(inv *Command, env Env) (*Plan, error) {
	m, err := mgmt(env)
	if err != nil {
		return nil, err
	}
	name, witness, dir, ips := inv.Value("name"), inv.Value("witness"), inv.Value("dir"), inv.Value("ip")
	create := C("New-DatabaseAvailabilityGroup", Str("Name", name), Str("WitnessServer", witness), Str("WitnessDirectory", dir))
	summary := fmt.Sprintf("Create DAG %s with witness %s:%s", name, witness, dir)
	if ips != "" {
		create.Params = append(create.Params, Strs("DatabaseAvailabilityGroupIPAddresses", strings.Split(ips, ",")...))
		summary += " and IP " + ips
	}
	return &Plan{
		Summary:   summary + ".",
		Preflight: []Step{exchangeStep(m, "read DAGs and Exchange servers", exchangeReads()...)},
		Steps: []Step{exchangeStep(m, "create DAG "+name,
			do(create),
			read("dag", colsDAGs, C("Get-DatabaseAvailabilityGroup", Str("Identity", name))),
		)},
		Lock:     "dag:" + name,
		evaluate: func(r []Tables) Findings { return evalDAGCreate(r, name, witness, dir, ips) },
	}, nil
}

func planDAGAddMember(inv *Command, env Env) (*Plan, error) {
	m, err := mgmt(env)
	if err != nil {
		return nil, err
	}
	if err := configured(inv, env, "server"); err != nil {
		return nil, err
	}
	dag, srv := inv.Value("dag"), inv.Value("server")
	probe := newScript()
	probe.nlbProbe()
	return &Plan{
		Summary: fmt.Sprintf("Add %s to DAG %s.", srv, dag),
		Preflight: []Step{
			exchangeStep(m, "read DAGs and Exchange servers", exchangeReads()...),
			{Target: srv, Script: probe.String(), Purpose: "read NLB state on " + srv},
		},
		Steps: []Step{exchangeStep(m, "add "+srv+" to "+dag,
			do(C("Add-DatabaseAvailabilityGroupServer", Str("Identity", dag), Str("MailboxServer", srv))),
			read("dag", colsDAGs, C("Get-DatabaseAvailabilityGroup", Str("Identity", dag))),
		)},
		Lock:     "dag:" + dag,
		evaluate: func(r []Tables) Findings { return evalDAGAddMember(r, dag, srv) },
	}, nil
}

// copyReads reads what copy add and failover judge: DAGs, the named database and its
// copies. Get-MailboxDatabase -Identity and Get-MailboxDatabaseCopyStatus fail on an
// unknown database, so the database is picked from all of them and its copies are
// read only when it exists; Evaluate reports the missing one.
func copyReads(m, db string) Step {
	return exchangeStep(m, "read DAGs, database "+db+" and its copies",
		read("dags", colsDAGs, C("Get-DatabaseAvailabilityGroup")),
		read("databases", colsDatabases, C("Get-MailboxDatabase")).where("Name", db),
		read("copystatus", colsCopyStatus, C("Get-MailboxDatabaseCopyStatus", Str("Identity", db))).
			when(Match{Section: "databases", Column: "Name", Value: db}),
	)
}

func planCopyAdd(inv *Command, env Env) (*Plan, error) {
	m, err := mgmt(env)
	if err != nil {
		return nil, err
	}
	db, srv, pref := inv.Value("database"), inv.Value("server"), inv.Value("preference")
	// Exchange 2010 seeds inside Add-MailboxDatabaseCopy, and ending the step ends the
	// seed: so the copy is added unseeded, and Update-MailboxDatabaseCopy seeds it in a
	// step of its own under exchange.seed_timeout instead of the command timeout.
	add := C("Add-MailboxDatabaseCopy", Str("Identity", db), Str("MailboxServer", srv), Switch("SeedingPostponed"))
	summary := fmt.Sprintf("Add a copy of %s on %s", db, srv)
	if pref != "" {
		n, err := strconv.Atoi(pref)
		if err != nil {
			return nil, fmt.Errorf("commands: preference %q is not a number", pref)
		}
		add.Params = append(add.Params, Int("ActivationPreference", n))
		summary += " with activation preference " + pref
	}
	copyStatus := read("copystatus", colsCopyStatus, C("Get-MailboxDatabaseCopyStatus", Str("Identity", db+`\`+srv)))
	// Update-MailboxDatabaseCopy asks for confirmation, which a remote session cannot
	// give; it resumes the copy when the seed completes.
	seed := exchangeStep(m, "seed copy "+db+`\`+srv+" (at most "+env.SeedLimit().String()+")",
		do(C("Update-MailboxDatabaseCopy", Str("Identity", db+`\`+srv), Bool("Confirm", false))), copyStatus)
	seed.Timeout = env.SeedLimit()
	return &Plan{
		Summary:   summary + ", seed it, then wait until it is Healthy.",
		Preflight: []Step{copyReads(m, db)},
		Steps:     []Step{exchangeStep(m, "add a copy of "+db+" on "+srv+" (seeded next)", do(add)), seed},
		Lock:      "database:" + db,
		Wait: &Wait{
			Step:     exchangeStep(m, "read the status of copy "+db+`\`+srv, copyStatus),
			Until:    &Until{Kind: UntilCopyHealthy, Database: db, Server: srv},
			Progress: "resuming the seeded copy " + db + `\` + srv,
			Budget:   resumeBudget, Interval: resumeInterval,
		},
		evaluate: func(r []Tables) Findings { return evalCopyAdd(r, db, srv, pref) },
	}, nil
}

func planFailover(inv *Command, env Env) (*Plan, error) {
	m, err := mgmt(env)
	if err != nil {
		return nil, err
	}
	db, to := inv.Value("database"), inv.Value("to")
	move, wait := switchover(m, db, to, "exchops: failover "+db+" to "+to)
	return &Plan{
		Summary:   fmt.Sprintf("Switch over %s to %s (lossless).", db, to),
		Preflight: []Step{copyReads(m, db)},
		Steps:     []Step{move},
		Lock:      "database:" + db,
		Wait:      wait,
		evaluate:  func(r []Tables) Findings { return evalFailover(r, db, to, env) },
	}, nil
}

// switchover is one lossless move of db to server to, as failover runs it and as
// every command that moves databases runs each of its moves (dag maintenance start,
// dag rebalance; the drill runs the failover plan itself): Move-ActiveMailboxDatabase,
// then the wait until db is Mounted on to with every other copy Healthy.
func switchover(m, db, to, comment string) (Step, *Wait) {
	// Lossless, and never a Skip* switch: a check that blocks the move is a finding,
	// not something to override. Move-ActiveMailboxDatabase asks for confirmation, and
	// a remote session cannot answer, so -Confirm:$false.
	move := C("Move-ActiveMailboxDatabase", Str("Identity", db), Str("ActivateOnServer", to),
		Str("MountDialOverride", "Lossless"), Str("MoveComment", comment), Bool("Confirm", false))
	copies := read("copystatus", colsCopyStatus, C("Get-MailboxDatabaseCopyStatus", Str("Identity", db)))
	return exchangeStep(m, "activate "+db+" on "+to, do(move), copies), &Wait{
		Step:     exchangeStep(m, "read the copies of "+db, copies),
		Until:    &Until{Kind: UntilMounted, Database: db, Server: to},
		Progress: "waiting for " + db + " to mount on " + to + " and the other copies to be Healthy",
		Budget:   switchBudget, Interval: switchInterval,
	}
}

// memberChecks are the per-member reads for health and drill, each sent to that
// member's own Exchange endpoint: Test-ReplicationHealth then runs on the server it
// tests (its cluster and service checks are local ones), and a member whose endpoint
// is down shows up as that member's failed read rather than as one failed read for
// all. A configured mailbox server outside the DAG asked about gives empty sections:
// its Get-MailboxServer row decides whether the other two calls run.
func memberChecks(env Env, dag string) ([]Step, error) {
	servers := env.withRole(RoleMailbox)
	if len(servers) == 0 {
		return nil, fmt.Errorf("commands: no server in exchange.servers has the mailbox role")
	}
	in := Match{Section: "mailboxserver", Column: "DatabaseAvailabilityGroup", NotEmpty: true}
	if dag != "" {
		in = Match{Section: "mailboxserver", Column: "DatabaseAvailabilityGroup", Value: dag}
	}
	var steps []Step
	for _, srv := range servers {
		steps = append(steps, exchangeStep(srv, "Test-ReplicationHealth and copy status on "+srv,
			read("mailboxserver", []string{"Name", "DatabaseAvailabilityGroup"}, C("Get-MailboxServer", Str("Identity", srv))),
			read("replicationhealth", colsHealth, C("Test-ReplicationHealth", Str("Identity", srv))).when(in),
			read("copystatus", colsCopyStatus, C("Get-MailboxDatabaseCopyStatus", Str("Server", srv))).when(in),
		))
	}
	return steps, nil
}

// dagReads are the management server's reads of one DAG: with -Status (members,
// operational servers, witness in use, Primary Active Manager), its networks, and
// the databases it holds (picked in exchops: Get-MailboxDatabase has no DAG filter).
func dagReads(dag string, dbCols []string) []Call {
	return []Call{
		read("dag", colsDAG, C("Get-DatabaseAvailabilityGroup", Str("Identity", dag), Switch("Status"))),
		read("networks", colsNetworks, C("Get-DatabaseAvailabilityGroupNetwork", Str("Identity", dag))),
		read("databases", dbCols, C("Get-MailboxDatabase")).where("MasterServerOrAvailabilityGroup", dag),
	}
}

// DAGRead is the read on the management server that a health report adds to the
// members' own checks (the health command's steps): the DAG with -Status, its
// networks, and its databases with their activation preferences and replay lag times.
func DAGRead(env Env, dag string) (Step, error) {
	m, err := mgmt(env)
	if err != nil {
		return Step{}, err
	}
	if !isComputerName(dag) {
		return Step{}, fmt.Errorf("commands: %q is not a DAG name: it must be %s", dag, KindDAG.Rule())
	}
	dag = strings.ToUpper(dag)
	cols := append(append([]string(nil), colsDatabases...), "*ReplayLagTimes", "*TruncationLagTimes")
	return exchangeStep(m, "read DAG "+dag+" status, networks and databases", TolerateFailures(dagReads(dag, cols))...), nil
}

// TolerateFailures marks calls, every one a read with a section, as Tolerated: each
// then fails on its own, and the step goes on with the others. It is the health
// report's choice for all of its reads (the health command's steps and DAGRead), each
// of which is a check of its own: the report shows a check that failed or was refused
// as not run, with the reason its section's failure gives, and judges the others.
// Plans that decide on what they read (preflights, the drill's checks) do not use it:
// there a failed read must stop the plan.
func TolerateFailures(calls []Call) []Call {
	out := make([]Call, len(calls))
	for i, c := range calls {
		c.Tolerated = true
		out[i] = c
	}
	return out
}

// Sections of the health command's server checks, one read each.
const (
	SectionServices      = "servicehealth" // Test-ServiceHealth, on a mailbox server
	SectionMounted       = "mounted"       // Get-MailboxDatabase -Server -Status, on a mailbox server
	SectionPublicFolders = "publicfolders" // Get-PublicFolderDatabase -Server -Status, on a mailbox server
	SectionMAPI          = "mapi"          // Test-MapiConnectivity -Server, on a mailbox server
	SectionQueues        = "queues"        // Get-Queue -Server, on a hub transport server
)

// serverChecks are the health command's reads of a server's own health, as
// Test-ExchangeServerHealth.ps1 makes them: on a mailbox server its required
// services, the mount status of its mailbox and public folder databases and (with
// health.mapi_connectivity) a MAPI logon to each database active there; on a hub
// transport server its queues. Each runs on the server it reads, through that
// server's own Exchange endpoint (Test-ServiceHealth looks at the local services,
// Get-Queue asks the local transport service: nothing hops).
func serverChecks(env Env, srv string, mailbox, hub bool) []Call {
	var calls []Call
	if mailbox {
		calls = append(calls,
			read(SectionServices, colsServiceHealth, C("Test-ServiceHealth", Str("Server", srv))),
			read(SectionMounted, colsMounted, C("Get-MailboxDatabase", Str("Server", srv), Switch("Status"))),
			read(SectionPublicFolders, colsPublicFolders, C("Get-PublicFolderDatabase", Str("Server", srv), Switch("Status"))),
		)
		if env.MAPIConnectivity {
			calls = append(calls, read(SectionMAPI, colsMAPI, C("Test-MapiConnectivity", Str("Server", srv))))
		}
	}
	if hub {
		calls = append(calls, read(SectionQueues, colsQueues, C("Get-Queue", Str("Server", srv))))
	}
	return calls
}

// planHealth is one step per server, all of whose reads are independent and
// tolerated (TolerateFailures): on each mailbox server its replication reads
// (memberChecks) and its server checks, on each other hub transport server its
// queues. The runner runs a step's reads at once in the server's session, so a
// member's checks cost about what one of them does; and since each read fails on its
// own, one that fails (a cmdlet the account lacks, a service that is down) is
// reported as a check that did not run while the others still count.
func planHealth(inv *Command, env Env) (*Plan, error) {
	dag := inv.Value("dag")
	members, err := memberChecks(env, dag)
	if err != nil {
		return nil, err
	}
	hubs := map[string]bool{}
	for _, srv := range env.withRole(RoleHubTransport) {
		hubs[srv] = true
	}
	var steps []Step
	for _, m := range members {
		calls := append(append([]Call(nil), m.Calls...), serverChecks(env, m.Target, true, hubs[m.Target])...)
		purpose := "Test-ReplicationHealth, copy status, services and mounted databases on " + m.Target
		if hubs[m.Target] {
			purpose += ", and its transport queues"
		}
		steps = append(steps, exchangeStep(m.Target, purpose, TolerateFailures(calls)...))
		delete(hubs, m.Target)
	}
	for _, srv := range env.withRole(RoleHubTransport) {
		if hubs[srv] {
			steps = append(steps, exchangeStep(srv, "transport queues of "+srv, TolerateFailures(serverChecks(env, srv, false, true))...))
		}
	}
	what := "every DAG member"
	if dag != "" {
		what = "the members of " + dag
	}
	return &Plan{Summary: "Replication health, copy status, services and mounted databases of " + what + ", and the transport queues.",
		Steps: steps}, nil
}

func planDrill(inv *Command, env Env) (*Plan, error) {
	m, err := mgmt(env)
	if err != nil {
		return nil, err
	}
	dag := inv.Value("dag")
	members, err := memberChecks(env, dag)
	if err != nil {
		return nil, err
	}
	// Every database's copies: evalDrill keeps those of the DAG's databases (the
	// endpoint cannot filter the pipeline, and copy status carries no DAG).
	proc, err := NewProcedure(ProcedureDrill, DrillArgs{DAG: dag})
	if err != nil {
		return nil, err
	}
	pre := append(dagReads(dag, append(append([]string(nil), colsDatabases...), "*ReplayLagTimes", "*TruncationLagTimes")),
		read("copystatus", colsCopyStatus, C("Get-MailboxDatabase"), C("Get-MailboxDatabaseCopyStatus")))
	return &Plan{
		Summary:   fmt.Sprintf("Failover drill of DAG %s: move each database to its next copy and back to the server it was on, one at a time, each move a lossless failover.", dag),
		Preflight: append([]Step{exchangeStep(m, "read DAG "+dag+" status, networks, databases and copies", pre...)}, members...),
		Lock:      "dag:" + dag,
		Procedure: "For each database of " + dag + ", one at a time: the failover plan to its best other healthy copy " +
			"(exactly `failover <database> to=<server>`: Move-ActiveMailboxDatabase -MountDialOverride Lossless, never a Skip switch), " +
			"a wait until it is Mounted and every other copy Healthy (at most drill.timeout), then the failover plan back to the server it was on. " +
			"The health of the DAG is checked again before each move; the drill stops at the first problem, fails back, and reports a scorecard.",
		CarriedOutBy: proc,
		evaluate:     func(r []Tables) Findings { return evalDrill(r, dag, env) },
	}, nil
}

func planDAGStatus(inv *Command, env Env) (*Plan, error) {
	m, err := mgmt(env)
	if err != nil {
		return nil, err
	}
	dag := inv.Value("dag")
	return &Plan{Summary: "Status of DAG " + dag + ".", Steps: []Step{exchangeStep(m, "read DAG "+dag+" with -Status",
		read("dag", colsDAG, C("Get-DatabaseAvailabilityGroup", Str("Identity", dag), Switch("Status"))))}}, nil
}

func planDAGNetworks(inv *Command, env Env) (*Plan, error) {
	m, err := mgmt(env)
	if err != nil {
		return nil, err
	}
	dag := inv.Value("dag")
	return &Plan{Summary: "Networks of DAG " + dag + ".", Steps: []Step{exchangeStep(m, "read the networks of "+dag,
		read("networks", colsNetworks, C("Get-DatabaseAvailabilityGroupNetwork", Str("Identity", dag))))}}, nil
}

func planCopyStatus(inv *Command, env Env) (*Plan, error) {
	m, err := mgmt(env)
	if err != nil {
		return nil, err
	}
	db := inv.Value("database")
	// Without -Identity, Exchange 2010 returns only the local server's copies, so
	// "all" is every database piped in. Preferences live on the database in 2010.
	src, what := C("Get-MailboxDatabase"), "every database"
	if db != "" {
		src, what = C("Get-MailboxDatabase", Str("Identity", db)), "database "+db
	}
	return &Plan{Summary: "Copy status of " + what + ".", Steps: []Step{exchangeStep(m, "read the copies of "+what,
		read("databases", colsDatabases, src),
		read("copystatus", colsCopyStatus, src, C("Get-MailboxDatabaseCopyStatus")),
	)}}, nil
}

func planCASArrayList(inv *Command, env Env) (*Plan, error) {
	m, err := mgmt(env)
	if err != nil {
		return nil, err
	}
	return &Plan{Summary: "List the CAS arrays.", Steps: []Step{exchangeStep(m, "read CAS arrays",
		read("casarrays", colsCASArrays, C("Get-ClientAccessArray")))}}, nil
}

func planAutodiscover(inv *Command, env Env) (*Plan, error) {
	m, err := mgmt(env)
	if err != nil {
		return nil, err
	}
	test, what := C("Test-OutlookWebServices"), "the test mailbox"
	if mb := inv.Value("mailbox"); mb != "" {
		test, what = C("Test-OutlookWebServices", Str("Identity", mb)), mb
	}
	return &Plan{Summary: "Test Autodiscover for " + what + ".", Steps: []Step{exchangeStep(m, "run Test-OutlookWebServices",
		read("autodiscover", []string{"Id", "Type", "Message"}, test))}}, nil
}
