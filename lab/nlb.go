package lab

// Windows Server 2008 R2's side of the CAS array: the ServerManager module's feature
// cmdlets (Add-WindowsFeature NLB) and the NetworkLoadBalancingClusters module.
//
// The rules live in plain methods on Org (addFeatures, newNLBCluster, addNLBNode, ...)
// that take o.mu for their whole read or change; the cmdlets are thin bindings over
// them. NLB objects are live objects of the NLB module's own types (the module runs in
// the local session, not through Exchange's remoting, so nothing is deserialized).

import (
	"fmt"
	"net/netip"
	"path"
	"sort"
	"strings"

	"github.com/exchops/exchops/lab/ps"
)

// Type names of the objects the NLB module and ServerManager emit.
const (
	nlbClusterType    = "Microsoft.NetworkLoadBalancingClusters.PowerShell.Cluster"
	nlbNodeType       = "Microsoft.NetworkLoadBalancingClusters.PowerShell.Node"
	nlbPortRuleType   = "Microsoft.NetworkLoadBalancingClusters.PowerShell.PortRule"
	featureType       = "Microsoft.Windows.ServerManager.Commands.Feature"
	featureOpType     = "Microsoft.Windows.ServerManager.Commands.FeatureOperationResult"
	featureResultType = "Microsoft.Windows.ServerManager.Commands.FeatureResult"
)

// Windows feature names the lab knows, with their display names, in Get-WindowsFeature order.
// A 2008 R2 server has hundreds; these are the ones the walkthrough and its neighbours touch.
var windowsFeatures = []struct{ Name, Display string }{
	{"AD-Domain-Services", "Active Directory Domain Services"},
	{"DNS", "DNS Server"},
	{"Web-Server", "Web Server (IIS)"},
	{"NET-Framework", ".NET Framework 3.5.1 Features"},
	{"Failover-Clustering", "Failover Clustering"},
	{"NLB", "Network Load Balancing"},
	{"RSAT-Clustering", "Failover Clustering Tools"},
	{"RSAT-NLB", "Network Load Balancing Tools"},
	{"Telnet-Client", "Telnet Client"},
}

// featureTools are the management tools Server Manager on 2008 R2 adds with a feature.
var featureTools = map[string]string{
	"nlb":                 "RSAT-NLB",
	"failover-clustering": "RSAT-Clustering",
}

func windowsFeature(name string) (canonical, display string, ok bool) {
	for _, f := range windowsFeatures {
		if strings.EqualFold(f.Name, name) {
			return f.Name, f.Display, true
		}
	}
	return "", "", false
}

// hasFeature reports whether a Windows feature is installed on a server. A DAG member
// always has Failover-Clustering: Add-DatabaseAvailabilityGroupServer installs it.
// host.go uses it to decide whether Import-Module NetworkLoadBalancingClusters works.
func (o *Org) hasFeature(server, feature string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.hasFeatureLocked(server, feature)
}

func (o *Org) hasFeatureLocked(server, feature string) bool {
	s := o.server(server)
	if s == nil {
		return false
	}
	if strings.EqualFold(feature, "Failover-Clustering") && o.dagOf(s.Name) != nil {
		return true
	}
	for f, on := range s.Features {
		if on && strings.EqualFold(f, feature) {
			return true
		}
	}
	return false
}

// featureOutcome is what Add-WindowsFeature reports.
type featureOutcome struct {
	Success  bool
	Restart  string   // RestartNeeded: No, Yes, Maybe
	ExitCode string   // Success, NoChangeNeeded, FailedRestartRequired, ...
	Results  []string // display names of what was installed
}

// addFeatures installs Windows features on a server, with the tools Server Manager adds.
func (o *Org) addFeatures(server string, names []string) (featureOutcome, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.server(server)
	if s == nil {
		return featureOutcome{}, rpcUnavailable(server)
	}
	var want []string
	for _, n := range names {
		canon, _, ok := windowsFeature(n)
		if !ok {
			// Server Manager's own wording for a name it does not know.
			return featureOutcome{}, ps.Errorf("InvalidArgument", "NameDoesNotExist,Microsoft.Windows.ServerManager.Commands.AddWindowsFeatureCommand",
				"ArgumentNotValid: Invalid role, role service, or feature: '%s'. The name was not found.", n)
		}
		want = append(want, canon)
		if t, ok := featureTools[strings.ToLower(canon)]; ok {
			want = append(want, t)
		}
	}
	// Microsoft does not support Windows NLB and Failover Clustering on one server, and a
	// DAG member runs Failover Clustering: refuse before changing anything.
	for _, f := range want {
		switch strings.ToLower(f) {
		case "nlb":
			if d := o.dagOf(s.Name); d != nil {
				return featureOutcome{}, nlbOnDAGMember(s.Name, d.Name, "Add-WindowsFeature")
			}
		case "failover-clustering":
			if c := o.nlbOf(s.Name); c != nil {
				return featureOutcome{}, ps.Errorf("InvalidOperation", "NlbAndClustering,Microsoft.Windows.ServerManager.Commands.AddWindowsFeatureCommand",
					"Failover Clustering cannot be installed on %s: the server is a host of Network Load Balancing cluster %s. Windows NLB and Failover Clustering are not supported on the same server.", s.Name, c.Name)
			}
		}
	}
	out := featureOutcome{Success: true, Restart: "No", ExitCode: "NoChangeNeeded"}
	for _, f := range want {
		if o.hasFeatureLocked(s.Name, f) {
			continue
		}
		s.Features[f] = true
		_, display, _ := windowsFeature(f)
		out.Results = append(out.Results, display)
		out.ExitCode = "Success"
	}
	return out, nil
}

// removeFeatures uninstalls features (and their tools).
func (o *Org) removeFeatures(server string, names []string) (featureOutcome, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.server(server)
	if s == nil {
		return featureOutcome{}, rpcUnavailable(server)
	}
	out := featureOutcome{Success: true, Restart: "No", ExitCode: "NoChangeNeeded"}
	for _, n := range names {
		canon, display, ok := windowsFeature(n)
		if !ok {
			return featureOutcome{}, ps.Errorf("InvalidArgument", "NameDoesNotExist,Microsoft.Windows.ServerManager.Commands.RemoveWindowsFeatureCommand",
				"ArgumentNotValid: Invalid role, role service, or feature: '%s'. The name was not found.", n)
		}
		if strings.EqualFold(canon, "NLB") {
			if c := o.nlbOf(s.Name); c != nil {
				return featureOutcome{}, ps.Errorf("InvalidOperation", "NlbInUse,Microsoft.Windows.ServerManager.Commands.RemoveWindowsFeatureCommand",
					"Network Load Balancing cannot be removed from %s while the server is a host of NLB cluster %s. Remove the host from the cluster first.", s.Name, c.Name)
			}
		}
		if !s.Features[canon] {
			continue
		}
		delete(s.Features, canon)
		out.Results = append(out.Results, display)
		out.ExitCode = "Success"
	}
	return out, nil
}

