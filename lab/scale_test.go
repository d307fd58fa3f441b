package lab

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/runners"
)

// TestScale: the large organisation of the health benchmark, served and readable.
func TestScale(t *testing.T) {
	l, err := Start(Options{Scale: &Scale{Members: 16, Databases: 100, Copies: 3, DAG: "E14-DAG"}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if n := len(l.Servers); n != 16+3 {
		t.Fatalf("%d servers, want 16 mailbox servers, 2 CAS and the DC", n)
	}
	o := l.Org
	o.mu.Lock()
	healthy, copies := 0, 0
	now := o.clock.Now()
	for _, db := range o.databases {
		for _, c := range db.Copies {
			copies++
			if st := o.copyStatus(db, c, now); st == "Healthy" || st == "Mounted" {
				healthy++
			}
		}
	}
	d := o.dagOf("EX10-MB16")
	o.mu.Unlock()
	if len(o.databases) != 100 || copies != 300 || healthy != 300 || d == nil || len(d.Members) != 16 {
		t.Fatalf("%d databases, %d copies, %d healthy, DAG %+v", len(o.databases), copies, healthy, d)
	}
	if o.Timing != DefaultTiming {
		t.Errorf("timing left at %+v", o.Timing)
	}
	// A member added by Scale answers over WinRM like the others.
	r, err := runners.New(l.RunnerEndpoints(), runners.Options{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(context.Background(), "EX10-MB16", "hostname")
	if err != nil || !strings.Contains(res.Stdout, "EX10-MB16") {
		t.Fatalf("hostname on EX10-MB16: %v %+v", err, res)
	}
	if _, err := Start(Options{Scale: &Scale{Members: 17, Databases: 1, Copies: 1}}); err == nil {
		t.Error("a 17-member scale was accepted")
	}
}
