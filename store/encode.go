package store

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/commands"
)

// timeFormat is RFC 3339 in UTC with all nine fraction digits. Every value has the
// same width, so text order is time order (an index on expires_at works), and
// parsing gives back the exact instant.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

func timeText(t time.Time) string {
	return t.UTC().Format(timeFormat)
}

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return timeText(t)
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the time %q: %w", s, err)
	}
	return t.UTC(), nil
}

func parseNullTime(s sql.NullString) (time.Time, error) {
	if !s.Valid {
		return time.Time{}, nil
	}
	return parseTime(s.String)
}

// The JSON kept in the database is spelled out here rather than left to the Go
// field names of commands and approvals, so that renaming a field there cannot make
// existing rows unreadable.

type originJSON struct {
	Platform string `json:"platform"`
	Channel  string `json:"channel,omitempty"`
	User     string `json:"user,omitempty"`
}

func encodeOrigin(o approvals.Origin) string {
	b, _ := json.Marshal(originJSON(o))
	return string(b)
}

func decodeOrigin(s string) (approvals.Origin, error) {
	var o originJSON
	if err := json.Unmarshal([]byte(s), &o); err != nil {
		return approvals.Origin{}, fmt.Errorf("reading the origin %q: %w", s, err)
	}
	return approvals.Origin(o), nil
}

// stepJSON is a step; a WinRS step has no calls, so rows written before Exchange
// steps had calls read back as what they were.
type stepJSON struct {
	Target  string     `json:"target"`
	Calls   []callJSON `json:"calls,omitempty"`
	Script  string     `json:"script"`
	Purpose string     `json:"purpose,omitempty"`
	// Timeout is the step's own time limit in nanoseconds (0: the runner's).
	Timeout int64     `json:"timeout_ns,omitempty"`
	Then    *waitJSON `json:"then,omitempty"` // a wait between this step and the next
}

type callJSON struct {
	Pipeline []cmdJSON  `json:"pipeline"`
	Section  string     `json:"section,omitempty"`
	Columns  []string   `json:"columns,omitempty"`
	Where    *matchJSON `json:"where,omitempty"`
	When     *matchJSON `json:"when,omitempty"`
}

type cmdJSON struct {
	Name   string      `json:"name"`
	Params []paramJSON `json:"params,omitempty"`
}

type paramJSON struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	Value  string   `json:"value,omitempty"`
	Values []string `json:"values,omitempty"`
}

type matchJSON struct {
	Section  string `json:"section,omitempty"`
	Column   string `json:"column,omitempty"`
	Value    string `json:"value,omitempty"`
	NotEmpty bool   `json:"not_empty,omitempty"`
}

type untilJSON struct {
	Kind     string `json:"kind"`
	Database string `json:"database"`
	Server   string `json:"server"`
}

// waitJSON keeps durations as Go duration text ("30m0s"): readable, and
// time.ParseDuration gives back exactly what Duration.String printed.
type waitJSON struct {
	Step     stepJSON   `json:"step"`
	Until    *untilJSON `json:"until,omitempty"`
	Progress string     `json:"progress,omitempty"`
	Budget   string     `json:"budget"`
	Interval string     `json:"interval"`
}

func toStepJSON(s commands.Step) stepJSON {
	out := stepJSON{Target: s.Target, Script: s.Script, Purpose: s.Purpose, Timeout: int64(s.Timeout)}
	if w := s.Then; w != nil {
		out.Then = toWaitJSON(w)
	}
	for _, c := range s.Calls {
		cj := callJSON{Section: c.Section, Columns: c.Columns, Where: toMatchJSON(c.Where), When: toMatchJSON(c.When)}
		for _, cmd := range c.Pipeline {
			x := cmdJSON{Name: cmd.Name}
			for _, p := range cmd.Params {
				x.Params = append(x.Params, paramJSON{Name: p.Name, Type: string(p.Type), Value: p.Value, Values: p.Values})
			}
			cj.Pipeline = append(cj.Pipeline, x)
		}
		out.Calls = append(out.Calls, cj)
	}
	return out
}

func fromStepJSON(s stepJSON) commands.Step {
	out := commands.Step{Target: s.Target, Script: s.Script, Purpose: s.Purpose, Timeout: time.Duration(max(s.Timeout, 0))}
	if s.Then != nil {
		// A wait stored by this version: its durations were printed by Duration.String.
		out.Then, _ = fromWaitJSON(*s.Then)
	}
	for _, cj := range s.Calls {
		// Empty lists read as nil, as the planner makes them, so a stored plan compares
		// equal to a fresh one.
		c := commands.Call{Section: cj.Section, Columns: nonEmpty(cj.Columns), Where: fromMatchJSON(cj.Where), When: fromMatchJSON(cj.When)}
		for _, x := range cj.Pipeline {
			cmd := commands.Cmd{Name: x.Name}
			for _, p := range x.Params {
				cmd.Params = append(cmd.Params, commands.Param{Name: p.Name, Type: commands.ParamType(p.Type), Value: p.Value, Values: nonEmpty(p.Values)})
			}
			c.Pipeline = append(c.Pipeline, cmd)
		}
		out.Calls = append(out.Calls, c)
	}
	return out
}

func nonEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func toMatchJSON(m *commands.Match) *matchJSON {
	if m == nil {
		return nil
	}
	x := matchJSON(*m)
	return &x
}

func fromMatchJSON(m *matchJSON) *commands.Match {
	if m == nil {
		return nil
	}
	x := commands.Match(*m)
	return &x
}

type findingJSON struct {
	Severity severityJSON `json:"severity"`
	Message  string       `json:"message"`
	Record   string       `json:"record,omitempty"`
}

// severityJSON is a severity's name ("warning"), or its number for one this version
// does not know.
type severityJSON commands.Severity

var severities = []commands.Severity{commands.Info, commands.Warning, commands.Blocker}

func (s severityJSON) MarshalJSON() ([]byte, error) {
	for _, x := range severities {
		if commands.Severity(s) == x {
			return json.Marshal(x.String())
		}
	}
	return []byte(strconv.Itoa(int(s))), nil
}

func (s *severityJSON) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		var n int
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("severity %s is neither a name nor a number", b)
		}
		*s = severityJSON(n)
		return nil
	}
	for _, x := range severities {
		if name == x.String() {
			*s = severityJSON(x)
			return nil
		}
	}
	return fmt.Errorf("unknown severity %q", name)
}

func encodeSteps(steps []commands.Step) string {
	out := make([]stepJSON, 0, len(steps))
	for _, s := range steps {
		out = append(out, toStepJSON(s))
	}
	b, _ := json.Marshal(out)
	return string(b)
}

func decodeSteps(s string) ([]commands.Step, error) {
	var in []stepJSON
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, fmt.Errorf("reading the steps: %w", err)
	}
	var out []commands.Step
	for _, x := range in {
		out = append(out, fromStepJSON(x))
	}
	return out, nil
}

func encodeWait(w *commands.Wait) any {
	if w == nil {
		return nil
	}
	b, _ := json.Marshal(toWaitJSON(w))
	return string(b)
}

func toWaitJSON(w *commands.Wait) *waitJSON {
	var until *untilJSON
	if u := w.Until; u != nil {
		until = &untilJSON{Kind: string(u.Kind), Database: u.Database, Server: u.Server}
	}
	return &waitJSON{
		Step:     toStepJSON(w.Step),
		Until:    until,
		Progress: w.Progress,
		Budget:   w.Budget.String(),
		Interval: w.Interval.String(),
	}
}

func decodeWait(s sql.NullString) (*commands.Wait, error) {
	if !s.Valid {
		return nil, nil
	}
	var in waitJSON
	if err := json.Unmarshal([]byte(s.String), &in); err != nil {
		return nil, fmt.Errorf("reading the wait: %w", err)
	}
	return fromWaitJSON(in)
}

func fromWaitJSON(in waitJSON) (*commands.Wait, error) {
	budget, err := time.ParseDuration(in.Budget)
	if err != nil {
		return nil, fmt.Errorf("reading the wait's budget: %w", err)
	}
	interval, err := time.ParseDuration(in.Interval)
	if err != nil {
		return nil, fmt.Errorf("reading the wait's interval: %w", err)
	}
	var until *commands.Until
	if u := in.Until; u != nil {
		until = &commands.Until{Kind: commands.UntilKind(u.Kind), Database: u.Database, Server: u.Server}
	}
	return &commands.Wait{Step: fromStepJSON(in.Step), Until: until, Progress: in.Progress, Budget: budget, Interval: interval}, nil
}

func encodeFindings(fs []commands.Finding) string {
	out := make([]findingJSON, 0, len(fs))
	for _, f := range fs {
		out = append(out, findingJSON{Severity: severityJSON(f.Severity), Message: f.Message, Record: f.Record})
	}
	b, _ := json.Marshal(out)
	return string(b)
}

func decodeFindings(s string) ([]commands.Finding, error) {
	var in []findingJSON
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, fmt.Errorf("reading the findings: %w", err)
	}
	var out []commands.Finding
	for _, x := range in {
		out = append(out, commands.Finding{Severity: commands.Severity(x.Severity), Message: x.Message, Record: x.Record})
	}
	return out, nil
}

// encodeApprovers stores a request's approvers as a JSON array ([] for none).
func encodeApprovers(a []string) string {
	if len(a) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(a)
	return string(b)
}

func decodeApprovers(s string) ([]string, error) {
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("reading the approvers: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// encodeProcedure stores a request's procedure as JSON ({"kind", "args"}), ” for none.
func encodeProcedure(p *commands.Procedure) string {
	if p == nil {
		return ""
	}
	b, _ := json.Marshal(p)
	return string(b)
}

func decodeProcedure(s string) (*commands.Procedure, error) {
	if s == "" {
		return nil, nil
	}
	var p commands.Procedure
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return nil, fmt.Errorf("reading the procedure: %w", err)
	}
	if p.Kind == "" {
		return nil, fmt.Errorf("reading the procedure: %s names no kind", s)
	}
	return &p, nil
}
