package lab

// The DAG side of the simulated organisation: database availability groups, their
// members and networks, mailbox databases and their copies, switchovers and
// replication health. The rules live in plain methods on Org (newDAG, addDAGMember,
// addCopy, moveActive, ...) so they can be tested without the interpreter; the
// cmdlets in dag_cmdlets.go only bind parameters to them and build the objects the
// Exchange Management Shell returns.
//
// Time-driven states (Seeding, Initializing) are not advanced by goroutines: they are
// deadlines stored in the model and compared with o.clock.Now() whenever a status is
// read, so a clock.Manual drives them exactly and nothing runs in the background.

import (
	"context"
	"fmt"
	"hash/fnv"
	"net"
	"strings"
	"time"

	"github.com/exchops/exchops/lab/ps"
)

// Limits and thresholds of Exchange 2010 high availability.
const (
	// maxDAGMembers is the failover cluster node limit that a DAG inherits.
	maxDAGMembers = 16
	// maxCopies follows from it: one copy per member.
	maxCopies = 16
	// maxDAGNameLength is the NetBIOS limit: the DAG name becomes the cluster's
	// computer account.
	maxDAGNameLength = 15
	// Active Manager's best-copy selection treats a copy as keeping up when its copy
	// queue is under 10 logs and its replay queue under 50. A switchover without
	// -SkipLagChecks, and Test-ReplicationHealth's KeepingUp checks, use the same bars.
	maxCopyQueue   = 10
	maxReplayQueue = 50
	// dcFQDN is the domain controller Exchange names in "couldn't be found on" errors.
	dcFQDN = "DC01." + Domain
)

// Mount dials: how many lost logs (the copy queue of the copy being activated) a
// database may mount with. Move-ActiveMailboxDatabase defaults to Lossless;
// -MountDialOverride None falls back to the server's AutoDatabaseMountDial, which is
// GoodAvailability on Exchange 2010.
var mountDials = map[string]int{
	"":                 0, // not given: Lossless
	"lossless":         0,
	"goodavailability": 6,
	"bestavailability": 12,
	"besteffort":       1 << 30,
	"none":             6, // the server's dial
}

// mountDialNames are the values -MountDialOverride accepts, in Exchange's order.
var mountDialNames = []string{"None", "Lossless", "GoodAvailability", "BestAvailability", "BestEffort"}

// Copy status values (Get-MailboxDatabaseCopyStatus Status).
const (
	statusMounted                = "Mounted"
	statusDismounted             = "Dismounted"
	statusHealthy                = "Healthy"
	statusFailed                 = "Failed"
	statusFailedAndSuspended     = "FailedAndSuspended"
	statusSuspended              = "Suspended"
	statusSeeding                = "Seeding"
	statusInitializing           = "Initializing"
	statusServiceDown            = "ServiceDown"
	statusDisconnectedAndHealthy = "DisconnectedAndHealthy"
)

// taskNamespace is where Exchange 2010's DAG and database tasks live; error ids name it.
const taskNamespace = "Microsoft.Exchange.Management.SystemConfigurationTasks."

// exErr makes an error the way an Exchange task reports one: the message, a category,
// and a FullyQualifiedErrorId of "<hex>,<task class>". The hex part is a stable hash
// of the message, so golden files do not change from run to run.
func exErr(cmdlet string, category ps.ErrorCategory, exception, format string, args ...any) *ps.ErrorRecord {
	msg := fmt.Sprintf(format, args...)
	h := fnv.New32a()
	h.Write([]byte(msg))
	e := ps.Errorf(category, fmt.Sprintf("%08X,%s%s", h.Sum32(), taskNamespace, strings.ReplaceAll(cmdlet, "-", "")), "%s", msg)
	e.ExceptionType = exception
	return e
}

// notFound is Exchange 2010's ManagementObjectNotFoundException for an identity that
// resolves to nothing.
func notFound(cmdlet, identity string) *ps.ErrorRecord {
	return exErr(cmdlet, "NotSpecified", "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
		"The operation couldn't be performed because object '%s' couldn't be found on '%s'.", identity, dcFQDN)
}

// invalidOp is a precondition refusal.
func invalidOp(cmdlet, format string, args ...any) *ps.ErrorRecord {
	return exErr(cmdlet, "InvalidOperation", "System.InvalidOperationException", format, args...)
}

// invalidArg is an argument Exchange's validation rejects.
func invalidArg(cmdlet, format string, args ...any) *ps.ErrorRecord {
	return exErr(cmdlet, "InvalidArgument", "System.ArgumentException", format, args...)
}

// activeManagerErr wraps a switchover validation failure the way Active Manager
// reports it to Move-ActiveMailboxDatabase.
func activeManagerErr(detail string) *ps.ErrorRecord {
	return exErr("Move-ActiveMailboxDatabase", "InvalidOperation", "Microsoft.Exchange.Cluster.Replay.AmDbActionWrapperException",
		"An Active Manager operation failed. Error: The database action failed. Error: An error occurred while trying to validate the specified database copy for possible activation. Error: %s", detail)
}

// ---- lookups (callers hold o.mu) ----

// exchangeServer finds an Exchange server; DC01 is not one.
func (o *Org) exchangeServer(name string) *Server {
	if s := o.server(name); s != nil && s.Exchange {
		return s
	}
	return nil
}

// mailboxServer resolves a MailboxServerIdParameter: only servers with the Mailbox role.
func (o *Org) mailboxServer(name string) *Server {
	if s := o.exchangeServer(name); s != nil && s.HasRole("Mailbox") {
		return s
	}
	return nil
}

func (db *Database) copyOn(server string) *Copy {
	for _, c := range db.Copies {
		if strings.EqualFold(c.Server, server) {
			return c
		}
	}
	return nil
}

