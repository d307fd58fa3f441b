package metrics

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/exchops/exchops/internal/golden"
	"github.com/exchops/exchops/schedules"
)

var reportAt = time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)

// firstReport is a three-member DAG on a bad morning: a copy queue over the limit, a
// lagged copy with its long replay queue on purpose, a member that could not be read
// (its copies unknown, its checks missing), a failed check shown as *FAILED*, a check
// in German that passed, and a database in health.ignore.
func firstReport() *schedules.Report {
	return &schedules.Report{
		DAG: "E14-DAG", At: reportAt, Verdict: schedules.Failure,
		DAGStatus: schedules.DAGStatus{Servers: []string{"EX10-MB01", "EX10-MB02", "EX10-MB03"},
			OperationalServers: []string{"EX10-MB01", "EX10-MB02"}, PrimaryActiveManager: "EX10-MB01"},
		Copies: []schedules.CopyDetail{
			{Database: "MB01", Server: "EX10-MB01", Preference: 1, Status: "Mounted", Active: true, Healthy: true},
			{Database: "MB01", Server: "EX10-MB02", Preference: 2, Status: "Healthy", ReplayQueue: 1500, Lag: "7.00:00:00", ActivationSuspended: true, Healthy: true},
			{Database: "MB01", Server: "EX10-MB03", Preference: 3, Status: "Unknown", Error: "not read: EX10-MB03 did not report its copies"},
			{Database: "MB02", Server: "EX10-MB02", Preference: 1, Status: "Mounted", Active: true, Healthy: true},
			{Database: "MB02", Server: "EX10-MB01", Preference: 2, Status: "Healthy", CopyQueue: 9, ReplayQueue: 2},
			{Database: "RETIRED", Server: "EX10-MB01", Preference: 1, Status: "Dismounted", Active: true, Ignored: true},
		},
		Members: []schedules.MemberHealth{
			{Server: "EX10-MB01", Operational: true, Read: true, Checks: []schedules.Check{
				{Name: "ClusterService", Result: "Passed"},
				{Name: "ReplayService", Result: "Passed"},
				{Name: "DBLogCopyKeepingUp", Result: "Failed", Shown: "*FAILED*", Error: "Database copy MB02 on server EX10-MB01 has a copy queue length of 9."},
			}},
			{Server: "EX10-MB02", Operational: true, Read: true, Checks: []schedules.Check{
				{Name: "ClusterService", Result: "Passed", Shown: "Bestanden"},
				{Name: "ReplayService", Result: "Passed", Shown: "Bestanden"},
				{Name: "DBLogCopyKeepingUp", Result: "Warning"},
			}},
			{Server: "EX10-MB03"},
		},
		Errors:     []string{"EX10-MB03: cannot reach the server"},
		Thresholds: schedules.Thresholds{Ignore: []string{"RETIRED"}},
	}
}

// secondReport is a quarter of an hour later: MB02 was removed, the copy queue
// drained, EX10-MB03 answers again.
func secondReport() *schedules.Report {
	r := firstReport()
	r.At = reportAt.Add(15 * time.Minute)
	r.Verdict = schedules.OK
	r.Errors = nil
	r.DAGStatus.OperationalServers = r.DAGStatus.Servers
	r.Copies = []schedules.CopyDetail{
		{Database: "MB01", Server: "EX10-MB01", Preference: 1, Status: "Mounted", Active: true, Healthy: true},
		{Database: "MB01", Server: "EX10-MB02", Preference: 2, Status: "Healthy", ReplayQueue: 1480, Lag: "7.00:00:00", ActivationSuspended: true, Healthy: true},
		{Database: "MB01", Server: "EX10-MB03", Preference: 3, Status: "Healthy", CopyQueue: 1, Healthy: true},
	}
	r.Members[0].Checks[2] = schedules.Check{Name: "DBLogCopyKeepingUp", Result: "Passed"}
	r.Members[1].Checks[2] = schedules.Check{Name: "DBLogCopyKeepingUp", Result: "Passed", Shown: "Bestanden"}
	r.Members[2] = schedules.MemberHealth{Server: "EX10-MB03", Operational: true, Read: true, Checks: []schedules.Check{
		{Name: "ClusterService", Result: "Passed"},
	}}
	return r
}

