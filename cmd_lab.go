package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/exchops/exchops/lab"
)

// faultFlags collects repeated --fault KIND:SERVER flags.
type faultFlags []string

func (f *faultFlags) String() string     { return strings.Join(*f, ",") }
func (f *faultFlags) Set(v string) error { *f = append(*f, v); return nil }

// fastTiming makes the organisation's slow operations take seconds, for people
// trying the lab by hand.
var fastTiming = lab.Timing{
	Seed: 10 * time.Second, Initialize: 5 * time.Second, Switchover: 3 * time.Second,
	NLBConverge: 5 * time.Second, DAGMember: 3 * time.Second,
}

// runLab serves the simulated organisation until interrupted.
func runLab(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("lab", "exchops lab [--latency D] [--startup D] [--tls] [--allow-unencrypted] [--kerberos-keytab FILE] [--fault KIND:SERVER]... [--timing fast|real]", stderr)
	host := fs.String("host", "127.0.0.1", "loopback address to listen on")
	latency := fs.Duration("latency", 0, "delay added to every WinRM request (e.g. 20ms)")
	startup := fs.Duration("startup", 0, "cost of opening a session on an Exchange endpoint: loading Exchange and the account's roles (e.g. 2s)")
	useTLS := fs.Bool("tls", false, "serve HTTPS with a certificate made at start")
	allowUnencrypted := fs.Bool("allow-unencrypted", false, "over plain HTTP, accept Basic and NTLM without message encryption (WinRM's AllowUnencrypted=true; a Windows server refuses them by default, and without this flag the Exchange endpoints, reached with Basic, need --tls)")
	timing := fs.String("timing", "real", "how long seeding, convergence and switchovers take: real (minutes) or fast (seconds)")
	user := fs.String("user", lab.DefaultUser, "user name every server accepts")
	password := fs.String("password", lab.DefaultPassword, "password every server accepts (a lab credential, printed at start)")
	keytab := fs.String("kerberos-keytab", "", "also accept Kerberos tickets for HTTP/<server fqdn> with the keys in this keytab (see docs/KERBEROS.md)")
	var faults faultFlags
	fs.Var(&faults, "fault", "inject a fault, KIND:SERVER (KIND: "+lab.FaultNames+"); repeatable")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "exchops lab: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return exitUsage
	}
	opts := lab.Options{Host: *host, TLS: *useTLS, User: *user, Password: *password, Latency: *latency, Startup: *startup, KerberosKeytab: *keytab, RequireEncryption: !*allowUnencrypted}
	switch *timing {
	case "real":
	case "fast":
		opts.Timing = &fastTiming
	default:
		fmt.Fprintf(stderr, "exchops lab: --timing %q: use real or fast\n", *timing)
		return exitUsage
	}
	type fault struct{ kind, server string }
	var parsed []fault
	for _, f := range faults {
		kind, server, ok := strings.Cut(f, ":")
		if !ok || kind == "" || server == "" {
			fmt.Fprintf(stderr, "exchops lab: --fault %q: write it as KIND:SERVER, e.g. hang:EX10-MB02\n", f)
			return exitUsage
		}
		parsed = append(parsed, fault{kind, server})
	}
	l, err := lab.Start(opts)
	if err != nil {
		fmt.Fprintf(stderr, "exchops lab: %v\n", err)
		return exitFail
	}
	defer l.Close()
	for _, f := range parsed {
		if err := l.SetFault(f.server, f.kind); err != nil {
			fmt.Fprintf(stderr, "exchops lab: --fault: %v\n", err)
			return exitUsage
		}
	}
	// One line per server: NAME WINRM-URL [EXCHANGE-URL]; servers without Exchange
	// (DC01) have no Exchange endpoint and so no third column.
	for _, e := range l.Servers {
		if e.PowerShellURL != "" {
			fmt.Fprintf(stdout, "%s %s %s\n", e.Name, e.URL, e.PowerShellURL)
			continue
		}
		fmt.Fprintf(stdout, "%s %s\n", e.Name, e.URL)
	}
	how := "NTLM on /wsman, Basic on /PowerShell/"
	if !*useTLS && !*allowUnencrypted {
		how = "NTLM with message encryption on /wsman; Basic on /PowerShell/ needs --tls or --allow-unencrypted, as unencrypted HTTP is refused"
	}
	fmt.Fprintf(stdout, "credentials: user %s password %s (%s)\n", l.User, l.Password, how)
	if *keytab != "" {
		fmt.Fprintf(stdout, "kerberos: tickets for HTTP/<server fqdn> with the keys in %s\n", *keytab)
	}
	if l.CertPEM != nil {
		path := filepath.Join(os.TempDir(), "exchops-lab-ca.pem")
		if err := os.WriteFile(path, l.CertPEM, 0o644); err != nil {
			fmt.Fprintf(stderr, "exchops lab: cannot write the certificate: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(stdout, "ca_file: %s\n", path)
	}
	ctl, err := net.Listen("tcp", net.JoinHostPort(*host, "0"))
	if err != nil {
		fmt.Fprintf(stderr, "exchops lab: %v\n", err)
		return exitFail
	}
	ctlSrv := &http.Server{Handler: l.ControlHandler(), ReadHeaderTimeout: 10 * time.Second}
	go ctlSrv.Serve(ctl)
	defer ctlSrv.Close()
	fmt.Fprintf(stdout, "faults: POST http://%s/fault (e.g. kind=copy database=MB01 server=EX10-MB02 status=Failed)\n", ctl.Addr())
	<-ctx.Done()
	return exitOK
}
