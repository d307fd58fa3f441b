-- +goose Up
-- Every WS-Management shell (a WinRS shell or an Exchange endpoint's runspace pool)
-- exchops holds open on a server. A process killed with SIGKILL cannot delete its
-- shells; they would hold the account's shell quota until the server's idle timeout.
-- The next start deletes every shell listed here, then forgets it.
CREATE TABLE shells (
    shell_id     TEXT PRIMARY KEY,
    server       TEXT NOT NULL,
    resource_uri TEXT NOT NULL,
    opened_at    TEXT NOT NULL
);

-- +goose Down
DROP TABLE shells;
