package bot_test

import (
	"bufio"
	"context"
	"errors"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/bot/bottest"
	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/internal/metrics"
	"github.com/exchops/exchops/runners"
	"github.com/exchops/exchops/store"
)

var start = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

var env = commands.Env{ManagementServer: "EX10-CAHT", DNSServer: "DC01"}

// people are the demo's people, with Slack ids so that the platform mapping is real.
var people = []approvals.Person{
	{Name: "alice", IDs: map[string]string{"slack": "UALICE"}, Roles: []approvals.Role{approvals.RoleAdmin}},
	{Name: "bob", IDs: map[string]string{"slack": "UBOB"}, Roles: []approvals.Role{approvals.RoleAdmin, approvals.RoleApprover}},
	{Name: "carol", IDs: map[string]string{"slack": "UCAROL"}, Roles: []approvals.Role{approvals.RoleApprover}},
	{Name: "dave", IDs: map[string]string{"slack": "UDAVE"}, Roles: []approvals.Role{approvals.RoleViewer}},
}

const dagCreate = `dag create E14-DAG witness=EX10-CAHT dir=C:\FSW`

// e14 is what the tests' preflights find: the DAG does not exist yet.
var e14 = []commands.Finding{{Severity: commands.Info, Message: "E14-DAG does not exist yet."}}

// recFront is a front that records what it is told.
type recFront struct {
	name string
	mu   sync.Mutex
	got  []approvals.Event
}

func (f *recFront) Platform() string { return f.name }

func (f *recFront) Announce(_ context.Context, e approvals.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, e)
}

func (f *recFront) events() []approvals.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

func (f *recFront) kinds() []approvals.EventKind {
	var out []approvals.EventKind
	for _, e := range f.events() {
		out = append(out, e.Kind)
	}
	return out
}

// replies collects what the core answers; later replies come from other goroutines.
type replies struct {
	mu  sync.Mutex
	all []bot.Reply
}

func (r *replies) respond(rep bot.Reply) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, rep)
}

func (r *replies) get() []bot.Reply {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.all)
}

// stack is a real core: SQLite store, approvals on a manual clock, metrics, and a
// recording front.
type stack struct {
	db      *store.DB
	clk     *clock.Manual
	exec    *bottest.FakeExec
	svc     *approvals.Service
	core    *bot.Core
	metrics *metrics.Metrics
	front   *recFront
}

func newStack(t *testing.T, ex *bottest.FakeExec) *stack {
	t.Helper()
	return newStackRequiring(t, ex, 1)
}

// newStackRequiring is newStack with required approvals per request.
func newStackRequiring(t *testing.T, ex *bottest.FakeExec, required int) *stack {
	t.Helper()
	if ex == nil {
		ex = &bottest.FakeExec{}
	}
	if ex.Findings == nil && ex.PreflightFunc == nil {
		ex.Findings = e14
	}
	s := &stack{clk: clock.NewManual(start), exec: ex, metrics: metrics.New(), front: &recFront{name: "test"}}
	pol := approvals.Policy{People: people, Required: required, ExpireAfter: 30 * time.Minute}
	rig := bottest.NewRig(t, bottest.Options{Policy: pol, Exec: ex, Clock: s.clk, Metrics: s.metrics, Env: &env})
	s.db, s.svc, s.core = rig.DB, rig.Svc, rig.Core
	rig.AddFront(s.front, nil)
	return s
}

// handle types text as user on the console (or on platform, for "slack:U…") and
// returns every reply, once the core's background work is done.
func (s *stack) handle(t *testing.T, user, text string) []bot.Reply {
	t.Helper()
	platform := "console"
	if p, u, ok := strings.Cut(user, ":"); ok {
		platform, user = p, u
	}
	var r replies
	s.core.Handle(context.Background(), bot.Invocation{Platform: platform, User: user, Channel: "#exchange", Text: text}, r.respond)
	s.core.Wait()
	return r.get()
}

// act clicks a button as a Slack user.
func (s *stack) act(t *testing.T, slackUser, id string, d approvals.Decision, reason string) []bot.Reply {
	t.Helper()
	var r replies
	s.core.Act(context.Background(), bot.Action{Platform: "slack", User: slackUser, Channel: "C1", RequestID: id, Decision: d, Reason: reason}, r.respond)
	s.core.Wait()
	return r.get()
}

// request has alice ask for text and returns the stored request.
func (s *stack) request(t *testing.T, text string) *approvals.Request {
	t.Helper()
	got := s.handle(t, "alice", text)
	if len(got) != 2 || got[1].Kind != bot.ReplyRequest || got[1].Request == nil {
		t.Fatalf("%s: replies %s, want working then request", text, kinds(got))
	}
	return got[1].Request
}

