// Package krbtest starts a real MIT Kerberos KDC (Debian's krb5-kdc) for one test: a
// throw-away realm in a temporary directory, with the lab's service account and an
// HTTP/<fqdn> service principal for each server, so the runner's Kerberos client and the
// lab's acceptor exchange real tickets.
//
// Nothing outside the test's temporary directory is read or written: every MIT tool is run
// with KRB5_CONFIG and KRB5_KDC_PROFILE pointing at the files written there, and the KDC
// listens on 127.0.0.1 only, on a free port. The packages are installed by .ci/run; when
// the binaries are missing a test is skipped on a developer's machine and fails in CI.
package krbtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Realm is the lab's Kerberos realm: its Active Directory domain msglab.local.
const Realm = "MSGLAB.LOCAL"

// User is the lab's service account, as a Kerberos principal name (no realm).
const User = "svc-exchops"

// LabHosts are the FQDNs of the lab's servers (lab.Org's fixed servers), whose HTTP/<fqdn>
// principals Start registers when it is given no hosts.
var LabHosts = []string{
	"dc01.msglab.local",
	"ex10-mb01.msglab.local",
	"ex10-mb02.msglab.local",
	"ex10-caht.msglab.local",
	"ex10-caht02.msglab.local",
}

// The MIT programs Start runs. Debian puts the KDC's in /usr/sbin, which is not on every
// user's PATH, so they are looked up there too.
var (
	kdcBinaries    = []string{"krb5kdc", "kdb5_util", "kadmin.local"}
	sbinDirs       = []string{"/usr/sbin", "/sbin", "/usr/local/sbin"}
	installAdvice  = "install Debian's MIT Kerberos KDC (apt-get install -y krb5-kdc krb5-admin-server); .ci/run does this in CI"
	startupTimeout = 10 * time.Second
)

// KDC is a running throw-away KDC. Its fields are what a client and a service need.
type KDC struct {
	// Realm is the realm name (Realm).
	Realm string
	// Addr is the KDC's address, 127.0.0.1:<port>, for UDP and TCP.
	Addr string
	// Config is the path of a krb5.conf naming the realm and this KDC, for clients
	// (gokrb5's config.Load, KRB5_CONFIG for kinit).
	Config string
	// Keytab holds the keys of every HTTP/<fqdn> service principal, what IIS/WinRM hold
	// in the machine account: the lab's acceptor reads it.
	Keytab string
	// User is the service account's principal name (User) and Password its password,
	// random for each KDC.
	User, Password string
	// Dir is the temporary directory holding the database, the configuration and the logs.
	Dir string

	env     []string
	kadmin  string
	kinit   string
	mu      sync.Mutex
	proc    *exec.Cmd
	exited  chan struct{}
	stderr  *bytes.Buffer
	stopped bool
}

// SPN returns the service principal name of a host: HTTP/<fqdn>, what IIS and WinRM
// register for the machine.
func SPN(fqdn string) string { return "HTTP/" + strings.ToLower(fqdn) }

// Start creates a realm with the service account and HTTP/<host> principals for hosts
// (LabHosts when none are given), writes their keys to the keytab, and runs krb5kdc in the
// foreground until the test ends. It skips the test when the MIT programs are missing,
// unless the CI environment variable is set, where it fails.
func Start(t testing.TB, hosts ...string) *KDC {
	t.Helper()
	bins, err := findBinaries(kdcBinaries)
	if err != nil {
		skipOutsideCI(t, "krbtest: %v: %s", err, installAdvice)
	}
	if len(hosts) == 0 {
		hosts = LabHosts
	}
	dir := t.TempDir()
	k := &KDC{
		Realm:    Realm,
		Config:   filepath.Join(dir, "krb5.conf"),
		Keytab:   filepath.Join(dir, "http.keytab"),
		User:     User,
		Password: "Krb-" + randomHex(12),
		Dir:      dir,
		kadmin:   bins["kadmin.local"],
		exited:   make(chan struct{}),
	}
	kdcConf := filepath.Join(dir, "kdc.conf")
	// KRB5_CONFIG and KRB5_KDC_PROFILE keep every MIT tool away from /etc/krb5.conf and
	// /etc/krb5kdc; KRB5CCNAME and KRB5_KTNAME keep kinit and kadmin away from the
	// user's default credential cache and /etc/krb5.keytab.
	k.env = append(filteredEnviron(),
		"KRB5_CONFIG="+k.Config,
		"KRB5_KDC_PROFILE="+kdcConf,
		"KRB5CCNAME=FILE:"+filepath.Join(dir, "default.ccache"),
		"KRB5_KTNAME=FILE:"+filepath.Join(dir, "default.keytab"),
		"KRB5RCACHEDIR="+dir,
	)

	masterPassword := randomHex(16)
	// A port free for TCP and UDP is chosen, released and handed to krb5kdc; another
	// process may take it in between, so a failed start is retried on a new port.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("krbtest: %v", err)
		}
		k.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err := k.writeConfig(kdcConf, port); err != nil {
			t.Fatalf("krbtest: %v", err)
		}
		if attempt == 0 {
			if err := k.createRealm(bins["kdb5_util"], masterPassword, hosts); err != nil {
				t.Fatalf("krbtest: %v", err)
			}
		}
		if lastErr = k.run(bins["krb5kdc"]); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("krbtest: %v", lastErr)
	}
	t.Cleanup(k.Stop)
	return k
}

