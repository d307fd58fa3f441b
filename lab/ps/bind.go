package ps

import (
	"context"
	"errors"
	"sort"
	"strings"
)

// evArg is a command argument after evaluation.
type evArg struct {
	param    string
	colon    bool
	hasValue bool
	value    any
	raw      string
	at       int
}

var commonParams = []Param{
	{Name: "Verbose", Aliases: []string{"vb"}, Kind: KindSwitch, Position: -1},
	{Name: "Debug", Aliases: []string{"db"}, Kind: KindSwitch, Position: -1},
	{Name: "ErrorAction", Aliases: []string{"ea"}, Kind: KindString, Position: -1},
	{Name: "WarningAction", Aliases: []string{"wa"}, Kind: KindString, Position: -1},
	{Name: "ErrorVariable", Aliases: []string{"ev"}, Kind: KindString, Position: -1},
	{Name: "WarningVariable", Aliases: []string{"wv"}, Kind: KindString, Position: -1},
	{Name: "OutVariable", Aliases: []string{"ov"}, Kind: KindString, Position: -1},
	{Name: "OutBuffer", Aliases: []string{"ob"}, Kind: KindInt, Position: -1},
}

var shouldProcessParams = []Param{
	{Name: "WhatIf", Aliases: []string{"wi"}, Kind: KindSwitch, Position: -1},
	{Name: "Confirm", Aliases: []string{"cf"}, Kind: KindSwitch, Position: -1},
}

var actionPreferences = []string{"SilentlyContinue", "Stop", "Continue", "Inquire"}

func (st *sessionState) runCommand(cmd *commandNode, input []any, hasInput bool, sink func(any)) error {
	name := cmd.name
	var args []evArg
	for _, a := range cmd.args {
		ea := evArg{param: a.param, colon: a.colon, raw: a.rawParam, at: a.at}
		if a.value != nil {
			v, err := st.eval(a.value)
			if err != nil {
				return err
			}
			if v == (void{}) {
				v = nil
			}
			ea.value, ea.hasValue = v, true
		}
		args = append(args, ea)
	}
	if cmd.invoke != "" {
		target, err := st.eval(cmd.target)
		if err != nil {
			return err
		}
		if sb, ok := target.(*ScriptBlock); ok {
			var vals []any
			for _, a := range args {
				if a.param != "" {
					vals = append(vals, a.raw)
				}
				if a.hasValue {
					vals = append(vals, a.value)
				}
			}
			var under any
			if hasInput {
				under = collect(input)
			}
			return st.invokeBlock(sb, under, vals, cmd.invoke == "&", sink, cmd.at)
		}
		if c, ok := target.(*Cmdlet); ok {
			return st.invoke(c, c.Name, args, input, hasInput, sink, cmd.at)
		}
		name = ToString(target)
	}
	if strings.HasSuffix(strings.ToLower(name), ".ps1") {
		if st.s.cfg.DotSource != nil {
			c := st.newCall(name, nil, nil, sink, nil)
			if err := st.s.cfg.DotSource(c, name); err != nil {
				return st.cmdletFailed(err, "", nil, cmd.at, nil)
			}
			return nil
		}
	}
	c := st.lookup(name)
	if c == nil {
		return &runtimeError{at: cmd.at, stmtOnly: true, rec: notRecognized(name)}
	}
	return st.invoke(c, name, args, input, hasInput, sink, cmd.at)
}

func (st *sessionState) newCall(name string, params map[string]any, input []any, sink func(any), verbose func(string)) *Call {
	return &Call{Ctx: st.ctx, Session: st.s, Name: name, Params: params, Input: input,
		out:      func(v any) { emitValue(sink, v) },
		warn:     st.warning,
		verbose:  verbose,
		progress: st.progress}
}

// cmdTypeName is the cmdlet's .NET type name, the suffix of its error ids.
func (st *sessionState) cmdTypeName(c *Cmdlet) string {
	if t, ok := st.builtins[c]; ok {
		return t
	}
	return c.Name
}

func (st *sessionState) bindError(c *Cmdlet, at int, id string, format string, args ...any) error {
	return &runtimeError{at: at, stmtOnly: true, rec: &ErrorRecord{Message: sprintf(format, args...),
		Category: "InvalidArgument", ErrorID: id + "," + st.cmdTypeName(c), Command: c.Name,
		ExceptionType: "System.Management.Automation.ParameterBindingException"}}
}

