package console

import (
	"encoding/json"
	"fmt"
	"io"
)

// message is one entry of the transcript. ID is stable (a card keeps its id when it is
// updated); Seq is the transcript's sequence number of the message's latest version,
// which is what event streams use as the SSE event id.
type message struct {
	ID   string `json:"id"`
	Seq  int64  `json:"seq"`
	For  string `json:"for"` // the person a private reply is for; "" for the channel
	HTML string `json:"html"`
	// encoded is the message as JSON, made once when it enters the transcript and
	// shared by every event stream and GET /api/transcript: what a client receives is
	// written from it, so no stream holds a copy of the transcript of its own.
	encoded []byte
}

// size is what the message costs the transcript, counted against MaxTranscriptBytes.
func (m *message) size() int { return len(m.HTML) + len(m.encoded) }

// batch is what the event stream and GET /api/transcript send: the messages that
// changed since the client's sequence number, in transcript order. Reset tells the
// client to drop what it shows first (a full transcript follows). Epoch changes when
// exchops restarts, so a page left open notices that its sequence numbers mean
// nothing any more.
type batch struct {
	Epoch    string     `json:"epoch"`
	Now      string     `json:"now"` // the server's clock, so the page's relative times agree with it
	Seq      int64      `json:"seq"`
	Reset    bool       `json:"reset"`
	Messages []*message `json:"messages"`
}

// writeTo writes the batch as one JSON object, each message from its shared
// encoding. before runs before every write, so that the caller can give each its
// own deadline.
func (b batch) writeTo(w io.Writer, before func()) error {
	epoch, _ := json.Marshal(b.Epoch)
	now, _ := json.Marshal(b.Now)
	before()
	if _, err := fmt.Fprintf(w, `{"epoch":%s,"now":%s,"seq":%d,"reset":%t,"messages":[`, epoch, now, b.Seq, b.Reset); err != nil {
		return err
	}
	for i, m := range b.Messages {
		before()
		if i > 0 {
			if _, err := io.WriteString(w, ","); err != nil {
				return err
			}
		}
		if _, err := w.Write(m.encoded); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "]}")
	return err
}

// transcript is the ordered list of messages, bounded in count (MaxMessages) and in
// bytes (MaxTranscriptBytes). It is not safe for concurrent use: Console guards it
// with its mutex.
type transcript struct {
	epoch string
	seq   int64
	msgs  []*message // oldest first
	byID  map[string]*message
	bytes int // the sum of the messages' sizes
	// changed is closed, and replaced, whenever a message is added or updated: every
	// event stream waits on it, so one broadcast wakes them all and none can block it.
	changed chan struct{}
}

func newTranscript(epoch string) transcript {
	return transcript{epoch: epoch, byID: map[string]*message{}, changed: make(chan struct{})}
}

// put adds the message id, or replaces its HTML in place when it is there already,
// and returns the ids of the oldest messages it dropped to stay within the bounds.
// The newest message always stays, whatever its size.
func (t *transcript) put(id, forPerson, html string) (dropped []string) {
	t.seq++
	if m, ok := t.byID[id]; ok {
		// A replaced message is a new value, never mutated in place: batches handed
		// to event streams keep pointing at the version they were built from.
		n := newMessage(id, t.seq, m.For, html)
		for i, x := range t.msgs {
			if x == m {
				t.msgs[i] = n
				break
			}
		}
		t.byID[id] = n
		t.bytes += n.size() - m.size()
	} else {
		m := newMessage(id, t.seq, forPerson, html)
		t.msgs = append(t.msgs, m)
		t.byID[id] = m
		t.bytes += m.size()
	}
	over, bytes := 0, t.bytes
	for len(t.msgs)-over > 1 && (len(t.msgs)-over > MaxMessages || bytes > MaxTranscriptBytes) {
		bytes -= t.msgs[over].size()
		over++
	}
	if over > 0 {
		for _, old := range t.msgs[:over] {
			delete(t.byID, old.ID)
			dropped = append(dropped, old.ID)
		}
		t.msgs = append(t.msgs[:0:0], t.msgs[over:]...)
		t.bytes = bytes
	}
	close(t.changed)
	t.changed = make(chan struct{})
	return dropped
}

func newMessage(id string, seq int64, forPerson, html string) *message {
	m := &message{ID: id, Seq: seq, For: forPerson, HTML: html}
	// Strings and a number: encoding cannot fail.
	m.encoded, _ = json.Marshal(m)
	return m
}

// since returns the messages a client that has seen everything up to seq still needs,
// and the channel that closes at the next change. A client that is ahead of the
// transcript (exchops restarted) or from another epoch gets everything, with Reset.
// viewer, when not empty, is the signed-in person the client is: private replies
// for anyone else are left out.
func (t *transcript) since(seq int64, epoch string, reset bool, viewer string) (batch, <-chan struct{}) {
	b := batch{Epoch: t.epoch, Seq: t.seq, Reset: reset}
	if seq > t.seq || (epoch != "" && epoch != t.epoch) {
		b.Reset = true
	}
	if b.Reset {
		seq = 0
	}
	for _, m := range t.msgs {
		if m.Seq > seq && (viewer == "" || m.For == "" || m.For == viewer) {
			b.Messages = append(b.Messages, m)
		}
	}
	return b, t.changed
}
