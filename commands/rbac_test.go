package commands

import (
	"slices"
	"sort"
	"strings"
	"testing"
)

// runsAlso are the plans a command runs besides its own, while it runs: the drill
// moves each database with the failover plan and reads with copy status when it fails
// back, and the drill and health reports read the DAG on the management server
// (DAGRead, used by schedules).
var runsAlso = map[string][]string{
	"drill":  {"failover MB01 to=EX10-MB02", "copy status MB01", "dag-read"},
	"health": {"dag-read", "health-mapi"},
	// The steps these decide from their preflight (a healthy two-member DAG, or for
	// stop the organisation after start).
	"dag maintenance start": {"decided:dag maintenance start EX10-MB01"},
	"dag maintenance stop":  {"decided:dag maintenance stop EX10-MB01"},
	"dag rebalance":         {"decided:dag rebalance E14-DAG"},
	"copy reseed":           {"decided:copy reseed MB01 EX10-MB02"},
}

// planCalls are every call of a plan, in its preflight, steps and wait.
func planCalls(t *testing.T, text string) []Call {
	t.Helper()
	if text == "health-mapi" {
		// health.mapi_connectivity on: the report also runs Test-MapiConnectivity.
		env := walkEnv
		env.MAPIConnectivity = true
		inv, err := Parse("health E14-DAG")
		if err != nil {
			t.Fatal(err)
		}
		p, err := inv.Plan(env)
		if err != nil {
			t.Fatal(err)
		}
		var out []Call
		for _, s := range planSteps(p) {
			out = append(out, s.Calls...)
		}
		return out
	}
	if cmd, ok := strings.CutPrefix(text, "decided:"); ok {
		return decidedCalls(t, cmd)
	}
	if text == "dag-read" {
		s, err := DAGRead(walkEnv, "E14-DAG")
		if err != nil {
			t.Fatal(err)
		}
		return s.Calls
	}
	inv, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	p, err := withPast(inv).Plan(walkEnv)
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	var out []Call
	for _, s := range planSteps(p) {
		out = append(out, s.Calls...)
	}
	return out
}

