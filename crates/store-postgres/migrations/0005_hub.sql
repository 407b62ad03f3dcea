-- The rest of the event hub: paused clocks, the reporter's "solved?" answer, duplicate reports
-- linked to one case, attachments, early warnings, and the webhook outbox.

-- When a suspended case was paused, so the time spent suspended can be given back on resume.
ALTER TABLE cases ADD COLUMN suspended_at BIGINT;
-- The reporter's answer to "was the problem solved?" (解决率), given with the rating.
ALTER TABLE cases ADD COLUMN resolved BOOLEAN;
-- Duplicate search and the detectors look for cases near a point (a narrow longitude band, then
-- the rest of the box), and count a category's cases per day.
CREATE INDEX cases_category_lon ON cases (category, lon);
CREATE INDEX cases_lon ON cases (lon);
CREATE INDEX cases_category_created ON cases (category, created_at);
CREATE INDEX cases_created ON cases (created_at);

-- A report that repeats an open case (same category, near, recent) is linked to it instead of
-- opening a second case. Its reporter follows the case; staff can unlink it into a case of its own.
CREATE TABLE case_reports (
    id               TEXT PRIMARY KEY NOT NULL,
    case_id          TEXT NOT NULL REFERENCES cases (id),
    channel          TEXT NOT NULL,
    external_id      TEXT,
    owner            TEXT,
    reporter_contact TEXT,
    category         TEXT,
    description      TEXT NOT NULL,
    lon              DOUBLE PRECISION NOT NULL,
    lat              DOUBLE PRECISION NOT NULL,
    area_code        TEXT NOT NULL,
    distance_m       DOUBLE PRECISION NOT NULL,
    at               BIGINT NOT NULL,
    unlinked_at      BIGINT,
    unlinked_to      TEXT,
    UNIQUE (channel, external_id)
);
CREATE INDEX case_reports_case ON case_reports (case_id);
CREATE INDEX case_reports_owner ON case_reports (owner);

-- Photos and documents. Uploaded first (case_id NULL, owned by the uploader), then attached to a
-- case by the report or the step that names them. Kept in the database so a backup holds them.
CREATE TABLE attachments (
    id           TEXT PRIMARY KEY NOT NULL,
    owner        TEXT NOT NULL,
    case_id      TEXT REFERENCES cases (id),
    history_seq  BIGINT,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    data         BYTEA NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX attachments_case ON attachments (case_id);
CREATE INDEX attachments_loose ON attachments (owner, created_at);

-- Early warnings (预警). One row per detector key; a later detection upgrades it in place.
CREATE TABLE warnings (
    id         TEXT PRIMARY KEY NOT NULL,
    key        TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    level      TEXT NOT NULL,
    area_code  TEXT NOT NULL,
    category   TEXT,
    evidence   TEXT NOT NULL,
    observed   DOUBLE PRECISION NOT NULL,
    expected   DOUBLE PRECISION NOT NULL,
    message    TEXT NOT NULL,
    status     TEXT NOT NULL,
    case_id    TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX warnings_area ON warnings (area_code, updated_at);

-- The webhook outbox: written in the same transaction as the notification, delivered at least
-- once by a worker with retries; after the last attempt a delivery is dead (the dead-letter list).
CREATE TABLE deliveries (
    id              BIGSERIAL PRIMARY KEY,
    notification_id BIGINT NOT NULL,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_at         BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (status, next_at);
