package lab

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/lab/ps"
	"github.com/exchops/exchops/lab/psrp"
)

// ExchangeEndpoint is one Exchange server's remote PowerShell endpoint
// (http(s)://<server>/PowerShell/, configuration Microsoft.Exchange) as the
// organisation behind it sees it: it opens a restricted, NoLanguage runspace per
// client session, holding the Exchange cmdlets of the account's management roles and
// the few built-ins Exchange's runspace exposes. It implements psrp.Endpoint; the
// protocol itself (fragments, CLIXML, the WS-Management shell) is package psrp's.
type ExchangeEndpoint struct {
	org    *Org
	server *Server

	mu      sync.Mutex
	startup time.Duration
	hang    bool // fault: every pipeline runs until the client stops it
}

var _ psrp.Endpoint = (*ExchangeEndpoint)(nil)

// NewExchangeEndpoint returns the Exchange endpoint of an Exchange server (by name),
// or an error for a server without Exchange.
func NewExchangeEndpoint(o *Org, server string) (*ExchangeEndpoint, error) {
	o.mu.Lock()
	s := o.exchangeServer(server)
	o.mu.Unlock()
	if s == nil {
		return nil, fmt.Errorf("lab: %q is not an Exchange server: it has no /PowerShell/ endpoint", server)
	}
	return &ExchangeEndpoint{org: o, server: s}, nil
}

// SetStartup sets the real-time cost of opening a session: IIS starting the
// PowerShell host, loading Exchange's cmdlets and reading the account's roles
// (about 2 s on a real 2010 server; tests use 0).
func (e *ExchangeEndpoint) SetStartup(d time.Duration) {
	e.mu.Lock()
	e.startup = d
	e.mu.Unlock()
}

// SetHang makes every pipeline started from now on run until the client stops it or
// closes the session, as a wedged Exchange cmdlet would (Lab.SetFault "hang").
func (e *ExchangeEndpoint) SetHang(v bool) {
	e.mu.Lock()
	e.hang = v
	e.mu.Unlock()
}

func (e *ExchangeEndpoint) hanging() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.hang
}

// restrictedBuiltins are the PowerShell commands Exchange 2010's remote runspace
// exposes besides its own cmdlets: those Import-PSSession needs to build the local
// proxies (Get-Command, Get-FormatData, Select-Object, Measure-Object) and the
// interactive session's Exit-PSSession, Out-Default and Get-Help. The lab implements
// Select-Object, Measure-Object, Get-Command and Exit-PSSession of them; without
// script blocks (NoLanguage), Where-Object and ForEach-Object are of no use and absent.
var restrictedBuiltins = []string{"Select-Object", "Measure-Object"}

// Open implements psrp.Endpoint: it loads Exchange for user, which costs the
// endpoint's start-up time, and refuses an account without management roles.
func (e *ExchangeEndpoint) Open(ctx context.Context, user string) (psrp.Runspace, error) {
	e.mu.Lock()
	startup := e.startup
	e.mu.Unlock()
	if startup > 0 {
		if err := (clock.Real{}).Sleep(ctx, startup); err != nil {
			return nil, err
		}
	}
	roles := e.org.Roles(user)
	if len(roles) == 0 {
		// Exchange's answer when the account holds no management role at all.
		return nil, fmt.Errorf("The user %q isn't assigned to any management roles.", qualifiedUser(user))
	}
	allowed := allowedCmdlets(roles)
	var cmds []*ps.Cmdlet
	for _, c := range e.org.exchangeCmdlets(e.server) {
		if allowed[strings.ToLower(c.Name)] {
			cmds = append(cmds, c)
		}
	}
	cmds = append(cmds, getCommandCmdlet(), exitPSSessionCmdlet())
	cfg := ps.Config{
		Commands: cmds,
		Builtins: restrictedBuiltins,
		Env:      map[string]string{"COMPUTERNAME": e.server.Name},
		Now:      e.org.clock.Now,
		Sleep:    e.org.clock.Sleep,
	}
	return &exchangeRunspace{config: cfg, endpoint: e}, nil
}

