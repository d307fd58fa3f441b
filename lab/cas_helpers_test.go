package lab

import (
	goldenfile "github.com/exchops/exchops/internal/golden"
	"path/filepath"
	"testing"
	"time"

	"github.com/exchops/exchops/internal/clock"
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

// checkGolden compares got with testdata/cas/<name>.golden (-update rewrites it).
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", "cas", name+".golden"), got)
}
