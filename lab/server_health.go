package lab

// A server's own health, as Test-ExchangeServerHealth.ps1 reads it: the Windows
// services each Exchange role requires (Test-ServiceHealth), the mount status of the
// mailbox and public folder databases (Get-MailboxDatabase / Get-PublicFolderDatabase
// -Status), a MAPI logon to each active database (Test-MapiConnectivity) and the
// transport queues of a Hub Transport server (Get-Queue). The faults that make each
// of them go wrong are at the end: a stopped service, a growing transport queue, a
// dismounted database, a public folder database.

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"time"

	"github.com/exchops/exchops/lab/ps"
)

// Type names of the objects these cmdlets return. Test-ServiceHealth's and
// Test-MapiConnectivity's are the lab's best knowledge of Exchange 2010's classes
// (clients read their properties, never their type names).
const (
	typeServiceHealth  = "Microsoft.Exchange.Monitoring.ServerStatusResult"
	typePublicFolderDB = "Microsoft.Exchange.Data.Directory.SystemConfiguration.PublicFolderDatabase"
	typeQueueInfo      = "Microsoft.Exchange.Data.QueueViewer.ExtensibleQueueInfo"
	typeMAPIOutcome    = "Microsoft.Exchange.Monitoring.TestMapiConnectivityOutcome"
	typeMAPIResult     = "Microsoft.Exchange.Monitoring.CasTransactionResult"
)

// roleServices are the Windows services Test-ServiceHealth requires per Exchange
// 2010 role, by role as the cmdlet names it, in the order it reports the roles.
var roleServices = []struct {
	Role, Label string
	Services    []string
}{
	{"Mailbox", "Mailbox Server Role", []string{"IISAdmin", "MSExchangeADTopology", "MSExchangeIS", "MSExchangeMailboxAssistants",
		"MSExchangeMailSubmission", "MSExchangeRepl", "MSExchangeRPC", "MSExchangeSA", "MSExchangeSearch", "MSExchangeServiceHost",
		"MSExchangeThrottling", "MSExchangeTransportLogSearch", "W3Svc", "WinRM"}},
	{"ClientAccess", "Client Access Server Role", []string{"IISAdmin", "MSExchangeAB", "MSExchangeADTopology", "MSExchangeFBA",
		"MSExchangeFDS", "MSExchangeMailboxReplication", "MSExchangeProtectedServiceHost", "MSExchangeRPC", "MSExchangeServiceHost",
		"W3Svc", "WinRM"}},
	{"HubTransport", "Hub Transport Server Role", []string{"IISAdmin", "MSExchangeADTopology", "MSExchangeEdgeSync",
		"MSExchangeServiceHost", "MSExchangeTransport", "MSExchangeTransportLogSearch", "W3Svc", "WinRM"}},
}

// endpointServices carry the Exchange endpoint itself (IIS) and WinRS: stopping one
// makes the server unreachable, which the unreachable fault already shows.
var endpointServices = map[string]bool{"iisadmin": true, "w3svc": true, "winrm": true}

// requiredServices lists the services the server's roles require, each once.
func requiredServices(s *Server) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range roleServices {
		if !s.HasRole(r.Role) {
			continue
		}
		for _, svc := range r.Services {
			if !seen[strings.ToLower(svc)] {
				seen[strings.ToLower(svc)] = true
				out = append(out, svc)
			}
		}
	}
	return out
}

// serviceStopped reports whether a service is stopped on a server; callers hold mu.
func (o *Org) serviceStopped(server, service string) bool {
	s := o.server(server)
	return s != nil && s.stopped[strings.ToLower(service)]
}

// PublicFolderDB is an Exchange 2010 public folder database (the lab has none until
// AddPublicFolderDatabase).
type PublicFolderDB struct {
	Name    string
	Server  string
	Mounted bool
}

// transportQueue is a Hub Transport server's backlog (SetTransportQueue): messages
// waiting in its mailbox delivery queue, growing by Growth a minute from Since, plus
// the shadow redundancy queue's.
type transportQueue struct {
	Messages int
	Growth   int // messages a minute
	Since    time.Time
	Shadow   int
}

