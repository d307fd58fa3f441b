package schedules_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/config"
	"github.com/exchops/exchops/schedules"
	"go.yaml.in/yaml/v3"
)

var ops = postTo("{slack: C0OPS}")

// postTo reads a schedule's post_to as the configuration file writes it.
func postTo(text string) config.PostTo {
	var p config.PostTo
	if err := yaml.Unmarshal([]byte(text), &p); err != nil {
		panic(err)
	}
	return p
}

func dailyHealth(spec string) config.Schedule {
	return config.Schedule{Name: "daily-health", Cron: spec, Timezone: "Europe/Berlin", Job: "health", DAG: "E14-DAG", PostTo: ops}
}

type bench struct {
	s      *schedules.Scheduler
	store  *memStore
	pub    *recorder
	runner *fakeRunner
}

func newBench(t *testing.T, cfg schedules.Config) *bench {
	t.Helper()
	b := &bench{store: newMemStore(), pub: &recorder{}, runner: &fakeRunner{}}
	if cfg.Store == nil {
		cfg.Store = b.store
	}
	if cfg.Poster == nil {
		cfg.Poster = b.pub
	}
	if cfg.Runner == nil {
		cfg.Runner = b.runner
	}
	if cfg.Env.ManagementServer == "" {
		cfg.Env = fakeEnv
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	s, err := schedules.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.s = s
	return b
}

// sleepUntil moves the bubble's virtual clock to at.
func sleepUntil(at time.Time) { time.Sleep(time.Until(at)) }

// A daily 07:00 Berlin report fires at 07:00 local every day across both changes of
// 2026, on virtual time; so does a 02:30 one, once a night, at the change in March.
func TestDailyScheduleAcrossDaylightSaving(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, spec string
		from, to   time.Time
		want       []string // local times of the posts
	}{
		{"march 07:00", "0 7 * * *", time.Date(2026, 3, 27, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC),
			[]string{"2026-03-28 07:00 CET", "2026-03-29 07:00 CEST", "2026-03-30 07:00 CEST", "2026-03-31 07:00 CEST"}},
		{"october 07:00", "0 7 * * *", time.Date(2026, 10, 23, 12, 0, 0, 0, time.UTC), time.Date(2026, 10, 27, 12, 0, 0, 0, time.UTC),
			[]string{"2026-10-24 07:00 CEST", "2026-10-25 07:00 CET", "2026-10-26 07:00 CET", "2026-10-27 07:00 CET"}},
		{"march 02:30", "30 2 * * *", time.Date(2026, 3, 27, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 30, 12, 0, 0, 0, time.UTC),
			[]string{"2026-03-28 02:30 CET", "2026-03-29 03:00 CEST", "2026-03-30 02:30 CEST"}},
		{"october 02:30", "30 2 * * *", time.Date(2026, 10, 23, 12, 0, 0, 0, time.UTC), time.Date(2026, 10, 26, 12, 0, 0, 0, time.UTC),
			[]string{"2026-10-24 02:30 CEST", "2026-10-25 02:30 CEST", "2026-10-26 02:30 CET"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sleepUntil(tc.from)
				b := newBench(t, schedules.Config{Schedules: []config.Schedule{dailyHealth(tc.spec)}})
				if err := b.s.Start(t.Context()); err != nil {
					t.Fatal(err)
				}
				sleepUntil(tc.to)
				b.s.Stop()
				var got []string
				for _, p := range b.pub.titled("E14-DAG replication health") {
					got = append(got, p.At.In(berlin).Format("2006-01-02 15:04 MST"))
					if !reflect.DeepEqual(p.To, ops.Channels()) || p.PNG == nil || !strings.Contains(p.Text, "E14-DAG replication health: OK") {
						t.Errorf("post at %s: to %+v, %d bytes of chart, text:\n%s", p.At, p.To, len(p.PNG), p.Text)
					}
				}
				if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
					t.Errorf("posts at\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
				}
				if n := len(b.store.reports); n != len(tc.want) {
					t.Errorf("%d reports stored, want %d", n, len(tc.want))
				}
			})
		})
	}
}

