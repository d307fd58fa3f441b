package commands

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind is the type of an argument: it decides which values are accepted, how they are
// normalised (server names upper case, FQDNs lower case, ...) and how a chat front
// should present the option (Discord option type, choices).
type Kind string

// The argument kinds. The string is what help shows after the argument's name.
const (
	KindServer    Kind = "server"     // NetBIOS computer name: EX10-MB01
	KindDAG       Kind = "dag"        // DAG name, a computer name too: E14-DAG
	KindFQDN      Kind = "fqdn"       // client.msglab.local
	KindHostLabel Kind = "dns-name"   // a DNS record name relative to its zone: client
	KindIPv4      Kind = "ipv4"       // 10.0.0.40
	KindIPv4List  Kind = "ipv4-list"  // 10.0.0.50,10.0.0.51
	KindMask      Kind = "mask"       // 255.255.255.0
	KindNIC       Kind = "interface"  // 'Local Area Connection'
	KindPath      Kind = "path"       // C:\FSW or \\server\share\dir
	KindLocalPath Kind = "local-path" // C:\FSW only
	KindDatabase  Kind = "database"   // MB01
	KindName      Kind = "name"       // a display name such as 'CAS Array'
	KindSite      Kind = "site"       // Default-First-Site-Name
	KindSMTP      Kind = "smtp"       // user@msglab.local
	KindInt       Kind = "integer"    // within Arg.Min..Arg.Max
	KindEnum      Kind = "choice"     // one of Arg.Choices
	KindRequestID Kind = "request-id" // an approvals request id
	KindCommand   Kind = "command"    // a command or command group name (help)
	KindText      Kind = "text"       // free text for people (a denial's reason); never reaches PowerShell
)

// Limits from Windows, DNS and Exchange, named so help and errors quote the same numbers.
const (
	maxNetBIOS     = 15  // computer (and so DAG) names
	maxFQDN        = 253 // DNS name, without the trailing dot
	maxLabel       = 63  // one DNS label
	maxNIC         = 256 // network connection name
	maxPath        = 248 // MAX_PATH for a directory (260 minus room for an 8.3 file name)
	maxDatabase    = 64  // AD common name of a mailbox database
	maxDisplayName = 64  // AD common name (CAS array)
	maxSite        = 63  // AD site name, kept DNS-label sized
	maxSMTP        = 254 // RFC 5321 path limit
	maxSMTPLocal   = 64
	maxIPList      = 8 // DAG IP addresses: one per MAPI subnet; more is a typo
	maxRequestID   = 64
	maxText        = 200 // a denial's reason: one line in a card
)

// Rule is the sentence help and errors use to explain what a kind accepts.
func (k Kind) Rule() string {
	switch k {
	case KindServer:
		return "a server's NetBIOS name: 1-15 letters, digits or hyphens, not all digits, not starting or ending with a hyphen"
	case KindDAG:
		return "a DAG name, which is a computer name: at most 15 letters, digits or hyphens, not all digits, not starting or ending with a hyphen"
	case KindFQDN:
		return "a fully qualified domain name: at least two labels of 1-63 letters, digits or hyphens (not starting or ending with a hyphen), at most 253 characters, last label not numeric"
	case KindHostLabel:
		return "a DNS name relative to the zone: labels of 1-63 letters, digits or hyphens (not starting or ending with a hyphen)"
	case KindIPv4:
		return "an IPv4 address in dotted-quad form without leading zeros, not 0.0.0.0, 255.255.255.255, loopback (127.x) or multicast (224-239.x)"
	case KindIPv4List:
		return "1-8 IPv4 addresses separated by commas without spaces, no repeats; each in dotted-quad form without leading zeros, not 0.0.0.0, 255.255.255.255, loopback or multicast"
	case KindMask:
		return "a subnet mask in dotted-quad form with contiguous leading ones, not 0.0.0.0"
	case KindNIC:
		return `a network connection name: 1-256 printable characters, none of \ / : * ? " “ ” < > |, no leading or trailing spaces`
	case KindPath:
		return `an absolute Windows path (C:\FSW) or UNC path (\\server\share\dir): no wildcards, none of < > " “ ” | ? * or control characters, no . or .. parts, at most 248 characters`
	case KindLocalPath:
		return `an absolute local Windows path with a drive letter (C:\FSW): no wildcards, none of < > " “ ” | ? * or control characters, no . or .. parts, at most 248 characters`
	case KindDatabase:
		return "a mailbox database name: 1-64 letters (of one script), digits, spaces or - _ . ( ), no leading or trailing space"
	case KindName:
		return "a name of 1-64 letters (of one script), digits, spaces or - _ ., no leading or trailing space"
	case KindSite:
		return "an Active Directory site name: 1-63 letters, digits, hyphens or underscores, not starting or ending with a hyphen"
	case KindSMTP:
		return "an SMTP address local@domain: a local part of 1-64 letters, digits, dots (not leading, trailing or doubled) or !#$%&'*+-/=?^_`{|}~, and a domain that is a fully qualified domain name"
	case KindInt:
		return "a whole number"
	case KindEnum:
		return "one of the listed choices"
	case KindRequestID:
		return "a request id: 1-64 letters, digits, hyphens or underscores"
	case KindCommand:
		return "a command or command group name (see help)"
	case KindText:
		return "text of at most 200 characters, without control, bidirectional or other invisible formatting characters"
	}
	return "a value"
}

