#!/usr/bin/env python3
"""The web page (`/`) and the API reference (`/docs`) in a real browser: Debian's chromium and
chromedriver, headless, driven by Selenium, against the release binary.

    python tests/browser/test_web_ui.py target/release/pieces-connector

It starts the binary itself on free loopback ports with a fresh SQLite file and a secret it
mints tokens with, an OpenAI-compatible stub (benches/ai_stub.py) that streams a fixed answer,
and, for the last step, a second instance in local mode. Each step prints one line; the run
ends with `N passed, N failed` and exits non-zero on the first failure. Screenshots of the list,
a snippet and an AI answer go to docs/screenshots/ (desktop width); the page's weight on first
load is printed.
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
DESKTOP = (1280, 900)
PHONE = (390, 844)
XSS_TITLE = "<img src=x onerror=alert(1)>"
ANSWER = "Retry with exponential backoff and jitter."
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")

SEEDS = [
    {"title": "Retry with exponential backoff", "language": "rust", "tags": ["retry", "http"],
     "description": "Doubles the wait after each failed attempt, with jitter, up to five tries.",
     "code": "use std::time::Duration;\n\n"
             "pub async fn retry<T, E, F, Fut>(mut attempt: F) -> Result<T, E>\nwhere\n"
             "    F: FnMut() -> Fut,\n    Fut: std::future::Future<Output = Result<T, E>>,\n{\n"
             "    let mut wait = Duration::from_millis(100);\n    for _ in 0..4 {\n"
             "        match attempt().await {\n            Ok(value) => return Ok(value),\n"
             "            Err(_) => {\n                let jitter = rand::random::<u64>() % 50;\n"
             "                tokio::time::sleep(wait + Duration::from_millis(jitter)).await;\n"
             "                wait *= 2;\n            }\n        }\n    }\n    attempt().await\n}\n"},
    {"title": "Read a CSV file into dicts", "language": "python", "tags": ["csv", "io"],
     "code": "import csv\n\nwith open(\"people.csv\", newline=\"\") as f:\n"
             "    for row in csv.DictReader(f):\n        print(row[\"name\"], row[\"email\"])\n"},
    {"title": "Debounce a callback", "language": "typescript", "tags": ["ui"],
     "description": "Calls fn once the calls stop for ms milliseconds.",
     "code": "export function debounce<A extends unknown[]>(fn: (...a: A) => void, ms: number) {\n"
             "  let t: ReturnType<typeof setTimeout> | undefined;\n"
             "  return (...a: A) => {\n    clearTimeout(t);\n    t = setTimeout(() => fn(...a), ms);\n  };\n}\n"},
    {"title": "Newest row per group", "language": "sql", "tags": ["postgres"],
     "code": "SELECT DISTINCT ON (user_id) user_id, id, created_at\nFROM snippets\n"
             "ORDER BY user_id, created_at DESC;\n"},
    {"title": "Find large files", "language": "bash", "tags": ["shell"],
     "code": "find . -type f -size +50M -printf '%s\\t%p\\n' | sort -rn | head -20\n"},
    {"title": "GET with a timeout", "language": "go", "tags": ["http"],
     "code": "client := &http.Client{Timeout: 5 * time.Second}\nresp, err := client.Get(url)\n"},
]


def free_ports(count):
    socks = [socket.socket() for _ in range(count)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class Service:
    """The binary on free loopback ports with its own SQLite file."""

    def __init__(self, binary, workdir, secret=None, extra=None):
        api, metrics, health = free_ports(3)
        self.origin = f"http://127.0.0.1:{api}"
        self.health = f"http://127.0.0.1:{health}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(
            ("COGNITIVE_", "OPENAI_", "AI_", "GATEWAY_", "DATA_PLATFORM_", "REDIS_", "JWT_", "CONFIG_FILE"))}
        env.update(DATABASE_URL=f"sqlite://{workdir}/pieces.db", BIND_ADDRESS="127.0.0.1",
                   API_PORT=str(api), METRICS_PORT=str(metrics), HEALTH_PORT=str(health),
                   LOG_LEVEL="warn", LOG_FORMAT="text", **(extra or {}))
        if secret:
            env["JWT_SECRET_KEY"] = secret
        self.env = env
        self.binary = binary
        self.log = open(Path(workdir) / "service.log", "wb")
        self.process = subprocess.Popen([binary, "serve"], env=env, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited: see {self.log.name}")
            try:
                with urllib.request.urlopen(f"{self.health}/health/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the service did not become ready")

    def token(self, user):
        out = subprocess.run([self.binary, "token", "--user", user], env=self.env,
                             check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def http(method, url, token=None, body=None, headers=None):
    """(status, headers, body bytes) of one request; errors are answers, not exceptions."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-features=Translate,OptimizationHints,MediaRouter",
                f"--window-size={DESKTOP[0]},{DESKTOP[1]}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    return webdriver.Chrome(service=ChromeService(executable_path=driver_path), options=options)


