package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/report"
	"github.com/exchops/exchops/schedules"
)

// StepMax is the longest command a next-step button carries, in bytes: Discord's
// custom_id holds 100 characters, its prefix included.
const StepMax = 80

// StepCommand checks a next-step button's payload, the command it files, and
// returns it. A click files the command exactly as if the clicker had typed it (their
// identity, roles, the parse, the preflight, the approvals), so the payload gives a
// forged click nothing typing would not; on top of that it must be what StepButton
// writes: at most StepMax bytes of printable ASCII, single-spaced, a command of the
// catalog that parses, and not one of the bot's own (approve, deny, cancel, help,
// schedules), which no alert suggests.
func StepCommand(payload string) (string, error) {
	if payload == "" || len(payload) > StepMax {
		return "", fmt.Errorf("the button's command is empty or longer than %d characters", StepMax)
	}
	for _, r := range payload {
		if r < ' ' || r > '~' {
			return "", errors.New("the button's command holds a character exchops does not write into buttons")
		}
	}
	if strings.Join(strings.Fields(payload), " ") != payload {
		return "", errors.New("the button's command is not written as exchops writes one")
	}
	parsed, err := commands.Parse(payload)
	if err != nil {
		return "", fmt.Errorf("the button's command does not parse: %w", err)
	}
	if parsed.Spec.Handler == commands.HandlerBot {
		return "", fmt.Errorf("%s is not a command exchops puts on a button", parsed.Spec.Name)
	}
	return payload, nil
}

// StepButton reports whether command can be a next-step button (StepCommand takes it
// back).
func StepButton(command string) bool {
	_, err := StepCommand(command)
	return err == nil
}

// Step handles a click on a next-step button whose payload is command: it is filed
// as inv, exactly as if the clicker had typed it. A payload StepCommand refuses is
// refused with a message, and nothing is filed.
func (c *Core) Step(ctx context.Context, inv Invocation, respond Respond) {
	cmd, err := StepCommand(inv.Text)
	if err != nil {
		c.cfg.Logger.Warn("a next-step click was refused", "platform", inv.Platform, "user", inv.User, "length", len(inv.Text), "err", err)
		respond(Reply{Kind: ReplyError, Private: true, Now: c.cfg.Now(),
			Text: "exchops did not take that click: " + err.Error() + ". Nothing was filed; type the command instead."})
		return
	}
	inv.Text = cmd
	c.Handle(ctx, inv, respond)
}

// AlertReport is an alert as the report the fronts post: its title, its text, and
// its next steps as buttons (Steps) that file the command. A step that cannot be a
// button (StepButton) is listed as the command to type.
func AlertReport(a schedules.Alert) *report.Report {
	rep := report.FromText(a.Title, a.Text, nil)
	var typed []string
	for _, s := range a.Next {
		if StepButton(s.Command) {
			rep.Steps = append(rep.Steps, report.Step{Label: s.Label, Command: s.Command})
			continue
		}
		typed = append(typed, s.Label+": `/exchange "+s.Command+"`")
	}
	if len(typed) > 0 {
		rep.Blocks = append(rep.Blocks, report.Block{Heading: "Next steps", Items: typed})
	}
	return rep
}

// PublishAlert is schedules.AlertPoster: it posts the alert to the channels to names,
// as PublishReport posts a report, with one button per next step on every front that
// shows buttons.
func (c *Core) PublishAlert(ctx context.Context, to map[string]string, a schedules.Alert) error {
	return c.PublishReport(ctx, to, AlertReport(a))
}
