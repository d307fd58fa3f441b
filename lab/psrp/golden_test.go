package psrp

import (
	"bytes"
	"encoding/xml"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/internal/golden"
	"github.com/exchops/exchops/lab/ps"
)

// indent pretty-prints CLIXML for review (the wire form has no whitespace).
func indent(t *testing.T, data []byte) string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(bytes.TrimPrefix(data, bom)))
	var b bytes.Buffer
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v\n%s", err, data)
		}
		if cd, ok := tok.(xml.CharData); ok && len(bytes.TrimSpace(cd)) == 0 {
			continue
		}
		if err := enc.EncodeToken(xml.CopyToken(tok)); err != nil {
			t.Fatal(err)
		}
	}
	enc.Flush()
	return b.String()
}

// TestServerMessagesGolden shows, for review, the CLIXML the lab's Exchange endpoint
// sends for each kind of message, with Exchange-like values.
func TestServerMessagesGolden(t *testing.T) {
	copyStatus := ps.NewObject("Microsoft.Exchange.Management.SystemConfigurationTasks.DatabaseCopyStatusEntry",
		"Name", `MB01\EX10-MB02`,
		"Status", ps.Enum{Type: "Microsoft.Exchange.Management.SystemConfigurationTasks.CopyStatus", Name: "Healthy", Value: 2},
		"CopyQueueLength", 0,
		"ActivationPreference", []any{ps.NewObject("System.Collections.Generic.KeyValuePair`2", "Key", "EX10-MB01", "Value", 1)},
		"LastInspectedLogTime", time.Date(2010, 11, 9, 8, 7, 6, 0, time.UTC),
		"DatabaseSize", "1.5 GB (1,610,612,736 bytes)",
		"Mounted", nil)
	copyStatus.Str = `MB01\EX10-MB02`
	rec := &ps.ErrorRecord{Message: "Couldn't find database \"NOPE\".", Category: "ObjectNotFound",
		ErrorID: "4F4F4F4F,Microsoft.Exchange.Management.SystemConfigurationTasks.GetMailboxDatabase",
		Target:  "NOPE", Command: "Get-MailboxDatabase", ExceptionType: "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"}
	msgs := []struct {
		name string
		data []byte
	}{
		{"SESSION_CAPABILITY", SessionCapabilityData()},
		{"APPLICATION_PRIVATE_DATA", ApplicationPrivateDataData()},
		{"RUNSPACEPOOL_STATE Opened", RunspacePoolStateData(PoolOpened, nil)},
		{"RUNSPACEPOOL_STATE Broken", RunspacePoolStateData(PoolBroken, &ps.ErrorRecord{Message: "The user isn't assigned to any management roles.",
			Category: "OpenError", ErrorID: "RemoteRunspaceOpenFailed", ExceptionType: "System.Management.Automation.Remoting.PSRemotingTransportException"})},
		{"PIPELINE_OUTPUT DatabaseCopyStatusEntry", PipelineOutputData(copyStatus)},
		{"PIPELINE_OUTPUT string", PipelineOutputData("Line 1\r\nLine 2 <&>")},
		{"ERROR_RECORD", ErrorRecordData(rec)},
		{"WARNING_RECORD", InformationalRecordData(WarningRecordType, "The database copy is not yet seeded.")},
		{"VERBOSE_RECORD", InformationalRecordData(VerboseRecordType, "Seeding MB01.")},
		{"PROGRESS_RECORD", ProgressRecordData(1, "Seeding", "Copying MB01.edb", 42, false)},
		{"PIPELINE_STATE Completed", PipelineStateData(PipelineCompleted, nil)},
		{"PIPELINE_STATE Failed", PipelineStateData(PipelineFailed, rec)},
		{"PIPELINE_STATE Stopped", PipelineStateData(PipelineStopped, stoppedError())},
	}
	var b strings.Builder
	for _, m := range msgs {
		if !bytes.HasPrefix(m.data, bom) {
			t.Errorf("%s has no byte order mark", m.name)
		}
		b.WriteString("=== " + m.name + "\n" + indent(t, m.data) + "\n\n")
	}
	golden.Check(t, filepath.Join("testdata", "server-messages.golden"), b.String())
}
