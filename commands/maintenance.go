package commands

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Day-two DAG operations: a member's maintenance (what StartDagServerMaintenance.ps1
// and StopDagServerMaintenance.ps1 do in Exchange 2010 SP1 and later, with the
// activation blocks restored as they were rather than cleared), moving databases back
// to their preferred servers (RedistributeActiveDatabases.ps1
// -BalanceDbsByActivationPreference), and reseeding a copy.

// Activation policies (Set-MailboxServer -DatabaseCopyAutoActivationPolicy).
const (
	policyBlocked      = "Blocked"
	policyUnrestricted = "Unrestricted"
)

// activationPolicies are the values Exchange 2010 takes, as it spells them.
var activationPolicies = []string{"Unrestricted", "IntrasiteOnly", "Blocked"}

// Cluster node states (Get-ClusterNode State on Windows Server 2008 R2).
const nodePaused = "Paused"

// settleBudget bounds the wait after dag maintenance stop for the member's copies to
// leave Initializing and Resynchronizing (a member back from its patches replays the
// logs it missed).
const settleBudget = 15 * time.Minute

// Column sets of the maintenance reads.
var (
	colsMailboxServers = []string{"Name", "DatabaseAvailabilityGroup", "DatabaseCopyAutoActivationPolicy"}
	colsDatabasesLag   = append(append([]string(nil), colsDatabases...), "*ReplayLagTimes", "*TruncationLagTimes")
	colsClusterNodes   = []string{"Name", "State"}
	colsClusterGroup   = []string{"Name", "OwnerNode"}
)

// Record keys of dag maintenance start's "before" finding, which stop reads back.
const (
	recPolicy   = "policy"    // DatabaseCopyAutoActivationPolicy before start
	recNode     = "node"      // the cluster node's State before start
	recKept     = "suspended" // copies whose activation was suspended before start (';'-joined)
	recSuspends = "suspends"  // copies start suspends, which stop resumes (';'-joined)
	recOwner    = "pam"       // the cluster group's owner node before start
)

// Request statuses that mean a request never ran and never will.
var neverRan = map[string]bool{"denied": true, "expired": true, "cancelled": true, "stale": true}

// maintenanceSession is what dag maintenance start, stop and status share.
var maintenanceSession = &Session{Start: "dag maintenance start", Stop: "dag maintenance stop", By: "server"}

// maintenanceReads reads, through the management server, what a member's maintenance
// is judged by: every DAG with -Status (members, operational servers, witness in use),
// the mailbox servers' activation policies, every database with its preferences and
// lag times, and every copy.
func maintenanceReads(m string) Step {
	return exchangeStep(m, "read DAGs (with -Status), mailbox servers, databases and every copy",
		read("dag", colsDAG, C("Get-DatabaseAvailabilityGroup", Switch("Status"))),
		read("mailboxservers", colsMailboxServers, C("Get-MailboxServer")),
		read("databases", colsDatabasesLag, C("Get-MailboxDatabase")),
		read("copystatus", colsCopyStatus, C("Get-MailboxDatabase"), C("Get-MailboxDatabaseCopyStatus")),
	)
}

// clusterRead reads the failover cluster on srv itself, over WinRS: every node's state
// and the owner of the cluster group (the Primary Active Manager). FailoverClusters
// cmdlets are not Exchange cmdlets, so they cannot go to the Exchange endpoint; without
// -Cluster they ask the local cluster service, so nothing hops.
func clusterRead(srv string) Step {
	s := newScript()
	s.add("Import-Module FailoverClusters")
	s.section("clusternodes", "Get-ClusterNode", colsClusterNodes...)
	s.section("clustergroup", "Get-ClusterGroup -Name 'Cluster Group'", colsClusterGroup...)
	return Step{Target: srv, Script: s.String(), Purpose: "read the cluster nodes and the cluster group's owner on " + srv}
}

// pauseStep pauses srv's cluster node, so that it cannot own the cluster group (become
// the Primary Active Manager), and moves the cluster group off it when it owns it:
// Suspend-ClusterNode on 2008 R2 does not move groups itself.
func pauseStep(srv string) Step {
	s := newScript()
	s.add("Import-Module FailoverClusters",
		"$node = Get-ClusterNode -Name "+Quote(srv),
		"if ([string]$node.State -ne 'Paused') { Suspend-ClusterNode -Name "+Quote(srv)+" | Out-Null }",
		"$group = Get-ClusterGroup -Name 'Cluster Group'",
		"if ([string]$group.OwnerNode -eq "+Quote(srv)+") { Move-ClusterGroup -Name 'Cluster Group' | Out-Null }")
	s.section("clusternodes", "Get-ClusterNode", colsClusterNodes...)
	s.section("clustergroup", "Get-ClusterGroup -Name 'Cluster Group'", colsClusterGroup...)
	return Step{Target: srv, Script: s.String(), Purpose: "pause the cluster node " + srv + " and move the cluster group off it"}
}