class Run:
    def __init__(self, binary):
        self.binary = binary
        self.passed = 0
        self.requests = []
        self.console = []
        self.notes = []

    def step(self, name, fn):
        started = time.monotonic()
        try:
            fn()
        except Exception as e:
            print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
            raise
        self.passed += 1
        print(f"ok   {name} ({time.monotonic() - started:.1f}s)", flush=True)

    # Browser helpers

    def wait(self, condition, timeout=8, message=""):
        return WebDriverWait(self.driver, timeout, poll_frequency=0.05,
                             ignored_exceptions=(StaleElementReferenceException,)).until(condition, message)

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def visible(self, css, timeout=8):
        return self.wait(lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, css)
                                         if e.is_displayed()), False), timeout, f"{css} visible")

    # Read through script, in one go: the list is redrawn whenever a change arrives, and an
    # element found a moment ago may be gone.

    def titles(self):
        return self.driver.execute_script(
            "return [...document.querySelectorAll('#snippet-list .item-title')].map((e) => e.textContent)")

    def text(self, css):
        return self.driver.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : \"\"", css)

    def wait_title(self, title, present=True):
        self.wait(lambda d: (title in self.titles()) == present, 8,
                  f"{title!r} {'in' if present else 'gone from'} the list")

    def collect_logs(self):
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                self.requests.append(message["params"]["request"]["url"])
        self.console.extend(self.driver.get_log("browser"))

    def shot(self, name):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.driver.set_window_size(*DESKTOP)
        self.driver.execute_script("window.scrollTo(0, 0); document.getElementById('toast').hidden = true")
        self.driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
        self.notes.append(f"screenshot docs/screenshots/{name}.png")

    def no_alert(self):
        try:
            alert = self.driver.switch_to.alert
        except NoAlertPresentException:
            return
        text = alert.text
        alert.dismiss()
        raise AssertionError(f"an alert fired: {text!r}")

    # The steps

    def first_load(self):
        status, headers, _ = http("GET", f"{self.app.origin}/")
        assert status == 200, status
        assert headers["Content-Security-Policy"] == CSP, headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["Content-Type"].startswith("text/html"), headers["Content-Type"]
        status, _, _ = http("POST", f"{self.app.origin}/local/session")
        assert status == 404, f"/local/session answered {status} with a secret configured"
        self.driver.get(f"{self.app.origin}/")
        self.visible("#signin-token")
        time.sleep(0.3)
        weights = self.driver.execute_script("""
            const all = [performance.getEntriesByType("navigation")[0],
                         ...performance.getEntriesByType("resource")];
            return all.filter((e) => new URL(e.name).pathname.match(/^\\/($|assets\\/)/))
                      .map((e) => [new URL(e.name).pathname, e.decodedBodySize]);""")
        code = sum(size for path, size in weights if path == "/" or path.endswith((".js", ".css")))
        total = sum(size for _, size in weights)
        self.weight = code
        self.notes.append(f"page weight on first load of /: {code} bytes of HTML/JS/CSS "
                          f"({code / 1024:.1f} KiB; {total} bytes with the icon) in {len(weights)} files")
        assert code < 300 * 1024, f"{code} bytes on first load"

    def sign_in(self):
        box = self.find("#signin-token")
        box.send_keys(self.token)
        self.find("#signin-form button.primary").click()
        self.visible("#snippet-list")
        self.wait(lambda d: len(self.titles()) == len(SEEDS), message="the seeded snippets listed")
        assert self.find("#who").text == "alice", self.find("#who").text
        self.wait(lambda d: self.find("#live").get_attribute("data-state") == "on",
                  message="following the change stream")
        self.shot("list")

    def slash_focuses_search(self):
        self.driver.execute_script("document.activeElement.blur()")
        ActionChains(self.driver).send_keys("/").perform()
        assert self.driver.switch_to.active_element.get_attribute("id") == "search"

    def create_through_the_form(self):
        self.find("#new-snippet").click()
        self.visible("#ed-title").send_keys("Parse a zebracorn header")
        self.find("#ed-language").send_keys("python")
        self.find("#ed-tags").send_keys("http, parsing")
        self.find("#ed-description").send_keys("Splits a header value at semicolons.")
        self.find("#ed-code").send_keys("def parse(value):\n    return [p.strip() for p in value.split(';')]\n")
        self.find("#editor-save").click()
        self.wait(lambda d: self.text("#snippet-title") == "Parse a zebracorn header",
                  message="the new snippet shown")
        self.wait_title("Parse a zebracorn header")

    def validation_message_next_to_the_field(self):
        self.find("#new-snippet").click()
        self.visible("#ed-title").send_keys("   ")
        self.find("#ed-language").send_keys("rust")
        self.find("#ed-code").send_keys("fn main() {}")
        self.find("#editor-save").click()
        error = self.visible("[data-error-for=title]")
        assert "title" in error.text and "blank" in error.text, error.text
        # Next to the field: the sentence directly follows the title input.
        following = self.driver.execute_script(
            "return document.getElementById('ed-title').nextElementSibling === arguments[0]", error)
        assert following, "the message is not beside the title field"
        assert self.find("#ed-title").get_attribute("aria-invalid") == "true"
        self.find("#editor-cancel").click()

    def find_by_search(self):
        search = self.find("#search")
        search.clear()
        search.send_keys("zebracorn")
        self.wait(lambda d: self.titles() == ["Parse a zebracorn header"], message="one match")
        status = self.find("#list-status").text
        assert status.startswith("1 match"), status
        # Emptied by keys, as a person would, so the page hears of it.
        search.send_keys(Keys.CONTROL, "a")
        search.send_keys(Keys.BACKSPACE)
        self.wait(lambda d: len(self.titles()) == len(SEEDS) + 1, message="all listed again")

    def view_with_highlighting(self):
        self.open_snippet(SEEDS[0]["title"])
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#snippet code.language-rust .hljs-keyword"),
                  message="highlighted as rust")
        code = self.text("#snippet pre code")
        assert "pub async fn retry" in code, code[:80]
        loaded = self.driver.execute_script("""
            return performance.getEntriesByType("resource")
                .filter((e) => e.name.includes("/highlight.min.js"))
                .reduce((sum, e) => sum + e.decodedBodySize, 0)""")
        assert loaded > 0, "highlight.js was not loaded"
        self.notes.append(f"highlight.js, loaded when the first snippet opens: {loaded} bytes "
                          f"(first load plus it: {self.weight + loaded} bytes)")
        self.shot("snippet")
        self.button("#snippet", "Copy code").click()
        self.wait(lambda d: self.text("#toast") == "Copied", message="copied")

    def related(self):
        def related_link(d):
            links = d.find_elements(By.CSS_SELECTOR, "#related .related-list a")
            return next((a for a in links if a.text == "GET with a timeout"), None)
        self.wait(related_link, message="the snippet sharing the tag http listed under it")
        reasons = self.text("#related .related-list li")
        assert "tags: http" in reasons, reasons
        titles = [a.text for a in self.driver.find_elements(By.CSS_SELECTOR, "#related .related-list a")]
        assert SEEDS[0]["title"] not in titles, titles
        related_link(self.driver).click()
        self.wait(lambda d: self.text("#snippet-title") == "GET with a timeout", message="related opens")
        self.open_snippet(SEEDS[0]["title"])

    def edit(self):
        self.open_snippet("Parse a zebracorn header")
        self.button("#snippet", "Edit").click()
        title = self.visible("#ed-title")
        title.clear()
        title.send_keys("Parse a zebracorn header, quoted")
        self.find("#editor-save").click()
        self.wait(lambda d: self.text("#snippet-title") == "Parse a zebracorn header, quoted")
        self.wait_title("Parse a zebracorn header, quoted")

    def history_diff_and_restore(self):
        self.button("#snippet", "History").click()
        self.visible("#history-dialog")
        self.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#history-list tbody tr")) == 2,
                  message="two versions listed")
        first = self.driver.find_element(By.CSS_SELECTOR, '#history-list tr[data-version="1"]')
        assert "created" in first.text, first.text
        first.find_element(By.TAG_NAME, "button").click()
        self.wait(lambda d: "title" in self.text("#history-diff"), message="the title's change shown")
        assert "Parse a zebracorn header, quoted" in self.text("#history-diff")
        self.shot("history")
        self.find("#history-restore").click()
        self.wait(lambda d: self.text("#snippet-title") == "Parse a zebracorn header",
                  message="version 1 restored")
        assert not self.driver.execute_script("return document.getElementById('history-dialog').open")

    def stale_save_shows_a_conflict(self):
        self.button("#snippet", "Edit").click()
        title = self.visible("#ed-title")
        # Meanwhile someone else changes it.
        status, _, body = http("GET", f"{self.app.origin}/api/v1/snippets", self.token)
        made = next(s for s in json.loads(body)["snippets"] if s["title"] == "Parse a zebracorn header")
        status, _, body = http("PATCH", f"{self.app.origin}/api/v1/snippets/{made['id']}", self.token,
                               {"code": "def parse(value):\n    return value.split(';')\n"})
        assert status == 200, body
        title.clear()
        title.send_keys("Parse a zebracorn header, quoted")
        self.find("#editor-save").click()
        conflict = self.visible("#editor-conflict")
        self.wait(lambda d: "changed elsewhere" in conflict.text, message="the conflict explained")
        assert "return value.split(';')" in conflict.text, "their version shown"
        assert "Parse a zebracorn header, quoted" in conflict.text, "mine shown"
        assert self.find("#ed-title").get_attribute("value") == "Parse a zebracorn header, quoted", "nothing lost"
        self.shot("conflict")
        self.find("#conflict-keep-mine").click()
        self.wait(lambda d: self.text("#snippet-title") == "Parse a zebracorn header, quoted",
                  message="mine saved over theirs")
        self.wait_title("Parse a zebracorn header, quoted")

    def delete(self):
        delete = self.button("#snippet", "Delete")
        delete.click()
        self.wait(lambda d: delete.text == "Really delete?")
        delete.click()
        self.wait_title("Parse a zebracorn header, quoted", present=False)
        self.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, "#snippet-title"))

    def trash_and_restore(self):
        self.find('.tabs a[data-view="trash"]').click()
        self.wait(lambda d: "Parse a zebracorn header, quoted" in self.text("#trash-list"), message="in the trash")
        self.shot("trash")
        row = next(r for r in self.driver.find_elements(By.CSS_SELECTOR, "#trash-list tbody tr")
                   if "Parse a zebracorn header, quoted" in r.text)
        row.find_element(By.CSS_SELECTOR, "button.restore").click()
        self.wait(lambda d: "Parse a zebracorn header, quoted" not in self.text("#trash-list"),
                  message="gone from the trash")
        self.find('.tabs a[data-view="snippets"]').click()
        self.wait_title("Parse a zebracorn header, quoted")

    def live_create_and_delete(self):
        self.driver.execute_script("window.notReloaded = true")
        status, _, body = http("POST", f"{self.app.origin}/api/v1/snippets", self.token,
                               {"title": "Made with curl", "code": "echo hi", "language": "bash"})
        assert status == 201, body
        made = json.loads(body)["snippet_id"]
        self.wait_title("Made with curl")
        status, _, _ = http("DELETE", f"{self.app.origin}/api/v1/snippets/{made}", self.token)
        assert status == 204
        self.wait_title("Made with curl", present=False)
        assert self.driver.execute_script("return window.notReloaded === true"), "the page reloaded"

    def import_with_progress_and_errors(self):
        self.find("#transfer-open").click()
        self.visible("#import-file").send_keys(str(ROOT / "tests/fixtures/import/gist/list.json"))
        self.driver.execute_script(
            "const s = document.getElementById('import-format'); s.value = 'gist';"
            "s.dispatchEvent(new Event('change'))")
        self.find("#import-form button.primary").click()
        self.wait(lambda d: self.text("#import-status").startswith("Done"), 15, "the import done")
        status = self.text("#import-status")
        assert "3 of 3 read, 1 created, 0 skipped, 2 failed" in status, status
        assert self.driver.execute_script(
            "const p = document.getElementById('import-progress'); return p.value === p.max"), "bar full"
        errors = self.driver.execute_script(
            "return [...document.querySelectorAll('#import-errors li')].map((e) => e.textContent)")
        assert len(errors) == 2 and "entry 1 (files)" in errors[0], errors
        self.shot("import")
        # Export to a file the browser downloads: no error shown.
        self.find("#export-form button").click()
        time.sleep(0.5)
        toast = self.driver.execute_script(
            "const t = document.getElementById('toast'); return t.hidden ? '' : t.dataset.kind")
        assert toast != "error", self.text("#toast")
        self.find("#transfer-close").click()
        # The imported gist is one snippet of four files, each shown under its name.
        self.open_snippet("Makefile")
        names = self.driver.execute_script(
            "return [...document.querySelectorAll('#snippet .file-name')].map((e) => e.textContent)")
        assert names == ["Makefile", "docker-compose.yml", "healthcheck.go", "init.sql"], names

    def xss_shows_as_typed(self):
        status, _, body = http("POST", f"{self.app.origin}/api/v1/snippets", self.token,
                               {"title": XSS_TITLE, "language": "<b>html</b>",
                                "code": "<script>alert(2)</script><img src=x onerror=alert(3)>",
                                "description": "<svg onload=alert(4)>", "tags": ["<i>x</i>"]})
        assert status == 201, body
        self.wait_title(XSS_TITLE)
        self.open_snippet(XSS_TITLE)
        assert self.text("#snippet-title") == XSS_TITLE
        assert "<script>alert(2)</script>" in self.text("#snippet pre code")
        made = ", ".join(f"{where} {tag}" for where in ("#snippet", "#snippet-list")
                         for tag in ("img", "svg", "script", "b", "i"))
        injected = self.driver.execute_script(f"return document.querySelectorAll('{made}').length")
        assert injected == 0, f"{injected} elements made from snippet text"
        time.sleep(0.3)
        self.no_alert()
        # Deleted elsewhere while on screen: the view closes and says so.
        snippet_id = json.loads(body)["snippet_id"]
        status, _, _ = http("DELETE", f"{self.app.origin}/api/v1/snippets/{snippet_id}", self.token)
        assert status == 204
        self.wait_title(XSS_TITLE, present=False)
        self.wait(lambda d: self.text("#toast") == "The snippet you were viewing was deleted elsewhere")
        self.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, "#snippet-title"))

    def streamed_ai_answer(self):
        self.driver.get(f"{self.app.origin}/#/assist")
        query = self.visible("#assist-query")
        # Every text the answer shows on its way, to see it arrive in pieces.
        self.driver.execute_script("""
            window.answerTexts = [];
            const answer = document.getElementById("answer");
            new MutationObserver(() => window.answerTexts.push([answer.dataset.state, answer.textContent]))
                .observe(answer, {childList: true, characterData: true, subtree: true, attributes: true});""")
        query.send_keys("How do I retry with backoff?")
        self.find("#assist-form button.primary").click()
        self.wait(lambda d: self.find("#answer").get_attribute("data-state") == "done", 10, "answered")
        assert self.find("#answer").text == ANSWER, self.find("#answer").text
        texts = self.driver.execute_script("return window.answerTexts")
        partial = [t for state, t in texts if state == "streaming" and t and t != ANSWER]
        assert partial and all(ANSWER.startswith(t) for t in partial), texts
        meta = self.find("#answer-meta").text
        assert "openai" in meta, meta
        refs = self.driver.find_elements(By.CSS_SELECTOR, "#answer-refs a.reference")
        assert any(r.text == SEEDS[0]["title"] for r in refs), [r.text for r in refs]
        self.shot("ai-answer")
        next(r for r in refs if r.text == SEEDS[0]["title"]).click()
        self.wait(lambda d: self.text("#snippet-title") == SEEDS[0]["title"], message="reference opens")

    def workflow_context(self):
        self.driver.get(f"{self.app.origin}/#/context")
        self.visible("#ctx-session").send_keys("s-1")
        self.find("#ctx-type").send_keys("coding")
        data = self.find("#ctx-data")
        data.clear()
        data.send_keys('{"file": "src/main.rs"}')
        self.find("#context-form button.primary").click()
        self.wait(lambda d: "src/main.rs" in self.text("#context-current pre"))
        status, _, _ = http("POST", f"{self.app.origin}/api/v1/workflow-context", self.token,
                            {"session_id": "s-2", "context_type": "review", "context_data": {"pr": 42}})
        assert status == 200
        self.wait(lambda d: '"pr": 42' in self.text("#context-current pre"), message="live context")

    def personal_tokens(self):
        self.driver.get(f"{self.app.origin}/#/tokens")
        self.visible("#token-name").send_keys("editor")
        self.find("#token-form button.primary").click()
        secret = self.visible("#new-token").text
        assert secret.startswith("pcn_"), secret
        config = json.loads(self.find("#mcp-config").text)
        server = config["mcpServers"]["pieces"]
        assert server["url"] == f"{self.app.origin}/mcp", server
        assert server["headers"]["Authorization"] == f"Bearer {secret}"
        status, _, _ = http("GET", f"{self.app.origin}/api/v1/snippets?limit=1", secret)
        assert status == 200, status
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "table.tokens tbody tr"))
        revoke = self.button("table.tokens", "Revoke")
        revoke.click()
        revoke.click()
        self.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, "table.tokens tbody tr"), message="revoked")
        assert not self.find("#token-created").is_displayed(), "a revoked token's secret stays on screen"
        status, _, _ = http("GET", f"{self.app.origin}/api/v1/snippets?limit=1", secret)
        assert status == 401, status

    def team_workspace(self):
        self.driver.get(f"{self.app.origin}/#/team")
        self.visible("#ws-name").send_keys("Platform team")
        self.find("#workspace-form button.primary").click()
        self.wait(lambda d: self.find("#workspace-select").get_attribute("value").startswith("ws_"),
                  message="the new workspace chosen")
        ws = self.find("#workspace-select").get_attribute("value")
        self.wait(lambda d: self.text("#team-name") == "Platform team", message="the team shown")
        assert self.text("#team-role") == "owner", self.text("#team-role")
        # A snippet made while the workspace is chosen is the workspace's.
        self.driver.get(f"{self.app.origin}/#/")
        self.visible("#workspace-select")
        self.wait(lambda d: any(o.get_attribute("value") == ws for o in
                                d.find_elements(By.CSS_SELECTOR, "#workspace-select option")))
        self.choose_workspace(ws)
        self.wait(lambda d: "No snippets yet" in self.text("#list-status"), message="an empty workspace")
        self.find("#new-snippet").click()
        self.visible("#ed-title").send_keys("Team runbook")
        self.find("#ed-language").send_keys("bash")
        self.find("#ed-code").send_keys("kubectl rollout undo deployment/pieces-connector\n")
        self.find("#editor-save").click()
        self.wait_title("Team runbook")
        status, _, body = http("GET", f"{self.app.origin}/api/v1/snippets?workspace={ws}", self.token)
        listed = json.loads(body)["snippets"]
        assert status == 200 and [s["title"] for s in listed] == ["Team runbook"], body
        assert listed[0]["workspace"] == ws, listed[0]
        # Members and roles, as the owner manages them.
        self.driver.get(f"{self.app.origin}/#/team")
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#member-form"), message="the member form")
        self.choose_workspace(ws)
        self.wait(lambda d: self.text("#team-name") == "Platform team")
        self.find("#member-form input[name=user_id]").send_keys("bob")
        self.driver.execute_script("document.querySelector('#member-form select[name=role]').value = 'writer'")
        self.find("#member-form button.primary").click()
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "table.members tr[data-user=bob]"), message="bob added")
        role = self.driver.execute_script(
            "return document.querySelector('table.members tr[data-user=bob] select').value")
        assert role == "writer", role
        bob = self.app.token("bob")
        status, _, body = http("GET", f"{self.app.origin}/api/v1/snippets?workspace={ws}", bob)
        assert status == 200 and json.loads(body)["total"] == 1, body
        # The audit log, for the owner: the workspace, the member, the snippet.
        self.find("#audit-load").click()
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "table.audit tbody tr"), message="the audit log")
        actions = self.driver.execute_script(
            "return [...document.querySelectorAll('table.audit .audit-action')].map((e) => e.textContent)")
        for action in ("workspace.created", "member.added", "snippet.created"):
            assert action in actions, actions
        # Removed through REST: the page hears of it on the stream and lists one member.
        status, _, _ = http("DELETE", f"{self.app.origin}/api/v1/workspaces/{ws}/members/bob", self.token)
        assert status == 204, status
        self.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, "table.members tr[data-user=bob]"),
                  message="bob gone from the members live")
        self.shot("team")

    def share_link(self):
        aws = "AKIA" + "Q3ZT7LMN4PRS2VWX"
        seed = {"title": "Deploy with a key", "language": "bash",
                "code": f"set -e\nexport AWS_ACCESS_KEY_ID={aws}\naws s3 sync dist s3://bucket\n"}
        status, _, body = http("POST", f"{self.app.origin}/api/v1/snippets", self.token, seed)
        assert status == 201, body
        self.driver.get(f"{self.app.origin}/#/")
        self.choose_workspace("personal")
        self.open_snippet("Deploy with a key")
        self.find("#share-open").click()
        self.visible("#share-form button.primary").click()
        warning = self.visible("#share-warning")
        assert "aws-access-token" in warning.text and "line 2" in warning.text, warning.text
        self.find("#share-anyway").click()
        url = self.visible("#share-url").text
        assert "/s/" in url, url
        status, headers, body = http("GET", url, headers={"Accept": "application/json"})
        assert status == 200 and json.loads(body)["title"] == "Deploy with a key", body
        assert "Authorization" not in headers
        self.wait(lambda d: self.text("#share-list .state") == "live", message="the link listed")
        self.find("#share-close").click()
        # The page anyone with the link sees: the snippet as text, nothing run.
        self.driver.get(url)
        self.wait(lambda d: "Deploy with a key" in self.text("main.shared h1"), message="the shared page")
        assert "aws s3 sync" in self.text("main.shared pre"), self.text("main.shared pre")
        self.driver.get(f"{self.app.origin}/#/")
        self.open_snippet("Deploy with a key")
        self.find("#share-open").click()
        self.wait(lambda d: self.text("#share-list .views") == "2", message="two views counted")
        revoke = self.button("#share-list", "Revoke")
        revoke.click()
        revoke.click()
        self.wait(lambda d: self.text("#share-list .state") == "revoked", message="revoked")
        self.find("#share-close").click()
        status, _, _ = http("GET", url, headers={"Accept": "application/json"})
        assert status == 410, status

    def phone_width(self):
        self.driver.set_window_size(*PHONE)
        http("POST", f"{self.app.origin}/api/v1/tokens", self.token,
             {"name": "phone", "scopes": ["snippets:read", "snippets:write", "ai"]})
        for view in ("tokens", "context", "assist", "team", "trash", ""):
            self.driver.get(f"{self.app.origin}/#/{view}")
            time.sleep(0.3)
            overflow = self.driver.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"#/{view} is {overflow}px wider than the phone"
        self.wait(lambda d: len(self.titles()) > 0)
        self.open_snippet(SEEDS[1]["title"])
        assert not self.find("#snippet-list").is_displayed(), "the list hides behind an open snippet"
        self.find("#snippet .back").click()
        self.visible("#snippet-list")
        self.driver.set_window_size(*DESKTOP)

    def api_docs(self):
        self.driver.get(f"{self.app.origin}/docs")
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock"), 15, "Swagger UI rendered")
        paths = {e.text.replace("\u200b", "") for e in
                 self.driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
        for path in ("/api/v1/snippets", "/api/v1/snippets/{id}"):
            assert path in paths, sorted(paths)
        assert "/" not in paths and "/docs" not in paths, "the page is not API"
        status, _, body = http("GET", f"{self.app.origin}/openapi.json")
        assert status == 200 and b'"/docs"' not in body and b'"/local/session"' not in body

    def only_this_origin(self):
        self.collect_logs()
        others = sorted({u for u in self.requests
                         if not (u.startswith(self.app.origin + "/") or u.startswith("data:"))})
        assert not others, f"requests to other origins: {others}"
        own = [u for u in self.requests if u.startswith(self.app.origin)]
        assert len(own) > 20, own
        blocked = [e["message"] for e in self.console if "Content Security Policy" in e["message"]]
        assert not blocked, blocked
        thrown = [e["message"] for e in self.console if e.get("source") == "javascript"]
        assert not thrown, thrown
        if os.environ.get("BROWSER_TEST_CONSOLE"):
            for entry in self.console:
                print(f"  console {entry['level']} {entry.get('source')}: {entry['message'][:200]}")

    def local_mode_signs_in_by_itself(self):
        local = Service(self.binary, self.workdir_local)
        try:
            status, _, body = http("POST", f"{local.origin}/local/session")
            assert status == 200, (status, body)
            assert json.loads(body)["user"] == "local-user"
            self.driver.get(f"{local.origin}/")
            self.wait(lambda d: "local-user" in self.find("#who").text, message="signed in by itself")
            self.wait(lambda d: "No snippets yet" in self.text("#list-status"), message="the list read")
        finally:
            local.stop()

    # Helpers over the page

    def open_snippet(self, title):
        def click(d):
            link = next((e for e in d.find_elements(By.CSS_SELECTOR, "#snippet-list .item")
                         if e.find_element(By.CSS_SELECTOR, ".item-title").text == title), None)
            if link:
                # Centred first: at phone width a toast may cover the list's last rows.
                d.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
                link.click()
            return link is not None
        self.wait(click, message=f"{title!r} listed")
        self.wait(lambda d: self.text("#snippet-title") == title, message=f"{title!r} open")

    def choose_workspace(self, ws):
        """Chooses `ws` in the switcher, as a person picking it from the list would."""
        self.wait(lambda d: any(o.get_attribute("value") == ws for o in
                                d.find_elements(By.CSS_SELECTOR, "#workspace-select option")),
                  message=f"{ws} offered")
        self.driver.execute_script(
            "const s = document.getElementById('workspace-select'); s.value = arguments[0];"
            "s.dispatchEvent(new Event('change'))", ws)

    def button(self, within, text):
        return next(b for b in self.driver.find_elements(By.CSS_SELECTOR, f"{within} button") if b.text == text)

    def run(self):
        started = time.monotonic()
        workdir = tempfile.mkdtemp(prefix="pieces-browser-")
        self.workdir_local = tempfile.mkdtemp(prefix="pieces-browser-local-")
        stub_port = free_ports(1)[0]
        stub = subprocess.Popen([sys.executable, str(ROOT / "benches" / "ai_stub.py"),
                                 "--port", str(stub_port), "--gap-ms", "250"])
        self.app = None
        self.driver = None
        try:
            self.app = Service(self.binary, workdir, secret=secrets.token_hex(32), extra={
                "AI_PROVIDERS": "openai", "OPENAI_BASE_URL": f"http://127.0.0.1:{stub_port}/v1",
                "OPENAI_MODEL": "stub"})
            self.token = self.app.token("alice")
            for seed in SEEDS:
                status, _, body = http("POST", f"{self.app.origin}/api/v1/snippets", self.token, seed)
                assert status == 201, body
            self.driver = browser()
            steps = [
                ("first load: CSP headers, sign-in form, page weight", self.first_load),
                ("sign in with a pasted token", self.sign_in),
                ("/ focuses the search box", self.slash_focuses_search),
                ("create through the form", self.create_through_the_form),
                ("a 422's message next to its field", self.validation_message_next_to_the_field),
                ("find it by search", self.find_by_search),
                ("view with highlighting, copy", self.view_with_highlighting),
                ("related: a snippet sharing a tag listed under it, and opened", self.related),
                ("edit", self.edit),
                ("history: versions, a diff, a restore", self.history_diff_and_restore),
                ("a stale save shows both versions, and keeps mine", self.stale_save_shows_a_conflict),
                ("delete", self.delete),
                ("trash: the deleted snippet listed, restored", self.trash_and_restore),
                ("live: a REST create appears, a REST delete disappears", self.live_create_and_delete),
                ("import a gist file: progress bar, counts, errors; export; its files shown",
                 self.import_with_progress_and_errors),
                ("XSS: markup in a snippet shows as typed, no alert", self.xss_shows_as_typed),
                ("a streamed AI answer with its references", self.streamed_ai_answer),
                ("workflow context edited, and updated live", self.workflow_context),
                ("personal token made, MCP configuration, revoked", self.personal_tokens),
                ("team: a workspace made, a snippet in it, a member added, the audit log", self.team_workspace),
                ("share: the secret warning, a link made, opened without a token, revoked", self.share_link),
                ("phone width", self.phone_width),
                ("/docs lists the snippet routes", self.api_docs),
                ("no request to another origin, no CSP violation", self.only_this_origin),
                ("local mode signs in by itself from loopback", self.local_mode_signs_in_by_itself),
            ]
            for name, fn in steps:
                self.step(name, fn)
                self.no_alert()
                self.collect_logs()
        except Exception:
            if self.app:
                print(f"service log: {self.app.log.name}", file=sys.stderr)
            print(f"\n{self.passed} passed, 1 failed")
            return 1
        finally:
            if self.driver:
                self.driver.quit()
            if self.app:
                self.app.stop()
            stub.terminate()
            stub.wait()
        for note in self.notes:
            print(note)
        print(f"run time {time.monotonic() - started:.1f}s")
        print(f"\n{self.passed} passed, 0 failed")
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(self.workdir_local, ignore_errors=True)
        return 0


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    return Run(str(Path(sys.argv[1]).resolve())).run()


if __name__ == "__main__":
    sys.exit(main())
