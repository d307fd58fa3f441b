package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/config"
	"github.com/exchops/exchops/lab"
)

// demoConfig is the demo's configuration: the walkthrough's organisation, four people
// and one approval needed.
func demoConfig(listen, database string) config.Config {
	c := config.Default()
	c.Listen, c.Database, c.Console = listen, database, true
	c.People = []config.Person{
		{Name: "alice", Roles: []string{"admin"}},
		{Name: "bob", Roles: []string{"admin", "approver"}},
		{Name: "carol", Roles: []string{"approver"}},
		{Name: "dave", Roles: []string{"viewer"}},
	}
	c.Exchange.ManagementServer, c.Exchange.DNSServer = labEnv.ManagementServer, labEnv.DNSServer
	for _, s := range labEnv.Servers {
		roles := []string{}
		for _, r := range s.Roles {
			switch r {
			case "clientaccess":
				roles = append(roles, "client_access")
			case "hubtransport":
				roles = append(roles, "hub_transport")
			default:
				roles = append(roles, r)
			}
		}
		c.Exchange.Servers = append(c.Exchange.Servers, config.Server{Name: s.Name, Address: strings.ToLower(s.Name) + ".msglab.local", Roles: roles})
	}
	return c
}

// runDemo starts the lab, a database in a temporary folder and the console.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", "exchops demo [--listen 127.0.0.1:8080] [--startup 1s] [--timing fast|real]", stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "where the console listens: a loopback address")
	startup := fs.Duration("startup", time.Second, "the lab's cost of starting PowerShell and loading Exchange, per command")
	latency := fs.Duration("latency", 2*time.Millisecond, "the lab's network delay per WinRM request")
	timing := fs.String("timing", "fast", "how long seeding, convergence and switchovers take in the lab: fast (seconds) or real (minutes)")
	data := fs.String("data", "", "keep the database in this folder (default: a temporary folder, removed at exit)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "exchops demo: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return exitUsage
	}
	if !config.IsLoopbackListen(*listen) {
		fmt.Fprintf(stderr, "exchops demo: --listen %s is not a loopback address: the demo's console lets whoever opens it act as anyone, "+
			"so it listens on this machine only (127.0.0.1:PORT, localhost:PORT or [::1]:PORT)\n", *listen)
		return exitUsage
	}
	lo := lab.Options{Startup: *startup, Latency: *latency}
	switch *timing {
	case "fast":
		lo.Timing = &fastTiming
	case "real":
	default:
		fmt.Fprintf(stderr, "exchops demo: --timing %q: use fast or real\n", *timing)
		return exitUsage
	}
	dir := *data
	if dir == "" {
		tmp, err := os.MkdirTemp("", "exchops-demo-")
		if err != nil {
			fmt.Fprintf(stderr, "exchops demo: cannot make a temporary folder: %v\n", err)
			return exitFail
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := startApp(ctx, appOptions{Config: demoConfig(*listen, filepath.Join(dir, "exchops.db")),
		Lab: true, LabOptions: lo, Console: true, Logger: logger})
	if err != nil {
		fmt.Fprintf(stderr, "exchops demo: %v\n", err)
		return exitFail
	}
	defer a.Close()
	fmt.Fprintf(stdout, `exchops demo: open %s

People (pick one at the top of the page):
  alice  admin            asks for changes
  bob    admin, approver  asks for changes and approves other people's
  carol  approver         approves
  dave   viewer           read-only commands

The lab simulates the walkthrough's organisation (EX10-MB01, EX10-MB02, EX10-CAHT, EX10-CAHT02, DC01)
before its first step. Try, as alice:  dag create E14-DAG witness=EX10-CAHT dir=C:\FSW
then switch to bob and approve it. Type help for every command.
Database: %s
Press Ctrl+C to stop.
`, a.URL, filepath.Join(dir, "exchops.db"))
	select {
	case <-ctx.Done():
	case err := <-a.served:
		fmt.Fprintf(stderr, "exchops demo: the web server stopped: %v\n", err)
		return exitFail
	}
	return exitOK
}

// runServe runs the bot from a configuration file.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("serve", "exchops serve --config exchops.yaml [--lab]", stderr)
	cfgPath := fs.String("config", "", "configuration file (required; see exchops.example.yaml)")
	useLab := fs.Bool("lab", false, "run against the embedded lab instead of the configured servers")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *cfgPath == "" || fs.NArg() > 0 {
		fmt.Fprint(stderr, "exchops serve: give the configuration with --config exchops.yaml (see exchops.example.yaml)\n")
		return exitUsage
	}
	cfg, err := config.Load(*cfgPath, os.Environ())
	if err == nil {
		// Approval rules nobody configured can satisfy, as config check refuses them.
		if probs := approvals.PolicyFromConfig(cfg).Check(); len(probs) > 0 {
			err = probs
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "exchops serve: %s:\n%v\n", *cfgPath, err)
		return exitUsage
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	a, err := startApp(ctx, appOptions{Config: cfg, Lab: *useLab, LabOptions: lab.Options{Timing: &fastTiming}, Logger: logger})
	if err != nil {
		logger.Error("cannot start", "err", err.Error())
		return exitFail
	}
	defer a.Close()
	logger.Info("exchops is serving", "url", a.URL, "lab", *useLab, "console", cfg.Console, "version", version)
	select {
	case <-ctx.Done():
		logger.Info("stopping")
	case err := <-a.served:
		logger.Error("the web server stopped", "err", err.Error())
		return exitFail
	}
	return exitOK
}
