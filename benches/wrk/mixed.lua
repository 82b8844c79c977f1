-- A day's mix: mostly warm reads, some listing and search, a few writes.
ids = {}
for id in string.gmatch(os.getenv("BENCH_IDS"), "[^,]+") do ids[#ids + 1] = id end
n = 0
function request()
  n = n + 1
  local pick = n % 20
  if pick < 14 then
    return wrk.format("GET", "/api/v1/snippets/" .. ids[(n % #ids) + 1], auth)
  elseif pick < 16 then
    return wrk.format("GET", "/api/v1/snippets?limit=10", auth)
  elseif pick < 18 then
    return wrk.format("GET", "/api/v1/snippets?q=" .. words[(n % #words) + 1], auth)
  elseif pick < 19 then
    local body = string.format('{"title":"mixed %d","code":"let v = %d;","language":"rust","tags":["mixed"]}', n, n)
    return wrk.format("POST", "/api/v1/snippets", auth, body)
  else
    local body = string.format('{"session_id":"mix","context_type":"editor","context_data":{"line":%d}}', n)
    return wrk.format("POST", "/api/v1/workflow-context", auth, body)
  end
end
