package metrics

import (
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/exchops/exchops/schedules"
)

// dagHealth is the collector of the DAG health gauges: for each DAG, the series of its
// latest health report. A report replaces its DAG's series as a whole, so a database,
// copy, member or check that the new report no longer has loses its series at once,
// and a scrape never sees half of one report and half of the one before.
type dagHealth struct {
	verdict, at, copyQueue, replayQueue, copyHealthy, checkPassed *prometheus.Desc

	mu   sync.Mutex
	dags map[string][]prometheus.Metric // by DAG name
}

func newDAGHealth() *dagHealth {
	copyLabels := []string{"dag", "database", "server"}
	return &dagHealth{
		dags: map[string][]prometheus.Metric{},
		verdict: prometheus.NewDesc("exchops_dag_health_verdict",
			"Verdict of the DAG's latest health report: 0 OK, 1 warning, 2 failure.",
			[]string{"dag"}, nil),
		at: prometheus.NewDesc("exchops_dag_report_timestamp_seconds",
			"When the DAG's latest health report was made, in seconds since the Unix epoch.",
			[]string{"dag"}, nil),
		copyQueue: prometheus.NewDesc("exchops_dag_copy_queue_length",
			"Logs not yet copied to the database copy, in the DAG's latest health report. "+
				"Absent for a copy whose queues were not read (status Unknown or ServiceDown) and for copies in health.ignore.",
			copyLabels, nil),
		replayQueue: prometheus.NewDesc("exchops_dag_replay_queue_length",
			"Logs copied but not yet replayed into the database copy, in the DAG's latest health report "+
				"(long on purpose on a lagged copy). Absent for a copy whose queues were not read (status Unknown or ServiceDown) and for copies in health.ignore.",
			copyLabels, nil),
		copyHealthy: prometheus.NewDesc("exchops_dag_copy_healthy",
			"1 when the database copy was healthy in the DAG's latest health report (Mounted or Healthy, queues under "+
				"health.copy_queue and health.replay_queue, a lagged copy's replay queue not counted), else 0, also for a copy that could not be read.",
			copyLabels, nil),
		checkPassed: prometheus.NewDesc("exchops_dag_replication_check_passed",
			"1 when the Test-ReplicationHealth check passed on the member in the DAG's latest health report, "+
				"0 when it did not (a warning, a failure or no result).",
			[]string{"dag", "server", "check"}, nil),
	}
}

// Describe sends the descriptions of the six gauges.
func (d *dagHealth) Describe(ch chan<- *prometheus.Desc) {
	for _, desc := range []*prometheus.Desc{d.verdict, d.at, d.copyQueue, d.replayQueue, d.copyHealthy, d.checkPassed} {
		ch <- desc
	}
}

// Collect sends every DAG's series, DAGs in name order.
func (d *dagHealth) Collect(ch chan<- prometheus.Metric) {
	d.mu.Lock()
	names := make([]string, 0, len(d.dags))
	for name := range d.dags {
		names = append(names, name)
	}
	slices.Sort(names)
	all := make([][]prometheus.Metric, len(names))
	for i, name := range names {
		all[i] = d.dags[name] // never changed once stored: replaced whole
	}
	d.mu.Unlock()
	for _, series := range all {
		for _, m := range series {
			ch <- m
		}
	}
}

// ObserveReport sets the DAG health gauges from a health report, replacing every
// series its DAG had (schedules.Observer; the scheduler calls it for each report it
// keeps).
//
// What health.ignore names is left out, as it is left out of the verdict, so that an
// alert on these series fires only for what the report judges. A report that shows
// nothing of its DAG (a name that is no DAG, or a DAG whose every read failed) is
// exported only when the DAG has series already: a typed name then cannot add a
// failing DAG that no later report would ever clear, while a known DAG that cannot be
// read any more does show its failure.
func (m *Metrics) ObserveReport(rep *schedules.Report) {
	if m == nil || rep == nil || rep.DAG == "" {
		return
	}
	d := m.dagHealth
	dag := label(strings.ToUpper(rep.DAG))
	series := d.series(dag, rep)
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, known := d.dags[dag]; !known && !rep.DAGSeen() {
		return
	}
	d.dags[dag] = series
}

// series turns one report into its DAG's series.
func (d *dagHealth) series(dag string, rep *schedules.Report) []prometheus.Metric {
	var out []prometheus.Metric
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		// Cannot panic: the label counts are the descriptions' own, and label makes
		// every value valid UTF-8.
		out = append(out, prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...))
	}
	gauge(d.verdict, float64(rep.Verdict.Level()), dag)
	if !rep.At.IsZero() {
		gauge(d.at, float64(rep.At.UnixNano())/1e9, dag)
	}

	// One series per label set, or the whole scrape fails: the report lists each copy
	// once, but the exporter must not depend on it.
	copies := map[[2]string]bool{}
	for _, c := range rep.Copies {
		db, srv := label(c.Database), label(c.Server)
		if c.Ignored || copies[[2]string{db, srv}] {
			continue
		}
		copies[[2]string{db, srv}] = true
		gauge(d.copyHealthy, one(c.Healthy), dag, db, srv)
		if c.QueuesKnown() {
			gauge(d.copyQueue, float64(c.CopyQueue), dag, db, srv)
			gauge(d.replayQueue, float64(c.ReplayQueue), dag, db, srv)
		}
	}

	// A check listed twice for a member passes only if it passed both times.
	type check struct{ server, name string }
	var order []check
	passed := map[check]bool{}
	for _, mh := range rep.Members {
		if mh.Ignored {
			continue
		}
		for _, c := range mh.Checks {
			k := check{label(mh.Server), label(c.Name)}
			if p, seen := passed[k]; seen {
				passed[k] = p && c.Passed()
				continue
			}
			order = append(order, k)
			passed[k] = c.Passed()
		}
	}
	for _, k := range order {
		gauge(d.checkPassed, one(passed[k]), dag, k.server, k.name)
	}
	return out
}

// label makes a value from Exchange a valid label value: Prometheus requires UTF-8.
func label(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

func one(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
