package commands

import (
	"errors"
	"strings"
	"testing"
)

func TestKinds(t *testing.T) {
	tests := []struct {
		arg  Arg
		in   string
		want string // "" means refused
	}{
		{Arg{Kind: KindServer}, "ex10-mb01", "EX10-MB01"},
		{Arg{Kind: KindServer}, "EX10-CAHT02", "EX10-CAHT02"},
		{Arg{Kind: KindServer}, "ABCDEFGHIJKLMNO", "ABCDEFGHIJKLMNO"},
		{Arg{Kind: KindServer}, "ABCDEFGHIJKLMNOP", ""}, // 16
		{Arg{Kind: KindServer}, "12345", ""},
		{Arg{Kind: KindServer}, "-EX10", ""},
		{Arg{Kind: KindServer}, "EX10-", ""},
		{Arg{Kind: KindServer}, "EX_10", ""},
		{Arg{Kind: KindServer}, "ex10.msglab.local", ""},
		{Arg{Kind: KindServer}, "", ""},
		{Arg{Kind: KindDAG}, "e14-dag", "E14-DAG"},
		{Arg{Kind: KindDAG}, "E14-DAG-TOO-LONG", ""},
		{Arg{Kind: KindFQDN}, "Client.MSGLAB.local", "client.msglab.local"},
		{Arg{Kind: KindFQDN}, "client", ""},
		{Arg{Kind: KindFQDN}, "10.0.0.40", ""},
		{Arg{Kind: KindFQDN}, "a..b", ""},
		{Arg{Kind: KindFQDN}, "-a.b", ""},
		{Arg{Kind: KindFQDN}, strings.Repeat("a", 64) + ".local", ""},
		{Arg{Kind: KindFQDN}, strings.Repeat(strings.Repeat("a", 63)+".", 4) + "b", ""}, // 254
		{Arg{Kind: KindHostLabel}, "Client", "client"},
		{Arg{Kind: KindIPv4}, "10.0.0.40", "10.0.0.40"},
		{Arg{Kind: KindIPv4}, "10.0.0.040", ""},
		{Arg{Kind: KindIPv4}, "10.0.0.256", ""},
		{Arg{Kind: KindIPv4}, "10.0.0", ""},
		{Arg{Kind: KindIPv4}, "0.0.0.0", ""},
		{Arg{Kind: KindIPv4}, "255.255.255.255", ""},
		{Arg{Kind: KindIPv4}, "127.0.0.1", ""},
		{Arg{Kind: KindIPv4}, "224.0.0.5", ""},
		{Arg{Kind: KindIPv4}, " 10.0.0.40", ""},
		{Arg{Kind: KindIPv4List}, "10.0.0.50,10.0.1.50", "10.0.0.50,10.0.1.50"},
		{Arg{Kind: KindIPv4List}, "10.0.0.50,10.0.0.50", ""},
		{Arg{Kind: KindIPv4List}, "10.0.0.50,", ""},
		{Arg{Kind: KindMask}, "255.255.255.0", "255.255.255.0"},
		{Arg{Kind: KindMask}, "255.255.254.0", "255.255.254.0"},
		{Arg{Kind: KindMask}, "255.0.255.0", ""},
		{Arg{Kind: KindMask}, "0.0.0.0", ""},
		{Arg{Kind: KindNIC}, "Local Area Connection", "Local Area Connection"},
		{Arg{Kind: KindNIC}, "Team's NIC", "Team's NIC"},
		{Arg{Kind: KindNIC}, "LAN|2", ""},
		{Arg{Kind: KindNIC}, " LAN", ""},
		{Arg{Kind: KindNIC}, "LAN\t2", ""},
		{Arg{Kind: KindNIC}, strings.Repeat("n", 257), ""},
		{Arg{Kind: KindLocalPath}, `c:\FSW`, `C:\FSW`},
		{Arg{Kind: KindLocalPath}, `C:\FSW\`, `C:\FSW`},
		{Arg{Kind: KindLocalPath}, `C:\`, `C:\`},
		{Arg{Kind: KindLocalPath}, `C:\FS*`, ""},
		{Arg{Kind: KindLocalPath}, `C:\a\..\b`, ""},
		{Arg{Kind: KindLocalPath}, `C:/FSW`, ""},
		{Arg{Kind: KindLocalPath}, `FSW`, ""},
		{Arg{Kind: KindLocalPath}, `\\EX10-CAHT\FSW`, ""},
		{Arg{Kind: KindLocalPath}, `C:\` + strings.Repeat("a", 246), ""},
		{Arg{Kind: KindPath}, `\\EX10-CAHT\FSW\E14`, `\\EX10-CAHT\FSW\E14`},
		{Arg{Kind: KindPath}, `\\EX10-CAHT`, ""},
		{Arg{Kind: KindDatabase}, "MB01", "MB01"},
		{Arg{Kind: KindDatabase}, "Mailbox Database 0123456789", "Mailbox Database 0123456789"},
		{Arg{Kind: KindDatabase}, `MB01\EX10-MB01`, ""},
		{Arg{Kind: KindDatabase}, "MB'01", ""},
		{Arg{Kind: KindDatabase}, strings.Repeat("d", 65), ""},
		{Arg{Kind: KindName}, "CAS Array", "CAS Array"},
		{Arg{Kind: KindName}, "CAS Array ", ""},
		{Arg{Kind: KindName}, "CAS \u0410rray", ""},   // Cyrillic А among Latin letters
		{Arg{Kind: KindName}, "\u0421AS Array", ""},   // Cyrillic С first
		{Arg{Kind: KindName}, "Ελλάδα Array", ""},     // Greek and Latin
		{Arg{Kind: KindName}, "Массив CAS", ""},       // Cyrillic and Latin, each a word
		{Arg{Kind: KindName}, "Массив 2", "Массив 2"}, // one script; digits belong to all
		{Arg{Kind: KindName}, "Crème-Brûlée", "Crème-Brûlée"},
		{Arg{Kind: KindName}, "東京 Array", "東京 Array"}, // Han with Latin: one writing system (Japanese, Chinese)
		{Arg{Kind: KindName}, "東京アレイ", "東京アレイ"},       // Han and Katakana
		{Arg{Kind: KindName}, "서울 Array", "서울 Array"}, // Hangul with Latin
		{Arg{Kind: KindName}, "서울アレイ", ""},            // Hangul and Katakana: two writing systems
		{Arg{Kind: KindName}, "CAS\u200BArray", ""},   // zero-width space
		{Arg{Kind: KindDatabase}, "MB0\u03921", ""},   // Greek capital beta among Latin letters
		{Arg{Kind: KindDatabase}, "База 01", "База 01"},
		{Arg{Kind: KindText}, "  not during business hours ", "not during business hours"},
		{Arg{Kind: KindText}, "👩\u200D💻 on call says no", "👩\u200D💻 on call says no"}, // a joiner in an emoji sequence
		{Arg{Kind: KindText}, "درخواست\u200Cها", "درخواست\u200Cها"},                   // Persian needs the non-joiner
		{Arg{Kind: KindText}, "Массив and Array", "Массив and Array"},                 // free text may mix scripts
		{Arg{Kind: KindText}, "exe.\u202Etxt", ""},
		{Arg{Kind: KindText}, "a\u2069b", ""},
		{Arg{Kind: KindText}, "a\u00ADb", ""}, // soft hyphen
		{Arg{Kind: KindText}, "a\uFEFFb", ""}, // byte order mark
		{Arg{Kind: KindText}, strings.Repeat("é", 200), strings.Repeat("é", 200)},
		{Arg{Kind: KindText}, strings.Repeat("é", 201), ""},
		{Arg{Kind: KindSite}, "Default-First-Site-Name", "Default-First-Site-Name"},
		{Arg{Kind: KindSite}, "Site One", ""},
		{Arg{Kind: KindSMTP}, "Administrator@MSGLAB.local", "Administrator@msglab.local"},
		{Arg{Kind: KindSMTP}, "o'brien@msglab.local", "o'brien@msglab.local"},
		{Arg{Kind: KindSMTP}, "a..b@msglab.local", ""},
		{Arg{Kind: KindSMTP}, "@msglab.local", ""},
		{Arg{Kind: KindSMTP}, "a b@msglab.local", ""},
		{Arg{Kind: KindInt, Min: 1, Max: 16}, "2", "2"},
		{Arg{Kind: KindInt, Min: 1, Max: 16}, "16", "16"},
		{Arg{Kind: KindInt, Min: 1, Max: 16}, "17", ""},
		{Arg{Kind: KindInt, Min: 1, Max: 16}, "0", ""},
		{Arg{Kind: KindInt, Min: 1, Max: 16}, "02", ""},
		{Arg{Kind: KindInt, Min: 1, Max: 16}, "-1", ""},
		{Arg{Kind: KindEnum, Choices: []string{"unicast", "multicast"}}, "Multicast", "multicast"},
		{Arg{Kind: KindEnum, Choices: []string{"unicast", "multicast"}}, "broadcast", ""},
		{Arg{Kind: KindRequestID}, "r-42", "r-42"},
		{Arg{Kind: KindRequestID}, "r 42", ""},
		{Arg{Kind: KindCommand}, "DAG  Create", "dag create"},
		{Arg{Kind: KindCommand}, "dag", "dag"},
		{Arg{Kind: KindCommand}, "dag destroy", ""},
	}
	for _, tc := range tests {
		got, ok := tc.arg.normalize(tc.in)
		if tc.want == "" {
			if ok {
				t.Errorf("%s %q: accepted as %q, want refused", tc.arg.Kind, tc.in, got)
			}
			continue
		}
		if !ok || got != tc.want {
			t.Errorf("%s %q = %q, %v; want %q", tc.arg.Kind, tc.in, got, ok, tc.want)
		}
	}
}

// Every kind refuses control, bidirectional and invisible formatting characters,
// whatever else it allows.
func TestKindsRefuseControl(t *testing.T) {
	kinds := []Kind{KindServer, KindDAG, KindFQDN, KindHostLabel, KindIPv4, KindIPv4List, KindMask, KindNIC,
		KindPath, KindLocalPath, KindDatabase, KindName, KindSite, KindSMTP, KindRequestID, KindCommand, KindText}
	for _, k := range kinds {
		for _, bad := range []string{"EX10\x00", "EX10\n", "EX10\x1b", "EX10\u0085", "EX10\xff", "EX10\uFFFD",
			"EX10\u202E", "EX10\u202A", "EX10\u2066", "EX10\u2068", "EX10\u200E", "EX10\u061C", "EX10\u200B", "EX10\u2028", "EX10\U000E0041"} {
			a := Arg{Kind: k}
			if v, ok := a.normalize(bad); ok {
				t.Errorf("%s accepted %q as %q", k, bad, v)
			}
		}
	}
}

// A reason given another way than typed (the console's Deny box) gets the typed
// deny's rule and words.
func TestCheckReason(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"", "", ""},
		{"   ", "", ""},
		{" not during business hours ", "not during business hours", ""},
		{"see\u202Eexe.txt", "", `deny: reason="see\u202eexe.txt" contains U+202E (character 4), a bidirectional control character`},
		{"two\nlines", "", "contains U+000A (character 4), a line break (keep the value on one line)"},
		{"bell\a", "", "contains U+0007 (character 5), a control character"},
		{strings.Repeat("x", 300), "", "is 300 characters long: keep it to 200"},
	}
	for _, tc := range tests {
		got, err := CheckReason(tc.in)
		if tc.err == "" {
			if err != nil || got != tc.want {
				t.Errorf("CheckReason(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			continue
		}
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("CheckReason(%q) error %v, want a *UsageError containing %q", tc.in, err, tc.err)
			continue
		}
		// Typed, the same reason gets the same refusal.
		if !strings.Contains(tc.in, "\n") {
			if _, perr := Parse("deny r-1 " + tc.in); perr == nil || perr.Error() != err.Error() {
				t.Errorf("typed deny with %q: %v, want the same error as CheckReason: %v", tc.in, perr, err)
			}
		}
	}
}
