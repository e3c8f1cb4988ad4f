#!/usr/bin/env python3
"""permessage-deflate with the Python `websockets` package, which offers it by default.

Usage: python_deflate_client.py ws://127.0.0.1:PORT
Prints one JSON object with the results; exit status 0 when every check passed.
"""
import asyncio
import json
import sys

import websockets

SIZES = [0, 1, 1000, 64 * 1024, 1024 * 1024, 16 * 1024 * 1024]


def pattern(n):
    # Compressible but not trivial: JSON-like records with varying numbers.
    out = bytearray()
    i = 0
    while len(out) < n:
        out += b'{"user":"u%d","text":"hello there %d","ts":%d},' % (i % 977, (i * 7919) % 10007, i)
        i += 1
    return bytes(out[:n])


def extensions_of(ws):
    headers = getattr(ws, "response_headers", None)
    if headers is None:  # websockets >= 14
        headers = ws.response.headers
    return headers.get("Sec-WebSocket-Extensions")


async def main(url):
    results = {}
    async with websockets.connect(url, max_size=64 * 1024 * 1024, open_timeout=5, close_timeout=5) as ws:
        results["extensions"] = extensions_of(ws)
        ok = True
        for n in SIZES:
            data = pattern(n)
            await ws.send(data)
            got = await asyncio.wait_for(ws.recv(), 60)
            ok = ok and isinstance(got, bytes) and got == data
            text = data.decode("ascii")
            await ws.send(text)
            got = await asyncio.wait_for(ws.recv(), 60)
            ok = ok and isinstance(got, str) and got == text
        results["echo"] = ok
        await ws.close(code=4003, reason="python deflate bye")
        results["close_code"] = ws.close_code
    results["ok"] = bool(results["echo"] and results["close_code"] == 4003 and
                         (results["extensions"] or "").startswith("permessage-deflate"))
    print(json.dumps(results))
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(asyncio.wait_for(main(sys.argv[1]), 200)))
    except Exception as e:  # report, do not hang
        print(json.dumps({"ok": False, "error": repr(e)}))
        sys.exit(1)
