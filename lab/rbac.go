package lab

// Exchange 2010 role-based access control, as far as the lab's cmdlets go. A session
// on the Exchange endpoint holds exactly the cmdlets of the management roles assigned
// to its account; any other cmdlet is "not recognized", as on a real server, where a
// cmdlet outside the account's roles is simply absent from its runspace.

import (
	"fmt"
	"sort"
	"strings"
)

// Built-in management roles of Exchange 2010 that cover the lab's cmdlets.
const (
	RoleDAGs              = "Database Availability Groups"
	RoleDatabaseCopies    = "Database Copies"
	RoleDatabases         = "Databases"
	RoleExchangeServers   = "Exchange Servers"
	RoleOrgClientAccess   = "Organization Client Access"
	RoleMonitoring        = "Monitoring"
	RoleViewOnlyConfig    = "View-Only Configuration"
	RoleTransportQueues   = "Transport Queues"
	RoleOrganizationAdmin = "Organization Configuration" // held by Organization Management; never the service account's
)

// roleCmdlets maps each role to the lab's cmdlets among its role entries. Built from
// the roles' descriptions in Microsoft's Exchange 2010 permission topics (High
// Availability Permissions, Client Access Permissions, the role pages); the lab keeps
// only the entries for cmdlets it implements (of Transport Queues, only Get-Queue).
var roleCmdlets = map[string][]string{
	RoleDAGs: {
		"New-DatabaseAvailabilityGroup", "Set-DatabaseAvailabilityGroup", "Remove-DatabaseAvailabilityGroup",
		"Get-DatabaseAvailabilityGroup", "Add-DatabaseAvailabilityGroupServer", "Remove-DatabaseAvailabilityGroupServer",
		"Get-DatabaseAvailabilityGroupNetwork", "Get-MailboxServer", "Get-ExchangeServer",
	},
	RoleDatabaseCopies: {
		"Add-MailboxDatabaseCopy", "Remove-MailboxDatabaseCopy", "Suspend-MailboxDatabaseCopy",
		"Resume-MailboxDatabaseCopy", "Update-MailboxDatabaseCopy", "Get-MailboxDatabaseCopyStatus",
		"Move-ActiveMailboxDatabase", "Get-MailboxDatabase", "Get-MailboxServer", "Get-ExchangeServer",
	},
	RoleDatabases: {
		"New-MailboxDatabase", "Set-MailboxDatabase", "Get-MailboxDatabase", "Mount-Database",
		"Get-MailboxServer", "Get-ExchangeServer",
	},
	RoleExchangeServers: {
		"Get-ExchangeServer", "Get-MailboxServer", "Get-ClientAccessServer", "Set-MailboxServer",
	},
	RoleOrgClientAccess: {
		"New-ClientAccessArray", "Set-ClientAccessArray", "Remove-ClientAccessArray", "Get-ClientAccessArray",
		"Get-ClientAccessServer", "Get-ADSite", "Get-ExchangeServer",
	},
	RoleMonitoring: {
		"Test-ReplicationHealth", "Test-OutlookWebServices", "Test-ServiceHealth", "Test-MapiConnectivity", "Get-MailboxDatabaseCopyStatus",
		"Get-ExchangeServer", "Get-MailboxServer", "Get-MailboxDatabase",
	},
	RoleViewOnlyConfig: {
		"Get-ExchangeServer", "Get-MailboxServer", "Get-MailboxDatabase", "Get-DatabaseAvailabilityGroup",
		"Get-DatabaseAvailabilityGroupNetwork", "Get-MailboxDatabaseCopyStatus", "Get-ClientAccessArray",
		"Get-ClientAccessServer", "Get-ADSite", "Get-PublicFolderDatabase",
	},
	RoleTransportQueues:   {"Get-Queue"},
	RoleOrganizationAdmin: {},
}

// DefaultRoles is what the lab's service account holds unless a test says otherwise:
// least privilege for exchops, every role its steps need and none of Organization
// Management's own.
var DefaultRoles = []string{
	RoleDAGs, RoleDatabaseCopies, RoleDatabases, RoleExchangeServers,
	RoleOrgClientAccess, RoleMonitoring, RoleViewOnlyConfig, RoleTransportQueues,
}

// ManagementRoles lists the roles the lab knows, sorted.
func ManagementRoles() []string {
	var out []string
	for r := range roleCmdlets {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// SetRoles assigns management roles to an account ("MSGLAB\svc-exchops" or
// "svc-exchops"), replacing what it had; sessions opened from then on see the
// cmdlets of those roles. No roles at all leaves the account unable to open a
// session, as Exchange refuses an account without management roles.
func (o *Org) SetRoles(user string, roles ...string) error {
	var norm []string
	for _, r := range roles {
		found := ""
		for known := range roleCmdlets {
			if strings.EqualFold(known, r) {
				found = known
			}
		}
		if found == "" {
			return fmt.Errorf("lab: no management role %q (roles: %s)", r, strings.Join(ManagementRoles(), ", "))
		}
		norm = append(norm, found)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.roles == nil {
		o.roles = map[string][]string{}
	}
	o.roles[strings.ToLower(bareUser(user))] = norm
	return nil
}

// Roles returns the management roles assigned to an account: DefaultRoles until
// SetRoles changes them.
func (o *Org) Roles(user string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if r, ok := o.roles[strings.ToLower(bareUser(user))]; ok {
		return append([]string(nil), r...)
	}
	return append([]string(nil), DefaultRoles...)
}

// allowedCmdlets is the set of cmdlet names (lower case) the roles grant.
func allowedCmdlets(roles []string) map[string]bool {
	out := map[string]bool{}
	for _, r := range roles {
		for _, c := range roleCmdlets[r] {
			out[strings.ToLower(c)] = true
		}
	}
	return out
}
