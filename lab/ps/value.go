package ps

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// void is what a statement that produces nothing (a method returning void, an
// assignment) evaluates to; pipelines drop it, unlike $null which is an object.
type void struct{}

// typeRef is a type literal such as [Console] or [string], the target of :: access.
type typeRef struct{ name string }

// consoleWriter is [Console]::Error or [Console]::Out.
type consoleWriter struct{ stderr bool }

func sprintf(format string, args ...any) string {
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}

// invariantTime is how PowerShell converts a DateTime to string ([string]$d, "$d"):
// with the invariant culture, whatever the machine's culture.
const invariantTime = "01/02/2006 15:04:05"

// ToString converts a value the way PowerShell's [string] cast does: $null is "",
// booleans are True/False, arrays are their elements joined by a space, dates use
// the invariant culture (MM/dd/yyyy HH:mm:ss), objects their ToString().
func ToString(v any) string {
	work := maxWork
	return toString(v, 0, &work)
}

// maxWork bounds how many elements one conversion or walk may visit: arrays can
// share themselves, so a small value can stand for an enormous one.
const maxWork = 1 << 22

// maxDepth bounds recursion into nested arrays, which may contain themselves.
const maxDepth = 16

func toString(v any, depth int, work *int) string {
	switch x := v.(type) {
	case nil, void:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int:
		return strconv.Itoa(x)
	case float64:
		return formatFloat(x)
	case time.Time:
		return x.Format(invariantTime)
	case []any:
		if depth >= maxDepth {
			return "System.Object[]"
		}
		var b strings.Builder
		for i, e := range x {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(toString(e, depth+1, work))
			// Past the limit the caller reports the value as too large; stop building it.
			if *work--; b.Len() > maxStringLen || *work <= 0 {
				break
			}
		}
		return b.String()
	case *Object:
		return x.String()
	case Enum:
		return x.Name
	case *Hashtable:
		return "System.Collections.Hashtable"
	case *ScriptBlock:
		return x.Text
	case *ErrorRecord:
		return x.Message
	case typeRef:
		return typeFullName(x.name)
	case consoleWriter:
		return "System.IO.TextWriter"
	}
	return fmt.Sprint(v)
}

// dotnetString is .NET's Object.ToString(), which differs from PowerShell's
// conversion for arrays and tables; ConvertTo-Csv uses it.
func dotnetString(v any) string {
	switch v.(type) {
	case []any:
		return "System.Object[]"
	}
	return ToString(v)
}

func formatFloat(f float64) string {
	if math.IsInf(f, 1) {
		return "Infinity"
	}
	if math.IsInf(f, -1) {
		return "-Infinity"
	}
	if math.IsNaN(f) {
		return "NaN"
	}
	s := strconv.FormatFloat(f, 'G', 15, 64)
	if strings.Contains(s, "E") {
		// .NET writes 1E+20, Go 1E+20 too, but pads the exponent differently; keep Go's digits.
		mant, exp, _ := strings.Cut(s, "E")
		sign := exp[0]
		exp = strings.TrimLeft(exp[1:], "0")
		if len(exp) < 2 {
			exp = strings.Repeat("0", 2-len(exp)) + exp
		}
		return mant + "E" + string(sign) + exp
	}
	return s
}

// typeName is the .NET type name of a value, for #TYPE lines, -is and error texts.
func typeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "System.String"
	case bool:
		return "System.Boolean"
	case int:
		return "System.Int32"
	case float64:
		return "System.Double"
	case time.Time:
		return "System.DateTime"
	case []any:
		return "System.Object[]"
	case *Object:
		return x.TypeName
	case Enum:
		return x.Type
	case *Hashtable:
		return "System.Collections.Hashtable"
	case *ScriptBlock:
		return "System.Management.Automation.ScriptBlock"
	case *ErrorRecord:
		return "System.Management.Automation.ErrorRecord"
	case typeRef:
		return "System.RuntimeType"
	}
	return "System.Object"
}