func (s *stack) history(t *testing.T) []*approvals.Request {
	t.Helper()
	rs, err := s.svc.History(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func (s *stack) get(t *testing.T, id string) *approvals.Request {
	t.Helper()
	r, err := s.svc.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func kinds(rs []bot.Reply) []bot.ReplyKind {
	var out []bot.ReplyKind
	for _, r := range rs {
		out = append(out, r.Kind)
	}
	return out
}

func ids(rs []*approvals.Request) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// metric returns the value of one series as the exposition format writes it
// ("exchops_winrm_errors_total{kind=\"unreachable\"}"), or "" when it is absent.
func metric(t *testing.T, m *metrics.Metrics, series string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return v
		}
	}
	return ""
}

func parseError(t *testing.T, text string) string {
	t.Helper()
	_, err := commands.Parse(text)
	if err == nil {
		t.Fatalf("%q parses; the test needs text that does not", text)
	}
	return err.Error()
}

// TestHandle covers what the core answers at once, or after one read-only run.
func TestHandle(t *testing.T) {
	helpIndex, err := commands.Help("")
	if err != nil {
		t.Fatal(err)
	}
	helpDAGCreate, err := commands.Help("dag create")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		user string // "slack:U…" for a Slack user, else a console name
		text string
		want []bot.Reply // Now is not compared; Text is compared when set
		// contains are substrings of the last reply's text.
		contains []string
	}{
		{
			name:     "unknown slack user",
			user:     "slack:UNOBODY",
			text:     "copy status",
			want:     []bot.Reply{{Kind: bot.ReplyRefused, Private: true}},
			contains: []string{"does not know you", "Slack user id"},
		},
		{
			name:     "unknown console user",
			user:     "mallory",
			text:     "copy status",
			want:     []bot.Reply{{Kind: bot.ReplyRefused, Private: true}},
			contains: []string{"does not know you", "your name"},
		},
		{
			name: "empty text is help",
			user: "alice",
			text: "",
			want: []bot.Reply{{Kind: bot.ReplyHelp, Private: true, Text: helpIndex}},
		},
		{
			name: "blank text is help",
			user: "dave",
			text: "  \t ",
			want: []bot.Reply{{Kind: bot.ReplyHelp, Private: true, Text: helpIndex}},
		},
		{
			name: "help on one command",
			user: "dave",
			text: "help dag create",
			want: []bot.Reply{{Kind: bot.ReplyHelp, Private: true, Text: helpDAGCreate}},
		},
		{
			name: "typo in the command",
			user: "alice",
			text: "dag creat E14-DAG",
			want: []bot.Reply{{Kind: bot.ReplyError, Private: true, Text: parseError(t, "dag creat E14-DAG")}},
		},
		{
			name: "bad value",
			user: "alice",
			text: "copy add MB01 EX10-MB02 preference=99",
			want: []bot.Reply{{Kind: bot.ReplyError, Private: true, Text: parseError(t, "copy add MB01 EX10-MB02 preference=99")}},
		},
		{
			name: "bad value of a bot command",
			user: "alice",
			text: "history 0",
			want: []bot.Reply{{Kind: bot.ReplyError, Private: true, Text: parseError(t, "history 0")}},
		},
		{
			name:     "viewer asks for a change",
			user:     "dave",
			text:     dagCreate,
			want:     []bot.Reply{{Kind: bot.ReplyRefused, Private: true}},
			contains: []string{"dag create changes the organisation", "admin role", "viewer"},
		},
		{
			name: "viewer runs a read-only command",
			user: "dave",
			text: "copy status",
			want: []bot.Reply{
				{Kind: bot.ReplyWorking, Private: true, Text: "Running copy status (on EX10-CAHT)…"},
				{Kind: bot.ReplyResult, Text: "Copy status of every database.", Output: "output of copy status\n"},
			},
		},
		{
			name: "read-only command on one database, by Slack id",
			user: "slack:UDAVE",
			text: "copy status MB01",
			want: []bot.Reply{
				{Kind: bot.ReplyWorking, Private: true, Text: "Running copy status MB01 (on EX10-CAHT)…"},
				{Kind: bot.ReplyResult, Text: "Copy status of database MB01.", Output: "output of copy status MB01\n"},
			},
		},
		{
			name: "requests with nothing pending",
			user: "dave",
			text: "requests",
			want: []bot.Reply{{Kind: bot.ReplyRequests, Private: true}},
		},
		{
			name: "history with nothing yet",
			user: "dave",
			text: "history",
			want: []bot.Reply{{Kind: bot.ReplyHistory, Private: true}},
		},
		{
			name:     "approving a request that does not exist",
			user:     "carol",
			text:     "approve r-99",
			want:     []bot.Reply{{Kind: bot.ReplyRefused, Private: true}},
			contains: []string{"there is no request r-99"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, nil)
			got := s.handle(t, tt.user, tt.text)
			if len(got) != len(tt.want) {
				t.Fatalf("replies %s, want %s: %+v", kinds(got), kinds(tt.want), got)
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Kind != w.Kind || g.Private != w.Private || g.Failed != w.Failed {
					t.Errorf("reply %d: kind %s private %v failed %v, want %s %v %v", i, g.Kind, g.Private, g.Failed, w.Kind, w.Private, w.Failed)
				}
				if w.Text != "" && g.Text != w.Text {
					t.Errorf("reply %d text:\n%s\nwant:\n%s", i, g.Text, w.Text)
				}
				if g.Output != w.Output {
					t.Errorf("reply %d output %q, want %q", i, g.Output, w.Output)
				}
				if g.Now.IsZero() {
					t.Errorf("reply %d has no Now", i)
				}
				if len(g.Requests) != 0 || g.Request != nil || len(g.Findings) != 0 {
					t.Errorf("reply %d carries requests or findings: %+v", i, g)
				}
			}
			for _, c := range tt.contains {
				if last := got[len(got)-1].Text; !strings.Contains(last, c) {
					t.Errorf("reply %q does not say %q", last, c)
				}
			}
			if h := s.history(t); len(h) != 0 {
				t.Errorf("requests stored: %v", ids(h))
			}
			if n := s.exec.Preflights.Load(); n != 0 {
				t.Errorf("%d preflights ran", n)
			}
		})
	}
}