// resumeNodeStep resumes srv's cluster node when resume, and gives the cluster group
// back to it when regroup (it owned the group before dag maintenance start moved it).
func resumeNodeStep(srv string, resume, regroup bool) Step {
	s := newScript()
	s.add("Import-Module FailoverClusters")
	purpose := "resume the cluster node " + srv
	if resume {
		s.add("Resume-ClusterNode -Name " + Quote(srv) + " | Out-Null")
	}
	if regroup {
		s.add("Move-ClusterGroup -Name 'Cluster Group' -Node " + Quote(srv) + " | Out-Null")
		purpose += " and give the cluster group back to it"
		if !resume {
			purpose = "give the cluster group back to " + srv
		}
	}
	s.section("clusternodes", "Get-ClusterNode", colsClusterNodes...)
	s.section("clustergroup", "Get-ClusterGroup -Name 'Cluster Group'", colsClusterGroup...)
	return Step{Target: srv, Script: s.String(), Purpose: purpose}
}

func planMaintenanceStart(inv *Command, env Env) (*Plan, error) {
	m, err := mgmt(env)
	if err != nil {
		return nil, err
	}
	if err := configured(inv, env, "server"); err != nil {
		return nil, err
	}
	srv := inv.Value("server")
	if p := inv.Past; p != nil && p.Found {
		refuse := func(format string, args ...any) error {
			return &UsageError{Command: inv.Spec.Name, Arg: "server", Value: srv, Rule: fmt.Sprintf(format, args...), Usage: inv.Spec.Usage()}
		}
		switch stop := lastStop(p); {
		case p.Status == statusPending || p.Status == statusApproved || p.Status == statusRunning:
			return nil, refuse("is already being put into maintenance by %s (%s): approve, deny or cancel that one first", p.ID, p.Status)
		case stop.Status == statusSucceeded:
		case stop.ID != "":
			return nil, refuse("is in maintenance since %s, and %s is ending it (%s): let it finish first", p.ID, stop.ID, stop.Status)
		default:
			return nil, refuse("was put into maintenance by %s (%s), which no dag maintenance stop has ended: run `dag maintenance stop %s` first, which restores what %s recorded", p.ID, p.Status, srv, p.ID)
		}
	}
	return &Plan{
		Summary:   fmt.Sprintf("Put %s into maintenance: block activation on it, move its active databases to their best other healthy copies one at a time (lossless), suspend activation of its copies and pause its cluster node; record how it was, for dag maintenance stop.", srv),
		Preflight: []Step{maintenanceReads(m), clusterRead(srv)},
		Lock:      "maintenance:" + srv,
		Decided: "Set-MailboxServer -Identity " + Quote(srv) + " -DatabaseCopyAutoActivationPolicy 'Blocked'\n" +
			"Move-ActiveMailboxDatabase -Identity <database> -ActivateOnServer <best other healthy copy> -MountDialOverride 'Lossless' ... -Confirm:$false  # one step per database active on " + srv + ", each waiting until it is Mounted and every other copy Healthy\n" +
			"Suspend-MailboxDatabaseCopy -Identity <database>\\" + srv + " -ActivationOnly ... -Confirm:$false  # each copy on " + srv + " whose activation is not suspended yet\n" +
			"Suspend-ClusterNode -Name " + Quote(srv) + "  # over WinRS on " + srv + ", then Move-ClusterGroup 'Cluster Group' when " + srv + " owns it",
		evaluate: func(r []Tables) Findings { return evalMaintenanceStart(r, m, srv, env) },
	}, nil
}

// lastStop is the newest stop of a start session, or a zero Referrer.
func lastStop(p *PastRequest) Referrer {
	for i := len(p.Referrers) - 1; i >= 0; i-- {
		if !neverRan[p.Referrers[i].Status] {
			return p.Referrers[i]
		}
	}
	return Referrer{}
}

// member is what the maintenance reads say about a DAG and one of its members.
type member struct {
	dag         row
	members     []string
	operational []string
	policy      map[string]string // server (upper case) -> activation policy
	nodes       map[string]string // cluster node (upper case) -> State
	owner       string            // the cluster group's owner node
}

func readMember(f *Findings, r []Tables, srv string) *member {
	mb := &member{policy: map[string]string{}, nodes: map[string]string{}}
	for _, d := range rows(r, 0, "dag") {
		if hasHost(list(d["Servers"]), srv) {
			mb.dag = d
		}
	}
	if mb.dag == nil {
		f.add(Blocker, "%s is not a member of any DAG.", srv)
		return nil
	}
	f.Lock = "dag:" + strings.ToUpper(mb.dag["Name"])
	mb.members, mb.operational = list(mb.dag["Servers"]), list(mb.dag["OperationalServers"])
	for _, s := range rows(r, 0, "mailboxservers") {
		mb.policy[strings.ToUpper(ShortHost(s["Name"]))] = strings.TrimSpace(s["DatabaseCopyAutoActivationPolicy"])
	}
	for _, n := range rows(r, 1, "clusternodes") {
		mb.nodes[strings.ToUpper(ShortHost(n["Name"]))] = strings.TrimSpace(n["State"])
	}
	if g := rows(r, 1, "clustergroup"); len(g) == 1 {
		mb.owner = strings.ToUpper(ShortHost(g[0]["OwnerNode"]))
	}
	return mb
}

func (mb *member) policyOf(srv string) string { return mb.policy[strings.ToUpper(ShortHost(srv))] }
func (mb *member) nodeOf(srv string) string   { return mb.nodes[strings.ToUpper(ShortHost(srv))] }

