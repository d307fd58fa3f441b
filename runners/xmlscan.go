package runners

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"unicode/utf8"
)

// xmlScanner reads the plain XML the Exchange endpoint sends — CLIXML and
// WS-Management replies: elements, attributes in quotes, text with the five predefined
// entities — as encoding/xml's strict Decoder.Token would, several times faster: a
// health report of a large DAG decodes thousands of objects, and encoding/xml's
// byte-at-a-time reading was most of the runner's CPU.
//
// It gives up (errScanUnsupported) on anything else: a comment, a processing
// instruction or declaration, CDATA, a DOCTYPE, a character reference, a carriage
// return (which encoding/xml normalises), a name outside ASCII, malformed or
// mismatched tags, text with a character XML does not allow. Its callers then read
// the same bytes again with encoding/xml (decodeXML), so what it accepts decodes
// exactly as encoding/xml decodes it (FuzzXMLScanner holds it to that), and what it
// does not is reported with encoding/xml's own error.
//
// Names come back with Local set and Space holding the prefix as written (encoding/xml
// resolves it to the namespace): the decoders compare local names only.
type xmlScanner struct {
	data  []byte
	pos   int
	open  [][]byte // the open elements' names as written, for the end tags
	end   *xml.EndElement
	names map[string]string // interned names and short attribute values
}

// errScanUnsupported says the input is outside what xmlScanner reads.
var errScanUnsupported = errors.New("outside the XML subset the fast scanner reads")

func newXMLScanner(data []byte) *xmlScanner {
	return &xmlScanner{data: data, names: map[string]string{}}
}

func (s *xmlScanner) intern(b []byte) string {
	if v, ok := s.names[string(b)]; ok {
		return v
	}
	v := string(b)
	if len(b) <= 32 {
		s.names[v] = v
	}
	return v
}

// Token returns the next token: xml.StartElement, xml.EndElement or xml.CharData (a
// slice of the input when the text has no entity), io.EOF after the last element.
func (s *xmlScanner) Token() (xml.Token, error) {
	if s.end != nil {
		e := *s.end
		s.end = nil
		return e, nil
	}
	if s.pos >= len(s.data) {
		if len(s.open) > 0 {
			return nil, errScanUnsupported
		}
		return nil, io.EOF
	}
	if s.data[s.pos] != '<' {
		return s.text()
	}
	s.pos++
	if s.pos >= len(s.data) {
		return nil, errScanUnsupported
	}
	if s.data[s.pos] == '/' {
		s.pos++
		raw, name, ok := s.name()
		if !ok {
			return nil, errScanUnsupported
		}
		s.space()
		if s.pos >= len(s.data) || s.data[s.pos] != '>' || len(s.open) == 0 || !bytes.Equal(s.open[len(s.open)-1], raw) {
			return nil, errScanUnsupported
		}
		s.pos++
		s.open = s.open[:len(s.open)-1]
		return xml.EndElement{Name: name}, nil
	}
	raw, name, ok := s.name()
	if !ok {
		return nil, errScanUnsupported
	}
	se := xml.StartElement{Name: name}
	for {
		sp := s.space()
		if s.pos >= len(s.data) {
			return nil, errScanUnsupported
		}
		switch s.data[s.pos] {
		case '>':
			s.pos++
			s.open = append(s.open, raw)
			return se, nil
		case '/':
			if s.pos+1 >= len(s.data) || s.data[s.pos+1] != '>' {
				return nil, errScanUnsupported
			}
			s.pos += 2
			s.end = &xml.EndElement{Name: name}
			return se, nil
		}
		if !sp {
			return nil, errScanUnsupported // attributes are separated by space
		}
		_, an, ok := s.name()
		if !ok {
			return nil, errScanUnsupported
		}
		s.space()
		if s.pos >= len(s.data) || s.data[s.pos] != '=' {
			return nil, errScanUnsupported
		}
		s.pos++
		s.space()
		if s.pos >= len(s.data) || (s.data[s.pos] != '"' && s.data[s.pos] != '\'') {
			return nil, errScanUnsupported
		}
		q := s.data[s.pos]
		s.pos++
		i := bytes.IndexByte(s.data[s.pos:], q)
		if i < 0 {
			return nil, errScanUnsupported
		}
		v, ok := s.chars(s.data[s.pos:s.pos+i], true)
		if !ok {
			return nil, errScanUnsupported
		}
		s.pos += i + 1
		var val string
		if len(v) <= 32 {
			val = s.intern(v)
		} else {
			val = string(v)
		}
		se.Attr = append(se.Attr, xml.Attr{Name: an, Value: val})
	}
}

