package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/exchops/exchops/approvals"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

var _ approvals.Store = (*DB)(nil)

// Create stores a new request with its first audit event, in one transaction. It
// assigns r.Seq from the requests table's sequence, r.ID ("r-42") and r.Version (1),
// and leaves r as it was when it fails. Votes, a run and cards already on r are
// stored too.
func (s *DB) Create(ctx context.Context, r *approvals.Request, ev approvals.AuditEvent) error {
	var seq int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		// The id is derived from the sequence, which is only known after the insert;
		// the placeholder cannot collide because writers take turns.
		res, err := tx.ExecContext(ctx, `INSERT INTO requests (id, version,
			command, summary, requester, origin_platform, origin_channel, origin_user,
			steps, wait, lock, findings, hash, required, status, reason,
			created_at, expires_at, updated_at, approvers, excluded_team, procedure)
			VALUES ('', 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.Command, r.Summary, r.Requester, r.Origin.Platform, r.Origin.Channel, r.Origin.User,
			encodeSteps(r.Steps), encodeWait(r.Wait), r.Lock, encodeFindings(r.Findings), r.Hash, r.Required,
			string(r.Status), r.Reason, timeText(r.CreatedAt), timeText(r.ExpiresAt), timeText(r.UpdatedAt),
			encodeApprovers(r.Approvers), r.ExcludedTeam, encodeProcedure(r.Procedure))
		if err != nil {
			return err
		}
		if seq, err = res.LastInsertId(); err != nil {
			return err
		}
		id := requestID(seq)
		if _, err := tx.ExecContext(ctx, `UPDATE requests SET id = ? WHERE seq = ?`, id, seq); err != nil {
			return err
		}
		if err := insertVotes(ctx, tx, id, r.Votes); err != nil {
			return err
		}
		if err := saveRun(ctx, tx, id, nil, r.Run); err != nil {
			return err
		}
		if err := saveCards(ctx, tx, id, nil, r.Cards); err != nil {
			return err
		}
		return insertEvents(ctx, tx, id, []approvals.AuditEvent{ev})
	})
	if err != nil {
		return fmt.Errorf("storing a new request: %w", err)
	}
	r.Seq, r.ID, r.Version = seq, requestID(seq), 1
	return nil
}

func requestID(seq int64) string { return fmt.Sprintf("r-%d", seq) }

// Update is one read-modify-write of request id in one immediate transaction: no
// other Update, in this process or another, runs between its read and its write.
// fn gets a copy it may change freely. The store assigns ID, Seq and Version: fn's
// changes to them are ignored. Votes are only added: changing or removing one, or a
// second vote by the same person, fails with an error wrapping approvals.ErrConflict,
// as does removing the run. The cards saved are fn's, one per platform and channel
// (the last wins). When fn returns an error nothing is saved and that error is
// returned as it is. The request returned is re-read inside the transaction, so it
// is exactly what was saved.
func (s *DB) Update(ctx context.Context, id string, fn func(r *approvals.Request) ([]approvals.AuditEvent, error)) (*approvals.Request, error) {
	var saved *approvals.Request
	var fnErr error
	err := s.write(ctx, func(tx *sql.Tx) error {
		old, err := getRequest(ctx, tx, id)
		if err != nil {
			return err
		}
		r := clone(old)
		var events []approvals.AuditEvent
		if events, fnErr = fn(r); fnErr != nil {
			return fnErr
		}
		if err := saveRequest(ctx, tx, old, r); err != nil {
			return err
		}
		if err := insertEvents(ctx, tx, old.ID, events); err != nil {
			return err
		}
		saved, err = getRequest(ctx, tx, id)
		return err
	})
	if fnErr != nil {
		return nil, fnErr
	}
	if err != nil {
		return nil, fmt.Errorf("updating request %s: %w", id, err)
	}
	return saved, nil
}

// Get returns request id with its votes, run and cards.
func (s *DB) Get(ctx context.Context, id string) (*approvals.Request, error) {
	var r *approvals.Request
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = getRequest(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading request %s: %w", id, err)
	}
	return r, nil
}

// List returns the requests in statuses (all when there are none), newest first, at
// most limit of them (all when limit <= 0).
func (s *DB) List(ctx context.Context, statuses []approvals.Status, limit int) ([]*approvals.Request, error) {
	var cond strings.Builder
	var args []any
	if len(statuses) > 0 {
		cond.WriteString("WHERE status IN (?" + strings.Repeat(", ?", len(statuses)-1) + ") ")
		for _, st := range statuses {
			args = append(args, string(st))
		}
	}
	if limit <= 0 {
		limit = -1 // SQLite's "no limit"
	}
	cond.WriteString("ORDER BY seq DESC LIMIT ?")
	args = append(args, limit)

	var out []*approvals.Request
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = loadRequests(ctx, tx, cond.String(), args)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing requests: %w", err)
	}
	return out, nil
}

// OfCommand returns the requests of one command, oldest first: those whose command
// text is name, or starts with name and a space.
func (s *DB) OfCommand(ctx context.Context, name string) ([]*approvals.Request, error) {
	var out []*approvals.Request
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = loadRequests(ctx, tx, "WHERE command = ? OR substr(command, 1, ?) = ? ORDER BY seq",
			[]any{name, len(name) + 1, name + " "})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing the requests of %s: %w", name, err)
	}
	return out, nil
}

// Expiring returns the ids of pending requests due to expire at now, and the next
// expiry after now, through the expires_at index.
func (s *DB) Expiring(ctx context.Context, now time.Time, limit int) ([]string, time.Time, error) {
	var due []string
	var next time.Time
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM requests WHERE status = ? AND expires_at <= ? ORDER BY expires_at LIMIT ?`,
			string(approvals.Pending), timeText(now), max(limit, 1))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			due = append(due, id)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var at sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT min(expires_at) FROM requests WHERE status = ? AND expires_at > ?`,
			string(approvals.Pending), timeText(now)).Scan(&at); err != nil {
			return err
		}
		next, err = parseNullTime(at)
		return err
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("reading expiring requests: %w", err)
	}
	return due, next, nil
}

// Audit returns request id's audit trail in the order it was written, which is
// oldest first. approvals.ErrNotFound when there is no such request.
func (s *DB) Audit(ctx context.Context, id string) ([]approvals.AuditEvent, error) {
	var out []approvals.AuditEvent
	err := s.read(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM requests WHERE id = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return notFound(id)
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, request_id, at, actor, via, event, detail
			FROM audit_events WHERE request_id = ? ORDER BY id`, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ev approvals.AuditEvent
			var at, via string
			if err := rows.Scan(&ev.ID, &ev.RequestID, &at, &ev.Actor, &via, &ev.Event, &ev.Detail); err != nil {
				return err
			}
			if ev.At, err = parseTime(at); err != nil {
				return err
			}
			if ev.Via, err = decodeOrigin(via); err != nil {
				return err
			}
			out = append(out, ev)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("reading the audit trail of %s: %w", id, err)
	}
	return out, nil
}