// Commands are counted by catalog name; what did not parse and who is unknown count as
// "unknown", never as what was typed.
func TestHandleCountsCommands(t *testing.T) {
	s := newStack(t, nil)
	s.handle(t, "dave", "copy status")
	s.handle(t, "dave", "copy status MB01")
	s.handle(t, "alice", "dag creat E14-DAG")
	s.handle(t, "slack:UNOBODY", "copy status")
	s.handle(t, "dave", dagCreate) // refused, but asked for
	for series, want := range map[string]string{
		`exchops_commands_total{command="copy status"}`: "2",
		`exchops_commands_total{command="dag create"}`:  "1",
		`exchops_commands_total{command="unknown"}`:     "2",
	} {
		if got := metric(t, s.metrics, series); got != want {
			t.Errorf("%s = %q, want %s", series, got, want)
		}
	}
}

func TestReadOnlyFailure(t *testing.T) {
	ex := &bottest.FakeExec{ExecuteFunc: func(p *commands.Plan) (string, error) {
		return "partial output", &runners.Error{
			Kind: runners.Unreachable, Server: "EX10-CAHT", Op: "create shell",
			Msg: "EX10-CAHT: cannot reach WinRM at http://10.0.0.11:5985/wsman (connection refused): check that the server is up",
			Err: errors.New("dial tcp 10.0.0.11:5985: connection refused"),
		}
	}}
	s := newStack(t, ex)
	// Admins and approvers fix what failed and read the whole message; a viewer is
	// told the server and the kind, not the endpoint's address.
	for _, tc := range []struct{ user, want string }{
		{"alice", "copy status failed: EX10-CAHT: cannot reach WinRM at http://10.0.0.11:5985/wsman"},
		{"carol", "copy status failed: EX10-CAHT: cannot reach WinRM at http://10.0.0.11:5985/wsman"},
		{"dave", "copy status failed: EX10-CAHT: exchops could not reach the server (unreachable). The exchops administrators see the details."},
	} {
		got := s.handle(t, tc.user, "copy status")
		if len(got) != 2 {
			t.Fatalf("%s: replies %s, want working then result", tc.user, kinds(got))
		}
		res := got[1]
		if res.Kind != bot.ReplyResult || !res.Failed {
			t.Errorf("%s: reply %s failed=%v, want a failed result", tc.user, res.Kind, res.Failed)
		}
		if !strings.HasPrefix(res.Text, tc.want) {
			t.Errorf("%s: text %q, want it to start %q", tc.user, res.Text, tc.want)
		}
		if tc.user == "dave" && strings.Contains(res.Text, "10.0.0.11") {
			t.Errorf("the viewer was told the endpoint: %q", res.Text)
		}
		if res.Output != "partial output" {
			t.Errorf("%s: output %q: what the servers printed before the failure is lost", tc.user, res.Output)
		}
	}
	if v := metric(t, s.metrics, `exchops_winrm_errors_total{kind="unreachable"}`); v != "3" {
		t.Errorf(`exchops_winrm_errors_total{kind="unreachable"} = %q, want 3`, v)
	}
	if v := metric(t, s.metrics, `exchops_winrm_errors_total{kind="protocol"}`); v != "0" {
		t.Errorf(`exchops_winrm_errors_total{kind="protocol"} = %q, want 0`, v)
	}
}

