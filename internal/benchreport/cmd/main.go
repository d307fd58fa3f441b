// Command benchreport runs exchops' benchmarks and writes docs/PERFORMANCE.md: the
// measured figures against the targets of issues 9 and 13, with the machine they ran on.
// `make bench` runs it:
//
//	go run ./internal/benchreport/cmd -out docs/PERFORMANCE.md
//
// Each comparison is one `go test -bench` run, so that its sides share the machine's
// state; the benchmark output is printed as it comes. It exits 1 when a benchmark
// fails, not when a target is missed: a miss is named in the report with what it
// would take.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/exchops/exchops/internal/benchreport"
)

// run is one `go test` invocation.
type run struct {
	pkg, bench, benchtime string
}

// runs are the benchmarks of the report, each comparison in one invocation. The
// benchtimes keep `make bench` to a few minutes: the Exchange endpoint benchmarks take
// their own samples within one op (tens of warm reads, a few 3 s session opens) and
// the memory child takes a few seconds.
var runs = []run{
	{"./bot/slack", `^BenchmarkSlashAck(InProcess)?$`, "1000x"},
	{"./bot/slack", `^BenchmarkSlashAckConcurrent$`, "10x"},
	{".", `^BenchmarkApproveToCommand$`, "200x"},
	{"./approvals", `.`, "1s"},
	{".", `^Benchmark(CopyStatus|HealthReport|HealthReportLarge|ResidentMemory)$`, "1x"},
}

func main() {
	out := flag.String("out", "docs/PERFORMANCE.md", "where to write the report")
	goTool := flag.String("go", "go", "the go command")
	flag.Parse()
	began := time.Now()

	goVersion := "unknown"
	if v, err := exec.Command(*goTool, "env", "GOVERSION").Output(); err == nil {
		goVersion = strings.TrimSpace(string(v))
	}
	machine := benchreport.DetectMachine(goVersion)
	fmt.Printf("benchreport: %s, %d cores, %s\n", machine.CPU, machine.Cores, machine.GoVersion)

	var raw bytes.Buffer
	var all []benchreport.Result
	var loads []float64
	failed := false
	for _, r := range runs {
		if l, ok := benchreport.LoadAverage(); ok {
			loads = append(loads, l)
		}
		args := []string{"test", "-run", "^$", "-bench", r.bench, "-benchtime", r.benchtime, "-benchmem", "-count", "1", r.pkg}
		fmt.Printf("\n$ %s %s\n", *goTool, strings.Join(args, " "))
		var buf bytes.Buffer
		cmd := exec.Command(*goTool, args...)
		cmd.Stdout = io.MultiWriter(os.Stdout, &buf)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "benchreport: %s %s failed: %v\n", r.pkg, r.bench, err)
			failed = true
		}
		results, err := benchreport.Parse(bytes.NewReader(buf.Bytes()))
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchreport: reading the output of %s: %v\n", r.pkg, err)
			failed = true
		}
		all = append(all, results...)
		for _, line := range strings.Split(buf.String(), "\n") {
			if strings.HasPrefix(line, "Benchmark") || strings.HasPrefix(line, "pkg: ") {
				raw.WriteString(line + "\n")
			}
		}
	}

	rep := benchreport.Build(all)
	rep.Machine, rep.Date, rep.Raw = machine, time.Now(), raw.String()
	if len(loads) == len(runs) {
		rep.Load = loads
	}
	rep.Command = "make bench"
	rep.Took = time.Since(began)
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchreport: %v\n", err)
		os.Exit(1)
	}
	if err := benchreport.Write(f, rep); err != nil {
		fmt.Fprintf(os.Stderr, "benchreport: writing %s: %v\n", *out, err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "benchreport: writing %s: %v\n", *out, err)
		os.Exit(1)
	}
	fmt.Printf("\nbenchreport: wrote %s in %s\n", *out, rep.Took.Round(time.Second))
	for _, s := range rep.Sections {
		for _, row := range s.Rows {
			if row.Verdict != benchreport.Info {
				fmt.Printf("  %-14s %s: %s (target %s)\n", strings.Trim(string(row.Verdict), "*"), row.Measure, row.Measured, row.Target)
			}
		}
	}
	if failed {
		os.Exit(1)
	}
}
