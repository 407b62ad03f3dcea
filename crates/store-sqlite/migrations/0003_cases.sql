-- Cases (案卷) of the event hub and their immutable history. Scoped like every record:
-- area_code (the finest unit holding the place), org (the responsible organisation, '' until
-- dispatched) and owner (the reporting account).

CREATE TABLE cases (
    id               TEXT PRIMARY KEY NOT NULL,
    channel          TEXT NOT NULL,
    external_id      TEXT,
    category         TEXT,
    description      TEXT NOT NULL,
    lon              DOUBLE PRECISION NOT NULL,
    lat              DOUBLE PRECISION NOT NULL,
    area_code        TEXT NOT NULL,
    org              TEXT NOT NULL,
    owner            TEXT,
    reporter_contact TEXT,
    priority         TEXT NOT NULL,
    stage            TEXT NOT NULL,
    suspended_from   TEXT,
    rating           TEXT,
    reworks          BIGINT NOT NULL DEFAULT 0,
    redos            BIGINT NOT NULL DEFAULT 0,
    returns          BIGINT NOT NULL DEFAULT 0,
    ext_until        BIGINT,
    ext_reason       TEXT,
    extensions       BIGINT NOT NULL DEFAULT 0,
    due_at           BIGINT,
    explanation      TEXT NOT NULL,
    version          BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (channel, external_id)
);
CREATE INDEX cases_area ON cases (area_code);
CREATE INDEX cases_org ON cases (org);
CREATE INDEX cases_owner ON cases (owner);
CREATE INDEX cases_due ON cases (due_at);

CREATE TABLE case_history (
    case_id    TEXT NOT NULL REFERENCES cases (id),
    seq        BIGINT NOT NULL,
    at         BIGINT NOT NULL,
    actor_id   TEXT,
    actor_name TEXT NOT NULL,
    from_stage TEXT NOT NULL,
    to_stage   TEXT NOT NULL,
    command    TEXT NOT NULL,
    note       TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
);

-- The history is the source of truth: it only grows.
CREATE TRIGGER case_history_no_update BEFORE UPDATE ON case_history
BEGIN SELECT RAISE(ABORT, 'case history is append-only'); END;
CREATE TRIGGER case_history_no_delete BEFORE DELETE ON case_history
BEGIN SELECT RAISE(ABORT, 'case history is append-only'); END;