// serverHealthCmdlets are Test-ServiceHealth, Get-PublicFolderDatabase,
// Test-MapiConnectivity and Get-Queue as they run on server on.
func (o *Org) serverHealthCmdlets(on *Server) []*ps.Cmdlet {
	named := func(name string, kind ps.ParamKind) ps.Param { return ps.Param{Name: name, Kind: kind, Position: -1} }
	dc := named("DomainController", ps.KindString)
	return []*ps.Cmdlet{
		{
			Name: "Test-ServiceHealth",
			Params: []ps.Param{{Name: "Server", Kind: ps.KindAny, Position: 0, FromPipeline: true},
				named("ActiveDirectoryTimeout", ps.KindInt), named("MonitoringContext", ps.KindBool), dc},
			ShouldProcess: true,
			Invoke:        func(c *ps.Call) error { return o.cmdTestServiceHealth(c, on) },
		},
		{
			Name: "Get-PublicFolderDatabase",
			Params: []ps.Param{{Name: "Identity", Kind: ps.KindAny, Position: 0, FromPipeline: true},
				named("Server", ps.KindString), ps.Param{Name: "Status", Kind: ps.KindSwitch, Position: -1},
				ps.Param{Name: "IncludePreExchange2010", Kind: ps.KindSwitch, Position: -1}, dc},
			Invoke: func(c *ps.Call) error { return o.cmdGetPublicFolderDatabase(c, on) },
		},
		{
			Name: "Test-MapiConnectivity",
			Params: []ps.Param{{Name: "Identity", Kind: ps.KindAny, Position: 0, FromPipeline: true},
				named("Database", ps.KindString), named("Server", ps.KindString), ps.Param{Name: "Archive", Kind: ps.KindSwitch, Position: -1},
				named("ActiveDirectoryTimeout", ps.KindInt), named("AllConnectionsTimeout", ps.KindInt),
				named("PerConnectionTimeout", ps.KindInt), named("MonitoringContext", ps.KindBool), dc},
			ShouldProcess: true,
			Invoke:        func(c *ps.Call) error { return o.cmdTestMapiConnectivity(c, on) },
		},
		{
			// Exchange 2010's parameters: -Include and -Exclude came with 2013.
			Name: "Get-Queue",
			Params: []ps.Param{{Name: "Identity", Kind: ps.KindString, Position: 0, FromPipeline: true},
				named("Server", ps.KindString), named("Filter", ps.KindString), named("BookmarkIndex", ps.KindInt),
				named("BookmarkObject", ps.KindAny), named("IncludeBookmark", ps.KindBool), named("ResultSize", ps.KindString),
				named("ReturnPageInfo", ps.KindBool), named("SearchForward", ps.KindBool), named("SortOrder", ps.KindStringArray)},
			Invoke: func(c *ps.Call) error { return o.cmdGetQueue(c, on) },
		},
	}
}

// ambiguousParameterSet is PowerShell's refusal of parameters from two parameter sets.
func ambiguousParameterSet() *ps.ErrorRecord {
	e := ps.Errorf("InvalidArgument", "AmbiguousParameterSet", "Parameter set cannot be resolved using the specified named parameters.")
	e.ExceptionType = "System.Management.Automation.ParameterBindingException"
	return e
}

// ---- Test-ServiceHealth ----

