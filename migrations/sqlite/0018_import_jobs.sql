-- Import jobs (pieces_model::import): what a client polls while its file is read, from any
-- replica. `errors` is a JSON list of at most 1,000 entries; the counters are the job's.
-- A job still `running` whose `updated_at` stopped moving was cut short by a restart.
CREATE TABLE import_jobs (
    id           TEXT    PRIMARY KEY,
    user_id      TEXT    NOT NULL,
    workspace_id TEXT    NOT NULL,
    format       TEXT    NOT NULL,
    dry_run      INTEGER NOT NULL,
    status       TEXT    NOT NULL,
    total        INTEGER NOT NULL,
    done         INTEGER NOT NULL,
    created      INTEGER NOT NULL,
    skipped      INTEGER NOT NULL,
    failed       INTEGER NOT NULL,
    errors       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE INDEX import_jobs_by_age ON import_jobs (updated_at);