// exposition GETs /metrics as Prometheus does (text format) and returns the lines of
// the DAG health families, exactly as served: what the golden files hold.
func exposition(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %v %s: %s", err, resp.Status, body)
	}
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		l := sc.Text()
		name := strings.TrimPrefix(strings.TrimPrefix(l, "# HELP "), "# TYPE ")
		if strings.HasPrefix(name, "exchops_dag_") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func TestDAGHealthExposition(t *testing.T) {
	m := New()
	if got := exposition(t, m); got != "" {
		t.Fatalf("DAG health series before any report:\n%s", got)
	}
	m.ObserveReport(firstReport())
	golden.Check(t, "testdata/dag-health-first.golden", exposition(t, m))
	m.ObserveReport(secondReport())
	golden.Check(t, "testdata/dag-health-second.golden", exposition(t, m))
}

// The same reports, read back through Prometheus' own text parser: every value is the
// report's, and what the second report no longer has is gone.
func TestDAGHealthValues(t *testing.T) {
	m := New()
	m.ObserveReport(firstReport())
	first := scrape(t, m)
	m.ObserveReport(secondReport())
	second := scrape(t, m)

	dag := map[string]string{"dag": "E14-DAG"}
	cp := func(db, srv string) map[string]string {
		return map[string]string{"dag": "E14-DAG", "database": db, "server": srv}
	}
	ck := func(srv, check string) map[string]string {
		return map[string]string{"dag": "E14-DAG", "server": srv, "check": check}
	}
	const absent = -1.0
	tests := []struct {
		name   string
		fams   map[string]*dto.MetricFamily
		metric string
		labels map[string]string
		want   float64
	}{
		{"verdict failure", first, "exchops_dag_health_verdict", dag, 2},
		{"verdict ok", second, "exchops_dag_health_verdict", dag, 0},
		{"report time", first, "exchops_dag_report_timestamp_seconds", dag, float64(reportAt.Unix())},
		{"report time moves", second, "exchops_dag_report_timestamp_seconds", dag, float64(reportAt.Add(15 * time.Minute).Unix())},
		{"active copy's queue", first, "exchops_dag_copy_queue_length", cp("MB01", "EX10-MB01"), 0},
		{"copy queue over the limit", first, "exchops_dag_copy_queue_length", cp("MB02", "EX10-MB01"), 9},
		{"its replay queue", first, "exchops_dag_replay_queue_length", cp("MB02", "EX10-MB01"), 2},
		{"so unhealthy", first, "exchops_dag_copy_healthy", cp("MB02", "EX10-MB01"), 0},
		{"lagged copy's replay queue", first, "exchops_dag_replay_queue_length", cp("MB01", "EX10-MB02"), 1500},
		{"lagged copy is healthy", first, "exchops_dag_copy_healthy", cp("MB01", "EX10-MB02"), 1},
		{"unread copy: no copy queue", first, "exchops_dag_copy_queue_length", cp("MB01", "EX10-MB03"), absent},
		{"unread copy: no replay queue", first, "exchops_dag_replay_queue_length", cp("MB01", "EX10-MB03"), absent},
		{"unread copy is not healthy", first, "exchops_dag_copy_healthy", cp("MB01", "EX10-MB03"), 0},
		{"read again", second, "exchops_dag_copy_queue_length", cp("MB01", "EX10-MB03"), 1},
		{"ignored database", first, "exchops_dag_copy_healthy", cp("RETIRED", "EX10-MB01"), absent},
		{"ignored database's queue", first, "exchops_dag_copy_queue_length", cp("RETIRED", "EX10-MB01"), absent},
		{"check passed", first, "exchops_dag_replication_check_passed", ck("EX10-MB01", "ClusterService"), 1},
		{"check failed (*FAILED*)", first, "exchops_dag_replication_check_passed", ck("EX10-MB01", "DBLogCopyKeepingUp"), 0},
		{"check warning", first, "exchops_dag_replication_check_passed", ck("EX10-MB02", "DBLogCopyKeepingUp"), 0},
		{"check passed in German", first, "exchops_dag_replication_check_passed", ck("EX10-MB02", "ReplayService"), 1},
		{"unread member has no checks", first, "exchops_dag_replication_check_passed", ck("EX10-MB03", "ClusterService"), absent},
		{"check passes again", second, "exchops_dag_replication_check_passed", ck("EX10-MB01", "DBLogCopyKeepingUp"), 1},
		{"removed database: copy queue gone", second, "exchops_dag_copy_queue_length", cp("MB02", "EX10-MB01"), absent},
		{"removed database: replay queue gone", second, "exchops_dag_replay_queue_length", cp("MB02", "EX10-MB02"), absent},
		{"removed database: healthy gone", second, "exchops_dag_copy_healthy", cp("MB02", "EX10-MB02"), absent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if f := tt.fams[tt.metric]; f != nil && f.GetType() != dto.MetricType_GAUGE {
				t.Fatalf("%s is a %v, want a gauge", tt.metric, f.GetType())
			}
			s := find(tt.fams, tt.metric, tt.labels)
			switch {
			case tt.want == absent && s != nil:
				t.Errorf("%s%v = %v, want no such series", tt.metric, tt.labels, s.GetGauge().GetValue())
			case tt.want != absent && s == nil:
				t.Errorf("%s%v: no such series", tt.metric, tt.labels)
			case s != nil && s.GetGauge().GetValue() != tt.want:
				t.Errorf("%s%v = %v, want %v", tt.metric, tt.labels, s.GetGauge().GetValue(), tt.want)
			}
		})
	}
	if n := len(second["exchops_dag_copy_healthy"].GetMetric()); n != 3 {
		t.Errorf("after the second report, %d copy_healthy series, want its 3 copies", n)
	}
}

