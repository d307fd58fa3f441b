-- The two-person rule's tables: requests, their votes, their run, the chat cards posted
-- about them, and the audit trail. Times are UTC text with nine fraction digits
-- ("2026-03-01T09:30:00.000000000Z"), so that they read well in sqlite3 and sort as text.

-- +goose Up
CREATE TABLE requests (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, so "r-42" names one request forever
    id              TEXT    NOT NULL UNIQUE,           -- 'r-' || seq
    version         INTEGER NOT NULL CHECK (version >= 1),
    command         TEXT    NOT NULL,
    summary         TEXT    NOT NULL,
    requester       TEXT    NOT NULL,
    origin_platform TEXT    NOT NULL,
    origin_channel  TEXT    NOT NULL,
    origin_user     TEXT    NOT NULL,
    steps           TEXT    NOT NULL, -- JSON array of {target, script, purpose}
    wait            TEXT,             -- JSON {step, progress, budget, interval}; NULL when none
    lock            TEXT    NOT NULL,
    findings        TEXT    NOT NULL, -- JSON array of {severity, message}
    hash            TEXT    NOT NULL,
    required        INTEGER NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN (
                        'pending', 'approved', 'running', 'succeeded', 'failed',
                        'interrupted', 'stale', 'denied', 'expired', 'cancelled')),
    reason          TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    expires_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
);
CREATE INDEX requests_status ON requests (status, seq);
CREATE INDEX requests_expires_at ON requests (expires_at);

-- The votes. A person votes once per request and a vote is never changed.
CREATE TABLE approvals (
    id         INTEGER PRIMARY KEY, -- vote order
    request_id TEXT NOT NULL REFERENCES requests (id),
    person     TEXT NOT NULL,
    decision   TEXT NOT NULL CHECK (decision IN ('approve', 'deny')),
    at         TEXT NOT NULL,
    via        TEXT NOT NULL, -- JSON {platform, channel, user}
    reason     TEXT NOT NULL,
    UNIQUE (request_id, person)
);
-- +goose StatementBegin
CREATE TRIGGER approvals_insert_only BEFORE UPDATE ON approvals
BEGIN
    SELECT RAISE(ABORT, 'votes are never changed');
END;
-- +goose StatementEnd

-- One run per request, ever.
CREATE TABLE runs (
    request_id  TEXT NOT NULL UNIQUE REFERENCES requests (id),
    owner       TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT, -- NULL while running
    progress    TEXT NOT NULL,
    output      TEXT NOT NULL,
    error       TEXT NOT NULL
);

-- Messages the chat fronts posted about a request, to update them later.
CREATE TABLE cards (
    id         INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES requests (id),
    platform   TEXT NOT NULL,
    channel    TEXT NOT NULL,
    message_id TEXT NOT NULL,
    thread     TEXT NOT NULL,
    UNIQUE (request_id, platform, channel)
);

-- The audit trail: events are only ever added.
CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES requests (id),
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    via        TEXT NOT NULL, -- JSON {platform, channel, user}
    event      TEXT NOT NULL,
    detail     TEXT NOT NULL
);
CREATE INDEX audit_events_request ON audit_events (request_id, id);
-- +goose StatementBegin
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are never changed');
END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE audit_events;
DROP TABLE cards;
DROP TABLE runs;
DROP TABLE approvals;
DROP TABLE requests;
