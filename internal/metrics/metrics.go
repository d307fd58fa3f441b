// Package metrics is what exchops tells Prometheus at GET /metrics: commands asked for,
// the life of approval requests, runs and how long they took, WinRM failures by kind and
// posts to chat. It keeps its own registry (never the global default one), so two bots in
// one test process do not share counters, and its methods do nothing on a nil *Metrics,
// so code under test may be handed nil.
//
// Label values come only from fixed sets (the command catalog, outcomes, error kinds,
// registered platform names), never from what someone typed: each distinct label value is a new time
// series kept for as long as the process lives. The DAG health gauges are the one
// exception, and a bounded one: their labels are what Exchange reported (DAGs that
// exist, their databases, members and Test-ReplicationHealth checks), and each DAG's
// series are replaced by its next report, so what leaves the organisation leaves
// /metrics.
package metrics

import (
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/exchops/exchops/commands"
)

// Unknown is the label value for a command that is not in the catalog (input that did
// not parse) and for an empty outcome, kind or platform.
const Unknown = "unknown"

// RequestOutcomes are the steps of a request's life that Request counts: "requested"
// when it is created, then the statuses of package approvals it moves to.
var RequestOutcomes = []string{
	"requested", "approved", "denied", "expired", "cancelled",
	"stale", "succeeded", "failed", "interrupted",
}

// RunOutcomes are the ends of a run that Run counts.
var RunOutcomes = []string{"succeeded", "failed", "interrupted"}

// WinRMErrorKinds are the kinds of runners.Error (runners.Kind as a string). They are
// copied here rather than imported so that this package stays free of the WinRM client;
// a test checks that the two lists agree.
var WinRMErrorKinds = []string{
	"invalid", "unreachable", "unauthorized", "busy",
	"protocol", "script failed", "change failed", "timeout", "canceled",
}

// PostOutcomes are the outcomes Post is pre-initialised with, for every chat platform
// given to New: "sent" when the platform accepted a message, "failed" for every attempt
// that did not (a post that is retried counts once per failed attempt).
var PostOutcomes = []string{"sent", "failed"}

// runBuckets span a quick read-only command (under a second) to seeding a large
// database copy or a switchover that waits for replication (tens of minutes, up to an
// hour); Prometheus' default buckets stop at 10 s, where Exchange changes begin.
var runBuckets = []float64{0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 2700, 3600}

// Metrics holds exchops' collectors and the registry that serves them. Create it with
// New; the zero value is not usable, a nil *Metrics is (it records nothing).
type Metrics struct {
	reg      *prometheus.Registry
	handler  http.Handler
	catalog  map[string]bool // the catalog's command names
	commands *prometheus.CounterVec
	requests *prometheus.CounterVec
	runs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
	winrm    *prometheus.CounterVec
	posts    *prometheus.CounterVec
	// dagHealth holds the gauges of each DAG's latest health report (ObserveReport).
	dagHealth *dagHealth
}

// New returns metrics registered on a fresh registry together with the Go runtime and
// process collectors, with every known label value already at 0 so that dashboards and
// alerts see the series before the first event. platforms are the registered names of
// the chat platforms exchops posts to (main registers them), the label values of Post.
func New(platforms ...string) *Metrics {
	m := &Metrics{
		reg:       prometheus.NewRegistry(),
		catalog:   map[string]bool{},
		dagHealth: newDAGHealth(),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "exchops_commands_total",
			Help: "Commands received, by catalog name (\"unknown\" for input that names no command).",
		}, []string{"command"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "exchops_requests_total",
			Help: "Approval requests created (\"requested\") and the statuses they moved to.",
		}, []string{"outcome"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "exchops_runs_total",
			Help: "Runs of planned PowerShell that ended, by outcome.",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "exchops_run_duration_seconds",
			Help:    "How long runs took, from start to end, by outcome.",
			Buckets: runBuckets,
		}, []string{"outcome"}),
		winrm: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "exchops_winrm_errors_total",
			Help: "Failed WinRM runs, by the kind of error.",
		}, []string{"kind"}),
		posts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "exchops_chat_posts_total",
			Help: "Messages posted to chat platforms, by platform and outcome.",
		}, []string{"platform", "outcome"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.commands, m.requests, m.runs, m.duration, m.winrm, m.posts, m.dagHealth,
	)

	for _, s := range commands.Catalog() {
		m.catalog[s.Name] = true
		m.commands.WithLabelValues(s.Name)
	}
	m.commands.WithLabelValues(Unknown)
	for _, o := range RequestOutcomes {
		m.requests.WithLabelValues(o)
	}
	for _, o := range RunOutcomes {
		m.runs.WithLabelValues(o)
		m.duration.WithLabelValues(o)
	}
	for _, k := range WinRMErrorKinds {
		m.winrm.WithLabelValues(k)
	}
	for _, p := range platforms {
		for _, o := range PostOutcomes {
			m.posts.WithLabelValues(p, o)
		}
	}

	// Registry makes the handler count its own failures to gather on this registry.
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
	return m
}

// Handler serves the metrics in the Prometheus exposition formats. On a nil *Metrics it
// answers 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return m.handler
}

// Command counts one command received. The caller must pass the command's catalog name
// (commands.Spec.Name, such as "dag create"), or Unknown when the input named no command;
// never the text that was typed. A name the catalog does not hold is counted as Unknown,
// so a mistake cannot turn user text into a label value.
func (m *Metrics) Command(name string) {
	if m == nil {
		return
	}
	name = strings.ToLower(strings.Join(strings.Fields(name), " "))
	if !m.catalog[name] {
		name = Unknown
	}
	m.commands.WithLabelValues(name).Inc()
}

// Request counts a request created ("requested") or moving to a status; outcome is one
// of RequestOutcomes.
func (m *Metrics) Request(outcome string) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(orUnknown(outcome)).Inc()
}

// Run counts a run that ended with outcome (one of RunOutcomes) and observes how long it
// took. A negative duration (a clock that moved back) is observed as 0.
func (m *Metrics) Run(outcome string, d time.Duration) {
	if m == nil {
		return
	}
	outcome = orUnknown(outcome)
	m.runs.WithLabelValues(outcome).Inc()
	m.duration.WithLabelValues(outcome).Observe(max(d, 0).Seconds())
}

// WinRMError counts a failed WinRM run by its kind: string(runners.KindOf(err)), one of
// WinRMErrorKinds; "" (an error that is not a runners.Error) is counted as Unknown.
func (m *Metrics) WinRMError(kind string) {
	if m == nil {
		return
	}
	m.winrm.WithLabelValues(orUnknown(kind)).Inc()
}

// Post counts one attempt to post to a chat platform (its registered name, as given
// to New) with its outcome, one of PostOutcomes.
func (m *Metrics) Post(platform, outcome string) {
	if m == nil {
		return
	}
	m.posts.WithLabelValues(orUnknown(platform), orUnknown(outcome)).Inc()
}

func orUnknown(s string) string {
	if s == "" {
		return Unknown
	}
	return s
}
