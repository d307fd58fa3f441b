package commands

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Command is a parsed, validated command: every value in Args is normalised
// (server names upper case, FQDNs lower case, ...) and has passed its kind's rule.
type Command struct {
	Spec *Spec
	// Args holds the arguments that were given or have a default, by Arg.Name.
	Args map[string]string
	// Text is the canonical command text: the spec's name, then the given arguments
	// in the spec's order, positional ones bare and the others as key=value, values
	// with spaces in double quotes. Parse(Text) gives the same invocation again, so
	// Text is what is stored and shown.
	Text string
	// Past is exchops' record of the earlier request that the Spec.Refers argument
	// names (casarray restore r-12). This package does no I/O: whoever plans such a
	// command (approvals, from its store) looks the request up and sets Past first;
	// planning without it is an error.
	Past *PastRequest
	// Sessions, for a command with a Spec.Session and no value for its By argument
	// (dag maintenance status), are the latest Session.Start request of every server,
	// as Past is for one: set by approvals from its store like Past.
	Sessions []PastRequest
}

// PastRequest is what exchops recorded about an earlier request, as a command that
// refers to it needs it for planning.
type PastRequest struct {
	ID     string // as normalised by the store ("r-12")
	Found  bool   // false: there is no such request
	Status string // its status: "pending", "succeeded", "failed", ...
	// Command is its canonical command text; Findings are the preflight findings its
	// approvers saw, with their records (Finding.Record).
	Command  string
	Findings []Finding
	// Referrers are the other requests whose Spec.Refers argument names this one (its
	// restores), oldest first, each with its status. For a Spec.Session start they are
	// the Session.Stop requests for the same server made after it.
	Referrers []Referrer
	// Requester is who asked for it; Started is when its run began (zero when it has
	// not run): what dag maintenance status tells.
	Requester string
	Started   time.Time
}

// Referrer is a request that refers to a PastRequest.
type Referrer struct {
	ID     string
	Status string
}

// Value returns the normalised value of the named argument, or "".
func (inv *Command) Value(name string) string { return inv.Args[name] }

// Has reports whether the named argument was given or has a default.
func (inv *Command) Has(name string) bool {
	_, ok := inv.Args[name]
	return ok
}

// UsageError is an error a person can fix by typing the command differently. Chat
// fronts render its fields; Error() is a complete sentence for plain text.
type UsageError struct {
	Command    string // the command's name; "" when the command itself is unknown
	Arg        string // the argument at fault; "" when the problem is not one argument
	Value      string // the offending value as typed, shortened to 64 characters for display
	Rule       string // what went wrong, as a clause: "is required", "must be ..."
	Usage      string // the command's usage line; "" for unknown commands
	Suggestion string // unknown command: the closest command name, if any is close
}

func (e *UsageError) Error() string {
	var b strings.Builder
	if e.Command == "" {
		fmt.Fprintf(&b, "unknown command %q", e.Value)
		if e.Suggestion != "" {
			fmt.Fprintf(&b, ": did you mean %q?", e.Suggestion)
		}
		if e.Rule != "" {
			b.WriteString(" " + e.Rule)
		}
		b.WriteString(` Type "help" for the list of commands.`)
		return b.String()
	}
	b.WriteString(e.Command + ": ")
	switch {
	case e.Arg != "" && e.Value != "":
		fmt.Fprintf(&b, "%s=%q %s", e.Arg, e.Value, e.Rule)
	case e.Arg != "":
		fmt.Fprintf(&b, "%s %s", e.Arg, e.Rule)
	case e.Value != "":
		fmt.Fprintf(&b, "%q %s", e.Value, e.Rule)
	default:
		b.WriteString(e.Rule)
	}
	if e.Usage != "" {
		b.WriteString("\nusage: " + e.Usage)
	}
	return b.String()
}

// maxShown bounds how much of a bad value an error repeats back into chat.
const maxShown = 64

func shown(v string) string {
	if utf8.RuneCountInString(v) <= maxShown {
		return v
	}
	r := []rune(v)
	return string(r[:maxShown]) + "…"
}

// maxInput bounds the command text: no real command comes near it, and the bound keeps
// a pasted novel from costing anything.
const maxInput = 16 << 10

