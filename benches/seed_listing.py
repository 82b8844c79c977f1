"""Seeds one user's snippets straight into the service's database, in one statement.

Through the API a million creates take minutes; one INSERT ... SELECT takes seconds. The
database's own triggers keep each user's count, exactly as for the service's writes.
"""

import sqlite3
import subprocess
import time
import uuid

POSTGRES = """
INSERT INTO snippets (id, user_id, title, code, language, tags, created_at, updated_at)
SELECT :'prefix' || '-0000-7000-8000-' || lpad(to_hex(g), 12, '0'), :'user',
       'seeded ' || g, 'let v = ' || g || ';', 'rust', '["seed"]', :start + g, :start + g
FROM generate_series(1, :n) AS g;
"""

# generate_series is a shell extension in SQLite, not part of the library Python links.
SQLITE = """
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < :n)
INSERT INTO snippets (id, user_id, title, code, language, tags, created_at, updated_at)
SELECT printf('%s-0000-7000-8000-%012x', :prefix, i), :user,
       'seeded ' || i, 'let v = ' || i || ';', 'rust', '["seed"]', :start + i, :start + i
FROM g;
"""


def seed(database_url, user, n):
    """Adds `n` snippets of `user`, older than any the benchmark creates, ids shaped as UUIDs."""
    values = {"prefix": uuid.uuid4().hex[:8], "user": user, "n": n,
              "start": int(time.time() * 1e6) - 86_400_000_000 - n}
    if database_url.startswith("sqlite://"):
        # The service holds the file open in WAL mode; the timeout waits out its writer.
        db = sqlite3.connect(database_url[len("sqlite://"):], timeout=30)
        with db:
            db.execute(SQLITE, values)
        db.close()
    else:
        args = [f"--set={k}={v}" for k, v in values.items()]
        subprocess.run(["psql", database_url, "-q", "-v", "ON_ERROR_STOP=1", *args],
                       input=POSTGRES, text=True, check=True, stdout=subprocess.DEVNULL)


def settle(database_url):
    """Does now what the database would otherwise do in the middle of a measured scenario
    after a bulk load: statistics, the visibility map and writing the load out of the log."""
    if database_url.startswith("sqlite://"):
        db = sqlite3.connect(database_url[len("sqlite://"):], timeout=30)
        # TRUNCATE, not PASSIVE: a log left full, even once copied back, makes every page
        # read look it up; the service's own writes would reset it, a bulk load does not.
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
    else:
        subprocess.run(["psql", database_url, "-q", "-c", "VACUUM ANALYZE snippets", "-c", "CHECKPOINT"],
                       check=True, stdout=subprocess.DEVNULL)
