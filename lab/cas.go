package lab

// Exchange 2010's Client Access array cmdlets (the walkthrough's steps 3 and 5) and the
// check that ties the whole CAS side together, Test-OutlookWebServices.
//
// Objects come from Exchange's remote shell, so they carry Exchange's type names; the
// rules are plain methods on Org, the cmdlets thin bindings over them.

import (
	"fmt"
	"strings"

	"github.com/exchops/exchops/lab/ps"
)

const (
	casArrayType  = "Microsoft.Exchange.Data.Directory.SystemConfiguration.ClientAccessArray"
	casServerType = "Microsoft.Exchange.Data.Directory.Management.ClientAccessServer"
	owsResultType = "Microsoft.Exchange.Monitoring.TestOutlookWebServicesResult"
	casTaskPrefix = "Microsoft.Exchange.Management.SystemConfigurationTasks."
)

// casDC is the domain controller Exchange names in its directory errors.
func (o *Org) casDC() string {
	for _, s := range o.servers {
		if s.IsDC {
			return s.Name + "." + Domain
		}
	}
	return "DC01." + Domain
}

// casNotFound is Exchange's ManagementObjectNotFoundException text for an identity
// that resolves to nothing.
func (o *Org) casNotFound(id, task string) *ps.ErrorRecord {
	e := ps.Errorf("NotSpecified", "6A2B6E2D,"+casTaskPrefix+task,
		"The operation couldn't be performed because object '%s' couldn't be found on '%s'.", id, o.casDC())
	e.ExceptionType = "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
	e.Target = id
	return e
}

// casArrayDN is the array's distinguished name in the configuration partition.
func casArrayDN(name, site string) string {
	return fmt.Sprintf("CN=%s,CN=Arrays,CN=%s,CN=Sites,CN=Configuration,DC=msglab,DC=local", name, site)
}

func (o *Org) casArray(id string) *CASArray {
	for _, a := range o.casArrays {
		if strings.EqualFold(a.Name, id) || strings.EqualFold(a.Fqdn, id) {
			return a
		}
	}
	return nil
}

func (o *Org) casArrayInSite(site string) *CASArray {
	for _, a := range o.casArrays {
		if strings.EqualFold(a.Site, site) {
			return a
		}
	}
	return nil
}

// casSite resolves an AD site name (the sites are those of the servers).
func (o *Org) casSite(name string) (string, bool) {
	for _, s := range o.servers {
		if strings.EqualFold(s.Site, name) {
			return s.Site, true
		}
	}
	return "", false
}