// token is one word of the command text.
type token struct {
	key    string // before the first unquoted '=' ("" when none)
	hasKey bool
	value  string
	quoted bool // some part was in double quotes: never a command word or a key
}

// isDoubleQuote accepts the ASCII quote and the typographic ones that phones and
// macOS substitute while people type in chat.
func isDoubleQuote(r rune) bool { return r == '"' || r == '\u201C' || r == '\u201D' }

// tokenize splits text into words at unquoted white space. Double quotes group; there
// are no escapes (Windows paths are full of backslashes).
func tokenize(text string) ([]token, *UsageError) {
	var toks []token
	var cur strings.Builder
	var t token
	started, inQuote := false, false
	flush := func() {
		if started {
			t.value = cur.String()
			toks = append(toks, t)
		}
		cur.Reset()
		t = token{}
		started = false
	}
	for _, r := range text {
		switch {
		case isDoubleQuote(r):
			inQuote = !inQuote
			started, t.quoted = true, true
		case inQuote:
			cur.WriteRune(r)
		case unicode.IsSpace(r):
			flush()
		case r == '=' && !t.hasKey && !t.quoted:
			t.key, t.hasKey = cur.String(), true
			cur.Reset()
			started = true
		default:
			cur.WriteRune(r)
			started = true
		}
	}
	if inQuote {
		return nil, &UsageError{Value: shown(t.key + cur.String()), Rule: "has a double quote that is never closed"}
	}
	flush()
	return toks, nil
}

// Parse reads one command as typed in chat (a leading "/exchange" is ignored) and
// validates every argument. Empty text means help. Errors are *UsageError.
func Parse(text string) (*Command, error) {
	if len(text) > maxInput {
		return nil, &UsageError{Value: shown(text), Rule: fmt.Sprintf("is longer than %d bytes.", maxInput)}
	}
	text = strings.TrimLeftFunc(text, unicode.IsSpace)
	if len(text) >= 9 && strings.EqualFold(text[:9], "/exchange") &&
		(len(text) == 9 || unicode.IsSpace(rune(text[9]))) {
		text = text[9:]
	}
	toks, uerr := tokenize(text)
	if uerr != nil {
		return nil, uerr
	}
	specs := catalog()
	if len(toks) == 0 {
		return bind(find(specs, "help"), nil)
	}
	word := func(i int) string {
		if i < len(toks) && !toks[i].hasKey && !toks[i].quoted {
			return strings.ToLower(toks[i].value)
		}
		return ""
	}
	if w0, w1 := word(0), word(1); w0 != "" {
		if w2 := word(2); w1 != "" && w2 != "" {
			if s := find(specs, w0+" "+w1+" "+w2); s != nil {
				return bind(s, toks[3:])
			}
		}
		if w1 != "" {
			if s := find(specs, w0+" "+w1); s != nil {
				return bind(s, toks[2:])
			}
		}
		if s := find(specs, w0); s != nil {
			return bind(s, toks[1:])
		}
	}
	return nil, unknownCommand(specs, toks, word(0), word(1))
}

