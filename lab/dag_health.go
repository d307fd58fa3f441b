package lab

import (
	"fmt"
	"strings"
	"time"
)

// Test-ReplicationHealth results.
const (
	resultPassed  = "Passed"
	resultWarning = "Warning"
	resultFailed  = "Failed"
)

// healthRow is one row of Test-ReplicationHealth.
type healthRow struct {
	Server, Check, Description, Result, Error string
}

// checkDescriptions are the Exchange 2010 checks, in the order the cmdlet runs them.
var checkDescriptions = []struct{ Check, Description string }{
	{"ClusterService", "Checks that the cluster service is healthy."},
	{"ReplayService", "Checks that the Microsoft Exchange Replication service is running."},
	{"ActiveManager", "Checks that Active Manager is running and has a valid role."},
	{"TasksRpcListener", "Checks that the Tasks RPC Listener is running and responding to remote requests."},
	{"TcpListener", "Checks that the TCP Listener is running and responding to requests."},
	{"DagMembersUp", "Checks that the members of the database availability group are up and running."},
	{"ClusterNetwork", "Checks that the cluster networks are healthy."},
	{"QuorumGroup", "Checks that the quorum and witness of the database availability group are healthy."},
	{"FileShareQuorum", "Checks that the file share witness path can be reached."},
	{"DBCopySuspended", "Checks whether any mailbox database copies on the server are Suspended."},
	{"DBCopyFailed", "Checks whether any mailbox database copies on the server are Failed."},
	{"DBInitializing", "Checks whether any mailbox database copies on the server are Initializing."},
	{"DBDisconnected", "Checks whether any mailbox database copies on the server are Disconnected."},
	{"DBLogCopyKeepingUp", "Checks that log copying and inspection by the passive copies keep up with log generation on the active copy."},
	{"DBLogReplayKeepingUp", "Checks that log replay on the passive copies keeps up with log copying and inspection."},
}

