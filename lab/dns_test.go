package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/exchops/exchops/internal/clock"
)

// TestDnscmdTranscript runs the walkthrough's step 1 and its mistakes in order on DC01
// and compares everything dnscmd printed, with exit codes, against a golden file.
func TestDnscmdTranscript(t *testing.T) {
	o, _ := newCASTestOrg(t)
	dc := mustServer(t, o, "DC01")
	steps := []struct {
		args string
		code int
	}{
		{"DC01 /enumrecords msglab.local client", 9714},
		{"DC01 /recordadd msglab.local client A 10.0.0.40", 0},
		{"DC01 /recordadd msglab.local client A 10.0.0.40", 9711},
		{"DC01 /recordadd msglab.local CLIENT.msglab.local. A 10.0.0.40", 9711},
		{"DC01 /enumrecords msglab.local client", 0},
		{"dc01.msglab.local /RecordAdd msglab.local client 600 A 10.0.0.41", 0},
		{"DC01 /enumrecords msglab.local client.msglab.local", 0},
		{". /enumrecords msglab.local @ /node", 0},
		{"DC01 /enumrecords msglab.local @", 0},
		{"DC01 /recorddelete msglab.local client A 10.0.0.41", 0},
		{"DC01 /recorddelete msglab.local client A 10.0.0.41 /f", 0},
		{"DC01 /recorddelete msglab.local client A 10.0.0.41 /f", 9701},
		{"DC01 /recordadd contoso.com client A 10.0.0.40", 9601},
		{"DC01 /recordadd msglab.local client.contoso.com. A 10.0.0.40", 9010},
		{"DC01 /recordadd msglab.local bad!name A 10.0.0.40", 9560},
		{"DC01 /recordadd msglab.local other A 10.0.0.400", 87},
		{"DC01 /recordadd msglab.local other", 87},
		{"DC01 /recordadd msglab.local other CNAME client.msglab.local.", 50},
		{"EX10-CAHT /enumrecords msglab.local client", 1722},
		{"DC01 /frobnicate", 1},
		{"DC01", 1},
		{"DC01 /recordadd /?", 0},
		{"DC01 /zoneprint msglab.local", 0},
	}
	var b strings.Builder
	for _, s := range steps {
		out, code := o.runDnscmd(dc, strings.Fields(s.args))
		if code != s.code {
			t.Errorf("dnscmd %s: exit code %d, want %d\n%s", s.args, code, s.code, out)
		}
		fmt.Fprintf(&b, "> dnscmd %s\n%s[exit %d]\n\n", s.args, strings.ReplaceAll(out, "\r\n", "\n"), code)
	}
	checkGolden(t, "dnscmd_transcript", b.String())

	want := []DNSRecord{{Name: "client", Type: "A", Data: "10.0.0.40", TTL: 3600}}
	var got []DNSRecord
	for _, r := range o.DNSRecords("MSGLAB.LOCAL.") {
		if r.Name == "client" {
			got = append(got, r)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("client records = %v, want %v", got, want)
	}
}

func TestDnsRelativeName(t *testing.T) {
	tests := []struct {
		name, want string
		status     *dnsStatus
	}{
		{"client", "client", nil},
		{"Client", "client", nil},
		{"client.msglab.local", "client", nil},
		{"client.msglab.local.", "client", nil},
		{"a.b", "a.b", nil},
		{"@", "@", nil},
		{"msglab.local", "@", nil},
		{"MSGLAB.LOCAL.", "@", nil},
		{"client.contoso.com.", "", &dnsNotZone},
		{"bad name", "", &dnsInvalidNameChar},
		{"a..b", "", &dnsInvalidNameChar},
		{strings.Repeat("x", 64), "", &dnsInvalidNameChar},
	}
	for _, tt := range tests {
		got, st := dnsRelativeName("msglab.local", tt.name)
		if got != tt.want || (st == nil) != (tt.status == nil) || st != nil && *st != *tt.status {
			t.Errorf("dnsRelativeName(%q) = %q, %v; want %q, %v", tt.name, got, st, tt.want, tt.status)
		}
	}
}

func TestParseDnscmd(t *testing.T) {
	tests := []struct {
		args string
		want dnsOp
		code int // usage error's exit code, -1 for none
	}{
		{"DC01 /recordadd msglab.local client A 10.0.0.40", dnsOp{Server: "DC01", Cmd: "recordadd", Zone: "msglab.local", Node: "client", Type: "A", Data: "10.0.0.40"}, -1},
		{"/RECORDADD msglab.local client /Aging /OpenAcl 600 a 10.0.0.40", dnsOp{Cmd: "recordadd", Zone: "msglab.local", Node: "client", Type: "A", Data: "10.0.0.40", TTL: 600}, -1},
		{"DC01 /recorddelete msglab.local client A 10.0.0.40 /F", dnsOp{Server: "DC01", Cmd: "recorddelete", Zone: "msglab.local", Node: "client", Type: "A", Data: "10.0.0.40", Force: true}, -1},
		{"DC01 /recorddelete msglab.local client A /f", dnsOp{Server: "DC01", Cmd: "recorddelete", Zone: "msglab.local", Node: "client", Type: "A", Force: true}, -1},
		{"DC01 /enumrecords msglab.local @ /type A 10.0.0.5 /child", dnsOp{Server: "DC01", Cmd: "enumrecords", Zone: "msglab.local", Node: "@", Type: "A", Data: "10.0.0.5", Filter: "child"}, -1},
		{"DC01 -?", dnsOp{Server: "DC01", Cmd: "help"}, -1},
		{"DC01 /recordadd msglab.local client /bogus A 10.0.0.40", dnsOp{}, 87},
		{"DC01 /recordadd msglab.local client -5 A 10.0.0.40", dnsOp{}, 87},
		{"DC01 /recorddelete msglab.local", dnsOp{}, 87},
		{"DC01 /enumrecords msglab.local client /type", dnsOp{}, 87},
		{"DC01 /zoneprint a b", dnsOp{}, 87},
		{"DC01 /nope", dnsOp{}, 1},
		{"", dnsOp{}, 1},
	}
	for _, tt := range tests {
		got, err := parseDnscmd(strings.Fields(tt.args))
		if tt.code >= 0 {
			u, ok := err.(*dnsUsageError)
			if !ok || u.Code != tt.code {
				t.Errorf("parseDnscmd(%q) error = %v, want usage error with code %d", tt.args, err, tt.code)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseDnscmd(%q) = %+v, %v; want %+v", tt.args, got, err, tt.want)
		}
	}
}

// FuzzDnscmd feeds arbitrary command lines (arguments separated by NUL) to dnscmd on a
// fresh organisation and checks what must always hold: a success says so and exits 0,
// a failure exits non-zero, and the zone never holds the same record twice.
func FuzzDnscmd(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "dnscmd_seed_*.txt"))
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f.Add(strings.ReplaceAll(line, " ", "\x00"))
		}
	}
	f.Fuzz(func(t *testing.T, line string) {
		o := New(clock.NewManual(casStart))
		dc := o.server("DC01")
		args := strings.Split(line, "\x00")
		// Run twice so adds meet their own duplicates.
		for range 2 {
			out, code := o.runDnscmd(dc, args)
			ok := strings.HasSuffix(out, "Command completed successfully.\r\n")
			if ok != (code == 0) && !strings.Contains(out, "USAGE") && !strings.Contains(out, "Usage") && !strings.HasSuffix(out, "(y/n) ") {
				t.Fatalf("dnscmd %q: exit %d with output %q", args, code, out)
			}
			if code != 0 && ok {
				t.Fatalf("dnscmd %q: failed with %d but printed success", args, code)
			}
		}
		seen := map[DNSRecord]bool{}
		for _, r := range o.DNSRecords(Domain) {
			k := DNSRecord{Name: r.Name, Type: r.Type, Data: r.Data}
			if seen[k] {
				t.Fatalf("record %v twice after %q", r, args)
			}
			seen[k] = true
		}
	})
}
