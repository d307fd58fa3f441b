package commands

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// The evaluators read Tables as the plans' preflight steps return them: the rows of
// an Exchange step's calls, or the sections a WinRS script prints. Values are
// compared case-insensitively, as Exchange and Windows compare names.

type row = map[string]string

func rows(r []Tables, step int, section string) []row {
	if step < 0 || step >= len(r) || r[step] == nil {
		return nil
	}
	return r[step][section]
}

// list splits a ';'-joined multi-valued column.
func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ";") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// SameHost compares server names that may be NetBIOS names or FQDNs
// (WitnessServer is often stored as an FQDN). The health report uses it too.
func SameHost(a, b string) bool {
	return a != "" && strings.EqualFold(ShortHost(a), ShortHost(b))
}

// ShortHost is a server's NetBIOS name from a name that may be an FQDN.
func ShortHost(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s = s[:i]
	}
	return s
}

// sameADName compares an AD object's name with a reference that may be printed as a
// canonical path ("msglab.local/Configuration/Sites/Default-First-Site-Name").
func sameADName(value, name string) bool {
	value = strings.TrimSpace(value)
	if strings.EqualFold(value, name) {
		return true
	}
	i := strings.LastIndexAny(value, `/\`)
	return i >= 0 && strings.EqualFold(value[i+1:], name)
}

func hasHost(servers []string, name string) bool {
	for _, s := range servers {
		if SameHost(s, name) {
			return true
		}
	}
	return false
}

// dagOf returns the DAG whose Servers include server, or "".
func dagOf(dags []row, server string) string {
	for _, d := range dags {
		if hasHost(list(d["Servers"]), server) {
			return d["Name"]
		}
	}
	return ""
}

func findRow(rs []row, col, value string) row {
	for _, r := range rs {
		if strings.EqualFold(strings.TrimSpace(r[col]), value) {
			return r
		}
	}
	return nil
}

// parsePrefs reads ActivationPreference as printed: "[EX10-MB01, 1];[EX10-MB02, 2]"
// (the string form of each key/value pair, deserialized or not).
func parsePrefs(v string) map[string]int {
	out := map[string]int{}
	for _, item := range list(v) {
		item = strings.Trim(item, "[] ")
		i := strings.LastIndexByte(item, ',')
		if i < 0 {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(item[i+1:]))
		if err != nil {
			continue
		}
		out[strings.ToUpper(strings.TrimSpace(item[:i]))] = n
	}
	return out
}

func prefOf(prefs map[string]int, server string) (int, bool) {
	for s, n := range prefs {
		if SameHost(s, server) {
			return n, true
		}
	}
	return 0, false
}

func atoi(s string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(s))
	return n
}

func hasRole(serverRole, role string) bool {
	return strings.Contains(strings.ToLower(strings.ReplaceAll(serverRole, " ", "")), strings.ToLower(role))
}

func evalDNSAdd(r []Tables, fqdn, ip string) Findings {
	var f Findings
	var ips []string
	for _, x := range rows(r, 0, "records") {
		ips = append(ips, x["IPAddress"])
	}
	same := false
	for _, x := range ips {
		same = same || x == ip
	}
	switch {
	case same && len(ips) == 1:
		f.noop("%s already points to %s: nothing to do.", fqdn, ip)
	case same:
		f.add(Warning, "%s points to %s and also to %s (DNS round robin): clients may bypass the NLB address.", fqdn, ip, strings.Join(ips, ", "))
		f.NoOp = true
	case len(ips) > 0:
		f.add(Blocker, "%s already points to %s: remove that record first if the name should move to %s.", fqdn, strings.Join(ips, ", "), ip)
	default:
		f.add(Info, "%s has no A record yet.", fqdn)
	}
	return f
}

// nlbHostChecks are the checks nlb create and nlb add-host share: the host must not be
// a DAG member (NLB and failover clustering on one server are unsupported), and it
// should be a Client Access server.
func nlbHostChecks(f *Findings, r []Tables, host string) {
	if d := dagOf(rows(r, 0, "dags"), host); d != "" {
		f.add(Blocker, "%s is a member of DAG %s: Microsoft does not support Windows NLB on a DAG member (walkthrough best practice 4).", host, d)
	}
	srv := findRow(rows(r, 0, "servers"), "Name", host)
	switch {
	case srv == nil:
		f.add(Warning, "%s is not an Exchange server: the CAS array's NLB normally runs on the Client Access servers.", host)
	case !hasRole(srv["ServerRole"], "ClientAccess"):
		f.add(Warning, "%s has roles %s, not ClientAccess: the CAS array's NLB normally runs on the Client Access servers.", host, srv["ServerRole"])
	}
	if p := rows(r, 1, "nlbprobe"); len(p) == 1 && p[0]["Module"] != "Loaded" {
		f.add(Info, "The NLB feature is not installed on %s yet: the plan installs it first.", host)
	}
}

func evalNLBCreate(r []Tables, fqdn, ip, mask, mode, host string) Findings {
	var f Findings
	nlbHostChecks(&f, r, host)
	for _, c := range rows(r, 1, "nlb") {
		if !strings.EqualFold(c["Name"], fqdn) {
			f.add(Blocker, "%s is already a node of NLB cluster %s (%s): a host belongs to one cluster.", host, c["Name"], c["IPAddress"])
			continue
		}
		if c["IPAddress"] == ip && c["SubnetMask"] == mask && strings.EqualFold(c["Mode"], mode) {
			f.noop("NLB cluster %s already exists on %s with %s/%s, %s: nothing to do.", fqdn, host, ip, mask, c["Mode"])
		} else {
			f.add(Blocker, "NLB cluster %s already exists on %s with other settings: %s/%s, %s.", fqdn, host, c["IPAddress"], c["SubnetMask"], c["Mode"])
		}
	}
	return f
}

func evalNLBAddHost(r []Tables, fqdn, host, from string) Findings {
	var f Findings
	nlbHostChecks(&f, r, host)
	for _, c := range rows(r, 1, "nlb") {
		if strings.EqualFold(c["Name"], fqdn) {
			f.noop("%s is already a node of NLB cluster %s: nothing to do.", host, fqdn)
			return f
		}
		f.add(Blocker, "%s is already a node of NLB cluster %s (%s): a host belongs to one cluster.", host, c["Name"], c["IPAddress"])
	}
	if p := rows(r, 2, "nlbprobe"); len(p) != 1 || p[0]["Module"] != "Loaded" {
		f.add(Blocker, "NLB is not installed on %s, so it is no host of %s: name an existing host of the cluster with from=<server>.", from, fqdn)
		return f
	}
	cl := rows(r, 2, "nlb")
	if len(cl) == 0 {
		f.add(Blocker, "%s is not a host of any NLB cluster: name an existing host of %s with from=<server>.", from, fqdn)
		return f
	}
	if !strings.EqualFold(cl[0]["Name"], fqdn) {
		f.add(Blocker, "%s is a host of NLB cluster %s (%s), not of %s: name an existing host of %s with from=<server>.", from, cl[0]["Name"], cl[0]["IPAddress"], fqdn, fqdn)
		return f
	}
	nodes := rows(r, 2, "nlbnodes")
	if findRow(nodes, "Name", host) != nil {
		f.noop("%s is already a node of NLB cluster %s: nothing to do.", host, fqdn)
		return f
	}
	if len(nodes) >= maxNLBNodes {
		f.add(Blocker, "NLB cluster %s already has %d nodes, the most Windows NLB supports.", fqdn, len(nodes))
	}
	for _, n := range nodes {
		if !strings.HasPrefix(strings.ToLower(n["State"]), "converged") {
			f.add(Blocker, "NLB node %s of %s is %s: join a new host only to a converged cluster.", n["Name"], fqdn, n["State"])
		}
	}
	j, err := readNLBJoin(r, host, from)
	if err != nil {
		f.add(Blocker, "The cluster read on %s cannot be copied: %s.", from, err)
		return f
	}
	// The values the script carries, as a finding too: they are part of what is
	// approved, and a cluster that changes before the run makes the request stale.
	rules := make([]string, len(j.Rules))
	for i, x := range j.Rules {
		ip := x.IP
		if ip == "" {
			ip = "all cluster IPs"
		}
		rules[i] = fmt.Sprintf("%s ports %d-%d %s %s", ip, x.Start, x.End, x.Protocol, x.Mode)
		if x.Affinity != "" {
			rules[i] += " affinity " + x.Affinity
		}
		if x.Timeout != 0 {
			rules[i] += fmt.Sprintf(" timeout %d", x.Timeout)
		}
	}
	if len(rules) == 0 {
		rules = []string{"none"}
	}
	f.add(Info, "%s joins %s as host priority %d with the parameters %s has: %s/%s, %s; port rules: %s.",
		host, fqdn, j.Priority, from, j.IP, j.Mask, j.Mode, strings.Join(rules, "; "))
	return f
}

func evalCASArrayCreate(r []Tables, name, fqdn, site string) Findings {
	var f Findings
	if findRow(rows(r, 0, "sites"), "Name", site) == nil {
		var names []string
		for _, s := range rows(r, 0, "sites") {
			names = append(names, s["Name"])
		}
		f.add(Blocker, "Active Directory site %s does not exist; the sites are: %s.", site, strings.Join(names, ", "))
	}
	for _, a := range rows(r, 0, "casarrays") {
		nameMatch, fqdnMatch, siteMatch := strings.EqualFold(a["Name"], name), strings.EqualFold(a["Fqdn"], fqdn), sameADName(a["Site"], site)
		switch {
		case nameMatch && fqdnMatch && siteMatch:
			f.noop("CAS array %q already exists as %s in site %s: nothing to do.", name, fqdn, site)
		case nameMatch || fqdnMatch:
			f.add(Blocker, "CAS array %q already exists as %s in site %s.", a["Name"], a["Fqdn"], a["Site"])
		case siteMatch:
			f.add(Blocker, "Site %s already has CAS array %q (%s): Exchange 2010 allows one CAS array per site.", site, a["Name"], a["Fqdn"])
		}
	}
	return f
}

// siteName is an Active Directory site's name from a value that may be printed as a
// canonical path ("msglab.local/Configuration/Sites/Default-First-Site-Name").
func siteName(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.LastIndexAny(v, `/\`); i >= 0 {
		return v[i+1:]
	}
	return v
}

// siteOf is the site of server as the servers read prints it, or "".
func siteOf(servers []row, server string) string {
	for _, s := range servers {
		if SameHost(s["Name"], server) {
			return siteName(s["Site"])
		}
	}
	return ""
}

// homeServer is the server a database belongs to: the one holding its activation
// preference 1 copy, or, when it has no preferences (never in 2010, but a row may lack
// them), the server it is mounted on. An RpcClientAccessServer names the CAS array of
// that server's site: Exchange fills it from there when the database is created, and a
// database mounted elsewhere for a while still belongs to it.
func homeServer(db row) string {
	for s, n := range parsePrefs(db["ActivationPreference"]) {
		if n == 1 {
			return s
		}
	}
	return strings.ToUpper(ShortHost(db["Server"]))
}

// assignTarget is the site that casarray assign's FQDN serves: the array's, or a
// Client Access server's own when the change points the databases back at one server
// (how an assign is undone by hand). ok is false, with a Blocker added, when there is
// none.
func assignTarget(f *Findings, arrays, servers []row, fqdn string) (site string, ok bool) {
	switch a, srv := findRow(arrays, "Fqdn", fqdn), findRow(servers, "Fqdn", fqdn); {
	case a != nil:
		site = siteName(a["Site"])
	case srv != nil && hasRole(srv["ServerRole"], "ClientAccess"):
		f.add(Info, "%s is Client Access server %s, not a CAS array: Outlook will connect to that one server.", fqdn, srv["Name"])
		site = siteName(srv["Site"])
	default:
		f.add(Blocker, "No CAS array has the FQDN %s: create it first (casarray create).", fqdn)
		return "", false
	}
	if site == "" {
		f.add(Blocker, "The Active Directory site of %s cannot be read, so exchops cannot tell which databases it serves.", fqdn)
		return "", false
	}
	return site, true
}

// evalCASArrayAssign picks the databases of the site the FQDN serves, blocks an FQDN
// that is neither a CAS array nor a Client Access server (Outlook would be sent to a
// name no Client Access server answers for), and records each changed database's
// previous value. Without database= it decides the steps: one Set-MailboxDatabase per
// database of the site whose value differs.
func evalCASArrayAssign(r []Tables, m, fqdn, db string) Findings {
	var f Findings
	servers, dbs := rows(r, 0, "servers"), rows(r, 0, "databases")
	site, ok := assignTarget(&f, rows(r, 0, "casarrays"), servers, fqdn)
	if !ok {
		return f
	}
	var targets []row
	var elsewhere []string // databases of other sites, left alone
	for _, d := range dbs {
		home := homeServer(d)
		hs := siteOf(servers, home)
		in := strings.EqualFold(hs, site)
		switch {
		case db != "" && !strings.EqualFold(d["Name"], db):
		case db != "" && !in:
			f.add(Blocker, "Database %s belongs to site %s (its activation preference 1 copy is on %s), not to %s, the site %s serves: a CAS array serves only the databases of its own site. Point it at the array of site %s (casarray list).",
				d["Name"], orUnknown(hs), home, site, fqdn, orUnknown(hs))
			return f
		case in:
			targets = append(targets, d)
		case db == "":
			elsewhere = append(elsewhere, fmt.Sprintf("%s (%s)", d["Name"], orUnknown(hs)))
		}
	}
	if len(targets) == 0 {
		if db != "" {
			f.add(Blocker, "Mailbox database %s does not exist.", db)
		} else {
			f.add(Blocker, "No mailbox database belongs to site %s (a database belongs to the site of its activation preference 1 server), so there is nothing to point at %s.", site, fqdn)
		}
		return f
	}
	var prev []string
	record := map[string]string{}
	var change []string
	for _, d := range targets {
		for _, srv := range list(d["Servers"]) {
			if s := siteOf(servers, srv); s != "" && !strings.EqualFold(s, site) {
				f.add(Info, "%s also has a copy on %s in site %s; it belongs to site %s, where its activation preference 1 copy is.", d["Name"], ShortHost(srv), s, site)
			}
		}
		if s := siteOf(servers, d["Server"]); s != "" && !strings.EqualFold(s, site) {
			f.add(Warning, "%s is mounted on %s in site %s right now: its Outlook clients reach it through %s across sites until it moves back.", d["Name"], ShortHost(d["Server"]), s, fqdn)
		}
		if strings.EqualFold(d["RpcClientAccessServer"], fqdn) {
			continue
		}
		change = append(change, d["Name"])
		record[d["Name"]] = d["RpcClientAccessServer"]
		prev = append(prev, d["Name"]+"="+orEmpty(d["RpcClientAccessServer"]))
	}
	if len(elsewhere) > 0 {
		f.add(Info, "Left as they are, in other sites: %s.", strings.Join(elsewhere, ", "))
	}
	if len(change) == 0 {
		f.noop("Every database concerned in site %s already uses %s: nothing to do.", site, fqdn)
		return f
	}
	f.List = append(f.List, Finding{Severity: Info, Record: NewRecord(record),
		Message: "Previous RpcClientAccessServer (to undo with casarray restore): " + strings.Join(prev, ", ") + "."})
	f.add(Info, "Outlook clients of the changed databases pick up the new server when their profile is next repaired or recreated.")
	if db == "" {
		f.Steps = []Step{assignStep(m, "point "+strings.Join(change, ", ")+" (site "+site+") at "+fqdn, fqdn, change)}
	}
	return f
}

func orEmpty(s string) string {
	if strings.TrimSpace(s) == "" {
		return "(empty)"
	}
	return s
}

// previousValues reads back what casarray assign recorded: the Record of its
// "Previous RpcClientAccessServer" finding, or, for a request recorded before findings
// had records, that finding's text when every item of it reads back without doubt.
// ok is false when there is text but no exact reading of it.
func previousValues(fs []Finding) (map[string]string, bool) {
	const lead = "Previous RpcClientAccessServer (to undo"
	for _, x := range fs {
		if x.Record != "" {
			return ReadRecord(x.Record)
		}
	}
	for _, x := range fs {
		if !strings.HasPrefix(x.Message, lead) {
			continue
		}
		_, items, found := strings.Cut(x.Message, "): ")
		if !found {
			return nil, false
		}
		out := map[string]string{}
		for _, item := range strings.Split(strings.TrimSuffix(items, "."), ", ") {
			name, value, found := strings.Cut(item, "=")
			value = strings.TrimSpace(value)
			if value == "(empty)" {
				value = ""
			}
			if !found || !isCommonName(name, maxDatabase, "-_.()") || (value != "" && !isFQDN(value)) {
				return nil, false
			}
			if _, dup := out[name]; dup {
				return nil, false
			}
			out[name] = strings.ToLower(value)
		}
		return out, true
	}
	return map[string]string{}, true
}

// serverOrArray says what an RpcClientAccessServer value names: a CAS array, an
// Exchange server (with its row), or nothing exchops can find (nil, false).
func serverOrArray(arrays, servers []row, v string) (srv row, ok bool) {
	if findRow(arrays, "Fqdn", v) != nil || findRow(arrays, "Name", v) != nil {
		return nil, true
	}
	for _, s := range servers {
		if strings.EqualFold(s["Fqdn"], v) || strings.EqualFold(s["Name"], v) {
			return s, true
		}
	}
	return nil, false
}

// evalCASArrayRestore judges setting dbs back to their values in prev, as recorded by
// request id, which set them to set. A database gone since is skipped with a note, one
// that already has its old value is left alone; the steps are decided for the rest.
func evalCASArrayRestore(r []Tables, m, id, set string, dbs []string, prev map[string]string) Findings {
	var f Findings
	arrays, servers, all := rows(r, 0, "casarrays"), rows(r, 0, "servers"), rows(r, 0, "databases")
	var change, gone, same []string
	for _, name := range dbs {
		d := findRow(all, "Name", name)
		if d == nil {
			gone = append(gone, name)
			continue
		}
		want, now := prev[name], strings.TrimSpace(d["RpcClientAccessServer"])
		if strings.EqualFold(now, want) {
			same = append(same, name)
			continue
		}
		if want != "" {
			srv, ok := serverOrArray(arrays, servers, want)
			if !ok {
				f.add(Blocker, "%s used %s before %s, which is neither a CAS array nor an Exchange server any more: Set-MailboxDatabase would refuse it. Point %s elsewhere with casarray assign <fqdn> database=%s.", name, want, id, name, name)
				continue
			}
			if srv != nil && !hasRole(srv["ServerRole"], "ClientAccess") {
				// Exchange sets a database's own Mailbox server when the Client Access role
				// was installed after it; Outlook cannot open mailboxes through that server.
				f.add(Warning, "%s goes back to %s, server %s without the Client Access role, as before %s: Outlook cannot open its mailboxes through that server.", name, want, srv["Name"], id)
			}
		}
		if !strings.EqualFold(now, set) {
			f.add(Warning, "%s now uses %s, not %s as %s left it: something changed it since. The restore sets it to %s all the same.", name, orEmpty(now), set, id, orEmpty(want))
		}
		change = append(change, name)
		f.add(Info, "%s: %s -> %s (its value before %s).", name, orEmpty(now), orEmpty(want), id)
	}
	if len(gone) > 0 {
		f.add(Info, "No longer exists, so skipped: %s.", strings.Join(gone, ", "))
	}
	if len(same) > 0 {
		f.add(Info, "Already back at their value before %s: %s.", id, strings.Join(same, ", "))
	}
	if f.Blocked() {
		return f
	}
	if len(change) == 0 {
		f.noop("Every database %s changed that still exists has its value from before %s again: nothing to do.", id, id)
		return f
	}
	f.add(Info, "Outlook clients of the changed databases pick up the server when their profile is next repaired or recreated.")
	f.Steps = restoreSteps(m, id, change, prev)
	return f
}

func sameIPSet(a, b string) bool {
	x, y := strings.Split(a, ","), list(b)
	sort.Strings(x)
	sort.Strings(y)
	return strings.Join(x, ",") == strings.Join(y, ",")
}

func evalDAGCreate(r []Tables, name, witness, dir, ips string) Findings {
	var f Findings
	dags := rows(r, 0, "dags")
	if d := findRow(dags, "Name", name); d != nil {
		same := SameHost(d["WitnessServer"], witness) &&
			strings.EqualFold(strings.TrimSuffix(d["WitnessDirectory"], `\`), strings.TrimSuffix(dir, `\`)) &&
			(ips == "" || sameIPSet(ips, d["DatabaseAvailabilityGroupIpv4Addresses"]))
		if same {
			f.noop("%s already exists with witness %s and %s: nothing to do.", name, witness, dir)
		} else {
			f.add(Blocker, "DAG %s already exists with witness %s, directory %s and IP %s.", name, d["WitnessServer"], d["WitnessDirectory"], d["DatabaseAvailabilityGroupIpv4Addresses"])
		}
		return f
	}
	if d := dagOf(dags, witness); d != "" {
		f.add(Blocker, "Witness %s is a member of DAG %s: the witness must not be a DAG member.", witness, d)
	}
	if srv := findRow(rows(r, 0, "servers"), "Name", witness); srv == nil {
		f.add(Warning, "Witness %s is not an Exchange server: add the Exchange Trusted Subsystem group to its local Administrators group first.", witness)
	}
	if ips == "" {
		f.add(Info, "No ip= given: Exchange 2010 then gives the DAG an address by DHCP.")
	}
	return f
}

func evalDAGAddMember(r []Tables, dag, srv string) Findings {
	var f Findings
	dags := rows(r, 0, "dags")
	d := findRow(dags, "Name", dag)
	if d == nil {
		f.add(Blocker, "DAG %s does not exist: create it first (dag create).", dag)
		return f
	}
	members := list(d["Servers"])
	if hasHost(members, srv) {
		f.noop("%s is already a member of %s: nothing to do.", srv, dag)
		return f
	}
	if other := dagOf(dags, srv); other != "" {
		f.add(Blocker, "%s is a member of DAG %s: a server belongs to one DAG.", srv, other)
	}
	if len(members) >= maxDAGMembers {
		f.add(Blocker, "DAG %s already has %d members, the most Exchange 2010 allows.", dag, len(members))
	}
	if SameHost(d["WitnessServer"], srv) {
		f.add(Blocker, "%s is the witness server of %s: the witness must not be a DAG member.", srv, dag)
	}
	switch s := findRow(rows(r, 0, "servers"), "Name", srv); {
	case s == nil:
		f.add(Blocker, "%s is not an Exchange server.", srv)
	case !hasRole(s["ServerRole"], "Mailbox"):
		f.add(Blocker, "%s has roles %s: only Mailbox servers can join a DAG.", srv, s["ServerRole"])
	case !strings.HasPrefix(s["AdminDisplayVersion"], "Version 14"):
		f.add(Blocker, "%s runs %s, not Exchange 2010 (Version 14).", srv, s["AdminDisplayVersion"])
	}
	for _, c := range rows(r, 1, "nlb") {
		f.add(Blocker, "%s is a node of NLB cluster %s: Microsoft does not support Windows NLB on a DAG member (walkthrough best practice 4).", srv, c["Name"])
	}
	return f
}

// dbAndDAG finds the database and its DAG for copy add and failover, setting the lock.
func dbAndDAG(f *Findings, r []Tables, db string) (row, row) {
	d := findRow(rows(r, 0, "databases"), "Name", db)
	if d == nil {
		f.add(Blocker, "Mailbox database %s does not exist.", db)
		return nil, nil
	}
	g := findRow(rows(r, 0, "dags"), "Name", d["MasterServerOrAvailabilityGroup"])
	if g == nil {
		f.add(Blocker, "%s is on %s, which is not in a DAG: add the server to a DAG first.", db, d["Server"])
		return d, nil
	}
	f.Lock = "dag:" + strings.ToUpper(g["Name"])
	return d, g
}

func evalCopyAdd(r []Tables, db, srv, pref string) Findings {
	var f Findings
	d, g := dbAndDAG(&f, r, db)
	if g == nil {
		return f
	}
	copies := list(d["Servers"])
	prefs := parsePrefs(d["ActivationPreference"])
	if hasHost(copies, srv) {
		have, _ := prefOf(prefs, srv)
		if pref == "" || atoi(pref) == have {
			f.noop("%s already has a copy on %s (activation preference %d): nothing to do.", db, srv, have)
		} else {
			f.add(Blocker, "%s already has a copy on %s with activation preference %d; change it with Set-MailboxDatabaseCopy, not copy add.", db, srv, have)
		}
		return f
	}
	if !hasHost(list(g["Servers"]), srv) {
		f.add(Blocker, "%s is not a member of DAG %s, which holds %s.", srv, g["Name"], db)
	}
	if len(copies) >= maxDAGMembers {
		f.add(Blocker, "%s already has %d copies, the most Exchange 2010 allows.", db, len(copies))
	}
	if len(copies) == 1 && isTrue(d["CircularLoggingEnabled"]) {
		f.add(Blocker, "Circular logging is on for %s: turn it off before adding the second copy.", db)
	}
	if pref != "" && atoi(pref) > len(copies)+1 {
		f.add(Blocker, "Activation preference %s is too high: with the new copy %s has %d copies.", pref, db, len(copies)+1)
	}
	mounted := false
	for _, c := range rows(r, 0, "copystatus") {
		mounted = mounted || strings.EqualFold(c["Status"], "Mounted")
	}
	if !mounted {
		f.add(Blocker, "%s has no mounted copy to seed from.", db)
	}
	f.add(Info, "Seeding copies the whole database over the network and can take hours.")
	return f
}

func evalFailover(r []Tables, db, to string, env Env) Findings {
	var f Findings
	_, g := dbAndDAG(&f, r, db)
	if g == nil {
		return f
	}
	var target row
	for _, c := range rows(r, 0, "copystatus") {
		if SameHost(c["MailboxServer"], to) {
			target = c
		} else if strings.EqualFold(c["Status"], "Seeding") {
			f.add(Warning, "The copy of %s on %s is seeding.", db, c["MailboxServer"])
		}
	}
	if target == nil {
		f.add(Blocker, "%s has no copy on %s.", db, to)
		return f
	}
	if strings.EqualFold(target["Status"], "Mounted") || isTrue(target["ActiveCopy"]) {
		f.noop("%s is already active on %s: nothing to do.", db, to)
		return f
	}
	copyChecks(&f, target, env)
	return f
}

// copyChecks are the conditions a copy must meet before it is activated: the ones a
// lossless switchover needs, which -Skip* switches would otherwise bypass.
func copyChecks(f *Findings, c row, env Env) {
	name := c["Name"]
	if !strings.EqualFold(c["Status"], "Healthy") {
		f.add(Blocker, "Copy %s is %s, not Healthy.", name, c["Status"])
	}
	if n := atoi(c["CopyQueueLength"]); n >= env.CopyLimit() {
		f.add(Blocker, "Copy %s has a copy queue of %d (%d or more is unhealthy).", name, n, env.CopyLimit())
	}
	if n := atoi(c["ReplayQueueLength"]); n >= env.ReplayLimit() {
		f.add(Blocker, "Copy %s has a replay queue of %d (%d or more is unhealthy).", name, n, env.ReplayLimit())
	}
	if !IndexUsable(c["ContentIndexState"]) {
		f.add(Blocker, "Copy %s has content index %s, not Healthy.", name, c["ContentIndexState"])
	}
	if isTrue(c["ActivationSuspended"]) {
		f.add(Blocker, "Activation of copy %s is suspended.", name)
	}
}

// IndexUsable reports whether a copy's content index state is no concern: Healthy, or
// Disabled (indexing is off for the database on purpose; Get-DAGHealth.ps1 counts that
// as information, and a switchover has no index to check). The preflights and the
// health report both judge by it.
func IndexUsable(state string) bool {
	return strings.EqualFold(state, "Healthy") || strings.EqualFold(state, "Disabled")
}

// IsLag reports whether a ReplayLagTimes or TruncationLagTimes value ("7.00:00:00";
// "00:00:00" is none) makes a copy lagged: its logs are held back on purpose.
func IsLag(v string) bool {
	return strings.Trim(v, "0:. ") != ""
}

// badState reports whether a DAG network's subnet or interface entry, printed like
// "{10.0.0.0/24,Up}" or "{EX10-MB01,Up,10.0.0.11}", carries a state other than Up.
func badState(entry string) (string, bool) {
	for _, field := range strings.Split(strings.Trim(entry, "{} "), ",") {
		switch strings.ToLower(strings.TrimSpace(field)) {
		case "down", "partitioned", "misconfigured", "unavailable", "unknown", "failed", "unreachable":
			return strings.TrimSpace(field), true
		}
	}
	return "", false
}

// laggedCopies lists the servers of a database's lagged copies: those with a replay or
// truncation lag other than 00:00:00 in ReplayLagTimes / TruncationLagTimes, printed as
// "[EX10-MB02, 7.00:00:00]".
func laggedCopies(db row) []string {
	var out []string
	for _, col := range []string{"ReplayLagTimes", "TruncationLagTimes"} {
		for _, item := range list(db[col]) {
			item = strings.Trim(item, "[] ")
			i := strings.LastIndexByte(item, ',')
			if i < 0 || !IsLag(item[i+1:]) {
				continue
			}
			out = append(out, strings.ToUpper(ShortHost(item[:i])))
		}
	}
	return out
}

func orUnknown(s string) string {
	if strings.TrimSpace(s) == "" {
		return "unknown"
	}
	return s
}

func evalDrill(r []Tables, dag string, env Env) Findings {
	var f Findings
	d := findRow(rows(r, 0, "dag"), "Name", dag)
	if d == nil {
		f.add(Blocker, "DAG %s does not exist.", dag)
		return f
	}
	members := list(d["Servers"])
	if len(members) < 2 {
		f.add(Blocker, "DAG %s has %d members: a drill needs two.", dag, len(members))
	}
	operational := list(d["OperationalServers"])
	for _, m := range members {
		if !hasHost(operational, m) {
			f.add(Blocker, "%s is not in the operational servers of %s.", m, dag)
		}
	}
	for _, n := range rows(r, 0, "networks") {
		for _, e := range append(list(n["Subnets"]), list(n["Interfaces"])...) {
			if st, bad := badState(e); bad {
				f.add(Blocker, "DAG network %s: %s is %s.", n["Name"], e, st)
			}
		}
	}
	dbs := rows(r, 0, "databases")
	if len(dbs) == 0 {
		f.add(Blocker, "DAG %s holds no databases.", dag)
	}
	for _, db := range dbs {
		if len(list(db["Servers"])) < 2 {
			f.add(Blocker, "%s has one copy: there is nowhere to move it.", db["Name"])
		}
	}
	inDAG := map[string]bool{}
	lagged := map[string]bool{} // DATABASE\SERVER of the lagged copies
	for _, db := range dbs {
		inDAG[strings.ToUpper(db["Name"])] = true
		for _, srv := range laggedCopies(db) {
			lagged[strings.ToUpper(db["Name"]+`\`+srv)] = true
		}
	}
	for _, c := range rows(r, 0, "copystatus") {
		// The read is every database's copies: only this DAG's matter.
		if !inDAG[strings.ToUpper(c["DatabaseName"])] {
			continue
		}
		st := c["Status"]
		if !strings.EqualFold(st, "Mounted") && !strings.EqualFold(st, "Healthy") {
			f.add(Blocker, "Copy %s is %s.", c["Name"], st)
		}
		if n := atoi(c["CopyQueueLength"]); n >= env.CopyLimit() {
			f.add(Blocker, "Copy %s has a copy queue of %d.", c["Name"], n)
		}
		// A lagged copy holds its logs back on purpose: the drill never moves to it.
		isLagged := lagged[strings.ToUpper(c["DatabaseName"]+`\`+ShortHost(c["MailboxServer"]))]
		if n := atoi(c["ReplayQueueLength"]); n >= env.ReplayLimit() && !isLagged {
			f.add(Blocker, "Copy %s has a replay queue of %d.", c["Name"], n)
		}
		if !IndexUsable(c["ContentIndexState"]) {
			f.add(Blocker, "Copy %s has content index %s.", c["Name"], c["ContentIndexState"])
		}
	}
	reported := map[string]bool{}
	for i := 1; i < len(r); i++ {
		for _, h := range rows(r, i, "replicationhealth") {
			reported[strings.ToUpper(h["Server"])] = true
			if res := h[HealthResult]; !strings.EqualFold(res, "Passed") {
				f.add(Blocker, "%s: replication check %s is %s: %s", h["Server"], h["Check"], orUnknown(res), h["Error"])
			}
		}
	}
	for _, m := range members {
		found := false
		for s := range reported {
			found = found || SameHost(s, m)
		}
		if !found {
			f.add(Blocker, "No replication health from member %s: is it listed with the mailbox role in exchange.servers?", m)
		}
	}
	return f
}
