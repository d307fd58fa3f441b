package lab

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/lab/ps"
)

func TestNewClientAccessArrayRefusals(t *testing.T) {
	tests := []struct {
		name, arrName, fqdn, site string
		want                      string
	}{
		{"unknown site", "CAS Array", "client.msglab.local", "Redmond",
			"The operation couldn't be performed because object 'Redmond' couldn't be found on 'DC01.msglab.local'."},
		{"duplicate name", "cas array", "other.msglab.local", SiteName,
			"Active Directory operation failed on DC01.msglab.local. The object 'CN=CAS Array,CN=Arrays,CN=Default-First-Site-Name,CN=Sites,CN=Configuration,DC=msglab,DC=local' already exists."},
		{"FQDN of another array", "Second", "CLIENT.msglab.local", SiteName,
			"The FQDN 'client.msglab.local' is already used by Client Access array 'CAS Array'."},
		{"FQDN of a server", "Second", "ex10-caht.msglab.local", SiteName,
			"The FQDN 'ex10-caht.msglab.local' is the name of server EX10-CAHT."},
		{"second array in the site", "Second", "other.msglab.local", SiteName,
			"Active Directory site 'Default-First-Site-Name' already has Client Access array 'CAS Array'."},
		{"not an FQDN", "Second", "bad name", SiteName,
			`Cannot convert value "bad name" to type "Microsoft.Exchange.Data.Fqdn"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, _ := newCASTestOrg(t)
			if _, err := o.newCASArray("CAS Array", "client.msglab.local", SiteName); err != nil {
				t.Fatal(err)
			}
			_, err := o.newCASArray(tt.arrName, tt.fqdn, tt.site)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
			if n := len(o.CASArrays()); n != 1 {
				t.Errorf("%d arrays after a refusal", n)
			}
		})
	}
}

func TestClientAccessArrayLifecycle(t *testing.T) {
	o, _ := newCASTestOrg(t)
	if got, err := o.getCASArrays(""); err != nil || len(got) != 0 {
		t.Fatalf("Get-ClientAccessArray before step 3: %v %v", got, err)
	}
	obj, err := o.newCASArray("", "client.msglab.local.", "default-first-site-name")
	if err != nil {
		t.Fatal(err)
	}
	var props []string
	for _, p := range obj.Props() {
		props = append(props, fmt.Sprintf("%s=%v", p.Name, p.Value))
	}
	if got, want := strings.Join(props, " "), "Name=client Site=Default-First-Site-Name Fqdn=client.msglab.local Members=[EX10-CAHT EX10-CAHT02] Identity=client"; got != want || obj.TypeName != casArrayType {
		t.Errorf("array = %s %s, want %s", obj.TypeName, got, want)
	}
	if err := o.setCASArray("client", "CAS Array", "", ""); err != nil {
		t.Fatal(err)
	}
	if err := o.setCASArray("CAS Array", "", "ex10-caht02.msglab.local", ""); err == nil {
		t.Error("Set-ClientAccessArray accepted a server's FQDN")
	}
	if _, err := o.getCASArrays("client.msglab.local"); err != nil {
		t.Errorf("Get-ClientAccessArray by FQDN: %v", err)
	}
	if err := o.removeCASArray("nope"); err == nil || !strings.Contains(err.Error(), "couldn't be found") {
		t.Errorf("Remove-ClientAccessArray nope: %v", err)
	}
	if err := o.removeCASArray("CAS Array"); err != nil {
		t.Fatal(err)
	}
	if _, err := o.getCASArrays("CAS Array"); err == nil {
		t.Error("the array is still there")
	}
}

// TestOutlookWebServicesProgress runs Test-OutlookWebServices after each step of the
// walkthrough and records the rows in a golden file: every missing piece has its own
// Error row, and only the finished setup passes.
func TestOutlookWebServicesProgress(t *testing.T) {
	o, clk := newCASTestOrg(t)
	caht := mustServer(t, o, "EX10-CAHT")
	dc := mustServer(t, o, "DC01")
	steps := []struct {
		name string
		do   func()
		pass bool
	}{
		{"before step 1", func() {}, false},
		{"DNS record points at the wrong address", func() {
			o.runDnscmd(dc, strings.Fields("DC01 /recordadd msglab.local client A 10.0.0.41"))
		}, false},
		{"DNS record fixed, no NLB yet", func() {
			o.runDnscmd(dc, strings.Fields("DC01 /recorddelete msglab.local client A 10.0.0.41 /f"))
			o.runDnscmd(dc, strings.Fields("DC01 /recordadd msglab.local client A 10.0.0.40"))
		}, false},
		{"NLB created, converging", func() { nlbWalkthrough(t, o) }, false},
		{"NLB converged", func() { clk.Advance(o.Timing.NLBConverge) }, false},
		{"CAS array created", func() {
			if _, err := o.newCASArray("CAS Array", "client.msglab.local", SiteName); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"MB01 pointed at the array", func() { o.database("MB01").RpcClientAccessServer = "client.msglab.local" }, false},
		{"MB02 pointed at the array", func() { o.database("MB02").RpcClientAccessServer = "client.msglab.local" }, true},
		{"cluster reconverging", func() {
			for _, n := range o.nlb[0].Nodes {
				n.ConvergingUntil = clk.Now().Add(time.Minute)
			}
		}, false},
		{"cluster converged, DNS record deleted", func() {
			clk.Advance(time.Minute)
			o.runDnscmd(dc, strings.Fields("DC01 /recorddelete msglab.local client A /f"))
		}, false},
		{"DNS record points at the wrong address again", func() {
			o.runDnscmd(dc, strings.Fields("DC01 /recordadd msglab.local client A 10.0.0.41"))
		}, false},
	}
	var b strings.Builder
	for _, s := range steps {
		s.do()
		rows, err := o.testOutlookWebServices(caht, "administrator@msglab.local")
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		errors := 0
		fmt.Fprintf(&b, "## %s\n", s.name)
		for _, r := range rows {
			fmt.Fprintf(&b, "%d %-11s %s\n", r.ID, r.Type, r.Message)
			if r.Type == "Error" {
				errors++
			}
		}
		b.WriteString("\n")
		if (errors == 0) != s.pass {
			t.Errorf("%s: %d Error rows, want pass=%v", s.name, errors, s.pass)
		}
	}
	checkGolden(t, "outlookwebservices_progress", b.String())

	if _, err := o.testOutlookWebServices(caht, "nobody@msglab.local"); err == nil ||
		!strings.Contains(err.Error(), "The operation couldn't be performed because object 'nobody@msglab.local' couldn't be found") {
		t.Errorf("unknown mailbox: %v", err)
	}
	for _, id := range []string{"administrator", `MSGLAB\Administrator`} {
		if _, err := o.testOutlookWebServices(caht, id); err != nil {
			t.Errorf("identity %s: %v", id, err)
		}
	}
}

// TestCASCmdletBindings checks the thin bindings against their declared parameters:
// every cmdlet the brief names exists, and the walkthrough's parameter names bind.
func TestCASCmdletBindings(t *testing.T) {
	o, _ := newCASTestOrg(t)
	on := mustServer(t, o, "EX10-CAHT")
	want := map[string][]string{
		"Get-ClientAccessArray":    {"Identity"},
		"New-ClientAccessArray":    {"Name", "Fqdn", "Site"},
		"Set-ClientAccessArray":    {"Identity", "Fqdn"},
		"Remove-ClientAccessArray": {"Identity"},
		"Get-ClientAccessServer":   {"Identity"},
		"Test-OutlookWebServices":  {"Identity", "ClientAccessServer"},
		"Add-WindowsFeature":       {"Name"},
		"Get-WindowsFeature":       {"Name"},
		"Remove-WindowsFeature":    {"Name"},
		"New-NlbCluster":           {"InterfaceName", "ClusterPrimaryIP", "SubnetMask", "ClusterName", "OperationMode", "HostName"},
		"Get-NlbCluster":           {"HostName", "InterfaceName"},
		"Add-NlbClusterNode":       {"NewNodeName", "NewNodeInterface", "InputObject", "HostName", "InterfaceName"},
		"Get-NlbClusterNode":       {"HostName", "NodeName"},
		"Remove-NlbClusterNode":    {"HostName"},
	}
	all := append(append(o.casCmdlets(on), o.serverManagerCmdlets(on)...), o.nlbCmdlets(on, false)...)
	seen := map[string]*ps.Cmdlet{}
	for _, c := range all {
		if seen[c.Name] != nil {
			t.Errorf("%s defined twice", c.Name)
		}
		seen[c.Name] = c
	}
	for name, params := range want {
		c := seen[name]
		if c == nil {
			t.Errorf("%s is missing", name)
			continue
		}
		for _, p := range params {
			found := false
			for _, d := range c.Params {
				found = found || d.Name == p
			}
			if !found {
				t.Errorf("%s has no -%s", name, p)
			}
		}
	}
	if d := o.dnscmdCmdlet(mustServer(t, o, "DC01")); !d.Native {
		t.Error("dnscmd must be a native command")
	}
}

// TestSetRpcClientAccessServer: the value is a ClientAccessServerOrArrayIdParameter,
// resolved to an array or an Exchange server (whose FQDN the database keeps) or
// refused; $null clears it.
func TestSetRpcClientAccessServer(t *testing.T) {
	tests := []struct {
		name, value string
		clear       bool
		want, err   string
	}{
		{"array by FQDN", "Client.msglab.local", false, "client.msglab.local", ""},
		{"array by name", "CAS Array", false, "client.msglab.local", ""},
		{"not a name", "client msglab", false, "", "isn't a valid FQDN"},
		{"server by NetBIOS name", "ex10-caht", false, "ex10-caht.msglab.local", ""},
		{"server by FQDN", "EX10-CAHT02.msglab.local", false, "ex10-caht02.msglab.local", ""},
		{"mailbox server", "ex10-mb02.msglab.local", false, "ex10-mb02.msglab.local", ""},
		{"nothing by that name", "outlook.msglab.local", false, "", "object 'outlook.msglab.local' couldn't be found"},
		{"a domain controller", "dc01.msglab.local", false, "", "couldn't be found"},
		{"$null", "", true, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, _ := newCASTestOrg(t)
			if _, err := o.newCASArray("CAS Array", "client.msglab.local", SiteName); err != nil {
				t.Fatal(err)
			}
			ch := dbChange{ClearRpcClientAccess: tt.clear}
			if !tt.clear {
				ch.RpcClientAccessServer = &tt.value
			}
			_, err := o.setMailboxDatabase("MB01", ch)
			got, _ := o.RpcClientAccessServer("MB01")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || got != "ex10-mb01.msglab.local" {
					t.Fatalf("error %v, value %q; want an error with %q and the value unchanged", err, got, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("error %v, value %q; want %q", err, got, tt.want)
			}
		})
	}
}

// TestBranchSite: the second site has its own server and database, Get-ADSite lists
// both sites, it can have its own array, and Test-OutlookWebServices in the first site
// does not judge the branch's database.
func TestBranchSite(t *testing.T) {
	o, _ := newCASTestOrg(t)
	o.AddBranchSite()
	o.AddBranchSite() // once only
	if got := o.sites(); strings.Join(got, ",") != SiteName+","+BranchSiteName {
		t.Fatalf("sites %v", got)
	}
	if s := mustServer(t, o, "EX10-BR01"); s.Site != BranchSiteName || !s.HasRole("ClientAccess") || !s.HasRole("Mailbox") {
		t.Fatalf("EX10-BR01: %+v", s)
	}
	if v, err := o.RpcClientAccessServer("BR01"); err != nil || v != "ex10-br01.msglab.local" {
		t.Fatalf("BR01: %q %v", v, err)
	}
	if _, err := o.newCASArray("Branch Array", "branch.msglab.local", BranchSiteName); err != nil {
		t.Fatal(err)
	}
	if _, err := o.newCASArray("CAS Array", "client.msglab.local", SiteName); err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{"MB01", "MB02"} {
		if err := o.SetRpcClientAccessServer(db, "client.msglab.local"); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := o.testOutlookWebServices(mustServer(t, o, "EX10-CAHT"), "administrator")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if strings.Contains(r.Message, "BR01") {
			t.Errorf("the first site's test judges the branch's database: %s", r.Message)
		}
	}
}
