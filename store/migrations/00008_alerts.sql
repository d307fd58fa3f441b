-- +goose Up
-- What the watch holds for each DAG between two health reports (schedules.WatchState):
-- its open alerts (posted_at set) and the conditions still within their grace time
-- (posted_at NULL: a database down to one healthy copy for less than
-- watch.single_copy_after), so that a restart neither repeats nor forgets an alert.
-- Numbered 7, not 6: 6 is taken by another change made at the same time.
CREATE TABLE alerts (
    dag       TEXT NOT NULL COLLATE NOCASE,
    kind      TEXT NOT NULL,
    subject   TEXT NOT NULL COLLATE NOCASE,
    state     TEXT NOT NULL DEFAULT '',
    level     TEXT NOT NULL,
    since     TEXT NOT NULL,
    posted_at TEXT,
    PRIMARY KEY (dag, kind, subject)
);

-- +goose Down
DROP TABLE alerts;
