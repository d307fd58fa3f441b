package lab

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/exchops/exchops/lab/ps"
)

// Type names of the objects the DAG cmdlets return: the .NET types of a 2010 server.
// Over PowerShell Remoting the client sees them as Deserialized.<type>.
const (
	typeExchangeServer  = "Microsoft.Exchange.Data.Directory.Management.ExchangeServer"
	typeMailboxServer   = "Microsoft.Exchange.Data.Directory.Management.MailboxServer"
	typeMailboxDatabase = "Microsoft.Exchange.Data.Directory.SystemConfiguration.MailboxDatabase"
	typeDAG             = "Microsoft.Exchange.Data.Directory.SystemConfiguration.DatabaseAvailabilityGroup"
	typeDAGNetwork      = "Microsoft.Exchange.Management.SystemConfigurationTasks.DatabaseAvailabilityGroupNetwork"
	typeDAGSubnet       = "Microsoft.Exchange.Management.SystemConfigurationTasks.DatabaseAvailabilityGroupNetworkSubnet"
	typeDAGInterface    = "Microsoft.Exchange.Management.SystemConfigurationTasks.DatabaseAvailabilityGroupNetworkInterface"
	typeCopyStatus      = "Microsoft.Exchange.Management.SystemConfigurationTasks.DatabaseCopyStatusEntry"
	typeReplicationRow  = "Microsoft.Exchange.Management.SystemConfigurationTasks.ReplicationCheckOutputObject"
	typeCheckResult     = "Microsoft.Exchange.Management.SystemConfigurationTasks.ReplicationCheckResult"
	typeMoveResult      = "Microsoft.Exchange.Management.SystemConfigurationTasks.DatabaseMoveResult"
	// ActivationPreference's elements: pairs of a server's ADObjectId and a number.
	typePreferencePair = "System.Collections.Generic.KeyValuePair`2[[Microsoft.Exchange.Data.Directory.ADObjectId, Microsoft.Exchange.Data.Directory],[System.Int32, mscorlib]]"
	// ReplayLagTimes' and TruncationLagTimes' elements: a server's ADObjectId and a time span.
	typeLagPair = "System.Collections.Generic.KeyValuePair`2[[Microsoft.Exchange.Data.Directory.ADObjectId, Microsoft.Exchange.Data.Directory],[Microsoft.Exchange.Data.EnhancedTimeSpan, Microsoft.Exchange.Data]]"
)