// resolveParam finds a parameter by name, alias or unambiguous prefix.
func resolveParam(params []Param, name string) (*Param, []string) {
	for i := range params {
		if strings.EqualFold(params[i].Name, name) {
			return &params[i], nil
		}
		for _, a := range params[i].Aliases {
			if strings.EqualFold(a, name) {
				return &params[i], nil
			}
		}
	}
	var matches []int
	for i := range params {
		if len(name) <= len(params[i].Name) && strings.EqualFold(params[i].Name[:len(name)], name) {
			matches = append(matches, i)
		}
	}
	switch len(matches) {
	case 0:
		return nil, nil
	case 1:
		return &params[matches[0]], nil
	}
	var names []string
	for _, i := range matches {
		names = append(names, "-"+params[i].Name)
	}
	return nil, names
}

func kindTypeName(k ParamKind) string {
	switch k {
	case KindString:
		return "System.String"
	case KindInt:
		return "System.Int32"
	case KindBool:
		return "System.Boolean"
	case KindSwitch:
		return "System.Management.Automation.SwitchParameter"
	case KindStringArray:
		return "System.String[]"
	}
	return "System.Object"
}

// convertParam converts an argument for a parameter and checks its set of values.
func (st *sessionState) convertParam(c *Cmdlet, p *Param, v any, at int) (any, error) {
	if p.Mandatory {
		switch x := v.(type) {
		case nil:
			return nil, st.bindError(c, at, "ParameterArgumentValidationErrorNullNotAllowed",
				"Cannot bind argument to parameter '%s' because it is null.", p.Name)
		case string:
			if x == "" && p.Kind != KindAny {
				return nil, st.bindError(c, at, "ParameterArgumentValidationErrorEmptyStringNotAllowed",
					"Cannot bind argument to parameter '%s' because it is an empty string.", p.Name)
			}
		}
	}
	var out any
	switch p.Kind {
	case KindAny:
		out = v
	case KindString:
		if v == nil {
			out = ""
		} else {
			out = ToString(v)
		}
	case KindInt:
		n, err := toInt(v, "System.Int32")
		if err != nil {
			return nil, st.bindError(c, at, "CannotConvertArgumentNoMessage", "Cannot bind parameter '%s'. %s", p.Name, err.Message)
		}
		out = n
	case KindBool, KindSwitch:
		switch x := v.(type) {
		case bool:
			out = x
		case int:
			out = x != 0
		case nil:
			out = false
		default:
			if p.Kind == KindSwitch {
				out = truthy(v)
				break
			}
			return nil, st.bindError(c, at, "CannotConvertArgumentNoMessage",
				"Cannot bind parameter '%s'. Cannot convert value \"%s\" to type \"System.Boolean\", parameters of this type only accept booleans or numbers, use $true, $false, 1 or 0 instead.",
				p.Name, typeName(v))
		}
	case KindStringArray:
		var ss []string
		for _, e := range toArray(v) {
			ss = append(ss, ToString(e))
		}
		out = ss
	}
	if len(p.Values) > 0 {
		var vals []string
		switch x := out.(type) {
		case string:
			vals = []string{x}
		case []string:
			vals = x
		}
		for _, s := range vals {
			ok := false
			for _, allowed := range p.Values {
				if strings.EqualFold(s, allowed) {
					ok = true
				}
			}
			if !ok {
				return nil, st.bindError(c, at, "ParameterArgumentValidationError",
					"Cannot validate argument on parameter '%s'. The argument \"%s\" does not belong to the set \"%s\" specified by the ValidateSet attribute. Supply an argument that is in the set and then try the command again.",
					p.Name, s, strings.Join(p.Values, ","))
			}
		}
	}
	return out, nil
}

// callOptions are the common parameters of one invocation.
type callOptions struct {
	errorAction, warningAction string
	verbose                    bool
	errorVar, warningVar       string
	outVar                     string
}

