package runners_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/internal/labtest"
	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/runners"
)

// A seed that takes longer than the runner's command timeout. Exchange 2010 seeds
// inside the cmdlet, and ending the step ends the seed: the old plan (the seed inside
// Add-MailboxDatabaseCopy, under the command timeout) leaves the copy unseeded, while
// copy add's plan (added with -SeedingPostponed, seeded by Update-MailboxDatabaseCopy
// under exchange.seed_timeout) completes, with the seed's progress on the card. The
// lab and the runner share the wall clock here, scaled down: a 1.5 s seed, a 0.5 s
// command timeout.
func TestSeedOutlastsTheCommandTimeout(t *testing.T) {
	const seed, commandTimeout = 1500 * time.Millisecond, 500 * time.Millisecond
	start := func(t *testing.T) (*runners.WinRM, commands.Env) {
		t.Helper()
		_, r := labtest.Start(t, lab.Options{Clock: clock.Real{}, OperationTimeoutCap: 200 * time.Millisecond,
			Timing: &lab.Timing{Seed: seed, Initialize: 10 * time.Millisecond, Switchover: 10 * time.Millisecond,
				NLBConverge: 10 * time.Millisecond, DAGMember: 10 * time.Millisecond}},
			runners.Options{Timeout: commandTimeout, OperationTimeout: time.Second})
		env := labEnv
		env.SeedTimeout = 20 * seed
		for _, text := range dagSetup {
			execute(t, r, env, text, nil)
		}
		return r, env
	}

	t.Run("seeded under exchange.seed_timeout", func(t *testing.T) {
		r, env := start(t)
		var lines []string
		if err := execute(t, r, env, "copy add MB01 EX10-MB02", func(s string) { lines = append(lines, s) }); err != nil {
			t.Fatalf("copy add: %v\nprogress:\n%s", err, strings.Join(lines, "\n"))
		}
		all := strings.Join(lines, "\n")
		wantContains(t, "the progress", all, `step 2 of 2 on EX10-CAHT: seed copy MB01\EX10-MB02`,
			`Seeding database copy MB01\EX10-MB02: Copying the database file from EX10-MB01`,
			`Seeding database copy MB01\EX10-MB02: Seeding is complete: 100%`, `copy MB01\EX10-MB02 is Healthy`)
		if st := copyStatusOf(t, r, `MB01\EX10-MB02`); st != "Healthy" {
			t.Errorf(`MB01\EX10-MB02 is %s after copy add, want Healthy`, st)
		}
	})

	// The old way: Add-MailboxDatabaseCopy seeding inside the cmdlet, under the
	// command timeout. The runner stops it, and the lab leaves the copy as Exchange
	// leaves an interrupted seed.
	t.Run("seeded inside Add-MailboxDatabaseCopy under the command timeout", func(t *testing.T) {
		r, _ := start(t)
		old := commands.Step{Target: "EX10-CAHT", Purpose: "add a copy of MB01 on EX10-MB02",
			Calls: []commands.Call{{Pipeline: []commands.Cmd{commands.C("Add-MailboxDatabaseCopy",
				commands.Str("Identity", "MB01"), commands.Str("MailboxServer", "EX10-MB02"))}}}}
		_, err := r.RunStep(context.Background(), old, nil)
		if runners.KindOf(err) != runners.Timeout {
			t.Fatalf("the seed inside Add-MailboxDatabaseCopy under a %s timeout: %v, want a timeout", commandTimeout, err)
		}
		if st := copyStatusOf(t, r, `MB01\EX10-MB02`); st != "FailedAndSuspended" {
			t.Errorf(`MB01\EX10-MB02 is %s after the interrupted seed, want FailedAndSuspended`, st)
		}
	})

	// The seed step without a limit of its own falls under the command timeout too.
	t.Run("seed step without its own limit", func(t *testing.T) {
		r, env := start(t)
		p := planOf(t, env, "copy add MB01 EX10-MB02")
		if _, err := r.RunStep(context.Background(), p.Steps[0], nil); err != nil {
			t.Fatal(err)
		}
		s := p.Steps[1]
		if s.Timeout != env.SeedTimeout {
			t.Fatalf("the seed step's limit is %s, want exchange.seed_timeout %s", s.Timeout, env.SeedTimeout)
		}
		s.Timeout = 0
		_, err := r.RunStep(context.Background(), s, nil)
		var re *runners.Error
		if !errors.As(err, &re) || re.Kind != runners.Timeout {
			t.Fatalf("the seed under the command timeout: %v, want a timeout", err)
		}
	})

	// A seed that outlasts exchange.seed_timeout is stopped, and the error names that key.
	t.Run("seed longer than exchange.seed_timeout", func(t *testing.T) {
		r, env := start(t)
		env.SeedTimeout = seed / 3
		p := planOf(t, env, "copy add MB01 EX10-MB02")
		if _, err := r.RunStep(context.Background(), p.Steps[0], nil); err != nil {
			t.Fatal(err)
		}
		_, err := r.RunStep(context.Background(), p.Steps[1], nil)
		if runners.KindOf(err) != runners.Timeout {
			t.Fatalf("a seed longer than its limit: %v, want a timeout", err)
		}
		wantContains(t, "the error", err.Error(), "within 500ms, the step's own limit", "exchange.seed_timeout")
	})
}

func planOf(t *testing.T, env commands.Env, text string) *commands.Plan {
	t.Helper()
	inv, err := commands.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	p, err := inv.Plan(env)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// execute preflights and executes a command as approvals would.
func execute(t *testing.T, r *runners.WinRM, env commands.Env, text string, say func(string)) error {
	t.Helper()
	p := planOf(t, env, text)
	f, err := r.Preflight(context.Background(), p)
	if err != nil {
		t.Fatalf("%s: preflight: %v", text, err)
	}
	if f.Blocked() || f.NoOp {
		t.Fatalf("%s: preflight says:\n%s", text, f)
	}
	if say == nil {
		say = func(string) {}
	}
	_, err = r.Execute(context.Background(), p, labtest.LockOf(p, f), say)
	if err != nil && strings.HasPrefix(text, "dag ") {
		t.Fatalf("%s: %v", text, err)
	}
	return err
}

func copyStatusOf(t *testing.T, r *runners.WinRM, name string) string {
	t.Helper()
	step := commands.Step{Target: "EX10-CAHT", Calls: []commands.Call{{Section: "copystatus", Columns: []string{"Name", "Status"},
		Pipeline: []commands.Cmd{commands.C("Get-MailboxDatabaseCopyStatus", commands.Str("Identity", name))}}}}
	res, err := r.RunStep(context.Background(), step, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range res.Tables()["copystatus"] {
		if row["Name"] == name {
			return row["Status"]
		}
	}
	t.Fatalf("no status for %s in %v", name, res.Tables())
	return ""
}
