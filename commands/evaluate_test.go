package commands

import (
	"strings"
	"testing"
)

// Synthetic preflight rows, shaped like the walkthrough's organisation.
var (
	dagE14    = row{"Name": "E14-DAG", "Servers": "EX10-MB01;EX10-MB02", "WitnessServer": "ex10-caht.msglab.local", "WitnessDirectory": `C:\FSW`, "DatabaseAvailabilityGroupIpv4Addresses": "10.0.0.50"}
	srvCAHT   = row{"Site": "msglab.local/Configuration/Sites/Default-First-Site-Name", "Name": "EX10-CAHT", "Fqdn": "ex10-caht.msglab.local", "ServerRole": "ClientAccess, HubTransport", "AdminDisplayVersion": "Version 14.3 (Build 123.4)"}
	srvCAHT02 = row{"Site": "msglab.local/Configuration/Sites/Default-First-Site-Name", "Name": "EX10-CAHT02", "Fqdn": "ex10-caht02.msglab.local", "ServerRole": "ClientAccess, HubTransport", "AdminDisplayVersion": "Version 14.3 (Build 123.4)"}
	srvMB01   = row{"Site": "msglab.local/Configuration/Sites/Default-First-Site-Name", "Name": "EX10-MB01", "Fqdn": "ex10-mb01.msglab.local", "ServerRole": "Mailbox", "AdminDisplayVersion": "Version 14.3 (Build 123.4)"}
	srvMB02   = row{"Site": "msglab.local/Configuration/Sites/Default-First-Site-Name", "Name": "EX10-MB02", "Fqdn": "ex10-mb02.msglab.local", "ServerRole": "Mailbox", "AdminDisplayVersion": "Version 14.3 (Build 123.4)"}
	allSrv    = []row{srvCAHT, srvCAHT02, srvMB01, srvMB02}
	nlbLoaded = []row{{"Module": "Loaded"}}
	nlbNone   = []row{{"Module": "Unavailable"}}
	dbMB01    = row{"Name": "MB01", "Server": "EX10-MB01", "MasterServerOrAvailabilityGroup": "E14-DAG", "Servers": "EX10-MB01", "ActivationPreference": "[EX10-MB01, 1]", "CircularLoggingEnabled": "False", "RpcClientAccessServer": "ex10-mb01.msglab.local"}
	dbMB02    = row{"Name": "MB02", "Server": "EX10-MB02", "MasterServerOrAvailabilityGroup": "E14-DAG", "Servers": "EX10-MB02;EX10-MB01", "ActivationPreference": "[EX10-MB02, 1];[EX10-MB01, 2]", "CircularLoggingEnabled": "False", "RpcClientAccessServer": "ex10-mb02.msglab.local"}
)

func cp(name, status string, mods ...string) row {
	r := row{"Name": name, "DatabaseName": name[:strings.IndexByte(name, '\\')], "MailboxServer": name[strings.IndexByte(name, '\\')+1:],
		"Status": status, "ActiveCopy": map[bool]string{true: "True", false: "False"}[status == "Mounted"], "ActivationSuspended": "False",
		"CopyQueueLength": "0", "ReplayQueueLength": "0", "ContentIndexState": "Healthy"}
	for i := 0; i+1 < len(mods); i += 2 {
		r[mods[i]] = mods[i+1]
	}
	return r
}

func with(r row, kv ...string) row {
	out := row{}
	for k, v := range r {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

type evalCase struct {
	name    string
	text    string
	results []Tables
	want    Severity // the most severe finding expected (Info when only info or none)
	noop    bool
	msg     string // a substring of some finding's message ("" to skip)
	lock    string // expected Findings.Lock ("" to skip)
}

func runEval(t *testing.T, cases []evalCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := Parse(tc.text)
			if err != nil {
				t.Fatal(err)
			}
			p, err := withPast(inv).Plan(walkEnv)
			if err != nil {
				t.Fatal(err)
			}
			if len(tc.results) != len(p.Preflight) {
				t.Fatalf("case has %d results, plan has %d preflight steps", len(tc.results), len(p.Preflight))
			}
			f := p.Evaluate(tc.results)
			worst := Info
			found := tc.msg == ""
			for _, x := range f.List {
				worst = max(worst, x.Severity)
				found = found || strings.Contains(x.Message, tc.msg)
			}
			if worst != tc.want || f.NoOp != tc.noop || !found {
				t.Errorf("got worst %s, noop %v, findings:\n%s\nwant worst %s, noop %v, a message with %q", worst, f.NoOp, f, tc.want, tc.noop, tc.msg)
			}
			if tc.lock != "" && f.Lock != tc.lock {
				t.Errorf("lock %q, want %q", f.Lock, tc.lock)
			}
		})
	}
}

