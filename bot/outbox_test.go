package bot_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/exchops/exchops/bot"
	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/store"
)

func TestOutboxBackoff(t *testing.T) {
	tests := []struct {
		n    int
		want time.Duration
	}{
		{-1, 5 * time.Second},
		{0, 5 * time.Second},
		{1, 5 * time.Second},
		{2, 10 * time.Second},
		{3, 20 * time.Second},
		{4, 40 * time.Second},
		{5, 80 * time.Second},
		{6, 160 * time.Second},
		{7, 320 * time.Second},
		{8, 10 * time.Minute}, // 640 s, capped
		{9, 10 * time.Minute},
		{1000, 10 * time.Minute},
	}
	for _, tt := range tests {
		if got := bot.OutboxBackoff(tt.n); got != tt.want {
			t.Errorf("OutboxBackoff(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
}

// attempt is one call of send, as send saw the post.
type attempt struct {
	key      string
	attempts int
	nextAt   time.Time
	lastErr  string
	at       time.Time
}

func TestDeliverOutbox(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := clock.NewManual(start)

	for _, p := range []bot.Post{
		{Platform: "slack", Key: "r-1 card", Payload: []byte(`{"method":"chat.postMessage"}`)},
		{Platform: "slack", Key: "r-2 card", Payload: []byte(`{"method":"chat.postMessage"}`)},
		{Platform: "discord", Key: "r-2 card", Payload: []byte(`{}`)}, // not this loop's
		{Platform: "slack", Key: "r-3 card", Payload: []byte(`{"method":"chat.update"}`)},
	} {
		p.NextAt, p.CreatedAt = start, start
		if _, err := db.Enqueue(ctx, p); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	var calls []attempt
	failures := 0
	send := func(_ context.Context, p bot.Post) error {
		mu.Lock()
		defer mu.Unlock()
		if p.Platform != "slack" {
			t.Errorf("the slack loop sent a %s post", p.Platform)
		}
		calls = append(calls, attempt{key: p.Key, attempts: p.Attempts, nextAt: p.NextAt, lastErr: p.LastError, at: clk.Now()})
		if p.Key == "r-2 card" && failures < 2 {
			failures++
			return errors.New("slack: 503 Service Unavailable")
		}
		return nil
	}
	since := 0
	newCalls := func() []attempt {
		mu.Lock()
		defer mu.Unlock()
		c := slices.Clone(calls[since:])
		since = len(calls)
		return c
	}

	const interval = time.Second
	loopCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		bot.DeliverOutbox(loopCtx, db, "slack", clk, interval, nil, send)
	}()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	// tick lets the loop finish its pass and wait on the clock, then moves the clock.
	tick := func(d time.Duration) {
		t.Helper()
		if err := clk.WaitForSleepers(wctx, 1); err != nil {
			t.Fatalf("the loop did not come back to wait on the clock: %v", err)
		}
		clk.Advance(d)
	}
	// settle waits until the loop has finished the pass the last tick started.
	settle := func() {
		t.Helper()
		if err := clk.WaitForSleepers(wctx, 1); err != nil {
			t.Fatalf("the loop did not come back to wait on the clock: %v", err)
		}
	}

	steps := []struct {
		name    string
		advance time.Duration // before the pass; 0 for the first
		want    []attempt
	}{
		{"first pass: every due post, oldest first", 0, []attempt{
			{key: "r-1 card", nextAt: start, at: start},
			{key: "r-2 card", nextAt: start, at: start},
			{key: "r-3 card", nextAt: start, at: start},
		}},
		{"before the first retry is due", interval, nil},
		{"first retry, 5 s after the failure: fails again", 4 * time.Second, []attempt{
			{key: "r-2 card", attempts: 1, nextAt: start.Add(5 * time.Second), lastErr: "slack: 503 Service Unavailable", at: start.Add(5 * time.Second)},
		}},
		{"before the second retry is due", 9 * time.Second, nil},
		{"second retry, 10 s after: delivered", interval, []attempt{
			{key: "r-2 card", attempts: 2, nextAt: start.Add(15 * time.Second), lastErr: "slack: 503 Service Unavailable", at: start.Add(15 * time.Second)},
		}},
		{"nothing left", time.Hour, nil},
	}
	for _, st := range steps {
		if st.advance > 0 {
			tick(st.advance)
		}
		settle()
		if got := newCalls(); !slices.Equal(got, st.want) {
			t.Errorf("%s: sent %+v, want %+v", st.name, got, st.want)
		}
	}

	if n, err := db.Undelivered(ctx, "slack"); err != nil || n != 0 {
		t.Errorf("Undelivered(slack) = %d, %v; want 0", n, err)
	}
	if n, err := db.Undelivered(ctx, ""); err != nil || n != 1 {
		t.Errorf("Undelivered(all) = %d, %v; want the discord post", n, err)
	}
	// Every attempt is recorded, the one that delivered too.
	rows, err := db.SQL().QueryContext(ctx, `SELECT key, attempts, last_error FROM outbox WHERE platform = 'slack' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type row struct {
		key      string
		attempts int
		lastErr  string
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.key, &r.attempts, &r.lastErr); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []row{{"r-1 card", 1, ""}, {"r-2 card", 3, "slack: 503 Service Unavailable"}, {"r-3 card", 1, ""}}
	if !slices.Equal(got, want) {
		t.Errorf("outbox rows %+v, want %+v", got, want)
	}

	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("DeliverOutbox did not return after its context ended")
	}
}

// failingOutbox is an outbox that cannot be read: the loop keeps trying every interval
// and still ends with its context.
type failingOutbox struct {
	bot.Outbox
	mu    sync.Mutex
	reads int
}

func (o *failingOutbox) Due(context.Context, string, time.Time, int) ([]bot.Post, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reads++
	return nil, errors.New("database is locked")
}

func (o *failingOutbox) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reads
}

func TestDeliverOutboxUnreadable(t *testing.T) {
	clk := clock.NewManual(start)
	ob := &failingOutbox{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		bot.DeliverOutbox(ctx, ob, "discord", clk, time.Minute, nil, func(context.Context, bot.Post) error {
			t.Error("send called without posts")
			return nil
		})
	}()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	for want := 1; want <= 3; want++ {
		if err := clk.WaitForSleepers(wctx, 1); err != nil {
			t.Fatal(err)
		}
		if n := ob.count(); n != want {
			t.Errorf("%d reads, want %d", n, want)
		}
		clk.Advance(time.Minute)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("DeliverOutbox did not return after its context ended")
	}
}
