-- The enterprise service desk (企业服务 "五个一"): key enterprises with their district leader, lead
-- department, lead official, service team and street contact; the problems they raise, each an
-- event-hub case (deadlines, supervision and rating are the hub's).
CREATE TABLE key_enterprises (
    uscc            TEXT PRIMARY KEY,
    leader          TEXT NOT NULL,
    lead_department TEXT NOT NULL,
    lead_official   TEXT NOT NULL,
    team            TEXT NOT NULL,
    street_contact  TEXT NOT NULL,
    street          TEXT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE TABLE desk_problems (
    case_id   TEXT PRIMARY KEY,
    uscc      TEXT NOT NULL,
    filed_at  BIGINT NOT NULL,
    filed_by  TEXT NOT NULL
);
CREATE INDEX desk_problems_uscc ON desk_problems (uscc);
