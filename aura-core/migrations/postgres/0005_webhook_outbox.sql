-- Aura's PostgreSQL schema, version 5: the webhook outbox, every outbound delivery accepted
-- and not yet finished (see aura_core::store::OutboxStore). Times are nanoseconds since the
-- Unix epoch, UTC, as in version 1.

CREATE TABLE webhook_outbox (
    id          uuid    PRIMARY KEY,
    endpoint    text    NOT NULL,
    delivery_id text    NOT NULL,                    -- the webhook-id
    messages    text    NOT NULL,                    -- JSON array of message ids
    body        bytea   NOT NULL,                    -- never the endpoint's secret
    attempts    bigint  NOT NULL,
    due_at      bigint  NOT NULL,
    stage       text    NOT NULL CHECK (stage IN ('batching', 'sending'))
);

CREATE INDEX webhook_outbox_by_endpoint ON webhook_outbox (endpoint, id);
