package runners

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/exchops/exchops/commands"
)

// RunStep runs one step of a plan on its target: an Exchange step (Calls set) as
// pipelines with typed parameters on the server's Exchange endpoint, any other step as a
// PowerShell script over WinRS (see Run). progress, when not nil, is told the progress
// records of Exchange calls ("Seeding MB01: 42%"), on RunStep's goroutine.
//
// The Exchange path sends each call as one pipeline, in order, in the server's shared
// session; a call whose When does not hold on the sections so far is skipped. The first
// error record or a failed pipeline ends the step (as $ErrorActionPreference = 'Stop'
// did) with an *Error of kind ScriptFailed, RBAC or NoLanguage, except in a tolerated
// call (commands.Call.Tolerated), whose error goes to Result.Failed while the step goes
// on; warnings become Result.Messages. The step's timeout and cancellation work as Run's.
func (w *WinRM) RunStep(ctx context.Context, step commands.Step, progress func(string)) (*Result, error) {
	if len(step.Calls) == 0 {
		return w.Run(ctx, step.Target, step.Script)
	}
	s, ok := w.servers[strings.ToUpper(step.Target)]
	if !ok {
		return nil, &Error{Kind: Invalid, Server: step.Target, Op: "run",
			Msg: fmt.Sprintf("%s: no endpoint is configured for this server (known: %s)", step.Target, strings.Join(w.Servers(), ", "))}
	}
	if s.ex == nil {
		return nil, &Error{Kind: Invalid, Server: s.ep.Name, Op: "run",
			Msg: fmt.Sprintf("%s: this step runs Exchange cmdlets, and no Exchange endpoint is configured for the server: set its PowerShell URL (https://<server>/PowerShell/)", s.ep.Name)}
	}
	return s.runExchange(ctx, step, progress)
}

