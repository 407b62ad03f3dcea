-- Supervision of each case's current stage, and the notification inbox.
ALTER TABLE cases ADD COLUMN warn_at BIGINT;
ALTER TABLE cases ADD COLUMN warned BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE cases ADD COLUMN overdue BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE cases ADD COLUMN escalated_to TEXT;
CREATE INDEX cases_warn ON cases (warn_at);

-- A notification goes to one account, or to an organisation (optionally only to one role in it).
CREATE TABLE notifications (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    at                BIGINT NOT NULL,
    recipient_account TEXT,
    recipient_org     TEXT,
    recipient_role    TEXT,
    case_id           TEXT,
    kind              TEXT NOT NULL,
    message           TEXT NOT NULL
);
CREATE INDEX notifications_account ON notifications (recipient_account, id);
CREATE INDEX notifications_org ON notifications (recipient_org, id);
