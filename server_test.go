package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/bot/console"
	"github.com/exchops/exchops/config"
	"github.com/exchops/exchops/internal/report"
	"github.com/exchops/exchops/lab"
)

// shortTimeouts make the server's limits visible within a test.
var shortTimeouts = httpTimeouts{ReadHeader: 200 * time.Millisecond, Read: 400 * time.Millisecond,
	Write: 400 * time.Millisecond, Idle: 400 * time.Millisecond}

// serveTest serves h with exchops' server and timeouts t on a loopback port.
func serveTest(t *testing.T, h http.Handler, timeouts httpTimeouts) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(h, timeouts, slog.New(slog.DiscardHandler))
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ln.Addr().String()
}

// trickle sends head at once and then tail one byte every gap, and returns how many
// bytes of tail went out before the server answered or closed the connection.
func trickle(t *testing.T, addr, head, tail string, gap time.Duration) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cut := make(chan struct{})
	go func() {
		defer close(cut)
		conn.Read(make([]byte, 1)) // an answer or the end of the connection
	}()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	for i := range len(tail) {
		select {
		case <-cut:
			return i
		case <-time.After(gap):
		}
		if _, err := conn.Write([]byte{tail[i]}); err != nil {
			return i
		}
	}
	select {
	case <-cut:
	case <-time.After(5 * time.Second):
		t.Fatal("the server neither answered nor closed the connection")
	}
	return len(tail)
}

// TestSlowClientsAreCut is issue 15's fourth finding: a client sending its headers,
// or then its body, one byte at a time held its connection forever. With short
// timeouts configured, the server cuts both long before they finish.
func TestSlowClientsAreCut(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /slack/commands", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "the body could not be read", http.StatusBadRequest)
			return
		}
		io.WriteString(w, "ok\n")
	})
	addr := serveTest(t, mux, shortTimeouts)
	const gap = 50 * time.Millisecond
	body := strings.Repeat("x", 40) // 2 s at this pace, five times the read timeout

	if n := trickle(t, addr, "POST /slack/commands HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 40\r\n\r\n", body, gap); n == len(body) {
		t.Errorf("a slow body went through: all %d bytes at one per %s", n, gap)
	}
	if n := trickle(t, addr, "POST /slack/commands HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", body+"\r\nContent-Length: 0\r\n\r\n", gap); n == len(body)+23 {
		t.Errorf("slow headers went through: all %d bytes at one per %s", n, gap)
	}
	// The same request at full speed is answered.
	res, err := http.Post("http://"+addr+"/slack/commands", "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("a prompt request: %s", res.Status)
	}

	// A kept-alive connection left idle is closed.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /slack/commands HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("an idle kept-alive connection: %v, want it closed by the server", err)
	}
}

// TestEventStreamOutlivesTimeouts: the console's event stream is the route that needs
// longer than the server's read and write timeouts, and gets it.
func TestEventStreamOutlivesTimeouts(t *testing.T) {
	c := console.New(nil, console.Options{})
	defer c.Close()
	addr := serveTest(t, c.Handler(), shortTimeouts)
	res, err := http.Get("http://" + addr + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	events := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- data
			}
		}
		close(events)
	}()
	next := func() string {
		t.Helper()
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the event stream ended")
			}
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
		}
		return ""
	}
	next() // the first, empty batch
	time.Sleep(3 * shortTimeouts.Write)
	c.PublishReport(context.Background(), "", report.FromText("health report", "all good", nil))
	if ev := next(); !strings.Contains(ev, "health report") {
		t.Errorf("event after %s: %s", 3*shortTimeouts.Write, ev)
	}
}