func TestChangeIsRequested(t *testing.T) {
	s := newStack(t, nil)
	got := s.handle(t, "alice", dagCreate)
	if len(got) != 2 {
		t.Fatalf("replies %s, want working then request", kinds(got))
	}
	if w := got[0]; w.Kind != bot.ReplyWorking || !w.Private || !strings.Contains(w.Text, "Planning "+dagCreate) {
		t.Errorf("first reply %+v, want working on %s", w, dagCreate)
	}
	rep := got[1]
	r := rep.Request
	if rep.Kind != bot.ReplyRequest || !rep.Private || r == nil {
		t.Fatalf("second reply %+v, want the request", rep)
	}
	if r.ID != "r-1" || r.Status != approvals.Pending || r.Requester != "alice" || r.Command != dagCreate {
		t.Errorf("request %s %s by %s: %q", r.ID, r.Status, r.Requester, r.Command)
	}
	if want := "r-1 is waiting for 1 approval from someone other than you; it expires at 09:30 UTC."; rep.Text != want {
		t.Errorf("text %q, want %q", rep.Text, want)
	}
	if r.Origin != (approvals.Origin{Platform: "console", Channel: "#exchange", User: "alice"}) {
		t.Errorf("origin %+v", r.Origin)
	}
	if k := s.front.kinds(); !slices.Equal(k, []approvals.EventKind{approvals.EventRequested}) {
		t.Errorf("front saw %v, want requested", k)
	}
	if h := ids(s.history(t)); !slices.Equal(h, []string{"r-1"}) {
		t.Errorf("stored %v", h)
	}
	if v := metric(t, s.metrics, `exchops_requests_total{outcome="requested"}`); v != "1" {
		t.Errorf(`exchops_requests_total{outcome="requested"} = %q, want 1`, v)
	}
	if n := s.exec.Executes.Load(); n != 0 {
		t.Errorf("%d executions before any approval", n)
	}
}

// A change the organisation cannot take is refused with what the preflight found, and
// nothing is stored or announced.
func TestChangeRefusedByPreflight(t *testing.T) {
	blocker := commands.Finding{Severity: commands.Blocker, Message: "Witness EX10-CAHT is a member of DAG E15-DAG: the witness must not be a DAG member."}
	tests := []struct {
		name     string
		pre      func(int32) (commands.Findings, error)
		kind     bot.ReplyKind
		findings []commands.Finding
		contains string
	}{
		{
			name: "blocked",
			pre: func(int32) (commands.Findings, error) {
				return commands.Findings{List: []commands.Finding{blocker}}, nil
			},
			kind:     bot.ReplyRefused,
			findings: []commands.Finding{blocker},
			contains: "cannot be offered for approval:\n- " + blocker.Message,
		},
		{
			name: "nothing to do",
			pre: func(int32) (commands.Findings, error) {
				return commands.Findings{NoOp: true, List: []commands.Finding{{Severity: commands.Info, Message: "E14-DAG already exists as asked."}}}, nil
			},
			kind:     bot.ReplyRefused,
			findings: []commands.Finding{{Severity: commands.Info, Message: "E14-DAG already exists as asked."}},
			contains: "nothing to do: E14-DAG already exists as asked.",
		},
		{
			name: "organisation unreadable",
			pre: func(int32) (commands.Findings, error) {
				return commands.Findings{}, errors.New("EX10-CAHT: cannot reach WinRM")
			},
			kind:     bot.ReplyRefused,
			contains: "the preflight could not read the organisation, so nothing was requested: EX10-CAHT: cannot reach WinRM",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, &bottest.FakeExec{PreflightFunc: tt.pre})
			got := s.handle(t, "alice", dagCreate)
			if len(got) != 2 || got[0].Kind != bot.ReplyWorking {
				t.Fatalf("replies %s, want working then %s", kinds(got), tt.kind)
			}
			rep := got[1]
			if rep.Kind != tt.kind || !rep.Private || rep.Request != nil {
				t.Errorf("reply %+v, want a private %s without a request", rep, tt.kind)
			}
			if !slices.Equal(rep.Findings, tt.findings) {
				t.Errorf("findings %v, want %v", rep.Findings, tt.findings)
			}
			if !strings.Contains(rep.Text, tt.contains) {
				t.Errorf("text %q does not say %q", rep.Text, tt.contains)
			}
			if h := s.history(t); len(h) != 0 {
				t.Errorf("requests stored: %v", ids(h))
			}
			if k := s.front.kinds(); len(k) != 0 {
				t.Errorf("front told %v", k)
			}
		})
	}
}

