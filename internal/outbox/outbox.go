// Package outbox is the record of chat deliveries that the chat fronts keep durably:
// posts that failed and wait to be retried, and deliveries already seen (so that a
// replay is recognised). It holds only the records and the interfaces that keep them;
// the delivery rules (when to retry, what to drop) belong to package bot, and store.DB
// keeps the records. It sits below both, so that the store imports no chat front.
package outbox

import (
	"context"
	"time"
)

// Post is a chat message that could not be delivered yet. Payload is the front's own
// encoding of what to send (method and arguments); nothing outside that front reads it.
type Post struct {
	ID        int64
	Platform  string // the registered name of the front that owns the post
	Key       string // what it is about, for people and logs: "r-3 card"
	Payload   []byte
	Attempts  int
	NextAt    time.Time
	CreatedAt time.Time
	LastError string
}

// Store keeps posts that failed, so that they are retried until delivered, across
// restarts; store.DB implements it.
type Store interface {
	Enqueue(ctx context.Context, p Post) (int64, error)
	// Due returns undelivered posts of platform whose NextAt has come, oldest first.
	Due(ctx context.Context, platform string, now time.Time, limit int) ([]Post, error)
	Delivered(ctx context.Context, id int64, at time.Time) error
	Postpone(ctx context.Context, id int64, next time.Time, lastErr string) error
	// Undelivered counts posts not delivered yet (all platforms when platform is "").
	Undelivered(ctx context.Context, platform string) (int, error)
}

// Dedup remembers keys (a platform's trigger id, a click) for a while, so that a
// replayed delivery is recognised; store.DB implements it.
type Dedup interface {
	// FirstSeen records key and reports whether it was new; keys older than keep are
	// forgotten.
	FirstSeen(ctx context.Context, key string, now time.Time, keep time.Duration) (bool, error)
}
