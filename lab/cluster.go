package lab

// A DAG member's maintenance state: the mailbox server's activation policy
// (Set-MailboxServer -DatabaseCopyAutoActivationPolicy) on the Exchange side, and the
// Windows failover cluster under the DAG (Windows Server 2008 R2's FailoverClusters
// module over WinRS: Get-ClusterNode, Suspend-ClusterNode, Resume-ClusterNode,
// Get-ClusterGroup, Move-ClusterGroup). The module is there on DAG members, which
// install failover clustering when they join; its cmdlets talk to the local cluster
// service, and naming another cluster (-Cluster) is a network connection the WinRS
// shell holds no credential for: a second hop, refused.

import (
	"fmt"
	"sort"
	"strings"

	"github.com/exchops/exchops/lab/ps"
)

// autoActivationPolicies are DatabaseCopyAutoActivationPolicyType's members.
var autoActivationPolicies = []string{"Unrestricted", "IntrasiteOnly", "Blocked"}

// Object types of the FailoverClusters module on 2008 R2.
const (
	typeClusterNode  = "Microsoft.FailoverClusters.PowerShell.ClusterNode"
	typeClusterGroup = "Microsoft.FailoverClusters.PowerShell.ClusterGroup"
	// clusterGroupName is the cluster core resource group: its owner is the DAG's
	// Primary Active Manager.
	clusterGroupName = "Cluster Group"
)

// isDAGMember reports whether server is a member of a DAG.
func (o *Org) isDAGMember(server string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.dagOf(server) != nil
}

// activationPolicy is the server's DatabaseCopyAutoActivationPolicy.
func (s *Server) activationPolicy() string {
	if s.ActivationPolicy == "" {
		return "Unrestricted"
	}
	return s.ActivationPolicy
}

// autoActivationBlocked says why Active Manager would not activate a copy on server by
// itself (best copy selection: a failover, or a switchover that names no server), or "".
func (o *Org) autoActivationBlocked(server string) string {
	if s := o.server(server); s != nil && strings.EqualFold(s.activationPolicy(), "Blocked") {
		return fmt.Sprintf("Database copy auto activation is blocked on server '%s' (DatabaseCopyAutoActivationPolicy is Blocked).", s.Name)
	}
	if d := o.dagOf(server); d != nil && d.PausedMembers[strings.ToUpper(server)] {
		return fmt.Sprintf("The cluster node '%s' is paused.", strings.ToUpper(server))
	}
	return ""
}