func notFound(id string) error {
	return fmt.Errorf("%w: %s", approvals.ErrNotFound, id)
}

// saveRequest writes what fn changed from old to r.
func saveRequest(ctx context.Context, tx *sql.Tx, old, r *approvals.Request) error {
	res, err := tx.ExecContext(ctx, `UPDATE requests SET version = version + 1,
		command = ?, summary = ?, requester = ?, origin_platform = ?, origin_channel = ?, origin_user = ?,
		steps = ?, wait = ?, lock = ?, findings = ?, hash = ?, required = ?, status = ?, reason = ?,
		created_at = ?, expires_at = ?, updated_at = ?, approvers = ?, excluded_team = ?, procedure = ?
		WHERE id = ? AND version = ?`,
		r.Command, r.Summary, r.Requester, r.Origin.Platform, r.Origin.Channel, r.Origin.User,
		encodeSteps(r.Steps), encodeWait(r.Wait), r.Lock, encodeFindings(r.Findings), r.Hash, r.Required,
		string(r.Status), r.Reason, timeText(r.CreatedAt), timeText(r.ExpiresAt), timeText(r.UpdatedAt),
		encodeApprovers(r.Approvers), r.ExcludedTeam, encodeProcedure(r.Procedure),
		old.ID, old.Version)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return approvals.ErrConflict
	}

	if len(r.Votes) < len(old.Votes) {
		return fmt.Errorf("%w: votes on %s are never removed", approvals.ErrConflict, old.ID)
	}
	for i, v := range old.Votes {
		if !sameVote(v, r.Votes[i]) {
			return fmt.Errorf("%w: %s's vote on %s cannot be changed", approvals.ErrConflict, v.Person, old.ID)
		}
	}
	if err := insertVotes(ctx, tx, old.ID, r.Votes[len(old.Votes):]); err != nil {
		return err
	}
	if err := saveRun(ctx, tx, old.ID, old.Run, r.Run); err != nil {
		return err
	}
	return saveCards(ctx, tx, old.ID, old.Cards, r.Cards)
}

