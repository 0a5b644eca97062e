-- Aura's PostgreSQL schema, version 4: live leases found without reading released ones, so
-- that a claim honouring per-scenario concurrency limits counts the running executions of a
-- scenario cheaply however many finished executions the store keeps.

CREATE INDEX leases_live ON leases (until) WHERE until > 0;
