-- wrk script: POST /api/v1/events as fast as the server takes them (issue 4's intake benchmark).
-- TOKEN must hold a dispatcher's bearer token; points cycle over a lattice inside and around Luohu.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
counter = 0
request = function()
  counter = counter + 1
  local lon = 114.100 + (counter % 50) * 0.0012
  local lat = 22.545 + (counter % 37) * 0.0008
  local body = string.format('{"channel":"hotline_12345","location":{"lon":%f,"lat":%f},"category":"E0509","description":"bench report %d"}', lon, lat, counter)
  return wrk.format(nil, "/api/v1/events", nil, body)
end