func TestRequestsAndHistory(t *testing.T) {
	s := newStack(t, nil)
	for _, dag := range []string{"E14-DAG", "E15-DAG", "E16-DAG"} {
		s.request(t, "dag create "+dag+` witness=EX10-CAHT dir=C:\FSW`)
		s.clk.Advance(time.Minute)
	}
	if got := s.handle(t, "alice", "cancel r-2"); len(got) != 1 || got[0].Kind != bot.ReplyText {
		t.Fatalf("cancel: %+v", got)
	}

	tests := []struct {
		text string
		kind bot.ReplyKind
		ids  []string
	}{
		{"requests", bot.ReplyRequests, []string{"r-1", "r-3"}},
		{"history", bot.ReplyHistory, []string{"r-3", "r-2", "r-1"}},
		{"history 2", bot.ReplyHistory, []string{"r-3", "r-2"}},
		{"history 1", bot.ReplyHistory, []string{"r-3"}},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			got := s.handle(t, "dave", tt.text)
			if len(got) != 1 {
				t.Fatalf("replies %s, want one", kinds(got))
			}
			if got[0].Kind != tt.kind || !got[0].Private {
				t.Errorf("reply %s private=%v, want a private %s", got[0].Kind, got[0].Private, tt.kind)
			}
			if g := ids(got[0].Requests); !slices.Equal(g, tt.ids) {
				t.Errorf("requests %v, want %v", g, tt.ids)
			}
			if !got[0].Now.Equal(s.clk.Now()) {
				t.Errorf("Now %v, want the clock's %v", got[0].Now, s.clk.Now())
			}
		})
	}
}

func TestCancel(t *testing.T) {
	tests := []struct {
		name   string
		user   string
		text   string
		kind   bot.ReplyKind
		text2  string // what the reply says
		status approvals.Status
	}{
		{"by the requester", "alice", "cancel r-1", bot.ReplyText, "You cancelled r-1.", approvals.Cancelled},
		{"by number", "alice", "cancel 1", bot.ReplyText, "You cancelled r-1.", approvals.Cancelled},
		{"by someone else", "bob", "cancel r-1", bot.ReplyRefused, "only alice, who asked for r-1, can cancel it; approvers can deny it.", approvals.Pending},
		{"by a viewer", "dave", "cancel r-1", bot.ReplyRefused, "only alice, who asked for r-1, can cancel it; approvers can deny it.", approvals.Pending},
		{"no such request", "alice", "cancel r-7", bot.ReplyRefused, "there is no request r-7: `requests` lists the pending ones, `history` the recent ones.", approvals.Pending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, nil)
			s.request(t, dagCreate)
			got := s.handle(t, tt.user, tt.text)
			if len(got) != 1 {
				t.Fatalf("replies %s, want one", kinds(got))
			}
			if got[0].Kind != tt.kind || !got[0].Private || got[0].Text != tt.text2 {
				t.Errorf("reply %s private=%v %q, want a private %s %q", got[0].Kind, got[0].Private, got[0].Text, tt.kind, tt.text2)
			}
			if r := s.get(t, "r-1"); r.Status != tt.status {
				t.Errorf("r-1 is %s, want %s", r.Status, tt.status)
			}
			wantEvents := []approvals.EventKind{approvals.EventRequested}
			if tt.status == approvals.Cancelled {
				wantEvents = append(wantEvents, approvals.EventCancelled)
				if got[0].Request == nil || got[0].Request.Status != approvals.Cancelled {
					t.Errorf("reply carries %+v, want the cancelled request", got[0].Request)
				}
			}
			if k := s.front.kinds(); !slices.Equal(k, wantEvents) {
				t.Errorf("front saw %v, want %v", k, wantEvents)
			}
		})
	}
	t.Run("twice", func(t *testing.T) {
		s := newStack(t, nil)
		s.request(t, dagCreate)
		s.handle(t, "alice", "cancel r-1")
		got := s.handle(t, "alice", "cancel r-1")
		if len(got) != 1 || got[0].Kind != bot.ReplyRefused || !strings.Contains(got[0].Text, "r-1 is already cancelled (cancelled by alice)") {
			t.Errorf("second cancel: %+v", got)
		}
	})
}

