package schedules

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/commands"
)

var _ approvals.Procedures = (*Scheduler)(nil)

// Command answers the schedule commands typed in chat (schedule list, add, remove)
// for person, typed on platform in channel. It returns a sentence for the person or,
// for a change that needs a second admin's approval (adding or removing a drill
// schedule), the procedure that the request for it carries out once approved.
func (s *Scheduler) Command(ctx context.Context, person, platform, channel string, inv *commands.Command) (string, *commands.Procedure, error) {
	switch inv.Spec.Name {
	case "schedule list":
		text, err := s.List(ctx)
		return text, nil, err
	case "schedule add":
		if !slices.Contains(s.cfg.Platforms, platform) {
			platform = "" // no channels of its own: the schedule names none
		}
		e, err := EntryFrom(inv, platform, channel)
		if err != nil {
			return "", nil, err
		}
		return s.Add(ctx, person, e)
	case "schedule remove":
		return s.Remove(ctx, person, inv.Value("name"))
	}
	return "", nil, fmt.Errorf("schedules: %s is not a schedule command", inv.Spec.Name)
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

// Perform carries out an approved procedure (approvals.Procedures): a drill now
// (commands.ProcedureDrill), or the addition or removal of a drill schedule for its
// requester (ProcedureAddSchedule, ProcedureRemoveSchedule), with the arguments the
// approvers saw.
func (s *Scheduler) Perform(ctx context.Context, requester string, p commands.Procedure, progress func(string)) (string, error) {
	switch p.Kind {
	case commands.ProcedureDrill:
		var a commands.DrillArgs
		if err := p.Decode(&a); err != nil {
			return "", err
		}
		return s.DrillNow(ctx, a.DAG, progress)
	case ProcedureAddSchedule:
		var e Entry
		if err := p.Decode(&e); err != nil {
			return "", err
		}
		return s.AddApproved(ctx, requester, e)
	case ProcedureRemoveSchedule:
		var a RemoveArgs
		if err := p.Decode(&a); err != nil {
			return "", err
		}
		return s.RemoveApproved(ctx, requester, a.Name)
	}
	return "", fmt.Errorf("schedules: exchops does not know the procedure %q, so nothing ran", p.Kind)
}

// DrillNow is `drill <dag>` once approved: the drill procedure now, with its progress
// for people, and the scorecard (with the trend against earlier drills), stored like a
// scheduled drill's. An aborted or stopped drill returns its scorecard and the
// *DrillError.
func (s *Scheduler) DrillNow(ctx context.Context, dag string, progress func(string)) (string, error) {
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
