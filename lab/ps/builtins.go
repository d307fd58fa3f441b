package ps

import (
	"bytes"
	"sort"
	"strings"
	"time"
)

type builtin struct {
	cmd      *Cmdlet
	typeName string
}

func st(c *Call) *sessionState { return c.Session.impl }

// builtinCmdlets are the cmdlets of Microsoft.PowerShell.Utility/Management that
// every session has. They are made per session because they close over nothing
// but the Call they receive.
func builtinCmdlets() []builtin {
	mk := func(name, typ string, inv func(c *Call) error, params ...Param) builtin {
		return builtin{cmd: &Cmdlet{Name: name, Params: params, Invoke: inv}, typeName: "Microsoft.PowerShell.Commands." + typ}
	}
	named := func(n string, k ParamKind, aliases ...string) Param {
		return Param{Name: n, Kind: k, Position: -1, Aliases: aliases}
	}
	pos := func(n string, k ParamKind, p int, mandatory bool) Param {
		return Param{Name: n, Kind: k, Position: p, Mandatory: mandatory}
	}
	return []builtin{
		mk("Select-Object", "SelectObjectCommand", selectObject, pos("Property", KindAny, 0, false),
			named("First", KindInt), named("Last", KindInt), named("Skip", KindInt),
			named("ExpandProperty", KindString), named("Unique", KindSwitch), named("InputObject", KindAny)),
		mk("Where-Object", "WhereObjectCommand", whereObject, pos("FilterScript", KindAny, 0, true), named("InputObject", KindAny)),
		mk("ForEach-Object", "ForEachObjectCommand", forEachObject, pos("Process", KindAny, 0, true),
			named("Begin", KindAny), named("End", KindAny), named("InputObject", KindAny)),
		mk("Sort-Object", "SortObjectCommand", sortObject, pos("Property", KindAny, 0, false),
			named("Descending", KindSwitch), named("Unique", KindSwitch), named("InputObject", KindAny)),
		mk("Measure-Object", "MeasureObjectCommand", measureObject, pos("Property", KindString, 0, false),
			named("Sum", KindSwitch), named("Average", KindSwitch), named("Maximum", KindSwitch), named("Minimum", KindSwitch),
			named("InputObject", KindAny)),
		mk("ConvertTo-Csv", "ConvertToCsvCommand", convertToCsv, named("NoTypeInformation", KindSwitch, "NTI"),
			named("Delimiter", KindString), pos("InputObject", KindAny, 0, false)),
		mk("Write-Output", "WriteOutputCommand", writeOutput, pos("InputObject", KindAny, 0, false)),
		mk("Write-Host", "WriteHostCommand", writeHost, pos("Object", KindAny, 0, false), named("NoNewline", KindSwitch),
			named("Separator", KindAny), named("ForegroundColor", KindString), named("BackgroundColor", KindString)),
		mk("Write-Error", "WriteErrorCommand", writeError, pos("Message", KindString, 0, true),
			named("Category", KindString), named("ErrorId", KindString), named("TargetObject", KindAny)),
		mk("Write-Warning", "WriteWarningCommand", func(c *Call) error { c.Warn(c.String("Message")); return nil },
			pos("Message", KindString, 0, true)),
		mk("Write-Verbose", "WriteVerboseCommand", writeVerbose, pos("Message", KindString, 0, true)),
		mk("Out-Null", "OutNullCommand", func(*Call) error { return nil }, named("InputObject", KindAny)),
		mk("Out-String", "OutStringCommand", outString, named("InputObject", KindAny), named("Width", KindInt), named("Stream", KindSwitch)),
		mk("Join-Path", "JoinPathCommand", joinPath, pos("Path", KindStringArray, 0, true), pos("ChildPath", KindString, 1, true)),
		mk("Start-Sleep", "StartSleepCommand", startSleep, pos("Seconds", KindInt, 0, false), named("Milliseconds", KindInt, "ms")),
		mk("Get-Date", "GetDateCommand", getDate, pos("Date", KindAny, 0, false), named("Format", KindString)),
	}
}

// input is the pipeline input, or -InputObject when given without a pipeline.
func input(c *Call) []any {
	if len(c.Input) == 0 && c.Has("InputObject") {
		return toArray(c.Params["InputObject"])
	}
	return c.Input
}

func scriptBlockParam(c *Call, name string) (*ScriptBlock, error) {
	sb, ok := c.Params[name].(*ScriptBlock)
	if !ok {
		return nil, Errorf("InvalidArgument", "CannotConvertArgumentNoMessage", "Cannot bind parameter '%s'. Cannot convert the \"%s\" value of type \"%s\" to type \"System.Management.Automation.ScriptBlock\".",
			name, ToString(c.Params[name]), typeName(c.Params[name]))
	}
	return sb, nil
}

