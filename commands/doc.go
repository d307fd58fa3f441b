// Package commands is the catalog of everything a person can ask exchops to do: one
// declarative Spec per command (its grammar, argument kinds, help, whether it only
// reads), the parser that turns chat text into a Command, and the planner that turns
// a Command into a Plan: the exact steps and the servers they run on, the read-only
// preflight that runs before an approver is asked, and the rules that turn the
// preflight's output into Findings.
//
// A step is of one of two kinds. Exchange steps are typed calls (Call: pipelines of
// cmdlets with typed parameters) for the server's Exchange endpoint, which runs in
// NoLanguage mode; what would be script logic (filtering, conditions, waiting until a
// copy is Healthy) is decided here in Go (Call.Where, Call.When, Until). Windows steps
// (NLB, DNS) are PowerShell 2.0 scripts run over WinRS, and they never load Exchange:
// in a WinRS shell that is a second hop. Each Spec declares the cmdlets it calls, and
// RBACScript grants the service account exactly the roles those need.
//
// The package does no I/O and reads no clock: chat fronts, approvals and runners call
// it, and it only computes. The flow is
//
//	inv, err := commands.Parse("/exchange dag create E14-DAG witness=EX10-CAHT dir=C:\\FSW")
//	plan, err := inv.Plan(env)          // steps, targets, lock, wait
//	// runner: run each plan.Preflight step (its Calls, or its Script over WinRS) into a Tables
//	findings := plan.Evaluate(tables)   // blockers, warnings, "already done"
//	// approvals: show plan.String() and findings; after approval run plan.Steps, then poll plan.Wait
//
// Errors from Parse and Plan that a person can fix are *UsageError values: they name the
// argument, the value, the rule it broke and the command's usage, so every chat front can
// render them the same way.
//
// Every value that came from chat is validated against its Kind first. In an Exchange
// step it then travels as a typed parameter value and never becomes PowerShell syntax;
// in a WinRS script (docs/POWERSHELL.md) it enters only through Quote, the second wall.
package commands
