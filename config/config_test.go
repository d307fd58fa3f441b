package config

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestExampleFileIsValid(t *testing.T) {
	c, err := Load("../exchops.example.yaml", nil)
	if err != nil {
		t.Fatalf("the example configuration must load: %v", err)
	}
	if c.Exchange.ManagementServer != "EX10-CAHT" || len(c.Exchange.Servers) != 5 || len(c.People) != 4 || len(c.Approvals.Rules) != 2 {
		t.Fatalf("unexpected content: %+v", c.Exchange)
	}
	if time.Duration(c.Approvals.ExpireAfter) != 30*time.Minute {
		t.Fatalf("expire_after = %v", c.Approvals.ExpireAfter)
	}
	if time.Duration(c.Exchange.SeedTimeout) != 24*time.Hour {
		t.Fatalf("seed_timeout = %v", c.Exchange.SeedTimeout)
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	c, err := Load("../exchops.example.yaml", []string{
		"EXCHOPS_LISTEN=0.0.0.0:9000", "EXCHOPS_EXCHANGE_WINRM_PORT=5985", "EXCHOPS_EXCHANGE_WINRM_HTTPS=false",
		"EXCHOPS_EXCHANGE_WINRM_AUTH=ntlm-encrypted", "EXCHOPS_APPROVALS_EXPIRE_AFTER=1h", "PATH=/bin",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "0.0.0.0:9000" || c.Exchange.WinRM.Port != 5985 || c.Exchange.WinRM.HTTPS ||
		c.Exchange.WinRM.Auth != "ntlm-encrypted" || time.Duration(c.Approvals.ExpireAfter) != time.Hour {
		t.Fatalf("overrides not applied: %+v", c)
	}
}

func TestProblemsNameTheirKeys(t *testing.T) {
	cases := []struct {
		name, yaml string
		env        []string
		wantKeys   []string
	}{
		{"unknown key", "listn: x\n", nil, nil},
		{"bad listen", "listen: nope\n", nil, []string{"listen"}},
		{"required zero", "approvals: {required: 0}\n", nil, []string{"approvals.required"}},
		{"bad duration", "approvals: {expire_after: soon}\n", nil, nil},
		{"bad role", "people: [{name: a, slack: U1, roles: [boss]}]\n", nil, []string{"people[0].roles"}},
		{"duplicate slack id", "people: [{name: a, slack: U1, roles: [admin]}, {name: b, slack: U1, roles: [approver]}]\n", nil, []string{"people[1].slack"}},
		{"no identity", "people: [{name: a, roles: [admin]}]\n", nil, []string{"people[0]"}},
		{"basic over http", "exchange: {winrm: {https: false, auth: basic}}\n", nil, []string{"exchange.winrm.auth"}},
		{"version", "exchange: {version: 2013}\n", nil, []string{"exchange.version"}},
		{"basic for a domain account over winrs", "exchange: {winrm: {https: true, auth: basic, user: 'MSGLAB\\svc'}}\n", nil, []string{"exchange.winrm.auth"}},
		{"basic for a upn over winrs", "exchange: {winrm: {https: true, auth: basic, user: svc@msglab.local}}\n", nil, []string{"exchange.winrm.auth"}},
		{"ntlm over http", "exchange: {winrm: {https: false, port: 5985, auth: ntlm}}\n", nil, []string{"exchange.winrm.auth"}},
		{"kerberos winrs over http", "exchange: {winrm: {https: false, port: 5985, auth: kerberos}}\n", nil, []string{"exchange.winrm.auth"}},
		{"exchange endpoint ntlm", "exchange: {powershell: {auth: ntlm}}\n", nil, []string{"exchange.powershell.auth"}},
		{"exchange endpoint kerberos over http", "exchange: {powershell: {https: false, port: 80}}\n", nil, []string{"exchange.powershell.https"}},
		{"exchange endpoint basic over http", "exchange: {powershell: {https: false, port: 80, auth: basic}}\n", nil, []string{"exchange.powershell.auth"}},
		{"exchange endpoint path", "exchange: {powershell: {path: PowerShell}}\n", nil, []string{"exchange.powershell.path"}},
		{"idle timeout above the server's", "exchange: {powershell: {idle_timeout: 5m}}\n", nil, []string{"exchange.powershell.idle_timeout"}},
		{"kerberos without realm", "exchange: {management_server: A, winrm: {user: u}, servers: [{name: A, address: a}]}\n", nil, []string{"exchange.kerberos.realm"}},
		{"realm in lower case", "exchange: {kerberos: {realm: msglab.local}}\n", nil, []string{"exchange.kerberos.realm"}},
		{"management server unknown", "exchange: {management_server: X, winrm: {user: u}, servers: [{name: A, address: a}]}\n", nil, []string{"exchange.management_server"}},
		{"bad env int", "", []string{"EXCHOPS_EXCHANGE_WINRM_PORT=abc"}, []string{"exchange.winrm.port"}},
		{"health thresholds", "health: {copy_queue: 0, replay_queue: -1}\n", nil, []string{"health.copy_queue", "health.replay_queue"}},
		{"mapi connectivity from env", "", []string{"EXCHOPS_HEALTH_MAPI_CONNECTIVITY=maybe"}, []string{"health.mapi_connectivity"}},
		{"drill timeout", "drill: {timeout: 5s}\n", nil, []string{"drill.timeout"}},
		{"seed timeout", "exchange: {seed_timeout: 0s}\n", nil, []string{"exchange.seed_timeout"}},
		{"seed timeout from env", "", []string{"EXCHOPS_EXCHANGE_SEED_TIMEOUT=-1h"}, []string{"exchange.seed_timeout"}},
		{"drill timeout from env", "", []string{"EXCHOPS_DRILL_TIMEOUT=1s"}, []string{"drill.timeout"}},
		{"unknown env", "", []string{"EXCHOPS_NOPE=1"}, []string{"EXCHOPS_NOPE"}},
		{"schedule", "schedules: [{name: s, cron: '0 7 * * *', job: backup, timezone: Mars/Base}]\n", nil, []string{"schedules[0].job", "schedules[0].timezone", "schedules[0].post_to"}},
		{"rule for no command", "approvals: {rules: [{commands: [], approvers: [bob]}]}\n" + bob, nil, []string{"approvals.rules[0].commands"}},
		{"rule for an unknown command", "approvals: {rules: [{commands: [failover, \"dag pause\"]}]}\n", nil, []string{"approvals.rules[0].commands"}},
		{"rule for a word prefix", "approvals: {rules: [{commands: [da]}]}\n", nil, []string{"approvals.rules[0].commands"}},
		{"rule for a read-only command", "approvals: {rules: [{commands: [\"dag status\"]}]}\n", nil, []string{"approvals.rules[0].commands"}},
		{"rule for a read-only group", "approvals: {rules: [{commands: [autodiscover]}]}\n", nil, []string{"approvals.rules[0].commands"}},
		{"command in two rules", "approvals: {rules: [{commands: [failover]}, {commands: [drill, Failover]}]}\n", nil, []string{"approvals.rules[1].commands"}},
		{"command twice in a rule", "approvals: {rules: [{commands: [failover, failover]}]}\n", nil, []string{"approvals.rules[0].commands"}},
		{"negative required", "approvals: {rules: [{commands: [failover], required: -1}]}\n", nil, []string{"approvals.rules[0].required"}},
		{"unknown approver", "approvals: {rules: [{commands: [failover], approvers: [mallory]}]}\n" + bob, nil, []string{"approvals.rules[0].approvers"}},
		{"approver in another case", "approvals: {rules: [{commands: [failover], approvers: [Bob]}]}\n" + bob, nil, []string{"approvals.rules[0].approvers"}},
		{"bad role name", "approvals: {rules: [{commands: [failover], approvers: [\"role:DAG Owner\"]}]}\n", nil, []string{"approvals.rules[0].approvers"}},
		{"empty approver", "approvals: {rules: [{commands: [failover], approvers: [\"\"]}]}\n", nil, []string{"approvals.rules[0].approvers"}},
		{"a group no rule names", "people: [{name: a, slack: U1, roles: [approver, dag-owner]}]\n", nil, []string{"people[0].roles"}},
		{"a team with spaces", "people: [{name: a, slack: U1, roles: [approver], team: ' dns'}]\n", nil, []string{"people[0].team"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.yaml), tc.env)
			if err == nil {
				t.Fatal("expected an error")
			}
			var probs Problems
			if !errors.As(err, &probs) {
				if tc.wantKeys != nil {
					t.Fatalf("expected problems with keys %v, got %v", tc.wantKeys, err)
				}
				return
			}
			for _, k := range tc.wantKeys {
				found := false
				for _, p := range probs {
					found = found || p.Key == k
				}
				if !found {
					t.Errorf("no problem at %s in:\n%v", k, err)
				}
			}
		})
	}
}

// bob is a people list for rules that name him.
const bob = "people: [{name: bob, slack: U0BOB, roles: [admin, approver]}]\n"

// TestRuleProblemsSayWhatIsValid: a rule naming something that is not a command
// that needs approval lists what is.
func TestRuleProblemsSayWhatIsValid(t *testing.T) {
	_, err := Parse(strings.NewReader("approvals: {rules: [{commands: [\"dag pause\"]}]}\n"), nil)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{`approvals.rules[0].commands: "dag pause" is not a command or group of commands that needs approval`,
		"casarray, casarray assign", "dag, dag add-member", "failover", "schedule add", "dns add"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the problem does not say %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "dag status") || strings.Contains(err.Error(), "help") {
		t.Errorf("read-only commands are offered:\n%v", err)
	}
}

func TestSecretsAreNotInTheFile(t *testing.T) {
	b, err := os.ReadFile("../exchops.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"xoxb-", "xapp-", "password:"} {
		if strings.Contains(string(b), s) {
			t.Errorf("the example file contains %q: secrets belong in the environment", s)
		}
	}
}

// TestWaysThatWork are the combinations a real 2010 / 2008 R2 organisation accepts:
// none of them may be refused.
func TestWaysThatWork(t *testing.T) {
	for _, y := range []string{
		"exchange: {powershell: {auth: basic}}\n",
		"exchange: {winrm: {https: true, auth: basic, user: 'svc-local'}}\n",
		"exchange: {winrm: {https: true, auth: basic, user: '.\\svc-local'}}\n",
		"exchange: {winrm: {https: false, port: 5985, auth: ntlm-encrypted}}\n",
		"exchange: {winrm: {https: true, auth: kerberos}, kerberos: {realm: MSGLAB.LOCAL}}\n",
		// Approval rules: commands, groups, people and groups of people.
		"approvals: {rules: [{commands: [failover, drill, dag], required: 2, approvers: [role:dag-owner]}, {commands: [\"dns  add\"], approvers: [role:dns-admin, bob], same_team: false}, {commands: [schedule]}]}\n" +
			"people: [{name: bob, slack: U1, roles: [admin, approver, dns-admin], team: dns}, {name: carol, slack: U2, roles: [approver, dag-owner]}]\n",
	} {
		if _, err := Parse(strings.NewReader(y), nil); err != nil {
			t.Errorf("%s refused: %v", strings.TrimSpace(y), err)
		}
	}
}

// health.mapi_connectivity: off by default, on from the file or the environment.
func TestMAPIConnectivity(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		env  []string
		want bool
	}{
		{"", nil, false},
		{"health: {mapi_connectivity: true}\n", nil, true},
		{"", []string{"EXCHOPS_HEALTH_MAPI_CONNECTIVITY=true"}, true},
		{"health: {mapi_connectivity: true}\n", []string{"EXCHOPS_HEALTH_MAPI_CONNECTIVITY=false"}, false},
	} {
		c, err := Parse(strings.NewReader(tc.yaml), tc.env)
		if err != nil {
			t.Fatalf("%q %v: %v", tc.yaml, tc.env, err)
		}
		if c.Health.MAPIConnectivity != tc.want {
			t.Errorf("%q %v: mapi_connectivity %v, want %v", tc.yaml, tc.env, c.Health.MAPIConnectivity, tc.want)
		}
	}
}

