//go:build soak

package main

// The reliability suite (issue 9), run by `make soak`:
//
//	go test -tags soak -run Soak -timeout 15m -count=1 -v .
//
// exchops runs as a child process (`exchops serve` from a configuration file, this
// test binary re-executed) against the lab and bottest.FakeSlack, both in this
// process, so that they outlive the child's SIGKILLs. The lab's servers are reached
// through a small HTTPS proxy per server, which is also where every WinRM Command is
// decoded and counted per request: that is how "ran twice" is seen from outside.
//
// Three phases, all on loopback:
//
//  1. Mixed load for SOAK_DURATION (default 90 s): slash commands (changes, read-only
//     commands, duplicate deliveries), approvals, denials, cancellations and requests
//     left to expire, while faults come and go (the DNS server failing with HTTP 500
//     and hanging, the management server unreachable, Slack answering 429 and 500);
//     halfway, exchops is killed with SIGKILL and started again.
//  2. A race: 1,000 clicks (approvers, duplicates, the requester, a non-approver) on
//     100 requests at once: exactly 100 runs.
//  3. 20 SIGKILLs, each while a run's change is on the server, and restarts: every
//     interrupted run stays interrupted (0 re-runs).
//
// Then the invariants are checked on everything the database holds and printed; any
// that breaks fails the test.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/masterzen/winrm"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot/bottest"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/runners"
	"github.com/exchops/exchops/store"
)

const (
	soakChildEnv = "SOAK_EXCHOPS_CONFIG" // the configuration file, set in the child
	soakRequired = 2                     // approvals needed
	soakExpire   = 45 * time.Second      // approvals.expire_after
	soakTimeout  = 8 * time.Second       // exchange.winrm.timeout: how long a hung command holds a run
	raceRequests = 100
	raceClicks   = 10 // per request
	kills        = 20
)

// soakApprovers may approve; alice and dave may request.
var soakApprovers = []string{"U0BOB", "U0CAROL", "U0ERIN"}

// TestSoakChild is exchops itself, as TestSoak runs it: `exchops serve --config F`.
func TestSoakChild(t *testing.T) {
	cfg := os.Getenv(soakChildEnv)
	if cfg == "" {
		t.Skip("the exchops process of TestSoak")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if code := run(ctx, []string{"serve", "--config", cfg}, os.Stdout, os.Stderr); code != exitOK {
		t.Fatalf("exchops serve exited %d", code)
	}
}

func TestSoak(t *testing.T) {
	began := time.Now()
	duration := 90 * time.Second
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SOAK_DURATION=%q: %v", v, err)
		}
		duration = d
	}
	s := newSoak(t)
	say("soak: exchops pid %d on %s; lab behind %d WinRM proxies; mixed load for %s", s.child.Process.Pid, s.url, len(s.lab.Servers), duration)

	s.mixed(duration)
	s.settle("after the mixed load")
	s.race()
	s.killDuringRuns()
	s.settle("after the restarts")
	s.drainOutbox()
	s.openAtEnd = s.proxy.open()
	s.stopChild()
	s.openAfterStop = s.proxy.open()
	s.check(time.Since(began))
}

func say(format string, args ...any) { fmt.Printf(format+"\n", args...) }

// soak is the world exchops runs in, and what the test saw of it.
type soak struct {
	t       *testing.T
	dir     string
	lab     *lab.Lab
	proxy   *winrmProxy
	slack   *bottest.FakeSlack
	cfgPath string
	url     string // exchops' listen address, the same across restarts
	db      *store.DB
	client  *http.Client

	mu    sync.Mutex
	child *exec.Cmd
	exit  chan error
	log   *os.File

	n atomic.Int64 // numbers triggers and response URLs
	// WinRM shells exchops had open on the lab once quiet, and after SIGTERM.
	openAtEnd, openAfterStop int
	inflight                 sync.WaitGroup
	stats                    soakStats
}

type soakStats struct {
	commands, duplicates, readOnly, clicks, duplicateClicks, ownClicks, denials, cancels, left atomic.Int64
	deliveryErrors, sigkills, faultWindows, leakedShells                                       atomic.Int64
	raceRuns, raceSucceeded, killsRunning, killsInterrupted, killReruns                        int
}

