package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/internal/metrics"
	"github.com/exchops/exchops/schedules"
)

// TestHealthGaugesInTheDemo: after `health E14-DAG` in the demo, /metrics carries the
// DAG health gauges with the values of the report that command kept; after the next
// report, what it no longer has is gone.
func TestHealthGaugesInTheDemo(t *testing.T) {
	a := startDemo(t)
	// The walkthrough's DAG, typed by alice and approved by bob.
	for i, text := range walkthrough[5:] {
		id := fmt.Sprintf("r-%d", i+1)
		post(t, a, "/api/command", map[string]string{"person": "alice", "text": text})
		if r := waitStatus(t, a, id); r.Status != approvals.Pending {
			t.Fatalf("%s: %s %q", text, r.Status, r.Reason)
		}
		post(t, a, "/api/action", map[string]string{"person": "bob", "id": id, "decision": "approve"})
		if r := waitStatus(t, a, id); r.Status != approvals.Succeeded {
			t.Fatalf("%s: %s: %s\n%s", text, r.Status, r.Reason, r.Run.Error)
		}
	}
	// A copy falling behind and a lagged copy.
	if err := a.lab.Org.SetQueues("MB02", "EX10-MB01", 9, 2); err != nil {
		t.Fatal(err)
	}
	if err := a.lab.Org.SetLag("MB01", "EX10-MB02", 7*24*time.Hour, 0); err != nil {
		t.Fatal(err)
	}

	rep := healthInTheConsole(t, a, 1)
	if rep.Verdict != schedules.Warning {
		t.Fatalf("the report's verdict is %s, want Warning (a copy queue of 9):\n%s", rep.Verdict, rep.Text())
	}
	fams := scrapeApp(t, a)
	dag := map[string]string{"dag": "E14-DAG"}
	wantGauge(t, fams, "exchops_dag_health_verdict", dag, 1)
	wantGauge(t, fams, "exchops_dag_report_timestamp_seconds", dag, float64(rep.At.UnixNano())/1e9)
	for _, c := range rep.Copies {
		l := map[string]string{"dag": "E14-DAG", "database": c.Database, "server": c.Server}
		wantGauge(t, fams, "exchops_dag_copy_queue_length", l, float64(c.CopyQueue))
		wantGauge(t, fams, "exchops_dag_replay_queue_length", l, float64(c.ReplayQueue))
		wantGauge(t, fams, "exchops_dag_copy_healthy", l, map[bool]float64{true: 1}[c.Healthy])
	}
	if n := len(fams["exchops_dag_copy_healthy"].GetMetric()); n != 4 || len(rep.Copies) != 4 {
		t.Errorf("%d copy series for a report of %d copies, want the lab's 4", n, len(rep.Copies))
	}
	// The values themselves, not only their agreement with the report.
	behind := map[string]string{"dag": "E14-DAG", "database": "MB02", "server": "EX10-MB01"}
	wantGauge(t, fams, "exchops_dag_copy_queue_length", behind, 9)
	wantGauge(t, fams, "exchops_dag_copy_healthy", behind, 0)
	lagged := map[string]string{"dag": "E14-DAG", "database": "MB01", "server": "EX10-MB02"}
	wantGauge(t, fams, "exchops_dag_copy_healthy", lagged, 1)
	if s := find(fams, "exchops_dag_replay_queue_length", lagged); s == nil || s.GetGauge().GetValue() < 100 {
		t.Errorf("the lagged copy's replay queue: %v, want its long queue", s)
	}
	checks := 0
	for _, m := range rep.Members {
		for _, c := range m.Checks {
			checks++
			wantGauge(t, fams, "exchops_dag_replication_check_passed",
				map[string]string{"dag": "E14-DAG", "server": m.Server, "check": c.Name}, map[bool]float64{true: 1}[c.Passed()])
		}
	}
	if checks == 0 || len(fams["exchops_dag_replication_check_passed"].GetMetric()) != checks {
		t.Errorf("%d check series for %d checks in the report", len(fams["exchops_dag_replication_check_passed"].GetMetric()), checks)
	}

	// EX10-MB02's replication service stops: its copies' queues are no longer read, so
	// their queue series go; its checks fail.
	if err := a.lab.Org.SetMemberDown("E14-DAG", "EX10-MB02", true); err != nil {
		t.Fatal(err)
	}
	rep = healthInTheConsole(t, a, 2)
	for _, c := range rep.Copies {
		if c.Server == "EX10-MB02" && c.QueuesKnown() {
			t.Fatalf("copy %s is %s: the lab should report ServiceDown", c.Name(), c.Status)
		}
	}
	fams = scrapeApp(t, a)
	wantGauge(t, fams, "exchops_dag_health_verdict", dag, 2)
	wantGauge(t, fams, "exchops_dag_report_timestamp_seconds", dag, float64(rep.At.UnixNano())/1e9)
	for _, db := range []string{"MB01", "MB02"} {
		l := map[string]string{"dag": "E14-DAG", "database": db, "server": "EX10-MB02"}
		for _, name := range []string{"exchops_dag_copy_queue_length", "exchops_dag_replay_queue_length"} {
			if s := find(fams, name, l); s != nil {
				t.Errorf("%s%v = %v for a copy whose member's replication service is down", name, l, s.GetGauge().GetValue())
			}
		}
		wantGauge(t, fams, "exchops_dag_copy_healthy", l, 0)
	}
	wantGauge(t, fams, "exchops_dag_copy_queue_length", behind, 9)
}

