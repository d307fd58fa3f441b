package commands

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// psLiterals is a deliberately small tokenizer, written apart from Quote, for the one
// PowerShell rule that matters here: a single-quoted string opens with any of ' ‘ ’ ‚ ‛,
// a pair of them stands for the second one, and a lone one closes the string. It
// returns the decoded literals, the script with each literal replaced by '?', and
// whether the script ends outside a string. The generated scripts contain no
// double-quoted strings or comments, so nothing else can open a string.
func psLiterals(script string) (lits []string, skeleton string, closed bool) {
	var sk, lit strings.Builder
	in := false
	for i := 0; i < len(script); {
		r, n := utf8.DecodeRuneInString(script[i:])
		switch {
		case !in && isSingleQuote(r):
			in = true
			lit.Reset()
		case !in:
			sk.WriteString(script[i : i+n])
		case isSingleQuote(r):
			r2, n2 := utf8.DecodeRuneInString(script[i+n:])
			if i+n < len(script) && isSingleQuote(r2) {
				lit.WriteString(script[i+n : i+n+n2])
				i += n + n2
				continue
			}
			in = false
			lits = append(lits, lit.String())
			sk.WriteString("'?'")
		default:
			lit.WriteString(script[i : i+n])
		}
		i += n
	}
	return lits, sk.String(), !in
}

func unquote(t testing.TB, q string) string {
	t.Helper()
	lits, sk, closed := psLiterals(q)
	if !closed || len(lits) != 1 || sk != "'?'" {
		t.Fatalf("Quote produced %q: %d literals, skeleton %q, closed %v", q, len(lits), sk, closed)
	}
	return lits[0]
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "''"},
		{"EX10-MB01", "'EX10-MB01'"},
		{"Local Area Connection", "'Local Area Connection'"},
		{"it's", "'it''s'"},
		{"‘a’ ‚b‛", "'‘‘a’’ ‚‚b‛‛'"},
		{"$(calc) `n \"x\"", "'$(calc) `n \"x\"'"},
		{"''", "''''''"},
	}
	for _, tc := range tests {
		if got := Quote(tc.in); got != tc.want {
			t.Errorf("Quote(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := unquote(t, Quote(tc.in)); got != tc.in {
			t.Errorf("unquote(Quote(%q)) = %q", tc.in, got)
		}
	}
}

func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "a", "'", "‘’‚‛", "''''", "x'; Remove-Item C:\\ -Recurse #", "\x00", "\xff\xfe'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := unquote(t, Quote(s)); got != s {
			t.Fatalf("round trip of %q gave %q", s, got)
		}
	})
}

// injections are values people (or a compromised chat account) might try. Each must
// be refused by validation or, where a kind accepts it, reach PowerShell as data.
var injections = []string{
	`'; Remove-Item C:\ -Recurse #`,
	`x' -Confirm:$false; 'y`,
	`$(calc)`,
	"`calc`",
	"a`nb",
	"a\nb",
	"a\r\nRemove-Item C:\\",
	"‘; calc; ‘",
	"’ + (calc) + ’",
	"‚‛",
	"a\x00b",
	strings.Repeat("A", 10<<10),
	`" ; whoami`,
	`-Confirm:$false`,
	`EX10-MB01 -Confirm:$false`,
	`C:\FSW'; calc; '`,
	`C:\FSW ‘$(calc)’`,
	`o'brien$(calc)@msglab.local`,
	`\\EX10-CAHT\share'; calc #`,
	"Local Area Connection\u2028",
}

// TestInjection substitutes every injection into every argument of every example and
// checks that validation refuses it or that the plan's code is unchanged: the scripts,
// with their single-quoted literals blanked, are identical to the benign plan's, and the
// value appears whole inside a literal.
func TestInjection(t *testing.T) {
	accepted := 0
	for _, s := range Catalog() {
		if s.Handler == HandlerBot {
			continue
		}
		for _, ex := range s.Examples {
			base, err := Parse(ex)
			if err != nil {
				t.Fatal(err)
			}
			basePlan, err := withPast(base).Plan(walkEnv)
			if err != nil {
				t.Fatal(err)
			}
			for name := range base.Args {
				for _, inj := range injections {
					var toks []token
					for k, v := range base.Args {
						if k == name {
							v = inj
						}
						toks = append(toks, token{key: k, hasKey: true, value: v})
					}
					inv, err := bind(s, toks)
					if err != nil {
						if _, ok := err.(*UsageError); !ok {
							t.Errorf("%s %s=%q: error %T is not a *UsageError", s.Name, name, inj, err)
						}
						continue
					}
					p, err := withPast(inv).Plan(walkEnv)
					if err != nil {
						continue // refused by configuration (an unknown server): also fine
					}
					accepted++
					checkSameCode(t, basePlan, p, inv.Value(name))
				}
			}
		}
	}
	if accepted == 0 {
		t.Fatal("no injection was accepted by any kind: the neutralisation half of the test ran on nothing")
	}
}

