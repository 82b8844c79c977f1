#!/usr/bin/env python3
"""Search relevance: recall@5 and MRR@10 of text, semantic and hybrid search on a fixed set.

    python3 benches/relevance.py --lint
    python3 benches/relevance.py --binary target/release/pieces-connector --model-dir DIR [--check]
    python3 benches/relevance.py --url http://127.0.0.1:8200 --metrics-url http://127.0.0.1:9200 \
                                 [--token T] [--check]

The set is benches/relevance/ (snippets.json, queries.json; see its README.md). A run loads
every snippet as a fresh user, waits until the service reports no snippet left to embed
(the `pieces_embeddings_backlog` gauge on the metrics port), asks every query in each mode
with limit=10 and prints recall@5 and MRR@10 per mode, overall and per kind of query.

With --binary the script starts the service itself: a SQLite database in a temporary
directory, a fresh JWT_SECRET_KEY, free ports, EMBEDDINGS_MODEL_DIR=--model-dir (without it
only `--modes text` can succeed), and stops it at the end. With --url it uses a running
service; the token must belong to a user with no snippets. Without --token one is minted for
a random user with `<binary> token --user ...`, which needs the service's JWT_SECRET_KEY in
the environment.

--check exits 1 unless hybrid recall@5 overall is at least text recall@5 overall + 0.15 and
hybrid recall@5 on the lexical queries is at least text's.

With --assist (and --binary) the started service also gets an OpenAI-compatible provider
(benches/ai_stub.py), and every query, then every question of relevance/unanswerable.json
(about things no snippet of the set answers), is asked through POST /api/v1/ai-assist. The
answer's references are the snippets its prompt held: their context precision (the share of
the snippets sent that are relevant, over all questions) and recall (the share of a query's
relevant snippets sent, averaged over queries) are printed, and how many of the unanswerable
questions were sent any snippet; with --check, precision must be at least --context-precision
(default 0.8) and recall at least --context-recall (default 0.569, what ai-assist sent before
its relevance floor: five snippets, the best by text and meaning, then the newest). --lint checks the set itself (no
service needed) and exits 1 on a defect. Python 3 standard library only.
"""

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SET_DIR = ROOT / "benches" / "relevance"
MODES = ("text", "semantic", "hybrid")
KINDS = ("paraphrase", "lexical")
LIMIT = 10
BACKLOG_GAUGE = "pieces_embeddings_backlog"

# --check: hybrid must beat text overall by this much recall@5, and not lose on lexical queries.
HYBRID_OVER_TEXT = 0.15
EPSILON = 1e-9

# --lint: what the set must hold.
MIN_SNIPPETS, MIN_PARAPHRASE, MIN_LEXICAL = 320, 40, 16
MAX_SET_BYTES = 400 * 1024
CODE_LINES = (3, 25)
# Words a question carries whatever it asks; a paraphrase may share these with its answer.
STOPWORDS = frozenset("""
    about after all already also and any are been before but can could did does doing each even
    every for from get had has have how into its just let like make many more most much need
    not one only other our out own same should some still than that the their them then there
    these they this those through too until use using very want was way were what when where
    which while who why will with without would you your
""".split())


# --- The set and its lint ------------------------------------------------------------------

def load_set(directory):
    snippets = json.loads((directory / "snippets.json").read_text())
    queries = json.loads((directory / "queries.json").read_text())
    return snippets, queries


def split_identifier(token):
    """`parseHTTPResponse2` -> parse, http, response, 2 (snake_case is split before this)."""
    return re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+|[^\W\d_]+", token)


def stem(word):
    """A light suffix strip, so `finished`/`finish` or `files`/`file` count as one word."""
    for suffix, replacement in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            word = word[: -len(suffix)] + replacement
            break
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


def content_words(text):
    """Content words of prose or code, stemmed: alphanumeric runs and the parts of their
    camelCase, of three characters or more, without stopwords."""
    out = set()
    for run in re.findall(r"[^\W_]+", text):
        for word in {run, *split_identifier(run)}:
            word = word.lower()
            if len(word) >= 3 and word not in STOPWORDS:
                out.add(stem(word))
    return out


def snippet_fields(s):
    return [s["title"], s.get("description") or "", s["code"], " ".join(s.get("tags", []))]


def fts_tokens(text):
    """Tokens as SQLite's unicode61 tokenizer makes them: alphanumeric runs, lowercased."""
    return [t.lower() for t in re.findall(r"[^\W_]+", text)]