// dagCmdlets are the DAG-side Exchange cmdlets as run on server on (the server the
// Exchange Management Shell is connected to: "the local server" for cmdlets that
// default to it).
func (o *Org) dagCmdlets(on *Server) []*ps.Cmdlet {
	identity := func(pos int, mandatory, pipeline bool) ps.Param {
		return ps.Param{Name: "Identity", Kind: ps.KindAny, Position: pos, Mandatory: mandatory, FromPipeline: pipeline}
	}
	str := func(name string, pos int, mandatory bool) ps.Param {
		return ps.Param{Name: name, Kind: ps.KindString, Position: pos, Mandatory: mandatory}
	}
	sw := func(name string) ps.Param { return ps.Param{Name: name, Kind: ps.KindSwitch, Position: -1} }
	named := func(name string, kind ps.ParamKind) ps.Param { return ps.Param{Name: name, Kind: kind, Position: -1} }
	dc := str("DomainController", -1, false) // accepted and ignored: the lab has one DC

	return []*ps.Cmdlet{
		{
			Name:   "Get-ExchangeServer",
			Params: []ps.Param{identity(0, false, true), dc, str("Domain", -1, false), sw("Status")},
			Invoke: o.cmdGetExchangeServer,
		},
		{
			Name:   "Get-MailboxServer",
			Params: []ps.Param{identity(0, false, true), dc, sw("Status")},
			Invoke: o.cmdGetMailboxServer,
		},
		{
			Name: "Set-MailboxServer",
			Params: []ps.Param{identity(0, true, true), dc,
				{Name: "DatabaseCopyAutoActivationPolicy", Kind: ps.KindString, Position: -1, Values: autoActivationPolicies}},
			ShouldProcess: true,
			Invoke:        o.cmdSetMailboxServer,
		},
		{
			Name:   "Get-MailboxDatabase",
			Params: []ps.Param{identity(0, false, true), str("Server", -1, false), sw("Status"), dc, sw("IncludePreExchange2010")},
			Invoke: o.cmdGetMailboxDatabase,
		},
		{
			Name: "Set-MailboxDatabase",
			// RpcClientAccessServer is a ClientAccessServerOrArrayIdParameter: an object,
			// so $null stays $null (a [string] parameter would make it "").
			Params: []ps.Param{identity(0, true, true), named("RpcClientAccessServer", ps.KindAny),
				named("CircularLoggingEnabled", ps.KindBool), dc},
			ShouldProcess: true,
			Invoke:        o.cmdSetMailboxDatabase,
		},
		{
			Name: "New-MailboxDatabase",
			Params: []ps.Param{str("Name", 0, true), str("Server", -1, true), str("EdbFilePath", -1, false),
				str("LogFolderPath", -1, false), dc},
			ShouldProcess: true,
			Invoke:        o.cmdNewMailboxDatabase,
		},
		{
			Name:          "Mount-Database",
			Params:        []ps.Param{identity(0, true, true), sw("Force"), dc},
			ShouldProcess: true,
			Invoke:        o.cmdMountDatabase,
		},
		{
			Name: "New-DatabaseAvailabilityGroup",
			Params: []ps.Param{str("Name", 0, true), str("WitnessServer", -1, false), str("WitnessDirectory", -1, false),
				named("DatabaseAvailabilityGroupIPAddresses", ps.KindStringArray), dc},
			ShouldProcess: true,
			Invoke:        o.cmdNewDAG,
		},
		{
			Name: "Set-DatabaseAvailabilityGroup",
			Params: []ps.Param{identity(0, true, true), str("WitnessServer", -1, false), str("WitnessDirectory", -1, false),
				named("DatabaseAvailabilityGroupIPAddresses", ps.KindStringArray), dc},
			ShouldProcess: true,
			Invoke:        o.cmdSetDAG,
		},
		{
			Name:   "Get-DatabaseAvailabilityGroup",
			Params: []ps.Param{identity(0, false, true), sw("Status"), dc},
			Invoke: o.cmdGetDAG,
		},
		{
			Name:          "Remove-DatabaseAvailabilityGroup",
			Params:        []ps.Param{identity(0, true, true), dc},
			ShouldProcess: true,
			Invoke:        o.cmdRemoveDAG,
		},
		{
			Name:          "Add-DatabaseAvailabilityGroupServer",
			Params:        []ps.Param{identity(0, true, true), str("MailboxServer", -1, true), dc},
			ShouldProcess: true,
			Invoke:        o.cmdAddDAGServer,
		},
		{
			Name:          "Remove-DatabaseAvailabilityGroupServer",
			Params:        []ps.Param{identity(0, true, true), str("MailboxServer", -1, true), dc},
			ShouldProcess: true,
			Invoke:        o.cmdRemoveDAGServer,
		},
		{
			Name:   "Get-DatabaseAvailabilityGroupNetwork",
			Params: []ps.Param{identity(0, false, true), str("Server", -1, false), dc},
			Invoke: o.cmdGetDAGNetwork,
		},
		{
			Name: "Add-MailboxDatabaseCopy",
			Params: []ps.Param{identity(0, true, true), str("MailboxServer", 1, true), named("ActivationPreference", ps.KindInt),
				sw("SeedingPostponed"), str("ReplayLagTime", -1, false), str("TruncationLagTime", -1, false), dc},
			ShouldProcess: true,
			Invoke:        o.cmdAddCopy,
		},
		{
			Name: "Update-MailboxDatabaseCopy",
			Params: []ps.Param{identity(0, true, true), sw("DeleteExistingFiles"), sw("ManualResume"), sw("Force"),
				str("SourceServer", -1, false), dc},
			ShouldProcess: true,
			Invoke:        o.cmdUpdateCopy,
		},
		{
			Name:          "Remove-MailboxDatabaseCopy",
			Params:        []ps.Param{identity(0, true, true), dc},
			ShouldProcess: true,
			Invoke:        o.cmdRemoveCopy,
		},
		{
			Name:          "Suspend-MailboxDatabaseCopy",
			Params:        []ps.Param{identity(0, true, true), sw("ActivationOnly"), str("SuspendComment", -1, false), dc},
			ShouldProcess: true,
			Invoke:        o.cmdSuspendCopy,
		},
		{
			Name:          "Resume-MailboxDatabaseCopy",
			Params:        []ps.Param{identity(0, true, true), sw("ReplicationOnly"), dc},
			ShouldProcess: true,
			Invoke:        o.cmdResumeCopy,
		},
		{
			Name:   "Get-MailboxDatabaseCopyStatus",
			Params: []ps.Param{identity(0, false, true), str("Server", -1, false), sw("Local"), sw("Active"), dc},
			Invoke: func(c *ps.Call) error { return o.cmdGetCopyStatus(c, on) },
		},
		{
			Name:   "Test-ReplicationHealth",
			Params: []ps.Param{identity(0, false, true), dc},
			Invoke: func(c *ps.Call) error { return o.cmdTestReplicationHealth(c, on) },
		},
		{
			Name: "Move-ActiveMailboxDatabase",
			Params: []ps.Param{identity(0, true, true), str("ActivateOnServer", 1, false),
				{Name: "MountDialOverride", Kind: ps.KindString, Position: -1, Values: mountDialNames},
				str("MoveComment", -1, false), sw("SkipClientExperienceChecks"), sw("SkipHealthChecks"),
				sw("SkipLagChecks"), sw("SkipActiveCopyChecks"), sw("TerminateOnWarning"), dc},
			ShouldProcess: true,
			Invoke:        o.cmdMove,
		},
	}
}

