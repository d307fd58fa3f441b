package runners

import (
	"context"
	"sync"
	"testing"

	"github.com/exchops/exchops/lab/wsman"
)

type recordingShells struct {
	mu     sync.Mutex
	opened map[string]string // shell id -> server + resource URI
	closed []string
}

func (r *recordingShells) Opened(server, uri, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.opened == nil {
		r.opened = map[string]string{}
	}
	r.opened[id] = server + " " + uri
}

func (r *recordingShells) Closed(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = append(r.closed, id)
}

// Every WinRS shell a run opens is logged open and, once deleted, closed; DeleteShell
// removes a shell by id (as start-up recovery does) and treats one already gone as
// deleted.
func TestWinRSShellLog(t *testing.T) {
	l := startLab(t, wsman.Options{}, false)
	log := &recordingShells{}
	ep := l.endpoint("EX10-MB01")
	ep.AllowUnencrypted = true
	w := newRunner(t, Options{Shells: log}, ep)
	if _, err := w.Run(context.Background(), "EX10-MB01", "ok\r\n$ErrorActionPreference = 'Stop'"); err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	if len(log.opened) != 1 || len(log.closed) != 1 {
		t.Fatalf("opened %v, closed %v; want one of each", log.opened, log.closed)
	}
	var id string
	for k, v := range log.opened {
		id = k
		if v != "EX10-MB01 "+WinRSResourceURI {
			t.Errorf("opened %q", v)
		}
	}
	if log.closed[0] != id {
		t.Errorf("closed %q, opened %q", log.closed[0], id)
	}
	log.mu.Unlock()
	// The shell is gone already: deleting it again succeeds and logs it closed.
	if err := w.DeleteShell(context.Background(), "EX10-MB01", WinRSResourceURI, id); err != nil {
		t.Fatalf("DeleteShell of a deleted shell: %v", err)
	}
	if err := w.DeleteShell(context.Background(), "NOPE", WinRSResourceURI, id); KindOf(err) != Invalid {
		t.Errorf("DeleteShell on an unknown server: %v", err)
	}
	if err := w.DeleteShell(context.Background(), "EX10-MB01", ExchangeResourceURI, id); KindOf(err) != Invalid {
		t.Errorf("DeleteShell of an Exchange shell without an Exchange endpoint: %v", err)
	}
}
