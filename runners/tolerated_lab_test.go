package runners_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/lab"
	"github.com/exchops/exchops/runners"
)

// The tolerated reads of commands.Call.Tolerated, against the lab's Exchange endpoint:
// a read the server refuses or fails fails alone, and the step's other reads count.

// labQueues is Get-Queue on the lab's hub transport server: refused when the account
// lacks the Transport Queues role.
var labQueues = commands.Call{Pipeline: []commands.Cmd{commands.C("Get-Queue", commands.Str("Server", "EX10-CAHT"))}, Section: "queues",
	Columns: []string{"Identity", "#MessageCount"}}

// withoutQueues gives the service account every default role but Transport Queues, so
// that Get-Queue is refused as Exchange RBAC refuses a cmdlet outside the account's roles.
func withoutQueues(t *testing.T, org *lab.Org) {
	t.Helper()
	var roles []string
	for _, r := range lab.DefaultRoles {
		if r != lab.RoleTransportQueues {
			roles = append(roles, r)
		}
	}
	if err := org.SetRoles(lab.DefaultUser, roles...); err != nil {
		t.Fatal(err)
	}
}

func tolerated(c commands.Call) commands.Call {
	c.Tolerated = true
	return c
}

func TestToleratedReadFailsAlone(t *testing.T) {
	for _, tc := range []struct {
		name  string
		calls []commands.Call
	}{
		// Three reads at once (runReads), the refused one in the middle.
		{"at once", []commands.Call{tolerated(labServers), tolerated(labQueues), tolerated(labDatabases)}},
		// A step of one read runs it alone (the one-by-one path).
		{"alone", []commands.Call{tolerated(labQueues)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, r, _ := startLabExchange(t)
			withoutQueues(t, l.org)
			res, err := r.RunStep(context.Background(), labStep(tc.calls...), nil)
			if err != nil {
				t.Fatalf("a tolerated read that was refused failed the step: %v", err)
			}
			tables := res.Tables()
			if rows, ok := tables["queues"]; !ok || len(rows) != 0 {
				t.Errorf("the refused read's section: %v (present %v), want present and empty", rows, ok)
			}
			qerr := res.Failed["queues"]
			if runners.KindOf(qerr) != runners.RBAC || !strings.Contains(qerr.Error(), "Get-Queue") {
				t.Fatalf("Failed[queues] = %v (kind %q), want the RBAC refusal of Get-Queue", qerr, runners.KindOf(qerr))
			}
			if strings.Contains(qerr.Error(), "(call ") {
				t.Errorf("a tolerated read's error names its place in the step, its section does: %v", qerr)
			}
			if len(res.Failed) != 1 {
				t.Errorf("Failed = %v, want only queues", res.Failed)
			}
			if len(tc.calls) > 1 && (len(tables["servers"]) < 3 || len(tables["databases"]) == 0) {
				t.Errorf("the other reads' rows were lost: servers %v, databases %v", tables["servers"], tables["databases"])
			}

			// The same read not tolerated fails the step, as it always did.
			plain := append([]commands.Call(nil), tc.calls...)
			for i := range plain {
				plain[i].Tolerated = false
			}
			if _, err := r.RunStep(context.Background(), labStep(plain...), nil); runners.KindOf(err) != runners.RBAC {
				t.Errorf("the refused read, not tolerated: %v, want the step to fail with the RBAC refusal", err)
			}
		})
	}
}

// Execute shows a tolerated read that failed as not run, and goes on. The output may
// reach viewers, so the reason is told as runners.Redacted tells it.
func TestToleratedReadInExecute(t *testing.T) {
	l, r, _ := startLabExchange(t)
	withoutQueues(t, l.org)
	p := &commands.Plan{Summary: "read", Steps: []commands.Step{labStep(tolerated(labQueues), tolerated(labServers))}}
	out, err := r.Execute(context.Background(), p, "", nil)
	if err != nil {
		t.Fatalf("Execute: %v\n%s", err, out)
	}
	if !strings.Contains(out, "queues: not run: ") || !strings.Contains(out, "refused") || !strings.Contains(out, "servers:\n") {
		t.Errorf("the output does not show the refused read as not run and the other's rows:\n%s", out)
	}
}

// Only a read with a section may be tolerated; and a tolerated read does not hide a
// failure of the session, which is the step's.
func TestToleratedRefusedOrNotEnough(t *testing.T) {
	l, r, _ := startLabExchange(t)
	change := tolerated(commands.Call{Pipeline: []commands.Cmd{commands.C("Set-MailboxDatabase", commands.Str("Identity", "MB01"), commands.Bool("CircularLoggingEnabled", true))}})
	change.Section = "change"
	noSection := tolerated(labServers)
	noSection.Section = ""
	for _, c := range []commands.Call{change, noSection} {
		_, err := r.RunStep(context.Background(), labStep(c), nil)
		if runners.KindOf(err) != runners.Invalid || !strings.Contains(err.Error(), "tolerated") {
			t.Errorf("%s tolerated: %v, want the step refused as invalid", c.Pipeline[0].Name, err)
		}
	}
	if err := l.SetFault("unreachable"); err != nil {
		t.Fatal(err)
	}
	_, err := r.RunStep(context.Background(), labStep(tolerated(labServers), tolerated(labDatabases)), nil)
	var e *runners.Error
	if runners.KindOf(err) != runners.Unreachable || !errors.As(err, &e) {
		t.Errorf("tolerated reads on a server that cannot be reached: %v, want the step to fail as unreachable", err)
	}
}