// A run that would overlap the one still going is skipped with a note, and the
// schedule carries on afterwards.
func TestOverlappingRunIsSkippedWithANote(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Date(2026, 11, 25, 10, 0, 30, 0, time.UTC)
		sleepUntil(start)
		b := newBench(t, schedules.Config{Schedules: []config.Schedule{
			{Name: "often", Cron: "*/5 * * * *", Job: "health", DAG: "E14-DAG", PostTo: ops}}})
		b.runner.block = make(chan struct{})
		if err := b.s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		sleepUntil(start.Add(11 * time.Minute)) // 10:05 runs and hangs; 10:10 is skipped
		close(b.runner.block)
		sleepUntil(start.Add(16 * time.Minute)) // 10:15 runs
		b.s.Stop()

		skipped := b.pub.titled("Skipped: often")
		if len(skipped) != 1 {
			t.Fatalf("%d skip notes, want 1: %+v", len(skipped), b.pub.all())
		}
		if got := skipped[0].At.Format("15:04"); got != "10:10" {
			t.Errorf("the skip note was posted at %s, want 10:10", got)
		}
		wantContains(t, "the note", skipped[0].Text, "due at 2026-11-25 10:10 UTC was skipped", "started at 2026-11-25 10:05 UTC")
		var reports []string
		for _, p := range b.pub.titled("E14-DAG replication health") {
			reports = append(reports, p.At.Format("15:04"))
		}
		// The 10:05 run ends when the reads are released at 10:11.
		if strings.Join(reports, " ") != "10:11 10:15" {
			t.Errorf("reports posted at %v, want 10:11 and 10:15", reports)
		}
	})
}

// Runs missed while exchops was down are reported when it starts, not skipped in
// silence; a schedule seen for the first time reports nothing.
func TestMissedRunsAreReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC) // 10:00 in Berlin
		sleepUntil(now)
		weekly := config.Schedule{Name: "weekly-health", Cron: "0 3 * * SUN", Timezone: "Europe/Berlin", Job: "health", DAG: "E14-DAG", PostTo: postTo(`{discord: "555"}`)}
		fresh := config.Schedule{Name: "fresh", Cron: "0 7 * * *", Job: "health", DAG: "E14-DAG", PostTo: ops}
		b := newBench(t, schedules.Config{Schedules: []config.Schedule{dailyHealth("0 7 * * *"), weekly, fresh}})
		ctx := t.Context()
		// Down since 22 November, 12:00 UTC: three 07:00 runs and Sunday's 03:00 passed.
		b.store.SetLastRun(ctx, "daily-health", time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC))
		b.store.SetLastRun(ctx, "weekly-health", time.Date(2026, 11, 15, 2, 0, 0, 0, time.UTC))
		if err := b.s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		b.s.Stop()

		daily := b.pub.titled("Missed: daily-health")
		if len(daily) != 1 {
			t.Fatalf("missed notes for daily-health: %+v", b.pub.all())
		}
		wantContains(t, "the note", daily[0].Text, "missed 3 runs", "the first at 2026-11-23 07:00 CET", "the last at 2026-11-25 07:00 CET", "next run is at 2026-11-26 07:00 CET")
		weeklyNote := b.pub.titled("Missed: weekly-health")
		if len(weeklyNote) != 1 || weeklyNote[0].To["discord"] != "555" {
			t.Fatalf("missed notes for weekly-health: %+v", weeklyNote)
		}
		wantContains(t, "the note", weeklyNote[0].Text, "missed at 2026-11-22 03:00 CET")
		if n := len(b.pub.titled("Missed: fresh")); n != 0 {
			t.Errorf("a new schedule reported %d missed runs", n)
		}
		// Reported once: the record now starts at this start.
		for _, name := range []string{"daily-health", "weekly-health", "fresh"} {
			if last, _ := b.store.LastRun(ctx, name); !last.Equal(now) {
				t.Errorf("last run of %s = %v, want %v", name, last, now)
			}
		}
	})
}

