package schedules

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/exchops/exchops/commands"
)

// buildServers fills the server checks (Report.Servers, Report.PublicFolders) from
// the reads of each member and hub transport server, and judges them as
// Test-ExchangeServerHealth.ps1 does: a role whose required services are not all
// running, a dismounted mailbox or public folder database, or a failed MAPI logon is
// a failure; a transport queue (shadow redundancy queues left out) of more than
// TransportQueueWarn messages a warning and of TransportQueueFail or more a failure;
// a check that could not run a warning, so that it is never a silent pass.
// Databases are judged with the DAG's (build); here they are counted per server.
func buildServers(rep *Report, in reads, dbNames []string, j *judge) {
	if len(in.server) == 0 {
		return
	}
	th := rep.Thresholds
	inDAG := map[string]bool{}
	for _, db := range dbNames {
		inDAG[strings.ToUpper(db)] = true
	}
	members := map[string]bool{}
	for _, m := range rep.DAGStatus.Servers {
		members[m] = true
	}
	if len(members) == 0 { // the DAG read failed: the configured members stand in
		for s := range in.configured {
			members[s] = true
		}
	}
	var names []string
	for s := range in.server {
		names = append(names, s)
	}
	sortByDAGOrder(names, rep.DAGStatus.Servers)
	// A server whose replication read failed has a failure saying why; its server
	// checks that failed with it are shown as not run without another reason.
	readFailed := map[string]bool{}
	for _, e := range rep.Errors {
		if i := strings.Index(e, ":"); i > 0 {
			readFailed[strings.ToUpper(strings.TrimSpace(e[:i]))] = true
		}
	}

	for _, name := range names {
		sec := in.server[name]
		sh := ServerHealth{Server: name, Member: members[name], Hub: sec[commands.SectionQueues] != nil, Ignored: th.ignored(name)}
		if !sh.Member && !sh.Hub {
			continue // a configured mailbox server outside this DAG
		}
		var sj judge
		var notRun []string
		for _, ck := range serverChecks {
			r := sec[ck.section]
			if r == nil || (ck.section != commands.SectionQueues && !sh.Member) {
				continue
			}
			c := ServerCheck{Name: ck.name}
			if r.err != "" {
				c.Error = r.err
				sh.Checks = append(sh.Checks, c)
				notRun = append(notRun, strings.ToLower(ck.name))
				continue
			}
			switch ck.section {
			case commands.SectionServices:
				c.Result = "Pass"
				var stopped []string
				for _, row := range r.rows {
					rs := RoleServices{Role: row["Role"], RequiredServicesRunning: isTrue(row["RequiredServicesRunning"]), ServicesNotRunning: split(row["ServicesNotRunning"])}
					sh.Services = append(sh.Services, rs)
					if !rs.RequiredServicesRunning {
						c.Result = "Fail"
						stopped = append(stopped, rs.ServicesNotRunning...)
						sj.add(Failure, "%s: %s: required services are not running%s", name, orDash(rs.Role), colon(strings.Join(rs.ServicesNotRunning, ", ")))
					}
				}
				c.Value = strings.Join(stopped, ", ")
				if len(r.rows) == 0 {
					c.Result = "Warn"
					sj.add(Warning, "%s: Test-ServiceHealth reported no server role", name)
				}
			case commands.SectionMounted:
				c.Result = "Pass"
				var down []string
				for _, row := range r.rows {
					if !inDAG[strings.ToUpper(row["Name"])] || isTrue(row["Recovery"]) {
						continue
					}
					if !isTrue(row["Mounted"]) {
						down = append(down, row["Name"])
					}
				}
				if len(down) > 0 {
					// The databases themselves are judged with the DAG's.
					c.Result, c.Value = "Fail", strings.Join(down, ", ")
				}
			case commands.SectionPublicFolders:
				if len(r.rows) == 0 {
					c.Result = "n/a"
					break
				}
				c.Result = "Pass"
				var down []string
				for _, row := range r.rows {
					pf := PublicFolderDatabase{Name: row["Name"], Server: strings.ToUpper(commands.ShortHost(row["Server"])), Mounted: isTrue(row["Mounted"])}
					if pf.Server == "" {
						pf.Server = name
					}
					rep.PublicFolders = append(rep.PublicFolders, pf)
					if !pf.Mounted {
						down = append(down, pf.Name)
						sj.add(Failure, "Public folder database %s on %s is not mounted", pf.Name, pf.Server)
					}
				}
				if len(down) > 0 {
					c.Result, c.Value = "Fail", strings.Join(down, ", ")
				}
			case commands.SectionMAPI:
				if len(r.rows) == 0 {
					c.Result = "n/a" // no database active there
					break
				}
				c.Result = "Pass"
				var failed []string
				for _, row := range r.rows {
					if !strings.EqualFold(row[commands.HealthResult], "Success") {
						failed = append(failed, row["Database"])
					}
				}
				if len(failed) > 0 {
					// The databases themselves are judged with the DAG's.
					c.Result, c.Value = "Fail", strings.Join(failed, ", ")
				}
			case commands.SectionQueues:
				n, counted := 0, 0
				for _, row := range r.rows {
					if strings.EqualFold(row["DeliveryType"], "ShadowRedundancy") {
						continue
					}
					counted++
					n += atoi(row["MessageCount"])
				}
				if counted == 0 {
					// A hub always has its submission queue: no queue at all is
					// unknown, as the script has it, not an empty queue.
					c.Result = "Warn"
					c.Value = "unknown"
					sj.add(Warning, "%s: Get-Queue returned no queue besides shadow redundancy ones: its transport queue is unknown", name)
					break
				}
				sh.TransportQueue = &n
				c.Value = strconv.Itoa(n)
				switch {
				case n >= TransportQueueFail:
					c.Result = "Fail"
					sj.add(Failure, "%s: %d messages in its transport queues (%d or more is a failure)", name, n, TransportQueueFail)
				case n > TransportQueueWarn:
					c.Result = "Warn"
					sj.add(Warning, "%s: %d messages in its transport queues (more than %d is a warning)", name, n, TransportQueueWarn)
				default:
					c.Result = "Pass"
				}
			}
			sh.Checks = append(sh.Checks, c)
		}
		if len(notRun) > 0 && !readFailed[name] {
			sj.add(Warning, "%s: could not check %s%s", name, strings.Join(notRun, ", "), colon(firstError(sh.Checks)))
		}
		rep.Servers = append(rep.Servers, sh)
		if !sh.Ignored {
			j.merge(sj)
		}
	}
	sort.SliceStable(rep.PublicFolders, func(a, b int) bool { return rep.PublicFolders[a].Name < rep.PublicFolders[b].Name })
}

// firstError is the first check's error, without the server name it starts with.
func firstError(cs []ServerCheck) string {
	for _, c := range cs {
		if c.Error != "" {
			if i := strings.Index(c.Error, ": "); i > 0 && !strings.Contains(c.Error[:i], " ") {
				return c.Error[i+2:]
			}
			return c.Error
		}
	}
	return ""
}

// cell is a server check's text in the report's grid: "Pass", "Warn (85)", "not run".
func (c ServerCheck) cell() string {
	switch {
	case c.Error != "":
		return "not run"
	case c.Value != "":
		return fmt.Sprintf("%s (%s)", c.Result, c.Value)
	}
	return orDash(c.Result)
}
