-- 会签: an item that needs a second department's countersignature names it on each application,
-- so that department sees the application and decides it after the first department approves.
ALTER TABLE applications ADD COLUMN countersign TEXT;
CREATE INDEX applications_countersign ON applications (countersign, created_at);
