-- The sensing hub: devices, their readings, and alarms with their history. Devices and alarms are
-- scoped like every record: area_code (the finest unit holding the device), org (the owning
-- organisation) and owner (the registering account).

CREATE TABLE devices (
    id           TEXT PRIMARY KEY NOT NULL,
    type_code    TEXT NOT NULL,
    name         TEXT NOT NULL,
    lon          DOUBLE PRECISION NOT NULL,
    lat          DOUBLE PRECISION NOT NULL,
    area_code    TEXT NOT NULL,
    org          TEXT NOT NULL,
    owner        TEXT,
    installed_on TEXT,
    token_hash   TEXT NOT NULL UNIQUE,
    disabled     BOOLEAN NOT NULL DEFAULT FALSE,
    -- Per-device rule overrides (JSON), NULL for the type's rules.
    rules        TEXT,
    last_seen    BIGINT,
    bad_values   BIGINT NOT NULL DEFAULT 0,
    bad_detail   TEXT NOT NULL DEFAULT '',
    -- The alarm rules' evaluation state (JSON), so judgement resumes after a restart.
    rule_state   TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX devices_area ON devices (area_code);
CREATE INDEX devices_org ON devices (org);

-- One row per device message; the key makes a resent message a no-op.
CREATE TABLE readings (
    device_id TEXT NOT NULL,
    ts        BIGINT NOT NULL,
    data      TEXT NOT NULL,
    PRIMARY KEY (device_id, ts)
) WITHOUT ROWID;

CREATE TABLE alarms (
    id          TEXT PRIMARY KEY NOT NULL,
    device_id   TEXT NOT NULL REFERENCES devices (id),
    device_name TEXT NOT NULL,
    type_code   TEXT NOT NULL,
    rule        TEXT NOT NULL,
    title       TEXT NOT NULL,
    level       TEXT NOT NULL,
    peak        TEXT NOT NULL,
    status      TEXT NOT NULL,
    value       DOUBLE PRECISION NOT NULL,
    lon         DOUBLE PRECISION NOT NULL,
    lat         DOUBLE PRECISION NOT NULL,
    area_code   TEXT NOT NULL,
    org         TEXT NOT NULL,
    -- Always NULL: residents (whose scope is what they own) see no alarms.
    owner       TEXT,
    case_id     TEXT,
    raised_at   BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    cleared_at  BIGINT
);
-- One active (not cleared) alarm per device and rule.
CREATE UNIQUE INDEX alarms_one_active ON alarms (device_id, rule) WHERE status <> 'cleared';
CREATE INDEX alarms_area ON alarms (area_code);
CREATE INDEX alarms_updated ON alarms (updated_at);

CREATE TABLE alarm_history (
    alarm_id TEXT NOT NULL REFERENCES alarms (id),
    seq      BIGINT NOT NULL,
    at       BIGINT NOT NULL,
    action   TEXT NOT NULL,
    level    TEXT NOT NULL,
    value    DOUBLE PRECISION NOT NULL,
    actor    TEXT,
    note     TEXT NOT NULL,
    PRIMARY KEY (alarm_id, seq)
);
