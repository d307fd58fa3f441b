package runners

import (
	"bufio"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smnsjas/go-psrpcore/messages"
)

// The lab keeps packets captured from real Windows servers (lab/psrp/testdata/captures,
// see its README): the client's decoding must read what PowerShell 2.0 on Windows
// Server 2008 R2 and PowerShell 5.1 on 2016 actually send.
func captured(t *testing.T, name string) []*messages.Message {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "lab", "psrp", "testdata", "captures", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := newReassembler()
	var out []*messages.Message
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		packet, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := r.add(packet)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, msgs...)
	}
	return out
}

func TestCapturedPoolOpening(t *testing.T) {
	msgs := append(captured(t, "w2008r2-pool-receive-1.b64"), captured(t, "w2008r2-pool-receive-2.b64")...)
	var types []messages.MessageType
	for _, m := range msgs {
		types = append(types, m.Type)
		if _, err := decodeCLIXML(m.Data); err != nil {
			t.Errorf("%#x: %v", m.Type, err)
		}
	}
	want := []messages.MessageType{messages.MessageTypeSessionCapability, messages.MessageTypeApplicationPrivate, messages.MessageTypeRunspacePoolState}
	if len(types) != 3 || types[0] != want[0] || types[1] != want[1] || types[2] != want[2] {
		t.Fatalf("types %x, want %x", types, want)
	}
	objs, _ := decodeCLIXML(msgs[0].Data)
	pv, _ := objs[0].(*psObject).prop("protocolversion")
	if valueText(pv) != "2.1" {
		t.Errorf("protocolversion %q", valueText(pv))
	}
	if state, _, err := stateOf(msgs[2], "RunspaceState"); err != nil || state != int64(messages.RunspacePoolStateOpened) {
		t.Errorf("pool state %d, %v", state, err)
	}
}

func TestCapturedPipeline(t *testing.T) {
	var outputs, errs int
	var state int64 = -1
	for _, m := range captured(t, "w2008r2-pipeline-receive.b64") {
		objs, err := decodeCLIXML(m.Data)
		if err != nil {
			t.Fatalf("%#x: %v", m.Type, err)
		}
		switch m.Type {
		case messages.MessageTypePipelineOutput:
			outputs++
			// The script wrote an ErrorRecord as output: its message is readable too.
			if o, ok := objs[0].(*psObject); ok && len(o.types) > 0 && o.types[0] == "System.Management.Automation.ErrorRecord" {
				errs++
				if errorMessage(o) == "" || errorID(o) == "" {
					t.Errorf("error record without message or id: %q %q", errorMessage(o), errorID(o))
				}
			}
		case messages.MessageTypeDebugRecord:
			if recordText(objs[0]) == "" {
				t.Error("debug record without text")
			}
		case messages.MessageTypePipelineState:
			state, _, err = stateOf(m, "PipelineState")
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if outputs != 4 || errs != 1 || state != int64(messages.PipelineStateCompleted) {
		t.Errorf("outputs %d, errors %d, state %d", outputs, errs, state)
	}

	var progress string
	state = -1
	var reason string
	for _, m := range captured(t, "w2016-failed-receive.b64") {
		objs, err := decodeCLIXML(m.Data)
		if err != nil {
			t.Fatalf("%#x: %v", m.Type, err)
		}
		switch m.Type {
		case messages.MessageTypeProgressRecord:
			progress, _, _ = progressLine(objs[0])
		case messages.MessageTypePipelineState:
			state, reason, err = stateOf(m, "PipelineState")
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if progress == "" || state != int64(messages.PipelineStateFailed) || reason == "" {
		t.Errorf("progress %q, state %d, reason %q", progress, state, reason)
	}
	t.Logf("progress %q; failed with %q", progress, reason)
}