// shortTypeName is the last dotted component, as CategoryInfo shows it.
func shortTypeName(full string) string {
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		return full[i+1:]
	}
	return full
}

// truthy is PowerShell's conversion to bool.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil, void:
		return false
	case bool:
		return x
	case int:
		return x != 0
	case float64:
		return x != 0
	case string:
		return x != ""
	case []any:
		switch len(x) {
		case 0:
			return false
		case 1:
			return truthy(x[0])
		}
		return true
	}
	return true
}

// convertError is a failed conversion; PowerShell reports it as a RuntimeException.
func convertError(v any, target string, detail string) *ErrorRecord {
	var msg string
	switch v.(type) {
	case string, int, float64, bool:
		msg = fmt.Sprintf("Cannot convert value \"%s\" to type \"%s\". Error: \"%s\"", ToString(v), target, detail)
	default:
		msg = fmt.Sprintf("Cannot convert the \"%s\" value of type \"%s\" to type \"%s\".", ToString(v), typeName(v), target)
	}
	return &ErrorRecord{Message: msg, Category: "NotSpecified", ErrorID: "RuntimeException",
		ExceptionType: "System.Management.Automation.RuntimeException"}
}

const badFormat = "Input string was not in a correct format."

// toInt converts like [int]: numbers round half to even as .NET does, strings parse.
func toInt(v any, target string) (int, *ErrorRecord) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case int:
		return x, nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > 9.2e18 {
			return 0, convertError(v, target, "Value was either too large or too small for an Int32.")
		}
		return int(math.RoundToEven(x)), nil
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return 0, nil
		}
		if n, ok := parseNumber(s); ok {
			return toInt(n, target)
		}
		return 0, convertError(v, target, badFormat)
	case []any:
		if len(x) == 1 {
			return toInt(x[0], target)
		}
	}
	return 0, convertError(v, target, "")
}

func toFloat(v any) (float64, *ErrorRecord) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case int:
		return float64(x), nil
	case float64:
		return x, nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return 0, nil
		}
		if n, ok := parseNumber(s); ok {
			return toFloat(n)
		}
		return 0, convertError(v, "System.Double", badFormat)
	case []any:
		if len(x) == 1 {
			return toFloat(x[0])
		}
	}
	return 0, convertError(v, "System.Double", "")
}

// parseNumber reads a PowerShell numeric literal: decimal or 0x hex integers,
// decimals with exponent, an optional KB/MB/GB/TB/PB multiplier, and a sign.
func parseNumber(s string) (any, bool) {
	if s == "" {
		return nil, false
	}
	neg := false
	switch s[0] {
	case '-':
		neg, s = true, s[1:]
	case '+':
		s = s[1:]
	}
	mult := 1
	if len(s) > 2 {
		switch strings.ToLower(s[len(s)-2:]) {
		case "kb":
			mult = 1 << 10
		case "mb":
			mult = 1 << 20
		case "gb":
			mult = 1 << 30
		case "tb":
			mult = 1 << 40
		case "pb":
			mult = 1 << 50
		}
		if mult != 1 {
			s = s[:len(s)-2]
		}
	}
	if s == "" {
		return nil, false
	}
	var v any
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		n, err := strconv.ParseUint(s[2:], 16, 64)
		if err != nil {
			return nil, false
		}
		v = int(n)
	} else {
		for _, c := range s {
			if !(c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
				return nil, false
			}
		}
		if s[0] < '0' || s[0] > '9' {
			if !(s[0] == '.' && len(s) > 1 && s[1] >= '0' && s[1] <= '9') {
				return nil, false
			}
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			v = int(n)
		} else if f, err := strconv.ParseFloat(s, 64); err == nil {
			v = f
		} else {
			return nil, false
		}
	}
	switch n := v.(type) {
	case int:
		if neg {
			n = -n
		}
		return n * mult, true
	case float64:
		if neg {
			n = -n
		}
		return n * float64(mult), true
	}
	return nil, false
}

