-- Import jobs (pieces_model::import): what a client polls while its file is read, from any
-- replica. `errors` is a JSON list of at most 1,000 entries; the counters are the job's.
-- A job still `running` whose `updated_at` stopped moving was cut short by a restart.
CREATE TABLE import_jobs (
    id           TEXT    PRIMARY KEY,
    user_id      TEXT    NOT NULL,
    workspace_id TEXT    NOT NULL,
    format       TEXT    NOT NULL,
    dry_run      BOOLEAN NOT NULL,
    status       TEXT    NOT NULL,
    total        BIGINT  NOT NULL,
    done         BIGINT  NOT NULL,
    created      BIGINT  NOT NULL,
    skipped      BIGINT  NOT NULL,
    failed       BIGINT  NOT NULL,
    errors       TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL
);

CREATE INDEX import_jobs_by_age ON import_jobs (updated_at);
