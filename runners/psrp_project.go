package runners

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/exchops/exchops/commands"
)

// What the runner keeps of the objects an Exchange call returns is decided here, in Go,
// because the NoLanguage endpoint has no Select-Object with calculated properties. The
// rows have the shapes the old scripts' CSV sections had (commands/ps.go's column
// notation), so everything that reads the tables is unchanged.

// valueText is a deserialised value as PowerShell's [string] cast would show it: an
// object's ToString when the server sent one (enums, ADObjectId, KeyValuePair
// "[EX10-MB01, 1]", ByteQuantifiedSize), otherwise its primitive.
func valueText(v any) string { return textAt(v, 0) }

// maxTextDepth bounds how deep a value's text looks: a <Ref> can make an object contain
// itself.
const maxTextDepth = 8

func textAt(v any, depth int) string {
	if depth > maxTextDepth {
		return ""
	}
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		if x {
			return "True"
		}
		return "False"
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case time.Time:
		return isoUTC(x)
	case timeSpan:
		return timeSpanText(time.Duration(x))
	case []byte:
		return string(x)
	case *psObject:
		switch {
		case x.hasStr:
			return x.toString
		case x.value != nil:
			return textAt(x.value, depth+1)
		case x.kind == objList:
			return joinAt(x, depth+1)
		}
		return ""
	}
	return fmt.Sprint(v)
}

// joinElements is the text of a multi-valued property: its elements' text joined with ';'.
func joinElements(v any) string { return joinAt(v, 0) }

func joinAt(v any, depth int) string {
	o, ok := v.(*psObject)
	if !ok || o.kind != objList {
		return textAt(v, depth)
	}
	parts := make([]string, len(o.list))
	for i, e := range o.list {
		parts[i] = textAt(e, depth+1)
	}
	return strings.Join(parts, ";")
}

// isoUTC is .NET's round-trip format of a UTC time: 2010-11-19T09:47:24.1234567Z.
func isoUTC(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.0000000Z")
}

// timeSpanText is TimeSpan.ToString(): [-][d.]hh:mm:ss[.fffffff].
func timeSpanText(d time.Duration) string {
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	if days > 0 {
		fmt.Fprintf(&b, "%d.", days)
	}
	h, m, s := d/time.Hour, (d%time.Hour)/time.Minute, (d%time.Minute)/time.Second
	fmt.Fprintf(&b, "%02d:%02d:%02d", h, m, s)
	if frac := d % time.Second; frac != 0 {
		fmt.Fprintf(&b, ".%07d", frac/100)
	}
	return b.String()
}

// intText is what [int] made of a value: a whole number, "0" for null, "" when it is not
// a number at all.
func intText(v any) string { return intAt(v, 0) }

func intAt(v any, depth int) string {
	if depth > maxTextDepth {
		return ""
	}
	switch x := v.(type) {
	case nil:
		return "0"
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		if x {
			return "1"
		}
		return "0"
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return ""
		}
		return strconv.FormatFloat(math.RoundToEven(x), 'f', 0, 64)
	case *psObject:
		if x.value != nil {
			return intAt(x.value, depth+1)
		}
		if !x.hasStr {
			return ""
		}
		return intAt(x.toString, depth+1)
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return "0"
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return strconv.FormatInt(n, 10)
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return intAt(f, depth+1)
		}
	}
	return ""
}

// dateText is a date as UTC ISO 8601, "" when unset.
func dateText(v any) string { return dateAt(v, 0) }

func dateAt(v any, depth int) string {
	if depth > maxTextDepth {
		return ""
	}
	switch x := v.(type) {
	case time.Time:
		if x.IsZero() {
			return ""
		}
		return isoUTC(x)
	case *psObject:
		if x.value != nil {
			return dateAt(x.value, depth+1)
		}
	case string:
		if t, err := parseDateTime(strings.TrimSpace(x)); err == nil {
			return isoUTC(t)
		}
	}
	return ""
}

// column splits a column of the notation into its kind and the property name.
func column(c string) (kind byte, name string) {
	if c != "" && strings.ContainsRune("#*@", rune(c[0])) {
		return c[0], c[1:]
	}
	return 0, c
}

// cell is one column of one object.
func cell(obj any, c string) (name, text string) {
	kind, name := column(c)
	v := propPath(obj, name)
	switch kind {
	case '#':
		return name, intText(v)
	case '*':
		return name, joinElements(v)
	case '@':
		return name, dateText(v)
	}
	return name, valueText(v)
}

