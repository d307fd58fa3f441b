package commands

import (
	"strconv"
	"strings"
)

// Exchange steps travel to the Exchange endpoint (http(s)://<server>/PowerShell/,
// configuration Microsoft.Exchange) as commands with typed parameters over PowerShell
// Remoting. That endpoint runs in NoLanguage mode: no script text, no script blocks,
// no calculated properties. So a plan's Exchange step is data — pipelines of cmdlets
// with typed parameters (Call) — and what to keep of the objects that come back is
// decided in Go (Call.Columns, Call.Where), never on the server.

// ParamType is how a parameter's value is typed on the wire.
type ParamType string

// The parameter types an Exchange step may use.
const (
	TypeString  ParamType = "string"   // System.String
	TypeInt     ParamType = "int"      // System.Int32, Value in decimal
	TypeBool    ParamType = "bool"     // System.Boolean, Value "true" or "false"
	TypeSwitch  ParamType = "switch"   // a switch that is present (-Confirm:$false is TypeBool)
	TypeStrings ParamType = "string[]" // System.String[], Values
	TypeNull    ParamType = "null"     // $null: clears the property (no Value)
)

// HealthResult is the column of a replicationhealth row that says whether the check
// passed: the enum member behind Test-ReplicationHealth's Result (Passed, Warning,
// Failed, Undefined). The Result column is only its text for people, which is
// "*FAILED*" for a failure and is translated on a server that is not in English.
const HealthResult = "Result.Value"

// Param is one named parameter of a Cmd.
type Param struct {
	Name   string    `json:"name"`
	Type   ParamType `json:"type"`
	Value  string    `json:"value,omitempty"`  // TypeString, TypeInt, TypeBool
	Values []string  `json:"values,omitempty"` // TypeStrings
}

// Cmd is one cmdlet with its parameters, in the order they are rendered and sent.
type Cmd struct {
	Name   string  `json:"name"`
	Params []Param `json:"params,omitempty"`
}

// Match names rows by one column's value (compared case-insensitively). With Column
// "", any row matches; with NotEmpty, any row whose Column is not empty.
type Match struct {
	Section  string `json:"section,omitempty"` // When only: the section to look in
	Column   string `json:"column,omitempty"`
	Value    string `json:"value,omitempty"`
	NotEmpty bool   `json:"not_empty,omitempty"`
}

// Row reports whether one row (column -> text) matches.
func (m Match) Row(row map[string]string) bool {
	switch {
	case m.Column == "":
		return true
	case m.NotEmpty:
		return strings.TrimSpace(row[m.Column]) != ""
	}
	return strings.EqualFold(row[m.Column], m.Value)
}

// Holds reports whether t has a row matching m in m.Section (a When's test).
func (m Match) Holds(t Tables) bool {
	for _, row := range t[m.Section] {
		if m.Row(row) {
			return true
		}
	}
	return false
}

// Call is one pipeline sent to the Exchange endpoint, and what to keep of its output.
type Call struct {
	Pipeline []Cmd `json:"pipeline"`
	// Section receives the output objects as rows; "" discards them (the pipeline's
	// effect is what matters, as "| Out-Null" did).
	Section string `json:"section,omitempty"`
	// Columns are the properties kept of each object, in the notation the tables have
	// always used: "Name" is the value's text, "#Name" an integer, "*Name" a
	// multi-valued property's elements' text joined with ';', "@Name" a date as UTC
	// ISO 8601 ("" when unset). A name "A.B" reads property B of property A's object
	// (the row's column is "A.B"): Test-ReplicationHealth's "Result.Value" is the
	// result's enum member (Passed, Warning, Failed), which is the same in every
	// language, where "Result" is the console's text ("*FAILED*", or translated).
	Columns []string `json:"columns,omitempty"`
	// Where keeps only the objects whose Column equals Value (Section unused).
	Where *Match `json:"where,omitempty"`
	// When runs the pipeline only if an earlier call of the same step put a row
	// matching it into When.Section; otherwise the call is skipped and its section is
	// empty.
	When *Match `json:"when,omitempty"`
	// Tolerated makes a read's failure its own rather than the step's: when the server
	// refuses the cmdlet or it fails (an error record, a failed pipeline), the step goes
	// on with its other calls, the call's section is empty, and the runner reports the
	// failure for that section (runners.Result.Failed). A failure of the session itself
	// (the server cannot be reached, the step is cancelled or times out) still fails the
	// step. Only a read may be tolerated, and it must have a Section; whoever reads the
	// step's result must look at the failures. It is set by the health report's reads
	// (TolerateFailures), each of which is a check of its own.
	Tolerated bool `json:"tolerated,omitempty"`
}

