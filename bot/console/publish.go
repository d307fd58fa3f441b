package console

import (
	"context"

	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/internal/report"
)

var _ bot.Publisher = (*Console)(nil)

// PublishReport shows a report (a scheduled health report, a drill's scorecard) in the
// transcript for everyone, as one preformatted block under its heading. The console
// shows every report, whatever channels it was meant for; it does not show the chart
// (the page's policy loads no inline images). An alert's next steps are buttons that
// send their command through POST /api/command as the person at the page, exactly as
// if typed.
func (c *Console) PublishReport(_ context.Context, _ string, rep *report.Report) error {
	c.reply("", bot.Reply{Kind: bot.ReplyResult, Text: rep.Heading(), Output: rep.Plain(), Now: c.opt.Now(), Steps: rep.Steps})
	return nil
}
