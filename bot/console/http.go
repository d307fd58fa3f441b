package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/config"
)

// contentSecurityPolicy allows the page nothing from elsewhere: it runs offline, and
// a fragment that ever slipped past escaping still could not run a script.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the page, its static files, the event stream and the two POST
// endpoints. Every URL the page uses is relative, so the handler may also be mounted
// under a prefix with http.StripPrefix.
func (c *Console) Handler() http.Handler {
	static, err := fs.Sub(assets, "static")
	if err != nil {
		panic(err) // the folder is embedded at build time
	}
	csrf := http.NewCrossOriginProtection()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", c.servePage)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /events", c.serveEvents)
	mux.HandleFunc("GET /api/transcript", c.serveTranscript)
	mux.Handle("POST /api/command", c.guard(csrf, c.serveCommand))
	mux.Handle("POST /api/action", c.guard(csrf, c.serveAction))
	return c.admit(mux)
}

// personKey is the context key of the person a trusted proxy signed in.
type personKey struct{}

// signedIn is the person the proxy signed in, "" without Options.Auth.
func signedIn(r *http.Request) string {
	name, _ := r.Context().Value(personKey{}).(string)
	return name
}

// admit runs before every route of the console. It refuses a request whose Host is
// neither a loopback name nor one of Options.Hosts: a page on a name that an attacker
// rebinds to this machine's address is same-origin with itself, so the cross-origin
// check cannot see it, but its requests still name the attacker's host. With
// Options.Auth it then refuses every request that did not come, signed in, through
// the trusted proxy, and passes the person on to the handlers.
func (c *Console) admit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := hostName(r.Host); !config.IsLoopbackHost(h) && !c.hosts[h] {
			c.opt.Logger.Info("console: refused a request for a host name it does not answer to", "host", r.Host, "remote", r.RemoteAddr)
			refuse(w, r, http.StatusForbidden, "the console does not answer to the host name %q: open it at a loopback address "+
				"(http://127.0.0.1:PORT/) or add the name to console_hosts", r.Host)
			return
		}
		if c.opt.Auth != nil {
			name, why := c.signIn(r)
			if why != "" {
				c.opt.Logger.Info("console: refused a request that was not signed in", "remote", r.RemoteAddr, "why", why)
				refuse(w, r, http.StatusForbidden, "%s", why)
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), personKey{}, name))
		}
		next.ServeHTTP(w, r)
	})
}

// signIn returns the person the trusted proxy names, or why the request is refused.
func (c *Console) signIn(r *http.Request) (name, why string) {
	a := c.opt.Auth
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return "", "the console signs people in through its proxy, and this connection's address is unknown"
	}
	addr := ap.Addr().Unmap()
	trusted := false
	for _, p := range a.Trusted {
		trusted = trusted || p.Contains(addr)
	}
	if !trusted {
		return "", fmt.Sprintf("the console signs people in through its proxy, and %s is not one (console_auth.trusted_proxies): open the console through the proxy", addr)
	}
	vals := r.Header.Values(a.Header)
	if len(vals) != 1 || strings.TrimSpace(vals[0]) == "" {
		return "", fmt.Sprintf("the proxy did not say who you are (one %s header): sign in through the proxy", a.Header)
	}
	name = strings.TrimSpace(vals[0])
	if _, ok := c.person(name); !ok {
		return "", fmt.Sprintf("%q is not one of the people in exchops' configuration (people[].name), so the console does not act for them", name)
	}
	return name, ""
}

