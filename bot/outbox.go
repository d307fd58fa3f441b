package bot

import (
	"context"
	"log/slog"
	"time"

	"github.com/exchops/exchops/internal/clock"
)

// Post is a chat message that could not be delivered yet. Payload is the front's own
// encoding of what to send (method and arguments); the core never reads it.
type Post struct {
	ID        int64
	Platform  string // "slack", "discord"
	Key       string // what it is about, for people and logs: "r-3 card"
	Payload   []byte
	Attempts  int
	NextAt    time.Time
	CreatedAt time.Time
	LastError string
}

// Outbox keeps posts that failed, so that they are retried until delivered, across
// restarts; store.DB implements it.
type Outbox interface {
	Enqueue(ctx context.Context, p Post) (int64, error)
	// Due returns undelivered posts of platform whose NextAt has come, oldest first.
	Due(ctx context.Context, platform string, now time.Time, limit int) ([]Post, error)
	Delivered(ctx context.Context, id int64, at time.Time) error
	Postpone(ctx context.Context, id int64, next time.Time, lastErr string) error
	// Undelivered counts posts not delivered yet (all platforms when platform is "").
	Undelivered(ctx context.Context, platform string) (int, error)
}

// Dedup remembers keys (a Slack trigger id, a click) for a while, so that a replayed
// delivery is recognised; store.DB implements it.
type Dedup interface {
	// FirstSeen records key and reports whether it was new; keys older than keep are
	// forgotten.
	FirstSeen(ctx context.Context, key string, now time.Time, keep time.Duration) (bool, error)
}

// OutboxBackoff is the wait before the n-th retry (n from 1): 5 s doubling to at most
// 10 minutes.
func OutboxBackoff(n int) time.Duration {
	d := 5 * time.Second
	for i := 1; i < n && d < 10*time.Minute; i++ {
		d *= 2
	}
	return min(d, 10*time.Minute)
}

// DeliverOutbox retries platform's undelivered posts with send until ctx ends, checking
// every interval on clk. send returns nil when the post was delivered.
func DeliverOutbox(ctx context.Context, ob Outbox, platform string, clk clock.Clock, interval time.Duration, log *slog.Logger, send func(context.Context, Post) error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	interval = max(interval, 100*time.Millisecond) // never spin
	for ctx.Err() == nil {
		posts, err := ob.Due(ctx, platform, clk.Now(), 20)
		if err != nil && ctx.Err() == nil {
			log.Error("reading the outbox", "platform", platform, "err", err)
		}
		for _, p := range posts {
			if err := send(ctx, p); err != nil {
				next := clk.Now().Add(OutboxBackoff(p.Attempts + 1))
				log.Warn("a chat post failed again; it stays in the outbox", "platform", platform, "post", p.Key, "attempts", p.Attempts+1, "err", err)
				if err := ob.Postpone(ctx, p.ID, next, err.Error()); err != nil && ctx.Err() == nil {
					log.Error("postponing an outbox post", "err", err)
				}
				continue
			}
			if err := ob.Delivered(ctx, p.ID, clk.Now()); err != nil && ctx.Err() == nil {
				log.Error("marking an outbox post delivered", "err", err)
			}
		}
		clk.Sleep(ctx, interval)
	}
}