// replicationHealth runs Test-ReplicationHealth for one server. A server that is not
// a DAG member has no cluster to test: the cmdlet fails rather than reporting rows.
func (o *Org) replicationHealth(server string) ([]healthRow, error) {
	const cmd = "Test-ReplicationHealth"
	s := o.mailboxServer(server)
	if s == nil {
		return nil, notFound(cmd, server)
	}
	d := o.dagOf(s.Name)
	if d == nil {
		return nil, invalidOp(cmd, "Server '%s' isn't a member of a database availability group. Test-ReplicationHealth can only test the replication health of database availability group members.", s.Name)
	}
	now := o.clock.Now()
	down := d.DownMembers[strings.ToUpper(s.Name)]
	fqdn := s.FQDN()

	// Copies on this server, grouped by what the database checks look for.
	var suspended, failed, initializing, disconnected, copyBehind, replayBehind []string
	for _, db := range o.databases {
		c := db.copyOn(s.Name)
		if c == nil || strings.EqualFold(c.Server, db.Active) {
			continue
		}
		id := db.Name + `\` + s.Name
		switch o.copyStatus(db, c, now) {
		case statusSuspended:
			suspended = append(suspended, id)
		case statusFailed, statusFailedAndSuspended:
			failed = append(failed, id)
		case statusInitializing, statusSeeding:
			initializing = append(initializing, id)
		case statusDisconnectedAndHealthy:
			disconnected = append(disconnected, id)
		}
		if c.CopyQueue >= maxCopyQueue {
			copyBehind = append(copyBehind, fmt.Sprintf("%s (copy queue %d)", id, c.CopyQueue))
		}
		// A lagged copy holds its logs back on purpose.
		if c.ReplayQueue >= maxReplayQueue && c.ReplayLag == 0 && c.TruncationLag == 0 {
			replayBehind = append(replayBehind, fmt.Sprintf("%s (replay queue %d)", id, c.ReplayQueue))
		}
	}
	var othersDown []string
	for _, m := range d.Members {
		if d.DownMembers[strings.ToUpper(m)] {
			othersDown = append(othersDown, m)
		}
	}
	var netsDown []string
	for _, n := range d.Networks {
		if n.Down {
			netsDown = append(netsDown, n.Name)
		}
	}

	serviceDown := fmt.Sprintf("The Microsoft Exchange Replication service isn't running on server %s.", fqdn)
	clusterDown := fmt.Sprintf("The cluster service on server %s isn't running.", fqdn)
	outcome := map[string][2]string{} // check -> result, error
	fail := func(check, msg string) { outcome[check] = [2]string{resultFailed, msg} }
	list := func(check string, items []string, result, what string) {
		if len(items) > 0 {
			outcome[check] = [2]string{result, fmt.Sprintf("%s: %s.", what, strings.Join(items, ", "))}
		}
	}
	if down {
		fail("ClusterService", clusterDown)
		fail("ReplayService", serviceDown)
		fail("ActiveManager", fmt.Sprintf("Active Manager on server %s can't be reached.", fqdn))
		fail("TasksRpcListener", serviceDown)
		fail("TcpListener", serviceDown)
		for _, ck := range []string{"ClusterNetwork", "QuorumGroup", "FileShareQuorum"} {
			fail(ck, clusterDown)
		}
		for _, ck := range []string{"DBCopySuspended", "DBCopyFailed", "DBInitializing", "DBDisconnected", "DBLogCopyKeepingUp", "DBLogReplayKeepingUp"} {
			fail(ck, serviceDown)
		}
	} else {
		if o.serviceStopped(s.Name, "MSExchangeRepl") {
			// The cluster runs; the replication service and its listeners do not.
			for _, ck := range []string{"ReplayService", "TasksRpcListener", "TcpListener", "DBCopySuspended", "DBCopyFailed", "DBInitializing", "DBDisconnected", "DBLogCopyKeepingUp", "DBLogReplayKeepingUp"} {
				fail(ck, serviceDown)
			}
		}
		list("ClusterNetwork", netsDown, resultFailed, "These database availability group networks are down")
		if !d.hasQuorum() {
			fail("QuorumGroup", fmt.Sprintf("The cluster of database availability group '%s' has lost quorum.", d.Name))
			fail("ActiveManager", fmt.Sprintf("Active Manager on server %s has no valid role because the cluster has no quorum.", fqdn))
		}
		if d.usesWitness() && d.WitnessUnreachable {
			fail("FileShareQuorum", fmt.Sprintf("The file share witness %s can't be reached.", witnessShare(o, d)))
		}
		list("DBCopySuspended", suspended, resultFailed, "These database copies are suspended")
		list("DBCopyFailed", failed, resultFailed, "These database copies have failed")
		// Initializing and Seeding pass on their own after a while: a warning, not a failure.
		list("DBInitializing", initializing, resultWarning, "These database copies are initializing or seeding")
		list("DBDisconnected", disconnected, resultFailed, "These database copies are disconnected")
		list("DBLogCopyKeepingUp", copyBehind, resultFailed, "Log copying isn't keeping up for these database copies")
		list("DBLogReplayKeepingUp", replayBehind, resultFailed, "Log replay isn't keeping up for these database copies")
	}
	list("DagMembersUp", othersDown, resultFailed, "These database availability group members are down")

	var rows []healthRow
	for _, cd := range checkDescriptions {
		// FileShareQuorum is only tested when the cluster uses the witness.
		if cd.Check == "FileShareQuorum" && !d.usesWitness() {
			continue
		}
		r := healthRow{Server: s.Name, Check: cd.Check, Description: cd.Description, Result: resultPassed}
		if oc, ok := outcome[cd.Check]; ok {
			r.Result, r.Error = oc[0], oc[1]
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// witnessShare is the UNC path of a DAG's file share witness: the witness directory
// is shared as <DAG FQDN> on the witness server.
func witnessShare(o *Org, d *DAG) string {
	host := strings.ToLower(d.WitnessServer)
	if s := o.server(d.WitnessServer); s != nil {
		host = s.FQDN()
	}
	return `\\` + host + `\` + d.Name + "." + Domain
}

// witnessShareInUse is Get-DatabaseAvailabilityGroup -Status's WitnessShareInUse:
// Primary while an even-sized DAG counts the witness's vote, None otherwise
// (including when the witness can't be reached and the cluster runs without it).
func witnessShareInUse(d *DAG) string {
	if d.usesWitness() && !d.WitnessUnreachable {
		return "Primary"
	}
	return "None"
}

// primaryActiveManager is the member owning the cluster group: the node
// Move-ClusterGroup gave it to while that node is up, else (the cluster moving it on
// its own) the first operational member that is not paused; "" when there is none
// or no quorum.
func primaryActiveManager(d *DAG) string {
	up := d.operational()
	if len(up) == 0 || !d.hasQuorum() {
		return ""
	}
	if d.GroupOwner == "" {
		return up[0]
	}
	for _, m := range up {
		if strings.EqualFold(m, d.GroupOwner) {
			return m
		}
	}
	for _, m := range up {
		if !d.PausedMembers[strings.ToUpper(m)] {
			return m
		}
	}
	return up[0]
}

// ---- faults: exported for tests and the lab's CLI flags ----

// SetCopyFault puts a passive copy into Failed or FailedAndSuspended with an error
// message, or clears the fault with status "".
func (o *Org) SetCopyFault(db, server, status, message string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	d, c, err := o.faultCopy(db, server)
	if err != nil {
		return err
	}
	if strings.EqualFold(c.Server, d.Active) && status != "" {
		return fmt.Errorf("lab: %s\\%s is the active copy; only passive copies can fail", d.Name, c.Server)
	}
	switch strings.ToLower(status) {
	case "":
		c.Failed, c.FailedAndSusp, c.ErrorMessage = false, false, ""
		return nil
	case "failed":
		c.Failed, c.FailedAndSusp = true, false
	case "failedandsuspended":
		c.Failed, c.FailedAndSusp = false, true
	default:
		return fmt.Errorf("lab: copy fault %q: want Failed, FailedAndSuspended or empty", status)
	}
	c.ErrorMessage = message
	c.LastInspected = o.clock.Now()
	return nil
}

// SetQueues sets a copy's copy and replay queue lengths (logs not yet copied, and
// copied but not yet replayed), e.g. to simulate a copy falling behind.
func (o *Org) SetQueues(db, server string, copyQueue, replayQueue int) error {
	if copyQueue < 0 || replayQueue < 0 {
		return fmt.Errorf("lab: queue lengths must not be negative")
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	_, c, err := o.faultCopy(db, server)
	if err != nil {
		return err
	}
	c.CopyQueue, c.ReplayQueue = copyQueue, replayQueue
	return nil
}

// laggedReplayQueue is the replay queue the lab gives a lagged copy: the logs it holds
// back, far over any healthy bar (a day's logs of a busy database).
const laggedReplayQueue = 1500

// SetLag makes a copy lagged, as an administrator sets one up for point-in-time
// recovery (Set-MailboxDatabaseCopy -ReplayLagTime/-TruncationLagTime, then
// Suspend-MailboxDatabaseCopy -ActivationOnly so Active Manager never picks it): its
// activation is suspended and its replay queue long. Zero lags make it an ordinary
// copy again, activation resumed and its queue replayed.
func (o *Org) SetLag(db, server string, replay, truncation time.Duration) error {
	if replay < 0 || truncation < 0 {
		return fmt.Errorf("lab: lag times must not be negative")
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	d, c, err := o.faultCopy(db, server)
	if err != nil {
		return err
	}
	if strings.EqualFold(c.Server, d.Active) && replay+truncation > 0 {
		return fmt.Errorf("lab: %s\\%s is the active copy: only a passive copy can be lagged", d.Name, c.Server)
	}
	c.ReplayLag, c.TruncationLag = replay, truncation
	lagged := replay+truncation > 0
	c.ActivationOnly = lagged
	if lagged {
		c.ReplayQueue = laggedReplayQueue
		c.SuspendComment = "lagged copy"
	} else {
		c.ReplayQueue, c.SuspendComment = 0, ""
	}
	return nil
}

// SetContentIndexState sets a copy's ContentIndexState (Healthy, Failed, Crawling, ...).
func (o *Org) SetContentIndexState(db, server, state string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, c, err := o.faultCopy(db, server)
	if err != nil {
		return err
	}
	c.ContentIndexState = state
	return nil
}

// SetNetworkDown takes a DAG network (by name, e.g. DAGNetwork02, or subnet) down or up.
func (o *Org) SetNetworkDown(dag, network string, down bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	d := o.dag(dag)
	if d == nil {
		return fmt.Errorf("lab: no DAG %q", dag)
	}
	n := d.network(network)
	if n == nil {
		return fmt.Errorf("lab: DAG %s has no network %q", d.Name, network)
	}
	n.Down = down
	return nil
}

// SetWitnessUnreachable makes the DAG's file share witness unreachable or reachable.
func (o *Org) SetWitnessUnreachable(dag string, v bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	d := o.dag(dag)
	if d == nil {
		return fmt.Errorf("lab: no DAG %q", dag)
	}
	d.WitnessUnreachable = v
	return nil
}

// SetMemberDown stops (or starts again) the cluster and replication services of a DAG
// member. The lab does not fail databases over by itself: a database active on a down
// member is reported dismounted until it is moved.
func (o *Org) SetMemberDown(dag, server string, down bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	d := o.dag(dag)
	if d == nil {
		return fmt.Errorf("lab: no DAG %q", dag)
	}
	for _, m := range d.Members {
		if strings.EqualFold(m, server) {
			if down {
				d.DownMembers[strings.ToUpper(m)] = true
			} else {
				delete(d.DownMembers, strings.ToUpper(m))
			}
			return nil
		}
	}
	return fmt.Errorf("lab: %q is not a member of DAG %s", server, d.Name)
}

// faultCopy finds a copy for a fault setter; callers hold o.mu.
func (o *Org) faultCopy(db, server string) (*Database, *Copy, error) {
	d := o.database(db)
	if d == nil {
		return nil, nil, fmt.Errorf("lab: no database %q", db)
	}
	c := d.copyOn(server)
	if c == nil {
		return nil, nil, fmt.Errorf("lab: database %s has no copy on %q", d.Name, server)
	}
	return d, c, nil
}

// lastInspected is LastInspectedLogTime: a replicating passive copy inspects logs all
// the time (now); a copy that stopped keeps the time it stopped; the active copy and a
// copy still seeding have none.
func (o *Org) lastInspected(db *Database, c *Copy, status string, now time.Time) any {
	switch status {
	case statusMounted, statusDismounted, statusSeeding:
		return nil
	case statusHealthy, statusInitializing, statusDisconnectedAndHealthy:
		return now
	}
	if c.LastInspected.IsZero() {
		return nil
	}
	return c.LastInspected
}
