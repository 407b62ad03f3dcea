-- The change outbox (see the PostgreSQL migration of the same number). SQLite is one process's
-- store: its changes reach that process's streams directly, so it never writes here; the table
-- exists so the shared SQL and the conformance suite are the same on both engines.
CREATE TABLE change_outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id       TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    claimed_until INTEGER NOT NULL DEFAULT 0,
    UNIQUE (case_id, seq)
);
CREATE INDEX change_outbox_claimable ON change_outbox (claimed_until, id);
