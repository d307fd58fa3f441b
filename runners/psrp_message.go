package runners

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/exchops/exchops/commands"
	"github.com/google/uuid"
	"github.com/smnsjas/go-psrpcore/fragments"
	"github.com/smnsjas/go-psrpcore/messages"
)

// PSRP messages as a Windows PowerShell 2.0 client sends them (protocol version 2.1,
// serialization 1.1.0.1). go-psrpcore provides the binary layers (fragment and message
// headers, the message type numbers); the CLIXML payloads are written here, in the shape
// a 2.1 server expects, with nothing of protocol 2.2 or later.

// psrpProtocolVersion is what the client announces, in the SESSION_CAPABILITY message and
// the WS-Management protocolversion option: that of PowerShell 2.0, which every server
// from PowerShell 2.0 on accepts.
const psrpProtocolVersion = "2.1"

// maxFragment is the largest fragment the client sends (PowerShell's own default).
const maxFragment = 32 << 10

var bom = []byte{0xEF, 0xBB, 0xBF}

// fragmenter numbers the messages a client sends: object ids are unique per session.
type fragmenter struct{ next atomic.Uint64 }

// encode returns msg as the bytes of its fragments, ready to be base64-encoded into a
// WS-Management request.
func (f *fragmenter) encode(msg *messages.Message) ([]byte, error) {
	data, err := msg.Encode()
	if err != nil {
		return nil, err
	}
	id := f.next.Add(1)
	var out []byte
	payload := maxFragment - fragments.HeaderSize
	for i, off := uint64(0), 0; off < len(data) || i == 0; i++ {
		end := min(off+payload, len(data))
		frag := fragments.Fragment{ObjectID: id, FragmentID: i, Start: off == 0, End: end == len(data), Data: data[off:end]}
		out = append(out, frag.Encode()...)
		off = end
	}
	return out, nil
}

// reassembler turns the bytes of a stdout stream back into messages.
type reassembler struct {
	asm *fragments.Assembler
}

func newReassembler() *reassembler {
	// Limits far below the library's defaults: a reply holds a handful of messages.
	return &reassembler{asm: fragments.NewAssemblerWithLimits(64, 4096)}
}

// add reads the fragments in data and returns the messages they complete.
func (r *reassembler) add(data []byte) ([]*messages.Message, error) {
	var out []*messages.Message
	for len(data) > 0 {
		frag, err := fragments.Decode(data)
		if err != nil {
			return out, fmt.Errorf("a PSRP fragment is cut short or malformed (%d bytes left): %w", len(data), err)
		}
		data = data[fragments.HeaderSize+len(frag.Data):]
		done, whole, err := r.asm.Add(frag)
		if err != nil {
			return out, fmt.Errorf("PSRP fragments do not reassemble: %w", err)
		}
		if !done {
			continue
		}
		msg, err := messages.Decode(whole)
		if err != nil {
			return out, fmt.Errorf("a PSRP message is malformed: %w", err)
		}
		out = append(out, msg)
	}
	return out, nil
}

func clixmlMessage(xml string) []byte {
	return append(append([]byte{}, bom...), xml...)
}

// sessionCapability is the client's SESSION_CAPABILITY.
func sessionCapability() []byte {
	return clixmlMessage(`<Obj RefId="0"><MS>` +
		`<Version N="protocolversion">` + psrpProtocolVersion + `</Version>` +
		`<Version N="PSVersion">2.0</Version>` +
		`<Version N="SerializationVersion">1.1.0.1</Version>` +
		`</MS></Obj>`)
}

// refs numbers the objects and type lists of one message, as PowerShell does: a type
// list written once is referred to by <TNRef> afterwards.
type refs struct {
	obj, tn int
	tnKey   map[string]int
}

func (r *refs) nextObj() string {
	r.obj++
	return strconv.Itoa(r.obj)
}

// types returns a <TN> the first time a list of names is used and a <TNRef> after.
func (r *refs) types(names ...string) string {
	key := strings.Join(names, "|")
	if r.tnKey == nil {
		r.tnKey = map[string]int{}
	}
	if id, ok := r.tnKey[key]; ok {
		return `<TNRef RefId="` + strconv.Itoa(id) + `"/>`
	}
	id := r.tn
	r.tn++
	r.tnKey[key] = id
	var b strings.Builder
	b.WriteString(`<TN RefId="` + strconv.Itoa(id) + `">`)
	for _, n := range names {
		b.WriteString(`<T>` + n + `</T>`)
	}
	b.WriteString(`</TN>`)
	return b.String()
}