func TestEvaluateDNS(t *testing.T) {
	const cmd = "dns add client 10.0.0.40 zone=msglab.local"
	rec := func(ips ...string) []Tables {
		var rs []row
		for _, ip := range ips {
			rs = append(rs, row{"IPAddress": ip})
		}
		return []Tables{{"records": rs}}
	}
	runEval(t, []evalCase{
		{"new", cmd, rec(), Info, false, "no A record yet", ""},
		{"same", cmd, rec("10.0.0.40"), Info, true, "already points to 10.0.0.40", ""},
		{"elsewhere", cmd, rec("10.0.0.41"), Blocker, false, "already points to 10.0.0.41", ""},
		{"round robin", cmd, rec("10.0.0.40", "10.0.0.41"), Warning, true, "round robin", ""},
	})
}

// allPorts is the port rule New-NlbCluster creates, as the add-host preflight reads it.
var allPorts = row{"VirtualIPAddress": "255.255.255.255", "StartPort": "0", "EndPort": "65535", "Protocol": "Both", "FilteringMode": "Multiple", "Affinity": "Single", "Timeout": "0"}

// fromHost is the add-host preflight on the existing host: client.msglab.local with the
// nodes given (EX10-CAHT alone, converged, when none) and the default port rule.
func fromHost(nodes ...row) Tables {
	if len(nodes) == 0 {
		nodes = []row{{"Name": "EX10-CAHT", "State": "Converged(default)", "InterfaceName": "Local Area Connection", "HostPriority": "1"}}
	}
	return Tables{"nlbprobe": nlbLoaded, "nlb": []row{{"Name": "client.msglab.local", "IPAddress": "10.0.0.40", "SubnetMask": "255.255.255.0", "Mode": "MULTICAST"}},
		"nlbnodes": nodes, "nlbrules": []row{allPorts}}
}

func joinFrom(ex, host, from Tables) []Tables { return []Tables{ex, host, from} }

// with3 returns t with one section replaced.
func with3(t Tables, section string, rs []row) Tables {
	out := Tables{}
	for k, v := range t {
		out[k] = v
	}
	out[section] = rs
	return out
}

func TestEvaluateNLB(t *testing.T) {
	const create = `nlb create client.msglab.local ip=10.0.0.40 mask=255.255.255.0 interface="Local Area Connection" host=EX10-CAHT mode=multicast`
	const add = `nlb add-host client.msglab.local host=EX10-CAHT02 interface="Local Area Connection"`
	ex := Tables{"dags": nil, "servers": allSrv}
	cluster := row{"Name": "client.msglab.local", "IPAddress": "10.0.0.40", "SubnetMask": "255.255.255.0", "Mode": "Multicast"}
	conv := func(names ...string) []row {
		var rs []row
		for i, n := range names {
			rs = append(rs, row{"Name": n, "State": "Converged", "HostPriority": string(rune('1' + i))})
		}
		return rs
	}
	runEval(t, []evalCase{
		{"create fresh", create, []Tables{ex, {"nlbprobe": nlbNone}}, Info, false, "plan installs it", ""},
		{"create on DAG member", strings.Replace(create, "EX10-CAHT", "EX10-MB01", 1),
			[]Tables{{"dags": []row{dagE14}, "servers": allSrv}, {"nlbprobe": nlbNone}}, Blocker, false, "does not support Windows NLB on a DAG member", ""},
		{"create exists same", create, []Tables{ex, {"nlbprobe": nlbLoaded, "nlb": []row{cluster}}}, Info, true, "already exists", ""},
		{"create exists other ip", create, []Tables{ex, {"nlbprobe": nlbLoaded, "nlb": []row{with(cluster, "IPAddress", "10.0.0.41")}}}, Blocker, false, "other settings", ""},
		{"create host in other cluster", create, []Tables{ex, {"nlbprobe": nlbLoaded, "nlb": []row{with(cluster, "Name", "owa.msglab.local")}}}, Blocker, false, "already a node of NLB cluster owa.msglab.local", ""},
		{"create on non-CAS", create, []Tables{{"servers": []row{srvMB01}}, {"nlbprobe": nlbNone}}, Warning, false, "not an Exchange server", ""},
		{"add fresh host", add, joinFrom(ex, Tables{"nlbprobe": nlbNone}, fromHost()), Info, false, "joins client.msglab.local as host priority 2", ""},
		{"add, host has NLB", add, joinFrom(ex, Tables{"nlbprobe": nlbLoaded}, fromHost()), Info, false, "port rules: all cluster IPs ports 0-65535 Both Multiple affinity Single", ""},
		{"add already node", add, joinFrom(ex, Tables{"nlbprobe": nlbLoaded, "nlb": []row{cluster}}, fromHost()), Info, true, "already a node", ""},
		{"add already node per nodes", add, joinFrom(ex, Tables{"nlbprobe": nlbNone}, fromHost(conv("EX10-CAHT", "EX10-CAHT02")...)), Info, true, "already a node", ""},
		{"add host in other cluster", add, joinFrom(ex, Tables{"nlbprobe": nlbLoaded, "nlb": []row{with(cluster, "Name", "owa.msglab.local")}}, fromHost()), Blocker, false, "already a node of NLB cluster owa.msglab.local", ""},
		{"add not converged", add, joinFrom(ex, Tables{"nlbprobe": nlbNone}, fromHost(row{"Name": "EX10-CAHT", "State": "Converging", "HostPriority": "1"})), Blocker, false, "is Converging", ""},
		{"add DAG member", strings.Replace(add, "EX10-CAHT02", "EX10-MB02", 1) + " from=EX10-CAHT", joinFrom(Tables{"dags": []row{dagE14}, "servers": allSrv}, Tables{"nlbprobe": nlbNone}, fromHost()), Blocker, false, "DAG member", ""},
		{"add from a host without NLB", add, joinFrom(ex, Tables{"nlbprobe": nlbNone}, Tables{"nlbprobe": nlbNone}), Blocker, false, "NLB is not installed on EX10-CAHT", ""},
		{"add from a host in no cluster", add, joinFrom(ex, Tables{"nlbprobe": nlbNone}, Tables{"nlbprobe": nlbLoaded}), Blocker, false, "EX10-CAHT is not a host of any NLB cluster", ""},
		{"add from a host of another cluster", add, joinFrom(ex, Tables{"nlbprobe": nlbNone}, with3(fromHost(), "nlb", []row{with(cluster, "Name", "owa.msglab.local")})), Blocker, false, "not of client.msglab.local", ""},
		{"add with a single-host rule", add, joinFrom(ex, Tables{"nlbprobe": nlbNone}, with3(fromHost(), "nlbrules", []row{with(allPorts, "FilteringMode", "Single", "Affinity", "")})), Blocker, false, "single-host rule", ""},
		{"add with an unknown protocol", add, joinFrom(ex, Tables{"nlbprobe": nlbNone}, with3(fromHost(), "nlbrules", []row{with(allPorts, "Protocol", "Sctp")})), Blocker, false, `protocol "Sctp"`, ""},
		{"add takes the lowest free priority", add, joinFrom(ex, Tables{"nlbprobe": nlbNone}, fromHost(row{"Name": "EX10-CAHT", "State": "Converged", "HostPriority": "2"})), Info, false, "as host priority 1", ""},
	})
}

