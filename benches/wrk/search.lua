-- Full-text search: GET /api/v1/snippets?q=<word>, each word matching about 1% of snippets.
n = 0
function request()
  n = n + 1
  return wrk.format("GET", "/api/v1/snippets?q=" .. words[(n % #words) + 1], auth)
end