// watch: off by default with CheckDatabaseRedundancy.ps1's 20 minutes; on from the
// file or the environment, with a channel; refused with no channel or a negative
// grace time, at the key.
func TestWatchSection(t *testing.T) {
	for _, tc := range []struct {
		yaml    string
		env     []string
		want    Watch
		wantKey string // a problem at this key
	}{
		{yaml: "", want: Watch{SingleCopyAfter: Duration(20 * time.Minute)}},
		{yaml: "watch: {enabled: true, alert_channels: {slack: C0ALERTS}}\n",
			want: Watch{Enabled: true, SingleCopyAfter: Duration(20 * time.Minute), AlertChannels: PostTo{Slack: "C0ALERTS"}}},
		{yaml: "watch: {enabled: true, single_copy_after: 0s, alert_channels: {discord: \"777\"}}\n",
			want: Watch{Enabled: true, AlertChannels: PostTo{Discord: "777"}}},
		{yaml: "watch: {alert_channels: {slack: C0ALERTS}}\n",
			env:  []string{"EXCHOPS_WATCH_ENABLED=true", "EXCHOPS_WATCH_SINGLE_COPY_AFTER=45m"},
			want: Watch{Enabled: true, SingleCopyAfter: Duration(45 * time.Minute), AlertChannels: PostTo{Slack: "C0ALERTS"}}},
		{yaml: "", env: []string{"EXCHOPS_WATCH_ENABLED=true", "EXCHOPS_WATCH_ALERT_CHANNELS_SLACK=C0ALERTS"},
			want: Watch{Enabled: true, SingleCopyAfter: Duration(20 * time.Minute), AlertChannels: PostTo{Slack: "C0ALERTS"}}},
		{yaml: "watch: {enabled: true}\n", wantKey: "watch.alert_channels"},
		{yaml: "watch: {single_copy_after: -5m}\n", wantKey: "watch.single_copy_after"},
		{yaml: "watch: {single_copy_after: soon}\n", wantKey: "-"},
		{yaml: "watch: {enabled: true, alert_channel: C0ALERTS}\n", wantKey: "-"},
	} {
		c, err := Parse(strings.NewReader(tc.yaml), tc.env)
		if tc.wantKey != "" {
			if err == nil {
				t.Errorf("%q %v accepted", tc.yaml, tc.env)
			} else if tc.wantKey != "-" && !strings.Contains(err.Error(), tc.wantKey+": ") {
				t.Errorf("%q: %v, want a problem at %s", tc.yaml, err, tc.wantKey)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q %v: %v", tc.yaml, tc.env, err)
		}
		if c.Watch != tc.want {
			t.Errorf("%q %v: watch %+v, want %+v", tc.yaml, tc.env, c.Watch, tc.want)
		}
	}
}
