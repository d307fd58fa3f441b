package discord

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/bot/bottest"
	"github.com/exchops/exchops/commands"
)

// TestContract holds the Discord front to the delivery rules every front keeps.
func TestContract(t *testing.T) {
	bottest.Contract(t, func(t *testing.T, long bool) bottest.Chat {
		h := newHarness(t, withApprovalsChannel(testApprovalsCh))
		if long {
			h.exec.Output = func(*commands.Plan) string { return bottest.LongOutput }
		}
		return &discordChat{h: h}
	})
}

// discordChat is the contract's view of the Discord front and the fake Discord.
type discordChat struct {
	h    *harness
	last interaction
}

var discordIDs = map[string]string{"alice": "1001", "bob": "1002"}

func (c *discordChat) Rig() *bottest.Rig {
	return &bottest.Rig{DB: c.h.db, Svc: c.h.svc, Core: c.h.core, Clock: c.h.clk, Manual: c.h.clk}
}

func (c *discordChat) Command(t testing.TB, person, text string) {
	c.last = c.h.command(discordIDs[person], testChannel, text)
}

func (c *discordChat) Replay(t testing.TB) { c.h.send(c.last) }

// card is request id's card message in the approvals channel, if posted.
func (c *discordChat) card(id string) *bottest.DiscordMessage {
	for _, m := range c.h.fake.Messages() {
		content, _ := m.Body["content"].(string)
		if _, ref := m.Body["message_reference"]; m.Channel == testApprovalsCh && !ref && strings.Contains(content, "**"+id+"**") {
			return m
		}
	}
	return nil
}

func (c *discordChat) Approve(t testing.TB, person, id string) {
	m := c.card(id)
	if m == nil {
		t.Fatalf("no card for %s to click", id)
	}
	c.h.click(discordIDs[person], testApprovalsCh, approvePrefix+id, m.ID)
}

func (c *discordChat) Card(id string) (int, string) {
	n := 0
	for _, r := range c.h.fake.Requests("POST", "channels/"+testApprovalsCh+"/messages") {
		if r.Status/100 == 2 && r.Referenced() == "" && strings.Contains(r.Content(), "**"+id+"**") {
			n++
		}
	}
	m := c.card(id)
	if m == nil {
		return n, ""
	}
	return n, c.h.fake.Message(m.ID).Text()
}

func (c *discordChat) Thread(id string) []string {
	m := c.card(id)
	if m == nil {
		return nil
	}
	var out []string
	for _, r := range c.h.fake.Requests("POST", "channels/"+testApprovalsCh+"/messages") {
		if r.Status/100 != 2 || r.Referenced() != m.ID {
			continue
		}
		out = append(out, r.Content()+"\n"+fmt.Sprint(r.Body["embeds"]))
		for name := range r.Files {
			out = append(out, "file:"+name)
		}
	}
	return out
}

func (c *discordChat) Fail(n, status int, after time.Duration) {
	body := fmt.Sprintf(`{"message":"%d: failing as the contract asked","code":0}`, status)
	var hd http.Header
	if status == http.StatusTooManyRequests {
		secs := strconv.FormatFloat(after.Seconds(), 'f', -1, 64)
		hd = http.Header{"Retry-After": {secs}}
		body = `{"message":"You are being rate limited.","retry_after":` + secs + `,"global":false}`
	}
	c.h.fake.Fail("POST", "channels/", status, n, hd, body)
}

func (c *discordChat) Heal()                        { c.h.fake.Heal() }
func (c *discordChat) Undelivered(t testing.TB) int { return c.h.undelivered() }
func (c *discordChat) Advance(d time.Duration)      { c.h.clk.Advance(d) }
func (c *discordChat) Faults() bool                 { return true }
func (c *discordChat) Files() bool                  { return true }
func (c *discordChat) Settle(t testing.TB) {
	for range 3 {
		c.h.svc.Wait()
		c.h.core.Wait()
		c.h.fake.WaitFor(t, "the Discord front to finish its posts", c.h.d.Idle)
	}
}
