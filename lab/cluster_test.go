package lab

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/exchops/exchops/lab/ps"
)

// The FailoverClusters cmdlets on a DAG member: the local cluster only (-Cluster
// elsewhere is a second hop), a paused node owns no group, and a paused node or a
// Blocked server is left out of Active Manager's own choice of a copy but can still
// be named in a switchover.
func TestClusterCmdlets(t *testing.T) {
	o, clk := newTestOrg(t)
	withDAG(t, o)
	withCopies(t, o, clk)
	o.Timing.Switchover = 0
	run := func(on *Server, script string) (string, error) {
		var stdout, stderr strings.Builder
		s := ps.NewSession(ps.Config{Stdout: &stdout, Stderr: &stderr, Commands: o.clusterCmdlets(on)})
		if s.Run(context.Background(), "$ErrorActionPreference = 'Stop'\n"+script) != 0 {
			return stdout.String(), errors.New(stderr.String())
		}
		return stdout.String(), nil
	}
	tests := []struct {
		on     string
		script string
		want   string // in stdout, or in the error with "ERR "
	}{
		{"EX10-MB01", "(Get-ClusterNode -Name EX10-MB02).State", "Up"},
		{"EX10-MB01", "Get-ClusterNode -Cluster E14-DAG", "ERR Access is denied"},
		{"EX10-MB01", "Get-ClusterNode -Cluster EX10-MB02", "ERR Access is denied"},
		{"EX10-MB01", "[string](Get-ClusterGroup -Name 'Cluster Group').OwnerNode", "EX10-MB01"},
		{"EX10-MB01", "Suspend-ClusterNode -Name EX10-MB01 | Out-Null; [string](Get-ClusterNode -Name EX10-MB01).State", "Paused"},
		// Pausing moves no group: the owner stays until the group is moved.
		{"EX10-MB01", "[string](Get-ClusterGroup).OwnerNode", "EX10-MB01"},
		{"EX10-MB02", "Move-ClusterGroup -Name 'Cluster Group' -Node EX10-MB01", "ERR is paused"},
		{"EX10-MB01", "[string](Move-ClusterGroup -Name 'Cluster Group').OwnerNode", "EX10-MB02"},
		{"EX10-CAHT", "Get-ClusterNode", "ERR no node of a failover cluster"},
	}
	for _, tt := range tests {
		out, err := run(mustServer(t, o, tt.on), tt.script)
		want, isErr := strings.CutPrefix(tt.want, "ERR ")
		switch {
		case isErr && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s on %s: %v, want an error with %q", tt.script, tt.on, err, want)
		case !isErr && (err != nil || !strings.Contains(out, want)):
			t.Errorf("%s on %s: %q %v, want %q", tt.script, tt.on, out, err, want)
		}
	}
	if pam := locked(o, func() string { return primaryActiveManager(o.dag("E14-DAG")) }); pam != "EX10-MB02" {
		t.Errorf("PAM %s after the move", pam)
	}

	// MB02 is active on EX10-MB02; its only other copy is on the paused EX10-MB01.
	_, err := o.moveActive(context.Background(), moveRequest{Database: "MB02"})
	if err == nil || !strings.Contains(err.Error(), "is paused") {
		t.Errorf("a move choosing its own target went to a paused node: %v", err)
	}
	must(t, o.SetNodePaused("EX10-MB01", false))
	must(t, o.SetActivationPolicy("EX10-MB01", "Blocked"))
	_, err = o.moveActive(context.Background(), moveRequest{Database: "MB02"})
	if err == nil || !strings.Contains(err.Error(), "auto activation is blocked") {
		t.Errorf("a move choosing its own target went to a Blocked server: %v", err)
	}
	if _, err := o.moveActive(context.Background(), moveRequest{Database: "MB02", Target: "EX10-MB01"}); err != nil {
		t.Errorf("a switchover naming a Blocked server: %v", err)
	}
}

// Resume-MailboxDatabaseCopy -ReplicationOnly resumes replication and keeps activation
// suspended; Update-MailboxDatabaseCopy refuses a copy that is not suspended and the
// active copy.
func TestResumeReplicationOnlyAndReseedRefusals(t *testing.T) {
	o, clk := newTestOrg(t)
	withDAG(t, o)
	withCopies(t, o, clk)
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, _, err := o.beginReseed(`MB01\EX10-MB02`, true); err == nil || !strings.Contains(err.Error(), "isn't suspended") {
		t.Errorf("reseed of a copy not suspended: %v", err)
	}
	if _, _, err := o.beginReseed(`MB01\EX10-MB01`, true); err == nil || !strings.Contains(err.Error(), "is the active copy") {
		t.Errorf("reseed of the active copy: %v", err)
	}
	must(t, o.suspendCopy(`MB01\EX10-MB02`, false, "x"))
	must(t, o.resumeCopy(`MB01\EX10-MB02`, true))
	c := o.database("MB01").copyOn("EX10-MB02")
	if c.Suspended || !c.ActivationOnly {
		t.Errorf("after -ReplicationOnly: suspended %v, activation only %v", c.Suspended, c.ActivationOnly)
	}
}
