-- Aura's PostgreSQL schema, version 1: executions with their node results, exact payloads
-- (sealed), leases, and sealed connection records. Applied in one transaction with its row in
-- aura_schema, in the schema the store was given (the connection's search_path).
--
-- Payloads are text holding JSON exactly as Aura wrote it (jsonb would reorder keys and refuse
-- some strings); cast to jsonb to query them. Times are bigint nanoseconds since the Unix epoch
-- (UTC), exact to the nanosecond as records are (timestamptz keeps microseconds).

CREATE TABLE executions (
    id               uuid    PRIMARY KEY,             -- UUID v7, so byte order is time order
    scenario_id      text    NOT NULL,
    scenario_version bigint  NOT NULL,
    status           text    NOT NULL,                -- running | completed | failed | cancelled
    trigger          text    NOT NULL,                -- JSON (redacted, possibly truncated)
    trigger_cleaned  boolean NOT NULL,
    started_at       bigint  NOT NULL,
    ended_at         bigint,
    output           text,                            -- JSON; SQL NULL = no output, 'null' = a null output
    error            text,                            -- JSON ErrorRecord
    rerun_of         uuid
);

CREATE INDEX executions_by_scenario ON executions (scenario_id, id);
CREATE INDEX executions_unfinished ON executions (id) WHERE status = 'running';
CREATE INDEX executions_finished ON executions (id) WHERE status <> 'running';
CREATE INDEX executions_finished_by_start ON executions (started_at) WHERE status <> 'running';

CREATE TABLE node_results (
    seq            bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- first-save order
    execution_id   uuid    NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    node_id        text    NOT NULL,
    item           bigint  NOT NULL,                  -- the iteration element, -1 outside iterate bodies
    status         text    NOT NULL,
    input          text    NOT NULL,                  -- JSON
    output         text,                              -- JSON; SQL NULL = no output
    error          text,                              -- JSON ErrorRecord
    output_cleaned boolean NOT NULL,
    attempts       bigint  NOT NULL,
    route          text,
    pinned         boolean NOT NULL,
    started_at     bigint,
    ended_at       bigint,
    UNIQUE (execution_id, node_id, item)
);

-- The real payloads behind redacted records, AES-256-GCM sealed; written only when the store
-- has a key for them.
CREATE TABLE exact_payloads (
    execution_id uuid  NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    payload      text  NOT NULL,                      -- which payload (the PayloadKey as JSON)
    nonce        bytea NOT NULL,
    ciphertext   bytea NOT NULL,
    PRIMARY KEY (execution_id, payload)
);

-- One row per claimed execution; `until` is on the database's clock, so that processes on
-- machines whose clocks differ still agree on when a lease ends.
CREATE TABLE leases (
    execution_id uuid   PRIMARY KEY REFERENCES executions (id) ON DELETE CASCADE,
    owner        text   NOT NULL,
    until        bigint NOT NULL
);

-- Connection records as the SealedStore keeps them: the credentials only inside ciphertext.
CREATE TABLE connections (
    id         text   COLLATE "C" PRIMARY KEY, -- byte order: `list` is ordered as the other stores order it
    app_id     text   NOT NULL,
    version    bigint NOT NULL,
    key_id     text   NOT NULL,
    nonce      bytea  NOT NULL,
    ciphertext bytea  NOT NULL
);
