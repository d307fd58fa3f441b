package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigCheckRefusesUnsatisfiableRules: config check and serve refuse an approval
// rule that the people configured can never satisfy, naming the rule and why.
func TestConfigCheckRefusesUnsatisfiableRules(t *testing.T) {
	example, err := os.ReadFile("exchops.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Two approvals from role dag-owner, but only bob and carol hold it, and bob may
	// ask for failovers: his would wait for a second owner who does not exist.
	bad := strings.Replace(string(example), "roles: [approver, dag-owner], team: network}", "roles: [approver], team: network}", 1)
	if bad == string(example) {
		t.Fatal("the example's people changed: update this test")
	}
	path := filepath.Join(t.TempDir(), "exchops.yaml")
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"config", "check", "--config", path}, {"serve", "--config", path}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != exitUsage {
			t.Errorf("%s: exit %d, want %d\n%s%s", args[0], code, exitUsage, out.String(), errb.String())
		}
		for _, want := range []string{"approvals.rules[0]: failover, drill need 2 approvals from role dag-owner", "a request by bob could never get them"} {
			if !strings.Contains(errb.String(), want) {
				t.Errorf("%s: stderr lacks %q:\n%s", args[0], want, errb.String())
			}
		}
	}
}
