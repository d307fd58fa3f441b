package psrp

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/lab/ps"
)

func TestFragmentRoundTrip(t *testing.T) {
	msg := bytes.Repeat([]byte("0123456789"), 100)
	for _, maxBlob := range []int{1, 7, 100, 999, 1000, 5000} {
		frags := Fragmentize(42, msg, maxBlob)
		var packet []byte
		for _, f := range frags {
			packet = f.Append(packet)
		}
		// Split the packet stream at arbitrary fragment boundaries, as several Receive
		// responses would carry it.
		parsed, err := ParseFragments(packet)
		if err != nil {
			t.Fatal(err)
		}
		var r Reassembler
		var got [][]byte
		for i, f := range parsed {
			m, err := r.Add(f)
			if err != nil {
				t.Fatalf("max %d, fragment %d: %v", maxBlob, i, err)
			}
			if m != nil {
				got = append(got, m)
			}
		}
		if len(got) != 1 || !bytes.Equal(got[0], msg) || r.Pending() {
			t.Errorf("max %d: %d messages, pending %v", maxBlob, len(got), r.Pending())
		}
		if want := (len(msg) + maxBlob - 1) / maxBlob; len(frags) != want {
			t.Errorf("max %d: %d fragments, want %d", maxBlob, len(frags), want)
		}
	}
	// An empty message is one fragment with both flags (END_OF_PIPELINE_INPUT has no data
	// beyond its header, but a zero-length blob must still work).
	if f := Fragmentize(1, nil, 10); len(f) != 1 || !f[0].Start || !f[0].End {
		t.Errorf("empty message: %+v", f)
	}
}

func TestFragmentWireFormat(t *testing.T) {
	got := Fragment{ObjectID: 0x0102030405060708, FragmentID: 9, Start: true, End: false, Blob: []byte("ab")}.Append(nil)
	want := []byte{1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 9, 1, 0, 0, 0, 2, 'a', 'b'}
	if !bytes.Equal(got, want) {
		t.Errorf("got % x\nwant % x", got, want)
	}
}