// hostName is the host of a Host header (or of a console_hosts entry), without
// port or brackets, in lower case and without a final dot.
func hostName(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	} else if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// refuse answers a refused request: JSON for the page's API, text for the rest.
func refuse(w http.ResponseWriter, r *http.Request, status int, format string, args ...any) {
	if strings.Contains(r.URL.Path, "/api/") {
		refuseJSON(w, status, format, args...)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.Error(w, fmt.Sprintf(format, args...), status)
}

func (c *Console) servePage(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	if err := c.tmpl.ExecuteTemplate(&buf, "page", c.pageView(signedIn(r))); err != nil {
		c.opt.Logger.Error("console: rendering the page", "err", err)
		http.Error(w, "the console page could not be rendered; see exchops' log", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}

func (c *Console) serveTranscript(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	b, _ := c.transcript.since(0, "", true, signedIn(r))
	c.mu.Unlock()
	b.Now = iso(c.opt.Now())
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if err := b.writeTo(w, c.writeDeadline(http.NewResponseController(w))); err != nil {
		c.dropped(r, err)
	}
}

// writeDeadline returns what gives each write of a long answer its own
// StreamWriteTimeout. A writer without deadlines (a test's recorder) goes without.
func (c *Console) writeDeadline(rc *http.ResponseController) func() {
	return func() { _ = rc.SetWriteDeadline(time.Now().Add(c.writeTimeout)) }
}

// dropped logs a client cut off because it could not take a write in time; one that
// went away needs no word.
func (c *Console) dropped(r *http.Request, err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.opt.Logger.Info("console: dropped a client that could not keep up", "path", r.URL.Path, "remote", r.RemoteAddr,
			"timeout", c.writeTimeout)
	}
}

// openStream counts one more event stream, unless MaxStreams are open.
func (c *Console) openStream() bool {
	for {
		n := c.streams.Load()
		if n >= c.maxStreams {
			return false
		}
		if c.streams.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// serveEvents streams the transcript's changes. A client names what it has seen with
// the Last-Event-ID header (set by EventSource when it reconnects) or, on its first
// connection, with ?since=SEQ&epoch=EPOCH from GET /api/transcript; it then gets
// what it missed, as one event, and every later change as it happens. Each event's id
// is the transcript's sequence number after it, and its data a batch in JSON.
//
// Streams are bounded (MaxStreams; one more gets 503), write from the transcript's
// shared copy, and are dropped when a write takes longer than StreamWriteTimeout.
func (c *Console) serveEvents(w http.ResponseWriter, r *http.Request) {
	if !c.openStream() {
		c.opt.Logger.Warn("console: refused an event stream: too many open", "limit", c.maxStreams, "remote", r.RemoteAddr)
		w.Header().Set("Retry-After", "10")
		refuse(w, r, http.StatusServiceUnavailable, "the console has %d event streams open, its limit: close console pages you do not need", c.maxStreams)
		return
	}
	defer c.streams.Add(-1)
	rc := http.NewResponseController(w)
	// The server's WriteTimeout would cut every stream after a while: each write gets
	// its own deadline instead, and a dead client is found by the heartbeat's. (Its
	// ReadTimeout does not matter here: net/http lifts the read deadline once a
	// request without a body has been read.)
	deadline := c.writeDeadline(rc)

	var seq int64
	reset := false
	q := r.URL.Query()
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = q.Get("since")
	}
	if last != "" {
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			reset = true // not one of ours: start over
		}
		seq = n
	} else {
		reset = true
	}
	epoch := q.Get("epoch")

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx and friends: do not hold events back
	w.WriteHeader(http.StatusOK)
	// retry: how soon EventSource reconnects after the stream breaks.
	deadline()
	if _, err := io.WriteString(w, "retry: 2000\n\n"); err != nil {
		c.dropped(r, err)
		return
	}
	if err := rc.Flush(); err != nil {
		if errors.Is(err, http.ErrNotSupported) {
			c.opt.Logger.Error("console: the response writer cannot flush, so events cannot stream", "err", err)
		}
		c.dropped(r, err)
		return
	}

	viewer := signedIn(r)
	tick := time.NewTicker(c.heartbeat)
	defer tick.Stop()
	ctx := r.Context()
	for {
		c.mu.Lock()
		b, changed := c.transcript.since(seq, epoch, reset, viewer)
		c.mu.Unlock()
		if len(b.Messages) > 0 || b.Reset {
			b.Now = iso(c.opt.Now())
			if err := writeEvent(w, b, deadline); err != nil {
				c.dropped(r, err)
				return
			}
			deadline()
			if err := rc.Flush(); err != nil {
				c.dropped(r, err)
				return
			}
		}
		seq, epoch, reset = b.Seq, b.Epoch, false
		select {
		case <-changed:
		case <-tick.C:
			deadline()
			if _, err := io.WriteString(w, ": heartbeat\n\n"); err != nil {
				c.dropped(r, err)
				return
			}
			if err := rc.Flush(); err != nil {
				c.dropped(r, err)
				return
			}
		case <-ctx.Done():
			return
		case <-c.done:
			return
		}
	}
}

// writeEvent writes a batch as one server-sent event. JSON from encoding/json holds
// no raw newline, so the data is one SSE line.
func writeEvent(w io.Writer, b batch, before func()) error {
	before()
	if _, err := fmt.Fprintf(w, "id: %d\ndata: ", b.Seq); err != nil {
		return err
	}
	if err := b.writeTo(w, before); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n\n")
	return err
}

// apiError is the JSON body of every refused POST.
type apiError struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func refuseJSON(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, apiError{Error: fmt.Sprintf(format, args...)})
}

// guard admits only same-origin JSON POSTs. The page can run commands in the name of
// anyone in the picker, so another site must not be able to post to it from a
// visitor's browser: a cross-site form cannot send application/json, and a cross-site
// fetch carries an Origin (and Sec-Fetch-Site) that CrossOriginProtection refuses.
func (c *Console) guard(csrf *http.CrossOriginProtection, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := csrf.Check(r); err != nil {
			refuseJSON(w, http.StatusForbidden, "cross-origin request refused: the console only takes commands from its own page")
			return
		}
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/json" {
			refuseJSON(w, http.StatusForbidden, "the console only takes Content-Type: application/json")
			return
		}
		next(w, r)
	})
}

