package ps

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// knownType maps the type names scripts use to their .NET full names.
func knownType(name string) (string, bool) {
	n := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(name, "System."), "system."))
	switch n {
	case "string":
		return "System.String", true
	case "int", "int32":
		return "System.Int32", true
	case "long", "int64":
		return "System.Int64", true
	case "bool", "boolean":
		return "System.Boolean", true
	case "datetime":
		return "System.DateTime", true
	case "array", "object[]":
		return "System.Object[]", true
	case "string[]":
		return "System.String[]", true
	case "int[]":
		return "System.Int32[]", true
	case "double", "float", "single", "decimal":
		return "System.Double", true
	case "object", "psobject":
		return "System.Object", true
	case "hashtable", "collections.hashtable":
		return "System.Collections.Hashtable", true
	case "console":
		return "System.Console", true
	case "math":
		return "System.Math", true
	case "environment":
		return "System.Environment", true
	case "scriptblock", "management.automation.scriptblock":
		return "System.Management.Automation.ScriptBlock", true
	case "exception", "management.automation.runtimeexception":
		return "System." + strings.TrimPrefix(name, "System."), true
	}
	return "", false
}

func typeFullName(name string) string {
	if full, ok := knownType(name); ok {
		return full
	}
	return name
}

func typeNotFound(name string, at int) error {
	return rtErr(at, "InvalidOperation", "TypeNotFound", runtimeExType,
		"Unable to find type [%s]: make sure that the assembly containing this type is loaded.", name)
}

func isType(v any, name string) bool {
	full := typeFullName(name)
	switch full {
	case "System.Object":
		return v != nil
	case "System.Object[]":
		_, ok := v.([]any)
		return ok
	case "System.Int64":
		_, ok := v.(int)
		return ok
	}
	if o, ok := v.(*Object); ok {
		return strings.EqualFold(o.TypeName, name)
	}
	return typeName(v) == full
}

// cast applies [type]value.
func (st *sessionState) cast(typ string, v any, at int) (any, error) {
	full, ok := knownType(typ)
	if !ok {
		return nil, typeNotFound(typ, at)
	}
	fail := func(rec *ErrorRecord) error { return &runtimeError{at: at, rec: rec} }
	switch full {
	case "System.String":
		if v == nil {
			return "", nil
		}
		return ToString(v), nil
	case "System.Int32", "System.Int64":
		n, err := toInt(v, full)
		if err != nil {
			return nil, fail(err)
		}
		if full == "System.Int32" && (n > math.MaxInt32 || n < math.MinInt32) {
			return nil, fail(convertError(v, full, "Value was either too large or too small for an Int32."))
		}
		return n, nil
	case "System.Double":
		f, err := toFloat(v)
		if err != nil {
			return nil, fail(err)
		}
		return f, nil
	case "System.Boolean":
		return truthy(v), nil
	case "System.DateTime":
		switch x := v.(type) {
		case time.Time:
			return x, nil
		case string:
			t, err := parseDate(x)
			if err != nil {
				return nil, fail(err)
			}
			return t, nil
		}
		return nil, fail(convertError(v, full, ""))
	case "System.Object[]":
		if v == nil {
			return nil, nil
		}
		if a, ok := v.([]any); ok {
			return a, nil
		}
		return []any{v}, nil
	case "System.String[]":
		var out []any
		for _, e := range toArray(v) {
			out = append(out, ToString(e))
		}
		if out == nil {
			out = []any{}
		}
		return out, nil
	case "System.Int32[]":
		var out []any
		for _, e := range toArray(v) {
			n, err := toInt(e, "System.Int32")
			if err != nil {
				return nil, fail(err)
			}
			out = append(out, n)
		}
		return out, nil
	case "System.Collections.Hashtable":
		if h, ok := v.(*Hashtable); ok {
			return h, nil
		}
		return nil, fail(convertError(v, full, ""))
	case "System.Management.Automation.ScriptBlock":
		if sb, ok := v.(*ScriptBlock); ok {
			return sb, nil
		}
		return nil, fail(convertError(v, full, ""))
	}
	return v, nil
}