// A panic in a run is recovered, posted, and does not disable the schedule.
func TestPanickingRunIsRecovered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Date(2026, 11, 25, 6, 30, 0, 0, time.UTC)
		sleepUntil(start)
		b := newBench(t, schedules.Config{Schedules: []config.Schedule{
			{Name: "daily-health", Cron: "0 7 * * *", Job: "health", DAG: "E14-DAG", PostTo: ops}}})
		b.pub.panics = true
		if err := b.s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		sleepUntil(start.Add(25 * time.Hour))
		b.s.Stop()
		if n := len(b.pub.titled("Failed: daily-health")); n != 1 {
			t.Errorf("%d failure notes, want 1: %+v", n, b.pub.all())
		}
		reports := b.pub.titled("E14-DAG replication health")
		if len(reports) != 1 || reports[0].At.Format("01-02 15:04") != "11-26 07:00" {
			t.Errorf("after the panic, reports: %+v", reports)
		}
	})
}

// Alerts only: every report is kept, only those that are not OK are posted.
func TestAlertsOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sleepUntil(time.Date(2026, 11, 25, 6, 30, 0, 0, time.UTC))
		b := newBench(t, schedules.Config{Thresholds: schedules.Thresholds{AlertsOnly: true},
			Schedules: []config.Schedule{{Name: "daily-health", Cron: "0 7 * * *", Job: "health", DAG: "E14-DAG", PostTo: ops}}})
		if err := b.s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Hour)
		b.s.Stop()
		if len(b.store.reports) != 1 || len(b.pub.all()) != 0 {
			t.Errorf("alerts only, a healthy DAG: %d reports stored, %d posts", len(b.store.reports), len(b.pub.all()))
		}
	})
}

func TestNewRefusesBadConfiguration(t *testing.T) {
	bad := []config.Schedule{
		{Name: "a", Cron: "CRON_TZ=UTC", Job: "health", DAG: "E14-DAG", PostTo: ops},
		{Name: "b", Cron: "0 7 * * *", Job: "backup", DAG: "E14-DAG", PostTo: ops},
		{Name: "c", Cron: "0 7 * * *", Job: "health", DAG: "not a dag", PostTo: ops},
		{Name: "d", Cron: "0 7 * * *", Timezone: "Mars/Base", Job: "health", DAG: "E14-DAG", PostTo: ops},
		{Name: "daily", Cron: "0 7 * * *", Job: "health", DAG: "E14-DAG", PostTo: ops},
		{Name: "DAILY", Cron: "0 8 * * *", Job: "health", DAG: "E14-DAG", PostTo: ops},
	}
	_, err := schedules.New(schedules.Config{Store: newMemStore(), Poster: &recorder{}, Runner: &fakeRunner{}, Schedules: bad})
	if err == nil {
		t.Fatal("New accepted a bad configuration")
	}
	for _, want := range []string{"schedules[0] (a)", "must be followed by a space", "backup", "not a DAG name", "Mars/Base", "schedules[5]: the name DAILY is used twice"} {
		wantContains(t, "the error", err.Error(), want)
	}
}

