package runners

import (
	"errors"
	"testing"

	"github.com/exchops/exchops/commands"
)

// FuzzPSRPOutput feeds the client's decoding path everything a server's Receive could
// carry: PSRP fragments, messages, CLIXML and the projection into rows. It must never
// panic or hang, and CLIXML errors must be errCLIXML.
func FuzzPSRPOutput(f *testing.F) {
	f.Add([]byte(copyStatusXML), false)
	f.Add([]byte(databaseXML), false)
	f.Add([]byte(`<Obj RefId="0"><MS><I32 N="PipelineState">5</I32><Obj N="ExceptionAsErrorRecord" RefId="1"><ToString>boom</ToString></Obj></MS></Obj>`), false)
	f.Add([]byte(`<Obj RefId="0"><TN RefId="0"><T>a</T></TN><LST><Ref RefId="0"/></LST></Obj>`), false)
	var frag fragmenter
	if seed, err := frag.encode(newMessage(0x00041004, [16]byte{1}, [16]byte{2}, []byte(copyStatusXML))); err == nil {
		f.Add(seed, true)
	}
	call := commands.Call{Section: "s", Columns: []string{"Name", "#CopyQueueLength", "*Servers", "@LastInspectedLogTime", "Status"},
		Where: &commands.Match{Column: "Status", Value: "Healthy"}}
	f.Fuzz(func(t *testing.T, data []byte, framed bool) {
		if framed {
			msgs, _ := newReassembler().add(data)
			for _, m := range msgs {
				_, _, _ = stateOf(m, "PipelineState")
				if objs, err := decodeCLIXML(m.Data); err == nil {
					project(call, objs)
				}
			}
			return
		}
		objs, err := decodeCLIXML(data)
		if err != nil {
			if !errors.Is(err, errCLIXML) {
				t.Fatalf("error %v is not errCLIXML", err)
			}
			return
		}
		project(call, objs)
		for _, o := range objs {
			errorMessage(o)
			recordText(o)
			_, _, _ = progressLine(o)
			_ = valueText(o)
		}
	})
}
