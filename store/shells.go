package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Shell is a WS-Management shell exchops opened on a server and has not closed yet.
type Shell struct {
	ID          string
	Server      string
	ResourceURI string
	OpenedAt    time.Time
}

// RecordShell notes a shell as open, before anything runs in it.
func (s *DB) RecordShell(ctx context.Context, sh Shell) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO shells (shell_id, server, resource_uri, opened_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (shell_id) DO NOTHING`, sh.ID, sh.Server, sh.ResourceURI, timeText(sh.OpenedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: recording shell %s on %s: %w", sh.ID, sh.Server, err)
	}
	return nil
}

// ForgetShell removes a shell that was closed (by exchops or, after a crash, by
// start-up recovery). Forgetting an unknown shell is not an error.
func (s *DB) ForgetShell(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM shells WHERE shell_id = ?`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: forgetting shell %s: %w", id, err)
	}
	return nil
}

// Shells lists the shells recorded as open, oldest first.
func (s *DB) Shells(ctx context.Context) ([]Shell, error) {
	var out []Shell
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT shell_id, server, resource_uri, opened_at FROM shells ORDER BY opened_at, shell_id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var sh Shell
			var at string
			if err := rows.Scan(&sh.ID, &sh.Server, &sh.ResourceURI, &at); err != nil {
				return err
			}
			if sh.OpenedAt, err = parseTime(at); err != nil {
				return err
			}
			out = append(out, sh)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store: reading open shells: %w", err)
	}
	return out, nil
}
