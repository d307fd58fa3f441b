package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// ConsoleAuth says how people sign in to the console when it is reachable from more
// than this machine: a reverse proxy authenticates them and names the person in a
// header, and only requests from the proxy's addresses are believed.
type ConsoleAuth struct {
	// Header is the request header the proxy sets to the signed-in person's name
	// (people[].name), e.g. X-Forwarded-User.
	Header string `yaml:"header"`
	// TrustedProxies are the addresses (CIDR prefixes or single IPs) the proxy
	// connects from; every other client is refused.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// Enabled reports whether sign-in through a proxy is configured.
func (a ConsoleAuth) Enabled() bool { return a.Header != "" || len(a.TrustedProxies) > 0 }

// Prefixes returns TrustedProxies parsed; a single IP is a prefix of its full length.
// It assumes a validated configuration and skips what does not parse.
func (a ConsoleAuth) Prefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range a.TrustedProxies {
		if p, err := parseProxy(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func parseProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// IsLoopbackHost reports whether host (a name or an IP address, without port or
// brackets) can only mean this machine: the name localhost or a loopback address.
// The console answers such names without being told; DNS cannot make another
// site's name one of them.
func IsLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// IsLoopbackListen reports whether a listen address (host:port) takes connections
// from this machine only. An empty host, 0.0.0.0, :: or any other name listens
// further.
func IsLoopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && IsLoopbackHost(host)
}

// ConsoleUnprotected reports whether the console, as configured, would let anyone who
// reaches listen act as anyone: it is on, listen is beyond loopback, and nobody signs
// in (console_auth).
func (c *Config) ConsoleUnprotected() bool {
	return c.Console && !c.ConsoleAuth.Enabled() && !IsLoopbackListen(c.Listen)
}

// consoleProblems checks console_hosts and console_auth, and the exposure rule: a
// console on a non-loopback address needs a sign-in, or anyone who reaches the
// address could request and approve changes as anyone.
func (c *Config) consoleProblems() Problems {
	var p Problems
	add := func(key, format string, args ...any) {
		p = append(p, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	for i, h := range c.ConsoleHosts {
		if !isHostName(h) {
			add(fmt.Sprintf("console_hosts[%d]", i), "%q is not a host name: write the name people type in the browser alone, without scheme, port or path, like ops.example.com", h)
		}
	}
	a := c.ConsoleAuth
	if a.Enabled() {
		if a.Header == "" {
			add("console_auth.header", "is empty: name the header your proxy sets to the signed-in person, like X-Forwarded-User")
		} else if !isHeaderName(a.Header) {
			add("console_auth.header", "%q is not an HTTP header name (letters, digits and - only), like X-Forwarded-User", a.Header)
		} else if reserved[strings.ToLower(a.Header)] {
			add("console_auth.header", "%q is a standard header that browsers and proxies set themselves: use one only your proxy sets, like X-Forwarded-User", a.Header)
		}
		if len(a.TrustedProxies) == 0 {
			add("console_auth.trusted_proxies", "is empty: give the addresses your proxy connects from, like [10.0.0.5/32]; a header from anywhere else proves nothing")
		}
		if c.Console && len(c.People) == 0 {
			add("console_auth", "signs people in by their people[].name, but people is empty: nobody could use the console")
		}
		for i, s := range a.TrustedProxies {
			key := fmt.Sprintf("console_auth.trusted_proxies[%d]", i)
			pr, err := parseProxy(s)
			switch {
			case err != nil:
				add(key, "%q is not an address or CIDR prefix, like 10.0.0.5/32", s)
			case pr.Bits() == 0:
				add(key, "%q trusts every address, so anyone could name themselves in %s: give the proxy's own addresses", s, a.Header)
			}
		}
	}
	if c.ConsoleUnprotected() {
		add("console", "is true and listen %s is not a loopback address, but the console has no sign-in: anyone who reaches it could request and approve changes as anyone. "+
			"Keep listen on 127.0.0.1, or put the console behind a proxy that signs people in and set console_auth: {header: X-Forwarded-User, trusted_proxies: [<the proxy's address>/32]}", c.Listen)
	}
	return p
}

// reserved are headers a client or an ordinary proxy sets for its own purposes; the
// console must not take one of them for a person's name.
var reserved = map[string]bool{
	"host": true, "cookie": true, "authorization": true, "origin": true, "referer": true,
	"user-agent": true, "content-type": true, "content-length": true, "x-forwarded-for": true,
	"x-forwarded-host": true, "x-forwarded-proto": true, "forwarded": true,
}

// isHeaderName accepts what the console's configuration needs of an HTTP field name:
// ASCII letters, digits and hyphens (RFC 9110 allows more, proxies use these).
func isHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-') {
			return false
		}
	}
	return s != "" && s[0] != '-'
}

// isHostName accepts a DNS name (letters, digits, hyphens, dot-separated labels of at
// most 63 characters) or an IP address, as the Host header carries it without port.
func isHostName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if ip, ok := strings.CutPrefix(s, "["); ok {
		ip, ok = strings.CutSuffix(ip, "]")
		_, err := netip.ParseAddr(ip)
		return ok && err == nil
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			b := l[i]
			if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-') {
				return false
			}
		}
	}
	return true
}
