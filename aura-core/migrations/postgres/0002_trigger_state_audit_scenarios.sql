-- Aura's PostgreSQL schema, version 2: trigger state (cursors, dedupe keys with an expiry), the
-- audit trail, and every deployed version of every scenario. Applied in one transaction with
-- its row in aura_schema. Times are bigint nanoseconds since the Unix epoch (UTC), as in
-- version 1; JSON is text, as Aura wrote it.

CREATE TABLE trigger_cursors (
    scenario_id text   NOT NULL,
    trigger_id  text   NOT NULL,
    cursor      text   NOT NULL,                      -- JSON
    updated_at  bigint NOT NULL,
    PRIMARY KEY (scenario_id, trigger_id)
);

CREATE TABLE dedupe_keys (
    scenario_id text   NOT NULL,
    trigger_id  text   NOT NULL,
    key         text   NOT NULL,                      -- an item's id, a delivery id
    expires_at  bigint NOT NULL,                      -- expired keys count as new, and are pruned
    PRIMARY KEY (scenario_id, trigger_id, key)
);

CREATE INDEX dedupe_keys_by_expiry ON dedupe_keys (expires_at);

-- Who did what to which connection, and when; never a credential.
CREATE TABLE audit_log (
    id            uuid   PRIMARY KEY,                 -- UUID v7, so byte order is time order
    at            bigint NOT NULL,
    actor         text   NOT NULL,
    action        text   NOT NULL,                    -- connection_created | … | key_rotated
    connection_id text,
    app_id        text,
    detail        text   NOT NULL                     -- JSON, non-secret
);

-- Every deployed version of every scenario: a version, once kept, never changes.
CREATE TABLE scenarios (
    id          text   COLLATE "C" NOT NULL,          -- byte order, as the other stores list
    version     bigint NOT NULL,
    definition  text   NOT NULL,                      -- the Scenario as JSON
    deployed_at bigint NOT NULL,
    PRIMARY KEY (id, version)
);