func newSoak(t *testing.T) *soak {
	t.Helper()
	s := &soak{t: t, dir: t.TempDir(), client: &http.Client{Timeout: 30 * time.Second}}
	l, err := lab.Start(lab.Options{Timing: &lab.Timing{}, Startup: 30 * time.Millisecond, OperationTimeoutCap: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	s.lab = l
	s.proxy = startWinRMProxy(t, l)
	s.slack = bottest.NewFakeSlack(t, clock.Real{}, "")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.url = "http://" + ln.Addr().String()
	ln.Close()
	s.cfgPath = filepath.Join(s.dir, "exchops.yaml")
	if err := os.WriteFile(s.cfgPath, []byte(s.config(ln.Addr().String())), 0o600); err != nil {
		t.Fatal(err)
	}
	if s.log, err = os.Create(filepath.Join(s.dir, "exchops.log")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			say("soak: exchops' log is kept in %s", s.keepLog())
		}
	})
	s.startChild()
	t.Cleanup(s.killChild)
	if s.db, err = store.Open(context.Background(), filepath.Join(s.dir, "exchops.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.db.Close() })
	return s
}

// keepLog copies exchops' log out of the test's temporary folder.
func (s *soak) keepLog() string {
	dst := filepath.Join(os.TempDir(), fmt.Sprintf("exchops-soak-%d.log", os.Getpid()))
	if b, err := os.ReadFile(s.log.Name()); err == nil {
		_ = os.WriteFile(dst, b, 0o600)
	}
	return dst
}

func (s *soak) config(listen string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %s\ndatabase: %s\n", listen, filepath.Join(s.dir, "exchops.db"))
	fmt.Fprintf(&b, "slack: {signing_secret_env: SLACK_SIGNING_SECRET, bot_token_env: SLACK_BOT_TOKEN, api_url: %q, approvals_channel: C0APPROVALS}\n", s.slack.APIURL())
	b.WriteString("people:\n")
	for _, p := range benchPeople {
		fmt.Fprintf(&b, "  - {name: %s, slack: %s, roles: [%s]}\n", p.Name, p.Slack, strings.Join(p.Roles, ", "))
	}
	fmt.Fprintf(&b, "approvals: {required: %d, expire_after: %s}\n", soakRequired, soakExpire)
	fmt.Fprintf(&b, "exchange:\n  management_server: EX10-CAHT\n  dns_server: DC01\n")
	fmt.Fprintf(&b, "  winrm: {port: %d, https: true, auth: basic, user: '%s', password_env: WINRM_PASSWORD, insecure_skip_verify: true, timeout: %s, max_per_server: 2}\n",
		s.proxy.port, s.lab.User, soakTimeout)
	b.WriteString("  servers:\n")
	for _, e := range s.lab.Servers {
		fmt.Fprintf(&b, "    - {name: %s, address: %s, roles: [%s]}\n", e.Name, s.proxy.address[e.Name], configRoles(e.Name))
	}
	return b.String()
}

// configRoles are a lab server's roles as the configuration names them.
func configRoles(name string) string {
	for _, s := range labEnv.Servers {
		if !strings.EqualFold(s.Name, name) {
			continue
		}
		var out []string
		for _, r := range s.Roles {
			switch r {
			case "clientaccess":
				out = append(out, "client_access")
			case "hubtransport":
				out = append(out, "hub_transport")
			default:
				out = append(out, r)
			}
		}
		return strings.Join(out, ", ")
	}
	return ""
}

// startChild starts exchops and waits until it answers /healthz.
func (s *soak) startChild() {
	s.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSoakChild$", "-test.count=1", "-test.timeout=0")
	cmd.Env = append(os.Environ(), soakChildEnv+"="+s.cfgPath, "SLACK_SIGNING_SECRET="+benchSigningSecret,
		"SLACK_BOT_TOKEN="+benchBotToken, "WINRM_PASSWORD="+s.lab.Password)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	exit := make(chan error, 1)
	go func() { exit <- cmd.Wait() }()
	s.mu.Lock()
	s.child, s.exit = cmd, exit
	s.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := s.client.Get(s.url + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-exit:
			s.t.Fatalf("exchops exited at start: %v (log: %s)", err, s.keepLog())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("exchops did not answer /healthz within 30 s (log: %s)", s.keepLog())
		}
	}
}

// sigkill kills exchops with SIGKILL and waits until it is gone.
func (s *soak) sigkill() {
	s.mu.Lock()
	cmd, exit := s.child, s.exit
	s.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		s.t.Fatal(err)
	}
	<-exit
	s.stats.sigkills.Add(1)
	s.stats.leakedShells.Add(int64(s.proxy.reap(s.t, s.lab.User, s.lab.Password)))
}

func (s *soak) killChild() {
	s.mu.Lock()
	cmd := s.child
	s.mu.Unlock()
	if cmd != nil && cmd.ProcessState == nil {
		_ = cmd.Process.Kill()
	}
}