func find(specs []*Spec, name string) *Spec {
	for _, s := range specs {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func unknownCommand(specs []*Spec, toks []token, w0, w1 string) *UsageError {
	typed := toks[0].value
	if w0 != "" && w1 != "" {
		typed = w0 + " " + w1
	}
	e := &UsageError{Value: shown(typed)}
	var group, pair []string
	for _, s := range specs {
		if s.Group() == w0 && w0 != "" {
			group = append(group, s.Name)
		}
		if w1 != "" && strings.HasPrefix(s.Name, w0+" "+w1+" ") {
			pair = append(pair, s.Name)
		}
	}
	if len(group) > 0 && w1 == "" {
		e.Rule = fmt.Sprintf("%q needs a subcommand: %s.", w0, strings.Join(group, ", "))
		return e
	}
	if len(pair) > 0 {
		e.Rule = fmt.Sprintf("%q needs a subcommand: %s.", w0+" "+w1, strings.Join(pair, ", "))
		return e
	}
	best, bestDist := "", 1<<30
	for _, s := range specs {
		d := distance(strings.ToLower(typed), s.Name)
		if w0 != "" {
			d = min(d, distance(w0, s.Name))
		}
		if d < bestDist {
			best, bestDist = s.Name, d
		}
	}
	// Suggest only what is plausibly a typo: a third of the name may be wrong.
	if bestDist <= max(2, utf8.RuneCountInString(best)/3) {
		e.Suggestion = best
	}
	return e
}

// distance is the Levenshtein edit distance, on runes.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 {
		ra = ra[:64] // suggestions for long garbage are pointless and should stay cheap
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// bind assigns tokens to the spec's arguments, checks each value and builds the
// canonical text.
func bind(s *Spec, toks []token) (*Command, error) {
	fail := func(arg, value, rule string) error {
		return &UsageError{Command: s.Name, Arg: arg, Value: shown(value), Rule: rule, Usage: s.Usage()}
	}
	raw := map[string]string{}
	var positional []*Arg
	for i := range s.Args {
		if s.Args[i].Positional {
			positional = append(positional, &s.Args[i])
		}
	}
	next := 0
	for _, t := range toks {
		if t.hasKey {
			key := strings.ToLower(t.key)
			a := s.Arg(key)
			if a == nil {
				return nil, fail("", t.key+"="+t.value, "is not an argument of this command; "+keysOf(s))
			}
			if _, dup := raw[key]; dup {
				return nil, fail(key, t.value, "is given twice")
			}
			raw[key] = t.value
			continue
		}
		for next < len(positional) && raw[positional[next].Name] != "" && !positional[next].Rest {
			next++ // already given as name=value
		}
		if next >= len(positional) {
			return nil, fail("", t.value, "is one value too many: this command takes "+countPositional(positional))
		}
		a := positional[next]
		if a.Rest && raw[a.Name] != "" {
			raw[a.Name] += " " + t.value
			continue
		}
		raw[a.Name] = t.value
		if !a.Rest {
			next++
		}
	}
	return build(s, raw)
}

// build checks the values of s's arguments (raw, by name) against their kinds and
// returns the invocation with its canonical text.
func build(s *Spec, raw map[string]string) (*Command, error) {
	fail := func(arg, value, rule string) error {
		return &UsageError{Command: s.Name, Arg: arg, Value: shown(value), Rule: rule, Usage: s.Usage()}
	}
	inv := &Command{Spec: s, Args: map[string]string{}}
	var text []string
	text = append(text, s.Name)
	for i := range s.Args {
		a := &s.Args[i]
		v, given := raw[a.Name]
		if !given {
			if a.Required {
				return nil, fail(a.Name, "", "is required: "+a.rule())
			}
			if a.Default != "" {
				inv.Args[a.Name] = a.Default
			}
			continue
		}
		if v == "" {
			return nil, fail(a.Name, "", "is empty: it must be "+a.rule())
		}
		norm, why := a.check(v)
		if why != "" {
			return nil, fail(a.Name, v, why)
		}
		inv.Args[a.Name] = norm
		if a.Positional {
			text = append(text, chatQuote(norm))
		} else {
			text = append(text, a.Name+"="+chatQuote(norm))
		}
	}
	inv.Text = strings.Join(text, " ")
	return inv, nil
}

// chatQuote puts a value in double quotes when the tokenizer would otherwise split it
// or read it as key=value. Normalised values never contain a double quote (every kind
// that allows punctuation forbids it), so no escaping is needed.
func chatQuote(v string) string {
	if strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || r == '=' }) >= 0 {
		return `"` + v + `"`
	}
	return v
}

func keysOf(s *Spec) string {
	var keys []string
	for _, a := range s.Args {
		if !a.Positional {
			keys = append(keys, a.Name)
		}
	}
	if len(keys) == 0 {
		return "it takes no key=value arguments"
	}
	sort.Strings(keys)
	return "its keys are " + strings.Join(keys, ", ")
}

func countPositional(p []*Arg) string {
	switch len(p) {
	case 0:
		return "no positional values"
	case 1:
		return "one positional value (<" + p[0].Name + ">)"
	}
	names := make([]string, len(p))
	for i, a := range p {
		names[i] = "<" + a.Name + ">"
	}
	return fmt.Sprintf("%d positional values (%s)", len(p), strings.Join(names, " "))
}