// exchangeCmdlets are the Exchange cmdlets as they run on server on (the server a
// session is connected to: "the local server" of cmdlets that default to it).
func (o *Org) exchangeCmdlets(on *Server) []*ps.Cmdlet {
	return append(append(o.dagCmdlets(on), o.casCmdlets(on)...), o.serverHealthCmdlets(on)...)
}

// exchangeRunspace is one client session: a runspace pool whose pipelines may run at
// the same time (up to the pool's MaxRunspaces, which the protocol layer enforces), as
// on a real server, where a seeding Add-MailboxDatabaseCopy does not hold up a copy
// status read in the same session. Each pipeline gets its own interpreter session:
// a NoLanguage runspace keeps no variables between pipelines, so nothing is lost.
type exchangeRunspace struct {
	config   ps.Config
	endpoint *ExchangeEndpoint
}

// Invoke implements psrp.Runspace. Script text is refused before anything runs, as a
// NoLanguage runspace does; the commands then run through the interpreter's binding
// and pipeline.
func (r *exchangeRunspace) Invoke(ctx context.Context, cmds []psrp.Command, out psrp.Output) error {
	typed := make([]ps.Command, 0, len(cmds))
	for _, c := range cmds {
		if c.IsScript {
			return scriptsNotAllowed(c.Name)
		}
		tc := ps.Command{Name: c.Name}
		for _, a := range c.Args {
			tc.Args = append(tc.Args, ps.Arg{Name: a.Name, Value: a.Value})
		}
		typed = append(typed, tc)
	}
	if r.endpoint.hanging() {
		<-ctx.Done()
		return ctx.Err()
	}
	return ps.NewSession(r.config).Invoke(ctx, typed, out)
}

// Close implements psrp.Runspace. The session holds nothing outside memory.
func (r *exchangeRunspace) Close() {}

// scriptsNotAllowed is PowerShell's refusal of script text in a NoLanguage runspace
// (ParserStrings.ScriptsNotAllowed; the same text and id appear in Microsoft's
// about_Session_Configuration_Files example of a NoLanguage session).
func scriptsNotAllowed(text string) *ps.ErrorRecord {
	return &ps.ErrorRecord{
		Message:       "The syntax is not supported by this runspace. This might be because it is in no-language mode.",
		Category:      "ParserError",
		ErrorID:       "ScriptsNotAllowed",
		Target:        text,
		ExceptionType: "System.Management.Automation.ParseException",
	}
}

// getCommandCmdlet is Get-Command as a restricted runspace answers it: the commands
// the session has (a CmdletInfo per command), optionally filtered by name.
func getCommandCmdlet() *ps.Cmdlet {
	return &ps.Cmdlet{
		Name:   "Get-Command",
		Params: []ps.Param{{Name: "Name", Kind: ps.KindStringArray, Position: 0}},
		Invoke: func(c *ps.Call) error {
			want := c.Strings("Name")
			for _, n := range c.Session.Commands() {
				if len(want) > 0 && !matchesAny(n, want) {
					continue
				}
				obj := ps.NewObject("System.Management.Automation.CmdletInfo", "Name", n, "CommandType", ps.Enum{Type: "System.Management.Automation.CommandTypes", Name: "Cmdlet", Value: 8})
				obj.Str = n
				c.Write(obj)
			}
			return nil
		},
	}
}

func matchesAny(name string, patterns []string) bool {
	for _, p := range patterns {
		if strings.EqualFold(p, name) {
			return true
		}
		if pre, ok := strings.CutSuffix(p, "*"); ok && len(name) >= len(pre) && strings.EqualFold(name[:len(pre)], pre) {
			return true
		}
	}
	return false
}

// exitPSSessionCmdlet: in a remote session there is nothing to leave; it does nothing.
func exitPSSessionCmdlet() *ps.Cmdlet {
	return &ps.Cmdlet{Name: "Exit-PSSession", Invoke: func(*ps.Call) error { return nil }}
}
