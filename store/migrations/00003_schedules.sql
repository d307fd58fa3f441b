-- +goose Up
-- Schedules added in chat (the configuration file's live there). The cron fields
-- without any CRON_TZ prefix; timezone '' is exchops' default zone.
CREATE TABLE schedules (
    name         TEXT PRIMARY KEY COLLATE NOCASE,
    spec         TEXT NOT NULL,
    timezone     TEXT NOT NULL DEFAULT '',
    job          TEXT NOT NULL CHECK (job IN ('health', 'drill')),
    dag          TEXT NOT NULL,
    post_slack   TEXT NOT NULL DEFAULT '',
    post_discord TEXT NOT NULL DEFAULT '',
    added_by     TEXT NOT NULL,
    added_at     TEXT NOT NULL
);

-- When each schedule (from the configuration or from chat) last fired, so that a run
-- missed while exchops was down is reported when it starts again.
CREATE TABLE schedule_runs (
    name     TEXT PRIMARY KEY COLLATE NOCASE,
    last_run TEXT NOT NULL
);

-- Every health report, as JSON, for the trend chart.
CREATE TABLE health_reports (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    dag      TEXT NOT NULL,
    at       TEXT NOT NULL,
    verdict  TEXT NOT NULL,
    schedule TEXT NOT NULL DEFAULT '',
    report   TEXT NOT NULL
);
CREATE INDEX health_reports_dag_at ON health_reports (dag, at);

-- Every failover drill's scorecard, as JSON, for the trend against earlier drills.
CREATE TABLE drill_scorecards (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    dag        TEXT NOT NULL,
    started_at TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    schedule   TEXT NOT NULL DEFAULT '',
    scorecard  TEXT NOT NULL
);
CREATE INDEX drill_scorecards_dag_started ON drill_scorecards (dag, started_at);

-- +goose Down
DROP TABLE drill_scorecards;
DROP TABLE health_reports;
DROP TABLE schedule_runs;
DROP TABLE schedules;
