#!/usr/bin/env python3
"""Resident memory per deployment overlay, on PostgreSQL + Redis: the figures behind the memory
requests and limits of k8s/ (README, "Deploy", "Resources").

    nice -n 19 python3 benches/sizing.py [BINARY] text-only|ollama|local [--snippets 200000]
                                         [--index-bytes 33554432] [--model-dir DIR] [--no-build]

SCENARIO is the overlay's way of embedding: `text-only` none; `ollama` EMBEDDINGS_URL at
benches/embeddings_stub.py (384 floats per text: what the pod holds does not depend on who
computes the vectors); `local` EMBEDDINGS_MODEL_DIR=--model-dir (default
models/all-MiniLM-L6-v2). Both embedding scenarios set VECTOR_INDEX_MAX_BYTES=--index-bytes.
The service gets the budgets that bound its memory as k8s/base/config.env writes them out
(MAX_CONNECTIONS, MAX_BODY_BYTES, STREAM_MAX_PER_USER, NEAR_CACHE_MAX_BYTES, ...) and
CLIENT_WRITE_TIMEOUT_SECS=3, as tests/it/memory.rs runs, and nothing from the caller's
environment but PATH. One run:

1. start the service, wait for /health/ready and 3 s more: `idle`;
2. with embeddings, seed --snippets snippets of one user with embeddings under the running
   model's id straight into the database (benches/search.py's statements), time a first
   semantic search that builds the user's vector index (`index_build_s`), run 50 hybrid
   searches: `index_built`;
3. save 100 snippets of 1 MiB through the API, with embeddings waiting (at most 2 min) until
   the embedding backlog is empty (`backlog_left`): the peak meanwhile is
   `saving_100_big_peak`, then 2 s later `before_burst` (at rest);
4. the burst of tests/it/memory.rs (7 SSE and 4 WebSocket streams from since=0 that never
   read, two listings of all 100 snippets at once) plus 16 request bodies of 4 MB at once
   (`burst_statuses`: their answers' statuses), then the streams closed: `burst_peak`,
   `after_burst`, and `hwm`, the process's high-water mark (VmHWM).

It prints one JSON line: the scenario, the snippets seeded and the figures, resident memory
(VmRSS of /proc/PID/status, sampled every 20 ms during steps 3 and 4) in MiB and times in
seconds. A run of 200,000 snippets takes about a minute; `nice -n 19` keeps it out of the way
of other work on the machine, the way README's figures were measured.

BINARY defaults to target/release/pieces-connector, built first unless --no-build;
BENCH_PROFILE names another cargo profile (dist, the one the image ships). A BINARY given is
used as it is. Uses BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test; a
fresh database is made and dropped) and BENCH_REDIS_URL (default
redis://127.0.0.1:6379/12), and ports 18500, 19500, 19501 and 18510 (the stub).
"""

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (the benchmark's shared helpers)
import search  # noqa: E402  (the benchmark's seeding SQL)
import seed_listing  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# README's figures are the release profile's; BENCH_PROFILE names another to build and measure.
PROFILE = os.environ.get("BENCH_PROFILE", "release")
BINARY = ROOT / "target" / PROFILE / "pieces-connector"
MODEL_DIR = ROOT / "models" / "all-MiniLM-L6-v2"
API, METRICS, HEALTH, STUB = 18500, 19500, 19501, 18510
ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
BASE = {  # k8s/base/config.env, the settings that bound memory
    "MAX_CONNECTIONS": "2048", "MAX_BODY_BYTES": "4194304", "STREAM_MAX_PER_USER": "16",
    "CLIENT_WRITE_TIMEOUT_SECS": "3", "NEAR_CACHE_MAX_BYTES": "16777216",
    "REDIS_CRITICAL": "false", "DATABASE_MAX_CONNECTIONS": "10",
}


def rss(pid, field="VmRSS"):
    """A field of /proc/PID/status, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def call(method, path, token, body=None, timeout=60):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{API}{path}", data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read()
            return r.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        e.read()
        return e.code, None


def wait_ready(within=60):
    started = time.time()
    while time.time() - started < within:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{HEALTH}/health/ready", timeout=1) as r:
                if r.status == 200:
                    return time.time() - started
        except Exception:
            pass
        time.sleep(0.1)
    raise SystemExit("not ready")


def metrics():
    return urllib.request.urlopen(f"http://127.0.0.1:{METRICS}/metrics", timeout=5).read().decode()


def model_id():
    for line in metrics().splitlines():
        if line.startswith("pieces_embedding_model_info{"):
            return line.split('model="', 1)[1].split('"', 1)[0]
    raise SystemExit("no embedding model")


def backlog():
    return sum(float(line.split()[-1]) for line in metrics().splitlines()
               if line.startswith("pieces_embeddings_backlog"))


def never_reading(request):
    """A connection that sends `request` and never reads the answer (a 4 KiB receive buffer)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", API))
    s.sendall(request.encode())
    return s


def get(path, token, extra=""):
    return f"GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n{extra}\r\n"


WS = ("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")


def big_code(n, size=1024 * 1024 - 1024):
    line = "x" * 1023 + "\n"
    code = f"// snippet {n}\n"
    while len(code) + len(line) <= size:
        code += line
    return code


def build():
    print(f"building the {PROFILE} binary ...", file=sys.stderr, flush=True)
    subprocess.run(["cargo", "build", "--profile", PROFILE, "--quiet", "--bin", "pieces-connector"],
                   cwd=ROOT, check=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("binary", nargs="?", type=Path, default=None,
                   help=f"the service's binary (default {BINARY.relative_to(ROOT)}, built first)")
    p.add_argument("scenario", choices=["text-only", "ollama", "local"])
    p.add_argument("--snippets", type=int, default=200_000,
                   help="snippets with embeddings seeded before the index is built (not for text-only)")
    p.add_argument("--index-bytes", default=str(32 * 1024 * 1024), help="VECTOR_INDEX_MAX_BYTES")
    p.add_argument("--model-dir", type=Path, default=MODEL_DIR, help="the local model, for `local`")
    p.add_argument("--no-build", action="store_true")
    args = p.parse_args()
    binary = args.binary.resolve() if args.binary else BINARY
    if args.binary is None and not args.no_build:
        build()
    if not binary.is_file():
        raise SystemExit(f"no binary at {binary}")
    if args.scenario == "local" and not args.model_dir.is_dir():
        raise SystemExit(f"no model at {args.model_dir} (scripts/fetch-embedding-model.sh fetches it)")

    db = f"pieces_sizing_{args.scenario.replace('-', '_')}_{int(time.time())}"
    subprocess.run(["psql", ADMIN, "-qc", f"CREATE DATABASE {db}"], check=True, stdout=subprocess.DEVNULL)
    database_url = ADMIN.rsplit("/", 1)[0] + "/" + db
    workdir = tempfile.mkdtemp(prefix=f"pieces-sizing-{args.scenario}-")
    env = dict(PATH=os.environ["PATH"], JWT_SECRET_KEY=secrets.token_hex(32), LOG_LEVEL="warn",
               LOG_FORMAT="json", API_PORT=str(API), METRICS_PORT=str(METRICS), HEALTH_PORT=str(HEALTH),
               BIND_ADDRESS="127.0.0.1", DATABASE_URL=database_url, REDIS_URL=REDIS, **BASE)
    stub = None
    if args.scenario == "ollama":
        stub = subprocess.Popen([sys.executable, ROOT / "benches" / "embeddings_stub.py", "--port", str(STUB)])
        run.wait_port(STUB)
        env.update(EMBEDDINGS_URL=f"http://127.0.0.1:{STUB}/v1", EMBEDDINGS_MODEL="all-minilm",
                   VECTOR_INDEX_MAX_BYTES=args.index_bytes)
    elif args.scenario == "local":
        env.update(EMBEDDINGS_MODEL_DIR=str(args.model_dir.resolve()), VECTOR_INDEX_MAX_BYTES=args.index_bytes)
    embeddings = args.scenario != "text-only"

    def token(user):
        return subprocess.run([binary, "token", "--user", user], env=env,
                              capture_output=True, text=True, check=True).stdout.strip()

    proc = subprocess.Popen([binary], env=env, cwd=workdir)
    figures = {}
    try:
        figures["ready_s"] = round(wait_ready(), 2)
        time.sleep(3)
        figures["idle"] = rss(proc.pid)
        if embeddings:
            user = "sizing-index"
            t0 = time.time()
            search.seed(database_url, user, args.snippets, model_id())
            seed_listing.settle(database_url)
            figures["seed_s"] = round(time.time() - t0, 1)
            tok = token(user)
            t0 = time.time()
            status, page = call("GET", "/api/v1/snippets?q=word1&mode=semantic", tok)
            figures["index_build_s"] = round(time.time() - t0, 2)
            assert status == 200, status
            for i in range(1, 51):
                call("GET", f"/api/v1/snippets?q=word{i}&mode=hybrid&limit=10", tok)
            time.sleep(2)
            figures["index_built"] = rss(proc.pid)

        alice, carol = token("sizing-alice"), token("sizing-carol")
        with run.RssWatch(proc.pid, every=0.02) as saving:
            for n in range(100):
                status, _ = call("POST", "/api/v1/snippets", alice,
                                 {"title": f"big {n}", "code": big_code(n), "language": "text"})
                assert status == 201, status
            if embeddings:
                deadline = time.time() + 120
                while backlog() > 0 and time.time() < deadline:
                    time.sleep(0.5)
                figures["backlog_left"] = backlog()
        figures["saving_100_big_peak"] = saving.peak / 1024
        time.sleep(2)
        figures["before_burst"] = rss(proc.pid)

        with run.RssWatch(proc.pid, every=0.02) as burst:
            stalled = [never_reading(get("/api/v1/events?since=0", alice, "Accept: text/event-stream\r\n"))
                       for _ in range(7)]
            stalled += [never_reading(get("/api/v1/ws?since=0", alice, WS)) for _ in range(4)]
            results = []

            def listing():
                results.append(call("GET", "/api/v1/snippets?limit=100", alice)[0])

            huge = json.dumps({"title": "too big", "code": "y" * 4_000_000, "language": "text"})

            def too_big():
                req = urllib.request.Request(f"http://127.0.0.1:{API}/api/v1/snippets", data=huge.encode(),
                                             method="POST", headers={"Authorization": f"Bearer {carol}",
                                                                     "Content-Type": "application/json"})
                try:
                    urllib.request.urlopen(req, timeout=60).read()
                    results.append(201)
                except urllib.error.HTTPError as e:
                    results.append(e.code)

            threads = [threading.Thread(target=listing) for _ in range(2)]
            threads += [threading.Thread(target=too_big) for _ in range(16)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            time.sleep(2)
            for s in stalled:
                s.close()
            time.sleep(6)
        figures["burst_statuses"] = sorted(set(results))
        figures["burst_peak"] = burst.peak / 1024
        figures["after_burst"] = rss(proc.pid)
        figures["hwm"] = rss(proc.pid, "VmHWM")
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        if stub:
            stub.terminate()
            stub.wait(timeout=10)
        subprocess.run(["psql", ADMIN, "-qc", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"],
                       stdout=subprocess.DEVNULL)
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps({"scenario": args.scenario, "snippets": args.snippets if embeddings else 0,
                      **{k: (round(v, 1) if isinstance(v, float) else v) for k, v in figures.items()}}))


if __name__ == "__main__":
    main()