// Each report replaces its own DAG's series and no other's; a report that shows
// nothing of its DAG adds no DAG, but a DAG already known shows its failure.
func TestDAGHealthPerDAG(t *testing.T) {
	m := New()
	m.ObserveReport(firstReport())
	other := secondReport()
	other.DAG = "E14-DAG2"
	m.ObserveReport(other)

	// A name that is no DAG: Get-DatabaseAvailabilityGroup failed, no member belongs to it.
	typo := &schedules.Report{DAG: "E14-DGA", At: reportAt, Verdict: schedules.Failure,
		Errors: []string{"EX10-CAHT: The operation couldn't be performed because object 'E14-DGA' couldn't be found on 'DC01.msglab.local'."}}
	m.ObserveReport(typo)
	// E14-DAG2, known, now cannot be read at all.
	gone := &schedules.Report{DAG: "E14-DAG2", At: reportAt.Add(time.Hour), Verdict: schedules.Failure,
		Errors: []string{"EX10-CAHT: cannot reach the server"}}
	m.ObserveReport(gone)
	m.ObserveReport(nil)
	m.ObserveReport(&schedules.Report{})

	fams := scrape(t, m)
	if got := labelValues(fams, "exchops_dag_health_verdict", "dag"); strings.Join(got, ",") != "E14-DAG,E14-DAG2" {
		t.Errorf("DAGs with a verdict: %v, want E14-DAG and E14-DAG2 (not the name that is no DAG)", got)
	}
	if s := find(fams, "exchops_dag_health_verdict", map[string]string{"dag": "E14-DAG2"}); s.GetGauge().GetValue() != 2 {
		t.Errorf("E14-DAG2, unreadable, has verdict %v, want 2", s.GetGauge().GetValue())
	}
	if s := find(fams, "exchops_dag_report_timestamp_seconds", map[string]string{"dag": "E14-DAG2"}); s.GetGauge().GetValue() != float64(reportAt.Add(time.Hour).Unix()) {
		t.Errorf("E14-DAG2's report time %v, want the unreadable report's", s.GetGauge().GetValue())
	}
	for _, name := range []string{"exchops_dag_copy_healthy", "exchops_dag_copy_queue_length", "exchops_dag_replication_check_passed"} {
		for _, v := range labelValues(fams, name, "dag") {
			if v != "E14-DAG" {
				t.Errorf("%s of %s: E14-DAG2's unreadable report has no copies and no checks", name, v)
			}
		}
	}
	if got := len(fams["exchops_dag_copy_healthy"].GetMetric()); got != len(firstReport().Copies)-1 {
		t.Errorf("E14-DAG has %d copy series, want its first report's (less the ignored one)", got)
	}
}