func (o *Org) cmdTestServiceHealth(c *ps.Call, on *Server) error {
	if c.WhatIf() {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	s := on
	if v, ok := c.Params["Server"]; ok && v != nil {
		name := strings.TrimSpace(ps.Identity(v))
		if s = o.exchangeServer(name); s == nil {
			return notFound("Test-ServiceHealth", name)
		}
	}
	for _, r := range roleServices {
		if !s.HasRole(r.Role) {
			continue
		}
		running, notRunning := []any{}, []any{}
		for _, svc := range r.Services {
			if s.stopped[strings.ToLower(svc)] {
				notRunning = append(notRunning, svc)
			} else {
				running = append(running, svc)
			}
		}
		obj := ps.NewObject(typeServiceHealth,
			"Role", r.Label,
			"RequiredServicesRunning", len(notRunning) == 0,
			"ServicesRunning", running,
			"ServicesNotRunning", notRunning,
		)
		obj.Str = r.Label
		c.Write(obj)
	}
	return nil
}

// ---- Get-PublicFolderDatabase ----

func (o *Org) cmdGetPublicFolderDatabase(c *ps.Call, on *Server) error {
	const cmd = "Get-PublicFolderDatabase"
	o.mu.Lock()
	defer o.mu.Unlock()
	want, server := id(c, "Identity"), c.String("Server")
	if want != "" && server != "" {
		return ambiguousParameterSet()
	}
	var srv *Server
	if server != "" {
		if srv = o.exchangeServer(server); srv == nil {
			return notFound(cmd, server)
		}
	}
	found := false
	for _, pf := range o.publicFolders {
		if srv != nil && !strings.EqualFold(pf.Server, srv.Name) {
			continue
		}
		if want != "" && !strings.EqualFold(want, pf.Name) && !strings.EqualFold(want, pf.Server+`\`+pf.Name) {
			continue
		}
		found = true
		var mounted any // $null without -Status, as for mailbox databases
		if c.Switch("Status") {
			mounted = pf.Mounted && !o.serviceStopped(pf.Server, "MSExchangeIS")
		}
		obj := ps.NewObject(typePublicFolderDB,
			"Name", pf.Name,
			"Server", pf.Server,
			"Mounted", mounted,
			"Recovery", false,
			"AdminDisplayVersion", ExchangeV,
			"Identity", pf.Server+`\`+pf.Name,
		)
		obj.Str = pf.Name
		c.Write(obj)
	}
	if want != "" && !found {
		return notFound(cmd, want)
	}
	return nil
}

// ---- Test-MapiConnectivity ----

// cmdTestMapiConnectivity logs on to the system mailbox of each database it tests:
// -Database one, -Server (or none: the local server) every database active there.
// The lab has no user mailboxes to log on to by -Identity.
func (o *Org) cmdTestMapiConnectivity(c *ps.Call, on *Server) error {
	const cmd = "Test-MapiConnectivity"
	if c.WhatIf() {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	dbName, server := c.String("Database"), c.String("Server")
	ident := id(c, "Identity")
	sets := 0
	for _, v := range []string{dbName, server, ident} {
		if v != "" {
			sets++
		}
	}
	if sets > 1 {
		return ambiguousParameterSet()
	}
	if ident != "" {
		return notFound(cmd, ident)
	}
	var dbs []*Database
	switch {
	case dbName != "":
		db := o.database(dbName)
		if db == nil {
			return notFound(cmd, dbName)
		}
		dbs = []*Database{db}
	default:
		s := on
		if server != "" {
			s = o.exchangeServer(server)
			if s == nil {
				return notFound(cmd, server)
			}
		}
		if !s.HasRole("Mailbox") {
			return invalidOp(cmd, "The server %s doesn't have the Mailbox server role installed.", s.FQDN())
		}
		for _, db := range o.databases {
			if strings.EqualFold(db.Active, s.Name) {
				dbs = append(dbs, db)
			}
		}
	}
	for _, db := range dbs {
		result, latency, errText := "Success", "00:00:00.0156250", any(nil)
		if !o.mounted(db) {
			result, latency = "Failure", "00:00:00"
			errText = fmt.Sprintf("[Microsoft.Exchange.Data.Storage.MailboxOfflineException]: Cannot open mailbox /o=%s/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Configuration/cn=Servers/cn=%s/cn=Microsoft System Attendant. Inner error [Microsoft.Mapi.MapiExceptionMdbOffline]: MapiExceptionMdbOffline: Unable to make admin interface connection to server. (hr=0x80004005, ec=1142)",
				OrgName, db.Active)
		}
		res := ps.NewObject(typeMAPIResult, "Value", enum(enumMAPIResult, result))
		res.Str = result
		if result == "Failure" {
			res.Str = "*FAILURE*"
		}
		obj := ps.NewObject(typeMAPIOutcome,
			"MailboxServer", db.Active,
			"Database", db.Name,
			"Mailbox", "SystemMailbox{"+systemMailboxGUID(db.Name)+"}",
			"Result", res,
			"Latency", latency,
			"Error", errText,
		)
		obj.Str = db.Name
		c.Write(obj)
	}
	return nil
}

// systemMailboxGUID is a stable stand-in for a database's system mailbox GUID.
func systemMailboxGUID(db string) string {
	h := fnv.New128a()
	h.Write([]byte(db))
	b := h.Sum(nil)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// ---- Get-Queue ----

// cmdGetQueue lists a Hub Transport server's queues: the submission queue always,
// a mailbox delivery queue while messages wait for a database, the shadow redundancy
// queue while it holds copies. Asking a server without the Hub Transport role, or one
// whose transport service is stopped, fails as the queue viewer's RPC does.
func (o *Org) cmdGetQueue(c *ps.Call, on *Server) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	identity, server := c.String("Identity"), c.String("Server")
	if identity != "" && (server != "" || c.Has("Filter")) {
		return ambiguousParameterSet()
	}
	if c.Has("Filter") {
		return exErr("Get-Queue", "InvalidArgument", "Microsoft.Exchange.Management.QueueViewerTasks.QueueViewerException",
			"The lab's Get-Queue doesn't evaluate -Filter; filter the queues on the client.")
	}
	s := on
	if server != "" {
		if s = o.exchangeServer(server); s == nil {
			return notFound("Get-Queue", server)
		}
	}
	if !s.HasRole("HubTransport") || s.stopped["msexchangetransport"] {
		e := ps.Errorf("InvalidOperation", "0,Microsoft.Exchange.Management.QueueViewerTasks.GetQueueInfo",
			"Failed to connect to the Microsoft Exchange Transport service on computer \"%s\". Verify that a valid computer name was used and the Microsoft Exchange Transport service is started.", s.FQDN())
		e.ExceptionType = "Microsoft.Exchange.Management.QueueViewerTasks.QueueViewerException"
		return e
	}
	q := s.queue
	now := o.clock.Now()
	queue := func(name, delivery, status string, count int, nextHop, lastError string) {
		var le any
		if lastError != "" {
			le = lastError
		}
		obj := ps.NewObject(typeQueueInfo,
			"Identity", s.Name+`\`+name,
			"DeliveryType", enum(enumDeliveryType, delivery),
			"NextHopDomain", nextHop,
			"Status", enum(enumQueueStatus, status),
			"MessageCount", count,
			"LastError", le,
			"NextHopCategory", "Internal",
		)
		obj.Str = s.Name + `\` + name
		if identity == "" || strings.EqualFold(identity, name) || strings.EqualFold(identity, s.Name+`\`+name) {
			c.Write(obj)
		}
	}
	queue("Submission", "Undefined", "Ready", 0, "Submission", "")
	if n := q.backlog(now); n > 0 {
		// Messages wait for the first mailbox database, as when its store does not
		// answer the hub's MAPI deliveries.
		db := "mailbox database"
		if len(o.databases) > 0 {
			db = strings.ToLower(o.databases[0].Name)
		}
		queue("3", "MapiDelivery", "Retry", n, db, "451 4.4.0 Primary target IP address responded with: \"421 4.2.1 Unable to connect.\" Attempted failover to alternate host, but that did not succeed.")
	}
	if q.Shadow > 0 {
		other := "ex10-caht02." + Domain
		for _, x := range o.servers {
			if x != s && x.HasRole("HubTransport") {
				other = x.FQDN()
				break
			}
		}
		queue("4", "ShadowRedundancy", "Ready", q.Shadow, other, "")
	}
	return nil
}

// backlog is the delivery queue's length at now.
func (q transportQueue) backlog(now time.Time) int {
	n := q.Messages
	if q.Growth > 0 && now.After(q.Since) {
		n += q.Growth * int(now.Sub(q.Since)/time.Minute)
	}
	return n
}

// ---- faults: exported for tests and the lab's CLI flags ----

// SetServiceStopped stops (or starts again) a Windows service an Exchange role of the
// server requires. What it breaks follows: a stopped MSExchangeIS dismounts the
// databases active there (and fails MAPI logons), a stopped MSExchangeRepl makes the
// server's copies ServiceDown and its replication checks fail, a stopped
// MSExchangeTransport makes Get-Queue fail; every stopped service shows in
// Test-ServiceHealth. IIS and WinRM carry the endpoints: use the unreachable fault.
func (o *Org) SetServiceStopped(server, service string, stopped bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.exchangeServer(server)
	if s == nil {
		return fmt.Errorf("lab: %q is not an Exchange server", server)
	}
	key := strings.ToLower(service)
	if endpointServices[key] {
		return fmt.Errorf("lab: %s carries the server's endpoints; to take %s off the network use the unreachable fault", service, s.Name)
	}
	req := requiredServices(s)
	found := false
	for _, r := range req {
		if strings.EqualFold(r, service) {
			found = true
		}
	}
	if !found {
		return fmt.Errorf("lab: %s is not a service the roles of %s require (%s)", service, s.Name, strings.Join(req, ", "))
	}
	if s.stopped == nil {
		s.stopped = map[string]bool{}
	}
	if stopped {
		s.stopped[key] = true
	} else {
		delete(s.stopped, key)
	}
	return nil
}

// StoppedServices lists the services stopped on a server, sorted.
func (o *Org) StoppedServices(server string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.server(server)
	if s == nil {
		return nil
	}
	var out []string
	for _, svc := range requiredServices(s) {
		if s.stopped[strings.ToLower(svc)] {
			out = append(out, svc)
		}
	}
	sort.Strings(out)
	return out
}

// SetTransportQueue gives a Hub Transport server a delivery queue of messages that
// grows by growth messages a minute on the lab's clock (0: it stays), and a shadow
// redundancy queue of shadow messages (left out of Test-ExchangeServerHealth.ps1's
// count). All zero empties them.
func (o *Org) SetTransportQueue(server string, messages, growth, shadow int) error {
	if messages < 0 || growth < 0 || shadow < 0 {
		return fmt.Errorf("lab: queue lengths and growth must not be negative")
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.exchangeServer(server)
	if s == nil || !s.HasRole("HubTransport") {
		return fmt.Errorf("lab: %q is not a Hub Transport server", server)
	}
	s.queue = transportQueue{Messages: messages, Growth: growth, Since: o.clock.Now(), Shadow: shadow}
	return nil
}

// SetMounted dismounts a mailbox database (as Dismount-Database, or a store that
// took it offline) or mounts it again.
func (o *Org) SetMounted(db string, mounted bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	d := o.database(db)
	if d == nil {
		return fmt.Errorf("lab: no database %q", db)
	}
	d.Mounted = mounted
	return nil
}

// AddPublicFolderDatabase gives a mailbox server a public folder database (mounted or
// not), or sets the mount state of the one it has by that name.
func (o *Org) AddPublicFolderDatabase(server, name string, mounted bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.mailboxServer(server)
	if s == nil {
		return fmt.Errorf("lab: %q is not a mailbox server", server)
	}
	if name == "" {
		name = "Public Folder Database " + s.Name
	}
	for _, pf := range o.publicFolders {
		if strings.EqualFold(pf.Name, name) {
			if !strings.EqualFold(pf.Server, s.Name) {
				return fmt.Errorf("lab: the public folder database %s is on %s", pf.Name, pf.Server)
			}
			pf.Mounted = mounted
			return nil
		}
	}
	o.publicFolders = append(o.publicFolders, &PublicFolderDB{Name: name, Server: s.Name, Mounted: mounted})
	return nil
}

// serverFault applies a server-level fault of this file by name (Lab.SetFault):
// stop-<service>, queue, dismount, publicfolder-dismounted. ok is false for a name it
// does not know.
func (o *Org) serverFault(server, fault string) (ok bool, err error) {
	switch {
	case strings.HasPrefix(fault, "stop-"):
		return true, o.SetServiceStopped(server, strings.TrimPrefix(fault, "stop-"), true)
	case fault == "queue":
		// Over the warning bar in three minutes, at the failure bar in five.
		return true, o.SetTransportQueue(server, 60, 10, 0)
	case fault == "dismount":
		o.mu.Lock()
		defer o.mu.Unlock()
		s := o.mailboxServer(server)
		if s == nil {
			return true, fmt.Errorf("lab: %q is not a mailbox server", server)
		}
		for _, db := range o.databases {
			if strings.EqualFold(db.Active, s.Name) {
				db.Mounted = false
			}
		}
		return true, nil
	case fault == "publicfolder-dismounted":
		return true, o.AddPublicFolderDatabase(server, "", false)
	}
	return false, nil
}

// clearServerFaults is what the fault none ends besides the WS-Management faults:
// the server's stopped services and its transport backlog.
func (o *Org) clearServerFaults(server string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s := o.server(server); s != nil {
		s.stopped = nil
		s.queue = transportQueue{}
	}
}