// getMember reads a property. Missing properties are $null, as in PowerShell
// without strict mode. Arrays have only their own properties (see the []any case).
func getMember(x any, name string) (any, bool) {
	lname := strings.ToLower(name)
	switch o := x.(type) {
	case nil:
		return nil, false
	case *Object:
		return o.Get(name)
	case *Hashtable:
		if v, ok := o.get(name); ok {
			return v, true
		}
		switch lname {
		case "count":
			return len(o.Keys), true
		case "keys":
			ks := make([]any, len(o.Keys))
			for i, k := range o.Keys {
				ks[i] = k
			}
			return ks, true
		case "values":
			return append([]any{}, o.Values...), true
		}
	case string:
		if lname == "length" {
			return len([]rune(o)), true
		}
	case []any:
		// PowerShell 2.0 has no member enumeration (it came with 3.0): an array has its
		// own properties only, and $array.Name is $null. Scripts meant for Exchange 2010
		// must pipe to ForEach-Object instead, and the lab holds them to that.
		switch lname {
		case "count", "length", "longlength":
			return len(o), true
		case "rank":
			return 1, true
		case "issynchronized", "isfixedsize", "isreadonly":
			return lname == "isfixedsize", true
		}
		return nil, false
	case time.Time:
		switch lname {
		case "year":
			return o.Year(), true
		case "month":
			return int(o.Month()), true
		case "day":
			return o.Day(), true
		case "hour":
			return o.Hour(), true
		case "minute":
			return o.Minute(), true
		case "second":
			return o.Second(), true
		case "millisecond":
			return o.Nanosecond() / 1e6, true
		case "dayofweek":
			return o.Weekday().String(), true
		case "dayofyear":
			return o.YearDay(), true
		case "date":
			y, m, d := o.Date()
			return time.Date(y, m, d, 0, 0, 0, 0, o.Location()), true
		case "kind":
			if o.Location() == time.UTC {
				return "Utc", true
			}
			return "Local", true
		}
	case *ErrorRecord:
		switch lname {
		case "exception":
			ex := o.ExceptionType
			if ex == "" {
				ex = runtimeExType
			}
			return NewObject(ex, "Message", o.Message), true
		case "categoryinfo":
			c := NewObject("System.Management.Automation.ErrorCategoryInfo",
				"Category", string(categoryOf(o)), "Activity", o.Command, "Reason", shortTypeName(exceptionType(o)),
				"TargetName", targetName(o.Target), "TargetType", targetType(o.Target))
			c.Str = categoryInfo(o)
			return c, true
		case "fullyqualifiederrorid":
			return o.ErrorID, true
		case "targetobject":
			return o.Target, true
		case "message":
			return nil, false
		}
	case *ScriptBlock:
		return nil, false
	}
	return nil, false
}

func exceptionType(rec *ErrorRecord) string {
	if rec.ExceptionType != "" {
		return rec.ExceptionType
	}
	return runtimeExType
}

func categoryOf(rec *ErrorRecord) ErrorCategory {
	if rec.Category == "" {
		return "NotSpecified"
	}
	return rec.Category
}

func targetName(t any) string {
	s := ToString(t)
	if r := []rune(s); len(r) > 40 {
		s = string(r[:18]) + "..." + string(r[len(r)-19:])
	}
	return s
}

func targetType(t any) string {
	if t == nil {
		return ""
	}
	return shortTypeName(typeName(t))
}

// categoryInfo is ErrorRecord.CategoryInfo.ToString().
func categoryInfo(rec *ErrorRecord) string {
	return fmt.Sprintf("%s: (%s:%s) [%s], %s", categoryOf(rec), targetName(rec.Target), targetType(rec.Target),
		rec.Command, shortTypeName(exceptionType(rec)))
}

func (st *sessionState) staticMember(x any, name string, at int) (any, error) {
	t, ok := x.(typeRef)
	if !ok {
		return nil, rtErr(at, "InvalidOperation", "StaticMemberOnInstance", runtimeExType, "Static member access needs a type.")
	}
	full := typeFullName(t.name)
	switch strings.ToLower(full + "::" + name) {
	case "system.console::error":
		return consoleWriter{stderr: true}, nil
	case "system.console::out":
		return consoleWriter{}, nil
	case "system.string::empty":
		return "", nil
	case "system.int32::maxvalue":
		return math.MaxInt32, nil
	case "system.int32::minvalue":
		return math.MinInt32, nil
	case "system.datetime::now":
		return st.now(), nil
	case "system.datetime::utcnow":
		return st.now().UTC(), nil
	case "system.environment::newline":
		return "\r\n", nil
	case "system.math::pi":
		return math.Pi, nil
	}
	return nil, nil
}

