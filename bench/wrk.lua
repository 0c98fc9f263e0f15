-- wrk script for `make bench`: auth header or session cookie, optional POST bodies
-- (one JSON document per line, each sent once), optional fixed delay per request
-- (to hold a target rate), and a machine-readable summary line.
local token = os.getenv("BENCH_TOKEN") or ""
local cookie = os.getenv("BENCH_COOKIE") or ""
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local bodies_file = os.getenv("BENCH_BODIES") or ""

wrk.headers["Accept"] = "application/json"
if token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
if cookie ~= "" then wrk.headers["Cookie"] = cookie end
if os.getenv("BENCH_HX") == "1" then wrk.headers["HX-Request"] = "true" end

local bodies = {}
if bodies_file ~= "" then
  for line in io.lines(bodies_file) do bodies[#bodies + 1] = line end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end
local i = 0

request = function()
  if #bodies > 0 then
    i = i + 1
    if i > #bodies then i = #bodies end
    return wrk.format("POST", nil, nil, bodies[i])
  end
  return wrk.format(nil)
end

if delay_ms > 0 then
  delay = function() return delay_ms end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50_us":%d,"p95_us":%d,"p99_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.mean))
end