func nlbOnDAGMember(server, dag, cmd string) *ps.ErrorRecord {
	return ps.Errorf("InvalidOperation", "NlbOnDagMember,"+cmd,
		"Network Load Balancing cannot be used on %s: the server is a member of database availability group %s and runs Failover Clustering. Windows NLB and Failover Clustering are not supported on the same server.", server, dag)
}

// rpcUnavailable is what the WMI-based NLB and Server Manager cmdlets say about a host
// they cannot reach (here: a name that is no server of the organisation).
func rpcUnavailable(host string) *ps.ErrorRecord {
	e := ps.Errorf("ConnectionError", "System.Runtime.InteropServices.COMException",
		"The RPC server is unavailable. (Exception from HRESULT: 0x800706BA)")
	e.Target = host
	e.ExceptionType = "System.Runtime.InteropServices.COMException"
	return e
}

// nlbSpec is what New-NlbCluster asks for.
type nlbSpec struct {
	Host      string // the first host ("" or "." = local)
	Interface string
	IP        string
	Mask      string // "" = the IP's classful mask, as New-NlbCluster defaults
	Name      string // "" = the IP address
	Mode      string // "" = Unicast
}

// nlbModes are the ClusterMode values, as New-NlbCluster accepts them.
var nlbModes = []string{"Unicast", "Multicast", "IgmpMulticast"}

// parseIPv4 converts a value as System.Net.IPAddress would for these cmdlets, with the
// binding error PowerShell gives when it does not convert.
func parseIPv4(param, v string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(v))
	if err != nil || !a.Is4() {
		return netip.Addr{}, ps.Errorf("InvalidArgument", "CannotConvertArgumentNoMessage,Microsoft.NetworkLoadBalancingClusters.PowerShell",
			"Cannot bind parameter '%s'. Cannot convert value \"%s\" to type \"System.Net.IPAddress\". Error: \"An invalid IP address was specified.\"", param, v)
	}
	return a, nil
}

// maskBits returns the prefix length of a dotted subnet mask, or -1 when it is not one.
func maskBits(mask netip.Addr) int {
	b := mask.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := 0
	for v&0x80000000 != 0 {
		n++
		v <<= 1
	}
	if v != 0 {
		return -1
	}
	return n
}

// classfulMask is New-NlbCluster's default -SubnetMask: the address class's mask
// (so 10.0.0.40 gets 255.0.0.0 unless the caller says otherwise).
func classfulMask(ip netip.Addr) string {
	switch b := ip.As4(); {
	case b[0] < 128:
		return "255.0.0.0"
	case b[0] < 192:
		return "255.255.0.0"
	default:
		return "255.255.255.0"
	}
}

func sameSubnet(a, b netip.Addr, bits int) bool {
	pa, _ := a.Prefix(bits)
	pb, _ := b.Prefix(bits)
	return pa == pb
}

// nic finds a server's interface by name, case-insensitively.
func (s *Server) nic(name string) *NIC {
	for i := range s.NICs {
		if strings.EqualFold(s.NICs[i].Name, name) {
			return &s.NICs[i]
		}
	}
	return nil
}

func interfaceNotFound(host *Server, iface, cmd string) *ps.ErrorRecord {
	names := make([]string, len(host.NICs))
	for i, n := range host.NICs {
		names[i] = n.Name
	}
	return ps.Errorf("ObjectNotFound", "InterfaceNotFound,Microsoft.NetworkLoadBalancingClusters.PowerShell."+cmd,
		"Interface \"%s\" was not found on host %s. Interfaces on this host: %s.", iface, host.Name, strings.Join(names, ", "))
}

// nlbHostFor resolves -HostName ("" or "." is the local server) to a server, and checks
// that NLB can be bound there.
func (o *Org) nlbHostFor(local *Server, name, cmd string) (*Server, error) {
	if name == "" || name == "." || strings.EqualFold(name, "localhost") {
		return local, nil
	}
	s := o.server(name)
	if s == nil {
		s = o.serverByIP(name)
	}
	if s == nil {
		return nil, rpcUnavailable(name)
	}
	return s, nil
}

func (o *Org) serverByIP(ip string) *Server {
	for _, s := range o.servers {
		for _, n := range s.NICs {
			if n.IP == ip {
				return s
			}
		}
	}
	return nil
}

// nlbUsable checks that a host can become an NLB node: feature installed, not a DAG
// member, not already in a cluster, the interface present.
func (o *Org) nlbUsable(s *Server, iface, cmd string) (*NIC, error) {
	if !o.hasFeatureLocked(s.Name, "NLB") {
		return nil, ps.Errorf("InvalidOperation", "NlbNotInstalled,Microsoft.NetworkLoadBalancingClusters.PowerShell."+cmd,
			"Network Load Balancing is not installed on host %s. Install it there first (Import-Module ServerManager; Add-WindowsFeature NLB).", s.Name)
	}
	if d := o.dagOf(s.Name); d != nil {
		return nil, nlbOnDAGMember(s.Name, d.Name, "Microsoft.NetworkLoadBalancingClusters.PowerShell."+cmd)
	}
	if c := o.nlbOf(s.Name); c != nil {
		return nil, ps.Errorf("ResourceExists", "HostAlreadyInCluster,Microsoft.NetworkLoadBalancingClusters.PowerShell."+cmd,
			"Host %s is already a member of NLB cluster %s (%s).", s.Name, c.Name, c.IP)
	}
	nic := s.nic(iface)
	if nic == nil {
		return nil, interfaceNotFound(s, iface, cmd)
	}
	return nic, nil
}

