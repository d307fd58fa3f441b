package psrp

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/exchops/exchops/lab/ps"
)

// encoder writes CLIXML as PowerShell 2.0's serializer does: every <Obj> gets a RefId
// and every type name list is written once (<TN RefId>) and referred to after that
// (<TNRef>), both numbered from 0 within one message.
type encoder struct {
	b       bytes.Buffer
	nextObj int
	types   map[string]int
	depth   int
}

func newEncoder() *encoder { return &encoder{types: map[string]int{}} }

// maxEncodeDepth is where nested values stop being expanded; PowerShell's serializer
// likewise writes deep values by their ToString().
const maxEncodeDepth = 16

func (e *encoder) ref() int {
	n := e.nextObj
	e.nextObj++
	return n
}

// open writes <Obj N=.. RefId=..> and the type names.
func (e *encoder) open(name string, types ...string) {
	e.b.WriteString(`<Obj`)
	e.nameAttr(name)
	fmt.Fprintf(&e.b, ` RefId="%d">`, e.ref())
	if len(types) == 0 {
		return
	}
	key := strings.Join(types, "\x00")
	if id, ok := e.types[key]; ok {
		fmt.Fprintf(&e.b, `<TNRef RefId="%d" />`, id)
		return
	}
	id := len(e.types)
	e.types[key] = id
	fmt.Fprintf(&e.b, `<TN RefId="%d">`, id)
	for _, t := range types {
		e.b.WriteString(`<T>`)
		e.text(t)
		e.b.WriteString(`</T>`)
	}
	e.b.WriteString(`</TN>`)
}

func (e *encoder) nameAttr(name string) {
	if name == "" {
		return
	}
	e.b.WriteString(` N="`)
	e.text(name)
	e.b.WriteString(`"`)
}

// prim writes a primitive element <tag N="name">text</tag>; text is written as is.
func (e *encoder) prim(tag, name, text string) {
	e.b.WriteString("<" + tag)
	e.nameAttr(name)
	e.b.WriteString(">" + text + "</" + tag + ">")
}

func (e *encoder) str(name, s string) {
	e.b.WriteString("<S")
	e.nameAttr(name)
	e.b.WriteString(">")
	e.text(s)
	e.b.WriteString("</S>")
}

func (e *encoder) nilValue(name string) {
	e.b.WriteString("<Nil")
	e.nameAttr(name)
	e.b.WriteString(" />")
}

// text writes s escaped for XML, with the characters XML cannot carry (and an
// underscore that would otherwise read as an escape) as _xHHHH_ (MS-PSRP 2.2.5.3.2).
func (e *encoder) text(s string) { e.b.WriteString(EncodeString(s)) }

// EncodeString escapes a string for a CLIXML element or attribute.
func EncodeString(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, "_x%04X_", s[i]) // a stray byte: keep its value visible
		case r == '_' && i+1 < len(s) && s[i+1] == 'x':
			b.WriteString("_x005F_")
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '"':
			b.WriteString("&quot;")
		case r < 0x20 || (r >= 0x7F && r <= 0x9F) || r == 0xFFFE || r == 0xFFFF:
			fmt.Fprintf(&b, "_x%04X_", r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// formatDouble writes a float as .NET's round-trip format does (1.5, 1E+20, NaN).
func formatDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if i := strings.IndexByte(s, 'e'); i >= 0 {
		mant, exp := s[:i], s[i+1:]
		sign := exp[0]
		exp = strings.TrimLeft(exp[1:], "0")
		if len(exp) < 2 {
			exp = strings.Repeat("0", 2-len(exp)) + exp
		}
		s = mant + "E" + string(sign) + exp
	}
	return s
}

// formatTime writes a time as .NET's round-trip DateTime (XmlConvert, RoundtripKind).
func formatTime(t time.Time) string {
	if t.Location() == time.UTC {
		return t.Format("2006-01-02T15:04:05.9999999Z")
	}
	return t.Format("2006-01-02T15:04:05.9999999-07:00")
}