// TestConsoleExposure is issue 15's third finding, on the command line: a console
// beyond loopback without sign-in is refused by config check, serve and demo.
func TestConsoleExposure(t *testing.T) {
	dir := t.TempDir()
	write := func(name, yaml string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	public := write("public.yaml", "listen: 0.0.0.0:8080\nconsole: true\n")
	proxied := write("proxied.yaml", "listen: 0.0.0.0:8080\nconsole: true\nconsole_auth: {header: X-Forwarded-User, trusted_proxies: [10.0.0.5/32]}\n"+
		"people: [{name: alice, slack: U0ALICE, roles: [admin]}]\n")
	cases := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"config check public", []string{"config", "check", "--config", public}, exitUsage, "console: is true and listen 0.0.0.0:8080 is not a loopback address"},
		{"config check proxied", []string{"config", "check", "--config", proxied}, exitOK, ""},
		{"serve public", []string{"serve", "--config", public, "--lab"}, exitUsage, "console_auth"},
		{"demo every address", []string{"demo", "--listen", "0.0.0.0:0"}, exitUsage, "--listen 0.0.0.0:0 is not a loopback address"},
		{"demo no host", []string{"demo", "--listen", ":0"}, exitUsage, "not a loopback address"},
		{"demo ipv6 every address", []string{"demo", "--listen", "[::]:0"}, exitUsage, "not a loopback address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(context.Background(), tc.args, &out, &errb); code != tc.wantCode || !strings.Contains(errb.String(), tc.wantErr) {
				t.Errorf("exit %d, want %d with %q\nstderr: %s", code, tc.wantCode, tc.wantErr, errb.String())
			}
		})
	}
	// startApp refuses it too, before listening, whoever built the configuration.
	cfg := config.Default()
	cfg.Listen, cfg.Database = "0.0.0.0:0", filepath.Join(dir, "exchops.db")
	if a, err := startApp(context.Background(), appOptions{Config: cfg, Console: true}); err == nil || !strings.Contains(err.Error(), "no sign-in") {
		if a != nil {
			a.Close()
		}
		t.Errorf("startApp with a public console: %v", err)
	}
}

// TestConsoleSignInFromConfig: console_hosts and console_auth reach the console, and
// the rest of the server (webhooks, /healthz) is not behind them.
func TestConsoleSignInFromConfig(t *testing.T) {
	cfg := demoConfig("127.0.0.1:0", filepath.Join(t.TempDir(), "exchops.db"))
	cfg.ConsoleHosts = []string{"ops.example.com"}
	cfg.ConsoleAuth = config.ConsoleAuth{Header: "X-Forwarded-User", TrustedProxies: []string{"127.0.0.1/32"}}
	a, err := startApp(context.Background(), appOptions{Config: cfg, Lab: true, Console: true,
		LabOptions: lab.Options{Timing: &lab.Timing{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	get := func(path, host, user string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", a.URL+path, nil)
		if host != "" {
			req.Host = host
		}
		if user != "" {
			req.Header.Set("X-Forwarded-User", user)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, page := get("", "ops.example.com", "carol"); code != 200 || !strings.Contains(page, `data-signed-in="carol"`) {
		t.Errorf("carol through the proxy at ops.example.com: %d", code)
	}
	for _, tc := range []struct{ path, host, user string }{
		{"", "", ""},                  // not signed in
		{"", "", "mallory"},           // not a person
		{"", "evil.example", "carol"}, // not a host it answers to
		{"api/transcript", "evil.example", "carol"},
	} {
		if code, _ := get(tc.path, tc.host, tc.user); code != http.StatusForbidden {
			t.Errorf("GET /%s Host %q user %q: %d, want 403", tc.path, tc.host, tc.user, code)
		}
	}
	for _, path := range []string{"healthz", "metrics"} {
		if code, _ := get(path, "evil.example", ""); code != 200 {
			t.Errorf("GET /%s for any host name: %d, want 200", path, code)
		}
	}
}

// TestReadmeSecurityNumbers: README's security section states the limits the code has.
func TestReadmeSecurityNumbers(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(string(b)), " ") // line breaks as spaces
	secs := func(d time.Duration) string { return fmt.Sprintf("%d s", int(d.Seconds())) }
	d := defaultHTTPTimeouts
	for _, want := range []string{
		fmt.Sprintf("%s for a request's headers, %s for the whole request, %s to write the answer, %s for an idle kept-alive connection",
			secs(d.ReadHeader), secs(d.Read), secs(d.Write), secs(d.Idle)),
		fmt.Sprintf("at most %s messages and %d MB", humanInt(console.MaxMessages), console.MaxTranscriptBytes>>20),
		fmt.Sprintf("At most %d event streams", console.MaxStreams),
		fmt.Sprintf("within %s is dropped", secs(console.StreamWriteTimeout)),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("README does not say %q", want)
		}
	}
}

// humanInt writes 1000 as 1,000.
func humanInt(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
