package schedules_test

// In-process fakes that behave: a Store in memory, a Publisher that records, and a
// runner that answers the health reads of a healthy two-member DAG. They let the
// scheduler run inside testing/synctest, where the lab's sockets cannot.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/report"
	"github.com/exchops/exchops/runners"
	"github.com/exchops/exchops/schedules"
)

type memStore struct {
	mu         sync.Mutex
	schedules  map[string]schedules.Entry
	lastRun    map[string]time.Time
	reports    []*schedules.Report
	scorecards []*schedules.Scorecard
}

func newMemStore() *memStore {
	return &memStore{schedules: map[string]schedules.Entry{}, lastRun: map[string]time.Time{}}
}

func (m *memStore) Schedules(ctx context.Context) ([]schedules.Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []schedules.Entry
	for _, e := range m.schedules {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (m *memStore) AddSchedule(ctx context.Context, e schedules.Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := strings.ToLower(e.Name)
	if _, ok := m.schedules[k]; ok {
		return schedules.ErrExists
	}
	m.schedules[k] = e
	return nil
}

func (m *memStore) RemoveSchedule(ctx context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := strings.ToLower(name)
	if _, ok := m.schedules[k]; !ok {
		return schedules.ErrNotFound
	}
	delete(m.schedules, k)
	delete(m.lastRun, k)
	return nil
}

func (m *memStore) LastRun(ctx context.Context, name string) (time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastRun[strings.ToLower(name)], nil
}

func (m *memStore) SetLastRun(ctx context.Context, name string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastRun[strings.ToLower(name)] = at
	return nil
}

func (m *memStore) SaveReport(ctx context.Context, r *schedules.Report) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reports = append(m.reports, r)
	return nil
}

func (m *memStore) Reports(ctx context.Context, dag string, since time.Time) ([]*schedules.Report, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*schedules.Report
	for _, r := range m.reports {
		if r.DAG == dag && !r.At.Before(since) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memStore) SaveScorecard(ctx context.Context, s *schedules.Scorecard) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.scorecards = append(m.scorecards, s)
	return nil
}

func (m *memStore) Scorecards(ctx context.Context, dag string, limit int) ([]*schedules.Scorecard, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*schedules.Scorecard
	for i := len(m.scorecards) - 1; i >= 0; i-- {
		if m.scorecards[i].DAG == dag && (limit <= 0 || len(out) < limit) {
			out = append(out, m.scorecards[i])
		}
	}
	return out, nil
}

// post is one Publish call.
type post struct {
	At    time.Time
	To    map[string]string
	Title string
	Text  string
	PNG   []byte
}

type recorder struct {
	mu    sync.Mutex
	posts []*post
	// panics makes the next Publish panic, once.
	panics bool
}

func (r *recorder) Publish(ctx context.Context, to map[string]string, rep *report.Report) error {
	title, text, png := rep.Heading(), rep.Text(), rep.Chart
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.panics {
		r.panics = false
		panic("the publisher broke")
	}
	r.posts = append(r.posts, &post{At: time.Now(), To: to, Title: title, Text: text, PNG: png})
	return nil
}

func (r *recorder) all() []*post {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*post(nil), r.posts...)
}

func (r *recorder) titled(prefix string) []*post {
	var out []*post
	for _, p := range r.all() {
		if strings.HasPrefix(p.Title, prefix) {
			out = append(out, p)
		}
	}
	return out
}

// fakeRunner answers the health reads of a healthy E14-DAG with MB01 and MB02, each
// with a copy on both members. block, when set, holds every member read until it is
// closed.
type fakeRunner struct {
	mu    sync.Mutex
	block chan struct{}
	calls int
}

func section(name string, cols []string, rows ...[]string) runners.Section {
	s := runners.Section{Name: name, Columns: cols}
	for _, r := range rows {
		m := map[string]string{}
		for i, c := range cols {
			m[c] = r[i]
		}
		s.Rows = append(s.Rows, m)
	}
	return s
}

