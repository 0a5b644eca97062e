-- Aura's SQLite schema, version 1: executions with their node results, exact payloads (sealed),
-- leases, and sealed connection records. Applied in one transaction with its row in aura_schema.

CREATE TABLE executions (
    id               TEXT    PRIMARY KEY NOT NULL,   -- UUID v7, so text order is time order
    scenario_id      TEXT    NOT NULL,
    scenario_version INTEGER NOT NULL,
    status           TEXT    NOT NULL,               -- running | completed | failed | cancelled
    trigger          TEXT    NOT NULL,               -- JSON (redacted, possibly truncated)
    trigger_cleaned  INTEGER NOT NULL,
    started_at       INTEGER NOT NULL,               -- nanoseconds since the Unix epoch, UTC
    ended_at         INTEGER,
    output           TEXT,                           -- JSON; SQL NULL = no output, 'null' = a null output
    error            TEXT,                           -- JSON ErrorRecord
    rerun_of         TEXT
) STRICT;

CREATE INDEX executions_by_scenario ON executions (scenario_id, id);
CREATE INDEX executions_unfinished ON executions (id) WHERE status = 'running';
CREATE INDEX executions_finished_by_start ON executions (started_at) WHERE status <> 'running';

CREATE TABLE node_results (
    seq            INTEGER PRIMARY KEY,              -- first-save order: the order nodes started
    execution_id   TEXT    NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    node_id        TEXT    NOT NULL,
    item           INTEGER NOT NULL,                 -- the iteration element, -1 outside iterate bodies
    status         TEXT    NOT NULL,
    input          TEXT    NOT NULL,                 -- JSON
    output         TEXT,                             -- JSON; SQL NULL = no output
    error          TEXT,                             -- JSON ErrorRecord
    output_cleaned INTEGER NOT NULL,
    attempts       INTEGER NOT NULL,
    route          TEXT,
    pinned         INTEGER NOT NULL,
    started_at     INTEGER,
    ended_at       INTEGER,
    UNIQUE (execution_id, node_id, item)
) STRICT;

-- The real payloads behind redacted records, AES-256-GCM sealed; written only when the store
-- has a key for them.
CREATE TABLE exact_payloads (
    execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    payload      TEXT NOT NULL,                      -- which payload (the PayloadKey as JSON)
    nonce        BLOB NOT NULL,
    ciphertext   BLOB NOT NULL,
    PRIMARY KEY (execution_id, payload)
) STRICT, WITHOUT ROWID;

CREATE TABLE leases (
    execution_id TEXT    PRIMARY KEY NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    owner        TEXT    NOT NULL,
    until        INTEGER NOT NULL                    -- nanoseconds since the Unix epoch, UTC
) STRICT, WITHOUT ROWID;

-- Connection records as the SealedStore keeps them: the credentials only inside ciphertext.
CREATE TABLE connections (
    id         TEXT    PRIMARY KEY NOT NULL,
    app_id     TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    key_id     TEXT    NOT NULL,
    nonce      BLOB    NOT NULL,
    ciphertext BLOB    NOT NULL
) STRICT, WITHOUT ROWID;
