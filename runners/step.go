package runners

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
// did) with an *Error of kind ScriptFailed, RBAC or NoLanguage; warnings become
// Result.Messages. The step's timeout and cancellation work as Run's.
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
	for _, c := range step.Calls {
		if _, err := createPipeline(c); err != nil {
			return nil, ex.invalid("this step", err)
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
	runCtx, cancel := context.WithTimeoutCause(ctx, limit, errTimedOut)
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
	for i, call := range step.Calls {
		if call.When != nil && !call.When.Holds(commands.Tables(Tables(res.Sections))) {
			if call.Section != "" {
				res.Sections = append(res.Sections, project(call, nil))
			}
			continue
		}
		cr, err := ex.invoke(runCtx, sess, call, progress)
		if errors.Is(err, errNotStarted) {
			// Once: the call never ran, so a new session may run it.
			ex.release(sess)
			if sess, err = ex.acquire(runCtx); err != nil {
				sess = nil
				if runCtx.Err() != nil {
					return res, s.stopped("open a session", runCtx, context.Cause(runCtx), false, false)
				}
				return res, err
			}
			cr, err = ex.invoke(runCtx, sess, call, progress)
			if errors.Is(err, errNotStarted) {
				err = ex.lost(sess, call.Pipeline[0].Name)
			}
		}
		if cr != nil {
			res.Messages = append(res.Messages, cr.warnings...)
			res.Truncated = res.Truncated || cr.truncated
			if call.Section != "" {
				res.Sections = append(res.Sections, project(call, cr.objects))
			}
		}
		if err != nil {
			var stop *stopResult
			if errors.As(err, &stop) || (runCtx.Err() != nil && KindOf(err) == "") {
				confirmed := stop != nil && stop.confirmed
				e := s.stopped("run", runCtx, context.Cause(runCtx), true, confirmed)
				// Not WinRS's leftover powershell.exe: the runner deletes an Exchange
				// session whose pipeline did not confirm its stop.
				e.Msg = strings.Replace(e.Msg, "check for a leftover powershell.exe",
					"exchops closed the Exchange session, which ends it; check what it changed on the server", 1)
				e.Msg = strings.Replace(e.Msg, "raise exchange.winrm.timeout", "raise the timeout", 1)
				return res, e
			}
			return res, ex.callFailed(call, i, len(step.Calls), err)
		}
	}
	return res, nil
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

// Close deletes the open Exchange sessions (bounded by ctx) and refuses new ones. WinRS
// shells are per command and need no closing.
func (w *WinRM) Close(ctx context.Context) error {
	var errs []error
	for _, s := range w.servers {
		if s.ex != nil {
			if err := s.ex.shutdown(ctx); err != nil {
				errs = append(errs, s.ex.classify("close the session", err))
			}
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