// stopChild stops exchops as an operator would (SIGTERM), which must end cleanly.
func (s *soak) stopChild() {
	s.mu.Lock()
	cmd, exit := s.child, s.exit
	s.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exit:
		if err != nil {
			s.t.Errorf("exchops did not stop cleanly on SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		s.t.Errorf("exchops did not stop within 30 s of SIGTERM")
		_ = cmd.Process.Kill()
		<-exit
	}
}

// deliver posts a signed body to exchops as Slack does, trying again while exchops is
// down (Slack retries; people click again). It returns exchops' answer.
func (s *soak) deliver(path, body string) (int, string) {
	return s.deliverSigned(path, body, slackSignature(benchSigningSecret, time.Now(), body))
}

func (s *soak) deliverSigned(path, body string, h http.Header) (int, string) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest("POST", s.url+path, strings.NewReader(body))
		req.Header = h.Clone()
		res, err := s.client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			return res.StatusCode, string(b)
		}
		s.stats.deliveryErrors.Add(1)
		if time.Now().After(deadline) {
			s.t.Errorf("POST %s: exchops did not answer for 30 s: %v", path, err)
			return 0, ""
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// command types /exchange text as user; dup also delivers it a second time, later.
func (s *soak) command(user, text string, dup bool) {
	n := s.n.Add(1)
	body := slashBody(user, "C0OPS", text, fmt.Sprintf("soak-trigger-%d", n), s.slack.ResponseURL(fmt.Sprintf("cmd-%d", n)))
	h := slackSignature(benchSigningSecret, time.Now(), body)
	if status, answer := s.deliverSigned("/slack/commands", body, h); status != http.StatusOK {
		s.t.Errorf("%s types %q: %d %s", user, text, status, answer)
	}
	if dup {
		s.stats.duplicates.Add(1)
		s.later(time.Duration(rand.IntN(1500))*time.Millisecond, func() { s.deliverSigned("/slack/commands", body, h) })
	}
}

// click clicks action on request id's card as user; dup delivers the same click twice.
func (s *soak) click(user, action, id string, dup bool) {
	n := s.n.Add(1)
	body := clickBody(user, "C0APPROVALS", s.cardTS(id), action, id, fmt.Sprintf("soak-click-%d", n), s.slack.ResponseURL(fmt.Sprintf("click-%d", n)))
	h := slackSignature(benchSigningSecret, time.Now(), body)
	s.stats.clicks.Add(1)
	if status, answer := s.deliverSigned("/slack/interactions", body, h); status != http.StatusOK {
		s.t.Errorf("%s clicks %s on %s: %d %s", user, action, id, status, answer)
	}
	if dup {
		s.stats.duplicateClicks.Add(1)
		s.stats.clicks.Add(1)
		s.deliverSigned("/slack/interactions", body, h)
	}
}

// cardTS is the ts of request id's card as the fake Slack posted it (a made-up one
// while the card is not posted yet).
func (s *soak) cardTS(id string) string {
	for _, c := range s.slack.Calls() {
		if c.Method == "chat.postMessage" && c.Status == http.StatusOK && c.Thread == "" {
			if m := cardHeader.FindStringSubmatch(c.Blocks); m != nil && m[1] == id {
				return c.TS
			}
		}
	}
	return "1700000000.card-" + id
}

// later runs f after d, in a goroutine the phase waits for.
func (s *soak) later(d time.Duration, f func()) {
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		time.Sleep(d)
		f()
	}()
}

// requests returns every request, and the dns name each adds.
func (s *soak) requests() (map[string]*approvals.Request, map[string]string) {
	s.t.Helper()
	rs, err := s.db.List(context.Background(), nil, 0)
	if err != nil {
		s.t.Fatal(err)
	}
	byID, name := map[string]*approvals.Request{}, map[string]string{}
	for _, r := range rs {
		byID[r.ID] = r
		if f := strings.Fields(r.Command); len(f) >= 3 && f[0] == "dns" && f[1] == "add" {
			name[r.ID] = f[2]
		}
	}
	return byID, name
}

// waitFor polls the database until cond holds.
func (s *soak) waitFor(what string, timeout time.Duration, cond func(map[string]*approvals.Request, map[string]string) bool) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		byID, names := s.requests()
		if cond(byID, names) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// --- phase 1: mixed load with faults ---------------------------------------------

func (s *soak) mixed(d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { s.requesters(ctx) })
	wg.Go(func() { s.deciders(ctx) })
	wg.Go(func() { s.faults(ctx) })
	wg.Go(func() {
		select {
		case <-time.After(d / 2):
			say("soak: SIGKILL and restart during the mixed load")
			s.sigkill()
			s.startChild()
		case <-ctx.Done():
		}
	})
	wg.Wait()
	s.inflight.Wait()
	s.heal()
	say("soak: mixed load done: %d commands (%d delivered twice, %d read-only), %d clicks (%d delivered twice, %d by the requester), %d denials, %d cancellations, %d left to expire, %d fault windows",
		s.stats.commands.Load(), s.stats.duplicates.Load(), s.stats.readOnly.Load(), s.stats.clicks.Load(), s.stats.duplicateClicks.Load(),
		s.stats.ownClicks.Load(), s.stats.denials.Load(), s.stats.cancels.Load(), s.stats.left.Load(), s.stats.faultWindows.Load())
}

