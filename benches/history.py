#!/usr/bin/env python3
"""Version history: what it stores per version, and what it costs an edit.

    python3 benches/history.py [--backend embedded|postgres] [--edits 1000] [--rounds 3]
                               [--duration 10] [--no-build]

Storage: one snippet of 100 KiB (2,560 lines of 40 bytes) is edited --edits times, one line
each, one edit at a time (HISTORY_MAX_VERSIONS set to keep every version), with history on and
then off; printed: the bytes its history holds per version (the deltas, and the table with its
index as stored: SQLite's dbstat, PostgreSQL's pg_total_relation_size), against the 100 KiB a
copy of each version would take, and the edits/s of both runs.

Throughput: wrk PATCHes 100 snippets of 100 lines, one line each, for --duration seconds, with
history on (HISTORY_MAX_VERSIONS=100) and off (0), alternated for --rounds rounds, each on a
fresh store; printed: the edits/s of each and their ratio (the target is >= 0.8).

Uses BENCH_POSTGRES_URL and BENCH_REDIS_URL as benches/run.py does.
"""

import argparse
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (the benchmark's shared helpers)

LINES, LINE = 2560, "let value_{:05d} = compute({:05d}); //" + "." * 3 + "\n"


def large_code(edit=None):
    """The 100 KiB code, with line `edit % LINES` changed when `edit` is given."""
    lines = [LINE.format(i, i) for i in range(LINES)]
    if edit is not None:
        i = edit % LINES
        lines[i] = f"let value_{i:05d} = compute({edit:05d}); // edit\n"
    return "".join(lines)


class Service:
    """The service on a fresh store with HISTORY_MAX_VERSIONS=`keep`."""

    def __init__(self, args, base_env, keep):
        self.args, self.keep = args, keep
        self.workdir = tempfile.mkdtemp(prefix="pieces-history-")
        self.env = dict(base_env, HISTORY_MAX_VERSIONS=str(keep))
        self.db = None
        if args.backend == "postgres":
            time.sleep(1.1)  # each fresh database is named by the second it was made in
            extra, self.db = run.postgres_env()
            self.env.update(extra)
        else:
            self.env["DATABASE_URL"] = f"sqlite://{self.workdir}/pieces.db"

    def __enter__(self):
        self.proc = subprocess.Popen([run.RELEASE / "pieces-connector"], env=self.env, cwd=self.workdir)
        run.wait_ready(f"http://127.0.0.1:{run.HEALTH}/health/ready")
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait()
        if self.db:
            time.sleep(0.5)
            run.drop_database(*self.db)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def history_bytes(self):
        """(rows, bytes of deltas, bytes of the table and its index as stored)."""
        if self.db:
            url = self.env["DATABASE_URL"]
            sql = ("SELECT count(*), coalesce(sum(octet_length(previous)), 0), "
                   "pg_total_relation_size('snippet_history') FROM snippet_history")
            out = subprocess.run(["psql", url, "-Atc", sql], capture_output=True, text=True,
                                 check=True).stdout.strip()
            return tuple(int(v) for v in out.split("|"))
        db = sqlite3.connect(f"file:{self.workdir}/pieces.db?mode=ro", uri=True)
        rows, deltas = db.execute(
            "SELECT count(*), coalesce(sum(length(previous)), 0) FROM snippet_history").fetchone()
        try:
            stored = db.execute("SELECT sum(pgsize) FROM dbstat WHERE name = 'snippet_history'").fetchone()[0]
        except sqlite3.OperationalError:  # dbstat not compiled in
            stored = None
        db.close()
        return rows, deltas, stored


def storage(args, base_env, token):
    print(f"\nstorage: one 100 KiB snippet ({len(large_code())} bytes), {args.edits} one-line edits, "
          f"one at a time", flush=True)
    rates = {}
    for keep in (args.edits + 1, 0):
        with Service(args, base_env, keep) as service:
            created = run.call("POST", "/api/v1/snippets", token,
                               {"title": "large", "code": large_code(), "language": "rust"})
            path = f"/api/v1/snippets/{created['snippet_id']}"
            t0 = time.perf_counter()
            for edit in range(args.edits):
                run.call("PATCH", path, token, {"code": large_code(edit)})
            rates[keep] = args.edits / (time.perf_counter() - t0)
            if keep:
                time.sleep(0.5)
                rows, deltas, stored = service.history_bytes()
                kept = run.call("GET", f"{path}/versions?limit=1", token)["total"]
                oldest = run.call("GET", f"{path}/versions/1", token)
                assert oldest["code"] == large_code(), "version 1 rebuilt from every delta"
                print(f"  versions kept {kept}, rows {rows}; deltas {deltas / max(rows - 1, 1):.0f} B per "
                      f"version; stored (table and index) "
                      f"{'-' if stored is None else f'{stored / max(rows, 1):.0f} B per version'} "
                      f"(a copy: {len(large_code())} B)", flush=True)
    on, off = rates[args.edits + 1], rates[0]
    print(f"  edits/s one at a time: history on {on:.0f}, off {off:.0f}: on/off {on / off:.3f}", flush=True)


def throughput(args, base_env, token, wrk_env):
    print(f"\nthroughput: wrk PATCH, 100 snippets of 100 lines, {args.connections} connections, "
          f"{args.duration} s, history on (100 versions) against off", flush=True)
    code = "".join(f"let line_{i} = {i};\n" for i in range(100))
    for n in range(1, args.rounds + 1):
        rates = {}
        order = (100, 0) if n % 2 else (0, 100)
        for keep in order:
            with Service(args, base_env, keep):
                ids = [run.call("POST", "/api/v1/snippets", token,
                                {"title": f"edited {i}", "code": code, "language": "rust"})["snippet_id"]
                       for i in range(100)]
                env = dict(wrk_env, BENCH_IDS=",".join(ids), BENCH_LINES="100")
                api = f"http://127.0.0.1:{run.API}"
                run.wrk("patch_snippet.lua", api, args, env, duration=3)
                result = run.wrk("patch_snippet.lua", api, args, env)
                bad = result["errors"] + result["non_2xx"]
                rates[keep] = result["rps"]
                print(f"  round {n}, history {'on ' if keep else 'off'}: {result['rps']:.0f} edits/s, "
                      f"p99 {result['p99_us'] / 1000:.1f} ms, errors {bad}", flush=True)
        print(f"  round {n}: on/off {rates[100] / rates[0]:.3f}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=["embedded", "postgres"], default="embedded")
    p.add_argument("--edits", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-build", action="store_true")
    args = p.parse_args()
    base_env, token, wrk_env = run.prepare(args)
    print(f"backend: {args.backend}   cores: {run.os.cpu_count()}", flush=True)
    storage(args, base_env, token)
    throughput(args, base_env, token, wrk_env)


if __name__ == "__main__":
    main()
