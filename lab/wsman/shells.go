package wsman

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/exchops/exchops/lab/psrp"
)

// Limits that keep one client from exhausting the lab's memory. A real WinRS blocks the
// process when its pipes are full; the command's writers here block the same way until a
// Receive drains them.
const (
	maxBufferedOutput = 1 << 20  // stdout+stderr bytes held per command before Exec blocks
	maxBufferedStdin  = 16 << 20 // stdin bytes held per command before Send is refused
)

var errTerminated = errors.New("wsman: the command was terminated by the client")

// shell is one WinRS shell: a user's container for commands, addressed by ShellId.
type shell struct {
	id            string
	user          string // the configured user name, as given to Host.Exec
	quotaKey      string // canonical user name the MaxShellsPerUser quota counts by
	clientIP      string
	inputStreams  string
	outputStreams string
	// guarded by Server.mu
	lastUsed time.Time
	inFlight int // requests being served for this shell; a busy shell is never idle
	commands map[string]*command
	// pool is the runspace pool of a shell on the PowerShell endpoint; nil for WinRS.
	pool *psrp.Pool
}

// command is one process started in a shell, with the output it has produced and not yet
// sent, and the stdin the client has sent and the process has not yet read.
type command struct {
	id     string
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when Host.Exec has returned

	mu         sync.Mutex
	wake       chan struct{} // closed and replaced on every change, to wake waiters
	stdin      []byte
	stdinEOF   bool
	stdout     []byte
	stderr     []byte
	finished   bool
	exitCode   int
	terminated bool
}

func newCommand(parent context.Context, id string) *command {
	ctx, cancel := context.WithCancel(parent)
	return &command{id: id, ctx: ctx, cancel: cancel, done: make(chan struct{}), wake: make(chan struct{})}
}

// changedLocked wakes everyone waiting on the command. c.mu must be held.
func (c *command) changedLocked() {
	close(c.wake)
	c.wake = make(chan struct{})
}

// terminate stops the command: its context is cancelled, so Host.Exec returns, and
// blocked readers and writers give up.
func (c *command) terminate() {
	c.cancel()
	c.mu.Lock()
	c.terminated = true
	c.changedLocked()
	c.mu.Unlock()
}

// finish records Host.Exec's result.
func (c *command) finish(code int) {
	c.mu.Lock()
	c.finished = true
	c.exitCode = code
	c.changedLocked()
	c.mu.Unlock()
	close(c.done)
}

// send adds client input to stdin. It fails when the process does not read what it is
// sent, rather than buffering without bound.
func (c *command) send(data []byte, end bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished || c.terminated {
		return nil // like a closed pipe on Windows: input to an ended process is dropped
	}
	if c.stdinEOF {
		return errors.New("stdin was already closed with End=\"true\"")
	}
	if len(c.stdin)+len(data) > maxBufferedStdin {
		return errors.New("the command is not reading its stdin and more than 16 MB are waiting")
	}
	c.stdin = append(c.stdin, data...)
	c.stdinEOF = end
	c.changedLocked()
	return nil
}

// stdinReader is the io.Reader Host.Exec reads stdin from.
type stdinReader struct{ c *command }

func (r stdinReader) Read(p []byte) (int, error) {
	c := r.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if len(c.stdin) > 0 {
			n := copy(p, c.stdin)
			c.stdin = c.stdin[n:]
			if len(c.stdin) == 0 {
				c.stdin = nil // let the backing array go
			}
			return n, nil
		}
		if c.stdinEOF {
			return 0, io.EOF
		}
		if c.terminated || c.ctx.Err() != nil {
			return 0, errTerminated
		}
		if len(p) == 0 {
			return 0, nil
		}
		c.waitLocked()
	}
}

// waitLocked releases c.mu until the command's state changes (changedLocked) or its
// context ends, then takes it again. Callers hold c.mu and re-check their condition.
func (c *command) waitLocked() {
	wake := c.wake
	c.mu.Unlock()
	select {
	case <-wake:
	case <-c.ctx.Done():
	}
	c.mu.Lock()
}

// outputWriter is the io.Writer Host.Exec writes stdout or stderr to.
type outputWriter struct {
	c      *command
	stderr bool
}

func (w outputWriter) Write(p []byte) (int, error) {
	c := w.c
	c.mu.Lock()
	defer c.mu.Unlock()
	written := 0
	for len(p) > 0 {
		if c.terminated || c.finished || c.ctx.Err() != nil {
			return written, errTerminated
		}
		room := maxBufferedOutput - len(c.stdout) - len(c.stderr)
		if room > 0 {
			n := min(room, len(p))
			if w.stderr {
				c.stderr = append(c.stderr, p[:n]...)
			} else {
				c.stdout = append(c.stdout, p[:n]...)
			}
			p = p[n:]
			written += n
			c.changedLocked()
			continue
		}
		c.waitLocked()
	}
	return written, nil
}

// output is what one Receive reply carries.
type output struct {
	chunks   []chunk
	done     bool
	exitCode int
}

// takeLocked removes up to budget bytes of the wanted streams' output. ready is false when
// there is nothing to say yet (no output, still running), so the caller long-polls.
// Output of streams the client did not ask for is dropped, so it cannot block the process.
// c.mu must be held.
func (c *command) takeLocked(wantStdout, wantStderr bool, budget int) (out output, ready bool) {
	if !wantStdout && len(c.stdout) > 0 {
		c.stdout = nil
		c.changedLocked()
	}
	if !wantStderr && len(c.stderr) > 0 {
		c.stderr = nil
		c.changedLocked()
	}
	take := func(buf *[]byte) []byte {
		n := min(budget, len(*buf))
		data := (*buf)[:n:n]
		*buf = (*buf)[n:]
		if len(*buf) == 0 {
			*buf = nil
		}
		budget -= n
		return data
	}
	var so, se []byte
	if wantStdout {
		so = take(&c.stdout)
	}
	if wantStderr {
		se = take(&c.stderr)
	}
	if len(so) > 0 || len(se) > 0 {
		c.changedLocked() // room for blocked writers
	}
	out.done = c.finished && len(c.stdout) == 0 && len(c.stderr) == 0
	out.exitCode = c.exitCode
	if wantStdout && (len(so) > 0 || out.done) {
		out.chunks = append(out.chunks, chunk{stream: "stdout", data: so, end: out.done})
	}
	if wantStderr && (len(se) > 0 || out.done) {
		out.chunks = append(out.chunks, chunk{stream: "stderr", data: se, end: out.done})
	}
	return out, len(so) > 0 || len(se) > 0 || out.done
}
