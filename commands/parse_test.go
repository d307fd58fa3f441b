package commands

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in       string
		wantText string
		wantArgs map[string]string
	}{
		{"/exchange dag create E14-DAG witness=EX10-CAHT dir=c:\\FSW", `dag create E14-DAG witness=EX10-CAHT dir=C:\FSW`,
			map[string]string{"name": "E14-DAG", "witness": "EX10-CAHT", "dir": `C:\FSW`}},
		{"  DAG Create e14-dag Dir=C:\\FSW witness=ex10-caht ip=10.0.0.50,10.0.1.50", `dag create E14-DAG witness=EX10-CAHT dir=C:\FSW ip=10.0.0.50,10.0.1.50`,
			map[string]string{"name": "E14-DAG", "witness": "EX10-CAHT", "dir": `C:\FSW`, "ip": "10.0.0.50,10.0.1.50"}},
		{`casarray create "CAS Array" fqdn=Client.msglab.local site=Default-First-Site-Name`,
			`casarray create "CAS Array" fqdn=client.msglab.local site=Default-First-Site-Name`,
			map[string]string{"name": "CAS Array", "fqdn": "client.msglab.local", "site": "Default-First-Site-Name"}},
		{`nlb add-host client.msglab.local host=EX10-CAHT02 interface="Local Area Connection"`,
			`nlb add-host client.msglab.local host=EX10-CAHT02 interface="Local Area Connection"`,
			map[string]string{"fqdn": "client.msglab.local", "host": "EX10-CAHT02", "interface": "Local Area Connection"}},
		{`nlb add-host client.msglab.local host=EX10-CAHT02 interface=“Local Area Connection”`,
			`nlb add-host client.msglab.local host=EX10-CAHT02 interface="Local Area Connection"`, nil},
		{`nlb add-host client.msglab.local host=EX10-CAHT02 "interface=Local Area Connection"`, "", nil}, // quoted key=value is a positional value
		{"dag add-member server=EX10-MB01 E14-DAG", "dag add-member E14-DAG EX10-MB01",
			map[string]string{"dag": "E14-DAG", "server": "EX10-MB01"}},
		{"copy add MB01 EX10-MB02 preference=2", "copy add MB01 EX10-MB02 preference=2", nil},
		{"copy status", "copy status", map[string]string{}},
		{"history", "history", map[string]string{"n": "10"}},
		{"help dag create", "help \"dag create\"", map[string]string{"command": "dag create"}},
		{"", "help", map[string]string{}},
		{"/exchange", "help", map[string]string{}},
		{"failover MB01 to=ex10-mb02", "failover MB01 to=EX10-MB02", nil},
		{"casarray restore request-id=r-12", "casarray restore r-12", map[string]string{"request-id": "r-12"}},
		{"Dag Maintenance Start ex10-mb01", "dag maintenance start EX10-MB01", map[string]string{"server": "EX10-MB01"}},
		{"dag maintenance stop server=ex10-mb01", "dag maintenance stop EX10-MB01", map[string]string{"server": "EX10-MB01"}},
		{"dag maintenance status", "dag maintenance status", map[string]string{}},
		{"dag maintenance status e14-dag", "dag maintenance status E14-DAG", map[string]string{"dag": "E14-DAG"}},
		{"dag rebalance e14-dag", "dag rebalance E14-DAG", map[string]string{"dag": "E14-DAG"}},
		{"copy reseed MB01 ex10-mb02", "copy reseed MB01 EX10-MB02", map[string]string{"database": "MB01", "server": "EX10-MB02"}},
		{"help dag maintenance", "help \"dag maintenance\"", map[string]string{"command": "dag maintenance"}},
	}
	for _, tc := range tests {
		inv, err := Parse(tc.in)
		if tc.wantText == "" {
			if err == nil {
				t.Errorf("Parse(%q) = %q, want an error", tc.in, inv.Text)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if inv.Text != tc.wantText {
			t.Errorf("Parse(%q).Text = %q, want %q", tc.in, inv.Text, tc.wantText)
		}
		if tc.wantArgs != nil && !reflect.DeepEqual(inv.Args, tc.wantArgs) {
			t.Errorf("Parse(%q).Args = %v, want %v", tc.in, inv.Args, tc.wantArgs)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in                 string
		command, arg, want string // want: a substring of Error()
	}{
		{`casarray create "CAS Array fqdn=client.msglab.local`, "", "", "never closed"},
		{"dag create E14-DAG witness=EX10-CAHT dir=C:\\FSW colour=red", "dag create", "", "not an argument of this command; its keys are dir, ip, witness"},
		{"dag create E14-DAG witness=EX10-CAHT witness=EX10-MB01 dir=C:\\FSW", "dag create", "witness", "is given twice"},
		{"dag add-member E14-DAG EX10-MB01 EX10-MB02", "dag add-member", "", "one value too many"},
		{"dag create E14-DAG dir=C:\\FSW", "dag create", "witness", "witness is required"},
		{"dag create E14-DAG-TOO-LONG-NAME witness=EX10-CAHT dir=C:\\FSW", "dag create", "name", "at most 15"},
		{"dag create E14-DAG witness= dir=C:\\FSW", "dag create", "witness", "is empty"},
		{"copy add MB01 EX10-MB02 preference=17", "copy add", "preference", "from 1 to 16"},
		{"nlb create client.msglab.local ip=10.0.0.40 mask=255.255.255.0 interface=LAN host=EX10-CAHT mode=broadcast", "nlb create", "mode", "one of unicast, multicast, igmpmulticast"},
		{"dag stauts E14-DAG", "", "", `did you mean "dag status"?`},
		{"failovr MB01 to=EX10-MB02", "", "", `did you mean "failover"?`},
		{"dag maintenance", "", "", `"dag maintenance" needs a subcommand: dag maintenance start, dag maintenance stop, dag maintenance status`},
		{"dag maintenance start", "dag maintenance start", "server", "is required"},
		{"dag maintenance pause EX10-MB01", "", "", `unknown command`},
		{"dag", "", "", `needs a subcommand: dag create, dag add-member, dag maintenance start, dag maintenance stop, dag rebalance, dag status, dag networks, dag maintenance status`},
		{"reboot everything", "", "", `Type "help"`},
		{"help dag destroy", "help", "command", "is not valid"},
		// Look-alike names and invisible characters: the error names the character.
		{`casarray create "CAS Аrray" fqdn=client.msglab.local site=Default-First-Site-Name`, "casarray create", "name", "U+0410 (character 5) is a Cyrillic letter among Latin ones"},
		{"copy status MB0Β1", "copy status", "database", "U+0392 (character 4) is a Greek letter among Latin ones"},
		{"failover ΜВΑ1 to=EX10-MB02", "failover", "database", "U+0412 (character 2) is a Cyrillic letter among Greek ones"},
		{"deny r-1 invoice_‮fdp.exe", "deny", "reason", "contains U+202E (character 9), a bidirectional control character"},
		{"deny r-1 ok⁦ then", "deny", "reason", "contains U+2066 (character 3), a bidirectional control character"},
		{"deny r-1 no​way", "deny", "reason", "contains U+200B (character 3), an invisible formatting character"},
		{"deny r-1 " + strings.Repeat("x", 201), "deny", "reason", "is 201 characters long: keep it to 200"},
		{"copy status MB01‎", "copy status", "database", "contains U+200E (character 5), a bidirectional control character"},
	}
	for _, tc := range tests {
		_, err := Parse(tc.in)
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Errorf("Parse(%q) error = %v, want *UsageError", tc.in, err)
			continue
		}
		if ue.Command != tc.command || ue.Arg != tc.arg {
			t.Errorf("Parse(%q): Command %q Arg %q, want %q %q", tc.in, ue.Command, ue.Arg, tc.command, tc.arg)
		}
		if !strings.Contains(ue.Error(), tc.want) {
			t.Errorf("Parse(%q) error %q does not contain %q", tc.in, ue.Error(), tc.want)
		}
		if tc.command != "" && !strings.Contains(ue.Error(), "usage: "+tc.command) {
			t.Errorf("Parse(%q) error %q does not show the usage", tc.in, ue.Error())
		}
	}
}

// The usage lines are the DESIGN.md grammar, with mode's choices spelled out.
func TestUsageMatchesDesign(t *testing.T) {
	want := map[string]string{
		"dns add":           "dns add <name> <ip> zone=<zone>",
		"nlb add-host":      "nlb add-host <fqdn> host=<server> interface=<nic> [from=<server>]",
		"casarray assign":   "casarray assign <fqdn> [database=<db>]",
		"casarray restore":  "casarray restore <request-id>",
		"dag create":        "dag create <name> witness=<server> dir=<path> [ip=<ip>[,<ip>]]",
		"dag add-member":    "dag add-member <dag> <server>",
		"copy add":          "copy add <database> <server> [preference=<n>]",
		"failover":          "failover <database> to=<server>",
		"casarray create":   "casarray create <name> fqdn=<fqdn> site=<site>",
		"drill":             "drill <dag>",
		"copy status":       "copy status [<database>]",
		"health":            "health [<dag>]",
		"autodiscover test": "autodiscover test [mailbox=<smtp>]",
		"history":           "history [<n>]",
		"cancel":            "cancel <id>",
	}
	for name, w := range want {
		s := Lookup(name)
		if s == nil {
			t.Fatalf("no command %q", name)
		}
		if got := s.Usage(); got != w {
			t.Errorf("usage of %s = %q, want %q", name, got, w)
		}
	}
}

func TestCatalogMetadata(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Catalog() {
		if seen[s.Name] {
			t.Errorf("duplicate command %q", s.Name)
		}
		seen[s.Name] = true
		if s.Summary == "" || s.Target == "" || s.plan == nil {
			t.Errorf("%s: summary, target and plan are required", s.Name)
		}
		if s.Handler == HandlerBot && !s.ReadOnly {
			t.Errorf("%s: bot commands change nothing in Exchange and must be read-only", s.Name)
		}
		for _, a := range s.Args {
			if a.Kind == KindEnum && len(a.Choices) == 0 {
				t.Errorf("%s %s: enum without choices", s.Name, a.Name)
			}
			if a.Kind == KindInt && a.Min >= a.Max {
				t.Errorf("%s %s: empty range", s.Name, a.Name)
			}
			if a.Default != "" {
				if _, ok := a.normalize(a.Default); !ok {
					t.Errorf("%s %s: default %q breaks its own rule", s.Name, a.Name, a.Default)
				}
			}
		}
	}
	if got := Lookup("  DAG   status "); got == nil || got.Name != "dag status" {
		t.Errorf("Lookup is not case- and space-insensitive")
	}
	if s := Lookup("dag maintenance-start"); s == nil || s.Name != "dag maintenance start" || s.Subcommand() != "maintenance-start" || s.Group() != "dag" {
		t.Errorf("Lookup of Discord's dag maintenance-start = %v", s)
	}
	if Lookup("dag") != nil {
		t.Errorf("Lookup(dag) found a command; dag is a group")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range Catalog() {
		for _, ex := range s.Examples {
			f.Add(ex)
		}
	}
	for _, s := range []string{"", `"`, `a="b`, "dag create =x", "help help help", "/exchange  copy add \"MB 01\" x=y", "history 0100", "\x00", "“”",
		// Look-alikes and text that shows in another order than it is stored.
		`casarray create "CAS Аrray" fqdn=client.msglab.local site=Default-First-Site-Name`, "copy status МВ01", "copy status 東京DB",
		"deny r-1 invoice_\u202Efdp.exe", "deny r-1 \u2067abc\u2069 \u200D\U0001F44D", "failover MB01\u061C to=EX10-MB02"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		inv, err := Parse(text)
		if err != nil {
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("Parse(%q): %T is not a *UsageError", text, err)
			}
			_ = ue.Error()
			return
		}
		// What a card shows is what is stored: no accepted value hides a character or
		// mixes look-alike scripts.
		for name, v := range inv.Args {
			if _, r, what := invisible(v); what != "" {
				t.Fatalf("Parse(%q): %s=%q holds %s, %s", text, name, v, uplus(r), what)
			}
			if k := inv.Spec.Arg(name).Kind; (k == KindName || k == KindDatabase) && mixedScripts(v) != "" {
				t.Fatalf("Parse(%q): %s=%q mixes scripts", text, name, v)
			}
		}
		// The canonical text must parse to the same invocation.
		again, err := Parse(inv.Text)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its Text %q does not parse: %v", text, inv.Text, err)
		}
		if again.Text != inv.Text || !reflect.DeepEqual(again.Args, inv.Args) {
			t.Fatalf("Parse(%q): Text %q reparses as %q %v, was %v", text, inv.Text, again.Text, again.Args, inv.Args)
		}
		p, err := inv.Plan(walkEnv)
		if err != nil {
			return
		}
		for _, sc := range planScripts(p) {
			if _, _, closed := psLiterals(sc); !closed {
				t.Fatalf("Parse(%q): a script ends inside a string:\n%s", text, sc)
			}
		}
		_ = p.String()
		_ = p.Evaluate(make([]Tables, len(p.Preflight)))
	})
}
