package psrp

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// FuzzReassemble: no packet makes the fragment parser or the reassembler panic or
// produce a message larger than the limit; a message split into fragments and
// reassembled comes back whole.
func FuzzReassemble(f *testing.F) {
	f.Add(Fragment{ObjectID: 1, Start: true, End: true, Blob: []byte("hello")}.Append(nil), 3)
	f.Add(append(Fragment{ObjectID: 1, Start: true, Blob: []byte("he")}.Append(nil),
		Fragment{ObjectID: 1, FragmentID: 1, End: true, Blob: []byte("llo")}.Append(nil)...), 1)
	f.Fuzz(func(t *testing.T, packet []byte, maxBlob int) {
		r := Reassembler{MaxMessage: 1 << 16}
		msgs, _ := r.Feed(packet)
		for _, m := range msgs {
			if len(m) > 1<<16 {
				t.Fatalf("message of %d bytes passed the limit", len(m))
			}
		}
		maxBlob = maxBlob%4096 + 1
		if maxBlob < 1 {
			maxBlob = 1
		}
		var whole []byte
		for _, fr := range Fragmentize(7, packet, maxBlob) {
			whole = fr.Append(whole)
		}
		var r2 Reassembler
		got, err := r2.Feed(whole)
		if err != nil || len(got) != 1 || !bytes.Equal(got[0], packet) {
			t.Fatalf("round trip of %d bytes with max %d: %v", len(packet), maxBlob, err)
		}
	})
}

// FuzzDecodeMessage: any bytes either decode to a message that encodes back to the same
// bytes, or give an error.
func FuzzDecodeMessage(f *testing.F) {
	f.Add(Message{Destination: DestinationServer, Type: MsgCreatePipeline, Data: []byte("<Obj/>")}.Encode())
	f.Add(Message{Destination: DestinationClient, Type: MsgPipelineOutput, Data: PipelineOutputData("x")}.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err != nil {
			return
		}
		if !bytes.Equal(m.Encode(), b) {
			t.Fatalf("re-encoding changed the message")
		}
		_ = m.Type.String()
		_ = m.RPID.String()
	})
}

// FuzzDecodeCLIXML: a client's CLIXML never makes the decoders panic; what decodes as a
// value serialises again.
func FuzzDecodeCLIXML(f *testing.F) {
	f.Add([]byte(`<Obj RefId="0"><MS><Obj N="PowerShell" RefId="1"><MS><Obj N="Cmds" RefId="2"><LST><Obj RefId="3"><MS><S N="Cmd">Get-Mailbox</S><B N="IsScript">false</B><Obj N="Args" RefId="4"><LST><Obj RefId="5"><MS><S N="N">Identity</S><S N="V">a_x000A_b</S></MS></Obj></LST></Obj></MS></Obj></LST></Obj></MS></Obj></MS></Obj>`))
	f.Add([]byte(`<Obj RefId="0"><MS><I32 N="MinRunspaces">1</I32><I32 N="MaxRunspaces">2</I32></MS></Obj>`))
	f.Add([]byte(`<Obj RefId="0"><MS><Version N="protocolversion">2.1</Version><Version N="PSVersion">2.0</Version><Version N="SerializationVersion">1.1.0.1</Version></MS></Obj>`))
	f.Add(SerializeValue([]any{"a", 1, 2.5, true, nil}))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = DecodeCreatePipeline(data)
		_, _ = DecodeSessionCapability(data)
		_, _ = DecodeInitRunspacePool(data)
		v, err := DecodeValue(data)
		if err != nil {
			return
		}
		out := SerializeValue(v)
		if _, err := DecodeValue(out); err != nil {
			t.Fatalf("re-serialised value does not decode: %v\n%s", err, out)
		}
	})
}

// nopEndpoint opens sessions that do nothing, for FuzzNewPool.
type nopEndpoint struct{}

func (nopEndpoint) Open(context.Context, string) (Runspace, error) { return nopRunspace{}, nil }

type nopRunspace struct{}

func (nopRunspace) Invoke(context.Context, []Command, Output) error { return nil }
func (nopRunspace) Close()                                          {}

// FuzzNewPool: whatever a client puts in creationXml, the pool is refused with an error
// or opens, and closes cleanly.
func FuzzNewPool(f *testing.F) {
	caps := `<Obj RefId="0"><MS><Version N="protocolversion">2.1</Version><Version N="PSVersion">2.0</Version><Version N="SerializationVersion">1.1.0.1</Version></MS></Obj>`
	init := `<Obj RefId="0"><MS><I32 N="MinRunspaces">1</I32><I32 N="MaxRunspaces">2</I32></MS></Obj>`
	var seed []byte
	for i, m := range []Message{
		{Destination: DestinationServer, Type: MsgSessionCapability, Data: []byte(caps)},
		{Destination: DestinationServer, Type: MsgInitRunspacePool, RPID: GUID{1}, Data: []byte(init)},
	} {
		seed = Fragment{ObjectID: uint64(i + 1), Start: true, End: true, Blob: m.Encode()}.Append(seed)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)-5])
	f.Fuzz(func(t *testing.T, creation []byte) {
		p, err := NewPool(nopEndpoint{}, "u", creation, PoolOptions{})
		if err != nil {
			return
		}
		p.Close()
		select {
		case <-p.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("a closed pool did not finish")
		}
	})
}