// toArray enumerates a value as PowerShell does for pipelines and foreach:
// arrays by element, $null as nothing, anything else as itself.
func toArray(v any) []any {
	switch x := v.(type) {
	case nil, void:
		return nil
	case []any:
		return x
	}
	return []any{v}
}

// collect turns pipeline output into the value a variable receives.
func collect(out []any) any {
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return out
}

func isNumber(v any) bool {
	switch v.(type) {
	case int, float64:
		return true
	}
	return false
}

// compareValues orders a and b as PowerShell does: the right side is converted to
// the left side's type. ok is false when they cannot be ordered.
func compareValues(a, b any, caseSensitive bool) (int, bool) {
	switch x := a.(type) {
	case nil:
		if b == nil {
			return 0, true
		}
		return -1, true
	case int, float64:
		fa, _ := toFloat(x)
		fb, err := toFloat(b)
		if err != nil {
			return 0, false
		}
		switch {
		case fa < fb:
			return -1, true
		case fa > fb:
			return 1, true
		}
		return 0, true
	case bool:
		xb, yb := x, truthy(b)
		switch {
		case xb == yb:
			return 0, true
		case !xb:
			return -1, true
		}
		return 1, true
	case time.Time:
		var t time.Time
		switch y := b.(type) {
		case time.Time:
			t = y
		case string:
			var err *ErrorRecord
			if t, err = parseDate(y); err != nil {
				return 0, false
			}
		default:
			return 0, false
		}
		return x.Compare(t), true
	case string:
		if b == nil {
			return 1, true
		}
		y := ToString(b)
		if caseSensitive {
			return strings.Compare(x, y), true
		}
		return strings.Compare(strings.ToLower(x), strings.ToLower(y)), true
	}
	if b == nil {
		return 1, true
	}
	if o, ok := a.(*Object); ok {
		if o2, ok := b.(*Object); ok && o == o2 {
			return 0, true
		}
	}
	sa, sb := ToString(a), ToString(b)
	if !caseSensitive {
		sa, sb = strings.ToLower(sa), strings.ToLower(sb)
	}
	return strings.Compare(sa, sb), true
}

// equalValues is -eq for scalars.
func equalValues(a, b any, caseSensitive bool) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	switch a.(type) {
	case *Object, *Hashtable, *ScriptBlock, *ErrorRecord, []any:
		return a == b || sameRef(a, b)
	}
	c, ok := compareValues(a, b, caseSensitive)
	return ok && c == 0
}

func sameRef(a, b any) bool {
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		return ok && len(x) == len(y) && len(x) > 0 && &x[0] == &y[0]
	}
	return false
}

// Hashtable helpers.

func (h *Hashtable) get(key any) (any, bool) {
	k := ToString(key)
	for i, hk := range h.Keys {
		if strings.EqualFold(hk, k) {
			return h.Values[i], true
		}
	}
	return nil, false
}

func (h *Hashtable) set(key any, v any) {
	k := ToString(key)
	for i, hk := range h.Keys {
		if strings.EqualFold(hk, k) {
			h.Values[i] = v
			return
		}
	}
	h.Keys = append(h.Keys, k)
	h.Values = append(h.Values, v)
}

