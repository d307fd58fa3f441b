package runners

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is the runner's own CLIXML codec for what the Exchange endpoint sends and
// receives. go-psrpcore's serialization package was not used for either direction (see
// docs/PSRP.md): its decoder keeps only the last of an object's <Props> and <MS> (a
// deserialised Exchange object has both, so its properties were lost), fails a whole
// message on a DateTime without an offset, drops TimeSpan, unsigned and decimal values,
// and leaves _xHHHH_ escapes in strings; its encoder writes the protocol 2.2 members a
// PowerShell 2.0 server does not know.

// psObject is one deserialised <Obj>: what a remote object leaves after serialisation.
type psObject struct {
	types    []string // type names, most derived first ("Deserialized.Microsoft.Exchange...")
	toString string   // its ToString() on the server, when sent
	hasStr   bool
	value    any // the primitive it wraps: an enum's number, an extended string
	// props are its adapted (<Props>) and extended (<MS>) properties together, in the
	// order sent; names as sent.
	props []psProp
	list  []any // an <LST>, <STK>, <QUE> or <IE> it holds
	dict  []psEntry
	kind  objKind
}

type objKind int

const (
	objPlain objKind = iota
	objList
	objDict
)

type psProp struct {
	name  string
	value any
}

type psEntry struct{ key, value any }

// timeSpan is a deserialised System.TimeSpan.
type timeSpan time.Duration

// prop returns the named property (PowerShell compares names case-insensitively).
func (o *psObject) prop(name string) (any, bool) {
	if o == nil {
		return nil, false
	}
	for _, p := range o.props {
		if p.name == name {
			return p.value, true
		}
	}
	for _, p := range o.props {
		if strings.EqualFold(p.name, name) {
			return p.value, true
		}
	}
	return nil, false
}

// maxCLIXMLDepth bounds nesting, so a hostile or broken reply cannot exhaust the stack.
const maxCLIXMLDepth = 64

// errCLIXML is wrapped by every decoding error.
var errCLIXML = errors.New("malformed CLIXML")