func (st *sessionState) callStatic(x any, name string, args []any, at int) (any, error) {
	t, ok := x.(typeRef)
	if !ok {
		return nil, rtErr(at, "InvalidOperation", "StaticMemberOnInstance", runtimeExType, "Static member access needs a type.")
	}
	full := typeFullName(t.name)
	lname := strings.ToLower(name)
	argc := func(n int) error {
		if len(args) != n {
			return rtErr(at, "NotSpecified", "MethodCountCouldNotFindBest", runtimeExType,
				"Cannot find an overload for \"%s\" and the argument count: \"%d\".", name, len(args))
		}
		return nil
	}
	num := func(i int) (float64, error) {
		f, err := toFloat(args[i])
		if err != nil {
			return 0, &runtimeError{at: at, rec: err}
		}
		return f, nil
	}
	switch full + "::" + lname {
	case "System.Console::writeline":
		s := ""
		if len(args) > 0 {
			s = ToString(args[0])
		}
		st.writeOut(s)
		return void{}, nil
	case "System.String::join":
		if err := argc(2); err != nil {
			return nil, err
		}
		return joinValues(args[1], ToString(args[0])), nil
	case "System.String::isnullorempty":
		if err := argc(1); err != nil {
			return nil, err
		}
		return ToString(args[0]) == "", nil
	case "System.Math::max", "System.Math::min":
		if err := argc(2); err != nil {
			return nil, err
		}
		a, err := num(0)
		if err != nil {
			return nil, err
		}
		b, err := num(1)
		if err != nil {
			return nil, err
		}
		r := math.Max(a, b)
		if lname == "min" {
			r = math.Min(a, b)
		}
		if isNumber(args[0]) && isNumber(args[1]) {
			_, ai := args[0].(int)
			_, bi := args[1].(int)
			if ai && bi {
				return int(r), nil
			}
		}
		return r, nil
	case "System.Math::abs", "System.Math::floor", "System.Math::ceiling", "System.Math::round", "System.Math::sqrt":
		if len(args) < 1 {
			return nil, argc(1)
		}
		a, err := num(0)
		if err != nil {
			return nil, err
		}
		switch lname {
		case "abs":
			if n, ok := args[0].(int); ok {
				return abs(n), nil
			}
			return math.Abs(a), nil
		case "floor":
			return math.Floor(a), nil
		case "ceiling":
			return math.Ceil(a), nil
		case "sqrt":
			return math.Sqrt(a), nil
		}
		if len(args) == 2 {
			d, err := num(1)
			if err != nil {
				return nil, err
			}
			p := math.Pow(10, d)
			return math.RoundToEven(a*p) / p, nil
		}
		return math.RoundToEven(a), nil
	case "System.DateTime::parse":
		if err := argc(1); err != nil {
			return nil, err
		}
		tm, err := parseDate(ToString(args[0]))
		if err != nil {
			return nil, &runtimeError{at: at, rec: err}
		}
		return tm, nil
	}
	return nil, rtErr(at, "InvalidOperation", "MethodNotFound", runtimeExType,
		"Method invocation failed because [%s] doesn't contain a method named '%s'.", full, name)
}

