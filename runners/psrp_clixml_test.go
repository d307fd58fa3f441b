package runners

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/commands"
)

// copyStatusXML is a Get-MailboxDatabaseCopyStatus object as a PowerShell 2.0 server
// serialises it: adapted properties in <Props>, the remoting note properties in <MS>,
// enums with <ToString>, type lists shared with <TNRef>, a DateTime with an offset and a
// TimeSpan.
const copyStatusXML = `<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">` +
	`<Obj RefId="0"><TN RefId="0"><T>Deserialized.Microsoft.Exchange.Management.SystemConfigurationTasks.DatabaseCopyStatusEntry</T><T>Deserialized.System.Object</T></TN>` +
	`<ToString>MB01\EX10-MB02</ToString>` +
	`<Props>` +
	`<S N="Name">MB01\EX10-MB02</S>` +
	`<S N="DatabaseName">MB01</S>` +
	`<S N="MailboxServer">EX10-MB02</S>` +
	`<Obj N="Status" RefId="1"><TN RefId="1"><T>Deserialized.Microsoft.Exchange.Management.SystemConfigurationTasks.CopyStatus</T><T>Deserialized.System.Enum</T><T>Deserialized.System.ValueType</T><T>Deserialized.System.Object</T></TN><ToString>Healthy</ToString><I32>2</I32></Obj>` +
	`<B N="ActiveCopy">false</B>` +
	`<B N="ActivationSuspended">false</B>` +
	`<I64 N="CopyQueueLength">12</I64>` +
	`<Nil N="ReplayQueueLength"/>` +
	`<DT N="LastInspectedLogTime">2010-11-19T10:47:24.1234567+01:00</DT>` +
	`<Obj N="ContentIndexState" RefId="2"><TNRef RefId="1"/><ToString>Healthy</ToString><I32>1</I32></Obj>` +
	`<S N="ErrorMessage">line one_x000D__x000A_line two</S>` +
	`<TS N="ReplayLagTime">P1DT2H3M4.5S</TS>` +
	`</Props>` +
	`<MS><S N="PSComputerName">ex10-caht.msglab.local</S><G N="RunspaceId">0bd3a8b8-cd5b-4ef4-a5e8-fb3d2b4e5e5a</G><B N="PSShowComputerName">false</B></MS>` +
	`</Obj></Objs>`

// databaseXML has the multi-valued properties of Get-MailboxDatabase: a list of
// ADObjectId (each with its ToString) and ActivationPreference as KeyValuePair objects,
// the second server written once and referred to by <Ref>.
const databaseXML = `<Obj RefId="0"><TN RefId="0"><T>Deserialized.Microsoft.Exchange.Data.Directory.SystemConfiguration.MailboxDatabase</T></TN><ToString>MB01</ToString><Props>` +
	`<S N="Name">MB01</S>` +
	`<Obj N="Servers" RefId="1"><TN RefId="1"><T>Deserialized.Microsoft.Exchange.Data.Directory.ADObjectId[]</T><T>Deserialized.System.Array</T></TN><LST>` +
	`<Obj RefId="2"><TN RefId="2"><T>Deserialized.Microsoft.Exchange.Data.Directory.ADObjectId</T></TN><ToString>EX10-MB01</ToString><Props><S N="Name">EX10-MB01</S></Props></Obj>` +
	`<Obj RefId="3"><TNRef RefId="2"/><ToString>EX10-MB02</ToString><Props><S N="Name">EX10-MB02</S></Props></Obj>` +
	`</LST></Obj>` +
	`<Obj N="ActivationPreference" RefId="4"><TN RefId="3"><T>Deserialized.System.Collections.Generic.KeyValuePair` + "`" + `2[[Microsoft.Exchange.Data.Directory.ADObjectId],[System.Int32]][]</T></TN><LST>` +
	`<Obj RefId="5"><ToString>[EX10-MB01, 1]</ToString><Props><Ref N="Key" RefId="2"/><I32 N="Value">1</I32></Props></Obj>` +
	`<Obj RefId="6"><ToString>[EX10-MB02, 2]</ToString><Props><Ref N="Key" RefId="3"/><I32 N="Value">2</I32></Props></Obj>` +
	`</LST></Obj>` +
	`<B N="CircularLoggingEnabled">false</B>` +
	`<S N="RpcClientAccessServer">ex10-caht.msglab.local</S>` +
	`<Obj N="Settings" RefId="7"><TN RefId="4"><T>System.Collections.Hashtable</T></TN><DCT><En><S N="Key">a</S><I32 N="Value">1</I32></En></DCT></Obj>` +
	`<Obj N="Server" RefId="8"><TNRef RefId="2"/><ToString>EX10-MB01</ToString><Props><S N="Name">EX10-MB01</S></Props></Obj>` +
	`<Obj N="MasterServerOrAvailabilityGroup" RefId="9"><TNRef RefId="2"/><ToString>E14-DAG</ToString></Obj>` +
	`</Props></Obj>`