// The typed approve and deny go through the same rule as the buttons.
func TestVoteTyped(t *testing.T) {
	tests := []struct {
		name   string
		user   string
		text   string
		kind   bot.ReplyKind
		says   string
		status approvals.Status
		reason string
	}{
		{"approve own request", "alice", "approve r-1", bot.ReplyRefused, "r-1 is your own request: someone else must approve it.", approvals.Pending, ""},
		{"deny own request", "alice", "deny r-1 changed my mind", bot.ReplyRefused, "r-1 is your own request: withdraw it with `cancel r-1` instead.", approvals.Pending, ""},
		{"approve without the role", "dave", "approve r-1", bot.ReplyRefused, "only approvers can approve requests; you have the role viewer.", approvals.Pending, ""},
		{"deny without the role", "dave", "deny r-1", bot.ReplyRefused, "only approvers can deny requests; you have the role viewer.", approvals.Pending, ""},
		{"deny with a reason", "carol", "deny r-1 not during business hours", bot.ReplyText, "You denied r-1.", approvals.Denied, "denied by carol: not during business hours"},
		{"deny without a reason", "carol", "deny 1", bot.ReplyText, "You denied r-1.", approvals.Denied, "denied by carol"},
		{"approve", "bob", "approve R-1", bot.ReplyText, "You approved r-1; it runs now.", approvals.Succeeded, "done"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, nil)
			s.request(t, dagCreate)
			got := s.handle(t, tt.user, tt.text)
			s.svc.Wait()
			if len(got) != 1 {
				t.Fatalf("replies %s, want one", kinds(got))
			}
			if got[0].Kind != tt.kind || !got[0].Private || got[0].Text != tt.says {
				t.Errorf("reply %s private=%v %q, want a private %s %q", got[0].Kind, got[0].Private, got[0].Text, tt.kind, tt.says)
			}
			r := s.get(t, "r-1")
			if r.Status != tt.status || r.Reason != tt.reason {
				t.Errorf("r-1 is %s (%q), want %s (%q)", r.Status, r.Reason, tt.status, tt.reason)
			}
			wantRuns := int32(0)
			if tt.status == approvals.Succeeded {
				wantRuns = 1
			}
			if n := s.exec.Executes.Load(); n != wantRuns {
				t.Errorf("%d executions, want %d", n, wantRuns)
			}
		})
	}
}

func TestActUnknownUser(t *testing.T) {
	s := newStack(t, nil)
	s.request(t, dagCreate)
	got := s.act(t, "UNOBODY", "r-1", approvals.Approve, "")
	if len(got) != 1 || got[0].Kind != bot.ReplyRefused || !got[0].Private {
		t.Fatalf("replies %+v, want one private refusal", got)
	}
	for _, want := range []string{"click was not counted", "Slack user id"} {
		if !strings.Contains(got[0].Text, want) {
			t.Errorf("text %q does not say %q", got[0].Text, want)
		}
	}
	if r := s.get(t, "r-1"); r.Status != approvals.Pending || len(r.Votes) != 0 {
		t.Errorf("r-1 is %s with votes %v", r.Status, r.Votes)
	}
}

// A click whose decision is neither approve nor deny (a front's bug, a forged payload)
// must not count as an approval: the two-person rule fails closed.
func TestActUnknownDecision(t *testing.T) {
	for _, d := range []approvals.Decision{"", "Approve", "maybe"} {
		t.Run(string(d), func(t *testing.T) {
			s := newStack(t, nil)
			s.request(t, dagCreate)
			got := s.act(t, "UCAROL", "r-1", d, "")
			s.svc.Wait()
			if len(got) != 1 || got[0].Kind != bot.ReplyError || !got[0].Private {
				t.Errorf("replies %+v, want one private error", got)
			}
			if r := s.get(t, "r-1"); r.Status != approvals.Pending || len(r.Votes) != 0 {
				t.Errorf("r-1 is %s with votes %v, want pending without votes", r.Status, r.Votes)
			}
			if n := s.exec.Executes.Load(); n != 0 {
				t.Errorf("%d executions", n)
			}
		})
	}
}