func planSteps(p *Plan) []Step {
	out := append([]Step{}, p.Preflight...)
	for _, s := range p.Steps {
		out = append(out, s)
		if s.Then != nil {
			out = append(out, s.Then.Step)
		}
	}
	if p.Wait != nil {
		out = append(out, p.Wait.Step)
	}
	return out
}

// planScripts are the WinRS scripts of a plan (its steps without Calls).
func planScripts(p *Plan) []string {
	var out []string
	for _, s := range planSteps(p) {
		if !s.Exchange() {
			out = append(out, s.Script)
		}
	}
	return out
}

// callSkeleton is an Exchange step with every value taken out: what must not change
// whatever a person types.
func callSkeleton(calls []Call) (skeleton string, values []string) {
	var b strings.Builder
	for _, c := range calls {
		for _, cmd := range c.Pipeline {
			b.WriteString(cmd.Name)
			for _, p := range cmd.Params {
				fmt.Fprintf(&b, " -%s:%s(%d)", p.Name, p.Type, len(p.Values))
				values = append(values, p.Value)
				values = append(values, p.Values...)
			}
			b.WriteString(" | ")
		}
		fmt.Fprintf(&b, "-> %s %v", c.Section, c.Columns)
		for _, m := range []*Match{c.Where, c.When} {
			if m != nil {
				fmt.Fprintf(&b, " [%s.%s %v]", m.Section, m.Column, m.NotEmpty)
				values = append(values, m.Value)
			}
		}
		b.WriteString("\n")
	}
	return b.String(), values
}

func checkSameCode(t *testing.T, base, p *Plan, value string) {
	t.Helper()
	a, b := planSteps(base), planSteps(p)
	if len(a) != len(b) {
		t.Fatalf("%s: %d steps, benign plan has %d", p.Command, len(b), len(a))
	}
	found := false
	for i := range a {
		if a[i].Exchange() != b[i].Exchange() {
			t.Fatalf("%s: step %d changed kind with value %q", p.Command, i, value)
		}
		if a[i].Exchange() {
			skA, _ := callSkeleton(a[i].Calls)
			skB, vals := callSkeleton(b[i].Calls)
			if skA != skB {
				t.Errorf("%s: step %d's calls changed with value %q:\n%s\n---\n%s", p.Command, i, value, skA, skB)
			}
			if b[i].Script != RenderCalls(b[i].Calls) {
				t.Errorf("%s: step %d's text is not its calls' rendering", p.Command, i)
			}
			for _, v := range vals {
				found = found || strings.Contains(v, value)
			}
			continue
		}
		_, skA, closedA := psLiterals(a[i].Script)
		litsB, skB, closedB := psLiterals(b[i].Script)
		if !closedA || !closedB {
			t.Fatalf("%s: script %d ends inside a string", p.Command, i)
		}
		if skA != skB {
			t.Errorf("%s: script %d's code changed with value %q:\n%s\n---\n%s", p.Command, i, value, skA, skB)
		}
		for _, l := range litsB {
			found = found || strings.Contains(l, value)
		}
	}
	if !found {
		t.Errorf("%s: value %q is in no literal", p.Command, value)
	}
}

// TestScriptsUseOnlyPS2 guards against PowerShell 3.0+ syntax, and constructs outside
// the lab interpreter's subset (New-Object, for, function), in any generated script.
func TestScriptsUseOnlyPS2(t *testing.T) {
	forbidden := []string{"ConvertTo-Json", "[ordered]", "$PSItem", " -in ", " -notin ", "[pscustomobject]", "New-Object", "Where-Object -", "ForEach-Object -MemberName", "$using:", "for (", "function "}
	for _, s := range Catalog() {
		for _, ex := range s.Examples {
			inv, _ := Parse(ex)
			p, err := withPast(inv).Plan(walkEnv)
			if err != nil {
				t.Fatal(err)
			}
			for _, sc := range planScripts(p) {
				_, sk, _ := psLiterals(sc)
				for _, f := range forbidden {
					if strings.Contains(sk, f) {
						t.Errorf("%s: script uses %q", ex, f)
					}
				}
				if !strings.HasPrefix(sc, "$ErrorActionPreference = 'Stop'\ntry {\n") ||
					!strings.HasSuffix(sc, "} catch {\n    [Console]::Error.WriteLine($_.Exception.Message)\n    exit 1\n}\n") {
					t.Errorf("%s: script does not have the docs/POWERSHELL.md shape:\n%s", ex, sc)
				}
			}
		}
	}
}
