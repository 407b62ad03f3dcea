-- The four-level user system: departments, social entities, accounts, sessions, API tokens and
-- the audit log. Every scoped table carries area_code (the unit whose subtree governs the row),
-- org (the owning organisation's key) and owner (the owning account), which Scope filters use.
-- Times are Unix milliseconds.

CREATE TABLE departments (
    code       TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    area_code  TEXT NOT NULL REFERENCES units (code),
    org        TEXT NOT NULL,
    owner      TEXT
);

CREATE TABLE entities (
    id           TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    area_code    TEXT NOT NULL REFERENCES units (code),
    org          TEXT NOT NULL,
    owner        TEXT,
    -- Comma-separated unit codes the entity may be assigned work in.
    service_area TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX entities_area ON entities (area_code);

CREATE TABLE accounts (
    id            TEXT PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    org           TEXT NOT NULL,
    area_code     TEXT NOT NULL,
    owner         TEXT NOT NULL,
    -- Comma-separated role names.
    roles         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    demo_password INTEGER NOT NULL DEFAULT 0,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);
CREATE INDEX accounts_area ON accounts (area_code);
CREATE INDEX accounts_org ON accounts (org);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    csrf       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX sessions_account ON sessions (account_id);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY NOT NULL,
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX api_tokens_account ON api_tokens (account_id);

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor_id   TEXT,
    actor_name TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT,
    detail     TEXT NOT NULL,
    area_code  TEXT NOT NULL,
    org        TEXT NOT NULL,
    owner      TEXT,
    client     TEXT
);
CREATE INDEX audit_area ON audit_log (area_code, id);

-- The audit log is append-only: no API edits it, and the database refuses to.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