// newNLBCluster creates a cluster with the host as its first node (HostID 1). The node
// converges after Timing.NLBConverge on the lab clock. warnings are for the caller's
// warning stream.
func (o *Org) newNLBCluster(local *Server, spec nlbSpec) (c *ps.Object, warnings []string, err error) {
	ip, err := parseIPv4("ClusterPrimaryIP", spec.IP)
	if err != nil {
		return nil, nil, err
	}
	mask := spec.Mask
	if mask == "" {
		mask = classfulMask(ip)
	}
	m, err := parseIPv4("SubnetMask", mask)
	if err != nil {
		return nil, nil, err
	}
	bits := maskBits(m)
	if bits <= 0 {
		return nil, nil, ps.Errorf("InvalidArgument", "InvalidSubnetMask,Microsoft.NetworkLoadBalancingClusters.PowerShell.NewNlbCluster",
			"The subnet mask %s is not valid.", mask)
	}
	mode := "Unicast"
	if spec.Mode != "" {
		mode = ""
		for _, v := range nlbModes {
			if strings.EqualFold(v, spec.Mode) {
				mode = v
			}
		}
		if mode == "" {
			return nil, nil, ps.Errorf("InvalidArgument", "CannotConvertArgumentNoMessage,Microsoft.NetworkLoadBalancingClusters.PowerShell.NewNlbCluster",
				"Cannot bind parameter 'OperationMode'. Cannot convert value \"%s\" to type \"Microsoft.NetworkLoadBalancingClusters.PowerShell.ClusterMode\" due to invalid enumeration values. Specify one of the following enumeration values and try again. The possible enumeration values are \"Unicast, Multicast, IgmpMulticast\".", spec.Mode)
		}
	}

	o.mu.Lock()
	defer o.mu.Unlock()
	s, err := o.nlbHostFor(local, spec.Host, "NewNlbCluster")
	if err != nil {
		return nil, nil, err
	}
	nic, err := o.nlbUsable(s, spec.Interface, "NewNlbCluster")
	if err != nil {
		return nil, nil, err
	}
	// The cluster IP is added to the adapter; one already in use would answer twice.
	if owner := o.serverByIP(ip.String()); owner != nil {
		return nil, nil, ps.Errorf("ResourceExists", "IPAddressInUse,Microsoft.NetworkLoadBalancingClusters.PowerShell.NewNlbCluster",
			"The IP address %s is already in use on the network (by %s).", ip, owner.Name)
	}
	var joins *NLBCluster
	for _, other := range o.nlb {
		if other.IP == ip.String() {
			joins = other
		}
	}
	// NLB itself accepts a cluster IP outside the adapter's subnet (it only adds the
	// address to the adapter), but clients on the subnet will not reach it: warn, as NLB
	// Manager does, rather than refuse.
	if nicIP, err := netip.ParseAddr(nic.IP); err == nil && !sameSubnet(ip, nicIP, bits) {
		warnings = append(warnings, fmt.Sprintf("The cluster IP address %s/%s is not in the subnet of interface \"%s\" (%s/%s) on %s.", ip, mask, nic.Name, nic.IP, nic.Mask, s.Name))
	}
	name := spec.Name
	if name == "" {
		name = ip.String()
	}
	// New-NlbCluster has no -HostPriority: the host starts with priority 1 and the
	// default port rule, and runs.
	own := NLBParams{Name: name, Mask: mask, Mode: mode, Rules: []NLBPortRule{defaultPortRule}}
	node := &NLBNode{Host: s.Name, Interface: nic.Name, HostID: 1}
	if joins != nil {
		// The cluster IP is already on the network: the hosts that answer for it see
		// this one's heartbeats and converge with it only if every parameter, every
		// port rule and a unique host priority agree (see nlbConflict).
		node.Own = &own
		joins.Nodes = append(joins.Nodes, node)
		sortNodes(joins)
		o.reconverge(joins)
		return nlbClusterObject(own, ip.String()), warnings, nil
	}
	cl := &NLBCluster{Name: name, IP: ip.String(), Mask: mask, Mode: mode, Rules: own.Rules, Nodes: []*NLBNode{node}}
	o.nlb = append(o.nlb, cl)
	o.reconverge(cl)
	return nlbClusterObject(own, ip.String()), warnings, nil
}

// defaultPortRule is the rule New-NlbCluster creates: every port of every cluster IP,
// both protocols, load balanced over all hosts with single affinity.
var defaultPortRule = NLBPortRule{IP: "All", Start: 0, End: 65535, Protocol: "Both", Mode: "Multiple", Affinity: "Single"}

func nlbClusterObject(p NLBParams, ip string) *ps.Object {
	obj := ps.NewObject(nlbClusterType, "Name", p.Name, "IPAddress", ip, "SubnetMask", p.Mask, "Mode", strings.ToUpper(p.Mode))
	obj.Str = p.Name
	return obj
}

// params are the cluster's own parameters, those of the hosts configured through it.
func (c *NLBCluster) params() NLBParams {
	return NLBParams{Name: c.Name, Mask: c.Mask, Mode: c.Mode, Rules: c.Rules}
}

// paramsOf is what host n is configured with.
func (c *NLBCluster) paramsOf(n *NLBNode) *NLBParams {
	if n.Own != nil {
		return n.Own
	}
	p := c.params()
	return &p
}

func (p NLBParams) equal(q NLBParams) bool {
	if !strings.EqualFold(p.Name, q.Name) || p.Mask != q.Mask || !strings.EqualFold(p.Mode, q.Mode) || len(p.Rules) != len(q.Rules) {
		return false
	}
	for i := range p.Rules {
		a, b := p.Rules[i], q.Rules[i]
		if !strings.EqualFold(a.IP, b.IP) || a.Start != b.Start || a.End != b.End || !strings.EqualFold(a.Protocol, b.Protocol) ||
			!strings.EqualFold(a.Mode, b.Mode) || !strings.EqualFold(a.Affinity, b.Affinity) || a.Timeout != b.Timeout {
			return false
		}
	}
	return true
}

// nlbConflict says why the running hosts of c cannot converge, or "" when they can:
// NLB converges only when every host has the same cluster parameters and port rules
// (a host with other rules "is not accepted as part of the cluster", and the others
// keep converging) and a host priority no other host has.
func (o *Org) nlbConflict(c *NLBCluster) string {
	want := c.params()
	ids := map[int]string{}
	for _, n := range c.Nodes {
		if n.Stopped {
			continue
		}
		if other, dup := ids[n.HostID]; dup {
			return fmt.Sprintf("hosts %s and %s have the same host priority %d", other, n.Host, n.HostID)
		}
		ids[n.HostID] = n.Host
		if !c.paramsOf(n).equal(want) {
			return fmt.Sprintf("host %s is configured with other cluster parameters or port rules", n.Host)
		}
	}
	return ""
}

// reconverge restarts convergence on every host, as any change of membership or
// configuration does.
func (o *Org) reconverge(c *NLBCluster) {
	until := o.clock.Now().Add(o.Timing.NLBConverge)
	for _, n := range c.Nodes {
		n.ConvergingUntil = until
	}
}

func sortNodes(c *NLBCluster) {
	sort.SliceStable(c.Nodes, func(i, j int) bool { return c.Nodes[i].HostID < c.Nodes[j].HostID })
}

// nlbNodeState is what Get-NlbClusterNode prints: Converging until the node has
// converged, then Converged; the default host (the converged node with the lowest
// HostID, which has the highest priority) shows "Converged(default)".
func (o *Org) nlbNodeState(c *NLBCluster, n *NLBNode) string {
	now := o.clock.Now()
	if n.Stopped {
		return "Stopped"
	}
	if now.Before(n.ConvergingUntil) || o.nlbConflict(c) != "" {
		return "Converging"
	}
	for _, m := range c.Nodes {
		if !m.Stopped && !now.Before(m.ConvergingUntil) && m.HostID < n.HostID {
			return "Converged"
		}
	}
	return "Converged(default)"
}

