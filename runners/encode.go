package runners

import (
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"unicode/utf16"
)

// MaxCommandLine is the longest command line cmd.exe accepts (8191 characters). WinRS
// starts commands through cmd.exe, so a longer -EncodedCommand line would be cut or refused
// by Windows.
const MaxCommandLine = 8191

const (
	powershellPrefix = "powershell.exe -NoProfile -NonInteractive "
	encodedPrefix    = powershellPrefix + "-EncodedCommand "
	// stdinCommandLine reads the script from stdin: PowerShell 2.0 supports "-Command -".
	stdinCommandLine = powershellPrefix + "-Command -"
)

// EncodeCommand returns script as PowerShell's -EncodedCommand expects it: the base64 of
// its UTF-16LE form. Invalid UTF-8 in script becomes U+FFFD.
func EncodeCommand(script string) string {
	units := utf16.Encode([]rune(script))
	b := make([]byte, 2*len(units))
	for i, u := range units {
		b[2*i] = byte(u)
		b[2*i+1] = byte(u >> 8)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// DecodeCommand is the inverse of EncodeCommand, for fakes and tests that play the
// server side.
func DecodeCommand(encoded string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return "", err
	}
	if len(b)%2 != 0 {
		return "", errors.New("runners: encoded command has an odd number of bytes, not UTF-16LE")
	}
	units := make([]uint16, len(b)/2)
	for i := range units {
		units[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	return string(utf16.Decode(units)), nil
}

// CommandLine returns the command line that runs script on a Windows server:
// powershell.exe -NoProfile -NonInteractive -EncodedCommand <EncodeCommand(script)>.
// The library's Powershell() helper is not used: it picks pwsh when the client runs on
// Linux, and Exchange 2010 servers only have powershell.exe.
func CommandLine(script string) string {
	return encodedPrefix + EncodeCommand(script)
}

// invocation is how one script is started: a command line and, for scripts too long
// for a command line, what to write to its stdin.
type invocation struct {
	commandLine string
	stdin       string // empty: nothing is sent
}

// ErrScriptTooLong is returned (wrapped) for a script that fits neither on a command line
// nor, safely, on stdin.
var ErrScriptTooLong = errors.New("script too long for a command line and not safe to send on stdin")

// hereString matches the opening of a here-string (@' or @" at the end of a line), whose
// blank lines are part of a value.
var hereString = regexp.MustCompile(`@['"][ \t]*\r?$`)

// planInvocation chooses how to start script.
//
// A script whose -EncodedCommand line fits in MaxCommandLine (about 3,000 characters of
// script) is sent that way. A longer one goes to stdin of "powershell.exe -NoProfile
// -NonInteractive -Command -", which PowerShell 2.0 reads like typed input: each
// statement runs as soon as it is complete and a blank line ends a multi-line statement.
// So the script is wrapped in "& { ... }" (one statement, run as a whole, with its own
// $ErrorActionPreference and exit), its blank lines are dropped (they would end the
// statement early) and two line breaks end it. Dropping blank lines changes the value of a
// here-string, so a long script with a here-string is refused instead.
func planInvocation(script string) (invocation, error) {
	if line := CommandLine(script); len(line) <= MaxCommandLine {
		return invocation{commandLine: line}, nil
	}
	payload, err := StdinScript(script)
	if err != nil {
		return invocation{}, err
	}
	return invocation{commandLine: stdinCommandLine, stdin: payload}, nil
}

// StdinScript returns what the runner writes to stdin of "powershell.exe -Command -" for a
// script too long for a command line (see CommandLine and MaxCommandLine), or an error
// wrapping ErrScriptTooLong when the script holds a here-string.
func StdinScript(script string) (string, error) {
	lines := strings.Split(script, "\n")
	var b strings.Builder
	b.Grow(len(script) + 16)
	b.WriteString("& {\r\n")
	for _, line := range lines {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		if hereString.MatchString(line) {
			return "", errors.Join(ErrScriptTooLong, errors.New("it holds a here-string (@' or @\"), whose blank lines stdin would lose"))
		}
		b.WriteString(line)
		b.WriteString("\r\n")
	}
	b.WriteString("}\r\n\r\n")
	return b.String(), nil
}
