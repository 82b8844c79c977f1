-- Search, each request one not asked before in the run: the words of search.lua with page
-- sizes of 1-100 and offsets of 0-9, so no page kept from an earlier search answers it
-- (100,000 distinct searches, split between the wrk threads).
threads = 0
function setup(thread)
  thread:set("first", threads * 50000)
  threads = threads + 1
end
n = 0
function request()
  local k = first + n
  n = n + 1
  local word = words[(k % #words) + 1]
  local limit = (math.floor(k / 100) % 100) + 1
  local offset = math.floor(k / 10000) % 10
  return wrk.format("GET", "/api/v1/snippets?q=" .. word .. "&limit=" .. limit .. "&offset=" .. offset, auth)
end
