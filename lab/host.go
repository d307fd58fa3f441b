package lab

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf16"

	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/lab/ps"
)

// Host is one simulated Windows server as WinRS sees it: it starts the programs a
// client asks for (powershell.exe, dnscmd.exe, cmd.exe's built-ins) and gives each
// PowerShell process a session with what that server really has: the ServerManager
// module everywhere, the NLB module once the NLB feature is installed, dnscmd on the
// DNS server, and on Exchange servers the Exchange Management Shell's loader and
// snap-in, which fail there as on a real server: reaching Exchange from inside a WinRS
// shell is a second hop (see connectExchangeServer). Exchange cmdlets run on the
// Exchange endpoint (ExchangeEndpoint).
//
// It implements wsman.Host.
type Host struct {
	org    *Org
	server *Server

	// credssp: WinRS logons carry a delegated credential (lab.Options.CredSSP), so
	// Connect-ExchangeServer can open its session to exchange, this server's endpoint.
	credssp  bool
	exchange *ExchangeEndpoint

	mu   sync.Mutex
	hang bool // fault: every command runs until it is terminated
}

func newHost(o *Org, s *Server) *Host { return &Host{org: o, server: s} }

// SetHang makes every command started from now on run until the client terminates it,
// as a wedged Exchange cmdlet or a stuck WinRM plug-in would.
func (h *Host) SetHang(v bool) {
	h.mu.Lock()
	h.hang = v
	h.mu.Unlock()
}

func (h *Host) hanging() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hang
}

// Exec implements wsman.Host.
func (h *Host) Exec(ctx context.Context, user, command string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if h.hanging() {
		<-ctx.Done()
		return 1
	}
	argv := splitCommandLine(command)
	for _, a := range args {
		argv = append(argv, splitCommandLine(a)...)
	}
	return h.run(ctx, user, argv, stdin, stdout, stderr)
}

func (h *Host) run(ctx context.Context, user string, argv []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(argv) == 0 {
		return 0
	}
	switch program(argv[0]) {
	case "powershell":
		return h.powershell(ctx, user, argv[1:], stdin, stdout, stderr)
	case "cmd":
		// cmd /c <command line>
		if len(argv) >= 2 && (strings.EqualFold(argv[1], "/c") || strings.EqualFold(argv[1], "/k")) {
			return h.run(ctx, user, argv[2:], stdin, stdout, stderr)
		}
		return 0
	case "dnscmd":
		if !h.server.IsDC {
			return notRecognizedByCmd(stderr, argv[0])
		}
		return h.org.dnscmd(h.server, argv[1:], stdout, stderr)
	case "hostname":
		fmt.Fprintf(stdout, "%s\r\n", h.server.Name)
		return 0
	case "whoami":
		fmt.Fprintf(stdout, "%s\r\n", strings.ToLower(qualifiedUser(user)))
		return 0
	case "echo":
		fmt.Fprintf(stdout, "%s\r\n", strings.Join(argv[1:], " "))
		return 0
	}
	return notRecognizedByCmd(stderr, argv[0])
}

// notRecognizedByCmd is cmd.exe's answer to a program that does not exist; 9009 is
// the exit code it returns for it.
func notRecognizedByCmd(stderr io.Writer, name string) int {
	fmt.Fprintf(stderr, "'%s' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", name)
	return 9009
}

// program reduces argv[0] to the program's base name, lower case, without .exe.
func program(arg0 string) string {
	p := strings.ToLower(arg0)
	if i := strings.LastIndexAny(p, `\/`); i >= 0 {
		p = p[i+1:]
	}
	return strings.TrimSuffix(p, ".exe")
}

