-- +goose Up
-- What an approved request carries out when it is more than its plan's steps: a
-- typed procedure as JSON ({"kind": "drill", "args": {"dag": "E14-DAG"}}), '' for a
-- plan's steps. Requests from before keep ''; approvals tells a drill among them by
-- its plan, and refuses to run an old schedule change it cannot tell (ask again).
ALTER TABLE requests ADD COLUMN procedure TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE requests DROP COLUMN procedure;