func (o *Org) nlbNodeObject(c *NLBCluster, n *NLBNode) *ps.Object {
	// The properties of Microsoft.NetworkLoadBalancingClusters.PowerShell.Node (the
	// ones the lab knows). "Interface" and "HostID" are only the column labels of its
	// table view: a script that reads them gets nothing on a real server, and here.
	obj := ps.NewObject(nlbNodeType, "Cluster", c.Name, "Name", n.Host, "InterfaceName", n.Interface,
		"State", o.nlbNodeState(c, n), "HostPriority", n.HostID)
	obj.Str = n.Host
	return obj
}

// nlbCluster resolves what Get-NlbCluster's -HostName may name: a host of the cluster,
// the cluster's name or its IP address.
func (o *Org) nlbCluster(local *Server, name, iface, cmd string) (*NLBCluster, error) {
	if name != "" && name != "." {
		for _, c := range o.nlb {
			if strings.EqualFold(c.Name, name) || c.IP == name {
				return c, nil
			}
		}
	}
	s, err := o.nlbHostFor(local, name, cmd)
	if err != nil {
		return nil, err
	}
	c := o.nlbOf(s.Name)
	if c == nil {
		return nil, ps.Errorf("ObjectNotFound", "ClusterNotFound,Microsoft.NetworkLoadBalancingClusters.PowerShell."+cmd,
			"There is no NLB cluster on host %s.", s.Name)
	}
	if iface != "" {
		var ok bool
		for _, n := range c.Nodes {
			ok = ok || (strings.EqualFold(n.Host, s.Name) && strings.EqualFold(n.Interface, iface))
		}
		if !ok {
			if s.nic(iface) == nil {
				return nil, interfaceNotFound(s, iface, cmd)
			}
			return nil, ps.Errorf("ObjectNotFound", "ClusterNotFound,Microsoft.NetworkLoadBalancingClusters.PowerShell."+cmd,
				"There is no NLB cluster on interface \"%s\" of host %s.", iface, s.Name)
		}
	}
	return c, nil
}

// getNLBCluster is Get-NlbCluster.
func (o *Org) getNLBCluster(local *Server, host, iface string) (*ps.Object, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c, err := o.nlbCluster(local, host, iface, "GetNlbCluster")
	if err != nil {
		return nil, err
	}
	// A host answers with its own configuration.
	p := c.params()
	if s, _ := o.nlbHostFor(local, host, "GetNlbCluster"); s != nil {
		if n := c.node(s.Name); n != nil {
			p = *c.paramsOf(n)
		}
	}
	return nlbClusterObject(p, c.IP), nil
}

func (c *NLBCluster) node(host string) *NLBNode {
	for _, n := range c.Nodes {
		if strings.EqualFold(n.Host, host) {
			return n
		}
	}
	return nil
}

// getNLBNodes is Get-NlbClusterNode: the nodes of the cluster that host (or cluster)
// belongs to, by HostID; node filters by name.
func (o *Org) getNLBNodes(local *Server, cluster, host, node string) ([]*ps.Object, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	name := host
	if cluster != "" {
		name = cluster
	}
	c, err := o.nlbCluster(local, name, "", "GetNlbClusterNode")
	if err != nil {
		return nil, err
	}
	var out []*ps.Object
	for _, n := range c.Nodes {
		if node != "" && !strings.EqualFold(strings.TrimSuffix(strings.ToLower(node), "."+Domain), strings.ToLower(n.Host)) {
			continue
		}
		out = append(out, o.nlbNodeObject(c, n))
	}
	if node != "" && len(out) == 0 {
		return nil, ps.Errorf("ObjectNotFound", "NodeNotFound,Microsoft.NetworkLoadBalancingClusters.PowerShell.GetNlbClusterNode",
			"Node %s was not found in NLB cluster %s.", node, c.Name)
	}
	return out, nil
}

// addNLBNode is Add-NlbClusterNode: cluster names the cluster (name, IP or one of its
// hosts, as from the pipeline or -HostName). The new node takes the lowest free HostID;
// every node reconverges, as NLB does when membership changes.
func (o *Org) addNLBNode(local *Server, cluster, iface, newNode, newIface string) (*ps.Object, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c, err := o.nlbCluster(local, cluster, iface, "AddNlbClusterNode")
	if err != nil {
		return nil, err
	}
	s := o.server(newNode)
	if s == nil {
		s = o.serverByIP(newNode)
	}
	if s == nil {
		return nil, rpcUnavailable(newNode)
	}
	if _, err := o.nlbUsable(s, newIface, "AddNlbClusterNode"); err != nil {
		return nil, err
	}
	used := map[int]bool{}
	for _, n := range c.Nodes {
		used[n.HostID] = true
	}
	id := 1
	for used[id] {
		id++
	}
	node := &NLBNode{Host: s.Name, Interface: s.nic(newIface).Name, HostID: id}
	c.Nodes = append(c.Nodes, node)
	sortNodes(c)
	o.reconverge(c)
	return o.nlbNodeObject(c, node), nil
}

// removeNLBNode is Remove-NlbClusterNode. Removing the last node removes the cluster.
func (o *Org) removeNLBNode(local *Server, host string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	s, err := o.nlbHostFor(local, host, "RemoveNlbClusterNode")
	if err != nil {
		return err
	}
	c := o.nlbOf(s.Name)
	if c == nil {
		return ps.Errorf("ObjectNotFound", "ClusterNotFound,Microsoft.NetworkLoadBalancingClusters.PowerShell.RemoveNlbClusterNode",
			"There is no NLB cluster on host %s.", s.Name)
	}
	kept := c.Nodes[:0]
	for _, n := range c.Nodes {
		if !strings.EqualFold(n.Host, s.Name) {
			kept = append(kept, n)
		}
	}
	c.Nodes = kept
	until := o.clock.Now().Add(o.Timing.NLBConverge)
	for _, n := range c.Nodes {
		n.ConvergingUntil = until
	}
	if len(c.Nodes) == 0 {
		for i, x := range o.nlb {
			if x == c {
				o.nlb = append(o.nlb[:i], o.nlb[i+1:]...)
				break
			}
		}
	}
	return nil
}

// NLBClusters returns a copy of the NLB clusters, for tests.
func (o *Org) NLBClusters() []NLBCluster {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]NLBCluster, len(o.nlb))
	for i, c := range o.nlb {
		out[i] = *c
		out[i].Nodes = make([]*NLBNode, len(c.Nodes))
		for j, n := range c.Nodes {
			cp := *n
			out[i].Nodes[j] = &cp
		}
	}
	return out
}

