package commands

import (
	"fmt"
	"sort"
	"strings"
)

// rbacRoles is the one table of every Exchange cmdlet the catalog calls, the Exchange
// 2010 built-in management role that grants it to the service account, and the
// parameters exchops passes to it (RBAC grants parameters, not only cmdlets). Reads
// come from View-Only Configuration where that role has them; each change from the
// narrowest role for its feature. Organization Management is never needed.
//
// Role names are Exchange 2010's built-in roles ("Understanding Management Roles",
// Exchange 2010, role types DatabaseAvailabilityGroups, DatabaseCopies, Databases,
// Monitoring, OrganizationClientAccess, TransportQueues, ViewOnlyConfiguration). Which role holds
// which cmdlet can differ between service packs, so RBACScript checks every row
// against the organisation's own role entries before it grants anything.
var rbacRoles = []RBACEntry{
	{"Get-ADSite", roleViewOnlyConfig, nil},
	{"Get-ClientAccessArray", roleViewOnlyConfig, nil},
	{"Get-DatabaseAvailabilityGroup", roleViewOnlyConfig, []string{"Identity", "Status"}},
	{"Get-DatabaseAvailabilityGroupNetwork", roleViewOnlyConfig, []string{"Identity"}},
	{"Get-ExchangeServer", roleViewOnlyConfig, nil},
	{"Get-MailboxDatabase", roleViewOnlyConfig, []string{"Identity", "Server", "Status"}},
	{"Get-PublicFolderDatabase", roleViewOnlyConfig, []string{"Server", "Status"}},
	{"Get-MailboxServer", roleViewOnlyConfig, []string{"Identity"}},
	{"New-DatabaseAvailabilityGroup", "Database Availability Groups", []string{"Name", "WitnessServer", "WitnessDirectory", "DatabaseAvailabilityGroupIPAddresses"}},
	{"Add-DatabaseAvailabilityGroupServer", "Database Availability Groups", []string{"Identity", "MailboxServer"}},
	{"Get-MailboxDatabaseCopyStatus", "Database Copies", []string{"Identity", "Server"}},
	{"Add-MailboxDatabaseCopy", "Database Copies", []string{"Identity", "MailboxServer", "ActivationPreference", "SeedingPostponed"}},
	{"Update-MailboxDatabaseCopy", "Database Copies", []string{"Identity", "DeleteExistingFiles", "ManualResume", "Confirm"}},
	{"Suspend-MailboxDatabaseCopy", "Database Copies", []string{"Identity", "ActivationOnly", "SuspendComment", "Confirm"}},
	{"Resume-MailboxDatabaseCopy", "Database Copies", []string{"Identity", "ReplicationOnly", "Confirm"}},
	{"Set-MailboxServer", "Exchange Servers", []string{"Identity", "DatabaseCopyAutoActivationPolicy"}},
	{"Move-ActiveMailboxDatabase", "Database Copies", []string{"Identity", "ActivateOnServer", "MountDialOverride", "MoveComment", "Confirm"}},
	{"Set-MailboxDatabase", "Databases", []string{"Identity", "RpcClientAccessServer"}},
	{"New-ClientAccessArray", "Organization Client Access", []string{"Name", "Fqdn", "Site"}},
	{"Test-ReplicationHealth", "Monitoring", []string{"Identity"}},
	{"Test-OutlookWebServices", "Monitoring", []string{"Identity"}},
	{"Test-ServiceHealth", "Monitoring", []string{"Server"}},
	{"Test-MapiConnectivity", "Monitoring", []string{"Server"}},
	{"Get-Queue", "Transport Queues", []string{"Server"}},
}

const roleViewOnlyConfig = "View-Only Configuration"

// RBACEntry is one Exchange cmdlet the catalog calls, the built-in management role
// that grants it, and the parameters exchops passes to it.
type RBACEntry struct {
	Cmdlet string
	Role   string
	Params []string
}

// RBACTable is every cmdlet the catalog calls with its role (a copy): what a fake
// Exchange endpoint needs to grant the service account, and what RBACScript grants.
func RBACTable() []RBACEntry {
	out := make([]RBACEntry, len(rbacRoles))
	for i, r := range rbacRoles {
		out[i] = RBACEntry{Cmdlet: r.Cmdlet, Role: r.Role, Params: append([]string(nil), r.Params...)}
	}
	return out
}

// RBACGroup is the role group RBACScript creates for the service account.
const RBACGroup = "exchops"

// rbacRoleFor returns the role that grants cmdlet, or "".
func rbacRoleFor(cmdlet string) string {
	for _, r := range rbacRoles {
		if strings.EqualFold(r.Cmdlet, cmdlet) {
			return r.Role
		}
	}
	return ""
}