func TestEvaluateCASArray(t *testing.T) {
	const create = `casarray create "CAS Array" fqdn=client.msglab.local site=Default-First-Site-Name`
	sites := []row{{"Name": "Default-First-Site-Name"}}
	arr := row{"Name": "CAS Array", "Fqdn": "client.msglab.local", "Site": "msglab.local/Configuration/Sites/Default-First-Site-Name"}
	const assign = "casarray assign client.msglab.local"
	dbs := []row{dbMB01, dbMB02}
	runEval(t, []evalCase{
		{"create fresh", create, []Tables{{"sites": sites}}, Info, false, "", ""},
		{"create exists same", create, []Tables{{"sites": sites, "casarrays": []row{arr}}}, Info, true, "already exists", ""},
		{"create exists other fqdn", create, []Tables{{"sites": sites, "casarrays": []row{with(arr, "Fqdn", "outlook.msglab.local")}}}, Blocker, false, "already exists as outlook.msglab.local", ""},
		{"create site taken", create, []Tables{{"sites": sites, "casarrays": []row{with(arr, "Name", "Other", "Fqdn", "other.msglab.local")}}}, Blocker, false, "one CAS array per site", ""},
		{"create no site", create, []Tables{{"sites": []row{{"Name": "Berlin"}}}}, Blocker, false, "does not exist", ""},
		{"assign records previous", assign, []Tables{{"casarrays": []row{arr}, "servers": allSrv, "databases": dbs}}, Info, false, "MB01=ex10-mb01.msglab.local, MB02=ex10-mb02.msglab.local", ""},
		{"assign no array", assign, []Tables{{"servers": allSrv, "databases": dbs}}, Blocker, false, "No CAS array has the FQDN", ""},
		{"assign back to a CAS", "casarray assign ex10-caht.msglab.local", []Tables{{"servers": allSrv, "databases": dbs}}, Info, false, "not a CAS array", ""},
		{"assign done", assign, []Tables{{"casarrays": []row{arr}, "servers": allSrv, "databases": []row{with(dbMB01, "RpcClientAccessServer", "client.msglab.local")}}}, Info, true, "nothing to do", ""},
		{"assign one db missing", assign + " database=MB09", []Tables{{"casarrays": []row{arr}, "servers": allSrv, "databases": dbs}}, Blocker, false, "MB09 does not exist", ""},
		{"assign one db", assign + " database=MB01", []Tables{{"casarrays": []row{arr}, "servers": allSrv, "databases": dbs}}, Info, false, "MB01=ex10-mb01.msglab.local.", ""},
	})
}

