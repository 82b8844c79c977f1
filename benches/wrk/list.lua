-- An unfiltered listing: the newest page of the token's user, with its exact total.
function request()
  return wrk.format("GET", "/api/v1/snippets?limit=10", auth)
end
