package schedules_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/schedules"
)

// failover's preflight and the drill judge queues by health.copy_queue and
// health.replay_queue, as the health report does: a configured limit of 20 lets a
// copy with a queue of 10 be activated, the default 8 blocks it.
func TestFailoverQueueLimitFromConfiguration(t *testing.T) {
	g := startRig(t, nil)
	if err := g.Lab.Org.SetQueues("MB01", "EX10-MB02", 10, 10); err != nil {
		t.Fatal(err)
	}
	relaxed := labEnv
	relaxed.CopyQueue, relaxed.ReplayQueue = 20, 20
	for _, tc := range []struct {
		name    string
		env     commands.Env
		blocked bool
	}{
		{"default limit 8", labEnv, true},
		{"configured limit 20", relaxed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, text := range []string{"failover MB01 to=EX10-MB02", "drill E14-DAG"} {
				inv, err := commands.Parse(text)
				if err != nil {
					t.Fatal(err)
				}
				p, err := inv.Plan(tc.env)
				if err != nil {
					t.Fatal(err)
				}
				f, err := g.Runner.Preflight(context.Background(), p)
				if err != nil {
					t.Fatalf("%s: preflight: %v", text, err)
				}
				queue := strings.Contains(f.String(), "queue of 10")
				if queue != tc.blocked || (tc.blocked && !f.Blocked()) {
					t.Errorf("%s with copy/replay limits %d/%d: blocked on the queue %v, want %v:\n%s",
						text, tc.env.CopyLimit(), tc.env.ReplayLimit(), queue, tc.blocked, f)
				}
			}
		})
	}
}

// The health report is dated by the injected clock, not the wall clock: a report
// collected in the lab carries the lab's time.
func TestCollectUsesTheInjectedClock(t *testing.T) {
	g := startRig(t, nil)
	g.Clock.Advance(90 * time.Minute)
	rep, err := schedules.Collect(context.Background(), g.Runner, labEnv, "E14-DAG", schedules.Thresholds{}, g.Clock)
	if err != nil {
		t.Fatal(err)
	}
	if want := g.Clock.Now().UTC(); !rep.At.Equal(want) {
		t.Errorf("report dated %s, want the injected clock's %s", rep.At, want)
	}
}