func (st *sessionState) callMethod(x any, name string, args []any, at int) (any, error) {
	lname := strings.ToLower(name)
	if x == nil {
		return nil, rtErr(at, "InvalidOperation", "InvokeMethodOnNull", runtimeExType, "You cannot call a method on a null-valued expression.")
	}
	argc := func(min, max int) error {
		if len(args) < min || len(args) > max {
			return rtErr(at, "NotSpecified", "MethodCountCouldNotFindBest", runtimeExType,
				"Cannot find an overload for \"%s\" and the argument count: \"%d\".", name, len(args))
		}
		return nil
	}
	str := func(i int) string { return ToString(args[i]) }
	switch o := x.(type) {
	case consoleWriter:
		switch lname {
		case "writeline", "write":
			s := ""
			if len(args) > 0 {
				s = str(0)
			}
			if lname == "write" {
				st.writeRaw(o.stderr, s)
			} else if o.stderr {
				st.writeErr(s)
			} else {
				st.writeOut(s)
			}
			return void{}, nil
		case "flush":
			return void{}, nil
		}
	case string:
		switch lname {
		case "tostring":
			return o, nil
		case "trim", "trimstart", "trimend":
			cut := " \t\r\n"
			if len(args) > 0 {
				cut = joinValues(args, "")
			}
			switch lname {
			case "trimstart":
				return strings.TrimLeft(o, cut), nil
			case "trimend":
				return strings.TrimRight(o, cut), nil
			}
			return strings.Trim(o, cut), nil
		case "tolower", "tolowerinvariant":
			return strings.ToLower(o), nil
		case "toupper", "toupperinvariant":
			return strings.ToUpper(o), nil
		case "startswith", "endswith", "contains":
			if err := argc(1, 2); err != nil {
				return nil, err
			}
			a := str(0)
			switch lname {
			case "startswith":
				return strings.HasPrefix(o, a), nil
			case "endswith":
				return strings.HasSuffix(o, a), nil
			}
			return strings.Contains(o, a), nil
		case "split":
			if err := argc(1, 2); err != nil {
				return nil, err
			}
			seps := str(0)
			// String.Split keeps empty fields between adjacent separators.
			parts := splitKeepEmpty(o, seps)
			out := make([]any, len(parts))
			for i, p := range parts {
				out[i] = p
			}
			return out, nil
		case "replace":
			if err := argc(2, 2); err != nil {
				return nil, err
			}
			if str(0) == "" {
				return nil, rtErr(at, "NotSpecified", "MethodInvocationException", "System.Management.Automation.MethodInvocationException",
					"Exception calling \"Replace\" with \"2\" argument(s): \"String cannot be of zero length.\"")
			}
			if strings.Count(o, str(0))*len(str(1)) > maxStringLen {
				return nil, limitErr(at)
			}
			return strings.ReplaceAll(o, str(0), str(1)), nil
		case "substring":
			if err := argc(1, 2); err != nil {
				return nil, err
			}
			rs := []rune(o)
			a, _ := toInt(args[0], "System.Int32")
			b := len(rs) - a
			if len(args) == 2 {
				b, _ = toInt(args[1], "System.Int32")
			}
			if a < 0 || b < 0 || a+b > len(rs) {
				return nil, rtErr(at, "NotSpecified", "MethodInvocationException", "System.Management.Automation.MethodInvocationException",
					"Exception calling \"Substring\" with \"%d\" argument(s): \"Index and length must refer to a location within the string.\"", len(args))
			}
			return string(rs[a : a+b]), nil
		case "indexof":
			if err := argc(1, 1); err != nil {
				return nil, err
			}
			i := strings.Index(o, str(0))
			if i < 0 {
				return -1, nil
			}
			return len([]rune(o[:i])), nil
		case "padleft", "padright":
			if err := argc(1, 2); err != nil {
				return nil, err
			}
			n, _ := toInt(args[0], "System.Int32")
			if n > maxStringLen {
				return nil, limitErr(at)
			}
			pad := " "
			if len(args) == 2 && str(1) != "" {
				pad = string([]rune(str(1))[0])
			}
			if k := n - len([]rune(o)); k > 0 {
				if lname == "padleft" {
					return strings.Repeat(pad, k) + o, nil
				}
				return o + strings.Repeat(pad, k), nil
			}
			return o, nil
		case "equals":
			if err := argc(1, 1); err != nil {
				return nil, err
			}
			return o == str(0), nil
		case "gettype":
			return typeRef{name: "System.String"}, nil
		}
	case time.Time:
		switch lname {
		case "tostring":
			if len(args) == 0 {
				return dotnetTimeFormat(o, ""), nil
			}
			return dotnetTimeFormat(o, str(0)), nil
		case "touniversaltime":
			return o.UTC(), nil
		case "tolocaltime":
			return o.Local(), nil
		case "adddays", "addhours", "addminutes", "addseconds", "addmilliseconds":
			if err := argc(1, 1); err != nil {
				return nil, err
			}
			f, cerr := toFloat(args[0])
			if cerr != nil {
				return nil, &runtimeError{at: at, rec: cerr}
			}
			unit := map[string]time.Duration{"adddays": 24 * time.Hour, "addhours": time.Hour, "addminutes": time.Minute,
				"addseconds": time.Second, "addmilliseconds": time.Millisecond}[lname]
			return o.Add(time.Duration(f * float64(unit))), nil
		}
	case []any:
		switch lname {
		case "contains":
			if err := argc(1, 1); err != nil {
				return nil, err
			}
			for _, e := range o {
				if equalValues(e, args[0], true) {
					return true, nil
				}
			}
			return false, nil
		case "tostring":
			return "System.Object[]", nil
		}
	case *Hashtable:
		switch lname {
		case "containskey", "contains":
			if err := argc(1, 1); err != nil {
				return nil, err
			}
			_, ok := o.get(args[0])
			return ok, nil
		case "add":
			if err := argc(2, 2); err != nil {
				return nil, err
			}
			if _, ok := o.get(args[0]); ok {
				return nil, rtErr(at, "NotSpecified", "MethodInvocationException", "System.Management.Automation.MethodInvocationException",
					"Exception calling \"Add\" with \"2\" argument(s): \"Item has already been added. Key in dictionary: '%s'  Key being added: '%s'\"", str(0), str(0))
			}
			o.set(args[0], args[1])
			return void{}, nil
		case "remove":
			if err := argc(1, 1); err != nil {
				return nil, err
			}
			k := ToString(args[0])
			for i, hk := range o.Keys {
				if strings.EqualFold(hk, k) {
					o.Keys = append(o.Keys[:i], o.Keys[i+1:]...)
					o.Values = append(o.Values[:i], o.Values[i+1:]...)
					break
				}
			}
			return void{}, nil
		}
	case *ScriptBlock:
		if lname == "invoke" {
			var out []any
			err := st.invokeBlock(o, nil, args, true, func(v any) { out = append(out, v) }, at)
			return collect(out), err
		}
	case int:
		if lname == "tostring" {
			if len(args) == 1 {
				return formatNumber(o, str(0)), nil
			}
			return strconv.Itoa(o), nil
		}
	}
	if lname == "tostring" && len(args) == 0 {
		return dotnetString(x), nil
	}
	if lname == "gettype" && len(args) == 0 {
		return typeRef{name: typeName(x)}, nil
	}
	return nil, &runtimeError{at: at, rec: methodNotFound(x, name)}
}