// quorumWithout says whether the DAG's cluster keeps quorum with srv down: more than
// half of the votes (every member, plus the file share witness when the DAG has an
// even number of members and the witness is in use) must stay up.
func (mb *member) quorumWithout(srv string) (up, votes int, ok bool) {
	votes = len(mb.members)
	for _, s := range mb.operational {
		if !SameHost(s, srv) && hasHost(mb.members, s) {
			up++
		}
	}
	if len(mb.members)%2 == 0 {
		votes++
		if w := strings.TrimSpace(mb.dag["WitnessShareInUse"]); w != "" && !strings.EqualFold(w, "None") {
			up++
		}
	}
	return up, votes, 2*up > votes
}

// lagSet is DATABASE\SERVER (upper case) of every lagged copy.
func lagSet(dbs []row) map[string]bool {
	out := map[string]bool{}
	for _, db := range dbs {
		for _, s := range laggedCopies(db) {
			out[strings.ToUpper(db["Name"]+`\`+s)] = true
		}
	}
	return out
}

// isActiveCopy reports whether a copy status row is its database's active copy.
func isActiveCopy(c row) bool {
	return isTrue(c["ActiveCopy"]) || strings.EqualFold(c["Status"], "Mounted") || strings.EqualFold(c["Status"], "Dismounted")
}

// moveTarget is the copy a lossless move of db off from goes to: the one Active
// Manager's best copy selection would take among those a switchover may use (never a
// lagged copy, never one on a server whose activation is blocked or that is not an
// operational DAG member, and only one passing failover's checks), lowest activation
// preference first. When there is none, why says for each copy what stops it.
func moveTarget(db row, copies []row, from string, lagged map[string]bool, mb *member, env Env) (to string, why []string) {
	prefs := parsePrefs(db["ActivationPreference"])
	best, bestPref := "", 1<<30
	for _, c := range copies {
		srv := strings.ToUpper(ShortHost(c["MailboxServer"]))
		if SameHost(srv, from) {
			continue
		}
		var f Findings
		switch {
		case lagged[strings.ToUpper(db["Name"]+`\`+srv)]:
			f.add(Blocker, "%s is a lagged copy", c["Name"])
		case strings.EqualFold(mb.policyOf(srv), policyBlocked):
			f.add(Blocker, "activation is blocked on %s", srv)
		case !hasHost(mb.operational, srv):
			f.add(Blocker, "%s is not an operational DAG member", srv)
		case mb.nodeOf(srv) == nodePaused:
			f.add(Blocker, "the cluster node %s is paused", srv)
		default:
			copyChecks(&f, c, env)
		}
		if f.Blocked() {
			var b []string
			for _, x := range f.List {
				b = append(b, strings.TrimSuffix(x.Message, "."))
			}
			why = append(why, strings.Join(b, "; "))
			continue
		}
		p, ok := prefOf(prefs, srv)
		if !ok {
			p = 1 << 20
		}
		if p < bestPref {
			best, bestPref = srv, p
		}
	}
	return best, why
}

// recordList splits a ';'-joined copy list of a record.
func recordList(v string) []string { return list(v) }

func evalMaintenanceStart(r []Tables, m, srv string, env Env) Findings {
	var f Findings
	mb := readMember(&f, r, srv)
	if mb == nil {
		return f
	}
	dagName := mb.dag["Name"]
	for _, other := range mb.members {
		if SameHost(other, srv) {
			continue
		}
		if mb.nodeOf(other) == nodePaused {
			f.add(Blocker, "%s is in maintenance (its cluster node is Paused): one member of %s at a time. End it first with dag maintenance stop %s.", strings.ToUpper(ShortHost(other)), dagName, strings.ToUpper(ShortHost(other)))
		} else if strings.EqualFold(mb.policyOf(other), policyBlocked) {
			f.add(Warning, "Activation is blocked on %s: databases never move there automatically, so no move of this plan goes there.", strings.ToUpper(ShortHost(other)))
		}
	}
	if len(mb.nodes) == 0 {
		f.add(Blocker, "The cluster read on %s listed no nodes: is it a DAG member with the failover clustering feature?", srv)
	}
	if up, votes, ok := mb.quorumWithout(srv); !ok {
		f.add(Blocker, "%s would lose quorum while %s is down for its maintenance: %d of its %d votes would remain (operational: %s; witness in use: %s), and a DAG without quorum dismounts every database.",
			dagName, srv, up, votes, orUnknown(strings.Join(mb.operational, ", ")), orUnknown(mb.dag["WitnessShareInUse"]))
	}

	dbs := rows(r, 0, "databases")
	lagged := lagSet(dbs)
	copiesOf := map[string][]row{}
	for _, c := range rows(r, 0, "copystatus") {
		k := strings.ToUpper(c["DatabaseName"])
		copiesOf[k] = append(copiesOf[k], c)
	}
	type move struct{ db, to string }
	var moves []move
	var kept, suspends, moved []string
	policy, node := mb.policyOf(srv), mb.nodeOf(srv)
	for _, db := range dbs {
		name := db["Name"]
		copies := copiesOf[strings.ToUpper(name)]
		var mine row
		for _, c := range copies {
			if SameHost(c["MailboxServer"], srv) {
				mine = c
			}
		}
		if mine == nil {
			continue
		}
		if isTrue(mine["ActivationSuspended"]) {
			kept = append(kept, mine["Name"])
		} else {
			suspends = append(suspends, mine["Name"])
		}
		if len(copies) < 2 {
			f.add(Blocker, "%s has no copy but the one on %s: it would be left without a healthy copy (and unmounted) while %s is in maintenance. Add a copy first (copy add), or patch %s outside a DAG maintenance.", name, srv, srv, srv)
			continue
		}
		if !isActiveCopy(mine) {
			healthy := 0
			for _, c := range copies {
				if !SameHost(c["MailboxServer"], srv) && (strings.EqualFold(c["Status"], "Mounted") || strings.EqualFold(c["Status"], "Healthy")) {
					healthy++
				}
			}
			if healthy == 0 {
				f.add(Blocker, "%s has no Mounted or Healthy copy but the one on %s: it would be left without a healthy copy while %s is in maintenance.", name, srv, srv)
			}
			continue
		}
		if strings.EqualFold(mine["Status"], "Dismounted") {
			f.add(Blocker, "%s is active on %s but Dismounted: mount it or move it by hand first; a lossless move needs a mounted database.", name, srv)
			continue
		}
		to, why := moveTarget(db, copies, srv, lagged, mb, env)
		if to == "" {
			f.add(Blocker, "%s is active on %s and no other copy can take it losslessly, so it would be left without a healthy copy: %s.", name, srv, strings.Join(why, "; "))
			continue
		}
		// The move waits until every other copy is Healthy, as a drill does: a copy that
		// cannot become Healthy would fail it after the move.
		for _, c := range copies {
			if s := c["MailboxServer"]; SameHost(s, srv) || SameHost(s, to) || strings.EqualFold(c["Status"], "Healthy") {
				continue
			}
			f.add(Blocker, "Copy %s is %s: moving %s waits until every other copy is Healthy. Repair it first (copy reseed %s %s for a failed copy).", c["Name"], c["Status"], name, name, strings.ToUpper(ShortHost(c["MailboxServer"])))
		}
		moves = append(moves, move{name, to})
		moved = append(moved, name+" -> "+to)
	}
	if f.Blocked() {
		return f
	}
	if node == nodePaused && strings.EqualFold(policy, policyBlocked) && len(moves) == 0 && len(suspends) == 0 {
		f.noop("%s is already in maintenance: its cluster node is Paused, activation is blocked, no database is active on it and every copy on it is suspended for activation.", srv)
		return f
	}
	if node == nodePaused {
		f.add(Warning, "The cluster node %s is Paused already, not by this start: dag maintenance stop leaves it Paused, as it was.", srv)
	}
	if strings.EqualFold(policy, policyBlocked) {
		f.add(Warning, "Activation on %s is Blocked already, not by this start: dag maintenance stop leaves it Blocked, as it was.", srv)
	}
	sort.Strings(kept)
	sort.Strings(suspends)
	record := map[string]string{recPolicy: policy, recNode: node, recKept: strings.Join(kept, ";"), recSuspends: strings.Join(suspends, ";"), recOwner: mb.owner}
	f.List = append(f.List, Finding{Severity: Info, Record: NewRecord(record),
		Message: fmt.Sprintf("Before maintenance (dag maintenance stop %s sets it back): activation policy %s; cluster node %s; copies on %s already suspended for activation, which stay so: %s.",
			srv, orUnknown(policy), orUnknown(node), srv, orNone(kept))})
	if len(moved) > 0 {
		f.add(Info, "Moves, one at a time, each lossless to the best other healthy copy: %s.", strings.Join(moved, ", "))
	} else {
		f.add(Info, "No database is active on %s: nothing moves.", srv)
	}
	if SameHost(mb.owner, srv) {
		f.add(Info, "%s owns the cluster group (it is the Primary Active Manager): the group moves to another node when the node is paused.", srv)
	}

	var steps []Step
	if !strings.EqualFold(policy, policyBlocked) {
		steps = append(steps, exchangeStep(m, "block activation on "+srv,
			do(C("Set-MailboxServer", Str("Identity", srv), Str("DatabaseCopyAutoActivationPolicy", policyBlocked))),
			read("mailboxservers", colsMailboxServers, C("Get-MailboxServer", Str("Identity", srv)))))
	}
	for _, mv := range moves {
		step, wait := switchover(m, mv.db, mv.to, "exchops: dag maintenance start "+srv)
		step.Then = wait
		steps = append(steps, step)
	}
	if len(suspends) > 0 {
		var calls []Call
		for _, c := range suspends {
			calls = append(calls, do(C("Suspend-MailboxDatabaseCopy", Str("Identity", c), Switch("ActivationOnly"),
				Str("SuspendComment", "exchops: dag maintenance start "+srv), Bool("Confirm", false))))
		}
		calls = append(calls, read("copystatus", colsCopyStatus, C("Get-MailboxDatabaseCopyStatus", Str("Server", srv))))
		steps = append(steps, exchangeStep(m, "suspend activation of the copies on "+srv, calls...))
	}
	steps = append(steps, pauseStep(srv))
	f.Steps = steps
	return f
}

func orNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

// maintenanceRecord reads dag maintenance start's record from its findings.
func maintenanceRecord(fs []Finding) (map[string]string, bool) {
	for _, x := range fs {
		if x.Record == "" {
			continue
		}
		rec, ok := ReadRecord(x.Record)
		if ok {
			if _, has := rec[recPolicy]; has {
				return rec, true
			}
		}
	}
	return nil, false
}

func planMaintenanceStop(inv *Command, env Env) (*Plan, error) {
	m, err := mgmt(env)
	if err != nil {
		return nil, err
	}
	if err := configured(inv, env, "server"); err != nil {
		return nil, err
	}
	srv := inv.Value("server")
	p := inv.Past
	if p == nil {
		return nil, fmt.Errorf("commands: dag maintenance stop %s restores what dag maintenance start recorded, which only a running exchops reads from its request history: ask in chat, where the approval card shows what is set back", srv)
	}
	refuse := func(format string, args ...any) error {
		return &UsageError{Command: inv.Spec.Name, Arg: "server", Value: srv, Rule: fmt.Sprintf(format, args...), Usage: inv.Spec.Usage()}
	}
	var rec map[string]string
	from := ""
	if p.Found {
		switch stop := lastStop(p); {
		case p.Status == statusPending || p.Status == statusApproved:
			return nil, refuse("has a dag maintenance start waiting for approval (%s): deny or cancel it instead", p.ID)
		case p.Status == statusRunning:
			return nil, refuse("is being put into maintenance by %s right now: let it finish first", p.ID)
		case stop.Status == statusSucceeded:
			// That maintenance is over: what is there now was not started by exchops.
		case stop.ID != "":
			return nil, refuse("is already being taken out of maintenance by %s (%s): approve, deny or cancel that one first", stop.ID, stop.Status)
		default:
			var ok bool
			if rec, ok = maintenanceRecord(p.Findings); !ok {
				return nil, refuse("was put into maintenance by %s, which recorded nothing exchops can read back: set the activation policy and copies by hand", p.ID)
			}
			from = p.ID
		}
	}
	summary := fmt.Sprintf("Take %s out of maintenance: resume its cluster node and set its activation policy and copies back as they were before %s, then report its copies.", srv, from)
	if rec == nil {
		summary = fmt.Sprintf("Resume the cluster node of %s. exchops has no record of a maintenance it started there, so the activation policy and the copies stay as they are.", srv)
	}
	return &Plan{
		Summary:   summary,
		Preflight: []Step{maintenanceReads(m), clusterRead(srv)},
		Lock:      "maintenance:" + srv,
		Decided: "Resume-ClusterNode -Name " + Quote(srv) + "  # over WinRS on " + srv + ", when it is Paused and was not before\n" +
			"Set-MailboxServer -Identity " + Quote(srv) + " -DatabaseCopyAutoActivationPolicy <its value before dag maintenance start>\n" +
			"Resume-MailboxDatabaseCopy -Identity <copy> -Confirm:$false  # each copy dag maintenance start suspended, never one that was suspended before it\n" +
			"Get-MailboxDatabaseCopyStatus -Server " + Quote(srv),
		Wait: &Wait{
			Step:     exchangeStep(m, "read the copies on "+srv, read("copystatus", colsCopyStatus, C("Get-MailboxDatabaseCopyStatus", Str("Server", srv)))),
			Until:    &Until{Kind: UntilSettled, Server: srv},
			Progress: "waiting for the copies on " + srv + " to settle (their health is the report)",
			Budget:   settleBudget, Interval: resumeInterval,
		},
		evaluate: func(r []Tables) Findings { return evalMaintenanceStop(r, m, srv, from, rec) },
	}, nil
}

func evalMaintenanceStop(r []Tables, m, srv, from string, rec map[string]string) Findings {
	var f Findings
	mb := readMember(&f, r, srv)
	if mb == nil {
		return f
	}
	policy, node := mb.policyOf(srv), mb.nodeOf(srv)
	var steps []Step
	resumeNode := node == nodePaused && (rec == nil || rec[recNode] != nodePaused)
	// The Primary Active Manager goes back where it was, so nothing of the cluster
	// differs from before start either.
	regroup := rec != nil && SameHost(rec[recOwner], srv) && !SameHost(mb.owner, srv) && (resumeNode || node != nodePaused)
	if resumeNode || regroup {
		steps = append(steps, resumeNodeStep(srv, resumeNode, regroup))
	}
	switch {
	case resumeNode:
		f.add(Info, "The cluster node %s is Paused: it is resumed.", srv)
	case node == nodePaused:
		f.add(Info, "The cluster node %s stays Paused: it was Paused before %s.", srv, from)
	}
	if regroup {
		f.add(Info, "%s owned the cluster group (it was the Primary Active Manager) before %s: the group moves back to it from %s.", srv, from, orUnknown(mb.owner))
	}
	if rec == nil {
		var susp []string
		for _, c := range rows(r, 0, "copystatus") {
			if SameHost(c["MailboxServer"], srv) && isTrue(c["ActivationSuspended"]) && !isActiveCopy(c) {
				susp = append(susp, c["Name"])
			}
		}
		f.add(Warning, "exchops has no record of how %s was before a maintenance it started (none, or it ended already), so it cannot tell an activation block set on purpose from one left by maintenance: activation policy %s and the copies suspended for activation (%s) stay as they are. Set them by hand (Set-MailboxServer -DatabaseCopyAutoActivationPolicy, Resume-MailboxDatabaseCopy) if they were part of the maintenance.",
			srv, orUnknown(policy), orNone(susp))
		if len(steps) == 0 {
			f.NoOp = true
			return f
		}
		f.Steps = steps
		return f
	}
	var calls []Call
	want := rec[recPolicy]
	if want != "" && !strings.EqualFold(want, policy) {
		if _, ok := enumOf(want, activationPolicies); !ok {
			f.add(Blocker, "%s recorded activation policy %q, which is not one Exchange 2010 knows: set it by hand.", from, want)
			return f
		}
		calls = append(calls, do(C("Set-MailboxServer", Str("Identity", srv), Str("DatabaseCopyAutoActivationPolicy", want))))
		f.add(Info, "Activation policy of %s: %s -> %s, as before %s.", srv, orUnknown(policy), want, from)
	} else {
		f.add(Info, "Activation policy of %s stays %s, as before %s.", srv, orUnknown(policy), from)
	}
	status := map[string]row{}
	for _, c := range rows(r, 0, "copystatus") {
		status[strings.ToUpper(c["Name"])] = c
	}
	var resumed, gone []string
	for _, name := range recordList(rec[recSuspends]) {
		c := status[strings.ToUpper(name)]
		switch {
		case c == nil:
			gone = append(gone, name)
		case !isTrue(c["ActivationSuspended"]) || isActiveCopy(c):
		case strings.HasPrefix(strings.ToLower(c["Status"]), "failed"):
			f.add(Warning, "Copy %s is %s: it is not resumed here (resuming does not repair it). Reseed it with copy reseed, which resumes it.", name, c["Status"])
		default:
			if strings.EqualFold(c["Status"], "Suspended") {
				f.add(Warning, "Copy %s is Suspended for replication too, since the start: Resume-MailboxDatabaseCopy resumes its replication as well.", name)
			}
			resumed = append(resumed, name)
			calls = append(calls, do(C("Resume-MailboxDatabaseCopy", Str("Identity", name), Bool("Confirm", false))))
		}
	}
	if len(resumed) > 0 {
		f.add(Info, "Copies whose activation %s suspended, resumed: %s.", from, strings.Join(resumed, ", "))
	}
	if kept := recordList(rec[recKept]); len(kept) > 0 {
		f.add(Info, "Copies suspended for activation before %s, which stay so: %s.", from, strings.Join(kept, ", "))
	}
	if len(gone) > 0 {
		f.add(Info, "No longer exist, so skipped: %s.", strings.Join(gone, ", "))
	}
	if len(calls) > 0 {
		calls = append(calls, read("copystatus", colsCopyStatus, C("Get-MailboxDatabaseCopyStatus", Str("Server", srv))))
		steps = append(steps, exchangeStep(m, "set activation on "+srv+" back as it was before "+from, calls...))
	}
	if len(steps) == 0 {
		f.noop("%s is already as it was before %s: nothing to do.", srv, from)
		return f
	}
	f.Steps = steps
	return f
}

func planMaintenanceStatus(inv *Command, env Env) (*Plan, error) {
	m, err := mgmt(env)
	if err != nil {
		return nil, err
	}
	dag := inv.Value("dag")
	get := C("Get-DatabaseAvailabilityGroup", Switch("Status"))
	what := "every DAG"
	if dag != "" {
		get, what = C("Get-DatabaseAvailabilityGroup", Str("Identity", dag), Switch("Status")), "DAG "+dag
	}
	summary := "Maintenance in " + what + ": the mailbox servers' activation policy (Blocked while in maintenance) and the copies suspended for activation."
	if inv.Sessions != nil {
		var open []string
		for _, p := range inv.Sessions {
			if p.Status == statusPending || p.Status == statusApproved || neverRan[p.Status] || lastStop(&p).Status == statusSucceeded {
				continue
			}
			srv := ""
			if s, err := Parse(p.Command); err == nil {
				srv = s.Value("server")
			}
			line := fmt.Sprintf("%s since %s by %s (%s, %s)", srv, p.Started.UTC().Format("2006-01-02 15:04 MST"), p.Requester, p.ID, p.Status)
			if stop := lastStop(&p); stop.ID != "" {
				line += fmt.Sprintf(", %s ending it (%s)", stop.ID, stop.Status)
			}
			open = append(open, line)
		}
		if len(open) == 0 {
			summary += " exchops started no maintenance that is still open."
		} else {
			summary += " Started by exchops and not stopped: " + strings.Join(open, "; ") + "."
		}
	}
	return &Plan{Summary: summary, Steps: []Step{exchangeStep(m, "read "+what+", the mailbox servers and the copies suspended for activation",
		read("dag", colsDAG, get),
		read("mailboxservers", colsMailboxServers, C("Get-MailboxServer")).where("DatabaseCopyAutoActivationPolicy", policyBlocked),
		read("copystatus", []string{"Name", "Status", "ActivationSuspended", "SuspendComment"}, C("Get-MailboxDatabase"), C("Get-MailboxDatabaseCopyStatus")).where("ActivationSuspended", "True"),
	)}}, nil
}

func planRebalance(inv *Command, env Env) (*Plan, error) {
	m, err := mgmt(env)
	if err != nil {
		return nil, err
	}
	dag := inv.Value("dag")
	return &Plan{
		Summary: fmt.Sprintf("Move each database of %s that is not on its activation preference 1 server back there, one at a time and lossless, where that copy is healthy with short queues; lagged copies never move.", dag),
		Preflight: []Step{exchangeStep(m, "read DAG "+dag+" (with -Status), the mailbox servers, its databases and every copy",
			read("dag", colsDAG, C("Get-DatabaseAvailabilityGroup", Str("Identity", dag), Switch("Status"))),
			read("mailboxservers", colsMailboxServers, C("Get-MailboxServer")),
			read("databases", colsDatabasesLag, C("Get-MailboxDatabase")).where("MasterServerOrAvailabilityGroup", dag),
			read("copystatus", colsCopyStatus, C("Get-MailboxDatabase"), C("Get-MailboxDatabaseCopyStatus")),
		)},
		Lock:    "dag:" + dag,
		Decided: "Move-ActiveMailboxDatabase -Identity <database> -ActivateOnServer <its activation preference 1 server> -MountDialOverride 'Lossless' ... -Confirm:$false  # one step per database to move back, each waiting until it is Mounted and every other copy Healthy",
		evaluate: func(r []Tables) Findings {
			return evalRebalance(r, m, dag, env)
		},
	}, nil
}

func evalRebalance(r []Tables, m, dag string, env Env) Findings {
	var f Findings
	d := findRow(rows(r, 0, "dag"), "Name", dag)
	if d == nil {
		f.add(Blocker, "DAG %s does not exist.", dag)
		return f
	}
	mb := &member{dag: d, members: list(d["Servers"]), operational: list(d["OperationalServers"]), policy: map[string]string{}, nodes: map[string]string{}}
	for _, s := range rows(r, 0, "mailboxservers") {
		mb.policy[strings.ToUpper(ShortHost(s["Name"]))] = strings.TrimSpace(s["DatabaseCopyAutoActivationPolicy"])
	}
	dbs := rows(r, 0, "databases")
	if len(dbs) == 0 {
		f.add(Blocker, "DAG %s holds no databases.", dag)
		return f
	}
	lagged := lagSet(dbs)
	copiesOf := map[string][]row{}
	for _, c := range rows(r, 0, "copystatus") {
		k := strings.ToUpper(c["DatabaseName"])
		copiesOf[k] = append(copiesOf[k], c)
	}
	sort.SliceStable(dbs, func(i, j int) bool { return strings.ToUpper(dbs[i]["Name"]) < strings.ToUpper(dbs[j]["Name"]) })
	var steps []Step
	var moves, stays []string
	for _, db := range dbs {
		name, home := db["Name"], homeServer(db)
		copies := copiesOf[strings.ToUpper(name)]
		var active, target row
		for _, c := range copies {
			if strings.EqualFold(c["Status"], "Mounted") {
				active = c
			}
			if SameHost(c["MailboxServer"], home) {
				target = c
			}
		}
		at := ""
		if active != nil {
			at = strings.ToUpper(ShortHost(active["MailboxServer"]))
		}
		if SameHost(at, home) {
			continue
		}
		var why []string
		switch {
		case active == nil:
			why = append(why, "it is not mounted anywhere")
		case target == nil:
			why = append(why, "it has no copy on "+home)
		case lagged[strings.ToUpper(name+`\`+home)]:
			why = append(why, "its copy there is lagged, and a lagged copy is never activated")
		case strings.EqualFold(mb.policyOf(home), policyBlocked):
			why = append(why, "activation is blocked on "+home+" (in maintenance?)")
		case !hasHost(mb.operational, home):
			why = append(why, home+" is not an operational DAG member")
		default:
			var cf Findings
			copyChecks(&cf, target, env)
			for _, x := range cf.List {
				why = append(why, strings.TrimSuffix(x.Message, "."))
			}
			for _, c := range copies {
				if s := c["MailboxServer"]; SameHost(s, home) || SameHost(s, at) || strings.EqualFold(c["Status"], "Healthy") {
					continue
				}
				why = append(why, fmt.Sprintf("copy %s is %s and a move waits for every other copy to be Healthy", c["Name"], c["Status"]))
			}
		}
		if len(why) > 0 {
			stays = append(stays, fmt.Sprintf("%s stays on %s, not its activation preference 1 server %s: %s", name, orUnknown(at), home, strings.Join(why, "; ")))
			continue
		}
		step, wait := switchover(m, name, home, "exchops: dag rebalance "+dag)
		step.Then = wait
		steps = append(steps, step)
		moves = append(moves, fmt.Sprintf("%s: %s -> %s", name, at, home))
	}
	for _, s := range stays {
		f.add(Warning, "%s.", s)
	}
	switch {
	case len(moves) > 0:
		f.add(Info, "Moves back to activation preference 1, one at a time, each lossless: %s.", strings.Join(moves, ", "))
		f.Lock = "dag:" + strings.ToUpper(d["Name"])
		f.Steps = steps
	case len(stays) > 0:
		f.add(Blocker, "No database of %s that is off its activation preference 1 server can move back now (see the warnings).", dag)
	default:
		f.noop("Every database of %s is mounted on its activation preference 1 server: nothing to do.", dag)
	}
	return f
}

func planCopyReseed(inv *Command, env Env) (*Plan, error) {
	m, err := mgmt(env)
	if err != nil {
		return nil, err
	}
	db, srv := inv.Value("database"), inv.Value("server")
	name := db + `\` + srv
	status := read("copystatus", colsCopyStatus, C("Get-MailboxDatabaseCopyStatus", Str("Identity", name)))
	return &Plan{
		Summary: fmt.Sprintf("Reseed copy %s: suspend it, seed it again from the active copy deleting its files (Update-MailboxDatabaseCopy -DeleteExistingFiles), resume it, then wait until it is Healthy.", name),
		Preflight: []Step{exchangeStep(m, "read DAGs, database "+db+" and its copies",
			read("dags", colsDAGs, C("Get-DatabaseAvailabilityGroup")),
			read("databases", colsDatabasesLag, C("Get-MailboxDatabase")).where("Name", db),
			read("copystatus", colsCopyStatus, C("Get-MailboxDatabaseCopyStatus", Str("Identity", db))).
				when(Match{Section: "databases", Column: "Name", Value: db}),
		)},
		Steps: reseedSteps(m, db, srv, false, env),
		Lock:  "database:" + db,
		Wait: &Wait{
			Step:     exchangeStep(m, "read the status of copy "+name, status),
			Until:    &Until{Kind: UntilCopyHealthy, Database: db, Server: srv},
			Progress: "waiting for the reseeded copy " + name + " to be Healthy",
			Budget:   resumeBudget, Interval: resumeInterval,
		},
		evaluate: func(r []Tables) Findings { return evalCopyReseed(r, m, db, srv, env) },
	}, nil
}

// reseedSteps: suspend (no error on a copy already suspended), seed under
// exchange.seed_timeout with -ManualResume, then resume. A lagged copy is resumed
// with -ReplicationOnly, so its activation stays suspended as its administrator set it.
func reseedSteps(m, db, srv string, lagged bool, env Env) []Step {
	name := db + `\` + srv
	status := read("copystatus", colsCopyStatus, C("Get-MailboxDatabaseCopyStatus", Str("Identity", name)))
	seed := exchangeStep(m, "seed copy "+name+" again, deleting its files (at most "+env.SeedLimit().String()+")",
		do(C("Update-MailboxDatabaseCopy", Str("Identity", name), Switch("DeleteExistingFiles"), Switch("ManualResume"), Bool("Confirm", false))), status)
	seed.Timeout = env.SeedLimit()
	resume := C("Resume-MailboxDatabaseCopy", Str("Identity", name), Bool("Confirm", false))
	if lagged {
		resume = C("Resume-MailboxDatabaseCopy", Str("Identity", name), Switch("ReplicationOnly"), Bool("Confirm", false))
	}
	return []Step{
		exchangeStep(m, "suspend copy "+name, do(C("Suspend-MailboxDatabaseCopy", Str("Identity", name),
			Str("SuspendComment", "exchops: copy reseed "+db+" "+srv), Bool("Confirm", false))), status),
		seed,
		exchangeStep(m, "resume copy "+name, do(resume), status),
	}
}

func evalCopyReseed(r []Tables, m, db, srv string, env Env) Findings {
	var f Findings
	d, g := dbAndDAG(&f, r, db)
	if g == nil {
		return f
	}
	var mine, mounted row
	for _, c := range rows(r, 0, "copystatus") {
		if SameHost(c["MailboxServer"], srv) {
			mine = c
		}
		if strings.EqualFold(c["Status"], "Mounted") {
			mounted = c
		}
	}
	name := db + `\` + srv
	switch {
	case mine == nil:
		f.add(Blocker, "%s has no copy on %s.", db, srv)
		return f
	case isActiveCopy(mine):
		f.add(Blocker, "Copy %s is the active copy: only a passive copy can be reseeded. Move %s to another copy first (failover), then reseed this one.", name, db)
		return f
	case strings.EqualFold(mine["Status"], "Seeding"):
		f.add(Blocker, "Copy %s is being seeded already.", name)
		return f
	case mounted == nil:
		f.add(Blocker, "%s is not mounted anywhere, so there is no active copy to seed from.", db)
		return f
	}
	lagged := false
	for _, s := range laggedCopies(d) {
		lagged = lagged || SameHost(s, srv)
	}
	switch st := mine["Status"]; {
	case strings.HasPrefix(strings.ToLower(st), "failed"):
		f.add(Info, "Copy %s is %s: a reseed replaces its files with a fresh copy of the database from %s.", name, st, ShortHost(mounted["MailboxServer"]))
	case strings.EqualFold(st, "Healthy"):
		f.add(Warning, "Copy %s is Healthy: a reseed deletes its files and copies the whole database again from %s, and it gives no redundancy until it is Healthy again.", name, ShortHost(mounted["MailboxServer"]))
	default:
		f.add(Info, "Copy %s is %s: a reseed replaces its files with a fresh copy of the database from %s.", name, st, ShortHost(mounted["MailboxServer"]))
	}
	if lagged {
		f.add(Info, "%s is a lagged copy: it is resumed with -ReplicationOnly, so its activation stays suspended.", name)
	}
	f.add(Info, "Seeding copies the whole database over the network and can take hours (at most exchange.seed_timeout, %s).", env.SeedLimit())
	if lagged {
		f.Steps = reseedSteps(m, db, srv, true, env)
	}
	return f
}