// RBACRoles are the management roles the catalog needs, sorted.
func RBACRoles() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range rbacRoles {
		if !seen[r.Role] {
			seen[r.Role] = true
			out = append(out, r.Role)
		}
	}
	sort.Strings(out)
	return out
}

// RBACScript is the Exchange Management Shell script (Exchange 2010, run once by a
// member of Organization Management) that gives account, the service account exchops
// signs in to the Exchange endpoint with ("MSGLAB\svc-exchops"), exactly the built-in
// management roles the catalog's cmdlets need, through a role group of its own. It
// first checks that each role holds each cmdlet with the parameters exchops passes,
// and stops before changing anything if one does not. It ends with what the WinRS
// steps need, which RBAC cannot grant.
func RBACScript(account string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# exchops: the Exchange 2010 permissions of the service account %s.", account)
	w("# Run once in the Exchange Management Shell as a member of Organization Management.")
	w("# It creates the role group %s with only the built-in roles the catalog's cmdlets need", Quote(RBACGroup))
	w("# (%s), and makes the account its only member.", strings.Join(RBACRoles(), ", "))
	w("$ErrorActionPreference = 'Stop'")
	w("")
	w("# Each cmdlet exchops calls: the role that grants it and the parameters exchops passes.")
	w("# Checked against this organisation's role entries before anything is created.")
	w("$need = @()")
	for _, r := range rbacRoles {
		w("$need += ,@(%s, %s, %s)", Quote(r.Role), Quote(r.Cmdlet), Quote(strings.Join(r.Params, ",")))
	}
	w("foreach ($n in $need) {")
	w("    $entry = @(Get-ManagementRoleEntry -Identity ($n[0] + '\\' + $n[1]) -ErrorAction SilentlyContinue)")
	w("    if ($entry.Count -eq 0) {")
	w("        throw ('The role ''' + $n[0] + ''' has no entry for ' + $n[1] + ' in this organisation. See which roles do with: Get-ManagementRole -Cmdlet ' + $n[1])")
	w("    }")
	w("    foreach ($p in ($n[2].Split(',') | Where-Object { $_ -ne '' })) {")
	w("        if (-not ($entry[0].Parameters -contains $p)) {")
	w("            throw ('The role ''' + $n[0] + ''' grants ' + $n[1] + ' without its parameter -' + $p + ', which exchops passes.')")
	w("        }")
	w("    }")
	w("}")
	w("")
	w("if (Get-RoleGroup -Identity %s -ErrorAction SilentlyContinue) {", Quote(RBACGroup))
	w("    throw ('The role group %s exists already: compare its roles with the ones above, or remove it (Remove-RoleGroup %s) and run this again.')", strings.ReplaceAll(Quote(RBACGroup), "'", "''"), strings.ReplaceAll(Quote(RBACGroup), "'", "''"))
	w("}")
	roles := make([]string, 0, len(RBACRoles()))
	for _, r := range RBACRoles() {
		roles = append(roles, Quote(r))
	}
	w("New-RoleGroup -Name %s -Roles %s -Members %s -Description %s", Quote(RBACGroup), strings.Join(roles, ", "), Quote(account),
		Quote("exchops service account: the roles its Exchange cmdlets need, nothing more"))
	w("")
	w("# What RBAC cannot grant: the WinRS steps (NLB and DNS) run PowerShell scripts over")
	w("# WinRM, which on Windows 2008 R2 only local Administrators may use.")
	w("# - On each Client Access server that nlb create or nlb add-host targets: add %s", account)
	w("#   to the local Administrators group (NLB cmdlets change the network configuration).")
	w("# - On the DNS server (exchange.dns_server): add %s to the local Administrators", account)
	w("#   group for WinRS, and to the domain's DnsAdmins group, which dnscmd /recordadd needs.")
	w("# - The dag add-member preflight reads NLB state over WinRS on the mailbox server it")
	w("#   adds: local Administrators there too, or that read fails and the change is not offered.")
	w("# - dag maintenance start and stop read, pause and resume the failover cluster node over")
	w("#   WinRS on the DAG member itself (Get-ClusterNode, Suspend-ClusterNode, Resume-ClusterNode,")
	w("#   Move-ClusterGroup; FailoverClusters is no Exchange module): add %s to the local", account)
	w("#   Administrators group of every DAG member, which on 2008 R2 also gives full control of the")
	w("#   cluster (Get-ClusterAccess lists who has it).")
	return b.String()
}
