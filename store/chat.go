package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/exchops/exchops/internal/outbox"
)

var (
	_ outbox.Store = (*DB)(nil)
	_ outbox.Dedup = (*DB)(nil)
)

// Enqueue stores a post to be retried.
func (s *DB) Enqueue(ctx context.Context, p outbox.Post) (int64, error) {
	var id int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO outbox (platform, key, payload, attempts, next_at, created_at, last_error)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, p.Platform, p.Key, p.Payload, p.Attempts, timeText(p.NextAt), timeText(p.CreatedAt), p.LastError)
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: keeping a chat post for retry: %w", err)
	}
	return id, nil
}

// Due returns platform's undelivered posts whose time has come, oldest first.
func (s *DB) Due(ctx context.Context, platform string, now time.Time, limit int) ([]outbox.Post, error) {
	var out []outbox.Post
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, platform, key, payload, attempts, next_at, created_at, last_error
			FROM outbox WHERE delivered_at IS NULL AND platform = ? AND next_at <= ? ORDER BY id LIMIT ?`,
			platform, timeText(now), max(limit, 1))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p outbox.Post
			var next, created string
			if err := rows.Scan(&p.ID, &p.Platform, &p.Key, &p.Payload, &p.Attempts, &next, &created, &p.LastError); err != nil {
				return err
			}
			if p.NextAt, err = parseTime(next); err != nil {
				return err
			}
			if p.CreatedAt, err = parseTime(created); err != nil {
				return err
			}
			out = append(out, p)
		}
		return rows.Err()
	})
	return out, err
}

// Delivered marks a post sent.
func (s *DB) Delivered(ctx context.Context, id int64, at time.Time) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE outbox SET delivered_at = ?, attempts = attempts + 1 WHERE id = ?`, timeText(at), id)
		return err
	})
}

// Postpone records a failed attempt and when to try again.
func (s *DB) Postpone(ctx context.Context, id int64, next time.Time, lastErr string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ?`, timeText(next), lastErr, id)
		return err
	})
}

// Undelivered counts posts not delivered yet, of one platform or ("") all.
func (s *DB) Undelivered(ctx context.Context, platform string) (int, error) {
	var n int
	err := s.read(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND (? = '' OR platform = ?)`, platform, platform).Scan(&n)
	})
	return n, err
}

// FirstSeen records key and reports whether it was new. Keys older than keep are
// forgotten first, so a key comes back as new only after keep has passed.
func (s *DB) FirstSeen(ctx context.Context, key string, now time.Time, keep time.Duration) (bool, error) {
	var first bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM seen WHERE at < ?`, timeText(now.Add(-keep))); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO seen (key, at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, timeText(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		first = n == 1
		return err
	})
	return first, err
}