// propPath is the value of a property, or with "A.B" of property B of property A's
// object (a property whose own name holds the dot wins): how a column reaches a value
// inside an object whose text is for people, such as Test-ReplicationHealth's
// Result.Value, the enum behind a localised "*FAILED*".
func propPath(obj any, name string) any {
	o, ok := obj.(*psObject)
	if !ok {
		return nil
	}
	if v, ok := o.prop(name); ok {
		return v
	}
	first, rest, dotted := strings.Cut(name, ".")
	if !dotted || first == "" || rest == "" {
		return nil
	}
	v, _ := o.prop(first)
	return propPath(v, rest)
}

// project turns a call's output objects into its section: the rows of Columns, of the
// objects Where keeps.
func project(call commands.Call, objs []any) Section {
	sec := Section{Name: call.Section, Rows: []map[string]string{}}
	for _, c := range call.Columns {
		_, name := column(c)
		sec.Columns = append(sec.Columns, name)
	}
	for _, obj := range objs {
		if call.Where != nil {
			_, text := cell(obj, call.Where.Column)
			if call.Where.Column != "" && !call.Where.Row(map[string]string{call.Where.Column: text}) {
				continue
			}
		}
		row := make(map[string]string, len(call.Columns))
		for _, c := range call.Columns {
			name, text := cell(obj, c)
			row[name] = text
		}
		sec.Rows = append(sec.Rows, row)
	}
	return sec
}

// errorMessage is the message of a deserialised ErrorRecord: what
// $_.Exception.Message showed (or its ErrorDetails, which replace it when set).
func errorMessage(v any) string {
	o, ok := v.(*psObject)
	if !ok {
		return strings.TrimSpace(valueText(v))
	}
	for _, name := range []string{"ErrorDetails_Message"} {
		if m, ok := o.prop(name); ok && valueText(m) != "" {
			return strings.TrimSpace(valueText(m))
		}
	}
	if ex, ok := o.prop("Exception"); ok {
		if e, ok := ex.(*psObject); ok {
			if m, ok := e.prop("Message"); ok && valueText(m) != "" {
				return strings.TrimSpace(valueText(m))
			}
		}
		if s := valueText(ex); s != "" {
			return strings.TrimSpace(s)
		}
	}
	if o.hasStr && o.toString != "" {
		return strings.TrimSpace(o.toString)
	}
	if m, ok := o.prop("Message"); ok {
		return strings.TrimSpace(valueText(m))
	}
	return ""
}

// errorID is an ErrorRecord's FullyQualifiedErrorId ("CommandNotFoundException").
func errorID(v any) string {
	o, ok := v.(*psObject)
	if !ok {
		return ""
	}
	id, _ := o.prop("FullyQualifiedErrorId")
	return valueText(id)
}

// recordText is the message of a WARNING or VERBOSE record.
func recordText(v any) string {
	if o, ok := v.(*psObject); ok {
		if m, ok := o.prop("InformationalRecord_Message"); ok {
			return valueText(m)
		}
		if m, ok := o.prop("Message"); ok {
			return valueText(m)
		}
	}
	return valueText(v)
}

// progressLine is a PROGRESS_RECORD for people: "Seeding MB01 to EX10-MB02: 42%".
// percent is -1 when the record gives none.
func progressLine(v any) (line string, percent int, completed bool) {
	o, ok := v.(*psObject)
	if !ok {
		return "", -1, false
	}
	get := func(n string) string { x, _ := o.prop(n); return strings.TrimSpace(valueText(x)) }
	activity, status := get("Activity"), strings.TrimSuffix(get("StatusDescription"), ".")
	completed = get("Type") == "Completed"
	percent = -1
	if pct, _ := o.prop("PercentComplete"); pct != nil {
		if n, ok := pct.(int64); ok && n >= 0 && n <= 100 {
			percent = int(n)
		}
	}
	var parts []string
	if activity != "" {
		parts = append(parts, activity)
	}
	if status != "" && !strings.EqualFold(status, activity) {
		parts = append(parts, status)
	}
	// Exchange's status texts often say the percentage already ("(42% complete).").
	if percent >= 0 && !strings.Contains(status, "%") {
		parts = append(parts, strconv.Itoa(percent)+"%")
	}
	if completed && (status == "" || strings.EqualFold(status, activity)) {
		parts = append(parts, "done")
	}
	return strings.Join(parts, ": "), percent, completed
}

// progressGate passes on the progress lines worth a chat message: the first of an
// activity, each further 10 points, and its end. A seed reports every percent.
type progressGate struct {
	activity string
	percent  int
}

func (g *progressGate) pass(line string, percent int, completed bool, activity string) bool {
	switch {
	case line == "":
		return false
	case activity != g.activity || completed:
	case percent >= 0 && percent < g.percent+10:
		return false
	case percent < 0:
		return false
	}
	g.activity, g.percent = activity, percent
	if completed {
		g.activity = ""
	}
	return true
}