func decodeOne(t *testing.T, xml string) *psObject {
	t.Helper()
	objs, err := decodeCLIXML([]byte(xml))
	if err != nil {
		t.Fatalf("decodeCLIXML: %v", err)
	}
	if len(objs) != 1 {
		t.Fatalf("decoded %d objects, want 1", len(objs))
	}
	o, ok := objs[0].(*psObject)
	if !ok {
		t.Fatalf("decoded %T, want an object", objs[0])
	}
	return o
}

func TestDecodeKeepsPropsAndMemberSet(t *testing.T) {
	o := decodeOne(t, copyStatusXML)
	if got := o.types[0]; !strings.HasPrefix(got, "Deserialized.Microsoft.Exchange") {
		t.Errorf("type %q", got)
	}
	for name, want := range map[string]string{
		"Name":                 `MB01\EX10-MB02`,
		"status":               "Healthy", // names compare without case, as in PowerShell
		"ContentIndexState":    "Healthy", // its type list came by TNRef
		"CopyQueueLength":      "12",
		"ReplayQueueLength":    "",
		"ActiveCopy":           "False",
		"ErrorMessage":         "line one\r\nline two",
		"PSComputerName":       "ex10-caht.msglab.local", // from <MS>, kept with <Props>
		"LastInspectedLogTime": "2010-11-19T09:47:24.1234567Z",
		"ReplayLagTime":        "1.02:03:04.5000000",
	} {
		v, _ := o.prop(name)
		if got := valueText(v); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	ci, _ := o.prop("ContentIndexState")
	if types := ci.(*psObject).types; len(types) != 4 || types[1] != "Deserialized.System.Enum" {
		t.Errorf("ContentIndexState's types = %q", types)
	}
}

func TestProjectColumns(t *testing.T) {
	objs := []any{decodeOne(t, copyStatusXML)}
	call := commands.Call{Section: "copystatus", Columns: []string{"Name", "Status", "#CopyQueueLength", "#ReplayQueueLength", "@LastInspectedLogTime", "@Missing", "ActiveCopy", "Absent"}}
	sec := project(call, objs)
	want := map[string]string{"Name": `MB01\EX10-MB02`, "Status": "Healthy", "CopyQueueLength": "12", "ReplayQueueLength": "0",
		"LastInspectedLogTime": "2010-11-19T09:47:24.1234567Z", "Missing": "", "ActiveCopy": "False", "Absent": ""}
	if len(sec.Rows) != 1 {
		t.Fatalf("%d rows", len(sec.Rows))
	}
	for k, v := range want {
		if sec.Rows[0][k] != v {
			t.Errorf("%s = %q, want %q", k, sec.Rows[0][k], v)
		}
	}
	if strings.Join(sec.Columns, ",") != "Name,Status,CopyQueueLength,ReplayQueueLength,LastInspectedLogTime,Missing,ActiveCopy,Absent" {
		t.Errorf("columns %q", sec.Columns)
	}

	db := decodeOne(t, databaseXML)
	sec = project(commands.Call{Section: "databases", Columns: []string{"Name", "Server", "MasterServerOrAvailabilityGroup", "*Servers", "*ActivationPreference", "CircularLoggingEnabled", "RpcClientAccessServer"}}, []any{db})
	row := sec.Rows[0]
	for k, v := range map[string]string{"Name": "MB01", "Server": "EX10-MB01", "MasterServerOrAvailabilityGroup": "E14-DAG",
		"Servers": "EX10-MB01;EX10-MB02", "ActivationPreference": "[EX10-MB01, 1];[EX10-MB02, 2]",
		"CircularLoggingEnabled": "False", "RpcClientAccessServer": "ex10-caht.msglab.local"} {
		if row[k] != v {
			t.Errorf("%s = %q, want %q", k, row[k], v)
		}
	}
	// The Ref'd key is the very object the Servers list holds.
	ap, _ := db.prop("ActivationPreference")
	key, _ := ap.(*psObject).list[1].(*psObject).prop("Key")
	servers, _ := db.prop("Servers")
	if key != servers.(*psObject).list[1] {
		t.Error("<Ref> did not resolve to the object with that RefId")
	}

	where := commands.Call{Section: "s", Columns: []string{"Name"}, Where: &commands.Match{Column: "Status", Value: "healthy"}}
	if n := len(project(where, objs).Rows); n != 1 {
		t.Errorf("Where Status=healthy kept %d rows, want 1", n)
	}
	where.Where.Value = "Mounted"
	if n := len(project(where, objs).Rows); n != 0 {
		t.Errorf("Where Status=Mounted kept %d rows, want 0", n)
	}
}

// A Test-ReplicationHealth row from a German server: Result's text is translated,
// its Value (the enum) is not, and "Result.Value" reaches it.
const replicationRowXML = `<Obj RefId="0"><TN RefId="0"><T>Microsoft.Exchange.Management.SystemConfigurationTasks.ReplicationCheckOutputObject</T><T>System.Object</T></TN>` +
	`<ToString>DBCopyFailed</ToString><Props><S N="Server">EX10-MB02</S><S N="Check">DBCopyFailed</S>` +
	`<Obj N="Result" RefId="1"><TN RefId="1"><T>Microsoft.Exchange.Management.SystemConfigurationTasks.ReplicationCheckResult</T><T>System.Object</T></TN><ToString>*FEHLER*</ToString>` +
	`<Props><Obj N="Value" RefId="2"><TN RefId="2"><T>Microsoft.Exchange.Management.SystemConfigurationTasks.ReplicationCheckResultEnum</T><T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN><ToString>Failed</ToString><I32>3</I32></Obj></Props></Obj>` +
	`</Props></Obj>`

func TestProjectNestedColumn(t *testing.T) {
	obj := decodeOne(t, replicationRowXML)
	call := commands.Call{Section: "replicationhealth", Columns: []string{"Check", "Result", "Result.Value", "Result.Missing", "Check.Value"}}
	sec := project(call, []any{obj})
	want := map[string]string{"Check": "DBCopyFailed", "Result": "*FEHLER*", "Result.Value": "Failed", "Result.Missing": "", "Check.Value": ""}
	for k, v := range want {
		if got := sec.Rows[0][k]; got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if got := strings.Join(sec.Columns, ","); got != "Check,Result,Result.Value,Result.Missing,Check.Value" {
		t.Errorf("columns %q", got)
	}
}

func TestDecodeValues(t *testing.T) {
	for _, tc := range []struct {
		xml, want string
	}{
		{`<S>a_x005F_x0041_b</S>`, "a_x0041_b"},
		{`<S>_xD83D__xDE00_</S>`, "\U0001F600"},
		{`<C>65</C>`, "A"},
		{`<U64>18446744073709551615</U64>`, "18446744073709551615"},
		{`<By>255</By>`, "255"},
		{`<Db>1.5</Db>`, "1.5"},
		{`<D>1.10</D>`, "1.10"},
		{`<DT>2010-11-19T10:47:24.5</DT>`, "2010-11-19T10:47:24.5000000Z"},
		{`<TS>-PT0.5S</TS>`, "-00:00:00.5000000"},
		{`<TS>PT10M</TS>`, "00:10:00"},
		{`<Version>14.3.123.4</Version>`, "14.3.123.4"},
		{`<Nil/>`, ""},
		{`<Obj RefId="0"><TN RefId="0"><T>System.Object[]</T></TN><LST><S>a</S><I32>2</I32></LST></Obj>`, "a;2"},
		{`<Obj RefId="0"><I32>7</I32></Obj>`, "7"},
		{`<XYZ>kept</XYZ>`, "kept"},
	} {
		objs, err := decodeCLIXML([]byte(tc.xml))
		if err != nil {
			t.Errorf("%s: %v", tc.xml, err)
			continue
		}
		if got := valueText(objs[0]); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.xml, got, tc.want)
		}
	}
}