def text_mode_matches(query, s):
    """Whether text mode finds `s` for `query`: every word of the query, as a phrase of its
    tokens, occurs in one of the searched fields (title, description, code, tags)."""
    fields = [fts_tokens(f) for f in snippet_fields(s)]
    for word in query.split():
        phrase = fts_tokens(word)
        if not phrase:
            continue
        n = len(phrase)
        if not any(f[i:i + n] == phrase for f in fields for i in range(len(f) - n + 1)):
            return False
    return True


def lint(directory):
    snippets, queries = load_set(directory)
    errors, notes = [], []
    by_key = {}
    for i, s in enumerate(snippets):
        key = s.get("key")
        where = f"snippet {key or i}"
        for field in ("key", "title", "language", "code"):
            if not isinstance(s.get(field), str) or not s[field].strip():
                errors.append(f"{where}: `{field}` missing or empty")
        if key in by_key:
            errors.append(f"{where}: key used twice")
        by_key[key] = s
        if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", key or ""):
            errors.append(f"{where}: key should be lowercase words joined by '-'")
        lines = len((s.get("code") or "").rstrip("\n").split("\n"))
        if not CODE_LINES[0] <= lines <= CODE_LINES[1]:
            errors.append(f"{where}: {lines} lines of code, expected {CODE_LINES[0]}-{CODE_LINES[1]}")
        tags = s.get("tags", [])
        if not isinstance(tags, list) or len(tags) > 32 or any(
                not isinstance(t, str) or not t.strip() or len(t) > 50 for t in tags):
            errors.append(f"{where}: tags must be at most 32 strings of 1-50 characters")
        if len(s.get("title", "")) > 200:
            errors.append(f"{where}: title over 200 characters")
    seen_queries = set()
    kinds = {k: 0 for k in KINDS}
    for q in queries:
        text, kind, relevant = q.get("query", ""), q.get("kind"), q.get("relevant") or []
        where = f"query {text!r}"
        if text.lower() in seen_queries:
            errors.append(f"{where}: asked twice")
        seen_queries.add(text.lower())
        if kind not in KINDS:
            errors.append(f"{where}: kind must be one of {', '.join(KINDS)}")
            continue
        kinds[kind] += 1
        if not relevant:
            errors.append(f"{where}: no relevant snippet")
        missing = [k for k in relevant if k not in by_key]
        if missing:
            errors.append(f"{where}: unknown snippet keys {missing}")
            continue
        if kind == "paraphrase":
            asked = content_words(text)
            for key in relevant:
                shared = asked & set().union(*(content_words(f) for f in snippet_fields(by_key[key])))
                if shared:
                    errors.append(f"{where}: shares {sorted(shared)} with {key}")
        else:
            for key in relevant:
                if not text_mode_matches(text, by_key[key]):
                    errors.append(f"{where}: text mode would not find {key} (a word is missing)")
            found = [s["key"] for s in snippets if text_mode_matches(text, s)]
            if len(found) > 5:
                notes.append(f"{where}: text mode finds {len(found)} snippets; the relevant ones "
                             f"reach the top 5 only if they are among the newest")
    languages = sorted({s["language"] for s in snippets if isinstance(s.get("language"), str)})
    size = sum((directory / name).stat().st_size for name in ("snippets.json", "queries.json"))
    if len(snippets) < MIN_SNIPPETS:
        errors.append(f"{len(snippets)} snippets, at least {MIN_SNIPPETS} expected")
    if kinds["paraphrase"] < MIN_PARAPHRASE:
        errors.append(f"{kinds['paraphrase']} paraphrase queries, at least {MIN_PARAPHRASE} expected")
    if kinds["lexical"] < MIN_LEXICAL:
        errors.append(f"{kinds['lexical']} lexical queries, at least {MIN_LEXICAL} expected")
    if size > MAX_SET_BYTES:
        errors.append(f"the set is {size} bytes, at most {MAX_SET_BYTES} expected")
    for note in notes:
        print(f"note: {note}")
    for error in errors:
        print(f"error: {error}")
    print(f"{len(snippets)} snippets in {len(languages)} languages ({', '.join(languages)}); "
          f"{len(queries)} queries: {kinds['paraphrase']} paraphrase, {kinds['lexical']} lexical; "
          f"{size / 1024:.0f} KiB")
    print("lint: " + (f"{len(errors)} errors" if errors else "ok"))
    return 1 if errors else 0


