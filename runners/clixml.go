package runners

import (
	"encoding/xml"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// clixmlMarker starts PowerShell's serialized error stream: powershell.exe writes it to
// stderr, followed by an <Objs> document, when its output is redirected in some modes.
const clixmlMarker = "#< CLIXML"

// DecodeCLIXML turns PowerShell's CLIXML stderr ("#< CLIXML" followed by <Objs> with
// <S S="Error">...</S> elements) into the plain text a console would show: the error
// strings joined, with XmlConvert escapes such as _x000D__x000A_ decoded; warning, verbose
// and debug strings as "WARNING: ..." lines; progress records dropped. Text before the
// marker is kept. Input without the marker is returned unchanged. What follows a
// malformed document is dropped.
func DecodeCLIXML(s string) string {
	i := strings.Index(s, clixmlMarker)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.WriteString(s[:i])
	rest := s[i+len(clixmlMarker):]
	for {
		next := strings.Index(rest, clixmlMarker)
		doc := rest
		if next >= 0 {
			doc = rest[:next]
		}
		decodeCLIXMLDoc(&b, doc)
		if next < 0 {
			break
		}
		rest = rest[next+len(clixmlMarker):]
	}
	return b.String()
}

// decodeCLIXMLDoc writes the text of the top-level <S> strings of the stream documents
// in doc to b. Strings inside objects (progress records, error records' properties) are
// not shown by a console, so they are skipped.
func decodeCLIXMLDoc(b *strings.Builder, doc string) {
	d := xml.NewDecoder(strings.NewReader(doc))
	d.Strict = false
	depth := 0   // element depth
	inS := false // inside a stream string directly under <Objs>
	var stream string
	var text strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			if err != io.EOF && inS {
				writeStream(b, stream, text.String())
			}
			return
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 && t.Name.Local == "S" {
				inS = true
				stream = ""
				text.Reset()
				for _, a := range t.Attr {
					if a.Name.Local == "S" {
						stream = a.Value
					}
				}
			}
		case xml.EndElement:
			if depth == 2 && inS {
				writeStream(b, stream, text.String())
				inS = false
			}
			depth--
		case xml.CharData:
			if inS && depth == 2 {
				text.Write(t)
			}
		}
	}
}

func writeStream(b *strings.Builder, stream, text string) {
	text = decodeXMLName(text)
	prefix := ""
	switch strings.ToLower(stream) {
	case "error", "":
	case "warning":
		prefix = "WARNING: "
	case "verbose":
		prefix = "VERBOSE: "
	case "debug":
		prefix = "DEBUG: "
	case "information", "info":
	default:
		return
	}
	if prefix != "" {
		if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
			b.WriteString("\r\n")
		}
		b.WriteString(prefix)
		b.WriteString(text)
		if !strings.HasSuffix(text, "\n") {
			b.WriteString("\r\n")
		}
		return
	}
	b.WriteString(text)
}

// decodeXMLName undoes .NET's XmlConvert.EncodeName escapes, which CLIXML uses for control
// characters: _xHHHH_ is one UTF-16 code unit (surrogate pairs come as two escapes) and
// _xHHHHHHHH_ one code point. Anything else is kept as it is.
func decodeXMLName(s string) string {
	if !strings.Contains(s, "_x") {
		return s
	}
	var b strings.Builder
	var units []uint16 // pending UTF-16 code units from consecutive escapes
	flush := func() {
		if len(units) > 0 {
			b.WriteString(string(utf16.Decode(units)))
			units = units[:0]
		}
	}
	for i := 0; i < len(s); {
		if n, v, ok := escapeAt(s, i); ok {
			if n == 7 {
				units = append(units, uint16(v))
			} else {
				flush()
				if utf8.ValidRune(rune(v)) {
					b.WriteRune(rune(v))
				} else {
					b.WriteString(s[i : i+n])
				}
			}
			i += n
			continue
		}
		flush()
		b.WriteByte(s[i])
		i++
	}
	flush()
	return b.String()
}

// escapeAt reports whether s[i:] starts with _xHHHH_ (n=7) or _xHHHHHHHH_ (n=11).
func escapeAt(s string, i int) (n int, v uint32, ok bool) {
	if !strings.HasPrefix(s[i:], "_x") {
		return 0, 0, false
	}
	for _, digits := range []int{4, 8} {
		end := i + 2 + digits
		if end >= len(s) || s[end] != '_' {
			continue
		}
		var x uint32
		valid := true
		for _, c := range []byte(s[i+2 : end]) {
			switch {
			case c >= '0' && c <= '9':
				x = x<<4 | uint32(c-'0')
			case c >= 'a' && c <= 'f':
				x = x<<4 | uint32(c-'a'+10)
			case c >= 'A' && c <= 'F':
				x = x<<4 | uint32(c-'A'+10)
			default:
				valid = false
			}
		}
		if valid {
			return digits + 3, x, true
		}
	}
	return 0, 0, false
}

// maxErrorText bounds the stderr text an error message carries.
const maxErrorText = 1000

// ErrorText returns the first meaningful text of a script's stderr, decoded from CLIXML
// when needed: the message its catch block wrote ($_.Exception.Message), or, for an error
// PowerShell printed itself ("Cmd : message" then "At line:...", "+ ..." lines), the
// "Cmd : message" part. Lines that PowerShell wrapped are joined with spaces. Empty when
// stderr holds nothing but blank lines.
func ErrorText(stderr string) string {
	text := DecodeCLIXML(stderr)
	var parts []string
	started := false
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			if started {
				break
			}
			continue
		}
		if started && isErrorDetail(line) {
			break
		}
		if !started && isErrorDetail(line) {
			continue
		}
		started = true
		parts = append(parts, line)
	}
	msg := strings.Join(parts, " ")
	if len(msg) > maxErrorText {
		cut := maxErrorText
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "..."
	}
	return msg
}

// isErrorDetail reports whether line is part of the position and category lines that
// PowerShell prints after an error's message.
func isErrorDetail(line string) bool {
	if strings.HasPrefix(line, "+ ") || line == "+" {
		return true
	}
	if strings.HasPrefix(line, "At line:") || strings.HasPrefix(line, "At char:") {
		return true
	}
	// "At C:\path\script.ps1:12 char:5"
	return strings.HasPrefix(line, "At ") && strings.Contains(line, " char:")
}
