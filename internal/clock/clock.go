// Package clock gives exchops a notion of time that tests can drive.
//
// Everything that "takes time" asks a Clock: in the lab, seeding a copy, NLB
// convergence, a switchover, PowerShell start-up; in exchops, approval expiry and the
// pause between polls of a long change. Tests advance a Manual clock instead of
// sleeping; the demo and production run on Real time.
package clock

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Clock is the time source of the lab, the approvals and the runners.
type Clock interface {
	Now() time.Time
	// Sleep returns after d has passed on this clock, or ctx.Err() when ctx ends first.
	Sleep(ctx context.Context, d time.Duration) error
}

// Real is the wall clock.
type Real struct{}

func (Real) Now() time.Time { return time.Now() }

func (Real) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Manual is a clock that only moves when Advance is called.
type Manual struct {
	mu       sync.Mutex
	now      time.Time
	sleepers []*sleeper
	changed  chan struct{} // closed and replaced whenever the set of sleepers changes
}

type sleeper struct {
	until time.Time
	done  chan struct{}
}

// NewManual returns a manual clock standing at start.
func NewManual(start time.Time) *Manual {
	return &Manual{now: start, changed: make(chan struct{})}
}

func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

func (m *Manual) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	m.mu.Lock()
	s := &sleeper{until: m.now.Add(d), done: make(chan struct{})}
	m.sleepers = append(m.sleepers, s)
	m.notifyLocked()
	m.mu.Unlock()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		m.mu.Lock()
		m.removeLocked(s)
		m.mu.Unlock()
		return ctx.Err()
	}
}

// Advance moves the clock forward by d and wakes every sleeper whose time has come,
// in the order of their deadlines.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = m.now.Add(d)
	sort.Slice(m.sleepers, func(i, j int) bool { return m.sleepers[i].until.Before(m.sleepers[j].until) })
	kept := m.sleepers[:0]
	for _, s := range m.sleepers {
		if !s.until.After(m.now) {
			close(s.done)
			continue
		}
		kept = append(kept, s)
	}
	m.sleepers = kept
	m.notifyLocked()
}

// Sleepers reports how many goroutines are blocked in Sleep.
func (m *Manual) Sleepers() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sleepers)
}

// WaitForSleepers blocks until at least n goroutines are blocked in Sleep, or ctx ends.
// Tests use it to advance time only once the code under test is waiting on it.
func (m *Manual) WaitForSleepers(ctx context.Context, n int) error {
	for {
		m.mu.Lock()
		if len(m.sleepers) >= n {
			m.mu.Unlock()
			return nil
		}
		ch := m.changed
		m.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (m *Manual) removeLocked(s *sleeper) {
	for i, x := range m.sleepers {
		if x == s {
			m.sleepers = append(m.sleepers[:i], m.sleepers[i+1:]...)
			break
		}
	}
	m.notifyLocked()
}

func (m *Manual) notifyLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}
