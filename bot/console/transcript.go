package console

// message is one entry of the transcript. ID is stable (a card keeps its id when it is
// updated); Seq is the transcript's sequence number of the message's latest version,
// which is what event streams use as the SSE event id.
type message struct {
	ID   string `json:"id"`
	Seq  int64  `json:"seq"`
	For  string `json:"for"` // the person a private reply is for; "" for the channel
	HTML string `json:"html"`
}

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

// transcript is the ordered, bounded list of messages. It is not safe for concurrent
// use: Console guards it with its mutex.
type transcript struct {
	epoch string
	seq   int64
	msgs  []*message // oldest first
	byID  map[string]*message
	// changed is closed, and replaced, whenever a message is added or updated: every
	// event stream waits on it, so one broadcast wakes them all and none can block it.
	changed chan struct{}
}

func newTranscript(epoch string) transcript {
	return transcript{epoch: epoch, byID: map[string]*message{}, changed: make(chan struct{})}
}

// put adds the message id, or replaces its HTML in place when it is there already.
func (t *transcript) put(id, forPerson, html string) {
	t.seq++
	if m, ok := t.byID[id]; ok {
		// A replaced message is a new value, never mutated in place: batches handed
		// to event streams keep pointing at the version they were built from.
		n := &message{ID: id, Seq: t.seq, For: m.For, HTML: html}
		for i, x := range t.msgs {
			if x == m {
				t.msgs[i] = n
				break
			}
		}
		t.byID[id] = n
	} else {
		m := &message{ID: id, Seq: t.seq, For: forPerson, HTML: html}
		t.msgs = append(t.msgs, m)
		t.byID[id] = m
		if over := len(t.msgs) - MaxMessages; over > 0 {
			for _, old := range t.msgs[:over] {
				delete(t.byID, old.ID)
			}
			t.msgs = append(t.msgs[:0:0], t.msgs[over:]...)
		}
	}
	close(t.changed)
	t.changed = make(chan struct{})
}

func (t *transcript) has(id string) bool {
	_, ok := t.byID[id]
	return ok
}

// since returns the messages a client that has seen everything up to seq still needs,
// and the channel that closes at the next change. A client that is ahead of the
// transcript (exchops restarted) or from another epoch gets everything, with Reset.
func (t *transcript) since(seq int64, epoch string, reset bool) (batch, <-chan struct{}) {
	b := batch{Epoch: t.epoch, Seq: t.seq, Reset: reset}
	if seq > t.seq || (epoch != "" && epoch != t.epoch) {
		b.Reset = true
	}
	if b.Reset {
		seq = 0
	}
	for _, m := range t.msgs {
		if m.Seq > seq {
			b.Messages = append(b.Messages, m)
		}
	}
	return b, t.changed
}
