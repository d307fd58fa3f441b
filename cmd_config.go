package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/config"
)

// runConfigCheck validates a configuration file and reports every problem with its key.
func runConfigCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("config check", "exchops config check --config exchops.yaml", stderr)
	path := fs.String("config", "exchops.yaml", "configuration file to check")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	c, err := config.Load(*path, os.Environ())
	if err == nil {
		// Approval rules that the people configured can never satisfy: the policy
		// decides who may approve, so it checks them.
		if probs := approvals.PolicyFromConfig(c).Check(); len(probs) > 0 {
			err = probs
		}
	}
	var probs config.Problems
	switch {
	case errors.As(err, &probs):
		fmt.Fprintf(stderr, "%s has %d problem(s):\n", *path, len(probs))
		for _, p := range probs {
			fmt.Fprintf(stderr, "  %s\n", p)
		}
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n", *path, err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "%s is valid.\n", *path)
	return exitOK
}