// writeConfig writes the KDC's profile and the clients' krb5.conf for a KDC on port.
func (k *KDC) writeConfig(kdcConf string, port int) error {
	d := k.Dir
	// Pre-authentication is required, as Active Directory requires it: the client's
	// first AS-REQ is answered with PREAUTH_REQUIRED and it proves the password with an
	// encrypted timestamp. The enctypes are the AES ones Windows 2008 R2 and gokrb5 share.
	// SPAKE pre-authentication (MIT only, unused by gokrb5 and Windows) is disabled so
	// the KDC's log does not open with an error about its missing groups.
	kdc := fmt.Sprintf(`[kdcdefaults]
	kdc_listen = 127.0.0.1:%[1]d
	kdc_tcp_listen = 127.0.0.1:%[1]d

[realms]
	%[2]s = {
		database_name = %[3]s
		key_stash_file = %[4]s
		acl_file = %[5]s
		admin_keytab = FILE:%[6]s
		kdc_listen = 127.0.0.1:%[1]d
		kdc_tcp_listen = 127.0.0.1:%[1]d
		max_life = 10h 0m 0s
		max_renewable_life = 7d 0h 0m 0s
		master_key_type = aes256-cts-hmac-sha1-96
		supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
		default_principal_flags = +preauth
	}

[plugins]
	kdcpreauth = {
		disable = spake
	}

[logging]
	kdc = FILE:%[7]s
	admin_server = FILE:%[8]s
	default = FILE:%[7]s
`, port, k.Realm, filepath.Join(d, "principal"), filepath.Join(d, "stash"),
		filepath.Join(d, "kadm5.acl"), filepath.Join(d, "kadm5.keytab"),
		filepath.Join(d, "kdc.log"), filepath.Join(d, "kadmin.log"))
	krb5 := fmt.Sprintf(`[libdefaults]
	default_realm = %[1]s
	dns_lookup_kdc = false
	dns_lookup_realm = false
	rdns = false
	udp_preference_limit = 1
	default_tkt_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
	default_tgs_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
	permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
	ticket_lifetime = 10h

[realms]
	%[1]s = {
		kdc = 127.0.0.1:%[2]d
		admin_server = 127.0.0.1:%[2]d
	}

[domain_realm]
	.msglab.local = %[1]s
	msglab.local = %[1]s
`, k.Realm, port)
	for _, f := range []struct{ path, text string }{
		{kdcConf, kdc},
		{k.Config, krb5},
		{filepath.Join(d, "kadm5.acl"), ""},
	} {
		if err := os.WriteFile(f.path, []byte(f.text), 0o600); err != nil {
			return fmt.Errorf("cannot write %s: %w", f.path, err)
		}
	}
	return nil
}

// createRealm creates the database and the principals, and exports the service keys.
func (k *KDC) createRealm(kdb5Util, masterPassword string, hosts []string) error {
	if out, err := k.command(kdb5Util, "-r", k.Realm, "create", "-s", "-P", masterPassword).CombinedOutput(); err != nil {
		return fmt.Errorf("kdb5_util create failed: %v: %s", err, redact(out, masterPassword))
	}
	queries := []string{fmt.Sprintf("addprinc -pw %s %s", k.Password, k.User)}
	for _, h := range hosts {
		spn := SPN(h)
		queries = append(queries, "addprinc -randkey "+spn, fmt.Sprintf("ktadd -k %s %s", k.Keytab, spn))
	}
	return k.Kadmin(queries...)
}

// Kadmin runs kadmin.local queries against the realm's database, for example
// "addprinc -pw <password> alice" or "modprinc -maxlife 1s alice".
func (k *KDC) Kadmin(queries ...string) error {
	cmd := k.command(k.kadmin, "-r", k.Realm)
	cmd.Stdin = strings.NewReader(strings.Join(queries, "\n") + "\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	// kadmin.local exits 0 when a query fails: its complaints on stderr are the errors.
	var complaints []string
	for _, line := range strings.Split(stderr.String(), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "No policy specified") || strings.HasPrefix(line, "Authenticating as principal") {
			continue
		}
		complaints = append(complaints, line)
	}
	if err == nil && len(complaints) > 0 {
		err = errors.New(strings.Join(complaints, "; "))
	}
	if err != nil {
		shown := make([]string, len(queries))
		for i, q := range queries {
			shown[i] = redactPasswordArg(q)
		}
		return fmt.Errorf("kadmin.local %q failed: %s", strings.Join(shown, "; "), redact([]byte(err.Error()), k.Password))
	}
	return nil
}