// casValidFqdn is what Exchange's Fqdn type accepts: dot-separated labels of letters,
// digits and hyphens.
func casValidFqdn(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 255 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

func casBadFqdn(v string) *ps.ErrorRecord {
	return ps.Errorf("InvalidArgument", "ParameterArgumentTransformationError",
		"Cannot process argument transformation on parameter 'Fqdn'. Cannot convert value \"%s\" to type \"Microsoft.Exchange.Data.Fqdn\". Error: \"\"%s\" isn't a valid fully qualified domain name (FQDN).\"", v, v)
}

// casCheckFqdn refuses an array FQDN another array uses or that is a server's own name:
// Exchange 2010 requires the array name to be unique, and a server's FQDN would send
// every Outlook client to that one server instead of the load balancer.
func (o *Org) casCheckFqdn(fqdn string, self *CASArray, task string) error {
	for _, a := range o.casArrays {
		if a != self && strings.EqualFold(a.Fqdn, fqdn) {
			return ps.Errorf("InvalidOperation", "5F1E5A3C,"+casTaskPrefix+task,
				"The FQDN '%s' is already used by Client Access array '%s'. Each Client Access array must have a unique FQDN.", fqdn, a.Name)
		}
	}
	for _, s := range o.servers {
		if strings.EqualFold(s.FQDN(), fqdn) || strings.EqualFold(s.Name, fqdn) {
			return ps.Errorf("InvalidOperation", "2C4E1B7D,"+casTaskPrefix+task,
				"The FQDN '%s' is the name of server %s. A Client Access array's FQDN must not be the name of an existing server; use a name that resolves to the load balancer.", fqdn, s.Name)
		}
	}
	return nil
}

// newCASArray is New-ClientAccessArray. name defaults to the FQDN's first label, as
// Exchange does.
func (o *Org) newCASArray(name, fqdn, site string) (*ps.Object, error) {
	const task = "NewClientAccessArray"
	if !casValidFqdn(fqdn) {
		return nil, casBadFqdn(fqdn)
	}
	fqdn = strings.ToLower(strings.TrimSuffix(fqdn, "."))
	if name == "" {
		name, _, _ = strings.Cut(fqdn, ".")
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	st, ok := o.casSite(site)
	if !ok {
		return nil, o.casNotFound(site, task)
	}
	for _, a := range o.casArrays {
		if strings.EqualFold(a.Name, name) {
			e := ps.Errorf("NotSpecified", "3A5C2F0E,"+casTaskPrefix+task,
				"Active Directory operation failed on %s. The object '%s' already exists.", o.casDC(), casArrayDN(a.Name, a.Site))
			e.ExceptionType = "Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException"
			return nil, e
		}
	}
	if err := o.casCheckFqdn(fqdn, nil, task); err != nil {
		return nil, err
	}
	// Exchange 2010 allows one Client Access array per Active Directory site.
	if a := o.casArrayInSite(st); a != nil {
		return nil, ps.Errorf("InvalidOperation", "7D3B9A11,"+casTaskPrefix+task,
			"Active Directory site '%s' already has Client Access array '%s'. A site can have only one Client Access array.", st, a.Name)
	}
	a := &CASArray{Name: name, Fqdn: fqdn, Site: st}
	o.casArrays = append(o.casArrays, a)
	return o.casArrayObject(a), nil
}

func (o *Org) casArrayObject(a *CASArray) *ps.Object {
	var members []any
	for _, s := range o.servers {
		if s.HasRole("ClientAccess") && strings.EqualFold(s.Site, a.Site) {
			members = append(members, s.Name)
		}
	}
	if members == nil {
		members = []any{}
	}
	obj := ps.NewObject(casArrayType, "Name", a.Name, "Site", a.Site, "Fqdn", a.Fqdn, "Members", members, "Identity", a.Name)
	obj.Str = a.Name
	return obj
}

// getCASArrays is Get-ClientAccessArray: all arrays, or the one id names.
func (o *Org) getCASArrays(id string) ([]*ps.Object, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []*ps.Object
	for _, a := range o.casArrays {
		if id == "" || strings.EqualFold(a.Name, id) || strings.EqualFold(a.Fqdn, id) {
			out = append(out, o.casArrayObject(a))
		}
	}
	if id != "" && len(out) == 0 {
		return nil, o.casNotFound(id, "GetClientAccessArray")
	}
	return out, nil
}

// setCASArray is Set-ClientAccessArray; empty values are left as they are.
func (o *Org) setCASArray(id, name, fqdn, site string) error {
	const task = "SetClientAccessArray"
	if fqdn != "" && !casValidFqdn(fqdn) {
		return casBadFqdn(fqdn)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	a := o.casArray(id)
	if a == nil {
		return o.casNotFound(id, task)
	}
	newSite := a.Site
	if site != "" {
		st, ok := o.casSite(site)
		if !ok {
			return o.casNotFound(site, task)
		}
		if other := o.casArrayInSite(st); other != nil && other != a {
			return ps.Errorf("InvalidOperation", "7D3B9A11,"+casTaskPrefix+task,
				"Active Directory site '%s' already has Client Access array '%s'. A site can have only one Client Access array.", st, other.Name)
		}
		newSite = st
	}
	if name != "" {
		for _, other := range o.casArrays {
			if other != a && strings.EqualFold(other.Name, name) {
				return ps.Errorf("NotSpecified", "3A5C2F0E,"+casTaskPrefix+task,
					"Active Directory operation failed on %s. The object '%s' already exists.", o.casDC(), casArrayDN(other.Name, other.Site))
			}
		}
	}
	if fqdn != "" {
		fqdn = strings.ToLower(strings.TrimSuffix(fqdn, "."))
		if err := o.casCheckFqdn(fqdn, a, task); err != nil {
			return err
		}
		a.Fqdn = fqdn
	}
	if name != "" {
		a.Name = name
	}
	a.Site = newSite
	return nil
}

// removeCASArray is Remove-ClientAccessArray.
func (o *Org) removeCASArray(id string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, a := range o.casArrays {
		if strings.EqualFold(a.Name, id) || strings.EqualFold(a.Fqdn, id) {
			o.casArrays = append(o.casArrays[:i], o.casArrays[i+1:]...)
			return nil
		}
	}
	return o.casNotFound(id, "RemoveClientAccessArray")
}

// CASArrays returns a copy of the Client Access arrays, for tests.
func (o *Org) CASArrays() []CASArray {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]CASArray, len(o.casArrays))
	for i, a := range o.casArrays {
		out[i] = *a
	}
	return out
}

// owsRow is one row of Test-OutlookWebServices.
type owsRow struct {
	ID      int
	Type    string // Information, Success, Warning, Error
	Message string
}

// testOutlookWebServices is Test-OutlookWebServices run on server on for a mailbox.
// Autodiscover itself always answers in the lab; what it checks is the RPC Client
// Access path the walkthrough builds: the array for the CAS's site, the DNS A record
// for its FQDN, the NLB cluster answering on that address with a converged host, and
// every database's RpcClientAccessServer. Each missing piece is its own Error row;
// the cmdlet itself does not fail, as the real one reports problems as rows.
func (o *Org) testOutlookWebServices(on *Server, identity string) ([]owsRow, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	mailbox := ""
	id := strings.ToLower(identity)
	for _, m := range o.mailboxes {
		local, _, _ := strings.Cut(m, "@")
		if id == m || id == local || id == strings.ToLower(DomainNB)+`\`+local {
			mailbox = m
		}
	}
	if mailbox == "" {
		return nil, o.casNotFound(identity, "TestOutlookWebServices")
	}
	cas := on
	if !cas.HasRole("ClientAccess") {
		cas = nil
		for _, s := range o.servers {
			if s.HasRole("ClientAccess") {
				cas = s
				break
			}
		}
	}
	if cas == nil {
		return nil, ps.Errorf("InvalidOperation", "1B9C4D22,Microsoft.Exchange.Monitoring.TestOutlookWebServices",
			"No Client Access server was found in site %s.", on.Site)
	}
	host := cas.FQDN()
	ews := "https://" + host + "/EWS/Exchange.asmx"
	auto := "https://" + host + "/Autodiscover/Autodiscover.xml"
	rows := []owsRow{
		{1003, "Information", "About to test AutoDiscover with the e-mail address " + mailbox + "."},
		{1007, "Information", "Testing server " + host + " with the published name " + ews + " & " + ews + "."},
		{1019, "Information", "Found a valid AutoDiscover service connection point. The AutoDiscover URL on this object is " + auto + "."},
		{1006, "Information", "The Autodiscover service was contacted at " + auto + "."},
		{1016, "Success", "[EXCH]-Successfully contacted the AS service at " + ews + ". The elapsed time was 15 milliseconds."},
	}
	failed := false
	fail := func(id int, msg string) {
		rows = append(rows, owsRow{id, "Error", msg})
		failed = true
	}

	target := ""
	arr := o.casArrayInSite(cas.Site)
	if arr != nil {
		target = arr.Fqdn
	} else {
		fail(1020, fmt.Sprintf("[EXCH]-No Client Access array exists for Active Directory site %s. Outlook clients are sent to the RPC Client Access server set on their mailbox database.", cas.Site))
		// Still check the load-balanced name being built, so the rows say what else is missing.
		for _, c := range o.nlb {
			for _, n := range c.Nodes {
				if s := o.server(n.Host); s != nil && s.HasRole("ClientAccess") && target == "" {
					target = c.Name
				}
			}
		}
	}
	if target != "" {
		rows = append(rows, o.owsRPCPath(target, fail)...)
	}
	for _, db := range o.databases {
		// An array serves its own site: the databases whose preference 1 copy is there.
		if home := o.server(byPreference(db)[0].Server); home != nil && !strings.EqualFold(home.Site, cas.Site) {
			continue
		}
		rpc := db.RpcClientAccessServer
		switch {
		case target != "" && strings.EqualFold(rpc, target):
		case target != "":
			fail(1020, fmt.Sprintf("[EXCH]-Mailbox database %s has RpcClientAccessServer %s, not the Client Access array %s.", db.Name, rpc, target))
		default:
			fail(1020, fmt.Sprintf("[EXCH]-Mailbox database %s has RpcClientAccessServer %s, which is a single server, not a Client Access array.", db.Name, rpc))
		}
	}
	if failed {
		rows = append(rows, owsRow{1021, "Information", "The following web services generated errors: RPC Client Access. See the Error rows above."})
	} else {
		rows = append(rows, owsRow{1006, "Success", "The Autodiscover service was tested successfully."})
	}
	return rows, nil
}

// owsRPCPath checks that fqdn resolves to an NLB cluster with a converged host, the way
// a client connecting to the array would find out. It returns the Success row or
// reports the failure through fail.
func (o *Org) owsRPCPath(fqdn string, fail func(int, string)) []owsRow {
	var ips []string
	for zone, records := range o.dns {
		for _, r := range records {
			if r.Type == "A" && strings.EqualFold(dnsFullName(zone, r.Name), fqdn) {
				ips = append(ips, r.Data)
			}
		}
	}
	if len(ips) == 0 {
		fail(1013, fmt.Sprintf("When contacting %s received the error The remote name could not be resolved: '%s'. There is no DNS A record for %s.", fqdn, fqdn, fqdn))
		return nil
	}
	var cluster *NLBCluster
	for _, c := range o.nlb {
		for _, ip := range ips {
			if c.IP == ip {
				cluster = c
			}
		}
	}
	if cluster == nil {
		why := "No NLB cluster answers on that address."
		for _, c := range o.nlb {
			if strings.EqualFold(c.Name, fqdn) {
				why = fmt.Sprintf("The DNS A record points at %s, but NLB cluster %s has the IP address %s.", strings.Join(ips, ", "), c.Name, c.IP)
			}
		}
		fail(1013, fmt.Sprintf("When contacting %s (%s) received the error Unable to connect to the remote server. %s", fqdn, strings.Join(ips, ", "), why))
		return nil
	}
	var answering string
	for _, n := range cluster.Nodes {
		if strings.HasPrefix(o.nlbNodeState(cluster, n), "Converged") {
			answering = n.Host
			break
		}
	}
	if answering == "" {
		fail(1013, fmt.Sprintf("When contacting %s (%s) received the error Unable to connect to the remote server. NLB cluster %s has no converged host.", fqdn, cluster.IP, cluster.Name))
		return nil
	}
	return []owsRow{{1022, "Success", fmt.Sprintf("[EXCH]-Successfully contacted the RPC Client Access service at %s (%s), answered by %s. The elapsed time was 0 milliseconds.", fqdn, cluster.IP, answering)}}
}

func (o *Org) casServerObjects(id string) ([]*ps.Object, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []*ps.Object
	for _, s := range o.servers {
		if !s.HasRole("ClientAccess") {
			continue
		}
		if id != "" && o.server(id) != s {
			continue
		}
		obj := ps.NewObject(casServerType, "Name", s.Name, "Fqdn", s.FQDN(),
			"AutoDiscoverServiceInternalUri", "https://"+s.FQDN()+"/Autodiscover/Autodiscover.xml", "AutoDiscoverSiteScope", []any{s.Site},
			"Identity", s.Name)
		obj.Str = s.Name
		out = append(out, obj)
	}
	if id != "" && len(out) == 0 {
		return nil, o.casNotFound(id, "GetClientAccessServer")
	}
	return out, nil
}

// casCmdlets are the Client Access cmdlets Exchange's remote shell defines on on.
func (o *Org) casCmdlets(on *Server) []*ps.Cmdlet {
	identity := ps.Param{Name: "Identity", Kind: ps.KindAny, Position: 0, FromPipeline: true}
	mandatoryIdentity := identity
	mandatoryIdentity.Mandatory = true
	dc := ps.Param{Name: "DomainController", Kind: ps.KindString, Position: -1}
	idOf := func(c *ps.Call) string {
		if v, ok := c.Params["Identity"]; ok && v != nil {
			return ps.Identity(v)
		}
		return ""
	}
	return []*ps.Cmdlet{
		{
			// Get-ADSite lists the organisation's Active Directory sites (those of its servers).
			Name:   "Get-ADSite",
			Params: []ps.Param{identity, dc},
			Invoke: func(c *ps.Call) error {
				o.mu.Lock()
				sites := o.sites()
				o.mu.Unlock()
				id := idOf(c)
				found := false
				for _, site := range sites {
					if id != "" && !strings.EqualFold(id, site) {
						continue
					}
					found = true
					c.Write(ps.NewObject("Microsoft.Exchange.Data.Directory.SystemConfiguration.ADSite",
						"Name", site, "HubSiteEnabled", false, "Identity", Domain+"/Configuration/Sites/"+site))
				}
				if !found {
					return ps.Errorf("InvalidArgument", "F2B9E8C1,Microsoft.Exchange.Management.SystemConfigurationTasks.GetAdSite",
						"The operation couldn't be performed because object '%s' couldn't be found on 'DC01.%s'.", id, Domain)
				}
				return nil
			},
		},
		{
			Name:   "Get-ClientAccessArray",
			Params: []ps.Param{identity, dc, {Name: "Site", Kind: ps.KindString, Position: -1}},
			Invoke: func(c *ps.Call) error {
				arrays, err := o.getCASArrays(idOf(c))
				if err != nil {
					return err
				}
				for _, a := range arrays {
					if site := c.String("Site"); site != "" {
						if s, _ := a.Get("Site"); !strings.EqualFold(ps.ToString(s), site) {
							continue
						}
					}
					c.Write(a)
				}
				return nil
			},
		},
		{
			Name: "New-ClientAccessArray", ShouldProcess: true,
			Params: []ps.Param{
				{Name: "Name", Kind: ps.KindString, Position: 0},
				{Name: "Fqdn", Kind: ps.KindString, Mandatory: true, Position: -1},
				{Name: "Site", Kind: ps.KindString, Mandatory: true, Position: -1},
				dc,
			},
			Invoke: func(c *ps.Call) error {
				if c.WhatIf() {
					return nil
				}
				obj, err := o.newCASArray(c.String("Name"), c.String("Fqdn"), c.String("Site"))
				if err != nil {
					return err
				}
				c.Write(obj)
				return nil
			},
		},
		{
			Name: "Set-ClientAccessArray", ShouldProcess: true,
			Params: []ps.Param{mandatoryIdentity, dc,
				{Name: "Name", Kind: ps.KindString, Position: -1},
				{Name: "Fqdn", Kind: ps.KindString, Position: -1},
				{Name: "Site", Kind: ps.KindString, Position: -1},
			},
			Invoke: func(c *ps.Call) error {
				if c.WhatIf() {
					return nil
				}
				return o.setCASArray(idOf(c), c.String("Name"), c.String("Fqdn"), c.String("Site"))
			},
		},
		{
			Name: "Remove-ClientAccessArray", ShouldProcess: true,
			Params: []ps.Param{mandatoryIdentity, dc},
			Invoke: func(c *ps.Call) error {
				if c.WhatIf() {
					return nil
				}
				return o.removeCASArray(idOf(c))
			},
		},
		{
			Name:   "Get-ClientAccessServer",
			Params: []ps.Param{identity, dc},
			Invoke: func(c *ps.Call) error {
				objs, err := o.casServerObjects(idOf(c))
				if err != nil {
					return err
				}
				for _, obj := range objs {
					c.Write(obj)
				}
				return nil
			},
		},
		{
			Name: "Test-OutlookWebServices", ShouldProcess: true,
			Params: []ps.Param{identity, dc,
				{Name: "ClientAccessServer", Kind: ps.KindAny, Position: -1},
				{Name: "TargetAddress", Kind: ps.KindStringArray, Position: -1},
				{Name: "MonitoringContext", Kind: ps.KindBool, Position: -1},
			},
			Invoke: func(c *ps.Call) error {
				id := idOf(c)
				if id == "" {
					id = "administrator@" + Domain
				}
				srv := on
				if v, ok := c.Params["ClientAccessServer"]; ok && v != nil {
					name := ps.Identity(v)
					o.mu.Lock()
					s := o.server(name)
					o.mu.Unlock()
					if s == nil || !s.HasRole("ClientAccess") {
						return o.casNotFound(name, "TestOutlookWebServices")
					}
					srv = s
				}
				rows, err := o.testOutlookWebServices(srv, id)
				if err != nil {
					return err
				}
				for _, r := range rows {
					c.Write(ps.NewObject(owsResultType, "Id", r.ID, "Type", r.Type, "Message", r.Message))
				}
				return nil
			},
		},
	}
}
