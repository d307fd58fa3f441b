package wsman

import (
	"errors"
	goldenfile "github.com/exchops/exchops/internal/golden"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", name+".golden"), string(got))
}

func TestRepliesGolden(t *testing.T) {
	const (
		relates = "uuid:11111111-2222-4333-8444-555555555555"
		msgID   = "uuid:aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
		shellID = "0C1B9F3D-5E0A-4A55-9F0E-2B1C3D4E5F60"
		cmdID   = "7A6B5C4D-3E2F-4A1B-8C9D-0E1F2A3B4C5D"
	)
	tests := []struct {
		name string
		rep  reply
	}{
		{"create", reply{actionCreateResponse, relates, createBody("http://127.0.0.1:5985/wsman", shellID, `MSGLAB\svc-exchops`, "127.0.0.1", 180*time.Second, "stdin", "stdout stderr")}},
		{"command", reply{actionCommandResponse, relates, commandResponseBody(cmdID)}},
		{"receive-running", reply{actionReceiveResponse, relates, receiveBodyXML(cmdID, []chunk{{stream: "stdout", data: []byte("Name,Status\r\n")}}, false, 0)}},
		{"receive-done", reply{actionReceiveResponse, relates, receiveBodyXML(cmdID, []chunk{
			{stream: "stdout", data: []byte("done"), end: true}, {stream: "stderr", end: true}}, true, 7)}},
		{"fault-timeout", reply{actionWSManFault, relates, faultBody(faultTimedOut(), "EX10-MB01")}},
		{"fault-shell-not-found", reply{actionWSManFault, relates, faultBody(faultShellNotFound(shellID), "EX10-MB01")}},
		{"fault-quota", reply{actionWSManFault, relates, faultBody(faultMaxShells(5), "EX10-MB01")}},
		{"fault-action", reply{actionAddressingFault, relates, faultBody(faultActionNotSupported("urn:x"), "EX10-MB01")}},
		{"psrp-create", reply{actionCreateResponse, relates, psrpCreateBody("http://127.0.0.1:80/PowerShell/", resourceExchange, shellID)}},
		{"psrp-receive-pool", reply{actionReceiveResponse, relates, psrpReceiveBody("", [][]byte{[]byte("fragment 1"), []byte("fragment 2")}, false)}},
		{"psrp-receive-running", reply{actionReceiveResponse, relates, psrpReceiveBody(cmdID, [][]byte{[]byte("output")}, false)}},
		{"psrp-receive-done", reply{actionReceiveResponse, relates, psrpReceiveBody(cmdID, [][]byte{[]byte("state")}, true)}},
		{"fault-unknown-configuration", reply{actionWSManFault, relates, faultBody(faultUnknownConfiguration("http://schemas.microsoft.com/powershell/Microsoft.PowerShell", "EX10-MB01"), "EX10-MB01")}},
		{"fault-psrp", reply{actionWSManFault, relates, faultBody(faultPSRP(errors.New("psrp: GET_COMMAND_METADATA is not supported by the lab's endpoint: call the commands directly")), "EX10-MB01")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := tt.rep.render(msgID)
			if _, err := parseAny(out); err != nil {
				t.Fatalf("the reply is not well-formed XML: %v", err)
			}
			golden(t, tt.name, out)
		})
	}
}

// TestPSRPBodiesMatchWindows compares the PowerShell endpoint's reply bodies with a
// Windows Server 2008 R2 host's, from the capture in lab/psrp/testdata/captures.
func TestPSRPBodiesMatchWindows(t *testing.T) {
	const shell = "C8CD7685-F0A0-4B79-8F82-B8B37462667A"
	uri := "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
	want := `<x:ResourceCreated><a:Address>http://192.168.56.3:5985/wsman</a:Address><a:ReferenceParameters><w:ResourceURI>` + uri +
		`</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">` + shell + `</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>`
	if got := psrpCreateBody("http://192.168.56.3:5985/wsman", uri, shell); got != want {
		t.Errorf("CreateResponse body:\n got %s\nwant %s", got, want)
	}
	// A pool's Receive: streams without CommandId and no CommandState.
	if got := psrpReceiveBody("", [][]byte{{1}}, false); got != `<rsp:ReceiveResponse><rsp:Stream Name="stdout">AQ==</rsp:Stream></rsp:ReceiveResponse>` {
		t.Errorf("pool ReceiveResponse: %s", got)
	}
	const cmd = "24864ED3-8FB4-4934-AD7D-B29723D4681F"
	if got := psrpReceiveBody(cmd, [][]byte{{1}}, true); got != `<rsp:ReceiveResponse><rsp:Stream Name="stdout" CommandId="`+cmd+`">AQ==</rsp:Stream>`+
		`<rsp:CommandState CommandId="`+cmd+`" State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"><rsp:ExitCode>0</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse>` {
		t.Errorf("pipeline ReceiveResponse: %s", got)
	}
}

