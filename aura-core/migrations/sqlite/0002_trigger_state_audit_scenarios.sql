-- Aura's SQLite schema, version 2: trigger state (cursors, dedupe keys with an expiry), the
-- audit trail, and every deployed version of every scenario. Applied in one transaction with
-- its row in aura_schema. Times are nanoseconds since the Unix epoch, UTC, as in version 1.

CREATE TABLE trigger_cursors (
    scenario_id TEXT    NOT NULL,
    trigger_id  TEXT    NOT NULL,
    cursor      TEXT    NOT NULL,                    -- JSON
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (scenario_id, trigger_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE dedupe_keys (
    scenario_id TEXT    NOT NULL,
    trigger_id  TEXT    NOT NULL,
    key         TEXT    NOT NULL,                    -- an item's id, a delivery id
    expires_at  INTEGER NOT NULL,                    -- expired keys count as new, and are pruned
    PRIMARY KEY (scenario_id, trigger_id, key)
) STRICT, WITHOUT ROWID;

CREATE INDEX dedupe_keys_by_expiry ON dedupe_keys (expires_at);

-- Who did what to which connection, and when; never a credential.
CREATE TABLE audit_log (
    id            TEXT    PRIMARY KEY NOT NULL,      -- UUID v7, so text order is time order
    at            INTEGER NOT NULL,
    actor         TEXT    NOT NULL,
    action        TEXT    NOT NULL,                  -- connection_created | … | key_rotated
    connection_id TEXT,
    app_id        TEXT,
    detail        TEXT    NOT NULL                   -- JSON, non-secret
) STRICT, WITHOUT ROWID;

-- Every deployed version of every scenario: a version, once kept, never changes.
CREATE TABLE scenarios (
    id          TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    definition  TEXT    NOT NULL,                    -- the Scenario as JSON
    deployed_at INTEGER NOT NULL,
    PRIMARY KEY (id, version)
) STRICT, WITHOUT ROWID;