// decodeCLIXML reads the objects of one PSRP message's data: an <Objs> document or a
// single top-level element (messages carry one <Obj> without <Objs>).
// The fast scanner reads it when it can; otherwise, and whenever decoding fails,
// encoding/xml reads it again, so the result and any error are encoding/xml's.
func decodeCLIXML(data []byte) ([]any, error) {
	data = bytes.TrimPrefix(data, []byte{0xEF, 0xBB, 0xBF})
	if out, err := decodeCLIXMLFrom(newXMLScanner(data)); err == nil {
		return out, nil
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	return decodeCLIXMLFrom(dec)
}

// xmlTokens is what the CLIXML decoder reads: *xml.Decoder or *xmlScanner.
type xmlTokens interface {
	Token() (xml.Token, error)
	Skip() error
}

func decodeCLIXMLFrom(dec xmlTokens) ([]any, error) {
	d := &clixmlDecoder{dec: dec, refs: map[string]*psObject{}, tns: map[string][]string{}}
	var out []any
	for {
		tok, err := d.dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("%w: %v", errCLIXML, err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if se.Name.Local == "Objs" {
			for {
				v, end, err := d.next("Objs", 0)
				if err != nil {
					return nil, err
				}
				if end {
					break
				}
				out = append(out, v)
			}
			continue
		}
		v, err := d.element(se, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

type clixmlDecoder struct {
	dec  xmlTokens
	refs map[string]*psObject // <Obj RefId> for <Ref RefId>
	tns  map[string][]string  // <TN RefId> for <TNRef RefId>
}

// next returns the next element's value inside the element named parent, or end when
// parent closes.
func (d *clixmlDecoder) next(parent string, depth int) (v any, end bool, err error) {
	for {
		tok, err := d.dec.Token()
		if err != nil {
			return nil, false, fmt.Errorf("%w: inside <%s>: %v", errCLIXML, parent, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			v, err := d.element(t, depth)
			return v, false, err
		case xml.EndElement:
			return nil, true, nil
		}
	}
}

func attr(se xml.StartElement, name string) (string, bool) {
	for _, a := range se.Attr {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// text reads an element's character data up to its end.
func (d *clixmlDecoder) text(se xml.StartElement) (string, error) {
	var b strings.Builder
	for {
		tok, err := d.dec.Token()
		if err != nil {
			return "", fmt.Errorf("%w: in <%s>: %v", errCLIXML, se.Name.Local, err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.StartElement:
			return "", fmt.Errorf("%w: <%s> inside <%s>", errCLIXML, t.Name.Local, se.Name.Local)
		case xml.EndElement:
			return b.String(), nil
		}
	}
}

// element decodes one value element whose start tag has been read.
func (d *clixmlDecoder) element(se xml.StartElement, depth int) (any, error) {
	if depth > maxCLIXMLDepth {
		return nil, fmt.Errorf("%w: nested more than %d deep", errCLIXML, maxCLIXMLDepth)
	}
	name := se.Name.Local
	switch name {
	case "Obj":
		return d.object(se, depth+1)
	case "Ref":
		id, _ := attr(se, "RefId")
		if err := d.dec.Skip(); err != nil {
			return nil, fmt.Errorf("%w: %v", errCLIXML, err)
		}
		o, ok := d.refs[id]
		if !ok {
			return nil, fmt.Errorf("%w: <Ref RefId=%q> names no earlier object", errCLIXML, id)
		}
		return o, nil
	case "Nil":
		if err := d.dec.Skip(); err != nil {
			return nil, fmt.Errorf("%w: %v", errCLIXML, err)
		}
		return nil, nil
	case "LST", "IE", "STK", "QUE", "DCT", "TN", "TNRef", "Props", "MS", "ToString":
		return nil, fmt.Errorf("%w: <%s> outside an <Obj>", errCLIXML, name)
	}
	s, err := d.text(se)
	if err != nil {
		return nil, err
	}
	return primitive(name, s)
}

// primitive converts a primitive element's text (MS-PSRP 2.2.5.1).
func primitive(tag, s string) (any, error) {
	bad := func(err error) (any, error) {
		return nil, fmt.Errorf("%w: <%s>%.40s</%s>: %v", errCLIXML, tag, s, tag, err)
	}
	t := strings.TrimSpace(s)
	switch tag {
	case "S", "XD", "SBK":
		return unescapeCLIXML(s), nil
	case "C": // a char, as its UTF-16 code unit
		n, err := strconv.ParseUint(t, 10, 16)
		if err != nil {
			return bad(err)
		}
		return string(utf16.Decode([]uint16{uint16(n)})), nil
	case "B":
		switch t {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return bad(errors.New("not true or false"))
	case "SB", "I16", "I32", "I64":
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			return bad(err)
		}
		return n, nil
	case "By", "U16", "U32", "U64":
		n, err := strconv.ParseUint(t, 10, 64)
		if err != nil {
			return bad(err)
		}
		if n > math.MaxInt64 {
			return strconv.FormatUint(n, 10), nil
		}
		return int64(n), nil
	case "Sg", "Db":
		f, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return bad(err)
		}
		return f, nil
	case "D", "G", "URI", "Version":
		// Decimals keep their text (no float rounding); GUIDs, URIs and versions are text.
		return t, nil
	case "DT":
		v, err := parseDateTime(t)
		if err != nil {
			return bad(err)
		}
		return v, nil
	case "TS":
		v, err := parseDuration(t)
		if err != nil {
			return bad(err)
		}
		return timeSpan(v), nil
	case "BA":
		b, err := base64.StdEncoding.DecodeString(t)
		if err != nil {
			return bad(err)
		}
		return b, nil
	case "SS":
		// A secure string is encrypted with a session key exchops never negotiates; it
		// has no text to show.
		return "", nil
	}
	// An unknown primitive keeps its text rather than failing the whole message.
	return unescapeCLIXML(s), nil
}

// parseDateTime reads .NET's round-trip format. A DateTime of kind Unspecified has no
// offset; it is taken as UTC.
func parseDateTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if v, err := time.Parse(layout, s); err == nil {
			return v, nil
		}
	}
	return time.Time{}, errors.New("not an ISO 8601 date and time")
}

// durationRE is xs:duration as .NET's XmlConvert writes a TimeSpan: -P1DT2H3M4.5S.
var durationRE = regexp.MustCompile(`^(-)?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

func parseDuration(s string) (time.Duration, error) {
	m := durationRE.FindStringSubmatch(s)
	if m == nil || s == "P" || s == "-P" || strings.HasSuffix(s, "T") {
		return 0, errors.New("not an xs:duration")
	}
	var d float64
	for i, unit := range []float64{24 * 3600, 3600, 60, 1} {
		if m[i+2] == "" {
			continue
		}
		f, err := strconv.ParseFloat(m[i+2], 64)
		if err != nil {
			return 0, err
		}
		d += f * unit
	}
	if d > float64(math.MaxInt64)/float64(time.Second) {
		return 0, errors.New("out of range")
	}
	v := time.Duration(math.Round(d * float64(time.Second)))
	if m[1] == "-" {
		v = -v
	}
	return v, nil
}

// object decodes an <Obj> whose start tag has been read.
func (d *clixmlDecoder) object(se xml.StartElement, depth int) (*psObject, error) {
	o := &psObject{}
	if id, ok := attr(se, "RefId"); ok {
		d.refs[id] = o // registered first: a child may refer to its parent
	}
	for {
		tok, err := d.dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: in <Obj>: %v", errCLIXML, err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return o, nil
		case xml.StartElement:
			switch t.Name.Local {
			case "TN":
				names, err := d.typeNames()
				if err != nil {
					return nil, err
				}
				if id, ok := attr(t, "RefId"); ok {
					d.tns[id] = names
				}
				o.types = names
			case "TNRef":
				id, _ := attr(t, "RefId")
				if err := d.dec.Skip(); err != nil {
					return nil, fmt.Errorf("%w: %v", errCLIXML, err)
				}
				names, ok := d.tns[id]
				if !ok {
					return nil, fmt.Errorf("%w: <TNRef RefId=%q> names no earlier type list", errCLIXML, id)
				}
				o.types = names
			case "ToString":
				s, err := d.text(t)
				if err != nil {
					return nil, err
				}
				o.toString, o.hasStr = unescapeCLIXML(s), true
			case "Props", "MS":
				if err := d.members(o, t.Name.Local, depth); err != nil {
					return nil, err
				}
			case "LST", "IE", "STK", "QUE":
				o.kind = objList
				for {
					v, end, err := d.next(t.Name.Local, depth+1)
					if err != nil {
						return nil, err
					}
					if end {
						break
					}
					o.list = append(o.list, v)
				}
			case "DCT":
				o.kind = objDict
				if err := d.entries(o, depth); err != nil {
					return nil, err
				}
			default:
				v, err := d.element(t, depth+1)
				if err != nil {
					return nil, err
				}
				o.value = v
			}
		}
	}
}

func (d *clixmlDecoder) typeNames() ([]string, error) {
	var names []string
	for {
		tok, err := d.dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: in <TN>: %v", errCLIXML, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local != "T" {
				return nil, fmt.Errorf("%w: <%s> in <TN>", errCLIXML, t.Name.Local)
			}
			s, err := d.text(t)
			if err != nil {
				return nil, err
			}
			names = append(names, unescapeCLIXML(s))
		case xml.EndElement:
			return names, nil
		}
	}
}

// members reads a <Props> or <MS> into o.props.
func (d *clixmlDecoder) members(o *psObject, parent string, depth int) error {
	for {
		tok, err := d.dec.Token()
		if err != nil {
			return fmt.Errorf("%w: in <%s>: %v", errCLIXML, parent, err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			n, _ := attr(t, "N")
			v, err := d.element(t, depth+1)
			if err != nil {
				return err
			}
			o.props = append(o.props, psProp{name: unescapeCLIXML(n), value: v})
		}
	}
}

func (d *clixmlDecoder) entries(o *psObject, depth int) error {
	for {
		tok, err := d.dec.Token()
		if err != nil {
			return fmt.Errorf("%w: in <DCT>: %v", errCLIXML, err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			if t.Name.Local != "En" {
				return fmt.Errorf("%w: <%s> in <DCT>", errCLIXML, t.Name.Local)
			}
			var e psEntry
			for {
				v, end, err := d.nextNamed("En", depth+1)
				if err != nil {
					return err
				}
				if end {
					break
				}
				switch v.name {
				case "Key":
					e.key = v.value
				case "Value":
					e.value = v.value
				}
			}
			o.dict = append(o.dict, e)
		}
	}
}

func (d *clixmlDecoder) nextNamed(parent string, depth int) (p psProp, end bool, err error) {
	for {
		tok, err := d.dec.Token()
		if err != nil {
			return p, false, fmt.Errorf("%w: inside <%s>: %v", errCLIXML, parent, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n, _ := attr(t, "N")
			v, err := d.element(t, depth)
			return psProp{name: n, value: v}, false, err
		case xml.EndElement:
			return p, true, nil
		}
	}
}

// escapeRE finds CLIXML's escapes: _xHHHH_ is the UTF-16 code unit HHHH.
var escapeRE = regexp.MustCompile(`_x[0-9A-Fa-f]{4}_`)

// unescapeCLIXML decodes _xHHHH_ escapes (control characters, a literal "_x", and
// surrogate pairs written as two escapes).
func unescapeCLIXML(s string) string {
	if !strings.Contains(s, "_x") {
		return s
	}
	var units []uint16
	var b strings.Builder
	flush := func() {
		if len(units) > 0 {
			b.WriteString(string(utf16.Decode(units)))
			units = units[:0]
		}
	}
	last := 0
	for _, m := range escapeRE.FindAllStringIndex(s, -1) {
		if m[0] != last {
			flush()
			b.WriteString(s[last:m[0]])
		}
		n, _ := strconv.ParseUint(s[m[0]+2:m[0]+6], 16, 16)
		units = append(units, uint16(n))
		last = m[1]
	}
	flush()
	b.WriteString(s[last:])
	return b.String()
}

// escapeCLIXML writes s as CLIXML string content: XML-escaped, with the characters XML
// cannot carry (and an underscore that would read as an escape) as _xHHHH_.
func escapeCLIXML(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			b.WriteString("_xFFFD_")
		case r < 0x20 || r == 0xFFFE || r == 0xFFFF:
			fmt.Fprintf(&b, "_x%04X_", r)
		case r == '_' && escapeRE.MatchString(s[i:min(len(s), i+7)]):
			b.WriteString("_x005F_")
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '"':
			b.WriteString("&quot;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
