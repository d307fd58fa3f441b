package runners

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"reflect"
	"testing"
)

// tokens reads every token of src as comparable text, and whether it reached the end.
func tokens(src interface{ Token() (xml.Token, error) }) (out []string, err error) {
	for {
		tok, err := src.Token()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			s := "<" + t.Name.Local
			for _, a := range t.Attr {
				s += " " + a.Name.Local + "=" + a.Value
			}
			out = append(out, s)
		case xml.EndElement:
			out = append(out, "</"+t.Name.Local)
		case xml.CharData:
			out = append(out, "text:"+string(t))
		}
	}
}

func strictDecoder(data []byte) *xml.Decoder {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	return d
}

// checkScanner holds xmlScanner to encoding/xml: whatever it reads to the end,
// encoding/xml reads to the end with the same tokens; whatever CLIXML it decodes,
// encoding/xml decodes to the same values; and parseReceive's answer is the same
// either way.
func checkScanner(t *testing.T, data []byte) (scanned bool) {
	t.Helper()
	fast, err := tokens(newXMLScanner(data))
	if err == nil {
		slow, serr := tokens(strictDecoder(data))
		if serr != nil {
			t.Fatalf("the scanner read %q, encoding/xml refuses it: %v", data, serr)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("tokens of %q:\nscanner     %q\nencoding/xml %q", data, fast, slow)
		}
	}
	if objs, cerr := decodeCLIXMLFrom(newXMLScanner(data)); cerr == nil {
		want, werr := decodeCLIXMLFrom(strictDecoder(data))
		if werr != nil || !reflect.DeepEqual(objs, want) {
			t.Fatalf("CLIXML %q: scanner %#v, encoding/xml %#v (%v)", data, objs, want, werr)
		}
	}
	if r, rerr := parseReceiveFrom(newXMLScanner(skipDeclaration(data))); rerr == nil {
		want, werr := parseReceiveFrom(xml.NewDecoder(bytes.NewReader(data)))
		if werr != nil || !reflect.DeepEqual(r, want) {
			t.Fatalf("Receive %q: scanner %+v, encoding/xml %+v (%v)", data, r, want, werr)
		}
	}
	return err == nil
}

func TestXMLScanner(t *testing.T) {
	for _, tc := range []struct {
		in      string
		scanned bool // false: the scanner gives up and encoding/xml reads it
	}{
		{copyStatusXML, true},
		{databaseXML, true},
		{receiveReply_, true},
		{`<Obj RefId="0"><S N='a'>x &lt;&amp;&gt; &quot;&apos; é 日本</S><Nil /><B>true</B></Obj>`, true},
		{"<a>\n\t<b/>\n</a>", true},
		{`<?xml version="1.0"?><a/>`, false},
		{`<a><!-- c --></a>`, false},
		{`<a><![CDATA[x]]></a>`, false},
		{`<a>&#65;</a>`, false},
		{"<a>x\r\ny</a>", false},
		{`<a></b>`, false},
		{`<a>`, false},
		{`<a b=c/>`, false},
		{`<a b="<"/>`, false},
		{`<a>]]></a>`, false},
		{"<a>\x01</a>", false},
		{"<a>\xff</a>", false},
		{`<é/>`, false},
		{`<a b="1"c="2"/>`, false},
		{`<a>&nbsp;</a>`, false},
		{`<a b="]]>"/>`, false},
		{`<a>]]&gt;</a>`, true},
		{`<a>]]&gt;></a>`, true},
		{`<a>] ]></a>`, true},
	} {
		if got := checkScanner(t, []byte(tc.in)); got != tc.scanned {
			t.Errorf("%q: scanned %v, want %v", tc.in, got, tc.scanned)
		}
	}
}

// The fast path and the fallback give the same objects, and the fallback encoding/xml's
// error.
func TestDecodeCLIXMLFallsBack(t *testing.T) {
	objs, err := decodeCLIXML([]byte(`<Obj RefId="0"><MS><S N="a">x&#65;</S></MS></Obj>`))
	if err != nil || len(objs) != 1 {
		t.Fatalf("a character reference (read by encoding/xml): %v %v", objs, err)
	}
	if v, _ := objs[0].(*psObject).prop("a"); v != "xA" {
		t.Errorf("a = %q, want xA", v)
	}
	if _, err := decodeCLIXML([]byte(`<Obj><S>x</Obj>`)); !errors.Is(err, errCLIXML) {
		t.Errorf("mismatched tags: %v, want errCLIXML", err)
	}
}

// FuzzXMLScanner: see checkScanner.
func FuzzXMLScanner(f *testing.F) {
	for _, s := range []string{copyStatusXML, databaseXML, receiveReply_, `<a b='1'>x &amp; y<c/></a>`,
		`<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="x"><s:Body><rsp:ReceiveResponse xmlns:rsp="y"/></s:Body></s:Envelope>`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkScanner(t, data)
	})
}