// serverManagerCmdlets are what Import-Module ServerManager defines on 2008 R2.
func (o *Org) serverManagerCmdlets(on *Server) []*ps.Cmdlet {
	featureOp := func(res featureOutcome) *ps.Object {
		results := make([]any, len(res.Results))
		for i, r := range res.Results {
			fr := ps.NewObject(featureResultType, "DisplayName", r)
			fr.Str = r
			results[i] = fr
		}
		return ps.NewObject(featureOpType, "Success", res.Success, "RestartNeeded", res.Restart, "FeatureResult", results, "ExitCode", res.ExitCode)
	}
	names := []ps.Param{
		{Name: "Name", Kind: ps.KindStringArray, Mandatory: true, Position: 0},
		{Name: "IncludeAllSubFeature", Kind: ps.KindSwitch, Position: -1},
		{Name: "LogPath", Kind: ps.KindString, Position: -1},
		{Name: "Restart", Kind: ps.KindSwitch, Position: -1},
		{Name: "Concurrent", Kind: ps.KindSwitch, Position: -1},
	}
	return []*ps.Cmdlet{
		{
			Name: "Add-WindowsFeature", Params: names, ShouldProcess: true,
			Invoke: func(c *ps.Call) error {
				if c.WhatIf() {
					return nil
				}
				res, err := o.addFeatures(on.Name, c.Strings("Name"))
				if err != nil {
					return err
				}
				c.Write(featureOp(res))
				return nil
			},
		},
		{
			Name: "Remove-WindowsFeature", Params: names, ShouldProcess: true,
			Invoke: func(c *ps.Call) error {
				if c.WhatIf() {
					return nil
				}
				res, err := o.removeFeatures(on.Name, c.Strings("Name"))
				if err != nil {
					return err
				}
				c.Write(featureOp(res))
				return nil
			},
		},
		{
			Name:   "Get-WindowsFeature",
			Params: []ps.Param{{Name: "Name", Kind: ps.KindStringArray, Position: 0}},
			Invoke: func(c *ps.Call) error {
				for _, f := range o.windowsFeatureList(on.Name, c.Strings("Name")) {
					c.Write(f)
				}
				return nil
			},
		},
	}
}

// windowsFeatureList is Get-WindowsFeature: every known feature, or those matching the
// (wildcard) names, with whether it is installed.
func (o *Org) windowsFeatureList(server string, patterns []string) []*ps.Object {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []*ps.Object
	for _, f := range windowsFeatures {
		if len(patterns) > 0 {
			hit := false
			for _, p := range patterns {
				if ok, err := path.Match(strings.ToLower(p), strings.ToLower(f.Name)); err == nil && ok {
					hit = true
				}
			}
			if !hit {
				continue
			}
		}
		obj := ps.NewObject(featureType, "DisplayName", f.Display, "Name", f.Name, "Installed", o.hasFeatureLocked(server, f.Name))
		obj.Str = f.Name
		out = append(out, obj)
	}
	return out
}

// isLocalHost reports whether a -HostName names the server the cmdlet runs on: WMI
// connects locally only for the machine's own name ("", ".", localhost, its NetBIOS
// name or FQDN). Anything else, the cluster's name or IP included (WMI is routed to
// some host of the cluster), is a connection over the network.
func isLocalHost(on *Server, name string) bool {
	name = strings.TrimSpace(name)
	return name == "" || name == "." || strings.EqualFold(name, "localhost") ||
		strings.EqualFold(name, on.Name) || strings.EqualFold(name, on.FQDN())
}

