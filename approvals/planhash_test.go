package approvals

import (
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/commands"
)

// TestPlanHashCoversCalls: what runs on the Exchange endpoint is the typed calls, so
// a change to them (or to the wait's condition) must change the hash even when the
// text people read stays the same.
func TestPlanHashCoversCalls(t *testing.T) {
	plan := func(edit func(p *commands.Plan)) *commands.Plan {
		inv, err := commands.Parse("failover MB01 to=EX10-MB02")
		if err != nil {
			t.Fatal(err)
		}
		p, err := inv.Plan(commands.Env{ManagementServer: "EX10-CAHT"})
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(p)
		}
		return p
	}
	base := PlanHash(plan(nil), commands.Findings{}, "dag:E14-DAG")
	if again := PlanHash(plan(nil), commands.Findings{}, "dag:E14-DAG"); again != base {
		t.Fatal("the same plan hashes differently")
	}
	edits := map[string]func(p *commands.Plan){
		"a parameter's value": func(p *commands.Plan) { p.Steps[0].Calls[0].Pipeline[0].Params[1].Value = "EX10-MB03" },
		"a parameter's type":  func(p *commands.Plan) { p.Steps[0].Calls[0].Pipeline[0].Params[4].Type = commands.TypeString },
		"a call's section":    func(p *commands.Plan) { p.Steps[0].Calls[1].Section = "other" },
		"the wait's calls":    func(p *commands.Plan) { p.Wait.Step.Calls = nil },
		"the wait's server":   func(p *commands.Plan) { p.Wait.Until.Server = "EX10-MB03" },
		"the wait's kind":     func(p *commands.Plan) { p.Wait.Until.Kind = commands.UntilCopyHealthy },
		"a step's own limit":  func(p *commands.Plan) { p.Steps[0].Timeout = 24 * time.Hour },
	}
	for name, edit := range edits {
		p := plan(edit)
		if PlanHash(p, commands.Findings{}, "dag:E14-DAG") == base {
			t.Errorf("changing %s leaves the hash unchanged", name)
		}
	}

	// A stored request with other calls is stale, and the reason says the PowerShell moved.
	approved := plan(edits["a parameter's value"])
	r := &Request{Steps: approved.Steps, Wait: approved.Wait, Lock: "dag:E14-DAG"}
	if got := staleReason(r, plan(nil), commands.Findings{}, "dag:E14-DAG"); !strings.Contains(got, "no longer what was approved") {
		t.Errorf("staleReason = %q, want it to say the PowerShell changed", got)
	}
	same := plan(nil)
	r = &Request{Steps: same.Steps, Wait: same.Wait, Lock: "dag:E14-DAG"}
	if got := staleReason(r, plan(nil), commands.Findings{}, "dag:E14-DAG"); strings.Contains(got, "no longer what was approved") {
		t.Errorf("staleReason = %q for the same calls", got)
	}
}
