#!/usr/bin/env python3
"""Fills a store through the API of a given release and keeps it as a migration fixture.

    python3 scripts/make-store-fixtures.py BINARY OUT_DIR [--postgres URL]

BINARY is a build of the release whose schema the fixture holds. The script starts it on an
empty SQLite file (and, with --postgres, on an empty PostgreSQL database), saves, edits and
deletes snippets, sets workflow contexts and makes personal tokens through its API, with the
platform's services unreachable so their events stay in the outbox, and with the local
embedding model when `models/all-MiniLM-L6-v2` holds it. It then writes what the API answered
(`expected.json`), the SQLite file (`sqlite.db`) and a plain dump of the PostgreSQL database
(`postgres.sql`). The migration tests open these with the current release and check that
every row is still there and still answers the same.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SECRET = "fixture-secret-that-is-long-enough-for-hs256"
ROOT = pathlib.Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "all-MiniLM-L6-v2"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jwt(user):
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": user, "exp": int(time.time()) + 3600}).encode())
    signature = hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


class Api:
    def __init__(self, base):
        self.base = base

    def call(self, method, path, user, body=None, token=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {token or jwt(user)}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read().decode()
                return response.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as e:
            raise SystemExit(f"{method} {path}: {e.code} {e.read().decode()}")


def start(binary, database_url, workdir):
    api, metrics, health = free_port(), free_port(), free_port()
    dead = f"http://127.0.0.1:{free_port()}"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "JWT_SECRET_KEY": SECRET,
        "BIND_ADDRESS": "127.0.0.1",
        "API_PORT": str(api),
        "METRICS_PORT": str(metrics),
        "HEALTH_PORT": str(health),
        "LOG_LEVEL": "warn",
        "DATABASE_URL": database_url,
        # Unreachable: their events wait in the outbox.
        "DATA_PLATFORM_URL": dead,
        "GATEWAY_URL": dead,
    }
    if (MODEL / "model.safetensors").exists():
        env["EMBEDDINGS_MODEL_DIR"] = str(MODEL)
    process = subprocess.Popen([binary], env=env, cwd=workdir)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{health}/health/ready", timeout=2):
                return process, Api(f"http://127.0.0.1:{api}"), metrics
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the service did not become ready")


def embeddings_settled(metrics_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("pieces_embeddings_backlog "):
                return float(line.split()[1]) == 0
    return True


def fill_team(api):
    """A team workspace of dana's with bob a writer and carol a reader, a snippet bob saved
    there and a share link to it; returns what carol and the link answer."""
    _, team = api.call("POST", "/api/v1/workspaces", "dana", {"name": "Fixture team", "description": "kept"})
    ws = team["id"]
    for member, role in (("bob", "writer"), ("carol", "reader")):
        api.call("PUT", f"/api/v1/workspaces/{ws}/members/{member}", "dana", {"role": role})
    _, saved = api.call("POST", "/api/v1/snippets", "bob",
                        {"title": "Team runbook", "code": "kubectl rollout undo deploy/api",
                         "language": "bash", "tags": ["ops"], "workspace": ws})
    _, share = api.call("POST", f"/api/v1/snippets/{saved['snippet_id']}/shares", "bob", {"expires_in_hours": 8760})
    _, page = api.call("GET", f"/api/v1/snippets?workspace={ws}", "carol")
    _, members = api.call("GET", f"/api/v1/workspaces/{ws}/members", "carol")
    _, audit = api.call("GET", f"/api/v1/workspaces/{ws}/audit?limit=100", "dana")
    return {"id": ws, "snippets": page["snippets"], "total": page["total"],
            "members": members["members"], "share_url": share["url"],
            "audit_actions": [r["action"] for r in audit["records"]]}


def fill(api, workspaces):
    """The same history on every store; returns what the API answers afterwards. With
    `workspaces` (a release that has them), a team workspace too."""
    made = {}
    for user, snippets in {
        "alice": [
            {"title": "Retry with backoff", "code": "for attempt in 0..5 {\n    sleep(1 << attempt);\n}",
             "language": "rust", "tags": ["retry", "network"], "description": "Exponential backoff",
             "metadata": {"source": "fixture", "nested": {"n": 1, "list": [1, "two", None]}}},
            {"title": "Newest row per group", "code": "SELECT DISTINCT ON (user_id) * FROM t ORDER BY user_id, at DESC;",
             "language": "sql", "tags": ["postgres"]},
            {"title": "Find large files", "code": "find . -size +100M -print", "language": "bash",
             "tags": ["shell", "disk"], "description": None},
            {"title": "Deleted later", "code": "echo gone", "language": "bash"},
            {"title": "Édité ensuite — ünïcödé", "code": "print('héllo')\n# 中文 ✓", "language": "python",
             "tags": ["unicode"], "metadata": {"ключ": "значение"}},
        ],
        "bob": [
            {"title": "Parse JSON lines", "code": "for line in f: json.loads(line)", "language": "python",
             "tags": ["json", "retry"]},
            {"title": "Debounce", "code": "let t; return (...a) => { clearTimeout(t); t = setTimeout(() => f(...a), ms) }",
             "language": "javascript"},
        ],
    }.items():
        made[user] = []
        for body in snippets:
            body = {k: v for k, v in body.items() if v is not None}
            _, answer = api.call("POST", "/api/v1/snippets", user, body)
            made[user].append(answer["snippet_id"])
            time.sleep(0.01)
    alice = made["alice"]
    api.call("PATCH", f"/api/v1/snippets/{alice[4]}", "alice",
             {"title": "Édité — ünïcödé", "tags": ["unicode", "edited"], "description": "changed"})
    api.call("DELETE", f"/api/v1/snippets/{alice[3]}", "alice")
    api.call("POST", "/api/v1/workflow-context", "alice",
             {"session_id": "s-1", "context_type": "editor", "context_data": {"file": "main.rs", "line": 42}})
    _, kept = api.call("POST", "/api/v1/tokens", "alice",
                       {"name": "agent", "scopes": ["snippets:read", "context:read"], "expires_in_days": 365})
    _, revoked = api.call("POST", "/api/v1/tokens", "alice", {"name": "old", "scopes": ["ai"]})
    api.call("DELETE", f"/api/v1/tokens/{revoked['id']}", "alice")
    expected = {"users": {}, "token": {"secret": kept["token"], "id": kept["id"],
                                       "revoked_secret": revoked["token"]}}
    if workspaces:
        expected["team"] = fill_team(api)
    for user in made:
        _, page = api.call("GET", "/api/v1/snippets?limit=100", user)
        expected["users"][user] = {"snippets": page["snippets"], "total": page["total"]}
    _, tokens = api.call("GET", "/api/v1/tokens", "alice")
    expected["token"]["listed"] = tokens["tokens"]
    return expected


def stop(process):
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binary")
    parser.add_argument("out")
    parser.add_argument("--postgres", help="an empty database to fill, e.g. postgres://postgres@127.0.0.1/fixture")
    parser.add_argument("--workspaces", action="store_true",
                        help="the release has team workspaces and share links: fill a team too")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    binary = str(pathlib.Path(args.binary).resolve())

    with tempfile.TemporaryDirectory() as work:
        db = pathlib.Path(work) / "pieces.db"
        process, api, metrics = start(binary, f"sqlite://{db}", work)
        expected = fill(api, args.workspaces)
        deadline = time.time() + 120
        while not embeddings_settled(metrics) and time.time() < deadline:
            time.sleep(0.5)
        stop(process)
        shutil.copyfile(db, out / "sqlite.db")
        (out / "sqlite-expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")

    if args.postgres:
        with tempfile.TemporaryDirectory() as work:
            process, api, metrics = start(binary, args.postgres, work)
            expected = fill(api, args.workspaces)
            deadline = time.time() + 120
            while not embeddings_settled(metrics) and time.time() < deadline:
                time.sleep(0.5)
            stop(process)
        dump = subprocess.run(["pg_dump", "--no-owner", "--no-privileges", "--inserts", args.postgres],
                              check=True, capture_output=True, text=True).stdout
        (out / "postgres.sql").write_text(dump)
        (out / "postgres-expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")
    print(f"fixtures written to {out}")


if __name__ == "__main__":
    sys.exit(main())
