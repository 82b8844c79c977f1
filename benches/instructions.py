#!/usr/bin/env python3
"""Instructions per request, counted by callgrind: a yardstick that shared-machine noise does
not move, for comparing the service's hot paths with the ceiling and with earlier versions.

    python3 benches/instructions.py [--backend embedded|postgres] [--seconds 10] [--no-build]
                                    [--baseline BINARY] [--keep-profiles DIR]

Runs the ceiling and then the service under `valgrind --tool=callgrind`, warms each up, zeroes
the counters, sends warm `GET /api/v1/snippets/{id}` for --seconds over 4 connections (the
user's own snippets, then a team workspace's read by one of its 200 members), and
prints user-space instructions per request and the functions that cost most. With --baseline,
another build (the previous release's) serves its own warm reads first, on a fresh store of its
own, so a change's cost on the path every read takes is counted against the build before it. Kernel time
(sockets, wake-ups) is not counted; `benches/run.py` measures that end to end. Needs valgrind
and wrk (`apt-get install valgrind wrk`).
"""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import run

LEADERS = 12
# "  96,358,824 (28.53%)  path/file.rs:function [object]" in callgrind_annotate's listing
COST_LINE = re.compile(r"^\s*[\d,]+\s+\(\s*(?P<share>[\d.]+)%\)\s+(?P<where>.+?)(\s+\[[^]]*\])?$")


KEEP = None  # --keep-profiles: where each run's callgrind dump is copied, named after the run


def count(cmd, env, port, ready_url, wrk_env, seconds, workdir, any_status=False, name="run"):
    """Starts `cmd` under callgrind, serving on `port` and ready once `ready_url` answers 200 (or
    anything, with any_status), and returns (instructions per request, requests, leaders)."""
    out_file = Path(workdir) / "callgrind.out"
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}",
                             *map(str, cmd)], env=env, cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run.wait_ready(ready_url, within=120, any_status=any_status)
        url = f"http://127.0.0.1:{port}"
        load = argparse.Namespace(threads=1, connections=4, duration=3)
        run.wrk("get_snippet.lua", url, load, wrk_env)
        control = lambda flag: subprocess.run(["callgrind_control", flag, str(proc.pid)],
                                              check=True, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL)
        control("-z")  # the warm-up is not counted
        measured = run.wrk("get_snippet.lua", url, load, wrk_env, duration=seconds)
        control("-d")  # writes the counts since -z to callgrind.out.1
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    report = subprocess.run(["callgrind_annotate", "--auto=no", "--threshold=100",
                             f"{out_file}.1"], capture_output=True, text=True, check=True).stdout
    if KEEP:
        KEEP.mkdir(parents=True, exist_ok=True)
        shutil.copy(f"{out_file}.1", KEEP / f"{name}.callgrind")
    for dump in Path(workdir).glob("callgrind.out*"):
        dump.unlink()
    return parse(report, measured["requests"])


def parse(report, requests):
    """Total instructions per request and the functions with the highest self cost."""
    total, leaders, in_functions = 0, [], False
    for line in report.splitlines():
        entry = COST_LINE.match(line)
        if "PROGRAM TOTALS" in line:
            total = int(line.split()[0].replace(",", ""))
        elif line.endswith("file:function"):
            in_functions = True
        elif in_functions and not line.strip():
            break
        elif in_functions and entry:
            share = float(entry["share"])
            # Thread entry points show their callees' cost as their own; they say nothing.
            if share < 95 and len(leaders) < LEADERS:
                leaders.append((share, entry["where"].split(":", 1)[-1]))
    requests = max(requests, 1)
    return total / requests, requests, leaders


