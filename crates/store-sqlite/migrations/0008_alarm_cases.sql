-- A case's page lists the sensor alarms that opened or joined it.
CREATE INDEX alarms_case ON alarms (case_id) WHERE case_id IS NOT NULL;
