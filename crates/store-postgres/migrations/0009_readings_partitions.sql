-- Raw readings partitioned by day (UTC) on PostgreSQL, so retention drops whole partitions
-- instead of deleting rows one device at a time. The store creates the daily partitions ahead of
-- time (Store::maintain_readings, at start and hourly); the DEFAULT partition takes any reading
-- outside them, so an insert never fails for want of a partition, and its rows move into a day's
-- partition when that day's is created.
ALTER TABLE readings RENAME TO readings_unpartitioned;
ALTER TABLE readings_unpartitioned RENAME CONSTRAINT readings_pkey TO readings_unpartitioned_pkey;
CREATE TABLE readings (
    device_id TEXT NOT NULL,
    ts        BIGINT NOT NULL,
    data      TEXT NOT NULL,
    PRIMARY KEY (device_id, ts)
) PARTITION BY RANGE (ts);
CREATE TABLE readings_default PARTITION OF readings DEFAULT;
INSERT INTO readings (device_id, ts, data) SELECT device_id, ts, data FROM readings_unpartitioned;
DROP TABLE readings_unpartitioned;