func TestActApproveRunsOnce(t *testing.T) {
	s := newStack(t, nil)
	second := &recFront{name: "second"}
	s.core.AddFront(second)
	s.request(t, dagCreate)

	got := s.act(t, "UCAROL", "r-1", approvals.Approve, "")
	s.svc.Wait()
	if len(got) != 1 || got[0].Kind != bot.ReplyText || got[0].Text != "You approved r-1; it runs now." {
		t.Fatalf("replies %+v", got)
	}
	// A second click, on another platform's copy of the card, changes nothing.
	again := s.act(t, "UBOB", "r-1", approvals.Approve, "")
	s.svc.Wait()
	if len(again) != 1 || again[0].Kind != bot.ReplyRefused || !strings.Contains(again[0].Text, "r-1 is already succeeded") {
		t.Errorf("second approval: %+v", again)
	}

	if n := s.exec.Executes.Load(); n != 1 {
		t.Errorf("%d executions, want 1", n)
	}
	want := []approvals.EventKind{approvals.EventRequested, approvals.EventApproved, approvals.EventRunning, approvals.EventSucceeded}
	for _, f := range []*recFront{s.front, second} {
		if k := f.kinds(); !slices.Equal(k, want) {
			t.Errorf("front %s saw %v, want %v", f.name, k, want)
		}
	}
	evs := s.front.events()
	if last := evs[len(evs)-1].Request; last.Status != approvals.Succeeded || last.Run == nil || last.Run.Output != "output of "+dagCreate+"\n" {
		t.Errorf("succeeded event carries %+v", last)
	}
	if v := evs[1].Request.Votes; len(v) != 1 || v[0].Person != "carol" || v[0].Via != (approvals.Origin{Platform: "slack", Channel: "C1", User: "UCAROL"}) {
		t.Errorf("votes %+v", v)
	}
	for series, want := range map[string]string{
		`exchops_requests_total{outcome="requested"}`:             "1",
		`exchops_requests_total{outcome="approved"}`:              "1",
		`exchops_requests_total{outcome="succeeded"}`:             "1",
		`exchops_requests_total{outcome="failed"}`:                "0",
		`exchops_runs_total{outcome="succeeded"}`:                 "1",
		`exchops_runs_total{outcome="failed"}`:                    "0",
		`exchops_run_duration_seconds_count{outcome="succeeded"}`: "1",
	} {
		if got := metric(t, s.metrics, series); got != want {
			t.Errorf("%s = %q, want %s", series, got, want)
		}
	}
}

func TestActDeny(t *testing.T) {
	s := newStack(t, nil)
	s.request(t, dagCreate)
	got := s.act(t, "UCAROL", "r-1", approvals.Deny, "  not during business hours ")
	if len(got) != 1 || got[0].Kind != bot.ReplyText || got[0].Text != "You denied r-1." {
		t.Fatalf("replies %+v", got)
	}
	if r := got[0].Request; r == nil || r.Status != approvals.Denied || r.Reason != "denied by carol: not during business hours" {
		t.Errorf("request %+v", r)
	}
	if v := metric(t, s.metrics, `exchops_requests_total{outcome="denied"}`); v != "1" {
		t.Errorf(`exchops_requests_total{outcome="denied"} = %q, want 1`, v)
	}
}

// With two approvals required, the first click is recorded and says how many more.
func TestActNeedsMore(t *testing.T) {
	s := newStackRequiring(t, nil, 2)
	got := s.handle(t, "alice", dagCreate)
	if len(got) != 2 || got[1].Request == nil {
		t.Fatalf("replies %+v", got)
	}
	if want := "r-1 is waiting for 2 approvals from someone other than you; it expires at 09:30 UTC."; got[1].Text != want {
		t.Errorf("text %q, want %q", got[1].Text, want)
	}
	votes := []struct {
		user string
		says string
	}{
		{"UCAROL", "Your approval of r-1 is recorded; it still needs 1 more approval."},
		{"UBOB", "You approved r-1; it runs now."},
	}
	for _, v := range votes {
		got := s.act(t, v.user, "r-1", approvals.Approve, "")
		if len(got) != 1 || got[0].Kind != bot.ReplyText || got[0].Text != v.says {
			t.Errorf("%s: replies %+v, want %q", v.user, got, v.says)
		}
	}
	s.svc.Wait()
	if n := s.exec.Executes.Load(); n != 1 {
		t.Errorf("%d executions, want 1", n)
	}
	want := []approvals.EventKind{approvals.EventRequested, approvals.EventVoted, approvals.EventApproved, approvals.EventRunning, approvals.EventSucceeded}
	if k := s.front.kinds(); !slices.Equal(k, want) {
		t.Errorf("front saw %v, want %v", k, want)
	}
}

// A run refused as stale ran no PowerShell: it is a request outcome, not a run.
func TestStaleIsNotARun(t *testing.T) {
	ex := &bottest.FakeExec{PreflightFunc: func(n int32) (commands.Findings, error) {
		f := commands.Findings{List: []commands.Finding{{Severity: commands.Info, Message: "E14-DAG does not exist yet."}}}
		if n > 1 {
			f.List = append(f.List, commands.Finding{Severity: commands.Warning, Message: "EX10-CAHT restarted since."})
		}
		return f, nil
	}}
	s := newStack(t, ex)
	s.request(t, dagCreate)
	s.act(t, "UCAROL", "r-1", approvals.Approve, "")
	s.svc.Wait()
	if r := s.get(t, "r-1"); r.Status != approvals.Stale {
		t.Fatalf("r-1 is %s, want stale", r.Status)
	}
	if n := s.exec.Executes.Load(); n != 0 {
		t.Errorf("%d executions of a stale request", n)
	}
	if v := metric(t, s.metrics, `exchops_requests_total{outcome="stale"}`); v != "1" {
		t.Errorf(`exchops_requests_total{outcome="stale"} = %q, want 1`, v)
	}
	for _, outcome := range []string{"stale", "succeeded", "failed", "interrupted"} {
		series := `exchops_runs_total{outcome="` + outcome + `"}`
		want := "0"
		if outcome == "stale" {
			want = "" // not one of metrics.RunOutcomes
		}
		if v := metric(t, s.metrics, series); v != want {
			t.Errorf("%s = %q, want %q", series, v, want)
		}
	}
}

