package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// recorder is a testing.TB that records failures instead of failing the real test.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }
func (r *recorder) Fatal(...any)          { r.failed = true }

func TestCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.golden")
	if err := os.WriteFile(path, []byte("same\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, got string
		wantFail        bool
	}{
		{"equal", path, "same\n", false},
		{"different", path, "other\n", true},
		{"missing file", filepath.Join(t.TempDir(), "none.golden"), "x", true},
	}
	for _, tc := range cases {
		r := &recorder{TB: t}
		Check(r, tc.path, tc.got)
		if r.failed != tc.wantFail {
			t.Errorf("%s: failed = %v, want %v", tc.name, r.failed, tc.wantFail)
		}
	}
}
