package console

import (
	"html"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/bot/bottest"
	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/clock"
)

// TestContract holds the console to the delivery rules every front keeps, where they
// apply: the console is in-process (no post can fail, so no retry and no outbox),
// shows output on the page, cut (no files), and takes commands from its own page (no
// platform redelivers them). Those rules are skipped, saying so.
func TestContract(t *testing.T) {
	bottest.Contract(t, func(t *testing.T, long bool) bottest.Chat {
		exec := &bottest.FakeExec{Progress: true}
		if long {
			exec.Output = func(*commands.Plan) string { return bottest.LongOutput }
		}
		pol := approvals.Policy{People: bottest.People, Required: 1}
		rig := bottest.NewRig(t, bottest.Options{Policy: pol, Clock: clock.Real{}, Exec: exec})
		c := New(rig.Core, Options{People: bottest.People})
		rig.AddFront(c, c.Close)
		return &consoleChat{rig: rig, c: c}
	})
}

type consoleChat struct {
	rig *bottest.Rig
	c   *Console
}

func (c *consoleChat) Rig() *bottest.Rig { return c.rig }

func (c *consoleChat) Command(t testing.TB, person, text string) {
	inv := bot.Invocation{Platform: c.c.Platform(), User: person, Channel: c.c.opt.Channel, Text: text}
	c.rig.Core.Handle(t.Context(), inv, func(r bot.Reply) { c.c.reply(person, r) })
}

func (c *consoleChat) Replay(t testing.TB) {
	t.Skip("the console takes commands from its own page: no platform redelivers them")
}

func (c *consoleChat) Approve(t testing.TB, person, id string) {
	act := bot.Action{Platform: c.c.Platform(), User: person, Channel: c.c.opt.Channel, RequestID: id, Decision: approvals.Approve}
	c.rig.Core.Act(t.Context(), act, func(r bot.Reply) { c.c.reply(person, r) })
}

// html is the card's message in the transcript ("" none).
func (c *consoleChat) html(id string) string {
	c.c.mu.Lock()
	defer c.c.mu.Unlock()
	if m := c.c.transcript.byID["card-"+id]; m != nil {
		return html.UnescapeString(m.HTML)
	}
	return ""
}

func (c *consoleChat) Card(id string) (int, string) {
	h := c.html(id)
	if h == "" {
		return 0, ""
	}
	return 1, h // one message, updated in place: the transcript keeps it by id
}

func (c *consoleChat) Thread(id string) []string {
	h := c.html(id)
	if h == "" {
		return nil
	}
	return []string{h} // the card holds its thread
}

func (c *consoleChat) Fail(int, int, time.Duration) {}
func (c *consoleChat) Heal()                        {}
func (c *consoleChat) Undelivered(testing.TB) int   { return 0 }
func (c *consoleChat) Advance(time.Duration)        {}
func (c *consoleChat) Faults() bool                 { return false }
func (c *consoleChat) Files() bool                  { return false }
func (c *consoleChat) Settle(testing.TB)            { c.rig.Svc.Wait(); c.rig.Core.Wait() }
