package runners

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/exchops/exchops/commands"
)

// maxFailedPolls is how many polls of a wait may fail in a row before Execute stops
// waiting. A server busy in a switchover or a dropped connection should not fail a
// change that is going well; a server that is gone should not be polled until the
// budget ends.
const maxFailedPolls = 3

// defaultWaitInterval paces a Wait that names no interval, so that it cannot spin.
const defaultWaitInterval = 10 * time.Second

// Preflight runs the plan's read-only checks and judges them with p.Evaluate. Reads on
// different servers run at the same time, reads on one server one after the other; the
// results reach Evaluate in the plan's order. A read that fails is an error naming the
// read and its server and wrapping the runner's *Error: findings are never built on
// partial knowledge. The other reads are then cancelled.
func (w *WinRM) Preflight(ctx context.Context, p *commands.Plan) (commands.Findings, error) {
	n := len(p.Preflight)
	if n == 0 {
		return p.Evaluate(nil), nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var order []string
	byServer := make(map[string][]int)
	for i, s := range p.Preflight {
		key := strings.ToUpper(s.Target)
		if _, seen := byServer[key]; !seen {
			order = append(order, key)
		}
		byServer[key] = append(byServer[key], i)
	}
	results := make([]commands.Tables, n)
	var (
		mu       sync.Mutex
		firstErr error // the first read to fail; the others may fail only by the cancel
		wg       sync.WaitGroup
	)
	for _, key := range order {
		wg.Go(func() {
			for _, i := range byServer[key] {
				s := p.Preflight[i]
				res, err := w.RunStep(ctx, s, nil)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = &stepError{what: fmt.Sprintf("preflight read %d of %d", i+1, n), step: s, err: err}
						cancel()
					}
					mu.Unlock()
					return
				}
				results[i] = commands.Tables(res.Tables())
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return commands.Findings{}, firstErr
	}
	return p.Evaluate(results), nil
}

// Execute carries out an approved plan: it runs p.Steps in order, each only if the one
// before succeeded, then polls p.Wait until it reports done or failed or its budget
// runs out on the runner's clock (Options.Clock). When lock is not "" the whole of it,
// steps and wait, happens while holding lock (see Lock), so no other change to the
// same DAG, database or cluster starts before this one has settled.
//
// progress, when not nil, is told in a line before each step ("step 2 of 3 on
// EX10-MB01: add EX10-MB01 to E14-DAG"), when the wait starts, at every change of the
// wait's detail and at every failed poll. It is called on Execute's goroutine.
//
// output is for people: each step's messages and tables (see FormatResult), then the
// wait's last detail and the tables of its last poll. It holds what ran so far even
// when err is not nil.
//
// Errors name the step and its server and wrap the runner's *Error, so KindOf and
// errors.As see its kind. A wait adds three outcomes: an *Error of kind ChangeFailed
// when it reports Failed, of kind Timeout when its budget runs out, and the last poll's
// error once maxFailedPolls polls in a row have failed.
func (w *WinRM) Execute(ctx context.Context, p *commands.Plan, lock string, progress func(string)) (output string, err error) {
	say := func(line string) {
		if progress != nil {
			progress(line)
		}
	}
	if lock != "" {
		// One Lock for the whole plan, not RunLocked per step: a second change must not
		// slip in between the steps or before the wait has seen the first one settle.
		unlock, err := w.Lock(ctx, lock)
		if err != nil {
			return "", err
		}
		defer unlock()
	}

	var out strings.Builder
	block := func() {
		if out.Len() > 0 {
			out.WriteByte('\n')
		}
	}
	for i, s := range p.Steps {
		what := fmt.Sprintf("step %d of %d", i+1, len(p.Steps))
		if err := ctx.Err(); err != nil {
			return out.String(), &stepError{what: what, step: s, err: w.stoppedWaiting(ctx, s.Target, "run",
				"cancelled before this step started; it did not run")}
		}
		heading := fmt.Sprintf("%s on %s: %s", what, s.Target, purpose(s))
		say(heading)
		block()
		out.WriteString(heading + "\n")
		res, err := w.RunStep(ctx, s, say)
		writeResult(&out, res, "")
		if err != nil {
			return out.String(), &stepError{what: what, step: s, err: err}
		}
		if s.Then != nil {
			// The step's own settling (a switchover's database Mounted, its other copies
			// Healthy) before the next step starts.
			last, detail, err := w.wait(ctx, s.Then, say)
			writeWait(&out, s.Then, last, detail)
			if err != nil {
				return out.String(), err
			}
		}
	}
	if p.Wait == nil {
		return out.String(), nil
	}
	last, detail, err := w.wait(ctx, p.Wait, say)
	block()
	writeWait(&out, p.Wait, last, detail)
	return out.String(), err
}

// writeWait adds a wait's outcome to a run's output: its progress line with the last
// detail, then the tables of its last poll.
func writeWait(out *strings.Builder, wt *commands.Wait, last *Result, detail string) {
	fmt.Fprintf(out, "then %s", wt.Progress)
	if detail != "" {
		fmt.Fprintf(out, ": %s", detail)
	}
	out.WriteByte('\n')
	// The wait row is already the detail line above, and the poll's messages are the
	// banner the steps showed; its other tables (the copy status a seeding wait
	// reads, say) are the change's final state.
	if last != nil {
		tables := *last
		tables.Messages = nil
		writeResult(out, &tables, commands.WaitSection)
	}
}

// wait polls wt until it reports done or failed, its budget runs out, or too many polls
// in a row fail. It returns the last poll that produced a wait row and its detail.
func (w *WinRM) wait(ctx context.Context, wt *commands.Wait, say func(string)) (last *Result, detail string, err error) {
	clk := w.opts.Clock
	target := wt.Step.Target
	interval := wt.Interval
	if interval <= 0 {
		interval = defaultWaitInterval
	}
	deadline := clk.Now().Add(wt.Budget)
	say(fmt.Sprintf("then %s (polling %s every %s, for at most %s)", wt.Progress, target, human(interval), human(wt.Budget)))

	failures := 0
	var pollErr error // the last failed poll, while polls keep failing
	for {
		res, err := w.RunStep(ctx, wt.Step, nil)
		var done, failed bool
		var d string
		if err == nil {
			var cerr error
			done, failed, d, cerr = wt.Check(commands.Tables(res.Tables()))
			if cerr != nil {
				err = &Error{Kind: Protocol, Server: target, Op: "wait", Err: cerr,
					Msg: fmt.Sprintf("%s: the wait script's output cannot be read: %v", target, cerr)}
			}
		}
		if err != nil {
			if ctx.Err() != nil || !retryable(KindOf(err)) {
				return last, detail, &stepError{what: "the wait", step: wt.Step, err: err, note: wt.Progress}
			}
			failures++
			pollErr = err
			if failures >= maxFailedPolls {
				return last, detail, &stepError{what: "the wait", step: wt.Step, err: err,
					note: fmt.Sprintf("%s: %d polls in a row failed, so exchops stopped waiting (the steps ran: check the change on the server before running it again); the last one", wt.Progress, failures)}
			}
			say(fmt.Sprintf("poll of %s failed (%d in a row; exchops stops waiting at %d): %s", target, failures, maxFailedPolls, withoutServer(err.Error(), target)))
		} else {
			failures, pollErr = 0, nil
			last = res
			if d != "" && d != detail {
				say(d)
				detail = d
			}
			switch {
			case failed:
				return last, detail, &stepError{what: "the wait", step: wt.Step, err: &Error{Kind: ChangeFailed, Server: target, Op: "wait",
					Msg: fmt.Sprintf("%s: %s failed: %s", target, wt.Progress, orDefault(detail, "the wait script gave no detail"))}}
			case done:
				return last, detail, nil
			}
		}

		now := clk.Now()
		if !now.Before(deadline) {
			msg := fmt.Sprintf("%s: %s is still not done after %s: %s", target, wt.Progress, human(wt.Budget), orDefault(detail, "no poll has succeeded"))
			if pollErr != nil {
				msg += fmt.Sprintf(" (and the last poll failed: %s)", withoutServer(pollErr.Error(), target))
			}
			msg += "; the steps ran and the change may still complete, so check it on the server before running it again"
			return last, detail, &stepError{what: "the wait", step: wt.Step, err: &Error{Kind: Timeout, Server: target, Op: "wait", Err: pollErr, Msg: msg}}
		}
		if err := clk.Sleep(ctx, min(interval, deadline.Sub(now))); err != nil {
			return last, detail, &stepError{what: "the wait", step: wt.Step, err: w.stoppedWaiting(ctx, target, "wait",
				fmt.Sprintf("%s was cancelled; the steps ran and the change may still complete (last seen: %s)", wt.Progress, orDefault(detail, "nothing yet")))}
		}
	}
}

// retryable reports whether a failed poll may be retried: not when the request cannot
// work as given, the credentials are refused, or the caller gave up.
func retryable(k Kind) bool {
	switch k {
	case Invalid, Unauthorized, Canceled:
		return false
	}
	return true
}

// stoppedWaiting is the error for Execute ending because ctx ended outside a run.
func (w *WinRM) stoppedWaiting(ctx context.Context, server, op, what string) *Error {
	kind := Canceled
	if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		kind = Timeout
	}
	return &Error{Kind: kind, Server: server, Op: op, Err: context.Cause(ctx), Msg: server + ": " + what}
}

// stepError says which part of a plan failed and wraps the runner's error, so that
// errors.As and KindOf still reach the *Error.
type stepError struct {
	what string // "step 2 of 3", "preflight read 1 of 2", "the wait"
	step commands.Step
	note string // said before the cause, when there is more to say
	err  error
}

func (e *stepError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s on %s (%s): ", e.what, e.step.Target, purpose(e.step))
	if e.note != "" {
		b.WriteString(e.note + ": ")
	}
	// The runner's messages start with the server's name, which is said already.
	b.WriteString(withoutServer(e.err.Error(), e.step.Target))
	return b.String()
}

func (e *stepError) Unwrap() error { return e.err }

func withoutServer(msg, server string) string {
	if len(msg) > len(server)+2 && strings.EqualFold(msg[:len(server)], server) && msg[len(server):len(server)+2] == ": " {
		return msg[len(server)+2:]
	}
	return msg
}

func purpose(s commands.Step) string {
	if s.Purpose == "" {
		return "run a script"
	}
	return s.Purpose
}

// human prints a duration without the zero units Duration.String adds: 12h, 1m, 1m30s.
func human(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// FormatResult renders a run for people: its messages (banners, WARNING: lines) as
// printed, then each section as a table under its name, with the columns in the order
// the script printed them and aligned in plain text, the way PowerShell's Format-Table
// lays them out. A nil result renders as "".
func FormatResult(res *Result) string {
	var b strings.Builder
	writeResult(&b, res, "")
	return b.String()
}

// bannerLines start the lines RemoteExchange.ps1 prints when it loads: the same in
// every step's output, so people are not shown them.
var bannerLines = []string{
	"Welcome to the Exchange Management Shell!",
	"Full list of cmdlets: ",
	"Only Exchange cmdlets: ",
	"Cmdlets that match a specific string: ",
	"Get general help: ",
	"Get help for a cmdlet: ",
	"Show quick reference guide: ",
	"Exchange team blog: ",
	"Show full output for a command: ",
}

func isBanner(line string) bool {
	line = strings.TrimSpace(line)
	for _, p := range bannerLines {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return false
}

// writeResult appends res to b, leaving out sections named skip.
func writeResult(b *strings.Builder, res *Result, skip string) {
	if res == nil {
		return
	}
	first := true
	block := func() {
		if !first {
			b.WriteByte('\n')
		}
		first = false
	}
	var msgs []string
	for _, m := range res.Messages {
		if !isBanner(m) {
			msgs = append(msgs, m)
		}
	}
	if len(msgs) > 0 {
		block()
		for _, m := range msgs {
			b.WriteString(strings.TrimRight(oneLine(m), " "))
			b.WriteByte('\n')
		}
	}
	for _, s := range res.Sections {
		if skip != "" && s.Name == skip {
			continue
		}
		block()
		if err := res.Failed[s.Name]; err != nil {
			// A tolerated read that failed; the output may reach viewers.
			fmt.Fprintf(b, "%s: not run: %s\n", s.Name, oneLine(Redacted(err)))
			continue
		}
		writeSection(b, s)
	}
	if res.Truncated {
		block()
		b.WriteString("(the output was longer than the runner keeps and was cut)\n")
	}
}

func writeSection(b *strings.Builder, s Section) {
	if len(s.Columns) == 0 || len(s.Rows) == 0 {
		fmt.Fprintf(b, "%s: none\n", s.Name)
		return
	}
	fmt.Fprintf(b, "%s:\n", s.Name)
	cells := make([][]string, 0, len(s.Rows)+2)
	rule := make([]string, len(s.Columns))
	for i, c := range s.Columns {
		rule[i] = strings.Repeat("-", max(utf8.RuneCountInString(oneLine(c)), 1))
	}
	cells = append(cells, s.Columns, rule)
	for _, r := range s.Rows {
		line := make([]string, len(s.Columns))
		for i, c := range s.Columns {
			line[i] = r[c]
		}
		cells = append(cells, line)
	}
	width := make([]int, len(s.Columns))
	for _, line := range cells {
		for i, v := range line {
			width[i] = max(width[i], utf8.RuneCountInString(oneLine(v)))
		}
	}
	for _, line := range cells {
		var l strings.Builder
		for i, v := range line {
			v = oneLine(v)
			l.WriteString(v)
			if i < len(line)-1 {
				l.WriteString(strings.Repeat(" ", width[i]-utf8.RuneCountInString(v)+2))
			}
		}
		b.WriteString(strings.TrimRight(l.String(), " "))
		b.WriteByte('\n')
	}
}

// oneLine keeps a value on one line of a table: CSV fields may hold line breaks, and
// tabs would break the alignment.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n\t") {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", " ")
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == '\t' {
			return ' '
		}
		return r
	}, s)
}
