package runners

import (
	"errors"
	"strings"
	"testing"
)

func TestEncodeCommand(t *testing.T) {
	tests := []struct{ script, want string }{
		{"", ""},
		{"dir", "ZABpAHIA"},
		{"Get-Date", "RwBlAHQALQBEAGEAdABlAA=="},
		{"'é'", "JwDpACcA"},
		{"\U0001F600", "PdgA3g=="}, // a surrogate pair
	}
	for _, tt := range tests {
		if got := EncodeCommand(tt.script); got != tt.want {
			t.Errorf("EncodeCommand(%q) = %q, want %q", tt.script, got, tt.want)
		}
		back, err := DecodeCommand(tt.want)
		if err != nil || back != tt.script {
			t.Errorf("DecodeCommand(%q) = %q, %v; want %q", tt.want, back, err, tt.script)
		}
	}
	for _, bad := range []string{"not base64!", "QQ=="} {
		if _, err := DecodeCommand(bad); err == nil {
			t.Errorf("DecodeCommand(%q) succeeded", bad)
		}
	}
}

func TestCommandLine(t *testing.T) {
	got := CommandLine("dir")
	if want := "powershell.exe -NoProfile -NonInteractive -EncodedCommand ZABpAHIA"; got != want {
		t.Fatalf("CommandLine = %q, want %q", got, want)
	}
}

func TestPlanInvocation(t *testing.T) {
	short := "'exchops:section x'\r\nGet-Date\r\n"
	inv, err := planInvocation(short)
	if err != nil || inv.commandLine != CommandLine(short) || inv.stdin != "" {
		t.Fatalf("short script: %+v, %v", inv, err)
	}

	// The largest script that still fits: 3 UTF-16 code units make 8 base64 characters.
	room := (MaxCommandLine - len(encodedPrefix)) / 8 * 3
	fits := strings.Repeat("a", room)
	if inv, err := planInvocation(fits); err != nil || inv.stdin != "" || len(inv.commandLine) > MaxCommandLine {
		t.Fatalf("script of %d characters: stdin %t, line %d, %v", room, inv.stdin != "", len(inv.commandLine), err)
	}
	long := "$ErrorActionPreference = 'Stop'\r\n\r\ntry {\r\n" + strings.Repeat("  'padding'\r\n", 400) + "\r\n} catch {\r\n  exit 1\r\n}"
	inv, err = planInvocation(long)
	if err != nil {
		t.Fatal(err)
	}
	if inv.commandLine != "powershell.exe -NoProfile -NonInteractive -Command -" {
		t.Fatalf("long script command line = %q", inv.commandLine)
	}
	if !strings.HasPrefix(inv.stdin, "& {\r\n$ErrorActionPreference = 'Stop'\r\ntry {\r\n") || !strings.HasSuffix(inv.stdin, "} catch {\r\n  exit 1\r\n}\r\n}\r\n\r\n") {
		t.Fatalf("stdin payload framing wrong: %q ... %q", inv.stdin[:40], inv.stdin[len(inv.stdin)-40:])
	}
	if strings.Contains(strings.TrimSuffix(inv.stdin, "\r\n\r\n"), "\r\n\r\n") {
		t.Fatal("stdin payload has a blank line before its end: PowerShell would end the statement there")
	}

	_, err = planInvocation("$x = @'\r\n\r\nblank\r\n'@\r\n" + strings.Repeat("'padding'\r\n", 400))
	if !errors.Is(err, ErrScriptTooLong) {
		t.Fatalf("long script with a here-string: err = %v, want ErrScriptTooLong", err)
	}
}
