package console

import (
	"context"

	"github.com/exchops/exchops/bot"
)

var _ bot.Publisher = (*Console)(nil)

// Publish shows a report (a scheduled health report, a drill's scorecard) in the
// transcript for everyone. The console shows every report, whatever channels it was
// meant for; it does not show the chart (the page's policy loads no inline images).
func (c *Console) Publish(_ context.Context, _, title, text string, _ []byte) error {
	c.reply("", bot.Reply{Kind: bot.ReplyResult, Text: title, Output: bot.Unfence(text), Now: c.opt.Now()})
	return nil
}