func TestParseEnvelope(t *testing.T) {
	masterzen, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzParseEnvelope", "masterzen-command"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      string
		check   func(*request) string
		wantErr string
	}{
		{"masterzen command", unquoteSeed(t, masterzen), func(r *request) string {
			if r.Action != actionCommand || r.ShellID == "" || r.Command == nil || !strings.HasPrefix(r.Command.Command, "powershell.exe") ||
				r.Options["WINRS_SKIP_CMD_SHELL"] != "FALSE" || r.MaxEnvelopeSize != 153600 || r.OperationTimeout != time.Minute {
				return "fields not read"
			}
			return ""
		}, ""},
		{"pywinrm prefixes", envelope(actionReceive, "S1", `<rsp:Receive><rsp:DesiredStream CommandId="C1">stdout stderr</rsp:DesiredStream></rsp:Receive>`, ""), func(r *request) string {
			if r.ShellID != "S1" || r.Receive == nil || r.Receive.DesiredStream.CommandID != "C1" || r.OperationTimeout != 20*time.Second {
				return "fields not read"
			}
			return ""
		}, ""},
		{"other prefixes", `<S:Envelope xmlns:S="` + nsSOAP + `" xmlns:wsa="` + nsAddressing + `" xmlns:sh="` + nsShell + `"><S:Header><wsa:Action>` + actionSignal +
			`</wsa:Action><wsa:MessageID>uuid:1</wsa:MessageID></S:Header><S:Body><sh:Signal CommandId="C"><sh:Code>` + signalTerminate + `</sh:Code></sh:Signal></S:Body></S:Envelope>`,
			func(r *request) string {
				if r.Signal == nil || r.Signal.CommandID != "C" || r.Signal.Code != signalTerminate {
					return "signal not read"
				}
				return ""
			}, ""},
		{"wrong namespace", strings.ReplaceAll(envelope(actionCreate, "", "", ""), nsAddressing, "urn:other"), nil, "no a:Action"},
		{"soap 1.1", strings.ReplaceAll(envelope(actionCreate, "", "", ""), nsSOAP, "http://schemas.xmlsoap.org/soap/envelope/"), nil, "not a SOAP 1.2 envelope"},
		{"no message id", strings.Replace(envelope(actionCreate, "", "", ""), "uuid:11111111-2222-4333-8444-555555555555", "", 1), nil, "no a:MessageID"},
		{"bad envelope size", strings.Replace(envelope(actionCreate, "", "", ""), ">153600<", ">-5<", 1), nil, "MaxEnvelopeSize"},
		{"latin1", `<?xml version="1.0" encoding="ISO-8859-1"?><x/>`, nil, "send UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseEnvelope([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if msg := tt.check(r); msg != "" {
				t.Errorf("%s: %+v", msg, r)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"PT60S", time.Minute, true},
		{"PT60.000S", time.Minute, true},
		{"PT0.5S", 500 * time.Millisecond, true},
		{"PT1M30S", 90 * time.Second, true},
		{"P1DT2H", 26 * time.Hour, true},
		{"PT0S", 0, true},
		{"P1Y", 0, false},
		{"P1M", 0, false},
		{"PT", 0, false},
		{"P", 0, false},
		{"60", 0, false},
		{"PT60", 0, false},
		{"PT1.5M", 0, false},
		{"PT1S1S", 0, false},
		{"PT.5S", 0, false},
		{"PT1..5S", 0, false},
		{"PTT1S", 0, false},
		{"PT99999999999999999999S", 0, false},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte(envelope(actionSend, "S", `<rsp:Send><rsp:Stream Name="stdin" CommandId="C" End="true">aGk=</rsp:Stream></rsp:Send>`, "")))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseEnvelope(data)
		if err != nil {
			return
		}
		if r.Action == "" || r.MessageID == "" || r.MaxEnvelopeSize < 0 || r.OperationTimeout < 0 {
			t.Fatalf("accepted an envelope with impossible fields: %+v", r)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"PT60S", "PT60.000S", "P1DT2H3M4.5S", "PT", "P1Y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration(s)
		if err == nil && (d < 0 || !strings.HasPrefix(s, "P")) {
			t.Fatalf("parseDuration(%q) = %v", s, d)
		}
	})
}