func (s *server) runExchange(ctx context.Context, step commands.Step, progress func(string)) (*Result, error) {
	ex := s.ex
	for i, c := range step.Calls {
		if _, err := createPipeline(c); err != nil {
			return nil, ex.invalid("this step", err)
		}
		if c.Tolerated && (!readOnlyCall(c) || c.Section == "") {
			return nil, ex.invalid("this step", fmt.Errorf("call %d (%s) is marked tolerated, which only a read with a section may be: a change that fails must stop the step, and a failure needs a section to be reported in",
				i+1, c.Pipeline[0].Name))
		}
	}
	select {
	case ex.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, s.stopped("wait for a free pipeline", ctx, context.Cause(ctx), false, false)
	}
	defer func() { <-ex.slots }()
	limit := s.ep.Timeout
	if limit <= 0 {
		limit = s.opts.Timeout
	}
	var cause error = errTimedOut
	if step.Timeout > 0 {
		// The step's own limit (a seed): the command timeout would end the seed with it.
		limit, cause = step.Timeout, stepTimedOut{step.Timeout}
	}
	runCtx, cancel := context.WithTimeoutCause(ctx, limit, cause)
	defer cancel()

	res := &Result{Server: s.ep.Name, Started: s.opts.Now()}
	defer func() { res.Duration = s.opts.Now().Sub(res.Started) }()
	sess, err := ex.acquire(runCtx)
	if err != nil {
		if runCtx.Err() != nil {
			return res, s.stopped("open a session", runCtx, context.Cause(runCtx), false, false)
		}
		return res, err
	}
	defer func() {
		if sess != nil {
			ex.release(sess)
		}
	}()
	// fail turns a call's error into the step's, the way a stop or a refusal reads.
	fail := func(i int, err error) error {
		var stop *stopResult
		if errors.As(err, &stop) || (runCtx.Err() != nil && KindOf(err) == "") {
			confirmed := stop != nil && stop.confirmed
			e := s.stopped("run", runCtx, context.Cause(runCtx), true, confirmed)
			// Not WinRS's leftover powershell.exe: the runner deletes an Exchange
			// session whose pipeline did not confirm its stop.
			e.Msg = strings.Replace(e.Msg, "check for a leftover powershell.exe",
				"exchops closed the Exchange session, which ends it; check what it changed on the server", 1)
			e.Msg = strings.Replace(e.Msg, "raise exchange.winrm.timeout", "raise the timeout", 1)
			return e
		}
		return ex.callFailed(step.Calls[i], i, len(step.Calls), err)
	}
	// keep adds a call's output to the step's result.
	keep := func(call commands.Call, cr *callResult) {
		if cr != nil {
			res.Messages = append(res.Messages, cr.warnings...)
			res.Truncated = res.Truncated || cr.truncated
		}
		if call.Section != "" {
			var objs []any
			if cr != nil {
				objs = cr.objects
			}
			res.Sections = append(res.Sections, project(call, objs))
		}
	}
	// one runs call i in the step's session; a call the server never started (it had
	// lost the shell) runs once more in a new session.
	one := func(i int) (*callResult, error) {
		call := step.Calls[i]
		cr, err := ex.invoke(runCtx, sess, call, progress)
		if errors.Is(err, errNotStarted) {
			ex.release(sess)
			if sess, err = ex.acquire(runCtx); err != nil {
				sess = nil
				if runCtx.Err() != nil {
					return nil, s.stopped("open a session", runCtx, context.Cause(runCtx), false, false)
				}
				return nil, &openError{err}
			}
			cr, err = ex.invoke(runCtx, sess, call, progress)
			if errors.Is(err, errNotStarted) {
				err = ex.lost(sess, call.Pipeline[0].Name)
			}
		}
		return cr, err
	}
	for i := 0; i < len(step.Calls); {
		n := concurrentReads(step.Calls, i)
		if n > 1 {
			k, err := s.runReads(runCtx, ex, sess, step.Calls[i:i+n], res, progress)
			switch {
			case err == nil:
				i += n
				continue
			case !errors.Is(err, errNotStarted):
				return res, fail(i+k, err)
			}
			// A read the server never started (it had lost the shell): the batch runs
			// again one call at a time, which reopens the session. They are reads:
			// running one twice changes nothing.
		}
		end := i + max(n, 1)
		for ; i < end; i++ {
			call := step.Calls[i]
			if call.When != nil && !call.When.Holds(commands.Tables(Tables(res.Sections))) {
				keep(call, nil)
				continue
			}
			cr, err := one(i)
			var oe *openError
			if errors.As(err, &oe) {
				return res, oe.err
			}
			if tolerable(runCtx, call, err) {
				if cr != nil {
					res.Messages = append(res.Messages, cr.warnings...)
				}
				keep(call, nil)
				res.failed(call.Section, ex.callFailed(call, 0, 1, err))
				continue
			}
			keep(call, cr)
			if err != nil {
				return res, fail(i, err)
			}
		}
	}
	return res, nil
}

// tolerable reports whether err, the failure of call, is the call's own and the call
// is tolerated (commands.Call.Tolerated): what the server said about the cmdlet (it
// refused it, wrote an error record, failed the pipeline). A stop, a timeout, a lost
// session or a transport failure is the step's.
func tolerable(ctx context.Context, call commands.Call, err error) bool {
	var pe *pipelineError
	return err != nil && call.Tolerated && ctx.Err() == nil && errors.As(err, &pe)
}

// failed records the failure of a tolerated call in section.
func (r *Result) failed(section string, err error) {
	if r.Failed == nil {
		r.Failed = map[string]error{}
	}
	r.Failed[section] = err
}

// openError is a session that could not be reopened for a call the server never
// started: the step fails with it as it is.
type openError struct{ err error }

func (e *openError) Error() string { return e.err.Error() }

// concurrentReads is how many calls from i on may run at the same time: consecutive
// reads (every cmdlet Get-* or Test-*). A read whose When looks at a section another
// read of the batch fills runs at once all the same, and what it returned is kept only
// if its When holds once that section is in (a read that should not have run changed
// nothing). A change always runs alone and in order, and so does everything after it.
func concurrentReads(calls []commands.Call, i int) int {
	n := 0
	for j := i; j < len(calls) && readOnlyCall(calls[j]); j++ {
		n++
	}
	return n
}

// readOnlyCall reports whether every cmdlet of the call only reads: Get-* and Test-*.
func readOnlyCall(c commands.Call) bool {
	for _, cmd := range c.Pipeline {
		verb, _, _ := strings.Cut(strings.ToLower(cmd.Name), "-")
		if verb != "get" && verb != "test" {
			return false
		}
	}
	return len(c.Pipeline) > 0
}

