// Package wsman is the lab's WS-Management server: the part of a Windows Remote
// Management (WinRM 2.0) listener that remote shells use (WinRS). It speaks SOAP over
// HTTP(S) to real WinRM clients, keeps shells and commands, streams their output, and
// hands each command line to a Host that plays the Windows server.
//
// When Options.Exchange is set, the same listener also serves Exchange's PowerShell
// endpoint at /PowerShell/ (as IIS does on an Exchange 2010 server): shells there are
// PowerShell Remoting runspace pools (package lab/psrp) whose pipelines run on the
// Endpoint. Authentication follows each endpoint: /wsman takes Basic for local accounts
// only, NTLM, and Kerberos through Options.Kerberos; /PowerShell/ takes Basic and
// Kerberos, never NTLM.
package wsman

import (
	"context"
	"io"
)

// Host runs the commands that clients start in their shells: the simulated
// Windows server behind the listener.
type Host interface {
	// Exec runs one command, as WinRS would start it: command is the rsp:Command text
	// (with WINRS_SKIP_CMD_SHELL=FALSE, a cmd.exe command line such as
	// "powershell.exe -NoProfile -NonInteractive -EncodedCommand JAB..."), args the
	// rsp:Arguments. Exec reads stdin as the client sends it, writes stdout and stderr as
	// output becomes available, and returns the process exit code. ctx is cancelled when
	// the client signals terminate or deletes the shell; Exec must then return promptly.
	Exec(ctx context.Context, user, command string, args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

// HostFunc adapts a function to Host.
type HostFunc func(ctx context.Context, user, command string, args []string, stdin io.Reader, stdout, stderr io.Writer) int

func (f HostFunc) Exec(ctx context.Context, user, command string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return f(ctx, user, command, args, stdin, stdout, stderr)
}
