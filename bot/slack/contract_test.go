package slack

import (
	"strconv"
	"testing"
	"time"

	"github.com/exchops/exchops/bot/bottest"
	"github.com/exchops/exchops/commands"
)

// TestContract holds the Slack front to the delivery rules every front keeps.
func TestContract(t *testing.T) {
	bottest.Contract(t, func(t *testing.T, long bool) bottest.Chat {
		opt := options{approvals: "C0APPROVALS"}
		if long {
			opt.output = func(*commands.Plan) string { return bottest.LongOutput }
		}
		return &slackChat{h: newHarness(t, opt)}
	})
}

// slackChat is the contract's view of the Slack front and the fake Slack.
type slackChat struct {
	h    *harness
	last slash
}

var slackIDs = map[string]string{"alice": "U0ALICE", "bob": "U0BOB"}

func (c *slackChat) Rig() *bottest.Rig {
	return &bottest.Rig{DB: c.h.db, Svc: c.h.svc, Core: c.h.core, Clock: c.h.clk, Manual: c.h.clk}
}

func (c *slackChat) Command(t testing.TB, person, text string) {
	c.last = c.h.newSlash(slackIDs[person], "C0OPS", text)
	if a := c.h.send(c.last); a.Status != 200 {
		t.Fatalf("the command was answered %d", a.Status)
	}
}

func (c *slackChat) Replay(t testing.TB) { c.h.send(c.last) }

// cardTS is the ts of request id's first card post ("" none).
func (c *slackChat) cards(id string) []call {
	return onlyIn(c.h.fake.Delivered("chat.postMessage", id+" · "), "C0APPROVALS", "")
}

func (c *slackChat) Approve(t testing.TB, person, id string) {
	cs := c.cards(id)
	if len(cs) == 0 {
		t.Fatalf("no card for %s to click", id)
	}
	c.h.click(slackIDs[person], "C0APPROVALS", cs[0].TS, actionApprove, id)
}

func (c *slackChat) Card(id string) (int, string) {
	cs := c.cards(id)
	if len(cs) == 0 {
		return 0, ""
	}
	text := cs[len(cs)-1].Text
	for _, u := range c.h.fake.Delivered("chat.update") {
		if u.TS == cs[0].TS {
			text = u.Text
		}
	}
	return len(cs), text
}

func (c *slackChat) Thread(id string) []string {
	cs := c.cards(id)
	if len(cs) == 0 {
		return nil
	}
	var out []string
	for _, p := range onlyIn(c.h.fake.Delivered("chat.postMessage"), "C0APPROVALS", cs[0].TS) {
		out = append(out, p.Text+"\n"+p.Blocks)
	}
	for _, f := range c.h.fake.Files("C0APPROVALS", cs[0].TS) {
		out = append(out, "file:"+f.Name)
	}
	return out
}

func (c *slackChat) Fail(n, status int, after time.Duration) {
	ra := ""
	if after > 0 {
		ra = strconv.Itoa(int(after.Seconds()))
	}
	c.h.fake.Fail("chat.postMessage", status, ra, n)
}

func (c *slackChat) Heal()                        { c.h.fake.Recover("chat.postMessage") }
func (c *slackChat) Undelivered(t testing.TB) int { return c.h.undelivered() }
func (c *slackChat) Advance(d time.Duration)      { c.h.clk.Advance(d) }
func (c *slackChat) Faults() bool                 { return true }
func (c *slackChat) Files() bool                  { return true }
func (c *slackChat) Settle(t testing.TB)          { c.h.quiet() }