// Whatever Exchange sends as names, the scrape stays valid: label values are escaped
// (quotes, backslashes, new lines), invalid UTF-8 is replaced, a copy or check listed
// twice makes one series, and ignored members are left out.
func TestDAGHealthOddNames(t *testing.T) {
	m := New()
	rep := &schedules.Report{DAG: "e14-dag", At: reportAt, Verdict: "Unheard-of",
		DAGStatus: schedules.DAGStatus{Servers: []string{"EX10-MB01"}},
		Copies: []schedules.CopyDetail{
			{Database: `Sales "EU"\2` + "\nnew", Server: "EX10-MB01", Status: "Healthy", CopyQueue: 4, Healthy: true},
			{Database: "Bad\xffUTF8", Server: "EX10-MB01", Status: "ServiceDown", CopyQueue: 7},
			{Database: "Twice", Server: "EX10-MB01", Status: "Healthy", CopyQueue: 1, Healthy: true},
			{Database: "Twice", Server: "EX10-MB01", Status: "Failed", CopyQueue: 2},
		},
		Members: []schedules.MemberHealth{
			{Server: "EX10-MB01", Read: true, Checks: []schedules.Check{
				{Name: "ClusterService", Result: "Passed"}, {Name: "ClusterService", Result: "Failed"},
				{Name: "QuorumGroup", Result: ""},
			}},
			{Server: "EX10-MB09", Read: true, Ignored: true, Checks: []schedules.Check{{Name: "ClusterService", Result: "Failed"}}},
		},
	}
	m.ObserveReport(rep)
	fams := scrape(t, m) // the strict parser fails on any malformed line
	tests := []struct {
		metric string
		labels map[string]string
		want   float64
	}{
		{"exchops_dag_health_verdict", map[string]string{"dag": "E14-DAG"}, 2}, // an unknown verdict ranks as a failure
		{"exchops_dag_copy_queue_length", map[string]string{"dag": "E14-DAG", "database": `Sales "EU"\2` + "\nnew", "server": "EX10-MB01"}, 4},
		{"exchops_dag_copy_healthy", map[string]string{"dag": "E14-DAG", "database": "Bad\uFFFDUTF8", "server": "EX10-MB01"}, 0},
		{"exchops_dag_copy_queue_length", map[string]string{"dag": "E14-DAG", "database": "Twice", "server": "EX10-MB01"}, 1},
		{"exchops_dag_replication_check_passed", map[string]string{"dag": "E14-DAG", "server": "EX10-MB01", "check": "ClusterService"}, 0},
		{"exchops_dag_replication_check_passed", map[string]string{"dag": "E14-DAG", "server": "EX10-MB01", "check": "QuorumGroup"}, 0},
	}
	for _, tt := range tests {
		s := find(fams, tt.metric, tt.labels)
		if s == nil {
			t.Errorf("%s%q: no such series", tt.metric, tt.labels)
			continue
		}
		if s.GetGauge().GetValue() != tt.want {
			t.Errorf("%s%q = %v, want %v", tt.metric, tt.labels, s.GetGauge().GetValue(), tt.want)
		}
	}
	if s := find(fams, "exchops_dag_copy_queue_length", map[string]string{"dag": "E14-DAG", "database": "Bad\uFFFDUTF8", "server": "EX10-MB01"}); s != nil {
		t.Errorf("a ServiceDown copy exports a copy queue of %v: its queues were not read", s.GetGauge().GetValue())
	}
	if got := labelValues(fams, "exchops_dag_replication_check_passed", "server"); strings.Join(got, ",") != "EX10-MB01,EX10-MB01" {
		t.Errorf("check series of servers %v, want EX10-MB01's two (EX10-MB09 is ignored)", got)
	}
}

// Reports arriving while Prometheus scrapes (run with -race): each scrape sees one
// whole report of the DAG, never parts of two.
func TestDAGHealthConcurrent(t *testing.T) {
	m := New()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 200 {
			if i%2 == 0 {
				m.ObserveReport(firstReport())
			} else {
				m.ObserveReport(secondReport())
			}
		}
	})
	for range 20 {
		fams := scrape(t, m)
		n := len(fams["exchops_dag_copy_healthy"].GetMetric())
		at := find(fams, "exchops_dag_report_timestamp_seconds", map[string]string{"dag": "E14-DAG"})
		switch {
		case at == nil && n == 0:
		case at != nil && at.GetGauge().GetValue() == float64(reportAt.Unix()) && n == 5:
		case at != nil && at.GetGauge().GetValue() == float64(reportAt.Add(15*time.Minute).Unix()) && n == 3:
		default:
			t.Fatalf("a scrape mixed two reports: %d copies, report time %v", n, at.GetGauge().GetValue())
		}
	}
	wg.Wait()
}

func TestDAGHealthNil(t *testing.T) {
	var m *Metrics
	m.ObserveReport(firstReport()) // must not panic
}
