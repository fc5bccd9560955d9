"""Small requests while one client process holds thousands of slow-header connections.

Issue 19 item 5: 20,500 connections that each send `GET /healthz HTTP/1.1` and then one header
byte a second ran `perflab serve` (one worker, 20,000 open files) out of descriptors, and small
requests from anyone else timed out. This runs, on one server (defaults, one uvicorn worker,
its open files capped at `--server-fds`), the same small requests from a second process twice,
side by side: without an attack, then while an attacker process keeps `--attackers` slow-head
connections open (reconnecting whenever the server closes one, as a real attacker would).

Goal: p99 <= 50 ms and 0 failures under attack, for `/healthz` and `/diag/cpu?work_ms=1`.

On a 2-core box the attacker's own work (a connect, a write per slow head each second) takes
CPU the server and the measuring client need; a real attacker runs elsewhere. `--attacker-cpus`
`--server-cpus` and `--client-cpus` place the three processes (taskset-style lists) to tell
the server's cost from the attacker's.

Usage:
    .venv/bin/python benchmarks/micro/slow_clients.py            # 20,000 attackers, 30 s
    .venv/bin/python benchmarks/micro/slow_clients.py --smoke    # a few seconds
    .venv/bin/python benchmarks/micro/slow_clients.py --attacker-cpus 0 --server-cpus 1 \
        --client-cpus 1                                          # the attacker on its own core
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from perflab.bench.launcher import perflab_serve
from perflab.bench.placement import Placement, parse_cpus, placed
from perflab.limits import raise_open_files_limit

PATHS = ("/healthz", "/diag/cpu?work_ms=1")
SLOW_HEAD = b"GET /healthz HTTP/1.1\r\nHost: attacker\r\nX-Slow: "
GOAL_P99_MS = 50.0
RATE_PER_CLIENT_PER_S = 25.0  # light load: latency is what is measured, not capacity


@dataclass
class Samples:
    latencies_ms: list[float] = field(default_factory=list)
    failures: int = 0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- the attacker (its own process) ---------------------------------------------------------


class _SlowHead(asyncio.Protocol):
    """One connection that sent part of a head; anything from the server ends it."""

    def __init__(self, attack: _Attack) -> None:
        self.attack = attack
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(SLOW_HEAD)
        self.attack.open.add(self)

    def data_received(self, data: bytes) -> None:  # a 408: the server is done with us
        assert self.transport is not None
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.attack.open.discard(self)
        self.attack.closed_by_server += 1


class _Attack:
    """Keeps `count` slow heads open: one ticker writes a byte to each every second (cheap:
    one loop, no task per connection), and every closed one is replaced."""

    def __init__(self, host: str, port: int, count: int) -> None:
        self.host, self.port, self.count = host, port, count
        self.open: set[_SlowHead] = set()
        self.closed_by_server = 0
        self.connect_errors = 0
        self.connecting = 0

    async def _connect(self) -> None:
        self.connecting += 1
        try:
            await asyncio.get_running_loop().create_connection(
                lambda: _SlowHead(self), self.host, self.port
            )
        except OSError:
            self.connect_errors += 1
        finally:
            self.connecting -= 1

    async def run(self, ready: Event, stop: Event) -> None:
        pending: set[asyncio.Task[None]] = set()
        ready_sent = False
        while not stop.is_set():
            started = time.perf_counter()
            # Top up, at most 2,500 new connections a second: no SYN backlog storm.
            missing = self.count - len(self.open) - self.connecting
            for _ in range(min(missing, 2500)):
                task = asyncio.create_task(self._connect())
                pending.add(task)
                task.add_done_callback(pending.discard)
            for head in list(self.open):
                if head.transport is not None:
                    head.transport.write(b"a")
            if not ready_sent and len(self.open) >= 0.9 * self.count:
                print(f"attacker: {len(self.open)} slow-head connections open", flush=True)
                ready.set()
                ready_sent = True
            await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - started)))
        print(
            f"attacker: {len(self.open)} open at the end; the server closed "
            f"{self.closed_by_server}; {self.connect_errors} connects failed",
            flush=True,
        )
        for head in list(self.open):
            if head.transport is not None:
                head.transport.abort()


def attacker(
    host: str, port: int, count: int, ready: Event, stop: Event, cpus: frozenset[int] | None
) -> None:
    """Process entry: hold `count` slow-head connections until `stop` is set."""
    _run_on(cpus)
    raise_open_files_limit()
    asyncio.run(_Attack(host, port, count).run(ready, stop))


# --- the measuring client (its own process) -------------------------------------------------


async def _client(url: str, keep_alive: bool, until: float, samples: Samples) -> None:
    connector = aiohttp.TCPConnector(force_close=not keep_alive, limit=1)
    timeout = aiohttp.ClientTimeout(total=10.0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        while (now := time.perf_counter()) < until:
            try:
                async with session.get(url) as response:
                    await response.read()
                    ok = response.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            elapsed_s = time.perf_counter() - now
            if ok:
                samples.latencies_ms.append(elapsed_s * 1000)
            else:
                samples.failures += 1
            await asyncio.sleep(max(0.0, 1 / RATE_PER_CLIENT_PER_S - elapsed_s))


async def _measure(base_url: str, duration_s: float) -> dict[str, Samples]:
    until = time.perf_counter() + duration_s
    results = {path: Samples() for path in PATHS}
    clients = [
        _client(base_url + path, keep_alive, until, results[path])
        for path in PATHS
        for keep_alive in (True, False)  # a kept connection, and a new one per request
    ]
    await asyncio.gather(*clients)
    return results


def _run_on(cpus: frozenset[int] | None) -> None:
    if cpus is not None:
        os.sched_setaffinity(0, cpus)


def measurer(base_url: str, duration_s: float, out: Any, cpus: frozenset[int] | None) -> None:
    """Process entry: measure the small requests for `duration_s`; results into `out`."""
    _run_on(cpus)
    results = asyncio.run(_measure(base_url, duration_s))
    out.put({path: (s.latencies_ms, s.failures) for path, s in results.items()})


def measure(base_url: str, duration_s: float, cpus: frozenset[int] | None) -> dict[str, Samples]:
    context = multiprocessing.get_context("spawn")
    out = context.SimpleQueue()
    process = context.Process(target=measurer, args=(base_url, duration_s, out, cpus))
    process.start()
    raw: dict[str, tuple[list[float], int]] = out.get()
    process.join()
    return {path: Samples(latencies, failures) for path, (latencies, failures) in raw.items()}


def measure_with_cpu(
    server: psutil.Process, base_url: str, duration_s: float, cpus: frozenset[int] | None
) -> tuple[dict[str, Samples], float]:
    """`measure`, and the server's CPU over it (% of one core)."""
    before = server.cpu_times()
    started = time.perf_counter()
    samples = measure(base_url, duration_s, cpus)
    after = server.cpu_times()
    busy_s = (after.user + after.system) - (before.user + before.system)
    return samples, 100 * busy_s / (time.perf_counter() - started)


