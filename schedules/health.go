package schedules

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/runners"
)

// Runner is what schedules needs from the WinRM runner (*runners.WinRM has it).
type Runner interface {
	// RunStep runs one step on its target (Exchange calls or a WinRS script) and
	// returns its tables; progress, when not nil, hears progress records.
	RunStep(ctx context.Context, step commands.Step, progress func(string)) (*runners.Result, error)
	// Preflight runs a plan's read-only checks and judges them.
	Preflight(ctx context.Context, p *commands.Plan) (commands.Findings, error)
	// Lock takes a lock key ("dag:E14-DAG") until unlock is called.
	Lock(ctx context.Context, key string) (unlock func(), err error)
}

// Verdict is a health report's or a finding's level.
type Verdict string

// The verdicts, from best to worst.
const (
	OK      Verdict = "OK"
	Warning Verdict = "Warning"
	Failure Verdict = "Failure"
)

func (v Verdict) rank() int {
	switch v {
	case OK:
		return 0
	case Warning:
		return 1
	}
	return 2
}

func worse(a, b Verdict) Verdict {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

// DefaultQueueLimit is EXCHANGE.md's threshold: a copy or replay queue of 8 or more
// logs is unhealthy. commands owns it, so failover, the drill and the report agree.
const DefaultQueueLimit = commands.DefaultQueueLimit

// Thresholds tune how a report is judged. The zero value is EXCHANGE.md's defaults.
type Thresholds struct {
	CopyQueue   int `json:"copy_queue,omitempty"`   // a copy queue this long or longer is unhealthy (0: 8)
	ReplayQueue int `json:"replay_queue,omitempty"` // the same for the replay queue, not counted on lagged copies (0: 8)
	// Ignore names databases and servers left out of the verdict: they are still
	// shown, marked ignored (a database being retired, a member in maintenance).
	Ignore []string `json:"ignore,omitempty"`
	// AlertsOnly posts scheduled reports only when the verdict is not OK; every
	// report is still stored for the trend.
	AlertsOnly bool `json:"alerts_only,omitempty"`
	// ReplicationOnly leaves out the server checks (services, mount status, MAPI,
	// transport queues): the drill's pre-checks judge replication only.
	ReplicationOnly bool `json:"-"`
}

// copyLimit and replayLimit are commands.Env's rule (one default, in commands), so
// the report, failover's preflight and the drill judge a queue alike.
func (t Thresholds) copyLimit() int {
	return commands.Env{CopyQueue: t.CopyQueue}.CopyLimit()
}

func (t Thresholds) replayLimit() int {
	return commands.Env{ReplayQueue: t.ReplayQueue}.ReplayLimit()
}

func (t Thresholds) ignored(names ...string) bool {
	for _, n := range names {
		for _, x := range t.Ignore {
			if n != "" && strings.EqualFold(n, strings.TrimSpace(x)) {
				return true
			}
		}
	}
	return false
}

// Report is one DAG's replication health at one moment: plain data, so that every
// chat front can render it its own way and the store can keep it as JSON.
type Report struct {
	DAG      string    `json:"dag"`
	At       time.Time `json:"at"`
	Schedule string    `json:"schedule,omitempty"` // the schedule that made it; "" on demand
	Verdict  Verdict   `json:"verdict"`
	// Reasons say why the verdict is not OK, failures first.
	Reasons    []Reason          `json:"reasons,omitempty"`
	DAGStatus  DAGStatus         `json:"dag_status"`
	Databases  []DatabaseSummary `json:"databases,omitempty"`
	Copies     []CopyDetail      `json:"copies,omitempty"`
	Members    []MemberHealth    `json:"members,omitempty"` // the Test-ReplicationHealth grid
	Networks   []Network         `json:"networks,omitempty"`
	Errors     []string          `json:"errors,omitempty"` // reads that failed, by server
	Thresholds Thresholds        `json:"thresholds"`

	readErrors []string // the full messages of the failed reads (ReadErrors)
	// Servers are the server checks of Test-ExchangeServerHealth.ps1: each member's
	// required services and mounted databases (and MAPI logons), each hub transport
	// server's queue. A check that could not run says so in its row.
	Servers []ServerHealth `json:"servers,omitempty"`
	// PublicFolders are the public folder databases on the members.
	PublicFolders []PublicFolderDatabase `json:"public_folders,omitempty"`
}

// ServerHealth is one server's row of the server checks.
type ServerHealth struct {
	Server string `json:"server"`
	Member bool   `json:"member,omitempty"` // a DAG member
	Hub    bool   `json:"hub,omitempty"`    // a hub transport server whose queues were asked for
	// Services is Test-ServiceHealth: one entry per Exchange role of the server.
	Services []RoleServices `json:"services,omitempty"`
	// TransportQueue is the messages in the server's queues, shadow redundancy queues
	// left out (nil: not read).
	TransportQueue *int          `json:"transport_queue,omitempty"`
	Checks         []ServerCheck `json:"checks,omitempty"`
	Ignored        bool          `json:"ignored,omitempty"`
}

// RoleServices is one Test-ServiceHealth row.
type RoleServices struct {
	Role                    string   `json:"role"`
	RequiredServicesRunning bool     `json:"required_services_running"`
	ServicesNotRunning      []string `json:"services_not_running,omitempty"`
}

// ServerCheck is one cell of the server checks, judged as Test-ExchangeServerHealth.ps1
// judges it.
type ServerCheck struct {
	Name string `json:"name"` // one of the Check* names
	// Result is Pass, Warn or Fail; "" when the check could not run (Error says why).
	Result string `json:"result,omitempty"`
	Value  string `json:"value,omitempty"` // what the result is about: "85", "MSExchangeIS", "MB02"
	Error  string `json:"error,omitempty"`
}

// The server checks, in the order the report shows them.
const (
	CheckServices       = "Services"
	CheckMounted        = "Mailbox databases mounted"
	CheckPublicFolders  = "Public folder databases mounted"
	CheckMAPI           = "MAPI connectivity"
	CheckTransportQueue = "Transport queue"
)

// serverChecks pairs each server check with the section its read fills.
var serverChecks = []struct{ name, section string }{
	{CheckServices, commands.SectionServices},
	{CheckMounted, commands.SectionMounted},
	{CheckPublicFolders, commands.SectionPublicFolders},
	{CheckMAPI, commands.SectionMAPI},
	{CheckTransportQueue, commands.SectionQueues},
}

// PublicFolderDatabase is one public folder database's mount status.
type PublicFolderDatabase struct {
	Name    string `json:"name"`
	Server  string `json:"server"`
	Mounted bool   `json:"mounted"`
}

// Transport queue thresholds of Test-ExchangeServerHealth.ps1: more than
// TransportQueueWarn messages (shadow redundancy queues left out) is a warning,
// TransportQueueFail or more a failure.
const (
	TransportQueueWarn = 80
	TransportQueueFail = 100
)

// Reason is one finding behind a verdict.
type Reason struct {
	Level Verdict `json:"level"`
	Text  string  `json:"text"`
}

// DAGStatus is Get-DatabaseAvailabilityGroup -Status.
type DAGStatus struct {
	Servers              []string `json:"servers,omitempty"`
	OperationalServers   []string `json:"operational_servers,omitempty"`
	PrimaryActiveManager string   `json:"primary_active_manager,omitempty"`
	WitnessServer        string   `json:"witness_server,omitempty"`
	WitnessDirectory     string   `json:"witness_directory,omitempty"`
	WitnessShareInUse    string   `json:"witness_share_in_use,omitempty"`
}

// DatabaseSummary is one database's line in the report.
type DatabaseSummary struct {
	Name        string `json:"name"`
	MountedOn   string `json:"mounted_on,omitempty"` // "" when no copy is Mounted
	Preferred   string `json:"preferred,omitempty"`  // the activation preference 1 server
	OnPreferred bool   `json:"on_preferred"`
	Copies      int    `json:"copies"`
	Healthy     int    `json:"healthy"`   // Mounted or Healthy, with queues below the thresholds
	Unhealthy   int    `json:"unhealthy"` // the others
	// Lagged counts the lagged copies: their long replay queues and suspended
	// activation are on purpose, so they are counted here rather than as unhealthy
	// (Get-DAGHealth.ps1's lagged queues).
	Lagged      int `json:"lagged,omitempty"`
	CopyQueue   int `json:"copy_queue"`
	ReplayQueue int `json:"replay_queue"`
	// ContentIndex is Healthy when every copy's is, else the first other state.
	ContentIndex string  `json:"content_index,omitempty"`
	Verdict      Verdict `json:"verdict"`
	Ignored      bool    `json:"ignored,omitempty"`
	// Mounted is Get-MailboxDatabase -Status's Mounted (nil: not read).
	Mounted *bool `json:"mounted,omitempty"`
	// The scripts' queue and index counts: a copy's queues are healthy when both are
	// under the thresholds and it is not lagged (a lagged copy's count as lagged; a
	// copy queue over the threshold is unhealthy on a lagged copy too); an index is
	// healthy when Healthy or Disabled.
	HealthyQueues    int `json:"healthy_queues,omitempty"`
	UnhealthyQueues  int `json:"unhealthy_queues,omitempty"`
	HealthyIndexes   int `json:"healthy_indexes,omitempty"`
	UnhealthyIndexes int `json:"unhealthy_indexes,omitempty"`
	// MAPI is Test-MapiConnectivity's result for the database (Success, Failure; ""
	// when not run: health.mapi_connectivity is off, or its server was not read).
	MAPI string `json:"mapi,omitempty"`
}

// CopyDetail is one database copy.
type CopyDetail struct {
	Database            string    `json:"database"`
	Server              string    `json:"server"`
	Preference          int       `json:"preference,omitempty"`
	Status              string    `json:"status"`
	Active              bool      `json:"active"`
	ActivationSuspended bool      `json:"activation_suspended,omitempty"`
	CopyQueue           int       `json:"copy_queue"`
	ReplayQueue         int       `json:"replay_queue"`
	Lag                 string    `json:"lag,omitempty"`            // replay lag time; "" for a copy that is not lagged
	TruncationLag       string    `json:"truncation_lag,omitempty"` // truncation lag time; "" for none
	ContentIndex        string    `json:"content_index,omitempty"`
	LastInspected       time.Time `json:"last_inspected,omitzero"`
	Error               string    `json:"error,omitempty"`
	Healthy             bool      `json:"healthy"`
	Ignored             bool      `json:"ignored,omitempty"`
}

// Lagged reports whether the copy has a replay or truncation lag: such a copy keeps
// logs back and its activation suspended on purpose, for point-in-time recovery.
func (c CopyDetail) Lagged() bool { return c.Lag != "" || c.TruncationLag != "" }

// Name is the copy's identity, DATABASE\SERVER.
func (c CopyDetail) Name() string { return c.Database + `\` + c.Server }

// MemberHealth is one DAG member's row of the Test-ReplicationHealth grid.
type MemberHealth struct {
	Server      string  `json:"server"`
	Operational bool    `json:"operational"`
	Read        bool    `json:"read"` // its own read succeeded
	Checks      []Check `json:"checks,omitempty"`
	Ignored     bool    `json:"ignored,omitempty"`
}

// Check is one Test-ReplicationHealth row.
type Check struct {
	Name string `json:"name"`
	// Result is the enum member, the same in every language: Passed, Warning,
	// Failed, Undefined ("" when the server sent none).
	Result string `json:"result"`
	// Shown is the server's text of the result when it differs ("*FAILED*", or a
	// translation): what an administrator sees in the console.
	Shown string `json:"shown,omitempty"`
	Error string `json:"error,omitempty"`
}

// Network is one DAG network.
type Network struct {
	Name        string   `json:"name"`
	Subnets     []string `json:"subnets,omitempty"`    // "10.0.0.0/24 Up"
	Interfaces  []string `json:"interfaces,omitempty"` // "EX10-MB01 Up 10.0.0.11"
	MAPI        bool     `json:"mapi"`
	Replication bool     `json:"replication"`
	Up          bool     `json:"up"` // every subnet and interface is Up
}

// Collect reads a DAG's health: one step per server, all at the same time, each of
// independent reads the runner runs at once in the server's session (the steps of the
// `health <dag>` command): on each mailbox server Test-ReplicationHealth and the copies
// there, read on the server itself because credentials do not hop, and its server
// checks (services, mount status, MAPI); on each hub transport server its transport
// queues; and on the management server the DAG's status, networks and databases. Every
// read is tolerated (commands.TolerateFailures): one that fails fails alone. A read
// that fails does not fail the report: a failed DAG or member read is listed in Errors
// and makes the verdict a failure; a failed server check is shown as not run, a warning
// (as Test-ExchangeServerHealth.ps1 has it). Collect's own error is for what no report
// can be made of (a DAG name that is not one, a configuration without mailbox
// servers).
//
// clk dates the report (its At): the scheduler's and the drill's injected clock, so a
// report's time is the time of the runs it sits between.
func Collect(ctx context.Context, r Runner, env commands.Env, dag string, th Thresholds, clk clock.Clock) (*Report, error) {
	if dag == "" {
		return nil, fmt.Errorf("schedules: a health report needs a DAG name")
	}
	inv, err := commands.Health(dag)
	if err != nil {
		return nil, err
	}
	p, err := inv.Plan(env)
	if err != nil {
		return nil, err
	}
	dag = inv.Value("dag")
	dagStep, err := commands.DAGRead(env, dag)
	if err != nil {
		return nil, err
	}
	// One step per server: the DAG's reads join the management server's own step
	// when it has one (a hub's queues), so that they run at once in its session.
	steps := []commands.Step{dagStep}
	for _, s := range p.Steps {
		if th.ReplicationOnly {
			s.Calls = slices.DeleteFunc(slices.Clone(s.Calls), func(c commands.Call) bool { return !memberSections[c.Section] })
			if len(s.Calls) == 0 {
				continue
			}
			s.Script = commands.RenderCalls(s.Calls)
		}
		if commands.SameHost(s.Target, dagStep.Target) {
			steps[0].Calls = append(slices.Clone(steps[0].Calls), s.Calls...)
			steps[0].Script = commands.RenderCalls(steps[0].Calls)
			steps[0].Purpose += "; " + s.Purpose
			continue
		}
		steps = append(steps, s)
	}
	results := make([]*runners.Result, len(steps))
	errs := make([]error, len(steps))
	var wg sync.WaitGroup
	for i, s := range steps {
		wg.Go(func() {
			results[i], errs[i] = r.RunStep(ctx, s, nil)
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	rep := &Report{DAG: dag, At: clk.Now().UTC(), Thresholds: th}
	in := reads{memberRead: map[string]bool{}, configured: map[string]bool{}, server: map[string]map[string]*serverRead{}}
	for i, s := range steps {
		srv := strings.ToUpper(s.Target)
		var tables map[string][]map[string]string
		var failed map[string]error
		if errs[i] == nil && results[i] != nil {
			tables, failed = results[i].Tables(), results[i].Failed
		}
		// why is the failure of a group of sections: the step's, or the first of its
		// reads' in the step's order.
		why := func(group map[string]bool) error {
			if errs[i] != nil {
				return errs[i]
			}
			for _, c := range s.Calls {
				if group[c.Section] && failed[c.Section] != nil {
					return failed[c.Section]
				}
			}
			return nil
		}
		has := func(group map[string]bool) bool {
			return slices.ContainsFunc(s.Calls, func(c commands.Call) bool { return group[c.Section] })
		}
		if i == 0 {
			if err := why(dagSections); err != nil {
				rep.Errors = append(rep.Errors, rep.told(s.Target, err))
			} else {
				in.dagRows, in.nets, in.dbs = tables["dag"], tables["networks"], tables["databases"]
			}
		}
		if has(memberSections) {
			in.configured[srv] = true
			if err := why(memberSections); err != nil {
				rep.Errors = append(rep.Errors, rep.told(s.Target, err))
			} else {
				in.memberRead[srv] = true
				in.copies = append(in.copies, tables["copystatus"]...)
				in.checks = append(in.checks, tables["replicationhealth"]...)
			}
		}
		for _, c := range s.Calls {
			if dagSections[c.Section] || memberSections[c.Section] {
				continue
			}
			if in.server[srv] == nil {
				in.server[srv] = map[string]*serverRead{}
			}
			sr := &serverRead{rows: tables[c.Section]}
			if err := why(map[string]bool{c.Section: true}); err != nil {
				sr.err = rep.told(s.Target, err)
			}
			in.server[srv][c.Section] = sr
		}
	}
	build(rep, in)
	return rep, nil
}

// The sections of the DAG's read on the management server and of a member's
// replication read; every other section of the report's steps is a server check.
var (
	dagSections    = map[string]bool{"dag": true, "networks": true, "databases": true}
	memberSections = map[string]bool{"mailboxserver": true, "replicationhealth": true, "copystatus": true}
)

// reads is what Collect read, for build.
type reads struct {
	dagRows, nets, dbs, copies, checks []map[string]string
	memberRead                         map[string]bool // members whose replication read succeeded
	configured                         map[string]bool // members whose replication read was asked for
	server                             map[string]map[string]*serverRead
}

// serverRead is one server check's read: its rows, or why it failed.
type serverRead struct {
	rows []map[string]string
	err  string
}

// told is how a failed read is told in the report, which is posted to channels that
// viewers read too: the server and the kind of failure (runners.Redacted), never the
// endpoint, the account, its auth method or where its password comes from. The full
// message is kept for exchops' log (ReadErrors), where the administrators find it.
func (r *Report) told(server string, err error) string {
	r.readErrors = append(r.readErrors, withServer(server, err))
	return withServer(server, errors.New(runners.Redacted(err)))
}

// ReadErrors are the full messages of the reads that failed, for exchops' log: the
// report itself tells them redacted. They are not kept with the report.
func (r *Report) ReadErrors() []string { return r.readErrors }

func withServer(server string, err error) string {
	msg := err.Error()
	if len(msg) > len(server) && strings.EqualFold(msg[:len(server)], server) {
		return msg
	}
	return server + ": " + msg
}

// build fills the report from the reads and judges it.
func build(rep *Report, in reads) {
	dagRows, nets, dbs, copies, checks, memberRead := in.dagRows, in.nets, in.dbs, in.copies, in.checks, in.memberRead
	th := rep.Thresholds
	var j judge
	for _, e := range rep.Errors {
		j.add(Failure, "Could not read %s", e)
	}

	// The DAG.
	var d map[string]string
	for _, row := range dagRows {
		if strings.EqualFold(row["Name"], rep.DAG) {
			d = row
		}
	}
	if d != nil {
		rep.DAGStatus = DAGStatus{
			Servers:              upper(split(d["Servers"])),
			OperationalServers:   upper(split(d["OperationalServers"])),
			PrimaryActiveManager: strings.ToUpper(d["PrimaryActiveManager"]),
			WitnessServer:        d["WitnessServer"],
			WitnessDirectory:     d["WitnessDirectory"],
			WitnessShareInUse:    d["WitnessShareInUse"],
		}
	} else if len(rep.Errors) == 0 {
		j.add(Failure, "DAG %s was not found", rep.DAG)
	}
	st := rep.DAGStatus
	if d != nil {
		if len(st.Servers) == 0 {
			j.add(Warning, "DAG %s has no members", rep.DAG)
		}
		if st.PrimaryActiveManager == "" && len(st.Servers) > 0 {
			j.add(Failure, "DAG %s has no Primary Active Manager: its cluster may have lost quorum", rep.DAG)
		}
		// With an even number of members the cluster counts the witness's vote.
		if n := len(st.Servers); n > 0 && n%2 == 0 && !strings.EqualFold(st.WitnessShareInUse, "Primary") && !strings.EqualFold(st.WitnessShareInUse, "Alternate") {
			j.add(Warning, "The file share witness on %s is not in use (WitnessShareInUse %s) although DAG %s has an even number of members", orDash(st.WitnessServer), orDash(st.WitnessShareInUse), rep.DAG)
		}
	}

	// Members and the Test-ReplicationHealth grid.
	byServer := map[string]*MemberHealth{}
	for _, s := range st.Servers {
		m := &MemberHealth{Server: s, Operational: hasHost(st.OperationalServers, s), Ignored: th.ignored(s)}
		m.Read = memberRead[s]
		byServer[s] = m
	}
	for _, c := range checks {
		srv := strings.ToUpper(commands.ShortHost(c["Server"]))
		m := byServer[srv]
		if m == nil {
			// A member the DAG read did not list (that read failed): still show it.
			m = &MemberHealth{Server: srv, Operational: hasHost(st.OperationalServers, srv), Read: true, Ignored: th.ignored(srv)}
			byServer[srv] = m
		}
		ck := Check{Name: c["Check"], Result: c[commands.HealthResult], Error: c["Error"]}
		if shown := c["Result"]; shown != ck.Result {
			ck.Shown = shown
		}
		m.Checks = append(m.Checks, ck)
	}
	configured := in.configured
	var names []string
	for s := range byServer {
		names = append(names, s)
	}
	sortByDAGOrder(names, st.Servers)
	for _, s := range names {
		m := byServer[s]
		rep.Members = append(rep.Members, *m)
		if m.Ignored {
			continue
		}
		if d != nil && !m.Operational {
			j.add(Failure, "%s is not an operational server of %s (its cluster service is down or it cannot be reached)", s, rep.DAG)
		}
		if !configured[s] {
			j.add(Warning, "%s is a member of %s but not in exchange.servers: its replication health and copies were not read", s, rep.DAG)
			continue
		}
		if m.Read && len(m.Checks) == 0 {
			j.add(Warning, "%s reported no replication checks", s)
		}
		var failed []Check
		for _, c := range m.Checks {
			switch {
			case c.Passed():
			case strings.EqualFold(c.Result, "Failed"):
				failed = append(failed, c)
			default:
				j.add(Warning, "%s: replication check %s is %s%s", s, c.Name, orDash(c.Result), colon(c.Error))
			}
		}
		// A member whose services are down fails every check with the same few
		// errors: one reason says it, the grid shows which.
		if len(failed) > 3 {
			var names []string
			for _, c := range failed {
				names = append(names, c.Name)
			}
			j.add(Failure, "%s: %d of %d replication checks failed (%s)%s", s, len(failed), len(m.Checks), strings.Join(names, ", "), colon(failed[0].Error))
		} else {
			for _, c := range failed {
				j.add(Failure, "%s: replication check %s failed%s", s, c.Name, colon(c.Error))
			}
		}
	}

	// Networks: anything but Up is worth a warning.
	for _, n := range nets {
		net := Network{Name: n["Name"], MAPI: isTrue(n["MapiAccessEnabled"]), Replication: isTrue(n["ReplicationEnabled"]), Up: true}
		var bad []string
		for _, e := range split(n["Subnets"]) {
			f := fields(e)
			net.Subnets = append(net.Subnets, strings.Join(f, " "))
			if len(f) >= 2 && !strings.EqualFold(f[1], "Up") {
				net.Up = false
				bad = append(bad, "subnet "+f[0]+" is "+f[1])
			}
		}
		for _, e := range split(n["Interfaces"]) {
			f := fields(e)
			net.Interfaces = append(net.Interfaces, strings.Join(f, " "))
			if len(f) >= 2 && !strings.EqualFold(f[1], "Up") {
				net.Up = false
				bad = append(bad, "the interface of "+f[0]+" is "+f[1])
			}
		}
		rep.Networks = append(rep.Networks, net)
		if len(bad) > 0 {
			j.add(Warning, "DAG network %s: %s", net.Name, strings.Join(bad, ", "))
		}
	}

	// Copies, with preferences and lag from the databases.
	prefs := map[string]map[string]int{}
	lags := map[string]map[string]string{}
	truncs := map[string]map[string]string{}
	dbServers := map[string][]string{}
	var dbNames []string
	for _, db := range dbs {
		name := db["Name"]
		dbNames = append(dbNames, name)
		prefs[name] = pairs(db["ActivationPreference"], func(v string) (int, bool) {
			n, err := strconv.Atoi(v)
			return n, err == nil
		})
		lags[name] = pairs(db["ReplayLagTimes"], func(v string) (string, bool) { return v, commands.IsLag(v) })
		truncs[name] = pairs(db["TruncationLagTimes"], func(v string) (string, bool) { return v, commands.IsLag(v) })
		dbServers[name] = upper(split(db["Servers"]))
	}
	seen := map[string]bool{}
	for _, c := range copies {
		cd := CopyDetail{
			Database:            c["DatabaseName"],
			Server:              strings.ToUpper(commands.ShortHost(c["MailboxServer"])),
			Status:              c["Status"],
			Active:              isTrue(c["ActiveCopy"]),
			ActivationSuspended: isTrue(c["ActivationSuspended"]),
			CopyQueue:           atoi(c["CopyQueueLength"]),
			ReplayQueue:         atoi(c["ReplayQueueLength"]),
			ContentIndex:        c["ContentIndexState"],
			Error:               c["ErrorMessage"],
		}
		if dbs != nil && prefs[cd.Database] == nil {
			continue // a database of another DAG with a copy on a member
		}
		if seen[cd.Name()] {
			continue
		}
		seen[cd.Name()] = true
		if t, err := time.Parse(time.RFC3339Nano, c["LastInspectedLogTime"]); err == nil {
			cd.LastInspected = t.UTC()
		}
		cd.Preference = lookup(prefs[cd.Database], cd.Server)
		cd.Lag = lookup(lags[cd.Database], cd.Server)
		cd.TruncationLag = lookup(truncs[cd.Database], cd.Server)
		rep.Copies = append(rep.Copies, cd)
		if dbServers[cd.Database] == nil && !slices.Contains(dbNames, cd.Database) {
			dbNames = append(dbNames, cd.Database) // the databases read failed
		}
	}
	// A copy the databases list but no member read reported (its server could not be
	// read, or is not configured) counts as unknown, not as missing.
	for _, db := range dbNames {
		for _, s := range dbServers[db] {
			if !seen[db+`\`+s] {
				rep.Copies = append(rep.Copies, CopyDetail{Database: db, Server: s, Status: "Unknown",
					Preference: lookup(prefs[db], s), Lag: lookup(lags[db], s), TruncationLag: lookup(truncs[db], s),
					Error: "not read: " + s + " did not report its copies"})
			}
		}
	}
	sort.SliceStable(rep.Copies, func(a, b int) bool {
		x, y := rep.Copies[a], rep.Copies[b]
		if x.Database != y.Database {
			return x.Database < y.Database
		}
		if x.Preference != y.Preference {
			return x.Preference < y.Preference
		}
		return x.Server < y.Server
	})
	for i := range rep.Copies {
		c := &rep.Copies[i]
		c.Ignored = th.ignored(c.Database, c.Server)
		c.Healthy = copyHealthy(*c, th)
		if c.Ignored {
			continue
		}
		switch statusClass(c.Status) {
		case Failure:
			j.add(Failure, "Copy %s is %s%s", c.Name(), c.Status, colon(c.Error))
		case Warning:
			j.add(Warning, "Copy %s is %s%s", c.Name(), c.Status, colon(c.Error))
		}
	}

	// Mount status, from each member's Get-MailboxDatabase -Status.
	mounted := map[string]bool{}
	mountedOn := map[string]string{}
	for _, sec := range in.server {
		if r := sec[commands.SectionMounted]; r != nil {
			for _, row := range r.rows {
				if isTrue(row["Recovery"]) || strings.TrimSpace(row["Mounted"]) == "" {
					continue
				}
				mounted[strings.ToUpper(row["Name"])] = isTrue(row["Mounted"])
				mountedOn[strings.ToUpper(row["Name"])] = strings.ToUpper(commands.ShortHost(row["MountedOnServer"]))
			}
		}
	}
	mapi := map[string]string{}
	for _, sec := range in.server {
		if r := sec[commands.SectionMAPI]; r != nil {
			for _, row := range r.rows {
				mapi[strings.ToUpper(row["Database"])] = row[commands.HealthResult]
			}
		}
	}

	// Databases.
	sort.Strings(dbNames)
	for _, name := range dbNames {
		s := DatabaseSummary{Name: name, ContentIndex: "Healthy", Ignored: th.ignored(name), Verdict: OK}
		for srv, n := range prefs[name] {
			if n == 1 {
				s.Preferred = srv
			}
		}
		unread := false
		for _, c := range rep.Copies {
			if c.Database != name {
				continue
			}
			unread = unread || c.Status == "Unknown" && strings.HasPrefix(c.Error, "not read")
			s.Copies++
			if strings.EqualFold(c.Status, "Mounted") {
				s.MountedOn = c.Server
			}
			if c.Healthy {
				s.Healthy++
			} else {
				s.Unhealthy++
			}
			s.CopyQueue = max(s.CopyQueue, c.CopyQueue)
			if c.Lagged() {
				s.Lagged++
			} else {
				s.ReplayQueue = max(s.ReplayQueue, c.ReplayQueue)
			}
			if c.ContentIndex != "" && !strings.EqualFold(c.ContentIndex, "Healthy") && strings.EqualFold(s.ContentIndex, "Healthy") {
				s.ContentIndex = c.ContentIndex
			}
		}
		s.OnPreferred = s.MountedOn != "" && commands.SameHost(s.MountedOn, s.Preferred)
		if m, ok := mounted[strings.ToUpper(name)]; ok {
			s.Mounted = &m
		}
		s.MAPI = mapi[strings.ToUpper(name)]
		var dj judge
		notMounted := s.Mounted != nil && !*s.Mounted
		switch {
		case s.MountedOn == "" && unread && s.Mounted != nil && *s.Mounted:
			// Its active copy's server could not be read, but another member's
			// Get-MailboxDatabase -Status says it is mounted: unknown where, a warning
			// (Get-DAGHealth.ps1's "Mounted on: Unknown").
			dj.add(Warning, "Database %s is mounted on %s (Get-MailboxDatabase -Status), whose copy status could not be read", name, orDash(mountedOn[strings.ToUpper(name)]))
		case s.MountedOn == "" && s.Mounted != nil && *s.Mounted:
			// Its active copy was read, but not as Mounted (ServiceDown while the
			// replication service is stopped): the store still has it mounted. The
			// copy's own state is judged with the copies.
			dj.add(Warning, "Database %s is mounted on %s (Get-MailboxDatabase -Status), but no copy status says so", name, orDash(mountedOn[strings.ToUpper(name)]))
		case s.MountedOn == "" && unread && !notMounted:
			dj.add(Failure, "Database %s is not mounted on any server that could be read", name)
		case s.MountedOn == "" || notMounted:
			on := ""
			if srv := mountedOn[strings.ToUpper(name)]; notMounted && srv != "" {
				on = " (Get-MailboxDatabase -Status: Mounted False, its active copy on " + srv + ")"
			}
			dj.add(Failure, "Database %s is not mounted on any server%s", name, on)
		case s.Preferred != "" && !s.OnPreferred:
			dj.add(Warning, "Database %s is mounted on %s, not on its preference-1 server %s", name, s.MountedOn, s.Preferred)
		}
		if s.MAPI != "" && !strings.EqualFold(s.MAPI, "Success") {
			dj.add(Failure, "Database %s: the MAPI logon to its system mailbox failed (Test-MapiConnectivity: %s)", name, s.MAPI)
		}
		// Copies, queues and indexes, counted as Get-DAGHealth.ps1 counts them.
		var badStatus, badQueues, badIndexes []string
		statusOK, indexed := 0, 0
		for _, c := range rep.Copies {
			if c.Database != name {
				continue
			}
			if st := strings.ToLower(c.Status); st == "mounted" || st == "healthy" {
				statusOK++
			} else {
				badStatus = append(badStatus, c.Name())
			}
			switch {
			case c.CopyQueue >= th.copyLimit():
				s.UnhealthyQueues++
				badQueues = append(badQueues, fmt.Sprintf("%s: copy queue %d", c.Name(), c.CopyQueue))
			case !c.Lagged() && c.ReplayQueue >= th.replayLimit():
				s.UnhealthyQueues++
				badQueues = append(badQueues, fmt.Sprintf("%s: replay queue %d", c.Name(), c.ReplayQueue))
			case !c.Lagged():
				s.HealthyQueues++
			}
			if c.ContentIndex == "" { // not read
				continue
			}
			indexed++
			if commands.IndexUsable(c.ContentIndex) {
				s.HealthyIndexes++
			} else {
				s.UnhealthyIndexes++
				badIndexes = append(badIndexes, c.Name()+" is "+c.ContentIndex)
			}
		}
		switch {
		case s.Copies > 0 && statusOK == 0:
			dj.add(Failure, "Database %s has no healthy copy", name)
		case len(badStatus) == 1:
			dj.add(Warning, "Database %s has 1 unhealthy copy (%s)", name, badStatus[0])
		case len(badStatus) >= 2:
			dj.add(Failure, "Database %s has %d unhealthy copies (%s)", name, len(badStatus), strings.Join(badStatus, ", "))
		}
		// Healthy and lagged queues should account for every copy: with none healthy
		// it is a failure, else a warning (so is a lagged copy whose copy queue is
		// over the threshold).
		if s.UnhealthyQueues > 0 {
			level := Warning
			if s.HealthyQueues == 0 {
				level = Failure
			}
			dj.add(level, "Database %s has %d of %d copies with unhealthy queues (%s; %d or more logs is unhealthy)", name, s.UnhealthyQueues, s.Copies,
				strings.Join(badQueues, ", "), min(th.copyLimit(), th.replayLimit()))
		}
		switch {
		case indexed > 0 && s.HealthyIndexes == 0:
			dj.add(Failure, "Database %s has no healthy content index (%s)", name, strings.Join(badIndexes, ", "))
		case s.UnhealthyIndexes > 0:
			dj.add(Warning, "Database %s has %d of %d content indexes unhealthy (%s)", name, s.UnhealthyIndexes, indexed, strings.Join(badIndexes, ", "))
		}
		s.Verdict = orOK(dj.verdict)
		rep.Databases = append(rep.Databases, s)
		if !s.Ignored {
			j.merge(dj)
		}
	}
	if d != nil && dbs != nil && len(dbNames) == 0 {
		j.add(Warning, "DAG %s holds no mailbox databases", rep.DAG)
	}
	buildServers(rep, in, dbNames, &j)
	rep.Verdict, rep.Reasons = j.verdict, j.sorted()
	if rep.Verdict == "" {
		rep.Verdict = OK
	}
}

// copyHealthy: Mounted or Healthy, with queues below the thresholds (the replay
// queue is not counted on a lagged copy, which holds logs back on purpose; nor is its
// suspended activation, which is what makes it safe).
func copyHealthy(c CopyDetail, th Thresholds) bool {
	st := strings.ToLower(c.Status)
	if st != "mounted" && st != "healthy" {
		return false
	}
	if c.CopyQueue >= th.copyLimit() {
		return false
	}
	return c.Lagged() || c.ReplayQueue < th.replayLimit()
}

// statusClass sorts copy states as EXCHANGE.md does; a state it does not list is a
// warning.
func statusClass(status string) Verdict {
	switch strings.ToLower(status) {
	case "mounted", "healthy":
		return OK
	case "failed", "failedandsuspended", "servicedown", "dismounted":
		return Failure
	}
	return Warning
}

// judge collects reasons; the verdict is the worst of them.
type judge struct {
	verdict Verdict
	reasons []Reason
}

func (j *judge) add(level Verdict, format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	text = strings.TrimRight(text, " ")
	if !strings.HasSuffix(text, ".") {
		text += "."
	}
	j.reasons = append(j.reasons, Reason{Level: level, Text: text})
	j.verdict = worse(orOK(j.verdict), level)
}

func (j *judge) merge(o judge) {
	for _, r := range o.reasons {
		j.reasons = append(j.reasons, r)
		j.verdict = worse(orOK(j.verdict), r.Level)
	}
}

// sorted returns the reasons failures first, in the order found within a level.
func (j *judge) sorted() []Reason {
	out := append([]Reason(nil), j.reasons...)
	sort.SliceStable(out, func(a, b int) bool { return out[a].Level.rank() > out[b].Level.rank() })
	return out
}

func orOK(v Verdict) Verdict {
	if v == "" {
		return OK
	}
	return v
}

// ---- reading the CSV values ----

func split(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ";") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func upper(list []string) []string {
	for i, s := range list {
		list[i] = strings.ToUpper(commands.ShortHost(s))
	}
	return list
}

func hasHost(list []string, s string) bool {
	for _, x := range list {
		if commands.SameHost(x, s) {
			return true
		}
	}
	return false
}

// fields splits a DAG network entry as printed, "{10.0.0.0/24,Up}" or
// "{EX10-MB01,Up,10.0.0.11}".
func fields(entry string) []string {
	var out []string
	for _, f := range strings.Split(strings.Trim(strings.TrimSpace(entry), "{}"), ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// pairs reads a multi-valued property of server -> value entries as Exchange 2010
// prints them, "[EX10-MB01, 1];[EX10-MB02, 2]", keeping the values keep accepts.
func pairs[T any](v string, keep func(string) (T, bool)) map[string]T {
	out := map[string]T{}
	for _, item := range split(v) {
		item = strings.Trim(item, "[] ")
		i := strings.LastIndexByte(item, ',')
		if i < 0 {
			continue
		}
		if x, ok := keep(strings.TrimSpace(item[i+1:])); ok {
			out[strings.ToUpper(commands.ShortHost(item[:i]))] = x
		}
	}
	return out
}

func lookup[T any](m map[string]T, server string) T {
	for s, v := range m {
		if commands.SameHost(s, server) {
			return v
		}
	}
	var zero T
	return zero
}

func isTrue(s string) bool { return strings.EqualFold(strings.TrimSpace(s), "true") }

func atoi(s string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(s))
	return n
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func colon(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	return ": " + strings.TrimRight(s, ".")
}

// sortByDAGOrder sorts names in the order the DAG lists its members, then the rest
// alphabetically.
func sortByDAGOrder(names, order []string) {
	pos := func(s string) int {
		for i, o := range order {
			if commands.SameHost(o, s) {
				return i
			}
		}
		return len(order)
	}
	sort.SliceStable(names, func(a, b int) bool {
		pa, pb := pos(names[a]), pos(names[b])
		if pa != pb {
			return pa < pb
		}
		return names[a] < names[b]
	})
}
