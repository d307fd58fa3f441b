package psrp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// MessageType is a PSRP message type (MS-PSRP 2.2.1).
type MessageType uint32

// The message types the lab sends or understands.
const (
	MsgSessionCapability      MessageType = 0x00010002
	MsgInitRunspacePool       MessageType = 0x00010004
	MsgPublicKey              MessageType = 0x00010005
	MsgEncryptedSessionKey    MessageType = 0x00010006
	MsgPublicKeyRequest       MessageType = 0x00010007
	MsgConnectRunspacePool    MessageType = 0x00010008
	MsgSetMaxRunspaces        MessageType = 0x00021002
	MsgSetMinRunspaces        MessageType = 0x00021003
	MsgRunspaceAvailability   MessageType = 0x00021004
	MsgRunspacePoolState      MessageType = 0x00021005
	MsgCreatePipeline         MessageType = 0x00021006
	MsgGetAvailableRunspaces  MessageType = 0x00021007
	MsgUserEvent              MessageType = 0x00021008
	MsgApplicationPrivateData MessageType = 0x00021009
	MsgGetCommandMetadata     MessageType = 0x0002100A
	MsgRunspacePoolHostCall   MessageType = 0x00021100
	MsgRunspacePoolHostResp   MessageType = 0x00021101
	MsgPipelineInput          MessageType = 0x00041002
	MsgEndOfPipelineInput     MessageType = 0x00041003
	MsgPipelineOutput         MessageType = 0x00041004
	MsgErrorRecord            MessageType = 0x00041005
	MsgPipelineState          MessageType = 0x00041006
	MsgDebugRecord            MessageType = 0x00041007
	MsgVerboseRecord          MessageType = 0x00041008
	MsgWarningRecord          MessageType = 0x00041009
	MsgProgressRecord         MessageType = 0x00041010
	MsgInformationRecord      MessageType = 0x00041011
	MsgPipelineHostCall       MessageType = 0x00041100
	MsgPipelineHostResponse   MessageType = 0x00041101
)

var messageNames = map[MessageType]string{
	MsgSessionCapability: "SESSION_CAPABILITY", MsgInitRunspacePool: "INIT_RUNSPACEPOOL",
	MsgPublicKey: "PUBLIC_KEY", MsgEncryptedSessionKey: "ENCRYPTED_SESSION_KEY",
	MsgPublicKeyRequest: "PUBLIC_KEY_REQUEST", MsgConnectRunspacePool: "CONNECT_RUNSPACEPOOL",
	MsgSetMaxRunspaces: "SET_MAX_RUNSPACES", MsgSetMinRunspaces: "SET_MIN_RUNSPACES",
	MsgRunspaceAvailability: "RUNSPACE_AVAILABILITY", MsgRunspacePoolState: "RUNSPACEPOOL_STATE",
	MsgCreatePipeline: "CREATE_PIPELINE", MsgGetAvailableRunspaces: "GET_AVAILABLE_RUNSPACES",
	MsgUserEvent: "USER_EVENT", MsgApplicationPrivateData: "APPLICATION_PRIVATE_DATA",
	MsgGetCommandMetadata: "GET_COMMAND_METADATA", MsgRunspacePoolHostCall: "RUNSPACEPOOL_HOST_CALL",
	MsgRunspacePoolHostResp: "RUNSPACEPOOL_HOST_RESPONSE", MsgPipelineInput: "PIPELINE_INPUT",
	MsgEndOfPipelineInput: "END_OF_PIPELINE_INPUT", MsgPipelineOutput: "PIPELINE_OUTPUT",
	MsgErrorRecord: "ERROR_RECORD", MsgPipelineState: "PIPELINE_STATE", MsgDebugRecord: "DEBUG_RECORD",
	MsgVerboseRecord: "VERBOSE_RECORD", MsgWarningRecord: "WARNING_RECORD",
	MsgProgressRecord: "PROGRESS_RECORD", MsgInformationRecord: "INFORMATION_RECORD",
	MsgPipelineHostCall: "PIPELINE_HOST_CALL", MsgPipelineHostResponse: "PIPELINE_HOST_RESPONSE",
}

func (t MessageType) String() string {
	if n, ok := messageNames[t]; ok {
		return n
	}
	return fmt.Sprintf("MessageType(%#08x)", uint32(t))
}

// Destination of a message: 1 the client, 2 the server.
const (
	DestinationClient uint32 = 1
	DestinationServer uint32 = 2
)

// messageHeaderLen is destination (4), type (4), RPID (16) and PID (16).
const messageHeaderLen = 40

// bom is the UTF-8 byte order mark a Windows server puts before every message's data.
var bom = []byte{0xEF, 0xBB, 0xBF}

// GUID is a GUID in its wire form: MS-DTYP's packet representation, whose first three
// fields are little-endian. The lab keeps the client's bytes as they came and echoes them,
// so a client that writes its GUIDs in another order still recognises its own ids.
type GUID [16]byte

// String is the GUID's usual text form (upper case, as Windows writes ids), reading
// the bytes as MS-DTYP specifies.
func (g GUID) String() string {
	b := g
	b[0], b[1], b[2], b[3] = g[3], g[2], g[1], g[0]
	b[4], b[5] = g[5], g[4]
	b[6], b[7] = g[7], g[6]
	s := hex.EncodeToString(b[:])
	return strings.ToUpper(s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:])
}

// ParseGUID reads a GUID's text form (with or without braces) into its wire form.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	t := strings.Trim(strings.TrimSpace(s), "{}")
	t = strings.ReplaceAll(t, "-", "")
	raw, err := hex.DecodeString(t)
	if err != nil || len(raw) != 16 {
		return g, fmt.Errorf("psrp: %q is not a GUID", s)
	}
	copy(g[:], raw)
	g[0], g[1], g[2], g[3] = raw[3], raw[2], raw[1], raw[0]
	g[4], g[5] = raw[5], raw[4]
	g[6], g[7] = raw[7], raw[6]
	return g, nil
}

// Message is one PSRP message (MS-PSRP 2.2.1).
type Message struct {
	Destination uint32
	Type        MessageType
	RPID        GUID // the runspace pool
	PID         GUID // the pipeline, zero for pool messages
	Data        []byte
}

// Encode returns the message's wire form.
func (m Message) Encode() []byte {
	b := make([]byte, messageHeaderLen, messageHeaderLen+len(m.Data))
	binary.LittleEndian.PutUint32(b[0:], m.Destination)
	binary.LittleEndian.PutUint32(b[4:], uint32(m.Type))
	copy(b[8:], m.RPID[:])
	copy(b[24:], m.PID[:])
	return append(b, m.Data...)
}

// DecodeMessage reads a reassembled message. Data keeps a byte order mark if the sender
// wrote one; Text strips it.
func DecodeMessage(b []byte) (Message, error) {
	if len(b) < messageHeaderLen {
		return Message{}, fmt.Errorf("psrp: a message needs at least %d bytes, this one has %d", messageHeaderLen, len(b))
	}
	m := Message{
		Destination: binary.LittleEndian.Uint32(b[0:]),
		Type:        MessageType(binary.LittleEndian.Uint32(b[4:])),
		Data:        b[messageHeaderLen:],
	}
	copy(m.RPID[:], b[8:24])
	copy(m.PID[:], b[24:40])
	if m.Destination != DestinationClient && m.Destination != DestinationServer {
		return Message{}, fmt.Errorf("psrp: message destination %d is neither client (1) nor server (2)", m.Destination)
	}
	return m, nil
}

// Text returns the message's data without a byte order mark.
func (m Message) Text() []byte { return bytes.TrimPrefix(m.Data, bom) }