# --- the run --------------------------------------------------------------------------------


def report(quiet: dict[str, Samples], attacked: dict[str, Samples]) -> bool:
    print(
        f"\n{'request':<22}{'quiet p50':>10}{'p99':>9}{'fail':>6}"
        f"{'attack p50':>12}{'p99':>9}{'fail':>6}{'p99 ratio':>11}  goal"
    )
    met = True
    for path in PATHS:
        q, a = quiet[path], attacked[path]
        ok = a.percentile(0.99) <= GOAL_P99_MS and a.failures == 0
        met &= ok
        print(
            f"{path:<22}{q.percentile(0.5):>8.1f}ms{q.percentile(0.99):>7.1f}ms{q.failures:>6}"
            f"{a.percentile(0.5):>10.1f}ms{a.percentile(0.99):>7.1f}ms{a.failures:>6}"
            f"{a.percentile(0.99) / q.percentile(0.99):>10.2f}x  {'met' if ok else 'MISSED'}"
        )
        print(f"{'':<22}({len(q.latencies_ms)} / {len(a.latencies_ms)} requests)")
    return met


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attackers", type=int, default=20_000)
    parser.add_argument("--server-fds", type=int, default=20_000)
    parser.add_argument("--duration-s", type=float, default=30.0)
    parser.add_argument("--smoke", action="store_true", help="200 attackers, 2 s: a few seconds")
    for who in ("attacker", "server", "client"):
        parser.add_argument(f"--{who}-cpus", help=f"run the {who} on these CPUs (e.g. 0, 0-1)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.attackers, args.server_fds, args.duration_s = 200, 1024, 2.0
    placement = Placement.parse(args.server_cpus)
    attacker_cpus, client_cpus = (
        parse_cpus(cpus) if cpus else None for cpus in (args.attacker_cpus, args.client_cpus)
    )
    env = {"PERFLAB_OPEN_FILES_LIMIT": str(args.server_fds)}
    context = multiprocessing.get_context("spawn")
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        stack.enter_context(placed(placement))
        server = stack.enter_context(perflab_serve(env=env, log_dir=Path(tmp)))
        assert server.base_url is not None
        host, port = server.base_url.removeprefix("http://").split(":")
        print(f"server: {server.base_url}, open files {args.server_fds}, one uvicorn worker")
        where = {"attacker": args.attacker_cpus, "client": args.client_cpus,
                 **placement.describe()}  # fmt: skip
        print("placed: " + (", ".join(f"{who} on CPU {cpus}" for who, cpus in where.items()
                                     if cpus is not None) or "nowhere in particular"))  # fmt: skip
        server_process = psutil.Process(server.pid)
        quiet, quiet_cpu = measure_with_cpu(
            server_process, server.base_url, args.duration_s, client_cpus
        )
        ready, stop = context.Event(), context.Event()
        attack = context.Process(
            target=attacker, args=(host, int(port), args.attackers, ready, stop, attacker_cpus)
        )
        attack.start()
        ready.wait(timeout=120)
        attacked, attack_cpu = measure_with_cpu(
            server_process, server.base_url, args.duration_s, client_cpus
        )
        stop.set()
        attack.join(timeout=60)
        exhausted = "Too many open files" in server.log()
    met = report(quiet, attacked)
    print(f"server CPU (one core = 100%): quiet {quiet_cpu:.0f}%, under attack {attack_cpu:.0f}%")
    print(f"\nserver ran out of descriptors: {'yes' if exhausted else 'no'}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
