#!/usr/bin/env python3
"""A stub OpenAI-compatible embeddings provider, for benches/sizing.py's `ollama` scenario and
for trying EMBEDDINGS_URL by hand.

    python3 benches/embeddings_stub.py [--port 18510]

`POST /v1/embeddings` (any path, in fact) answers 384 pseudo-random floats in [-1, 1] per
input, seeded by the SHA-256 of the input's text, so the same text always gets the same
vector, with HTTP/1.1 keep-alive. Point the service at it with
EMBEDDINGS_URL=http://127.0.0.1:18510/v1 EMBEDDINGS_MODEL=all-minilm.
"""

import argparse
import hashlib
import json
import random
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DIMS = 384


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for i, text in enumerate(inputs):
            rnd = random.Random(hashlib.sha256(text.encode()).digest())
            data.append({"object": "embedding", "index": i,
                         "embedding": [rnd.uniform(-1, 1) for _ in range(DIMS)]})
        out = json.dumps({"object": "list", "data": data, "model": body.get("model")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=18510)
    args = p.parse_args()
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
