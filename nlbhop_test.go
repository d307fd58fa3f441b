package main

import (
	"context"
	"strings"
	"testing"

	"github.com/exchops/exchops/commands"
)

// oldAddHost is what nlb add-host ran on the new host before it worked over one hop:
// the cluster named by its FQDN and Add-NlbClusterNode, which configures the hosts
// over WMI from there.
const oldAddHost = `$ErrorActionPreference = 'Stop'
try {
    Import-Module ServerManager
    Add-WindowsFeature -Name 'NLB' | Out-Null
    Import-Module NetworkLoadBalancingClusters
    Get-NlbCluster -HostName 'client.msglab.local' | Add-NlbClusterNode -NewNodeName 'EX10-CAHT02' -NewNodeInterface 'Local Area Connection' -Force | Out-Null
} catch {
    [Console]::Error.WriteLine($_.Exception.Message)
    exit 1
}
`

// A WinRS shell holds no credential to forward, so an NLB cmdlet that reaches another
// host over WMI is refused there, as on a real server: joining with Add-NlbClusterNode
// fails whichever host the shell is on and however the cluster is named. nlb add-host
// reads the cluster on an existing host and configures the new host locally, each
// script on its own server, and the hosts converge.
func TestNLBAddHostOverOneHop(t *testing.T) {
	w := startWalk(t)
	for _, text := range walkthrough[:2] {
		w.must(text)
	}
	ctx := context.Background()
	refused := []commands.Step{
		{Target: "EX10-CAHT02", Script: oldAddHost, Purpose: "the old join, on the new host"},
		{Target: "EX10-CAHT02", Script: strings.Replace(oldAddHost, "-HostName 'client.msglab.local'", "-HostName 'EX10-CAHT'", 1), Purpose: "the old join naming the existing host"},
		{Target: "EX10-CAHT", Script: strings.Replace(oldAddHost, "Get-NlbCluster -HostName 'client.msglab.local'", "Get-NlbCluster", 1), Purpose: "the old join, on the existing host"},
	}
	for _, s := range refused {
		_, err := w.r.RunStep(ctx, s, nil)
		if err == nil || !strings.Contains(err.Error(), "Access is denied") {
			t.Errorf("%s: err = %v, want the second hop refused (Access is denied)", s.Purpose, err)
		}
	}
	if n := w.lab.Org.NLBClusters(); len(n) != 1 || len(n[0].Nodes) != 1 {
		t.Fatalf("a refused join changed the cluster: %+v", n)
	}

	out := w.must(walkthrough[2])
	if out.findings.Blocked() {
		t.Fatalf("blocked: %s", out.findings)
	}
	nodes := w.lab.Org.NLBClusters()[0].Nodes
	if len(nodes) != 2 || nodes[1].Host != "EX10-CAHT02" || nodes[1].HostID != 2 {
		t.Fatalf("nodes after nlb add-host: %+v %+v", nodes[0], nodes[len(nodes)-1])
	}
	inv, err := commands.Parse(walkthrough[2])
	if err != nil {
		t.Fatal(err)
	}
	p, err := inv.Plan(labEnv)
	if err != nil {
		t.Fatal(err)
	}
	res, err := w.r.RunStep(ctx, p.Wait.Step, nil)
	if err != nil {
		t.Fatal(err)
	}
	if done, _, detail, err := p.Wait.Check(commands.Tables(res.Tables())); !done || err != nil {
		t.Errorf("the hosts have not converged: %s %v", detail, err)
	}
}
