package schedules_test

// The lab rig: a simulated organisation behind real WS-Management endpoints, the real
// WinRM runner, and a manual clock that both run on (internal/labtest).

import (
	"context"
	"strings"
	"testing"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/labtest"
	"github.com/exchops/exchops/lab"
)

// labEnv is the organisation the lab simulates.
var labEnv = labtest.Env

// dagSetup builds the walkthrough's DAG: two members, each database with a second
// copy on the other member, so each has its preference-1 server where it started.
var dagSetup = []string{
	`dag create E14-DAG witness=EX10-CAHT dir=C:\FSW ip=10.0.0.50`,
	`dag add-member E14-DAG EX10-MB01`,
	`dag add-member E14-DAG EX10-MB02`,
	`copy add MB01 EX10-MB02`,
	`copy add MB02 EX10-MB01`,
}

// rig is the lab rig (internal/labtest) with the reads these tests make.
type rig struct{ *labtest.Rig }

// startRig starts a lab with the DAG built. timing overrides the lab's (nil: its
// defaults).
func startRig(t *testing.T, timing *lab.Timing) *rig {
	t.Helper()
	g := &rig{labtest.NewRig(t, timing)}
	for _, text := range dagSetup {
		g.Change(text)
	}
	return g
}

// copies reads every copy's status through Exchange: "MB01\EX10-MB01" -> "Mounted".
func (g *rig) copies() map[string]string {
	g.T.Helper()
	inv, err := commands.Parse("copy status")
	if err != nil {
		g.T.Fatal(err)
	}
	p, err := inv.Plan(labEnv)
	if err != nil {
		g.T.Fatal(err)
	}
	res, err := g.Runner.RunStep(context.Background(), p.Steps[0], nil)
	if err != nil {
		g.T.Fatal(err)
	}
	out := map[string]string{}
	for _, row := range res.Tables()["copystatus"] {
		out[row["Name"]] = row["Status"]
	}
	return out
}

func wantContains(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not mention %q:\n%s", what, sub, s)
		}
	}
}
