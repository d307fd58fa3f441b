package psrp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/exchops/exchops/lab/ps"
)

// node is one element of a CLIXML document: a client's messages are small, so they are
// read into a tree first and interpreted second.
type node struct {
	tag      string
	name     string // the N attribute: a property's name
	refID    string // RefId
	text     string
	children []*node
}

// Limits that keep a hostile client's CLIXML from costing the lab much.
const (
	maxCLIXMLDepth = 64
	maxCLIXMLNodes = 100000
)

// parseCLIXML reads one CLIXML fragment (a message's data) into a tree.
func parseCLIXML(data []byte) (*node, error) {
	data = bytes.TrimPrefix(data, bom)
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.CharsetReader = func(charset string, _ io.Reader) (io.Reader, error) {
		return nil, fmt.Errorf("charset %q is not supported, send UTF-8", charset)
	}
	var stack []*node
	var root *node
	count := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("psrp: the message's CLIXML is not well-formed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			count++
			if count > maxCLIXMLNodes {
				return nil, fmt.Errorf("psrp: the message's CLIXML has more than %d elements", maxCLIXMLNodes)
			}
			if len(stack) >= maxCLIXMLDepth {
				return nil, fmt.Errorf("psrp: the message's CLIXML nests deeper than %d elements", maxCLIXMLDepth)
			}
			n := &node{tag: t.Name.Local}
			for _, a := range t.Attr {
				switch a.Name.Local {
				case "N":
					n.name = decodeXMLString(a.Value)
				case "RefId":
					n.refID = a.Value
				}
			}
			if len(stack) == 0 {
				if root != nil {
					return nil, errors.New("psrp: the message's CLIXML has more than one root element")
				}
				root = n
			} else {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(t)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, errors.New("psrp: the message's CLIXML has text outside its root element")
			}
		}
	}
	if root == nil {
		return nil, errors.New("psrp: the message's CLIXML is empty")
	}
	return root, nil
}

// child returns the first child with the tag.
func (n *node) child(tag string) *node {
	for _, c := range n.children {
		if c.tag == tag {
			return c
		}
	}
	return nil
}

// prop returns the property named name among the children of n's MS and Props.
func (n *node) prop(name string) *node {
	for _, set := range []string{"MS", "Props"} {
		if s := n.child(set); s != nil {
			for _, c := range s.children {
				if c.name == name {
					return c
				}
			}
		}
	}
	return nil
}

// decodeXMLString undoes the _xHHHH_ escapes of MS-PSRP 2.2.5.3.2.
func decodeXMLString(s string) string {
	if !strings.Contains(s, "_x") {
		return s
	}
	var b strings.Builder
	var pending []uint16
	flush := func() {
		if len(pending) > 0 {
			b.WriteString(string(utf16Decode(pending)))
			pending = pending[:0]
		}
	}
	for i := 0; i < len(s); {
		if i+7 <= len(s) && s[i] == '_' && s[i+1] == 'x' && s[i+6] == '_' {
			if v, err := strconv.ParseUint(s[i+2:i+6], 16, 16); err == nil {
				pending = append(pending, uint16(v))
				i += 7
				continue
			}
		}
		flush()
		b.WriteByte(s[i])
		i++
	}
	flush()
	return b.String()
}

// decoder turns CLIXML values into the lab's values, following <Ref> to objects seen
// earlier in the same message.
type decoder struct {
	objs  map[string]*node
	types map[string][]string
	depth int
}

func newDecoder() *decoder {
	return &decoder{objs: map[string]*node{}, types: map[string][]string{}}
}

// typeNames returns an Obj's type names, resolving TNRef.
func (d *decoder) typeNames(n *node) []string {
	if tn := n.child("TN"); tn != nil {
		var names []string
		for _, t := range tn.children {
			if t.tag == "T" {
				names = append(names, t.text)
			}
		}
		if tn.refID != "" {
			d.types[tn.refID] = names
		}
		return names
	}
	if ref := n.child("TNRef"); ref != nil {
		return d.types[ref.refID]
	}
	return nil
}

// errSecureString is returned for a SecureString argument: the lab's endpoint has no
// session key exchange, as NoLanguage Exchange cmdlets in exchops never take one.
var errSecureString = errors.New("psrp: SecureString values are not supported by the lab (no session key was exchanged)")

