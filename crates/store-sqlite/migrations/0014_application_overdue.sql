-- 一网通办's review deadlines: an application still pending or under review when its promised
-- deadline passes is marked overdue once (the department and the district's supervisors are told).
ALTER TABLE applications ADD COLUMN overdue BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX applications_due ON applications (due_at) WHERE overdue = FALSE;
