"""Where `/pong`'s small lane pays: parsing a body in the event loop against handing it over.

For bodies of 1 KB to 1 MB in memory, it times what `/pong` could do with each in the loop:
parse it right there (the small lane), or spool it to /dev/shm and parse it in a worker
process of a real process offloader (the large lane), and how much of that hand-over is the
loop's own time. Also the round trip of a trivial job. This is what sets
PERFLAB_INLINE_PARSE_BYTES (16 KiB); no study can say it (it times the loop, not requests).

Usage:
    .venv/bin/python benchmarks/micro/payload_lanes.py            # about a minute
    .venv/bin/python benchmarks/micro/payload_lanes.py --smoke    # seconds
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import tempfile
import time
from collections.abc import Awaitable, Callable

from perflab.app.admission import Admission
from perflab.app.offload import ProcessOffloader
from perflab.app.payload.service import summarize, summarize_bytes
from perflab.app.payload.spool import SpooledBody, spool_dir
from perflab.loadgen.large_body import document_bytes

KEYS = (50, 200, 800, 3200, 12800, 51200)  # ~1 KB to ~1 MB


async def loop_cost_us(call: Callable[[], Awaitable[object]], repeat: int) -> tuple[float, float]:
    """Median (wall, CPU of the loop's thread) of `await call()`, in microseconds."""
    walls, cpus = [], []
    for _ in range(repeat):
        cpu, wall = time.thread_time(), time.perf_counter()
        await call()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.thread_time() - cpu)
    return sorted(walls)[repeat // 2] * 1e6, sorted(cpus)[repeat // 2] * 1e6


async def parse_in_loop(body: bytes) -> None:
    summarize_bytes(body)


async def offload(offloader: ProcessOffloader, body: bytes) -> None:
    """What `/pong`'s large lane does with a body: spool it, parse it in a worker process."""
    fd, path = tempfile.mkstemp(prefix=f"perflab-body-{os.getpid()}-", dir=spool_dir())
    try:
        with os.fdopen(fd, "wb", buffering=0) as file:
            file.write(body)
        await offloader.run(summarize, SpooledBody(path, len(body)))
    finally:
        os.unlink(path)


async def lanes(scale: float) -> None:
    offloader = ProcessOffloader(Admission("lanes", 2, 30.0, 1 << 30))
    await offloader.start()
    try:
        wall_us, cpu_us = await loop_cost_us(lambda: offloader.run(os.getpid), 300)
        print(f"round trip of a trivial job: {wall_us:.0f} us, {cpu_us:.0f} us of it in the loop")
        print(f"{'body':>9} {'parse in loop':>14} {'offloaded':>10} {'loop part':>10} {'ratio':>6}")
        for keys in KEYS:
            body = document_bytes("small", keys)
            repeat = max(3, min(301, int(scale * 3_000_000 // len(body))))
            parse_us, _ = await loop_cost_us(functools.partial(parse_in_loop, body), repeat)
            handed = functools.partial(offload, offloader, body)
            offload_us, loop_us = await loop_cost_us(handed, repeat)
            print(f"{len(body) / 1024:6.0f} KB {parse_us:11.0f} us {offload_us:7.0f} us "
                  f"{loop_us:7.0f} us {parse_us / loop_us:6.2f}")  # fmt: skip
        print("(medians; ratio: the loop's time to parse the body / its time to offload it)")
    finally:
        await offloader.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a few calls per size")
    args = parser.parse_args()
    print("load average: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    asyncio.run(lanes(0.01 if args.smoke else 1.0))


if __name__ == "__main__":
    main()