// id returns an identity parameter as a name, or "" when absent.
func id(c *ps.Call, name string) string {
	v, ok := c.Params[name]
	if !ok || v == nil {
		return ""
	}
	return strings.TrimSpace(ps.Identity(v))
}

// ---- servers ----

func (o *Org) cmdGetExchangeServer(c *ps.Call) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	want := id(c, "Identity")
	if want != "" {
		s := o.exchangeServer(want)
		if s == nil {
			return notFound("Get-ExchangeServer", want)
		}
		c.Write(exchangeServerObject(s))
		return nil
	}
	for _, s := range o.servers {
		if s.Exchange {
			c.Write(exchangeServerObject(s))
		}
	}
	return nil
}

func exchangeServerObject(s *Server) *ps.Object {
	o := ps.NewObject(typeExchangeServer,
		"Name", s.Name,
		"Fqdn", s.FQDN(),
		"Domain", Domain,
		"Edition", "Enterprise",
		"ServerRole", serverRoleEnum(s),
		"Site", Domain+"/Configuration/Sites/"+s.Site,
		"AdminDisplayVersion", ExchangeV,
		"IsMailboxServer", s.HasRole("Mailbox"),
		"IsClientAccessServer", s.HasRole("ClientAccess"),
		"IsHubTransportServer", s.HasRole("HubTransport"),
		"Identity", s.Name,
	)
	o.Str = s.Name
	return o
}

