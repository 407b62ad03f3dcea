-- Facts of each case's history kept on the case row, so the indicators (结案率, 按期处置率 …) and
-- the one screen's rankings are one scan of `cases` instead of correlated lookups into
-- `case_history` per case. The store sets them in the transaction that appends the history line.
ALTER TABLE cases ADD COLUMN was_dispatched BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE cases ADD COLUMN was_handled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE cases ADD COLUMN was_overdue BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE cases ADD COLUMN handled_late BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE cases ADD COLUMN closed_at BIGINT;

UPDATE cases SET
  was_dispatched = EXISTS (SELECT 1 FROM case_history h WHERE h.case_id = cases.id AND h.command = 'dispatch'),
  was_handled = EXISTS (SELECT 1 FROM case_history h WHERE h.case_id = cases.id AND h.command = 'handle'),
  was_overdue = EXISTS (SELECT 1 FROM case_history h WHERE h.case_id = cases.id AND h.command = 'overdue'),
  handled_late = EXISTS (SELECT 1 FROM case_history h WHERE h.case_id = cases.id AND h.command = 'overdue'
                         AND h.from_stage IN ('accepted', 'in_progress')),
  closed_at = (SELECT MAX(h.at) FROM case_history h WHERE h.case_id = cases.id AND h.to_stage = 'closed' AND h.command = 'verify');