// A second Active Directory site: EX10-BR01 (Mailbox and Client Access) with BR01,
// and its own array.
var (
	srvBR01  = row{"Name": "EX10-BR01", "Fqdn": "ex10-br01.msglab.local", "ServerRole": "Mailbox, ClientAccess, HubTransport", "Site": "msglab.local/Configuration/Sites/Branch-Site", "AdminDisplayVersion": "Version 14.3 (Build 123.4)"}
	dbBR01   = row{"Name": "BR01", "Server": "EX10-BR01", "MasterServerOrAvailabilityGroup": "EX10-BR01", "Servers": "EX10-BR01", "ActivationPreference": "[EX10-BR01, 1]", "RpcClientAccessServer": "ex10-br01.msglab.local"}
	arrMain  = row{"Name": "CAS Array", "Fqdn": "client.msglab.local", "Site": "msglab.local/Configuration/Sites/Default-First-Site-Name"}
	arrBr    = row{"Name": "Branch Array", "Fqdn": "branch.msglab.local", "Site": "Branch-Site"}
	twoSites = []row{srvCAHT, srvCAHT02, srvMB01, srvMB02, srvBR01}
)

func TestEvaluateCASArraySites(t *testing.T) {
	const assign = "casarray assign client.msglab.local"
	org := func(dbs ...row) []Tables {
		return []Tables{{"casarrays": []row{arrMain, arrBr}, "servers": twoSites, "databases": dbs}}
	}
	// MB02 with a second copy in the branch (preference 2): it still belongs to the main site.
	mb02Span := with(dbMB02, "Servers", "EX10-MB02;EX10-BR01", "ActivationPreference", "[EX10-MB02, 1];[EX10-BR01, 2]")
	// BR02 belongs to the branch (preference 1 there) with a copy in the main site.
	br02 := with(dbBR01, "Name", "BR02", "Servers", "EX10-BR01;EX10-MB01", "ActivationPreference", "[EX10-BR01, 1];[EX10-MB01, 2]")
	runEval(t, []evalCase{
		{"other site left alone", assign, org(dbMB01, dbMB02, dbBR01), Info, false, "Left as they are, in other sites: BR01 (Branch-Site).", ""},
		{"other site named", assign + " database=BR01", org(dbMB01, dbBR01), Blocker, false, "Database BR01 belongs to site Branch-Site (its activation preference 1 copy is on EX10-BR01), not to Default-First-Site-Name", ""},
		{"branch array", "casarray assign branch.msglab.local", org(dbMB01, dbBR01, br02), Info, false, "BR01=ex10-br01.msglab.local, BR02=ex10-br01.msglab.local.", ""},
		{"branch array, main db named", "casarray assign branch.msglab.local database=MB01", org(dbMB01, dbBR01), Blocker, false, "belongs to site Default-First-Site-Name", ""},
		{"copies span sites", assign, org(dbMB01, mb02Span), Info, false, "MB02 also has a copy on EX10-BR01 in site Branch-Site; it belongs to site Default-First-Site-Name", ""},
		{"mounted in the other site", assign, org(dbMB01, with(mb02Span, "Server", "EX10-BR01")), Warning, false, "MB02 is mounted on EX10-BR01 in site Branch-Site right now", ""},
		{"preference 1 elsewhere", assign, org(dbMB01, br02), Info, false, "Left as they are, in other sites: BR02 (Branch-Site).", ""},
		{"site without databases", "casarray assign branch.msglab.local", org(dbMB01, dbMB02), Blocker, false, "No mailbox database belongs to site Branch-Site", ""},
		{"site done, other not", assign, org(with(dbMB01, "RpcClientAccessServer", "client.msglab.local"), dbBR01), Info, true, "nothing to do", ""},
		{"empty before", assign, org(with(dbMB01, "RpcClientAccessServer", "")), Info, false, "MB01=(empty).", ""},
	})
}

