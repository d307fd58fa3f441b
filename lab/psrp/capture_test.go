package psrp

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exchops/exchops/lab/ps"
)

// capture reads the packets of a captured exchange (see testdata/captures/README.md).
func capture(t *testing.T, name string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "captures", name))
	if err != nil {
		t.Fatal(err)
	}
	var packets [][]byte
	for _, line := range strings.Fields(string(data)) {
		p, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		packets = append(packets, p)
	}
	return packets
}

// captureMessages reassembles a capture's packets into messages.
func captureMessages(t *testing.T, name string) []Message {
	t.Helper()
	var r Reassembler
	var out []Message
	for _, p := range capture(t, name) {
		raw, err := r.Feed(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, b := range raw {
			m, err := DecodeMessage(b)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out = append(out, m)
		}
	}
	return out
}

// TestServerMessagesMatchWindows compares the lab's server messages byte for byte with a
// Windows Server 2008 R2 (PowerShell 2.0) host's.
func TestServerMessagesMatchWindows(t *testing.T) {
	pool1 := capture(t, "w2008r2-pool-receive-1.b64")
	pool2 := capture(t, "w2008r2-pool-receive-2.b64")
	pipe := captureMessages(t, "w2008r2-pipeline-receive.b64")
	rpid := captureMessages(t, "w2008r2-pool-receive-1.b64")[1].RPID

	// Whole packets, header and fragment framing included: same object ids as the
	// server's first three messages.
	whole := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"SESSION_CAPABILITY", Fragment{ObjectID: 1, Start: true, End: true,
			Blob: Message{Destination: DestinationClient, Type: MsgSessionCapability, Data: SessionCapabilityData()}.Encode()}.Append(nil), pool1[0]},
		{"APPLICATION_PRIVATE_DATA", Fragment{ObjectID: 2, Start: true, End: true,
			Blob: Message{Destination: DestinationClient, Type: MsgApplicationPrivateData, RPID: rpid, Data: ApplicationPrivateDataData()}.Encode()}.Append(nil), pool1[1]},
		{"RUNSPACEPOOL_STATE", Fragment{ObjectID: 3, Start: true, End: true,
			Blob: Message{Destination: DestinationClient, Type: MsgRunspacePoolState, RPID: rpid, Data: RunspacePoolStateData(PoolOpened, nil)}.Encode()}.Append(nil), pool2[0]},
	}
	for _, tt := range whole {
		if !bytes.Equal(tt.got, tt.want) {
			t.Errorf("%s differs from Windows':\n got %q\nwant %q", tt.name, tt.got, tt.want)
		}
	}

	last := pipe[len(pipe)-1]
	if last.Type != MsgPipelineState {
		t.Fatalf("the capture's last message is %s", last.Type)
	}
	if got := PipelineStateData(PipelineCompleted, nil); !bytes.Equal(got, last.Data) {
		t.Errorf("PIPELINE_STATE Completed:\n got %q\nwant %q", got, last.Data)
	}
	// Primitive outputs as the server wrote them.
	outputs := map[string]any{"\xef\xbb\xbf<S>message 1</S>": "message 1", "\xef\xbb\xbf<I32>2</I32>": 2}
	for _, m := range pipe {
		if m.Type != MsgPipelineOutput {
			continue
		}
		if v, ok := outputs[string(m.Data)]; ok {
			if got := PipelineOutputData(v); !bytes.Equal(got, m.Data) {
				t.Errorf("PIPELINE_OUTPUT %v: got %q want %q", v, got, m.Data)
			}
			delete(outputs, string(m.Data))
		}
	}
	if len(outputs) != 0 {
		t.Errorf("outputs not found in the capture: %v", outputs)
	}

	// PowerShell 5.1's progress record has the same shape as 2.0's.
	failed := captureMessages(t, "w2016-failed-receive.b64")
	if failed[0].Type != MsgProgressRecord {
		t.Fatalf("first message of the failed capture is %s", failed[0].Type)
	}
	if got := ProgressRecordData(0, "Preparing modules for first use.", " ", -1, true); !bytes.Equal(got, failed[0].Data) {
		t.Errorf("PROGRESS_RECORD:\n got %q\nwant %q", got, failed[0].Data)
	}
}

// propNames lists the property names of an object's MS and Props, recursively for the
// named nested objects.
func propNames(n *node, prefix string, into map[string]bool) {
	for _, set := range []string{"MS", "Props"} {
		if s := n.child(set); s != nil {
			for _, c := range s.children {
				into[prefix+c.name] = true
				if c.tag == "Obj" && (c.name == "Exception" || c.name == "ExceptionAsErrorRecord" || c.name == "InvocationInfo") {
					propNames(c, prefix+c.name+".", into)
				}
			}
		}
	}
}

