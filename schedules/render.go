package schedules

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Text renders the report for the console and as the fallback for chat: the verdict
// first with its reasons, then the tables (in code fences, so that chat keeps their
// columns aligned): databases, copies, the Test-ReplicationHealth grid and the DAG
// networks.
func (r *Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s replication health: %s\n", r.DAG, strings.ToUpper(string(r.Verdict)))
	fmt.Fprintf(&b, "%s · %s · %s, %s\n", stamp(r.At), plural(len(r.Members), "member"),
		plural(len(r.Databases), "database"), plural(len(r.Copies), "copy"))
	if r.Schedule != "" {
		fmt.Fprintf(&b, "Schedule %s\n", r.Schedule)
	}
	if len(r.Reasons) == 0 {
		b.WriteString("\nEvery member is operational, every replication check passed, every DAG network is Up and every copy is healthy.\n")
		if len(r.Servers) > 0 {
			b.WriteString("Every server check passed: required services running, databases mounted, transport queues short.\n")
		}
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
		fmt.Fprintf(&b, "\n%s:\n", title)
		for _, l := range lines {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	if len(r.Thresholds.Ignore) > 0 {
		fmt.Fprintf(&b, "\nIgnored (shown, not judged): %s\n", strings.Join(r.Thresholds.Ignore, ", "))
	}

	st := r.DAGStatus
	b.WriteString("\nDAG:\n")
	var members []string
	for _, m := range st.Servers {
		if hasHost(st.OperationalServers, m) {
			members = append(members, m)
		} else {
			members = append(members, m+" (not operational)")
		}
	}
	fmt.Fprintf(&b, "- Members: %s\n", orDash(strings.Join(members, ", ")))
	fmt.Fprintf(&b, "- Primary Active Manager: %s\n", orDash(st.PrimaryActiveManager))
	witness := orDash(st.WitnessServer)
	if st.WitnessDirectory != "" {
		witness += " " + st.WitnessDirectory
	}
	fmt.Fprintf(&b, "- Witness: %s (in use: %s)\n", witness, orDash(st.WitnessShareInUse))

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
		section(&b, "Databases", rows)
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
		section(&b, "Copies", rows)
		for _, e := range errs {
			fmt.Fprintf(&b, "- %s\n", e)
		}
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
		section(&b, "Replication checks (Test-ReplicationHealth)", rows)
	}
	if len(r.Servers) > 0 {
		serverGrid(&b, r)
	}
	if len(r.Networks) > 0 {
		rows := [][]string{{"Network", "Subnets", "Interfaces", "MAPI", "Replication"}}
		for _, n := range r.Networks {
			rows = append(rows, []string{n.Name, orDash(strings.Join(n.Subnets, ", ")), orDash(strings.Join(n.Interfaces, ", ")), yesNo(n.MAPI), yesNo(n.Replication)})
		}
		section(&b, "DAG networks", rows)
	}
	// r.Errors are among the failures above.
	return b.String()
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
	width := map[int]int{}
	for _, r := range rows {
		for i, v := range r {
			width[i] = max(width[i], utf8.RuneCountInString(oneLine(v)))
		}
	}
	for _, r := range rows {
		var l strings.Builder
		for i, v := range r {
			v = oneLine(v)
			l.WriteString(v)
			if i < len(r)-1 {
				l.WriteString(strings.Repeat(" ", width[i]-utf8.RuneCountInString(v)+2))
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " "))
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

// serverGrid writes the server checks: one column per server, one row per check,
// then what did not run and which services are stopped.
func serverGrid(b *strings.Builder, r *Report) {
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
	section(b, "Server checks (Test-ExchangeServerHealth.ps1)", rows)
	for _, s := range r.Servers {
		for _, rs := range s.Services {
			if !rs.RequiredServicesRunning {
				fmt.Fprintf(b, "- %s %s: not running: %s\n", s.Server, rs.Role, orDash(strings.Join(rs.ServicesNotRunning, ", ")))
			}
		}
	}
	for _, pf := range r.PublicFolders {
		state := "mounted"
		if !pf.Mounted {
			state = "NOT mounted"
		}
		fmt.Fprintf(b, "- Public folder database %s on %s: %s\n", pf.Name, pf.Server, state)
	}
	for _, n := range notes {
		fmt.Fprintf(b, "- %s\n", n)
	}
}
