#!/usr/bin/env python3
"""The change stream under load: two replicas of the release binary on one PostgreSQL and
one Redis, 1,000 open SSE streams spread over both (one user each), and changes made
through replica one for users whose streams are on replica two.

    python3 benches/stream.py [--streams 1000] [--changes 300] [--no-build]

Prints the delivery lag (from the change's commit, the event's `at`, to its arrival at the
client) at p50/p99/max, the resident memory each idle stream costs the replica holding it,
and replica two's own pieces_stream_delivery_lag_seconds. Uses BENCH_POSTGRES_URL (default
postgres://postgres@127.0.0.1:5432/test; a fresh database is made) and BENCH_REDIS_URL
(default redis://127.0.0.1:6379/8).
"""

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import random
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (the benchmark's shared steps)

PORTS = [(18210, 18211, 18212), (18220, 18221, 18222)]


def jwt(secret, user):
    """An HS256 token for `user`, as the service's `token` command makes."""
    enc = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    head = enc(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = enc(json.dumps({"sub": user, "user_id": user, "exp": int(time.time()) + 3600}).encode())
    signature = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{enc(signature)}"


def start_replica(env, ports, workdir):
    api, metrics, health = ports
    env = dict(env, API_PORT=str(api), METRICS_PORT=str(metrics), HEALTH_PORT=str(health),
               STREAM_MAX_PER_USER="4", MAX_CONNECTIONS="4096")
    proc = subprocess.Popen([run.RELEASE / "pieces-connector"], env=env, cwd=workdir)
    run.wait_ready(f"http://127.0.0.1:{health}/health/ready")
    return proc


async def open_stream(port, token):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write((f"GET /api/v1/events HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
                  "Accept: text/event-stream\r\n\r\n").encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n", 1)[0]:
        raise SystemExit(f"stream refused: {head[:200]!r}")
    return reader, writer


async def read_events(reader, arrivals):
    """Collects (event `at`, arrival time) of each data line, decoding chunked framing
    loosely: only `data:` lines matter."""
    buffer = b""
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            return
        now = time.time()
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.startswith(b"data: "):
                event = json.loads(line[6:])
                at = datetime.fromisoformat(event["at"].replace("Z", "+00:00")).timestamp()
                arrivals.append((at, now))


def create(port, token, title):
    data = json.dumps({"title": title, "code": "fn x() {}", "language": "rust"}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/snippets", data=data, method="POST")
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        r.read()


def metric_sum(port, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return text


def histogram_quantile(text, name, q):
    buckets = []
    for line in text.splitlines():
        if line.startswith(name + "_bucket") and 'transport="sse"' in line:
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
    buckets.sort()
    total = buckets[-1][1] if buckets else 0
    for le, count in buckets:
        if total and count >= q * total:
            return le
    return float("nan")


async def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--streams", type=int, default=1000)
    p.add_argument("--changes", type=int, default=300)
    p.add_argument("--interval-ms", type=int, default=20, help="pause between changes")
    p.add_argument("--no-build", action="store_true")
    args = p.parse_args()
    if not args.no_build:
        run.build()
    base = run.service_env()
    secret = base["JWT_SECRET_KEY"]
    extra, cleanup = run.postgres_env()
    env = dict(base, **extra)
    workdir = Path(os.environ.get("TMPDIR", "/tmp"))
    replicas = [start_replica(env, PORTS[0], workdir), start_replica(env, PORTS[1], workdir)]
    try:
        users = [f"stream-user-{i}" for i in range(args.streams)]
        tokens = {u: jwt(secret, u) for u in users}
        rss_before = [run.rss_kib(r.pid) for r in replicas]
        streams, readers = [], []
        arrivals = {u: [] for u in users}

        async def open_streams(part):
            for i, user in part:
                api = PORTS[i % 2][0]
                reader, writer = await open_stream(api, tokens[user])
                streams.append(writer)
                readers.append(asyncio.create_task(read_events(reader, arrivals[user])))
            await asyncio.sleep(2)
            return [run.rss_kib(r.pid) for r in replicas]

        # The first half also pays what any first streams cost once (the allocator's pages
        # for each thread, the bus's subscriptions); the second half shows what one more costs.
        half = args.streams // 2
        rss_half = await open_streams(list(enumerate(users))[:half])
        rss_after = await open_streams(list(enumerate(users))[half:])
        per_stream = [(a - b) * 1024 / (args.streams / 2) for a, b in zip(rss_after, rss_before)]
        marginal = [(a - m) * 1024 / ((args.streams - half) / 2) for a, m in zip(rss_after, rss_half)]
        # Changes through replica one for users whose streams are on replica two.
        on_two = [u for i, u in enumerate(users) if i % 2 == 1]
        loop = asyncio.get_running_loop()
        for n in range(args.changes):
            user = random.choice(on_two)
            await loop.run_in_executor(None, create, PORTS[0][0], tokens[user], f"change {n}")
            await asyncio.sleep(args.interval_ms / 1000)
        await asyncio.sleep(1)
        lags = sorted((now - at) * 1000 for user in on_two for at, now in arrivals[user])
        text = metric_sum(PORTS[1][1], "")
        print(f"\nstreams open: {args.streams} ({args.streams // 2} per replica); changes through "
              f"replica one: {args.changes}; events received on replica two: {len(lags)}")
        if lags:
            pct = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))]
            print(f"delivery lag, commit to client (ms): p50 {pct(0.50):.2f}  p99 {pct(0.99):.2f}  "
                  f"max {lags[-1]:.2f}")
        print(f"replica two's own histogram: p50 <= {histogram_quantile(text, 'pieces_stream_delivery_lag_seconds', 0.5) * 1000:g} ms, "
              f"p99 <= {histogram_quantile(text, 'pieces_stream_delivery_lag_seconds', 0.99) * 1000:g} ms")
        print("resident memory per idle stream, the second half's streams: " + ", ".join(
            f"replica {i + 1}: {m / 1024:.1f} KiB ({mid / 1024:.1f} -> {after / 1024:.1f} MiB)"
            for i, (m, mid, after) in enumerate(zip(marginal, rss_half, rss_after))))
        print("  averaged over all streams, one-time growth included: " + ", ".join(
            f"replica {i + 1}: {b / 1024:.1f} KiB ({before / 1024:.1f} -> {after / 1024:.1f} MiB)"
            for i, (b, before, after) in enumerate(zip(per_stream, rss_before, rss_after))))
        for w in streams:
            w.close()
        for t in readers:
            t.cancel()
    finally:
        for r in replicas:
            r.terminate()
        for r in replicas:
            r.wait(timeout=30)
        run.drop_database(*cleanup)


if __name__ == "__main__":
    asyncio.run(main())
