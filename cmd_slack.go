package main

import (
	"fmt"
	"io"

	"github.com/exchops/exchops/bot/slack"
)

// runSlackManifest prints the Slack app manifest: `exchops slack manifest
// [--socket-mode] [--url https://exchops.example.com]`.
func runSlackManifest(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("slack manifest", "exchops slack manifest [--socket-mode] [--url https://exchops.example.com]", stderr)
	socket := fs.Bool("socket-mode", false, "Socket Mode: exchops connects out to Slack, no public endpoint (set slack.app_token_env)")
	url := fs.String("url", "", "exchops' public base URL for the HTTP request URLs (HTTP mode; default: a placeholder to replace)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "exchops slack manifest: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return exitUsage
	}
	if *socket && *url != "" {
		fmt.Fprintln(stderr, "exchops slack manifest: --url is for HTTP mode; Socket Mode needs no request URL")
		return exitUsage
	}
	fmt.Fprint(stdout, slack.Manifest(*socket, *url))
	return exitOK
}
