package bottest

import (
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
)

// Chat is one front under test with its fake chat API, as the contract drives it.
// Each front's tests implement it over their own fake (Slack's Web API, Discord's
// REST API, the console's page); the contract then holds every front to the same
// rules. People are named as in People; requests are made where cards go.
type Chat interface {
	// Rig is the core, approvals and store the front is wired to.
	Rig() *Rig
	// Command has person type text and returns once the front acknowledged it.
	Command(t testing.TB, person, text string)
	// Replay delivers the last command again, byte for byte, as a platform that
	// retries its delivery does.
	Replay(t testing.TB)
	// Approve has person click Approve on request id's card.
	Approve(t testing.TB, person, id string)
	// Card is request id's card as the chat shows it now: how many messages were
	// posted as its card ("" text and 0 when none yet) and what the card says.
	Card(id string) (posts int, text string)
	// Thread is what the chat shows under request id's card, in order: messages'
	// text, and "file:<name>" for each file.
	Thread(id string) []string
	// Fail makes the chat refuse the next n message posts with status (and, for
	// 429, Retry-After after); n < 0 refuses them until Heal.
	Fail(n, status int, after time.Duration)
	// Heal ends the failures Fail set.
	Heal()
	// Undelivered counts the posts waiting in the outbox.
	Undelivered(t testing.TB) int
	// Advance moves the rig's clock, for the outbox and retries.
	Advance(d time.Duration)
	// Settle waits until the front and the core have nothing left to do.
	Settle(t testing.TB)
	// Files reports whether the chat takes files (the console shows output on its
	// page instead).
	Files() bool
	// Faults reports whether the chat can fail (the console is in-process: it cannot).
	Faults() bool
}

// People are the contract's people: alice asks, bob approves. A front's Chat maps
// the names to its platform's ids.
var People = []approvals.Person{
	{Name: "alice", Roles: []approvals.Role{approvals.RoleAdmin}},
	{Name: "bob", Roles: []approvals.Role{approvals.RoleAdmin, approvals.RoleApprover}},
}

// ContractCommand is the change the contract asks for.
const ContractCommand = "dag create E14-DAG witness=EX10-CAHT dir=C:\\FSW"

// LongOutput is a run's output too long for any chat message: it must arrive as a
// file in the card's thread.
var LongOutput = strings.Repeat("Name,Status,CopyQueueLength\nMB01\\EX10-MB02,Healthy,0\n", 600)

