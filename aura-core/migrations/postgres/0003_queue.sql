-- Aura's PostgreSQL schema, version 3: the shared queue. Each lease carries a fencing token,
-- raised by every claim and checked by every write made under a lease, so that a process that
-- lost its lease cannot write over the new holder's checkpoints. A released lease keeps its
-- row (expired) so that the token only ever grows; the row goes with its execution.

ALTER TABLE leases ADD COLUMN token bigint NOT NULL DEFAULT 0;

CREATE INDEX leases_by_owner ON leases (owner);
