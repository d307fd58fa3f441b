package schedules

import "strings"

// Observer hears every health report the scheduler keeps (scheduled or on demand with
// `health <dag>`), after it is stored: the metrics export them to Prometheus. It must
// not keep or change rep, and must return quickly (it runs in the report's goroutine).
//
// A drill's pre-check report is not observed: it is not kept for the trend either, and
// it is judged without health.ignore (a drill refuses to start on any unhealthy copy),
// so its verdict is not the one monitoring pages on.
type Observer interface {
	ObserveReport(rep *Report)
}

// Level is the verdict as a number, 0 for OK, 1 for Warning, 2 for Failure (and for
// anything else, as the report ranks it).
func (v Verdict) Level() int { return v.rank() }

// Passed reports whether the check passed: its Result, the language-neutral enum
// value, is Passed. Warning, Failed, Undefined and no result at all are not a pass.
func (c Check) Passed() bool { return strings.EqualFold(c.Result, "Passed") }

// QueuesKnown reports whether the copy's CopyQueue and ReplayQueue are lengths that
// were read, as opposed to the zero of nothing read: a copy no member reported
// (Status Unknown) has none, and neither has a copy whose member's Microsoft Exchange
// Replication service is down (ServiceDown): Get-MailboxDatabaseCopyStatus gets its
// queue lengths from that service.
func (c CopyDetail) QueuesKnown() bool {
	return !strings.EqualFold(c.Status, "Unknown") && !strings.EqualFold(c.Status, "ServiceDown")
}

// DAGSeen reports whether anything the report read shows that its DAG exists: the
// DAG's own status, its networks or databases from the management server, or a
// member that said it belongs to it. It is false for a name that is no DAG, and for a
// DAG none of whose reads succeeded.
func (r *Report) DAGSeen() bool {
	st := r.DAGStatus
	return len(st.Servers) > 0 || len(st.OperationalServers) > 0 || st.PrimaryActiveManager != "" ||
		st.WitnessServer != "" || st.WitnessDirectory != "" || st.WitnessShareInUse != "" ||
		len(r.Networks) > 0 || len(r.Databases) > 0 || len(r.Copies) > 0 || len(r.Members) > 0
}
