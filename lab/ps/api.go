// Package ps is a small interpreter for the subset of Windows PowerShell 2.0 that
// exchops generates and that Exchange administrators type: statements, pipelines,
// cmdlets with named and positional parameters, literals, variables, script blocks,
// try/catch, exit. It exists so the lab can run the scripts a runner sends over WinRM
// and answer the way a real Exchange 2010 server would, including refusing what
// PowerShell 2.0 would refuse.
//
// The interpreter knows no Exchange: the lab registers cmdlets (Cmdlet) into a
// Session, and the session calls back into the lab for environment variables,
// dot-sourced files and native programs.
//
// This file is the API the rest of the lab programs against.
package ps

import (
	"context"
	"io"
	"time"
)

// Values flowing through the interpreter are plain Go values:
//
//	nil, bool, int (PowerShell [int]/[long]), float64, string, time.Time,
//	[]any (arrays), *Object, *Hashtable, *ScriptBlock, *ErrorRecord.
//
// Cmdlets must only emit these kinds.

// Property is one named property of an Object.
type Property struct {
	Name  string
	Value any
}

// Object is a PowerShell object: an ordered property bag with a type name.
// Property lookup is case-insensitive, as in PowerShell.
type Object struct {
	// TypeName is the .NET type name shown by Get-Member and used by ConvertTo-Csv
	// (without -NoTypeInformation it emits "#TYPE <TypeName>").
	TypeName string
	// Str is the object's ToString() result; when empty, the string form is TypeName,
	// as for most .NET objects.
	Str   string
	props []Property
}

// NewObject builds an object from alternating name, value pairs.
func NewObject(typeName string, nameValues ...any) *Object {
	o := &Object{TypeName: typeName}
	for i := 0; i+1 < len(nameValues); i += 2 {
		o.Set(nameValues[i].(string), nameValues[i+1])
	}
	return o
}

// Props returns the properties in order. The slice must not be modified.
func (o *Object) Props() []Property { return o.props }

// Get returns a property by case-insensitive name.
func (o *Object) Get(name string) (any, bool) {
	for _, p := range o.props {
		if equalFold(p.Name, name) {
			return p.Value, true
		}
	}
	return nil, false
}

// Set sets or adds a property, keeping the order of first definition.
func (o *Object) Set(name string, v any) {
	for i, p := range o.props {
		if equalFold(p.Name, name) {
			o.props[i].Value = v
			return
		}
	}
	o.props = append(o.props, Property{Name: name, Value: v})
}

