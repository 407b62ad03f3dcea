-- Supervision asks for the earliest pending warning and due time, for the cases whose time has
-- come, and (the backlog detector) for the open overdue cases. The indexes it had held every
-- case by warn_at and due_at, so each question walked past every case already warned, overdue
-- or finished, reading its row to learn so: 17-168 ms a question once a million cases were
-- stored (issue 4, session 13). These hold only the cases each question is about.
CREATE INDEX cases_warn_pending ON cases (warn_at)
    WHERE NOT warned AND NOT overdue AND stage NOT IN ('closed', 'rejected', 'suspended');
CREATE INDEX cases_due_pending ON cases (due_at)
    WHERE NOT overdue AND stage NOT IN ('closed', 'rejected', 'suspended');
CREATE INDEX cases_overdue_open ON cases (due_at, id)
    WHERE overdue AND stage NOT IN ('closed', 'rejected');
DROP INDEX cases_warn;
DROP INDEX cases_due;
