package runners

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// A CLIXML error stream as powershell.exe writes it to stderr when a script started with
// -EncodedCommand fails without catching the error (shape from Windows PowerShell 2.0+).
const clixmlSample = `#< CLIXML
<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T><T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first use.</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj><S S="Error">Get-MailboxDatabase : The specified mailbox database "MB09" does not exist._x000D__x000A_</S><S S="Error">At line:1 char:20_x000D__x000A_</S><S S="Error">+ Get-MailboxDatabase &lt;&lt;&lt;&lt;  MB09_x000D__x000A_</S><S S="Error">    + CategoryInfo          : ObjectNotFound: (MB09:DatabaseIdParameter) [], ManagementObjectNotFoundException_x000D__x000A_</S></Objs>`

func TestDecodeCLIXML(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain text unchanged", "oops\r\n", "oops\r\n"},
		{"empty", "", ""},
		{"sample", clixmlSample,
			"Get-MailboxDatabase : The specified mailbox database \"MB09\" does not exist.\r\n" +
				"At line:1 char:20\r\n" +
				"+ Get-MailboxDatabase <<<<  MB09\r\n" +
				"    + CategoryInfo          : ObjectNotFound: (MB09:DatabaseIdParameter) [], ManagementObjectNotFoundException\r\n"},
		{"text before the marker kept", "before\n#< CLIXML\r\n<Objs><S S=\"Error\">x_x000A_</S></Objs>", "before\nx\n"},
		{"warning and verbose streams", `#< CLIXML<Objs><S S="warning">careful</S><S S="verbose">detail</S><S S="Error">bad</S></Objs>`,
			"WARNING: careful\r\nVERBOSE: detail\r\nbad"},
		{"unknown escapes kept, underscore escape", `#< CLIXML<Objs><S S="Error">a_x005F_b _xZZZZ_ _x41</S></Objs>`, "a_b _xZZZZ_ _x41"},
		{"surrogate pair", `#< CLIXML<Objs><S S="Error">_xD83D__xDE00_</S></Objs>`, "\U0001F600"},
		{"8-digit escape", `#< CLIXML<Objs><S S="Error">_x0001F600_</S></Objs>`, "\U0001F600"},
		{"malformed document keeps what parsed", `#< CLIXML<Objs><S S="Error">first</S><S S="Error">second`, "firstsecond"},
		{"two documents", "#< CLIXML<Objs><S S=\"Error\">a</S></Objs>\r\n#< CLIXML<Objs><S S=\"Error\">b</S></Objs>", "ab"},
		{"nested strings are not shown", `#< CLIXML<Objs><Obj><MS><S N="x">hidden</S></MS></Obj></Objs>`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DecodeCLIXML(tt.in); got != tt.want {
				t.Errorf("DecodeCLIXML() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct{ name, stderr, want string }{
		{"catch block", "Database MB09 was not found.\r\n", "Database MB09 was not found."},
		{"empty", "\r\n \r\n", ""},
		{"uncaught PowerShell error", "Move-ActiveMailboxDatabase : An Active Manager operation failed. Error: The database action failed.\r\n" +
			"At line:3 char:27\r\n+ Move-ActiveMailboxDatabase <<<<  'MB01' -ActivateOnServer 'EX10-MB02'\r\n" +
			"    + CategoryInfo          : InvalidOperation: (MB01:DatabaseIdParameter) [Move-ActiveMailboxDatabase], AmDbActionWrapperException\r\n" +
			"    + FullyQualifiedErrorId : 5A1B2C3D,Microsoft.Exchange.Management.SystemConfigurationTasks.MoveActiveMailboxDatabase\r\n",
			"Move-ActiveMailboxDatabase : An Active Manager operation failed. Error: The database action failed."},
		{"wrapped message joined", "foo : The term 'foo' is not recognized as the name of a cmdlet, function, script file, or operable prog\r\nram.\r\nAt line:1 char:4\r\n",
			"foo : The term 'foo' is not recognized as the name of a cmdlet, function, script file, or operable prog ram."},
		{"script file position", "Boom\r\nAt C:\\scripts\\x.ps1:12 char:5\r\n+ throw 'Boom'\r\n", "Boom"},
		{"leading blank lines and detail lines skipped", "\r\n+ stray\r\nreal message\r\n\r\nlater paragraph\r\n", "real message"},
		{"clixml", clixmlSample, `Get-MailboxDatabase : The specified mailbox database "MB09" does not exist.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ErrorText(tt.stderr); got != tt.want {
				t.Errorf("ErrorText() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestErrorTextBounded(t *testing.T) {
	got := ErrorText(strings.Repeat("é", 2000))
	if len(got) > maxErrorText+3 || !utf8.ValidString(got) || !strings.HasSuffix(got, "...") {
		t.Fatalf("ErrorText of a long message: %d bytes, valid UTF-8 %v", len(got), utf8.ValidString(got))
	}
}

// encodeCLIXML writes text as one Error string of a CLIXML stream, escaping the way
// PowerShell does (control characters and "_x" as _xHHHH_).
func encodeCLIXML(text string) string {
	var b strings.Builder
	b.WriteString(`#< CLIXML` + "\r\n" + `<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><S S="Error">`)
	for i, r := range text {
		switch {
		case r == '_' && strings.HasPrefix(text[i:], "_x"):
			b.WriteString("_x005F_")
		case r < 0x20:
			b.WriteString("_x00")
			b.WriteByte("0123456789ABCDEF"[r>>4])
			b.WriteByte("0123456789ABCDEF"[r&15])
			b.WriteByte('_')
		case r == '<':
			b.WriteString("&lt;")
		case r == '&':
			b.WriteString("&amp;")
		case r == '>':
			b.WriteString("&gt;")
		default:
			b.WriteRune(r)
		}
	}
	b.WriteString(`</S></Objs>`)
	return b.String()
}

// FuzzDecodeCLIXML checks that DecodeCLIXML never panics, leaves text without the marker
// alone, and recovers any text PowerShell serialised as an error string.
func FuzzDecodeCLIXML(f *testing.F) {
	f.Add(clixmlSample)
	f.Add("plain\r\n")
	f.Add(`#< CLIXML<Objs><S S="Error">a_x000D__x000A_b</S><S S="warning">w</S></Objs>`)
	f.Add(`#< CLIXML<Objs><S S="Error">_xD83D_</S>`)
	f.Add("line one\r\nline_x two")
	f.Fuzz(func(t *testing.T, s string) {
		got := DecodeCLIXML(s)
		if !strings.Contains(s, clixmlMarker) && got != s {
			t.Fatalf("input without the marker changed: %q -> %q", s, got)
		}
		_ = ErrorText(s)
		// Round trip for text PowerShell could have written: valid UTF-8 without the XML
		// control characters that are illegal even when escaped by the encoder above.
		if !utf8.ValidString(s) || strings.ContainsRune(s, '\uFFFD') || strings.Contains(s, clixmlMarker) {
			return
		}
		for _, r := range s {
			if r == 0x7F || (r >= 0x80 && r < 0xA0) || r >= 0xFFFE || (r >= 0xD800 && r < 0xE000) {
				return
			}
		}
		if back := DecodeCLIXML(encodeCLIXML(s)); back != s {
			t.Fatalf("round trip of %q gave %q", s, back)
		}
	})
}