# --- Talking to the service ----------------------------------------------------------------

class HttpFailure(Exception):
    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body}")
        self.status, self.body = status, body


def call(api, token, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(api + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            text = r.read()
    except urllib.error.HTTPError as e:
        raise HttpFailure(e.code, e.read().decode(errors="replace")[:500]) from None
    return json.loads(text) if text else None


def backlog(metrics_url):
    """The gauge's value, or None when the metrics do not carry it."""
    with urllib.request.urlopen(metrics_url.rstrip("/") + "/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(BACKLOG_GAUGE + " ") or line.startswith(BACKLOG_GAUGE + "{"):
                return int(float(line.rsplit(" ", 1)[1]))
    return None


def wait_for_embeddings(metrics_url, within, settle):
    """Waits until the backlog gauge reads 0 and holds there for `settle` seconds."""
    started = last_report = time.time()
    zero_since = None
    while True:
        try:
            left = backlog(metrics_url)
        except (urllib.error.URLError, OSError) as e:
            raise SystemExit(f"cannot read {metrics_url}/metrics: {e}")
        if left is None:
            raise SystemExit(f"{metrics_url}/metrics has no {BACKLOG_GAUGE} gauge: this service "
                             f"does not embed snippets (or that is not its metrics port)")
        now = time.time()
        if left == 0:
            zero_since = zero_since or now
            if now - zero_since >= settle:
                print(f"embeddings done in {now - started:.1f} s", flush=True)
                return now - started
        else:
            zero_since = None
        if left and now - last_report >= 5:
            last_report = now
            print(f"  waiting for embeddings: {left} snippets left after {now - started:.0f} s",
                  flush=True)
        if now - started > within:
            raise SystemExit(f"the embedding backlog is still {left} after {within:.0f} s "
                             f"(--backlog-timeout); is the model slow or failing? See the service log.")
        time.sleep(0.25)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, proc, log, within=60.0):
    started = time.time()
    while time.time() - started < within:
        if proc.poll() is not None:
            raise SystemExit(f"the service exited with {proc.returncode} before it was ready:\n"
                             + tail(log))
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.05)
    raise SystemExit(f"not ready after {within:.0f} s: {url}\n" + tail(log))


def tail(path, lines=20):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def mint_token(binary, env, user):
    if not Path(binary).is_file():
        raise SystemExit(f"{binary}: no such binary to mint a token with (--binary, or --token)")
    done = subprocess.run([str(binary), "token", "--user", user], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"`{binary} token --user {user}` failed: {done.stderr.strip()}")
    return done.stdout.strip()


class Service:
    """The release binary on a fresh SQLite database, free ports and a fresh secret."""

    def __init__(self, binary, model_dir, provider_url=None):
        self.workdir = Path(tempfile.mkdtemp(prefix="pieces-relevance-"))
        self.log = self.workdir / "service.log"
        api, metrics, health = free_port(), free_port(), free_port()
        env = {k: v for k, v in os.environ.items()
               if k not in ("REDIS_URL", "EMBEDDINGS_URL", "EMBEDDINGS_API_KEY", "EMBEDDINGS_MODEL_DIR")}
        env.update(JWT_SECRET_KEY=secrets.token_hex(32), LOG_FORMAT="json",
                   LOG_LEVEL=os.environ.get("RELEVANCE_LOG_LEVEL", "warn"),
                   API_PORT=str(api), METRICS_PORT=str(metrics), HEALTH_PORT=str(health),
                   BIND_ADDRESS="127.0.0.1", DATABASE_URL=f"sqlite://{self.workdir}/pieces.db")
        if model_dir:
            env["EMBEDDINGS_MODEL_DIR"] = str(Path(model_dir).resolve())
        if provider_url:
            env.update(OPENAI_BASE_URL=provider_url, OPENAI_MODEL="stub", AI_PROVIDERS="openai",
                       AI_ASSIST_RATE_PER_MINUTE="100000")
        self.env, self.binary = env, Path(binary).resolve()
        self.url, self.metrics_url = f"http://127.0.0.1:{api}", f"http://127.0.0.1:{metrics}"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([str(self.binary)], env=env, cwd=self.workdir,
                                         stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_ready(f"http://127.0.0.1:{health}/health/ready", self.proc, self.log)
        except BaseException:
            self.stop()
            raise

    def token(self, user):
        return mint_token(self.binary, self.env, user)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


# --- The run -------------------------------------------------------------------------------

def load_snippets(api, token, snippets):
    started, ids = time.time(), {}
    for i, s in enumerate(snippets, 1):
        body = {"title": s["title"], "code": s["code"], "language": s["language"],
                "tags": s.get("tags", [])}
        if s.get("description"):
            body["description"] = s["description"]
        try:
            ids[s["key"]] = call(api, token, "POST", "/api/v1/snippets", body)["snippet_id"]
        except HttpFailure as e:
            raise SystemExit(f"saving snippet {s['key']} failed: {e}")
        if i % 100 == 0:
            print(f"  saved {i}/{len(snippets)}", flush=True)
    print(f"saved {len(ids)} snippets in {time.time() - started:.1f} s", flush=True)
    return ids


class Searcher:
    def __init__(self, api, token):
        self.api, self.token = api, token
        self.send_mode_for_text = True
        self.modes_seen = {}

    def search(self, query, mode):
        params = {"q": query, "limit": LIMIT, "mode": mode}
        if mode == "text" and not self.send_mode_for_text:
            del params["mode"]
        path = "/api/v1/snippets?" + urllib.parse.urlencode(params)
        try:
            page = call(self.api, self.token, "GET", path)
        except HttpFailure as e:
            if mode == "text" and e.status == 422 and self.send_mode_for_text and "mode" in e.body:
                # A service without search modes that refuses the parameter: text is what it does.
                print("note: the service refuses `mode`; text mode is asked without it", flush=True)
                self.send_mode_for_text = False
                return self.search(query, mode)
            if mode != "text" and 400 <= e.status < 500:
                raise SystemExit(
                    f"the service refused mode={mode} ({e}).\nSemantic and hybrid search need "
                    f"an embedding model: start the service with EMBEDDINGS_MODEL_DIR (here: "
                    f"--model-dir DIR), or run with --modes text.")
            raise SystemExit(f"search {query!r} in mode {mode} failed: {e}")
        answered = page.get("mode")
        if answered is not None and answered != mode:
            self.modes_seen.setdefault(mode, set()).add(answered)
        return [s["id"] for s in page["snippets"]]


class AiStub:
    """benches/ai_stub.py on a free port: an OpenAI-compatible provider that always answers."""

    def __init__(self):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/v1"
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "benches" / "ai_stub.py"),
                                      "--port", str(port)], stdout=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise SystemExit("benches/ai_stub.py did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def assist_context(api, token, per_query, unanswerable, key_of):
    """Asks every question through ai-assist; the snippets each prompt held (its references),
    as keys of the set."""
    def sent(question):
        answer = call(api, token, "POST", "/api/v1/ai-assist", {"query": question})
        return [key_of.get(r.get("id"), "?") for r in answer.get("references", [])]

    for q in per_query:
        q["assist"] = sent(q["query"])
    return [{"query": question, "assist": sent(question)} for question in unanswerable]


def context_figures(per_query, unanswered):
    """Context precision over every snippet sent, recall averaged over the queries."""
    sent = sum(len(q["assist"]) for q in per_query) + sum(len(q["assist"]) for q in unanswered)
    relevant_sent = sum(len(set(q["assist"]) & set(q["relevant"])) for q in per_query)
    recalls = [len(set(q["assist"]) & set(q["relevant"])) / len(q["relevant"]) for q in per_query]
    return {
        "questions": len(per_query) + len(unanswered),
        "snippets sent": sent,
        "per question": sent / max(len(per_query) + len(unanswered), 1),
        "precision": relevant_sent / sent if sent else 1.0,
        "recall": sum(recalls) / len(recalls) if recalls else 0.0,
        "unanswerable given snippets": sum(1 for q in unanswered if q["assist"]),
        "unanswerable": len(unanswered),
    }


def print_context(c):
    print(f"\nai-assist context over {c['questions']} questions: precision {c['precision']:.3f}, "
          f"recall {c['recall']:.3f}, {c['per question']:.2f} snippets sent per question; "
          f"{c['unanswerable given snippets']} of {c['unanswerable']} unanswerable questions "
          f"were sent snippets")


def score(ranked_keys, relevant):
    relevant = set(relevant)
    recall = len(relevant & set(ranked_keys[:5])) / len(relevant)
    rr = next((1.0 / rank for rank, k in enumerate(ranked_keys[:10], 1) if k in relevant), 0.0)
    first = next((rank for rank, k in enumerate(ranked_keys[:10], 1) if k in relevant), None)
    return recall, rr, first


def summarize(per_query, modes):
    figures = {}
    for mode in modes:
        figures[mode] = {}
        for kind in ("all",) + KINDS:
            rows = [q for q in per_query if kind == "all" or q["kind"] == kind]
            n = len(rows)
            figures[mode][kind] = {
                "n": n,
                "recall@5": sum(q["modes"][mode]["recall@5"] for q in rows) / n if n else 0.0,
                "mrr@10": sum(q["modes"][mode]["rr"] for q in rows) / n if n else 0.0,
            }
    return figures


def print_table(figures, latency):
    print(f"\n{'mode':<9} {'kind':<11} {'n':>4} {'recall@5':>9} {'MRR@10':>8} {'p50 ms':>8}")
    for mode, by_kind in figures.items():
        for kind, f in by_kind.items():
            ms = f"{latency[mode]:8.1f}" if kind == "all" else ""
            print(f"{mode:<9} {kind:<11} {f['n']:>4} {f['recall@5']:>9.3f} {f['mrr@10']:>8.3f} {ms}")


def check(figures, context=None, least=None):
    if context is not None:
        ok = True
        for what in ("precision", "recall"):
            passed = context[what] + EPSILON >= least[what]
            print(f"check: {'ok' if passed else 'FAILED'}: ai-assist context {what} "
                  f"{context[what]:.3f} >= {least[what]}")
            ok = ok and passed
        if not ok:
            return False
    if "text" not in figures or "hybrid" not in figures:
        print("check: FAILED: --check needs both text and hybrid in --modes")
        return False
    text, hybrid = figures["text"], figures["hybrid"]
    conditions = [
        (f"hybrid recall@5 overall {hybrid['all']['recall@5']:.3f} >= text "
         f"{text['all']['recall@5']:.3f} + {HYBRID_OVER_TEXT}",
         hybrid["all"]["recall@5"] + EPSILON >= text["all"]["recall@5"] + HYBRID_OVER_TEXT),
        (f"hybrid recall@5 on lexical queries {hybrid['lexical']['recall@5']:.3f} >= text "
         f"{text['lexical']['recall@5']:.3f}",
         hybrid["lexical"]["recall@5"] + EPSILON >= text["lexical"]["recall@5"]),
    ]
    for what, ok in conditions:
        print(f"check: {'ok' if ok else 'FAILED'}: {what}")
    return all(ok for _, ok in conditions)


def run(args):
    snippets, queries = load_set(args.set_dir)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise SystemExit(f"--modes: choose from {', '.join(MODES)}")
    service = stub = None
    unanswerable = json.loads((args.set_dir / "unanswerable.json").read_text()) if args.assist else []
    unanswered = None
    try:
        user = f"relevance-{secrets.token_hex(6)}"
        if args.url:
            api, metrics_url = args.url.rstrip("/"), args.metrics_url
            if args.token:
                token = args.token
            else:
                if not os.environ.get("JWT_SECRET_KEY"):
                    raise SystemExit("--url without --token mints one with `<binary> token`, "
                                     "which needs the service's JWT_SECRET_KEY in the environment")
                token = mint_token(Path(args.binary).resolve(), dict(os.environ), user)
        else:
            if not Path(args.binary).is_file():
                raise SystemExit(f"{args.binary}: no such binary (cargo build --release), "
                                 f"or give --url of a running service")
            if not args.model_dir and modes != ["text"]:
                print("note: no --model-dir: the service has no embedding model, so only "
                      "text mode can answer", flush=True)
            if args.assist:
                stub = AiStub()
            service = Service(args.binary, args.model_dir, stub and stub.url)
            api, metrics_url = service.url, service.metrics_url
            token = service.token(user)
            print(f"started {args.binary} (sqlite in {service.workdir}), user {user}", flush=True)

        try:
            existing = call(api, token, "GET", "/api/v1/snippets?limit=1")["total"]
        except HttpFailure as e:
            raise SystemExit(f"the service refused the token or the listing: {e}")
        except (urllib.error.URLError, OSError) as e:
            raise SystemExit(f"cannot reach {api}: {e}")
        if existing:
            raise SystemExit(f"the token's user already has {existing} snippets; the set must be "
                             f"loaded into an empty account (mint a token for a new user)")

        searcher = Searcher(api, token)
        for mode in modes:
            searcher.search("probe", mode)  # a refused mode fails here, before the load

        ids = load_snippets(api, token, snippets)
        key_of = {v: k for k, v in ids.items()}
        if any(m != "text" for m in modes):
            wait_for_embeddings(metrics_url, args.backlog_timeout, args.settle)

        per_query = [{"query": q["query"], "kind": q["kind"], "relevant": q["relevant"], "modes": {}}
                     for q in queries]
        latency = {}
        for mode in modes:
            took = []
            for q in per_query:
                t0 = time.perf_counter()
                found = searcher.search(q["query"], mode)
                took.append((time.perf_counter() - t0) * 1000)
                keys = [key_of.get(i, "?") for i in found]
                recall, rr, first = score(keys, q["relevant"])
                q["modes"][mode] = {"recall@5": recall, "rr": rr, "first_relevant_rank": first,
                                    "top": keys[:5]}
            latency[mode] = statistics.median(took)
        if args.assist:
            unanswered = assist_context(api, token, per_query, unanswerable, key_of)
        for mode, answered in searcher.modes_seen.items():
            print(f"warning: asked for mode={mode}, the service answered with mode "
                  f"{', '.join(sorted(answered))}")
    finally:
        if stub:
            stub.stop()
        if service:
            if args.service_log:
                shutil.copy(service.log, args.service_log)
            service.stop()

    figures = summarize(per_query, modes)
    if args.misses:
        print()
        for q in per_query:
            ranks = "  ".join(f"{m}:{q['modes'][m]['first_relevant_rank'] or '-'}" for m in modes)
            if any(q["modes"][m]["recall@5"] < 1 for m in modes):
                print(f"{q['kind'][:4]}  {ranks:<28} {q['query']}")
    print_table(figures, latency)
    context = context_figures(per_query, unanswered) if args.assist else None
    if context:
        print_context(context)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "snippets": len(snippets), "queries": len(queries), "limit": LIMIT,
            "figures": figures, "median_latency_ms": latency, "per_query": per_query,
            "assist_context": context, "unanswerable": unanswered, "ids": ids,
        }, indent=1) + "\n")
        print(f"\nwrote {args.json}")
    least = {"precision": args.context_precision, "recall": args.context_recall}
    if args.check and not check(figures, context, least):
        return 1
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lint", action="store_true", help="check the set only; no service")
    p.add_argument("--set-dir", type=Path, default=SET_DIR, help="where snippets.json and queries.json are")
    p.add_argument("--binary", default=str(ROOT / "target" / "release" / "pieces-connector"),
                   help="the service to start (or, with --url and no --token, to mint a token with)")
    p.add_argument("--model-dir", help="EMBEDDINGS_MODEL_DIR for the started service")
    p.add_argument("--url", help="a running service's API, e.g. http://127.0.0.1:8200")
    p.add_argument("--metrics-url", default="http://127.0.0.1:9200", help="its metrics listener")
    p.add_argument("--token", help="a bearer token for a user with no snippets")
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated, of text,semantic,hybrid")
    p.add_argument("--backlog-timeout", type=float, default=900.0,
                   help="seconds to wait for the embeddings before giving up")
    p.add_argument("--settle", type=float, default=3.0,
                   help="seconds the backlog must read 0 (the service recounts it every 2 s)")
    p.add_argument("--check", action="store_true", help="exit 1 unless hybrid beats text as required")
    p.add_argument("--json", help="write the figures and per-query results to this file")
    p.add_argument("--assist", action="store_true",
                   help="also measure the snippets ai-assist sends (the started service gets a stub provider; a --url service needs its own)")
    p.add_argument("--context-precision", type=float, default=0.8,
                   help="--check with --assist: the least context precision")
    p.add_argument("--context-recall", type=float, default=0.569,
                   help="--check with --assist: the least context recall")
    p.add_argument("--service-log", help="keep the started service's log here (RELEVANCE_LOG_LEVEL "
                   "sets its LOG_LEVEL; `pieces_service::search=debug` logs each question's candidates)")
    p.add_argument("--misses", action="store_true",
                   help="list queries with a relevant snippet outside a mode's top 5, with ranks")
    args = p.parse_args()
    if args.lint:
        return lint(args.set_dir)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