func (s *soak) requesters(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		user := []string{"U0ALICE", "U0DAVE"}[rand.IntN(2)]
		switch p := rand.IntN(100); {
		case p < 80:
			s.stats.commands.Add(1)
			s.command(user, fmt.Sprintf("dns add soak%d 10.30.%d.%d zone=msglab.local", i, i/250%250, i%250+1), rand.IntN(100) < 20)
		case p < 92:
			s.stats.readOnly.Add(1)
			s.command(user, "copy status", false)
		default:
			s.stats.readOnly.Add(1)
			s.command("U0CAROL", "requests", false)
		}
	}
}

func (s *soak) deciders(ctx context.Context) {
	decided := map[string]bool{}
	t := time.NewTicker(300 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rs, err := s.db.List(ctx, []approvals.Status{approvals.Pending}, 0)
		if err != nil {
			continue // ctx ended, or the child is restarting its database
		}
		for _, r := range rs {
			if decided[r.ID] {
				continue
			}
			decided[r.ID] = true
			s.decide(r)
		}
	}
}

// decide chooses a fate for a new request and carries it out a little later.
func (s *soak) decide(r *approvals.Request) {
	requester := map[string]string{"alice": "U0ALICE", "dave": "U0DAVE"}[r.Requester]
	pick := rand.Perm(len(soakApprovers))
	first, second := soakApprovers[pick[0]], soakApprovers[pick[1]]
	wait := func() time.Duration { return time.Duration(rand.IntN(1500)) * time.Millisecond }
	switch p := rand.IntN(100); {
	case p < 50: // approved by two approvers, now and then with duplicates and the requester's own click
		s.later(wait(), func() { s.click(first, "approve", r.ID, rand.IntN(100) < 25) })
		s.later(wait(), func() { s.click(second, "approve", r.ID, rand.IntN(100) < 25) })
		if rand.IntN(100) < 15 {
			s.stats.ownClicks.Add(1)
			s.later(wait(), func() { s.click(requester, "approve", r.ID, false) })
		}
	case p < 62: // one approval, then a denial
		s.stats.denials.Add(1)
		s.later(0, func() {
			s.click(first, "approve", r.ID, false)
			time.Sleep(wait())
			s.click(second, "deny", r.ID, rand.IntN(100) < 25)
		})
	case p < 72:
		s.stats.denials.Add(1)
		s.later(wait(), func() { s.click(first, "deny", r.ID, false) })
	case p < 80:
		s.stats.cancels.Add(1)
		s.later(wait(), func() { s.command(requester, "cancel "+r.ID, false) })
	default:
		s.stats.left.Add(1)
	}
}

// faults cycles through the injected faults, each for a few seconds, with quiet
// spells between them.
func (s *soak) faults(ctx context.Context) {
	steps := []struct {
		name  string
		apply func()
		d     time.Duration
	}{
		{"DC01 answers HTTP 500", func() { s.labFault("DC01", "http500") }, 2 * time.Second},
		{"", nil, 3 * time.Second},
		{"Slack answers 429 (Retry-After: 1)", func() { s.slack.SetFault(func(string) (int, string) { return http.StatusTooManyRequests, "1" }) }, 3 * time.Second},
		{"", nil, 3 * time.Second},
		{"DC01 hangs", func() { s.labFault("DC01", "hang") }, 4 * time.Second},
		{"", nil, 4 * time.Second},
		{"Slack answers 500 to half the calls", func() {
			s.slack.SetFault(func(string) (int, string) {
				if rand.IntN(2) == 0 {
					return http.StatusInternalServerError, ""
				}
				return 0, ""
			})
		}, 4 * time.Second},
		{"", nil, 3 * time.Second},
		{"EX10-CAHT unreachable", func() { s.labFault("EX10-CAHT", "unreachable") }, 2 * time.Second},
		{"", nil, 3 * time.Second},
	}
	for {
		for _, st := range steps {
			if st.apply != nil {
				s.stats.faultWindows.Add(1)
				st.apply()
			}
			select {
			case <-ctx.Done():
				s.heal()
				return
			case <-time.After(st.d):
			}
			s.heal()
		}
	}
}

func (s *soak) labFault(server, kind string) {
	if err := s.lab.SetFault(server, kind); err != nil {
		s.t.Error(err)
	}
}

// heal ends every fault.
func (s *soak) heal() {
	for _, e := range s.lab.Servers {
		s.labFault(e.Name, "none")
	}
	s.slack.SetFault(nil)
}

// settle waits until nothing is pending, approved or running: pending requests
// expire, runs end (a hung command is cut off by the runner's timeout).
func (s *soak) settle(when string) {
	s.waitFor("every request to be final "+when, soakExpire+2*soakTimeout+30*time.Second, func(rs map[string]*approvals.Request, _ map[string]string) bool {
		for _, r := range rs {
			if !r.Status.Final() {
				return false
			}
		}
		return true
	})
}

// --- phase 2: the click race -------------------------------------------------------

