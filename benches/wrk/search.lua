-- Search: GET /api/v1/snippets?q=<word>, each word matching about 1% of snippets; in the
-- mode BENCH_MODE names (text, semantic, hybrid), or the service's default; in the workspace
-- BENCH_WORKSPACE names, or the caller's personal one.
mode = os.getenv("BENCH_MODE")
suffix = (mode and mode ~= "") and ("&mode=" .. mode) or ""
workspace = os.getenv("BENCH_WORKSPACE")
if workspace and workspace ~= "" then suffix = suffix .. "&workspace=" .. workspace end
n = 0
function request()
  n = n + 1
  return wrk.format("GET", "/api/v1/snippets?q=" .. words[(n % #words) + 1] .. suffix, auth)
end
