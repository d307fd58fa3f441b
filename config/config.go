// Package config reads exchops.yaml: the contract in DESIGN.md. Every key can be
// overridden from the environment as EXCHOPS_<PATH> (for example EXCHOPS_LISTEN or
// EXCHOPS_EXCHANGE_WINRM_PORT); secrets are never in the file, only the names of the
// environment variables that hold them.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/exchops/exchops/commands"
	"io"
	"net"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole file.
type Config struct {
	Listen    string     `yaml:"listen"`
	Database  string     `yaml:"database"`
	Console   bool       `yaml:"console"`
	Slack     Slack      `yaml:"slack"`
	Discord   Discord    `yaml:"discord"`
	People    []Person   `yaml:"people"`
	Approvals Approvals  `yaml:"approvals"`
	Exchange  Exchange   `yaml:"exchange"`
	Schedules []Schedule `yaml:"schedules"`
	Health    Health     `yaml:"health"`
	Drill     Drill      `yaml:"drill"`
	Watch     Watch      `yaml:"watch"`

	// ConsoleHosts are the Host names the console answers to besides loopback ones,
	// and ConsoleAuth how people sign in to it (console.go: the exposure rules).
	ConsoleHosts []string    `yaml:"console_hosts"`
	ConsoleAuth  ConsoleAuth `yaml:"console_auth"`
}

// Health tunes the replication health reports.
type Health struct {
	CopyQueue   int      `yaml:"copy_queue"`   // a copy queue this long or longer is unhealthy
	ReplayQueue int      `yaml:"replay_queue"` // the same for the replay queue (lagged copies excepted)
	AlertsOnly  bool     `yaml:"alerts_only"`  // post scheduled reports only when something is wrong
	Ignore      []string `yaml:"ignore"`       // databases and servers left out of the verdict
	// MAPIConnectivity adds Test-MapiConnectivity on each member to the report (a
	// logon to the system mailbox of every database active there). Off by default.
	MAPIConnectivity bool `yaml:"mapi_connectivity"`
}

// Drill tunes the failover drills.
type Drill struct {
	Timeout Duration `yaml:"timeout"` // per move: until the copy is Mounted and the others Healthy
}

// Watch is the watch on health reports: each report of a DAG is compared with the one
// before, and what changed is posted to the alert channels, once when it starts and
// once when it ends.
type Watch struct {
	Enabled bool `yaml:"enabled"`
	// SingleCopyAfter is how long a database may stay below two healthy copies before
	// it is announced (CheckDatabaseRedundancy.ps1's 20 minutes by default; 0: at once).
	SingleCopyAfter Duration `yaml:"single_copy_after"`
	AlertChannels   PostTo   `yaml:"alert_channels"`
}

// Slack is the Slack app's settings.
type Slack struct {
	SigningSecretEnv string `yaml:"signing_secret_env"`
	BotTokenEnv      string `yaml:"bot_token_env"`
	AppTokenEnv      string `yaml:"app_token_env"`
	APIURL           string `yaml:"api_url"`
	ApprovalsChannel string `yaml:"approvals_channel"`
}

// Discord is the Discord application's settings.
type Discord struct {
	PublicKey     string `yaml:"public_key"`
	BotTokenEnv   string `yaml:"bot_token_env"`
	ApplicationID string `yaml:"application_id"`
	APIURL        string `yaml:"api_url"`
	// ApprovalsChannel is where cards for requests made elsewhere (Slack, the
	// console) are posted, so that they can be approved from Discord.
	ApprovalsChannel string `yaml:"approvals_channel"`
	// Gateway takes interactions over the bot's outbound gateway connection instead
	// of the HTTP endpoint, for networks Discord cannot reach.
	Gateway bool `yaml:"gateway"`
}

// Person maps chat identities to one person and their roles.
type Person struct {
	Name    string   `yaml:"name"`
	Slack   string   `yaml:"slack"`
	Discord string   `yaml:"discord"`
	Roles   []string `yaml:"roles"`
	// Team is the person's team, for approval rules that want approvals from outside
	// the requester's team (same_team: false).
	Team string `yaml:"team"`
}

