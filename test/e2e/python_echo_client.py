#!/usr/bin/env python3
"""Echo checks with the Python `websockets` package (Debian python3-websockets).

Usage: python_echo_client.py ws://127.0.0.1:PORT
       python_echo_client.py wss://127.0.0.1:PORT CA_FILE   (TLS, trusting only that CA)
Prints one JSON object with the results; exit status 0 when every check passed.
"""
import asyncio
import json
import ssl
import sys

import websockets


async def main(url, cafile=None):
    results = {}
    extra = {}
    if url.startswith("wss:"):
        context = ssl.create_default_context(cafile=cafile)
        extra = {"ssl": context, "server_hostname": "localhost"}
    async with websockets.connect(url, max_size=64 * 1024 * 1024, compression=None,
                                  open_timeout=5, close_timeout=5, **extra) as ws:
        await ws.send("hello from python κόσμε 𝄞")
        got = await asyncio.wait_for(ws.recv(), 5)
        results["text"] = got == "hello from python κόσμε 𝄞" and isinstance(got, str)

        data = bytes((i * 31 + 7) & 0xFF for i in range(1000))
        await ws.send(data)
        got = await asyncio.wait_for(ws.recv(), 5)
        results["binary"] = got == data and isinstance(got, bytes)

        big = bytes((i * 131 + 17) & 0xFF for i in range(1024 * 1024))
        await ws.send(big)
        got = await asyncio.wait_for(ws.recv(), 20)
        results["binary_1mib"] = got == big

        big_text = "abcdefghij" * (1024 * 1024 // 10)
        await ws.send(big_text)
        got = await asyncio.wait_for(ws.recv(), 20)
        results["text_1mib"] = got == big_text

        pong_waiter = await ws.ping(b"py-ping")
        await asyncio.wait_for(pong_waiter, 5)
        results["ping"] = True

        await ws.close(code=4001, reason="python bye")
        results["close_code"] = ws.close_code
        results["close_reason"] = ws.close_reason
    ok = (results["text"] and results["binary"] and results["binary_1mib"] and results["text_1mib"]
          and results["ping"] and results["close_code"] == 4001)
    results["ok"] = bool(ok)
    print(json.dumps(results))
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(asyncio.wait_for(main(*sys.argv[1:3]), 60)))
    except Exception as e:  # report, do not hang
        print(json.dumps({"ok": False, "error": repr(e)}))
        sys.exit(1)
