package lab

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/exchops/exchops/lab/clock"
)

// casStart is when every CAS test's clock starts.
var casStart = time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)

func newCASTestOrg(t *testing.T) (*Org, *clock.Manual) {
	t.Helper()
	c := clock.NewManual(casStart)
	return New(c), c
}

func mustServer(t *testing.T, o *Org, name string) *Server {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.server(name)
	if s == nil {
		t.Fatalf("no server %s", name)
	}
	return s
}

// checkGolden compares got with testdata/cas/<name>.golden, rewriting it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "cas", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./lab -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
