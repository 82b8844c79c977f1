-- An unfiltered listing: the newest page of the token's user (or of the team workspace
-- BENCH_WORKSPACE names), with its exact total.
workspace = os.getenv("BENCH_WORKSPACE")
path = "/api/v1/snippets?limit=10"
if workspace and workspace ~= "" then path = path .. "&workspace=" .. workspace end
function request()
  return wrk.format("GET", path, auth)
end
