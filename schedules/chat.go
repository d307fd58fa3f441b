package schedules

import (
	"context"
	"fmt"
	"strings"

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
func (s *Scheduler) Approved(ctx context.Context, r *approvals.Request, _ func(string)) (string, error) {
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

// DrillNow is the approvals.Action of `drill <dag>`: the drill procedure now, with its
// progress for people, and the scorecard (with the trend against earlier drills),
// stored like a scheduled drill's. An aborted or stopped drill returns its scorecard
// and the *DrillError.
func (s *Scheduler) DrillNow(ctx context.Context, r *approvals.Request, progress func(string)) (string, error) {
	inv, err := commands.Parse(r.Command)
	if err != nil {
		return "", err
	}
	dag := inv.Value("dag")
	sc, err := Drill(ctx, s.cfg.Runner, s.cfg.Env, dag, s.cfg.Drill, progress)
	if sc == nil {
		return "", err
	}
	earlier, lerr := s.cfg.Store.Scorecards(ctx, sc.DAG, 10)
	if lerr != nil {
		s.log.Error("reading earlier scorecards", "dag", sc.DAG, "err", lerr)
	}
	if serr := s.cfg.Store.SaveScorecard(context.WithoutCancel(ctx), sc); serr != nil {
		s.log.Error("keeping a scorecard", "dag", sc.DAG, "err", serr)
	}
	text := sc.Text()
	if tr := sc.Trend(earlier); tr != "" {
		text += "\n" + tr
	}
	// A run's output is shown as one preformatted block: no Markdown fences in it.
	return strings.ReplaceAll(text, "```\n", ""), err
}
