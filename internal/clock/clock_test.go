package clock

import (
	"context"
	"errors"
	"testing"
	"time"
)

var start = time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)

func TestManualWakesSleepersInOrderOfDeadline(t *testing.T) {
	c := NewManual(start)
	ctx := context.Background()
	woke := make(chan time.Duration, 3)
	for _, d := range []time.Duration{30 * time.Second, 10 * time.Second, 20 * time.Second} {
		go func() {
			if err := c.Sleep(ctx, d); err != nil {
				t.Error(err)
			}
			woke <- d
		}()
	}
	if err := c.WaitForSleepers(ctx, 3); err != nil {
		t.Fatal(err)
	}
	c.Advance(15 * time.Second)
	if got := <-woke; got != 10*time.Second {
		t.Fatalf("first to wake slept %v, want 10s", got)
	}
	if n := c.Sleepers(); n != 2 {
		t.Fatalf("%d sleepers after the first woke, want 2", n)
	}
	c.Advance(15 * time.Second)
	got := map[time.Duration]bool{<-woke: true, <-woke: true}
	if !got[20*time.Second] || !got[30*time.Second] {
		t.Fatalf("woke %v, want 20s and 30s", got)
	}
	if want := start.Add(30 * time.Second); !c.Now().Equal(want) {
		t.Fatalf("now = %v, want %v", c.Now(), want)
	}
}

func TestManualSleepEndsWithContext(t *testing.T) {
	c := NewManual(start)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Sleep(ctx, time.Hour) }()
	if err := c.WaitForSleepers(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep returned %v, want context.Canceled", err)
	}
	if n := c.Sleepers(); n != 0 {
		t.Fatalf("a cancelled sleeper is still counted: %d", n)
	}
}

func TestZeroSleepReturnsAtOnce(t *testing.T) {
	for _, c := range []Clock{NewManual(start), Real{}} {
		if err := c.Sleep(context.Background(), 0); err != nil {
			t.Fatalf("%T: %v", c, err)
		}
	}
}