// nlbCmdlets are what Import-Module NetworkLoadBalancingClusters defines; host.go
// refuses the import unless o.hasFeature(on.Name, "NLB"). delegated says whether the
// session holds a credential it can forward (CredSSP): without one, every cmdlet that
// must reach another host over WMI is refused as the second hop it is.
func (o *Org) nlbCmdlets(on *Server, delegated bool) []*ps.Cmdlet {
	// reach refuses a -HostName on another host when the session cannot forward its
	// credential.
	reach := func(name, cmd string) error {
		if delegated || isLocalHost(on, name) {
			return nil
		}
		return wmiSecondHop(name, cmd)
	}
	// confirm: these cmdlets ask before they change anything unless -Force, and a
	// WinRS shell cannot answer.
	confirm := func(c *ps.Call, cmd string) error {
		if c.Switch("Force") {
			return nil
		}
		return nonInteractivePrompt(cmd)
	}
	force := ps.Param{Name: "Force", Aliases: []string{"F"}, Kind: ps.KindSwitch, Position: -1}
	host := ps.Param{Name: "HostName", Aliases: []string{"Host", "HN", "H"}, Kind: ps.KindString, Position: -1}
	iface := ps.Param{Name: "InterfaceName", Aliases: []string{"Interface", "IN", "I"}, Kind: ps.KindString, Position: -1}
	input := ps.Param{Name: "InputObject", Kind: ps.KindAny, Position: -1, FromPipeline: true}
	// clusterOf names the cluster a call is about: a piped Cluster or Node object, else -HostName.
	clusterOf := func(c *ps.Call) string {
		if v, ok := c.Params["InputObject"]; ok && v != nil {
			if obj, ok := v.(*ps.Object); ok && obj.TypeName == nlbNodeType {
				return ps.Identity(obj)
			}
			return ps.Identity(v)
		}
		return c.String("HostName")
	}
	return []*ps.Cmdlet{
		{
			Name: "New-NlbCluster", ShouldProcess: true,
			Params: []ps.Param{
				{Name: "HostName", Aliases: []string{"Host", "HN", "H"}, Kind: ps.KindString, Position: 0},
				{Name: "InterfaceName", Aliases: []string{"Interface", "IN", "I"}, Kind: ps.KindString, Mandatory: true, Position: 1},
				{Name: "ClusterPrimaryIP", Aliases: []string{"PrimaryIP", "IPAddress", "IP"}, Kind: ps.KindString, Mandatory: true, Position: 2},
				{Name: "SubnetMask", Aliases: []string{"Mask", "SM"}, Kind: ps.KindString, Position: -1},
				{Name: "ClusterName", Aliases: []string{"Name", "CN", "N"}, Kind: ps.KindString, Position: -1},
				{Name: "OperationMode", Aliases: []string{"Mode", "OM"}, Kind: ps.KindString, Position: -1},
				{Name: "DedicatedIP", Aliases: []string{"DIP"}, Kind: ps.KindString, Position: -1},
				{Name: "DedicatedIPSubnetMask", Aliases: []string{"DIPSM"}, Kind: ps.KindString, Position: -1},
				{Name: "Force", Kind: ps.KindSwitch, Position: -1},
			},
			Invoke: func(c *ps.Call) error {
				if c.WhatIf() {
					return nil
				}
				if err := reach(c.String("HostName"), "NewNlbCluster"); err != nil {
					return err
				}
				obj, warns, err := o.newNLBCluster(on, nlbSpec{
					Host: c.String("HostName"), Interface: c.String("InterfaceName"), IP: c.String("ClusterPrimaryIP"),
					Mask: c.String("SubnetMask"), Name: c.String("ClusterName"), Mode: c.String("OperationMode"),
				})
				for _, w := range warns {
					c.Warn(w)
				}
				if err != nil {
					return err
				}
				c.Write(obj)
				return nil
			},
		},
		{
			Name: "Get-NlbCluster",
			Params: []ps.Param{
				{Name: "HostName", Aliases: []string{"Host", "HN", "H"}, Kind: ps.KindString, Position: 0},
				{Name: "InterfaceName", Aliases: []string{"Interface", "IN", "I"}, Kind: ps.KindString, Position: 1},
			},
			Invoke: func(c *ps.Call) error {
				if err := reach(c.String("HostName"), "GetNlbCluster"); err != nil {
					return err
				}
				obj, err := o.getNLBCluster(on, c.String("HostName"), c.String("InterfaceName"))
				if err != nil {
					return err
				}
				c.Write(obj)
				return nil
			},
		},
		{
			Name: "Get-NlbClusterNode",
			Params: []ps.Param{
				{Name: "NodeName", Aliases: []string{"Name", "NN"}, Kind: ps.KindString, Position: 0},
				host, iface, input,
			},
			Invoke: func(c *ps.Call) error {
				cluster := ""
				if c.Has("InputObject") {
					cluster = clusterOf(c)
				} else if err := reach(c.String("HostName"), "GetNlbClusterNode"); err != nil {
					return err
				}
				nodes, err := o.getNLBNodes(on, cluster, c.String("HostName"), c.String("NodeName"))
				if err != nil {
					return err
				}
				for _, n := range nodes {
					c.Write(n)
				}
				return nil
			},
		},
		{
			Name: "Add-NlbClusterNode", ShouldProcess: true,
			Params: []ps.Param{
				{Name: "NewNodeName", Aliases: []string{"NewNode", "NNN"}, Kind: ps.KindString, Mandatory: true, Position: 0},
				{Name: "NewNodeInterface", Aliases: []string{"NNI"}, Kind: ps.KindString, Mandatory: true, Position: 1},
				host, iface, input, force,
			},
			Invoke: func(c *ps.Call) error {
				if c.WhatIf() {
					return nil
				}
				if err := confirm(c, "AddNlbClusterNode"); err != nil {
					return err
				}
				// Joining configures the new host and every existing one over WMI:
				// from a shell on any of them, at least one is another host.
				if !delegated {
					target := c.String("HostName")
					if c.Has("InputObject") || isLocalHost(on, target) {
						target = c.String("NewNodeName")
					}
					if err := reach(target, "AddNlbClusterNode"); err != nil {
						return err
					}
				}
				node, err := o.addNLBNode(on, clusterOf(c), c.String("InterfaceName"), c.String("NewNodeName"), c.String("NewNodeInterface"))
				if err != nil {
					return err
				}
				c.Write(node)
				return nil
			},
		},
		{
			Name: "Remove-NlbClusterNode", ShouldProcess: true,
			Params: []ps.Param{host, iface, input, force},
			Invoke: func(c *ps.Call) error {
				if c.WhatIf() {
					return nil
				}
				if err := confirm(c, "RemoveNlbClusterNode"); err != nil {
					return err
				}
				target := c.String("HostName")
				if v, ok := c.Params["InputObject"].(*ps.Object); ok && v.TypeName == nlbNodeType {
					target = ps.Identity(v)
				}
				if err := reach(target, "RemoveNlbClusterNode"); err != nil {
					return err
				}
				return o.removeNLBNode(on, target)
			},
		},
		{
			Name:   "Get-NlbClusterPortRule",
			Params: []ps.Param{host, iface, input, {Name: "Port", Kind: ps.KindInt, Position: 0}, {Name: "IP", Kind: ps.KindString, Position: -1}, {Name: "NodeName", Aliases: []string{"NN"}, Kind: ps.KindString, Position: -1}},
			Invoke: func(c *ps.Call) error {
				target := c.String("HostName")
				if v, ok := c.Params["InputObject"].(*ps.Object); ok && v.TypeName == nlbNodeType {
					target = ps.Identity(v) // a node's rules are read from that node
				}
				if err := reach(target, "GetNlbClusterPortRule"); err != nil {
					return err
				}
				rules, err := o.getNLBPortRules(on)
				if err != nil {
					return err
				}
				for _, r := range rules {
					if c.Has("Port") {
						p := c.Int("Port", -1)
						start, _ := r.Get("StartPort")
						end, _ := r.Get("EndPort")
						if p < start.(int) || p > end.(int) {
							continue
						}
					}
					c.Write(r)
				}
				return nil
			},
		},
		{
			Name: "Add-NlbClusterPortRule",
			Params: []ps.Param{
				{Name: "StartPort", Aliases: []string{"SP"}, Kind: ps.KindInt, Mandatory: true, Position: 0},
				{Name: "EndPort", Aliases: []string{"EP"}, Kind: ps.KindInt, Mandatory: true, Position: 1},
				host, iface, input,
				{Name: "IP", Kind: ps.KindString, Position: -1},
				{Name: "Protocol", Aliases: []string{"PTCL"}, Kind: ps.KindString, Position: -1},
				{Name: "Mode", Aliases: []string{"M"}, Kind: ps.KindString, Position: -1},
				{Name: "Affinity", Aliases: []string{"A"}, Kind: ps.KindString, Position: -1},
				{Name: "Timeout", Aliases: []string{"T"}, Kind: ps.KindInt, Position: -1},
			},
			Invoke: func(c *ps.Call) error {
				const cmd = "AddNlbClusterPortRule"
				if !c.Has("InputObject") && c.String("InterfaceName") == "" {
					return ps.Errorf("InvalidArgument", "ParameterBindingFailed",
						"Cannot process command because of one or more missing mandatory parameters: InterfaceName.")
				}
				// A piped cluster was read in this session, so it has passed reach.
				if err := reach(c.String("HostName"), cmd); err != nil {
					return err
				}
				r := NLBPortRule{IP: "All", Start: c.Int("StartPort", 0), End: c.Int("EndPort", 0), Timeout: c.Int("Timeout", 0)}
				if ip := c.String("IP"); ip != "" && ip != "255.255.255.255" {
					a, err := parseIPv4("IP", ip)
					if err != nil {
						return err
					}
					r.IP = a.String()
				}
				var err error
				if r.Protocol, err = enumValue(cmd, "Protocol", "PortRuleProtocol", c.String("Protocol"), "Both", "Both", "Tcp", "Udp"); err != nil {
					return err
				}
				if r.Mode, err = enumValue(cmd, "Mode", "PortRuleFilteringMode", c.String("Mode"), "Multiple", "Multiple", "Single", "Disabled"); err != nil {
					return err
				}
				if r.Affinity, err = enumValue(cmd, "Affinity", "PortRuleAffinity", c.String("Affinity"), "Single", "None", "Single", "Network"); err != nil {
					return err
				}
				obj, err := o.addNLBPortRule(on, c.String("InterfaceName"), r, delegated)
				if err != nil {
					return err
				}
				c.Write(obj)
				return nil
			},
		},
		{
			Name: "Remove-NlbClusterPortRule",
			Params: []ps.Param{
				{Name: "Port", Aliases: []string{"P"}, Kind: ps.KindInt, Position: 0},
				host, iface, {Name: "IP", Kind: ps.KindString, Position: -1}, input, force,
				{Name: "PassThru", Aliases: []string{"Pass"}, Kind: ps.KindSwitch, Position: -1},
			},
			Invoke: func(c *ps.Call) error {
				const cmd = "RemoveNlbClusterPortRule"
				ip, port, target := c.String("IP"), c.Int("Port", -1), c.String("HostName")
				if v, ok := c.Params["InputObject"].(*ps.Object); ok && v.TypeName == nlbPortRuleType {
					vip, _ := v.Get("VirtualIPAddress")
					start, _ := v.Get("StartPort")
					node, _ := v.Get("NodeName")
					ip, port, target = ps.ToString(vip), start.(int), ps.ToString(node)
				} else if c.String("InterfaceName") == "" || ip == "" {
					return ps.Errorf("InvalidArgument", "ParameterBindingFailed",
						"Cannot process command because of one or more missing mandatory parameters: InterfaceName IP.")
				}
				if err := confirm(c, cmd); err != nil {
					return err
				}
				if err := reach(target, cmd); err != nil {
					return err
				}
				return o.removeNLBPortRule(on, ip, port, delegated)
			},
		},
		{
			Name: "Set-NlbClusterNode",
			Params: []ps.Param{host, iface, input, force,
				{Name: "HostPriority", Aliases: []string{"HP"}, Kind: ps.KindInt, Position: -1},
				{Name: "InitialHostState", Aliases: []string{"IHS"}, Kind: ps.KindString, Position: -1},
				{Name: "RetainSuspended", Aliases: []string{"RS"}, Kind: ps.KindString, Position: -1},
				{Name: "Reload", Aliases: []string{"RLD"}, Kind: ps.KindSwitch, Position: -1},
			},
			Invoke: func(c *ps.Call) error {
				const cmd = "SetNlbClusterNode"
				target := c.String("HostName")
				if v, ok := c.Params["InputObject"].(*ps.Object); ok && v.TypeName == nlbNodeType {
					target = ps.Identity(v)
				} else if c.String("InterfaceName") == "" {
					return ps.Errorf("InvalidArgument", "ParameterBindingFailed",
						"Cannot process command because of one or more missing mandatory parameters: InterfaceName.")
				}
				if err := confirm(c, cmd); err != nil {
					return err
				}
				if err := reach(target, cmd); err != nil {
					return err
				}
				if !c.Has("HostPriority") {
					return nil // the lab models only the host priority
				}
				obj, err := o.setNLBNodePriority(on, c.String("InterfaceName"), c.Int("HostPriority", 0))
				if err != nil {
					return err
				}
				c.Write(obj)
				return nil
			},
		},
		o.nlbRunCmdlet(on, "Start-NlbClusterNode", true, reach),
		o.nlbRunCmdlet(on, "Stop-NlbClusterNode", false, reach),
	}
}

