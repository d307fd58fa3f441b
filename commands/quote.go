package commands

import (
	"strings"
	"unicode/utf8"
)

// isSingleQuote reports whether PowerShell's tokenizer treats r as a single quote.
// PowerShell accepts the ASCII apostrophe and the four Unicode single quotation marks
// U+2018..U+201B as interchangeable string delimiters, so all five must be escaped.
func isSingleQuote(r rune) bool {
	return r == '\'' || (r >= '\u2018' && r <= '\u201B')
}

// Quote returns s as a PowerShell single-quoted string literal. Inside single quotes
// PowerShell expands nothing ($, backtick and double quotes are inert); the only
// special characters are the five single quotes, and a doubled one stands for itself.
// Quote never fails: refusing control characters is the job of the argument kinds,
// which run before any value reaches a script.
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); {
		// Decode by hand and copy the original bytes, so even invalid UTF-8 comes
		// through unchanged rather than as U+FFFD.
		r, size := utf8.DecodeRuneInString(s[i:])
		if isSingleQuote(r) {
			b.WriteString(s[i : i+size])
		}
		b.WriteString(s[i : i+size])
		i += size
	}
	b.WriteByte('\'')
	return b.String()
}