// parseDate accepts the forms [datetime] takes from scripts: invariant-culture
// dates, ISO 8601 and RFC 3339.
func parseDate(s string) (time.Time, *ErrorRecord) {
	s = strings.TrimSpace(s)
	layouts := []string{
		time.RFC3339Nano, "2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05", "2006-01-02 15:04:05",
		"2006-01-02", "01/02/2006 15:04:05", "1/2/2006 15:04:05", "1/2/2006 3:04:05 PM", "01/02/2006",
		"1/2/2006", "2006-01-02T15:04",
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, convertError(s, "System.DateTime", "String was not recognized as a valid DateTime.")
}

// dotnetTimeFormat formats a time with a .NET standard or custom format string,
// as DateTime.ToString(format) does in the en-US culture.
func dotnetTimeFormat(t time.Time, f string) string {
	switch f {
	case "":
		return t.Format("1/2/2006 3:04:05 PM")
	case "o", "O":
		s := t.Format("2006-01-02T15:04:05.0000000")
		if t.Location() == time.UTC {
			return s + "Z"
		}
		return s + t.Format("-07:00")
	case "s":
		return t.Format("2006-01-02T15:04:05")
	case "u":
		return t.Format("2006-01-02 15:04:05Z")
	case "d":
		return t.Format("1/2/2006")
	case "D":
		return t.Format("Monday, January 2, 2006")
	case "t":
		return t.Format("3:04 PM")
	case "T":
		return t.Format("3:04:05 PM")
	case "g":
		return t.Format("1/2/2006 3:04 PM")
	case "G":
		return t.Format("1/2/2006 3:04:05 PM")
	case "f":
		return t.Format("Monday, January 2, 2006 3:04 PM")
	case "F":
		return t.Format("Monday, January 2, 2006 3:04:05 PM")
	}
	var b strings.Builder
	rs := []rune(f)
	for i := 0; i < len(rs); {
		c := rs[i]
		n := 1
		for i+n < len(rs) && rs[i+n] == c {
			n++
		}
		switch c {
		case 'y':
			if n <= 2 {
				fmt.Fprintf(&b, "%02d", t.Year()%100)
			} else {
				fmt.Fprintf(&b, "%0*d", n, t.Year())
			}
		case 'M':
			switch n {
			case 1:
				fmt.Fprintf(&b, "%d", t.Month())
			case 2:
				fmt.Fprintf(&b, "%02d", t.Month())
			case 3:
				b.WriteString(t.Month().String()[:3])
			default:
				b.WriteString(t.Month().String())
			}
		case 'd':
			switch n {
			case 1:
				fmt.Fprintf(&b, "%d", t.Day())
			case 2:
				fmt.Fprintf(&b, "%02d", t.Day())
			case 3:
				b.WriteString(t.Weekday().String()[:3])
			default:
				b.WriteString(t.Weekday().String())
			}
		case 'H':
			fmt.Fprintf(&b, "%0*d", min(n, 2), t.Hour())
		case 'h':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			fmt.Fprintf(&b, "%0*d", min(n, 2), h)
		case 'm':
			fmt.Fprintf(&b, "%0*d", min(n, 2), t.Minute())
		case 's':
			fmt.Fprintf(&b, "%0*d", min(n, 2), t.Second())
		case 'f', 'F':
			frac := fmt.Sprintf("%09d", t.Nanosecond())
			if n > 7 {
				n = 7
			}
			b.WriteString(frac[:n])
		case 't':
			ampm := "AM"
			if t.Hour() >= 12 {
				ampm = "PM"
			}
			b.WriteString(ampm[:min(n, 2)])
		case 'z':
			_, off := t.Zone()
			sign := '+'
			if off < 0 {
				sign, off = '-', -off
			}
			switch n {
			case 1:
				fmt.Fprintf(&b, "%c%d", sign, off/3600)
			case 2:
				fmt.Fprintf(&b, "%c%02d", sign, off/3600)
			default:
				fmt.Fprintf(&b, "%c%02d:%02d", sign, off/3600, off%3600/60)
			}
		case 'K':
			if t.Location() == time.UTC {
				b.WriteByte('Z')
			} else {
				b.WriteString(t.Format("-07:00"))
			}
		case '\'', '"':
			j := i + 1
			for j < len(rs) && rs[j] != c {
				j++
			}
			b.WriteString(string(rs[i+1 : min(j, len(rs))]))
			i = j + 1
			continue
		case '\\':
			if i+1 < len(rs) {
				b.WriteRune(rs[i+1])
			}
			i += 2
			continue
		default:
			b.WriteString(strings.Repeat(string(c), n))
		}
		i += n
	}
	return b.String()
}