func (s *soak) race() {
	began := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 10)
	requester := map[string]string{}
	for i := range raceRequests {
		user := []string{"U0ALICE", "U0DAVE"}[i%2]
		requester[fmt.Sprintf("race%d", i)] = user
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s.command(user, fmt.Sprintf("dns add race%d 10.40.0.%d zone=msglab.local", i, i+1), false)
		})
	}
	wg.Wait()
	ids := map[string]string{} // name -> id
	s.waitFor("the race's 100 requests", time.Minute, func(rs map[string]*approvals.Request, names map[string]string) bool {
		for id, n := range names {
			if _, ok := requester[n]; ok && rs[id].Status == approvals.Pending {
				ids[n] = id
			}
		}
		return len(ids) == raceRequests
	})

	// Ten clicks on each card: the three approvers, each of them twice (the same
	// delivery again, or a second click), the requester, and an admin who may not
	// approve.
	type click struct {
		user, id string
		dup      bool
	}
	var clicks []click
	for n, id := range ids {
		other := map[string]string{"U0ALICE": "U0DAVE", "U0DAVE": "U0ALICE"}[requester[n]]
		clicks = append(clicks,
			click{"U0BOB", id, true}, click{"U0CAROL", id, true}, click{"U0ERIN", id, true},
			click{"U0BOB", id, false}, click{"U0CAROL", id, false}, click{requester[n], id, false}, click{other, id, false},
		)
	}
	rand.Shuffle(len(clicks), func(i, j int) { clicks[i], clicks[j] = clicks[j], clicks[i] })
	total := 0
	for _, c := range clicks {
		total++
		if c.dup {
			total++
		}
	}
	if total != raceRequests*raceClicks {
		s.t.Fatalf("the race has %d clicks, want %d", total, raceRequests*raceClicks)
	}
	start := make(chan struct{})
	work := make(chan click)
	for range 100 {
		wg.Go(func() {
			<-start
			for c := range work {
				s.click(c.user, "approve", c.id, c.dup)
			}
		})
	}
	close(start)
	for _, c := range clicks {
		work <- c
	}
	close(work)
	wg.Wait()
	s.waitFor("the race's runs to end", time.Minute, func(rs map[string]*approvals.Request, _ map[string]string) bool {
		for _, id := range ids {
			if !rs[id].Status.Final() {
				return false
			}
		}
		return true
	})
	byID, _ := s.requests()
	for n, id := range ids {
		r := byID[id]
		if r.Status == approvals.Succeeded {
			s.stats.raceSucceeded++
		}
		s.stats.raceRuns += s.proxy.changes(n)
	}
	say("soak: race: %d clicks on %d requests in %s: %d runs at the lab, %d succeeded",
		total, raceRequests, time.Since(began).Round(time.Millisecond), s.stats.raceRuns, s.stats.raceSucceeded)
}

// --- phase 3: SIGKILL during runs -------------------------------------------------

func (s *soak) killDuringRuns() {
	began := time.Now()
	var names []string
	ids := map[string]string{}
	for i := range kills {
		n := fmt.Sprintf("kill%d", i)
		names = append(names, n)
		s.command("U0ALICE", fmt.Sprintf("dns add %s 10.50.0.%d zone=msglab.local", n, i+1), false)
		s.waitFor(n+" pending", 30*time.Second, func(rs map[string]*approvals.Request, byName map[string]string) bool {
			for id, x := range byName {
				if x == n && rs[id].Status == approvals.Pending {
					ids[n] = id
					return true
				}
			}
			return false
		})
		arrived := s.proxy.watch(n)
		s.click("U0BOB", "approve", ids[n], false)
		s.click("U0CAROL", "approve", ids[n], false)
		select {
		case <-arrived:
		case <-time.After(30 * time.Second):
			s.t.Fatalf("%s's change never reached the lab", n)
		}
		s.sigkill() // the change is on the server, exchops waits for its output
		r, err := s.db.Get(context.Background(), ids[n])
		if err != nil {
			s.t.Fatal(err)
		}
		if r.Status == approvals.Running {
			s.stats.killsRunning++
		}
		s.startChild()
		if r, err = s.db.Get(context.Background(), ids[n]); err != nil {
			s.t.Fatal(err)
		}
		if r.Status == approvals.Interrupted {
			s.stats.killsInterrupted++
		}
	}
	time.Sleep(2 * time.Second) // time for a re-run to show, were there one
	for _, n := range names {
		s.stats.killReruns += max(s.proxy.changes(n)-1, 0)
	}
	say("soak: %d SIGKILLs during runs in %s: %d were running at the kill, %d interrupted after the restart, %d re-runs",
		kills, time.Since(began).Round(time.Millisecond), s.stats.killsRunning, s.stats.killsInterrupted, s.stats.killReruns)
}

