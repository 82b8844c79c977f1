-- Edits: PATCH /api/v1/snippets/{id} over the ids in BENCH_IDS, each time the same code of
-- BENCH_LINES lines (default 100) with one line changed, so each edit's history keeps one line.
ids = {}
for id in string.gmatch(os.getenv("BENCH_IDS"), "[^,]+") do ids[#ids + 1] = id end
lines = tonumber(os.getenv("BENCH_LINES") or "100")
n = 0
seed = math.random(1, 1000000000)
function request()
  n = n + 1
  local changed = n % lines
  local parts = {}
  for i = 0, lines - 1 do
    if i == changed then
      parts[#parts + 1] = string.format("let line_%d = %d; // edit %d-%d\\n", i, i, seed, n)
    else
      parts[#parts + 1] = string.format("let line_%d = %d;\\n", i, i)
    end
  end
  local body = '{"code":"' .. table.concat(parts) .. '"}'
  return wrk.format("PATCH", "/api/v1/snippets/" .. ids[(n % #ids) + 1], auth, body)
end
