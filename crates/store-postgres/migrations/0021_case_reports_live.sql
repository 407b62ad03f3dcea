-- A case's linked reports are counted with every read of its detail and with the answer to every
-- report that joins it. With whether each is still linked in the index beside its case, the count
-- is a range of the index (the reports still linked), not a read of every report's row.
CREATE INDEX case_reports_case_live ON case_reports (case_id, unlinked_at);
DROP INDEX case_reports_case;
