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
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
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
	return mux
}

func (c *Console) servePage(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	if err := c.tmpl.ExecuteTemplate(&buf, "page", c.pageView()); err != nil {
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
	b, _ := c.transcript.since(0, "", true)
	c.mu.Unlock()
	b.Now = iso(c.opt.Now())
	writeJSON(w, http.StatusOK, b)
}

// serveEvents streams the transcript's changes. A client names what it has seen with
// the Last-Event-ID header (set by EventSource when it reconnects) or, on its first
// connection, with ?since=SEQ&epoch=EPOCH from GET /api/transcript; it then gets
// what it missed, as one event, and every later change as it happens. Each event's id
// is the transcript's sequence number after it, and its data a batch in JSON.
func (c *Console) serveEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// A server-wide WriteTimeout would cut every stream after a while; a stream's
	// writes are small and a dead client is found by the heartbeat instead.
	_ = rc.SetWriteDeadline(time.Time{})

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
	if _, err := io.WriteString(w, "retry: 2000\n\n"); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		c.opt.Logger.Error("console: the response writer cannot flush, so events cannot stream", "err", err)
		return
	}

	c.streams.Add(1)
	defer c.streams.Add(-1)
	tick := time.NewTicker(c.heartbeat)
	defer tick.Stop()
	ctx := r.Context()
	for {
		c.mu.Lock()
		b, changed := c.transcript.since(seq, epoch, reset)
		c.mu.Unlock()
		if len(b.Messages) > 0 || b.Reset {
			b.Now = iso(c.opt.Now())
			if err := writeEvent(w, b); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
		seq, epoch, reset = b.Seq, b.Epoch, false
		select {
		case <-changed:
		case <-tick.C:
			if _, err := io.WriteString(w, ": heartbeat\n\n"); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		case <-ctx.Done():
			return
		case <-c.done:
			return
		}
	}
}

func writeEvent(w io.Writer, b batch) error {
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	// JSON from encoding/json holds no raw newline, so the data is one SSE line.
	_, err = fmt.Fprintf(w, "id: %d\ndata: %s\n\n", b.Seq, data)
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
	if !decode(w, r, &b) || !c.checkPerson(w, b.Person) {
		return
	}
	text := commandText(b.Text)
	c.said(b.Person, text)
	person := b.Person
	// The core answers quick commands before Handle returns and offloads slow work
	// itself; the client hanging up must not cancel a decision half-written.
	ctx := context.WithoutCancel(r.Context())
	c.core.Handle(ctx, bot.Invocation{Platform: c.Platform(), User: person, Channel: c.opt.Channel, Text: text},
		func(rep bot.Reply) { c.reply(person, rep) })
	writeJSON(w, http.StatusAccepted, accepted)
}

func (c *Console) serveAction(w http.ResponseWriter, r *http.Request) {
	var b actionBody
	if !decode(w, r, &b) || !c.checkPerson(w, b.Person) {
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
	person := b.Person
	ctx := context.WithoutCancel(r.Context())
	c.core.Act(ctx, bot.Action{Platform: c.Platform(), User: person, Channel: c.opt.Channel,
		RequestID: strings.TrimSpace(b.ID), Decision: d, Reason: b.Reason},
		func(rep bot.Reply) { c.reply(person, rep) })
	writeJSON(w, http.StatusAccepted, accepted)
}