// drainOutbox gives the outbox a while to deliver what the faults left in it.
func (s *soak) drainOutbox() {
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) {
		n, err := s.db.Undelivered(context.Background(), "")
		if err == nil && n == 0 {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// --- the invariants ---------------------------------------------------------------

// finalEvents is the audit event that ends a request in each final status.
var finalEvents = map[approvals.Status]string{
	approvals.Succeeded: "succeeded", approvals.Failed: "failed", approvals.Stale: "stale", approvals.Interrupted: "interrupted",
	approvals.Denied: "denied", approvals.Expired: "expired", approvals.Cancelled: "cancelled",
}

// resultPost finds a run's result in a card's thread.
var resultPost = regexp.MustCompile(`^(r-\d+) (succeeded|failed):`)

func (s *soak) check(took time.Duration) {
	ctx := context.Background()
	byID, names := s.requests()
	approver := map[string]bool{}
	for _, p := range benchPeople {
		if slices.Contains(p.Roles, "approver") {
			approver[p.Name] = true
		}
	}

	// What Slack shows: each card's last delivered state, each run's result post.
	calls := s.slack.Calls()
	card, cardTS := map[string]string{}, map[string]string{}
	result := map[string]bool{}
	failedCalls := map[int]int{}
	for _, c := range calls {
		if c.Status != http.StatusOK {
			failedCalls[c.Status]++
			continue
		}
		switch {
		case c.Method == "chat.postMessage" && c.Thread == "":
			if m := cardHeader.FindStringSubmatch(c.Blocks); m != nil {
				card[m[1]], cardTS[m[1]] = m[2], c.TS
			}
		case c.Method == "chat.update":
			if m := cardHeader.FindStringSubmatch(c.Blocks); m != nil {
				card[m[1]] = m[2]
			}
		case c.Method == "chat.postMessage":
			if m := resultPost.FindStringSubmatch(c.Text); m != nil {
				result[m[1]] = true
			}
		}
	}
	kept, err := s.db.Due(ctx, "slack", time.Now().Add(24*time.Hour), 100000)
	if err != nil {
		s.t.Fatal(err)
	}
	outbox := map[string]bool{} // request ids with an undelivered post
	for _, p := range kept {
		outbox[strings.Fields(p.Key)[0]] = true
	}

	var broken []string
	fail := func(format string, args ...any) { broken = append(broken, fmt.Sprintf(format, args...)) }
	statuses := map[approvals.Status]int{}
	runsAtLab, runsRecorded := 0, 0
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return byID[ids[i]].Seq < byID[ids[j]].Seq })
	for _, id := range ids {
		r := byID[id]
		statuses[r.Status]++
		// 1. Final or still pending.
		if !r.Status.Final() && r.Status != approvals.Pending {
			fail("%s is %s at the end", id, r.Status)
		}
		// 2. Ran at most once, and only as recorded.
		ran := s.proxy.changes(names[id])
		runsAtLab += ran
		if r.Run != nil {
			runsRecorded++
		}
		if ran > 1 {
			fail("%s (%s) ran %d times at the lab", id, names[id], ran)
		}
		if ran > 0 && r.Run == nil {
			fail("%s ran at the lab but has no run recorded", id)
		}
		// 3. Never without enough approvals from people other than the requester.
		if ran > 0 || r.Run != nil {
			who := map[string]bool{}
			for _, v := range r.Votes {
				if v.Decision == approvals.Approve && v.Person != r.Requester && approver[v.Person] {
					who[v.Person] = true
				}
			}
			if len(who) < soakRequired {
				fail("%s ran with %d approvals from approvers other than %s, %d needed", id, len(who), r.Requester, soakRequired)
			}
		}
		for _, v := range r.Votes {
			if v.Person == r.Requester {
				fail("%s holds a vote of its requester %s", id, r.Requester)
			}
		}
		// 4. A complete audit trail.
		trail, err := s.db.Audit(ctx, id)
		if err != nil {
			s.t.Fatal(err)
		}
		events := map[string]int{}
		for _, e := range trail {
			events[e.Event]++
		}
		switch {
		case len(trail) == 0 || trail[0].Event != "requested" || trail[0].Actor != r.Requester:
			fail("%s's audit trail does not start with its request by %s", id, r.Requester)
		case r.Status.Final() && trail[len(trail)-1].Event != finalEvents[r.Status]:
			fail("%s is %s but its audit trail ends with %q", id, r.Status, trail[len(trail)-1].Event)
		case r.Run != nil && (events["run started"] != 1 || events["approved"] != 1):
			fail("%s ran but its audit trail has %d \"approved\" and %d \"run started\"", id, events["approved"], events["run started"])
		case events["approval"] != len(r.Approvals()):
			fail("%s has %d approvals but %d approval events", id, len(r.Approvals()), events["approval"])
		}
		// 5. What Slack shows: the card in its final state and the run's result, or a
		// post still in the outbox.
		want := string(r.Status)
		if r.Status == approvals.Pending {
			want = "waiting for approval"
		}
		if card[id] != want && !outbox[id] {
			fail("%s is %s, but its card on Slack shows %q and no post is in the outbox", id, r.Status, card[id])
		}
		if (r.Status == approvals.Succeeded || r.Status == approvals.Failed) && !result[id] && !outbox[id] {
			fail("%s %s, but the result was not posted in its thread and no post is in the outbox", id, r.Status)
		}
	}
	if s.stats.raceRuns != raceRequests || s.stats.raceSucceeded != raceRequests {
		fail("the race made %d runs (%d succeeded), want exactly %d", s.stats.raceRuns, s.stats.raceSucceeded, raceRequests)
	}
	if s.stats.killReruns != 0 || s.stats.killsInterrupted != kills {
		fail("of %d runs killed, %d were interrupted after the restart and %d ran again", kills, s.stats.killsInterrupted, s.stats.killReruns)
	}

	undelivered, err := s.db.Undelivered(ctx, "")
	if err != nil {
		s.t.Fatal(err)
	}
	var st []string
	for _, k := range []approvals.Status{approvals.Pending, approvals.Succeeded, approvals.Failed, approvals.Stale, approvals.Interrupted,
		approvals.Denied, approvals.Expired, approvals.Cancelled, approvals.Approved, approvals.Running} {
		if statuses[k] > 0 {
			st = append(st, fmt.Sprintf("%d %s", statuses[k], k))
		}
	}
	var fc []string
	for code, n := range failedCalls {
		fc = append(fc, fmt.Sprintf("%d answered %d", n, code))
	}
	sort.Strings(fc)

	say("\nsoak figures (%s, %s):", took.Round(time.Second), machineLine())
	say("  requests            %d: %s", len(byID), strings.Join(st, ", "))
	say("  runs                %d recorded, %d change Commands at the lab (%d WinRM Commands in all)", runsRecorded, runsAtLab, s.proxy.total())
	say("  commands            %d changes typed, %d read-only, %d delivered twice", s.stats.commands.Load()+raceRequests+kills, s.stats.readOnly.Load(), s.stats.duplicates.Load())
	say("  clicks              %d (%d delivered twice)", s.stats.clicks.Load(), s.stats.duplicateClicks.Load())
	say("  faults              %d windows (DC01 500 and hang, EX10-CAHT unreachable, Slack 429 and 500); %d Slack calls refused (%s)", s.stats.faultWindows.Load(), sum(failedCalls), strings.Join(fc, ", "))
	say("  SIGKILLs            %d, each followed by a restart", s.stats.sigkills.Load())
	say("  WinRM shells        %d left open on the servers by the SIGKILLs (deleted by the soak, as a server's idle timeout would); %d open when quiet, %d after SIGTERM",
		s.stats.leakedShells.Load(), s.openAtEnd, s.openAfterStop)
	say("  deliveries retried  %d while exchops was down", s.stats.deliveryErrors.Load())
	say("  Slack calls         %d, outbox undelivered at the end %d", len(calls), undelivered)
	say("  race                %d runs for %d requests under %d clicks", s.stats.raceRuns, raceRequests, raceRequests*raceClicks)
	say("  kill -9 during runs %d killed while running, %d interrupted, %d re-runs", s.stats.killsRunning, s.stats.killsInterrupted, s.stats.killReruns)
	say("invariants:")
	check := func(name string, ok bool) {
		mark := "ok  "
		if !ok {
			mark = "FAIL"
		}
		say("  %s %s", mark, name)
	}
	has := func(words ...string) bool {
		for _, b := range broken {
			for _, w := range words {
				if strings.Contains(b, w) {
					return true
				}
			}
		}
		return false
	}
	check("every request is final or still pending", !has("at the end"))
	check("no request ran twice", !has("times at the lab", "no run recorded", "ran again"))
	check("none ran without enough approvals from people other than the requester", !has("approvals from approvers", "vote of its requester"))
	check("every audit trail is complete", !has("audit trail", "approval events"))
	check("every chat post was delivered or is kept for retry", !has("card on Slack", "result was not posted"))
	check("the race ran exactly 100", !has("the race made"))
	check("0 re-runs after kill -9", !has("were interrupted after the restart"))
	for _, b := range broken {
		s.t.Error(b)
	}
}

