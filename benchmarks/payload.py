"""Seed 003's study, measured right: small-request latency while 25 MB JSON bodies arrive.

For `/ping` (pydantic parses in the event loop) and `/pong` (streamed, parsed through the
offloader), each with offload inline and process, one server worker each, it runs the mixed
load of `perflab.loadgen.large_body`: small bodies (~1 KB) at 10/s and large ones (~26 MB,
1.25 M keys) at 1/s, each stream on an open schedule in its own process, bodies built before
timing, every answer's count and maximum checked. Meanwhile a thread samples the memory of the
server's whole process tree (workers and offload pool) plus bodies spooled to /dev/shm.

Usage:
    .venv/bin/python benchmarks/payload.py              # 60 s per configuration (~5 min)
    .venv/bin/python benchmarks/payload.py --quick      # 20 s per configuration
    .venv/bin/python benchmarks/payload.py --json results/payload.json
    .venv/bin/python benchmarks/payload.py --lanes      # where `/pong`'s small lane pays (~1 min)

`--lanes` measures what sets PERFLAB_INLINE_PARSE_BYTES instead: the event loop's cost of parsing
a body right there against handing it to a worker process (spooled to /dev/shm, as `/pong`
does), for bodies of 1 KB to 1 MB, and the round trip of a trivial job.

Goals printed at the end: small p99 <= 50 ms with /pong + process (the seed measured 423-858 ms);
/pong's large p50 at most half of /ping's; peak memory growth per concurrent large request
<= 3x the body size (concurrency from Little's law: large rate x mean large latency).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _harness import perflab_serve, tree_rss_bytes
from perflab.app.admission import Admission
from perflab.app.offload import ProcessOffloader
from perflab.app.payload.service import summarize, summarize_bytes
from perflab.app.payload.spool import SpooledBody, spool_dir
from perflab.loadgen import NameStats, run_streams
from perflab.loadgen.large_body import document_bytes, large_body, large_body_streams
from perflab.loadgen.metadata import machine_metadata

CONFIGS = [("/ping", "inline"), ("/ping", "process"), ("/pong", "inline"), ("/pong", "process")]


class MemorySampler(threading.Thread):
    """Samples RSS of the server tree + spooled body bytes every 50 ms; keeps the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_bytes = 0
        self._stop_event = threading.Event()

    def sample(self) -> int:
        spooled = sum(p.stat().st_size for p in spool_dir().glob("perflab-body-*") if p.exists())
        return tree_rss_bytes(self.pid) + spooled

    def run(self) -> None:
        while not self._stop_event.wait(0.05):
            self.peak_bytes = max(self.peak_bytes, self.sample())

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak_bytes


def ms(stats: NameStats, percentile: float) -> float:
    return stats.histogram.value_at_percentile(percentile) / 1000


def measure(path: str, offload: str, duration_s: float, log_dir: Path) -> dict[str, Any]:
    log_path = log_dir / f"server{path.replace('/', '-')}-{offload}.log"
    with perflab_serve(["--offload", offload, "--workers", "1"], {}, log_path) as server:
        sampler = MemorySampler(server.pid)
        baseline_bytes = sampler.sample()
        sampler.start()
        recording = run_streams(large_body_streams(server.base_url, path, duration_s=duration_s))
        peak_bytes = sampler.stop()
    small, large = recording.names["small"], recording.names["large"]
    large_mean_s = large.histogram.mean_us() / 1e6 if large.requests else 0.0
    concurrency = max(1.0, large.requests / duration_s * large_mean_s)
    return {
        "config": f"{path} {offload}",
        "small": {"requests": small.requests, "failures": small.failures,
                  "p50_ms": ms(small, 50), "p95_ms": ms(small, 95), "p99_ms": ms(small, 99),
                  "late_sends": small.late_sends, "dropped_sends": small.dropped_sends},
        "large": {"requests": large.requests, "failures": large.failures,
                  "p50_ms": ms(large, 50), "p99_ms": ms(large, 99), "mean_s": large_mean_s},
        "memory": {"baseline_mb": baseline_bytes / 1e6, "peak_mb": peak_bytes / 1e6,
                   "growth_mb": (peak_bytes - baseline_bytes) / 1e6,
                   "large_concurrency": concurrency},
        "recording": recording.to_dict(),
    }  # fmt: skip


