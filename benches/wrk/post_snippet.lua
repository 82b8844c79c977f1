-- Durable creates, each with its own title, code and tags.
n = 0
seed = math.random(1, 1000000000)
function request()
  n = n + 1
  local w = words[((n * 7 + seed) % #words) + 1]
  local body = string.format(
    '{"title":"bench %s %d-%d","code":"fn %s_%d() { let total = %d; }","language":"rust","tags":["%s","bench"],"description":"generated for the benchmark"}',
    w, seed, n, w, n, n, w)
  return wrk.format("POST", "/api/v1/snippets", auth, body)
end