func (f *fakeRunner) RunStep(ctx context.Context, step commands.Step, progress func(string)) (*runners.Result, error) {
	server := step.Target
	f.mu.Lock()
	f.calls++
	block := f.block
	f.mu.Unlock()
	srv := strings.ToUpper(server)
	if srv != "EX10-CAHT" && srv != "EX10-MB01" && srv != "EX10-MB02" {
		return nil, fmt.Errorf("%s: no such server in the fake", server)
	}
	res := &runners.Result{Server: server}
	other := map[string]string{"EX10-MB01": "MB02", "EX10-MB02": "MB01"}[srv]
	mine := map[string]string{"EX10-MB01": "MB01", "EX10-MB02": "MB02"}[srv]
	copyCols := []string{"Name", "DatabaseName", "MailboxServer", "Status", "ActiveCopy", "ActivationSuspended", "CopyQueueLength", "ReplayQueueLength", "LastInspectedLogTime", "ContentIndexState", "ErrorMessage"}
	for _, call := range step.Calls {
		var sec runners.Section
		switch call.Section {
		// The server checks of a health report: everything healthy.
		case commands.SectionServices:
			sec = section(call.Section, []string{"Role", "RequiredServicesRunning", "ServicesNotRunning"},
				[]string{"Mailbox Server Role", "True", ""})
		case commands.SectionMounted:
			sec = section(call.Section, []string{"Name", "Mounted", "MountedOnServer", "Recovery"},
				[]string{"MB01", "True", "ex10-mb01.msglab.local", "False"}, []string{"MB02", "True", "ex10-mb02.msglab.local", "False"})
		case commands.SectionPublicFolders:
			sec = section(call.Section, []string{"Name", "Server", "Mounted"})
		case commands.SectionQueues:
			sec = section(call.Section, []string{"Identity", "DeliveryType", "MessageCount"},
				[]string{srv + `\Submission`, "Undefined", "0"})
		// The DAG's read on the management server.
		case "dag":
			sec = section("dag", []string{"Name", "Servers", "OperationalServers", "PrimaryActiveManager", "WitnessServer", "WitnessDirectory", "WitnessShareInUse"},
				[]string{"E14-DAG", "EX10-MB01;EX10-MB02", "EX10-MB01;EX10-MB02", "EX10-MB01", "ex10-caht.msglab.local", `C:\FSW`, "Primary"})
		case "networks":
			sec = section("networks", []string{"Name", "Subnets", "Interfaces", "MapiAccessEnabled", "ReplicationEnabled"},
				[]string{"DAGNetwork01", "{10.0.0.0/24,Up}", "{EX10-MB01,Up,10.0.0.11};{EX10-MB02,Up,10.0.0.12}", "True", "True"})
		case "databases":
			sec = section("databases", []string{"Name", "Servers", "ActivationPreference", "ReplayLagTimes"},
				[]string{"MB01", "EX10-MB01;EX10-MB02", "[EX10-MB01, 1];[EX10-MB02, 2]", ""},
				[]string{"MB02", "EX10-MB02;EX10-MB01", "[EX10-MB02, 1];[EX10-MB01, 2]", ""})
		// A member's replication read.
		case "mailboxserver":
			if block != nil {
				select {
				case <-block:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			sec = section("mailboxserver", []string{"Name", "DatabaseAvailabilityGroup"}, []string{srv, "E14-DAG"})
		case "replicationhealth":
			sec = section("replicationhealth", []string{"Server", "Check", "CheckDescription", "Result", "Result.Value", "Error"},
				[]string{srv, "ClusterService", "", "Passed", "Passed", ""}, []string{srv, "ReplayService", "", "Passed", "Passed", ""})
		case "copystatus":
			sec = section("copystatus", copyCols,
				[]string{mine + `\` + srv, mine, srv, "Mounted", "True", "False", "0", "0", "", "Healthy", ""},
				[]string{other + `\` + srv, other, srv, "Healthy", "False", "False", "2", "1", "", "Healthy", ""})
		default:
			return nil, fmt.Errorf("%s: the fake does not answer section %q", server, call.Section)
		}
		res.Sections = append(res.Sections, sec)
	}
	return res, nil
}

func (f *fakeRunner) Preflight(ctx context.Context, p *commands.Plan) (commands.Findings, error) {
	return commands.Findings{}, errors.New("the fake runner does not preflight")
}

func (f *fakeRunner) Lock(ctx context.Context, key string) (func(), error) {
	return func() {}, nil
}

// fakeEnv is the configuration the fake runner answers for.
var fakeEnv = commands.Env{
	ManagementServer: "EX10-CAHT",
	Servers: []commands.Server{
		{Name: "EX10-MB01", Roles: []string{commands.RoleMailbox}},
		{Name: "EX10-MB02", Roles: []string{commands.RoleMailbox}},
		{Name: "EX10-CAHT", Roles: []string{commands.RoleClientAccess}},
	},
}
