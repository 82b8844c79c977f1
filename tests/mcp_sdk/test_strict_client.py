#!/usr/bin/env python3
"""/mcp driven by the official MCP Python SDK, a strict client: it checks every tool's
structured result against the tool's declared output schema, and refuses a result that does
not conform ("Invalid structured content returned by tool ...").

    python3 tests/mcp_sdk/test_strict_client.py BINARY

It starts BINARY on a temporary SQLite store with a stub of the platform's cognitive service
(whose answers carry suggestions and references as strings, as the platform sends them),
makes a personal token with every scope through REST, then lists the tools and calls each
one, as an agent would. Exit 0 when every call returned what its schema says.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

SECRET = "strict-client-secret-that-is-long-enough-for-hs256"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jwt(user):
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": user, "exp": int(time.time()) + 3600}).encode())
    mac = hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


class Cognitive(BaseHTTPRequestHandler):
    """The platform's cognitive service: `/chat` answers with strings in its lists."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = {"response": "Retry with exponential backoff and jitter.",
                "suggestions": ["cap the number of attempts", "add jitter"],
                "references": ["https://example.com/backoff"], "confidence": 0.8}
        if self.path == "/analyze":
            body = {"complexity": "low"}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def rest(base, method, path, body=None):
    request = urllib.request.Request(base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
    request.add_header("Authorization", f"Bearer {jwt('strict-agent')}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


async def every_tool(base, token):
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    async with streamable_http_client(f"{base}/mcp", http_client=http) as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = {t.name: t for t in (await session.list_tools()).tools}
            calls = [
                ("save_snippet", {"title": "Retry with backoff", "code": "for i in range(5): sleep(2 ** i)",
                                  "language": "python", "tags": ["retry"], "metadata": {"k": [1, "v"]}}),
                ("search_snippets", {"query": "retry"}),
                ("search_snippets", {"query": "retry", "limit": 50, "mode": "text"}),
                ("set_workflow_context", {"session_id": "s", "context_type": "editor",
                                          "context_data": {"file": "retry.py"}}),
                ("get_workflow_context", {}),
                ("ask", {"query": "how do I retry?"}),
                ("list_workspaces", {}),
                ("search_snippets", {"query": "retry", "workspace": "personal"}),
            ]
            checked = set()
            snippet_id = None
            for name, arguments in calls:
                result = await session.call_tool(name, arguments)
                assert not result.is_error, f"{name}: {result}"
                checked.add(name)
                if name == "save_snippet":
                    snippet_id = result.structured_content["snippet_id"]
            for name, arguments in [
                ("get_snippet", {"id": snippet_id}),
                ("related_snippets", {"id": snippet_id, "limit": 3}),
                ("update_snippet", {"id": snippet_id, "title": "Retry, with jitter", "description": None}),
                ("get_snippet_history", {"id": snippet_id}),
                ("get_snippet_history", {"id": snippet_id, "version": 1}),
                ("restore_snippet_version", {"id": snippet_id, "version": 1}),
                ("delete_snippet", {"id": snippet_id}),
            ]:
                result = await session.call_tool(name, arguments)
                assert not result.is_error, f"{name}: {result}"
                checked.add(name)
            # A failing call is a result the client takes, never a transport error.
            failed = await session.call_tool("get_snippet", {"id": snippet_id})
            assert failed.is_error, failed
            missing = set(tools) - checked
            assert not missing, f"tools not called: {missing}"
            print(f"every tool's result conforms to its schema: {sorted(checked)}")


def main():
    binary = sys.argv[1]
    stub = HTTPServer(("127.0.0.1", 0), Cognitive)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    api, metrics, health = free_port(), free_port(), free_port()
    with tempfile.TemporaryDirectory() as work:
        env = {"PATH": os.environ.get("PATH", ""), "JWT_SECRET_KEY": SECRET, "BIND_ADDRESS": "127.0.0.1",
               "API_PORT": str(api), "METRICS_PORT": str(metrics), "HEALTH_PORT": str(health),
               "LOG_LEVEL": "warn", "DATABASE_URL": f"sqlite://{work}/pieces.db",
               "COGNITIVE_SERVICES_URL": f"http://127.0.0.1:{stub.server_port}"}
        service = subprocess.Popen([binary], env=env)
        try:
            deadline = time.time() + 30
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{health}/health/ready", timeout=1)
                    break
                except OSError:
                    if time.time() > deadline:
                        raise SystemExit("the service did not become ready")
                    time.sleep(0.2)
            base = f"http://127.0.0.1:{api}"
            made = rest(base, "POST", "/api/v1/tokens",
                        {"name": "strict agent", "scopes": ["snippets:read", "snippets:write",
                                                            "context:read", "context:write", "ai"]})
            asyncio.run(every_tool(base, made["token"]))
        finally:
            service.terminate()
            service.wait(timeout=30)
            stub.shutdown()


if __name__ == "__main__":
    main()
