package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/runners"
)

// scrape GETs /metrics from m's handler, as Prometheus would, and parses the text.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %s: %s", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type = %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing the scrape: %v", err)
	}
	return fams
}

// find returns the series of family name whose labels are exactly labels, or nil.
func find(fams map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		ok := true
		for _, l := range m.GetLabel() {
			if v, has := labels[l.GetName()]; !has || v != l.GetValue() {
				ok = false
				break
			}
		}
		if ok {
			return m
		}
	}
	return nil
}

// labelValues returns the sorted values of label across family name's series.
func labelValues(fams map[string]*dto.MetricFamily, name, label string) []string {
	var out []string
	for _, m := range fams[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				out = append(out, l.GetValue())
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestCounters(t *testing.T) {
	m := New("slack", "discord")
	m.Command("dag create")
	m.Command("dag create")
	m.Command("  DAG   Create ") // the catalog name, spelled loosely
	m.Command("failover")
	m.Command("dag explode E14-DAG")       // not in the catalog
	m.Command("rm -rf / ; Remove-Mailbox") // raw user text
	m.Command("")
	m.Request("requested")
	m.Request("requested")
	m.Request("approved")
	m.Request("denied")
	m.Request("")
	m.WinRMError(string(runners.Unreachable))
	m.WinRMError(string(runners.ScriptFailed))
	m.WinRMError(string(runners.ScriptFailed))
	m.WinRMError(string(runners.KindOf(io.EOF))) // not a runners.Error: ""
	m.Post("slack", "sent")
	m.Post("slack", "failed")
	m.Post("discord", "sent")
	m.Post("discord", "sent")
	m.Run("succeeded", 3*time.Second)

	fams := scrape(t, m)
	tests := []struct {
		name   string
		metric string
		labels map[string]string
		want   float64
	}{
		{"catalog command", "exchops_commands_total", map[string]string{"command": "dag create"}, 3},
		{"one-word command", "exchops_commands_total", map[string]string{"command": "failover"}, 1},
		{"unparseable input", "exchops_commands_total", map[string]string{"command": "unknown"}, 3},
		{"command not yet used", "exchops_commands_total", map[string]string{"command": "dag add-member"}, 0},
		{"requested", "exchops_requests_total", map[string]string{"outcome": "requested"}, 2},
		{"approved", "exchops_requests_total", map[string]string{"outcome": "approved"}, 1},
		{"denied", "exchops_requests_total", map[string]string{"outcome": "denied"}, 1},
		{"empty outcome", "exchops_requests_total", map[string]string{"outcome": "unknown"}, 1},
		{"request outcome not yet seen", "exchops_requests_total", map[string]string{"outcome": "interrupted"}, 0},
		{"winrm unreachable", "exchops_winrm_errors_total", map[string]string{"kind": "unreachable"}, 1},
		{"winrm script failed", "exchops_winrm_errors_total", map[string]string{"kind": "script failed"}, 2},
		{"winrm not a runner error", "exchops_winrm_errors_total", map[string]string{"kind": "unknown"}, 1},
		{"winrm kind not yet seen", "exchops_winrm_errors_total", map[string]string{"kind": "busy"}, 0},
		{"slack sent", "exchops_chat_posts_total", map[string]string{"platform": "slack", "outcome": "sent"}, 1},
		{"slack failed", "exchops_chat_posts_total", map[string]string{"platform": "slack", "outcome": "failed"}, 1},
		{"discord sent", "exchops_chat_posts_total", map[string]string{"platform": "discord", "outcome": "sent"}, 2},
		{"discord failed", "exchops_chat_posts_total", map[string]string{"platform": "discord", "outcome": "failed"}, 0},
		{"run succeeded", "exchops_runs_total", map[string]string{"outcome": "succeeded"}, 1},
		{"run failed", "exchops_runs_total", map[string]string{"outcome": "failed"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := find(fams, tt.metric, tt.labels)
			if s == nil {
				t.Fatalf("%s%v: no such series", tt.metric, tt.labels)
			}
			if got := s.GetCounter().GetValue(); got != tt.want {
				t.Errorf("%s%v = %v, want %v", tt.metric, tt.labels, got, tt.want)
			}
		})
	}

	// Whatever was typed, the command label holds only catalog names and "unknown".
	allowed := map[string]bool{Unknown: true}
	for _, s := range commands.Catalog() {
		allowed[s.Name] = true
	}
	for _, v := range labelValues(fams, "exchops_commands_total", "command") {
		if !allowed[v] {
			t.Errorf("exchops_commands_total has command=%q, which is not a catalog name", v)
		}
	}
}

func TestRunHistogram(t *testing.T) {
	m := New()
	runs := []struct {
		outcome string
		d       time.Duration
	}{
		{"succeeded", 300 * time.Millisecond}, // a read-only command
		{"succeeded", 4 * time.Second},
		{"succeeded", 7 * time.Minute}, // seeding a copy
		{"failed", 20 * time.Second},
		{"failed", 2 * time.Hour},         // beyond the last bucket: only +Inf
		{"interrupted", -5 * time.Second}, // a clock that went back
	}
	for _, r := range runs {
		m.Run(r.outcome, r.d)
	}
	fams := scrape(t, m)

	if f := fams["exchops_run_duration_seconds"]; f.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("exchops_run_duration_seconds is %v, want a histogram", f.GetType())
	}
	tests := []struct {
		outcome string
		count   uint64
		sum     float64
		le      map[float64]uint64 // cumulative count at some upper bounds
	}{
		{"succeeded", 3, 0.3 + 4 + 420, map[float64]uint64{0.5: 1, 1: 1, 5: 2, 300: 2, 600: 3, 3600: 3}},
		{"failed", 2, 20 + 7200, map[float64]uint64{10: 0, 30: 1, 3600: 1}},
		{"interrupted", 1, 0, map[float64]uint64{0.5: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.outcome, func(t *testing.T) {
			labels := map[string]string{"outcome": tt.outcome}
			c := find(fams, "exchops_runs_total", labels)
			if c == nil || c.GetCounter().GetValue() != float64(tt.count) {
				t.Errorf("exchops_runs_total{outcome=%q} = %v, want %d", tt.outcome, c.GetCounter().GetValue(), tt.count)
			}
			s := find(fams, "exchops_run_duration_seconds", labels)
			if s == nil {
				t.Fatalf("no histogram for outcome %q", tt.outcome)
			}
			h := s.GetHistogram()
			if h.GetSampleCount() != tt.count {
				t.Errorf("count = %d, want %d", h.GetSampleCount(), tt.count)
			}
			if diff := h.GetSampleSum() - tt.sum; diff > 1e-9 || diff < -1e-9 {
				t.Errorf("sum = %v, want %v", h.GetSampleSum(), tt.sum)
			}
			got := map[float64]uint64{}
			for _, b := range h.GetBucket() {
				got[b.GetUpperBound()] = b.GetCumulativeCount()
			}
			for le, want := range tt.le {
				if c, ok := got[le]; !ok || c != want {
					t.Errorf("bucket le=%v: %d (present %v), want %d", le, c, ok, want)
				}
			}
		})
	}
}

func TestBuckets(t *testing.T) {
	fams := scrape(t, New())
	s := find(fams, "exchops_run_duration_seconds", map[string]string{"outcome": "succeeded"})
	if s == nil {
		t.Fatal("the run histogram is not pre-initialised")
	}
	var bounds []float64
	for _, b := range s.GetHistogram().GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
	}
	if !slices.IsSorted(bounds) || len(bounds) < 8 {
		t.Fatalf("buckets %v: want at least 8, ascending", bounds)
	}
	if bounds[0] != 0.5 {
		t.Errorf("first bucket %v, want 0.5 s", bounds[0])
	}
	if last := bounds[len(bounds)-1]; last < 3600 {
		t.Errorf("last bucket %v s: switchovers and seeding take minutes, want up to an hour", last)
	}
	for _, minutes := range []float64{60, 300, 600, 1800} {
		if !slices.Contains(bounds, minutes) {
			t.Errorf("no bucket at %v s in %v", minutes, bounds)
		}
	}
}

func TestPreinitialised(t *testing.T) {
	platforms := []string{"chat-a", "chat-b"}
	fams := scrape(t, New(platforms...))
	want := map[string]struct {
		label  string
		values []string
	}{
		"exchops_requests_total":     {"outcome", RequestOutcomes},
		"exchops_runs_total":         {"outcome", RunOutcomes},
		"exchops_winrm_errors_total": {"kind", WinRMErrorKinds},
		"exchops_chat_posts_total":   {"platform", platforms},
	}
	for name, w := range want {
		got := labelValues(fams, name, w.label)
		for _, v := range w.values {
			if !slices.Contains(got, v) {
				t.Errorf("%s has no %s=%q before any event (has %v)", name, w.label, v, got)
			}
		}
		for _, s := range fams[name].GetMetric() {
			if s.GetCounter().GetValue() != 0 {
				t.Errorf("%s%v = %v in a fresh registry", name, s.GetLabel(), s.GetCounter().GetValue())
			}
		}
	}
	cmds := labelValues(fams, "exchops_commands_total", "command")
	for _, s := range commands.Catalog() {
		if !slices.Contains(cmds, s.Name) {
			t.Errorf("exchops_commands_total has no command=%q", s.Name)
		}
	}
	if !slices.Contains(cmds, Unknown) {
		t.Errorf("exchops_commands_total has no command=%q", Unknown)
	}
	if n := len(fams["exchops_chat_posts_total"].GetMetric()); n != len(platforms)*len(PostOutcomes) {
		t.Errorf("exchops_chat_posts_total has %d series, want every platform with every outcome (%d)", n, len(platforms)*len(PostOutcomes))
	}
	// The Go and process collectors are on the same registry.
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_open_fds"} {
		if fams[name] == nil {
			t.Errorf("no %s in the scrape", name)
		}
	}
}