func whereObject(c *Call) error {
	sb, err := scriptBlockParam(c, "FilterScript")
	if err != nil {
		return err
	}
	s := st(c)
	for _, item := range input(c) {
		if err := s.check(0); err != nil {
			return err
		}
		v, err := s.blockValue(sb, item, 0)
		if err != nil {
			return err
		}
		if truthy(v) {
			c.Write(item)
		}
	}
	return nil
}

func forEachObject(c *Call) error {
	s := st(c)
	run := func(name string, item any) error {
		if !c.Has(name) {
			return nil
		}
		sb, err := scriptBlockParam(c, name)
		if err != nil {
			return err
		}
		return s.invokeBlock(sb, item, nil, false, c.Write, 0)
	}
	if err := run("Begin", nil); err != nil {
		return err
	}
	items := input(c)
	if len(items) == 0 && !s.hasInput {
		items = []any{nil}
	}
	for _, item := range items {
		if err := s.check(0); err != nil {
			return err
		}
		if err := run("Process", item); err != nil {
			return err
		}
	}
	return run("End", nil)
}

// propertiesOf lists the properties a value shows to Select-Object and ConvertTo-Csv.
func propertiesOf(v any) []Property {
	switch x := v.(type) {
	case *Object:
		return x.Props()
	case string:
		return []Property{{Name: "Length", Value: len([]rune(x))}}
	case *Hashtable:
		keys, _ := getMember(x, "Keys")
		vals, _ := getMember(x, "Values")
		return []Property{{"IsReadOnly", false}, {"IsFixedSize", false}, {"IsSynchronized", false},
			{"Keys", keys}, {"Values", vals}, {"SyncRoot", x}, {"Count", len(x.Keys)}}
	case *ErrorRecord:
		var props []Property
		for _, n := range []string{"Exception", "TargetObject", "CategoryInfo", "FullyQualifiedErrorId"} {
			v, _ := getMember(x, n)
			props = append(props, Property{n, v})
		}
		return props
	}
	return nil
}

func selectObject(c *Call) error {
	s := st(c)
	items := input(c)
	if c.Switch("Unique") {
		var uniq []any
		seen := map[string]bool{}
		for _, it := range items {
			key := typeName(it) + "\x00" + ToString(it)
			if !seen[key] {
				seen[key] = true
				uniq = append(uniq, it)
			}
		}
		items = uniq
	}
	if n := c.Int("Skip", 0); n > 0 {
		items = items[min(n, len(items)):]
	}
	if c.Has("First") || c.Has("Last") {
		var sel []any
		if n := c.Int("First", 0); c.Has("First") && n > 0 {
			sel = append(sel, items[:min(n, len(items))]...)
		}
		if n := c.Int("Last", 0); c.Has("Last") && n > 0 {
			sel = append(sel, items[len(items)-min(n, len(items)):]...)
		}
		items = sel
	}
	if c.Has("ExpandProperty") {
		name := c.String("ExpandProperty")
		for _, it := range items {
			v, ok := getMember(it, name)
			if !ok {
				{
					err := Errorf("InvalidArgument", "ExpandPropertyNotFound,Microsoft.PowerShell.Commands.SelectObjectCommand",
						"Cannot process argument because the value of argument \"name\" is invalid. Change the value of the \"name\" argument and run the operation again.")
					if e := s.cmdletFailed(err, "Select-Object", nil, 0, nil); e != nil {
						return e
					}
					continue
				}
			}
			c.Write(v)
		}
		return nil
	}
	if !c.Has("Property") {
		for _, it := range items {
			c.Write(it)
		}
		return nil
	}
	specs := toArray(c.Params["Property"])
	for _, it := range items {
		if err := s.check(0); err != nil {
			return err
		}
		o := &Object{TypeName: "Selected." + typeName(it)}
		for _, spec := range specs {
			switch sp := spec.(type) {
			case *Hashtable:
				name, value, err := s.calculated(sp, it)
				if err != nil {
					return err
				}
				o.Set(name, value)
			default:
				pat := ToString(spec)
				if strings.ContainsAny(pat, "*?[") {
					for _, p := range propertiesOf(it) {
						if wildcardMatch(pat, p.Name, false) {
							o.Set(p.Name, p.Value)
						}
					}
					continue
				}
				v, _ := getMember(it, pat)
				o.Set(pat, v)
			}
		}
		c.Write(o)
	}
	return nil
}