// enum writes an enum value the way PowerShell 2.0 serialises one.
func (r *refs) enum(name, typ, str string, v int) string {
	return `<Obj N="` + name + `" RefId="` + r.nextObj() + `">` +
		r.types(typ, "System.Enum", "System.ValueType", "System.Object") +
		`<ToString>` + str + `</ToString><I32>` + strconv.Itoa(v) + `</I32></Obj>`
}

const nullHostInfo = `<MS><B N="_isHostNull">true</B><B N="_isHostUINull">true</B>` +
	`<B N="_isHostRawUINull">true</B><B N="_useRunspaceHost">true</B></MS>`

// initRunspacePool is INIT_RUNSPACEPOOL for a pool of 1 to max runspaces, with no host:
// the Exchange endpoint must never prompt.
func initRunspacePool(max int) []byte {
	r := &refs{}
	return clixmlMessage(`<Obj RefId="0"><MS>` +
		`<I32 N="MinRunspaces">1</I32>` +
		`<I32 N="MaxRunspaces">` + strconv.Itoa(max) + `</I32>` +
		r.enum("PSThreadOptions", "System.Management.Automation.Runspaces.PSThreadOptions", "Default", 0) +
		r.enum("ApartmentState", "System.Threading.ApartmentState", "Unknown", 2) +
		`<Obj N="HostInfo" RefId="` + r.nextObj() + `">` + nullHostInfo + `</Obj>` +
		`<Nil N="ApplicationArguments"/>` +
		`</MS></Obj>`)
}

// listType is the type PowerShell 2.0 names its command and argument lists with.
const listType = "System.Collections.Generic.List`1[[System.Management.Automation.PSObject, System.Management.Automation, Version=1.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]"

// createPipeline is CREATE_PIPELINE for one call: its cmdlets with typed parameters and
// never script text (IsScript false), as a NoLanguage endpoint requires.
func createPipeline(call commands.Call) ([]byte, error) {
	if len(call.Pipeline) == 0 {
		return nil, errors.New("the call has no cmdlet")
	}
	r := &refs{}
	var b strings.Builder
	b.WriteString(`<Obj RefId="0"><MS>`)
	b.WriteString(`<B N="NoInput">true</B>`)
	b.WriteString(r.enum("ApartmentState", "System.Threading.ApartmentState", "Unknown", 2))
	b.WriteString(r.enum("RemoteStreamOptions", "System.Management.Automation.RemoteStreamOptions", "AddInvocationInfo", 15))
	b.WriteString(`<B N="AddToHistory">false</B>`)
	b.WriteString(`<Obj N="HostInfo" RefId="` + r.nextObj() + `">` + nullHostInfo + `</Obj>`)
	b.WriteString(`<Obj N="PowerShell" RefId="` + r.nextObj() + `"><MS>`)
	b.WriteString(`<Obj N="Cmds" RefId="` + r.nextObj() + `">` + r.types(listType, "System.Object") + `<LST>`)
	for _, cmd := range call.Pipeline {
		if !cmdletName(cmd.Name) {
			return nil, fmt.Errorf("%q is not a cmdlet name: the Exchange endpoint takes only Verb-Noun cmdlets", cmd.Name)
		}
		b.WriteString(`<Obj RefId="` + r.nextObj() + `"><MS>`)
		b.WriteString(`<S N="Cmd">` + escapeCLIXML(cmd.Name) + `</S>`)
		b.WriteString(`<B N="IsScript">false</B>`)
		b.WriteString(`<Nil N="UseLocalScope"/>`)
		for _, m := range []string{"MergeMyResult", "MergeToResult", "MergePreviousResults"} {
			b.WriteString(r.enum(m, "System.Management.Automation.Runspaces.PipelineResultTypes", "None", 0))
		}
		b.WriteString(`<Obj N="Args" RefId="` + r.nextObj() + `">` + r.types(listType, "System.Object") + `<LST>`)
		for _, p := range cmd.Params {
			if !paramName(p.Name) {
				return nil, fmt.Errorf("%s: %q is not a parameter name", cmd.Name, p.Name)
			}
			v, err := paramValue(p, r)
			if err != nil {
				return nil, fmt.Errorf("%s -%s: %w", cmd.Name, p.Name, err)
			}
			b.WriteString(`<Obj RefId="` + r.nextObj() + `"><MS><S N="N">` + p.Name + `</S>` + v + `</MS></Obj>`)
		}
		b.WriteString(`</LST></Obj></MS></Obj>`)
	}
	b.WriteString(`</LST></Obj>`)
	b.WriteString(`<B N="IsNested">false</B><Nil N="History"/><B N="RedirectShellErrorOutputPipe">true</B>`)
	b.WriteString(`</MS></Obj>`)
	b.WriteString(`<B N="IsNested">false</B>`)
	b.WriteString(`</MS></Obj>`)
	return clixmlMessage(b.String()), nil
}