// rule is the sentence for one argument: the kind's rule refined by the argument's own
// range or choices.
func (a *Arg) rule() string {
	switch a.Kind {
	case KindInt:
		return fmt.Sprintf("a whole number from %d to %d", a.Min, a.Max)
	case KindEnum:
		return "one of " + strings.Join(a.Choices, ", ")
	}
	return a.Kind.Rule()
}

// check is normalize with the reason for a refusal: why is "" when raw is accepted,
// and otherwise a clause for UsageError.Rule that says what is wrong with it.
func (a *Arg) check(raw string) (norm, why string) {
	if why := a.refusal(raw); why != "" {
		return "", why
	}
	norm, ok := a.normalize(raw)
	if !ok {
		return "", "is not valid: it must be " + a.rule()
	}
	return norm, ""
}

// refusal returns why raw is refused when there is a more precise answer than the
// kind's rule: an invisible character (any kind), free text that is too long, a name
// that mixes scripts. "" means the kind's own rule decides.
func (a *Arg) refusal(raw string) string {
	// Never, for any kind: a character that is invisible or reorders what follows has
	// no place in a value a person reads on a card before approving it.
	if i, r, what := invisible(raw); what != "" {
		return fmt.Sprintf("contains %s (character %d), %s: type the value without it", uplus(r), utf8.RuneCountInString(raw[:i])+1, what)
	}
	switch a.Kind {
	case KindText:
		if n := utf8.RuneCountInString(strings.TrimSpace(raw)); n > maxText {
			return fmt.Sprintf("is %d characters long: keep it to %d", n, maxText)
		}
	case KindName, KindDatabase:
		if why := mixedScripts(raw); why != "" {
			return why
		}
	}
	return ""
}

// normalize checks raw against the argument's kind and returns the canonical value.
// ok is false when the value breaks the rule (Arg.refusal or Arg.rule says which).
func (a *Arg) normalize(raw string) (string, bool) {
	if a.refusal(raw) != "" {
		return "", false
	}
	switch a.Kind {
	case KindServer, KindDAG:
		if !isComputerName(raw) {
			return "", false
		}
		return strings.ToUpper(raw), true
	case KindFQDN:
		if !isFQDN(raw) {
			return "", false
		}
		return strings.ToLower(raw), true
	case KindHostLabel:
		if !isDNSName(raw, 1) {
			return "", false
		}
		return strings.ToLower(raw), true
	case KindIPv4:
		if !isHostIPv4(raw) {
			return "", false
		}
		return raw, true
	case KindIPv4List:
		return normalizeIPList(raw)
	case KindMask:
		if !isMask(raw) {
			return "", false
		}
		return raw, true
	case KindNIC:
		if !isNIC(raw) {
			return "", false
		}
		return raw, true
	case KindPath:
		return normalizePath(raw, true)
	case KindLocalPath:
		return normalizePath(raw, false)
	case KindDatabase:
		if !isCommonName(raw, maxDatabase, "-_.()") {
			return "", false
		}
		return raw, true
	case KindName:
		if !isCommonName(raw, maxDisplayName, "-_.") {
			return "", false
		}
		return raw, true
	case KindSite:
		if !isSite(raw) {
			return "", false
		}
		return raw, true
	case KindSMTP:
		return normalizeSMTP(raw)
	case KindInt:
		n, ok := parseDecimal(raw)
		if !ok || n < a.Min || n > a.Max {
			return "", false
		}
		return strconv.Itoa(n), true
	case KindEnum:
		for _, c := range a.Choices {
			if strings.EqualFold(c, raw) {
				return c, true
			}
		}
		return "", false
	case KindRequestID:
		if len(raw) == 0 || len(raw) > maxRequestID || !allASCII(raw, isAlnum, "-_") {
			return "", false
		}
		return raw, true
	case KindText:
		return strings.TrimSpace(raw), true // refusal has applied the rule
	case KindCommand:
		name := strings.ToLower(strings.Join(strings.Fields(raw), " "))
		if Lookup(name) == nil && !isGroup(name) {
			return "", false
		}
		return name, true
	}
	return "", false
}

