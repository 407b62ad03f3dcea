-- wrk script: POST /api/v1/events as fast as the server takes them (issue 4's intake benchmark).
-- TOKEN must hold a dispatcher's bearer token. Each request is a hotline report at a
-- pseudo-random point over Luohu's bounding box (about 6% fall outside the district and are
-- answered 400), cycling through all 42 demo categories, so that duplicates (same category within
-- 50 m and 24 h of an open case) are not every request at first. The box holds about 1,700 such
-- circles per category: after some 100,000 reports nearly every new one repeats an open case, so
-- a run of minutes becomes one of linked duplicates (a city-wide incident's pattern), whose
-- cases grow a history line per report.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
categories = {"E0101","E0102","E0103","E0104","E0105","E0106","E0108","E0201","E0202","E0203",
  "E0301","E0302","E0303","E0304","E0401","E0402","E0403","E0404","E0407","E0501","E0504","E0505",
  "E0506","E0509","E0510","E0601","E0602","C0101","C0102","C0103","C0201","C0202","C0301","C0302",
  "C0401","C0402","L0101","L0102","L0103","L0104","L0105","L0106"}
-- OFFSET starts the sequence elsewhere, so several wrk processes (bench/cluster) send different reports.
counter = tonumber(os.getenv("OFFSET") or "0")
-- A Weyl sequence: evenly spread, never repeating within a run.
request = function()
  counter = counter + 1
  local u = (counter * 0.6180339887498949) % 1
  local v = (counter * 0.7548776662466927) % 1
  local lon = 114.100 + u * 0.040
  local lat = 22.540 + v * 0.030
  local cat = categories[(counter % #categories) + 1]
  local body = string.format('{"channel":"hotline_12345","location":{"lon":%f,"lat":%f},"category":"%s","description":"bench report %d"}', lon, lat, cat, counter)
  return wrk.format(nil, "/api/v1/events", nil, body)
end
-- PACE_MS makes each connection pause that long after each answer before its next report: the
-- rate is then set by the connections and the pause (connections / (latency + pause)), and the
-- latency is measured at that rate instead of at the most the server can take.
local pace = tonumber(os.getenv("PACE_MS") or "")
if pace then
  delay = function() return pace end
end
