-- A case's history lines kept together: keyed by (case_id, seq) without a rowid, the table's
-- b-tree holds each case's lines side by side, so reading a case's history is one short range
-- scan instead of an index lookup and a table lookup per line, scattered over the file (a
-- linked duplicate's answer reads its case's history, which grows with every link; issue 4).
CREATE TABLE case_history_clustered (
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
) WITHOUT ROWID;

INSERT INTO case_history_clustered (case_id, seq, at, actor_id, actor_name, from_stage, to_stage, command, note)
    SELECT case_id, seq, at, actor_id, actor_name, from_stage, to_stage, command, note FROM case_history;

DROP TABLE case_history;
ALTER TABLE case_history_clustered RENAME TO case_history;

-- The history is the source of truth: it only grows.
CREATE TRIGGER case_history_no_update BEFORE UPDATE ON case_history
BEGIN SELECT RAISE(ABORT, 'case history is append-only'); END;
CREATE TRIGGER case_history_no_delete BEFORE DELETE ON case_history
BEGIN SELECT RAISE(ABORT, 'case history is append-only'); END;
