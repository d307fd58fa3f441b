package ps

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// sink is an Output that writes every stream as a line, in order.
type sink struct{ lines []string }

func (s *sink) Object(v any) { s.lines = append(s.lines, "object "+typeName(v)+" "+ToString(v)) }
func (s *sink) Error(rec *ErrorRecord) {
	s.lines = append(s.lines, "error "+rec.ErrorID+": "+rec.Message)
}
func (s *sink) Warning(text string) { s.lines = append(s.lines, "warning "+text) }
func (s *sink) Verbose(text string) { s.lines = append(s.lines, "verbose "+text) }
func (s *sink) Progress(id int, activity, status string, percent int, completed bool) {
	s.lines = append(s.lines, fmt.Sprintf("progress %d %s %s %d %v", id, activity, status, percent, completed))
}

// typedSession has a few cmdlets shaped like Exchange's, in a restricted session
// (Select-Object and Measure-Object only, as Exchange's runspace).
func typedSession() *Session {
	return NewSession(Config{
		Builtins: []string{"Select-Object", "Measure-Object"},
		Commands: []*Cmdlet{
			{Name: "Get-Thing", Params: []Param{
				{Name: "Identity", Kind: KindAny, Position: 0},
				{Name: "Count", Aliases: []string{"N"}, Kind: KindInt, Position: -1},
				{Name: "Status", Kind: KindSwitch, Position: -1},
				{Name: "Names", Kind: KindStringArray, Position: -1},
			}, Invoke: func(c *Call) error {
				if id := c.String("Identity"); id != "" {
					if id == "missing" {
						return Errorf("NotSpecified", "NotFound,Get-Thing", "The thing '%s' couldn't be found.", id)
					}
					c.Write(NewObject("Thing", "Name", id, "Status", c.Switch("Status")))
					return nil
				}
				for i := 0; i < c.Int("Count", 2); i++ {
					o := NewObject("Thing", "Name", fmt.Sprintf("T%d", i), "Status", Enum{Type: "ThingStatus", Name: "Healthy", Value: 1})
					o.Str = fmt.Sprintf("T%d", i)
					c.Write(o)
				}
				for _, n := range c.Strings("Names") {
					c.Write(n)
				}
				return nil
			}},
			{Name: "Set-Thing", ShouldProcess: true, Params: []Param{
				{Name: "Identity", Kind: KindAny, Position: 0, Mandatory: true, FromPipeline: true},
				{Name: "Flag", Kind: KindBool, Position: -1},
			}, Invoke: func(c *Call) error {
				c.Warn("changed " + Identity(c.Params["Identity"]))
				c.Verbose("verbose " + Identity(c.Params["Identity"]))
				return nil
			}},
			{Name: "Seed-Thing", Invoke: func(c *Call) error {
				for i := 0; i <= 100; i += 50 {
					c.Progress(1, "Seeding", fmt.Sprintf("%d%%", i), i, i == 100)
					if i < 100 {
						if err := c.Session.cfg.Sleep(c.Ctx, time.Second); err != nil {
							return err
						}
					}
				}
				return nil
			}},
			{Name: "dnscmd", Native: true, Invoke: func(c *Call) error { return nil }},
		},
		Sleep: func(ctx context.Context, d time.Duration) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Millisecond):
				return nil
			}
		},
	})
}