// nlbRunCmdlet is Start-NlbClusterNode or Stop-NlbClusterNode.
func (o *Org) nlbRunCmdlet(on *Server, name string, run bool, reach func(string, string) error) *ps.Cmdlet {
	params := []ps.Param{
		{Name: "HostName", Aliases: []string{"Host", "HN", "H"}, Kind: ps.KindString, Position: 0},
		{Name: "InterfaceName", Aliases: []string{"Interface", "IN", "I"}, Kind: ps.KindString, Position: -1},
		{Name: "InputObject", Kind: ps.KindAny, Position: -1, FromPipeline: true},
	}
	if !run {
		params = append(params, ps.Param{Name: "Drain", Aliases: []string{"D"}, Kind: ps.KindSwitch, Position: -1},
			ps.Param{Name: "Timeout", Aliases: []string{"T"}, Kind: ps.KindInt, Position: -1})
	}
	cmd := strings.ReplaceAll(name, "-", "")
	return &ps.Cmdlet{
		Name: name, Params: params,
		Invoke: func(c *ps.Call) error {
			target := c.String("HostName")
			if v, ok := c.Params["InputObject"].(*ps.Object); ok && v.TypeName == nlbNodeType {
				target = ps.Identity(v)
			}
			if err := reach(target, cmd); err != nil {
				return err
			}
			obj, err := o.setNLBNodeRunning(on, c.String("InterfaceName"), run)
			if err != nil {
				return err
			}
			c.Write(obj)
			return nil
		},
	}
}

// localNLBNode is the cluster and node of the host a cmdlet runs on.
func (o *Org) localNLBNode(local *Server, iface, cmd string) (*NLBCluster, *NLBNode, error) {
	c, err := o.nlbCluster(local, "", iface, cmd)
	if err != nil {
		return nil, nil, err
	}
	return c, c.node(local.Name), nil
}

// rulesFor returns the port rules a change on host n edits: its own copy when it was
// configured on its own, else the cluster's. Changing the cluster's rules writes them
// to every host over WMI, a second hop from a WinRS shell unless delegated.
func (o *Org) rulesFor(c *NLBCluster, n *NLBNode, delegated bool, cmd string) (*[]NLBPortRule, error) {
	if n.Own != nil {
		return &n.Own.Rules, nil
	}
	if !delegated {
		for _, m := range c.Nodes {
			if m != n && m.Own == nil {
				return nil, wmiSecondHop(m.Host, cmd)
			}
		}
	}
	return &c.Rules, nil
}

// getNLBPortRules is Get-NlbClusterPortRule on the local host: its port rules.
func (o *Org) getNLBPortRules(local *Server) ([]*ps.Object, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c, n, err := o.localNLBNode(local, "", "GetNlbClusterPortRule")
	if err != nil {
		return nil, err
	}
	p := c.paramsOf(n)
	out := make([]*ps.Object, len(p.Rules))
	for i, r := range p.Rules {
		out[i] = nlbPortRuleObject(p.Name, n.Host, r)
	}
	return out, nil
}

// nlbPortRuleObject has the properties of
// Microsoft.NetworkLoadBalancingClusters.PowerShell.PortRule. Its table view labels
// VirtualIPAddress "IPAddress", StartPort "Start", EndPort "End", FilteringMode
// "Mode" and PortState "State": names no object carries. "All" is 255.255.255.255.
func nlbPortRuleObject(cluster, node string, r NLBPortRule) *ps.Object {
	vip := r.IP
	if strings.EqualFold(vip, "All") {
		vip = "255.255.255.255"
	}
	affinity := r.Affinity
	if strings.EqualFold(r.Mode, "Single") || strings.EqualFold(r.Mode, "Disabled") {
		affinity = "" // affinity applies to load-balanced (Multiple) rules only
	}
	obj := ps.NewObject(nlbPortRuleType, "Cluster", cluster, "NodeName", node, "VirtualIPAddress", vip,
		"StartPort", r.Start, "EndPort", r.End, "Affinity", affinity, "FilteringMode", r.Mode, "Protocol", r.Protocol,
		"EqualLoad", true, "LoadWeight", "", "PortState", "Enabled", "Priority", 1, "Timeout", r.Timeout)
	obj.Str = fmt.Sprintf("%s %d-%d", vip, r.Start, r.End)
	return obj
}

