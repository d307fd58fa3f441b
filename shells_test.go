package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/runners"
	"github.com/exchops/exchops/store"
)

// TestOrphanShellsAreDeletedAtStart: an exchops that dies without closing its warm
// Exchange session (SIGKILL) leaves the shell open on the server, holding one of the
// account's five. The shell was recorded when it opened; the next start deletes it
// on the server and forgets it.
func TestOrphanShellsAreDeletedAtStart(t *testing.T) {
	ctx := context.Background()
	l, err := lab.Start(lab.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "exchops.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	log := slog.New(slog.DiscardHandler)

	// The first process: one read opens the management server's session, which stays
	// warm; the process then "dies" without closing it.
	dead, err := runners.New(l.RunnerEndpoints(), runners.Options{Timeout: 20 * time.Second, Shells: shellLog{db: db, log: log}})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := commands.Parse("copy status")
	if err != nil {
		t.Fatal(err)
	}
	p, err := inv.Plan(labEnv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dead.RunStep(ctx, p.Steps[0], nil); err != nil {
		t.Fatal(err)
	}
	cas := l.Endpoint("EX10-CAHT").WSMan
	if n := cas.OpenPSRPShells(); n != 1 {
		t.Fatalf("the warm session holds %d shells on EX10-CAHT, want 1", n)
	}
	recorded, err := db.Shells(ctx)
	if err != nil || len(recorded) != 1 || recorded[0].Server != "EX10-CAHT" || recorded[0].ResourceURI != runners.ExchangeResourceURI {
		t.Fatalf("recorded shells: %+v, %v", recorded, err)
	}

	// The next start.
	next, err := runners.New(l.RunnerEndpoints(), runners.Options{Timeout: 20 * time.Second, Shells: shellLog{db: db, log: log}})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close(ctx)
	deleteOrphanShells(ctx, db, next, log)
	if n := cas.OpenPSRPShells(); n != 0 {
		t.Errorf("after start-up recovery EX10-CAHT still holds %d shells", n)
	}
	if left, err := db.Shells(ctx); err != nil || len(left) != 0 {
		t.Errorf("shells still recorded: %+v, %v", left, err)
	}
	// A shell the server no longer has (its idle timeout ended it) is forgotten too.
	if err := db.RecordShell(ctx, store.Shell{ID: "0A0B0C0D-0000-0000-0000-000000000000", Server: "EX10-CAHT",
		ResourceURI: runners.ExchangeResourceURI, OpenedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	deleteOrphanShells(ctx, db, next, log)
	if left, _ := db.Shells(ctx); len(left) != 0 {
		t.Errorf("a shell gone from the server is still recorded: %+v", left)
	}
}