// calculated evaluates a calculated property @{Name=...; Expression=...}; keys
// may be abbreviated, as in PowerShell.
func (s *sessionState) calculated(h *Hashtable, it any) (string, any, error) {
	var name string
	var exprV any
	hasExpr := false
	for i, k := range h.Keys {
		lk := strings.ToLower(k)
		switch {
		case lk != "" && (strings.HasPrefix("name", lk) || strings.HasPrefix("label", lk)):
			name = ToString(h.Values[i])
		case lk != "" && strings.HasPrefix("expression", lk):
			exprV, hasExpr = h.Values[i], true
		default:
			return "", nil, Errorf("InvalidArgument", "IllegalKey,Microsoft.PowerShell.Commands.SelectObjectCommand",
				"Illegal key %s", k)
		}
	}
	if !hasExpr {
		return "", nil, Errorf("InvalidArgument", "MissingExpression,Microsoft.PowerShell.Commands.SelectObjectCommand",
			"Missing an Expression key in the calculated property.")
	}
	switch e := exprV.(type) {
	case *ScriptBlock:
		if name == "" {
			name = e.Text
		}
		v, err := s.blockValue(e, it, 0)
		return name, v, err
	default:
		pn := ToString(e)
		if name == "" {
			name = pn
		}
		v, _ := getMember(it, pn)
		return name, v, nil
	}
}

func sortObject(c *Call) error {
	s := st(c)
	items := append([]any(nil), input(c)...)
	var keys []any
	if c.Has("Property") {
		keys = toArray(c.Params["Property"])
	}
	var firstErr error
	keyOf := func(it any) []any {
		if len(keys) == 0 {
			return []any{it}
		}
		out := make([]any, len(keys))
		for i, k := range keys {
			switch kk := k.(type) {
			case *ScriptBlock:
				v, err := s.blockValue(kk, it, 0)
				if err != nil && firstErr == nil {
					firstErr = err
				}
				out[i] = v
			case *Hashtable:
				_, v, err := s.calculated(kk, it)
				if err != nil && firstErr == nil {
					firstErr = err
				}
				out[i] = v
			default:
				out[i], _ = getMember(it, ToString(k))
			}
		}
		return out
	}
	type keyed struct {
		item any
		key  []any
	}
	ks := make([]keyed, len(items))
	for i, it := range items {
		ks[i] = keyed{it, keyOf(it)}
	}
	if firstErr != nil {
		return firstErr
	}
	cmp := func(a, b []any) int {
		for i := range a {
			c, ok := compareValues(a[i], b[i], false)
			if !ok {
				c = strings.Compare(strings.ToLower(ToString(a[i])), strings.ToLower(ToString(b[i])))
			}
			if c != 0 {
				return c
			}
		}
		return 0
	}
	desc := c.Switch("Descending")
	sorted := stableSort(ks, func(a, b keyed) bool {
		r := cmp(a.key, b.key)
		if desc {
			return r > 0
		}
		return r < 0
	})
	var last []any
	for i, k := range sorted {
		if c.Switch("Unique") && i > 0 && cmp(last, k.key) == 0 {
			continue
		}
		last = k.key
		c.Write(k.item)
	}
	return nil
}

// stableSort keeps equal elements in input order, as Sort-Object does.
func stableSort[T any](xs []T, less func(a, b T) bool) []T {
	out := append([]T(nil), xs...)
	sort.SliceStable(out, func(i, j int) bool { return less(out[i], out[j]) })
	return out
}

func measureObject(c *Call) error {
	items := input(c)
	o := NewObject("Microsoft.PowerShell.Commands.GenericMeasureInfo", "Count", len(items),
		"Average", nil, "Sum", nil, "Maximum", nil, "Minimum", nil, "Property", nil)
	if c.Has("Property") {
		o.Set("Property", c.String("Property"))
	}
	if !(c.Switch("Sum") || c.Switch("Average") || c.Switch("Maximum") || c.Switch("Minimum")) {
		c.Write(o)
		return nil
	}
	var sum float64
	var mx, mn any
	for _, it := range items {
		v := it
		if c.Has("Property") {
			v, _ = getMember(it, c.String("Property"))
		}
		f, err := toFloat(v)
		if err != nil {
			return err
		}
		sum += f
		if mx == nil || f > mx.(float64) {
			mx = f
		}
		if mn == nil || f < mn.(float64) {
			mn = f
		}
	}
	if c.Switch("Sum") {
		o.Set("Sum", normNum(sum))
	}
	if c.Switch("Average") && len(items) > 0 {
		o.Set("Average", normNum(sum/float64(len(items))))
	}
	if c.Switch("Maximum") && mx != nil {
		o.Set("Maximum", normNum(mx.(float64)))
	}
	if c.Switch("Minimum") && mn != nil {
		o.Set("Minimum", normNum(mn.(float64)))
	}
	c.Write(o)
	return nil
}

