package wsman

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"
	"github.com/masterzen/winrm"
)

const (
	testUser     = `MSGLAB\svc-exchops`
	testPassword = "S3cret-Lab-Pa55!"
	// localUser is a local account of the server: the only kind WinRM accepts with Basic.
	localUser     = "labadmin"
	localPassword = "L0cal-Adm1n-Pa55!"
)

// fakeHost plays a Windows server with a few commands, and tells the test what happened
// to them.
type fakeHost struct {
	started   chan string   // command lines, as Exec starts them
	cancelled chan string   // command lines whose ctx was cancelled while blocked
	timeouts  chan struct{} // one per OperationTimeout fault the server sent (see harness)
}

func newFakeHost() *fakeHost {
	return &fakeHost{
		started:   make(chan string, 100),
		cancelled: make(chan string, 100),
		timeouts:  make(chan struct{}, 100),
	}
}

func (h *fakeHost) Exec(ctx context.Context, user, command string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	h.started <- command
	verb, rest, _ := strings.Cut(command, " ")
	switch verb {
	case "echo": // echo TEXT: TEXT and CRLF on stdout
		fmt.Fprintf(stdout, "%s\r\n", rest)
		return 0
	case "fail": // fail TEXT: "partial" on stdout, TEXT on stderr, exit 7
		io.WriteString(stdout, "partial")
		io.WriteString(stderr, rest)
		return 7
	case "whoami":
		io.WriteString(stdout, user)
		return 0
	case "args":
		io.WriteString(stdout, strings.Join(args, "|"))
		return 0
	case "big": // big N: N bytes of a known pattern on stdout, in uneven writes
		n, _ := strconv.Atoi(rest)
		data := pattern(n)
		for len(data) > 0 {
			k := min(len(data), 7001)
			if _, err := stdout.Write(data[:k]); err != nil {
				return 99
			}
			data = data[k:]
		}
		return 0
	case "cat": // stdin to stdout until EOF
		if _, err := io.Copy(stdout, stdin); err != nil {
			return 98
		}
		return 0
	case "block": // until cancelled
		<-ctx.Done()
		h.cancelled <- command
		return 130
	case "readblock": // reads stdin, which never ends, until cancelled
		_, err := io.Copy(io.Discard, stdin)
		if err != nil {
			h.cancelled <- command
		}
		return 131
	case "slow": // silent until the server has answered N Receives with OperationTimeout
		n, _ := strconv.Atoi(rest)
		for range n {
			select {
			case <-h.timeouts:
			case <-ctx.Done():
				return 1
			}
		}
		io.WriteString(stdout, "finally")
		return 3
	case "panic":
		panic("fake host bug")
	}
	fmt.Fprintf(stderr, "'%s' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", verb)
	return 9009
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26 + i/26%3)
	}
	return b
}

// exchange is one request and its reply, as a harness saw them.
type exchange struct {
	request  []byte
	status   int
	response []byte
}

// harness is a Server on a loopback port, with every exchange recorded.
type harness struct {
	t    *testing.T
	srv  *Server
	ln   *Listener
	host *fakeHost

	mu        sync.Mutex
	exchanges []exchange
}

// startHarness starts a server that accepts unencrypted HTTP (AllowUnencrypted), which
// most tests speak; startStrictHarness one with the Windows default, which refuses it.
func startHarness(t *testing.T, opts Options, tlsOn bool) *harness {
	t.Helper()
	opts.AllowUnencrypted = true
	return startStrictHarness(t, opts, tlsOn)
}

func startStrictHarness(t *testing.T, opts Options, tlsOn bool) *harness {
	t.Helper()
	if opts.Users == nil {
		opts.Users = map[string]string{testUser: testPassword, `MSGLAB\other`: "other-pw", localUser: localPassword}
	}
	if opts.OperationTimeoutCap == 0 {
		opts.OperationTimeoutCap = 2 * time.Second
	}
	h := &harness{t: t, host: newFakeHost()}
	h.srv = NewServer(h.host, opts)
	ln, _, err := Listen("127.0.0.1:0", tlsOn, h)
	if err != nil {
		t.Fatal(err)
	}
	h.ln = ln
	t.Cleanup(func() {
		if err := ln.Close(); err != nil {
			t.Errorf("closing the listener: %v", err)
		}
	})
	return h
}

// Close lets Listener.Close close the server it wraps.
func (h *harness) Close() error { return h.srv.Close() }