func sameVote(a, b approvals.Vote) bool {
	return a.Person == b.Person && a.Decision == b.Decision && a.At.Equal(b.At) && a.Via == b.Via && a.Reason == b.Reason
}

func insertVotes(ctx context.Context, tx *sql.Tx, id string, votes []approvals.Vote) error {
	for _, v := range votes {
		_, err := tx.ExecContext(ctx, `INSERT INTO approvals (request_id, person, decision, at, via, reason)
			VALUES (?, ?, ?, ?, ?, ?)`,
			id, v.Person, string(v.Decision), timeText(v.At), encodeOrigin(v.Via), v.Reason)
		if isUnique(err) {
			return fmt.Errorf("%w: %s has already voted on %s", approvals.ErrConflict, v.Person, id)
		}
		if err != nil {
			return fmt.Errorf("saving %s's vote: %w", v.Person, err)
		}
	}
	return nil
}

func saveRun(ctx context.Context, tx *sql.Tx, id string, old, run *approvals.Run) error {
	if run == nil {
		if old != nil {
			return fmt.Errorf("%w: the run of %s cannot be removed", approvals.ErrConflict, id)
		}
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO runs (request_id, owner, started_at, finished_at, progress, output, error)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (request_id) DO UPDATE SET owner = excluded.owner, started_at = excluded.started_at,
			finished_at = excluded.finished_at, progress = excluded.progress, output = excluded.output,
			error = excluded.error`,
		id, run.Owner, timeText(run.StartedAt), nullTime(run.FinishedAt), run.Progress, run.Output, run.Error)
	if err != nil {
		return fmt.Errorf("saving the run: %w", err)
	}
	return nil
}

// saveCards makes the stored cards cards: those gone are deleted, the others
// inserted or updated in place, so that they keep their order.
func saveCards(ctx context.Context, tx *sql.Tx, id string, old, cards []approvals.Card) error {
	if slices.Equal(old, cards) {
		return nil
	}
	type key struct{ platform, channel string }
	keep := make(map[key]bool)
	for _, c := range cards {
		keep[key{c.Platform, c.Channel}] = true
	}
	for _, c := range old {
		if keep[key{c.Platform, c.Channel}] {
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM cards WHERE request_id = ? AND platform = ? AND channel = ?`,
			id, c.Platform, c.Channel); err != nil {
			return fmt.Errorf("removing a card: %w", err)
		}
	}
	for _, c := range cards {
		_, err := tx.ExecContext(ctx, `INSERT INTO cards (request_id, platform, channel, message_id, thread)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (request_id, platform, channel) DO UPDATE SET message_id = excluded.message_id, thread = excluded.thread`,
			id, c.Platform, c.Channel, c.MessageID, c.Thread)
		if err != nil {
			return fmt.Errorf("saving a card: %w", err)
		}
	}
	return nil
}

func insertEvents(ctx context.Context, tx *sql.Tx, id string, events []approvals.AuditEvent) error {
	for _, ev := range events {
		_, err := tx.ExecContext(ctx, `INSERT INTO audit_events (request_id, at, actor, via, event, detail)
			VALUES (?, ?, ?, ?, ?, ?)`,
			id, timeText(ev.At), ev.Actor, encodeOrigin(ev.Via), ev.Event, ev.Detail)
		if err != nil {
			return fmt.Errorf("saving the audit event %q: %w", ev.Event, err)
		}
	}
	return nil
}

func isUnique(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// getRequest reads one request with everything that belongs to it.
func getRequest(ctx context.Context, tx *sql.Tx, id string) (*approvals.Request, error) {
	rs, err := loadRequests(ctx, tx, "WHERE id = ?", []any{id})
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, notFound(id)
	}
	return rs[0], nil
}

const requestColumns = `seq, id, version, command, summary, requester, origin_platform, origin_channel, origin_user,
	steps, wait, lock, findings, hash, required, status, reason, created_at, expires_at, updated_at,
	approvers, excluded_team, procedure`

