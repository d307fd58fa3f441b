package slack

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/bot/bottest"
	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/benchreport"
	"github.com/exchops/exchops/internal/clock"
)

// The acknowledgement benchmarks (issue 9): how long Slack waits for the answer to
// /exchange, on the full path (verify the signature, record the delivery, parse, check
// the person, plan a read-only command, answer) against a bare handler that reads the
// body and checks the signature only. Both are served over loopback HTTP by the same
// kind of server and called by the same client, so the difference is exchops' work.
//
// The core, approvals and SQLite are real; the executor is bottest.FakeExec,
// because a slash command is acknowledged before any preflight or run starts. What a
// change does after its acknowledgement (preflight, storing the request, the card)
// runs in the background, as in production, and competes for the same CPUs.

// concurrentCommands is the burst of the p99 target: 200 commands at once.
const concurrentCommands = 200

// benchFront is a running Slack front for benchmarks, with the bare handler beside it.
type benchFront struct {
	full, bare *httptest.Server
	svc        *approvals.Service
	core       *bot.Core
	s          *Slack
	client     *http.Client
	n          atomic.Int64 // numbers triggers and response URLs
	apiURL     string
}

func newBenchFront(b *testing.B) *benchFront {
	b.Helper()
	ctx := context.Background()
	f := &benchFront{}

	// The Web API and response URLs answer at once: they stand for Slack, which is not
	// what is measured.
	f.apiURL = bottest.NewFakeSlack(b, clock.Real{}, "").APIURL()

	pol := approvals.Policy{People: testPeople, Required: 1, ExpireAfter: 30 * time.Minute}
	rig := bottest.NewRig(b, bottest.Options{Policy: pol, Clock: clock.Real{}})
	db, core := rig.DB, rig.Core
	f.svc, f.core = rig.Svc, core
	s, err := New(Config{Core: core, SigningSecret: testSecret, BotToken: testBotToken, APIURL: f.apiURL,
		ApprovalsChannel: "C0APPROVALS", Outbox: db, Dedup: db, Clock: clock.Real{}})
	if err != nil {
		b.Fatal(err)
	}
	f.s = s
	rig.AddFront(s, s.Close)
	if err := s.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.settle(b) })

	mux := http.NewServeMux()
	s.Routes(mux)
	f.full = httptest.NewServer(mux)
	b.Cleanup(f.full.Close)
	bare := http.NewServeMux()
	bare.HandleFunc("POST /slack/commands", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.verified(w, r); ok {
			w.WriteHeader(http.StatusOK)
		}
	})
	f.bare = httptest.NewServer(bare)
	b.Cleanup(f.bare.Close)

	f.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 2 * concurrentCommands, MaxIdleConnsPerHost: 2 * concurrentCommands}}
	b.Cleanup(f.client.CloseIdleConnections)
	return f
}