// Contract runs the delivery rules every front must keep against the fronts newChat
// makes (a fresh one for each rule): announce, update in place, thread reply, long
// output as a file, retry on 429 and 5xx, the outbox after a failure, replays
// ignored. newChat's rig must run FakeExec with Output returning LongOutput for
// "dag create" when long is set.
func Contract(t *testing.T, newChat func(t *testing.T, long bool) Chat) {
	t.Run("announce", func(t *testing.T) {
		c := newChat(t, false)
		c.Command(t, "alice", ContractCommand)
		eventually(t, c, "r-1's card", func() bool {
			n, text := c.Card("r-1")
			return n == 1 && strings.Contains(text, "E14-DAG")
		})
	})
	t.Run("update in place", func(t *testing.T) {
		c := newChat(t, false)
		c.Command(t, "alice", ContractCommand)
		eventually(t, c, "r-1's card", func() bool { n, _ := c.Card("r-1"); return n == 1 })
		c.Approve(t, "bob", "r-1")
		eventually(t, c, "r-1's card showing it succeeded", func() bool {
			_, text := c.Card("r-1")
			return strings.Contains(text, "succeeded")
		})
		if n, _ := c.Card("r-1"); n != 1 {
			t.Errorf("%d cards posted for r-1, want 1 updated in place", n)
		}
	})
	t.Run("thread reply", func(t *testing.T) {
		c := newChat(t, false)
		c.Command(t, "alice", ContractCommand)
		eventually(t, c, "r-1's card", func() bool { n, _ := c.Card("r-1"); return n == 1 })
		c.Approve(t, "bob", "r-1")
		eventually(t, c, "the result in r-1's thread", func() bool {
			return has(c.Thread("r-1"), "output of dag create")
		})
		th := c.Thread("r-1")
		if !has(th, "bob") {
			t.Errorf("the thread does not say who approved:\n%s", strings.Join(th, "\n"))
		}
	})
	t.Run("long output as file", func(t *testing.T) {
		c := newChat(t, true)
		if !c.Files() {
			t.Skip("this chat takes no files")
		}
		c.Command(t, "alice", ContractCommand)
		eventually(t, c, "r-1's card", func() bool { n, _ := c.Card("r-1"); return n == 1 })
		c.Approve(t, "bob", "r-1")
		eventually(t, c, "the output attached in r-1's thread", func() bool {
			return has(c.Thread("r-1"), "file:r-1-output.txt")
		})
	})
	for _, tc := range []struct {
		name   string
		status int
		after  time.Duration
	}{{"retry on 429", 429, time.Second}, {"retry on 5xx", 503, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newChat(t, false)
			if !c.Faults() {
				t.Skip("this chat is in-process: a post cannot fail")
			}
			c.Fail(2, tc.status, tc.after)
			c.Command(t, "alice", ContractCommand)
			// Inline retries only: the clock stays short of the outbox's first round.
			within(t, c, 4*time.Second, "r-1's card after two refusals", func() bool { n, _ := c.Card("r-1"); return n == 1 })
			if n := c.Undelivered(t); n != 0 {
				t.Errorf("%d posts in the outbox, want none: the third attempt went through", n)
			}
		})
	}
	t.Run("outbox after failure", func(t *testing.T) {
		c := newChat(t, false)
		if !c.Faults() {
			t.Skip("this chat is in-process: a post cannot fail")
		}
		c.Fail(-1, 500, 0)
		c.Command(t, "alice", ContractCommand)
		eventually(t, c, "the card kept in the outbox", func() bool { return c.Undelivered(t) == 1 })
		if n, _ := c.Card("r-1"); n != 0 {
			t.Fatalf("a card was posted while the chat fails")
		}
		c.Heal()
		deadline := time.Now().Add(10 * time.Second)
		for n, _ := c.Card("r-1"); n == 0; n, _ = c.Card("r-1") {
			if time.Now().After(deadline) {
				t.Fatalf("the outbox never delivered the card")
			}
			c.Advance(time.Second)
			time.Sleep(10 * time.Millisecond)
		}
		eventually(t, c, "the outbox empty", func() bool { return c.Undelivered(t) == 0 })
		if n, _ := c.Card("r-1"); n != 1 {
			t.Errorf("%d cards posted, want 1", n)
		}
	})
	t.Run("replay ignored", func(t *testing.T) {
		c := newChat(t, false)
		c.Command(t, "alice", ContractCommand)
		eventually(t, c, "r-1's card", func() bool { n, _ := c.Card("r-1"); return n == 1 })
		c.Replay(t)
		c.Settle(t)
		rs, err := c.Rig().Svc.History(t.Context(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 1 {
			t.Errorf("%d requests after a replay, want 1", len(rs))
		}
		if n, _ := c.Card("r-2"); n != 0 {
			t.Errorf("the replay made a second card")
		}
	})
}

// within is eventually with the clock moved on by budget at most.
func within(t testing.TB, c Chat, budget time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		if budget > 0 {
			c.Advance(50 * time.Millisecond)
			budget -= 50 * time.Millisecond
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// eventually waits up to 10 seconds for cond, moving the chat's clock on a little
// each time it looks (retries and the outbox wait on it).
func eventually(t testing.TB, c Chat, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		c.Advance(50 * time.Millisecond)
		time.Sleep(5 * time.Millisecond)
	}
}

func has(lines []string, part string) bool {
	for _, l := range lines {
		if strings.Contains(l, part) {
			return true
		}
	}
	return false
}
