package runners_test

import (
	"reflect"
	"testing"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/lab/psrp"
	"github.com/exchops/exchops/runners"
)

// The runner's messages are read back by the lab's decoder, written separately from the
// MS-PSRP specification: the typed parameters must arrive with their types, and no
// command may be script text.
func TestCreatePipelineAsTheServerReadsIt(t *testing.T) {
	call := commands.Call{Pipeline: []commands.Cmd{
		commands.C("Get-MailboxDatabase", commands.Str("Identity", "MB01 <&> _x0041_ \"q\""), commands.Switch("Status")),
		commands.C("Set-MailboxDatabase", commands.Int("ActivationPreference", 2), commands.Bool("Confirm", false),
			commands.Strs("DatabaseAvailabilityGroupIpAddresses", "10.0.0.50", "10.0.1.50")),
	}}
	data, err := runners.CreatePipelineMessage(call)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := psrp.DecodeCreatePipeline(data[3:])
	if err != nil {
		t.Fatal(err)
	}
	want := []psrp.Command{
		{Name: "Get-MailboxDatabase", Args: []psrp.Arg{{Name: "Identity", Value: "MB01 <&> _x0041_ \"q\""}, {Name: "Status", Value: true}}},
		{Name: "Set-MailboxDatabase", Args: []psrp.Arg{{Name: "ActivationPreference", Value: 2}, {Name: "Confirm", Value: false},
			{Name: "DatabaseAvailabilityGroupIpAddresses", Value: []any{"10.0.0.50", "10.0.1.50"}}}},
	}
	if !reflect.DeepEqual(cp.Commands, want) {
		t.Errorf("the server read\n%#v\nwant\n%#v", cp.Commands, want)
	}
	if !cp.NoInput {
		t.Error("NoInput is false: the server would wait for input")
	}
}

func TestCreatePipelineRefusesWhatIsNotACmdlet(t *testing.T) {
	for _, cmd := range []commands.Cmd{
		commands.C("Get-Date; Remove-Item C:\\"),
		commands.C("& { 1 }"),
		commands.C("Get-Item", commands.Str("Path; x", "y")),
		commands.C("Get-Item", commands.Param{Name: "Count", Type: commands.TypeInt, Value: "many"}),
		commands.C("Get-Item", commands.Param{Name: "Flag", Type: commands.TypeBool, Value: "yes"}),
		commands.C("Get-Item", commands.Param{Name: "X", Type: "scriptblock", Value: "{ 1 }"}),
	} {
		if _, err := runners.CreatePipelineMessage(commands.Call{Pipeline: []commands.Cmd{cmd}}); err == nil {
			t.Errorf("%s was accepted", cmd)
		}
	}
}

func TestSessionMessagesAsTheServerReadsThem(t *testing.T) {
	capData, initData := runners.SessionMessages(3)
	c, err := psrp.DecodeSessionCapability(capData[3:])
	if err != nil {
		t.Fatal(err)
	}
	if c != (psrp.SessionCapability{ProtocolVersion: "2.1", PSVersion: "2.0", SerializationVersion: "1.1.0.1"}) {
		t.Errorf("capability %+v", c)
	}
	init, err := psrp.DecodeInitRunspacePool(initData[3:])
	if err != nil {
		t.Fatal(err)
	}
	if init.MinRunspaces != 1 || init.MaxRunspaces != 3 {
		t.Errorf("init %+v", init)
	}
}
