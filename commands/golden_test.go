package commands

import (
	goldenfile "github.com/exchops/exchops/internal/golden"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// golden compares got with testdata/<name>.golden (-update rewrites it).
func golden(t *testing.T, name, got string) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", name+".golden"), got)
}

// walkEnv is the walkthrough's organisation as exchops would be configured for it.
var walkEnv = Env{
	ManagementServer: "EX10-CAHT",
	DNSServer:        "DC01",
	Servers: []Server{
		{Name: "EX10-MB01", Roles: []string{"mailbox"}},
		{Name: "EX10-MB02", Roles: []string{"mailbox"}},
		{Name: "EX10-CAHT", Roles: []string{"clientaccess", "hubtransport"}},
		{Name: "EX10-CAHT02", Roles: []string{"clientaccess", "hubtransport"}},
		{Name: "DC01", Roles: []string{"dns"}},
	},
}

// withPast gives a command that refers to an earlier request the record approvals
// would find for it (pastAssign), as planning needs.
func withPast(inv *Command) *Command {
	if inv.Spec.Refers != "" && inv.Past == nil {
		inv.Past = pastAssign(inv.Value(inv.Spec.Refers))
	}
	if ss := inv.Spec.Session; ss != nil && inv.Past == nil && inv.Sessions == nil {
		switch srv := inv.Value(ss.By); {
		case srv == "":
			inv.Sessions = []PastRequest{*pastStart(srv)}
		case inv.Spec.Name == ss.Stop:
			inv.Past = pastStart(srv)
		default:
			inv.Past = &PastRequest{ID: "", Found: false}
		}
	}
	return inv
}

// pastStart is a succeeded dag maintenance start of srv (EX10-MB01 when ""), with the
// record it keeps: policy Unrestricted, node Up, MB02's copy suspended by an
// administrator before, MB01's suspended by the start.
func pastStart(srv string) *PastRequest {
	if srv == "" {
		srv = "EX10-MB01"
	}
	return &PastRequest{ID: "r-5", Found: true, Status: "succeeded", Command: "dag maintenance start " + srv,
		Requester: "alice", Started: time.Date(2024, 5, 4, 22, 0, 0, 0, time.UTC),
		Findings: []Finding{{Severity: Info, Message: "Before maintenance ...",
			Record: NewRecord(map[string]string{recPolicy: "Unrestricted", recNode: "Up", recKept: `MB02\` + srv, recSuspends: `MB01\` + srv, recOwner: srv})}}}
}

func fileName(command string) string { return strings.ReplaceAll(command, " ", "-") }

// TestPlansGolden renders every example of every command: what an approver reads.
func TestPlansGolden(t *testing.T) {
	for _, s := range Catalog() {
		t.Run(fileName(s.Name), func(t *testing.T) {
			if len(s.Examples) == 0 {
				t.Fatalf("%s has no example", s.Name)
			}
			var b strings.Builder
			for i, ex := range s.Examples {
				inv, err := Parse(ex)
				if err != nil {
					t.Fatalf("example %q: %v", ex, err)
				}
				if inv.Spec.Name != s.Name {
					t.Fatalf("example %q parsed as %q", ex, inv.Spec.Name)
				}
				p, err := withPast(inv).Plan(walkEnv)
				if err != nil {
					t.Fatalf("example %q: plan: %v", ex, err)
				}
				if i > 0 {
					b.WriteString("\n##########\n\n")
				}
				b.WriteString(p.String())
			}
			golden(t, filepath.Join("plans", fileName(s.Name)), b.String())
		})
	}
}

func TestHelpGolden(t *testing.T) {
	names := []string{""}
	for _, s := range Catalog() {
		names = append(names, s.Name)
	}
	names = append(names, Groups()...)
	for _, n := range names {
		file := fileName(n)
		if n == "" {
			file = "index"
		}
		t.Run(file, func(t *testing.T) {
			got, err := Help(n)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("help", file), got)
		})
	}
}