func (st *sessionState) invoke(c *Cmdlet, name string, args []evArg, input []any, hasInput bool, sink func(any), at int) error {
	if c.Native {
		return st.invokeNative(c, name, args, input, sink, at)
	}
	all := append(append([]Param{}, c.Params...), commonParams...)
	if c.ShouldProcess {
		all = append(all, shouldProcessParams...)
	}
	params := map[string]any{}
	opts := callOptions{errorAction: ToString(st.getVar("ErrorActionPreference")),
		warningAction: ToString(st.getVar("WarningPreference")), verbose: st.pref("VerbosePreference") == "continue"}
	var positional []evArg
	remaining := st.builtins[c] != "" && (strings.EqualFold(c.Name, "Write-Output") || strings.EqualFold(c.Name, "Write-Host"))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a.param == "" {
			positional = append(positional, a)
			continue
		}
		p, ambiguous := resolveParam(all, a.param)
		if ambiguous != nil {
			return st.bindError(c, a.at, "AmbiguousParameter",
				"Parameter cannot be processed because the parameter name '%s' is ambiguous. Possible matches include: %s.",
				a.param, strings.Join(ambiguous, " "))
		}
		if p == nil {
			return st.bindError(c, a.at, "NamedParameterNotFound", "A parameter cannot be found that matches parameter name '%s'.", a.param)
		}
		var v any
		switch {
		case a.colon:
			if !a.hasValue {
				return st.bindError(c, a.at, "MissingArgument", "Missing an argument for parameter '%s'. Specify a parameter of type '%s' and try again.", p.Name, kindTypeName(p.Kind))
			}
			v = a.value
		case p.Kind == KindSwitch:
			v = true
		case i+1 < len(args) && args[i+1].param == "":
			i++
			v = args[i].value
		default:
			return st.bindError(c, a.at, "MissingArgument", "Missing an argument for parameter '%s'. Specify a parameter of type '%s' and try again.", p.Name, kindTypeName(p.Kind))
		}
		if _, dup := params[p.Name]; dup {
			return st.bindError(c, a.at, "ParameterAlreadyBound",
				"Cannot bind parameter because parameter '%s' is specified more than once. To provide multiple values to parameters that can accept multiple values, use the array syntax. For example, \"-parameter value1,value2,value3\".", p.Name)
		}
		switch p.Name {
		case "ErrorAction", "WarningAction":
			s := ToString(v)
			found := ""
			for _, ap := range actionPreferences {
				if strings.EqualFold(ap, s) {
					found = ap
				}
			}
			if found == "" {
				return st.bindError(c, a.at, "CannotConvertArgumentNoMessage",
					"Cannot bind parameter '%s'. Cannot convert value \"%s\" to type \"System.Management.Automation.ActionPreference\" due to invalid enumeration values. Specify one of the following enumeration values and try again. The possible enumeration values are \"%s\".",
					p.Name, s, strings.Join(actionPreferences, ", "))
			}
			if p.Name == "ErrorAction" {
				opts.errorAction = found
			} else {
				opts.warningAction = found
			}
			continue
		case "Verbose":
			opts.verbose = truthy(v)
			continue
		case "Debug", "OutBuffer":
			continue
		case "ErrorVariable":
			opts.errorVar = ToString(v)
			continue
		case "WarningVariable":
			opts.warningVar = ToString(v)
			continue
		case "OutVariable":
			opts.outVar = ToString(v)
			continue
		}
		cv, err := st.convertParam(c, p, v, a.at)
		if err != nil {
			return err
		}
		params[p.Name] = cv
	}
	// Positional binding, by Position, skipping parameters already named.
	var slots []*Param
	for i := range c.Params {
		p := &c.Params[i]
		if p.Position >= 0 && p.Kind != KindSwitch {
			if _, bound := params[p.Name]; !bound {
				slots = append(slots, p)
			}
		}
	}
	sort.SliceStable(slots, func(i, j int) bool { return slots[i].Position < slots[j].Position })
	if remaining && len(positional) > 1 && len(slots) > 0 {
		vals := make([]any, len(positional))
		for i, a := range positional {
			vals[i] = a.value
		}
		positional = []evArg{{value: vals, hasValue: true, at: positional[0].at}}
	}
	for i, a := range positional {
		if i >= len(slots) {
			return st.bindError(c, a.at, "PositionalParameterNotFound", "A positional parameter cannot be found that accepts argument '%s'.", ToString(a.value))
		}
		cv, err := st.convertParam(c, slots[i], a.value, a.at)
		if err != nil {
			return err
		}
		params[slots[i].Name] = cv
	}
	var pipe *Param
	for i := range c.Params {
		if c.Params[i].FromPipeline {
			pipe = &c.Params[i]
			break
		}
	}
	missing := func(p map[string]any) error {
		var names []string
		for _, mp := range c.Params {
			if _, ok := p[mp.Name]; mp.Mandatory && !ok {
				names = append(names, mp.Name)
			}
		}
		if names != nil {
			return st.bindError(c, at, "MissingMandatoryParameter", "Cannot process command because of one or more missing mandatory parameters: %s.", strings.Join(names, " "))
		}
		return nil
	}
	var outs, warns, errs []any
	out := sink
	if opts.outVar != "" {
		out = func(v any) { outs = append(outs, v); sink(v) }
	}
	var verbose func(string)
	if opts.verbose {
		verbose = st.verboseLine
	}
	call := func(p map[string]any, in []any) error {
		cl := st.newCall(name, p, in, out, verbose)
		warnAction := strings.ToLower(opts.warningAction)
		cl.warn = func(t string) {
			warns = append(warns, t)
			if warnAction != "silentlycontinue" {
				st.warning(t)
			}
		}
		st.hasInput = hasInput
		err := safeInvoke(c, cl)
		if err == nil {
			return nil
		}
		return st.cmdletFailed(err, c.Name, c, at, &errs, opts.errorAction)
	}
	var err error
	if pipe != nil && hasInput {
		for _, item := range input {
			if cerr := st.check(at); cerr != nil {
				return cerr
			}
			p := make(map[string]any, len(params)+1)
			for k, v := range params {
				p[k] = v
			}
			cv, berr := st.convertParam(c, pipe, item, at)
			if berr == nil {
				p[pipe.Name] = cv
				berr = missing(p)
			}
			if berr != nil {
				var rt *runtimeError
				if errors.As(berr, &rt) {
					if e := st.cmdletFailed(rt.rec, c.Name, c, at, &errs, opts.errorAction); e != nil {
						err = e
						break
					}
				}
				continue
			}
			if err = call(p, []any{item}); err != nil {
				break
			}
		}
	} else {
		if err = missing(params); err != nil {
			return err
		}
		err = call(params, input)
	}
	if opts.outVar != "" {
		st.setVar(opts.outVar, collectList(outs))
	}
	if opts.errorVar != "" {
		st.setVar(opts.errorVar, collectList(errs))
	}
	if opts.warningVar != "" {
		st.setVar(opts.warningVar, collectList(warns))
	}
	return err
}

