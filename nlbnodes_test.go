package main

import (
	"context"
	"testing"

	"github.com/exchops/exchops/commands"
)

// Get-NlbClusterNode's objects carry InterfaceName and HostPriority; "Interface" and
// "HostID" are only its table view's labels. The nodes every NLB script reads (the
// add-host preflight, the convergence wait) come back with the interface and the
// priority filled in, as the lab's objects, like a real server's, carry only the real
// properties.
func TestNLBNodeTablesReadTheRealProperties(t *testing.T) {
	w := startWalk(t)
	for _, text := range walkthrough[:3] {
		w.must(text)
	}
	inv, err := commands.Parse(walkthrough[2])
	if err != nil {
		t.Fatal(err)
	}
	p, err := inv.Plan(labEnv)
	if err != nil {
		t.Fatal(err)
	}
	steps := map[string]commands.Step{"the add-host preflight on the existing host": p.Preflight[2], "the convergence wait": p.Wait.Step}
	for what, s := range steps {
		res, err := w.r.RunStep(context.Background(), s, nil)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		nodes := res.Tables()["nlbnodes"]
		want := map[string]string{"EX10-CAHT": "1", "EX10-CAHT02": "2"}
		if len(nodes) != len(want) {
			t.Fatalf("%s: nodes %v, want EX10-CAHT and EX10-CAHT02", what, nodes)
		}
		for _, n := range nodes {
			if n["InterfaceName"] != "Local Area Connection" || n["HostPriority"] != want[n["Name"]] {
				t.Errorf("%s: node %s has InterfaceName %q and HostPriority %q, want \"Local Area Connection\" and %q",
					what, n["Name"], n["InterfaceName"], n["HostPriority"], want[n["Name"]])
			}
		}
	}
}