func TestInvokeTyped(t *testing.T) {
	notFound := func(n string) string {
		return "CommandNotFoundException: The term '" + n + "' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again."
	}
	tests := []struct {
		name  string
		cmds  []Command
		lines string // the streams, "|"-separated
		err   string // the terminating error's "id: message", or ""
	}{
		{"named and positional", []Command{{Name: "Get-Thing", Args: []Arg{{"", "a"}, {"Status", true}}}}, "object Thing Thing", ""},
		{"alias and prefix, typed int", []Command{{Name: "get-thing", Args: []Arg{{"N", 3}}}}, "object Thing T0|object Thing T1|object Thing T2", ""},
		{"prefix", []Command{{Name: "Get-Thing", Args: []Arg{{"Cou", 1}}}}, "object Thing T0", ""},
		{"array argument", []Command{{Name: "Get-Thing", Args: []Arg{{"Count", 0}, {"Names", []any{"x", "y"}}}}}, "object System.String x|object System.String y", ""},
		{"pipeline into FromPipeline", []Command{{Name: "Get-Thing"}, {Name: "Set-Thing", Args: []Arg{{"Confirm", false}, {"Verbose", true}}}},
			"warning changed T0|verbose verbose T0|warning changed T1|verbose verbose T1", ""},
		{"restricted built-ins", []Command{{Name: "Get-Thing", Args: []Arg{{"Count", 5}}}, {Name: "Select-Object", Args: []Arg{{"First", 2}}}, {Name: "Measure-Object"}},
			"object Microsoft.PowerShell.Commands.GenericMeasureInfo Microsoft.PowerShell.Commands.GenericMeasureInfo", ""},
		{"non-terminating error goes on", []Command{{Name: "Get-Thing", Args: []Arg{{"", "missing"}}}}, "error NotFound,Get-Thing: The thing 'missing' couldn't be found.", ""},
		{"silently continue", []Command{{Name: "Get-Thing", Args: []Arg{{"", "missing"}, {"ErrorAction", "SilentlyContinue"}}}}, "", ""},
		{"stop makes it terminating", []Command{{Name: "Get-Thing", Args: []Arg{{"", "missing"}, {"ErrorAction", "Stop"}}}}, "", "NotFound,Get-Thing: The thing 'missing' couldn't be found."},
		{"unknown parameter", []Command{{Name: "Get-Thing", Args: []Arg{{"Colour", "blue"}}}}, "", "NamedParameterNotFound,Get-Thing: A parameter cannot be found that matches parameter name 'Colour'."},
		{"missing mandatory", []Command{{Name: "Set-Thing"}}, "", "MissingMandatoryParameter,Set-Thing: Cannot process command because of one or more missing mandatory parameters: Identity."},
		{"bad int", []Command{{Name: "Get-Thing", Args: []Arg{{"Count", "many"}}}}, "", "CannotConvertArgumentNoMessage,Get-Thing: Cannot bind parameter 'Count'. Cannot convert value \"many\" to type \"System.Int32\". Error: \"Input string was not in a correct format.\""},
		{"unknown command", []Command{{Name: "Get-Nothing"}}, "", notFound("Get-Nothing")},
		{"no Where-Object", []Command{{Name: "Get-Thing"}, {Name: "Where-Object"}}, "", notFound("Where-Object")},
		{"no aliases", []Command{{Name: "Get-Thing"}, {Name: "select"}}, "", notFound("select")},
		{"no native programs", []Command{{Name: "dnscmd"}}, "", notFound("dnscmd")},
		{"progress", []Command{{Name: "Seed-Thing"}}, "progress 1 Seeding 0% 0 false|progress 1 Seeding 50% 50 false|progress 1 Seeding 100% 100 true", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := &sink{}
			err := typedSession().Invoke(context.Background(), tt.cmds, out)
			if got := strings.Join(out.lines, "|"); got != tt.lines {
				t.Errorf("streams:\n got %s\nwant %s", got, tt.lines)
			}
			got := ""
			var rec *ErrorRecord
			if errors.As(err, &rec) {
				got = rec.ErrorID + ": " + rec.Message
			} else if err != nil {
				got = err.Error()
			}
			if got != tt.err {
				t.Errorf("error:\n got %s\nwant %s", got, tt.err)
			}
		})
	}
}

// TestInvokeStops: when the client stops the pipeline, Invoke returns ctx's error.
func TestInvokeStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := typedSession()
	out := &sink{}
	s.cfg.Sleep = func(ctx context.Context, d time.Duration) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}
	err := s.Invoke(ctx, []Command{{Name: "Seed-Thing"}, {Name: "Measure-Object"}}, out)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if len(out.lines) != 1 {
		t.Errorf("streams after the stop: %v", out.lines)
	}
	// The session is usable afterwards, as a runspace is.
	if err := s.Invoke(context.Background(), []Command{{Name: "Get-Thing", Args: []Arg{{"Count", 1}}}}, &sink{}); err != nil {
		t.Errorf("next pipeline: %v", err)
	}
}
