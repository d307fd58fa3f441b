package config

import (
	"errors"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestConsoleExposure: a console on an address beyond loopback needs console_auth;
// console_hosts and console_auth are checked, and each problem names its key.
func TestConsoleExposure(t *testing.T) {
	const alice = "people: [{name: alice, slack: U0ALICE, roles: [admin]}]\n"
	cases := []struct {
		name, yaml string
		env        []string
		wantKeys   []string // nil: valid
	}{
		{"loopback console", "console: true\nlisten: 127.0.0.1:8080\n", nil, nil},
		{"localhost console", "console: true\nlisten: localhost:8080\n", nil, nil},
		{"ipv6 loopback console", "console: true\nlisten: '[::1]:8080'\n", nil, nil},
		{"public listen without console", "listen: 0.0.0.0:8080\n", nil, nil},
		{"every address", "console: true\nlisten: 0.0.0.0:8080\n", nil, []string{"console"}},
		{"no host is every address", "console: true\nlisten: ':8080'\n", nil, []string{"console"}},
		{"ipv6 every address", "console: true\nlisten: '[::]:8080'\n", nil, []string{"console"}},
		{"a public address", "console: true\nlisten: 10.0.0.7:8080\n", nil, []string{"console"}},
		{"a name", "console: true\nlisten: exchops.example.com:8080\n", nil, []string{"console"}},
		{"public by the environment", "console: true\n", []string{"EXCHOPS_LISTEN=0.0.0.0:8080"}, []string{"console"}},
		{"public with sign-in", "console: true\nlisten: 0.0.0.0:8080\nconsole_auth: {header: X-Forwarded-User, trusted_proxies: [10.0.0.5/32]}\n" + alice, nil, nil},
		{"sign-in with a single address and v6", "console: true\nlisten: 0.0.0.0:8080\nconsole_auth: {header: X-Remote-User, trusted_proxies: [10.0.0.5, 'fd00::5/128']}\n" + alice, nil, nil},
		{"sign-in for nobody", "console: true\nlisten: 0.0.0.0:8080\nconsole_auth: {header: X-Forwarded-User, trusted_proxies: [10.0.0.5/32]}\n", nil, []string{"console_auth"}},
		{"header without proxies", "console: true\nlisten: 0.0.0.0:8080\nconsole_auth: {header: X-Forwarded-User}\n" + alice, nil, []string{"console_auth.trusted_proxies"}},
		{"proxies without header", "console: true\nlisten: 0.0.0.0:8080\nconsole_auth: {trusted_proxies: [10.0.0.5/32]}\n" + alice, nil, []string{"console_auth.header"}},
		{"header by the environment", "console: true\nlisten: 0.0.0.0:8080\nconsole_auth: {trusted_proxies: [10.0.0.5/32]}\n" + alice, []string{"EXCHOPS_CONSOLE_AUTH_HEADER=X-Forwarded-User"}, nil},
		{"bad header", "console_auth: {header: 'X Forwarded: User', trusted_proxies: [10.0.0.5/32]}\n", nil, []string{"console_auth.header"}},
		{"a header the browser sets", "console_auth: {header: Authorization, trusted_proxies: [10.0.0.5/32]}\n", nil, []string{"console_auth.header"}},
		{"bad proxy", "console_auth: {header: X-Forwarded-User, trusted_proxies: [proxy.example.com, 10.0.0.300/32]}\n", nil, []string{"console_auth.trusted_proxies[0]", "console_auth.trusted_proxies[1]"}},
		{"trusting everyone", "console_auth: {header: X-Forwarded-User, trusted_proxies: [0.0.0.0/0]}\n", nil, []string{"console_auth.trusted_proxies[0]"}},
		{"hosts", "console_hosts: [ops.example.com, exchops, 10.0.0.7, '[fd00::7]', ops.example.com.]\n", nil, nil},
		{"bad hosts", "console_hosts: ['https://ops.example.com', 'ops.example.com:8080', '*.example.com', '', 'ops.example.com/console']\n", nil,
			[]string{"console_hosts[0]", "console_hosts[1]", "console_hosts[2]", "console_hosts[3]", "console_hosts[4]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.yaml), tc.env)
			if tc.wantKeys == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var probs Problems
			if !errors.As(err, &probs) {
				t.Fatalf("want problems at %v, got %v", tc.wantKeys, err)
			}
			var keys []string
			for _, p := range probs {
				keys = append(keys, p.Key)
			}
			if !slices.Equal(keys, tc.wantKeys) {
				t.Errorf("problems at %v, want %v:\n%v", keys, tc.wantKeys, err)
			}
		})
	}
}

// TestConsoleProblemSaysHow: the refusal of a public console says what to do.
func TestConsoleProblemSaysHow(t *testing.T) {
	_, err := Parse(strings.NewReader("console: true\nlisten: 0.0.0.0:8080\n"), nil)
	if err == nil {
		t.Fatal("a public console without sign-in was accepted")
	}
	for _, want := range []string{"console: is true and listen 0.0.0.0:8080 is not a loopback address", "127.0.0.1", "console_auth: {header: X-Forwarded-User"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the problem lacks %q:\n%v", want, err)
		}
	}
}

func TestLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "localhost.": true, "127.0.0.1": true, "127.1.2.3": true, "::1": true,
		"::ffff:127.0.0.1": true, "": false, "0.0.0.0": false, "::": false, "10.0.0.7": false,
		"localhost.evil.example": false, "evil.example": false, "127.0.0.1.nip.io": false, "[::1]": false,
	} {
		if got := IsLoopbackHost(host); got != want {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "localhost:0": true, "[::1]:8080": true,
		":8080": false, "0.0.0.0:8080": false, "[::]:8080": false, "192.168.1.2:80": false, "127.0.0.1": false,
	} {
		if got := IsLoopbackListen(addr); got != want {
			t.Errorf("IsLoopbackListen(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestConsoleAuthPrefixes(t *testing.T) {
	a := ConsoleAuth{Header: "X-Forwarded-User", TrustedProxies: []string{"10.0.0.5/32", "10.1.2.3/16", "fd00::5", "::ffff:10.0.0.9"}}
	got := a.Prefixes()
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32"), netip.MustParsePrefix("10.1.0.0/16"),
		netip.MustParsePrefix("fd00::5/128"), netip.MustParsePrefix("10.0.0.9/32")}
	if !slices.Equal(got, want) {
		t.Errorf("Prefixes() = %v, want %v", got, want)
	}
}

// TestExampleDocumentsConsoleKeys: exchops.example.yaml documents the console's keys.
func TestExampleDocumentsConsoleKeys(t *testing.T) {
	c, err := Load("../exchops.example.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../exchops.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"\nconsole_hosts:", "\nconsole_auth:", "\n  header:", "\n  trusted_proxies:"} {
		if !strings.Contains(string(b), key) {
			t.Errorf("exchops.example.yaml does not document %s", strings.TrimSpace(key))
		}
	}
	if c.ConsoleAuth.Enabled() || len(c.ConsoleHosts) != 0 {
		t.Errorf("the example signs in or adds host names by default: %+v %v", c.ConsoleAuth, c.ConsoleHosts)
	}
}
