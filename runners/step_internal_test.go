package runners

import (
	"testing"

	"github.com/exchops/exchops/commands"
)

func TestConcurrentReads(t *testing.T) {
	get := func(section string) commands.Call {
		return commands.Call{Pipeline: []commands.Cmd{commands.C("Get-MailboxDatabase")}, Section: section}
	}
	when := func(c commands.Call, section string) commands.Call {
		c.When = &commands.Match{Section: section}
		return c
	}
	change := commands.Call{Pipeline: []commands.Cmd{commands.C("Add-MailboxDatabaseCopy")}}
	piped := commands.Call{Pipeline: []commands.Cmd{commands.C("Get-MailboxDatabase"), commands.C("Set-MailboxDatabase")}}
	cases := []struct {
		name  string
		calls []commands.Call
		from  int
		want  int
	}{
		{"two reads", []commands.Call{get("a"), get("b")}, 0, 2},
		{"a read that waits on the other runs at once, kept only if its When holds", []commands.Call{get("a"), when(get("b"), "a")}, 0, 2},
		{"health: server, and two reads on it", []commands.Call{get("server"), when(get("rh"), "server"), when(get("cs"), "server")}, 0, 3},
		{"a change runs alone", []commands.Call{change, get("a")}, 0, 0},
		{"a read after a change is not moved before it", []commands.Call{get("a"), change, get("b")}, 0, 1},
		{"a pipeline that changes", []commands.Call{piped, get("a")}, 0, 0},
		{"the last call", []commands.Call{get("a")}, 0, 1},
	}
	for _, tc := range cases {
		if got := concurrentReads(tc.calls, tc.from); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}