// value writes one of the lab's values.
func (e *encoder) value(name string, v any) {
	e.depth++
	defer func() { e.depth-- }()
	switch x := v.(type) {
	case nil:
		e.nilValue(name)
	case string:
		e.str(name, x)
	case bool:
		e.prim("B", name, strconv.FormatBool(x))
	case int:
		if x >= math.MinInt32 && x <= math.MaxInt32 {
			e.prim("I32", name, strconv.Itoa(x))
		} else {
			e.prim("I64", name, strconv.Itoa(x))
		}
	case int32:
		e.prim("I32", name, strconv.Itoa(int(x)))
	case int64:
		e.prim("I64", name, strconv.FormatInt(x, 10))
	case float64:
		e.prim("Db", name, formatDouble(x))
	case time.Time:
		e.prim("DT", name, formatTime(x))
	case ps.Enum:
		e.open(name, x.Type, "System.Enum", "System.ValueType", "System.Object")
		e.b.WriteString("<ToString>")
		e.text(x.Name)
		e.b.WriteString("</ToString>")
		e.prim("I32", "", strconv.Itoa(x.Value))
		e.b.WriteString("</Obj>")
	case []any:
		if e.depth > maxEncodeDepth {
			e.str(name, fmt.Sprint(x))
			return
		}
		e.open(name, "System.Object[]", "System.Array", "System.Object")
		e.b.WriteString("<LST>")
		for _, item := range x {
			e.value("", item)
		}
		e.b.WriteString("</LST></Obj>")
	case []string:
		items := make([]any, len(x))
		for i, s := range x {
			items[i] = s
		}
		e.depth--
		e.value(name, items)
		e.depth++
	case *ps.Hashtable:
		if x == nil {
			e.nilValue(name)
			return
		}
		e.open(name, "System.Collections.Hashtable", "System.Object")
		e.b.WriteString("<DCT>")
		for i, k := range x.Keys {
			e.b.WriteString("<En>")
			e.str("Key", k)
			var val any
			if i < len(x.Values) {
				val = x.Values[i]
			}
			e.value("Value", val)
			e.b.WriteString("</En>")
		}
		e.b.WriteString("</DCT></Obj>")
	case *ps.Object:
		if x == nil {
			e.nilValue(name)
			return
		}
		if e.depth > maxEncodeDepth {
			e.str(name, x.String())
			return
		}
		e.object(name, x)
	case *ps.ErrorRecord:
		if x == nil {
			e.nilValue(name)
			return
		}
		e.errorRecord(name, x, false)
	case *ps.ScriptBlock:
		if x == nil {
			e.nilValue(name)
			return
		}
		e.b.WriteString("<SBK")
		e.nameAttr(name)
		e.b.WriteString(">")
		e.text(x.Text)
		e.b.WriteString("</SBK>")
	case fmt.Stringer:
		e.str(name, x.String())
	default:
		e.str(name, fmt.Sprint(x))
	}
}

// customObject is the type name of objects built from properties alone.
const customObject = "System.Management.Automation.PSCustomObject"

// object writes a property bag. A .NET object's properties are adapted properties
// (<Props>); a PSCustomObject's are note properties (<MS>).
func (e *encoder) object(name string, o *ps.Object) {
	tn := o.TypeName
	custom := tn == "" || tn == customObject
	if custom {
		e.open(name, customObject, "System.Object")
	} else {
		e.open(name, tn, "System.Object")
	}
	e.b.WriteString("<ToString>")
	if custom && o.Str == "" {
		e.text(customToString(o))
	} else {
		e.text(o.String())
	}
	e.b.WriteString("</ToString>")
	set := "Props"
	if custom {
		set = "MS"
	}
	if len(o.Props()) > 0 {
		e.b.WriteString("<" + set + ">")
		for _, p := range o.Props() {
			e.value(p.Name, p.Value)
		}
		e.b.WriteString("</" + set + ">")
	}
	e.b.WriteString("</Obj>")
}

// customToString is a PSCustomObject's ToString in PowerShell 2.0: "@{A=1; B=x}".
func customToString(o *ps.Object) string {
	var parts []string
	for _, p := range o.Props() {
		parts = append(parts, p.Name+"="+fmt.Sprint(displayValue(p.Value)))
	}
	return "@{" + strings.Join(parts, "; ") + "}"
}

func displayValue(v any) any {
	switch x := v.(type) {
	case nil:
		return ""
	case []any:
		s := make([]string, len(x))
		for i, item := range x {
			s[i] = fmt.Sprint(displayValue(item))
		}
		return strings.Join(s, " ")
	}
	return v
}

// errorCategories are ErrorCategory's numeric values (System.Management.Automation).
var errorCategories = map[ps.ErrorCategory]int{
	"NotSpecified": 0, "OpenError": 1, "CloseError": 2, "DeviceError": 3, "DeadlockDetected": 4,
	"InvalidArgument": 5, "InvalidData": 6, "InvalidOperation": 7, "InvalidResult": 8,
	"InvalidType": 9, "MetadataError": 10, "NotImplemented": 11, "NotInstalled": 12,
	"ObjectNotFound": 13, "OperationStopped": 14, "OperationTimeout": 15, "SyntaxError": 16,
	"ParserError": 17, "PermissionDenied": 18, "ResourceBusy": 19, "ResourceExists": 20,
	"ResourceUnavailable": 21, "ReadError": 22, "WriteError": 23, "FromStdErr": 24,
	"SecurityError": 25, "ProtocolError": 26, "ConnectionError": 27, "AuthenticationError": 28,
	"LimitsExceeded": 29, "QuotaExceeded": 30, "NotEnabled": 31,
}