func cmdletsOf(calls []Call) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range calls {
		for _, cmd := range c.Pipeline {
			if !seen[cmd.Name] {
				seen[cmd.Name] = true
				out = append(out, cmd.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}

// TestSpecCmdletsAreWhatItCalls: the cmdlets each command declares (what its service
// account is granted) are exactly those its plans call, no more and no fewer.
func TestSpecCmdletsAreWhatItCalls(t *testing.T) {
	for _, s := range Catalog() {
		var calls []Call
		for _, ex := range append(append([]string{}, s.Examples...), runsAlso[s.Name]...) {
			calls = append(calls, planCalls(t, ex)...)
		}
		got := cmdletsOf(calls)
		want := append([]string(nil), s.Cmdlets...)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s declares Cmdlets %v, its plans call %v", s.Name, want, got)
		}
		if s.Handler == HandlerBot && len(s.Cmdlets) > 0 {
			t.Errorf("%s is answered by the bot but declares cmdlets", s.Name)
		}
	}
}

// TestRBACTable: every declared cmdlet has a role, every row of the table is used by
// some command (so no role is granted for nothing), the parameters in the table are
// exactly those the plans pass, and Organization Management never appears.
func TestRBACTable(t *testing.T) {
	declared := map[string]bool{}
	for _, s := range Catalog() {
		for _, c := range s.Cmdlets {
			declared[c] = true
			if rbacRoleFor(c) == "" {
				t.Errorf("%s calls %s, which no role in rbacRoles grants", s.Name, c)
			}
		}
	}
	seen := map[string]bool{}
	for _, r := range rbacRoles {
		if seen[r.Cmdlet] {
			t.Errorf("%s is in rbacRoles twice", r.Cmdlet)
		}
		seen[r.Cmdlet] = true
		if !declared[r.Cmdlet] {
			t.Errorf("rbacRoles grants %s (role %s), which no command calls", r.Cmdlet, r.Role)
		}
		if strings.Contains(strings.ToLower(r.Role), "organization management") {
			t.Errorf("%s is granted by %s: never", r.Cmdlet, r.Role)
		}
	}

	used := map[string]map[string]bool{}
	for _, s := range Catalog() {
		for _, ex := range append(append([]string{}, s.Examples...), runsAlso[s.Name]...) {
			for _, c := range planCalls(t, ex) {
				for _, cmd := range c.Pipeline {
					if used[cmd.Name] == nil {
						used[cmd.Name] = map[string]bool{}
					}
					for _, p := range cmd.Params {
						used[cmd.Name][p.Name] = true
					}
				}
			}
		}
	}
	// Parameters only some invocations pass, which the examples may not show.
	optional := map[string]bool{"New-DatabaseAvailabilityGroup DatabaseAvailabilityGroupIPAddresses": true,
		"Add-MailboxDatabaseCopy ActivationPreference": true, "Test-OutlookWebServices Identity": true}
	for _, r := range rbacRoles {
		for _, p := range r.Params {
			if !used[r.Cmdlet][p] && !optional[r.Cmdlet+" "+p] {
				t.Errorf("rbacRoles lists -%s for %s, which no plan passes", p, r.Cmdlet)
			}
			delete(used[r.Cmdlet], p)
		}
		for p := range used[r.Cmdlet] {
			t.Errorf("plans pass -%s to %s, which rbacRoles does not list", p, r.Cmdlet)
		}
	}
}

func TestRBACScriptGolden(t *testing.T) {
	got := RBACScript(`MSGLAB\svc-exchops`)
	for _, r := range RBACRoles() {
		if !strings.Contains(got, "'"+r+"'") {
			t.Errorf("the script does not grant %s", r)
		}
	}
	if strings.Contains(got, "Organization Management'") || strings.Contains(got, "'Organization Management") {
		t.Error("the script grants Organization Management")
	}
	// The account comes from configuration, but it still reaches PowerShell quoted.
	if odd := RBACScript(`MSGLAB\o'brien`); !strings.Contains(odd, `-Members 'MSGLAB\o''brien'`) {
		t.Errorf("the account is not quoted:\n%s", odd)
	}
	golden(t, "rbac", got)
}

// decidedCalls are the calls of the steps a command's preflight decides, judged on a
// fixture where each decides the most it can.
func decidedCalls(t *testing.T, text string) []Call {
	t.Helper()
	fx := newFixture()
	var past *PastRequest
	r := fx.tables()
	switch {
	case strings.HasPrefix(text, "dag maintenance start"):
		past = &PastRequest{}
	case strings.HasPrefix(text, "dag maintenance stop"):
		fx.activate("MB01", "EX10-MB02")
		fx.nodes["EX10-MB01"], fx.policy["EX10-MB01"] = "Paused", "Blocked"
		fx.copy(`MB01\EX10-MB01`)["ActivationSuspended"] = "True"
		past, r = pastStart("EX10-MB01"), fx.tables()
	case strings.HasPrefix(text, "dag rebalance"):
		c1, c2 := fx.copy(`MB01\EX10-MB01`), fx.copy(`MB01\EX10-MB02`)
		c1["Status"], c1["ActiveCopy"], c2["Status"], c2["ActiveCopy"] = "Healthy", "False", "Mounted", "True"
		r = []Tables{fx.tables()[0]}
	case strings.HasPrefix(text, "copy reseed"):
		fx.dbs[0]["ReplayLagTimes"] = "[EX10-MB02, 7.00:00:00]"
		r = []Tables{{"dags": {{"Name": "E14-DAG", "Servers": "EX10-MB01;EX10-MB02"}}, "databases": fx.dbs[:1], "copystatus": fx.copies[:2]}}
	}
	p, f := judge(t, text, past, r)
	if f.Blocked() || f.Steps == nil {
		t.Fatalf("%s decided no steps:\n%s", text, f)
	}
	var out []Call
	for _, s := range planSteps(p) {
		out = append(out, s.Calls...)
	}
	return out
}