func (db *Database) activeCopy() *Copy { return db.copyOn(db.Active) }

// splitCopyID splits "DB\SERVER".
func splitCopyID(id string) (db, server string, ok bool) {
	i := strings.LastIndex(id, `\`)
	if i <= 0 || i == len(id)-1 {
		return "", "", false
	}
	return id[:i], id[i+1:], true
}

// copyByID resolves a DatabaseCopyIdParameter ("DB\SERVER").
func (o *Org) copyByID(cmdlet, id string) (*Database, *Copy, error) {
	dbName, srvName, ok := splitCopyID(id)
	if !ok {
		return nil, nil, invalidArg(cmdlet, "The value '%s' isn't a valid database copy identity. Use the form <Database>\\<Server>.", id)
	}
	db := o.database(dbName)
	if db == nil {
		return nil, nil, notFound(cmdlet, id)
	}
	s := o.server(srvName)
	if s == nil {
		return nil, nil, notFound(cmdlet, id)
	}
	c := db.copyOn(s.Name)
	if c == nil {
		return nil, nil, notFound(cmdlet, id)
	}
	return db, c, nil
}

// ---- derived state (callers hold o.mu) ----

// memberDown reports whether the cluster and replication services of a DAG member
// are down (SetMemberDown).
func (o *Org) memberDown(server string) bool {
	d := o.dagOf(server)
	return d != nil && d.DownMembers[strings.ToUpper(server)]
}

// operational lists the members whose cluster service is up.
func (d *DAG) operational() []string {
	var up []string
	for _, m := range d.Members {
		if !d.DownMembers[strings.ToUpper(m)] {
			up = append(up, m)
		}
	}
	return up
}

// usesWitness: with an even number of members the cluster runs Node and File Share
// Majority; with an odd number, Node Majority and no witness.
func (d *DAG) usesWitness() bool { return len(d.Members) > 0 && len(d.Members)%2 == 0 }

// hasQuorum reports whether more than half of the votes (members, plus the witness
// when it is used) are up.
func (d *DAG) hasQuorum() bool {
	if len(d.Members) == 0 {
		return false
	}
	votes, up := len(d.Members), len(d.operational())
	if d.usesWitness() {
		votes++
		if !d.WitnessUnreachable {
			up++
		}
	}
	return 2*up > votes
}

// replicationDown reports whether every replication-enabled network of the DAG is
// down, so passive copies can no longer receive logs.
func (d *DAG) replicationDown() bool {
	any := false
	for _, n := range d.Networks {
		if n.ReplicationEnabled {
			any = true
			if !n.Down {
				return false
			}
		}
	}
	return any
}

// mounted reports whether a database is mounted: it was mounted, and if its server
// is in a DAG, that server's services are up and the DAG has quorum (a DAG that loses
// quorum dismounts everything).
func (o *Org) mounted(db *Database) bool {
	if !db.Mounted || o.serviceStopped(db.Active, "MSExchangeIS") {
		return false
	}
	if d := o.dagOf(db.Active); d != nil {
		return !d.DownMembers[strings.ToUpper(db.Active)] && d.hasQuorum()
	}
	return true
}

// copyStatus is the Status of one copy, derived from the model, the faults and now.
func (o *Org) copyStatus(db *Database, c *Copy, now time.Time) string {
	if o.memberDown(c.Server) || o.serviceStopped(c.Server, "MSExchangeRepl") {
		return statusServiceDown
	}
	if strings.EqualFold(c.Server, db.Active) {
		if o.mounted(db) {
			return statusMounted
		}
		return statusDismounted
	}
	switch {
	case now.Before(c.SeedingUntil):
		// A seed under way: Update-MailboxDatabaseCopy seeds a suspended copy.
		return statusSeeding
	case c.FailedAndSusp:
		return statusFailedAndSuspended
	case c.Failed:
		return statusFailed
	case c.Suspended:
		return statusSuspended
	case now.Before(c.InitializeUntil):
		return statusInitializing
	}
	if d := o.dagOf(c.Server); d != nil && d.replicationDown() {
		return statusDisconnectedAndHealthy
	}
	return statusHealthy
}

// seedingFrom reports the first copy of db being seeded at now, if any: its active
// copy is then a seeding source.
func (o *Org) seedingFrom(db *Database, now time.Time) *Copy {
	for _, c := range db.Copies {
		if !strings.EqualFold(c.Server, db.Active) && o.copyStatus(db, c, now) == statusSeeding {
			return c
		}
	}
	return nil
}

// ---- DAGs ----

// validComputerName: letters, digits and hyphens, not all digits, no leading or
// trailing hyphen. A DAG name becomes a computer account (the cluster name object).
func validComputerName(name string) bool {
	if name == "" || name[0] == '-' || name[len(name)-1] == '-' {
		return false
	}
	digits := true
	for _, r := range name {
		switch {
		case r >= '0' && r <= '9':
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '-':
			digits = false
		default:
			return false
		}
	}
	return !digits
}

// newDAG creates a database availability group with no members.
func (o *Org) newDAG(name, witness, witnessDir string, ips []string) (*DAG, error) {
	const cmd = "New-DatabaseAvailabilityGroup"
	if len(name) > maxDAGNameLength {
		return nil, invalidArg(cmd, "The name '%s' is %d characters long. A database availability group name can't be longer than %d characters.", name, len(name), maxDAGNameLength)
	}
	if !validComputerName(name) {
		return nil, invalidArg(cmd, "'%s' isn't a valid database availability group name. The name must be a valid computer name: letters, digits and hyphens, and not only digits.", name)
	}
	if o.dag(name) != nil {
		return nil, invalidOp(cmd, "Active Directory operation failed on %s. The object 'CN=%s,CN=Database Availability Groups,CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative Groups,CN=%s,CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=msglab,DC=local' already exists.", dcFQDN, name, OrgName)
	}
	if o.server(name) != nil {
		return nil, invalidOp(cmd, "The name '%s' is already used by a computer in domain '%s'. A database availability group needs a unique computer name.", name, Domain)
	}
	wsName := ""
	if witness != "" {
		ws := o.server(witness)
		if ws == nil {
			return nil, notFound(cmd, witness)
		}
		wsName = ws.Name
	}
	addrs, err := parseIPv4s(cmd, ips)
	if err != nil {
		return nil, err
	}
	d := &DAG{
		Name: name, WitnessServer: wsName, WitnessDirectory: witnessDir, IPs: addrs,
		JoiningUntil: map[string]time.Time{}, DownMembers: map[string]bool{}, PausedMembers: map[string]bool{},
	}
	o.dags = append(o.dags, d)
	return d, nil
}

func parseIPv4s(cmd string, ips []string) ([]string, error) {
	var out []string
	for _, ip := range ips {
		p := net.ParseIP(strings.TrimSpace(ip))
		if p == nil || p.To4() == nil {
			return nil, invalidArg(cmd, "Cannot bind parameter 'DatabaseAvailabilityGroupIPAddresses'. Cannot convert value \"%s\" to type \"System.Net.IPAddress\". Error: \"An invalid IP address was specified.\"", ip)
		}
		out = append(out, p.To4().String())
	}
	return out, nil
}

// setDAG changes the witness or the IP addresses of a DAG. Empty values keep the
// current setting; ips is nil when not given.
func (o *Org) setDAG(name, witness, witnessDir string, ips []string) (*DAG, error) {
	const cmd = "Set-DatabaseAvailabilityGroup"
	d := o.dag(name)
	if d == nil {
		return nil, notFound(cmd, name)
	}
	if witness != "" {
		ws := o.server(witness)
		if ws == nil {
			return nil, notFound(cmd, witness)
		}
		for _, m := range d.Members {
			if strings.EqualFold(m, ws.Name) {
				return nil, invalidOp(cmd, "Server '%s' is a member of database availability group '%s'. The witness server can't be a member of the database availability group.", ws.Name, d.Name)
			}
		}
		d.WitnessServer = ws.Name
	}
	if witnessDir != "" {
		d.WitnessDirectory = witnessDir
	}
	if ips != nil {
		addrs, err := parseIPv4s(cmd, ips)
		if err != nil {
			return nil, err
		}
		d.IPs = addrs
	}
	return d, nil
}

// removeDAG deletes an empty DAG.
func (o *Org) removeDAG(name string) error {
	const cmd = "Remove-DatabaseAvailabilityGroup"
	d := o.dag(name)
	if d == nil {
		return notFound(cmd, name)
	}
	if len(d.Members) > 0 || len(d.JoiningUntil) > 0 {
		return invalidOp(cmd, "Database availability group '%s' still has member servers (%s). Remove them with Remove-DatabaseAvailabilityGroupServer before removing the database availability group.", d.Name, strings.Join(d.Members, ", "))
	}
	for i, x := range o.dags {
		if x == d {
			o.dags = append(o.dags[:i], o.dags[i+1:]...)
			break
		}
	}
	return nil
}

// joining reports the DAG a server is being added to, if any.
func (o *Org) joining(server string) *DAG {
	for _, d := range o.dags {
		if _, ok := d.JoiningUntil[strings.ToUpper(server)]; ok {
			return d
		}
	}
	return nil
}

// checkJoin applies Add-DatabaseAvailabilityGroupServer's preconditions.
func (o *Org) checkJoin(dagName, server string) (*DAG, *Server, error) {
	const cmd = "Add-DatabaseAvailabilityGroupServer"
	d := o.dag(dagName)
	if d == nil {
		return nil, nil, notFound(cmd, dagName)
	}
	s := o.exchangeServer(server)
	if s == nil {
		return nil, nil, notFound(cmd, server)
	}
	if !s.HasRole("Mailbox") {
		return nil, nil, invalidOp(cmd, "Server '%s' doesn't have the Mailbox server role installed. Only Mailbox servers can be members of a database availability group.", s.Name)
	}
	if other := o.dagOf(s.Name); other != nil {
		if other == d {
			return nil, nil, invalidOp(cmd, "Server '%s' is already a member of database availability group '%s'.", s.Name, d.Name)
		}
		return nil, nil, invalidOp(cmd, "Server '%s' is already a member of database availability group '%s'. A server can be a member of only one database availability group.", s.Name, other.Name)
	}
	if j := o.joining(s.Name); j != nil {
		return nil, nil, invalidOp(cmd, "Server '%s' is being added to database availability group '%s' by another operation.", s.Name, j.Name)
	}
	if strings.EqualFold(d.WitnessServer, s.Name) {
		return nil, nil, invalidOp(cmd, "Server '%s' is the witness server of database availability group '%s'. The witness server can't be a member of the database availability group.", s.Name, d.Name)
	}
	if s.IsDC {
		return nil, nil, invalidOp(cmd, "Server '%s' is a domain controller. A database availability group member can't be an Active Directory domain controller or global catalog server.", s.Name)
	}
	if !strings.Contains(s.OS, "Enterprise") && !strings.Contains(s.OS, "Datacenter") {
		return nil, nil, invalidOp(cmd, "Server '%s' runs %s. Database availability group members must run Windows Server 2008 or Windows Server 2008 R2 Enterprise or Datacenter edition.", s.Name, s.OS)
	}
	if c := o.nlbOf(s.Name); c != nil {
		return nil, nil, invalidOp(cmd, "Server '%s' is a host of Network Load Balancing cluster '%s'. Windows Network Load Balancing and database availability group membership on the same server isn't supported.", s.Name, c.Name)
	}
	if len(d.Members)+len(d.JoiningUntil) >= maxDAGMembers {
		return nil, nil, invalidOp(cmd, "Database availability group '%s' already has %d members. A database availability group can have at most %d members.", d.Name, len(d.Members)+len(d.JoiningUntil), maxDAGMembers)
	}
	return d, s, nil
}

// addDAGMember adds a server to a DAG. It takes Timing.DAGMember on the lab clock
// (installing failover clustering and joining the cluster), without holding o.mu:
// the server is reserved for the duration so that no other operation can add it
// elsewhere, and only becomes a member, with its networks, when the time has passed.
// If ctx ends first, nothing has changed.
func (o *Org) addDAGMember(ctx context.Context, dagName, server string) error {
	o.mu.Lock()
	d, s, err := o.checkJoin(dagName, server)
	if err != nil {
		o.mu.Unlock()
		return err
	}
	wait := o.Timing.DAGMember
	d.JoiningUntil[strings.ToUpper(s.Name)] = o.clock.Now().Add(wait)
	o.mu.Unlock()

	err = o.clock.Sleep(ctx, wait)

	o.mu.Lock()
	defer o.mu.Unlock()
	delete(d.JoiningUntil, strings.ToUpper(s.Name))
	if err != nil {
		return err
	}
	d.Members = append(d.Members, s.Name)
	o.joinNetworks(d, s)
	return nil
}

// joinNetworks creates a DAG network for every subnet of the server's NICs that the
// DAG does not have yet. The subnet of a member's first NIC (the one registered in
// DNS) is the MAPI network; the others carry replication only.
func (o *Org) joinNetworks(d *DAG, s *Server) {
	for i, nic := range s.NICs {
		sub := subnetOf(nic)
		if sub == "" || d.network(sub) != nil {
			continue
		}
		d.Networks = append(d.Networks, &DAGNetwork{
			Name:               fmt.Sprintf("DAGNetwork%02d", len(d.Networks)+1),
			Subnet:             sub,
			ReplicationEnabled: true,
			MapiAccessEnabled:  i == 0,
		})
	}
}

// network finds a DAG network by name or subnet.
func (d *DAG) network(nameOrSubnet string) *DAGNetwork {
	for _, n := range d.Networks {
		if strings.EqualFold(n.Name, nameOrSubnet) || n.Subnet == nameOrSubnet {
			return n
		}
	}
	return nil
}

// subnetOf gives a NIC's subnet in CIDR form, e.g. 10.0.0.0/24.
func subnetOf(nic NIC) string {
	ip := net.ParseIP(nic.IP).To4()
	mask := net.ParseIP(nic.Mask).To4()
	if ip == nil || mask == nil {
		return ""
	}
	m := net.IPv4Mask(mask[0], mask[1], mask[2], mask[3])
	ones, _ := m.Size()
	return fmt.Sprintf("%s/%d", ip.Mask(m), ones)
}

// removeDAGMember takes a server out of its DAG. Exchange refuses while the server
// holds a copy of a replicated database.
func (o *Org) removeDAGMember(dagName, server string) error {
	const cmd = "Remove-DatabaseAvailabilityGroupServer"
	d := o.dag(dagName)
	if d == nil {
		return notFound(cmd, dagName)
	}
	s := o.exchangeServer(server)
	if s == nil {
		return notFound(cmd, server)
	}
	idx := -1
	for i, m := range d.Members {
		if strings.EqualFold(m, s.Name) {
			idx = i
		}
	}
	if idx < 0 {
		return invalidOp(cmd, "Server '%s' isn't a member of database availability group '%s'.", s.Name, d.Name)
	}
	for _, db := range o.databases {
		if db.copyOn(s.Name) != nil && len(db.Copies) > 1 {
			return invalidOp(cmd, "Mailbox server '%s' can't be removed from database availability group '%s' because mailbox database '%s' has multiple copies. Use Remove-MailboxDatabaseCopy to remove the copy from this server or the copies on the other servers first.", s.Name, d.Name, db.Name)
		}
	}
	d.Members = append(d.Members[:idx], d.Members[idx+1:]...)
	delete(d.DownMembers, strings.ToUpper(s.Name))
	delete(d.PausedMembers, strings.ToUpper(s.Name))
	if strings.EqualFold(d.GroupOwner, s.Name) {
		d.GroupOwner = ""
	}
	// A network stays as long as some member has an interface on it.
	kept := d.Networks[:0]
	for _, n := range d.Networks {
		if len(o.interfaces(d, n)) > 0 {
			kept = append(kept, n)
		}
	}
	d.Networks = kept
	return nil
}

// netInterface is one member's NIC on a DAG network.
type netInterface struct {
	Node, NIC, IP, State string
}

// interfaces lists the members' NICs on a network with their states: Failed when the
// network is down, Unavailable when the node's cluster service is down.
func (o *Org) interfaces(d *DAG, n *DAGNetwork) []netInterface {
	var out []netInterface
	for _, m := range d.Members {
		s := o.server(m)
		if s == nil {
			continue
		}
		for _, nic := range s.NICs {
			if subnetOf(nic) != n.Subnet {
				continue
			}
			state := "Up"
			switch {
			case n.Down:
				state = "Failed"
			case d.DownMembers[strings.ToUpper(m)]:
				state = "Unavailable"
			}
			out = append(out, netInterface{Node: s.Name, NIC: nic.Name, IP: nic.IP, State: state})
		}
	}
	return out
}

// subnetState is the cluster's state of a DAG network's subnet.
func subnetState(n *DAGNetwork) string {
	if n.Down {
		return "Down"
	}
	return "Up"
}

// ---- mailbox databases ----

// newMailboxDatabase creates a database on a Mailbox server, dismounted, as Exchange
// 2010 does (Mount-Database mounts it).
func (o *Org) newMailboxDatabase(name, server, edb, logs string) (*Database, error) {
	const cmd = "New-MailboxDatabase"
	s := o.mailboxServer(server)
	if s == nil {
		return nil, notFound(cmd, server)
	}
	if o.database(name) != nil {
		// Database names are unique in the organisation: the AD object already exists.
		return nil, invalidOp(cmd, "Active Directory operation failed on %s. The object 'CN=%s,CN=Databases,CN=Exchange Administrative Group (FYDIBOHF23SPDLT),CN=Administrative Groups,CN=%s,CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=msglab,DC=local' already exists.", dcFQDN, name, OrgName)
	}
	dir := InstallDir + `Mailbox\` + name
	if edb == "" {
		edb = dir + `\` + name + `.edb`
	}
	if logs == "" {
		logs = dir
	}
	db := &Database{
		Name: name, Active: s.Name, EdbFilePath: edb, LogFolderPath: logs,
		RpcClientAccessServer: s.FQDN(),
		Copies:                []*Copy{{Server: s.Name, Preference: 1, ContentIndexState: "Healthy"}},
	}
	o.databases = append(o.databases, db)
	return db, nil
}

// mountDatabase mounts a database on its active server.
func (o *Org) mountDatabase(name string) error {
	const cmd = "Mount-Database"
	db := o.database(name)
	if db == nil {
		return notFound(cmd, name)
	}
	if o.memberDown(db.Active) || o.serviceStopped(db.Active, "MSExchangeRepl") {
		return invalidOp(cmd, "Couldn't mount the database that you specified. Specified database: %s; Error code: An Active Manager operation failed. Error: The Microsoft Exchange Replication service may not be running on server %s.", db.Name, strings.ToLower(db.Active)+"."+Domain)
	}
	if o.serviceStopped(db.Active, "MSExchangeIS") {
		return invalidOp(cmd, "Couldn't mount the database that you specified. Specified database: %s; Error code: MapiExceptionNetworkError: Unable to make admin interface connection to server. (hr=0x80040115, ec=-2147221227). The Microsoft Exchange Information Store service on %s isn't running.", db.Name, strings.ToLower(db.Active)+"."+Domain)
	}
	if d := o.dagOf(db.Active); d != nil && !d.hasQuorum() {
		return invalidOp(cmd, "Couldn't mount the database that you specified. Specified database: %s; Error code: An Active Manager operation failed. Error: To perform this operation, the server must be a member of a database availability group, and the database availability group must have quorum.", db.Name)
	}
	db.Mounted = true
	return nil
}

// dbChange is what Set-MailboxDatabase changes; nil fields are left alone.
type dbChange struct {
	RpcClientAccessServer *string
	// ClearRpcClientAccess is -RpcClientAccessServer $null: the property is cleared.
	ClearRpcClientAccess bool
	CircularLogging      *bool
}

// setMailboxDatabase applies a change and returns warnings Exchange would print.
func (o *Org) setMailboxDatabase(name string, ch dbChange) ([]string, error) {
	const cmd = "Set-MailboxDatabase"
	db := o.database(name)
	if db == nil {
		return nil, notFound(cmd, name)
	}
	if ch.ClearRpcClientAccess {
		db.RpcClientAccessServer = ""
	}
	if ch.RpcClientAccessServer != nil {
		v := *ch.RpcClientAccessServer
		// The parameter is a ClientAccessServerOrArrayIdParameter: it must resolve to a
		// Client Access array (by name or FQDN) or an Exchange server, and the database
		// keeps that object's FQDN.
		id := strings.TrimSpace(v)
		resolved := ""
		if a := o.casArray(id); a != nil {
			resolved = a.Fqdn
		} else if s := o.exchangeServer(id); s != nil {
			resolved = s.FQDN()
		}
		if resolved == "" {
			if fqdn := strings.ToLower(id); !validFQDN(fqdn) && !isNetBIOSName(fqdn) {
				return nil, invalidArg(cmd, "Cannot bind parameter 'RpcClientAccessServer'. Cannot convert value \"%s\" to type \"Microsoft.Exchange.Configuration.Tasks.ClientAccessServerOrArrayIdParameter\". Error: \"'%s' isn't a valid FQDN.\"", v, v)
			}
			return nil, notFound(cmd, v)
		}
		db.RpcClientAccessServer = resolved
	}
	var warns []string
	if ch.CircularLogging != nil && *ch.CircularLogging != db.CircularLogging {
		db.CircularLogging = *ch.CircularLogging
		// JET circular logging (one copy) changes on remount; continuous replication
		// circular logging (several copies) at once.
		if len(db.Copies) == 1 {
			warns = append(warns, fmt.Sprintf("The circular logging setting for database '%s' takes effect after the database is dismounted and mounted again.", db.Name))
		}
	}
	return warns, nil
}

// isNetBIOSName accepts a server's short name (EX10-CAHT), as identity parameters do.
func isNetBIOSName(s string) bool {
	return s != "" && len(s) <= 15 && !strings.Contains(s, ".") && validFQDN(s)
}

// validFQDN accepts DNS names: labels of letters, digits and hyphens.
func validFQDN(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// ---- database copies ----

// addCopy adds a passive copy: its status is Seeding until Timing.Seed has passed on
// the lab clock, then Healthy. The cmdlet (cmdAddCopy) then waits out that seed with
// seed, as Exchange 2010 seeds inside Add-MailboxDatabaseCopy.
// pref is 0 for "after the existing copies".
func (o *Org) addCopy(dbName, server string, pref int, postponed bool) error {
	const cmd = "Add-MailboxDatabaseCopy"
	db := o.database(dbName)
	if db == nil {
		return notFound(cmd, dbName)
	}
	s := o.mailboxServer(server)
	if s == nil {
		return notFound(cmd, server)
	}
	if db.copyOn(s.Name) != nil {
		return invalidOp(cmd, "Database '%s' already has a copy on Mailbox server '%s'.", db.Name, s.Name)
	}
	d := o.dagOf(db.Active)
	if d == nil {
		return invalidOp(cmd, "Database '%s' is hosted on Mailbox server '%s', which isn't a member of a database availability group. Copies can only be added to databases on database availability group members.", db.Name, db.Active)
	}
	if o.dagOf(s.Name) != d {
		return invalidOp(cmd, "Mailbox server '%s' isn't a member of database availability group '%s', which hosts database '%s'.", s.Name, d.Name, db.Name)
	}
	if len(db.Copies) >= maxCopies {
		return invalidOp(cmd, "Database '%s' already has %d copies. A database can have at most %d copies.", db.Name, len(db.Copies), maxCopies)
	}
	if db.CircularLogging && len(db.Copies) == 1 {
		// Exchange's own text for this refusal.
		return invalidOp(cmd, "Database \"%s\" has circular logging enabled. You can't add the first passive copy of a mailbox database while circular logging is enabled. Please disable circular logging before adding the first passive copy of this mailbox database.", db.Name)
	}
	if d.DownMembers[strings.ToUpper(s.Name)] {
		return invalidOp(cmd, "A server-side administrative operation has failed. The Microsoft Exchange Replication service may not be running on server %s.", s.FQDN())
	}
	if !d.hasQuorum() {
		return invalidOp(cmd, "Database availability group '%s' doesn't have quorum. Copies can only be added while the database availability group has quorum.", d.Name)
	}
	n := len(db.Copies) + 1
	if pref == 0 {
		pref = n
	}
	if pref < 1 || pref > n {
		return invalidArg(cmd, "The ActivationPreference value %d is out of range. It must be between 1 and %d for database '%s'.", pref, n, db.Name)
	}
	for _, c := range db.Copies {
		if c.Preference >= pref {
			c.Preference++
		}
	}
	now := o.clock.Now()
	c := &Copy{Server: s.Name, Preference: pref, ContentIndexState: "Healthy"}
	if postponed {
		c.Suspended, c.SeedingPostponed, c.LastInspected = true, true, now
	} else {
		c.SeedingUntil = now.Add(o.Timing.Seed)
	}
	db.Copies = append(db.Copies, c)
	return nil
}

// seedSteps is how many progress records a seed reports (every 5 %).
const seedSteps = 20

// seed waits out a copy's seed (c.SeedingUntil) on the lab clock without holding
// o.mu, reporting progress as it goes. If the caller goes away first (the client
// stopped the pipeline or closed the session), the seed ends there and the copy is
// left as Exchange leaves an interrupted seed: FailedAndSuspended, to be reseeded
// with Update-MailboxDatabaseCopy.
func (o *Org) seed(c *ps.Call, db *Database, cp *Copy) error {
	name := db.Name + `\` + cp.Server
	activity := fmt.Sprintf("Seeding database copy %s", name)
	const id = 1
	o.mu.Lock()
	until := cp.SeedingUntil
	o.mu.Unlock()
	for i := 0; ; i++ {
		o.mu.Lock()
		left := until.Sub(o.clock.Now())
		o.mu.Unlock()
		total := o.Timing.Seed
		pct := 100
		if total > 0 && left > 0 {
			pct = int(100 * (total - left) / total)
		}
		if left <= 0 {
			break
		}
		c.Progress(id, activity, fmt.Sprintf("Copying the database file from %s (%d%% complete).", db.Active, pct), pct, false)
		step := total / seedSteps
		if step <= 0 || step > left {
			step = left
		}
		if err := o.clock.Sleep(c.Ctx, step); err != nil {
			o.mu.Lock()
			if db.copyOn(cp.Server) == cp {
				cp.SeedingUntil = time.Time{}
				cp.FailedAndSusp, cp.Suspended = true, true
				cp.ErrorMessage = fmt.Sprintf("The seeding operation for database copy %s was cancelled before it completed. Reseed the copy with Update-MailboxDatabaseCopy.", name)
			}
			o.mu.Unlock()
			return err
		}
	}
	c.Progress(id, activity, "Seeding is complete.", 100, true)
	return nil
}

// beginReseed applies Update-MailboxDatabaseCopy's preconditions and starts the seed:
// only a suspended passive copy can be seeded, and files a seeded copy left behind
// must be deleted with -DeleteExistingFiles.
func (o *Org) beginReseed(id string, deleteExisting bool) (*Database, *Copy, error) {
	const cmd = "Update-MailboxDatabaseCopy"
	db, c, err := o.copyByID(cmd, id)
	if err != nil {
		return nil, nil, err
	}
	name := db.Name + `\` + c.Server
	now := o.clock.Now()
	switch {
	case strings.EqualFold(c.Server, db.Active):
		return nil, nil, invalidOp(cmd, "Database copy '%s' is the active copy. Only a passive database copy can be seeded.", name)
	case now.Before(c.SeedingUntil):
		return nil, nil, invalidOp(cmd, "Database copy '%s' is already being seeded.", name)
	case !c.Suspended && !c.FailedAndSusp:
		return nil, nil, invalidOp(cmd, "Database copy '%s' isn't suspended. Suspend it with Suspend-MailboxDatabaseCopy before seeding it.", name)
	case !c.SeedingPostponed && !deleteExisting:
		return nil, nil, invalidOp(cmd, "The seeding operation failed. Database files already exist for copy '%s' on server %s. Use -DeleteExistingFiles to delete them and seed again.", name, c.Server)
	}
	c.SeedingPostponed, c.Failed, c.FailedAndSusp, c.ErrorMessage = false, false, false, ""
	c.CopyQueue, c.ReplayQueue = 0, 0
	c.Suspended = true
	c.SeedingUntil = now.Add(o.Timing.Seed)
	c.LastInspected = now
	return db, c, nil
}

// removeCopy removes a passive copy; preferences close the gap.
func (o *Org) removeCopy(id string) error {
	const cmd = "Remove-MailboxDatabaseCopy"
	db, c, err := o.copyByID(cmd, id)
	if err != nil {
		return err
	}
	if strings.EqualFold(c.Server, db.Active) {
		return invalidOp(cmd, "Database copy '%s\\%s' is the active copy and can't be removed. Move the active copy to another server with Move-ActiveMailboxDatabase first.", db.Name, c.Server)
	}
	for i, x := range db.Copies {
		if x == c {
			db.Copies = append(db.Copies[:i], db.Copies[i+1:]...)
			break
		}
	}
	for _, x := range db.Copies {
		if x.Preference > c.Preference {
			x.Preference--
		}
	}
	return nil
}

// suspendCopy suspends replication and activation of a passive copy, or with
// activationOnly, only its activation.
func (o *Org) suspendCopy(id string, activationOnly bool, comment string) error {
	const cmd = "Suspend-MailboxDatabaseCopy"
	db, c, err := o.copyByID(cmd, id)
	if err != nil {
		return err
	}
	if strings.EqualFold(c.Server, db.Active) {
		return invalidOp(cmd, "Database copy '%s\\%s' is the active copy. Only passive database copies can be suspended.", db.Name, c.Server)
	}
	if activationOnly {
		c.ActivationOnly = true
	} else {
		if !c.Suspended {
			c.LastInspected = o.clock.Now()
		}
		c.Suspended = true
	}
	c.SuspendComment = comment
	return nil
}

// resumeCopy resumes a suspended copy: its replication and its activation, or with
// replicationOnly its replication only. Faults (Failed, FailedAndSuspended) are not
// cleared: they stand for a cause outside Exchange that resuming does not fix.
func (o *Org) resumeCopy(id string, replicationOnly bool) error {
	const cmd = "Resume-MailboxDatabaseCopy"
	db, c, err := o.copyByID(cmd, id)
	if err != nil {
		return err
	}
	if strings.EqualFold(c.Server, db.Active) {
		return invalidOp(cmd, "Database copy '%s\\%s' is the active copy. Only passive database copies can be resumed.", db.Name, c.Server)
	}
	if c.SeedingPostponed {
		return invalidOp(cmd, "Database copy '%s\\%s' hasn't been seeded. Seed it with Update-MailboxDatabaseCopy before resuming it.", db.Name, c.Server)
	}
	if replicationOnly {
		// Replication resumes; activation stays suspended (ActivationSuspended True).
		c.ActivationOnly = c.ActivationOnly || c.Suspended
		c.Suspended = false
		return nil
	}
	c.Suspended, c.ActivationOnly, c.SuspendComment = false, false, ""
	return nil
}

// ---- switchover ----

// moveRequest is a Move-ActiveMailboxDatabase call.
type moveRequest struct {
	Database, Target, Dial, Comment             string
	SkipClient, SkipHealth, SkipLag, SkipActive bool
}

// moveResult is the row Move-ActiveMailboxDatabase writes.
type moveResult struct {
	Identity, Start, End, Status, Error, MountAtStart, MountAtEnd string
	LogsLost                                                      int
}

// checkTarget applies the switchover checks to one candidate copy and returns the
// reason it may not be activated, or "".
func (o *Org) checkTarget(db *Database, c *Copy, req moveRequest, now time.Time) string {
	name := fmt.Sprintf("Database copy '%s' on server '%s'", db.Name, c.Server)
	if o.memberDown(c.Server) {
		// Not skippable: nobody can activate anything on that server.
		return fmt.Sprintf("%s: A server-side administrative operation has failed. The Microsoft Exchange Replication service may not be running on server %s.", c.Server, strings.ToLower(c.Server)+"."+Domain)
	}
	if !req.SkipHealth {
		if st := o.copyStatus(db, c, now); st != statusHealthy {
			return fmt.Sprintf("%s has status '%s'. Only a copy with status 'Healthy' can be activated without -SkipHealthChecks.", name, st)
		}
		if c.ActivationOnly {
			return fmt.Sprintf("%s has been suspended for activation. Resume it with Resume-MailboxDatabaseCopy first.", name)
		}
	}
	if !req.SkipLag {
		dial := mountDials[strings.ToLower(req.Dial)]
		if c.CopyQueue >= maxCopyQueue || c.CopyQueue > dial {
			return fmt.Sprintf("%s has a copy queue length of %d logs, which is too high to enable automatic recovery. You can use the Move-ActiveMailboxDatabase cmdlet with the -SkipLagChecks and -MountDialOverride parameters to move the database with loss.", name, c.CopyQueue)
		}
		if c.ReplayQueue >= maxReplayQueue {
			return fmt.Sprintf("%s has a replay queue length of %d logs, which is too high to enable automatic recovery. You can use the Move-ActiveMailboxDatabase cmdlet with the -SkipLagChecks parameter to move the database anyway.", name, c.ReplayQueue)
		}
	}
	// A Disabled index (indexing turned off for the database) has nothing to check.
	if !req.SkipClient && !strings.EqualFold(c.ContentIndexState, "Healthy") && !strings.EqualFold(c.ContentIndexState, "Disabled") {
		return fmt.Sprintf("%s has content index catalog files in the following state: '%s'.", name, c.ContentIndexState)
	}
	if !req.SkipActive {
		if s := o.seedingFrom(db, now); s != nil {
			return fmt.Sprintf("The active copy of database '%s' is the seeding source of copy '%s\\%s'. Wait for seeding to finish or use -SkipActiveCopyChecks.", db.Name, db.Name, s.Server)
		}
	}
	return ""
}

// beginMove validates a switchover and marks the database as switching over.
func (o *Org) beginMove(req moveRequest) (*Database, *Copy, error) {
	const cmd = "Move-ActiveMailboxDatabase"
	db := o.database(req.Database)
	if db == nil {
		return nil, nil, notFound(cmd, req.Database)
	}
	if db.switchingOver {
		return nil, nil, invalidOp(cmd, "An Active Manager operation failed. Error: Another operation is in progress on database '%s'. Try again when it has finished.", db.Name)
	}
	if o.dagOf(db.Active) == nil {
		return nil, nil, invalidOp(cmd, "An Active Manager operation failed. Error: Database '%s' isn't replicated: its server '%s' isn't a member of a database availability group.", db.Name, db.Active)
	}
	now := o.clock.Now()
	if req.Target != "" {
		s := o.mailboxServer(req.Target)
		if s == nil {
			return nil, nil, notFound(cmd, req.Target)
		}
		c := db.copyOn(s.Name)
		if c == nil {
			return nil, nil, activeManagerErr(fmt.Sprintf("Database '%s' doesn't have a copy on server '%s'.", db.Name, s.Name))
		}
		if strings.EqualFold(s.Name, db.Active) {
			return nil, nil, invalidOp(cmd, "An Active Manager operation failed. Error: The database action failed. Error: Database '%s' is already active on server '%s'.", db.Name, s.Name)
		}
		if why := o.checkTarget(db, c, req, now); why != "" {
			return nil, nil, activeManagerErr(why)
		}
		db.switchingOver = true
		return db, c, nil
	}
	// No target: Active Manager picks the best copy, by activation preference.
	var reasons []string
	var best *Copy
	for _, c := range db.Copies {
		if strings.EqualFold(c.Server, db.Active) {
			continue
		}
		// Best copy selection leaves out what may not be activated automatically: a
		// server whose activation is Blocked and a paused cluster node. Naming the
		// server (-ActivateOnServer) is a switchover an administrator chose, which the
		// policy does not stop.
		if why := o.autoActivationBlocked(c.Server); why != "" {
			reasons = append(reasons, c.Server+": "+why)
			continue
		}
		if why := o.checkTarget(db, c, req, now); why != "" {
			reasons = append(reasons, c.Server+": "+why)
			continue
		}
		if best == nil || c.Preference < best.Preference {
			best = c
		}
	}
	if best == nil {
		return nil, nil, invalidOp(cmd, "An Active Manager operation failed. Error: The database action failed. Error: An error occurred while trying to select a database copy for possible activation. Error: The database '%s' was not mounted because errors occurred either while validating database copies for possible activation, or while attempting to activate another copy. Detailed error(s): %s", db.Name, strings.Join(reasons, "; "))
	}
	db.switchingOver = true
	return db, best, nil
}

// moveActive performs a switchover. Validation and the change each hold o.mu; the
// Timing.Switchover in between is spent on the lab clock without it. Copy queue that
// the target still lacks at the end is lost; the database mounts only if that loss is
// within the mount dial, otherwise it stays dismounted on the new server and the move
// is reported Failed (and returned as an error too).
func (o *Org) moveActive(ctx context.Context, req moveRequest) (moveResult, error) {
	o.mu.Lock()
	db, target, err := o.beginMove(req)
	wait := o.Timing.Switchover
	var res moveResult
	if err == nil {
		res = moveResult{Identity: db.Name, Start: db.Active, MountAtStart: statusDismounted}
		if o.mounted(db) {
			res.MountAtStart = statusMounted
		}
	}
	o.mu.Unlock()
	if err != nil {
		return moveResult{}, err
	}

	err = o.clock.Sleep(ctx, wait)

	o.mu.Lock()
	defer o.mu.Unlock()
	db.switchingOver = false
	if err != nil {
		return moveResult{}, err
	}
	if db.copyOn(target.Server) != target || o.database(db.Name) != db {
		return moveResult{}, activeManagerErr(fmt.Sprintf("The copy of database '%s' on server '%s' was removed during the switchover.", db.Name, target.Server))
	}
	now := o.clock.Now()
	old := db.activeCopy()
	lost := target.CopyQueue
	dial := mountDials[strings.ToLower(req.Dial)]
	db.Active = target.Server
	db.Mounted = lost <= dial
	target.CopyQueue, target.ReplayQueue = 0, 0
	target.InitializeUntil, target.SeedingUntil = time.Time{}, time.Time{}
	if old != nil {
		// The old active copy becomes a passive copy: it initializes, then replicates.
		old.InitializeUntil = now.Add(o.Timing.Initialize)
		old.CopyQueue, old.ReplayQueue = 0, 0
		old.LastInspected = now
	}
	res.End, res.LogsLost = db.Active, lost
	res.Status, res.MountAtEnd = "Succeeded", statusMounted
	if !o.mounted(db) {
		res.Status, res.MountAtEnd = "Failed", statusDismounted
		res.Error = fmt.Sprintf("An Active Manager operation failed. Error: The database action failed. Error: Database '%s' on server '%s' wasn't mounted because the number of lost logs (%d) was greater than the mount dial allows. Mount it with Mount-Database or move it again with -MountDialOverride BestEffort.", db.Name, db.Active, lost)
		return res, invalidOp("Move-ActiveMailboxDatabase", "%s", res.Error)
	}
	return res, nil
}
