#!/usr/bin/env python3
"""Warm reads against the ceiling, alternated: the ceiling, the service embedded and the
service on PostgreSQL + Redis, each warmed up for 3 s and then loaded for --duration
seconds, for --rounds rounds. Each service figure is a ratio to the ceiling measured just
before it, so a machine whose speed drifts during the run moves both sides of a ratio.

    python3 benches/warm_reads.py [--rounds 3] [--duration 10] [--no-build]
                                  [--baseline BINARY] [--creates] [--backend embedded|postgres]

Each round also reads as a member of a team workspace of 200 (the role check). With
--baseline, another build (the previous release's) serves its own warm reads in each round
too, on a store of its own; with --creates, each build then takes durable creates, and the
ratio of the two builds' creates is printed per round.

With `perf` installed it also prints CPU time and context switches per request. Uses
BENCH_POSTGRES_URL and BENCH_REDIS_URL as benches/run.py does.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
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


def serve(binary, env, workdir):
    """Starts `binary` and waits until it is ready."""
    service = subprocess.Popen([binary], env=env, cwd=workdir)
    try:
        run.wait_ready(f"http://127.0.0.1:{run.HEALTH}/health/ready", within=60)
    except BaseException:
        service.terminate()
        raise
    return service


def creates(name, args, wrk_env):
    """Durable creates for --duration seconds; returns requests/s."""
    result = run.wrk("post_snippet.lua", f"http://127.0.0.1:{run.API}", args, wrk_env)
    print(f"  {name:<22} {result['rps']:>9.0f} creates/s  p99 {result['p99_us'] / 1000:6.2f} ms", flush=True)
    return result["rps"]


def round_of(name, args, builds, stores, base_env, token, wrk_env, workdir, ceiling_rps, found):
    """One backend's part of a round: each build's own warm reads (and creates), and this
    build's reads by a team member. A build served right after another one measured slower
    here, whichever it was: `builds` comes in turns, first one first, then the other."""
    created = {}
    for label, binary in builds:
        service = serve(binary, dict(base_env, **stores[label]), workdir)
        try:
            ids = run.warm_snippets(token, 20)
            env = dict(wrk_env, BENCH_IDS=",".join(ids))
            url = f"http://127.0.0.1:{run.API}"
            found.setdefault(f"{name}, {label}", []).append(
                measure(f"{label} own", service, url, args, env) / ceiling_rps)
            if label == "this build":
                team_ids, member = run.team_snippets(base_env, token, 20)
                team_env = dict(wrk_env, BENCH_IDS=",".join(team_ids), BENCH_TOKEN=member)
                found.setdefault(f"{name}, team member", []).append(
                    measure("team member", service, url, args, team_env) / ceiling_rps)
            if args.creates:
                created[label] = creates(f"{label} creates", args, wrk_env)
        finally:
            service.terminate()
            service.wait(timeout=30)
    if len(created) == 2:
        ratio = created["this build"] / created["baseline"]
        found.setdefault(f"{name}, creates vs baseline", []).append(ratio)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--baseline", type=Path, default=None,
                   help="another build whose own warm reads (and creates) alternate with this one's")
    p.add_argument("--creates", action="store_true", help="durable creates of each build too")
    p.add_argument("--backend", choices=["embedded", "postgres", "both"], default="both")
    args = p.parse_args()
    base_env, token, wrk_env = run.prepare(args)
    workdir = tempfile.mkdtemp(prefix="pieces-warm-")
    binaries = {"this build": run.RELEASE / "pieces-connector"}
    if args.baseline:
        binaries = {"baseline": args.baseline.resolve(), **binaries}
    backends, cleanups = {}, []
    if args.backend in ("embedded", "both"):
        # A store per build: an older build cannot open a store a newer one migrated.
        backends["embedded"] = {label: {"DATABASE_URL": f"sqlite://{workdir}/{i}.db"}
                                for i, label in enumerate(binaries)}
    if args.backend in ("postgres", "both"):
        backends["PostgreSQL + Redis"] = {}
        for label in binaries:
            store, cleanup = run.postgres_env()
            # Redis databases apart too: each build's cache keys are its own.
            store["REDIS_URL"] = store["REDIS_URL"].rsplit("/", 1)[0] + f"/{9 + len(cleanups)}"
            run.sh("redis-cli", "-u", store["REDIS_URL"], "FLUSHDB", stdout=subprocess.DEVNULL)
            backends["PostgreSQL + Redis"][label] = store
            cleanups.append(cleanup)
            time.sleep(1.1)  # postgres_env names a database by the second
    found = {}
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
            for name, stores in backends.items():
                builds = list(binaries.items())[::1 if round_number % 2 else -1]
                round_of(name, args, builds, stores, base_env, token, wrk_env, workdir, ceiling_rps, found)
        print("\nwarm GET as a ratio of the ceiling measured just before it (target >= 0.75); "
              "creates as this build's over the baseline's:")
        for name, values in found.items():
            print(f"  {name:<40} " + "  ".join(f"{v:.3f}" for v in values), flush=True)
    finally:
        for cleanup in cleanups:
            run.drop_database(*cleanup)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
