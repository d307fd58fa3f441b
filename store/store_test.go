package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/store"
	"github.com/pressly/goose/v3"
)

func open(t *testing.T, path string) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

func newDB(t *testing.T) *store.DB {
	t.Helper()
	return open(t, filepath.Join(t.TempDir(), "exchops.db"))
}

var (
	berlin = time.FixedZone("CET", 3600)
	// t0 has nanoseconds and is not in UTC: it must come back as the same instant.
	t0 = time.Date(2026, 3, 1, 9, 30, 15, 123456789, berlin)
)

// full is a request with every field set.
func full() *approvals.Request {
	return &approvals.Request{
		Command:   "dag create E14-DAG witness=EX10-CAHT",
		Summary:   "create the DAG E14-DAG",
		Requester: "alice",
		Origin:    approvals.Origin{Platform: "slack", Channel: "C123", User: "U1"},
		Steps: []commands.Step{
			{Target: "EX10-CAHT", Script: "New-DatabaseAvailabilityGroup -Name 'E14-DAG'\r\n", Purpose: "create the DAG"},
			{Target: "EX10-MB01", Script: "Add-DatabaseAvailabilityGroupServer\n\"quoted\" ✓", Purpose: ""},
			{Target: "EX10-MB02", Purpose: "typed calls", Script: "rendered\n", Timeout: 24 * time.Hour, Calls: []commands.Call{
				{Pipeline: []commands.Cmd{commands.C("Get-MailboxServer", commands.Str("Identity", "EX10-MB02 ’quoted’"))},
					Section: "mailboxserver", Columns: []string{"Name", "DatabaseAvailabilityGroup"}},
				{Pipeline: []commands.Cmd{commands.C("Test-ReplicationHealth", commands.Str("Identity", "EX10-MB02"), commands.Int("ActiveDirectoryTimeout", -15),
					commands.Bool("MonitoringContext", false), commands.Switch("OutputObjects"), commands.Strs("Values", "a", "", "c"))},
					Section: "replicationhealth", Columns: []string{"Server", "#Count", "*Servers", "@When"},
					When: &commands.Match{Section: "mailboxserver", Column: "DatabaseAvailabilityGroup", NotEmpty: true}},
				{Pipeline: []commands.Cmd{commands.C("Get-MailboxDatabase"), commands.C("Set-MailboxDatabase", commands.Str("RpcClientAccessServer", "client.msglab.local"))}},
				{Pipeline: []commands.Cmd{commands.C("Get-MailboxDatabase")}, Section: "databases", Where: &commands.Match{Column: "Name", Value: "MB01"}},
			}},
		},
		Wait: &commands.Wait{
			Step: commands.Step{Target: "EX10-CAHT", Script: "Get-MailboxDatabaseCopyStatus", Purpose: "poll", Calls: []commands.Call{
				{Pipeline: []commands.Cmd{commands.C("Get-MailboxDatabaseCopyStatus", commands.Str("Identity", `MB01\EX10-MB02`))}, Section: "copystatus"},
			}},
			Until:    &commands.Until{Kind: commands.UntilCopyHealthy, Database: "MB01", Server: "EX10-MB02"},
			Progress: "seeding MB01 to EX10-MB02",
			Budget:   90*time.Minute + 1,
			Interval: 15 * time.Second,
		},
		Lock: "dag:E14-DAG",
		Findings: []commands.Finding{
			{Severity: commands.Info, Message: "EX10-MB02 is reachable"},
			{Severity: commands.Warning, Message: "the witness is a CAS"},
			{Severity: commands.Blocker, Message: "MB01 is dismounted"},
			{Severity: commands.Info, Message: "Previous RpcClientAccessServer", Record: commands.NewRecord(map[string]string{"MB01": "ex10-mb01.msglab.local", "MB 02": ""})},
		},
		Hash:         "sha256:abc",
		Required:     2,
		Approvers:    []string{"role:dag-owner", "bob ’quoted’"},
		ExcludedTeam: "messaging",
		Status:       approvals.Running,
		Reason:       "approved by bob and carol",
		CreatedAt:    t0,
		ExpiresAt:    t0.Add(time.Hour),
		UpdatedAt:    t0.Add(2 * time.Minute).In(time.Local),
		Votes: []approvals.Vote{
			{Person: "bob", Decision: approvals.Approve, At: t0.Add(time.Minute), Via: approvals.Origin{Platform: "discord", Channel: "42", User: "7"}, Reason: "ok"},
			{Person: "carol", Decision: approvals.Deny, At: t0.Add(time.Minute + 1), Via: approvals.Origin{Platform: "console"}},
		},
		Run: &approvals.Run{
			Owner:      "host-a:1234",
			StartedAt:  t0.Add(3 * time.Minute),
			FinishedAt: t0.Add(4*time.Minute + 999),
			Progress:   "step 2 of 2",
			Output:     "line 1\nline 2\n",
			Error:      "Add-DatabaseAvailabilityGroupServer: access denied",
		},
		Cards: []approvals.Card{
			{Platform: "slack", Channel: "C123", MessageID: "1700000000.000100", Thread: "1700000000.000001"},
			{Platform: "discord", Channel: "42", MessageID: "99"},
		},
	}
}

