-- The same tables as the PostgreSQL migration of the same number, in SQLite's types.
-- 一网通办: the shared registers (people, births, enterprises) and who read them for what; the
-- items' decision models, versioned; applications with their history; decision records (every
-- input and the trace, so a decision can be replayed); certificates and the departments' keys.
CREATE TABLE people (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    gender      TEXT NOT NULL,
    birth_date  TEXT NOT NULL,
    phone       TEXT UNIQUE,
    community   TEXT NOT NULL,
    household   TEXT NOT NULL,
    facts       TEXT NOT NULL,
    demo        BOOLEAN NOT NULL
);
CREATE INDEX people_birth_date ON people (birth_date);

CREATE TABLE births (
    id            TEXT PRIMARY KEY,
    child_name    TEXT NOT NULL,
    child_id      TEXT,
    mother        TEXT NOT NULL,
    father        TEXT,
    born_on       TEXT NOT NULL,
    hospital      TEXT NOT NULL,
    registered_at INTEGER NOT NULL,
    demo          BOOLEAN NOT NULL
);
CREATE INDEX births_registered_at ON births (registered_at);
CREATE INDEX births_mother ON births (mother);
CREATE INDEX births_father ON births (father);

CREATE TABLE enterprises (
    uscc          TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    legal_rep     TEXT NOT NULL,
    community     TEXT NOT NULL,
    registered_on TEXT NOT NULL,
    credit        TEXT NOT NULL,
    facts         TEXT NOT NULL,
    demo          BOOLEAN NOT NULL
);
CREATE INDEX enterprises_legal_rep ON enterprises (legal_rep);

CREATE TABLE register_access (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    account   TEXT NOT NULL,
    purpose   TEXT NOT NULL,
    register  TEXT NOT NULL,
    subject   TEXT NOT NULL,
    fields    TEXT NOT NULL
);
CREATE INDEX register_access_subject ON register_access (subject, at);

CREATE TABLE decision_models (
    item       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    model      TEXT NOT NULL,
    author     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (item, version)
);

CREATE TABLE applications (
    id          TEXT PRIMARY KEY,
    item        TEXT NOT NULL,
    department  TEXT NOT NULL,
    mode        TEXT NOT NULL,
    state       TEXT NOT NULL,
    deciding    BOOLEAN NOT NULL,
    person      TEXT NOT NULL,
    enterprise  TEXT,
    account     TEXT,
    form        TEXT NOT NULL,
    offer_key   TEXT UNIQUE,
    bundle      TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    due_at      INTEGER,
    decision    TEXT,
    certificate TEXT,
    rating      INTEGER,
    version     INTEGER NOT NULL
);
CREATE INDEX applications_account ON applications (account, created_at);
CREATE INDEX applications_person ON applications (person, created_at);
CREATE INDEX applications_department ON applications (department, created_at);
CREATE INDEX applications_bundle ON applications (bundle);

CREATE TABLE application_history (
    application TEXT NOT NULL REFERENCES applications (id),
    seq         INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    role        TEXT NOT NULL,
    action      TEXT NOT NULL,
    from_state  TEXT NOT NULL,
    to_state    TEXT NOT NULL,
    note        TEXT,
    PRIMARY KEY (application, seq)
);

CREATE TABLE decisions (
    id            TEXT PRIMARY KEY,
    application   TEXT NOT NULL REFERENCES applications (id),
    item          TEXT NOT NULL,
    model_version INTEGER NOT NULL,
    inputs        TEXT NOT NULL,
    output        TEXT NOT NULL,
    trace         TEXT NOT NULL,
    failures      TEXT NOT NULL,
    approved      BOOLEAN NOT NULL,
    at            INTEGER NOT NULL
);
CREATE INDEX decisions_application ON decisions (application, at);

CREATE TABLE certificates (
    id             TEXT PRIMARY KEY,
    item           TEXT NOT NULL,
    name           TEXT NOT NULL,
    holder         TEXT NOT NULL,
    holder_name    TEXT NOT NULL,
    department     TEXT NOT NULL,
    application    TEXT,
    issued_at      INTEGER NOT NULL,
    expires_on     TEXT,
    revoked_at     INTEGER,
    revoked_reason TEXT,
    body           TEXT NOT NULL,
    signature      TEXT NOT NULL,
    key_id         TEXT NOT NULL
);
CREATE INDEX certificates_holder ON certificates (holder, issued_at);

CREATE TABLE signing_keys (
    department TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL,
    public_key TEXT NOT NULL,
    secret_key TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