// convertToCsv follows PowerShell 2.0: every field quoted with " doubled, $null
// written as nothing, the header from the first object's properties.
func convertToCsv(c *Call) error {
	items := input(c)
	if len(items) == 0 {
		return nil
	}
	delim := ","
	if d := c.String("Delimiter"); d != "" {
		delim = d[:1]
	}
	quote := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	props := propertiesOf(items[0])
	names := make([]string, len(props))
	for i, p := range props {
		names[i] = p.Name
	}
	if !c.Switch("NoTypeInformation") {
		c.Write("#TYPE " + typeName(items[0]))
	}
	hdr := make([]string, len(names))
	for i, n := range names {
		hdr[i] = quote(n)
	}
	c.Write(strings.Join(hdr, delim))
	for _, it := range items {
		own := propertiesOf(it)
		fields := make([]string, len(names))
		for i, n := range names {
			for _, p := range own {
				if strings.EqualFold(p.Name, n) {
					if p.Value != nil {
						fields[i] = quote(dotnetString(p.Value))
					}
					break
				}
			}
		}
		c.Write(strings.Join(fields, delim))
	}
	return nil
}

func writeOutput(c *Call) error {
	for _, v := range toArray(c.Params["InputObject"]) {
		c.Write(v)
	}
	if !c.Has("InputObject") {
		for _, v := range c.Input {
			c.Write(v)
		}
	}
	return nil
}

func writeHost(c *Call) error {
	sep := " "
	if c.Has("Separator") {
		sep = ToString(c.Params["Separator"])
	}
	var parts []string
	objs := toArray(c.Params["Object"])
	if !c.Has("Object") {
		objs = c.Input
	}
	for _, v := range objs {
		for _, e := range toArray(v) {
			parts = append(parts, ToString(e))
		}
		if v == nil {
			parts = append(parts, "")
		}
	}
	text := strings.Join(parts, sep)
	s := st(c)
	if c.Switch("NoNewline") {
		s.writeRaw(false, text)
	} else {
		s.writeOut(text)
	}
	return nil
}

func writeError(c *Call) error {
	cat := ErrorCategory(c.String("Category"))
	if cat == "" {
		cat = "NotSpecified"
	}
	id := c.String("ErrorId")
	if id == "" {
		id = "Microsoft.PowerShell.Commands.WriteErrorException"
	}
	return &ErrorRecord{Message: c.String("Message"), Category: cat, ErrorID: id, Target: c.Params["TargetObject"],
		Command: "Write-Error", ExceptionType: "Microsoft.PowerShell.Commands.WriteErrorException"}
}

func writeVerbose(c *Call) error {
	c.Verbose(c.String("Message"))
	return nil
}

func outString(c *Call) error {
	s := st(c)
	var buf bytes.Buffer
	f := newFormatter(s, &buf)
	for _, v := range c.Input {
		f.add(v)
	}
	f.flush()
	c.Write(buf.String())
	return nil
}

// joinPath joins with one backslash between the parts, whatever the parts end
// or start with, as the FileSystem provider does.
func joinPath(c *Call) error {
	child := c.String("ChildPath")
	for _, p := range c.Strings("Path") {
		p = strings.TrimRight(p, `\/`)
		ch := strings.TrimLeft(child, `\/`)
		c.Write(p + `\` + ch)
	}
	return nil
}

func startSleep(c *Call) error {
	d := time.Duration(c.Int("Seconds", 0)) * time.Second
	if c.Has("Milliseconds") {
		d = time.Duration(c.Int("Milliseconds", 0)) * time.Millisecond
	}
	s := st(c)
	if cfg := c.Session.cfg; cfg.Sleep != nil {
		if err := cfg.Sleep(c.Ctx, d); err != nil {
			return s.check(0)
		}
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-c.Ctx.Done():
		return s.check(0)
	}
}

func getDate(c *Call) error {
	t := st(c).now()
	if c.Has("Date") {
		switch d := c.Params["Date"].(type) {
		case time.Time:
			t = d
		default:
			var err *ErrorRecord
			if t, err = parseDate(ToString(d)); err != nil {
				return Errorf("InvalidArgument", "CannotConvertArgumentNoMessage,Microsoft.PowerShell.Commands.GetDateCommand",
					"Cannot bind parameter 'Date'. %s", err.Message)
			}
		}
	}
	if c.Has("Format") {
		c.Write(dotnetTimeFormat(t, c.String("Format")))
		return nil
	}
	c.Write(t)
	return nil
}