// TestErrorRecordShape: the lab's error records carry the properties a real server's
// do (those clients read: the exception's Message, FullyQualifiedErrorId, the flattened
// CategoryInfo), with the same element kinds.
func TestErrorRecordShape(t *testing.T) {
	rec := &ps.ErrorRecord{Message: "Couldn't find database \"NOPE\".", Category: "ObjectNotFound",
		ErrorID: "4F4F4F4F,Microsoft.Exchange.Management.SystemConfigurationTasks.GetMailboxDatabase",
		Target:  "NOPE", Command: "Get-MailboxDatabase", ExceptionType: "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"}
	var realError, realFailed *node
	for _, m := range captureMessages(t, "w2008r2-pipeline-receive.b64") {
		// The client merged its error stream into output (MergeMyResult), so the
		// record came as PIPELINE_OUTPUT; its shape is an ERROR_RECORD's.
		if m.Type == MsgPipelineOutput && bytes.Contains(m.Data, []byte("<T>System.Management.Automation.ErrorRecord</T>")) {
			var err error
			if realError, err = parseCLIXML(m.Data); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, m := range captureMessages(t, "w2016-failed-receive.b64") {
		if m.Type == MsgPipelineState {
			var err error
			if realFailed, err = parseCLIXML(m.Data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if realError == nil || realFailed == nil {
		t.Fatal("the captures lack an error record")
	}
	check := func(what string, real *node, ours []byte) {
		t.Helper()
		n, err := parseCLIXML(ours)
		if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, ours)
		}
		want, got := map[string]bool{}, map[string]bool{}
		propNames(real, "", want)
		propNames(n, "", got)
		for name := range got {
			if !want[name] {
				t.Errorf("%s: property %q is not in the real server's record", what, name)
			}
		}
		for _, name := range []string{"Exception", "Exception.Message", "FullyQualifiedErrorId", "TargetObject",
			"InvocationInfo.MyCommand", "InvocationInfo.InvocationName",
			"ErrorCategory_Category", "ErrorCategory_Activity", "ErrorCategory_Reason", "ErrorCategory_TargetName",
			"ErrorCategory_TargetType", "ErrorCategory_Message", "SerializeExtendedInfo"} {
			if !got[name] && !got["ExceptionAsErrorRecord."+name] {
				t.Errorf("%s: the lab's record lacks %s", what, name)
			}
		}
	}
	check("ERROR_RECORD", realError, ErrorRecordData(rec))
	check("PIPELINE_STATE Failed", realFailed, PipelineStateData(PipelineFailed, rec))

	// What a client reads back.
	v, err := DecodeValue(ErrorRecordData(rec))
	if err != nil {
		t.Fatal(err)
	}
	o := v.(*ps.Object)
	inv, _ := o.Get("InvocationInfo")
	if my, _ := inv.(*ps.Object).Get("MyCommand"); my != "Get-MailboxDatabase" {
		t.Errorf("InvocationInfo.MyCommand = %v", my)
	}
	exc, _ := o.Get("Exception")
	msg, _ := exc.(*ps.Object).Get("Message")
	id, _ := o.Get("FullyQualifiedErrorId")
	cat, _ := o.Get("ErrorCategory_Category")
	catMsg, _ := o.Get("ErrorCategory_Message")
	if o.TypeName != "System.Management.Automation.ErrorRecord" || o.Str != rec.Message || msg != rec.Message ||
		id != rec.ErrorID || cat != 13 || catMsg != "ObjectNotFound: (NOPE:String) [Get-MailboxDatabase], ManagementObjectNotFoundException" {
		t.Errorf("decoded error record: %q %q %v %v %v %v", o.TypeName, o.Str, msg, id, cat, catMsg)
	}
}

// TestDecodeClientCaptures reads real clients' messages.
func TestDecodeClientCaptures(t *testing.T) {
	msgs := captureMessages(t, "w2008r2-creation.b64")
	if len(msgs) != 2 || msgs[0].Type != MsgSessionCapability || msgs[1].Type != MsgInitRunspacePool {
		t.Fatalf("creationXml: %v", msgs)
	}
	caps, err := DecodeSessionCapability(msgs[0].Text())
	if err != nil || caps != (SessionCapability{"2.3", "2.0", "1.1.0.1"}) {
		t.Errorf("SESSION_CAPABILITY = %+v, %v", caps, err)
	}
	init, err := DecodeInitRunspacePool(msgs[1].Text())
	if err != nil || init != (InitRunspacePool{1, 1}) {
		t.Errorf("INIT_RUNSPACEPOOL = %+v, %v", init, err)
	}

	cp := captureMessages(t, "w2008r2-create-pipeline.b64")
	p, err := DecodeCreatePipeline(cp[0].Text())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Commands) != 1 || !p.Commands[0].IsScript || !strings.HasPrefix(p.Commands[0].Name, "begin {\n    $DebugPreference = 'Continue'") || p.NoInput {
		t.Errorf("CREATE_PIPELINE = %+v", p)
	}
	// The pipeline id is the client's GUID; the RPID is the pool's.
	if cp[0].RPID != msgs[1].RPID || cp[0].PID == (GUID{}) {
		t.Errorf("ids: rpid %s pid %s", cp[0].RPID, cp[0].PID)
	}

	in := captureMessages(t, "w2008r2-pipeline-input.b64")
	var values []any
	for _, m := range in {
		if m.Type == MsgPipelineInput {
			v, err := DecodeValue(m.Text())
			if err != nil {
				t.Fatal(err)
			}
			values = append(values, v)
		}
	}
	if len(values) != 3 || values[0] != "message 1" || values[1] != 2 || len(values[2].([]any)) != 2 || in[3].Type != MsgEndOfPipelineInput {
		t.Errorf("pipeline input = %#v", values)
	}

	ss := captureMessages(t, "w2016-create-pipeline-securestring.b64")
	if _, err := DecodeCreatePipeline(ss[0].Text()); err == nil || !strings.Contains(err.Error(), "SecureString") {
		t.Errorf("a SecureString argument gave %v, want a refusal", err)
	}
}
