// Package store keeps exchops' state in one SQLite file: the schema, its migrations
// and the queries that read and write it. It holds no business rules: what may
// happen to a request is decided in approvals; this package only saves it durably
// and in one piece.
//
// The file is opened in WAL mode with immediate transactions, so that several
// goroutines, or two exchops processes on the same file, can read-modify-write
// without SQLITE_BUSY. Migrations are embedded and applied by Open; a later concern
// (schedules, health history) adds its tables with a new file in migrations/.
//
// It implements the interfaces its users declare (approvals.Store, schedules.Store,
// outbox.Store and outbox.Dedup) and imports no chat front: it sits below package
// bot. Nothing in it names a chat platform; a platform is a registered name in a
// column or a JSON key.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/pressly/goose/v3"
	sqlite "modernc.org/sqlite" // also registers the driver "sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// dsnOptions are appended to the file URI. busy_timeout lets a writer wait for
// another; _txlock=immediate takes the write lock at BEGIN, which is what makes
// read-then-write transactions wait instead of failing with SQLITE_BUSY.
const dsnOptions = "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"

// DB is an open exchops database. It is safe for concurrent use.
type DB struct {
	db   *sql.DB
	path string
	// writer admits one write transaction of this process at a time. SQLite allows
	// only one anyway; queueing here is fair and costs nothing, where queueing in
	// SQLite's busy handler means sleeping and polling. Other processes on the same
	// file still wait through busy_timeout.
	writer chan struct{}
}

// Open opens (creating it if needed) the database file at path, brings its schema up
// to date and checks that it can be written. Its errors name the path and say what
// to check.
func Open(ctx context.Context, path string) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open the database %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn(abs))
	if err != nil {
		return nil, openError(abs, err)
	}
	s := &DB{db: db, path: abs, writer: make(chan struct{}, 1)}
	if err := s.setup(ctx); err != nil {
		db.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("cannot open the database %s: %w", abs, err)
		}
		return nil, openError(abs, err)
	}
	return s, nil
}

// dsn is the driver's name for the file at the absolute path abs: a file: URI whose
// path is escaped, so that a name with '?', '#' or '%' in it stays a name.
func dsn(abs string) string {
	p := filepath.ToSlash(abs)
	if filepath.VolumeName(abs) != "" {
		p = "/" + p // file:/C:/exchops/exchops.db
	}
	return "file:" + (&url.URL{Path: p}).EscapedPath() + dsnOptions
}

func (s *DB) setup(ctx context.Context) error {
	if err := s.migrate(ctx); err != nil {
		return err
	}
	// A database that was created earlier can still have become read-only (its file
	// or its folder), and SQLite then opens it for reading without a word. Write
	// something that changes nothing, now, rather than fail on the first approval.
	return s.write(ctx, func(tx *sql.Tx) error {
		var v int64
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v))
		return err
	})
}

// migrate applies the embedded migrations that the file lacks.
func (s *DB) migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, s.db, fsys,
		goose.WithDisableGlobalRegistry(true),
		goose.WithVerbose(false),
		goose.WithLogger(goose.NopLogger()),
	)
	if err != nil {
		return fmt.Errorf("reading the migrations: %w", err)
	}
	// Two processes opening a new file at the same moment race: the second to take
	// the write lock fails on the tables the first just created, and switching a new
	// file to WAL can fail with SQLITE_BUSY without waiting. Once the first has
	// finished nothing is pending, so asking again tells a race from a real error.
	for attempt := 1; ; attempt++ {
		_, err = p.Up(ctx)
		if err == nil {
			return nil
		}
		pending, perr := p.HasPending(ctx)
		if perr == nil && !pending {
			return nil
		}
		if (perr != nil && !isBusy(perr)) || attempt == 5 {
			return fmt.Errorf("applying the migrations: %w", err)
		}
		select {
		case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("applying the migrations: %w", err)
		}
	}
}

// isBusy reports whether err is SQLite's "locked by another connection".
func isBusy(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	code := e.Code() & 0xff
	return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
}

// Close closes the database.
func (s *DB) Close() error {
	return s.db.Close()
}

// SQL returns the underlying database, for concerns that keep their own tables (they
// add them with a new migration file). Write transactions begin IMMEDIATE.
func (s *DB) SQL() *sql.DB {
	return s.db
}

// Path is the absolute path of the database file.
func (s *DB) Path() string {
	return s.path
}

// write runs fn in a write transaction, committing when fn returns nil. fn's error is
// returned as it is.
func (s *DB) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	select {
	case s.writer <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.writer }()

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	// Also when fn panics: an open transaction would hold the write lock for good.
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// read runs fn in a read transaction: one consistent snapshot that does not wait for
// writers (ReadOnly makes the driver begin DEFERRED, not IMMEDIATE).
func (s *DB) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(tx)
}

// OpenError is Open's error when the file cannot be opened or written: its message
// says what to check; Err is what SQLite said.
type OpenError struct {
	Path string
	Why  string // what is wrong, and what to do about it
	Err  error
}

func (e *OpenError) Error() string {
	return fmt.Sprintf("cannot open the database %s: %s", e.Path, e.Why)
}

func (e *OpenError) Unwrap() error { return e.Err }

const configHint = "set database in the configuration (or EXCHOPS_DATABASE)"

// openError finds out why the file at path could not be opened or written, by looking
// at the file system: SQLite's own "unable to open database file" names neither the
// path nor the cause.
func openError(path string, err error) error {
	dir := filepath.Dir(path)
	e := &OpenError{Path: path, Err: err}
	st, serr := os.Stat(dir)
	switch {
	case errors.Is(serr, fs.ErrNotExist):
		e.Why = fmt.Sprintf("the folder %s does not exist; create it or %s", dir, configHint)
		return e
	case serr != nil:
		e.Why = fmt.Sprintf("exchops cannot look into the folder %s (%v); check its permissions or %s", dir, serr, configHint)
		return e
	case !st.IsDir():
		e.Why = fmt.Sprintf("%s is not a folder; %s", dir, configHint)
		return e
	}
	if fi, ferr := os.Stat(path); ferr == nil && fi.IsDir() {
		e.Why = fmt.Sprintf("it is a folder; %s to a file in it", configHint)
		return e
	}
	if werr := canCreateIn(dir); werr != nil {
		e.Why = fmt.Sprintf("exchops cannot write to the folder %s, where SQLite keeps the file and its -wal and -shm files beside it; "+
			"let the user exchops runs as write to it or %s", dir, configHint)
		return e
	}
	if f, ferr := os.OpenFile(path, os.O_RDWR, 0); ferr != nil {
		if !errors.Is(ferr, fs.ErrNotExist) {
			e.Why = fmt.Sprintf("exchops cannot write to the file (%v); let the user exchops runs as write to it or %s", ferr, configHint)
			return e
		}
	} else {
		f.Close()
	}
	e.Why = fmt.Sprintf("%v; check that it is an exchops database and that exchops can write to it and its folder, or %s", err, configHint)
	return e
}

// canCreateIn tries what SQLite will do: create a file in dir.
func canCreateIn(dir string) error {
	f, err := os.CreateTemp(dir, ".exchops-write-check-*")
	if err != nil {
		return err
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}
