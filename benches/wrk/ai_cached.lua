-- The same question again and again: after the first, every answer comes from the answer cache.
body = '{"query":"how do I retry with backoff?"}'
function request()
  return wrk.format("POST", "/api/v1/ai-assist", auth, body)
end
