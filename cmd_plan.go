package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/config"
	"github.com/exchops/exchops/lab"
)

// labEnv is the walkthrough's organisation (what the lab simulates): the planning
// environment when no configuration is given.
var labEnv = lab.Env()

// envFromConfig turns the exchange and health sections of the configuration into what
// planning needs.
func envFromConfig(c config.Config) commands.Env {
	x := c.Exchange
	env := commands.Env{ManagementServer: x.ManagementServer, DNSServer: x.DNSServer,
		CopyQueue: c.Health.CopyQueue, ReplayQueue: c.Health.ReplayQueue, SeedTimeout: time.Duration(x.SeedTimeout),
		MAPIConnectivity: c.Health.MAPIConnectivity}
	for _, s := range x.Servers {
		var roles []string
		for _, r := range s.Roles {
			// The configuration spells roles as words joined by "_"; commands uses Exchange's
			// role names in lower case.
			roles = append(roles, strings.ReplaceAll(r, "_", ""))
		}
		env.Servers = append(env.Servers, commands.Server{Name: strings.ToUpper(s.Name), Roles: roles})
	}
	return env
}

// runPlan prints the target and exact PowerShell of a command and runs nothing.
func runPlan(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("plan", `exchops plan [--config exchops.yaml] "<command>"`, stderr)
	cfgPath := fs.String("config", "", "configuration file (default: the walkthrough's organisation, as in the lab)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, "exchops plan: give the command in quotes, e.g. exchops plan 'dag create E14-DAG witness=EX10-CAHT dir=C:\\FSW'\n")
		return exitUsage
	}
	env := labEnv
	if *cfgPath != "" {
		c, err := config.Load(*cfgPath, os.Environ())
		if err != nil {
			fmt.Fprintf(stderr, "exchops plan: %s: %v\n", *cfgPath, err)
			return exitUsage
		}
		env = envFromConfig(c)
	}
	inv, err := commands.Parse(strings.Join(fs.Args(), " "))
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return exitUsage
	}
	if inv.Spec.Name == "help" {
		text, err := commands.Help(inv.Value("command"))
		if err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			return exitUsage
		}
		fmt.Fprint(stdout, text)
		return exitOK
	}
	p, err := inv.Plan(env)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return exitUsage
	}
	fmt.Fprint(stdout, p.String())
	return exitOK
}
