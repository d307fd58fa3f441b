package commands

import (
	"strings"
	"testing"
)

// fixture is a preflight's view of E14-DAG with EX10-MB01 and EX10-MB02 (three when
// third), MB01 active on EX10-MB01 and MB02 on EX10-MB02, each with a copy on the
// other member; tests change it before judging.
type fixture struct {
	members  []string
	up       []string
	witness  string
	policy   map[string]string
	nodes    map[string]string
	owner    string
	dbs      []row
	copies   []row
	dagName  string
	noMember bool
}

func newFixture() *fixture {
	f := &fixture{
		dagName: "E14-DAG", members: []string{"EX10-MB01", "EX10-MB02"}, up: []string{"EX10-MB01", "EX10-MB02"}, witness: "Primary",
		policy: map[string]string{"EX10-MB01": "Unrestricted", "EX10-MB02": "Unrestricted"},
		nodes:  map[string]string{"EX10-MB01": "Up", "EX10-MB02": "Up"}, owner: "EX10-MB01",
	}
	f.addDB("MB01", "EX10-MB01", "EX10-MB02")
	f.addDB("MB02", "EX10-MB02", "EX10-MB01")
	return f
}

// addDB adds a database active on servers[0], preferences in order.
func (f *fixture) addDB(name string, servers ...string) {
	var prefs []string
	for i, s := range servers {
		prefs = append(prefs, "["+s+", "+string(rune('1'+i))+"]")
		st, active := "Healthy", "False"
		if i == 0 {
			st, active = "Mounted", "True"
		}
		f.copies = append(f.copies, row{"Name": name + `\` + s, "DatabaseName": name, "MailboxServer": s, "Status": st, "ActiveCopy": active,
			"ActivationSuspended": "False", "CopyQueueLength": "0", "ReplayQueueLength": "0", "ContentIndexState": "Healthy"})
	}
	f.dbs = append(f.dbs, row{"Name": name, "Server": servers[0], "MasterServerOrAvailabilityGroup": f.dagName,
		"Servers": strings.Join(servers, ";"), "ActivationPreference": strings.Join(prefs, ";")})
}

// activate makes db's copy on srv the active one.
func (f *fixture) activate(db, srv string) {
	for _, c := range f.copies {
		if c["DatabaseName"] != db {
			continue
		}
		if c["MailboxServer"] == srv {
			c["ActiveCopy"], c["Status"] = "True", "Mounted"
		} else {
			c["ActiveCopy"], c["Status"] = "False", "Healthy"
		}
	}
}

func (f *fixture) copy(name string) row {
	for _, c := range f.copies {
		if c["Name"] == name {
			return c
		}
	}
	panic("no copy " + name)
}

func (f *fixture) tables() []Tables {
	var ms, nodes []row
	for _, m := range f.members {
		ms = append(ms, row{"Name": m, "DatabaseAvailabilityGroup": f.dagName, "DatabaseCopyAutoActivationPolicy": f.policy[m]})
		nodes = append(nodes, row{"Name": m, "State": f.nodes[m]})
	}
	dag := []row{{"Name": f.dagName, "Servers": strings.Join(f.members, ";"), "OperationalServers": strings.Join(f.up, ";"), "WitnessShareInUse": f.witness}}
	if f.noMember {
		dag = nil
	}
	return []Tables{
		{"dag": dag, "mailboxservers": ms, "databases": f.dbs, "copystatus": f.copies},
		{"clusternodes": nodes, "clustergroup": {{"Name": "Cluster Group", "OwnerNode": f.owner}}},
	}
}

func judge(t *testing.T, text string, past *PastRequest, r []Tables) (*Plan, Findings) {
	t.Helper()
	inv, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	inv.Past = past
	p, err := inv.Plan(walkEnv)
	if err != nil {
		t.Fatal(err)
	}
	f := p.Evaluate(r)
	return p.Decide(f), f
}

func has(f Findings, sev Severity, text string) bool {
	for _, x := range f.List {
		if x.Severity == sev && strings.Contains(x.Message, text) {
			return true
		}
	}
	return false
}

func stepText(p *Plan) string {
	var b strings.Builder
	for _, s := range p.Steps {
		b.WriteString(s.Script)
	}
	return b.String()
}

// TestMaintenanceStartRefusals: each preflight refusal of dag maintenance start.
func TestMaintenanceStartRefusals(t *testing.T) {
	none := &PastRequest{}
	tests := []struct {
		name   string
		change func(f *fixture)
		want   string
	}{
		{"not a member", func(f *fixture) { f.noMember = true }, "not a member of any DAG"},
		{"another member in maintenance", func(f *fixture) { f.nodes["EX10-MB02"] = "Paused" }, "EX10-MB02 is in maintenance"},
		{"quorum", func(f *fixture) { f.witness = "None" }, "would lose quorum"},
		{"quorum, another member down", func(f *fixture) {
			f.members = append(f.members, "EX10-MB03")
			f.policy["EX10-MB03"], f.nodes["EX10-MB03"] = "Unrestricted", "Down"
		}, "would lose quorum"},
		{"single copy", func(f *fixture) { f.addDB("MB03", "EX10-MB01") }, "MB03 has no copy but the one on EX10-MB01"},
		{"no healthy target", func(f *fixture) { f.copy(`MB01\EX10-MB02`)["Status"] = "FailedAndSuspended" }, "no other copy can take it losslessly"},
		{"target queue too long", func(f *fixture) { f.copy(`MB01\EX10-MB02`)["CopyQueueLength"] = "8" }, "copy queue of 8"},
		{"only other copy lagged", func(f *fixture) {
			f.dbs[0]["ReplayLagTimes"] = "[EX10-MB01, 00:00:00];[EX10-MB02, 7.00:00:00]"
		}, "lagged copy"},
		{"passive copy left without a healthy copy", func(f *fixture) { f.copy(`MB02\EX10-MB02`)["Status"] = "Dismounted" }, "MB02 has no Mounted or Healthy copy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture()
			tc.change(fx)
			_, f := judge(t, "dag maintenance start EX10-MB01", none, fx.tables())
			if !has(f, Blocker, tc.want) {
				t.Errorf("findings:\n%s\nwant a blocker containing %q", f, tc.want)
			}
			if f.Steps != nil {
				t.Errorf("a blocked start decided steps")
			}
		})
	}
	// And the healthy DAG passes, moving MB01 and keeping the record.
	p, f := judge(t, "dag maintenance start EX10-MB01", none, newFixture().tables())
	if f.Blocked() {
		t.Fatalf("healthy DAG blocked:\n%s", f)
	}
	rec, ok := maintenanceRecord(f.List)
	if !ok || rec[recPolicy] != "Unrestricted" || rec[recNode] != "Up" || rec[recSuspends] != `MB01\EX10-MB01;MB02\EX10-MB01` {
		t.Errorf("record = %v", rec)
	}
	text := stepText(p)
	for _, want := range []string{"-DatabaseCopyAutoActivationPolicy 'Blocked'", "Move-ActiveMailboxDatabase -Identity 'MB01' -ActivateOnServer 'EX10-MB02' -MountDialOverride 'Lossless'",
		`Suspend-MailboxDatabaseCopy -Identity 'MB01\EX10-MB01' -ActivationOnly`, "Suspend-ClusterNode -Name 'EX10-MB01'", "Move-ClusterGroup"} {
		if !strings.Contains(text, want) {
			t.Errorf("steps lack %q:\n%s", want, text)
		}
	}
	if p.Steps[1].Then == nil || p.Steps[1].Then.Until.Kind != UntilMounted {
		t.Errorf("the move does not wait for the database to mount before the next step")
	}
	if f.Lock != "dag:E14-DAG" {
		t.Errorf("lock %q", f.Lock)
	}
}

// TestMaintenanceStartHistory: a start is refused while an earlier one is open.
func TestMaintenanceStartHistory(t *testing.T) {
	open := pastStart("EX10-MB01")
	inv, _ := Parse("dag maintenance start EX10-MB01")
	inv.Past = open
	if _, err := inv.Plan(walkEnv); err == nil || !strings.Contains(err.Error(), "which no dag maintenance stop has ended") {
		t.Errorf("open start: err = %v", err)
	}
	open.Referrers = []Referrer{{ID: "r-6", Status: "succeeded"}}
	if _, err := inv.Plan(walkEnv); err != nil {
		t.Errorf("start after a stop: %v", err)
	}
}

// TestMaintenanceStop: stop restores the record, not defaults: an activation block
// set before start stays, a copy suspended before stays suspended.
func TestMaintenanceStop(t *testing.T) {
	fx := newFixture()
	fx.activate("MB01", "EX10-MB02")
	fx.nodes["EX10-MB01"] = "Paused"
	fx.policy["EX10-MB01"] = "Blocked"
	fx.copy(`MB01\EX10-MB01`)["ActivationSuspended"] = "True"
	fx.copy(`MB02\EX10-MB01`)["ActivationSuspended"] = "True"
	past := pastStart("EX10-MB01") // before: Unrestricted, Up, MB02's copy suspended by an admin
	p, f := judge(t, "dag maintenance stop EX10-MB01", past, fx.tables())
	if f.Blocked() || f.NoOp {
		t.Fatalf("findings:\n%s", f)
	}
	text := stepText(p)
	for _, want := range []string{"Resume-ClusterNode -Name 'EX10-MB01'", "-DatabaseCopyAutoActivationPolicy 'Unrestricted'", `Resume-MailboxDatabaseCopy -Identity 'MB01\EX10-MB01'`} {
		if !strings.Contains(text, want) {
			t.Errorf("steps lack %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, `MB02\EX10-MB01`) {
		t.Errorf("stop resumes a copy that was suspended before start:\n%s", text)
	}
	// Blocked before start: it stays Blocked.
	past.Findings[0].Record = NewRecord(map[string]string{recPolicy: "Blocked", recNode: "Up", recKept: "", recSuspends: `MB01\EX10-MB01;MB02\EX10-MB01`})
	p, _ = judge(t, "dag maintenance stop EX10-MB01", past, fx.tables())
	if strings.Contains(stepText(p), "Set-MailboxServer") {
		t.Errorf("stop changes a policy that was Blocked before start:\n%s", stepText(p))
	}
	// No record: only the node is resumed.
	p, f = judge(t, "dag maintenance stop EX10-MB01", &PastRequest{ID: "", Found: false}, fx.tables())
	if text := stepText(p); !strings.Contains(text, "Resume-ClusterNode") || strings.Contains(text, "Set-MailboxServer") || strings.Contains(text, "Resume-MailboxDatabaseCopy") {
		t.Errorf("without a record:\n%s", text)
	}
	if !has(f, Warning, "has no record") {
		t.Errorf("without a record, no warning:\n%s", f)
	}
}

// TestRebalance: every move listed, lagged copies never move, unhealthy targets stay.
func TestRebalance(t *testing.T) {
	fx := newFixture()
	fx.addDB("MB03", "EX10-MB02", "EX10-MB01") // preference 1 is EX10-MB02, where it is
	// MB01 and MB02 are mounted on their preference 2 servers.
	for _, db := range []string{"MB01", "MB02"} {
		for _, c := range fx.copies {
			if c["DatabaseName"] != db {
				continue
			}
			if c["ActiveCopy"] == "True" {
				c["ActiveCopy"], c["Status"] = "False", "Healthy"
			} else {
				c["ActiveCopy"], c["Status"] = "True", "Mounted"
			}
		}
	}
	fx.dbs[1]["ReplayLagTimes"] = "[EX10-MB02, 7.00:00:00]" // MB02's preference 1 copy is lagged
	r := []Tables{fx.tables()[0]}
	p, f := judge(t, "dag rebalance E14-DAG", nil, r)
	if f.Blocked() {
		t.Fatalf("findings:\n%s", f)
	}
	if !has(f, Info, "MB01: EX10-MB02 -> EX10-MB01") || !has(f, Warning, "MB02 stays on EX10-MB01") || !has(f, Warning, "lagged") {
		t.Errorf("findings:\n%s", f)
	}
	if len(p.Steps) != 1 || !strings.Contains(p.Steps[0].Script, "-Identity 'MB01' -ActivateOnServer 'EX10-MB01'") || p.Steps[0].Then == nil {
		t.Errorf("steps: %+v", p.Steps)
	}
	_, f = judge(t, "dag rebalance E14-DAG", nil, []Tables{newFixture().tables()[0]})
	if !f.NoOp {
		t.Errorf("balanced DAG: %s", f)
	}
}

// TestReseed: refused on the active copy; a lagged copy resumes for replication only.
func TestReseed(t *testing.T) {
	fx := newFixture()
	r := func() []Tables {
		t0 := fx.tables()[0]
		var cs []row
		for _, c := range fx.copies {
			if c["DatabaseName"] == "MB01" {
				cs = append(cs, c)
			}
		}
		return []Tables{{"dags": {{"Name": "E14-DAG", "Servers": "EX10-MB01;EX10-MB02"}}, "databases": t0["databases"][:1], "copystatus": cs}}
	}
	_, f := judge(t, "copy reseed MB01 EX10-MB01", nil, r())
	if !has(f, Blocker, "is the active copy") {
		t.Errorf("active copy: %s", f)
	}
	fx.copy(`MB01\EX10-MB02`)["Status"] = "FailedAndSuspended"
	p, f := judge(t, "copy reseed MB01 EX10-MB02", nil, r())
	if f.Blocked() || !strings.Contains(stepText(p), `Update-MailboxDatabaseCopy -Identity 'MB01\EX10-MB02' -DeleteExistingFiles -ManualResume`) ||
		strings.Contains(stepText(p), "-ReplicationOnly") || p.Steps[1].Timeout != walkEnv.SeedLimit() {
		t.Errorf("failed copy: %s\n%s", f, stepText(p))
	}
	fx.dbs[0]["ReplayLagTimes"] = "[EX10-MB02, 7.00:00:00]"
	p, _ = judge(t, "copy reseed MB01 EX10-MB02", nil, r())
	if !strings.Contains(stepText(p), "-ReplicationOnly") {
		t.Errorf("lagged copy resumed with its activation:\n%s", stepText(p))
	}
}
