#!/usr/bin/env python3
"""Warm reads against the ceiling, alternated: the ceiling, the service embedded and the
service on PostgreSQL + Redis, each warmed up for 3 s and then loaded for --duration
seconds, for --rounds rounds. Each service figure is a ratio to the ceiling measured just
before it, so a machine whose speed drifts during the run moves both sides of a ratio.

    python3 benches/warm_reads.py [--rounds 3] [--duration 10] [--no-build]

With `perf` installed it also prints CPU time and context switches per request. Uses
BENCH_POSTGRES_URL and BENCH_REDIS_URL as benches/run.py does.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (the benchmark's shared helpers)

WARM_UP = 3


def perf_stat(pid, seconds):
    """perf stat on `pid` for `seconds`, or None without perf."""
    if not shutil.which("perf"):
        return None
    return subprocess.Popen(["perf", "stat", "-x,", "-e", "task-clock,context-switches", "-p", str(pid),
                             "--", "sleep", str(seconds)], stderr=subprocess.PIPE, text=True)


def per_request(stat, requests):
    """(µs of CPU, context switches) per request from perf's CSV output."""
    if stat is None:
        return None
    counters = {}
    for line in stat.communicate()[1].splitlines():
        fields = line.split(",")
        if len(fields) > 2:
            try:
                counters[fields[2]] = float(fields[0])
            except ValueError:
                pass
    return counters.get("task-clock", 0) * 1000 / requests, counters.get("context-switches", 0) / requests


def measure(name, proc, url, args, env):
    """Warms `url` up, then loads it; returns requests/s."""
    run.wrk("get_snippet.lua", url, args, env, duration=WARM_UP)
    stat = perf_stat(proc.pid, args.duration)
    result = run.wrk("get_snippet.lua", url, args, env)
    cost = per_request(stat, max(result["rps"] * args.duration, 1))
    extra = f"   {cost[0]:5.1f} µs CPU, {cost[1]:.3f} switches per request" if cost else ""
    print(f"  {name:<22} {result['rps']:>9.0f} req/s  p99 {result['p99_us'] / 1000:6.2f} ms{extra}", flush=True)
    return result["rps"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-build", action="store_true")
    args = p.parse_args()
    base_env, token, wrk_env = run.prepare(args)
    workdir = tempfile.mkdtemp(prefix="pieces-warm-")
    postgres, cleanup = run.postgres_env()
    backends = {"embedded": {"DATABASE_URL": f"sqlite://{workdir}/pieces.db"}, "PostgreSQL + Redis": postgres}
    ratios = {name: [] for name in backends}
    try:
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number}", flush=True)
            ceiling = subprocess.Popen([run.RELEASE / "examples" / "ceiling", str(run.CEILING)], env=base_env)
            try:
                run.wait_port(run.CEILING)
                ceiling_rps = measure("ceiling", ceiling, f"http://127.0.0.1:{run.CEILING}", args, wrk_env)
            finally:
                ceiling.terminate()
                ceiling.wait()
            for name, extra in backends.items():
                service = subprocess.Popen([run.RELEASE / "pieces-connector"], env=dict(base_env, **extra),
                                           cwd=workdir)
                try:
                    run.wait_ready(f"http://127.0.0.1:{run.HEALTH}/health/ready", within=60)
                    ids = run.warm_snippets(token, 20)
                    rps = measure(name, service, f"http://127.0.0.1:{run.API}", args,
                                  dict(wrk_env, BENCH_IDS=",".join(ids)))
                finally:
                    service.terminate()
                    service.wait(timeout=30)
                ratios[name].append(rps / ceiling_rps)
        print("\nwarm GET as a ratio of the ceiling measured just before it (target >= 0.75):")
        for name, values in ratios.items():
            print(f"  {name:<22} " + "  ".join(f"{v:.2f}" for v in values), flush=True)
    finally:
        run.drop_database(*cleanup)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