func (h *harness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &recordingWriter{ResponseWriter: w, status: 200}
	h.srv.ServeHTTP(rec, r)
	if rec.status == 500 && (bytes.Contains(rec.body.Bytes(), []byte("w:TimedOut")) || bytes.Contains(rec.plain, []byte("w:TimedOut"))) {
		h.host.timeouts <- struct{}{}
	}
	h.mu.Lock()
	h.exchanges = append(h.exchanges, exchange{request: body, status: rec.status, response: rec.body.Bytes()})
	h.mu.Unlock()
}

func (h *harness) recorded() []exchange {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]exchange(nil), h.exchanges...)
}

type recordingWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
	plain  []byte // a sealed reply before sealing
}

func (w *recordingWriter) recordPlain(p []byte) { w.plain = append([]byte(nil), p...) }

func (w *recordingWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.body.Write(p)
	return w.ResponseWriter.Write(p)
}

// Hijack passes through, so FaultUnreachable can close the connection.
func (w *recordingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("not hijackable")
	}
	return hj.Hijack()
}

type clientConfig struct {
	user, password string
	envelope       int
	basic          bool // Basic instead of NTLM (WinRM takes it for local accounts only)
	encrypted      bool // NTLM with message encryption (the library's NewEncryption("ntlm"))
	caPEM          []byte
	timeout        time.Duration
}

// client returns a masterzen client for the harness, with its own Parameters (the
// package's DefaultParameters are shared and must not be changed).
func (h *harness) client(cfg clientConfig) *winrm.Client {
	h.t.Helper()
	if cfg.user == "" {
		cfg.user, cfg.password = testUser, testPassword
	}
	if cfg.envelope == 0 {
		cfg.envelope = 153600
	}
	if cfg.timeout == 0 {
		cfg.timeout = 20 * time.Second
	}
	https := cfg.caPEM != nil
	ep := winrm.NewEndpoint("127.0.0.1", h.ln.Port(), https, false, cfg.caPEM, nil, nil, cfg.timeout)
	params := winrm.NewParameters("PT60S", "en-US", cfg.envelope)
	switch {
	case cfg.encrypted:
		params.TransportDecorator = func() winrm.Transporter {
			enc, err := winrm.NewEncryption("ntlm")
			if err != nil {
				h.t.Fatal(err)
			}
			return enc
		}
	case !cfg.basic:
		params.TransportDecorator = func() winrm.Transporter { return &winrm.ClientNTLM{} }
	}
	c, err := winrm.NewClientWithParameters(ep, cfg.user, cfg.password, params)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// post sends a raw request as testUser (NTLM) and returns the status and body.
func (h *harness) post(body string) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.ln.URL, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	req.SetBasicAuth(testUser, testPassword)
	resp, err := (&http.Client{Timeout: 20 * time.Second, Transport: ntlmssp.Negotiator{RoundTripper: &http.Transport{}}}).Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// envelope builds a request as pywinrm's prefixes write it (env:, a:, w:, rsp:).
func envelope(action, shellID, body string, extraHeader string) string {
	sel := ""
	if shellID != "" {
		sel = `<w:SelectorSet><w:Selector Name="ShellId">` + shellID + `</w:Selector></w:SelectorSet>`
	}
	return `<?xml version="1.0" encoding="utf-8"?><env:Envelope xmlns:env="` + nsSOAP + `" xmlns:a="` + nsAddressing +
		`" xmlns:w="` + nsWSMan + `" xmlns:rsp="` + nsShell + `"><env:Header><a:To>http://127.0.0.1/wsman</a:To>` +
		`<a:Action env:mustUnderstand="true">` + action + `</a:Action><a:MessageID>uuid:11111111-2222-4333-8444-555555555555</a:MessageID>` +
		`<w:ResourceURI env:mustUnderstand="true">` + resourceCmd + `</w:ResourceURI><w:MaxEnvelopeSize env:mustUnderstand="true">153600</w:MaxEnvelopeSize>` +
		`<w:OperationTimeout>PT20S</w:OperationTimeout>` + sel + extraHeader + `</env:Header><env:Body>` + body + `</env:Body></env:Envelope>`
}

// waitFor receives from ch or fails the test after a generous bound (not a sleep: the
// test goes on as soon as the value arrives).
func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(15 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// parseAny checks that data is well-formed XML.
func parseAny(data []byte) (int, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	n := 0
	for {
		_, err := dec.Token()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

// unquoteSeed reads the value of a one-value []byte seed file of a fuzz corpus.
func unquoteSeed(t *testing.T, file []byte) string {
	t.Helper()
	_, rest, _ := strings.Cut(string(file), "[]byte(")
	rest = strings.TrimSpace(rest)
	rest = strings.TrimSuffix(rest, ")")
	s, err := strconv.Unquote(rest)
	if err != nil {
		t.Fatalf("bad seed file: %v", err)
	}
	return s
}