func (o *Org) cmdSetMailboxServer(c *ps.Call) error {
	const cmd = "Set-MailboxServer"
	if c.WhatIf() {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	name := id(c, "Identity")
	s := o.mailboxServer(name)
	if s == nil {
		return notFound(cmd, name)
	}
	if v := c.String("DatabaseCopyAutoActivationPolicy"); v != "" {
		for _, p := range autoActivationPolicies {
			if strings.EqualFold(p, v) {
				s.ActivationPolicy = p
			}
		}
	}
	return nil
}

// clusterCmdlets are what Import-Module FailoverClusters defines on a DAG member.
func (o *Org) clusterCmdlets(on *Server) []*ps.Cmdlet {
	name := ps.Param{Name: "Name", Kind: ps.KindString, Position: 0}
	cluster := ps.Param{Name: "Cluster", Aliases: []string{"c"}, Kind: ps.KindString, Position: -1}
	node := ps.Param{Name: "Node", Kind: ps.KindString, Position: 1}
	input := ps.Param{Name: "InputObject", Kind: ps.KindAny, Position: -1, FromPipeline: true}
	return []*ps.Cmdlet{
		{Name: "Get-ClusterNode", Params: []ps.Param{name, cluster, input}, Invoke: func(c *ps.Call) error {
			return o.clusterCall(c, on, "Get-ClusterNode", func(d *DAG) error {
				for _, m := range o.nodesNamed(d, clusterTarget(c)) {
					c.Write(nodeObject(d, m))
				}
				return nil
			})
		}},
		{Name: "Suspend-ClusterNode", Params: []ps.Param{name, cluster, input}, Invoke: func(c *ps.Call) error {
			return o.clusterCall(c, on, "Suspend-ClusterNode", func(d *DAG) error {
				return o.pauseNodes(c, d, clusterTarget(c), true)
			})
		}},
		{Name: "Resume-ClusterNode", Params: []ps.Param{name, cluster, input}, Invoke: func(c *ps.Call) error {
			return o.clusterCall(c, on, "Resume-ClusterNode", func(d *DAG) error {
				return o.pauseNodes(c, d, clusterTarget(c), false)
			})
		}},
		{Name: "Get-ClusterGroup", Params: []ps.Param{name, cluster}, Invoke: func(c *ps.Call) error {
			return o.clusterCall(c, on, "Get-ClusterGroup", func(d *DAG) error {
				if n := c.String("Name"); n != "" && !strings.EqualFold(n, clusterGroupName) {
					return clusterErr("Get-ClusterGroup", "ObjectNotFound", "The cluster group '%s' was not found.", n)
				}
				c.Write(groupObject(d))
				return nil
			})
		}},
		{Name: "Move-ClusterGroup", Params: []ps.Param{name, node, cluster}, Invoke: func(c *ps.Call) error {
			return o.clusterCall(c, on, "Move-ClusterGroup", func(d *DAG) error {
				if n := c.String("Name"); n != "" && !strings.EqualFold(n, clusterGroupName) {
					return clusterErr("Move-ClusterGroup", "ObjectNotFound", "The cluster group '%s' was not found.", n)
				}
				return o.moveGroup(c, d, c.String("Node"))
			})
		}},
	}
}

// clusterTarget is the node a node cmdlet names: -Name, or a piped ClusterNode.
func clusterTarget(c *ps.Call) string {
	if v, ok := c.Params["InputObject"]; ok && v != nil {
		return ps.Identity(v)
	}
	return c.String("Name")
}

func clusterErr(cmd string, category ps.ErrorCategory, format string, args ...any) *ps.ErrorRecord {
	noun := strings.ReplaceAll(cmd, "-", "")
	return ps.Errorf(category, "ClusterCmdletError,Microsoft.FailoverClusters.PowerShell."+noun+"Command", format, args...)
}

// clusterCall runs fn on the DAG of the server the shell is on, holding o.mu, after
// the checks every FailoverClusters cmdlet makes: -Cluster elsewhere is a second hop,
// and the local cluster service must be running.
func (o *Org) clusterCall(c *ps.Call, on *Server, cmd string, fn func(d *DAG) error) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	d := o.dagOf(on.Name)
	if d == nil {
		return clusterErr(cmd, "ObjectNotFound", "The cluster service is not installed on '%s': it is no node of a failover cluster.", on.Name)
	}
	if cl := c.String("Cluster"); cl != "" && !isLocalHost(on, cl) {
		// The cluster's name resolves to the cluster IP, which another node may own:
		// a network logon the WinRS shell holds no credential to forward.
		e := clusterErr(cmd, "PermissionDenied", "Failed to connect to cluster '%s'. Access is denied. (Exception from HRESULT: 0x80070005 (E_ACCESSDENIED))", cl)
		e.ExceptionType = "System.UnauthorizedAccessException"
		return e
	}
	if d.DownMembers[strings.ToUpper(on.Name)] {
		return clusterErr(cmd, "ConnectionError", "Failed to connect to the cluster on '%s'. The cluster service is not running.", on.Name)
	}
	return fn(d)
}

// nodesNamed are the members a node cmdlet is about: all, or the one named.
func (o *Org) nodesNamed(d *DAG, name string) []string {
	if name == "" {
		return d.Members
	}
	for _, m := range d.Members {
		if strings.EqualFold(m, ShortName(name)) {
			return []string{m}
		}
	}
	return nil
}

