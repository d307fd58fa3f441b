// Package psrp is the lab's server side of the PowerShell Remoting Protocol (MS-PSRP)
// as a Windows PowerShell 2.0 host speaks it (protocol version 2.1, serialization
// 1.1.0.1): the Exchange endpoint http(s)://<server>/PowerShell/ with configuration
// Microsoft.Exchange. It is the lab's own code, written from the MS-PSRP specification
// and captures of real servers, and shares nothing with the client library exchops'
// runner uses: a protocol bug must not hide on both sides.
//
// This file is the contract between the protocol (fragments, messages, CLIXML, the
// WS-Management shell) and the simulated organisation that runs the commands
// (package lab implements Endpoint).
package psrp

import (
	"context"

	"github.com/exchops/exchops/lab/ps"
)

// Arg is one argument of a Command as the client sent it. Name is "" for a positional
// argument. Value is decoded from CLIXML into the lab's plain values: string, int
// (I32/I64), bool, float64, time.Time, []any (lists and arrays), nil; a switch
// parameter arrives as Name with Value true (as PowerShell sends -Status: <B>true</B>
// or a nil value; both decode to true).
type Arg struct {
	Name  string
	Value any
}

// Command is one command of a pipeline (CREATE_PIPELINE's PowerShell.Cmds).
type Command struct {
	Name string
	// IsScript is true when the client sent script text as the command: a
	// NoLanguage endpoint refuses it.
	IsScript bool
	Args     []Arg
}

// Output receives what a pipeline produces, in order. Objects are the lab's values
// (see package ps): *ps.Object serialises with its TypeName (as a real server's
// type, e.g. Microsoft.Exchange.Management.SystemConfigurationTasks.DatabaseCopyStatusEntry;
// the client sees it as Deserialized.<TypeName>), ps.Enum as an enum, []any as a list.
type Output interface {
	Object(v any)
	// Error is a non-terminating error record (the pipeline goes on).
	Error(rec *ps.ErrorRecord)
	Warning(text string)
	Verbose(text string)
	// Progress is a PROGRESS_RECORD: percent -1 when unknown; completed ends the
	// activity.
	Progress(activityID int, activity, status string, percent int, completed bool)
}

// Runspace runs the pipelines of one runspace pool (one client session).
type Runspace interface {
	// Invoke runs one pipeline. A returned *ps.ErrorRecord is a terminating error:
	// the pipeline state becomes Failed with that error. ctx ends when the client
	// stops the pipeline (SIGNAL) or deletes the shell; Invoke must then return
	// promptly.
	Invoke(ctx context.Context, cmds []Command, out Output) error
	// Close releases the session (the client deleted the shell or it expired).
	Close()
}

// Endpoint is a server's Exchange endpoint: it opens sessions for authenticated users.
type Endpoint interface {
	// Open is called when a client creates a runspace pool. user is the authenticated
	// account ("MSGLAB\svc-exchops"). It may take time (loading Exchange's cmdlets
	// and the user's RBAC roles: the lab's --startup). A returned error refuses the
	// session; its text goes to the client in the RUNSPACEPOOL_STATE Broken message.
	Open(ctx context.Context, user string) (Runspace, error)
}