// powershell plays powershell.exe: it reads its switches the way PowerShell 2.0 does
// (any unambiguous prefix, case-insensitive) and runs -EncodedCommand, -Command (or
// -Command - from stdin).
func (h *Host) powershell(ctx context.Context, user string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var script string
	haveScript := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "/") {
			// PowerShell takes the rest of the line as the command.
			script, haveScript = strings.Join(args[i:], " "), true
			break
		}
		name := strings.ToLower(strings.TrimLeft(a, "-/"))
		switch {
		case name == "":
			script, haveScript = strings.Join(args[i:], " "), true
		case prefixOf(name, "noprofile", 3), prefixOf(name, "noninteractive", 4), prefixOf(name, "nologo", 3),
			name == "sta", name == "mta":
			continue
		case prefixOf(name, "executionpolicy", 2), prefixOf(name, "inputformat", 2), prefixOf(name, "outputformat", 1),
			prefixOf(name, "windowstyle", 1), prefixOf(name, "version", 1), prefixOf(name, "psconsolefile", 3):
			if i+1 >= len(args) {
				fmt.Fprintf(stderr, "Missing argument for parameter %s.\r\n", a)
				return 1
			}
			i++
		case prefixOf(name, "encodedcommand", 1) || name == "ec":
			if i+1 >= len(args) {
				fmt.Fprintf(stderr, "Missing argument for parameter %s.\r\n", a)
				return 1
			}
			s, err := decodeEncodedCommand(args[i+1])
			if err != nil {
				fmt.Fprint(stderr, "Cannot process the command because the value specified with -EncodedCommand is not properly encoded. The value must be Base64 encoded.\r\n")
				return 1
			}
			script, haveScript = s, true
			i = len(args)
		case prefixOf(name, "command", 1):
			rest := args[i+1:]
			if len(rest) == 1 && rest[0] == "-" {
				b, err := io.ReadAll(io.LimitReader(stdin, 10<<20))
				if err != nil {
					return 1
				}
				script = strings.ReplaceAll(string(b), "\r\n", "\n")
			} else {
				script = strings.Join(rest, " ")
			}
			haveScript = true
			i = len(args)
		default:
			fmt.Fprintf(stderr, "The term '%s' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.\r\n", a)
			return 1
		}
	}
	if !haveScript {
		// An interactive shell with no input: nothing to do.
		return 0
	}
	sess := h.newSession(user, stdout, stderr)
	return sess.Run(ctx, script)
}

// prefixOf reports whether s abbreviates full, using at least min characters.
func prefixOf(s, full string, min int) bool {
	return len(s) >= min && strings.HasPrefix(full, s)
}

// decodeEncodedCommand reads -EncodedCommand (base64 of UTF-16LE) as powershell.exe
// does. It is deliberately separate from runners.EncodeCommand's inverse: the lab plays
// the server, and an independent decoder is what catches an encoding bug in the client.
func decodeEncodedCommand(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", err
	}
	if len(b)%2 != 0 {
		return "", fmt.Errorf("odd length")
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	return string(utf16.Decode(u)), nil
}

// The Exchange Management Shell's loader and snap-in, as installed on every Exchange server.
const (
	remoteExchangePS1 = InstallDir + `bin\RemoteExchange.ps1`
	exchangeSnapIn    = "Microsoft.Exchange.Management.PowerShell.E2010"
)