// pending is a request as the approvals service creates it.
func pending(cmd string) *approvals.Request {
	return &approvals.Request{
		Command:   cmd,
		Summary:   cmd,
		Requester: "alice",
		Origin:    approvals.Origin{Platform: "console", User: "alice"},
		Steps:     []commands.Step{{Target: "EX10-CAHT", Script: "Get-Date", Purpose: "test"}},
		Required:  1,
		Status:    approvals.Pending,
		CreatedAt: t0,
		ExpiresAt: t0.Add(time.Hour),
		UpdatedAt: t0,
	}
}

func requested(r *approvals.Request) approvals.AuditEvent {
	return approvals.AuditEvent{At: r.CreatedAt, Actor: r.Requester, Via: r.Origin, Event: "requested", Detail: r.Command}
}

func create(t *testing.T, db *store.DB, r *approvals.Request) *approvals.Request {
	t.Helper()
	if err := db.Create(t.Context(), r, requested(r)); err != nil {
		t.Fatal(err)
	}
	return r
}

// utc is what the store gives back for r: the same instants, in UTC.
func utc(r *approvals.Request) *approvals.Request {
	c := *r
	c.CreatedAt, c.ExpiresAt, c.UpdatedAt = c.CreatedAt.UTC(), c.ExpiresAt.UTC(), c.UpdatedAt.UTC()
	c.Votes = nil
	for _, v := range r.Votes {
		v.At = v.At.UTC()
		c.Votes = append(c.Votes, v)
	}
	if r.Run != nil {
		run := *r.Run
		run.StartedAt, run.FinishedAt = run.StartedAt.UTC(), run.FinishedAt.UTC()
		c.Run = &run
	}
	return &c
}

func sameRequest(t *testing.T, got, want *approvals.Request) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("request differs:\n got  %s\n want %s", dump(got), dump(want))
	}
}

