package commands

import (
	"sort"
	"strings"
)

// Arg describes one argument of a command. Name is both the key in `key=value` and,
// for positional arguments, the name shown in usage; chat fronts use it as the option
// name (Discord application-command options), so it is lower case and stable.
type Arg struct {
	Name       string
	Positional bool // given by position (<name>) rather than as name=value
	Kind       Kind
	Required   bool
	Default    string   // used when the argument is absent; "" means no default
	Help       string   // one line for help text and option descriptions
	Choices    []string // KindEnum: the accepted values, in their canonical spelling
	Min, Max   int      // KindInt: the accepted range
	// Rest makes a last positional argument take every remaining positional word,
	// joined by single spaces (help's two-word command names).
	Rest bool
	// Placeholder replaces the kind's word in usage (zone=<zone> rather than <fqdn>).
	Placeholder string
}

// OptionType is the type a chat front should declare for the argument: "integer" for
// KindInt, "string" for everything else (choices are in Choices).
func (a *Arg) OptionType() string {
	if a.Kind == KindInt {
		return "integer"
	}
	return "string"
}

// Handler says who carries out a command.
type Handler int

const (
	// HandlerExchange commands plan steps that a runner executes: Exchange cmdlets
	// over the Exchange endpoint, Windows scripts over WinRS.
	HandlerExchange Handler = iota
	// HandlerBot commands (help, requests, history, cancel) are answered by the bot
	// and the approvals layer; their plans hold no scripts.
	HandlerBot
)

// Spec declares one command. Everything a chat front, the help text and the planner
// need is here; specs are built once by Catalog and never modified.
type Spec struct {
	Name     string // one to three lower-case words: "failover", "dag create", "dag maintenance start"
	Summary  string // one line
	Args     []Arg
	ReadOnly bool    // true: runs without approval
	Handler  Handler // who carries it out
	Target   string  // where it runs, for people: "the management server", "the host= server"
	Examples []string
	Notes    []string // extra help paragraphs: preflight checks, caveats
	// Cmdlets are the Exchange cmdlets the command calls on the Exchange endpoint (its
	// preflight, steps and wait, and what it runs while it runs): what the service
	// account must be granted for it (RBACScript).
	Cmdlets []string
	// Refers names the argument that holds the id of an earlier request whose record
	// planning needs (Command.Past); "" for commands that need none.
	Refers string
	// Session, when set, says the command opens or closes a span of time on one
	// server that exchops records (dag maintenance start and stop, and the status
	// that reads them): planning needs the latest request of Session.Start for the
	// same Session.By value (Invocation.Past), or every server's (Invocation.Sessions).
	Session *Session
	// Approvable marks a read-only command some of whose uses are changes that go
	// through approval (adding or removing a drill schedule): approval rules may
	// name it like a change.
	Approvable bool

	plan func(inv *Command, env Env) (*Plan, error)
}

// Session pairs the command that starts something on a server with the one that
// stops it (Start "dag maintenance start", Stop "dag maintenance stop"), and names
// the argument both have (By "server").
type Session struct {
	Start, Stop, By string
}

// Group is the first word of a command of two or three words ("dag" for "dag create"
// and "dag maintenance start"), or "" for a one-word command. Discord uses it as the
// subcommand group.
func (s *Spec) Group() string {
	if i := strings.IndexByte(s.Name, ' '); i >= 0 {
		return s.Name[:i]
	}
	return ""
}

// Subcommand is the name without its group, its words joined by '-' ("create" for
// "dag create", "maintenance-start" for "dag maintenance start", "failover" for
// "failover"): Discord nests subcommands only once below a group.
func (s *Spec) Subcommand() string {
	if g := s.Group(); g != "" {
		return strings.ReplaceAll(s.Name[len(g)+1:], " ", "-")
	}
	return s.Name
}

// Arg returns the argument called name, or nil.
func (s *Spec) Arg(name string) *Arg {
	for i := range s.Args {
		if s.Args[i].Name == name {
			return &s.Args[i]
		}
	}
	return nil
}

// Usage is the command's grammar line, as in DESIGN.md:
// "dag create <name> witness=<server> dir=<path> [ip=<ip>[,<ip>]]".
func (s *Spec) Usage() string {
	parts := []string{s.Name}
	for _, a := range s.Args {
		var p string
		if a.Positional {
			p = "<" + a.Name + ">"
		} else if a.Kind == KindEnum && len(a.Choices) > 0 && a.Required {
			p = a.Name + "=" + strings.Join(a.Choices, "|")
		} else if a.Kind == KindIPv4List {
			p = a.Name + "=<ip>[,<ip>]"
		} else {
			p = a.Name + "=<" + usageKind(a) + ">"
		}
		if !a.Required {
			p = "[" + p + "]"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}

// usageKind is the placeholder after key= in usage: the grammar's own words.
func usageKind(a Arg) string {
	if a.Placeholder != "" {
		return a.Placeholder
	}
	switch a.Kind {
	case KindServer:
		return "server"
	case KindIPv4:
		return "ip"
	case KindIPv4List:
		return "ip>[,<ip>"
	case KindNIC:
		return "nic"
	case KindLocalPath, KindPath:
		return "path"
	case KindDatabase:
		return "db"
	case KindInt:
		return "n"
	case KindEnum:
		return strings.Join(a.Choices, "|")
	}
	return string(a.Kind)
}

// Catalog returns every command, in the order help lists them. Each call builds fresh
// specs, so callers may not affect each other.
func Catalog() []*Spec {
	return catalog()
}

// Lookup returns the spec named name (case-insensitive, extra spaces ignored), or nil.
// A group and its subcommand as Discord names them ("dag maintenance-start") find the
// spec too.
func Lookup(name string) *Spec {
	name = strings.ToLower(strings.Join(strings.Fields(name), " "))
	for _, s := range catalog() {
		if s.Name == name || (s.Group() != "" && s.Group()+" "+s.Subcommand() == name) {
			return s
		}
	}
	return nil
}

// NeedsApproval reports whether the command, or some use of it, is a change that
// must be approved: what an approval rule (approvals.rules) may name.
func (s *Spec) NeedsApproval() bool { return !s.ReadOnly || s.Approvable }

// Covers reports whether an approval rule's entry (a command name such as
// "dag create", or a group or word prefix such as "dag") covers the command called
// name. Entries match whole words: "dag" covers "dag create", "da" covers nothing.
func Covers(entry, name string) bool {
	entry = strings.ToLower(strings.Join(strings.Fields(entry), " "))
	return entry != "" && (name == entry || strings.HasPrefix(name, entry+" "))
}

// ApprovalNames are what approval rules may name: every command that needs approval
// and every group (leading words) holding one, sorted.
func ApprovalNames() []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range catalog() {
		if !s.NeedsApproval() {
			continue
		}
		words := strings.Fields(s.Name)
		for i := 1; i <= len(words); i++ {
			if n := strings.Join(words[:i], " "); !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Groups returns the two-word commands' first words, sorted.
func Groups() []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range catalog() {
		if g := s.Group(); g != "" && !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	sort.Strings(out)
	return out
}

// isGroup reports whether name is the leading words of some command's name ("dag",
// "dag maintenance").
func isGroup(name string) bool {
	for _, s := range catalog() {
		if strings.HasPrefix(s.Name, name+" ") {
			return true
		}
	}
	return false
}
