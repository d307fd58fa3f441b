// Package commands is the catalog of everything a person can ask exchops to do: one
// declarative Spec per command (its grammar, argument kinds, help, whether it only
// reads), the parser that turns chat text into an Invocation, and the planner that turns
// an Invocation into a Plan: the exact PowerShell 2.0 scripts, the servers they run on,
// the read-only preflight that runs before an approver is asked, and the rules that turn
// the preflight's output into Findings.
//
// The package does no I/O and reads no clock: chat fronts, approvals and runners call
// it, and it only computes. The flow is
//
//	inv, err := commands.Parse("/exchange dag create E14-DAG witness=EX10-CAHT dir=C:\\FSW")
//	plan, err := inv.Plan(env)          // scripts, targets, lock, wait
//	// runner: run each plan.Preflight step, parse its sections into a Tables
//	findings := plan.Evaluate(tables)   // blockers, warnings, "already done"
//	// approvals: show plan.String() and findings; after approval run plan.Steps, then poll plan.Wait
//
// Errors from Parse and Plan that a person can fix are *UsageError values: they name the
// argument, the value, the rule it broke and the command's usage, so every chat front can
// render them the same way.
//
// Scripts follow docs/POWERSHELL.md: every value that came from chat enters a script only
// through Quote, after it was validated against its Kind. Quoting is the second wall;
// validation is the first.
package commands
