-- Rollups of the raw readings: per device, key and bucket of one minute or one hour, written
-- with the readings they sum (from the newly stored ones only) and kept after raw readings
-- pass their retention.
CREATE TABLE rollups (
    device_id TEXT NOT NULL,
    key       TEXT NOT NULL,
    width     BIGINT NOT NULL,
    bucket    BIGINT NOT NULL,
    min       DOUBLE PRECISION NOT NULL,
    max       DOUBLE PRECISION NOT NULL,
    sum       DOUBLE PRECISION NOT NULL,
    count     BIGINT NOT NULL,
    last      DOUBLE PRECISION NOT NULL,
    last_ts   BIGINT NOT NULL,
    PRIMARY KEY (device_id, key, width, bucket)
) WITHOUT ROWID;
