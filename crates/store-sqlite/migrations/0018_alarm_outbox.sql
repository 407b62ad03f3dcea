-- The alarm outbox: like the change outbox (0012) for cases, every alarm history line is written
-- here in its transaction on PostgreSQL, claimed by a relay on any node and published on the bus
-- (message id alarm:<id>:<seq>), so alarms reach every node's live streams at least once and
-- JetStream drops the repeats. SQLite (one process) never writes here.
CREATE TABLE alarm_outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    alarm_id      TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    claimed_until INTEGER NOT NULL DEFAULT 0,
    UNIQUE (alarm_id, seq)
);
CREATE INDEX alarm_outbox_claimable ON alarm_outbox (claimed_until, id);
