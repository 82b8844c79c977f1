-- An AI agent's search: MCP tools/call search_snippets over Streamable HTTP (stateless, so
-- no session to set up first).
mcp_headers = {
  ["Authorization"] = auth["Authorization"],
  ["Content-Type"] = "application/json",
  ["Accept"] = "application/json, text/event-stream",
  ["MCP-Protocol-Version"] = "2025-06-18",
}
n = 0
function request()
  n = n + 1
  local body = string.format(
    '{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"search_snippets","arguments":{"query":"%s","limit":10}}}',
    n, words[(n % #words) + 1])
  return wrk.format("POST", "/mcp", mcp_headers, body)
end
