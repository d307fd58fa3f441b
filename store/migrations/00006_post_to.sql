-- +goose Up
-- A schedule's channels, keyed by the chat platform's registered name: one JSON object
-- ({"<platform>": "<channel id>"}, '{}' for none) instead of a column per platform,
-- so that a new chat front needs no new column. Rows from before keep their channels.
ALTER TABLE schedules ADD COLUMN post_to TEXT NOT NULL DEFAULT '{}';
UPDATE schedules SET post_to = CASE
    WHEN post_slack <> '' AND post_discord <> '' THEN json_object('slack', post_slack, 'discord', post_discord)
    WHEN post_slack <> '' THEN json_object('slack', post_slack)
    WHEN post_discord <> '' THEN json_object('discord', post_discord)
    ELSE '{}'
END;
ALTER TABLE schedules DROP COLUMN post_slack;
ALTER TABLE schedules DROP COLUMN post_discord;

-- +goose Down
-- Channels of platforms other than these two have no column to go back to: they are lost.
ALTER TABLE schedules ADD COLUMN post_slack TEXT NOT NULL DEFAULT '';
ALTER TABLE schedules ADD COLUMN post_discord TEXT NOT NULL DEFAULT '';
UPDATE schedules SET post_slack = coalesce(json_extract(post_to, '$.slack'), ''),
    post_discord = coalesce(json_extract(post_to, '$.discord'), '');
ALTER TABLE schedules DROP COLUMN post_to;
