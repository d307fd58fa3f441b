package lab

import (
	"context"
	"errors"
	"fmt"
	goldenfile "github.com/exchops/exchops/internal/golden"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/lab/ps"
)

var labStart = time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)

// golden compares got with testdata/dag/<name>.golden (-update rewrites it).
func golden(t *testing.T, name, got string) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", "dag", name+".golden"), got)
}

func newTestOrg(t *testing.T) (*Org, *clock.Manual) {
	t.Helper()
	clk := clock.NewManual(labStart)
	return New(clk), clk
}

// withDAG builds the walkthrough's DAG: E14-DAG (witness EX10-CAHT, C:\FSW,
// 10.0.0.50) with EX10-MB01 and EX10-MB02, joined without waiting on the clock.
func withDAG(t *testing.T, o *Org) {
	t.Helper()
	saved := o.Timing.DAGMember
	o.Timing.DAGMember = 0
	defer func() { o.Timing.DAGMember = saved }()
	o.mu.Lock()
	_, err := o.newDAG("E14-DAG", "EX10-CAHT", `C:\FSW`, []string{"10.0.0.50"})
	o.mu.Unlock()
	must(t, err)
	must(t, o.addDAGMember(context.Background(), "E14-DAG", "EX10-MB01"))
	must(t, o.addDAGMember(context.Background(), "E14-DAG", "EX10-MB02"))
}

