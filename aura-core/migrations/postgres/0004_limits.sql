-- Aura's PostgreSQL schema, version 4: limits that hold across processes.
--
-- Live leases are found without reading released ones, so that a claim honouring
-- per-scenario concurrency limits counts the running executions of a scenario cheaply however
-- many finished executions the store keeps.
--
-- Rate limits shared by every process: per key (a connection id), the theoretical arrival
-- time of its next call (GCRA), in nanoseconds on the server's clock.

CREATE INDEX leases_live ON leases (until) WHERE until > 0;

CREATE TABLE rate_limits (
    key text PRIMARY KEY,
    tat bigint NOT NULL
);
