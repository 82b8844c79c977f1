#!/usr/bin/env python3
"""Moving in and out: import, export and `pcn get`, on the embedded store.

    python3 benches/transfer.py [--snippets 100000] [--no-build]

Import: a JSON-lines file of --snippets snippets (this service's own export format, about
400 bytes each) is posted to /api/v1/imports on a fresh store and its job followed to the
end; printed: snippets/s from the POST to the job's end (the target is >= 2,000/s) and the
service's resident memory before, at the peak, and at each quarter of the job. Half the file
is imported first into another fresh store: memory flat means the full file's peak is not
higher than the half's by more than noise (the file is twice the size).

Export: the same store exported as JSON lines (and then as Markdown and .code-snippets),
read as fast as the client can; printed: MB/s (the target is >= 20 MB/s) and the peak
resident memory during it.

`pcn get`: the client binary run --gets times for one snippet, wall time from its start to
its exit with the code on stdout (median and p90).

Builds the BENCH_PROFILE profile (default dist) of both binaries unless --no-build.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (the benchmark's shared helpers)


def write_file(path, count):
    """`count` snippets as the export writes them."""
    created = "2026-01-02T03:04:05.000006Z"
    with open(path, "w") as out:
        for i in range(count):
            code = f"def handler_{i}(event):\n    return retry(lambda: call({i}), attempts=3)\n" * 3
            out.write(json.dumps({
                "version": 1, "id": str(uuid.uuid4()), "workspace": "personal",
                "title": f"Handler number {i} with retries", "code": code, "language": "python",
                "tags": ["bench", f"t{i % 50}"], "metadata": {"n": i}, "description": None,
                "created_at": created, "updated_at": created,
            }) + "\n")
    return path.stat().st_size


class Service:
    """The service on a fresh embedded store."""

    def __init__(self, base_env):
        self.workdir = tempfile.mkdtemp(prefix="pieces-transfer-")
        self.env = dict(base_env, DATABASE_URL=f"sqlite://{self.workdir}/pieces.db")

    def __enter__(self):
        self.proc = subprocess.Popen([run.RELEASE / "pieces-connector"], env=self.env,
                                     cwd=self.workdir)
        run.wait_ready(f"http://127.0.0.1:{run.HEALTH}/health/ready")
        self.token = run.mint_token(self.env, user="mover")
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def request(method, path, token, data=None, timeout=600):
    req = urllib.request.Request(f"http://127.0.0.1:{run.API}{path}", data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    return urllib.request.urlopen(req, timeout=timeout)


def import_file(service, path):
    """Posts the file and follows its job; answers (seconds, job, RSS samples by progress)."""
    quarters = {}
    with run.RssWatch(service.proc.pid, every=0.05) as watch:
        before = run.rss_kib(service.proc.pid)
        started = time.perf_counter()
        with open(path, "rb") as body, request("POST", "/api/v1/imports?format=json",
                                                service.token, data=body) as r:
            job = json.loads(r.read())
        while job["status"] == "running":
            time.sleep(0.05)
            with request("GET", f"/api/v1/imports/{job['id']}", service.token) as r:
                job = json.loads(r.read())
            quarter = min(3, job["done"] * 4 // max(job["total"], 1))
            quarters[quarter] = max(quarters.get(quarter, 0), run.rss_kib(service.proc.pid))
        seconds = time.perf_counter() - started
    return seconds, job, before, watch.peak, quarters


def export(service, fmt):
    """Reads the whole export; answers (bytes, seconds, peak RSS KiB)."""
    total = 0
    with run.RssWatch(service.proc.pid, every=0.05) as watch:
        started = time.perf_counter()
        with request("GET", f"/api/v1/export?format={fmt}", service.token) as r:
            while chunk := r.read(1 << 20):
                total += len(chunk)
        seconds = time.perf_counter() - started
    return total, seconds, watch.peak


def pcn_get(service, gets):
    """Wall times of `pcn get` for one snippet, in ms."""
    with request("GET", "/api/v1/snippets?limit=1", service.token) as r:
        snippet = json.loads(r.read())["snippets"][0]
    env = dict(os.environ, PCN_URL=f"http://127.0.0.1:{run.API}", PCN_TOKEN=service.token)
    times = []
    for _ in range(gets):
        started = time.perf_counter()
        out = subprocess.run([run.RELEASE / "pcn", "get", snippet["id"]], env=env,
                             capture_output=True, check=True).stdout
        times.append((time.perf_counter() - started) * 1000)
        assert out.decode() == snippet["code"], "pcn get printed something else"
    return sorted(times)


def mib(kib):
    return f"{kib / 1024:.1f} MiB"


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--snippets", type=int, default=100_000)
    parser.add_argument("--gets", type=int, default=30)
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    if not args.no_build:
        print(f"building {run.PROFILE} binaries ...", flush=True)
        run.sh("cargo", "build", "--profile", run.PROFILE, "--quiet", "--bin", "pieces-connector",
               "--bin", "pcn", cwd=run.ROOT)
    base_env = run.service_env()
    data = Path(tempfile.mkdtemp(prefix="pieces-transfer-data-"))
    half, full = data / "half.jsonl", data / "full.jsonl"
    half_bytes = write_file(half, args.snippets // 2)
    full_bytes = write_file(full, args.snippets)
    print(f"files: {args.snippets // 2} snippets ({half_bytes / 1e6:.1f} MB), "
          f"{args.snippets} snippets ({full_bytes / 1e6:.1f} MB)", flush=True)

    peaks = {}
    for name, path in (("half", half), ("full", full)):
        with Service(base_env) as service:
            seconds, job, before, peak, quarters = import_file(service, path)
            assert job["status"] == "done" and job["created"] == job["total"], job
            peaks[name] = peak
            print(f"import {name}: {job['created']} snippets in {seconds:.1f} s = "
                  f"{job['created'] / seconds:,.0f}/s (target 2,000: x{job['created'] / seconds / 2000:.2f}); "
                  f"RSS before {mib(before)}, peak {mib(peak)}, by quarter "
                  + ", ".join(mib(quarters.get(q, 0)) for q in range(4)), flush=True)
            if name != "full":
                continue
            for fmt in ("json", "markdown", "vscode"):
                size, seconds, peak = export(service, fmt)
                print(f"export {fmt}: {size / 1e6:.1f} MB in {seconds:.2f} s = "
                      f"{size / 1e6 / seconds:.1f} MB/s (target 20: x{size / 1e6 / seconds / 20:.2f}); "
                      f"peak RSS {mib(peak)}", flush=True)
            times = pcn_get(service, args.gets)
            print(f"pcn get: median {statistics.median(times):.1f} ms, "
                  f"p90 {times[int(len(times) * 0.9) - 1]:.1f} ms over {len(times)} runs", flush=True)
    print(f"import peak RSS, full file over half: {peaks['full'] / peaks['half']:.2f}x "
          f"for a file {full_bytes / half_bytes:.2f}x the size", flush=True)


if __name__ == "__main__":
    main()