// command sends one signed slash command to srv and returns how long the answer took.
func (f *benchFront) command(srv *httptest.Server, text string) (time.Duration, error) {
	n := f.n.Add(1)
	body := url.Values{
		"token": {"legacy"}, "team_id": {"T0EXCHOPS"}, "team_domain": {"msglab"}, "channel_id": {"C0OPS"},
		"channel_name": {"ops"}, "user_id": {"U0ALICE"}, "user_name": {"alice"}, "command": {"/exchange"},
		"text": {text}, "response_url": {fmt.Sprintf("%sresponse/%d", f.apiURL, n)},
		"trigger_id": {fmt.Sprintf("bench-%d", n)}, "api_app_id": {"A0EXCHOPS"},
	}.Encode()
	req, err := http.NewRequest("POST", srv.URL+"/slack/commands", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header = sign(testSecret, time.Now(), body)
	start := time.Now()
	res, err := f.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	took := time.Since(start)
	if res.StatusCode != http.StatusOK {
		return took, fmt.Errorf("answered %s", res.Status)
	}
	return took, nil
}

// settle waits until the background work of the commands sent so far is done, so
// that one measurement does not pay for the last one's.
func (f *benchFront) settle(b *testing.B) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		// The front's own goroutines first: a command's Handle may still be adding
		// work to the core, and a WaitGroup must not be waited on while that happens.
		for !f.s.Idle() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		f.svc.Wait()
		f.core.Wait()
		if f.s.Idle() {
			f.core.Wait()
			if f.s.Idle() {
				return
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("the Slack front did not settle within 5 minutes")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// clearPending cancels the pending requests the benchmark made (all but keep), then
// settles. Without it every change measured would stay pending, and thousands of
// pending requests are not what exchops sees: the expiry worker reads every pending
// request whenever one is added (see BenchmarkSlashAck's "pending-1000").
func (f *benchFront) clearPending(b *testing.B, keep map[string]bool) {
	b.Helper()
	f.settle(b)
	ctx := context.Background()
	rs, err := f.svc.Pending(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range rs {
		if keep[r.ID] {
			continue
		}
		if _, err := f.svc.Cancel(ctx, r.ID, r.Requester, approvals.Origin{Platform: "slack", Channel: "C0OPS", User: "U0ALICE"}); err != nil {
			b.Fatal(err)
		}
	}
	f.settle(b)
}

// fillPending makes n pending requests and returns their ids.
func (f *benchFront) fillPending(b *testing.B, n int) map[string]bool {
	b.Helper()
	ctx := context.Background()
	ids := map[string]bool{}
	for range n {
		inv, err := commands.Parse(ackCommands[0].text)
		if err != nil {
			b.Fatal(err)
		}
		r, err := f.svc.Request(ctx, approvals.Submit{Person: "alice", Origin: approvals.Origin{Platform: "slack", Channel: "C0OPS", User: "U0ALICE"}, Command: inv})
		if err != nil {
			b.Fatal(err)
		}
		ids[r.ID] = true
	}
	f.settle(b)
	return ids
}

// reportLatencies makes ns/op the mean of the latencies the benchmark recorded
// itself, rather than the loop's time, which includes waiting between commands.
func reportLatencies(b *testing.B, lat []time.Duration) {
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	if len(lat) > 0 {
		b.ReportMetric(float64(sum)/float64(len(lat)), "ns/op")
	}
}

// clearEvery is how many changes a benchmark sends before it cancels them.
const clearEvery = 50

// between runs between two measured commands: it lets the last command's
// background work finish, and now and then cancels the requests made. It is not
// measured: the benchmarks time each command themselves (see reportLatencies),
// because stopping the benchmark's timer around it stops the world every time,
// which disturbs what it measures.
func (f *benchFront) between(b *testing.B, i int, keep map[string]bool) {
	if i%clearEvery == clearEvery-1 {
		f.clearPending(b, keep)
		return
	}
	f.settle(b)
}

// ackCommands are the commands measured: a change (acknowledged with "Planning…"
// before its preflight), a read-only command (planned before its acknowledgement, run
// afterwards) and a bot command (answered in full in the acknowledgement, nothing left
// to do after it).
var ackCommands = []struct{ name, text string }{
	{"change", `dag create E14-DAG witness=EX10-CAHT dir=C:\FSW`},
	{"read-only", "copy status"},
	{"help", "help casarray"},
}

// BenchmarkSlashAck measures one acknowledgement at a time, each on a quiet front
// (the last command's background work has finished): ns/op is the mean time from
// sending the command to reading the whole answer, p50-ms and p99-ms its
// percentiles. The ratio of full to bare is the target's (≤ 2×). Load is
// BenchmarkSlashAckConcurrent's.
func BenchmarkSlashAck(b *testing.B) {
	f := newBenchFront(b)
	run := func(b *testing.B, srv *httptest.Server, text string, keep map[string]bool) {
		f.clearPending(b, keep)
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := range b.N {
			d, err := f.command(srv, text)
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, d)
			f.between(b, i, keep)
		}
		b.StopTimer()
		reportLatencies(b, lat)
		b.ReportMetric(benchreport.Milliseconds(benchreport.Percentile(lat, 50)), "p50-ms")
		b.ReportMetric(benchreport.Milliseconds(benchreport.Percentile(lat, 99)), "p99-ms")
		f.clearPending(b, keep)
	}
	b.Run("bare", func(b *testing.B) { run(b, f.bare, ackCommands[0].text, nil) })
	for _, c := range ackCommands {
		b.Run("full-"+c.name, func(b *testing.B) { run(b, f.full, c.text, nil) })
	}
	// The same change with 1,000 requests pending, to show what a backlog costs.
	b.Run("full-change-pending-1000", func(b *testing.B) {
		keep := f.fillPending(b, 1000)
		run(b, f.full, ackCommands[0].text, keep)
		f.clearPending(b, nil)
	})
}

// BenchmarkSlashAckInProcess is the same comparison without the network: the
// handlers are called directly, so the ratio is of exchops' own work alone.
func BenchmarkSlashAckInProcess(b *testing.B) {
	f := newBenchFront(b)
	mux := http.NewServeMux()
	f.s.Routes(mux)
	bare := f.bare.Config.Handler
	run := func(b *testing.B, h http.Handler, text string) {
		f.clearPending(b, nil)
		b.ResetTimer()
		lat := make([]time.Duration, 0, b.N)
		for i := range b.N {
			n := f.n.Add(1)
			body := url.Values{"channel_id": {"C0OPS"}, "user_id": {"U0ALICE"}, "command": {"/exchange"}, "text": {text},
				"response_url": {fmt.Sprintf("%sresponse/%d", f.apiURL, n)}, "trigger_id": {fmt.Sprintf("inproc-%d", n)}}.Encode()
			req := httptest.NewRequest("POST", "/slack/commands", strings.NewReader(body))
			req.Header = sign(testSecret, time.Now(), body)
			rec := httptest.NewRecorder()
			start := time.Now()
			h.ServeHTTP(rec, req)
			lat = append(lat, time.Since(start))
			if rec.Code != http.StatusOK {
				b.Fatalf("answered %d: %s", rec.Code, rec.Body)
			}
			f.between(b, i, nil)
		}
		b.StopTimer()
		reportLatencies(b, lat)
		f.clearPending(b, nil)
	}
	b.Run("bare", func(b *testing.B) { run(b, bare, ackCommands[0].text) })
	// Where the difference goes: the signature and recording the delivery in SQLite
	// (what lets a replay be recognised), before any command is looked at.
	dedup := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := f.s.verified(w, r); !ok {
			return
		}
		if _, err := f.s.cfg.Dedup.FirstSeen(r.Context(), "slack:command:"+r.FormValue("trigger_id"), time.Now(), bot.DedupKeep); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	b.Run("verify+dedup", func(b *testing.B) { run(b, dedup, ackCommands[0].text) })
	for _, c := range ackCommands {
		b.Run("full-"+c.name, func(b *testing.B) { run(b, mux, c.text) })
	}
}

// BenchmarkSlashAckConcurrent sends bursts of 200 commands at once (one op is one
// burst) and reports the percentiles of every command's acknowledgement in them. The
// client's connections are opened before the clock starts, as Slack's are kept open.
func BenchmarkSlashAckConcurrent(b *testing.B) {
	f := newBenchFront(b)
	burst := func(srv *httptest.Server, text string, lat []time.Duration) error {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var first error
		start := make(chan struct{})
		for i := range concurrentCommands {
			wg.Go(func() {
				<-start
				d, err := f.command(srv, text)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
				lat[i] = d
			})
		}
		close(start)
		wg.Wait()
		return first
	}
	run := func(b *testing.B, srv *httptest.Server, text string) {
		warm := make([]time.Duration, concurrentCommands)
		if err := burst(srv, text, warm); err != nil {
			b.Fatal(err)
		}
		f.clearPending(b, nil)
		var all []time.Duration
		b.ResetTimer()
		for range b.N {
			lat := make([]time.Duration, concurrentCommands)
			if err := burst(srv, text, lat); err != nil {
				b.Fatal(err)
			}
			all = append(all, lat...)
			b.StopTimer()
			f.clearPending(b, nil)
			b.StartTimer()
		}
		b.StopTimer()
		b.ReportMetric(benchreport.Milliseconds(benchreport.Percentile(all, 50)), "p50-ms")
		b.ReportMetric(benchreport.Milliseconds(benchreport.Percentile(all, 99)), "p99-ms")
		b.ReportMetric(benchreport.Milliseconds(benchreport.Percentile(all, 100)), "max-ms")
	}
	b.Run("bare", func(b *testing.B) { run(b, f.bare, ackCommands[0].text) })
	for _, c := range ackCommands[:2] {
		b.Run("full-"+c.name, func(b *testing.B) { run(b, f.full, c.text) })
	}
}