// CheckReason applies the rule of the deny command's reason (what `deny <id> <reason>`
// checks when it is typed) to a reason that arrives another way, such as the console's
// Deny box, so that every front refuses the same reasons with the same words. It returns
// the reason as it is stored (trimmed), or a *UsageError.
func CheckReason(reason string) (string, error) {
	s := Lookup("deny")
	a := s.Arg("reason")
	if strings.TrimSpace(reason) == "" {
		return "", nil
	}
	norm, why := a.check(reason)
	if why != "" {
		return "", &UsageError{Command: s.Name, Arg: a.Name, Value: shown(reason), Rule: why, Usage: s.Usage()}
	}
	return norm, nil
}

// invisible finds the first character of s that a person cannot see, or that changes
// how the characters around it are shown: control characters (C0, C1, DEL), the
// bidirectional controls (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C: "Trojan
// Source", CVE-2021-42574, where U+202E shows text backwards), other format characters
// (zero-width space, soft hyphen, byte order mark, tags), the line and paragraph
// separators, and bytes that are not UTF-8 (reported as utf8.RuneError). It returns the
// byte offset, the character and what it is; what is "" when s has none. The zero-width
// non-joiner and joiner (U+200C, U+200D) are let through: Persian and Indic text and
// emoji sequences need them, and they change how letters join, not their order.
func invisible(s string) (at int, r rune, what string) {
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return i, r, "where the text has a byte that is not UTF-8 (it was garbled on the way)"
			}
			return i, r, "the replacement character, which stands for text that was lost on the way"
		case r == '\n' || r == '\r' || r == '\u0085':
			return i, r, "a line break (keep the value on one line)"
		case unicode.IsControl(r):
			return i, r, "a control character"
		case unicode.Is(unicode.Bidi_Control, r):
			return i, r, "a bidirectional control character, which can make the card show the text in another order than it has"
		case r == '\u200C' || r == '\u200D':
		case unicode.Is(unicode.Cf, r):
			return i, r, "an invisible formatting character"
		case unicode.In(r, unicode.Zl, unicode.Zp):
			return i, r, "a line or paragraph separator (keep the value on one line)"
		}
	}
	return 0, 0, ""
}

// uplus writes a character as U+XXXX, the way Unicode charts name it.
func uplus(r rune) string { return fmt.Sprintf("U+%04X", r) }

// oneWritingSystem lists the sets of scripts that one writing system mixes by itself:
// Japanese (Han, Hiragana, Katakana), Chinese with Bopomofo, Korean (Han, Hangul), each
// with Latin. They are the exceptions of the "Highly Restrictive" level of Unicode's
// UTS #39 (Unicode Security Mechanisms, section 5.2); every other mixture is refused.
var oneWritingSystem = [][]string{
	{"Latin", "Han", "Hiragana", "Katakana"},
	{"Latin", "Han", "Bopomofo"},
	{"Latin", "Han", "Hangul"},
}

