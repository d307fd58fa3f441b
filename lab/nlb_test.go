package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/lab/ps"
)

// nlbWalkthrough runs the walkthrough's step 2 on both CAS servers through the plain methods.
func nlbWalkthrough(t *testing.T, o *Org) {
	t.Helper()
	caht, caht02 := mustServer(t, o, "EX10-CAHT"), mustServer(t, o, "EX10-CAHT02")
	for _, s := range []*Server{caht, caht02} {
		if _, err := o.addFeatures(s.Name, []string{"NLB"}); err != nil {
			t.Fatalf("Add-WindowsFeature NLB on %s: %v", s.Name, err)
		}
	}
	if _, _, err := o.newNLBCluster(caht, nlbSpec{Interface: "Local Area Connection", IP: "10.0.0.40", Mask: "255.255.255.0", Name: "client.msglab.local", Mode: "multicast"}); err != nil {
		t.Fatalf("New-NlbCluster: %v", err)
	}
	if _, err := o.addNLBNode(caht, "EX10-CAHT", "", "EX10-CAHT02", "Local Area Connection"); err != nil {
		t.Fatalf("Add-NlbClusterNode: %v", err)
	}
}

func nodeStates(t *testing.T, o *Org, on *Server) string {
	t.Helper()
	nodes, err := o.getNLBNodes(on, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, n := range nodes {
		name, _ := n.Get("Name")
		state, _ := n.Get("State")
		id, _ := n.Get("HostPriority")
		s = append(s, ps.ToString(name)+"#"+ps.ToString(id)+"="+ps.ToString(state))
	}
	return strings.Join(s, " ")
}

// Get-NlbClusterNode's objects carry the properties of
// Microsoft.NetworkLoadBalancingClusters.PowerShell.Node, not the labels of its table
// view: a script reading Interface or HostID gets nothing, as on a real server.
func TestNLBNodeProperties(t *testing.T) {
	o, _ := newCASTestOrg(t)
	caht := mustServer(t, o, "EX10-CAHT")
	nlbWalkthrough(t, o)
	nodes, err := o.getNLBNodes(caht, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 {
		t.Fatalf("%d nodes, want 2", len(nodes))
	}
	for i, n := range nodes {
		want := map[string]string{"Cluster": "client.msglab.local", "InterfaceName": "Local Area Connection", "HostPriority": fmt.Sprint(i + 1)}
		for prop, v := range want {
			got, ok := n.Get(prop)
			if !ok || ps.ToString(got) != v {
				t.Errorf("node %d: %s = %q (present %v), want %q", i+1, prop, ps.ToString(got), ok, v)
			}
		}
		for _, label := range []string{"Interface", "HostID"} {
			if v, ok := n.Get(label); ok {
				t.Errorf("node %d carries %s = %v: that is only a column label of the table view", i+1, label, v)
			}
		}
	}
}

func TestNLBConvergence(t *testing.T) {
	o, clk := newCASTestOrg(t)
	caht := mustServer(t, o, "EX10-CAHT")
	o.addFeatures("EX10-CAHT", []string{"NLB"})
	o.addFeatures("EX10-CAHT02", []string{"NLB"})
	c, warns, err := o.newNLBCluster(caht, nlbSpec{Interface: "local area connection", IP: "10.0.0.40", Mask: "255.255.255.0", Name: "client.msglab.local", Mode: "Multicast"})
	if err != nil || len(warns) != 0 {
		t.Fatalf("New-NlbCluster: %v %v", err, warns)
	}
	if mode, _ := c.Get("Mode"); mode != "MULTICAST" || c.TypeName != nlbClusterType {
		t.Errorf("cluster object = %v %v", c.TypeName, c.Props())
	}
	steps := []struct {
		advance time.Duration
		do      func()
		want    string
	}{
		{0, nil, "EX10-CAHT#1=Converging"},
		{29 * time.Second, nil, "EX10-CAHT#1=Converging"},
		{time.Second, nil, "EX10-CAHT#1=Converged(default)"},
		{0, func() {
			if _, err := o.addNLBNode(caht, "client.msglab.local", "", "ex10-caht02.msglab.local", "Local Area Connection"); err != nil {
				t.Fatal(err)
			}
		}, "EX10-CAHT#1=Converging EX10-CAHT02#2=Converging"},
		{30 * time.Second, nil, "EX10-CAHT#1=Converged(default) EX10-CAHT02#2=Converged"},
		{0, func() {
			if err := o.removeNLBNode(caht, "EX10-CAHT"); err != nil {
				t.Fatal(err)
			}
		}, ""},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		if s.do != nil {
			s.do()
		}
		if s.want == "" {
			continue
		}
		if got := nodeStates(t, o, caht); got != s.want {
			t.Errorf("step %d: nodes %q, want %q", i, got, s.want)
		}
	}
	caht02 := mustServer(t, o, "EX10-CAHT02")
	clk.Advance(30 * time.Second)
	if got := nodeStates(t, o, caht02); got != "EX10-CAHT02#2=Converged(default)" {
		t.Errorf("after removing host 1: %q", got)
	}
	if _, err := o.getNLBCluster(caht, "", ""); err == nil {
		t.Error("Get-NlbCluster on a removed host succeeded")
	}
	if err := o.removeNLBNode(caht02, ""); err != nil {
		t.Fatal(err)
	}
	if n := len(o.NLBClusters()); n != 0 {
		t.Errorf("%d clusters left after removing the last node", n)
	}
}

func TestNLBRefusals(t *testing.T) {
	tests := []struct {
		name  string
		setup func(o *Org)
		run   func(o *Org, on *Server) error
		want  string // part of the error message
	}{
		{"unknown feature", nil, func(o *Org, on *Server) error { _, err := o.addFeatures(on.Name, []string{"NLBX"}); return err },
			"ArgumentNotValid: Invalid role, role service, or feature: 'NLBX'. The name was not found."},
		{"NLB on a DAG member", dagWithMB01, func(o *Org, _ *Server) error { _, err := o.addFeatures("EX10-MB01", []string{"NLB"}); return err },
			"member of database availability group E14-DAG"},
		{"clustering on an NLB host", nlbWalkthroughOrg, func(o *Org, on *Server) error {
			_, err := o.addFeatures(on.Name, []string{"Failover-Clustering"})
			return err
		}, "host of Network Load Balancing cluster client.msglab.local"},
		{"remove NLB while in a cluster", nlbWalkthroughOrg, func(o *Org, on *Server) error { _, err := o.removeFeatures(on.Name, []string{"NLB"}); return err },
			"Remove the host from the cluster first"},
		{"feature missing", nil, func(o *Org, on *Server) error { _, _, err := o.newNLBCluster(on, casSpec()); return err },
			"Network Load Balancing is not installed on host EX10-CAHT"},
		{"unknown interface", nlbFeature, func(o *Org, on *Server) error {
			s := casSpec()
			s.Interface = "MAPI"
			_, _, err := o.newNLBCluster(on, s)
			return err
		}, `Interface "MAPI" was not found on host EX10-CAHT. Interfaces on this host: Local Area Connection.`},
		{"bad IP", nlbFeature, func(o *Org, on *Server) error {
			s := casSpec()
			s.IP = "10.0.0.400"
			_, _, err := o.newNLBCluster(on, s)
			return err
		}, `Cannot convert value "10.0.0.400" to type "System.Net.IPAddress"`},
		{"bad mask", nlbFeature, func(o *Org, on *Server) error {
			s := casSpec()
			s.Mask = "255.0.255.0"
			_, _, err := o.newNLBCluster(on, s)
			return err
		}, "The subnet mask 255.0.255.0 is not valid."},
		{"bad mode", nlbFeature, func(o *Org, on *Server) error {
			s := casSpec()
			s.Mode = "Broadcast"
			_, _, err := o.newNLBCluster(on, s)
			return err
		}, `"Unicast, Multicast, IgmpMulticast"`},
		{"IP of a server", nlbFeature, func(o *Org, on *Server) error {
			s := casSpec()
			s.IP = "10.0.0.22"
			_, _, err := o.newNLBCluster(on, s)
			return err
		}, "The IP address 10.0.0.22 is already in use on the network (by EX10-CAHT02)."},
		{"host already in a cluster", nlbWalkthroughOrg, func(o *Org, on *Server) error {
			s := casSpec()
			s.IP = "10.0.0.41"
			_, _, err := o.newNLBCluster(on, s)
			return err
		}, "Host EX10-CAHT is already a member of NLB cluster client.msglab.local (10.0.0.40)."},
		{"unknown host", nlbFeature, func(o *Org, on *Server) error {
			s := casSpec()
			s.Host = "EX10-NOPE"
			_, _, err := o.newNLBCluster(on, s)
			return err
		}, "The RPC server is unavailable."},
		{"DAG member host", func(o *Org) { dagWithMB01(o); o.server("EX10-MB01").Features["NLB"] = true }, func(o *Org, on *Server) error {
			s := casSpec()
			s.Host, s.Interface = "EX10-MB01", "MAPI"
			_, _, err := o.newNLBCluster(on, s)
			return err
		}, "Network Load Balancing cannot be used on EX10-MB01"},
		{"Get-NlbCluster with no cluster", nlbFeature, func(o *Org, on *Server) error { _, err := o.getNLBCluster(on, "", ""); return err },
			"There is no NLB cluster on host EX10-CAHT."},
		{"Get-NlbCluster on another interface", nlbWalkthroughOrg, func(o *Org, on *Server) error { _, err := o.getNLBCluster(on, "", "MAPI"); return err },
			`Interface "MAPI" was not found on host EX10-CAHT.`},
		{"new node without the feature", func(o *Org) {
			nlbFeature(o)
			c := &NLBCluster{Name: "client.msglab.local", IP: "10.0.0.40", Mask: "255.255.255.0", Mode: "Multicast", Nodes: []*NLBNode{{Host: "EX10-CAHT", Interface: "Local Area Connection", HostID: 1}}}
			o.nlb = append(o.nlb, c)
		}, func(o *Org, on *Server) error {
			_, err := o.addNLBNode(on, "", "", "EX10-CAHT02", "Local Area Connection")
			return err
		}, "Network Load Balancing is not installed on host EX10-CAHT02"},
		{"new node on a missing interface", nlbWalkthroughOrg, func(o *Org, on *Server) error {
			o.server("EX10-CAHT02").Features["NLB"] = true
			o.nlb[0].Nodes = o.nlb[0].Nodes[:1]
			_, err := o.addNLBNode(on, "10.0.0.40", "", "EX10-CAHT02", "Replication")
			return err
		}, `Interface "Replication" was not found on host EX10-CAHT02.`},
		{"new node already a member", nlbWalkthroughOrg, func(o *Org, on *Server) error {
			_, err := o.addNLBNode(on, "", "", "EX10-CAHT02", "Local Area Connection")
			return err
		}, "Host EX10-CAHT02 is already a member of NLB cluster client.msglab.local"},
		{"new node is a DAG member", func(o *Org) {
			nlbWalkthroughOrg(o)
			dagWithMB01(o)
			o.server("EX10-MB01").Features["NLB"] = true
		}, func(o *Org, on *Server) error {
			_, err := o.addNLBNode(on, "", "", "EX10-MB01", "MAPI")
			return err
		}, "member of database availability group E14-DAG"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, _ := newCASTestOrg(t)
			if tt.setup != nil {
				tt.setup(o)
			}
			err := tt.run(o, mustServer(t, o, "EX10-CAHT"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
			if _, ok := err.(*ps.ErrorRecord); !ok {
				t.Errorf("error is %T, want *ps.ErrorRecord", err)
			}
		})
	}
}

func casSpec() nlbSpec {
	return nlbSpec{Interface: "Local Area Connection", IP: "10.0.0.40", Mask: "255.255.255.0", Name: "client.msglab.local", Mode: "Multicast"}
}

func nlbFeature(o *Org) {
	o.server("EX10-CAHT").Features["NLB"] = true
}

// nlbWalkthroughOrg puts both CAS servers in client.msglab.local, as step 2 leaves them.
func nlbWalkthroughOrg(o *Org) {
	for _, n := range []string{"EX10-CAHT", "EX10-CAHT02"} {
		o.server(n).Features["NLB"] = true
	}
	o.nlb = append(o.nlb, &NLBCluster{Name: "client.msglab.local", IP: "10.0.0.40", Mask: "255.255.255.0", Mode: "Multicast", Nodes: []*NLBNode{
		{Host: "EX10-CAHT", Interface: "Local Area Connection", HostID: 1},
		{Host: "EX10-CAHT02", Interface: "Local Area Connection", HostID: 2},
	}})
}

// dagWithMB01 makes EX10-MB01 a DAG member directly in the state (the DAG cmdlets are
// another file's concern).
func dagWithMB01(o *Org) {
	o.dags = append(o.dags, &DAG{Name: "E14-DAG", Members: []string{"EX10-MB01"}})
}

func TestNLBDefaults(t *testing.T) {
	o, _ := newCASTestOrg(t)
	caht := mustServer(t, o, "EX10-CAHT")
	nlbFeature(o)
	// No -SubnetMask: New-NlbCluster takes the classful mask, which for 10.x is
	// 255.0.0.0; no -ClusterName: the name is the IP; no -OperationMode: Unicast.
	c, warns, err := o.newNLBCluster(caht, nlbSpec{Interface: "Local Area Connection", IP: "10.0.0.40"})
	if err != nil || len(warns) != 0 {
		t.Fatal(err, warns)
	}
	want := "Name=10.0.0.40 IPAddress=10.0.0.40 SubnetMask=255.0.0.0 Mode=UNICAST"
	var got []string
	for _, p := range c.Props() {
		got = append(got, p.Name+"="+ps.ToString(p.Value))
	}
	if strings.Join(got, " ") != want {
		t.Errorf("cluster = %s, want %s", strings.Join(got, " "), want)
	}

	// A cluster IP outside the adapter's subnet is accepted with a warning.
	o2, _ := newCASTestOrg(t)
	nlbFeature(o2)
	_, warns, err = o2.newNLBCluster(mustServer(t, o2, "EX10-CAHT"), nlbSpec{Interface: "Local Area Connection", IP: "192.168.5.40", Mask: "255.255.255.0"})
	if err != nil || len(warns) != 1 || !strings.Contains(warns[0], "is not in the subnet of interface") {
		t.Errorf("out-of-subnet IP: err %v, warnings %q", err, warns)
	}
}

func TestFeatures(t *testing.T) {
	o, _ := newCASTestOrg(t)
	res, err := o.addFeatures("EX10-CAHT", []string{"nlb"})
	if err != nil || res.ExitCode != "Success" || !res.Success || res.Restart != "No" ||
		strings.Join(res.Results, ",") != "Network Load Balancing,Network Load Balancing Tools" {
		t.Fatalf("first install: %+v %v", res, err)
	}
	res, err = o.addFeatures("EX10-CAHT", []string{"NLB"})
	if err != nil || res.ExitCode != "NoChangeNeeded" || len(res.Results) != 0 {
		t.Errorf("second install: %+v %v", res, err)
	}
	if !o.hasFeature("ex10-caht.msglab.local", "nlb") || o.hasFeature("EX10-CAHT02", "NLB") {
		t.Error("hasFeature disagrees with what was installed")
	}
	dagWithMB01(o)
	if !o.hasFeature("EX10-MB01", "Failover-Clustering") {
		t.Error("a DAG member must report Failover-Clustering")
	}
	var installed []string
	for _, f := range o.windowsFeatureList("EX10-CAHT", []string{"*nlb*"}) {
		n, _ := f.Get("Name")
		i, _ := f.Get("Installed")
		installed = append(installed, ps.ToString(n)+"="+ps.ToString(i))
	}
	if got := strings.Join(installed, " "); got != "NLB=True RSAT-NLB=True" && got != "NLB=true RSAT-NLB=true" {
		t.Errorf("Get-WindowsFeature *nlb* = %s", got)
	}
	res, err = o.removeFeatures("EX10-CAHT", []string{"NLB"})
	if err != nil || res.ExitCode != "Success" || o.hasFeature("EX10-CAHT", "NLB") {
		t.Errorf("remove: %+v %v", res, err)
	}
}

// A host configured on its own with a cluster IP already on the network converges with
// the cluster's hosts only once its parameters, port rules and a free host priority
// match: New-NlbCluster gives it priority 1 and the default rule, so until then every
// host keeps converging.
func TestNLBJoinByConfiguration(t *testing.T) {
	o, clk := newCASTestOrg(t)
	caht, caht02 := mustServer(t, o, "EX10-CAHT"), mustServer(t, o, "EX10-CAHT02")
	o.addFeatures("EX10-CAHT", []string{"NLB"})
	o.addFeatures("EX10-CAHT02", []string{"NLB"})
	if _, _, err := o.newNLBCluster(caht, casSpec()); err != nil {
		t.Fatal(err)
	}
	web := NLBPortRule{IP: "All", Start: 443, End: 443, Protocol: "Tcp", Mode: "Multiple", Affinity: "Single"}
	if err := o.removeNLBPortRule(caht, "255.255.255.255", 0, false); err != nil {
		t.Fatal(err)
	}
	if _, err := o.addNLBPortRule(caht, "", web, false); err != nil {
		t.Fatal(err)
	}
	clk.Advance(o.Timing.NLBConverge)
	steps := []struct {
		do   func() error
		want string
	}{
		{func() error { _, _, err := o.newNLBCluster(caht02, casSpec()); return err }, "EX10-CAHT#1=Converging EX10-CAHT02#1=Converging"},
		{func() error { _, err := o.setNLBNodeRunning(caht02, "", false); return err }, "EX10-CAHT#1=Converged(default) EX10-CAHT02#1=Stopped"},
		{func() error { _, err := o.setNLBNodePriority(caht02, "", 2); return err }, "EX10-CAHT#1=Converged(default) EX10-CAHT02#2=Stopped"},
		{func() error { _, err := o.setNLBNodeRunning(caht02, "", true); return err }, "EX10-CAHT#1=Converging EX10-CAHT02#2=Converging"}, // default rule still there
		{func() error { return o.removeNLBPortRule(caht02, "All", 0, false) }, "EX10-CAHT#1=Converging EX10-CAHT02#2=Converging"},         // no rule
		{func() error { _, err := o.addNLBPortRule(caht02, "", web, false); return err }, "EX10-CAHT#1=Converged(default) EX10-CAHT02#2=Converged"},
	}
	for i, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		clk.Advance(o.Timing.NLBConverge)
		if got := nodeStates(t, o, caht); got != s.want {
			t.Errorf("step %d: %q, want %q", i, got, s.want)
		}
	}
	if n := o.NLBClusters(); len(n) != 1 || len(n[0].Nodes) != 2 {
		t.Errorf("clusters: %+v", n)
	}
}

// Through the cmdlets: one that reaches another host over WMI is refused without a
// delegated credential, and one that asks for confirmation needs -Force.
func TestNLBCmdletsSecondHopAndForce(t *testing.T) {
	o, _ := newCASTestOrg(t)
	nlbWalkthroughOrg(o)
	o.nlb[0].Rules = []NLBPortRule{defaultPortRule}
	caht := mustServer(t, o, "EX10-CAHT")
	run := func(delegated bool, script string) error {
		var stderr strings.Builder
		s := ps.NewSession(ps.Config{Stdout: io.Discard, Stderr: &stderr, Commands: o.nlbCmdlets(caht, delegated)})
		if s.Run(context.Background(), "$ErrorActionPreference = 'Stop'\n"+script) != 0 {
			return errors.New(stderr.String())
		}
		return nil
	}
	tests := []struct {
		script    string
		delegated bool
		want      string // "" = succeeds
	}{
		{"Get-NlbCluster", false, ""},
		{"Get-NlbCluster -HostName EX10-CAHT", false, ""},
		{"Get-NlbCluster -HostName ex10-caht.msglab.local", false, ""},
		{"Get-NlbCluster -HostName EX10-CAHT02", false, "Access is denied"},
		{"Get-NlbCluster -HostName client.msglab.local", false, "Access is denied"},
		{"Get-NlbCluster -HostName client.msglab.local", true, ""},
		{"Get-NlbClusterNode -HostName 10.0.0.40", false, "Access is denied"},
		{"Get-NlbClusterNode", false, ""},
		{"Get-NlbClusterPortRule", false, ""},
		{"Get-NlbClusterNode | Get-NlbClusterPortRule", false, "Access is denied"},
		{"Get-NlbCluster | Add-NlbClusterNode -NewNodeName EX10-MB01 -NewNodeInterface MAPI -Force", false, "Access is denied"},
		{"Get-NlbCluster | Add-NlbClusterNode -NewNodeName EX10-MB01 -NewNodeInterface MAPI", true, "NonInteractive mode"},
		{"Set-NlbClusterNode -InterfaceName 'Local Area Connection' -HostPriority 5", false, "NonInteractive mode"},
		{"Set-NlbClusterNode -InterfaceName 'Local Area Connection' -HostPriority 5 -Force", false, ""},
		{"Get-NlbClusterPortRule | Remove-NlbClusterPortRule", false, "NonInteractive mode"},
		// The cluster's rules live on both hosts: changing them writes to the other.
		{"Get-NlbClusterPortRule | Remove-NlbClusterPortRule -Force", false, "Access is denied"},
		{"Add-NlbClusterPortRule -InterfaceName 'Local Area Connection' -StartPort 80 -EndPort 80", false, "Access is denied"},
		{"Stop-NlbClusterNode -HostName EX10-CAHT02", false, "Access is denied"},
		{"Stop-NlbClusterNode", false, ""},
	}
	for _, tt := range tests {
		err := run(tt.delegated, tt.script)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s (delegated %v): %v", tt.script, tt.delegated, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s (delegated %v): error %v, want one with %q", tt.script, tt.delegated, err, tt.want)
		}
	}
}
