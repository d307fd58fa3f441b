-- +goose Up
-- The approval rule each request was made under (approvals.rules), kept with the
-- request so that a configuration change does not move what a pending request needs.
-- approvers: JSON array of "role:<role>" and people's names, [] for any approver;
-- excluded_team: the requester's team when the rule wants approvals from outside it.
-- Requests made before this migration keep the old rule: any approver.
ALTER TABLE requests ADD COLUMN approvers TEXT NOT NULL DEFAULT '[]';
ALTER TABLE requests ADD COLUMN excluded_team TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE requests DROP COLUMN excluded_team;
ALTER TABLE requests DROP COLUMN approvers;