// runReads runs a batch of reads (see concurrentReads) at the same time in sess, as
// many as the server's free pipeline slots allow besides the one the step holds, and
// adds their output to res in the calls' order, each call's When decided on the
// sections before it, as if they had run one by one: a call whose When does not hold
// is dropped with whatever it returned, error included. When a kept call failed it
// returns its index in the batch and its error, with res holding the output up to it;
// when one was never started (errNotStarted) res is left as it was, so that the
// caller can run the batch again.
func (s *server) runReads(ctx context.Context, ex *exServer, sess *exSession, calls []commands.Call, res *Result, progress func(string)) (int, error) {
	before := commands.Tables(Tables(res.Sections))
	inBatch := map[string]bool{}
	run := make([]bool, len(calls))
	for k, c := range calls {
		// A When on a section of the batch is decided later; one on the sections
		// before it can be decided now, and a call that would be dropped never runs.
		run[k] = c.When == nil || inBatch[strings.ToLower(c.When.Section)] || c.When.Holds(before)
		if c.Section != "" {
			inBatch[strings.ToLower(c.Section)] = true
		}
	}
	// The step's own slot, plus any free one: never more pipelines than the pool has.
	slots := make(chan struct{}, len(calls))
	slots <- struct{}{}
	extra := 0
	for extra < len(calls)-1 {
		select {
		case ex.slots <- struct{}{}:
			extra++
			slots <- struct{}{}
			continue
		default:
		}
		break
	}
	defer func() {
		for range extra {
			<-ex.slots
		}
	}()
	var mu sync.Mutex
	say := progress
	if progress != nil {
		say = func(line string) {
			mu.Lock()
			defer mu.Unlock()
			progress(line)
		}
	}
	out := make([]*callResult, len(calls))
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for k, c := range calls {
		if !run[k] {
			continue
		}
		<-slots
		wg.Go(func() {
			defer func() { slots <- struct{}{} }()
			out[k], errs[k] = ex.invoke(ctx, sess, c, say)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if errors.Is(err, errNotStarted) {
			return 0, err
		}
	}
	for k, c := range calls {
		if c.When != nil && !c.When.Holds(commands.Tables(Tables(res.Sections))) {
			out[k], errs[k] = nil, nil
		}
		if tolerable(ctx, c, errs[k]) {
			// Its section stays empty; its warnings are still told.
			if out[k] != nil {
				res.Messages = append(res.Messages, out[k].warnings...)
			}
			res.Sections = append(res.Sections, project(c, nil))
			res.failed(c.Section, ex.callFailed(c, 0, 1, errs[k]))
			continue
		}
		if c.Section != "" {
			var objs []any
			if out[k] != nil {
				objs = out[k].objects
			}
			res.Sections = append(res.Sections, project(c, objs))
		}
		if out[k] != nil {
			res.Messages = append(res.Messages, out[k].warnings...)
			res.Truncated = res.Truncated || out[k].truncated
		}
		if errs[k] != nil {
			return k, errs[k]
		}
	}
	return 0, nil
}

// callFailed names the call that failed and what to do about it.
func (ex *exServer) callFailed(call commands.Call, i, n int, err error) error {
	var pe *pipelineError
	if !errors.As(err, &pe) {
		return err
	}
	cmdlet := call.Pipeline[0].Name
	msg := scrub(pe.message, ex.ep.Password)
	where := ""
	if n > 1 {
		where = fmt.Sprintf(" (call %d of %d)", i+1, n)
	}
	switch {
	case strings.HasPrefix(pe.id, "CommandNotFoundException") || strings.Contains(msg, "is not recognized as the name of a cmdlet"):
		return &Error{Kind: RBAC, Server: ex.name, Op: cmdlet, Err: pe,
			Msg: fmt.Sprintf("%s: the Exchange endpoint does not let %s run %s%s: Exchange RBAC shows a session only the cmdlets and parameters of its roles; run `exchops rbac` for the roles the service account needs (the server said: %s)",
				ex.name, ex.ep.User, notRecognized(call, msg), where, msg)}
	case strings.Contains(pe.id, "ScriptsNotAllowed") || strings.Contains(strings.ToLower(msg), "no-language") || strings.Contains(msg, "NoLanguage"):
		return &Error{Kind: NoLanguage, Server: ex.name, Op: cmdlet, Err: pe,
			Msg: fmt.Sprintf("%s: the Exchange endpoint refused %s%s because it runs in NoLanguage mode (only cmdlets with typed parameters): this is a bug in exchops's call, please report it (the server said: %s)",
				ex.name, cmdlet, where, msg)}
	}
	return &Error{Kind: ScriptFailed, Server: ex.name, Op: cmdlet, Err: pe,
		Msg: fmt.Sprintf("%s: %s failed%s: %s", ex.name, cmdlet, where, orDefault(msg, "it gave no error text"))}
}

// notRecognized names the cmdlet the server did not recognise, from its message when it
// quotes one ("The term 'Get-Foo' is not recognized...").
func notRecognized(call commands.Call, msg string) string {
	if i := strings.Index(msg, "'"); i >= 0 {
		if j := strings.Index(msg[i+1:], "'"); j > 0 {
			return msg[i+1 : i+1+j]
		}
	}
	return call.Pipeline[0].Name
}

// Close deletes the open Exchange sessions (bounded by ctx) and refuses new ones, and
// ends the Kerberos logins. WinRS shells are per command and need no closing.
func (w *WinRM) Close(ctx context.Context) error {
	var errs []error
	for _, s := range w.servers {
		if s.ex != nil {
			if err := s.ex.shutdown(ctx); err != nil {
				errs = append(errs, s.ex.classify("close the session", err))
			}
		}
		if s.krb != nil {
			s.krb.destroy()
		}
	}
	return errors.Join(errs...)
}

// DeleteShell deletes a shell a previous process left open on server (see ShellLog):
// an Exchange runspace pool when resourceURI is ExchangeResourceURI, else a WinRS
// shell. A shell the server no longer has counts as deleted.
func (w *WinRM) DeleteShell(ctx context.Context, server, resourceURI, shellID string) error {
	s, ok := w.servers[strings.ToUpper(server)]
	if !ok {
		return &Error{Kind: Invalid, Server: server, Op: "delete shell",
			Msg: fmt.Sprintf("%s: no endpoint is configured for this server", server)}
	}
	if resourceURI == ExchangeResourceURI {
		if s.ex == nil {
			return &Error{Kind: Invalid, Server: server, Op: "delete shell",
				Msg: fmt.Sprintf("%s: the shell %s is an Exchange session, and no Exchange endpoint is configured for the server", server, shellID)}
		}
		if err := s.ex.deleteShell(ctx, shellID); err != nil {
			if ctx.Err() != nil {
				return s.stopped("delete shell", ctx, context.Cause(ctx), false, false)
			}
			return s.ex.classify("delete shell", err)
		}
		return nil
	}
	if s.ep.Address == "" {
		return &Error{Kind: Invalid, Server: server, Op: "delete shell",
			Msg: fmt.Sprintf("%s: the shell %s is a WinRS shell, and no WinRM endpoint is configured for the server", server, shellID)}
	}
	c, err := s.newClient()
	if err != nil {
		return &Error{Kind: Invalid, Server: server, Op: "delete shell", Err: err, Msg: fmt.Sprintf("%s: cannot set up the WinRM client: %v", server, err)}
	}
	defer c.close()
	done := make(chan error, 1)
	go func() { done <- c.deleteShell(shellID) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		c.tr.abandon()
		return s.stopped("delete shell", ctx, context.Cause(ctx), false, false)
	}
	if err != nil && !shellGone(err) {
		return s.classify("delete shell", err)
	}
	if s.opts.Shells != nil {
		s.opts.Shells.Closed(shellID)
	}
	return nil
}

// shellGone reports whether a WinRM error says the shell no longer exists.
func shellGone(err error) bool {
	t := err.Error()
	return strings.Contains(t, faultShellNotFound) || strings.Contains(t, "InvalidSelectors")
}

// idleCloseDefault is below WinRM's shell idle timeout (180 s on 2008 R2), so the runner
// closes its session before the server drops it.
const idleCloseDefault = 120 * time.Second