func (h *Host) newSession(user string, stdout, stderr io.Writer) *ps.Session {
	srv := h.server
	env := map[string]string{
		"COMPUTERNAME":  srv.Name,
		"USERDOMAIN":    DomainNB,
		"USERDNSDOMAIN": strings.ToUpper(Domain),
		"USERNAME":      bareUser(user),
		"SystemRoot":    `C:\Windows`,
		"windir":        `C:\Windows`,
		"PSModulePath":  `C:\Windows\system32\WindowsPowerShell\v1.0\Modules\`,
	}
	if srv.Exchange {
		env["ExchangeInstallPath"] = InstallDir
	}
	cmds := []*ps.Cmdlet{h.importModule(), h.addPSSnapin(stdout)}
	if srv.IsDC {
		// PowerShell finds dnscmd.exe as "dnscmd" too, through PATHEXT.
		exe := h.org.dnscmdCmdlet(srv)
		bare := *exe
		bare.Name = "dnscmd"
		cmds = append(cmds, exe, &bare)
	}
	cmds = append(cmds, nativeHostname(srv))
	return ps.NewSession(ps.Config{
		Stdout:   stdout,
		Stderr:   stderr,
		Env:      env,
		Commands: cmds,
		DotSource: func(c *ps.Call, path string) error {
			return h.dotSource(c, path, stdout)
		},
		Now:   h.org.clock.Now,
		Sleep: h.org.clock.Sleep,
	})
}

// dotSource runs a .ps1 file. The only script file the lab's servers have is the
// Exchange Management Shell's RemoteExchange.ps1, which defines Connect-ExchangeServer.
func (h *Host) dotSource(c *ps.Call, path string, stdout io.Writer) error {
	if h.server.Exchange && strings.EqualFold(cleanPath(path), remoteExchangePS1) {
		fmt.Fprint(stdout, exchangeBanner)
		c.Session.Define(h.connectExchangeServer(stdout))
		return nil
	}
	return &ps.ErrorRecord{
		Message:       fmt.Sprintf("The term '%s' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.", path),
		Category:      "ObjectNotFound",
		ErrorID:       "CommandNotFoundException",
		Target:        path,
		ExceptionType: "System.Management.Automation.CommandNotFoundException",
	}
}

// cleanPath folds doubled backslashes that Join-Path-like concatenation may produce.
func cleanPath(p string) string {
	for strings.Contains(p, `\\`) {
		p = strings.ReplaceAll(p, `\\`, `\`)
	}
	return p
}

const exchangeBanner = "\r\n" +
	"         Welcome to the Exchange Management Shell!\r\n" +
	"\r\n" +
	"Full list of cmdlets: Get-Command\r\n" +
	"Only Exchange cmdlets: Get-ExCommand\r\n" +
	"Cmdlets that match a specific string: Help *<string>*\r\n" +
	"Get general help: Help\r\n" +
	"Get help for a cmdlet: Help <cmdlet name> or <cmdlet name> -?\r\n" +
	"Show quick reference guide: QuickRef\r\n" +
	"Exchange team blog: Get-ExBlog\r\n" +
	"Show full output for a command: <command> | Format-List\r\n" +
	"\r\n"

// connectExchangeServer is RemoteExchange.ps1's function. -auto opens a remote
// PowerShell session to the local server's /PowerShell/ virtual directory with
// Kerberos, as the logged-on user. Over WinRS that is a second hop: a shell opened
// with NTLM or Kerberos without delegation holds no credential to forward, so the
// session cannot be opened and no Exchange cmdlet is imported.
func (h *Host) connectExchangeServer(stdout io.Writer) *ps.Cmdlet {
	return &ps.Cmdlet{
		Name: "Connect-ExchangeServer",
		Params: []ps.Param{
			{Name: "ServerFqdn", Kind: ps.KindString, Position: 0},
			{Name: "Auto", Kind: ps.KindSwitch, Position: -1},
			{Name: "AllowClobber", Kind: ps.KindSwitch, Position: -1},
			{Name: "UserName", Kind: ps.KindString, Position: -1},
		},
		Invoke: func(c *ps.Call) error {
			target := h.server
			if fqdn := c.String("ServerFqdn"); fqdn != "" {
				h.org.mu.Lock()
				target = h.org.server(fqdn)
				h.org.mu.Unlock()
				if target == nil || !target.Exchange {
					return ps.Errorf("ResourceUnavailable", "PSSessionOpenFailed",
						"[%s] Connecting to remote server failed with the following error message : WinRM cannot process the request. The server name cannot be resolved.", fqdn)
				}
			} else if !c.Switch("Auto") {
				return ps.Errorf("InvalidArgument", "ParameterBindingFailed",
					"Cannot process command because of one or more missing mandatory parameters: ServerFqdn.")
			}
			fmt.Fprintf(stdout, "VERBOSE: Connecting to %s\r\n", target.FQDN())
			if !h.credssp || h.exchange == nil {
				return secondHopRefused(target)
			}
			// With a delegated credential the session opens, at the endpoint's cost.
			h.exchange.mu.Lock()
			startup := h.exchange.startup
			h.exchange.mu.Unlock()
			if err := (clock.Real{}).Sleep(c.Ctx, startup); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "VERBOSE: Connected to %s.\r\n", target.FQDN())
			c.Session.Define(h.org.exchangeCmdlets(target)...)
			return nil
		},
	}
}

// secondHopRefused is New-PSSession's failure when the WinRS logon has no credential
// to forward to the Exchange endpoint: Kerberos finds no logon session to take a
// ticket from (ERROR_NO_SUCH_LOGON_SESSION, 0x80070520).
func secondHopRefused(target *Server) *ps.ErrorRecord {
	return &ps.ErrorRecord{
		Message: fmt.Sprintf("[%s] Connecting to remote server failed with the following error message : "+
			"WinRM cannot process the request. The following error occured while using Kerberos authentication: "+
			"A specified logon session does not exist. It may already have been terminated. "+
			"For more information, see the about_Remote_Troubleshooting Help topic.", target.FQDN()),
		Category:      "OpenError",
		ErrorID:       "PSSessionOpenFailed",
		Target:        "System.Management.Automation.RemoteRunspace",
		ExceptionType: "System.Management.Automation.Remoting.PSRemotingTransportException",
	}
}

// adReadRefused is what an Exchange cmdlet of the local snap-in answers over WinRS:
// it reads Active Directory as the logged-on user, and the network logon of the
// WinRS shell cannot authenticate to the domain controller (the bind is anonymous).
func adReadRefused(cmdlet string) *ps.ErrorRecord {
	e := exErr(cmdlet, "NotSpecified", "Microsoft.Exchange.Data.Directory.ADOperationException",
		"Active Directory operation failed on %s. This error is not retriable. Additional information: An operations error occurred.\r\n"+
			"Active directory response: 000004DC: LdapErr: DSID-0C0906E8, comment: In order to perform this operation a successful bind must be completed on the connection., data 0, v1db1", dcFQDN)
	return e
}

// addPSSnapin loads snap-ins. Exchange's E2010 snap-in loads (it is installed), and
// its cmdlets bind their parameters, but each fails on its first Active Directory
// read: see adReadRefused.
func (h *Host) addPSSnapin(stdout io.Writer) *ps.Cmdlet {
	return &ps.Cmdlet{
		Name:   "Add-PSSnapin",
		Params: []ps.Param{{Name: "Name", Kind: ps.KindStringArray, Mandatory: true, Position: 0}},
		Invoke: func(c *ps.Call) error {
			for _, name := range c.Strings("Name") {
				if h.server.Exchange && strings.EqualFold(name, exchangeSnapIn) {
					for _, cmd := range h.org.exchangeCmdlets(h.server) {
						local := *cmd
						local.Invoke = func(c *ps.Call) error { return adReadRefused(local.Name) }
						c.Session.Define(&local)
					}
					continue
				}
				return &ps.ErrorRecord{
					Message:       fmt.Sprintf("The Windows PowerShell snap-in '%s' is not installed on this machine.", name),
					Category:      "InvalidArgument",
					ErrorID:       "AddPSSnapInRead,Microsoft.PowerShell.Commands.AddPSSnapinCommand",
					Target:        name,
					ExceptionType: "System.Management.Automation.PSArgumentException",
				}
			}
			return nil
		},
	}
}

// importModule is Import-Module with the modules a 2008 R2 server has:
// ServerManager always, NetworkLoadBalancingClusters once the NLB feature is installed,
// FailoverClusters on a DAG member.
func (h *Host) importModule() *ps.Cmdlet {
	return &ps.Cmdlet{
		Name: "Import-Module",
		Params: []ps.Param{
			{Name: "Name", Kind: ps.KindStringArray, Mandatory: true, Position: 0},
			{Name: "Force", Kind: ps.KindSwitch, Position: -1},
			{Name: "Global", Kind: ps.KindSwitch, Position: -1},
			{Name: "PassThru", Kind: ps.KindSwitch, Position: -1},
		},
		Invoke: func(c *ps.Call) error {
			for _, name := range c.Strings("Name") {
				switch {
				case strings.EqualFold(name, "ServerManager"):
					c.Session.Define(h.org.serverManagerCmdlets(h.server)...)
				case strings.EqualFold(name, "NetworkLoadBalancingClusters") && h.org.hasFeature(h.server.Name, "NLB"):
					c.Session.Define(h.org.nlbCmdlets(h.server, h.credssp)...)
				case strings.EqualFold(name, "FailoverClusters") && h.org.isDAGMember(h.server.Name):
					// Failover clustering, with its module, comes with joining a DAG.
					c.Session.Define(h.org.clusterCmdlets(h.server)...)
				default:
					return &ps.ErrorRecord{
						Message:       fmt.Sprintf("The specified module '%s' was not loaded because no valid module file was found in any module directory.", name),
						Category:      "ResourceUnavailable",
						ErrorID:       "Modules_ModuleNotFound,Microsoft.PowerShell.Commands.ImportModuleCommand",
						Target:        name,
						ExceptionType: "System.IO.FileNotFoundException",
					}
				}
			}
			return nil
		},
	}
}

func nativeHostname(s *Server) *ps.Cmdlet {
	return &ps.Cmdlet{
		Name:   "hostname",
		Native: true,
		Invoke: func(c *ps.Call) error {
			c.Write(s.Name)
			c.SetExitCode(0)
			return nil
		},
	}
}

// splitCommandLine splits a Windows command line as the C runtime does for most
// programs: whitespace separates arguments, double quotes group, backslashes are
// literal except before a double quote.
func splitCommandLine(s string) []string {
	var args []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\\':
			n := 0
			for i < len(s) && s[i] == '\\' {
				n++
				i++
			}
			if i < len(s) && s[i] == '"' {
				cur.WriteString(strings.Repeat(`\`, n/2))
				if n%2 == 1 {
					cur.WriteByte('"')
				} else {
					inQuote = !inQuote
				}
				have = true
			} else {
				cur.WriteString(strings.Repeat(`\`, n))
				have = true
				i--
			}
		case ch == '"':
			inQuote = !inQuote
			have = true
		case (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') && !inQuote:
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(ch)
			have = true
		}
	}
	if have {
		args = append(args, cur.String())
	}
	return args
}

// bareUser strips a DOMAIN\ prefix or @realm suffix.
func bareUser(u string) string {
	if i := strings.LastIndex(u, `\`); i >= 0 {
		u = u[i+1:]
	}
	if i := strings.Index(u, "@"); i >= 0 {
		u = u[:i]
	}
	return u
}

func qualifiedUser(u string) string { return DomainNB + `\` + bareUser(u) }