func TestReassemblerErrors(t *testing.T) {
	start := Fragment{ObjectID: 1, FragmentID: 0, Start: true, Blob: []byte("abc")}
	tests := []struct {
		name  string
		frags []Fragment
		max   int
		want  string
	}{
		{"middle without start", []Fragment{{ObjectID: 1, FragmentID: 1, End: true}}, 0, "without its start"},
		{"start not numbered 0", []Fragment{{ObjectID: 1, FragmentID: 3, Start: true, End: true}}, 0, "not 0"},
		{"gap", []Fragment{start, {ObjectID: 1, FragmentID: 2, End: true}}, 0, "where 1 was expected"},
		{"start twice", []Fragment{start, start}, 0, "starts again"},
		{"too large in one", []Fragment{{ObjectID: 1, Start: true, End: true, Blob: make([]byte, 11)}}, 10, "more than the 10 bytes"},
		{"too large in parts", []Fragment{start, {ObjectID: 1, FragmentID: 1, Blob: make([]byte, 8)}}, 10, "more than the 10 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Reassembler{MaxMessage: tt.max}
			var err error
			for _, f := range tt.frags {
				if _, err = r.Add(f); err != nil {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
	bad := [][]byte{
		make([]byte, 20), // short header
		Fragment{ObjectID: 1, Start: true, End: true, Blob: []byte("abc")}.Append(nil)[:22], // blob cut
		{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0},                     // unknown flag
	}
	for i, p := range bad {
		if _, err := ParseFragments(p); err == nil {
			t.Errorf("bad packet %d parsed", i)
		}
	}
}

func TestInterleavedObjects(t *testing.T) {
	a := Fragmentize(1, []byte("first message"), 4)
	b := Fragmentize(2, []byte("second"), 4)
	var r Reassembler
	var got []string
	for i := 0; i < max(len(a), len(b)); i++ {
		for _, fs := range [][]Fragment{a, b} {
			if i < len(fs) {
				m, err := r.Add(fs[i])
				if err != nil {
					t.Fatal(err)
				}
				if m != nil {
					got = append(got, string(m))
				}
			}
		}
	}
	if !reflect.DeepEqual(got, []string{"second", "first message"}) {
		t.Errorf("got %q", got)
	}
}

func TestGUIDByteOrder(t *testing.T) {
	// MS-DTYP 2.3.4.2: Data1, Data2 and Data3 little-endian, Data4 as bytes.
	g, err := ParseGUID("{00112233-4455-6677-8899-AABBCCDDEEFF}")
	if err != nil {
		t.Fatal(err)
	}
	want := GUID{0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF}
	if g != want || g.String() != "00112233-4455-6677-8899-AABBCCDDEEFF" {
		t.Errorf("got % x %s", g[:], g)
	}
	if _, err := ParseGUID("not-a-guid"); err == nil {
		t.Error("a bad GUID parsed")
	}
}

func TestMessageRoundTrip(t *testing.T) {
	rpid, _ := ParseGUID("4CEFBA69-02AD-4A95-ACC0-091A5794E3D2")
	m := Message{Destination: DestinationServer, Type: MsgCreatePipeline, RPID: rpid, Data: []byte("<Obj/>")}
	b := m.Encode()
	if b[0] != 2 || b[4] != 0x06 || b[5] != 0x10 || b[6] != 0x02 {
		t.Errorf("header % x", b[:8])
	}
	got, err := DecodeMessage(b)
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Errorf("got %+v %v", got, err)
	}
	if _, err := DecodeMessage(b[:39]); err == nil {
		t.Error("a short message decoded")
	}
	b[0] = 3
	if _, err := DecodeMessage(b); err == nil {
		t.Error("destination 3 decoded")
	}
	if s := MessageType(0x41004).String(); s != "PIPELINE_OUTPUT" {
		t.Error(s)
	}
}

func TestSerializeValues(t *testing.T) {
	when := time.Date(2010, 11, 9, 8, 7, 6, 500000000, time.UTC)
	status := ps.Enum{Type: "Microsoft.Exchange.Management.SystemConfigurationTasks.CopyStatus", Name: "Healthy", Value: 2}
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"nil", nil, `<Nil />`},
		{"true", true, `<B>true</B>`},
		{"int", 42, `<I32>42</I32>`},
		{"long", 1 << 40, `<I64>1099511627776</I64>`},
		{"double", 1.5, `<Db>1.5</Db>`},
		{"big double", 1e20, `<Db>1E+20</Db>`},
		{"small double", 2.5e-7, `<Db>2.5E-07</Db>`},
		{"infinity", math.Inf(1), `<Db>Infinity</Db>`},
		{"time", when, `<DT>2010-11-09T08:07:06.5Z</DT>`},
		{"escapes", "a<b>&\"c\"", `<S>a&lt;b&gt;&amp;&quot;c&quot;</S>`},
		{"control characters", "line1\r\nline2\ttab\x00", `<S>line1_x000D__x000A_line2_x0009_tab_x0000_</S>`},
		{"underscore x", "_x0041_ and my_var", `<S>_x005F_x0041_ and my_var</S>`},
		{"unicode", "Zürich ✓", `<S>Zürich ✓</S>`},
		{"enum", status, `<Obj RefId="0"><TN RefId="0"><T>Microsoft.Exchange.Management.SystemConfigurationTasks.CopyStatus</T><T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN><ToString>Healthy</ToString><I32>2</I32></Obj>`},
		{"list", []any{"a", 1, nil}, `<Obj RefId="0"><TN RefId="0"><T>System.Object[]</T><T>System.Array</T><T>System.Object</T></TN><LST><S>a</S><I32>1</I32><Nil /></LST></Obj>`},
		{"hashtable", &ps.Hashtable{Keys: []string{"EX10-MB01"}, Values: []any{1}},
			`<Obj RefId="0"><TN RefId="0"><T>System.Collections.Hashtable</T><T>System.Object</T></TN><DCT><En><S N="Key">EX10-MB01</S><I32 N="Value">1</I32></En></DCT></Obj>`},
		{"object with its type, twice", []any{
			ps.NewObject("Microsoft.Exchange.Data.Directory.SystemConfiguration.MailboxDatabase", "Name", "MB01", "Status", status),
			&ps.Object{TypeName: "Microsoft.Exchange.Data.Directory.SystemConfiguration.MailboxDatabase", Str: "MB02"}},
			`<Obj RefId="0"><TN RefId="0"><T>System.Object[]</T><T>System.Array</T><T>System.Object</T></TN><LST>` +
				`<Obj RefId="1"><TN RefId="1"><T>Microsoft.Exchange.Data.Directory.SystemConfiguration.MailboxDatabase</T><T>System.Object</T></TN><ToString>Microsoft.Exchange.Data.Directory.SystemConfiguration.MailboxDatabase</ToString><Props><S N="Name">MB01</S>` +
				`<Obj N="Status" RefId="2"><TN RefId="2"><T>Microsoft.Exchange.Management.SystemConfigurationTasks.CopyStatus</T><T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN><ToString>Healthy</ToString><I32>2</I32></Obj></Props></Obj>` +
				`<Obj RefId="3"><TNRef RefId="1" /><ToString>MB02</ToString></Obj></LST></Obj>`},
		{"custom object", ps.NewObject("", "Name", "x", "N", 1),
			`<Obj RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T><T>System.Object</T></TN><ToString>@{Name=x; N=1}</ToString><MS><S N="Name">x</S><I32 N="N">1</I32></MS></Obj>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(SerializeValue(tt.v))
			if got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
			// And a client reads back what was sent.
			back, err := DecodeValue([]byte(got))
			if err != nil {
				t.Fatalf("decoding: %v", err)
			}
			switch v := tt.v.(type) {
			case ps.Enum:
				if back != v.Value {
					t.Errorf("enum read back as %#v", back)
				}
			case *ps.Object, []any, *ps.Hashtable:
			default:
				if !reflect.DeepEqual(back, tt.v) {
					t.Errorf("read back %#v", back)
				}
			}
		})
	}
}

func TestDecodeArguments(t *testing.T) {
	// A CREATE_PIPELINE as a PowerShell 2.0 client writes it for
	// Get-MailboxDatabaseCopyStatus -Identity 'MB01\EX10-MB02' -Server EX10-MB01,EX10-MB02 -Active:$null
	// (a name without its dash and Nil is the parameter with the argument $null, as
	// PowerShell's CommandParameter.ToCommandParameterInternal reads it)
	// followed by a positional argument; structure per MS-PSRP 2.2.2.10 / 2.2.3.11.
	data := `<Obj RefId="0"><MS><B N="NoInput">true</B><Obj N="PowerShell" RefId="1"><MS>` +
		`<Obj N="Cmds" RefId="2"><TN RefId="0"><T>System.Collections.Generic.List` + "`" + `1[[System.Management.Automation.PSObject, System.Management.Automation]]</T><T>System.Object</T></TN><LST>` +
		`<Obj RefId="3"><MS><S N="Cmd">Get-MailboxDatabaseCopyStatus</S><B N="IsScript">false</B><Nil N="UseLocalScope" />` +
		`<Obj N="Args" RefId="4"><TNRef RefId="0" /><LST>` +
		`<Obj RefId="5"><MS><S N="N">-Identity:</S><S N="V">MB01\EX10-MB02</S></MS></Obj>` +
		`<Obj RefId="6"><MS><S N="N">Server</S><Obj N="V" RefId="7"><TN RefId="1"><T>System.String[]</T><T>System.Array</T><T>System.Object</T></TN><LST><S>EX10-MB01</S><S>EX10-MB02</S></LST></Obj></MS></Obj>` +
		`<Obj RefId="8"><MS><S N="N">Active</S><Nil N="V" /></MS></Obj>` +
		`<Obj RefId="9"><MS><S N="N">Verbose</S><B N="V">false</B></MS></Obj>` +
		`<Obj RefId="10"><MS><Nil N="N" /><I64 N="V">5</I64></MS></Obj>` +
		`<Obj RefId="11"><MS><S N="N">When</S><DT N="V">2010-11-09T08:07:06.5Z</DT></MS></Obj>` +
		`<Obj RefId="12"><MS><S N="N">Ratio</S><Db N="V">0.25</Db></MS></Obj>` +
		`<Obj RefId="13"><MS><S N="N">Name</S><S N="V">a_x000A_b</S></MS></Obj>` +
		`</LST></Obj></MS></Obj>` +
		`<Obj RefId="14"><MS><S N="Cmd">Select-Object</S><B N="IsScript">false</B><Obj N="Args" RefId="15"><TNRef RefId="0" /><LST /></Obj></MS></Obj>` +
		`</LST></Obj><B N="IsNested">false</B><Nil N="History" /></MS></Obj></MS></Obj>`
	cp, err := DecodeCreatePipeline([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []Command{
		{Name: "Get-MailboxDatabaseCopyStatus", Args: []Arg{
			{"Identity", `MB01\EX10-MB02`}, {"Server", []any{"EX10-MB01", "EX10-MB02"}}, {"Active", nil},
			{"Verbose", false}, {"", 5}, {"When", time.Date(2010, 11, 9, 8, 7, 6, 500000000, time.UTC)},
			{"Ratio", 0.25}, {"Name", "a\nb"},
		}},
		{Name: "Select-Object"},
	}
	if !reflect.DeepEqual(cp.Commands, want) || !cp.NoInput {
		t.Errorf("got %#v", cp)
	}
}

func TestDecodeRefusals(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"not xml", `<Obj`, "not well-formed"},
		{"two roots", `<S>a</S><S>b</S>`, "more than one root"},
		{"no PowerShell", `<Obj RefId="0"><MS></MS></Obj>`, "no PowerShell object"},
		{"no commands", `<Obj RefId="0"><MS><Obj N="PowerShell" RefId="1"><MS><Obj N="Cmds" RefId="2"><LST /></Obj></MS></Obj></MS></Obj>`, "no commands"},
		{"bad int", `<Obj RefId="0"><MS><Obj N="PowerShell" RefId="1"><MS><Obj N="Cmds" RefId="2"><LST><Obj RefId="3"><MS><S N="Cmd">X</S><Obj N="Args" RefId="4"><LST><Obj RefId="5"><MS><S N="N">A</S><I32 N="V">x1</I32></MS></Obj></LST></Obj></MS></Obj></LST></Obj></MS></Obj></MS></Obj>`, "parameter A: psrp: <I32>x1</I32> is not an integer"},
		{"secure string", `<Obj RefId="0"><MS><Obj N="PowerShell" RefId="1"><MS><Obj N="Cmds" RefId="2"><LST><Obj RefId="3"><MS><S N="Cmd">X</S><Obj N="Args" RefId="4"><LST><Obj RefId="5"><MS><S N="N">P</S><SS N="V">AAAA</SS></MS></Obj></LST></Obj></MS></Obj></LST></Obj></MS></Obj></MS></Obj>`, "SecureString"},
		{"dangling ref", `<Obj RefId="0"><MS><Obj N="PowerShell" RefId="1"><MS><Obj N="Cmds" RefId="2"><LST><Obj RefId="3"><MS><S N="Cmd">X</S><Obj N="Args" RefId="4"><LST><Obj RefId="5"><MS><S N="N">P</S><Ref N="V" RefId="99" /></MS></Obj></LST></Obj></MS></Obj></LST></Obj></MS></Obj></MS></Obj>`, "names no object"},
		{"too deep", strings.Repeat("<Obj><LST>", 100), "deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeCreatePipeline([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
	for _, bad := range []string{
		`<Obj RefId="0"><MS><Version N="protocolversion">3.0</Version><Version N="PSVersion">2.0</Version><Version N="SerializationVersion">1.1.0.1</Version></MS></Obj>`,
		`<Obj RefId="0"><MS><Version N="PSVersion">2.0</Version></MS></Obj>`,
	} {
		if _, err := DecodeSessionCapability([]byte(bad)); err == nil {
			t.Errorf("SESSION_CAPABILITY %s accepted", bad)
		}
	}
	if _, err := DecodeInitRunspacePool([]byte(`<Obj RefId="0"><MS><I32 N="MinRunspaces">2</I32><I32 N="MaxRunspaces">1</I32></MS></Obj>`)); err == nil {
		t.Error("min above max accepted")
	}
}
