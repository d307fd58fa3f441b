-- +goose Up
-- Chat posts that failed and wait to be retried: never dropped.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    platform     TEXT NOT NULL,
    key          TEXT NOT NULL,
    payload      BLOB NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_error   TEXT NOT NULL DEFAULT '',
    delivered_at TEXT
);
CREATE INDEX outbox_due ON outbox (platform, next_at) WHERE delivered_at IS NULL;

-- Deliveries already seen (Slack trigger ids, clicks), kept longer than the
-- platforms' retry horizon.
CREATE TABLE seen (
    key TEXT PRIMARY KEY,
    at  TEXT NOT NULL
);
CREATE INDEX seen_at ON seen (at);

-- +goose Down
DROP TABLE seen;
DROP TABLE outbox;
