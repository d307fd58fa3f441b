package psrp

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A fragment (MS-PSRP 2.2.4) carries a whole message or a part of one: ObjectId (8 bytes),
// FragmentId (8), flags (1: bit 0 Start, bit 1 End), blob length (4), all big-endian,
// then the blob. Messages larger than what a transport packet may hold travel as several
// fragments of one ObjectId, numbered from 0.
const FragmentHeaderLen = 21

const (
	flagStart = 1
	flagEnd   = 2
)

// DefaultMaxMessage bounds a reassembled message from a client. A PowerShell client's
// messages are small (a pipeline's commands and arguments); 16 MiB is far beyond any
// legitimate one and stops a client from making the lab hold unbounded partial data.
const DefaultMaxMessage = 16 << 20

// Fragment is one decoded fragment.
type Fragment struct {
	ObjectID   uint64
	FragmentID uint64
	Start, End bool
	Blob       []byte
}

// Append appends the fragment's wire form to b.
func (f Fragment) Append(b []byte) []byte {
	var h [FragmentHeaderLen]byte
	binary.BigEndian.PutUint64(h[0:], f.ObjectID)
	binary.BigEndian.PutUint64(h[8:], f.FragmentID)
	if f.Start {
		h[16] |= flagStart
	}
	if f.End {
		h[16] |= flagEnd
	}
	binary.BigEndian.PutUint32(h[17:], uint32(len(f.Blob)))
	b = append(b, h[:]...)
	return append(b, f.Blob...)
}

// ParseFragments splits a transport packet (one rsp:Stream, rsp:Arguments or creationXml
// payload) into its fragments.
func ParseFragments(data []byte) ([]Fragment, error) {
	var out []Fragment
	for off := 0; off < len(data); {
		if len(data)-off < FragmentHeaderLen {
			return nil, fmt.Errorf("psrp: %d bytes left at offset %d are too few for a fragment header (%d bytes)", len(data)-off, off, FragmentHeaderLen)
		}
		h := data[off : off+FragmentHeaderLen]
		n := binary.BigEndian.Uint32(h[17:])
		if h[16]&^(flagStart|flagEnd) != 0 {
			return nil, fmt.Errorf("psrp: fragment at offset %d has unknown flag bits %#x", off, h[16])
		}
		if uint64(n) > uint64(len(data)-off-FragmentHeaderLen) {
			return nil, fmt.Errorf("psrp: fragment at offset %d says its blob has %d bytes but only %d follow", off, n, len(data)-off-FragmentHeaderLen)
		}
		off += FragmentHeaderLen
		out = append(out, Fragment{
			ObjectID:   binary.BigEndian.Uint64(h[0:]),
			FragmentID: binary.BigEndian.Uint64(h[8:]),
			Start:      h[16]&flagStart != 0,
			End:        h[16]&flagEnd != 0,
			Blob:       data[off : off+int(n) : off+int(n)],
		})
		off += int(n)
	}
	return out, nil
}

// Fragmentize splits a message into fragments whose blobs hold at most maxBlob bytes.
func Fragmentize(objectID uint64, msg []byte, maxBlob int) []Fragment {
	if maxBlob < 1 {
		maxBlob = 1
	}
	var out []Fragment
	for id := uint64(0); ; id++ {
		n := min(maxBlob, len(msg))
		f := Fragment{ObjectID: objectID, FragmentID: id, Start: id == 0, End: n == len(msg), Blob: msg[:n]}
		out = append(out, f)
		msg = msg[n:]
		if f.End {
			return out
		}
	}
}

// Reassembler rebuilds messages from fragments that may arrive split over several
// packets (Receive responses or Send requests). It is not safe for concurrent use.
type Reassembler struct {
	// MaxMessage bounds a message's size; 0 means DefaultMaxMessage.
	MaxMessage int
	partial    map[uint64]*partialMessage
}

type partialMessage struct {
	next uint64
	data []byte
}

// maxPartial bounds how many messages may be in progress at once.
const maxPartial = 64

// Add takes one fragment and returns the message it completes, or nil.
func (r *Reassembler) Add(f Fragment) ([]byte, error) {
	limit := r.MaxMessage
	if limit <= 0 {
		limit = DefaultMaxMessage
	}
	if r.partial == nil {
		r.partial = make(map[uint64]*partialMessage)
	}
	p, inProgress := r.partial[f.ObjectID]
	switch {
	case f.Start && inProgress:
		delete(r.partial, f.ObjectID)
		return nil, fmt.Errorf("psrp: object %d starts again before its previous fragments ended", f.ObjectID)
	case f.Start && f.FragmentID != 0:
		return nil, fmt.Errorf("psrp: object %d's start fragment has FragmentId %d, not 0", f.ObjectID, f.FragmentID)
	case !f.Start && !inProgress:
		return nil, fmt.Errorf("psrp: fragment %d of object %d arrived without its start fragment", f.FragmentID, f.ObjectID)
	case !f.Start && f.FragmentID != p.next:
		delete(r.partial, f.ObjectID)
		return nil, fmt.Errorf("psrp: object %d: fragment %d arrived where %d was expected", f.ObjectID, f.FragmentID, p.next)
	}
	if f.Start {
		if f.End {
			if len(f.Blob) > limit {
				return nil, errTooLarge(f.ObjectID, len(f.Blob), limit)
			}
			return append([]byte{}, f.Blob...), nil // never nil: nil means "not complete yet"
		}
		if len(r.partial) >= maxPartial {
			return nil, errors.New("psrp: too many messages are in progress at once; finish one before starting another")
		}
		p = &partialMessage{}
		r.partial[f.ObjectID] = p
	}
	if len(p.data)+len(f.Blob) > limit {
		delete(r.partial, f.ObjectID)
		return nil, errTooLarge(f.ObjectID, len(p.data)+len(f.Blob), limit)
	}
	p.data = append(p.data, f.Blob...)
	p.next = f.FragmentID + 1
	if !f.End {
		return nil, nil
	}
	delete(r.partial, f.ObjectID)
	if p.data == nil {
		p.data = []byte{}
	}
	return p.data, nil
}

// Feed parses a packet and returns the messages it completes, in order.
func (r *Reassembler) Feed(packet []byte) ([][]byte, error) {
	frags, err := ParseFragments(packet)
	if err != nil {
		return nil, err
	}
	var msgs [][]byte
	for _, f := range frags {
		m, err := r.Add(f)
		if err != nil {
			return msgs, err
		}
		if m != nil {
			msgs = append(msgs, m)
		}
	}
	return msgs, nil
}

// Pending reports whether a message is partly received.
func (r *Reassembler) Pending() bool { return len(r.partial) > 0 }

func errTooLarge(id uint64, n, limit int) error {
	return fmt.Errorf("psrp: object %d is %d bytes, more than the %d bytes a message may have", id, n, limit)
}
