package approvals_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/store"
)

// crashChildEnv carries the database path to the child process of TestCrashDuringRun.
const crashChildEnv = "EXCHOPS_TEST_CRASH_CHILD_DB"

// TestCrashChild is the child of TestCrashDuringRun: a whole exchops approvals stack
// whose run hangs until the process is killed. It does nothing when run normally.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("the child process of TestCrashDuringRun")
	}
	ctx := context.Background()
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	ex := &fakeExec{block: make(chan struct{}), started: make(chan struct{}, 1)}
	svc := approvals.New(db, ex, people(1), approvals.Options{Clock: clock.Real{}, Env: env, Instance: "child"})
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := svc.Request(ctx, approvals.Submit{Person: "alice", Origin: console("alice"), Command: parse(t, dagCreate)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Approve(ctx, r.ID, "bob", console("bob")); err != nil {
		t.Fatal(err)
	}
	<-ex.started
	os.Stdout.WriteString("RUNNING " + r.ID + "\n")
	select {} // hold the run until SIGKILL
}

// TestCrashDuringRun kills a process in the middle of a run with SIGKILL. At the next
// start the run is marked interrupted and announced, and nothing runs again.
func TestCrashDuringRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "exchops.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var id string
	timeout := time.After(60 * time.Second)
	for id == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the child ended before its run started")
			}
			if rest, found := strings.CutPrefix(l, "RUNNING "); found {
				id = rest
			}
		case <-timeout:
			t.Fatal("the child's run did not start")
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	// What the dead process left: a run that started and never finished.
	ctx := context.Background()
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	before, err := db.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if before.Status != approvals.Running || before.Run == nil || before.Run.Owner != "child" {
		t.Fatalf("after the kill: %s %+v", before.Status, before.Run)
	}

	ex := &fakeExec{}
	ev := newEvents()
	svc := approvals.New(db, ex, people(1), approvals.Options{Clock: clock.Real{}, Notifier: ev, Env: env})
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { svc.Close(); db.Close() }()
	e := ev.waitFor(t, id, approvals.EventInterrupted)
	r := e.Request
	if r.Status != approvals.Interrupted || r.Run.FinishedAt.IsZero() || !strings.Contains(r.Reason, "will not run again by itself") {
		t.Fatalf("after restart: %s %q %+v", r.Status, r.Reason, r.Run)
	}
	// Nobody can approve it into running again, and nothing ran in this process.
	if _, err := svc.Approve(ctx, id, "carol", console("carol")); approvals.RefusalOf(err) == nil {
		t.Fatalf("approving an interrupted request: %v", err)
	}
	svc.Wait()
	if ex.executes.Load() != 0 || ex.preflights.Load() != 0 {
		t.Fatalf("after restart: %d preflights, %d runs", ex.preflights.Load(), ex.executes.Load())
	}
	trail, _ := svc.Audit(ctx, id)
	if last := trail[len(trail)-1]; last.Event != "interrupted" || last.Actor != approvals.Bot {
		t.Errorf("last audit event: %+v", last)
	}
	// A second restart announces nothing new: the request is final.
	svc.Close()
	ev2 := newEvents()
	svc = approvals.New(db, ex, people(1), approvals.Options{Clock: clock.Real{}, Notifier: ev2, Env: env})
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(ev2.kinds()); n != 0 {
		t.Errorf("second restart announced %v", ev2.kinds())
	}
}
