"""A real WebSocket client (the `websockets` package) against an echo gate.

    python ws_client.py ws://127.0.0.1:9948/

Checks text and binary echoes (text stays text), ping/pong, a fragmented message, a
300 KiB message answered with close 1009, and a normal close. Prints one line per check
and exits non-zero on the first failure.
"""

import asyncio
import sys

import websockets
from websockets.exceptions import ConnectionClosed


async def main(url: str) -> None:
    async with websockets.connect(url, max_size=None, compression=None) as ws:
        await ws.send("hello")
        assert await ws.recv() == "hello", "text echo"
        print("ok text")
        await ws.send(b"\x00\x01\x02")
        assert await ws.recv() == b"\x00\x01\x02", "binary echo"
        print("ok binary")
        latency = await (await ws.ping(b"are you there"))
        print(f"ok ping ({latency * 1000:.1f} ms)")
        await ws.send(["frag", "men", "ted"])
        assert await ws.recv() == "fragmented", "fragmented echo"
        print("ok fragments")
        await ws.close(1000, "bye")
        assert ws.close_code == 1000, f"close code {ws.close_code}"
        print("ok close 1000")
    async with websockets.connect(url, max_size=None, compression=None) as ws:
        try:
            await ws.send(b"x" * (300 * 1024))
            await ws.recv()
            raise AssertionError("a 300 KiB message was echoed")
        except ConnectionClosed as e:
            code = e.rcvd.code if e.rcvd else None
            assert code == 1009, f"close code {code}, wanted 1009"
            print("ok 300 KiB -> 1009")


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv[1]), 30))