// Skip reads up to the end of the element whose start was read last, as
// xml.Decoder.Skip does.
func (s *xmlScanner) Skip() error {
	depth := 0
	for {
		tok, err := s.Token()
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			if depth == 0 {
				return nil
			}
			depth--
		}
	}
}

// text reads character data up to the next tag.
func (s *xmlScanner) text() (xml.Token, error) {
	i := bytes.IndexByte(s.data[s.pos:], '<')
	if i < 0 {
		i = len(s.data) - s.pos
	}
	v, ok := s.chars(s.data[s.pos:s.pos+i], false)
	if !ok {
		return nil, errScanUnsupported
	}
	s.pos += i
	return xml.CharData(v), nil
}

// chars checks text or an attribute value and resolves its entities: raw itself when
// it has none.
func (s *xmlScanner) chars(raw []byte, inAttr bool) ([]byte, bool) {
	plain := true
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '&':
			plain = false
			i++
		case c == '<' || c == '\r':
			return nil, false
		case c < 0x20:
			if c != '\t' && c != '\n' || inAttr {
				return nil, false
			}
			i++
		case c == '>' && i >= 2 && raw[i-1] == ']' && raw[i-2] == ']':
			return nil, false // "]]>" outside CDATA, which XML does not allow
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && n == 1 || !xmlChar(r) {
				return nil, false
			}
			i += n
		}
	}
	if plain {
		return raw, true
	}
	out := make([]byte, 0, len(raw))
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '&')
		if i < 0 {
			out = append(out, raw...)
			break
		}
		out = append(out, raw[:i]...)
		raw = raw[i:]
		j := bytes.IndexByte(raw, ';')
		if j < 0 {
			return nil, false
		}
		switch string(raw[1:j]) {
		case "lt":
			out = append(out, '<')
		case "gt":
			out = append(out, '>')
		case "amp":
			out = append(out, '&')
		case "apos":
			out = append(out, '\'')
		case "quot":
			out = append(out, '"')
		default:
			return nil, false // a character reference or an unknown entity
		}
		raw = raw[j+1:]
	}
	return out, true
}

// xmlChar is XML's Char production, as encoding/xml checks it.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// name reads an ASCII name, with at most one prefix.
func (s *xmlScanner) name() (raw []byte, n xml.Name, ok bool) {
	start, colon := s.pos, -1
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		first := s.pos == start || s.pos == colon+1
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c == '_':
		case !first && (c >= '0' && c <= '9' || c == '.' || c == '-'):
		case c == ':' && !first && colon < 0:
			colon = s.pos
		default:
			goto done
		}
		s.pos++
	}
done:
	raw = s.data[start:s.pos]
	if len(raw) == 0 || colon == s.pos-1 {
		return nil, xml.Name{}, false
	}
	if s.pos < len(s.data) && s.data[s.pos] >= utf8.RuneSelf {
		return nil, xml.Name{}, false // a name going on outside ASCII
	}
	if colon < 0 {
		return raw, xml.Name{Local: s.intern(raw)}, true
	}
	return raw, xml.Name{Space: s.intern(s.data[start:colon]), Local: s.intern(s.data[colon+1 : s.pos])}, true
}

// space skips white space and reports whether there was any.
func (s *xmlScanner) space() bool {
	start := s.pos
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n':
			s.pos++
			continue
		}
		break
	}
	return s.pos > start
}