// String renders the call as the PowerShell line an administrator would type, for
// approvers and `exchops plan`. Where and When are not PowerShell (they are applied in
// exchops), so they follow as a comment.
func (c Call) String() string {
	parts := make([]string, len(c.Pipeline))
	for i, cmd := range c.Pipeline {
		parts[i] = cmd.String()
	}
	line := strings.Join(parts, " | ")
	var notes []string
	if c.When != nil {
		switch {
		case c.When.Column == "":
			notes = append(notes, "only if "+c.When.Section+" is not empty")
		case c.When.NotEmpty:
			notes = append(notes, "only if "+c.When.Section+" has a "+c.When.Column)
		default:
			notes = append(notes, "only if "+c.When.Section+" has "+c.When.Column+" = "+Quote(c.When.Value))
		}
	}
	if c.Where != nil {
		notes = append(notes, "keep "+c.Where.Column+" = "+Quote(c.Where.Value))
	}
	if len(notes) > 0 {
		line += "  # exchops: " + strings.Join(notes, "; ")
	}
	return line
}

// String renders one cmdlet with its parameters as PowerShell.
func (c Cmd) String() string {
	var b strings.Builder
	b.WriteString(c.Name)
	for _, p := range c.Params {
		b.WriteString(" -" + p.Name)
		switch p.Type {
		case TypeSwitch:
		case TypeBool:
			if p.Value == "true" {
				b.WriteString(":$true")
			} else {
				b.WriteString(":$false")
			}
		case TypeNull:
			b.WriteString(" $null")
		case TypeInt:
			b.WriteString(" " + p.Value)
		case TypeStrings:
			q := make([]string, len(p.Values))
			for i, v := range p.Values {
				q[i] = Quote(v)
			}
			b.WriteString(" " + strings.Join(q, ","))
		default:
			b.WriteString(" " + Quote(p.Value))
		}
	}
	return b.String()
}

// RenderCalls is an Exchange step's text for people: one line per call.
func RenderCalls(calls []Call) string {
	var b strings.Builder
	for _, c := range calls {
		b.WriteString(c.String() + "\n")
	}
	return b.String()
}

// Parameter constructors, so plans read as the cmdlet lines they render to.

// Str is a string parameter.
func Str(name, value string) Param { return Param{Name: name, Type: TypeString, Value: value} }

// Int is an integer parameter.
func Int(name string, v int) Param { return Param{Name: name, Type: TypeInt, Value: strconv.Itoa(v)} }

// Bool is a boolean parameter (-Confirm:$false).
func Bool(name string, v bool) Param {
	return Param{Name: name, Type: TypeBool, Value: strconv.FormatBool(v)}
}

// Null is a parameter set to $null, which clears the property it sets.
func Null(name string) Param { return Param{Name: name, Type: TypeNull} }

// Switch is a switch parameter that is present (-Status).
func Switch(name string) Param { return Param{Name: name, Type: TypeSwitch} }

// Strs is a string-array parameter.
func Strs(name string, values ...string) Param {
	return Param{Name: name, Type: TypeStrings, Values: values}
}

// C builds a Cmd.
func C(name string, params ...Param) Cmd { return Cmd{Name: name, Params: params} }
