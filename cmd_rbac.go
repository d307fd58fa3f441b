package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/config"
	"github.com/exchops/exchops/lab"
)

// runRBAC prints the Exchange 2010 script that gives the service account exactly the
// management roles the catalog's cmdlets need.
func runRBAC(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("rbac", `exchops rbac [--config exchops.yaml] [--account 'MSGLAB\svc-exchops']`, stderr)
	cfgPath := fs.String("config", "", "configuration file: the account is its exchange.winrm.user")
	account := fs.String("account", "", `the service account (default: the configuration's, or the lab's `+lab.DefaultUser+`)`)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "exchops rbac: unexpected argument %q: the account goes in --account\n", fs.Arg(0))
		return exitUsage
	}
	who := *account
	if who == "" && *cfgPath != "" {
		c, err := config.Load(*cfgPath, os.Environ())
		if err != nil {
			fmt.Fprintf(stderr, "exchops rbac: %s: %v\n", *cfgPath, err)
			return exitUsage
		}
		who = c.Exchange.WinRM.User
	}
	if who == "" {
		who = lab.DefaultUser
	}
	if strings.ContainsAny(who, "'\"\r\n`$;") || strings.TrimSpace(who) != who {
		fmt.Fprintf(stderr, "exchops rbac: %q is not an account name: give DOMAIN\\user or user@domain\n", who)
		return exitUsage
	}
	fmt.Fprint(stdout, commands.RBACScript(who))
	return exitOK
}