// enumValue resolves v (case-insensitively) against an enumeration, with the binding
// error PowerShell gives for a value outside it; "" gives def.
func enumValue(cmd, param, typ, v, def string, values ...string) (string, error) {
	if v == "" {
		return def, nil
	}
	for _, x := range values {
		if strings.EqualFold(x, v) {
			return x, nil
		}
	}
	return "", ps.Errorf("InvalidArgument", "CannotConvertArgumentNoMessage,Microsoft.NetworkLoadBalancingClusters.PowerShell."+cmd,
		"Cannot bind parameter '%s'. Cannot convert value \"%s\" to type \"Microsoft.NetworkLoadBalancingClusters.PowerShell.%s\" due to invalid enumeration values. Specify one of the following enumeration values and try again. The possible enumeration values are \"%s\".",
		param, v, typ, strings.Join(values, ", "))
}

// addNLBPortRule is Add-NlbClusterPortRule on the local host. Port ranges of one
// cluster IP may not overlap.
func (o *Org) addNLBPortRule(local *Server, iface string, r NLBPortRule, delegated bool) (*ps.Object, error) {
	const cmd = "AddNlbClusterPortRule"
	if r.Start < 0 || r.End > 65535 || r.Start > r.End {
		return nil, ps.Errorf("InvalidArgument", "InvalidPortRange,Microsoft.NetworkLoadBalancingClusters.PowerShell."+cmd,
			"The port range %d-%d is not valid: ports are 0 through 65535 and the start port may not be above the end port.", r.Start, r.End)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	c, n, err := o.localNLBNode(local, iface, cmd)
	if err != nil {
		return nil, err
	}
	rules, err := o.rulesFor(c, n, delegated, cmd)
	if err != nil {
		return nil, err
	}
	for _, x := range *rules {
		if strings.EqualFold(x.IP, r.IP) && r.Start <= x.End && x.Start <= r.End {
			return nil, ps.Errorf("InvalidArgument", "PortRuleOverlap,Microsoft.NetworkLoadBalancingClusters.PowerShell."+cmd,
				"The port rule %d-%d overlaps the existing port rule %d-%d for IP address %s.", r.Start, r.End, x.Start, x.End, x.IP)
		}
	}
	*rules = append(*rules, r)
	sort.SliceStable(*rules, func(i, j int) bool { return (*rules)[i].Start < (*rules)[j].Start })
	o.reconverge(c)
	return nlbPortRuleObject(c.paramsOf(n).Name, n.Host, r), nil
}

// removeNLBPortRule is Remove-NlbClusterPortRule for the rule of the local host with
// this IP ("All" or an address) and start port.
func (o *Org) removeNLBPortRule(local *Server, ip string, start int, delegated bool) error {
	const cmd = "RemoveNlbClusterPortRule"
	o.mu.Lock()
	defer o.mu.Unlock()
	c, n, err := o.localNLBNode(local, "", cmd)
	if err != nil {
		return err
	}
	rules, err := o.rulesFor(c, n, delegated, cmd)
	if err != nil {
		return err
	}
	for i, x := range *rules {
		if x.Start == start && (strings.EqualFold(x.IP, ip) || (strings.EqualFold(x.IP, "All") && ip == "255.255.255.255")) {
			*rules = append((*rules)[:i:i], (*rules)[i+1:]...)
			o.reconverge(c)
			return nil
		}
	}
	return ps.Errorf("ObjectNotFound", "PortRuleNotFound,Microsoft.NetworkLoadBalancingClusters.PowerShell."+cmd,
		"There is no port rule for IP address %s containing port %d on host %s.", ip, start, local.Name)
}

// setNLBNodePriority is Set-NlbClusterNode -HostPriority on the local host.
func (o *Org) setNLBNodePriority(local *Server, iface string, priority int) (*ps.Object, error) {
	const cmd = "SetNlbClusterNode"
	if priority < 1 || priority > 32 {
		return nil, ps.Errorf("InvalidArgument", "InvalidHostPriority,Microsoft.NetworkLoadBalancingClusters.PowerShell."+cmd,
			"The host priority %d is not valid: it must be a number from 1 through 32, unique in the cluster.", priority)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	c, n, err := o.localNLBNode(local, iface, cmd)
	if err != nil {
		return nil, err
	}
	n.HostID = priority
	sortNodes(c)
	o.reconverge(c)
	return o.nlbNodeObject(c, n), nil
}

// setNLBNodeRunning is Start-NlbClusterNode (run) and Stop-NlbClusterNode on the
// local host.
func (o *Org) setNLBNodeRunning(local *Server, iface string, run bool) (*ps.Object, error) {
	cmd := "StopNlbClusterNode"
	if run {
		cmd = "StartNlbClusterNode"
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	c, n, err := o.localNLBNode(local, iface, cmd)
	if err != nil {
		return nil, err
	}
	if n.Stopped == !run {
		return o.nlbNodeObject(c, n), nil
	}
	n.Stopped = !run
	o.reconverge(c)
	return o.nlbNodeObject(c, n), nil
}

// wmiSecondHop is what an NLB cmdlet answers when it must reach another host over WMI
// from a WinRS shell: the shell's network logon has no credential to forward, DCOM
// connects anonymously and the other host refuses it.
func wmiSecondHop(host, cmd string) *ps.ErrorRecord {
	e := ps.Errorf("PermissionDenied", "System.UnauthorizedAccessException,Microsoft.NetworkLoadBalancingClusters.PowerShell."+cmd,
		"Access is denied. (Exception from HRESULT: 0x80070005 (E_ACCESSDENIED))")
	e.Target = host
	e.ExceptionType = "System.UnauthorizedAccessException"
	return e
}

// nonInteractivePrompt is what a cmdlet that asks for confirmation gets in a shell
// that cannot prompt (powershell.exe -NonInteractive, or any WinRS shell).
func nonInteractivePrompt(cmd string) *ps.ErrorRecord {
	e := ps.Errorf("NotSpecified", "System.Management.Automation.Host.HostException,Microsoft.NetworkLoadBalancingClusters.PowerShell."+cmd,
		"Windows PowerShell is in NonInteractive mode. Read and Prompt functionality is not available.")
	e.ExceptionType = "System.Management.Automation.Host.HostException"
	return e
}
