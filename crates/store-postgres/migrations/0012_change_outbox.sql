-- The change outbox: every case history line is also written here, in the same transaction, so
-- that the live streams of every node hear of it even when the node that wrote it dies between
-- its commit and its publish. A relay on any node claims lines (SKIP LOCKED, with a lease that
-- another node may take over when it runs out), publishes them on the bus and deletes them.
CREATE TABLE change_outbox (
    id            BIGSERIAL PRIMARY KEY,
    case_id       TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL DEFAULT 0,
    UNIQUE (case_id, seq)
);
CREATE INDEX change_outbox_claimable ON change_outbox (claimed_until, id);