// withCopies adds the walkthrough's copies and lets seeding finish.
func withCopies(t *testing.T, o *Org, clk *clock.Manual) {
	t.Helper()
	o.mu.Lock()
	err1 := o.addCopy("MB01", "EX10-MB02", 0, false)
	err2 := o.addCopy("MB02", "EX10-MB01", 0, false)
	o.mu.Unlock()
	must(t, err1)
	must(t, err2)
	clk.Advance(o.Timing.Seed)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// locked runs f under o.mu, as a cmdlet would.
func locked[T any](o *Org, f func() T) T {
	o.mu.Lock()
	defer o.mu.Unlock()
	return f()
}

func status(o *Org, db, server string) string {
	return locked(o, func() string {
		d := o.database(db)
		return o.copyStatus(d, d.copyOn(server), o.clock.Now())
	})
}

// addMailboxServers adds Enterprise mailbox servers EX10-MBX<from>..EX10-MBX<to>, for
// the 16-member and 16-copy limits.
func addMailboxServers(o *Org, from, to int) []string {
	var names []string
	for i := from; i <= to; i++ {
		name := fmt.Sprintf("EX10-MBX%02d", i)
		o.servers = append(o.servers, &Server{
			Name: name, Roles: []string{"Mailbox"}, OS: "Windows Server 2008 R2 Enterprise", Exchange: true,
			NICs:     []NIC{{Name: "MAPI", IP: fmt.Sprintf("10.0.0.%d", 100+i), Mask: "255.255.255.0"}},
			Features: map[string]bool{}, Site: SiteName,
		})
		names = append(names, name)
	}
	return names
}

// errText is an error's message, or "ok".
func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// TestPreconditions runs every refusal of the DAG cmdlets' rules and records the
// messages in one golden file, so their wording is reviewed like code.
func TestPreconditions(t *testing.T) {
	type tc struct {
		name  string
		setup func(t *testing.T, o *Org, clk *clock.Manual)
		run   func(o *Org) error
		ok    bool
	}
	newDAG := func(name, witness string, ips ...string) func(o *Org) error {
		return func(o *Org) error {
			return locked(o, func() error { _, err := o.newDAG(name, witness, `C:\FSW`, ips); return err })
		}
	}
	join := func(dag, server string) func(o *Org) error {
		return func(o *Org) error { return o.addDAGMember(context.Background(), dag, server) }
	}
	addCopy := func(db, server string, pref int) func(o *Org) error {
		return func(o *Org) error { return locked(o, func() error { return o.addCopy(db, server, pref, false) }) }
	}
	move := func(req moveRequest) func(o *Org) error {
		return func(o *Org) error { _, err := o.moveActive(context.Background(), req); return err }
	}
	dag := func(t *testing.T, o *Org, clk *clock.Manual) { withDAG(t, o) }
	replicated := func(t *testing.T, o *Org, clk *clock.Manual) { withDAG(t, o); withCopies(t, o, clk) }
	then := func(first func(*testing.T, *Org, *clock.Manual), f func(o *Org) error) func(*testing.T, *Org, *clock.Manual) {
		return func(t *testing.T, o *Org, clk *clock.Manual) { first(t, o, clk); must(t, f(o)) }
	}
	fault := func(f func(o *Org) error) func(o *Org) error { return f }
	cases := []tc{
		// New-DatabaseAvailabilityGroup
		{name: "dag name of 16 characters", run: newDAG("E14-DAG-LONGNAME", "EX10-CAHT")},
		{name: "dag name of 15 characters", run: newDAG("E14-DAG-LONGNAM", "EX10-CAHT"), ok: true},
		{name: "dag name with a space", run: newDAG("E14 DAG", "EX10-CAHT")},
		{name: "dag name all digits", run: newDAG("2010", "EX10-CAHT")},
		{name: "dag name taken by a dag", setup: dag, run: newDAG("e14-dag", "EX10-CAHT")},
		{name: "dag name taken by a server", run: newDAG("EX10-MB01", "EX10-CAHT")},
		{name: "dag unknown witness", run: newDAG("E14-DAG", "FS99")},
		{name: "dag bad ip", run: newDAG("E14-DAG", "EX10-CAHT", "10.0.0.500")},
		// Add-DatabaseAvailabilityGroupServer
		{name: "join unknown dag", run: join("NO-DAG", "EX10-MB01")},
		{name: "join non-exchange server", setup: dag, run: join("E14-DAG", "DC01")},
		{name: "join server without mailbox role", setup: dag, run: join("E14-DAG", "EX10-CAHT")},
		{name: "join twice", setup: dag, run: join("E14-DAG", "ex10-mb01")},
		{name: "join second dag", setup: then(dag, newDAG("DAG2", "EX10-CAHT02")), run: join("DAG2", "EX10-MB01")},
		{name: "join witness", setup: func(t *testing.T, o *Org, clk *clock.Manual) { must(t, newDAG("E14-DAG", "EX10-MB02")(o)) }, run: join("E14-DAG", "EX10-MB02")},
		{name: "join domain controller", setup: func(t *testing.T, o *Org, clk *clock.Manual) {
			must(t, newDAG("E14-DAG", "EX10-CAHT")(o))
			o.server("EX10-MB01").IsDC = true
		}, run: join("E14-DAG", "EX10-MB01")},
		{name: "join standard edition", setup: func(t *testing.T, o *Org, clk *clock.Manual) {
			must(t, newDAG("E14-DAG", "EX10-CAHT")(o))
			o.server("EX10-MB01").OS = "Windows Server 2008 R2 Standard"
		}, run: join("E14-DAG", "EX10-MB01")},
		{name: "join nlb node", setup: func(t *testing.T, o *Org, clk *clock.Manual) {
			must(t, newDAG("E14-DAG", "EX10-CAHT")(o))
			o.nlb = append(o.nlb, &NLBCluster{Name: "client.msglab.local", Nodes: []*NLBNode{{Host: "EX10-MB01"}}})
		}, run: join("E14-DAG", "EX10-MB01")},
		{name: "join 17th member", setup: func(t *testing.T, o *Org, clk *clock.Manual) {
			withDAG(t, o)
			o.Timing.DAGMember = 0
			for _, s := range addMailboxServers(o, 1, 14) {
				must(t, join("E14-DAG", s)(o))
			}
			addMailboxServers(o, 15, 15)
		}, run: join("E14-DAG", "EX10-MBX15")},
		// Add-MailboxDatabaseCopy
		{name: "copy unknown database", setup: dag, run: addCopy("MB99", "EX10-MB02", 0)},
		{name: "copy on non-mailbox server", setup: dag, run: addCopy("MB01", "EX10-CAHT", 0)},
		{name: "copy where one exists", setup: dag, run: addCopy("MB01", "EX10-MB01", 0)},
		{name: "copy of database outside a dag", run: addCopy("MB01", "EX10-MB02", 0)},
		{name: "copy on server outside the dag", setup: func(t *testing.T, o *Org, clk *clock.Manual) {
			o.Timing.DAGMember = 0
			must(t, newDAG("E14-DAG", "EX10-CAHT")(o))
			must(t, join("E14-DAG", "EX10-MB01")(o))
		}, run: addCopy("MB01", "EX10-MB02", 0)},
		{name: "copy with circular logging", setup: func(t *testing.T, o *Org, clk *clock.Manual) {
			withDAG(t, o)
			o.database("MB01").CircularLogging = true
		}, run: addCopy("MB01", "EX10-MB02", 0)},
		{name: "copy preference out of range", setup: dag, run: addCopy("MB01", "EX10-MB02", 3)},
		{name: "copy on a down member", setup: then(dag, fault(func(o *Org) error { return o.SetMemberDown("E14-DAG", "EX10-MB02", true) })), run: addCopy("MB01", "EX10-MB02", 0)},
		{name: "copy 17th", setup: func(t *testing.T, o *Org, clk *clock.Manual) {
			withDAG(t, o)
			o.Timing.DAGMember = 0
			servers := addMailboxServers(o, 1, 14)
			for _, s := range servers {
				must(t, join("E14-DAG", s)(o))
			}
			must(t, addCopy("MB01", "EX10-MB02", 0)(o))
			for _, s := range servers {
				must(t, addCopy("MB01", s, 0)(o))
			}
			// 16 copies now; a 17th server cannot even join, so force one in.
			extra := addMailboxServers(o, 15, 15)[0]
			o.dag("E14-DAG").Members = append(o.dag("E14-DAG").Members, extra)
		}, run: addCopy("MB01", "EX10-MBX15", 0)},
		// Move-ActiveMailboxDatabase
		{name: "move unknown database", setup: replicated, run: move(moveRequest{Database: "MB99", Target: "EX10-MB02"})},
		{name: "move to unknown server", setup: replicated, run: move(moveRequest{Database: "MB01", Target: "EX10-MB99"})},
		{name: "move to server without copy", setup: func(t *testing.T, o *Org, clk *clock.Manual) {
			withDAG(t, o)
			o.Timing.DAGMember = 0
			s := addMailboxServers(o, 1, 1)[0]
			must(t, join("E14-DAG", s)(o))
		}, run: move(moveRequest{Database: "MB01", Target: "EX10-MBX01"})},
		{name: "move to active server", setup: replicated, run: move(moveRequest{Database: "MB01", Target: "EX10-MB01"})},
		{name: "move unreplicated", run: move(moveRequest{Database: "MB01", Target: "EX10-MB02"})},
		{name: "move to seeding copy", setup: then(dag, addCopy("MB01", "EX10-MB02", 0)), run: move(moveRequest{Database: "MB01", Target: "EX10-MB02"})},
		{name: "move to seeding copy skipping health and active checks", setup: then(dag, addCopy("MB01", "EX10-MB02", 0)),
			run: move(moveRequest{Database: "MB01", Target: "EX10-MB02", SkipHealth: true, SkipActive: true}), ok: true},
		{name: "move to failed copy", setup: then(replicated, fault(func(o *Org) error { return o.SetCopyFault("MB01", "EX10-MB02", "Failed", "disk gone") })), run: move(moveRequest{Database: "MB01", Target: "EX10-MB02"})},
		{name: "move to suspended copy", setup: then(replicated, func(o *Org) error {
			return locked(o, func() error { return o.suspendCopy(`MB01\EX10-MB02`, false, "") })
		}), run: move(moveRequest{Database: "MB01", Target: "EX10-MB02"})},
		{name: "move to activation-suspended copy", setup: then(replicated, func(o *Org) error {
			return locked(o, func() error { return o.suspendCopy(`MB01\EX10-MB02`, true, "") })
		}), run: move(moveRequest{Database: "MB01", Target: "EX10-MB02"})},
		{name: "move to activation-suspended copy skipping health checks", setup: then(replicated, func(o *Org) error {
			return locked(o, func() error { return o.suspendCopy(`MB01\EX10-MB02`, true, "") })
		}), run: move(moveRequest{Database: "MB01", Target: "EX10-MB02", SkipHealth: true}), ok: true},
		{name: "move lossless with copy queue 1", setup: then(replicated, fault(func(o *Org) error { return o.SetQueues("MB01", "EX10-MB02", 1, 0) })), run: move(moveRequest{Database: "MB01", Target: "EX10-MB02"})},
		{name: "move good availability with copy queue 6", setup: then(replicated, fault(func(o *Org) error { return o.SetQueues("MB01", "EX10-MB02", 6, 0) })), run: move(moveRequest{Database: "MB01", Target: "EX10-MB02", Dial: "GoodAvailability"}), ok: true},
		{name: "move good availability with copy queue 7", setup: then(replicated, fault(func(o *Org) error { return o.SetQueues("MB01", "EX10-MB02", 7, 0) })), run: move(moveRequest{Database: "MB01", Target: "EX10-MB02", Dial: "GoodAvailability"})},
		{name: "move best effort with copy queue 10", setup: then(replicated, fault(func(o *Org) error { return o.SetQueues("MB01", "EX10-MB02", 10, 0) })), run: move(moveRequest{Database: "MB01", Target: "EX10-MB02", Dial: "BestEffort"})},
		{name: "move with replay queue 50", setup: then(replicated, fault(func(o *Org) error { return o.SetQueues("MB01", "EX10-MB02", 0, 50) })), run: move(moveRequest{Database: "MB01", Target: "EX10-MB02"})},
		{name: "move with replay queue 50 skipping lag checks", setup: then(replicated, fault(func(o *Org) error { return o.SetQueues("MB01", "EX10-MB02", 0, 50) })), run: move(moveRequest{Database: "MB01", Target: "EX10-MB02", SkipLag: true}), ok: true},
		{name: "move with failed content index", setup: then(replicated, fault(func(o *Org) error { return o.SetContentIndexState("MB01", "EX10-MB02", "Failed") })), run: move(moveRequest{Database: "MB01", Target: "EX10-MB02"})},
		{name: "move with failed content index skipping client checks", setup: then(replicated, fault(func(o *Org) error { return o.SetContentIndexState("MB01", "EX10-MB02", "Failed") })), run: move(moveRequest{Database: "MB01", Target: "EX10-MB02", SkipClient: true}), ok: true},
		{name: "move to a down member", setup: then(replicated, fault(func(o *Org) error { return o.SetMemberDown("E14-DAG", "EX10-MB02", true) })), run: move(moveRequest{Database: "MB01", Target: "EX10-MB02", SkipHealth: true})},
		{name: "move without target and no good copy", setup: then(replicated, fault(func(o *Org) error { return o.SetCopyFault("MB01", "EX10-MB02", "FailedAndSuspended", "") })), run: move(moveRequest{Database: "MB01"})},
		// Removals, suspend, resume
		{name: "remove dag with members", setup: dag, run: func(o *Org) error { return locked(o, func() error { return o.removeDAG("E14-DAG") }) }},
		{name: "remove member with replicated database", setup: replicated, run: func(o *Org) error {
			return locked(o, func() error { return o.removeDAGMember("E14-DAG", "EX10-MB02") })
		}},
		{name: "remove non-member", setup: dag, run: func(o *Org) error {
			return locked(o, func() error { return o.removeDAGMember("E14-DAG", "EX10-CAHT") })
		}},
		{name: "remove active copy", setup: replicated, run: func(o *Org) error { return locked(o, func() error { return o.removeCopy(`MB01\EX10-MB01`) }) }},
		{name: "remove copy with bad identity", setup: replicated, run: func(o *Org) error { return locked(o, func() error { return o.removeCopy(`MB01`) }) }},
		{name: "remove unknown copy", setup: replicated, run: func(o *Org) error { return locked(o, func() error { return o.removeCopy(`MB01\EX10-CAHT`) }) }},
		{name: "suspend active copy", setup: replicated, run: func(o *Org) error {
			return locked(o, func() error { return o.suspendCopy(`MB01\EX10-MB01`, false, "") })
		}},
		{name: "resume unseeded copy", setup: func(t *testing.T, o *Org, clk *clock.Manual) {
			withDAG(t, o)
			must(t, locked(o, func() error { return o.addCopy("MB01", "EX10-MB02", 0, true) }))
		}, run: func(o *Org) error { return locked(o, func() error { return o.resumeCopy(`MB01\EX10-MB02`, false) }) }},
		// Databases
		{name: "new database duplicate name", run: func(o *Org) error {
			return locked(o, func() error { _, err := o.newMailboxDatabase("mb01", "EX10-MB02", "", ""); return err })
		}},
		{name: "new database on CAS", run: func(o *Org) error {
			return locked(o, func() error { _, err := o.newMailboxDatabase("MB03", "EX10-CAHT", "", ""); return err })
		}},
		{name: "set bad rpc client access server", run: func(o *Org) error {
			return locked(o, func() error {
				v := "client msglab"
				_, err := o.setMailboxDatabase("MB01", dbChange{RpcClientAccessServer: &v})
				return err
			})
		}},
		{name: "test replication health outside a dag", run: func(o *Org) error {
			return locked(o, func() error { _, err := o.replicationHealth("EX10-MB01"); return err })
		}},
		{name: "test replication health on CAS", run: func(o *Org) error {
			return locked(o, func() error { _, err := o.replicationHealth("EX10-CAHT"); return err })
		}},
	}
	var out strings.Builder
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, clk := newTestOrg(t)
			o.Timing.Switchover = 0
			if c.setup != nil {
				c.setup(t, o, clk)
			}
			err := c.run(o)
			if (err == nil) != c.ok {
				t.Fatalf("err = %v, want ok=%v", err, c.ok)
			}
			var rec *ps.ErrorRecord
			if err != nil && !errors.As(err, &rec) {
				t.Errorf("error is %T, want *ps.ErrorRecord", err)
			}
			fmt.Fprintf(&out, "%s:\n  %s\n", c.name, errText(err))
		})
	}
	golden(t, "preconditions", out.String())
}

