package commands

import (
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

// Every kind refuses control characters, whatever else it allows.
func TestKindsRefuseControl(t *testing.T) {
	kinds := []Kind{KindServer, KindDAG, KindFQDN, KindHostLabel, KindIPv4, KindIPv4List, KindMask, KindNIC,
		KindPath, KindLocalPath, KindDatabase, KindName, KindSite, KindSMTP, KindRequestID, KindCommand}
	for _, k := range kinds {
		for _, bad := range []string{"EX10\x00", "EX10\n", "EX10\x1b", "EX10\u0085", "EX10\xff"} {
			a := Arg{Kind: k}
			if v, ok := a.normalize(bad); ok {
				t.Errorf("%s accepted %q as %q", k, bad, v)
			}
		}
	}
}
