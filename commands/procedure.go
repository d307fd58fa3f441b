package commands

import (
	"encoding/json"
	"fmt"
)

// Procedure is a change that exchops' own code carries out, deciding as it goes,
// rather than a plan's fixed steps: a failover drill, a change to exchops' schedules.
// Kind names the procedure; Args are its typed arguments as JSON. An approved request
// stores it and runs it as it is, never by reading the command text again.
type Procedure struct {
	Kind string          `json:"kind"`
	Args json.RawMessage `json:"args,omitempty"`
}

// NewProcedure returns the procedure kind with args encoded as its arguments.
func NewProcedure(kind string, args any) (*Procedure, error) {
	b, err := json.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("commands: the arguments of %s: %w", kind, err)
	}
	return &Procedure{Kind: kind, Args: b}, nil
}

// Decode reads the procedure's arguments into args (a pointer to the kind's
// arguments type).
func (p *Procedure) Decode(args any) error {
	if err := json.Unmarshal(p.Args, args); err != nil {
		return fmt.Errorf("the arguments of %s (%s) do not decode: %w", p.Kind, p.Args, err)
	}
	return nil
}

// ProcedureDrill is `drill <dag>`: the failover drill of one DAG. Its Args are
// DrillArgs.
const ProcedureDrill = "drill"

// DrillArgs are the arguments of ProcedureDrill.
type DrillArgs struct {
	DAG string `json:"dag"`
}

// Typed invocations of the commands that exchops' own procedures plan (a drill's
// moves and reads): each argument is checked against its kind as if typed in chat,
// and no text is parsed.

// Failover is `failover <database> to=<server>`.
func Failover(database, to string) (*Command, error) {
	return invoke("failover", map[string]string{"database": database, "to": to})
}

// CopyStatus is `copy status <database>`.
func CopyStatus(database string) (*Command, error) {
	return invoke("copy status", map[string]string{"database": database})
}

// Drill is `drill <dag>`.
func Drill(dag string) (*Command, error) {
	return invoke("drill", map[string]string{"dag": dag})
}

// invoke builds an invocation of the command called name from its arguments by name.
// An empty value counts as not given.
func invoke(name string, args map[string]string) (*Command, error) {
	s := find(catalog(), name)
	if s == nil {
		return nil, fmt.Errorf("commands: no command %q", name)
	}
	raw := map[string]string{}
	for k, v := range args {
		if s.Arg(k) == nil {
			return nil, fmt.Errorf("commands: %s has no argument %q", name, k)
		}
		if v != "" {
			raw[k] = v
		}
	}
	return build(s, raw)
}

// Health is `health <dag>`.
func Health(dag string) (*Command, error) {
	return invoke("health", map[string]string{"dag": dag})
}
