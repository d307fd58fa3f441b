package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/bot"
)

// fill puts n results of about size bytes of output each into the transcript.
func fill(c *Console, n, size int) {
	for i := range n {
		c.reply("", bot.Reply{Kind: bot.ReplyResult, Text: fmt.Sprint("result ", i), Output: strings.Repeat("x", size)})
	}
}

// TestTranscriptBytes: the transcript is bounded in bytes as well as in messages; the
// oldest go, the newest stays, and a card that left is forgotten.
func TestTranscriptBytes(t *testing.T) {
	c := New(nil, Options{People: demoPeople, Now: func() time.Time { return t0 }})
	c.Announce(context.Background(), approvals.Event{Kind: approvals.EventRequested, Request: request()})
	fill(c, 80, maxShownOutput)
	held := 0
	for _, m := range c.transcript.msgs {
		held += len(m.HTML)
	}
	if held > MaxTranscriptBytes || c.transcript.bytes > MaxTranscriptBytes {
		t.Fatalf("the transcript holds %d bytes of HTML (%d counted), over its %d", held, c.transcript.bytes, MaxTranscriptBytes)
	}
	if n := len(c.transcript.msgs); n >= 80 || n < 10 {
		t.Errorf("%d messages kept", n)
	}
	if last := c.transcript.msgs[len(c.transcript.msgs)-1]; !strings.Contains(last.HTML, "result 79") {
		t.Errorf("the newest message went: %.80s", last.HTML)
	}
	if len(c.cards) != 0 {
		t.Errorf("the card left the transcript but is still remembered: %d cards", len(c.cards))
	}
	sum := 0
	for _, m := range c.transcript.msgs {
		sum += m.size()
	}
	if sum != c.transcript.bytes {
		t.Errorf("counted %d bytes, the messages hold %d", c.transcript.bytes, sum)
	}
	// One message larger than the bound still stays: the newest always does.
	c.reply("", bot.Reply{Kind: bot.ReplyResult, Text: "huge", Output: strings.Repeat("<", maxShownOutput)})
	if len(c.transcript.msgs) == 0 || !strings.Contains(c.transcript.msgs[len(c.transcript.msgs)-1].HTML, "huge") {
		t.Error("the newest message was dropped")
	}
}

// stalledWriter is a client that stopped reading: it takes window bytes (what the
// kernel's socket buffers would take) and then blocks every write until released.
type stalledWriter struct {
	header  http.Header
	window  int
	stalled chan struct{} // closed at the first write that blocks
	release chan struct{}

	mu       sync.Mutex
	accepted int
	once     sync.Once
}

func newStalledWriter(window int, release chan struct{}) *stalledWriter {
	return &stalledWriter{header: http.Header{}, window: window, stalled: make(chan struct{}), release: release}
}

func (w *stalledWriter) Header() http.Header { return w.header }
func (w *stalledWriter) WriteHeader(int)     {}
func (w *stalledWriter) Flush()              {}

// SetWriteDeadline is accepted and ignored: these clients stay stalled for as long as
// the test wants.
func (w *stalledWriter) SetWriteDeadline(time.Time) error { return nil }

func (w *stalledWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	room := w.window - w.accepted
	if len(p) <= room {
		w.accepted += len(p)
		w.mu.Unlock()
		return len(p), nil
	}
	w.accepted = w.window
	w.mu.Unlock()
	w.once.Do(func() { close(w.stalled) })
	<-w.release
	return room, errors.New("connection reset by peer")
}

// liveHeap is the heap in use after a collection.
func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestStalledStreams is issue 15's second finding: every stalled /events stream held
// its own copy of the whole transcript (30 of them took 7 GB). Now streams write from
// the transcript's one copy, so stalled readers cost next to nothing each, there are
// at most MaxStreams of them (one more gets 503), and /healthz keeps answering.
func TestStalledStreams(t *testing.T) {
	c := New(nil, Options{People: demoPeople})
	fill(c, 100, maxShownOutput) // the transcript at its bound
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.Handle("/", c.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer c.Close()

	const window = 64 << 10
	before := liveHeap()
	release := make(chan struct{})
	var wg sync.WaitGroup
	writers := make([]*stalledWriter, MaxStreams)
	for i := range writers {
		w := newStalledWriter(window, release)
		writers[i] = w
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req := httptest.NewRequest("GET", "http://127.0.0.1:8080/events", nil).WithContext(ctx)
		wg.Go(func() { c.Handler().ServeHTTP(w, req) })
	}
	for i, w := range writers {
		select {
		case <-w.stalled:
		case <-time.After(30 * time.Second):
			t.Fatalf("stream %d never wrote past its window", i)
		}
	}
	// Every handler is blocked in a write now: what they hold is what stalled
	// readers cost. A stream may hold its batch's list of message pointers and its
	// request, not the transcript: MaxStreams copies of it would be 4 MB each.
	grown := liveHeap() - before
	perStream := grown / MaxStreams
	t.Logf("%d stalled streams hold %d KB in all (%d bytes each) beside the %d KB transcript",
		MaxStreams, grown>>10, perStream, c.transcript.bytes>>10)
	if limit := int64(MaxStreams)*(32<<10) + 1<<20; grown > limit {
		t.Errorf("%d stalled streams grew the heap by %d KB, over %d KB: each holds a copy of what it sends", MaxStreams, grown>>10, limit>>10)
	}

	// One stream more is refused while they are open, and /healthz answers.
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable {
		resp.Body.Close()
		t.Fatalf("stream %d: %d, want 503", MaxStreams+1, resp.StatusCode)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "event streams open") {
		t.Errorf("stream %d: %d %s, want 503 with Retry-After", MaxStreams+1, resp.StatusCode, body)
	}
	resp, err = client.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatalf("/healthz with %d stalled streams: %v", MaxStreams, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %d", resp.StatusCode)
	}

	close(release)
	wg.Wait()
	if n := c.streams.Load(); n != 0 {
		t.Errorf("%d streams counted after they ended", n)
	}
	// And the next page gets its stream again.
	s := openStream(t, srv.URL+"/events", "")
	if ev := s.next(t, 10*time.Second); !ev.Batch.Reset || len(ev.Batch.Messages) != len(c.transcript.msgs) {
		t.Errorf("a new stream got %d messages, reset %v", len(ev.Batch.Messages), ev.Batch.Reset)
	}
}

// smallBuffers gives every accepted connection a small send buffer, so that a client
// that does not read blocks the server's writes after kilobytes, not megabytes.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetWriteBuffer(8 << 10)
	}
	return conn, err
}

// lockedBuffer is a log destination the test reads while handlers write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSlowStreamDropped: over a real connection, a client that opens /events and
// stops reading is dropped once a write has waited StreamWriteTimeout, and its slot
// is free again.
func TestSlowStreamDropped(t *testing.T) {
	var logs lockedBuffer
	c := New(nil, Options{People: demoPeople, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	c.writeTimeout = 300 * time.Millisecond
	fill(c, 100, maxShownOutput)
	srv := httptest.NewUnstartedServer(c.Handler())
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	defer srv.Close()
	defer c.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(8 << 10)
	if _, err := io.WriteString(conn, "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// The client reads nothing from here on.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "dropped a client that could not keep up") || c.streams.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the stalled stream was not dropped (%d open); log:\n%s", c.streams.Load(), logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "path=/events") {
		t.Errorf("the log does not say which stream:\n%s", logs.String())
	}
}
