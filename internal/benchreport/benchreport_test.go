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
BenchmarkCopyStatus/warm-2         	       1	 126728263 ns/op	       126.6 p50-ms	       130.8 p99-ms	         6.000 requests	         6.331 round-trips-p50	        50.00 samples
BenchmarkCopyStatus/cold-2         	       1	3149098977 ns/op	      3150 p50-ms	      3151 p99-ms	         9.000 requests	       157.4 round-trips-p50	         3.000 samples
BenchmarkCopyStatus/winrs-credssp-2         	       1	3192921814 ns/op	      3192 p50-ms	      3196 p99-ms	         5.000 requests	       159.6 round-trips-p50	         3.000 samples
BenchmarkHealthReportLarge/one-cmdlet-warm-2         	       1	  66958624 ns/op	        66.60 p50-ms	        88.18 p99-ms	         3.000 requests	         3.331 round-trips-p50	        50.00 samples
BenchmarkHealthReportLarge/collect-warm-2            	       1	 308200790 ns/op	       306.8 p50-ms	       368.6 p99-ms	       305.0 requests	        15.34 round-trips-p50	        10.00 samples	        19.00 steps	       101.0 reads	       420.0 cpu-ms
BenchmarkHealthReportLarge/collect-warm-replication-only-2            	       1	 158200790 ns/op	       150.4 p50-ms	       168.6 p99-ms	       154.0 requests	        7.5 round-trips-p50	        10.00 samples	        17.00 steps	        51.00 reads	       210.0 cpu-ms
BenchmarkHealthReportLarge/collect-winrs-credssp-2   	       1	3301642266 ns/op	        17.00 invocations	      3296 p50-ms	      3332 p99-ms	        88.67 requests	       164.8 round-trips-p50	         3.000 samples
BenchmarkHealthReport/one-cmdlet-warm-2              	       1	  63716117 ns/op	        60.00 p50-ms	        68.28 p99-ms	         3.000 requests	         3.169 round-trips-p50	        50.00 samples
BenchmarkHealthReport/collect-warm-2                 	       1	 224869267 ns/op	       180.0 p50-ms	       423.0 p99-ms	        27.00 requests	        9.0 round-trips-p50	        10.00 samples	         3.000 steps
BenchmarkHealthReport/collect-winrs-credssp-2        	       1	3238546296 ns/op	         3.000 invocations	      3258 p50-ms	      3260 p99-ms	        15.67 requests	       162.9 round-trips-p50	         3.000 samples
BenchmarkHealthReport/naive-winrs-credssp-2          	       1	29026983093 ns/op	         9.000 invocations	     27000 p50-ms	     29027 p99-ms	        50.00 requests	      1451 round-trips-p50	         1.000 samples
BenchmarkResidentMemory-2   	       1	8797890623 ns/op	        43.43 rss-MB	        39.73 rss-scavenged-MB
ok  	github.com/exchops/exchops	8.810s
`

func TestParseAndBuild(t *testing.T) {
	rs, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 18 {
		t.Fatalf("parsed %d results, want 18: %+v", len(rs), rs)
	}
	if r := rs[0]; r.Name != "SlashAck/bare" || r.Procs != 2 || r.N != 1000 || r.Values["p99-ms"] != 0.14 || r.Package != "github.com/exchops/exchops/bot/slack" {
		t.Errorf("first result: %+v", r)
	}
	rep := Build(rs)
	rep.Machine.Cores, rep.Load = 2, []float64{0.5, 6.25}
	var b strings.Builder
	if err := Write(&b, rep); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"Load: the 1-minute load average was 0.5, 6.2 before the 2 `go test` runs, on 2 cores; above 2, other work",
		"33.33× (p50", "| **not met** |", // the change: 1 ms against 30 µs
		"1.67× (p50", // the read-only command meets 2×
		"| ≤ 20 ms on 2 cores | 15.00 ms (p50 20.44 ms, max 59.28 ms) | met |",
		"5.56 ms (mean 5.58 ms, p99 10.30 ms)",
		// copy status: 6.3 round trips against 5, and its other sides beside it
		"| ≤ 5 round trips (100 ms) | 126.60 ms = 6.3 round trips (p99 130.80 ms; 6 WS-Management requests per command) | **not met** |",
		"3.15 s: 24.88× the warm session (3 runs)",
		"3.19 s: 25.21× the warm session (3 runs)",
		"`copy status` ≤ 5 round trips on a warm session: measured 6.3 round trips (126.60 ms), 6 WS-Management requests",
		// health: the large lab misses 3×, the lab's own DAG meets it
		"306.80 ms vs 66.60 ms: 4.61× (19 steps at once, 101 reads, 305 WS-Management requests; 420.00 ms of CPU) | **not met** |",
		"66.60 ms = 3.3 round trips (3 requests)",
		"150.40 ms: 2.26× one cmdlet (17 steps, 51 reads, 154 requests; 210.00 ms of CPU)",
		"3.30 s (17 invocations at once): 21.91× the warm replication report",
		"on the large lab 306.80 ms against 150.40 ms for the replication part alone (50 reads and 151 requests more, 420.00 ms of CPU against 210.00 ms)",
		"180.00 ms vs 60.00 ms: 3.00× (3 steps at once, 0 reads, 27 WS-Management requests; 0.00 ms of CPU) | met |",
		"27.00 s (9 invocations): 150.00× the warm report",
		"Health report ≤ 3× one cmdlet on warm sessions: measured 4.61× on the large lab (306.80 ms vs 66.60 ms; 305 requests, 4 round trips of them in sequence (80.00 ms), and 226.80 ms beyond that, with 420.00 ms of CPU per report).",
		"43.4 MB", "Resident memory ≤ 40 MB: measured 43.4 MB",
		"Acknowledgement ≤ 2× the bare handler: measured up to 33.3×",
		"p99 ≤ 20 ms with 200 concurrent commands: measured up to 25.00 ms",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
}

// TestMissingBenchmarks: a comparison whose benchmarks did not run is reported as not
// measured and listed among the misses, never as met.
func TestMissingBenchmarks(t *testing.T) {
	rep := Build(nil)
	var b strings.Builder
	if err := Write(&b, rep); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"`copy status` on a warm session: the benchmark did not run.",
		"Health report on the large lab: the benchmark did not run.",
		"Health report on the lab's own DAG: the benchmark did not run.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "| met |") {
		t.Errorf("a target is met with no results:\n%s", out)
	}
}
