package bot

import (
	"context"
	"log/slog"
	"time"

	"github.com/exchops/exchops/internal/clock"
	"github.com/exchops/exchops/internal/outbox"
)

// Post, Outbox and Dedup are the outbox's records and stores, declared in package
// outbox so that store.DB implements them without importing a chat front. The aliases
// keep the fronts' code as it was.
type (
	Post   = outbox.Post
	Outbox = outbox.Store
	Dedup  = outbox.Dedup
)

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
