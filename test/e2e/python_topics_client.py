#!/usr/bin/env python3
"""Topics under permessage-deflate with Python `websockets` (which offers the extension by default):
N clients each send "ready", then read COUNT published text messages and check each one.

Usage: python_topics_client.py ws://127.0.0.1:PORT N COUNT
Prints one JSON object; exit status 0 when every check passed.
"""
import asyncio
import json
import sys

import websockets


def message(i):
    # The same text the test publishes (test/e2e/topics-deflate.test.mjs).
    return "".join('{"seq":%d,"user":"u%d","text":"hello there"}\n' % (i, j % 7) for j in range(40))


def extensions_of(ws):
    headers = getattr(ws, "response_headers", None)
    if headers is None:  # websockets >= 14
        headers = ws.response.headers
    return headers.get("Sec-WebSocket-Extensions")


async def client(url, count):
    async with websockets.connect(url, open_timeout=5, close_timeout=5) as ws:
        await ws.send("ready")
        ok = True
        for i in range(count):
            got = await asyncio.wait_for(ws.recv(), 30)
            ok = ok and got == message(i)
        return {"extensions": extensions_of(ws), "ok": ok}


async def main(url, n, count):
    results = await asyncio.gather(*(client(url, count) for _ in range(n)))
    ok = all(r["ok"] for r in results)
    print(json.dumps({"ok": ok, "extensions": sorted({r["extensions"] or "" for r in results})}))
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(asyncio.wait_for(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])), 60)))
    except Exception as e:  # report, do not hang
        print(json.dumps({"ok": False, "error": repr(e)}))
        sys.exit(1)
