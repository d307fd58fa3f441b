package runners

import (
	"context"
	"fmt"
	"sync"
)

// keyLocks hands out one holder at a time per key. Entries exist only while someone holds
// or waits for a key, so the map does not grow with every key ever used.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	ch   chan struct{} // holds a token while the key is held
	refs int           // holders and waiters; guarded by keyLocks.mu
}

func (l *keyLocks) acquire(ctx context.Context, key string) (func(), error) {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = make(map[string]*keyLock)
	}
	k := l.locks[key]
	if k == nil {
		k = &keyLock{ch: make(chan struct{}, 1)}
		l.locks[key] = k
	}
	k.refs++
	l.mu.Unlock()

	release := func() {
		l.mu.Lock()
		k.refs--
		if k.refs == 0 {
			delete(l.locks, key)
		}
		l.mu.Unlock()
	}
	select {
	case k.ch <- struct{}{}:
	case <-ctx.Done():
		release()
		return nil, context.Cause(ctx)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-k.ch
			release()
		})
	}, nil
}

// Lock waits until no one else holds key (e.g. "dag:E14-DAG", "nlb:client.msglab.local")
// and takes it, so that one changing run per DAG or cluster happens at a time. It returns
// the function that releases the key (safe to call more than once), or an *Error of kind
// Canceled or Timeout when ctx ends first.
func (w *WinRM) Lock(ctx context.Context, key string) (unlock func(), err error) {
	unlock, err = w.locks.acquire(ctx, key)
	if err != nil {
		kind := Canceled
		if ctx.Err() == context.DeadlineExceeded {
			kind = Timeout
		}
		return nil, &Error{Kind: kind, Op: "lock", Err: err,
			Msg: fmt.Sprintf("gave up waiting for %s, which another change holds; nothing ran", key)}
	}
	return unlock, nil
}

// RunLocked runs script on server while holding key (see Lock).
func (w *WinRM) RunLocked(ctx context.Context, key, server, script string) (*Result, error) {
	unlock, err := w.Lock(ctx, key)
	if err != nil {
		if e, ok := err.(*Error); ok {
			e.Server = server
			e.Msg = server + ": " + e.Msg
		}
		return nil, err
	}
	defer unlock()
	return w.Run(ctx, server, script)
}

// ServerScript is one WinRS script for one server, for RunEach. (A plan's step, with
// its Exchange calls, is a commands.Step.)
type ServerScript struct {
	Server string
	Script string
}

// Outcome is the result of one ServerScript.
type Outcome struct {
	Result *Result
	Err    error
}

// RunEach runs each step's script on its server, all at once (each server's own bound on
// concurrent commands still applies), and returns the outcomes in the order of steps. It is
// meant for read-only scripts such as health reports.
func (w *WinRM) RunEach(ctx context.Context, steps []ServerScript) []Outcome {
	out := make([]Outcome, len(steps))
	var wg sync.WaitGroup
	for i, st := range steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].Result, out[i].Err = w.Run(ctx, st.Server, st.Script)
		}()
	}
	wg.Wait()
	return out
}