// TestAssignDecidesSteps: without database=, the steps are one Set-MailboxDatabase
// per database of the array's site whose value differs, and the record holds exactly
// those databases' values before. On today's code the step was every database.
func TestAssignDecidesSteps(t *testing.T) {
	inv, err := Parse("casarray assign client.msglab.local")
	if err != nil {
		t.Fatal(err)
	}
	p, err := inv.Plan(walkEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 0 || p.Decided == "" {
		t.Fatalf("before the preflight the steps are not known; plan:\n%s", p)
	}
	f := p.Evaluate([]Tables{{"casarrays": []row{arrMain, arrBr}, "servers": twoSites,
		"databases": []row{with(dbMB01, "RpcClientAccessServer", ""), with(dbMB02, "RpcClientAccessServer", "client.msglab.local"), dbBR01}}})
	d := p.Decide(f)
	want := "Set-MailboxDatabase -Identity 'MB01' -RpcClientAccessServer 'client.msglab.local'\nGet-MailboxDatabase -Identity 'MB01'\n"
	if len(d.Steps) != 1 || d.Steps[0].Script != want || d.Steps[0].Target != "EX10-CAHT" {
		t.Errorf("decided steps:\n%s\nwant one step on EX10-CAHT:\n%s", d, want)
	}
	var rec map[string]string
	for _, x := range f.List {
		if x.Record != "" {
			rec, _ = ReadRecord(x.Record)
		}
	}
	if len(rec) != 1 || rec["MB01"] != "" {
		t.Errorf("record %v, want MB01 -> \"\"", rec)
	}
	if p.Decide(Findings{}) != p {
		t.Errorf("without decided steps Decide must return the plan itself")
	}
}

func TestEvaluateCASArrayRestore(t *testing.T) {
	const restore = "casarray restore r-12" // pastAssign: MB01 was ex10-mb01.msglab.local, MB03 empty
	mb03 := with(dbMB01, "Name", "MB03", "RpcClientAccessServer", "client.msglab.local")
	assigned := with(dbMB01, "RpcClientAccessServer", "client.msglab.local")
	org := func(servers []row, dbs ...row) []Tables {
		return []Tables{{"casarrays": []row{arrMain}, "servers": servers, "databases": dbs}}
	}
	runEval(t, []evalCase{
		{"both back", restore, org(allSrv, assigned, mb03), Warning, false, "MB03: client.msglab.local -> (empty) (its value before r-12).", ""},
		{"back to a mailbox server", restore, org(allSrv, assigned, mb03), Warning, false, "MB01 goes back to ex10-mb01.msglab.local, server EX10-MB01 without the Client Access role", ""},
		{"back to a CAS", restore, org(allSrv, with(assigned, "Name", "MB03")), Info, false, "MB03: client.msglab.local -> (empty)", ""},
		{"one gone", restore, org(allSrv, assigned), Warning, false, "No longer exists, so skipped: MB03.", ""},
		{"all gone", restore, org(allSrv, dbMB02), Info, true, "nothing to do", ""},
		{"already back", restore, org(allSrv, dbMB01, with(mb03, "RpcClientAccessServer", "")), Info, true, "Already back at their value before r-12: MB01, MB03.", ""},
		{"changed since", restore, org(allSrv, with(dbMB01, "RpcClientAccessServer", "ex10-caht.msglab.local"), mb03), Warning, false, "MB01 now uses ex10-caht.msglab.local, not client.msglab.local as r-12 left it", ""},
		{"old server gone", restore, org([]row{srvCAHT, srvCAHT02}, assigned, mb03), Blocker, false, "MB01 used ex10-mb01.msglab.local before r-12, which is neither a CAS array nor an Exchange server any more", ""},
	})
}

// TestRestoreDecidesSteps: the restore's steps are only the databases that exist and
// differ, each with its own value; an empty value is $null.
func TestRestoreDecidesSteps(t *testing.T) {
	inv, err := Parse("casarray restore r-12")
	if err != nil {
		t.Fatal(err)
	}
	p, err := withPast(inv).Plan(walkEnv)
	if err != nil {
		t.Fatal(err)
	}
	f := p.Evaluate([]Tables{{"casarrays": []row{arrMain}, "servers": allSrv,
		"databases": []row{dbMB01, with(dbMB01, "Name", "MB03", "RpcClientAccessServer", "client.msglab.local")}}})
	d := p.Decide(f)
	want := "Set-MailboxDatabase -Identity 'MB03' -RpcClientAccessServer $null\nGet-MailboxDatabase\n"
	if len(d.Steps) != 1 || d.Steps[0].Script != want {
		t.Errorf("decided steps:\n%s\nwant:\n%s", d, want)
	}
	if c := d.Steps[0].Calls[0].Pipeline[0].Params[1]; c.Type != TypeNull || c.Value != "" {
		t.Errorf("the empty value travels as %+v, want a null parameter", c)
	}
}

func TestEvaluateDAG(t *testing.T) {
	const create = `dag create E14-DAG witness=EX10-CAHT dir=C:\FSW ip=10.0.0.50`
	const member = "dag add-member E14-DAG EX10-MB02"
	empty := with(dagE14, "Servers", "")
	full := with(dagE14, "Servers", "S01;S02;S03;S04;S05;S06;S07;S08;S09;S10;S11;S12;S13;S14;S15;S16")
	runEval(t, []evalCase{
		{"create fresh", create, []Tables{{"servers": allSrv}}, Info, false, "", ""},
		{"create exists same", create, []Tables{{"dags": []row{dagE14}, "servers": allSrv}}, Info, true, `E14-DAG already exists with witness EX10-CAHT and C:\FSW: nothing to do.`, ""},
		{"create name taken", create, []Tables{{"dags": []row{with(dagE14, "WitnessServer", "EX10-CAHT02")}, "servers": allSrv}}, Blocker, false, "already exists with witness EX10-CAHT02", ""},
		{"create witness is member", `dag create E15-DAG witness=EX10-MB01 dir=C:\FSW`, []Tables{{"dags": []row{dagE14}, "servers": allSrv}}, Blocker, false, "witness must not be a DAG member", ""},
		{"create witness not exchange", `dag create E14-DAG witness=FS01 dir=C:\FSW`, []Tables{{"servers": allSrv}}, Warning, false, "Exchange Trusted Subsystem", ""},
		{"member fresh", member, []Tables{{"dags": []row{empty}, "servers": allSrv}, {"nlbprobe": nlbNone}}, Info, false, "", ""},
		{"member already", member, []Tables{{"dags": []row{dagE14}, "servers": allSrv}, {"nlbprobe": nlbNone}}, Info, true, "already a member", ""},
		{"member of other DAG", member, []Tables{{"dags": []row{empty, with(dagE14, "Name", "OTHER-DAG")}, "servers": allSrv}, {"nlbprobe": nlbNone}}, Blocker, false, "member of DAG OTHER-DAG", ""},
		{"member 17th", member, []Tables{{"dags": []row{full}, "servers": allSrv}, {"nlbprobe": nlbNone}}, Blocker, false, "already has 16 members", ""},
		{"member is witness", "dag add-member E14-DAG EX10-CAHT", []Tables{{"dags": []row{empty}, "servers": allSrv}, {"nlbprobe": nlbNone}}, Blocker, false, "is the witness server", ""},
		{"member NLB node", member, []Tables{{"dags": []row{empty}, "servers": allSrv}, {"nlbprobe": nlbLoaded, "nlb": []row{{"Name": "client.msglab.local"}}}}, Blocker, false, "is a node of NLB cluster", ""},
		{"member not mailbox", "dag add-member E14-DAG EX10-CAHT02", []Tables{{"dags": []row{empty}, "servers": allSrv}, {"nlbprobe": nlbNone}}, Blocker, false, "only Mailbox servers", ""},
		{"member no DAG", member, []Tables{{"servers": allSrv}, {"nlbprobe": nlbNone}}, Blocker, false, "does not exist", ""},
	})
}

func TestEvaluateCopyAdd(t *testing.T) {
	const add = "copy add MB01 EX10-MB02"
	base := func(db row, copies ...row) []Tables {
		return []Tables{{"dags": []row{dagE14}, "databases": []row{db}, "copystatus": copies}}
	}
	mounted := cp(`MB01\EX10-MB01`, "Mounted")
	two := with(dbMB01, "Servers", "EX10-MB01;EX10-MB02", "ActivationPreference", "[EX10-MB01, 1];[EX10-MB02, 2]")
	runEval(t, []evalCase{
		{"fresh", add, base(dbMB01, mounted), Info, false, "can take hours", "dag:E14-DAG"},
		{"exists", add, base(two, mounted), Info, true, "already has a copy on EX10-MB02 (activation preference 2)", ""},
		{"exists same pref", add + " preference=2", base(two, mounted), Info, true, "nothing to do", ""},
		{"exists other pref", add + " preference=1", base(two, mounted), Blocker, false, "Set-MailboxDatabaseCopy", ""},
		{"circular logging", add, base(with(dbMB01, "CircularLoggingEnabled", "True"), mounted), Blocker, false, "Circular logging", ""},
		{"17th copy", add, []Tables{{"dags": []row{with(dagE14, "Servers", "EX10-MB02;S01;S02;S03;S04;S05;S06;S07;S08;S09;S10;S11;S12;S13;S14;S15;S16")},
			"databases": []row{with(dbMB01, "Servers", "S01;S02;S03;S04;S05;S06;S07;S08;S09;S10;S11;S12;S13;S14;S15;S16")}, "copystatus": []row{mounted}}}, Blocker, false, "already has 16 copies", ""},
		{"server not in DAG", "copy add MB01 EX10-CAHT", base(dbMB01, mounted), Blocker, false, "not a member of DAG", ""},
		{"no database", "copy add MB09 EX10-MB02", base(dbMB01, mounted), Blocker, false, "MB09 does not exist", ""},
		{"database not in DAG", add, base(with(dbMB01, "MasterServerOrAvailabilityGroup", "EX10-MB01"), mounted), Blocker, false, "not in a DAG", ""},
		{"preference too high", add + " preference=3", base(dbMB01, mounted), Blocker, false, "too high", ""},
		{"not mounted", add, base(dbMB01, cp(`MB01\EX10-MB01`, "Dismounted")), Blocker, false, "no mounted copy", ""},
	})
}

func TestEvaluateFailover(t *testing.T) {
	const fo = "failover MB02 to=EX10-MB01"
	res := func(target row) []Tables {
		return []Tables{{"dags": []row{dagE14}, "databases": []row{dbMB02}, "copystatus": []row{cp(`MB02\EX10-MB02`, "Mounted"), target}}}
	}
	healthy := cp(`MB02\EX10-MB01`, "Healthy")
	runEval(t, []evalCase{
		{"healthy", fo, res(healthy), Info, false, "", "dag:E14-DAG"},
		{"not healthy", fo, res(with(healthy, "Status", "Resynchronizing")), Blocker, false, "is Resynchronizing, not Healthy", ""},
		{"copy queue", fo, res(with(healthy, "CopyQueueLength", "8")), Blocker, false, "copy queue of 8", ""},
		{"replay queue", fo, res(with(healthy, "ReplayQueueLength", "12")), Blocker, false, "replay queue of 12", ""},
		{"queue below limit", fo, res(with(healthy, "CopyQueueLength", "7", "ReplayQueueLength", "7")), Info, false, "", ""},
		{"content index", fo, res(with(healthy, "ContentIndexState", "Failed")), Blocker, false, "content index Failed", ""},
		{"activation suspended", fo, res(with(healthy, "ActivationSuspended", "True")), Blocker, false, "suspended", ""},
		{"no copy", "failover MB02 to=EX10-CAHT", res(healthy), Blocker, false, "has no copy on EX10-CAHT", ""},
		{"already active", "failover MB02 to=EX10-MB02", res(healthy), Info, true, "already active on EX10-MB02", ""},
		{"other copy seeding", fo, []Tables{{"dags": []row{dagE14}, "databases": []row{dbMB02},
			"copystatus": []row{healthy, cp(`MB02\EX10-MB03`, "Seeding")}}}, Warning, false, "seeding", ""},
		{"no database", "failover MB09 to=EX10-MB01", res(healthy), Blocker, false, "MB09 does not exist", ""},
	})
}

func TestEvaluateDrill(t *testing.T) {
	const drill = "drill E14-DAG"
	dag := with(dagE14, "OperationalServers", "EX10-MB01;EX10-MB02")
	nets := []row{{"Name": "MapiDagNetwork", "Subnets": "{10.0.0.0/24,Up}", "Interfaces": "{EX10-MB01,Up,10.0.0.11};{EX10-MB02,Up,10.0.0.12}"}}
	copies := []row{cp(`MB02\EX10-MB02`, "Mounted"), cp(`MB02\EX10-MB01`, "Healthy")}
	// The rows as a server shows them: the console text, and the enum member.
	shown := map[string]string{"Passed": "Passed", "*FAILED*": "Failed", "Bestanden": "Passed", "*FEHLER*": "Failed"}
	trh := func(server, text string) Tables {
		return Tables{"replicationhealth": []row{{"Server": server, "Check": "ClusterService", "Result": text, HealthResult: shown[text]}}}
	}
	ok := func(mods func(*Tables)) []Tables {
		t0 := Tables{"dag": []row{dag}, "networks": nets, "databases": []row{dbMB02}, "copystatus": copies}
		if mods != nil {
			mods(&t0)
		}
		return []Tables{t0, trh("EX10-MB01", "Passed"), trh("EX10-MB02", "Passed")}
	}
	runEval(t, []evalCase{
		{"healthy", drill, ok(nil), Info, false, "", ""},
		{"member down", drill, ok(func(t *Tables) { (*t)["dag"] = []row{with(dag, "OperationalServers", "EX10-MB01")} }), Blocker, false, "EX10-MB02 is not in the operational servers", ""},
		{"network down", drill, ok(func(t *Tables) { (*t)["networks"] = []row{with(nets[0], "Subnets", "{10.0.0.0/24,Partitioned}")} }), Blocker, false, "is Partitioned", ""},
		{"copy seeding", drill, ok(func(t *Tables) { (*t)["copystatus"] = []row{copies[0], with(copies[1], "Status", "Seeding")} }), Blocker, false, "is Seeding", ""},
		{"queue", drill, ok(func(t *Tables) { (*t)["copystatus"] = []row{copies[0], with(copies[1], "CopyQueueLength", "9")} }), Blocker, false, "copy queue of 9", ""},
		{"another DAG's copy is not this drill's", drill, ok(func(t *Tables) {
			(*t)["copystatus"] = append([]row{cp(`MB09\EX10-MB09`, "FailedAndSuspended")}, copies...)
		}), Info, false, "", ""},
		{"lagged copy", drill, ok(func(t *Tables) {
			(*t)["databases"] = []row{with(dbMB02, "ReplayLagTimes", "[EX10-MB02, 00:00:00];[EX10-MB01, 7.00:00:00]")}
			(*t)["copystatus"] = []row{copies[0], with(copies[1], "ReplayQueueLength", "1500", "ActivationSuspended", "True")}
		}), Info, false, "", ""},
		{"replay queue", drill, ok(func(t *Tables) { (*t)["copystatus"] = []row{copies[0], with(copies[1], "ReplayQueueLength", "1500")} }), Blocker, false, "replay queue of 1500", ""},
		{"single copy", drill, ok(func(t *Tables) { (*t)["databases"] = []row{dbMB01} }), Blocker, false, "nowhere to move", ""},
		{"trh failed", drill, []Tables{ok(nil)[0], trh("EX10-MB01", "*FAILED*"), trh("EX10-MB02", "Passed")}, Blocker, false, "ClusterService is Failed", ""},
		{"trh passed in German", drill, []Tables{ok(nil)[0], trh("EX10-MB01", "Bestanden"), trh("EX10-MB02", "Passed")}, Info, false, "", ""},
		{"trh failed in German", drill, []Tables{ok(nil)[0], trh("EX10-MB01", "*FEHLER*"), trh("EX10-MB02", "Passed")}, Blocker, false, "ClusterService is Failed", ""},
		{"trh missing", drill, []Tables{ok(nil)[0], trh("EX10-MB01", "Passed"), {}}, Blocker, false, "No replication health from member EX10-MB02", ""},
		{"no dag", drill, []Tables{{}, {}, {}}, Blocker, false, "does not exist", ""},
	})
}

func TestEvaluateIncomplete(t *testing.T) {
	inv, _ := Parse("failover MB01 to=EX10-MB02")
	p, _ := inv.Plan(walkEnv)
	if f := p.Evaluate(nil); !f.Blocked() {
		t.Errorf("no results must block, got %v", f)
	}
}

func TestWaitCheck(t *testing.T) {
	w := &Wait{}
	tests := []struct {
		t            Tables
		done, failed bool
		err          bool
	}{
		{Tables{"wait": []row{{"Done": "True", "Failed": "False", "Detail": "x"}}}, true, false, false},
		{Tables{"wait": []row{{"Done": "False", "Failed": "True"}}}, false, true, false},
		{Tables{"wait": []row{{"Done": "False", "Failed": "False"}}}, false, false, false},
		{Tables{}, false, false, true},
	}
	for i, tc := range tests {
		done, failed, _, err := w.Check(tc.t)
		if done != tc.done || failed != tc.failed || (err != nil) != tc.err {
			t.Errorf("case %d: %v %v %v", i, done, failed, err)
		}
	}
}

func TestPlanErrors(t *testing.T) {
	tests := []struct {
		text string
		env  Env
		want string
	}{
		{"dag status E14-DAG", Env{}, "management_server"},
		{"dns add client 10.0.0.40 zone=msglab.local", Env{ManagementServer: "EX10-CAHT"}, "dns_server"},
		{"health", Env{ManagementServer: "EX10-CAHT"}, "mailbox role"},
		{`nlb add-host client.msglab.local host=EX10-CAHT03 interface=LAN`, walkEnv, "host=\"EX10-CAHT03\" is not a configured server"},
	}
	for _, tc := range tests {
		inv, err := Parse(tc.text)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := inv.Plan(tc.env); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Plan(%q) error %v, want one containing %q", tc.text, err, tc.want)
		}
	}
}