// mixedScripts returns why s is refused when its letters come from more than one
// Unicode script (CAS Аrray with a Cyrillic А reads the same as CAS Array on a card,
// and is another name), or "". Characters of the Common and Inherited scripts (digits,
// spaces, punctuation, combining marks) belong to every script and are not counted.
func mixedScripts(s string) string {
	var seen []string
	for i, r := range s {
		sc := scriptOf(r)
		if sc == "" || slices.Contains(seen, sc) {
			continue
		}
		if len(seen) > 0 && !sameWritingSystem(append(slices.Clone(seen), sc)) {
			return fmt.Sprintf("mixes scripts: %s (character %d) is a %s letter among %s ones. Letters of two scripts can look alike (Cyrillic А, Latin A), so the card would show it like another name: type it with letters of one script",
				uplus(r), utf8.RuneCountInString(s[:i])+1, sc, strings.Join(seen, " and "))
		}
		seen = append(seen, sc)
	}
	return ""
}

func sameWritingSystem(scripts []string) bool {
	for _, set := range oneWritingSystem {
		all := true
		for _, sc := range scripts {
			all = all && slices.Contains(set, sc)
		}
		if all {
			return true
		}
	}
	return false
}

// scriptOf returns the name of r's Unicode script (Latin, Cyrillic, Greek, ...), or ""
// for the Common and Inherited scripts and for characters in no script.
func scriptOf(r rune) string {
	if r < 0x80 {
		if unicode.IsLetter(r) {
			return "Latin"
		}
		return ""
	}
	if unicode.In(r, unicode.Common, unicode.Inherited) {
		return ""
	}
	// The scripts a name most often uses first; then all of them.
	for _, name := range []string{"Latin", "Cyrillic", "Greek"} {
		if unicode.Is(unicode.Scripts[name], r) {
			return name
		}
	}
	for name, table := range unicode.Scripts {
		if unicode.Is(table, r) {
			return name // a character is in one script only, so the map's order does not matter
		}
	}
	return ""
}

func isAlnum(r byte) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

func isDigit(r byte) bool { return r >= '0' && r <= '9' }

// allASCII reports whether every byte of s is accepted by ok or listed in extra.
func allASCII(s string, ok func(byte) bool, extra string) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) && strings.IndexByte(extra, s[i]) < 0 {
			return false
		}
	}
	return true
}

// isLabel is the DNS hostname label rule (RFC 1123): letters, digits, inner hyphens.
func isLabel(s string) bool {
	return len(s) >= 1 && len(s) <= maxLabel && allASCII(s, isAlnum, "-") &&
		s[0] != '-' && s[len(s)-1] != '-'
}

// isComputerName is the NetBIOS rule Windows applies to computer names, and so to DAG
// names (a DAG is a cluster with a computer account). All digits is refused because
// Windows refuses numeric computer names.
func isComputerName(s string) bool {
	return isLabel(s) && len(s) <= maxNetBIOS && !allASCII(s, isDigit, "")
}

func isDNSName(s string, minLabels int) bool {
	if len(s) == 0 || len(s) > maxFQDN {
		return false
	}
	labels := strings.Split(s, ".")
	if len(labels) < minLabels {
		return false
	}
	for _, l := range labels {
		if !isLabel(l) {
			return false
		}
	}
	return true
}

// isFQDN wants two labels at least and a non-numeric last label, so that an IPv4
// address typed where a name belongs is refused instead of being taken as a name.
func isFQDN(s string) bool {
	if !isDNSName(s, 2) {
		return false
	}
	last := s[strings.LastIndexByte(s, '.')+1:]
	return !allASCII(last, isDigit, "")
}

// parseQuad parses a dotted quad strictly: four decimal parts 0-255 without leading
// zeros (which some Windows tools read as octal).
func parseQuad(s string) ([4]byte, bool) {
	var q [4]byte
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return q, false
	}
	for i, p := range parts {
		n, ok := parseDecimal(p)
		if !ok || n > 255 {
			return q, false
		}
		q[i] = byte(n)
	}
	return q, true
}