func collectList(v []any) []any {
	if v == nil {
		return []any{}
	}
	return v
}

// cmdletFailed handles an error a cmdlet returned, by its error action: Stop makes
// it terminating, SilentlyContinue records it, Continue prints it and goes on.
func (st *sessionState) cmdletFailed(err error, command string, c *Cmdlet, at int, errs *[]any, action ...string) error {
	var rt *runtimeError
	if errors.As(err, &rt) {
		return err
	}
	switch err.(type) {
	case breakFlow, returnFlow, exitFlow:
		return err
	}
	if st.ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if cerr := st.check(at); cerr != nil {
			return cerr
		}
	}
	var rec *ErrorRecord
	if !errors.As(err, &rec) {
		rec = &ErrorRecord{Message: err.Error(), Category: "NotSpecified", ErrorID: "System.Exception"}
		if c != nil {
			rec.ErrorID += "," + st.cmdTypeName(c)
		}
	}
	if rec.Command == "" {
		rec.Command = command
	}
	if errs != nil {
		*errs = append(*errs, rec)
	}
	st.recordError(rec)
	st.lastOK = false
	act := strings.ToLower(ToString(st.getVar("ErrorActionPreference")))
	if len(action) > 0 {
		act = strings.ToLower(action[0])
	}
	switch act {
	case "stop":
		return &runtimeError{at: at, rec: rec, stopped: true}
	case "silentlycontinue", "ignore":
		return nil
	}
	st.printError(rec, at, false)
	return nil
}

func (st *sessionState) invokeNative(c *Cmdlet, name string, args []evArg, input []any, sink func(any), at int) error {
	var argv []string
	for _, a := range args {
		if a.param != "" {
			if a.colon && a.hasValue {
				argv = append(argv, a.raw+ToString(a.value))
			} else {
				argv = append(argv, a.raw)
			}
			continue
		}
		for _, v := range toArray(a.value) {
			argv = append(argv, ToString(v))
		}
		if a.value == nil {
			argv = append(argv, "")
		}
	}
	code := 0
	cl := st.newCall(name, map[string]any{}, input, func(v any) { sink(ToString(v)) }, nil)
	cl.Args = argv
	cl.exitCode = &code
	err := safeInvoke(c, cl)
	st.setVar("LASTEXITCODE", code)
	if code != 0 {
		st.lastOK = false
	}
	if err != nil {
		return st.cmdletFailed(err, name, c, at, nil)
	}
	return nil
}

// safeInvoke calls a cmdlet, turning a panic into an error so that one faulty
// lab cmdlet fails its script instead of the whole lab process.
func safeInvoke(c *Cmdlet, cl *Call) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if rt, ok := r.(*runtimeError); ok {
				err = rt
				return
			}
			err = &runtimeError{rec: &ErrorRecord{Message: sprintf("The command '%s' failed inside the lab: %v", c.Name, r),
				Category: "NotSpecified", ErrorID: "CmdletPanicked," + c.Name, Command: c.Name,
				ExceptionType: "System.InvalidOperationException"}}
		}
	}()
	if c.Invoke == nil {
		return Errorf("NotImplemented", "CmdletNotImplemented,"+c.Name, "The command '%s' has no implementation.", c.Name)
	}
	return c.Invoke(cl)
}
