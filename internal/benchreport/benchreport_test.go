package benchreport

import (
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	cases := []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0.1, time.Millisecond}}
	for _, c := range cases {
		if got := Percentile(ds, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("Percentile sorted its argument")
	}
	if Percentile(nil, 99) != 0 {
		t.Error("p99 of nothing is not 0")
	}
}

const sample = `goos: linux
pkg: github.com/exchops/exchops/bot/slack
BenchmarkSlashAck/bare-2        	    1000	     30000 ns/op	         0.0175 p50-ms	         0.14 p99-ms	   11956 B/op	     147 allocs/op
BenchmarkSlashAck/full-change-2 	    1000	   1000000 ns/op	         1.0 p50-ms	         3.0 p99-ms
BenchmarkSlashAck/full-read-only-2 	    1000	   50000 ns/op	         0.05 p50-ms	         0.1 p99-ms
--- FAIL: something
BenchmarkSlashAckConcurrent/full-change-2 	10	  38442482 ns/op	59.28 max-ms	20.44 p50-ms	15.0 p99-ms
BenchmarkSlashAckConcurrent/full-read-only-2 	10	  38442482 ns/op	59.28 max-ms	20.44 p50-ms	25.0 p99-ms
pkg: github.com/exchops/exchops
BenchmarkApproveToCommand-2   	      50	   5583844 ns/op	         2.851 first-command-p50-ms	         5.558 p50-ms	        10.30 p99-ms
BenchmarkHealthReport/single-invocation-2         	       1	2000000000 ns/op
BenchmarkHealthReport/collect-2                   	       1	2100000000 ns/op	         3.000 invocations
BenchmarkHealthReportLarge/single-invocation-2    	       1	2000000000 ns/op
BenchmarkHealthReportLarge/collect-2              	       1	3000000000 ns/op	        17.00 invocations
BenchmarkResidentMemory-2   	       1	8797890623 ns/op	        43.43 rss-MB	        39.73 rss-scavenged-MB
ok  	github.com/exchops/exchops	8.810s
`

func TestParseAndBuild(t *testing.T) {
	rs, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 11 {
		t.Fatalf("parsed %d results, want 11: %+v", len(rs), rs)
	}
	if r := rs[0]; r.Name != "SlashAck/bare" || r.Procs != 2 || r.N != 1000 || r.Values["p99-ms"] != 0.14 || r.Package != "github.com/exchops/exchops/bot/slack" {
		t.Errorf("first result: %+v", r)
	}
	rep := Build(rs)
	var b strings.Builder
	if err := Write(&b, rep); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"33.33× (p50", "| **not met** |", // the change: 1 ms against 30 µs
		"1.67× (p50", // the read-only command meets 2×
		"| ≤ 20 ms on 2 cores | 15.00 ms (p50 20.44 ms, max 59.28 ms) | met |",
		"5.56 ms (mean 5.58 ms, p99 10.30 ms)",
		"2.10 s vs 2.00 s: 1.05× (3 invocations at once)",
		"3.00 s vs 2.00 s: 1.50× (17 invocations at once) | **not met** |",
		"Health report ≤ 1.3× one invocation: measured 1.50× on the large lab.",
		"43.4 MB", "Resident memory ≤ 40 MB: measured 43.4 MB",
		"Acknowledgement ≤ 2× the bare handler: measured up to 33.3×",
		"p99 ≤ 20 ms with 200 concurrent commands: measured up to 25.00 ms",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
}
