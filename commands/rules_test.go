package commands

import (
	"slices"
	"testing"
)

// TestCovers: an approval rule's entry covers a command by whole words.
func TestCovers(t *testing.T) {
	for _, tt := range []struct {
		entry, name string
		want        bool
	}{
		{"failover", "failover", true},
		{"dag", "dag create", true},
		{"dag create", "dag create", true},
		{"DAG  Create", "dag create", true},
		{"dag create", "dag add-member", false},
		{"da", "dag create", false},
		{"dag create", "dag", false},
		{"", "failover", false},
		{" ", "failover", false},
		{"dag maintenance", "dag maintenance start", true}, // a group of three-word commands
	} {
		if got := Covers(tt.entry, tt.name); got != tt.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", tt.entry, tt.name, got, tt.want)
		}
	}
}

// TestApprovalNames: what rules may name is every command that needs approval and the
// groups holding one; read-only commands and groups are not.
func TestApprovalNames(t *testing.T) {
	names := ApprovalNames()
	if !slices.IsSorted(names) {
		t.Errorf("not sorted: %v", names)
	}
	for _, want := range []string{"failover", "drill", "dns", "dns add", "dag", "dag create", "copy add", "casarray assign", "schedule", "schedule add", "schedule remove"} {
		if !slices.Contains(names, want) {
			t.Errorf("%q is missing from %v", want, names)
		}
	}
	for _, not := range []string{"dag status", "copy status", "health", "help", "requests", "approve", "autodiscover", "autodiscover test", "schedule list", "casarray list"} {
		if slices.Contains(names, not) {
			t.Errorf("%q needs no approval but is in %v", not, names)
		}
	}
}