func (o *Org) cmdGetMailboxServer(c *ps.Call) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	want := id(c, "Identity")
	var list []*Server
	if want != "" {
		s := o.mailboxServer(want)
		if s == nil {
			return notFound("Get-MailboxServer", want)
		}
		list = []*Server{s}
	} else {
		for _, s := range o.servers {
			if s.Exchange && s.HasRole("Mailbox") {
				list = append(list, s)
			}
		}
	}
	for _, s := range list {
		var dag any
		if d := o.dagOf(s.Name); d != nil {
			dag = d.Name
		}
		obj := ps.NewObject(typeMailboxServer,
			"Name", s.Name,
			"DatabaseAvailabilityGroup", dag,
			"DatabaseCopyAutoActivationPolicy", enum(enumAutoActivate, s.activationPolicy()),
			"AutoDatabaseMountDial", enum(enumMountDial, "GoodAvailability"),
			"AdminDisplayVersion", ExchangeV,
			"Identity", s.Name,
		)
		obj.Str = s.Name
		c.Write(obj)
	}
	return nil
}

// ---- databases ----

func (o *Org) cmdGetMailboxDatabase(c *ps.Call) error {
	const cmd = "Get-MailboxDatabase"
	o.mu.Lock()
	defer o.mu.Unlock()
	want, server := id(c, "Identity"), c.String("Server")
	var srv *Server
	if server != "" {
		if srv = o.mailboxServer(server); srv == nil {
			return notFound(cmd, server)
		}
	}
	if want != "" {
		db := o.database(want)
		if db == nil || (srv != nil && db.copyOn(srv.Name) == nil) {
			return notFound(cmd, want)
		}
		c.Write(o.databaseObject(db, c.Switch("Status")))
		return nil
	}
	for _, db := range o.databases {
		if srv == nil || db.copyOn(srv.Name) != nil {
			c.Write(o.databaseObject(db, c.Switch("Status")))
		}
	}
	return nil
}

// byPreference returns a database's copies ordered by activation preference.
func byPreference(db *Database) []*Copy {
	cs := append([]*Copy(nil), db.Copies...)
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].Preference < cs[j].Preference })
	return cs
}

func (o *Org) databaseObject(db *Database, status bool) *ps.Object {
	servers := []any{}
	for _, c := range byPreference(db) {
		servers = append(servers, c.Server)
	}
	// Once the database's server is in a DAG, the DAG is its master.
	master := db.Active
	if d := o.dagOf(db.Active); d != nil {
		master = d.Name
	}
	replication := "None"
	if len(db.Copies) > 1 {
		replication = "Remote"
	}
	var mounted, mountedOn, size any // $null without -Status, as in Exchange
	if status {
		mounted = o.mounted(db)
		size = byteQuantifiedSize(databaseSize(db))
		// The server holding the active copy, mounted or not (Active Manager's view).
		if s := o.server(db.Active); s != nil {
			mountedOn = s.FQDN()
		}
	}
	obj := ps.NewObject(typeMailboxDatabase,
		"Name", db.Name,
		"Server", db.Active,
		"Servers", servers,
		"ActivationPreference", preferencePairs(db),
		"ReplayLagTimes", lagPairs(db, func(c *Copy) time.Duration { return c.ReplayLag }),
		"TruncationLagTimes", lagPairs(db, func(c *Copy) time.Duration { return c.TruncationLag }),
		"MasterServerOrAvailabilityGroup", master,
		"RpcClientAccessServer", db.RpcClientAccessServer,
		"CircularLoggingEnabled", db.CircularLogging,
		"EdbFilePath", db.EdbFilePath,
		"LogFolderPath", db.LogFolderPath,
		"Mounted", mounted,
		"MountedOnServer", mountedOn,
		"DatabaseSize", size,
		"Recovery", false,
		"ReplicationType", replication,
		"IsMailboxDatabase", true,
		"AdminDisplayVersion", ExchangeV,
		"Identity", db.Name,
	)
	obj.Str = db.Name
	return obj
}

