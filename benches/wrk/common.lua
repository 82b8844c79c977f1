-- Shared by every scenario: the token, a vocabulary for bodies and queries, and a summary
-- printed as one JSON line that the driver reads.
token = os.getenv("BENCH_TOKEN")
auth = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
words = {}
for i = 1, 100 do words[i] = "word" .. i end
stop_after = tonumber(os.getenv("BENCH_STOP_AFTER") or "0")
answered = 0

function response(status, headers, body)
  answered = answered + 1
  if stop_after > 0 and answered >= stop_after then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nBENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,"errors":%d,"non_2xx":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.timeout, e.status))
end
