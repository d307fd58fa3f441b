// Command exchops is a ChatOps bot for Exchange 2010 high availability: admins type
// slash commands in Slack or Discord, a second admin approves every change, and the
// PowerShell runs over WinRM. main.go is the composition root: it parses the command
// line, builds the pieces and shuts them down in order; it holds no logic of its own.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `exchops: Exchange 2010 high availability from Slack and Discord, with two-person approval.

Usage:
  exchops demo                             the whole flow against a simulated organisation, in a browser console
  exchops serve --config exchops.yaml      run the bot (add --lab to run against the embedded lab)
  exchops lab [flags]                      run the simulated Exchange 2010 organisation alone
  exchops plan [--config F] "<command>"    print the target and exact PowerShell of a command; runs nothing
  exchops rbac [--config F]                print the Exchange 2010 RBAC script for the service account's least privilege
  exchops config check --config F          validate a configuration file
  exchops discord register [--guild ID]    register the /exchange application command (--print: show it)
  exchops slack manifest [--socket-mode]   print the Slack app manifest (--url BASE for HTTP mode)
  exchops version                          print the version

Run "exchops <command> --help" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// exit codes: 0 success, 1 failure at run time, 2 bad usage or invalid input.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "version", "--version":
		fmt.Fprintf(stdout, "exchops %s\n", version)
		return exitOK
	case "lab":
		return runLab(ctx, rest, stdout, stderr)
	case "rbac":
		return runRBAC(rest, stdout, stderr)
	case "plan":
		return runPlan(rest, stdout, stderr)
	case "config":
		if len(rest) == 0 || rest[0] != "check" {
			fmt.Fprint(stderr, "usage: exchops config check --config exchops.yaml\n")
			return exitUsage
		}
		return runConfigCheck(rest[1:], stdout, stderr)
	case "demo":
		return runDemo(ctx, rest, stdout, stderr)
	case "serve":
		return runServe(ctx, rest, stdout, stderr)
	case "discord":
		if len(rest) == 0 || rest[0] != "register" {
			fmt.Fprint(stderr, "usage: exchops discord register [--guild ID] [--config exchops.yaml] [--print]\n")
			return exitUsage
		}
		return runDiscordRegister(ctx, rest[1:], stdout, stderr)
	case "slack":
		if len(rest) == 0 || rest[0] != "manifest" {
			fmt.Fprint(stderr, "usage: exchops slack manifest [--socket-mode] [--url https://exchops.example.com]\n")
			return exitUsage
		}
		return runSlackManifest(rest[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "exchops: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}

// newFlagSet returns a FlagSet that prints its usage to stderr and returns errors.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses and maps -h to exit 0 and bad flags to exit 2.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	return 0, true
}
