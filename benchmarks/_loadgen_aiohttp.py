"""The alternative engine perflab measured itself against: aiohttp + uvloop, closed loop.

    python benchmarks/_loadgen_aiohttp.py URL REQUESTS CONNECTIONS
    -> prints "requests <n> seconds <s>"

C workers share one ClientSession limited to C connections and read every body, which is
what a load generator built on aiohttp would do per request.
"""

from __future__ import annotations

import asyncio
import sys
import time

import aiohttp
import uvloop


async def main(url: str, requests: int, connections: int) -> None:
    remaining = requests
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                async with session.get(url) as response:
                    await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        print(f"requests {requests} seconds {time.perf_counter() - started:.4f}")


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