// healthInTheConsole types `health E14-DAG` as dave, a viewer, and returns the report
// it kept, the n-th.
func healthInTheConsole(t *testing.T, a *app, n int) *schedules.Report {
	t.Helper()
	post(t, a, "/api/command", map[string]string{"person": "dave", "text": "health E14-DAG"})
	a.core.Wait()
	reps, err := a.db.Reports(context.Background(), "E14-DAG", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != n {
		t.Fatalf("%d reports kept, want %d", len(reps), n)
	}
	return reps[n-1]
}

// scrapeApp GETs the app's /metrics and parses it with Prometheus' text parser.
func scrapeApp(t *testing.T, a *app) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(a.URL + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", res.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// find returns the series of family name whose labels are exactly labels, or nil.
func find(fams map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	for _, m := range fams[name].GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		ok := true
		for _, l := range m.GetLabel() {
			if v, has := labels[l.GetName()]; !has || v != l.GetValue() {
				ok = false
			}
		}
		if ok {
			return m
		}
	}
	return nil
}

func wantGauge(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string, want float64) {
	t.Helper()
	s := find(fams, name, labels)
	if s == nil {
		t.Errorf("/metrics has no %s%v", name, labels)
		return
	}
	if got := s.GetGauge().GetValue(); got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// README's monitoring section lists exactly the DAG health gauges /metrics serves, and
// its example alert rules are valid YAML that use only those.
func TestReadmeListsTheHealthGauges(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "## Monitoring DAG health in Prometheus")
	if start < 0 {
		t.Fatal("README has no section Monitoring DAG health in Prometheus")
	}
	section := readme[start:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}

	m := metrics.New()
	m.ObserveReport(&schedules.Report{DAG: "E14-DAG", At: time.Now(), Verdict: schedules.OK,
		DAGStatus: schedules.DAGStatus{Servers: []string{"EX10-MB01"}},
		Copies:    []schedules.CopyDetail{{Database: "MB01", Server: "EX10-MB01", Status: "Mounted", Healthy: true}},
		Members:   []schedules.MemberHealth{{Server: "EX10-MB01", Read: true, Checks: []schedules.Check{{Name: "ClusterService", Result: "Passed"}}}}})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	var served []string
	for name := range fams {
		if strings.HasPrefix(name, "exchops_dag_") {
			served = append(served, name)
		}
	}
	slices.Sort(served)

	gauge := regexp.MustCompile(`exchops_dag_[a-z_]+`)
	table := regexp.MustCompile("(?m)^\\| `(exchops_dag_[a-z_]+)` \\| ([^|]+) \\|")
	var listed []string
	for _, row := range table.FindAllStringSubmatch(section, -1) {
		listed = append(listed, row[1])
		var labels []string
		for _, l := range fams[row[1]].GetMetric()[0].GetLabel() {
			labels = append(labels, "`"+l.GetName()+"`")
		}
		if got := strings.Join(labels, ", "); !sameSet(got, row[2]) {
			t.Errorf("README lists %s with labels %s; /metrics has %s", row[1], strings.TrimSpace(row[2]), got)
		}
	}
	slices.Sort(listed)
	if !slices.Equal(listed, served) || len(served) != 6 {
		t.Errorf("README's table lists %v; /metrics serves %v", listed, served)
	}

	i := strings.Index(section, "```yaml\n")
	j := strings.Index(section[i+8:], "```")
	if i < 0 || j < 0 {
		t.Fatal("README's monitoring section has no yaml block of alert rules")
	}
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert, Expr, For string
			}
		}
	}
	if err := yaml.Unmarshal([]byte(section[i+8:i+8+j]), &rules); err != nil {
		t.Fatalf("README's alert rules are not YAML: %v", err)
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("rule %+v: an alert needs a name and an expression", r)
			}
			for _, name := range gauge.FindAllString(r.Expr, -1) {
				if !slices.Contains(served, name) {
					t.Errorf("alert %s uses %s, which /metrics does not serve", r.Alert, name)
				}
			}
		}
	}
	if n < 4 {
		t.Errorf("README has %d example alert rules, want at least verdict, copy healthy, check and staleness", n)
	}
}

// sameSet compares two comma-separated lists regardless of order.
func sameSet(a, b string) bool {
	split := func(s string) []string {
		var out []string
		for _, f := range strings.Split(s, ",") {
			out = append(out, strings.TrimSpace(f))
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(split(a), split(b))
}