def print_report(results: list[dict[str, Any]], body_mb: float) -> list[tuple[str, bool]]:
    header = (
        f"{'config':16} {'small n':>7} {'p50':>7} {'p95':>7} {'p99':>8} {'fail':>5} "
        f"{'large n':>7} {'p50':>8} {'p99':>8} {'fail':>5} {'mem +MB':>8} {'x body/req':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        s, big, mem = r["small"], r["large"], r["memory"]
        per_request = mem["growth_mb"] / mem["large_concurrency"] / body_mb
        print(
            f"{r['config']:16} {s['requests']:7d} {s['p50_ms']:7.1f} {s['p95_ms']:7.1f} "
            f"{s['p99_ms']:8.1f} {sum(s['failures'].values()):5d} {big['requests']:7d} "
            f"{big['p50_ms']:8.0f} {big['p99_ms']:8.0f} {sum(big['failures'].values()):5d} "
            f"{mem['growth_mb']:8.0f} {per_request:10.2f}"
        )
    print("(latencies in ms, from the scheduled send time; memory: server tree RSS + /dev/shm)")
    by = {r["config"]: r for r in results}
    pong, ping = by["/pong process"], by["/ping process"]
    pong_memory = pong["memory"]
    per_request = pong_memory["growth_mb"] / pong_memory["large_concurrency"] / body_mb
    ratio = pong["large"]["p50_ms"] / ping["large"]["p50_ms"]
    failures = sum(sum(r[k]["failures"].values()) for r in results for k in ("small", "large"))
    goals = [
        (f"small p99 with /pong + process: {pong['small']['p99_ms']:.1f} ms (goal <= 50)",
         pong["small"]["p99_ms"] <= 50),
        (f"large p50 /pong / /ping (process): {ratio:.2f} (goal <= 0.50)", ratio <= 0.5),
        (f"memory growth per concurrent large request, /pong + process: {per_request:.2f}x "
         f"the body (goal <= 3)", per_request <= 3),
        (f"wrong or failed answers, all configurations: {failures}", failures == 0),
    ]  # fmt: skip
    print()
    for text, met in goals:
        print(f"  [{'met' if met else 'MISSED'}] {text}")
    return goals


async def _loop_cost_us(call: Callable[[], Awaitable[object]], repeat: int) -> tuple[float, float]:
    """Median (wall, CPU of the loop's thread) of `await call()`, in microseconds."""
    walls, cpus = [], []
    for _ in range(repeat):
        cpu, wall = time.thread_time(), time.perf_counter()
        await call()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.thread_time() - cpu)
    return sorted(walls)[repeat // 2] * 1e6, sorted(cpus)[repeat // 2] * 1e6


async def _parse_in_loop(body: bytes) -> None:
    summarize_bytes(body)


async def _offload(offloader: ProcessOffloader, body: bytes) -> None:
    """What `/pong`'s large lane does with a body: spool it, parse it in a worker process."""
    fd, path = tempfile.mkstemp(prefix=f"perflab-body-{os.getpid()}-", dir=spool_dir())
    try:
        with os.fdopen(fd, "wb", buffering=0) as file:
            file.write(body)
        await offloader.run(summarize, SpooledBody(path, len(body)))
    finally:
        os.unlink(path)


async def lanes() -> None:
    offloader = ProcessOffloader(Admission("lanes", 2, 30.0, 1 << 30))
    await offloader.start()
    try:
        wall_us, cpu_us = await _loop_cost_us(lambda: offloader.run(os.getpid), 300)
        print(f"round trip of a trivial job: {wall_us:.0f} us, {cpu_us:.0f} us of it in the loop")
        print(f"{'body':>9} {'parse in loop':>14} {'offloaded':>10} {'loop part':>10} {'ratio':>6}")
        for keys in (50, 200, 800, 3200, 12800, 51200):
            body = document_bytes("small", keys)
            repeat = max(9, min(301, 3_000_000 // len(body)))
            parse_us, _ = await _loop_cost_us(functools.partial(_parse_in_loop, body), repeat)
            offload = functools.partial(_offload, offloader, body)
            offload_us, loop_us = await _loop_cost_us(offload, repeat)
            print(f"{len(body) / 1024:6.0f} KB {parse_us:11.0f} us {offload_us:7.0f} us "
                  f"{loop_us:7.0f} us {parse_us / loop_us:6.2f}")  # fmt: skip
        print("(medians; ratio: the loop's time to parse the body / its time to offload it)")
    finally:
        await offloader.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per configuration")
    parser.add_argument("--quick", action="store_true", help="20 s per configuration")
    parser.add_argument("--json", type=Path, help="write every figure and recording here")
    parser.add_argument("--lanes", action="store_true", help="the small lane's crossover only")
    args = parser.parse_args()
    if args.lanes:
        asyncio.run(lanes())
        return
    duration_s = 20.0 if args.quick else args.duration
    body_mb = len(large_body()) / 1e6
    print(f"large body {body_mb:.1f} MB; {duration_s:.0f} s per configuration; 1 server worker\n")
    with tempfile.TemporaryDirectory(prefix="perflab-payload-") as log_dir:
        results = []
        for path, offload in CONFIGS:
            results.append(measure(path, offload, duration_s, Path(log_dir)))
            time.sleep(1)  # let the box settle between servers
    goals = print_report(results, body_mb)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {"study": "payload", "duration_s": duration_s, "body_mb": body_mb,
                    "machine": machine_metadata(), "results": results,
                    "goals": [{"goal": text, "met": met} for text, met in goals]}  # fmt: skip
        args.json.write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
