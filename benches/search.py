#!/usr/bin/env python3
"""Search at scale: text, semantic and hybrid search over one user's 100,000 and 1,000,000
snippets, on the embedded store or PostgreSQL, with the local embedding model.

    python3 benches/search.py [--backend embedded|postgres] [--sizes 100000,1000000]
                              [--model-dir models/all-MiniLM-L6-v2] [--duration 10] [--team]
                              [--alternate ROUNDS]

Snippets and their embeddings are seeded straight into the database: computing a million
embeddings with the model would take hours, and what is measured here is the cost of a
search, which does not depend on the vectors' values. The seeded vectors are pseudo-random
(one signed byte per dimension, their sign bits beside them) and carry the running model's
id, so the service takes them as its own; SEARCH_MIN_SIMILARITY is -1 so every candidate
counts as a match and each search fetches and fuses full pages, as with real vectors. The
query vectors are the real model's, cached after a word's first search as the service
caches them. Also measured: creates/s with the model on and off (the embeddings they cause
are computed behind them), and resident memory with each collection's index built. With
--team the snippets of each size are a team workspace's (of 200 members) instead of one
user's, and a member searches them (`?workspace=`): the role check and the per-workspace
index and counts, at scale. With --alternate ROUNDS, one store holds both, one user's
snippets and a team's of the same size, and each mode is measured on each in turn, ROUNDS
times (the order swapped each round), then the team's p99 over the user's in each round: a
comparison that one run's drift moves less than two runs apart.
"""

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (the benchmark's shared helpers)
from run import API, HEALTH, METRICS, RELEASE, RssWatch, call, header, row, wrk  # noqa: E402

DIMS = 384

SQLITE_SNIPPETS = """
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < :n)
INSERT INTO snippets (id, user_id, title, code, language, tags, created_at, updated_at)
SELECT printf('%s-0000-7000-8000-%012x', :prefix, i), :user,
       'bench word' || (i % 100 + 1) || ' ' || i, 'fn word' || (i % 100 + 1) || '() { let v = ' || i || '; }',
       'rust', '["bench"]', :start + i, :start + i
FROM g;
"""

SQLITE_EMBEDDINGS = """
INSERT INTO snippet_embeddings (snippet_id, user_id, model, content_hash, signs, vector, seq)
SELECT id, user_id, :model, zeroblob(16), randomblob(:bits), randomblob(:dims),
       (SELECT COALESCE(MAX(seq), 0) FROM snippet_embeddings) + seq
FROM snippets WHERE user_id = :user;
"""

POSTGRES = """
INSERT INTO snippets (id, user_id, title, code, language, tags, created_at, updated_at)
SELECT :'prefix' || '-0000-7000-8000-' || lpad(to_hex(g), 12, '0'), :'user',
       'bench word' || (g % 100 + 1) || ' ' || g, 'fn word' || (g % 100 + 1) || '() { let v = ' || g || '; }',
       'rust', '["bench"]', :start + g, :start + g
FROM generate_series(1, :n) AS g;
INSERT INTO snippet_embeddings (snippet_id, user_id, model, content_hash, signs, vector, seq)
SELECT id, user_id, :'model', '\\x00'::bytea, decode(repeat(md5(id), 3), 'hex'),
       decode(repeat(md5(id || 'v'), 24), 'hex'), nextval('snippet_embedding_seq')
FROM snippets WHERE user_id = :'user';
"""


def seed(database_url, user, n, model):
    values = {"prefix": os.urandom(4).hex(), "user": user, "n": n, "model": model,
              "start": int(time.time() * 1e6) - 86_400_000_000 - n, "dims": DIMS, "bits": DIMS // 8}
    if database_url.startswith("sqlite://"):
        db = sqlite3.connect(database_url[len("sqlite://"):], timeout=60)
        with db:
            db.execute(SQLITE_SNIPPETS, values)
            db.execute(SQLITE_EMBEDDINGS, values)
        db.close()
    else:
        args = [f"--set={k}={v}" for k, v in values.items()]
        subprocess.run(["psql", database_url, "-q", "-v", "ON_ERROR_STOP=1", *args],
                       input=POSTGRES, text=True, check=True, stdout=subprocess.DEVNULL)


def model_id():
    text = urllib.request.urlopen(f"http://127.0.0.1:{METRICS}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith("pieces_embedding_model_info{"):
            return line.split('model="', 1)[1].split('"', 1)[0]
    raise SystemExit("the service reports no embedding model (is EMBEDDINGS_MODEL_DIR right?)")


def start(env, workdir):
    proc = subprocess.Popen([RELEASE / "pieces-connector"], env=env, cwd=workdir)
    run.wait_ready(f"http://127.0.0.1:{HEALTH}/health/ready", within=60)
    return proc


def stop(proc):
    proc.terminate()
    proc.wait(timeout=60)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=["embedded", "postgres"], default="embedded")
    p.add_argument("--sizes", default="100000,1000000")
    p.add_argument("--model-dir", default=str(run.ROOT / "models" / "all-MiniLM-L6-v2"))
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--creates", action=argparse.BooleanOptionalAction, default=True,
                   help="also measure creates/s with the model on and off")
    p.add_argument("--team", action="store_true",
                   help="each size is a team workspace's snippets, searched by one of its 200 members")
    p.add_argument("--alternate", type=int, default=0, metavar="ROUNDS",
                   help="seed one user's and a team's snippets of each size in one store and "
                        "measure each mode on both in turn, ROUNDS times")
    p.add_argument("--no-build", action="store_true")
    args = p.parse_args()
    base_env, _, wrk_env = run.prepare(args)

    ceiling_proc = subprocess.Popen([RELEASE / "examples" / "ceiling", str(run.CEILING)], env=base_env)
    time.sleep(0.3)
    print(f"\nbackend: {args.backend}   search connections: {args.connections}   "
          f"{args.duration} s per scenario   cores: {os.cpu_count()}\n", flush=True)
    header()
    wide = argparse.Namespace(**{**vars(args), "connections": 64})
    ceiling = wrk("get_snippet.lua", f"http://127.0.0.1:{run.CEILING}", wide, wrk_env)
    row("ceiling (bare axum + JWT, 64 conn)", ceiling, 0, 0)
    ceiling_proc.terminate()
    ceiling_proc.wait()
    ceiling_rps = ceiling["rps"]

    workdir = tempfile.mkdtemp(prefix="pieces-search-")
    cleanups = []

    def fresh_store(name):
        """A new, empty store: each scenario group starts from nothing."""
        if args.backend == "postgres":
            extra, cleanup = run.postgres_env()
            cleanups.append(cleanup)
            return extra
        return {"DATABASE_URL": f"sqlite://{workdir}/{name}.db"}

    env = dict(base_env, EMBEDDINGS_MODEL_DIR=args.model_dir, SEARCH_MIN_SIMILARITY="-1")
    api = f"http://127.0.0.1:{API}"
    try:
        if args.creates:
            for label, extra in (("model off", {"EMBEDDINGS_MODEL_DIR": ""}), ("model on", {})):
                proc = start(dict(env, **extra, **fresh_store(label.replace(" ", "-"))), workdir)
                with RssWatch(proc.pid) as w:
                    post = wrk("post_snippet.lua", api, wide, wrk_env)
                row(f"POST /api/v1/snippets ({label})", post, ceiling_rps, w.peak)
                stop(proc)
        env.update(fresh_store("search"))
        if args.alternate:
            # Two collections of the largest size searched in turn: both indexes must fit, or
            # each turn would measure the other's eviction and rebuild instead of a search.
            largest = max(int(s) for s in args.sizes.split(",") if s)
            env["VECTOR_INDEX_MAX_BYTES"] = str(max(256 << 20, 2 * largest * 256))
        proc = start(env, workdir)
        model = model_id()
        for n in (int(s) for s in args.sizes.split(",") if s):
            if args.alternate:
                alternate(args, env, base_env, wrk_env, proc, model, n, ceiling_rps)
                continue
            user = f"search-{n}"
            user_env = dict(wrk_env, BENCH_TOKEN=run.mint_token(base_env, user))
            whose = "one user"
            if args.team:
                # The workspace's stored key is its id: the snippets are seeded under it.
                user, member = run.team_workspace(base_env, user_env["BENCH_TOKEN"], 199)
                user_env = dict(user_env, BENCH_TOKEN=member, BENCH_WORKSPACE=user)
                whose = "a team (member)"
            within = f"&workspace={user}" if args.team else ""
            seed_collection(args, env, user, n, model, user_env["BENCH_TOKEN"], within)
            print(f"  (RSS {run.rss_kib(proc.pid) / 1024:.1f} MiB with the index built)", flush=True)
            for mode in ("text", "semantic", "hybrid"):
                with RssWatch(proc.pid) as w:
                    r = wrk("search.lua", api, args, dict(user_env, BENCH_MODE=mode))
                row(f"?q= {mode}, {n} of {whose}", r, ceiling_rps, w.peak)
        print(f"\npeak RSS over the run {run.rss_kib(proc.pid, 'VmHWM') / 1024:.1f} MiB", flush=True)
        stop(proc)
    finally:
        for cleanup in cleanups:
            run.drop_database(*cleanup)


def seed_collection(args, env, user, n, model, token, within=""):
    """Seeds `n` snippets under stored key `user` and builds its index with a first semantic
    search (then each word's query vector once, as a user's first searches)."""
    t0 = time.time()
    seed(env["DATABASE_URL"], user, n, model)
    run.seed_listing.settle(env["DATABASE_URL"])
    if args.backend == "postgres":
        run.sh("psql", env["DATABASE_URL"], "-qc", "VACUUM ANALYZE snippet_embeddings",
               stdout=subprocess.DEVNULL)
    seeded = time.time() - t0
    t0 = time.time()
    call("GET", f"/api/v1/snippets?q=word1&mode=semantic{within}", token)
    built = time.time() - t0
    for i in range(1, 101):
        call("GET", f"/api/v1/snippets?q=word{i}&mode=semantic&limit=1{within}", token)
    print(f"  ({n} snippets of {user} seeded in {seeded:.0f} s; index built by the first "
          f"semantic search in {built * 1000:.0f} ms)", flush=True)


def alternate(args, env, base_env, wrk_env, proc, model, n, ceiling_rps):
    """One user's `n` snippets and a team's `n` in one store, each mode measured on both in
    turn, `args.alternate` rounds; prints the team's p99 over the user's per round."""
    user = f"search-{n}"
    user_env = dict(wrk_env, BENCH_TOKEN=run.mint_token(base_env, user))
    owner = run.mint_token(base_env, f"search-owner-{n}")
    ws, member = run.team_workspace(base_env, owner, 199)
    team_env = dict(wrk_env, BENCH_TOKEN=member, BENCH_WORKSPACE=ws)
    seed_collection(args, env, user, n, model, user_env["BENCH_TOKEN"])
    seed_collection(args, env, ws, n, model, member, f"&workspace={ws}")
    ratios = {mode: [] for mode in ("text", "semantic", "hybrid")}
    for round_ in range(args.alternate):
        order = [("one user", user_env), ("a team (member)", team_env)]
        if round_ % 2:
            order.reverse()
        for mode in ratios:
            p99 = {}
            for whose, who_env in order:
                with RssWatch(proc.pid) as w:
                    r = wrk("search.lua", API_URL, args, dict(who_env, BENCH_MODE=mode))
                row(f"?q= {mode}, {n} of {whose}, round {round_ + 1}", r, ceiling_rps, w.peak)
                p99[whose] = r["p99_us"]
            ratios[mode].append(p99["a team (member)"] / max(p99["one user"], 1))
    for mode, values in ratios.items():
        listed = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {mode}: team p99 / user p99 per round {listed}; median "
              f"{sorted(values)[len(values) // 2]:.2f}", flush=True)


API_URL = f"http://127.0.0.1:{API}"


if __name__ == "__main__":
    sys.exit(main())
