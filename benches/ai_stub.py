#!/usr/bin/env python3
"""A stub OpenAI-compatible provider that streams a fixed answer, for the benchmark and for
trying streamed answers by hand.

    python3 benches/ai_stub.py [--port 18300] [--gap-ms 0]

`POST /v1/chat/completions` answers Server-Sent Events: a role chunk, the answer in pieces
(`--gap-ms` apart), a finish chunk and `data: [DONE]`, with HTTP/1.1 keep-alive. Point the
service at it with OPENAI_BASE_URL=http://127.0.0.1:18300/v1 OPENAI_MODEL=stub.
"""

import argparse
import asyncio
import json

PIECES = ["Retry ", "with exponential backoff", " and jitter."]


def chunk(data):
    body = f"data: {json.dumps(data) if not isinstance(data, str) else data}\n\n".encode()
    return b"%x\r\n%s\r\n" % (len(body), body)


def delta(content=None, role=None, finish=None):
    d = {}
    if role:
        d["role"] = role
    if content is not None:
        d["content"] = content
    return {"id": "stub", "object": "chat.completion.chunk", "model": "stub",
            "choices": [{"index": 0, "delta": d, "finish_reason": finish}]}


async def handle(reader, writer, gap):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if length:
                await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                         b"transfer-encoding: chunked\r\n\r\n")
            writer.write(chunk(delta(role="assistant")) + chunk(delta(PIECES[0])))
            await writer.drain()
            for piece in PIECES[1:]:
                if gap:
                    await asyncio.sleep(gap)
                writer.write(chunk(delta(piece)))
            writer.write(chunk(delta(finish="stop")) + chunk("[DONE]") + b"0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(port, gap, ready=None):
    server = await asyncio.start_server(lambda r, w: handle(r, w, gap), "127.0.0.1", port)
    if ready:
        ready()
    async with server:
        await server.serve_forever()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=18300)
    p.add_argument("--gap-ms", type=float, default=0.0, help="pause between the answer's pieces")
    args = p.parse_args()
    asyncio.run(serve(args.port, args.gap_ms / 1000))


if __name__ == "__main__":
    main()
