package approvals_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/exchops/exchops/approvals"
	"github.com/exchops/exchops/commands"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/store"
)

// Benchmarks of the request lifecycle on real SQLite, with the tests' fakeExec: what
// the two-person rule costs exchops itself, without WinRM or chat (issue 9).

func benchService(b *testing.B, required int) (*approvals.Service, *fakeExec) {
	b.Helper()
	db, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "exchops.db"))
	if err != nil {
		b.Fatal(err)
	}
	ex := &fakeExec{}
	svc := approvals.New(db, ex, people(required), approvals.Options{Clock: clock.Real{}, Env: env})
	if err := svc.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		svc.Close()
		db.Close()
	})
	return svc, ex
}

func benchInvocation(b *testing.B) *commands.Command {
	b.Helper()
	inv, err := commands.Parse(dagCreate)
	if err != nil {
		b.Fatal(err)
	}
	return inv
}

// BenchmarkRequest files one request per op (plan, preflight, store, announce) with
// some requests already pending. Every new request wakes the expiry worker, which
// reads every pending request to find the next expiry, so the cost of a request grows
// with the backlog; the sub-benchmarks show by how much.
func BenchmarkRequest(b *testing.B) {
	for _, pending := range []int{0, 100, 1000} {
		b.Run(fmt.Sprintf("pending-%d", pending), func(b *testing.B) {
			svc, _ := benchService(b, 1)
			ctx := context.Background()
			inv := benchInvocation(b)
			sub := approvals.Submit{Person: "alice", Origin: console("alice"), Command: inv}
			for range pending {
				if _, err := svc.Request(ctx, sub); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for range b.N {
				r, err := svc.Request(ctx, sub)
				if err != nil {
					b.Fatal(err)
				}
				// Keep the backlog where it was: cancel what was just made.
				if _, err := svc.Cancel(ctx, r.ID, "alice", console("alice")); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkApproveAndRun is one request's whole life per op: filed, approved (one
// approval needed), claimed, preflighted again, run and recorded, every transition a
// serialised SQLite transaction with its audit event.
func BenchmarkApproveAndRun(b *testing.B) {
	svc, _ := benchService(b, 1)
	ctx := context.Background()
	sub := approvals.Submit{Person: "alice", Origin: console("alice"), Command: benchInvocation(b)}
	b.ResetTimer()
	for range b.N {
		r, err := svc.Request(ctx, sub)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := svc.Approve(ctx, r.ID, "bob", console("bob")); err != nil {
			b.Fatal(err)
		}
		svc.Wait()
	}
	b.StopTimer()
	rs, err := svc.History(ctx, 1)
	if err != nil || len(rs) != 1 || rs[0].Status != approvals.Succeeded {
		b.Fatalf("the last request: %v %+v", err, rs)
	}
}

// BenchmarkApproveRace has many approvers click Approve on the same requests at the
// same time (8 concurrent clicks per request, two approvals needed); every request
// must run exactly once. ns/op is per request.
func BenchmarkApproveRace(b *testing.B) {
	const clicks = 8
	svc, ex := benchService(b, 2)
	ctx := context.Background()
	sub := approvals.Submit{Person: "alice", Origin: console("alice"), Command: benchInvocation(b)}
	// Three approvers, each clicking twice, the requester and a viewer.
	approvers := []string{"bob", "carol", "erin", "alice", "dave", "bob", "carol", "erin"}
	b.ResetTimer()
	for range b.N {
		r, err := svc.Request(ctx, sub)
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan bool, clicks)
		for i := range clicks {
			go func() {
				saved, err := svc.Approve(ctx, r.ID, approvers[i], console(approvers[i]))
				done <- err == nil && saved.Status == approvals.Approved
			}()
		}
		quorum := 0
		for range clicks {
			if <-done {
				quorum++
			}
		}
		if quorum != 1 {
			b.Fatalf("%d clicks completed the quorum of %s, want 1", quorum, r.ID)
		}
		svc.Wait()
		got, err := svc.Get(ctx, r.ID)
		if err != nil {
			b.Fatal(err)
		}
		if got.Status != approvals.Succeeded {
			b.Fatalf("%s is %s after the race", r.ID, got.Status)
		}
	}
	b.StopTimer()
	if n := int(ex.executes.Load()); n != b.N {
		b.Fatalf("%d runs for %d requests", n, b.N)
	}
}
