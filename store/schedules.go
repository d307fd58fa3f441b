package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/exchops/exchops/schedules"
)

var _ schedules.Store = (*DB)(nil)

// Schedules returns the schedules added in chat, by name.
func (s *DB) Schedules(ctx context.Context) ([]schedules.Entry, error) {
	var out []schedules.Entry
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT name, spec, timezone, job, dag, post_to, added_by, added_at
			FROM schedules ORDER BY name`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e schedules.Entry
			var added, postTo string
			if err := rows.Scan(&e.Name, &e.Spec, &e.TimeZone, &e.Job, &e.DAG, &postTo, &e.AddedBy, &added); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(postTo), &e.PostTo); err != nil {
				return fmt.Errorf("schedule %s: post_to %q: %w", e.Name, postTo, err)
			}
			if len(e.PostTo) == 0 {
				e.PostTo = nil
			}
			if e.AddedAt, err = parseTime(added); err != nil {
				return err
			}
			e.Source = schedules.SourceChat
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store: reading the schedules: %w", err)
	}
	return out, nil
}

// AddSchedule stores a schedule added in chat; schedules.ErrExists when its name
// (compared without case) is taken.
func (s *DB) AddSchedule(ctx context.Context, e schedules.Entry) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		postTo, err := json.Marshal(channels(e.PostTo))
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO schedules (name, spec, timezone, job, dag, post_to, added_by, added_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
			e.Name, e.Spec, e.TimeZone, e.Job, e.DAG, string(postTo), e.AddedBy, timeText(e.AddedAt))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return schedules.ErrExists
		}
		return nil
	})
	if errors.Is(err, schedules.ErrExists) {
		return fmt.Errorf("store: schedule %s: %w", e.Name, err)
	}
	if err != nil {
		return fmt.Errorf("store: keeping schedule %s: %w", e.Name, err)
	}
	return nil
}

// RemoveSchedule deletes a schedule added in chat and its last run;
// schedules.ErrNotFound when there is none.
func (s *DB) RemoveSchedule(ctx context.Context, name string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM schedules WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return schedules.ErrNotFound
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM schedule_runs WHERE name = ?`, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: removing schedule %s: %w", name, err)
	}
	return nil
}

// LastRun is when the schedule last fired; the zero time when never.
func (s *DB) LastRun(ctx context.Context, name string) (time.Time, error) {
	var at string
	err := s.read(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT last_run FROM schedule_runs WHERE name = ?`, name).Scan(&at)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("store: reading the last run of %s: %w", name, err)
	}
	return parseTime(at)
}

// SetLastRun records that the schedule fired at at.
func (s *DB) SetLastRun(ctx context.Context, name string, at time.Time) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO schedule_runs (name, last_run) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET last_run = excluded.last_run`, name, timeText(at))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: recording the last run of %s: %w", name, err)
	}
	return nil
}

// SaveReport keeps a health report as JSON.
func (s *DB) SaveReport(ctx context.Context, r *schedules.Report) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("store: encoding the health report of %s: %w", r.DAG, err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO health_reports (dag, at, verdict, schedule, report) VALUES (?, ?, ?, ?, ?)`,
			r.DAG, timeText(r.At), string(r.Verdict), r.Schedule, string(b))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: keeping the health report of %s: %w", r.DAG, err)
	}
	return nil
}

// Reports returns a DAG's health reports made at or after since, oldest first.
func (s *DB) Reports(ctx context.Context, dag string, since time.Time) ([]*schedules.Report, error) {
	out, err := readJSON[schedules.Report](ctx, s, "report",
		`SELECT report FROM health_reports WHERE dag = ? AND at >= ? ORDER BY at, id`, dag, timeText(since))
	if err != nil {
		return nil, fmt.Errorf("store: reading the health reports of %s: %w", dag, err)
	}
	return out, nil
}

// SaveScorecard keeps a drill's scorecard as JSON.
func (s *DB) SaveScorecard(ctx context.Context, sc *schedules.Scorecard) error {
	b, err := json.Marshal(sc)
	if err != nil {
		return fmt.Errorf("store: encoding the scorecard of %s: %w", sc.DAG, err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO drill_scorecards (dag, started_at, outcome, schedule, scorecard) VALUES (?, ?, ?, ?, ?)`,
			sc.DAG, timeText(sc.Started), string(sc.Outcome), sc.Schedule, string(b))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: keeping the scorecard of %s: %w", sc.DAG, err)
	}
	return nil
}

// Scorecards returns a DAG's most recent scorecards, newest first, at most limit (all
// when limit <= 0).
func (s *DB) Scorecards(ctx context.Context, dag string, limit int) ([]*schedules.Scorecard, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	out, err := readJSON[schedules.Scorecard](ctx, s, "scorecard",
		`SELECT scorecard FROM drill_scorecards WHERE dag = ? ORDER BY started_at DESC, id DESC LIMIT ?`, dag, limit)
	if err != nil {
		return nil, fmt.Errorf("store: reading the scorecards of %s: %w", dag, err)
	}
	return out, nil
}

// readJSON runs a query whose one column holds JSON documents and decodes each row.
func readJSON[T any](ctx context.Context, s *DB, what, query string, args ...any) ([]*T, error) {
	var out []*T
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var text string
			if err := rows.Scan(&text); err != nil {
				return err
			}
			v := new(T)
			if err := json.Unmarshal([]byte(text), v); err != nil {
				return fmt.Errorf("a stored %s does not decode: %w", what, err)
			}
			out = append(out, v)
		}
		return rows.Err()
	})
	return out, err
}

// channels is a schedule's channels as stored: platforms without a channel left out,
// and an empty object rather than null when there are none.
func channels(to map[string]string) map[string]string {
	out := map[string]string{}
	for platform, channel := range to {
		if channel != "" {
			out[platform] = channel
		}
	}
	return out
}
