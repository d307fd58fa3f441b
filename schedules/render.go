package schedules

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/exchops/exchops/internal/report"
)

// Text renders the report for the console and as the file attached in chat: the
// verdict first with its reasons, then the tables (in code fences, so that they keep
// their columns aligned): databases, copies, the Test-ReplicationHealth grid and the
// DAG networks. It is Doc's plain rendering.
func (r *Report) Text() string { return r.Doc().Text() }

// Doc is the report as data, for each chat front to render its own way: the verdict
// first with its reasons, then the DAG, the tables and the notes under them.
func (r *Report) Doc() *report.Report {
	d := &report.Report{Title: r.DAG + " replication health", Verdict: string(r.Verdict)}
	head := report.Block{Lines: []string{fmt.Sprintf("%s · %s · %s, %s", stamp(r.At), plural(len(r.Members), "member"),
		plural(len(r.Databases), "database"), plural(len(r.Copies), "copy"))}}
	if r.Schedule != "" {
		head.Lines = append(head.Lines, "Schedule "+r.Schedule)
	}
	d.Blocks = append(d.Blocks, head)
	if len(r.Reasons) == 0 {
		b := report.Block{Lines: []string{"Every member is operational, every replication check passed, every DAG network is Up and every copy is healthy."}}
		if len(r.Servers) > 0 {
			b.Lines = append(b.Lines, "Every server check passed: required services running, databases mounted, transport queues short.")
		}
		d.Blocks = append(d.Blocks, b)
	}
	for _, level := range []Verdict{Failure, Warning} {
		var lines []string
		for _, x := range r.Reasons {
			if x.Level == level {
				lines = append(lines, x.Text)
			}
		}
		if len(lines) == 0 {
			continue
		}
		title := "Failures"
		if level == Warning {
			title = "Warnings"
		}
		d.Blocks = append(d.Blocks, report.Block{Heading: title, Items: lines})
	}
	if len(r.Thresholds.Ignore) > 0 {
		d.Blocks = append(d.Blocks, report.Block{Lines: []string{"Ignored (shown, not judged): " + strings.Join(r.Thresholds.Ignore, ", ")}})
	}

	st := r.DAGStatus
	var members []string
	for _, m := range st.Servers {
		if hasHost(st.OperationalServers, m) {
			members = append(members, m)
		} else {
			members = append(members, m+" (not operational)")
		}
	}
	witness := orDash(st.WitnessServer)
	if st.WitnessDirectory != "" {
		witness += " " + st.WitnessDirectory
	}
	d.Blocks = append(d.Blocks, report.Block{Heading: "DAG", Items: []string{
		"Members: " + orDash(strings.Join(members, ", ")),
		"Primary Active Manager: " + orDash(st.PrimaryActiveManager),
		fmt.Sprintf("Witness: %s (in use: %s)", witness, orDash(st.WitnessShareInUse)),
	}})
	if len(r.Databases) > 0 {
		// Get-DAGHealth.ps1's summary: copies, then queues (healthy, unhealthy,
		// lagged), then content indexes.
		rows := [][]string{{"Database", "Mounted on", "Preference 1", "Copies", "Healthy", "Unhealthy", "Queues ok", "Queues bad", "Lagged", "Indexes ok", "Indexes bad", "MAPI", "Verdict"}}
		for _, d := range r.Databases {
			pref := orDash(d.Preferred)
			if d.Preferred != "" && d.MountedOn != "" && !d.OnPreferred {
				pref += " (not on it)"
			}
			on := orDash(d.MountedOn)
			if d.Mounted != nil && !*d.Mounted {
				on = "not mounted"
			}
			rows = append(rows, []string{d.Name, on, pref, strconv.Itoa(d.Copies), strconv.Itoa(d.Healthy),
				strconv.Itoa(d.Unhealthy), strconv.Itoa(d.HealthyQueues), strconv.Itoa(d.UnhealthyQueues), strconv.Itoa(d.Lagged),
				strconv.Itoa(d.HealthyIndexes), strconv.Itoa(d.UnhealthyIndexes), orDash(d.MAPI), verdictCell(d.Verdict, d.Ignored)})
		}
		d.Blocks = append(d.Blocks, report.Block{Heading: "Databases", Table: rows})
	}
	if len(r.Copies) > 0 {
		rows := [][]string{{"Copy", "Preference", "Status", "Copy queue", "Replay queue", "Lag", "Content index", "Healthy"}}
		var errs []string
		for _, c := range r.Copies {
			pref := "-"
			if c.Preference > 0 {
				pref = strconv.Itoa(c.Preference)
			}
			status := c.Status
			if c.ActivationSuspended {
				status += " (activation suspended)"
			}
			healthy := "yes"
			if !c.Healthy {
				healthy = "NO"
			}
			if c.Ignored {
				healthy += " (ignored)"
			}
			rows = append(rows, []string{c.Name(), pref, orDash(status), strconv.Itoa(c.CopyQueue), strconv.Itoa(c.ReplayQueue),
				lagText(c), orDash(c.ContentIndex), healthy})
			if c.Error != "" {
				errs = append(errs, c.Name()+": "+c.Error)
			}
		}
		d.Blocks = append(d.Blocks, report.Block{Heading: "Copies", Table: rows, Items: errs})
	}
	if len(r.Members) > 0 {
		header := []string{"Check"}
		var order []string
		results := map[string]map[string]string{}
		for _, m := range r.Members {
			col := m.Server
			if m.Ignored {
				col += " (ignored)"
			}
			header = append(header, col)
			for _, c := range m.Checks {
				if results[c.Name] == nil {
					results[c.Name] = map[string]string{}
					order = append(order, c.Name)
				}
				results[c.Name][m.Server] = c.Result
			}
		}
		rows := [][]string{header}
		for _, name := range order {
			row := []string{name}
			for _, m := range r.Members {
				v, ok := results[name][m.Server]
				switch {
				case ok:
					row = append(row, orDash(v))
				case !m.Read:
					row = append(row, "not read")
				default:
					row = append(row, "-")
				}
			}
			rows = append(rows, row)
		}
		if len(order) == 0 {
			row := []string{"(none)"}
			for _, m := range r.Members {
				if m.Read {
					row = append(row, "-")
				} else {
					row = append(row, "not read")
				}
			}
			rows = append(rows, row)
		}
		d.Blocks = append(d.Blocks, report.Block{Heading: "Replication checks (Test-ReplicationHealth)", Table: rows})
	}
	if len(r.Servers) > 0 {
		d.Blocks = append(d.Blocks, serverGrid(r))
	}
	if len(r.Networks) > 0 {
		rows := [][]string{{"Network", "Subnets", "Interfaces", "MAPI", "Replication"}}
		for _, n := range r.Networks {
			rows = append(rows, []string{n.Name, orDash(strings.Join(n.Subnets, ", ")), orDash(strings.Join(n.Interfaces, ", ")), yesNo(n.MAPI), yesNo(n.Replication)})
		}
		d.Blocks = append(d.Blocks, report.Block{Heading: "DAG networks", Table: rows})
	}
	// r.Errors are among the failures above.
	return d
}