// ShortName is a host's NetBIOS name from a name that may be an FQDN.
func ShortName(s string) string {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return s[:i]
	}
	return s
}

// The members of the module's state enumerations, by value (Unknown is -1).
var (
	clusterNodeStates  = []string{"Up", "Down", "Paused", "Joining"}
	clusterGroupStates = []string{"Online", "Offline", "Failed", "PartialOnline", "Pending"}
)

func clusterEnum(typ, name string, members []string) ps.Enum {
	for i, m := range members {
		if m == name {
			return ps.Enum{Type: typ, Name: m, Value: i}
		}
	}
	return ps.Enum{Type: typ, Name: "Unknown", Value: -1}
}

func nodeState(d *DAG, m string) string {
	switch {
	case d.DownMembers[strings.ToUpper(m)]:
		return "Down"
	case d.PausedMembers[strings.ToUpper(m)]:
		return "Paused"
	}
	return "Up"
}

func nodeObject(d *DAG, m string) *ps.Object {
	obj := ps.NewObject(typeClusterNode,
		"Name", m,
		"State", clusterEnum("Microsoft.FailoverClusters.PowerShell.ClusterNodeState", nodeState(d, m), clusterNodeStates),
		"Cluster", d.Name,
	)
	obj.Str = m
	return obj
}

func groupObject(d *DAG) *ps.Object {
	var owner any
	state := "Offline"
	if pam := primaryActiveManager(d); pam != "" {
		owner, state = nodeObject(d, pam), "Online"
	}
	obj := ps.NewObject(typeClusterGroup,
		"Name", clusterGroupName,
		"OwnerNode", owner,
		"State", clusterEnum("Microsoft.FailoverClusters.PowerShell.ClusterGroupState", state, clusterGroupStates),
		"Cluster", d.Name,
	)
	obj.Str = clusterGroupName
	return obj
}

// pauseNodes pauses (or resumes) a node. A node that is down cannot be paused or
// resumed; pausing a paused node, or resuming one that is up, changes nothing.
func (o *Org) pauseNodes(c *ps.Call, d *DAG, name string, pause bool) error {
	cmd := "Resume-ClusterNode"
	if pause {
		cmd = "Suspend-ClusterNode"
	}
	if name == "" {
		return clusterErr(cmd, "InvalidArgument", "Cannot process command because of one or more missing mandatory parameters: Name.")
	}
	nodes := o.nodesNamed(d, name)
	if len(nodes) == 0 {
		return clusterErr(cmd, "ObjectNotFound", "The node '%s' was not found in cluster '%s'.", name, d.Name)
	}
	m := nodes[0]
	if d.DownMembers[strings.ToUpper(m)] {
		return clusterErr(cmd, "InvalidOperation", "The operation could not be completed on node '%s': the node is down. (Exception from HRESULT: 0x800713BA)", m)
	}
	if pause {
		d.PausedMembers[strings.ToUpper(m)] = true
	} else {
		delete(d.PausedMembers, strings.ToUpper(m))
	}
	c.Write(nodeObject(d, m))
	return nil
}

// moveGroup moves the cluster group to node, or (node "") to the first operational
// node that is neither its owner nor paused; a paused node can own no group.
func (o *Org) moveGroup(c *ps.Call, d *DAG, node string) error {
	const cmd = "Move-ClusterGroup"
	owner := primaryActiveManager(d)
	target := ""
	for _, m := range d.operational() {
		if node != "" {
			if strings.EqualFold(m, ShortName(node)) {
				target = m
			}
			continue
		}
		if !strings.EqualFold(m, owner) && !d.PausedMembers[strings.ToUpper(m)] && target == "" {
			target = m
		}
	}
	switch {
	case target == "" && node != "":
		return clusterErr(cmd, "InvalidOperation", "The node '%s' is not up in cluster '%s', so group '%s' cannot move there.", node, d.Name, clusterGroupName)
	case target == "":
		return clusterErr(cmd, "InvalidOperation", "No other node of cluster '%s' can own group '%s': every other node is down or paused.", d.Name, clusterGroupName)
	case d.PausedMembers[strings.ToUpper(target)]:
		return clusterErr(cmd, "InvalidOperation", "The node '%s' is paused: a paused node cannot own a group. (Exception from HRESULT: 0x8007139A)", target)
	}
	d.GroupOwner = target
	c.Write(groupObject(d))
	return nil
}