// schedule add, list and remove, as the bot will call them.
func TestAddListRemove(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sleepUntil(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
		pol := &approvals.Policy{People: []approvals.Person{
			{Name: "alice", Roles: []approvals.Role{approvals.RoleAdmin}},
			{Name: "vera", Roles: []approvals.Role{approvals.RoleViewer}},
		}}
		b := newBench(t, schedules.Config{Policy: pol, Location: time.UTC,
			Schedules: []config.Schedule{dailyHealth("0 7 * * *"), {Name: "weekly-drill", Cron: "0 3 * * SUN", Job: "drill", DAG: "E14-DAG", PostTo: postTo(`{discord: "555"}`)}}})
		ctx := t.Context()
		if err := b.s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer b.s.Stop()

		add := func(person, text, platform, here string) (string, error) {
			inv, err := commands.Parse(text)
			if err != nil {
				t.Fatal(err)
			}
			e, err := schedules.EntryFrom(inv, platform, here)
			if err != nil {
				t.Fatal(err)
			}
			msg, proc, err := b.s.Add(ctx, person, e)
			if proc != nil {
				t.Errorf("%s by %s: a procedure to request (%s %s), want an answer", text, person, proc.Kind, proc.Args)
			}
			return msg, err
		}
		msg, err := add("alice", `schedule add noon-health "CRON_TZ=Europe/Berlin 0 12 * * MON-FRI" health e14-dag`, "slack", "C0HERE")
		if err != nil {
			t.Fatal(err)
		}
		wantContains(t, "the answer", msg, "Added noon-health: health report of E14-DAG", "the first run is at 2026-11-25 12:00 CET")
		if got, _ := b.store.Schedules(ctx); len(got) != 1 || got[0].PostTo["slack"] != "C0HERE" || got[0].Spec != "0 12 * * MON-FRI" || got[0].TimeZone != "Europe/Berlin" || got[0].AddedBy != "alice" {
			t.Errorf("stored: %+v", got)
		}

		refusals := []struct {
			person, text, code, mention string
		}{
			{"vera", `schedule add v "0 7 * * *" health E14-DAG`, string(approvals.RefusedRole), "admin role"},
			{"alice", `schedule add noon-health "0 13 * * *" health E14-DAG`, string(approvals.RefusedBlocked), "exists already (from the chat)"},
			{"alice", `schedule add Daily-Health "0 13 * * *" health E14-DAG`, string(approvals.RefusedBlocked), "exists already (from the configuration file)"},
			{"alice", `schedule add x "0 7 * * *" health E14-DAG "#ops channel"`, string(approvals.RefusedBlocked), "is not a channel id"},
		}
		for _, r := range refusals {
			_, err := add(r.person, r.text, "slack", "C0HERE")
			ref := approvals.RefusalOf(err)
			if ref == nil || string(ref.Code) != r.code || !strings.Contains(ref.Msg, r.mention) {
				t.Errorf("%s by %s: %v (%+v); want a refusal %q mentioning %q", r.text, r.person, err, ref, r.code, r.mention)
			}
		}
		// A drill schedule is not added: it comes back as the procedure to request.
		inv, err := commands.Parse(`schedule add weekly "CRON_TZ=UTC 0 3 * * SUN" drill E14-DAG C0OPS`)
		if err != nil {
			t.Fatal(err)
		}
		e, _ := schedules.EntryFrom(inv, "slack", "C0HERE")
		msg, proc, err := b.s.Add(ctx, "alice", e)
		var asked schedules.Entry
		if err != nil || msg != "" || proc == nil || proc.Kind != schedules.ProcedureAddSchedule || proc.Decode(&asked) != nil {
			t.Fatalf("adding a drill schedule: %q, %+v, %v; want the procedure to request", msg, proc, err)
		}
		if want := (schedules.Entry{Name: "weekly", Spec: "0 3 * * SUN", TimeZone: "UTC", Job: "drill", DAG: "E14-DAG", PostTo: map[string]string{"slack": "C0OPS"}}); !reflect.DeepEqual(asked, want) {
			t.Errorf("the procedure adds %+v, want %+v", asked, want)
		}
		if got, _ := b.store.Schedules(ctx); len(got) != 1 {
			t.Errorf("a drill schedule was stored before its approval: %+v", got)
		}
		_, err = add("alice", `schedule add bad "CRON_TZ=UTC" health E14-DAG`, "slack", "C0HERE")
		var ue *commands.UsageError
		if !errors.As(err, &ue) || ue.Arg != "cron" || !strings.Contains(err.Error(), "must be followed by a space") {
			t.Errorf("a bad spec: %v, want a usage error about cron", err)
		}

		list, err := b.s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"3 schedules:",
			"daily-health  0 7 * * *         Europe/Berlin  health  E14-DAG  slack C0OPS   2026-11-26 07:00 CET  configuration",
			"noon-health   0 12 * * MON-FRI  Europe/Berlin  health  E14-DAG  slack C0HERE  2026-11-25 12:00 CET  chat (alice)",
			"weekly-drill  0 3 * * SUN       UTC (default)  drill   E14-DAG  discord 555   2026-11-29 03:00 UTC  configuration",
		} {
			wantContains(t, "the list", list, want)
		}

		// The added schedule runs.
		sleepUntil(time.Date(2026, 11, 25, 11, 0, 30, 0, time.UTC))
		if got := b.pub.titled("E14-DAG replication health"); len(got) != 1 || got[0].To["slack"] != "C0HERE" {
			t.Errorf("posts after noon in Berlin: %+v", b.pub.all())
		}

		for _, r := range []struct{ person, name, code string }{
			{"vera", "noon-health", string(approvals.RefusedRole)},
			{"alice", "daily-health", string(approvals.RefusedBlocked)},
			{"alice", "weekly-drill", string(approvals.RefusedBlocked)},
			{"alice", "nope", string(approvals.RefusedNotFound)},
		} {
			_, _, err := b.s.Remove(ctx, r.person, r.name)
			if ref := approvals.RefusalOf(err); ref == nil || string(ref.Code) != r.code {
				t.Errorf("remove %s by %s: %v, want refusal %s", r.name, r.person, err, r.code)
			}
		}
		msg, _, err = b.s.Remove(ctx, "alice", "NOON-health")
		if err != nil {
			t.Fatal(err)
		}
		wantContains(t, "the answer", msg, "Removed noon-health")
		if got, _ := b.store.Schedules(ctx); len(got) != 0 {
			t.Errorf("still stored: %+v", got)
		}
		// Removed from the cron too: no run the next day.
		sleepUntil(time.Date(2026, 11, 26, 11, 30, 0, 0, time.UTC))
		if got := b.pub.titled("E14-DAG replication health"); len(got) != 2 { // yesterday's noon, today's 07:00
			t.Errorf("posts: %d", len(got))
		}
	})
}