// AddUser adds another client principal with a password.
func (k *KDC) AddUser(name, password string) error {
	return k.Kadmin(fmt.Sprintf("addprinc -pw %s %s", password, name))
}

// run starts krb5kdc in the foreground and waits until it accepts TCP connections.
func (k *KDC) run(krb5kdc string) error {
	cmd := k.command(krb5kdc, "-n", "-r", k.Realm)
	k.stderr = new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = k.stderr, k.stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot start krb5kdc: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(startupTimeout)
	for {
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(k.Dir, "kdc.log"))
			return fmt.Errorf("krb5kdc exited at start: %s %s", strings.TrimSpace(k.stderr.String()), lastLines(string(log), 5))
		default:
		}
		c, err := net.DialTimeout("tcp", k.Addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			k.mu.Lock()
			k.proc, k.exited = cmd, exited
			k.mu.Unlock()
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("krb5kdc did not listen on %s within %v", k.Addr, startupTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop ends the KDC (Start registers it with t.Cleanup; a test calls it to see clients
// fail with the KDC unreachable). It is safe to call more than once.
func (k *KDC) Stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopped || k.proc == nil {
		return
	}
	k.stopped = true
	_ = k.proc.Process.Kill()
	<-k.exited
}

// Kinit gets a ticket-granting ticket for the service account with MIT's kinit (package
// krb5-user) into a new credential cache file and returns its path, what an operator's
// `kinit svc-exchops@MSGLAB.LOCAL` leaves for exchops' winrm.kerberos.ccache. It skips the
// test when kinit is missing, unless CI is set.
func (k *KDC) Kinit(t testing.TB) string {
	t.Helper()
	bins, err := findBinaries([]string{"kinit"})
	if err != nil {
		skipOutsideCI(t, "krbtest: %v: install Debian's krb5-user (apt-get install -y krb5-user); .ci/run does this in CI", err)
	}
	cc := filepath.Join(t.TempDir(), "ccache")
	cmd := k.command(bins["kinit"], "-c", "FILE:"+cc, k.User+"@"+k.Realm)
	cmd.Stdin = strings.NewReader(k.Password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("krbtest: kinit failed: %v: %s", err, redact(out, k.Password))
	}
	return cc
}

// Log returns the KDC's log so far (every AS and TGS exchange it answered), for a failing
// test's message.
func (k *KDC) Log() string {
	b, _ := os.ReadFile(filepath.Join(k.Dir, "kdc.log"))
	return string(b)
}

// Issued counts the exchanges of one kind ("AS_REQ" for logins, "TGS_REQ" for service
// tickets) the KDC's log says it answered with a ticket.
func (k *KDC) Issued(kind string) int {
	n := 0
	for _, line := range strings.Split(k.Log(), "\n") {
		if strings.Contains(line, kind) && strings.Contains(line, "ISSUE") {
			n++
		}
	}
	return n
}

func (k *KDC) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = k.env
	cmd.Dir = k.Dir
	return cmd
}

// filteredEnviron is the process environment without Kerberos variables that would point
// the tools at another realm's files.
func filteredEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KRB5") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func findBinaries(names []string) (map[string]string, error) {
	found := make(map[string]string, len(names))
	var missing []string
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			found[n] = p
			continue
		}
		for _, d := range sbinDirs {
			p := filepath.Join(d, n)
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
				found[n] = p
				break
			}
		}
		if found[n] == "" {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s not found", strings.Join(missing, ", "))
	}
	return found, nil
}

// freePort returns a port on 127.0.0.1 that is free for both TCP and UDP just now.
func freePort() (int, error) {
	for i := 0; i < 20; i++ {
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("cannot find a free port: %w", err)
		}
		port := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		tl.Close()
		if err != nil {
			continue
		}
		ul.Close()
		return port, nil
	}
	return 0, errors.New("cannot find a port free for both TCP and UDP on 127.0.0.1")
}

func skipOutsideCI(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("krbtest: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// redact keeps a password out of a test's failure message.
func redact(out []byte, secret string) string {
	return strings.ReplaceAll(strings.TrimSpace(string(out)), secret, "***")
}

func redactPasswordArg(q string) string {
	f := strings.Fields(q)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "-pw" {
			f[i+1] = "***"
		}
	}
	return strings.Join(f, " ")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