// loadRequests reads the requests that "SELECT ... FROM requests " + cond selects, in
// that order, and their votes, runs and cards: four queries however many there are.
func loadRequests(ctx context.Context, tx *sql.Tx, cond string, args []any) ([]*approvals.Request, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+requestColumns+` FROM requests `+cond, args...)
	if err != nil {
		return nil, err
	}
	var out []*approvals.Request
	byID := make(map[string]*approvals.Request)
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, r)
		byID[r.ID] = r
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}

	// The children of exactly those requests, in the order they were added.
	in := `request_id IN (SELECT id FROM requests ` + cond + `)`
	err = each(ctx, tx, `SELECT request_id, person, decision, at, via, reason FROM approvals WHERE `+in+` ORDER BY id`, args,
		func(rows *sql.Rows) error {
			var id, decision, at, via string
			var v approvals.Vote
			if err := rows.Scan(&id, &v.Person, &decision, &at, &via, &v.Reason); err != nil {
				return err
			}
			v.Decision = approvals.Decision(decision)
			var err error
			if v.At, err = parseTime(at); err != nil {
				return err
			}
			if v.Via, err = decodeOrigin(via); err != nil {
				return err
			}
			byID[id].Votes = append(byID[id].Votes, v)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("reading votes: %w", err)
	}
	err = each(ctx, tx, `SELECT request_id, owner, started_at, finished_at, progress, output, error FROM runs WHERE `+in, args,
		func(rows *sql.Rows) error {
			var id, started string
			var finished sql.NullString
			var run approvals.Run
			if err := rows.Scan(&id, &run.Owner, &started, &finished, &run.Progress, &run.Output, &run.Error); err != nil {
				return err
			}
			var err error
			if run.StartedAt, err = parseTime(started); err != nil {
				return err
			}
			if run.FinishedAt, err = parseNullTime(finished); err != nil {
				return err
			}
			byID[id].Run = &run
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("reading runs: %w", err)
	}
	err = each(ctx, tx, `SELECT request_id, platform, channel, message_id, thread FROM cards WHERE `+in+` ORDER BY id`, args,
		func(rows *sql.Rows) error {
			var id string
			var c approvals.Card
			if err := rows.Scan(&id, &c.Platform, &c.Channel, &c.MessageID, &c.Thread); err != nil {
				return err
			}
			byID[id].Cards = append(byID[id].Cards, c)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("reading cards: %w", err)
	}
	return out, nil
}

func each(ctx context.Context, tx *sql.Tx, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func scanRequest(rows *sql.Rows) (*approvals.Request, error) {
	var r approvals.Request
	var steps, findings, status, created, expires, updated, approvers, procedure string
	var wait sql.NullString
	err := rows.Scan(&r.Seq, &r.ID, &r.Version, &r.Command, &r.Summary, &r.Requester,
		&r.Origin.Platform, &r.Origin.Channel, &r.Origin.User,
		&steps, &wait, &r.Lock, &findings, &r.Hash, &r.Required, &status, &r.Reason,
		&created, &expires, &updated, &approvers, &r.ExcludedTeam, &procedure)
	if err != nil {
		return nil, err
	}
	r.Status = approvals.Status(status)
	if r.Steps, err = decodeSteps(steps); err != nil {
		return nil, fmt.Errorf("request %s: %w", r.ID, err)
	}
	if r.Wait, err = decodeWait(wait); err != nil {
		return nil, fmt.Errorf("request %s: %w", r.ID, err)
	}
	if r.Findings, err = decodeFindings(findings); err != nil {
		return nil, fmt.Errorf("request %s: %w", r.ID, err)
	}
	if r.Approvers, err = decodeApprovers(approvers); err != nil {
		return nil, fmt.Errorf("request %s: %w", r.ID, err)
	}
	if r.Procedure, err = decodeProcedure(procedure); err != nil {
		return nil, fmt.Errorf("request %s: %w", r.ID, err)
	}
	for _, t := range []struct {
		dst *time.Time
		src string
	}{{&r.CreatedAt, created}, {&r.ExpiresAt, expires}, {&r.UpdatedAt, updated}} {
		if *t.dst, err = parseTime(t.src); err != nil {
			return nil, fmt.Errorf("request %s: %w", r.ID, err)
		}
	}
	return &r, nil
}

// clone copies r deeply enough that changing the copy cannot change r.
func clone(r *approvals.Request) *approvals.Request {
	c := *r
	c.Steps = slices.Clone(r.Steps)
	c.Findings = slices.Clone(r.Findings)
	c.Approvers = slices.Clone(r.Approvers)
	if r.Wait != nil {
		w := *r.Wait
		c.Wait = &w
	}
	if r.Procedure != nil {
		p := *r.Procedure
		p.Args = slices.Clone(p.Args)
		c.Procedure = &p
	}
	c.Votes = slices.Clone(r.Votes)
	if r.Run != nil {
		run := *r.Run
		c.Run = &run
	}
	c.Cards = slices.Clone(r.Cards)
	return &c
}