// SetNodePaused pauses or resumes a DAG member's cluster node outside exchops, as an
// administrator with Failover Cluster Manager would.
func (o *Org) SetNodePaused(server string, paused bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	d := o.dagOf(server)
	if d == nil {
		return fmt.Errorf("lab: %q is not a DAG member", server)
	}
	if paused {
		d.PausedMembers[strings.ToUpper(server)] = true
	} else {
		delete(d.PausedMembers, strings.ToUpper(server))
	}
	return nil
}

// SetActivationPolicy sets a mailbox server's DatabaseCopyAutoActivationPolicy outside
// exchops, as an administrator blocking a server on purpose would.
func (o *Org) SetActivationPolicy(server, policy string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.mailboxServer(server)
	if s == nil {
		return fmt.Errorf("lab: %q is not a mailbox server", server)
	}
	for _, p := range autoActivationPolicies {
		if strings.EqualFold(p, policy) {
			s.ActivationPolicy = p
			return nil
		}
	}
	return fmt.Errorf("lab: activation policy %q: want one of %s", policy, strings.Join(autoActivationPolicies, ", "))
}

// SuspendActivation suspends (or resumes) a passive copy's activation outside exchops,
// as Suspend-MailboxDatabaseCopy -ActivationOnly with a comment would.
func (o *Org) SuspendActivation(db, server string, suspended bool, comment string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	d, c, err := o.faultCopy(db, server)
	if err != nil {
		return err
	}
	if strings.EqualFold(c.Server, d.Active) {
		return fmt.Errorf("lab: %s\\%s is the active copy", d.Name, c.Server)
	}
	c.ActivationOnly, c.SuspendComment = suspended, comment
	if !suspended {
		c.SuspendComment = ""
	}
	return nil
}

// DAGState renders, in a fixed order, everything a DAG operation can change: each
// mailbox server's activation policy, each DAG's members with their cluster node
// state and the cluster group's owner, and each database's active server with every
// copy's status and suspension flags. Two equal renderings mean the same state, so a
// test can tell whether an operation and its undo left the organisation as it was.
func (o *Org) DAGState() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.clock.Now()
	var b strings.Builder
	for _, s := range o.servers {
		if s.Exchange && s.HasRole("Mailbox") {
			fmt.Fprintf(&b, "server %s policy=%s\n", s.Name, s.activationPolicy())
		}
	}
	for _, d := range o.dags {
		fmt.Fprintf(&b, "dag %s pam=%s\n", d.Name, primaryActiveManager(d))
		for _, m := range d.Members {
			fmt.Fprintf(&b, "  node %s %s\n", m, nodeState(d, m))
		}
	}
	dbs := append([]*Database(nil), o.databases...)
	sort.Slice(dbs, func(i, j int) bool { return dbs[i].Name < dbs[j].Name })
	for _, db := range dbs {
		fmt.Fprintf(&b, "database %s active=%s mounted=%v\n", db.Name, db.Active, o.mounted(db))
		for _, c := range byPreference(db) {
			fmt.Fprintf(&b, "  copy %s pref=%d status=%s suspended=%v activationOnly=%v comment=%q lag=%s/%s\n",
				c.Server, c.Preference, o.copyStatus(db, c, now), c.Suspended, c.ActivationOnly, c.SuspendComment,
				c.ReplayLag.String(), c.TruncationLag.String())
		}
	}
	return b.String()
}
