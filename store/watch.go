package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/exchops/exchops/schedules"
)

var _ schedules.WatchStore = (*DB)(nil)

// WatchState returns what the watch holds for a DAG (its name compared without case),
// conditions sorted by key; no conditions when it holds nothing.
func (s *DB) WatchState(ctx context.Context, dag string) (schedules.WatchState, error) {
	st := schedules.WatchState{DAG: dag}
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT kind, subject, state, level, since, posted_at FROM alerts WHERE dag = ?`, dag)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c schedules.Condition
			var since string
			var posted sql.NullString
			if err := rows.Scan(&c.Kind, &c.Subject, &c.State, &c.Level, &since, &posted); err != nil {
				return err
			}
			if c.Since, err = parseTime(since); err != nil {
				return err
			}
			if c.Posted, err = parseNullTime(posted); err != nil {
				return err
			}
			st.Conditions = append(st.Conditions, c)
		}
		return rows.Err()
	})
	if err != nil {
		return schedules.WatchState{}, fmt.Errorf("store: reading the watch state of %s: %w", dag, err)
	}
	schedules.SortConditions(st.Conditions)
	return st, nil
}

// SaveWatchState replaces what the watch holds for st.DAG, in one transaction.
func (s *DB) SaveWatchState(ctx context.Context, st schedules.WatchState) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM alerts WHERE dag = ?`, st.DAG); err != nil {
			return err
		}
		for _, c := range st.Conditions {
			if _, err := tx.ExecContext(ctx, `INSERT INTO alerts (dag, kind, subject, state, level, since, posted_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, st.DAG, string(c.Kind), c.Subject, c.State, string(c.Level),
				timeText(c.Since), nullTime(c.Posted)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: keeping the watch state of %s: %w", st.DAG, err)
	}
	return nil
}