func splitKeepEmpty(s, seps string) []string {
	if seps == "" {
		return strings.Fields(s)
	}
	set := map[rune]bool{}
	for _, r := range seps {
		set[r] = true
	}
	var out []string
	start := 0
	for i, r := range s {
		if set[r] {
			out = append(out, s[start:i])
			start = i + len(string(r))
		}
	}
	return append(out, s[start:])
}

// formatNumber implements the few .NET numeric format strings scripts use.
func formatNumber(v any, f string) string {
	if f == "" {
		return ToString(v)
	}
	prec := -1
	if len(f) > 1 {
		if n, err := strconv.Atoi(f[1:]); err == nil && n < 100 {
			prec = n
		}
	}
	fv, _ := toFloat(v)
	switch f[0] {
	case 'D', 'd':
		n, _ := toInt(v, "System.Int32")
		if prec < 0 {
			prec = 0
		}
		return fmt.Sprintf("%0*d", prec, n)
	case 'X', 'x':
		n, _ := toInt(v, "System.Int32")
		s := strconv.FormatInt(int64(n), 16)
		if f[0] == 'X' {
			s = strings.ToUpper(s)
		}
		if prec > len(s) {
			s = strings.Repeat("0", prec-len(s)) + s
		}
		return s
	case 'F', 'f':
		if prec < 0 {
			prec = 2
		}
		return strconv.FormatFloat(fv, 'f', prec, 64)
	case 'N', 'n':
		if prec < 0 {
			prec = 2
		}
		s := strconv.FormatFloat(math.Abs(fv), 'f', prec, 64)
		intPart, frac, _ := strings.Cut(s, ".")
		var b strings.Builder
		for i, c := range intPart {
			if i > 0 && (len(intPart)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		out := b.String()
		if frac != "" {
			out += "." + frac
		}
		if fv < 0 {
			out = "-" + out
		}
		return out
	}
	return ToString(v)
}

// formatOperator is -f: {index[,alignment][:format]} with {{ and }} escapes.
func formatOperator(f string, args []any) string {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c == '{' && i+1 < len(f) && f[i+1] == '{' {
			b.WriteByte('{')
			i++
			continue
		}
		if c == '}' && i+1 < len(f) && f[i+1] == '}' {
			b.WriteByte('}')
			i++
			continue
		}
		if c != '{' {
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(f[i:], '}')
		if end < 0 {
			b.WriteString(f[i:])
			break
		}
		spec := f[i+1 : i+end]
		i += end
		spec, format, _ := strings.Cut(spec, ":")
		spec, align, _ := strings.Cut(spec, ",")
		idx, err := strconv.Atoi(strings.TrimSpace(spec))
		if err != nil || idx < 0 || idx >= len(args) {
			continue
		}
		var s string
		switch v := args[idx].(type) {
		case time.Time:
			s = dotnetTimeFormat(v, format)
		case int, float64:
			s = formatNumber(v, format)
		default:
			s = ToString(v)
		}
		if w, err := strconv.Atoi(strings.TrimSpace(align)); err == nil && w > -1000 && w < 1000 {
			if w > 0 {
				s = fmt.Sprintf("%*s", w, s)
			} else {
				s = fmt.Sprintf("%-*s", -w, s)
			}
		}
		b.WriteString(s)
	}
	return b.String()
}
