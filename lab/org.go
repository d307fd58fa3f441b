// Package lab is a simulated Exchange 2010 organisation behind real WS-Management
// endpoints: the peer that exchops' tests, demo and benchmarks run the real clients
// against. Every server answers WinRS (powershell.exe scripts, dnscmd); every
// Exchange server also serves its Exchange endpoint (/PowerShell/, PowerShell
// Remoting in NoLanguage mode, cmdlets by the account's RBAC roles: ExchangeEndpoint).
//
// The organisation starts as it is before the walkthrough's first step (domain
// msglab.local, two mailbox servers with one database each, two Client Access + Hub
// Transport servers, a domain controller with DNS; no DNS record for the CAS array, no
// NLB, no CAS array, no DAG). Its cmdlets keep state, take time on the lab's clock, and
// refuse what Exchange 2010 and Windows Server 2008 R2 refuse, with their messages.
package lab

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/exchops/exchops/internal/clock"
)

// The lab's fixed names (from the walkthrough).
const (
	Domain   = "msglab.local"
	DomainNB = "MSGLAB"
	SiteName = "Default-First-Site-Name"
	// BranchSiteName is the second site Options.BranchSite adds.
	BranchSiteName = "Branch-Site"
	OrgName        = "MSGLAB"
	ExchangeV      = "Version 14.3 (Build 123.4)" // Exchange 2010 SP3, AdminDisplayVersion
	InstallDir     = `C:\Program Files\Microsoft\Exchange Server\V14\`
)

// Org is the simulated organisation: all state behind every simulated server.
// Every cmdlet takes mu for the whole of its read or change, so each one is atomic.
type Org struct {
	mu    sync.Mutex
	clock clock.Clock

	servers   []*Server // in a fixed order (the order they are listed and reported)
	databases []*Database
	dags      []*DAG
	// publicFolders are the public folder databases (none until a test or fault adds one).
	publicFolders []*PublicFolderDB
	casArrays     []*CASArray
	nlb           []*NLBCluster
	dns           map[string][]DNSRecord // zone (lower case) -> records
	mailboxes     []string               // primary SMTP addresses
	roles         map[string][]string    // account (bare, lower case) -> management roles (rbac.go)

	// Timings of things that take time in Exchange; tests may shorten them.
	Timing Timing
}

// Timing holds how long simulated operations take on the lab clock.
type Timing struct {
	Seed        time.Duration // Add-MailboxDatabaseCopy: Seeding -> Healthy
	Initialize  time.Duration // a passive copy after a switchover: Initializing -> Healthy
	Switchover  time.Duration // Move-ActiveMailboxDatabase, before it returns
	NLBConverge time.Duration // a new NLB node: Converging -> Converged
	DAGMember   time.Duration // Add-DatabaseAvailabilityGroupServer (installs failover clustering)
}

// DefaultTiming is close to what a small real lab shows.
var DefaultTiming = Timing{
	Seed:        90 * time.Second,
	Initialize:  20 * time.Second,
	Switchover:  15 * time.Second,
	NLBConverge: 30 * time.Second,
	DAGMember:   60 * time.Second,
}

// Server is one simulated Windows server.
type Server struct {
	Name     string   // NetBIOS name, upper case: EX10-MB01
	Roles    []string // Exchange roles: Mailbox, ClientAccess, HubTransport; DC01: none
	OS       string   // "Windows Server 2008 R2 Enterprise"
	IsDC     bool     // domain controller (and DNS server)
	Exchange bool     // Exchange 2010 installed
	NICs     []NIC
	Features map[string]bool // installed Windows features, e.g. "NLB"
	Site     string
	// Culture is the display language of the server's Exchange (SetCulture): "" or
	// "en-US" is English; "de-DE" makes the texts Exchange localises German.
	Culture string
	// ActivationPolicy is the mailbox server's DatabaseCopyAutoActivationPolicy
	// (Set-MailboxServer): "" is Exchange's default, Unrestricted.
	ActivationPolicy string
	// Faults of the server's own health (server_health.go): required services that
	// are stopped (lower case), and a Hub Transport server's backlog.
	stopped map[string]bool
	queue   transportQueue
}

// FQDN is the server's DNS name.
func (s *Server) FQDN() string { return strings.ToLower(s.Name) + "." + Domain }

// HasRole reports whether the server runs an Exchange role (Mailbox, ClientAccess, HubTransport).
func (s *Server) HasRole(role string) bool {
	for _, r := range s.Roles {
		if strings.EqualFold(r, role) {
			return true
		}
	}
	return false
}

// NIC is a network adapter.
type NIC struct {
	Name string // "MAPI", "Replication", "Local Area Connection"
	IP   string
	Mask string
}

// Database is a mailbox database and its copies.
type Database struct {
	Name                  string
	Active                string // server holding the mounted copy
	Mounted               bool
	EdbFilePath           string
	LogFolderPath         string
	CircularLogging       bool
	RpcClientAccessServer string  // FQDN; at creation the database's own server's FQDN
	Copies                []*Copy // the active copy first at creation; Preference is explicit
	switchingOver         bool    // a Move-ActiveMailboxDatabase is under way (dag.go)
}

// Copy is one copy of a database on one server.
type Copy struct {
	Server          string
	Preference      int       // activation preference, 1 = preferred
	SeedingUntil    time.Time // Seeding (on the target; SeedingSource on the active) until then
	InitializeUntil time.Time // Initializing until then (after a switchover)
	Suspended       bool      // Suspend-MailboxDatabaseCopy (activation and replication)
	ActivationOnly  bool      // Suspend-MailboxDatabaseCopy -ActivationOnly
	SuspendComment  string
	// Fault state set by tests and flags.
	Failed            bool // Failed
	FailedAndSusp     bool // FailedAndSuspended
	ErrorMessage      string
	CopyQueue         int // CopyQueueLength (grows under a fault)
	ReplayQueue       int // ReplayQueueLength
	ContentIndexState string
	LastInspected     time.Time
	SeedingPostponed  bool // added with -SeedingPostponed: suspended and never seeded
	// A lagged copy (SetLag): logs are replayed ReplayLag late and kept TruncationLag
	// longer; its activation is suspended on purpose and its replay queue is long.
	ReplayLag, TruncationLag time.Duration
}

// DAG is a database availability group.
type DAG struct {
	Name             string
	WitnessServer    string
	WitnessDirectory string
	IPs              []string // DatabaseAvailabilityGroupIPAddresses
	Members          []string // server names, in the order added
	JoiningUntil     map[string]time.Time
	Networks         []*DAGNetwork
	// Faults.
	WitnessUnreachable bool
	DownMembers        map[string]bool // members whose cluster/replay service is down
	// PausedMembers are the cluster nodes paused (Suspend-ClusterNode): up and voting,
	// but they can own no cluster group and Active Manager activates nothing there by
	// itself. GroupOwner is the node that owns the cluster group, the Primary Active
	// Manager ("" until Move-ClusterGroup names one: the first operational member).
	PausedMembers map[string]bool
	GroupOwner    string
}

// DAGNetwork is a DAG network (one per subnet: MAPI and Replication).
type DAGNetwork struct {
	Name               string // DAGNetwork01, DAGNetwork02
	Subnet             string // 10.0.0.0/24
	ReplicationEnabled bool
	MapiAccessEnabled  bool // the client-facing network (the members' first NICs)
	Down               bool // fault: subnet and interfaces go Down
}

// CASArray is a Client Access array (Exchange 2010 only).
type CASArray struct {
	Name string
	Fqdn string
	Site string
}

// NLBCluster is a Windows NLB cluster over Client Access servers: the hosts on the
// network that answer for one cluster IP. NLB has no central membership; hosts
// converge when they share the cluster parameters and port rules.
type NLBCluster struct {
	Name  string // the full Internet name, e.g. client.msglab.local
	IP    string
	Mask  string
	Mode  string // Unicast, Multicast, IgmpMulticast
	Rules []NLBPortRule
	Nodes []*NLBNode
}

// NLBPortRule is one port rule (Get-NlbClusterPortRule's PortRule).
type NLBPortRule struct {
	IP         string // "All" or a cluster IP
	Start, End int
	Protocol   string // Both, Tcp, Udp
	Mode       string // Multiple, Single, Disabled (the object's FilteringMode)
	Affinity   string // None, Single, Network
	Timeout    int    // minutes of extended affinity
}

// NLBNode is one host of an NLB cluster.
type NLBNode struct {
	Host            string
	Interface       string
	HostID          int
	ConvergingUntil time.Time
	Stopped         bool // Stop-NlbClusterNode: not converging, not load balancing
	// Own is set on a host that was configured on its own (New-NlbCluster on it with a
	// cluster IP already on the network) rather than through Add-NlbClusterNode: it
	// holds that host's copy of the cluster parameters, which must equal the
	// cluster's for the hosts to converge. Nil: the host has the cluster's.
	Own *NLBParams
}

// NLBParams are the parameters every host of a cluster must share.
type NLBParams struct {
	Name, Mask, Mode string
	Rules            []NLBPortRule
}

// DNSRecord is one resource record in a zone.
type DNSRecord struct {
	Name string // relative name, lower case ("client", "@" for the zone apex)
	Type string // A
	Data string // the address
	TTL  int    // seconds; 0 means the zone default (3600)
}

// New builds the organisation as it is before the walkthrough's first step.
func New(c clock.Clock) *Org {
	now := c.Now()
	mb := func(name, mapiIP, replIP string) *Server {
		return &Server{
			Name: name, Roles: []string{"Mailbox"}, OS: "Windows Server 2008 R2 Enterprise", Exchange: true,
			NICs: []NIC{
				{Name: "MAPI", IP: mapiIP, Mask: "255.255.255.0"},
				{Name: "Replication", IP: replIP, Mask: "255.255.255.0"},
			},
			Features: map[string]bool{}, Site: SiteName,
		}
	}
	cas := func(name, ip string) *Server {
		return &Server{
			Name: name, Roles: []string{"ClientAccess", "HubTransport"}, OS: "Windows Server 2008 R2 Enterprise", Exchange: true,
			NICs:     []NIC{{Name: "Local Area Connection", IP: ip, Mask: "255.255.255.0"}},
			Features: map[string]bool{}, Site: SiteName,
		}
	}
	db := func(name, server string) *Database {
		return &Database{
			Name: name, Active: server, Mounted: true,
			EdbFilePath:           `C:\Program Files\Microsoft\Exchange Server\V14\Mailbox\` + name + `\` + name + `.edb`,
			LogFolderPath:         `C:\Program Files\Microsoft\Exchange Server\V14\Mailbox\` + name,
			RpcClientAccessServer: strings.ToLower(server) + "." + Domain,
			Copies: []*Copy{{
				Server: server, Preference: 1, ContentIndexState: "Healthy", LastInspected: now,
			}},
		}
	}
	o := &Org{
		clock: c,
		servers: []*Server{
			mb("EX10-MB01", "10.0.0.11", "10.0.1.11"),
			mb("EX10-MB02", "10.0.0.12", "10.0.1.12"),
			cas("EX10-CAHT", "10.0.0.21"),
			cas("EX10-CAHT02", "10.0.0.22"),
			{
				Name: "DC01", OS: "Windows Server 2008 R2 Enterprise", IsDC: true,
				NICs:     []NIC{{Name: "Local Area Connection", IP: "10.0.0.5", Mask: "255.255.255.0"}},
				Features: map[string]bool{"DNS": true, "AD-Domain-Services": true}, Site: SiteName,
			},
		},
		databases: []*Database{db("MB01", "EX10-MB01"), db("MB02", "EX10-MB02")},
		dns: map[string][]DNSRecord{
			Domain: {
				{Name: "@", Type: "A", Data: "10.0.0.5"},
				{Name: "dc01", Type: "A", Data: "10.0.0.5"},
				{Name: "ex10-mb01", Type: "A", Data: "10.0.0.11"},
				{Name: "ex10-mb02", Type: "A", Data: "10.0.0.12"},
				{Name: "ex10-caht", Type: "A", Data: "10.0.0.21"},
				{Name: "ex10-caht02", Type: "A", Data: "10.0.0.22"},
			},
		},
		mailboxes: []string{"administrator@" + Domain},
		Timing:    DefaultTiming,
	}
	return o
}

// AddBranchSite adds a second Active Directory site, BranchSiteName, with EX10-BR01:
// Mailbox, Client Access and Hub Transport on one server, in no DAG, holding database
// BR01, whose RpcClientAccessServer is that server's own FQDN (what Exchange 2010 sets
// for a database on a server that also has the Client Access role). It runs before the
// servers are served.
func (o *Org) AddBranchSite() {
	o.mu.Lock()
	defer o.mu.Unlock()
	const name, ip = "EX10-BR01", "10.0.2.31"
	if o.server(name) != nil {
		return
	}
	s := &Server{
		Name: name, Roles: []string{"Mailbox", "ClientAccess", "HubTransport"}, OS: "Windows Server 2008 R2 Enterprise", Exchange: true,
		NICs:     []NIC{{Name: "Local Area Connection", IP: ip, Mask: "255.255.255.0"}},
		Features: map[string]bool{}, Site: BranchSiteName,
	}
	o.servers = append(o.servers, s)
	o.dns[Domain] = append(o.dns[Domain], DNSRecord{Name: strings.ToLower(name), Type: "A", Data: ip})
	o.databases = append(o.databases, &Database{
		Name: "BR01", Active: name, Mounted: true,
		EdbFilePath:           InstallDir + `Mailbox\BR01\BR01.edb`,
		LogFolderPath:         InstallDir + `Mailbox\BR01`,
		RpcClientAccessServer: s.FQDN(),
		Copies:                []*Copy{{Server: name, Preference: 1, ContentIndexState: "Healthy", LastInspected: o.clock.Now()}},
	})
}

// SetRpcClientAccessServer sets a database's RpcClientAccessServer as it is, "" for
// empty, without Set-MailboxDatabase's checks: tests use it for values that Exchange
// set itself (a database created before any Client Access server existed).
func (o *Org) SetRpcClientAccessServer(db, value string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	d := o.database(db)
	if d == nil {
		return fmt.Errorf("lab: no database %q", db)
	}
	d.RpcClientAccessServer = value
	return nil
}

// RpcClientAccessServer returns a database's RpcClientAccessServer, for tests.
func (o *Org) RpcClientAccessServer(db string) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	d := o.database(db)
	if d == nil {
		return "", fmt.Errorf("lab: no database %q", db)
	}
	return d.RpcClientAccessServer, nil
}

// sites lists the organisation's Active Directory sites, in the order of their first
// server; callers hold mu.
func (o *Org) sites() []string {
	var out []string
	for _, s := range o.servers {
		if s.Site != "" && !slices.Contains(out, s.Site) {
			out = append(out, s.Site)
		}
	}
	return out
}

// Clock is the organisation's clock.
func (o *Org) Clock() clock.Clock { return o.clock }

// Servers lists the simulated servers in their fixed order.
func (o *Org) Servers() []*Server { return o.servers }

// server finds a server by NetBIOS name or FQDN, case-insensitively. Callers hold mu.
func (o *Org) server(name string) *Server {
	n := strings.TrimSuffix(strings.ToLower(name), "."+Domain)
	for _, s := range o.servers {
		if strings.EqualFold(s.Name, n) {
			return s
		}
	}
	return nil
}

// database finds a database by name; callers hold mu.
func (o *Org) database(name string) *Database {
	for _, d := range o.databases {
		if strings.EqualFold(d.Name, name) {
			return d
		}
	}
	return nil
}

// dag finds a DAG by name; callers hold mu.
func (o *Org) dag(name string) *DAG {
	for _, d := range o.dags {
		if strings.EqualFold(d.Name, name) {
			return d
		}
	}
	return nil
}

// dagOf returns the DAG a server is a member of, or nil; callers hold mu.
func (o *Org) dagOf(server string) *DAG {
	for _, d := range o.dags {
		for _, m := range d.Members {
			if strings.EqualFold(m, server) {
				return d
			}
		}
	}
	return nil
}

// nlbOf returns the NLB cluster a server is a node of, or nil; callers hold mu.
func (o *Org) nlbOf(server string) *NLBCluster {
	for _, c := range o.nlb {
		for _, n := range c.Nodes {
			if strings.EqualFold(n.Host, server) {
				return c
			}
		}
	}
	return nil
}
