-- Warm reads: GET /api/v1/snippets/{id} over ids already in the cache.
ids = {}
for id in string.gmatch(os.getenv("BENCH_IDS"), "[^,]+") do ids[#ids + 1] = id end
n = 0
function request()
  n = n + 1
  return wrk.format("GET", "/api/v1/snippets/" .. ids[(n % #ids) + 1], auth)
end