// decode reads one JSON object of at most MaxBody bytes into v. On failure it has
// answered 400 and returns false.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		refuseJSON(w, http.StatusBadRequest, "the request body is over %d KB", MaxBody>>10)
		return false
	case err != nil:
		refuseJSON(w, http.StatusBadRequest, "the request body could not be read")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		refuseJSON(w, http.StatusBadRequest, "the request body is not the JSON object expected: %v", err)
		return false
	}
	if dec.More() {
		refuseJSON(w, http.StatusBadRequest, "the request body holds more than one JSON value")
		return false
	}
	return true
}

// commandBody is POST /api/command's body.
type commandBody struct {
	Person string `json:"person"`
	Text   string `json:"text"`
}

// actionBody is POST /api/action's body.
type actionBody struct {
	Person   string `json:"person"`
	ID       string `json:"id"`
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
}

// accepted is the answer to a POST the core took: its replies come through the
// event stream.
var accepted = struct {
	OK bool `json:"ok"`
}{true}

// actor is who a POST acts for: the person the proxy signed in, or without sign-in
// the person the page picked (named). On refusal it has answered and returns false.
func (c *Console) actor(w http.ResponseWriter, r *http.Request, named string) (string, bool) {
	if me := signedIn(r); me != "" {
		if named != "" && named != me {
			refuseJSON(w, http.StatusForbidden, "you are signed in as %s: the console does not act for %s", me, named)
			return "", false
		}
		return me, true
	}
	return named, c.checkPerson(w, named)
}

func (c *Console) checkPerson(w http.ResponseWriter, name string) bool {
	if name == "" {
		refuseJSON(w, http.StatusBadRequest, "person is missing: pick who you are first")
		return false
	}
	if _, ok := c.person(name); !ok {
		refuseJSON(w, http.StatusBadRequest, "unknown person %q: the console knows %s", name, c.peopleList())
		return false
	}
	return true
}

func (c *Console) peopleList() string {
	var names []string
	for _, p := range c.opt.People {
		names = append(names, p.Name)
	}
	return strings.Join(names, ", ")
}

// commandText is what follows /exchange: the page may send the slash command as typed.
func commandText(s string) string {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "/exchange"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
		s = strings.TrimSpace(rest)
	}
	return s
}

func (c *Console) serveCommand(w http.ResponseWriter, r *http.Request) {
	var b commandBody
	if !decode(w, r, &b) {
		return
	}
	person, ok := c.actor(w, r, b.Person)
	if !ok {
		return
	}
	text := commandText(b.Text)
	c.said(person, text)
	// The core answers quick commands before Handle returns and offloads slow work
	// itself; the client hanging up must not cancel a decision half-written.
	ctx := context.WithoutCancel(r.Context())
	c.core.Handle(ctx, bot.Invocation{Platform: c.Platform(), User: person, Channel: c.opt.Channel, Text: text},
		func(rep bot.Reply) { c.reply(person, rep) })
	writeJSON(w, http.StatusAccepted, accepted)
}

func (c *Console) serveAction(w http.ResponseWriter, r *http.Request) {
	var b actionBody
	if !decode(w, r, &b) {
		return
	}
	person, ok := c.actor(w, r, b.Person)
	if !ok {
		return
	}
	var d approvals.Decision
	switch b.Decision {
	case string(approvals.Approve):
		d = approvals.Approve
	case string(approvals.Deny):
		d = approvals.Deny
	default:
		refuseJSON(w, http.StatusBadRequest, "decision must be %q or %q, not %q", approvals.Approve, approvals.Deny, b.Decision)
		return
	}
	if strings.TrimSpace(b.ID) == "" {
		refuseJSON(w, http.StatusBadRequest, "id is missing: which request?")
		return
	}
	ctx := context.WithoutCancel(r.Context())
	c.core.Act(ctx, bot.Action{Platform: c.Platform(), User: person, Channel: c.opt.Channel,
		RequestID: strings.TrimSpace(b.ID), Decision: d, Reason: b.Reason},
		func(rep bot.Reply) { c.reply(person, rep) })
	writeJSON(w, http.StatusAccepted, accepted)
}