func TestDecodeRefusesMalformed(t *testing.T) {
	deep := strings.Repeat(`<Obj><LST>`, 100) + strings.Repeat(`</LST></Obj>`, 100)
	for _, xml := range []string{
		`<Obj><Props><S N="a">x</Props></Obj>`,
		`<Obj><Props><Ref N="a" RefId="9"/></Props></Obj>`,
		`<Obj><TNRef RefId="3"/></Obj>`,
		`<I32>twelve</I32>`,
		`<B>yes</B>`,
		`<DT>yesterday</DT>`,
		`<TS>P</TS>`,
		`<BA>!!</BA>`,
		`<LST><S>x</S></LST>`,
		`<Obj><DCT><S>x</S></DCT></Obj>`,
		deep,
	} {
		if _, err := decodeCLIXML([]byte(xml)); !errors.Is(err, errCLIXML) {
			t.Errorf("%.60s: err = %v, want errCLIXML", xml, err)
		}
	}
}

func TestEscapeRoundTrip(t *testing.T) {
	for _, s := range []string{"plain", "a<b>&\"c'", "tab\there\r\nnext", "_x0041_ literal", "under_score", "\U0001F600 ü"} {
		xml := `<S>` + escapeCLIXML(s) + `</S>`
		objs, err := decodeCLIXML([]byte(xml))
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if objs[0] != s {
			t.Errorf("%q came back as %q (%s)", s, objs[0], xml)
		}
	}
}

