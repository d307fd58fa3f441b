package psrp

import (
	"context"
	"errors"
	"sync"
)

// maxQueued is how many bytes of messages a pipeline may have waiting for the client
// before its writer blocks, as a real server stops a pipeline whose output is not read.
const maxQueued = 1 << 20

var errOutboxClosed = errors.New("psrp: the pipeline's output is no longer read")

// outbox holds the messages waiting for a client's Receive. Messages are cut into
// fragments when they are taken, so each Receive reply is filled up to the client's
// MaxEnvelopeSize and a message larger than one reply continues in the next.
type outbox struct {
	mu     sync.Mutex
	wake   chan struct{}
	items  []*outItem
	queued int
	done   bool // no more messages will come
	closed bool // nobody reads any more
}

type outItem struct {
	objectID uint64
	data     []byte
	next     uint64 // the next FragmentId
	off      int
}

func newOutbox() *outbox { return &outbox{wake: make(chan struct{})} }

func (o *outbox) changedLocked() {
	close(o.wake)
	o.wake = make(chan struct{})
}

// put queues a message; it blocks while too much is queued, until ctx ends.
func (o *outbox) put(ctx context.Context, objectID uint64, msg []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for o.queued >= maxQueued && !o.closed {
		wake := o.wake
		o.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			o.mu.Lock()
			return ctx.Err()
		}
		o.mu.Lock()
	}
	if o.closed {
		return errOutboxClosed
	}
	o.items = append(o.items, &outItem{objectID: objectID, data: msg})
	o.queued += len(msg)
	o.changedLocked()
	return nil
}

// finish says that no more messages come: a Receive that takes the last one reports done.
func (o *outbox) finish() {
	o.mu.Lock()
	o.done = true
	o.changedLocked()
	o.mu.Unlock()
}

// close drops what is queued and releases blocked writers.
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.items = nil
	o.queued = 0
	o.changedLocked()
	o.mu.Unlock()
}

// waitChan returns a channel closed at the next change.
func (o *outbox) waitChan() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.wake
}

// take returns fragments (one per packet) whose sizes, each plus overhead, add up to at
// most budget bytes. ready is false when there is nothing to report yet.
func (o *outbox) take(budget, overhead int) (packets [][]byte, done, ready bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for len(o.items) > 0 {
		it := o.items[0]
		room := budget - overhead - FragmentHeaderLen
		if room < 1 {
			break
		}
		n := min(room, len(it.data)-it.off)
		f := Fragment{ObjectID: it.objectID, FragmentID: it.next, Start: it.off == 0,
			End: it.off+n == len(it.data), Blob: it.data[it.off : it.off+n]}
		packets = append(packets, f.Append(nil))
		budget -= overhead + FragmentHeaderLen + n
		it.off += n
		it.next++
		o.queued -= n
		if f.End {
			o.items = o.items[1:]
		}
	}
	if len(packets) > 0 {
		o.changedLocked() // room for blocked writers
	}
	done = o.done && len(o.items) == 0
	return packets, done, len(packets) > 0 || done
}