// parseDecimal accepts 1-4 decimal digits without a sign or leading zeros.
func parseDecimal(s string) (int, bool) {
	if len(s) == 0 || len(s) > 4 || !allASCII(s, isDigit, "") || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

func isHostIPv4(s string) bool {
	q, ok := parseQuad(s)
	if !ok {
		return false
	}
	switch {
	case q == [4]byte{0, 0, 0, 0}, q == [4]byte{255, 255, 255, 255}:
		return false
	case q[0] == 127: // loopback
		return false
	case q[0] >= 224 && q[0] <= 239: // multicast
		return false
	}
	return true
}

func normalizeIPList(s string) (string, bool) {
	parts := strings.Split(s, ",")
	if len(parts) > maxIPList {
		return "", false
	}
	seen := map[string]bool{}
	for _, p := range parts {
		if !isHostIPv4(p) || seen[p] {
			return "", false
		}
		seen[p] = true
	}
	return s, true
}

func isMask(s string) bool {
	q, ok := parseQuad(s)
	if !ok {
		return false
	}
	m := uint32(q[0])<<24 | uint32(q[1])<<16 | uint32(q[2])<<8 | uint32(q[3])
	// Contiguous ones: the inverted mask plus one is a power of two.
	return m != 0 && (^m+1)&^m == 0
}

func isNIC(s string) bool {
	if len(s) == 0 || utf8.RuneCountInString(s) > maxNIC || strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || strings.ContainsRune(`\/:*?"<>|“”`, r) {
			return false
		}
	}
	return true
}

// normalizePath accepts C:\dir\dir (drive letter upper-cased, a trailing backslash
// dropped except at the root) and, when unc is true, \\server\share\dir.
func normalizePath(s string, unc bool) (string, bool) {
	if len(s) > maxPath || strings.Contains(s, "/") {
		return "", false
	}
	var head, rest string
	switch {
	case len(s) >= 3 && s[1] == ':' && s[2] == '\\' && (s[0]|0x20) >= 'a' && (s[0]|0x20) <= 'z':
		head, rest = strings.ToUpper(s[:1])+`:`, s[3:]
		if strings.TrimSuffix(rest, `\`) == "" {
			return head + `\`, rest == "" || rest == `\`
		}
	case unc && strings.HasPrefix(s, `\\`):
		parts := strings.SplitN(s[2:], `\`, 3)
		if len(parts) < 2 || !(isComputerName(parts[0]) || isFQDN(parts[0])) || !isPathPart(parts[1]) {
			return "", false
		}
		head = `\\` + parts[0] + `\` + parts[1]
		if len(parts) == 2 {
			return head, true
		}
		rest = parts[2]
		if rest == "" {
			return head, true
		}
	default:
		return "", false
	}
	rest = strings.TrimSuffix(rest, `\`)
	for _, p := range strings.Split(rest, `\`) {
		if !isPathPart(p) {
			return "", false
		}
	}
	return head + `\` + rest, true
}

// isPathPart is one directory name: no characters Windows forbids in names, no
// wildcards, not . or .. (a path that climbs is never what a witness directory means),
// no trailing dot or space (Windows silently strips them, so the name would differ).
func isPathPart(p string) bool {
	if p == "" || p == "." || p == ".." || strings.HasSuffix(p, ".") || strings.HasSuffix(p, " ") {
		return false
	}
	for _, r := range p {
		if !unicode.IsPrint(r) || strings.ContainsRune(`<>:"|?*\“”`, r) {
			return false
		}
	}
	return true
}

// isCommonName is deliberately narrower than what Active Directory allows: it keeps
// the characters Exchange's identity syntax gives meaning to (\ for db\server, commas,
// quotes) out of names so an identity always means one object.
func isCommonName(s string, max int, extra string) bool {
	if len(s) == 0 || utf8.RuneCountInString(s) > max || strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == ' ' || strings.ContainsRune(extra, r)) {
			return false
		}
	}
	return true
}

func isSite(s string) bool {
	return len(s) >= 1 && len(s) <= maxSite && allASCII(s, isAlnum, "-_") &&
		s[0] != '-' && s[len(s)-1] != '-'
}

func normalizeSMTP(s string) (string, bool) {
	at := strings.LastIndexByte(s, '@')
	if at < 1 || len(s) > maxSMTP {
		return "", false
	}
	local, domain := s[:at], s[at+1:]
	if len(local) > maxSMTPLocal || local[0] == '.' || local[len(local)-1] == '.' ||
		strings.Contains(local, "..") || !allASCII(local, isAlnum, ".!#$%&'*+-/=?^_`{|}~") {
		return "", false
	}
	if !isFQDN(domain) {
		return "", false
	}
	return local + "@" + strings.ToLower(domain), true
}