// paramValue is a parameter's value element, named V.
func paramValue(p commands.Param, r *refs) (string, error) {
	switch p.Type {
	case commands.TypeString:
		return `<S N="V">` + escapeCLIXML(p.Value) + `</S>`, nil
	case commands.TypeInt:
		n, err := strconv.ParseInt(strings.TrimSpace(p.Value), 10, 32)
		if err != nil {
			return "", fmt.Errorf("%q is not a 32-bit integer", p.Value)
		}
		return `<I32 N="V">` + strconv.FormatInt(n, 10) + `</I32>`, nil
	case commands.TypeBool:
		switch p.Value {
		case "true", "false":
			return `<B N="V">` + p.Value + `</B>`, nil
		}
		return "", fmt.Errorf("%q is not true or false", p.Value)
	case commands.TypeNull:
		return `<Nil N="V" />`, nil
	case commands.TypeSwitch:
		// A present switch: PowerShell binds $true to a [switch] parameter.
		return `<B N="V">true</B>`, nil
	case commands.TypeStrings:
		var b strings.Builder
		b.WriteString(`<Obj N="V" RefId="` + r.nextObj() + `">` + r.types("System.String[]", "System.Array", "System.Object") + `<LST>`)
		for _, v := range p.Values {
			b.WriteString(`<S>` + escapeCLIXML(v) + `</S>`)
		}
		b.WriteString(`</LST></Obj>`)
		return b.String(), nil
	}
	return "", fmt.Errorf("parameter type %q is not one the Exchange endpoint takes", p.Type)
}

// cmdletName accepts Verb-Noun names only: what reaches the endpoint's Cmd is a command
// name, never anything a NoLanguage session would parse.
func cmdletName(s string) bool {
	verb, noun, ok := strings.Cut(s, "-")
	return ok && word(verb) && word(noun)
}

func paramName(s string) bool { return word(s) }

func word(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// newMessage builds a client-to-server message.
func newMessage(t messages.MessageType, rpid, pid uuid.UUID, data []byte) *messages.Message {
	return &messages.Message{Destination: messages.DestinationServer, Type: t, RunspaceID: rpid, PipelineID: pid, Data: data}
}

// stateOf reads a RUNSPACEPOOL_STATE or PIPELINE_STATE message: the state number and the
// error that came with it, if any.
func stateOf(msg *messages.Message, prop string) (state int64, reason string, err error) {
	objs, err := decodeCLIXML(msg.Data)
	if err != nil {
		return 0, "", err
	}
	if len(objs) == 0 {
		return 0, "", fmt.Errorf("%w: the state message is empty", errCLIXML)
	}
	o, ok := objs[0].(*psObject)
	if !ok {
		return 0, "", fmt.Errorf("%w: the state message holds no object", errCLIXML)
	}
	v, _ := o.prop(prop)
	n, ok := v.(int64)
	if !ok {
		return 0, "", fmt.Errorf("%w: the state message has no %s", errCLIXML, prop)
	}
	if e, ok := o.prop("ExceptionAsErrorRecord"); ok && e != nil {
		reason = errorMessage(e)
	}
	return n, reason, nil
}
