-- Aura's SQLite schema, version 3: the webhook outbox, every outbound delivery accepted and
-- not yet finished (see aura_core::store::OutboxStore). Times are nanoseconds since the Unix
-- epoch, UTC, as in version 1.

CREATE TABLE webhook_outbox (
    id          TEXT    PRIMARY KEY NOT NULL,        -- UUID v7, so text order is time order
    endpoint    TEXT    NOT NULL,
    delivery_id TEXT    NOT NULL,                    -- the webhook-id
    messages    TEXT    NOT NULL,                    -- JSON array of message ids
    body        BLOB    NOT NULL,                    -- never the endpoint's secret
    attempts    INTEGER NOT NULL,
    due_at      INTEGER NOT NULL,
    stage       TEXT    NOT NULL                     -- batching | sending
) STRICT;

CREATE INDEX webhook_outbox_by_endpoint ON webhook_outbox (endpoint, id);