// Approvals is the two-person rule's policy.
type Approvals struct {
	Required    int      `yaml:"required"`
	ExpireAfter Duration `yaml:"expire_after"`
	// Rules say, per command or group of commands, how many approvals and from whom.
	// A command takes the most specific rule naming it (a command's own name before
	// its group); commands no rule names need Required approvals from any approver.
	Rules []ApprovalRule `yaml:"rules"`
}

// ApprovalRule is how many approvals some commands need, and from whom.
type ApprovalRule struct {
	// Commands are command names or groups as in the grammar: failover, "dns add", dag.
	Commands []string `yaml:"commands"`
	// Required is how many approvals, from people other than the requester; 0 (or
	// absent) means approvals.required.
	Required int `yaml:"required"`
	// Approvers are role:<role> or people's names; empty means any approver. Only
	// people who also hold the approver role can approve: a rule narrows who may.
	Approvers []string `yaml:"approvers"`
	// SameTeam false: nobody from the requester's team may approve. Default true.
	SameTeam *bool `yaml:"same_team"`
}

// RolePrefix starts an approvers entry that names a role rather than a person.
const RolePrefix = "role:"

// builtinRoles are the roles that grant something; any other role a person holds is
// a group that approval rules name (role:dag-owner).
var builtinRoles = map[string]bool{"admin": true, "approver": true, "viewer": true}

// Exchange describes the organisation and how to reach it.
type Exchange struct {
	Version          int    `yaml:"version"`
	ManagementServer string `yaml:"management_server"`
	DNSServer        string `yaml:"dns_server"`
	// SeedTimeout is how long seeding a database copy may run (copy add): Exchange
	// seeds inside Update-MailboxDatabaseCopy, so the seed gets this limit instead of
	// winrm.timeout, which would end it.
	SeedTimeout Duration `yaml:"seed_timeout"`
	// PowerShell is Exchange's own remote PowerShell endpoint on every Exchange
	// server: every Exchange cmdlet goes there (PowerShell Remoting, one hop, RBAC).
	PowerShell PowerShell `yaml:"powershell"`
	// WinRM is WinRS, for the Windows-level steps only (NLB on the Client Access
	// servers, dnscmd on the DNS server). Its user and password_env are the service
	// account for both.
	WinRM    WinRM    `yaml:"winrm"`
	Kerberos Kerberos `yaml:"kerberos"`
	Servers  []Server `yaml:"servers"`
}

