package commands

import (
	"errors"
	"maps"
	"testing"
)

// TestTypedInvocations: the invocations procedures build are the ones typing the
// command gives, and their values are checked against their kinds the same way.
func TestTypedInvocations(t *testing.T) {
	for _, tt := range []struct {
		name string
		inv  func() (*Command, error)
		text string // "" when the invocation must be refused
		arg  string // the argument refused
	}{
		{"failover", func() (*Command, error) { return Failover("MB01", "ex10-mb02") }, "failover MB01 to=EX10-MB02", ""},
		{"copy status", func() (*Command, error) { return CopyStatus("MB01") }, "copy status MB01", ""},
		{"drill", func() (*Command, error) { return Drill("e14-dag") }, "drill E14-DAG", ""},
		{"health", func() (*Command, error) { return Health("E14-DAG") }, "health E14-DAG", ""},
		{"failover to a value with a space", func() (*Command, error) { return Failover("MB01", "EX10 MB02") }, "", "to"},
		{"failover with no target", func() (*Command, error) { return Failover("MB01", "") }, "", "to"},
		{"drill of a name too long", func() (*Command, error) { return Drill("A-DAG-NAME-TOO-LONG") }, "", "dag"},
		{"drill of text that would be a second argument", func() (*Command, error) { return Drill("E14-DAG to=x") }, "", "dag"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := tt.inv()
			if tt.text == "" {
				var ue *UsageError
				if !errors.As(err, &ue) || ue.Arg != tt.arg {
					t.Fatalf("got %+v, %v; want a usage error about %s", inv, err, tt.arg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			typed, err := Parse(tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if inv.Text != typed.Text || inv.Spec.Name != typed.Spec.Name || !maps.Equal(inv.Args, typed.Args) {
				t.Errorf("built %q %v, typing gives %q %v", inv.Text, inv.Args, typed.Text, typed.Args)
			}
		})
	}
	if _, err := invoke("failover", map[string]string{"database": "MB01", "too": "x"}); err == nil {
		t.Error("an argument the command lacks was taken")
	}
}

// TestDrillPlanCarriesItsProcedure: a drill's plan names the procedure that carries it
// out, with its DAG as typed arguments.
func TestDrillPlanCarriesItsProcedure(t *testing.T) {
	inv, err := Drill("E14-DAG")
	if err != nil {
		t.Fatal(err)
	}
	env := Env{ManagementServer: "EX10-CAHT", Servers: []Server{{Name: "EX10-MB01", Roles: []string{"mailbox"}}}}
	p, err := inv.Plan(env)
	if err != nil {
		t.Fatal(err)
	}
	var a DrillArgs
	if p.CarriedOutBy == nil || p.CarriedOutBy.Kind != ProcedureDrill || p.CarriedOutBy.Decode(&a) != nil || a.DAG != "E14-DAG" {
		t.Fatalf("the drill's plan carries %+v", p.CarriedOutBy)
	}
	if p, err := mustParse(t, "failover MB01 to=EX10-MB02").Plan(env); err != nil || p.CarriedOutBy != nil {
		t.Errorf("a failover's plan carries a procedure: %+v, %v", p, err)
	}
}

func mustParse(t *testing.T, text string) *Command {
	t.Helper()
	inv, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}