// runAsync runs f in a goroutine that will block on the manual clock, and returns
// a channel with its result.
func runAsync(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

func waitSleepers(t *testing.T, clk *clock.Manual, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clk.WaitForSleepers(ctx, n); err != nil {
		t.Fatalf("nothing waits on the clock: %v", err)
	}
}

func TestAddDAGMemberTakesTimeWithoutHoldingTheLock(t *testing.T) {
	o, clk := newTestOrg(t)
	must(t, locked(o, func() error { _, err := o.newDAG("E14-DAG", "EX10-CAHT", `C:\FSW`, nil); return err }))
	done := runAsync(func() error { return o.addDAGMember(context.Background(), "E14-DAG", "EX10-MB01") })
	waitSleepers(t, clk, 1)

	// While the server joins, the org stays readable, the server is not yet a member,
	// and nothing else can add it.
	if m := locked(o, func() []string { return o.dag("E14-DAG").Members }); len(m) != 0 {
		t.Fatalf("members while joining = %v", m)
	}
	other := locked(o, func() error { _, err := o.newDAG("DAG2", "EX10-CAHT", `C:\FSW`, nil); return err })
	must(t, other)
	if err := o.addDAGMember(context.Background(), "DAG2", "EX10-MB01"); err == nil || !strings.Contains(err.Error(), "being added") {
		t.Fatalf("second join while joining: %v", err)
	}

	clk.Advance(o.Timing.DAGMember - time.Second)
	select {
	case err := <-done:
		t.Fatalf("returned before Timing.DAGMember passed: %v", err)
	default:
	}
	clk.Advance(time.Second)
	must(t, <-done)
	d := locked(o, func() *DAG { return o.dag("E14-DAG") })
	if len(d.Members) != 1 || d.Members[0] != "EX10-MB01" {
		t.Fatalf("members = %v", d.Members)
	}
	var subnets []string
	for _, n := range d.Networks {
		subnets = append(subnets, fmt.Sprintf("%s %s mapi=%v", n.Name, n.Subnet, n.MapiAccessEnabled))
	}
	if got, want := strings.Join(subnets, "; "), "DAGNetwork01 10.0.0.0/24 mapi=true; DAGNetwork02 10.0.1.0/24 mapi=false"; got != want {
		t.Errorf("networks = %s, want %s", got, want)
	}
}

func TestAddDAGMemberCancelledChangesNothing(t *testing.T) {
	o, clk := newTestOrg(t)
	must(t, locked(o, func() error { _, err := o.newDAG("E14-DAG", "EX10-CAHT", `C:\FSW`, nil); return err }))
	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(func() error { return o.addDAGMember(ctx, "E14-DAG", "EX10-MB01") })
	waitSleepers(t, clk, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	d := locked(o, func() *DAG { return o.dag("E14-DAG") })
	if len(d.Members) != 0 || len(d.JoiningUntil) != 0 || len(d.Networks) != 0 {
		t.Fatalf("after cancel: members %v joining %v networks %d", d.Members, d.JoiningUntil, len(d.Networks))
	}
	// The server can join again.
	o.Timing.DAGMember = 0
	must(t, o.addDAGMember(context.Background(), "E14-DAG", "EX10-MB01"))
}

func TestSeedingBecomesHealthyOnTheClock(t *testing.T) {
	o, clk := newTestOrg(t)
	withDAG(t, o)
	must(t, locked(o, func() error { return o.addCopy("MB01", "EX10-MB02", 0, false) }))
	steps := []struct {
		advance        time.Duration
		passive, activ string
	}{
		{0, statusSeeding, statusMounted},
		{o.Timing.Seed - time.Second, statusSeeding, statusMounted},
		{time.Second, statusHealthy, statusMounted},
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		if got := status(o, "MB01", "EX10-MB02"); got != s.passive {
			t.Errorf("at %v: passive = %s, want %s", clk.Now().Sub(labStart), got, s.passive)
		}
		if got := status(o, "MB01", "EX10-MB01"); got != s.activ {
			t.Errorf("at %v: active = %s, want %s", clk.Now().Sub(labStart), got, s.activ)
		}
	}
	prefs := locked(o, func() []any {
		v, _ := o.databaseObject(o.database("MB01"), false).Get("ActivationPreference")
		return v.([]any)
	})
	if fmt.Sprint(prefs) != "[[EX10-MB01, 1] [EX10-MB02, 2]]" {
		t.Errorf("ActivationPreference = %v", prefs)
	}
}

func TestSeedingPostponedStaysSuspended(t *testing.T) {
	o, clk := newTestOrg(t)
	withDAG(t, o)
	must(t, locked(o, func() error { return o.addCopy("MB01", "EX10-MB02", 0, true) }))
	clk.Advance(time.Hour)
	if got := status(o, "MB01", "EX10-MB02"); got != statusSuspended {
		t.Fatalf("status = %s, want Suspended", got)
	}
}

func TestActivationPreferenceInsertShiftsOthers(t *testing.T) {
	o, _ := newTestOrg(t)
	withDAG(t, o)
	o.Timing.DAGMember = 0
	s := addMailboxServers(o, 1, 1)[0]
	must(t, o.addDAGMember(context.Background(), "E14-DAG", s))
	must(t, locked(o, func() error { return o.addCopy("MB01", "EX10-MB02", 0, false) }))
	must(t, locked(o, func() error { return o.addCopy("MB01", s, 1, false) }))
	got := locked(o, func() any { v, _ := o.databaseObject(o.database("MB01"), false).Get("ActivationPreference"); return v })
	if fmt.Sprint(got) != "[[EX10-MBX01, 1] [EX10-MB01, 2] [EX10-MB02, 3]]" {
		t.Errorf("after insert: %v", got)
	}
	must(t, locked(o, func() error { return o.removeCopy(`MB01\EX10-MBX01`) }))
	got = locked(o, func() any { v, _ := o.databaseObject(o.database("MB01"), false).Get("ActivationPreference"); return v })
	if fmt.Sprint(got) != "[[EX10-MB01, 1] [EX10-MB02, 2]]" {
		t.Errorf("after remove: %v", got)
	}
}

func TestMoveSwitchesOverOnTheClock(t *testing.T) {
	o, clk := newTestOrg(t)
	withDAG(t, o)
	withCopies(t, o, clk)
	done := make(chan moveResult, 1)
	errs := runAsync(func() error {
		res, err := o.moveActive(context.Background(), moveRequest{Database: "MB01", Target: "EX10-MB02"})
		done <- res
		return err
	})
	waitSleepers(t, clk, 1)
	// During the switchover the database is still where it was, and a second move is refused.
	if got := status(o, "MB01", "EX10-MB01"); got != statusMounted {
		t.Errorf("during switchover old active = %s", got)
	}
	if _, err := o.moveActive(context.Background(), moveRequest{Database: "MB01", Target: "EX10-MB02"}); err == nil || !strings.Contains(err.Error(), "Another operation") {
		t.Errorf("concurrent move: %v", err)
	}
	clk.Advance(o.Timing.Switchover)
	must(t, <-errs)
	res := <-done
	want := moveResult{Identity: "MB01", Start: "EX10-MB01", End: "EX10-MB02", Status: "Succeeded", MountAtStart: "Mounted", MountAtEnd: "Mounted"}
	if res != want {
		t.Errorf("result = %+v, want %+v", res, want)
	}
	if got := status(o, "MB01", "EX10-MB02"); got != statusMounted {
		t.Errorf("new active = %s", got)
	}
	if got := status(o, "MB01", "EX10-MB01"); got != statusInitializing {
		t.Errorf("old active = %s, want Initializing", got)
	}
	clk.Advance(o.Timing.Initialize)
	if got := status(o, "MB01", "EX10-MB01"); got != statusHealthy {
		t.Errorf("old active after Initialize = %s, want Healthy", got)
	}
	if srv := locked(o, func() string { return o.database("MB01").Active }); srv != "EX10-MB02" {
		t.Errorf("Server = %s", srv)
	}
}

func TestMoveWithLoss(t *testing.T) {
	cases := []struct {
		dial       string
		wantStatus string
		wantErr    bool
	}{
		{"Lossless", "Failed", true},
		{"GoodAvailability", "Succeeded", false},
		{"BestEffort", "Succeeded", false},
	}
	for _, c := range cases {
		t.Run(c.dial, func(t *testing.T) {
			o, clk := newTestOrg(t)
			o.Timing.Switchover = 0
			withDAG(t, o)
			withCopies(t, o, clk)
			must(t, o.SetQueues("MB01", "EX10-MB02", 5, 0))
			res, err := o.moveActive(context.Background(), moveRequest{Database: "MB01", Target: "EX10-MB02", Dial: c.dial, SkipLag: true})
			if (err != nil) != c.wantErr || res.Status != c.wantStatus || res.LogsLost != 5 {
				t.Fatalf("res %+v err %v", res, err)
			}
			wantMount := map[bool]string{true: statusDismounted, false: statusMounted}[c.wantErr]
			if got := status(o, "MB01", "EX10-MB02"); got != wantMount {
				t.Errorf("new active = %s, want %s", got, wantMount)
			}
		})
	}
}

func TestMoveCancelledChangesNothing(t *testing.T) {
	o, clk := newTestOrg(t)
	withDAG(t, o)
	withCopies(t, o, clk)
	ctx, cancel := context.WithCancel(context.Background())
	errs := runAsync(func() error {
		_, err := o.moveActive(ctx, moveRequest{Database: "MB01", Target: "EX10-MB02"})
		return err
	})
	waitSleepers(t, clk, 1)
	cancel()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if a := locked(o, func() string { return o.database("MB01").Active }); a != "EX10-MB01" {
		t.Fatalf("active = %s", a)
	}
	o.Timing.Switchover = 0
	if _, err := o.moveActive(context.Background(), moveRequest{Database: "MB01", Target: "EX10-MB02"}); err != nil {
		t.Fatalf("move after cancelled move: %v", err)
	}
}

// healthSummary renders Test-ReplicationHealth as "Check=Result" for the rows that
// did not pass. It may run on other goroutines, so it reports with Errorf.
func healthSummary(t *testing.T, o *Org, server string) string {
	t.Helper()
	o.mu.Lock()
	rows, err := o.replicationHealth(server)
	o.mu.Unlock()
	if err != nil {
		t.Errorf("Test-ReplicationHealth %s: %v", server, err)
		return ""
	}
	var bad []string
	for _, r := range rows {
		if r.Result != resultPassed {
			bad = append(bad, r.Check+"="+r.Result)
		}
	}
	if len(bad) == 0 {
		return fmt.Sprintf("all %d passed", len(rows))
	}
	return strings.Join(bad, " ")
}

// TestFaultsShowEverywhere checks that each fault shows consistently in copy status,
// Test-ReplicationHealth, DAG -Status and the network cmdlet's model.
func TestFaultsShowEverywhere(t *testing.T) {
	cases := []struct {
		name        string
		fault       func(o *Org) error
		mb02Status  string // MB01\EX10-MB02
		mb01Status  string // MB01\EX10-MB01 (active)
		healthMB02  string
		operational string
		witness     string
	}{
		{"none", func(o *Org) error { return nil }, "Healthy", "Mounted", "all 15 passed", "EX10-MB01 EX10-MB02", "Primary"},
		{"copy failed", func(o *Org) error { return o.SetCopyFault("MB01", "EX10-MB02", "Failed", "log corrupt") },
			"Failed", "Mounted", "DBCopyFailed=Failed", "EX10-MB01 EX10-MB02", "Primary"},
		{"copy failed and suspended", func(o *Org) error { return o.SetCopyFault("MB01", "EX10-MB02", "FailedAndSuspended", "x") },
			"FailedAndSuspended", "Mounted", "DBCopyFailed=Failed", "EX10-MB01 EX10-MB02", "Primary"},
		{"copy queue", func(o *Org) error { return o.SetQueues("MB01", "EX10-MB02", 12, 0) },
			"Healthy", "Mounted", "DBLogCopyKeepingUp=Failed", "EX10-MB01 EX10-MB02", "Primary"},
		{"replay queue", func(o *Org) error { return o.SetQueues("MB01", "EX10-MB02", 0, 80) },
			"Healthy", "Mounted", "DBLogReplayKeepingUp=Failed", "EX10-MB01 EX10-MB02", "Primary"},
		{"replication network down", func(o *Org) error { return o.SetNetworkDown("E14-DAG", "DAGNetwork02", true) },
			"Healthy", "Mounted", "ClusterNetwork=Failed", "EX10-MB01 EX10-MB02", "Primary"},
		{"all networks down", func(o *Org) error {
			if err := o.SetNetworkDown("E14-DAG", "10.0.0.0/24", true); err != nil {
				return err
			}
			return o.SetNetworkDown("E14-DAG", "DAGNetwork02", true)
		}, "DisconnectedAndHealthy", "Mounted", "ClusterNetwork=Failed DBDisconnected=Failed", "EX10-MB01 EX10-MB02", "Primary"},
		{"witness unreachable", func(o *Org) error { return o.SetWitnessUnreachable("E14-DAG", true) },
			"Healthy", "Mounted", "FileShareQuorum=Failed", "EX10-MB01 EX10-MB02", "None"},
		{"other member down", func(o *Org) error { return o.SetMemberDown("E14-DAG", "EX10-MB01", true) },
			"Healthy", "ServiceDown", "DagMembersUp=Failed", "EX10-MB02", "Primary"},
		{"member and witness down: no quorum", func(o *Org) error {
			if err := o.SetMemberDown("E14-DAG", "EX10-MB01", true); err != nil {
				return err
			}
			return o.SetWitnessUnreachable("E14-DAG", true)
		}, "Healthy", "ServiceDown", "ActiveManager=Failed DagMembersUp=Failed QuorumGroup=Failed FileShareQuorum=Failed", "EX10-MB02", "None"},
		{"suspended", func(o *Org) error {
			return locked(o, func() error { return o.suspendCopy(`MB01\EX10-MB02`, false, "maintenance") })
		},
			"Suspended", "Mounted", "DBCopySuspended=Failed", "EX10-MB01 EX10-MB02", "Primary"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, clk := newTestOrg(t)
			withDAG(t, o)
			withCopies(t, o, clk)
			must(t, c.fault(o))
			if got := status(o, "MB01", "EX10-MB02"); got != c.mb02Status {
				t.Errorf(`MB01\EX10-MB02 = %s, want %s`, got, c.mb02Status)
			}
			if got := status(o, "MB01", "EX10-MB01"); got != c.mb01Status {
				t.Errorf(`MB01\EX10-MB01 = %s, want %s`, got, c.mb01Status)
			}
			if got := healthSummary(t, o, "EX10-MB02"); got != c.healthMB02 {
				t.Errorf("Test-ReplicationHealth EX10-MB02: %s, want %s", got, c.healthMB02)
			}
			obj := locked(o, func() *ps.Object { return o.dagObject(o.dag("E14-DAG"), true) })
			ops, _ := obj.Get("OperationalServers")
			if got := strings.Trim(fmt.Sprint(ops), "[]"); got != c.operational {
				t.Errorf("OperationalServers = %s, want %s", got, c.operational)
			}
			if fsw, _ := obj.Get("WitnessShareInUse"); fsw != c.witness {
				t.Errorf("WitnessShareInUse = %v, want %s", fsw, c.witness)
			}
		})
	}
}

func TestMemberDownHealthOnThatMember(t *testing.T) {
	o, clk := newTestOrg(t)
	withDAG(t, o)
	withCopies(t, o, clk)
	must(t, o.SetMemberDown("E14-DAG", "EX10-MB02", true))
	got := healthSummary(t, o, "EX10-MB02")
	for _, ck := range []string{"ClusterService", "ReplayService", "ActiveManager", "TasksRpcListener", "TcpListener", "DagMembersUp", "DBCopyFailed"} {
		if !strings.Contains(got, ck+"=Failed") {
			t.Errorf("%s not failed: %s", ck, got)
		}
	}
	// The database active there is no longer mounted; MB02 on EX10-MB02 is ServiceDown.
	if st := status(o, "MB02", "EX10-MB02"); st != statusServiceDown {
		t.Errorf("MB02 active copy = %s", st)
	}
	if m := locked(o, func() bool { return o.mounted(o.database("MB02")) }); m {
		t.Error("MB02 still mounted on a down member")
	}
	must(t, o.SetMemberDown("E14-DAG", "EX10-MB02", false))
	if got := healthSummary(t, o, "EX10-MB02"); got != "all 15 passed" {
		t.Errorf("after recovery: %s", got)
	}
}

func TestFileShareQuorumOnlyWithEvenMembers(t *testing.T) {
	o, _ := newTestOrg(t)
	o.Timing.DAGMember = 0
	must(t, locked(o, func() error { _, err := o.newDAG("E14-DAG", "EX10-CAHT", `C:\FSW`, nil); return err }))
	must(t, o.addDAGMember(context.Background(), "E14-DAG", "EX10-MB01"))
	rows, err := func() ([]healthRow, error) { o.mu.Lock(); defer o.mu.Unlock(); return o.replicationHealth("EX10-MB01") }()
	must(t, err)
	for _, r := range rows {
		if r.Check == "FileShareQuorum" {
			t.Fatal("FileShareQuorum reported for a one-member DAG (node majority)")
		}
	}
	if len(rows) != 14 {
		t.Errorf("rows = %d, want 14", len(rows))
	}
}

func TestFaultSettersRejectUnknownTargets(t *testing.T) {
	o, clk := newTestOrg(t)
	withDAG(t, o)
	withCopies(t, o, clk)
	for name, err := range map[string]error{
		"copy fault unknown db":     o.SetCopyFault("MB99", "EX10-MB02", "Failed", ""),
		"copy fault bad status":     o.SetCopyFault("MB01", "EX10-MB02", "Broken", ""),
		"copy fault active":         o.SetCopyFault("MB01", "EX10-MB01", "Failed", ""),
		"queues no copy":            o.SetQueues("MB01", "EX10-CAHT", 1, 1),
		"queues negative":           o.SetQueues("MB01", "EX10-MB02", -1, 0),
		"network unknown":           o.SetNetworkDown("E14-DAG", "DAGNetwork09", true),
		"network unknown dag":       o.SetNetworkDown("NODAG", "DAGNetwork01", true),
		"witness unknown dag":       o.SetWitnessUnreachable("NODAG", true),
		"member down non-member":    o.SetMemberDown("E14-DAG", "EX10-CAHT", true),
		"content index unknown db":  o.SetContentIndexState("MB99", "EX10-MB02", "Failed"),
		"member down unknown dag":   o.SetMemberDown("NODAG", "EX10-MB01", true),
		"copy fault unknown server": o.SetCopyFault("MB01", "EX10-MB99", "Failed", ""),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// Clearing a fault restores Healthy.
	must(t, o.SetCopyFault("MB01", "EX10-MB02", "Failed", "x"))
	must(t, o.SetCopyFault("MB01", "EX10-MB02", "", ""))
	if got := status(o, "MB01", "EX10-MB02"); got != statusHealthy {
		t.Errorf("after clearing: %s", got)
	}
}

func TestRemoveMemberPrunesNetworks(t *testing.T) {
	o, _ := newTestOrg(t)
	withDAG(t, o)
	must(t, locked(o, func() error { return o.removeDAGMember("E14-DAG", "EX10-MB02") }))
	must(t, locked(o, func() error { return o.removeDAGMember("E14-DAG", "EX10-MB01") }))
	d := locked(o, func() *DAG { return o.dag("E14-DAG") })
	if len(d.Members) != 0 || len(d.Networks) != 0 {
		t.Fatalf("members %v networks %d", d.Members, len(d.Networks))
	}
	must(t, locked(o, func() error { return o.removeDAG("E14-DAG") }))
	if locked(o, func() *DAG { return o.dag("E14-DAG") }) != nil {
		t.Fatal("DAG still there")
	}
}

// TestConcurrentReadsDuringSlowCmdlets runs reads while a join and a switchover wait
// on the clock: with -race this proves the waits do not hold o.mu and the state is
// guarded.
func TestConcurrentReadsDuringSlowCmdlets(t *testing.T) {
	o, clk := newTestOrg(t)
	withDAG(t, o)
	withCopies(t, o, clk)
	o.Timing.DAGMember = time.Minute
	s := addMailboxServers(o, 1, 1)[0]
	join := runAsync(func() error { return o.addDAGMember(context.Background(), "E14-DAG", s) })
	move := runAsync(func() error {
		_, err := o.moveActive(context.Background(), moveRequest{Database: "MB02", Target: "EX10-MB01"})
		return err
	})
	waitSleepers(t, clk, 2)
	readers := make(chan struct{})
	for i := 0; i < 4; i++ {
		go func() {
			defer func() { readers <- struct{}{} }()
			for j := 0; j < 50; j++ {
				_ = healthSummary(t, o, "EX10-MB01")
				_ = status(o, "MB01", "EX10-MB02")
				_ = o.SetQueues("MB01", "EX10-MB02", j%3, 0)
			}
		}()
	}
	for i := 0; i < 4; i++ {
		<-readers
	}
	clk.Advance(time.Minute)
	must(t, <-join)
	must(t, <-move)
}