// nlb add-host's change carries the values its preflight read on the existing host,
// each a literal, and until the preflight has run it holds placeholders that are not
// PowerShell. A blocked preflight leaves the placeholders.
func TestNLBAddHostBindsWhatThePreflightRead(t *testing.T) {
	plan := func() *Plan {
		inv, err := Parse(`nlb add-host client.msglab.local host=EX10-CAHT02 interface="Local Area Connection"`)
		if err != nil {
			t.Fatal(err)
		}
		p, err := inv.Plan(walkEnv)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := plan()
	if !strings.Contains(p.Steps[0].Script, "-ClusterPrimaryIP <the cluster IPAddress read on EX10-CAHT>") {
		t.Fatalf("unbound step:\n%s", p.Steps[0].Script)
	}
	web := with(allPorts, "VirtualIPAddress", "10.0.0.40", "StartPort", "443", "EndPort", "443", "Protocol", "Tcp", "Affinity", "Network", "Timeout", "10")
	off := with(allPorts, "StartPort", "25", "EndPort", "25", "FilteringMode", "Disabled", "Affinity", "")
	from := with3(fromHost(row{"Name": "EX10-CAHT", "State": "Converged", "HostPriority": "1"}, row{"Name": "EX10-CAHT03", "State": "Converged", "HostPriority": "3"}),
		"nlbrules", []row{off, web})
	f := p.Evaluate(joinFrom(Tables{"servers": allSrv}, Tables{"nlbprobe": nlbNone}, from))
	if f.Blocked() {
		t.Fatalf("blocked:\n%s", f)
	}
	got := p.Decide(f).Steps[0].Script
	for _, want := range []string{
		"New-NlbCluster -InterfaceName 'Local Area Connection' -ClusterPrimaryIP '10.0.0.40' -SubnetMask '255.255.255.0' -ClusterName 'client.msglab.local' -OperationMode 'Multicast' | Out-Null\n",
		"Stop-NlbClusterNode -InterfaceName 'Local Area Connection' | Out-Null\n",
		"Set-NlbClusterNode -InterfaceName 'Local Area Connection' -HostPriority 2 -Force | Out-Null\n",
		"Get-NlbClusterPortRule | Remove-NlbClusterPortRule -Force | Out-Null\n",
		"Add-NlbClusterPortRule -InterfaceName 'Local Area Connection' -StartPort 25 -EndPort 25 -Protocol 'Both' -Mode 'Disabled' -Timeout 0 | Out-Null\n",
		"Add-NlbClusterPortRule -InterfaceName 'Local Area Connection' -IP '10.0.0.40' -StartPort 443 -EndPort 443 -Protocol 'Tcp' -Mode 'Multiple' -Affinity 'Network' -Timeout 10 | Out-Null\n",
		"Start-NlbClusterNode -InterfaceName 'Local Area Connection' | Out-Null\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("bound step lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "<") || strings.Contains(got, "-HostName") {
		t.Errorf("bound step still has a placeholder or names another host:\n%s", got)
	}

	p = plan()
	f = p.Evaluate(joinFrom(Tables{"servers": allSrv}, Tables{"nlbprobe": nlbNone}, Tables{"nlbprobe": nlbLoaded}))
	if f.Steps != nil || !strings.Contains(p.Decide(f).Steps[0].Script, "<the cluster IPAddress read on EX10-CAHT>") {
		t.Errorf("a blocked preflight bound the step:\n%s", p.Steps[0].Script)
	}
}