// PowerShell is how the runner reaches the Exchange endpoint,
// http(s)://<server>:<port><path> with configuration Microsoft.Exchange.
type PowerShell struct {
	HTTPS              bool   `yaml:"https"`
	Port               int    `yaml:"port"`
	Path               string `yaml:"path"`
	Auth               string `yaml:"auth"` // kerberos (the virtual directory's default) or basic
	CAFile             string `yaml:"ca_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	// IdleTimeout closes a warm session unused this long; it must stay below the
	// server's own idle timeout (WinRM's 180 s) so exchops, not the server, ends it.
	IdleTimeout Duration `yaml:"idle_timeout"`
}

// Kerberos is the realm Kerberos authentication uses (exchange.powershell.auth or
// exchange.winrm.auth set to kerberos).
type Kerberos struct {
	Realm  string `yaml:"realm"`  // the Active Directory domain in upper case, e.g. MSGLAB.LOCAL
	Config string `yaml:"config"` // krb5.conf that names the realm's KDCs
}

// WinRM is how the runner connects to every server.
type WinRM struct {
	Port               int      `yaml:"port"`
	HTTPS              bool     `yaml:"https"`
	Auth               string   `yaml:"auth"`
	User               string   `yaml:"user"`
	PasswordEnv        string   `yaml:"password_env"`
	CAFile             string   `yaml:"ca_file"`
	InsecureSkipVerify bool     `yaml:"insecure_skip_verify"`
	Timeout            Duration `yaml:"timeout"`
	MaxPerServer       int      `yaml:"max_per_server"`
}

// Server is one Exchange or DNS server exchops may run commands on.
type Server struct {
	Name    string   `yaml:"name"`
	Address string   `yaml:"address"`
	Roles   []string `yaml:"roles"`
}

// Schedule is a cron job: a health report or a failover drill.
type Schedule struct {
	Name     string `yaml:"name"`
	Cron     string `yaml:"cron"`
	Timezone string `yaml:"timezone"`
	Job      string `yaml:"job"`
	DAG      string `yaml:"dag"`
	PostTo   PostTo `yaml:"post_to"`
}

// PostTo names the channels a schedule posts to.
type PostTo struct {
	Slack   string `yaml:"slack"`
	Discord string `yaml:"discord"`
}

// Channels are the channels by platform name ("slack", "discord"), as the rest of
// exchops keys them; platforms without a channel are left out.
func (p PostTo) Channels() map[string]string {
	return keyed(p.Slack, p.Discord)
}

// IDs are the person's user ids by platform name ("slack", "discord"), as the rest of
// exchops keys them; platforms without an id are left out.
func (p Person) IDs() map[string]string {
	return keyed(p.Slack, p.Discord)
}

// keyed maps the values of this file's platform keys to the platforms' names, which
// are the names of their sections (slack:, discord:).
func keyed(slack, discord string) map[string]string {
	out := map[string]string{}
	if slack != "" {
		out["slack"] = slack
	}
	if discord != "" {
		out["discord"] = discord
	}
	return out
}

// Duration is a time.Duration written as "30m" in YAML.
type Duration time.Duration

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("%q is not a duration (write it like 30m, 15m or 1h30m)", n.Value)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Default returns the configuration used when a key is not set.
func Default() Config {
	return Config{
		Listen:    "127.0.0.1:8080",
		Database:  "/var/lib/exchops/exchops.db",
		Approvals: Approvals{Required: 1, ExpireAfter: Duration(30 * time.Minute)},
		Health:    Health{CopyQueue: commands.DefaultQueueLimit, ReplayQueue: commands.DefaultQueueLimit},
		Drill:     Drill{Timeout: Duration(5 * time.Minute)},
		Watch:     Watch{SingleCopyAfter: Duration(20 * time.Minute)},
		Exchange: Exchange{
			Version:     2010,
			SeedTimeout: Duration(commands.DefaultSeedTimeout),
			PowerShell: PowerShell{HTTPS: true, Port: 443, Path: "/PowerShell/", Auth: "kerberos",
				IdleTimeout: Duration(2 * time.Minute)},
			Kerberos: Kerberos{Config: "/etc/krb5.conf"},
			WinRM: WinRM{Port: 5986, HTTPS: true, Auth: "ntlm", PasswordEnv: "WINRM_PASSWORD",
				Timeout: Duration(15 * time.Minute), MaxPerServer: 2},
		},
	}
}

// isDomainAccount reports whether user names a domain account (DOMAIN\user or
// user@domain) rather than a local one (user or .\user).
func isDomainAccount(user string) bool {
	if i := strings.Index(user, `\`); i >= 0 {
		return user[:i] != "." && user[:i] != ""
	}
	return strings.Contains(user, "@")
}

// Problem is one thing wrong with a configuration, at a key.
type Problem struct {
	Key string // e.g. exchange.winrm.port or people[1].roles
	Msg string
}

func (p Problem) String() string { return p.Key + ": " + p.Msg }

// Problems is every problem found; it is an error.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Load reads a file, applies EXCHOPS_* overrides from env, and validates.
// The error lists every problem, each with its key.
func Load(path string, env []string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("cannot read the configuration: %w", err)
	}
	defer f.Close()
	return Parse(f, env)
}

// Parse is Load on a reader.
func Parse(r io.Reader, env []string) (Config, error) {
	c := Default()
	data, err := io.ReadAll(r)
	if err != nil {
		return c, err
	}
	if len(bytes.TrimSpace(data)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("the configuration is not valid YAML for exchops: %w", err)
		}
	}
	var probs Problems
	probs = append(probs, applyEnv(&c, env)...)
	probs = append(probs, c.Validate()...)
	if len(probs) > 0 {
		return c, probs
	}
	return c, nil
}

// applyEnv sets scalar keys from EXCHOPS_<PATH> variables.
func applyEnv(c *Config, env []string) Problems {
	vars := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, "EXCHOPS_") {
			vars[k] = v
		}
	}
	if len(vars) == 0 {
		return nil
	}
	var probs Problems
	used := map[string]bool{}
	walkScalars(reflect.ValueOf(c).Elem(), "", func(key string, v reflect.Value) {
		name := "EXCHOPS_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
		s, ok := vars[name]
		if !ok {
			return
		}
		used[name] = true
		if err := setScalar(v, s); err != nil {
			probs = append(probs, Problem{Key: key, Msg: fmt.Sprintf("from %s: %v", name, err)})
		}
	})
	var unknown []string
	for k := range vars {
		if !used[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		probs = append(probs, Problem{Key: k, Msg: "no configuration key has this name (lists such as people and servers can only be set in the file)"})
	}
	return probs
}

var durationType = reflect.TypeOf(Duration(0))

func walkScalars(v reflect.Value, prefix string, fn func(key string, v reflect.Value)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		key := tag
		if prefix != "" {
			key = prefix + "." + tag
		}
		f := v.Field(i)
		switch {
		case f.Type() == durationType:
			fn(key, f)
		case f.Kind() == reflect.Struct:
			walkScalars(f, key, fn)
		case f.Kind() == reflect.String, f.Kind() == reflect.Int, f.Kind() == reflect.Bool:
			fn(key, f)
		}
	}
}

func setScalar(v reflect.Value, s string) error {
	if v.Type() == durationType {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration (write it like 30m)", s)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		v.SetInt(int64(n))
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		v.SetBool(b)
	}
	return nil
}

// IsEnvName reports whether s can name an environment variable: letters, digits and
// underscores, not starting with a digit ([A-Za-z_][A-Za-z0-9_]*), the names shells
// can set (POSIX reserves upper case ones for the system; exchops accepts both cases).
func IsEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '_', ch >= 'A' && ch <= 'Z', ch >= 'a' && ch <= 'z':
		case ch >= '0' && ch <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// envNameProblems checks every key ending in _env (the keys that name where a secret
// comes from): each must hold a variable's name. The value is never repeated: a value
// that is not a name is most often the secret itself, pasted in the wrong place.
func (c *Config) envNameProblems() Problems {
	var p Problems
	walkScalars(reflect.ValueOf(c).Elem(), "", func(key string, v reflect.Value) {
		if !strings.HasSuffix(key, "_env") || v.Kind() != reflect.String || v.String() == "" || IsEnvName(v.String()) {
			return
		}
		p = append(p, Problem{Key: key, Msg: "is not the name of an environment variable (the value is not shown: it may be a secret). " +
			"Write the variable's name here, letters, digits and underscores not starting with a digit, such as " + envExample(key) +
			", and put the secret in that variable; if a secret was written here, it has been in the file: change it"})
	})
	return p
}

// envExample is a name that fits the key, for the problem's wording.
func envExample(key string) string {
	switch {
	case strings.HasPrefix(key, "slack."), strings.HasPrefix(key, "discord."):
		return strings.ToUpper(strings.ReplaceAll(strings.TrimSuffix(key, "_env"), ".", "_"))
	}
	return "WINRM_PASSWORD"
}

// Validate checks the values and returns every problem found.
func (c *Config) Validate() Problems {
	var p Problems
	add := func(key, format string, args ...any) {
		p = append(p, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		add("listen", "%q is not host:port (for example 127.0.0.1:8080)", c.Listen)
	}
	p = append(p, c.consoleProblems()...)
	if c.Health.CopyQueue < 1 {
		add("health.copy_queue", "is %d: give the queue length from which a copy is unhealthy (Exchange's own checks use 8)", c.Health.CopyQueue)
	}
	if c.Health.ReplayQueue < 1 {
		add("health.replay_queue", "is %d: give the replay queue length from which a copy is unhealthy (default 8)", c.Health.ReplayQueue)
	}
	if c.Drill.Timeout < Duration(30*time.Second) {
		add("drill.timeout", "is %s: a switchover needs at least 30s to mount and for the other copies to be Healthy (default 5m)", time.Duration(c.Drill.Timeout))
	}
	if c.Watch.SingleCopyAfter < 0 {
		add("watch.single_copy_after", "is %s: give how long a database may be down to one healthy copy before the alert, such as 20m (0: at once)", time.Duration(c.Watch.SingleCopyAfter))
	}
	if c.Watch.Enabled && c.Watch.AlertChannels.Slack == "" && c.Watch.AlertChannels.Discord == "" {
		add("watch.alert_channels", "names no channel, but watch.enabled is true: give slack, discord or both, e.g. {slack: C0ALERTS}")
	}
	if strings.TrimSpace(c.Database) == "" {
		add("database", "is empty: give the path of the SQLite file")
	}
	if c.Approvals.Required < 1 {
		add("approvals.required", "must be at least 1: a change always needs someone other than the requester")
	}
	if c.Approvals.ExpireAfter <= 0 {
		add("approvals.expire_after", "must be a positive duration such as 30m")
	}
	names := map[string]bool{}
	slackIDs, discordIDs := map[string]bool{}, map[string]bool{}
	ruleRoles := map[string]bool{}
	for _, r := range c.Approvals.Rules {
		for _, a := range r.Approvers {
			if role, ok := strings.CutPrefix(a, RolePrefix); ok {
				ruleRoles[role] = true
			}
		}
	}
	for i, pe := range c.People {
		key := fmt.Sprintf("people[%d]", i)
		if pe.Name == "" {
			add(key+".name", "is empty")
		} else if names[strings.ToLower(pe.Name)] {
			add(key+".name", "%q is listed twice", pe.Name)
		}
		names[strings.ToLower(pe.Name)] = true
		if pe.Slack == "" && pe.Discord == "" {
			add(key, "%s has neither a slack nor a discord id, so nobody can act as them", pe.Name)
		}
		if pe.Slack != "" {
			if slackIDs[pe.Slack] {
				add(key+".slack", "%s is given to two people", pe.Slack)
			}
			slackIDs[pe.Slack] = true
		}
		if pe.Discord != "" {
			if discordIDs[pe.Discord] {
				add(key+".discord", "%s is given to two people", pe.Discord)
			}
			discordIDs[pe.Discord] = true
		}
		if len(pe.Roles) == 0 {
			add(key+".roles", "is empty: give admin, approver or viewer")
		}
		for _, r := range pe.Roles {
			if !builtinRoles[r] && !ruleRoles[r] {
				add(key+".roles", "%q is not a role (admin, approver, viewer) nor a group an approvals rule names (approvers: [role:%s])", r, r)
			}
		}
		if pe.Team != strings.TrimSpace(pe.Team) {
			add(key+".team", "%q has spaces around it", pe.Team)
		}
	}
	p = append(p, c.validateRules()...)
	x := c.Exchange
	if x.Version != 2010 {
		add("exchange.version", "%d is not supported: exchops drives Exchange 2010 (CAS arrays exist only there)", x.Version)
	}
	w := x.WinRM
	if w.Port < 1 || w.Port > 65535 {
		add("exchange.winrm.port", "%d is not a TCP port (5986 for HTTPS, 5985 for HTTP)", w.Port)
	}
	switch w.Auth {
	case "ntlm":
		if !w.HTTPS {
			add("exchange.winrm.auth", "ntlm over plain HTTP leaves the traffic unencrypted, which WinRM refuses (AllowUnencrypted=false): use ntlm-encrypted or https: true")
		}
	case "ntlm-encrypted":
		if w.HTTPS {
			add("exchange.winrm.auth", "ntlm-encrypted is message encryption for plain HTTP: over https use ntlm")
		}
	case "kerberos":
		if !w.HTTPS {
			add("exchange.winrm.auth", "kerberos over plain HTTP needs Kerberos message encryption, which exchops does not implement: set https: true, or use ntlm-encrypted")
		}
	case "basic":
		if !w.HTTPS {
			add("exchange.winrm.auth", "basic over plain HTTP sends the password in clear text: set https: true or use ntlm-encrypted")
		}
		if isDomainAccount(w.User) {
			add("exchange.winrm.auth", "WinRM accepts Basic only for local accounts, and %s is a domain account: use ntlm (https), ntlm-encrypted (http) or kerberos", w.User)
		}
	default:
		add("exchange.winrm.auth", "%q is not one of basic, ntlm, ntlm-encrypted, kerberos", w.Auth)
	}
	ps := x.PowerShell
	if ps.Port < 1 || ps.Port > 65535 {
		add("exchange.powershell.port", "%d is not a TCP port (443 for HTTPS, 80 for HTTP)", ps.Port)
	}
	if !strings.HasPrefix(ps.Path, "/") {
		add("exchange.powershell.path", "%q must be a URL path starting with /, normally /PowerShell/", ps.Path)
	}
	switch ps.Auth {
	case "kerberos":
		if !ps.HTTPS {
			add("exchange.powershell.https", "is false: over plain HTTP the Exchange endpoint needs Kerberos message encryption, which exchops does not implement: set https: true (IIS serves /PowerShell/ on 443)")
		}
	case "basic":
		if !ps.HTTPS {
			add("exchange.powershell.auth", "basic over plain HTTP sends the password in clear text: set https: true (and enable Basic authentication on the PowerShell virtual directory)")
		}
	case "ntlm", "ntlm-encrypted", "negotiate":
		add("exchange.powershell.auth", "%q: the PowerShell virtual directory offers Kerberos, not NTLM: use kerberos (or basic over https once Basic is enabled on the virtual directory)", ps.Auth)
	default:
		add("exchange.powershell.auth", "%q is not one of kerberos, basic", ps.Auth)
	}
	if ps.IdleTimeout <= 0 || time.Duration(ps.IdleTimeout) >= 180*time.Second {
		add("exchange.powershell.idle_timeout", "is %s: give a duration below the server's idle timeout of 180 s, such as 2m, so exchops closes its sessions before the server drops them", time.Duration(ps.IdleTimeout))
	}
	if (ps.Auth == "kerberos" || w.Auth == "kerberos") && x.Kerberos.Realm == "" && len(x.Servers) > 0 {
		add("exchange.kerberos.realm", "is empty: give the Active Directory realm in upper case, e.g. MSGLAB.LOCAL")
	}
	if x.Kerberos.Realm != "" && x.Kerberos.Realm != strings.ToUpper(x.Kerberos.Realm) {
		add("exchange.kerberos.realm", "%q must be upper case, as Active Directory realms are: %s", x.Kerberos.Realm, strings.ToUpper(x.Kerberos.Realm))
	}
	if w.User == "" && len(x.Servers) > 0 {
		add("exchange.winrm.user", "is empty: give the service account, e.g. 'MSGLAB\\svc-exchops'")
	}
	if w.PasswordEnv == "" {
		add("exchange.winrm.password_env", "is empty: name the environment variable that holds the WinRM password")
	}
	p = append(p, c.envNameProblems()...)
	if w.Timeout <= 0 {
		add("exchange.winrm.timeout", "must be a positive duration such as 15m")
	}
	if x.SeedTimeout <= 0 {
		add("exchange.seed_timeout", "must be a positive duration such as 24h: how long seeding a database copy may run")
	}
	if w.MaxPerServer < 1 || w.MaxPerServer > 5 {
		add("exchange.winrm.max_per_server", "%d must be between 1 and 5 (a 2008 R2 server allows 5 shells per user)", w.MaxPerServer)
	}
	servers := map[string]bool{}
	for i, s := range x.Servers {
		key := fmt.Sprintf("exchange.servers[%d]", i)
		if s.Name == "" {
			add(key+".name", "is empty")
		}
		if servers[strings.ToUpper(s.Name)] {
			add(key+".name", "%s is listed twice", s.Name)
		}
		servers[strings.ToUpper(s.Name)] = true
		if s.Address == "" {
			add(key+".address", "is empty: give the server's DNS name")
		}
		for _, r := range s.Roles {
			switch r {
			case "mailbox", "client_access", "hub_transport", "dns":
			default:
				add(key+".roles", "%q is not a role (mailbox, client_access, hub_transport, dns)", r)
			}
		}
	}
	if len(x.Servers) > 0 {
		if x.ManagementServer == "" {
			add("exchange.management_server", "is empty: name the server where Exchange cmdlets run")
		} else if !servers[strings.ToUpper(x.ManagementServer)] {
			add("exchange.management_server", "%s is not in exchange.servers", x.ManagementServer)
		}
		if x.DNSServer != "" && !servers[strings.ToUpper(x.DNSServer)] {
			add("exchange.dns_server", "%s is not in exchange.servers", x.DNSServer)
		}
	}
	for i, s := range c.Schedules {
		key := fmt.Sprintf("schedules[%d]", i)
		if s.Name == "" {
			add(key+".name", "is empty")
		}
		if s.Cron == "" {
			add(key+".cron", "is empty: give a cron spec such as \"0 7 * * *\"")
		}
		if s.Job != "health" && s.Job != "drill" {
			add(key+".job", "%q is not health or drill", s.Job)
		}
		if s.Timezone != "" {
			if _, err := time.LoadLocation(s.Timezone); err != nil {
				add(key+".timezone", "%q is not a time zone (for example Europe/Berlin)", s.Timezone)
			}
		}
		if s.PostTo.Slack == "" && s.PostTo.Discord == "" {
			add(key+".post_to", "names no channel: give slack, discord or both")
		}
	}
	return p
}

// validateRules checks approvals.rules: what each names exists, and no command is
// named twice. Whether the people configured can satisfy each rule is the approvals
// policy's check (approvals.Policy.Check), which knows who may approve.
func (c *Config) validateRules() Problems {
	var p Problems
	people := map[string]bool{}
	for _, pe := range c.People {
		people[pe.Name] = true
	}
	add := func(key, format string, args ...any) {
		p = append(p, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	valid := commands.ApprovalNames()
	named := map[string]int{} // command or group -> the rule naming it
	for i, r := range c.Approvals.Rules {
		key := fmt.Sprintf("approvals.rules[%d]", i)
		if len(r.Commands) == 0 {
			add(key+".commands", `is empty: name the commands or groups the rule is for, e.g. [failover, "dns add"]`)
		}
		for _, name := range r.Commands {
			n := strings.ToLower(strings.Join(strings.Fields(name), " "))
			switch {
			case slices.Contains(valid, n):
				if j, ok := named[n]; ok && j != i {
					add(key+".commands", "%q is also named by approvals.rules[%d]: name each command or group in one rule only", name, j)
				} else if ok {
					add(key+".commands", "%q is listed twice", name)
				}
				named[n] = i
			case commands.Lookup(n) != nil:
				add(key+".commands", "%q is read-only: it needs no approval, so no rule applies to it", name)
			default:
				add(key+".commands", "%q is not a command or group of commands that needs approval; give one of: %s", name, strings.Join(valid, ", "))
			}
		}
		if r.Required < 0 {
			add(key+".required", "is %d: give how many approvals, at least 1 (or leave it out for approvals.required)", r.Required)
		}
		seen := map[string]bool{}
		for _, a := range r.Approvers {
			switch role, isRole := strings.CutPrefix(a, RolePrefix); {
			case seen[a]:
				add(key+".approvers", "%q is listed twice", a)
			case isRole && !isRoleName(role):
				add(key+".approvers", "%q: a role name is lower-case letters, digits and dashes, e.g. role:dag-owner", a)
			case !isRole && a == "":
				add(key+".approvers", "has an empty entry: give role:<role> or a person's name")
			case !isRole && !people[a]:
				add(key+".approvers", "%q is not a person in people: give a person's name, or role:<role> for everyone holding that role", a)
			}
			seen[a] = true
		}
	}
	return p
}

// isRoleName reports whether s can name a role: lower-case letters, digits and
// dashes, starting with a letter.
func isRoleName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}