// String is the object's ToString().
func (o *Object) String() string {
	if o.Str != "" {
		return o.Str
	}
	return o.TypeName
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Enum is a .NET enum value, as Exchange objects carry them (a copy's Status is a
// Microsoft.Exchange.Management.SystemConfigurationTasks.CopyStatus, Healthy = 2).
// Its text is Name; over PowerShell Remoting it serialises as an enum of Type.
type Enum struct {
	Type  string // the enum's .NET type name
	Name  string // the member's name, what ToString() gives
	Value int    // the member's numeric value
}

func (e Enum) String() string { return e.Name }

// Hashtable is @{...}; keys are compared case-insensitively and keep their order.
type Hashtable struct {
	Keys   []string
	Values []any
}

// ScriptBlock is {...}. It is opaque outside the interpreter; cmdlets that take one
// (Where-Object, ForEach-Object) are built into the interpreter.
type ScriptBlock struct {
	Text string // the source between the braces, for display
	impl any    // the interpreter's parsed form
}

// ErrorCategory is a PowerShell ErrorCategory name, e.g. "InvalidArgument",
// "InvalidOperation", "ObjectNotFound", "ResourceExists", "NotSpecified",
// "ParserError", "OperationTimeout", "PermissionDenied".
type ErrorCategory string

// ErrorRecord is a PowerShell error. Cmdlets return one (via Errorf) to fail.
type ErrorRecord struct {
	Message  string        // $_.Exception.Message
	Category ErrorCategory // $_.CategoryInfo.Category
	// ErrorID is the FullyQualifiedErrorId, e.g. "CommandNotFoundException" or, for
	// Exchange cmdlets, "<hex>,Microsoft.Exchange.Management.SystemConfigurationTasks.NewDatabaseAvailabilityGroup".
	ErrorID string
	// Target is the TargetObject, may be nil.
	Target any
	// Command is the name of the command that failed ("" for the script itself);
	// the interpreter fills it in when a cmdlet returns an error without one.
	Command string
	// ExceptionType is the .NET exception type name, e.g. "System.Management.Automation.CommandNotFoundException".
	ExceptionType string
}

func (e *ErrorRecord) Error() string { return e.Message }

// Errorf makes an ErrorRecord for a cmdlet to return.
// Exchange cmdlets use category and an id in Exchange's style.
func Errorf(category ErrorCategory, errorID string, format string, args ...any) *ErrorRecord {
	return &ErrorRecord{Message: sprintf(format, args...), Category: category, ErrorID: errorID}
}

// ParamKind is how an argument is converted before a cmdlet sees it.
type ParamKind int

const (
	// KindAny passes the value as it is (an *Object from the pipeline, a string, ...).
	// Identity parameters use it and accept either an object or a name.
	KindAny ParamKind = iota
	// KindString converts to string (objects by their String()).
	KindString
	// KindInt converts to int; a value that does not convert is a binding error
	// ("Cannot bind parameter 'X'. Cannot convert value "abc" to type "System.Int32"...").
	KindInt
	// KindBool takes $true/$false (and, as PowerShell does, 0/1).
	KindBool
	// KindSwitch is a switch parameter: present means true; -X:$false means false.
	KindSwitch
	// KindStringArray converts a scalar or an array to []string ('a','b' or a single 'a').
	KindStringArray
)

// Param declares one cmdlet parameter.
type Param struct {
	Name      string
	Aliases   []string
	Kind      ParamKind
	Mandatory bool
	// Position is the 0-based position for positional binding, or -1 when the
	// parameter can only be named.
	Position int
	// FromPipeline binds each pipeline input object to this parameter (see Cmdlet).
	FromPipeline bool
	// Values, when not empty, restricts the accepted values (case-insensitive), as a
	// ValidateSet would; the error lists them.
	Values []string
}

// Cmdlet is a command the lab registers into a session.
//
// Binding follows PowerShell: named parameters match by full name, alias, or an
// unambiguous prefix (case-insensitive); unknown names fail with "A parameter cannot
// be found that matches parameter name 'X'."; remaining arguments bind by Position;
// a missing Mandatory parameter fails (non-interactively) with "Cannot process command
// because of one or more missing mandatory parameters: X.".
//
// When the cmdlet has a FromPipeline parameter and receives pipeline input, Invoke is
// called once per input object with that parameter bound to the object, like a
// Process block. Otherwise Invoke is called once, with all pipeline input in Call.Input.
type Cmdlet struct {
	Name   string // Verb-Noun, matched case-insensitively
	Params []Param
	Invoke func(c *Call) error
	// ShouldProcess accepts the -WhatIf and -Confirm common parameters, as Exchange's
	// and NLB's changing cmdlets do (-Confirm:$false is what scripts pass). Every cmdlet
	// accepts -Verbose, -Debug, -ErrorAction, -WarningAction, -ErrorVariable,
	// -WarningVariable and -OutVariable.
	ShouldProcess bool
	// Native marks an external program (dnscmd.exe): arguments are not bound to
	// parameters but passed as strings in Call.Args, every output line is a string,
	// and Call.SetExitCode sets $LASTEXITCODE. A native program's failure is not a
	// PowerShell error.
	Native bool
}

// Call is one invocation of a cmdlet.
type Call struct {
	Ctx     context.Context
	Session *Session
	Name    string         // the name as invoked
	Params  map[string]any // bound values, keyed by the Param.Name as declared
	Input   []any          // pipeline input (see Cmdlet)
	Args    []string       // for Native commands only

	out      func(any)
	warn     func(string)
	verbose  func(string)
	progress func(int, string, string, int, bool)
	exitCode *int
}

// Has reports whether the parameter was given (a switch given as -X:$false counts).
func (c *Call) Has(name string) bool { _, ok := c.Params[name]; return ok }

// String returns a bound parameter as a string ("" when absent).
func (c *Call) String(name string) string { s, _ := c.Params[name].(string); return s }

// Int returns a bound KindInt parameter, or def when absent.
func (c *Call) Int(name string, def int) int {
	if v, ok := c.Params[name].(int); ok {
		return v
	}
	return def
}

// Switch returns a switch or bool parameter (false when absent).
func (c *Call) Switch(name string) bool { b, _ := c.Params[name].(bool); return b }

// Strings returns a KindStringArray parameter.
func (c *Call) Strings(name string) []string { s, _ := c.Params[name].([]string); return s }

// Write sends an object down the pipeline.
func (c *Call) Write(v any) { c.out(v) }

// Warn writes to the warning stream. At the top level powershell.exe prints it on
// stdout as "WARNING: <text>", as Exchange's own warnings appear over WinRM.
func (c *Call) Warn(text string) { c.warn(text) }

// SetExitCode sets $LASTEXITCODE (native commands).
func (c *Call) SetExitCode(code int) {
	if c.exitCode != nil {
		*c.exitCode = code
	}
}

// Identity returns the name an Identity-like parameter stands for: an *Object's
// "Identity" or "Name" property, or the value's string form.
func Identity(v any) string {
	if o, ok := v.(*Object); ok {
		if id, ok := o.Get("Identity"); ok && id != nil {
			return ToString(id)
		}
		if n, ok := o.Get("Name"); ok && n != nil {
			return ToString(n)
		}
		return o.String()
	}
	return ToString(v)
}

// Config is what a session needs from its host (the lab's simulated server).
type Config struct {
	Stdout, Stderr io.Writer
	// Env holds environment variables ($env:NAME), matched case-insensitively.
	Env map[string]string
	// Commands are available from the start (besides the interpreter's own built-ins:
	// Select-Object, Where-Object, ForEach-Object, ConvertTo-Csv, Write-Output,
	// Write-Host, Write-Error, Write-Warning, Out-Null, Out-String, Join-Path,
	// Start-Sleep, Sort-Object, Measure-Object, Get-Date).
	Commands []*Cmdlet
	// Builtins, when not nil, keeps only the named built-ins: a restricted runspace
	// (Exchange's remote session exposes a handful of them). nil keeps them all.
	Builtins []string
	// DotSource runs when a script dot-sources or calls a .ps1 file (". 'C:\x.ps1'").
	// The host typically defines commands into the session (Session.Define).
	// Returning an *ErrorRecord fails the statement; a nil func means no files exist.
	DotSource func(c *Call, path string) error
	// Now and Sleep are the session's clock (Get-Date, Start-Sleep).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Session is one powershell.exe process: its variables, its commands, its streams.
type Session struct {
	cfg  Config
	impl *sessionState // the interpreter's state
}

// NewSession starts a session.
func NewSession(cfg Config) *Session { return newSession(cfg) }

// Define makes commands available in the session from now on (Import-Module,
// Add-PSSnapin and Connect-ExchangeServer use it). A later definition replaces an
// earlier one of the same name.
func (s *Session) Define(cmds ...*Cmdlet) { s.define(cmds) }

// Commands lists the names of the commands available in the session, sorted
// (Get-Command's answer).
func (s *Session) Commands() []string { return s.commandNames() }

// Defined reports whether a command name is available.
func (s *Session) Defined(name string) bool { return s.defined(name) }

// Run parses and runs a script and returns the exit code powershell.exe would return:
// the value of "exit N"; 1 when a terminating error ended the script (after printing
// it to Stderr in PowerShell 2.0's format) or the script did not parse; otherwise 0.
// Objects left in the output at the top level are formatted to Stdout as
// Out-Default would (strings and numbers one per line; objects as a table or list).
// Run returns early with exit code 1 when ctx ends ("The pipeline has been stopped.").
func (s *Session) Run(ctx context.Context, script string) int { return s.run(ctx, script) }

// Verbose writes to the verbose stream; powershell.exe prints it on stdout as
// "VERBOSE: <text>" when the call had -Verbose (or $VerbosePreference is Continue).
func (c *Call) Verbose(text string) {
	if c.verbose != nil {
		c.verbose(text)
	}
}

// WhatIf reports whether -WhatIf was given: the cmdlet must describe what it would
// do with c.Warn-like output ("What if: ...", via c.Session's host output) and change nothing.
func (c *Call) WhatIf() bool { return c.Switch("WhatIf") }

// Command is one command of a typed pipeline (Session.Invoke): what a PowerShell
// Remoting client sends instead of script text. Args are bound exactly as a script's
// arguments would be (named by full name, alias or unambiguous prefix; positional by
// Position), but their values are already typed: no expression is evaluated.
type Command struct {
	Name string
	Args []Arg
}

// Arg is one argument of a Command. Name is "" for a positional argument; a switch is
// Name with Value true.
type Arg struct {
	Name  string
	Value any
}

// Output receives what a typed pipeline produces, stream by stream, in order. Its
// method set is psrp.Output's, so the lab's PSRP endpoint passes its sink straight in.
type Output interface {
	Object(v any)
	// Error is a non-terminating error record (the pipeline goes on).
	Error(rec *ErrorRecord)
	Warning(text string)
	Verbose(text string)
	// Progress reports an activity's progress: percent -1 when unknown; completed
	// ends the activity.
	Progress(activityID int, activity, status string, percent int, completed bool)
}

// Invoke runs one pipeline of typed commands, as a remote runspace does for a PSRP
// CREATE_PIPELINE: each command's output is the next one's input, the last one's goes
// to out.Object. Non-terminating errors (a cmdlet's error under ErrorAction Continue)
// go to out.Error and the pipeline continues; a terminating error (an unknown
// command, a binding failure, -ErrorAction Stop) ends it and is returned as an
// *ErrorRecord. When ctx ends, Invoke returns ctx's error once the running cmdlet
// has stopped. Variables and preferences are the session's, as in a runspace.
func (s *Session) Invoke(ctx context.Context, cmds []Command, out Output) error {
	return s.invokeTyped(ctx, cmds, out)
}

// Progress reports the cmdlet's progress (a PROGRESS_RECORD over PowerShell Remoting;
// powershell.exe over WinRS shows none of it).
func (c *Call) Progress(activityID int, activity, status string, percent int, completed bool) {
	if c.progress != nil {
		c.progress(activityID, activity, status, percent, completed)
	}
}
