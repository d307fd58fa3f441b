package main

import (
	"go/scanner"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/exchops/exchops/bot/discord"
	"github.com/exchops/exchops/bot/slack"
	"github.com/exchops/exchops/config"
)

// TestChatPlatforms: the names main registers are the fronts' own names and the keys
// the configuration maps people's ids and schedules' channels to, so that an id typed
// under slack: in the file is looked up under the name the Slack front reports.
func TestChatPlatforms(t *testing.T) {
	fronts := []string{(*slack.Slack)(nil).Platform(), (*discord.Discord)(nil).Platform()}
	if !slices.Equal(fronts, chatPlatforms) {
		t.Errorf("the fronts are called %q, main registers %q", fronts, chatPlatforms)
	}
	ids := config.Person{Slack: "U1", Discord: "1"}.IDs()
	channels := config.PostTo{Slack: "C1", Discord: "2"}.Channels()
	for _, name := range chatPlatforms {
		if ids[name] == "" || channels[name] == "" {
			t.Errorf("the configuration keys no id or channel under %q: ids %v, channels %v", name, ids, channels)
		}
	}
	if len(ids) != len(chatPlatforms) || len(channels) != len(chatPlatforms) {
		t.Errorf("the configuration keys ids %v and channels %v, main registers %q", ids, channels, chatPlatforms)
	}
}

// TestStoreImportsNoFront: the store sits below the chat fronts (DESIGN.md's rooms).
func TestStoreImportsNoFront(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the go command is needed to list the store's dependencies")
		}
		t.Skip("no go command")
	}
	out, err := exec.Command(goTool, "list", "-deps", "./store").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps ./store: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "github.com/exchops/exchops/bot" || strings.HasPrefix(pkg, "github.com/exchops/exchops/bot/") {
			t.Errorf("the store depends on %s", pkg)
		}
	}
}

// TestCoreNamesNoPlatform: approvals, schedules and store know chat platforms only
// by their registered names; no identifier in them (tests included) names one.
func TestCoreNamesNoPlatform(t *testing.T) {
	for _, dir := range []string{"approvals", "schedules", "store"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no Go files in %s: %v", dir, err)
		}
		for _, f := range files {
			for _, id := range platformIdents(t, f) {
				t.Errorf("%s names a chat platform: %s", f, id)
			}
		}
	}
}

// platformIdents returns the identifiers of a Go file that name Slack or Discord,
// with their positions. Strings and comments are not identifiers.
func platformIdents(t *testing.T, path string) []string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var s scanner.Scanner
	s.Init(fset.AddFile(path, -1, len(src)), src, nil, 0)
	var out []string
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			return out
		}
		if l := strings.ToLower(lit); tok == token.IDENT && (strings.Contains(l, "slack") || strings.Contains(l, "discord")) {
			out = append(out, fset.Position(pos).String()+" "+lit)
		}
	}
}

// TestPlatformIdents: the scan finds what it looks for, and only in identifiers.
func TestPlatformIdents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.go")
	src := "package x\n\n// Slack and Discord in a comment.\nvar postSlack, a = \"slack\", Person{}.Discord\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	got := platformIdents(t, path)
	if len(got) != 2 || !strings.HasSuffix(got[0], " postSlack") || !strings.HasSuffix(got[1], " Discord") {
		t.Errorf("found %q, want postSlack and Discord", got)
	}
}
