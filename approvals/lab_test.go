package approvals_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/labtest"
	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/runners"
	"github.com/exchops/exchops/store"
)

// countingRunner is the real WinRM runner, counting the runs approvals starts.
type countingRunner struct {
	*runners.WinRM
	executes atomic.Int32
}

func (c *countingRunner) Execute(ctx context.Context, p *commands.Plan, lock string, progress func(string)) (string, error) {
	c.executes.Add(1)
	return c.WinRM.Execute(ctx, p, lock, progress)
}

// TestStalePlanAgainstTheLab: alice asks to add EX10-MB01 to the DAG; before bob
// approves, someone adds it by hand in the Exchange Management Shell. When bob
// approves, the preflight no longer matches what he saw: the run is refused as stale,
// nothing runs, and the request says why.
func TestStalePlanAgainstTheLab(t *testing.T) {
	_, w := labtest.Start(t, lab.Options{Timing: &lab.Timing{}, OperationTimeoutCap: 200 * time.Millisecond},
		runners.Options{Timeout: 30 * time.Second, OperationTimeout: time.Second})
	ctx := context.Background()
	// outside runs a command the way an admin would by hand, outside exchops.
	outside := func(text string) {
		t.Helper()
		p, err := parse(t, text).Plan(env)
		if err != nil {
			t.Fatal(err)
		}
		f, err := w.Preflight(ctx, p)
		if err != nil || f.Blocked() {
			t.Fatalf("%s: %v %s", text, err, f)
		}
		if _, err := w.Execute(ctx, p, "", nil); err != nil {
			t.Fatalf("%s: %v", text, err)
		}
	}
	outside(dagCreate)

	db, err := store.Open(ctx, t.TempDir()+"/exchops.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cr := &countingRunner{WinRM: w}
	ev := newEvents()
	svc := approvals.New(db, cr, people(1), approvals.Options{Notifier: ev, Env: env})
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer svc.Close()

	r, err := svc.Request(ctx, approvals.Submit{Person: "alice", Origin: console("alice"), Command: parse(t, "dag add-member E14-DAG EX10-MB01")})
	if err != nil {
		t.Fatal(err)
	}
	outside("dag add-member E14-DAG EX10-MB01")
	if _, err := svc.Approve(ctx, r.ID, "bob", console("bob")); err != nil {
		t.Fatal(err)
	}
	e := ev.waitFor(t, r.ID, approvals.EventStale)
	svc.Wait()
	if got := e.Request; got.Status != approvals.Stale || !strings.Contains(got.Reason, "nothing ran") ||
		!strings.Contains(got.Reason, "the organisation is already as requested") {
		t.Fatalf("request: %s %q", got.Status, got.Reason)
	}
	if n := cr.executes.Load(); n != 0 {
		t.Fatalf("the stale plan ran %d times", n)
	}
	// Asked again now, the command is a no-op: the organisation is as requested.
	_, err = svc.Request(ctx, approvals.Submit{Person: "alice", Origin: console("alice"), Command: parse(t, "dag add-member E14-DAG EX10-MB01")})
	if ref := approvals.RefusalOf(err); ref == nil || ref.Code != approvals.RefusedNothingToDo {
		t.Fatalf("asking again: %v", err)
	}
}
