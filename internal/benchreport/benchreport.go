// Package benchreport turns exchops' benchmarks into docs/PERFORMANCE.md: it reads
// the output of `go test -bench`, pairs the sides of each comparison measured in the
// same run, judges them against the targets of issues 9 and 13 and notes the machine, because
// a figure without its machine means little.
//
// The benchmarks record their own latencies (a Go benchmark reports means, and the
// targets speak of medians and 99th percentiles); Percentile is shared with them so
// that every percentile in the report is computed the same way.
package benchreport

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Percentile returns the p-th percentile (0 < p <= 100) of samples by the nearest-rank
// method: the smallest sample that at least p% of the samples do not exceed. It is
// 0 for no samples. samples is not modified.
func Percentile(samples []time.Duration, p float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

// Milliseconds is d in milliseconds, for b.ReportMetric.
func Milliseconds(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Result is one benchmark line: its name without the "Benchmark" prefix and the
// -GOMAXPROCS suffix, and every value it reported by unit ("ns/op", "p99-ms", ...).
type Result struct {
	Name    string
	Package string // the package line that preceded it ("pkg: ..."), if any
	Procs   int
	N       int
	Values  map[string]float64
}

// Value returns the value reported in unit, and whether there was one.
func (r Result) Value(unit string) (float64, bool) {
	v, ok := r.Values[unit]
	return v, ok
}

// Parse reads `go test -bench` output and returns its benchmark results in order.
// Lines that are not results (logs, PASS, ok) are skipped; a benchmark that ran
// several times (-count) appears as several results.
func Parse(r io.Reader) ([]Result, error) {
	var out []Result
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		res, ok := parseLine(line)
		if !ok {
			continue
		}
		res.Package = pkg
		out = append(out, res)
	}
	return out, sc.Err()
}

// parseLine reads "BenchmarkX/sub-8   100   12345 ns/op   3.5 p99-ms".
func parseLine(line string) (Result, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
		return Result{}, false
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return Result{}, false
	}
	name := strings.TrimPrefix(f[0], "Benchmark")
	procs := 1
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if p, err := strconv.Atoi(name[i+1:]); err == nil {
			name, procs = name[:i], p
		}
	}
	res := Result{Name: name, Procs: procs, N: n, Values: map[string]float64{}}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return Result{}, false
		}
		res.Values[f[i+1]] = v
	}
	return res, true
}

// Find returns the last result called name (the last of several -count runs).
func Find(results []Result, name string) (Result, bool) {
	for i := len(results) - 1; i >= 0; i-- {
		if results[i].Name == name {
			return results[i], true
		}
	}
	return Result{}, false
}

// Machine is where the benchmarks ran.
type Machine struct {
	CPU       string // the model, from /proc/cpuinfo
	Cores     int    // logical CPUs the Go runtime sees
	GoVersion string // of the toolchain that ran the benchmarks
	OS        string // GOOS/GOARCH and the kernel release
}

// DetectMachine describes this machine; goVersion is the toolchain's (`go env
// GOVERSION`), which may differ from the generator's own runtime.Version.
func DetectMachine(goVersion string) Machine {
	m := Machine{CPU: "unknown CPU", Cores: runtime.NumCPU(), GoVersion: goVersion, OS: runtime.GOOS + "/" + runtime.GOARCH}
	if m.GoVersion == "" {
		m.GoVersion = runtime.Version()
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.OS += ", Linux " + strings.TrimSpace(string(b))
	}
	return m
}

// LoadAverage is the 1-minute load average from /proc/loadavg (ok false elsewhere).
func LoadAverage() (load float64, ok bool) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	return v, err == nil
}

// Verdict is how a measurement stands against its target.
type Verdict string

const (
	Met         Verdict = "met"
	NotMet      Verdict = "**not met**"
	NotMeasured Verdict = "not measured yet"
	Info        Verdict = "—" // a figure shown for context, with no target of its own
)

// Row is one line of the report's table.
type Row struct {
	Measure  string
	Target   string
	Measured string
	Verdict  Verdict
}

// Section is a titled table with notes under it.
type Section struct {
	Title string
	Rows  []Row
	Notes []string
}

// Report is the whole of docs/PERFORMANCE.md.
type Report struct {
	Machine Machine
	Date    time.Time
	Command string        // how it was made
	Took    time.Duration // how long making it took
	// Load is the 1-minute load average before each `go test` run, when known: on
	// a shared machine, other work takes CPU from the benchmarks.
	Load     []float64
	Sections []Section
	Misses   []string // each target not met, with what it would take
	Raw      string   // the benchmark lines, for the appendix
}

// Write renders r as Markdown.
func Write(w io.Writer, r Report) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "# Performance\n\n")
	fmt.Fprintf(b, "Generated by `%s` on %s (it took %s). Do not edit: run it again.\n\n",
		r.Command, r.Date.UTC().Format("2006-01-02 15:04 MST"), r.Took.Round(time.Second))
	fmt.Fprintf(b, "Machine: %s, %d cores, %s, %s.\n\n", r.Machine.CPU, r.Machine.Cores, r.Machine.GoVersion, r.Machine.OS)
	if len(r.Load) > 0 {
		loads := make([]string, len(r.Load))
		for i, l := range r.Load {
			loads[i] = strconv.FormatFloat(l, 'f', 1, 64)
		}
		fmt.Fprintf(b, "Load: the 1-minute load average was %s before the %d `go test` runs, on %d cores; above %d, other work on the machine was taking CPU from the benchmarks.\n\n",
			strings.Join(loads, ", "), len(r.Load), r.Machine.Cores, r.Machine.Cores)
	}
	fmt.Fprintf(b, "Each comparison was measured side by side in one `go test` run; ratios are of the\n")
	fmt.Fprintf(b, "two sides' figures from that run. Latency percentiles are computed from every\n")
	fmt.Fprintf(b, "latency the benchmark recorded itself (nearest rank).\n\n")
	for _, s := range r.Sections {
		fmt.Fprintf(b, "## %s\n\n", s.Title)
		if len(s.Rows) > 0 {
			fmt.Fprintf(b, "| measure | target | measured | verdict |\n| --- | --- | --- | --- |\n")
			for _, row := range s.Rows {
				fmt.Fprintf(b, "| %s | %s | %s | %s |\n", cell(row.Measure), cell(row.Target), cell(row.Measured), row.Verdict)
			}
			b.WriteString("\n")
		}
		for _, n := range s.Notes {
			fmt.Fprintf(b, "%s\n\n", n)
		}
	}
	fmt.Fprintf(b, "## Targets not met\n\n")
	if len(r.Misses) == 0 {
		fmt.Fprintf(b, "None.\n\n")
	}
	for _, m := range r.Misses {
		fmt.Fprintf(b, "- %s\n", m)
	}
	if len(r.Misses) > 0 {
		b.WriteString("\n")
	}
	if r.Raw != "" {
		fmt.Fprintf(b, "## The benchmark lines\n\n```\n%s```\n", r.Raw)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// Ratio formats a/b as "1.42×".
func Ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64) + "×"
}

// Duration formats nanoseconds for people: "850 µs", "12.3 ms", "2.05 s".
func Duration(ns float64) string {
	d := time.Duration(ns)
	switch {
	case d < time.Millisecond:
		return strconv.FormatFloat(ns/1e3, 'f', 1, 64) + " µs"
	case d < time.Second:
		return strconv.FormatFloat(ns/1e6, 'f', 2, 64) + " ms"
	}
	return strconv.FormatFloat(ns/1e9, 'f', 2, 64) + " s"
}
