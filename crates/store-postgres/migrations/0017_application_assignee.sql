-- 委托: a department's reviewer (or admin) delegates an application to a named colleague, who alone
-- (with the department's admins) then acts on it.
ALTER TABLE applications ADD COLUMN assignee TEXT;