// A reply's Now is when it was made: a change's request arrives after its preflight,
// and its card must not show the expiry as later than it is.
func TestReplyNowIsWhenMade(t *testing.T) {
	var s *stack
	ex := &bottest.FakeExec{PreflightFunc: func(int32) (commands.Findings, error) {
		s.clk.Advance(2 * time.Minute) // a slow organisation
		return commands.Findings{}, nil
	}}
	s = newStack(t, ex)
	got := s.handle(t, "alice", dagCreate)
	if len(got) != 2 || got[1].Request == nil {
		t.Fatalf("replies %+v", got)
	}
	if !got[0].Now.Equal(start) {
		t.Errorf("working reply Now %v, want %v", got[0].Now, start)
	}
	r := got[1].Request
	if !got[1].Now.Equal(r.CreatedAt) {
		t.Errorf("request reply Now %v, but the request was created at %v", got[1].Now, r.CreatedAt)
	}
	if line, want := bot.StatusLine(r, got[1].Now), "waiting for 1 approval, expires in 30m"; line != want {
		t.Errorf("status line %q, want %q", line, want)
	}
}

// An internal error is logged; the person sees a reference, not the detail.
func TestInternalError(t *testing.T) {
	s := newStack(t, nil)
	s.request(t, dagCreate)
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"history", "requests", "cancel r-1", "approve r-1"} {
		t.Run(text, func(t *testing.T) {
			got := s.handle(t, "bob", text)
			if len(got) != 1 || got[0].Kind != bot.ReplyError || !got[0].Private {
				t.Fatalf("replies %+v, want one private error", got)
			}
			msg := got[0].Text
			if !regexp.MustCompile(`\(reference E[A-Z0-9]{8} in its log\)`).MatchString(msg) {
				t.Errorf("text %q has no reference", msg)
			}
			for _, detail := range []string{"sql", "database", "closed", "store"} {
				if strings.Contains(strings.ToLower(msg), detail) {
					t.Errorf("text %q shows internal detail %q", msg, detail)
				}
			}
		})
	}
}

func TestNotifyFansOut(t *testing.T) {
	m := metrics.New()
	core := bot.New(bot.Config{Metrics: m})
	a, b := &recFront{name: "a"}, &recFront{name: "b"}
	core.AddFront(a)
	core.AddFront(b)
	r := &approvals.Request{ID: "r-1", Status: approvals.Pending}
	evs := []approvals.Event{
		{Kind: approvals.EventRequested, Request: r, Actor: "alice"},
		{Kind: approvals.EventVoted, Request: r, Actor: "bob"},
		{Kind: approvals.EventProgress, Request: r, Actor: approvals.Bot, Detail: "seeding"},
	}
	for _, e := range evs {
		core.Notify(context.Background(), e)
	}
	for _, f := range []*recFront{a, b} {
		if got := f.events(); !slices.EqualFunc(got, evs, func(x, y approvals.Event) bool {
			return x.Kind == y.Kind && x.Request == y.Request && x.Actor == y.Actor && x.Detail == y.Detail
		}) {
			t.Errorf("front %s got %+v, want %+v", f.name, got, evs)
		}
	}
	// Only transitions are counted; a vote short of the quorum and progress are not.
	if v := metric(t, m, `exchops_requests_total{outcome="requested"}`); v != "1" {
		t.Errorf(`exchops_requests_total{outcome="requested"} = %q, want 1`, v)
	}
	for _, outcome := range []string{"voted", "progress"} {
		if v := metric(t, m, `exchops_requests_total{outcome="`+outcome+`"}`); v != "" {
			t.Errorf("exchops_requests_total{outcome=%q} = %q, want no such series", outcome, v)
		}
	}
}

// A core without metrics or fronts still answers and notifies.
func TestNotifyWithoutFronts(t *testing.T) {
	core := bot.New(bot.Config{})
	core.Notify(context.Background(), approvals.Event{Kind: approvals.EventSucceeded, Request: &approvals.Request{ID: "r-1",
		Run: &approvals.Run{StartedAt: start, FinishedAt: start.Add(time.Minute)}}})
}
