// Package golden compares what people read (rendered plans, help, transcripts,
// SOAP replies) with reviewed files under testdata/, and rewrites those files when a
// test runs with -update. Every package's tests use it, so there is one flag and one
// behaviour: `go test ./PKG -update` regenerates, a plain run compares.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ from the current output")

// Updating reports whether the run was asked to rewrite golden files.
func Updating() bool { return *update }

// Check compares got with the file at path, or with -update writes got there
// (creating folders as needed).
func Check(t testing.TB, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (review it, then run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
