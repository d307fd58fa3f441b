package schedules

import (
	"context"
	"fmt"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/commands"
)

// Command answers the schedule commands typed in chat (schedule list, add, remove)
// for person, typed on platform in channel.
func (s *Scheduler) Command(ctx context.Context, person, platform, channel string, inv *commands.Invocation) (string, error) {
	switch inv.Spec.Name {
	case "schedule list":
		return s.List(ctx)
	case "schedule add":
		e, err := EntryFrom(inv, platform, channel)
		if err != nil {
			return "", err
		}
		return s.Add(ctx, person, e)
	case "schedule remove":
		return s.Remove(ctx, person, inv.Value("name"))
	}
	return "", fmt.Errorf("schedules: %s is not a schedule command", inv.Spec.Name)
}

// HealthReport is `health <dag>` on demand: the report as text, verdict first, and the
// chart of queue lengths over the last days (nil when there is no history yet). The
// report is stored like a scheduled one.
func (s *Scheduler) HealthReport(ctx context.Context, dag string) (string, []byte, error) {
	rep, png, err := s.Health(ctx, dag)
	if err != nil {
		return "", nil, err
	}
	return rep.Text(), png, nil
}

// Approved is the approvals.Action of the schedule commands: it carries out an
// approved `schedule add` or `schedule remove` (of a drill schedule) for its requester,
// with the channel it was asked in.
func (s *Scheduler) Approved(ctx context.Context, r *approvals.Request) (string, error) {
	inv, err := commands.Parse(r.Command)
	if err != nil {
		return "", err
	}
	switch inv.Spec.Name {
	case "schedule add":
		e, err := EntryFrom(inv, r.Origin.Platform, r.Origin.Channel)
		if err != nil {
			return "", err
		}
		return s.AddApproved(ctx, r.Requester, e)
	case "schedule remove":
		return s.RemoveApproved(ctx, r.Requester, inv.Value("name"))
	}
	return "", fmt.Errorf("schedules: %s is not a schedule change", inv.Spec.Name)
}