// The kinds pre-initialised here must be exactly runners' kinds.
func TestWinRMKindsMatchRunners(t *testing.T) {
	kinds := []runners.Kind{
		runners.Invalid, runners.Unreachable, runners.Unauthorized, runners.Busy,
		runners.Protocol, runners.ScriptFailed, runners.ChangeFailed, runners.Timeout, runners.Canceled,
	}
	var want []string
	for _, k := range kinds {
		want = append(want, string(k))
	}
	got := slices.Clone(WinRMErrorKinds)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("WinRMErrorKinds = %q, runners has %q", got, want)
	}
}

// Each Metrics has its own registry: two can live in one process, and nothing lands in
// the global default registry.
func TestOwnRegistry(t *testing.T) {
	a, b := New(), New()
	a.Command("failover")
	fa, fb := scrape(t, a), scrape(t, b)
	l := map[string]string{"command": "failover"}
	if got := find(fa, "exchops_commands_total", l).GetCounter().GetValue(); got != 1 {
		t.Errorf("a: %v, want 1", got)
	}
	if got := find(fb, "exchops_commands_total", l).GetCounter().GetValue(); got != 0 {
		t.Errorf("b: %v, want 0 (registries are shared)", got)
	}
	global, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range global {
		if strings.HasPrefix(f.GetName(), "exchops_") {
			t.Errorf("%s is in the global default registry", f.GetName())
		}
	}
	// Handler may be asked for again: the second scrape works like the first.
	if got := find(scrape(t, a), "exchops_commands_total", l).GetCounter().GetValue(); got != 1 {
		t.Errorf("a, scraped again: %v, want 1", got)
	}
}

func TestNil(t *testing.T) {
	var m *Metrics
	m.Command("dag create")
	m.Request("requested")
	m.Run("succeeded", time.Second)
	m.WinRMError("timeout")
	m.Post("slack", "sent")
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("nil Metrics' handler answered %d, want 404", rec.Code)
	}
}

// Recording from many goroutines while scraping (run with -race).
func TestConcurrent(t *testing.T) {
	m := New()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				m.Command("copy add")
				m.Request("requested")
				m.Run("succeeded", time.Second)
				m.WinRMError("timeout")
				m.Post("discord", "sent")
			}
		})
	}
	wg.Go(func() {
		for range 10 {
			m.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/metrics", nil))
		}
	})
	wg.Wait()
	fams := scrape(t, m)
	if got := find(fams, "exchops_commands_total", map[string]string{"command": "copy add"}).GetCounter().GetValue(); got != 800 {
		t.Errorf("copy add = %v, want 800", got)
	}
	if got := find(fams, "exchops_run_duration_seconds", map[string]string{"outcome": "succeeded"}).GetHistogram().GetSampleCount(); got != 800 {
		t.Errorf("run count = %v, want 800", got)
	}
}