def baseline_reads(args, env, token, wrk_env, workdir):
    """The baseline build's warm reads of its user's own snippets, on a store of its own (the
    same backend, emptied afterwards)."""
    env = dict(env)
    cleanup = None
    if args.backend == "postgres":
        extra, cleanup = run.postgres_env()
        env.update(extra)
    else:
        env["DATABASE_URL"] = f"sqlite://{workdir}/baseline.db"
    binary = args.baseline.resolve()
    try:
        service = subprocess.Popen([binary], env=env, cwd=workdir)
        try:
            run.wait_ready(f"http://127.0.0.1:{run.HEALTH}/health/ready")
            ids = ",".join(run.warm_snippets(token, 20))
        finally:
            service.terminate()
            service.wait(timeout=30)
        counted = count([binary], env, run.API, f"http://127.0.0.1:{run.HEALTH}/health/ready",
                        dict(wrk_env, BENCH_IDS=ids), args.seconds, workdir, name="baseline")
        return (f"GET /api/v1/snippets/{{id}} warm (baseline {args.baseline.name}, {args.backend})",
                counted)
    finally:
        if cleanup:
            run.drop_database(*cleanup)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=["embedded", "postgres"], default="embedded")
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--baseline", type=Path, default=None,
                   help="another build of the service whose own warm reads are counted too")
    p.add_argument("--keep-profiles", type=Path, default=None,
                   help="a directory to keep each run's callgrind dump in, for callgrind_annotate")
    args = p.parse_args()
    global KEEP
    KEEP = args.keep_profiles
    env, token, wrk_env = run.prepare(args, "valgrind")
    workdir = tempfile.mkdtemp(prefix="pieces-instr-")
    cleanup_db = None
    try:
        results = [("ceiling (bare axum + JWT)",
                    count([run.RELEASE / "examples" / "ceiling", run.CEILING], env, run.CEILING,
                          # No token: any answer (401) means it is listening.
                          f"http://127.0.0.1:{run.CEILING}/api/v1/snippets/{wrk_env['BENCH_IDS']}",
                          wrk_env, args.seconds, workdir, any_status=True, name="ceiling"))]
        if args.baseline:
            results.append(baseline_reads(args, env, token, wrk_env, workdir))
        if args.backend == "postgres":
            extra, cleanup_db = run.postgres_env()
            env.update(extra)
        else:
            env["DATABASE_URL"] = f"sqlite://{workdir}/pieces.db"
        # Snippets to read, made and cached by a plain (fast) run of the service first.
        service = subprocess.Popen([run.RELEASE / "pieces-connector"], env=env, cwd=workdir)
        try:
            run.wait_ready(f"http://127.0.0.1:{run.HEALTH}/health/ready")
            wrk_env["BENCH_IDS"] = ",".join(run.warm_snippets(token, 20))
            team_ids, member = run.team_snippets(env, token, 20)
        finally:
            service.terminate()
            service.wait(timeout=30)
        results.append((f"GET /api/v1/snippets/{{id}} warm ({args.backend})",
                        count([run.RELEASE / "pieces-connector"], env, run.API,
                              f"http://127.0.0.1:{run.HEALTH}/health/ready", wrk_env,
                              args.seconds, workdir, name="own")))
        # The same reads by a member of a team workspace of 200: the role check's cost.
        team_env = dict(wrk_env, BENCH_IDS=",".join(team_ids), BENCH_TOKEN=member)
        results.append((f"GET /api/v1/snippets/{{id}} warm, team member ({args.backend})",
                        count([run.RELEASE / "pieces-connector"], env, run.API,
                              f"http://127.0.0.1:{run.HEALTH}/health/ready", team_env,
                              args.seconds, workdir, name="team")))
        base = results[0][1][0]
        for name, (per_request, requests, leaders) in results:
            print(f"\n{name}: {per_request:,.0f} instructions/request "
                  f"({per_request / base:.2f}x the ceiling, {requests} requests)")
            for share, function in leaders:
                print(f"  {share:5.1f}%  {function[:110]}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if cleanup_db:
            run.drop_database(*cleanup_db)


if __name__ == "__main__":
    sys.exit(main())