func dump(r *approvals.Request) string {
	s := fmt.Sprintf("%+v", *r)
	if r.Wait != nil {
		s += fmt.Sprintf(" Wait=%+v", *r.Wait)
	}
	if r.Run != nil {
		s += fmt.Sprintf(" Run=%+v", *r.Run)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	ctx := t.Context()
	db := newDB(t)

	in := full()
	if err := db.Create(ctx, in, requested(in)); err != nil {
		t.Fatal(err)
	}
	if in.ID != "r-1" || in.Seq != 1 || in.Version != 1 {
		t.Fatalf("Create assigned ID %q, Seq %d, Version %d; want r-1, 1, 1", in.ID, in.Seq, in.Version)
	}
	got, err := db.Get(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameRequest(t, got, utc(in))
	if !got.CreatedAt.Equal(t0) || got.CreatedAt.Nanosecond() != 123456789 {
		t.Errorf("CreatedAt = %v, want the instant %v", got.CreatedAt, t0)
	}

	// An Update that changes nothing saves the same request, one version on.
	saved, err := db.Update(ctx, in.ID, func(r *approvals.Request) ([]approvals.AuditEvent, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	want := utc(in)
	want.Version = 2
	sameRequest(t, saved, want)
}

func TestRoundTripValues(t *testing.T) {
	ctx := t.Context()
	db := newDB(t)
	tests := []struct {
		name string
		edit func(r *approvals.Request)
	}{
		{"zero values", func(r *approvals.Request) {
			*r = approvals.Request{Status: approvals.Pending}
		}},
		{"no wait, no run", func(r *approvals.Request) { r.Wait = nil; r.Run = nil }},
		{"a WinRS wait (no calls, no condition)", func(r *approvals.Request) { r.Wait.Step.Calls, r.Wait.Until = nil, nil }},
		{"a wait condition this version does not know", func(r *approvals.Request) { r.Wait.Until.Kind = "from-a-newer-exchops" }},
		{"the plans exchops makes", func(r *approvals.Request) {
			env := commands.Env{ManagementServer: "EX10-CAHT", DNSServer: "DC01"}
			r.Steps = nil
			for _, text := range []string{"failover MB01 to=EX10-MB02", "copy add MB01 EX10-MB02 preference=2", "dns add client 10.0.0.40 zone=msglab.local",
				`dag create E14-DAG witness=EX10-CAHT dir=C:\FSW ip=10.0.0.50,10.0.1.50`} {
				inv, err := commands.Parse(text)
				if err != nil {
					panic(err)
				}
				p, err := inv.Plan(env)
				if err != nil {
					panic(err)
				}
				r.Steps = append(append(r.Steps, p.Preflight...), p.Steps...)
				if p.Wait != nil {
					r.Wait = p.Wait
				}
			}
		}},
		{"run still going", func(r *approvals.Request) { r.Run.FinishedAt = time.Time{} }},
		{"unknown severity", func(r *approvals.Request) {
			r.Findings = []commands.Finding{{Severity: commands.Severity(7), Message: "from a newer exchops"}}
		}},
		{"extreme durations", func(r *approvals.Request) { r.Wait.Budget, r.Wait.Interval = math.MaxInt64, math.MinInt64 }},
		{"tiny durations", func(r *approvals.Request) { r.Wait.Budget, r.Wait.Interval = 1, 0 }},
		{"times before 1970 and far ahead", func(r *approvals.Request) {
			r.CreatedAt = time.Date(1601, 1, 1, 0, 0, 0, 1, time.UTC)
			r.ExpiresAt = time.Date(9999, 12, 31, 23, 59, 59, 999999999, berlin)
		}},
	}
	for _, s := range []approvals.Status{approvals.Pending, approvals.Approved, approvals.Running, approvals.Succeeded,
		approvals.Failed, approvals.Interrupted, approvals.Stale, approvals.Denied, approvals.Expired, approvals.Cancelled} {
		tests = append(tests, struct {
			name string
			edit func(r *approvals.Request)
		}{"status " + string(s), func(r *approvals.Request) { r.Status = s }})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := full()
			tt.edit(in)
			if err := db.Create(ctx, in, requested(in)); err != nil {
				t.Fatal(err)
			}
			got, err := db.Get(ctx, in.ID)
			if err != nil {
				t.Fatal(err)
			}
			sameRequest(t, got, utc(in))
		})
	}
}

func TestCreateRefusesWhatTheSchemaForbids(t *testing.T) {
	ctx := t.Context()
	db := newDB(t)
	tests := []struct {
		name string
		edit func(r *approvals.Request)
	}{
		{"unknown status", func(r *approvals.Request) { r.Status = "approvedish" }},
		{"unknown decision", func(r *approvals.Request) { r.Votes[0].Decision = "maybe" }},
		{"two votes by one person", func(r *approvals.Request) { r.Votes[1].Person = r.Votes[0].Person }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := full()
			tt.edit(in)
			if err := db.Create(ctx, in, requested(in)); err == nil {
				t.Fatal("Create succeeded")
			}
			if in.ID != "" || in.Version != 0 {
				t.Errorf("a failed Create set ID %q, Version %d", in.ID, in.Version)
			}
		})
	}
	if rs, err := db.List(ctx, nil, 0); err != nil || len(rs) != 0 {
		t.Errorf("after failed Creates List = %d requests, %v; want none", len(rs), err)
	}
}

func TestUpdate(t *testing.T) {
	ctx := t.Context()
	db := newDB(t)
	r := create(t, db, pending("dag create E14-DAG"))

	// approve is what the approvals service does for a vote.
	approve := func(person string) func(r *approvals.Request) ([]approvals.AuditEvent, error) {
		return func(r *approvals.Request) ([]approvals.AuditEvent, error) {
			at := t0.Add(time.Duration(len(r.Votes)+1) * time.Minute)
			r.Votes = append(r.Votes, approvals.Vote{Person: person, Decision: approvals.Approve, At: at, Via: approvals.Origin{Platform: "console", User: person}})
			r.UpdatedAt = at
			return []approvals.AuditEvent{{At: at, Actor: person, Via: approvals.Origin{Platform: "console"}, Event: "approved"}}, nil
		}
	}

	got, err := db.Update(ctx, r.ID, approve("bob"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 2 || len(got.Votes) != 1 || got.Votes[0].Person != "bob" {
		t.Fatalf("after bob's vote: version %d, votes %+v", got.Version, got.Votes)
	}
	if again, _ := db.Get(ctx, r.ID); !reflect.DeepEqual(again, got) {
		t.Errorf("Update returned %s\nGet returns %s", dump(got), dump(again))
	}

	nothingSaved := func(t *testing.T) {
		t.Helper()
		now, err := db.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(now, got) {
			t.Errorf("something was saved:\n now    %s\n before %s", dump(now), dump(got))
		}
		if trail, _ := db.Audit(ctx, r.ID); len(trail) != 2 {
			t.Errorf("audit trail has %d events, want 2", len(trail))
		}
	}

	t.Run("fn's refusal comes back and nothing is saved", func(t *testing.T) {
		refusal := &approvals.Refusal{Code: approvals.RefusedAlreadyVoted, Msg: "you already voted"}
		_, err := db.Update(ctx, r.ID, func(r *approvals.Request) ([]approvals.AuditEvent, error) {
			r.Status = approvals.Denied
			r.Votes = append(r.Votes, approvals.Vote{Person: "carol", Decision: approvals.Deny, At: t0})
			r.Cards = append(r.Cards, approvals.Card{Platform: "slack", Channel: "C1", MessageID: "1"})
			r.Run = &approvals.Run{Owner: "x", StartedAt: t0}
			return []approvals.AuditEvent{{At: t0, Actor: "carol", Event: "denied"}}, fmt.Errorf("voting: %w", refusal)
		})
		if approvals.RefusalOf(err) != refusal {
			t.Errorf("err = %v, want the refusal", err)
		}
		nothingSaved(t)
	})

	conflicts := []struct {
		name string
		fn   func(r *approvals.Request) ([]approvals.AuditEvent, error)
	}{
		{"a second vote by the same person", approve("bob")},
		{"a changed vote", func(r *approvals.Request) ([]approvals.AuditEvent, error) {
			r.Votes[0].Decision = approvals.Deny
			return []approvals.AuditEvent{{At: t0, Actor: "bob", Event: "denied"}}, nil
		}},
		{"a vote moved in time", func(r *approvals.Request) ([]approvals.AuditEvent, error) {
			r.Votes[0].At = r.Votes[0].At.Add(time.Nanosecond)
			return nil, nil
		}},
		{"a removed vote", func(r *approvals.Request) ([]approvals.AuditEvent, error) {
			r.Votes = nil
			return nil, nil
		}},
		{"a vote replaced by another person's", func(r *approvals.Request) ([]approvals.AuditEvent, error) {
			r.Votes[0].Person = "carol"
			return nil, nil
		}},
		{"two new votes by one person", func(r *approvals.Request) ([]approvals.AuditEvent, error) {
			v := approvals.Vote{Person: "dave", Decision: approvals.Approve, At: t0}
			r.Votes = append(r.Votes, v, v)
			return nil, nil
		}},
	}
	for _, tt := range conflicts {
		t.Run("votes cannot change: "+tt.name, func(t *testing.T) {
			_, err := db.Update(ctx, r.ID, tt.fn)
			if !errors.Is(err, approvals.ErrConflict) {
				t.Errorf("err = %v, want ErrConflict", err)
			}
			nothingSaved(t)
		})
	}

	t.Run("a schema violation saves nothing", func(t *testing.T) {
		_, err := db.Update(ctx, r.ID, func(r *approvals.Request) ([]approvals.AuditEvent, error) {
			r.Status = "done"
			return []approvals.AuditEvent{{At: t0, Actor: "exchops", Event: "done"}}, nil
		})
		if err == nil {
			t.Error("an unknown status was saved")
		}
		nothingSaved(t)
	})

	t.Run("unknown id", func(t *testing.T) {
		called := false
		_, err := db.Update(ctx, "r-999", func(r *approvals.Request) ([]approvals.AuditEvent, error) {
			called = true
			return nil, nil
		})
		if !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
		if called {
			t.Error("fn was called for a request that does not exist")
		}
		if _, err := db.Get(ctx, "r-999"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("Get: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("run, cards and events", func(t *testing.T) {
		got, err := db.Update(ctx, r.ID, approve("carol"))
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != 3 || !reflect.DeepEqual(got.Approvals(), []string{"bob", "carol"}) {
			t.Fatalf("version %d, approvals %v", got.Version, got.Approvals())
		}

		start := func(r *approvals.Request) ([]approvals.AuditEvent, error) {
			r.Status = approvals.Running
			r.Run = &approvals.Run{Owner: "host-a", StartedAt: t0.Add(time.Hour), Progress: "starting"}
			r.Cards = []approvals.Card{
				{Platform: "slack", Channel: "C1", MessageID: "1.1"},
				{Platform: "discord", Channel: "9", MessageID: "77"},
				{Platform: "slack", Channel: "C2", MessageID: "2.1"},
			}
			return []approvals.AuditEvent{
				{At: t0.Add(time.Hour), Actor: "exchops", Event: "run started", Detail: "on host-a"},
				{At: t0.Add(time.Hour), Actor: "exchops", Event: "step 1", Detail: "Get-Date"},
			}, nil
		}
		finish := func(r *approvals.Request) ([]approvals.AuditEvent, error) {
			r.Status = approvals.Succeeded
			r.Run.FinishedAt = t0.Add(2 * time.Hour)
			r.Run.Output = "done\n"
			// The Slack card was reposted in C1 and the one in C2 deleted; a card
			// named twice keeps the last.
			r.Cards = []approvals.Card{
				{Platform: "slack", Channel: "C1", MessageID: "1.2", Thread: "1.0"},
				{Platform: "discord", Channel: "9", MessageID: "77"},
				{Platform: "discord", Channel: "10", MessageID: "x"},
				{Platform: "discord", Channel: "10", MessageID: "78"},
			}
			// An event with an earlier time still comes after: the trail is in
			// the order it was written.
			return []approvals.AuditEvent{{At: t0, Actor: "exchops", Event: "succeeded"}}, nil
		}
		if _, err := db.Update(ctx, r.ID, start); err != nil {
			t.Fatal(err)
		}
		got, err = db.Update(ctx, r.ID, finish)
		if err != nil {
			t.Fatal(err)
		}
		wantRun := &approvals.Run{Owner: "host-a", StartedAt: t0.Add(time.Hour).UTC(), FinishedAt: t0.Add(2 * time.Hour).UTC(), Progress: "starting", Output: "done\n"}
		if !reflect.DeepEqual(got.Run, wantRun) {
			t.Errorf("run = %+v, want %+v", got.Run, wantRun)
		}
		wantCards := []approvals.Card{
			{Platform: "slack", Channel: "C1", MessageID: "1.2", Thread: "1.0"},
			{Platform: "discord", Channel: "9", MessageID: "77"},
			{Platform: "discord", Channel: "10", MessageID: "78"},
		}
		if !reflect.DeepEqual(got.Cards, wantCards) {
			t.Errorf("cards = %+v, want %+v", got.Cards, wantCards)
		}
		if got.Version != 5 || got.Status != approvals.Succeeded {
			t.Errorf("version %d, status %s; want 5, succeeded", got.Version, got.Status)
		}

		_, err = db.Update(ctx, r.ID, func(r *approvals.Request) ([]approvals.AuditEvent, error) {
			r.Run = nil
			return nil, nil
		})
		if !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("removing the run: err = %v, want ErrConflict", err)
		}

		trail, err := db.Audit(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		var events []string
		for i, ev := range trail {
			events = append(events, ev.Event)
			if ev.RequestID != r.ID || ev.ID == 0 || (i > 0 && ev.ID <= trail[i-1].ID) {
				t.Errorf("event %d: RequestID %q, ID %d", i, ev.RequestID, ev.ID)
			}
		}
		want := []string{"requested", "approved", "approved", "run started", "step 1", "succeeded"}
		if !reflect.DeepEqual(events, want) {
			t.Errorf("audit trail = %q, want %q", events, want)
		}
		first := trail[0]
		wantFirst := approvals.AuditEvent{ID: first.ID, RequestID: r.ID, At: t0.UTC(), Actor: "alice",
			Via: approvals.Origin{Platform: "console", User: "alice"}, Event: "requested", Detail: "dag create E14-DAG"}
		if first != wantFirst {
			t.Errorf("first event = %+v, want %+v", first, wantFirst)
		}
	})
}

func TestList(t *testing.T) {
	ctx := t.Context()
	db := newDB(t)
	statuses := []approvals.Status{approvals.Pending, approvals.Denied, approvals.Pending, approvals.Succeeded, approvals.Running, approvals.Pending}
	for i, s := range statuses {
		r := pending(fmt.Sprintf("cmd %d", i+1))
		r.Status = s
		create(t, db, r)
	}
	// Votes of a listed request come with it, and only its own.
	if _, err := db.Update(ctx, "r-3", func(r *approvals.Request) ([]approvals.AuditEvent, error) {
		r.Votes = append(r.Votes, approvals.Vote{Person: "bob", Decision: approvals.Approve, At: t0})
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		statuses []approvals.Status
		limit    int
		want     []string
	}{
		{nil, 0, []string{"r-6", "r-5", "r-4", "r-3", "r-2", "r-1"}},
		{nil, -1, []string{"r-6", "r-5", "r-4", "r-3", "r-2", "r-1"}},
		{nil, 2, []string{"r-6", "r-5"}},
		{[]approvals.Status{approvals.Pending}, 0, []string{"r-6", "r-3", "r-1"}},
		{[]approvals.Status{approvals.Pending}, 2, []string{"r-6", "r-3"}},
		{[]approvals.Status{approvals.Pending, approvals.Running}, 0, []string{"r-6", "r-5", "r-3", "r-1"}},
		{[]approvals.Status{approvals.Denied, approvals.Succeeded}, 10, []string{"r-4", "r-2"}},
		{[]approvals.Status{approvals.Expired}, 0, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v limit %d", tt.statuses, tt.limit), func(t *testing.T) {
			rs, err := db.List(ctx, tt.statuses, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range rs {
				ids = append(ids, r.ID)
				if want := 0; r.ID == "r-3" {
					if len(r.Votes) != 1 {
						t.Errorf("r-3 has %d votes, want 1", len(r.Votes))
					}
				} else if len(r.Votes) != want {
					t.Errorf("%s has %d votes, want none", r.ID, len(r.Votes))
				}
			}
			if !reflect.DeepEqual(ids, tt.want) {
				t.Errorf("ids = %q, want %q", ids, tt.want)
			}
		})
	}
}

// TestOfCommand: the requests of one command, oldest first, and no other command's,
// even one whose name starts with the same words.
func TestOfCommand(t *testing.T) {
	db := newDB(t)
	for _, cmd := range []string{"casarray restore r-1", "casarray restorex r-1", "casarray restore", "casarray assign client.msglab.local", "casarray restore 7", "xcasarray restore r-1"} {
		create(t, db, pending(cmd))
	}
	rs, err := db.OfCommand(t.Context(), "casarray restore")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.ID+" "+r.Command)
	}
	want := []string{"r-1 casarray restore r-1", "r-3 casarray restore", "r-5 casarray restore 7"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("OfCommand = %q, want %q", got, want)
	}
}

func TestAuditUnknownRequest(t *testing.T) {
	db := newDB(t)
	if _, err := db.Audit(t.Context(), "r-1"); !errors.Is(err, approvals.ErrNotFound) {
		t.Errorf("err = %v, want ErrNotFound", err)
	}
}

func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "exchops.db")

	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	in := create(t, db, full())
	before, err := db.Get(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	migrations := func(db *store.DB) int {
		var n int
		if err := db.SQL().QueryRowContext(ctx, "SELECT count(*) FROM goose_db_version").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	applied := migrations(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = open(t, path)
	after, err := db.Get(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(after, before) {
		t.Errorf("after reopening:\n got  %s\n want %s", dump(after), dump(before))
	}
	if n := migrations(db); n != applied {
		t.Errorf("reopening recorded %d migrations, before %d", n, applied)
	}
	// The sequence goes on where it was.
	if r := create(t, db, pending("next")); r.ID != "r-2" {
		t.Errorf("next ID = %s, want r-2", r.ID)
	}
}

// TestRequestsFromBeforeRules: a request stored before approval rules existed
// (migration 5) reads back as needing any approver, as it did when it was made, and
// with no procedure (migration 7).
func TestRequestsFromBeforeRules(t *testing.T) {
	ctx := t.Context()
	db := newDB(t)
	p, err := goose.NewProvider(goose.DialectSQLite3, db.SQL(), os.DirFS("migrations"), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 4); err != nil {
		t.Fatal(err)
	}
	_, err = db.SQL().ExecContext(ctx, `INSERT INTO requests (id, version, command, summary, requester,
		origin_platform, origin_channel, origin_user, steps, lock, findings, hash, required, status, reason,
		created_at, expires_at, updated_at)
		VALUES ('r-1', 1, 'failover MB01 to=EX10-MB02', 's', 'alice', 'console', '', 'alice', '[]', '', '[]', 'h', 1,
		'pending', '', '2026-03-01T08:30:15.123456789Z', '2026-03-01T09:30:15.123456789Z', '2026-03-01T08:30:15.123456789Z')`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := db.Get(ctx, "r-1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Approvers != nil || r.ExcludedTeam != "" || r.Required != 1 {
		t.Errorf("an old request reads as approvers %q, excluded team %q, required %d; want any approver, 1", r.Approvers, r.ExcludedTeam, r.Required)
	}
	// Nor had it a procedure (migration 7): it reads as a plan's steps.
	if r.Procedure != nil {
		t.Errorf("an old request reads with procedure %+v, want none", r.Procedure)
	}
}

// TestMigrationsGoDown checks that every migration's Down undoes its Up, so that a
// release can be rolled back.
func TestMigrationsGoDown(t *testing.T) {
	ctx := t.Context()
	db := newDB(t)
	p, err := goose.NewProvider(goose.DialectSQLite3, db.SQL(), os.DirFS("migrations"), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	tables := func() []string {
		rows, err := db.SQL().QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table'
			AND name NOT LIKE 'sqlite_%' AND name != 'goose_db_version' ORDER BY name`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			rows.Scan(&s)
			out = append(out, s)
		}
		return out
	}
	up := tables()
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if left := tables(); len(left) != 0 {
		t.Errorf("after going down, tables %q are left", left)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if again := tables(); !reflect.DeepEqual(again, up) {
		t.Errorf("after going up again tables are %q, want %q", again, up)
	}
}

func TestOpenOddPath(t *testing.T) {
	// The path goes into a file: URI; characters that mean something there must
	// stay part of the name.
	dir := filepath.Join(t.TempDir(), "my data %20")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "exchops?mode=ro#1&x=%41.db")
	db := open(t, path)
	create(t, db, pending("x"))
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the database is not where it was asked to be: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "exchops?mode=ro#1&x=%41.db") {
			t.Errorf("unexpected file %q beside the database", e.Name())
		}
	}
}

func TestOpenErrors(t *testing.T) {
	tmp := t.TempDir()

	t.Run("missing folder", func(t *testing.T) {
		dir := filepath.Join(tmp, "nope")
		path := filepath.Join(dir, "x.db")
		_, err := store.Open(t.Context(), path)
		wantOpenError(t, err, path, "the folder "+dir+" does not exist; create it or set database in the configuration (or EXCHOPS_DATABASE)")
		if _, serr := os.Stat(dir); serr == nil {
			t.Error("Open created the folder")
		}
	})

	t.Run("a folder where the file should be", func(t *testing.T) {
		_, err := store.Open(t.Context(), tmp)
		wantOpenError(t, err, tmp, "it is a folder")
	})

	t.Run("read-only folder", func(t *testing.T) {
		dir := filepath.Join(tmp, "ro")
		if err := os.Mkdir(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		if f, err := os.Create(filepath.Join(dir, "probe")); err == nil {
			f.Close()
			t.Skip("this user can write to a folder with mode 0555 (root ignores permissions), so a read-only folder cannot be made here; run the tests as an ordinary user to check this case")
		}
		path := filepath.Join(dir, "x.db")
		_, err := store.Open(t.Context(), path)
		wantOpenError(t, err, path, "exchops cannot write to the folder "+dir)
	})

	t.Run("existing database in a folder made read-only", func(t *testing.T) {
		dir := filepath.Join(tmp, "rolater")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "x.db")
		db, err := store.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		if f, err := os.Create(filepath.Join(dir, "probe")); err == nil {
			f.Close()
			t.Skip("this user can write to a folder with mode 0555 (root ignores permissions), so a read-only folder cannot be made here; run the tests as an ordinary user to check this case")
		}
		_, err = store.Open(t.Context(), path)
		wantOpenError(t, err, path, "exchops cannot write to the folder "+dir)
	})

	t.Run("read-only database in a writable folder", func(t *testing.T) {
		dir := filepath.Join(tmp, "rofile")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "x.db")
		db, err := store.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		if err := os.Chmod(path, 0o444); err != nil {
			t.Fatal(err)
		}
		if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			f.Close()
			t.Skip("this user can write to a file with mode 0444 (root ignores permissions), so a read-only database cannot be made here; run the tests as an ordinary user to check this case")
		}
		_, err = store.Open(t.Context(), path)
		wantOpenError(t, err, path, "exchops cannot write to the file")
	})
}

func wantOpenError(t *testing.T, err error, path, why string) {
	t.Helper()
	if err == nil {
		t.Fatal("Open succeeded")
	}
	prefix := "cannot open the database " + path + ": "
	if msg := err.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, why) {
		t.Errorf("error = %q\nwant   %q", msg, prefix+why+"...")
	}
	t.Log(err)
	var oe *store.OpenError
	if !errors.As(err, &oe) || oe.Path != path {
		t.Errorf("error %v is not an *OpenError for %s", err, path)
	}
}

// TestContention is many read-modify-writes at once on the same requests, with
// Creates in between: none may fail (SQLITE_BUSY) and none may be lost.
func TestContention(t *testing.T) {
	t.Run("one handle", func(t *testing.T) {
		db := newDB(t)
		contend(t, []*store.DB{db}, 8)
	})
	t.Run("two handles on one file", func(t *testing.T) {
		// Two handles are two connection pools, as two exchops processes would have:
		// they meet only in SQLite's file locks.
		path := filepath.Join(t.TempDir(), "exchops.db")
		contend(t, []*store.DB{open(t, path), open(t, path)}, 4)
	})
}

func contend(t *testing.T, dbs []*store.DB, workersPerDB int) {
	ctx := t.Context()
	const (
		shared  = 3  // requests every worker updates
		updates = 50 // per worker
		every   = 10 // a worker creates a request after every so many updates
	)
	for range shared {
		create(t, dbs[0], pending("shared"))
	}
	workers := len(dbs) * workersPerDB

	var wg sync.WaitGroup
	errs := make(chan error, workers*(updates+updates/every))
	for w := range workers {
		db := dbs[w%len(dbs)]
		wg.Go(func() {
			for i := range updates {
				id := fmt.Sprintf("r-%d", 1+(w+i)%shared)
				_, err := db.Update(ctx, id, func(r *approvals.Request) ([]approvals.AuditEvent, error) {
					r.Required++ // a counter: a lost update shows as a missing increment
					r.Reason = fmt.Sprintf("worker %d, update %d", w, i)
					return []approvals.AuditEvent{{At: t0, Actor: fmt.Sprintf("worker %d", w), Event: "bumped"}}, nil
				})
				if err != nil {
					errs <- fmt.Errorf("worker %d update %d of %s: %w", w, i, id, err)
				}
				if i%every == every-1 {
					if err := db.Create(ctx, pending(fmt.Sprintf("worker %d", w)), approvals.AuditEvent{At: t0, Event: "requested"}); err != nil {
						errs <- fmt.Errorf("worker %d create: %w", w, err)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	all, err := dbs[0].List(ctx, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := shared + workers*updates/every; len(all) != want {
		t.Errorf("%d requests, want %d", len(all), want)
	}
	for i, r := range all {
		if want := fmt.Sprintf("r-%d", len(all)-i); r.ID != want {
			t.Errorf("request %d is %s, want %s: the sequence has a gap or a repeat", i, r.ID, want)
		}
	}
	total := 0
	for i := 1; i <= shared; i++ {
		id := fmt.Sprintf("r-%d", i)
		r, err := dbs[len(dbs)-1].Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		trail, err := dbs[len(dbs)-1].Audit(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		n := r.Required - 1
		if int(r.Version) != 1+n || len(trail) != 1+n {
			t.Errorf("%s: %d increments, version %d, %d audit events; want version and events = 1 + increments", id, n, r.Version, len(trail))
		}
		total += n
	}
	if want := workers * updates; total != want {
		t.Errorf("%d updates saved, want %d", total, want)
	}
}

// TestOpenAtOnce is two or more exchops processes starting on a new file at the same
// moment: all of them must end up with the migrated schema.
func TestOpenAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "exchops.db")
	const n = 4
	dbs := make([]*store.DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { dbs[i], errs[i] = store.Open(t.Context(), path) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		t.Cleanup(func() { dbs[i].Close() })
		create(t, dbs[i], pending("x"))
	}
}

// TestOpenWhileAnotherMigrates is the narrow case of the one above: another process
// has begun applying a migration when this one looks, so this one sees it pending,
// waits for the write lock, and then finds the tables there.
func TestOpenWhileAnotherMigrates(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "exchops.db")
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	p, err := goose.NewProvider(goose.DialectSQLite3, other, os.DirFS("migrations"), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.GetDBVersion(ctx); err != nil { // creates goose's table
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join("migrations", "00001_approvals.sql"))
	if err != nil {
		t.Fatal(err)
	}
	up, _, _ := strings.Cut(string(text), "-- +goose Down")
	tx, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, up); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO goose_db_version (version_id, is_applied) VALUES (1, 1)"); err != nil {
		t.Fatal(err)
	}

	opened := make(chan error, 1)
	go func() {
		db, err := store.Open(ctx, path)
		if err == nil {
			_, err = db.List(ctx, nil, 0)
			db.Close()
		}
		opened <- err
	}()
	time.Sleep(200 * time.Millisecond) // for Open to find the migration pending and wait
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-opened; err != nil {
		t.Errorf("Open: %v", err)
	}
}

func TestExpiring(t *testing.T) {
	ctx := context.Background()
	db := newDB(t)
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	var ids []string
	for i, off := range []time.Duration{30 * time.Minute, 10 * time.Minute, 20 * time.Minute, 5 * time.Minute} {
		r := pending(fmt.Sprintf("dag add-member E14-DAG EX10-MB0%d", i+1))
		r.CreatedAt, r.UpdatedAt, r.ExpiresAt = t0, t0, t0.Add(off)
		ids = append(ids, create(t, db, r).ID)
	}
	// The one expiring first is already decided: it is not due.
	if _, err := db.Update(ctx, ids[3], func(r *approvals.Request) ([]approvals.AuditEvent, error) {
		r.Status = approvals.Cancelled
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		at   time.Duration
		due  []string
		next time.Duration // 0: none
	}{
		{0, nil, 10 * time.Minute},
		{10 * time.Minute, []string{ids[1]}, 20 * time.Minute}, // due at the instant itself
		{25 * time.Minute, []string{ids[1], ids[2]}, 30 * time.Minute},
		{time.Hour, []string{ids[1], ids[2], ids[0]}, 0},
	} {
		due, next, err := db.Expiring(ctx, t0.Add(tt.at), 10)
		if err != nil {
			t.Fatal(err)
		}
		wantNext := time.Time{}
		if tt.next != 0 {
			wantNext = t0.Add(tt.next)
		}
		if !slices.Equal(due, tt.due) || !next.Equal(wantNext) {
			t.Errorf("at +%v: due %v next %v, want %v %v", tt.at, due, next, tt.due, wantNext)
		}
	}
	if due, _, _ := db.Expiring(ctx, t0.Add(time.Hour), 2); len(due) != 2 {
		t.Errorf("limit 2 gave %v", due)
	}
}