// exceptionTypes are the base types of exceptions the lab raises, most derived first.
func exceptionTypes(t string) []string {
	switch t {
	case "", "System.Exception":
		return []string{"System.Exception", "System.Object"}
	case "System.Management.Automation.RuntimeException":
		return []string{t, "System.SystemException", "System.Exception", "System.Object"}
	}
	if strings.HasPrefix(t, "System.Management.Automation.") {
		return []string{t, "System.Management.Automation.RuntimeException", "System.SystemException", "System.Exception", "System.Object"}
	}
	if strings.HasPrefix(t, "Microsoft.Exchange.") {
		return []string{t, "Microsoft.Exchange.Data.LocalizedException", "System.Exception", "System.Object"}
	}
	return []string{t, "System.SystemException", "System.Exception", "System.Object"}
}

// errorRecord writes an ErrorRecord as PowerShell 2.0 serialises one: the exception with
// its message, the FullyQualifiedErrorId, the flattened CategoryInfo (ErrorCategory_*).
func (e *encoder) errorRecord(name string, r *ps.ErrorRecord, writeErrorStream bool) {
	excType := r.ExceptionType
	if excType == "" {
		excType = "System.Management.Automation.RuntimeException"
	}
	category := r.Category
	if category == "" {
		category = "NotSpecified"
	}
	reason := excType[strings.LastIndexByte(excType, '.')+1:]
	errorID := r.ErrorID
	if errorID == "" {
		errorID = reason
	}
	targetName := ""
	targetType := ""
	if r.Target != nil {
		targetName = fmt.Sprint(r.Target)
		switch t := r.Target.(type) {
		case *ps.Object:
			targetType = t.TypeName
		case string:
			targetType = "String"
		}
	}
	e.open(name, "System.Management.Automation.ErrorRecord", "System.Object")
	e.b.WriteString("<ToString>")
	e.text(r.Message)
	e.b.WriteString("</ToString><MS>")
	if writeErrorStream {
		e.prim("B", "writeErrorStream", "true")
	}
	e.open("Exception", exceptionTypes(excType)...)
	e.b.WriteString("<ToString>")
	e.text(excType + ": " + r.Message)
	e.b.WriteString("</ToString><Props>")
	e.str("Message", r.Message)
	e.open("Data", "System.Collections.ListDictionaryInternal", "System.Object")
	e.b.WriteString("<DCT /></Obj>")
	for _, p := range []string{"InnerException", "TargetSite", "StackTrace", "HelpLink", "Source"} {
		e.nilValue(p)
	}
	e.b.WriteString("</Props></Obj>")
	e.value("TargetObject", r.Target)
	e.str("FullyQualifiedErrorId", errorID)
	e.invocationInfo(r.Command)
	e.prim("I32", "ErrorCategory_Category", strconv.Itoa(errorCategories[category]))
	e.str("ErrorCategory_Activity", r.Command)
	e.str("ErrorCategory_Reason", reason)
	e.str("ErrorCategory_TargetName", targetName)
	e.str("ErrorCategory_TargetType", targetType)
	e.str("ErrorCategory_Message", fmt.Sprintf("%s: (%s:%s) [%s], %s", category, targetName, targetType, r.Command, reason))
	e.prim("B", "SerializeExtendedInfo", "false")
	e.b.WriteString("</MS></Obj>")
}

// SerializeValue returns the CLIXML of one value, as a PIPELINE_OUTPUT message's data
// carries it (without the byte order mark).
func SerializeValue(v any) []byte {
	e := newEncoder()
	e.value("", v)
	return e.b.Bytes()
}

// invocationInfo writes the InvocationInfo of a command's error as PowerShell 2.0 does
// (MyCommand as the command's name), or Nil when the error came from no command.
func (e *encoder) invocationInfo(command string) {
	if command == "" {
		e.nilValue("InvocationInfo")
		return
	}
	e.open("InvocationInfo", "System.Management.Automation.InvocationInfo", "System.Object")
	e.b.WriteString("<ToString>System.Management.Automation.InvocationInfo</ToString><Props>")
	e.str("MyCommand", command)
	e.open("BoundParameters", "System.Collections.Generic.Dictionary`2[[System.String, mscorlib, Version=2.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089],[System.Object, mscorlib, Version=2.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089]]", "System.Object")
	e.b.WriteString("<DCT /></Obj>")
	e.open("UnboundArguments", "System.Collections.Generic.List`1[[System.Object, mscorlib, Version=2.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089]]", "System.Object")
	e.b.WriteString("<LST /></Obj>")
	e.prim("I32", "ScriptLineNumber", "0")
	e.prim("I32", "OffsetInLine", "0")
	e.prim("I64", "HistoryId", "1")
	e.str("ScriptName", "")
	e.str("Line", "")
	e.str("PositionMessage", "")
	e.str("InvocationName", command)
	e.prim("I32", "PipelineLength", "1")
	e.prim("I32", "PipelinePosition", "1")
	e.prim("B", "ExpectingInput", "false")
	e.str("CommandOrigin", "Runspace")
	e.b.WriteString("</Props></Obj>")
}