func verdictCell(v Verdict, ignored bool) string {
	s := string(v)
	if ignored {
		s += " (ignored)"
	}
	return s
}

// section writes a titled table in a code fence.
func section(b *strings.Builder, title string, rows [][]string) {
	fmt.Fprintf(b, "\n%s:\n```\n", title)
	table(b, rows)
	b.WriteString("```\n")
}

// table writes rows (the first is the header) with aligned columns.
func table(b *strings.Builder, rows [][]string) {
	for _, l := range report.Table(rows) {
		b.WriteString(l)
		b.WriteByte('\n')
	}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04 MST")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if strings.HasSuffix(word, "y") {
		return strconv.Itoa(n) + " " + strings.TrimSuffix(word, "y") + "ies"
	}
	return strconv.Itoa(n) + " " + word + "s"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// human prints a duration without the zero units Duration.String adds: 1m, 1m30s, 2h.
func human(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	d = d.Round(time.Second)
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// lagText is a copy's lags for the Lag column: "7.00:00:00", "truncation 1.00:00:00",
// or both; "-" for a copy that is not lagged.
func lagText(c CopyDetail) string {
	var parts []string
	if c.Lag != "" {
		parts = append(parts, c.Lag)
	}
	if c.TruncationLag != "" {
		parts = append(parts, "truncation "+c.TruncationLag)
	}
	return orDash(strings.Join(parts, ", "))
}

// serverGrid is the server checks: one column per server, one row per check, then
// what did not run and which services are stopped.
func serverGrid(r *Report) report.Block {
	header := []string{"Check"}
	for _, s := range r.Servers {
		col := s.Server
		if s.Ignored {
			col += " (ignored)"
		}
		header = append(header, col)
	}
	rows := [][]string{header}
	for _, ck := range serverChecks {
		row := []string{ck.name}
		any := false
		for _, s := range r.Servers {
			cell := "-"
			for _, c := range s.Checks {
				if c.Name == ck.name {
					cell, any = c.cell(), true
				}
			}
			row = append(row, cell)
		}
		if any {
			rows = append(rows, row)
		}
	}
	// Checks that did not run, by server, those that failed alike on one line.
	var notes []string
	for _, s := range r.Servers {
		var order []string
		byErr := map[string][]string{}
		for _, c := range s.Checks {
			if c.Error == "" {
				continue
			}
			e := strings.TrimPrefix(c.Error, s.Server+": ")
			if byErr[e] == nil {
				order = append(order, e)
			}
			byErr[e] = append(byErr[e], strings.ToLower(c.Name))
		}
		for _, e := range order {
			notes = append(notes, fmt.Sprintf("%s: %s not run: %s", s.Server, strings.Join(byErr[e], ", "), e))
		}
	}
	var items []string
	for _, s := range r.Servers {
		for _, rs := range s.Services {
			if !rs.RequiredServicesRunning {
				items = append(items, fmt.Sprintf("%s %s: not running: %s", s.Server, rs.Role, orDash(strings.Join(rs.ServicesNotRunning, ", "))))
			}
		}
	}
	for _, pf := range r.PublicFolders {
		state := "mounted"
		if !pf.Mounted {
			state = "NOT mounted"
		}
		items = append(items, fmt.Sprintf("Public folder database %s on %s: %s", pf.Name, pf.Server, state))
	}
	items = append(items, notes...)
	return report.Block{Heading: "Server checks (Test-ExchangeServerHealth.ps1)", Table: rows, Items: items}
}
