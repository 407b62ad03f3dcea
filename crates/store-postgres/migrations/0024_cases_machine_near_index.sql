-- A person's report repeats a machine's alarm (a sensor's, a camera's) within the cross-source
-- radius (100 m), but another person's report only within the duplicate radius (50 m). The
-- duplicate search looked for every case in the wider box, four times the area, for each report:
-- about four times the rows read and handed back (issue 4). It now looks in the narrow box for
-- every case and in the wide one for machines' cases only, through this index of theirs alone.
-- The search names the condition exactly as written here.
CREATE INDEX cases_machine_near ON cases (category, lon, lat)
    WHERE channel IN ('sensor', 'video_ai');