// value decodes one primitive or complex value.
func (d *decoder) value(n *node) (any, error) {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > maxCLIXMLDepth {
		return nil, errors.New("psrp: a value nests too deeply")
	}
	text := n.text
	switch n.tag {
	case "Nil":
		return nil, nil
	case "S", "Version", "G", "URI", "XD", "SBK":
		return decodeXMLString(text), nil
	case "C":
		v, err := strconv.ParseUint(strings.TrimSpace(text), 10, 16)
		if err != nil {
			return nil, fmt.Errorf("psrp: <C>%s</C> is not a character code", truncate(text, 40))
		}
		return string(rune(v)), nil
	case "B":
		switch strings.TrimSpace(text) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("psrp: <B>%s</B> is not true or false", truncate(text, 40))
	case "I32", "I16", "I64", "SB", "By", "U16", "U32", "U64":
		v, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("psrp: <%s>%s</%s> is not an integer", n.tag, truncate(text, 40), n.tag)
		}
		return int(v), nil
	case "Db", "Sg", "D":
		t := strings.TrimSpace(text)
		switch t {
		case "INF", "Infinity":
			return math.Inf(1), nil
		case "-INF", "-Infinity":
			return math.Inf(-1), nil
		}
		v, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return nil, fmt.Errorf("psrp: <%s>%s</%s> is not a number", n.tag, truncate(text, 40), n.tag)
		}
		return v, nil
	case "DT":
		t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(text))
		if err != nil {
			t, err = time.Parse("2006-01-02T15:04:05.9999999", strings.TrimSpace(text))
		}
		if err != nil {
			return nil, fmt.Errorf("psrp: <DT>%s</DT> is not a date and time", truncate(text, 40))
		}
		return t, nil
	case "SS":
		return nil, errSecureString
	case "BA":
		return strings.TrimSpace(text), nil // base64 text: the lab's cmdlets take no byte arrays
	case "Ref":
		o, ok := d.objs[n.refID]
		if !ok {
			return nil, fmt.Errorf("psrp: <Ref RefId=%q> names no object seen before it", n.refID)
		}
		return d.object(o)
	case "Obj":
		if n.refID != "" {
			d.objs[n.refID] = n
		}
		return d.object(n)
	}
	return nil, fmt.Errorf("psrp: CLIXML element <%s> is not a value the lab understands", n.tag)
}

// object decodes an <Obj>: a list, a dictionary, an enum, or a property bag.
func (d *decoder) object(n *node) (any, error) {
	names := d.typeNames(n)
	for _, c := range n.children {
		switch c.tag {
		case "LST", "IE", "STK", "QUE":
			list := []any{}
			for _, item := range c.children {
				v, err := d.value(item)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			return list, nil
		case "DCT":
			h := &ps.Hashtable{}
			for _, en := range c.children {
				var key, val any
				for _, kv := range en.children {
					v, err := d.value(kv)
					if err != nil {
						return nil, err
					}
					switch kv.name {
					case "Key":
						key = v
					case "Value":
						val = v
					}
				}
				h.Keys = append(h.Keys, fmt.Sprint(key))
				h.Values = append(h.Values, val)
			}
			return h, nil
		}
	}
	// An enum or a primitive wrapped with extra members carries its value directly.
	for _, c := range n.children {
		switch c.tag {
		case "I32", "I64", "S", "B", "Db", "DT", "I16", "By", "U32", "U64", "U16", "SB", "Version", "G", "C":
			if c.name == "" {
				return d.value(c)
			}
		}
	}
	obj := &ps.Object{}
	if len(names) > 0 {
		obj.TypeName = strings.TrimPrefix(names[0], "Deserialized.")
	}
	if ts := n.child("ToString"); ts != nil {
		obj.Str = decodeXMLString(ts.text)
	}
	for _, set := range []string{"Props", "MS"} {
		if s := n.child(set); s != nil {
			for _, p := range s.children {
				v, err := d.value(p)
				if err != nil {
					return nil, err
				}
				obj.Set(p.name, v)
			}
		}
	}
	return obj, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