func sum(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// machineLine names the CPU and cores.
func machineLine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d cores", cpu, runtime.NumCPU())
}

// --- the WinRM proxy ----------------------------------------------------------------

// winrmProxy stands between exchops and the lab's servers: one HTTPS listener per
// server, on its own loopback address (127.0.0.2, .3, ...) and one shared port, as
// exchops' configuration has one WinRM port for every server. It forwards everything
// and decodes each Command's script, counting per DNS name the changes (dnscmd
// /recordadd) the lab received.
type winrmProxy struct {
	port    int
	address map[string]string // server name -> loopback address

	mu      sync.Mutex
	added   map[string]int           // dns name -> change Commands forwarded
	all     int                      // every Command
	watches map[string]chan struct{} // dns name -> closed when its change has reached the lab
	shells  map[string]*lab.Endpoint // shells open on the lab, by id
}

// WS-Management's actions that open and close a shell.
const (
	actionCreate = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
	actionDelete = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
)

var (
	encoded   = regexp.MustCompile(`-EncodedCommand\s+([A-Za-z0-9+/=]+)`)
	recordAdd = regexp.MustCompile(`'/recordadd' '[^']*' '([^']+)'`)
	shellID   = regexp.MustCompile(`Name="ShellId"[^>]*>\s*([0-9A-Za-z-]+)\s*<`)
)