// Schedules added in chat survive a restart: the next scheduler loads them.
func TestChatSchedulesAreLoadedAtStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sleepUntil(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
		st := newMemStore()
		st.AddSchedule(t.Context(), schedules.Entry{Name: "kept", Spec: "0 10 * * *", Job: "health", DAG: "E14-DAG", PostTo: ops.Channels(), Source: schedules.SourceChat, AddedBy: "alice"})
		st.AddSchedule(t.Context(), schedules.Entry{Name: "broken", Spec: "CRON_TZ=UTC", Job: "health", DAG: "E14-DAG", PostTo: ops.Channels()})
		b := newBench(t, schedules.Config{Store: st})
		if err := b.s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		sleepUntil(time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC))
		b.s.Stop()
		list, _ := b.s.List(t.Context())
		wantContains(t, "the list", list, "kept", "chat (alice)")
		if strings.Contains(list, "broken") {
			t.Errorf("a schedule that no longer parses is listed:\n%s", list)
		}
		if n := len(st.reports); n != 1 {
			t.Errorf("%d reports, want the 10:00 one", n)
		}
	})
}

// TestPerformDrillScheduleChanges: the procedures a drill schedule's requests carry
// add and remove it, with the arguments they were asked with, for the requester; a
// procedure exchops does not know runs nothing.
func TestPerformDrillScheduleChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sleepUntil(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
		pol := &approvals.Policy{People: []approvals.Person{{Name: "alice", Roles: []approvals.Role{approvals.RoleAdmin}}}}
		b := newBench(t, schedules.Config{Policy: pol})
		ctx := t.Context()
		if err := b.s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer b.s.Stop()

		e := schedules.Entry{Name: "weekly", Spec: "0 3 * * SUN", Job: "drill", DAG: "E14-DAG", PostTo: map[string]string{"chat": "C1"}}
		_, add, err := b.s.Add(ctx, "alice", e)
		if err != nil || add == nil {
			t.Fatalf("adding a drill schedule: %v, %v", add, err)
		}
		msg, err := b.s.Perform(ctx, "alice", *add, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantContains(t, "the answer", msg, "Added weekly: failover drill of E14-DAG")
		got, _ := b.store.Schedules(ctx)
		if len(got) != 1 || got[0].Job != "drill" || got[0].AddedBy != "alice" || got[0].PostTo["chat"] != "C1" {
			t.Fatalf("stored: %+v", got)
		}

		_, remove, err := b.s.Remove(ctx, "alice", "WEEKLY")
		if err != nil || remove == nil || remove.Kind != schedules.ProcedureRemoveSchedule {
			t.Fatalf("removing a drill schedule: %+v, %v; want the procedure to request", remove, err)
		}
		if got, _ := b.store.Schedules(ctx); len(got) != 1 {
			t.Fatalf("removed before the approval: %+v", got)
		}
		if msg, err = b.s.Perform(ctx, "alice", *remove, nil); err != nil {
			t.Fatal(err)
		}
		wantContains(t, "the answer", msg, "Removed weekly")
		if got, _ := b.store.Schedules(ctx); len(got) != 0 {
			t.Errorf("still stored: %+v", got)
		}

		for _, p := range []commands.Procedure{
			{Kind: "reboot", Args: []byte(`{}`)},
			{Kind: schedules.ProcedureRemoveSchedule, Args: []byte(`"weekly"`)},
		} {
			if _, err := b.s.Perform(ctx, "alice", p, nil); err == nil {
				t.Errorf("performing %s %s: no error", p.Kind, p.Args)
			}
		}
	})
}