func TestErrorAndRecordText(t *testing.T) {
	rec := decodeOne(t, `<Obj RefId="0"><TN RefId="0"><T>System.Management.Automation.ErrorRecord</T></TN><ToString>The term 'Get-Foo' is not recognized</ToString><MS>`+
		`<Obj N="Exception" RefId="1"><TN RefId="1"><T>System.Management.Automation.CommandNotFoundException</T></TN><ToString>x</ToString><Props><S N="Message">The term 'Get-Foo' is not recognized as the name of a cmdlet, function, script file, or operable program._x000D__x000A_</S></Props></Obj>`+
		`<S N="FullyQualifiedErrorId">CommandNotFoundException</S></MS></Obj>`)
	if got := errorMessage(rec); got != "The term 'Get-Foo' is not recognized as the name of a cmdlet, function, script file, or operable program." {
		t.Errorf("errorMessage = %q", got)
	}
	if got := errorID(rec); got != "CommandNotFoundException" {
		t.Errorf("errorID = %q", got)
	}
	details := decodeOne(t, `<Obj RefId="0"><MS><S N="ErrorDetails_Message">better</S><Obj N="Exception" RefId="1"><Props><S N="Message">worse</S></Props></Obj></MS></Obj>`)
	if got := errorMessage(details); got != "better" {
		t.Errorf("errorMessage with details = %q", got)
	}
	warn := decodeOne(t, `<Obj RefId="0"><ToString>careful</ToString><MS><S N="InformationalRecord_Message">careful</S></MS></Obj>`)
	if got := recordText(warn); got != "careful" {
		t.Errorf("recordText = %q", got)
	}
	prog := decodeOne(t, `<Obj RefId="0"><MS><S N="Activity">Seeding MB01 to EX10-MB02</S><I32 N="ActivityId">1</I32><S N="StatusDescription">Seeding MB01 to EX10-MB02</S><I32 N="PercentComplete">42</I32><Obj N="Type" RefId="1"><ToString>Processing</ToString><I32>0</I32></Obj></MS></Obj>`)
	if got, pct, done := progressLine(prog); got != "Seeding MB01 to EX10-MB02: 42%" || pct != 42 || done {
		t.Errorf("progressLine = %q, %d, %v", got, pct, done)
	}
	var g progressGate
	var passed []int
	for _, p := range []int{0, 1, 5, 9, 10, 15, 20, 21, 95, 99} {
		if g.pass("x", p, false, "seed") {
			passed = append(passed, p)
		}
	}
	if fmt.Sprint(passed) != "[0 10 20 95]" || !g.pass("x", 100, true, "seed") || !g.pass("y", 3, false, "other") {
		t.Errorf("the gate passed %v", passed)
	}
}

func TestTimeSpanText(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                   "00:00:00",
		90 * time.Minute:                    "01:30:00",
		50*time.Hour + 150*time.Millisecond: "2.02:00:00.1500000",
	} {
		if got := timeSpanText(d); got != want {
			t.Errorf("%v = %q, want %q", d, got, want)
		}
	}
}