func (o *Org) cmdSetMailboxDatabase(c *ps.Call) error {
	var ch dbChange
	if c.Has("RpcClientAccessServer") {
		if c.Params["RpcClientAccessServer"] == nil {
			ch.ClearRpcClientAccess = true // -RpcClientAccessServer $null
		} else {
			v := c.String("RpcClientAccessServer")
			ch.RpcClientAccessServer = &v
		}
	}
	if c.Has("CircularLoggingEnabled") {
		v := c.Switch("CircularLoggingEnabled")
		ch.CircularLogging = &v
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	name := id(c, "Identity")
	if c.WhatIf() {
		if o.database(name) == nil {
			return notFound("Set-MailboxDatabase", name)
		}
		return nil
	}
	warns, err := o.setMailboxDatabase(name, ch)
	for _, w := range warns {
		c.Warn(w)
	}
	return err
}

func (o *Org) cmdNewMailboxDatabase(c *ps.Call) error {
	if c.WhatIf() {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	db, err := o.newMailboxDatabase(c.String("Name"), c.String("Server"), c.String("EdbFilePath"), c.String("LogFolderPath"))
	if err != nil {
		return err
	}
	c.Write(o.databaseObject(db, false))
	return nil
}

func (o *Org) cmdMountDatabase(c *ps.Call) error {
	if c.WhatIf() {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.mountDatabase(id(c, "Identity"))
}

// ---- DAGs ----

func (o *Org) cmdNewDAG(c *ps.Call) error {
	if c.WhatIf() {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	d, err := o.newDAG(c.String("Name"), c.String("WitnessServer"), c.String("WitnessDirectory"), c.Strings("DatabaseAvailabilityGroupIPAddresses"))
	if err != nil {
		return err
	}
	c.Write(o.dagObject(d, false))
	return nil
}

func (o *Org) cmdSetDAG(c *ps.Call) error {
	if c.WhatIf() {
		return nil
	}
	var ips []string
	if c.Has("DatabaseAvailabilityGroupIPAddresses") {
		ips = append([]string{}, c.Strings("DatabaseAvailabilityGroupIPAddresses")...)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	_, err := o.setDAG(id(c, "Identity"), c.String("WitnessServer"), c.String("WitnessDirectory"), ips)
	return err
}

func (o *Org) cmdGetDAG(c *ps.Call) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	want := id(c, "Identity")
	if want != "" {
		d := o.dag(want)
		if d == nil {
			return notFound("Get-DatabaseAvailabilityGroup", want)
		}
		c.Write(o.dagObject(d, c.Switch("Status")))
		return nil
	}
	for _, d := range o.dags {
		c.Write(o.dagObject(d, c.Switch("Status")))
	}
	return nil
}

func strs(list []string) []any {
	out := make([]any, 0, len(list))
	for _, s := range list {
		out = append(out, s)
	}
	return out
}

func (o *Org) dagObject(d *DAG, status bool) *ps.Object {
	var witness any
	if d.WitnessServer != "" {
		witness = d.WitnessServer
		if s := o.server(d.WitnessServer); s != nil {
			witness = s.FQDN()
		}
	}
	var nets []string
	for _, n := range d.Networks {
		nets = append(nets, n.Name)
	}
	// Without -Status, Exchange does not ask the cluster: these stay $null.
	var operational, pam, fsw any
	if status {
		operational = strs(d.operational())
		if p := primaryActiveManager(d); p != "" {
			pam = p
		}
		fsw = witnessShareInUse(d)
	}
	obj := ps.NewObject(typeDAG,
		"Name", d.Name,
		"Servers", strs(d.Members),
		"WitnessServer", witness,
		"WitnessDirectory", d.WitnessDirectory,
		"AlternateWitnessServer", nil,
		"AlternateWitnessDirectory", nil,
		"NetworkCompression", "InterSubnetOnly",
		"NetworkEncryption", "InterSubnetOnly",
		"DatacenterActivationMode", "Off",
		"StoppedMailboxServers", []any{},
		"StartedMailboxServers", []any{},
		"DatabaseAvailabilityGroupIpv4Addresses", strs(d.IPs),
		"DatabaseAvailabilityGroupIpAddresses", strs(d.IPs),
		"AllowCrossSiteRpcClientAccess", false,
		"OperationalServers", operational,
		"PrimaryActiveManager", pam,
		"NetworkNames", strs(nets),
		"WitnessShareInUse", fsw,
		"ReplicationPort", 64327,
		"Identity", d.Name,
	)
	obj.Str = d.Name
	return obj
}

func (o *Org) cmdRemoveDAG(c *ps.Call) error {
	if c.WhatIf() {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.removeDAG(id(c, "Identity"))
}

func (o *Org) cmdAddDAGServer(c *ps.Call) error {
	if c.WhatIf() {
		return nil
	}
	// addDAGMember takes and releases o.mu itself: it waits on the clock in between.
	return o.addDAGMember(c.Ctx, id(c, "Identity"), c.String("MailboxServer"))
}

func (o *Org) cmdRemoveDAGServer(c *ps.Call) error {
	if c.WhatIf() {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.removeDAGMember(id(c, "Identity"), c.String("MailboxServer"))
}

func (o *Org) cmdGetDAGNetwork(c *ps.Call) error {
	const cmd = "Get-DatabaseAvailabilityGroupNetwork"
	o.mu.Lock()
	defer o.mu.Unlock()
	want := id(c, "Identity")
	dags := o.dags
	netName := ""
	if want != "" {
		// "DAG" or "DAG\Network".
		dagName := want
		if i := strings.Index(want, `\`); i >= 0 {
			dagName, netName = want[:i], want[i+1:]
		}
		d := o.dag(dagName)
		if d == nil {
			return notFound(cmd, want)
		}
		if netName != "" && d.network(netName) == nil {
			return notFound(cmd, want)
		}
		dags = []*DAG{d}
	}
	if s := c.String("Server"); s != "" {
		srv := o.mailboxServer(s)
		if srv == nil {
			return notFound(cmd, s)
		}
		d := o.dagOf(srv.Name)
		if d == nil {
			return nil
		}
		dags = []*DAG{d}
	}
	for _, d := range dags {
		for _, n := range d.Networks {
			if netName != "" && !strings.EqualFold(n.Name, netName) {
				continue
			}
			c.Write(o.networkObject(d, n))
		}
	}
	return nil
}

// networkObject builds a DAG network. Subnets and Interfaces elements are objects
// whose string form is what a deserialized array shows ("{10.0.0.0/24,Up}",
// "{EX10-MB01,Up,10.0.0.11}"), so both [string] casts and member access work.
func (o *Org) networkObject(d *DAG, n *DAGNetwork) *ps.Object {
	st := subnetState(n)
	sub := ps.NewObject(typeDAGSubnet, "SubnetId", n.Subnet, "State", enum(enumSubnetState, st))
	sub.Str = "{" + n.Subnet + "," + st + "}"
	ifaces := []any{}
	for _, i := range o.interfaces(d, n) {
		x := ps.NewObject(typeDAGInterface, "NodeName", i.Node, "Interface", i.NIC, "IpAddress", i.IP, "State", enum(enumIfaceState, i.State))
		x.Str = "{" + i.Node + "," + i.State + "," + i.IP + "}"
		ifaces = append(ifaces, x)
	}
	obj := ps.NewObject(typeDAGNetwork,
		"Name", n.Name,
		"Description", nil,
		"Subnets", []any{sub},
		"Interfaces", ifaces,
		"MapiAccessEnabled", n.MapiAccessEnabled,
		"ReplicationEnabled", n.ReplicationEnabled,
		"IgnoreNetwork", false,
		"Identity", d.Name+`\`+n.Name,
	)
	obj.Str = n.Name
	return obj
}

// ---- copies ----

// cmdAddCopy adds the copy, then seeds it inside the cmdlet as Exchange 2010 does,
// reporting progress; -SeedingPostponed returns at once with the copy unseeded.
func (o *Org) cmdAddCopy(c *ps.Call) error {
	if c.WhatIf() {
		return nil
	}
	postponed := c.Switch("SeedingPostponed")
	o.mu.Lock()
	err := o.addCopy(id(c, "Identity"), c.String("MailboxServer"), c.Int("ActivationPreference", 0), postponed)
	var db *Database
	var cp *Copy
	if err == nil && !postponed {
		db = o.database(id(c, "Identity"))
		cp = db.copyOn(o.server(c.String("MailboxServer")).Name)
	}
	o.mu.Unlock()
	if err != nil || postponed {
		return err
	}
	return o.seed(c, db, cp)
}

// cmdUpdateCopy is Update-MailboxDatabaseCopy: it reseeds a suspended passive copy
// inside the cmdlet, with progress, and resumes it at the end unless -ManualResume.
func (o *Org) cmdUpdateCopy(c *ps.Call) error {
	if c.WhatIf() {
		return nil
	}
	o.mu.Lock()
	db, cp, err := o.beginReseed(id(c, "Identity"), c.Switch("DeleteExistingFiles"))
	o.mu.Unlock()
	if err != nil {
		return err
	}
	if err := o.seed(c, db, cp); err != nil {
		return err
	}
	if !c.Switch("ManualResume") {
		o.mu.Lock()
		cp.Suspended, cp.SuspendComment = false, ""
		o.mu.Unlock()
	}
	return nil
}

func (o *Org) cmdRemoveCopy(c *ps.Call) error {
	if c.WhatIf() {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.removeCopy(id(c, "Identity"))
}

func (o *Org) cmdSuspendCopy(c *ps.Call) error {
	if c.WhatIf() {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.suspendCopy(id(c, "Identity"), c.Switch("ActivationOnly"), c.String("SuspendComment"))
}

func (o *Org) cmdResumeCopy(c *ps.Call) error {
	if c.WhatIf() {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.resumeCopy(id(c, "Identity"), c.Switch("ReplicationOnly"))
}

// cmdGetCopyStatus: 'DB' (all its copies), 'DB\SERVER' (one; SERVER may be *), or
// -Server; with none of them, the copies on the local server, as Exchange does.
func (o *Org) cmdGetCopyStatus(c *ps.Call, on *Server) error {
	const cmd = "Get-MailboxDatabaseCopyStatus"
	o.mu.Lock()
	defer o.mu.Unlock()
	type pick struct {
		db *Database
		c  *Copy
	}
	var picks []pick
	want, server := id(c, "Identity"), c.String("Server")
	switch {
	case want != "":
		dbName, srvName, isCopy := splitCopyID(want)
		if !isCopy {
			dbName, srvName = want, "*"
		}
		db := o.database(dbName)
		if db == nil {
			return notFound(cmd, want)
		}
		for _, cp := range byPreference(db) {
			if srvName == "*" || strings.EqualFold(cp.Server, srvName) || strings.EqualFold(cp.Server+"."+Domain, srvName) {
				picks = append(picks, pick{db, cp})
			}
		}
		if len(picks) == 0 {
			return notFound(cmd, want)
		}
	default:
		srv := on
		if server != "" {
			if srv = o.mailboxServer(server); srv == nil {
				return notFound(cmd, server)
			}
		} else if !on.HasRole("Mailbox") {
			return notFound(cmd, on.Name)
		}
		for _, db := range o.databases {
			if cp := db.copyOn(srv.Name); cp != nil {
				picks = append(picks, pick{db, cp})
			}
		}
	}
	now := o.clock.Now()
	for _, p := range picks {
		if c.Switch("Active") && !strings.EqualFold(p.c.Server, p.db.Active) {
			continue
		}
		c.Write(o.copyStatusObject(p.db, p.c, now))
	}
	return nil
}

func (o *Org) copyStatusObject(db *Database, cp *Copy, now time.Time) *ps.Object {
	status := o.copyStatus(db, cp, now)
	active := strings.EqualFold(cp.Server, db.Active)
	name := db.Name + `\` + cp.Server
	var errMsg, comment any
	if cp.ErrorMessage != "" && (status == statusFailed || status == statusFailedAndSuspended) {
		errMsg = cp.ErrorMessage
	}
	if status == statusServiceDown {
		errMsg = fmt.Sprintf("The Microsoft Exchange Replication service may not be running on server %s.", strings.ToLower(cp.Server)+"."+Domain)
	}
	if cp.SuspendComment != "" {
		comment = cp.SuspendComment
	}
	copyQ, replayQ := cp.CopyQueue, cp.ReplayQueue
	if active || status == statusSeeding {
		copyQ, replayQ = 0, 0
	}
	obj := ps.NewObject(typeCopyStatus,
		"Name", name,
		"DatabaseName", db.Name,
		"MailboxServer", cp.Server,
		"Status", enum(enumCopyStatus, status),
		"ActiveCopy", active,
		"ActivationSuspended", !active && (cp.Suspended || cp.ActivationOnly || cp.FailedAndSusp),
		"CopyQueueLength", copyQ,
		"ReplayQueueLength", replayQ,
		"LastInspectedLogTime", o.lastInspected(db, cp, status, now),
		"ContentIndexState", enum(enumContentIndex, cp.ContentIndexState),
		"ErrorMessage", errMsg,
		"SuspendComment", comment,
		// Active Manager names servers in lower case.
		"ActiveDatabaseCopy", strings.ToLower(db.Active),
		"Identity", name,
	)
	obj.Str = name
	return obj
}

// ---- health and switchover ----

func (o *Org) cmdTestReplicationHealth(c *ps.Call, on *Server) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	server := id(c, "Identity")
	if server == "" {
		server = on.Name
	}
	rows, err := o.replicationHealth(server)
	if err != nil {
		return err
	}
	for _, r := range rows {
		var e any
		if r.Error != "" {
			e = r.Error
		}
		obj := ps.NewObject(typeReplicationRow,
			"Server", r.Server,
			"Check", r.Check,
			"CheckDescription", r.Description,
			"Result", checkResult(r.Result, on.Culture),
			"Error", e,
			"Identity", r.Server,
		)
		obj.Str = r.Check
		c.Write(obj)
	}
	return nil
}

func (o *Org) cmdMove(c *ps.Call) error {
	req := moveRequest{
		Database:   id(c, "Identity"),
		Target:     c.String("ActivateOnServer"),
		Dial:       c.String("MountDialOverride"),
		Comment:    c.String("MoveComment"),
		SkipClient: c.Switch("SkipClientExperienceChecks"),
		SkipHealth: c.Switch("SkipHealthChecks"),
		SkipLag:    c.Switch("SkipLagChecks"),
		SkipActive: c.Switch("SkipActiveCopyChecks"),
	}
	if c.WhatIf() {
		return nil
	}
	// moveActive takes and releases o.mu itself: it waits on the clock in between.
	res, err := o.moveActive(c.Ctx, req)
	if res.Identity != "" {
		var e any
		if res.Error != "" {
			e = res.Error
		}
		obj := ps.NewObject(typeMoveResult,
			"Identity", res.Identity,
			"ActiveServerAtStart", strings.ToLower(res.Start),
			"ActiveServerAtEnd", strings.ToLower(res.End),
			"Status", res.Status,
			"NumberOfLogsLost", res.LogsLost,
			"MountStatusAtMoveStart", res.MountAtStart,
			"MountStatusAtMoveEnd", res.MountAtEnd,
			"ErrorMessage", e,
		)
		obj.Str = res.Identity
		c.Write(obj)
	}
	return err
}