func startWinRMProxy(t *testing.T, l *lab.Lab) *winrmProxy {
	t.Helper()
	p := &winrmProxy{address: map[string]string{}, added: map[string]int{}, watches: map[string]chan struct{}{}, shells: map[string]*lab.Endpoint{}}
	for attempt := 0; ; attempt++ {
		lns, err := p.listen(len(l.Servers))
		if err == nil {
			for i, e := range l.Servers {
				srv := httptest.NewUnstartedServer(p.handler(e))
				srv.Listener = lns[i]
				srv.StartTLS()
				t.Cleanup(srv.Close)
				p.address[e.Name] = lns[i].Addr().(*net.TCPAddr).IP.String()
			}
			return p
		}
		if attempt == 5 {
			t.Fatalf("cannot listen on one port of %d loopback addresses: %v", len(l.Servers), err)
		}
	}
}

// listen opens n listeners on 127.0.0.2.. with one port.
func (p *winrmProxy) listen(n int) ([]net.Listener, error) {
	first, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		return nil, err
	}
	p.port = first.Addr().(*net.TCPAddr).Port
	lns := []net.Listener{first}
	for i := 1; i < n; i++ {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0."+strconv.Itoa(i+2), strconv.Itoa(p.port)))
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, err
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

func (p *winrmProxy) handler(e *lab.Endpoint) http.Handler {
	target, err := url.Parse(e.URL)
	if err != nil {
		panic(err)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(&url.URL{Scheme: target.Scheme, Host: target.Host})
		pr.Out.Host = target.Host
	}, ErrorLog: log.New(io.Discard, "", 0)} // a client that gives up (a hang, a kill) is expected
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		name := ""
		if bytes.Contains(body, []byte(actionCommand+"<")) {
			name = p.command(body)
		}
		// WS-Management answers are small and whole (a long poll ends with one
		// answer), so recording one before passing it on changes nothing for exchops.
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		switch {
		case rec.Code == http.StatusOK && bytes.Contains(body, []byte(actionCreate+"<")):
			if m := shellID.FindSubmatch(rec.Body.Bytes()); m != nil {
				p.opened(e, string(m[1]))
			}
		case bytes.Contains(body, []byte(actionDelete+"<")):
			if m := shellID.FindSubmatch(body); m != nil {
				p.closed(string(m[1]))
			}
		}
		maps.Copy(w.Header(), rec.Header())
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		if name != "" {
			p.arrived(name)
		}
	})
}

// opened and closed keep track of the shells exchops has open on the lab.
func (p *winrmProxy) opened(e *lab.Endpoint, id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shells[id] = e
}

func (p *winrmProxy) closed(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.shells, id)
}

// open is how many shells exchops has open on the lab.
func (p *winrmProxy) open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.shells)
}

// reap deletes the shells a killed exchops left open, as the servers' idle timeout
// would after a while (180 s in the lab; until then, five of them use up the
// account's quota on a server), and returns how many there were.
func (p *winrmProxy) reap(t *testing.T, user, password string) int {
	p.mu.Lock()
	left := maps.Clone(p.shells)
	clear(p.shells)
	p.mu.Unlock()
	for id, e := range left {
		c, err := winrm.NewClient(winrm.NewEndpoint("127.0.0.1", e.Port, false, false, nil, nil, nil, 10*time.Second), user, password)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.NewShell(id).Close(); err != nil {
			t.Logf("deleting shell %s left on %s: %v", id, e.Name, err)
		}
	}
	return len(left)
}

// command counts a Command and returns the DNS name it adds, if it is a change.
func (p *winrmProxy) command(body []byte) string {
	// The command line is in rsp:Command (as CDATA); the script, in its
	// -EncodedCommand, is the only base64 there.
	name := ""
	if m := encoded.FindSubmatch(body); m != nil {
		if script, err := runners.DecodeCommand(string(m[1])); err == nil {
			if a := recordAdd.FindStringSubmatch(script); a != nil {
				name = a[1]
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.all++
	if name != "" {
		p.added[name]++
	}
	return name
}

// arrived tells whoever watches name that its change has reached the lab.
func (p *winrmProxy) arrived(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ch, ok := p.watches[name]; ok {
		close(ch)
		delete(p.watches, name)
	}
}

// watch returns a channel closed when name's change has been received by the lab.
func (p *winrmProxy) watch(name string) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := make(chan struct{})
	p.watches[name] = ch
	return ch
}

func (p *winrmProxy) changes(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.added[name]
}

func (p *winrmProxy) total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.all
}
