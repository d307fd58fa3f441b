package psrp

import (
	"strconv"

	"github.com/exchops/exchops/lab/ps"
)

// The versions a Windows Server 2008 R2 host with PowerShell 2.0 announces, as Exchange
// 2010's endpoint runs on it.
const (
	ServerProtocolVersion      = "2.1"
	ServerPSVersion            = "2.0"
	ServerSerializationVersion = "1.1.0.1"
)

// RunspacePoolState values (MS-PSRP 2.2.3.4).
const (
	PoolBeforeOpen = 0
	PoolOpening    = 1
	PoolOpened     = 2
	PoolClosed     = 3
	PoolClosing    = 4
	PoolBroken     = 5
)

// PSInvocationState values (MS-PSRP 2.2.3.5).
const (
	PipelineNotStarted = 0
	PipelineRunning    = 1
	PipelineStopping   = 2
	PipelineStopped    = 3
	PipelineCompleted  = 4
	PipelineFailed     = 5
)

// withBOM prefixes data with the byte order mark real servers write.
func withBOM(b []byte) []byte { return append(append([]byte(nil), bom...), b...) }

// SessionCapabilityData is the server's SESSION_CAPABILITY.
func SessionCapabilityData() []byte {
	return withBOM([]byte(`<Obj RefId="0"><MS><Version N="protocolversion">` + ServerProtocolVersion +
		`</Version><Version N="PSVersion">` + ServerPSVersion + `</Version><Version N="SerializationVersion">` +
		ServerSerializationVersion + `</Version></MS></Obj>`))
}

// ApplicationPrivateDataData is the APPLICATION_PRIVATE_DATA of a Windows Server 2008 R2
// SP1 host: its PSVersionTable.
func ApplicationPrivateDataData() []byte {
	e := newEncoder()
	e.b.WriteString(`<Obj RefId="0"><MS>`)
	e.nextObj = 1
	dict := []string{"System.Management.Automation.PSPrimitiveDictionary", "System.Collections.Hashtable", "System.Object"}
	e.open("ApplicationPrivateData", dict...)
	e.b.WriteString(`<DCT><En><S N="Key">PSVersionTable</S>`)
	e.open("Value", dict...)
	e.b.WriteString(`<DCT>`)
	version := func(k, v string) {
		e.b.WriteString(`<En><S N="Key">` + k + `</S><Version N="Value">` + v + `</Version></En>`)
	}
	version("WSManStackVersion", "2.0")
	e.b.WriteString(`<En><S N="Key">PSCompatibleVersions</S>`)
	e.open("Value", "System.Version[]", "System.Array", "System.Object")
	e.b.WriteString(`<LST><Version>1.0</Version><Version>2.0</Version></LST></Obj></En>`)
	version("SerializationVersion", ServerSerializationVersion)
	version("BuildVersion", "6.1.7601.17514")
	version("PSVersion", ServerPSVersion)
	version("CLRVersion", "2.0.50727.5420")
	version("PSRemotingProtocolVersion", ServerProtocolVersion)
	e.b.WriteString(`</DCT></Obj></En></DCT></Obj></MS></Obj>`)
	return withBOM(e.b.Bytes())
}

// RunspacePoolStateData is a RUNSPACEPOOL_STATE; reason, when not nil, is the error
// record of a Broken pool.
func RunspacePoolStateData(state int, reason *ps.ErrorRecord) []byte {
	return withBOM(stateData("RunspaceState", state, reason))
}

// PipelineStateData is a PIPELINE_STATE; reason is the ExceptionAsErrorRecord of a
// Failed or Stopped pipeline.
func PipelineStateData(state int, reason *ps.ErrorRecord) []byte {
	return withBOM(stateData("PipelineState", state, reason))
}

func stateData(prop string, state int, reason *ps.ErrorRecord) []byte {
	e := newEncoder()
	e.b.WriteString(`<Obj RefId="0"><MS><I32 N="` + prop + `">` + strconv.Itoa(state) + `</I32>`)
	e.nextObj = 1
	if reason != nil {
		e.errorRecord("ExceptionAsErrorRecord", reason, false)
	}
	e.b.WriteString(`</MS></Obj>`)
	return e.b.Bytes()
}

// PipelineOutputData is a PIPELINE_OUTPUT carrying one object.
func PipelineOutputData(v any) []byte { return withBOM(SerializeValue(v)) }

// ErrorRecordData is an ERROR_RECORD (a non-terminating error).
func ErrorRecordData(r *ps.ErrorRecord) []byte {
	e := newEncoder()
	e.errorRecord("", r, true)
	return withBOM(e.b.Bytes())
}

// InformationalRecordData is a WARNING_RECORD, VERBOSE_RECORD or DEBUG_RECORD.
func InformationalRecordData(recordType, message string) []byte {
	e := newEncoder()
	e.open("", recordType, "System.Management.Automation.InformationalRecord", "System.Object")
	e.b.WriteString("<ToString>")
	e.text(message)
	e.b.WriteString("</ToString><MS>")
	e.str("InformationalRecord_Message", message)
	e.prim("B", "InformationalRecord_SerializeInvocationInfo", "false")
	e.b.WriteString("</MS></Obj>")
	return withBOM(e.b.Bytes())
}

// Record types of InformationalRecordData.
const (
	WarningRecordType = "System.Management.Automation.WarningRecord"
	VerboseRecordType = "System.Management.Automation.VerboseRecord"
)

// ProgressRecordData is a PROGRESS_RECORD (MS-PSRP 2.2.2.25).
func ProgressRecordData(activityID int, activity, status string, percent int, completed bool) []byte {
	e := newEncoder()
	e.b.WriteString(`<Obj RefId="0"><MS>`)
	e.nextObj = 1
	e.str("Activity", activity)
	e.prim("I32", "ActivityId", strconv.Itoa(activityID))
	e.str("StatusDescription", status)
	e.nilValue("CurrentOperation")
	e.prim("I32", "ParentActivityId", "-1")
	e.prim("I32", "PercentComplete", strconv.Itoa(percent))
	typ := ps.Enum{Type: "System.Management.Automation.ProgressRecordType", Name: "Processing", Value: 0}
	if completed {
		typ.Name, typ.Value = "Completed", 1
	}
	e.value("Type", typ)
	e.prim("I32", "SecondsRemaining", "-1")
	e.b.WriteString(`</MS></Obj>`)
	return withBOM(e.b.Bytes())
}

// RunspaceAvailabilityData answers SET_MAX_RUNSPACES / SET_MIN_RUNSPACES (a boolean) or
// GET_AVAILABLE_RUNSPACES (a count) for the call id ci.
func RunspaceAvailabilityData(response any, ci int64) []byte {
	e := newEncoder()
	e.b.WriteString(`<Obj RefId="0"><MS>`)
	switch v := response.(type) {
	case bool:
		e.prim("B", "SetMinMaxRunspacesResponse", strconv.FormatBool(v))
	case int:
		e.prim("I32", "SetMinMaxRunspacesResponse", strconv.Itoa(v))
	}
	e.prim("I64", "ci", strconv.FormatInt(ci, 10))
	e.b.WriteString(`</MS></Obj>`)
	return withBOM(e.b.Bytes())
}

// stoppedError is the reason a real server gives for a stopped pipeline.
func stoppedError() *ps.ErrorRecord {
	return &ps.ErrorRecord{
		Message: "The pipeline has been stopped.", Category: "OperationStopped", ErrorID: "PipelineStopped",
		ExceptionType: "System.Management.Automation.PipelineStoppedException",
	}
}