// TestCommandChannels: `schedule add` typed on a registered chat platform posts to the
// channel named, or the one it was typed in, on that platform; typed on another front
// (the console) it names no channel.
func TestCommandChannels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sleepUntil(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
		pol := &approvals.Policy{People: []approvals.Person{{Name: "alice", Roles: []approvals.Role{approvals.RoleAdmin}}}}
		b := newBench(t, schedules.Config{Policy: pol, Platforms: []string{"chat-a", "chat-b"}})
		ctx := t.Context()
		if err := b.s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer b.s.Stop()
		for _, tt := range []struct {
			platform, here, text string
			want                 map[string]string
		}{
			{"chat-a", "C1", `schedule add a "0 7 * * *" health E14-DAG`, map[string]string{"chat-a": "C1"}},
			{"chat-b", "C1", `schedule add b "0 7 * * *" health E14-DAG C2`, map[string]string{"chat-b": "C2"}},
			{"console", "#exchange", `schedule add c "0 7 * * *" health E14-DAG`, nil},
		} {
			inv, err := commands.Parse(tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if _, proc, err := b.s.Command(ctx, "alice", tt.platform, tt.here, inv); err != nil || proc != nil {
				t.Fatalf("%s on %s: %v, %+v", tt.text, tt.platform, err, proc)
			}
		}
		got, _ := b.store.Schedules(ctx)
		want := map[string]map[string]string{"a": {"chat-a": "C1"}, "b": {"chat-b": "C2"}, "c": nil}
		if len(got) != len(want) {
			t.Fatalf("stored %+v", got)
		}
		for _, e := range got {
			if !reflect.DeepEqual(e.PostTo, want[e.Name]) {
				t.Errorf("%s posts to %v, want %v", e.Name, e.PostTo, want[e.Name])
			}
		}
	})
}
