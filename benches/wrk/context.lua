-- Workflow context updates.
n = 0
function request()
  n = n + 1
  local body = string.format(
    '{"session_id":"bench-%d","context_type":"editor","context_data":{"file":"src/main.rs","line":%d,"project":"pieces"}}',
    n % 16, n)
  return wrk.format("POST", "/api/v1/workflow-context", auth, body)
end
