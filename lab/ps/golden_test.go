package ps

import (
	"bytes"
	"context"
	"fmt"
	goldenfile "github.com/exchops/exchops/internal/golden"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeOrg is a tiny stand-in for the lab: a few cmdlets with Exchange-like
// behaviour, enough to drive the interpreter the way the real lab will.
func fakeOrg() (Config, *[]string) {
	var calls []string
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	copyStatus := func(name, status string, queue int) *Object {
		o := NewObject("Microsoft.Exchange.Management.SystemConfigurationTasks.DatabaseCopyStatusEntry",
			"Name", name, "Status", status, "CopyQueueLength", queue, "LastInspectedLogTime", now)
		o.Str = name
		return o
	}
	server := func(n string) *Object {
		o := NewObject("Microsoft.Exchange.Data.Directory.ADObjectId", "Name", n)
		o.Str = n
		return o
	}
	cmds := []*Cmdlet{
		{Name: "Connect-ExchangeServer", Params: []Param{{Name: "Auto", Kind: KindSwitch, Position: -1}, {Name: "ServerFqdn", Kind: KindString, Position: 0}},
			Invoke: func(c *Call) error { c.Verbose("Connecting to EX10-CAHT"); return nil }},
		{Name: "Get-MailboxDatabaseCopyStatus", Params: []Param{{Name: "Identity", Kind: KindAny, Position: 0}, {Name: "Server", Kind: KindString, Position: -1}},
			Invoke: func(c *Call) error {
				id := Identity(c.Params["Identity"])
				if id != "" && !strings.EqualFold(id, "MB01") {
					return &ErrorRecord{Message: fmt.Sprintf("Couldn't find database copy '%s'.", id), Category: "ObjectNotFound",
						ErrorID: "9A5D2F0C,Microsoft.Exchange.Management.SystemConfigurationTasks.GetMailboxDatabaseCopyStatus",
						Target:  id, ExceptionType: "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"}
				}
				c.Write(copyStatus(`MB01\EX10-MB01`, "Mounted", 0))
				c.Write(copyStatus(`MB01\EX10-MB02`, "Healthy", 3))
				return nil
			}},
		{Name: "Get-DatabaseAvailabilityGroup", Params: []Param{{Name: "Identity", Kind: KindAny, Position: 0}, {Name: "Status", Kind: KindSwitch, Position: -1}},
			Invoke: func(c *Call) error {
				c.Write(NewObject("Microsoft.Exchange.Data.Directory.SystemConfiguration.DatabaseAvailabilityGroup",
					"Name", "E14-DAG", "Servers", []any{server("EX10-MB01"), server("EX10-MB02")},
					"WitnessServer", "EX10-CAHT", "WitnessDirectory", `C:\FSW`, "DatacenterActivationMode", "Off"))
				return nil
			}},
		{Name: "Set-NlbCluster", ShouldProcess: true, Params: []Param{
			{Name: "InputObject", Kind: KindAny, Position: -1, FromPipeline: true, Mandatory: true},
			{Name: "OperationMode", Kind: KindString, Position: -1, Values: []string{"Unicast", "Multicast", "IgmpMulticast"}},
			{Name: "ClusterPrimaryIP", Aliases: []string{"IP"}, Kind: KindString, Position: -1},
			{Name: "Port", Kind: KindInt, Position: -1},
		}, Invoke: func(c *Call) error {
			calls = append(calls, fmt.Sprintf("Set-NlbCluster %s mode=%s ip=%s whatif=%v", Identity(c.Params["InputObject"]),
				c.String("OperationMode"), c.String("ClusterPrimaryIP"), c.WhatIf()))
			if c.WhatIf() {
				c.Warn("What if: Setting NLB cluster " + Identity(c.Params["InputObject"]))
			}
			return nil
		}},
		{Name: "Get-NlbCluster", Params: []Param{{Name: "HostName", Kind: KindString, Position: 0}}, Invoke: func(c *Call) error {
			c.Write(NewObject("Microsoft.NetworkLoadBalancingClusters.PowerShell.Cluster", "Name", "CASNLB", "IPAddress", "10.0.0.50", "OperationMode", "Unicast"))
			return nil
		}},
		{Name: "New-Thing", Params: []Param{
			{Name: "Name", Kind: KindString, Position: 0, Mandatory: true},
			{Name: "NameSuffix", Kind: KindString, Position: -1},
			{Name: "Count", Kind: KindInt, Position: 1},
			{Name: "Enabled", Kind: KindBool, Position: -1},
			{Name: "Tags", Kind: KindStringArray, Position: -1},
		}, Invoke: func(c *Call) error {
			c.Write(fmt.Sprintf("New-Thing name=%s count=%d enabled=%v tags=%q", c.String("Name"), c.Int("Count", -1), c.Switch("Enabled"), c.Strings("Tags")))
			return nil
		}},
		{Name: "dnscmd.exe", Native: true, Invoke: func(c *Call) error {
			if len(c.Args) == 0 {
				c.Write("Usage: DnsCmd <ServerName> <Command> [<Command Parameters>]")
				c.SetExitCode(1)
				return nil
			}
			c.Write("DNS Server " + c.Args[0] + " version 6.1.7601")
			if len(c.Args) > 1 && c.Args[1] == "/fail" {
				c.Write("Command failed:  DNS_ERROR_RECORD_ALREADY_EXISTS     9711")
				c.SetExitCode(9711)
				return nil
			}
			c.Write("Command completed successfully.")
			return nil
		}},
	}
	cfg := Config{
		Env:      map[string]string{"ExchangeInstallPath": `C:\Program Files\Microsoft\Exchange Server\V14\`, "COMPUTERNAME": "EX10-CAHT"},
		Commands: cmds,
		Now:      func() time.Time { return now },
		Sleep: func(ctx context.Context, d time.Duration) error {
			calls = append(calls, "sleep "+d.String())
			return ctx.Err()
		},
	}
	cfg.DotSource = func(c *Call, path string) error {
		if !strings.EqualFold(path, `C:\Program Files\Microsoft\Exchange Server\V14\bin\RemoteExchange.ps1`) {
			return Errorf("ObjectNotFound", "CommandNotFoundException",
				"The term '%s' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.", path)
		}
		c.Write("Welcome to the Exchange Management Shell!")
		return nil
	}
	return cfg, &calls
}

func runScript(t testing.TB, script string) (stdout, stderr string, code int, calls []string) {
	cfg, cl := fakeOrg()
	var out, errb bytes.Buffer
	cfg.Stdout, cfg.Stderr = &out, &errb
	s := NewSession(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code = s.Run(ctx, script)
	return out.String(), errb.String(), code, *cl
}

func TestGoldenScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/scripts/*.ps1")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code, calls := runScript(t, string(src))
			got := fmt.Sprintf("exit: %d\n--- calls\n%s\n--- stdout\n%s--- stderr\n%s", code, strings.Join(calls, "\n"),
				strings.ReplaceAll(stdout, "\r\n", "¶\n"), strings.ReplaceAll(stderr, "\r\n", "¶\n"))
			goldenfile.Check(t, strings.TrimSuffix(f, ".ps1")+".golden", got)
		})
	}
}
