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
	for _, other := range o.nlb {
		if other.IP == ip.String() {
			return nil, nil, ps.Errorf("ResourceExists", "IPAddressInUse,Microsoft.NetworkLoadBalancingClusters.PowerShell.NewNlbCluster",
				"The IP address %s is already in use on the network (by NLB cluster %s).", ip, other.Name)
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
	cl := &NLBCluster{Name: name, IP: ip.String(), Mask: mask, Mode: mode}
	cl.Nodes = []*NLBNode{{Host: s.Name, Interface: nic.Name, HostID: 1, ConvergingUntil: o.clock.Now().Add(o.Timing.NLBConverge)}}
	o.nlb = append(o.nlb, cl)
	return nlbClusterObject(cl), warnings, nil
}

func nlbClusterObject(c *NLBCluster) *ps.Object {
	obj := ps.NewObject(nlbClusterType, "Name", c.Name, "IPAddress", c.IP, "SubnetMask", c.Mask, "Mode", strings.ToUpper(c.Mode))
	obj.Str = c.Name
	return obj
}

// nlbNodeState is what Get-NlbClusterNode prints: Converging until the node has
// converged, then Converged; the default host (the converged node with the lowest
// HostID, which has the highest priority) shows "Converged(default)".
func (o *Org) nlbNodeState(c *NLBCluster, n *NLBNode) string {
	now := o.clock.Now()
	if now.Before(n.ConvergingUntil) {
		return "Converging"
	}
	for _, m := range c.Nodes {
		if !now.Before(m.ConvergingUntil) && m.HostID < n.HostID {
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
	return nlbClusterObject(c), nil
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
	until := o.clock.Now().Add(o.Timing.NLBConverge)
	for _, n := range c.Nodes {
		n.ConvergingUntil = until
	}
	node := &NLBNode{Host: s.Name, Interface: s.nic(newIface).Name, HostID: id, ConvergingUntil: until}
	c.Nodes = append(c.Nodes, node)
	sort.Slice(c.Nodes, func(i, j int) bool { return c.Nodes[i].HostID < c.Nodes[j].HostID })
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

// nlbCmdlets are what Import-Module NetworkLoadBalancingClusters defines; host.go
// refuses the import unless o.hasFeature(on.Name, "NLB").
func (o *Org) nlbCmdlets(on *Server) []*ps.Cmdlet {
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
				host, iface, input,
				{Name: "Force", Kind: ps.KindSwitch, Position: -1},
			},
			Invoke: func(c *ps.Call) error {
				if c.WhatIf() {
					return nil
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
			Params: []ps.Param{host, iface, input, {Name: "Force", Kind: ps.KindSwitch, Position: -1}},
			Invoke: func(c *ps.Call) error {
				if c.WhatIf() {
					return nil
				}
				target := c.String("HostName")
				if v, ok := c.Params["InputObject"].(*ps.Object); ok && v.TypeName == nlbNodeType {
					target = ps.Identity(v)
				}
				return o.removeNLBNode(on, target)
			},
		},
	}
}
