"""Does starting a foreign server through the bench's launcher change what is measured?

Issue 17: the bench starts a study's own server command through `perflab.bench.launcher` (its
own process group, a log file, readiness that checks the port is its own) and samples its
process tree while the load runs. This starts the same foreign app (a small FastAPI app
written to a temporary folder, served by `python -m uvicorn` with one worker) three ways and
drives each with the engine of `perflab load` (closed model), side by side, in interleaved
repeats (the order rotates each repeat, so a slow minute on a shared box lands on every arm):

- ``by hand``: `subprocess.Popen` of the command line, output to a file, polled until it answers;
- ``launcher``: `launch_server` with the same command line;
- ``launcher+signals``: the same, with the bench's `SignalSampler` (1 s) running, as in a cell.

It prints each run's throughput and the ratio of the medians to ``by hand``, beside the
run-to-run spread of ``by hand`` itself (the noise). Goal: the ratios within that noise.

Usage:
    .venv/bin/python benchmarks/micro/launcher_overhead.py            # 5 repeats, 20,000 requests
    .venv/bin/python benchmarks/micro/launcher_overhead.py --smoke    # seconds
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

from perflab.bench.launcher import free_port, launch_server
from perflab.bench.signals import SignalSampler
from perflab.loadgen import Closed, RequestSpec, run

APP = """
from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "world"}
"""
ARMS = ("by hand", "launcher", "launcher+signals")


def _argv(port: int) -> list[str]:
    command = [sys.executable, "-m", "uvicorn", "foreign_app:app", "--host", "127.0.0.1"]
    return [*command, "--port", str(port), "--workers", "1", "--no-access-log"]


@contextlib.contextmanager
def by_hand(argv: list[str], port: int, folder: Path) -> Iterator[None]:
    with (folder / f"by-hand-{port}.log").open("wb") as log:
        process = subprocess.Popen(argv, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline_s = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline_s or process.poll() is not None:
                    raise RuntimeError("the app did not start by hand") from None
                time.sleep(0.1)
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextlib.contextmanager
def launched(argv: list[str], port: int, folder: Path, *, sample: bool) -> Iterator[None]:
    with launch_server(
        argv, port=port, env={}, cwd=folder, log_dir=folder, label="foreign app",
        ready_path="/hello",
    ) as server:  # fmt: skip
        sampler = SignalSampler(server.base_url, server.pid) if sample else None
        if sampler is not None:
            sampler.start(time.time())
        try:
            yield
        finally:
            if sampler is not None:
                sampler.stop()


def measure(arm: str, folder: Path, requests: int, connections: int) -> float:
    """Start the app the `arm` way, drive it, stop it; its throughput in requests per second."""
    port = free_port()
    argv = _argv(port)
    start: contextlib.AbstractContextManager[None]
    if arm == "by hand":
        start = by_hand(argv, port, folder)
    else:
        start = launched(argv, port, folder, sample=arm == "launcher+signals")
    with start:
        spec = RequestSpec(f"http://127.0.0.1:{port}/hello", name="hello")
        run([spec], Closed(min(requests, 500), connections))  # warm-up, not recorded
        recording = run([spec], Closed(requests, connections))
    failures = recording.total().failure_count
    if failures:
        raise RuntimeError(f"{arm}: {failures} failed requests")
    return recording.total().requests / recording.duration_s


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--smoke", action="store_true", help="2 repeats, 1,000 requests")
    args = parser.parse_args(argv)
    repeats, requests = (2, 1_000) if args.smoke else (args.repeats, args.requests)
    rates: dict[str, list[float]] = {arm: [] for arm in ARMS}
    with tempfile.TemporaryDirectory(prefix="perflab-launcher-overhead-") as tmp:
        folder = Path(tmp)
        (folder / "foreign_app.py").write_text(APP)
        for repeat in range(repeats):
            order = ARMS[repeat % len(ARMS) :] + ARMS[: repeat % len(ARMS)]
            for arm in order:
                rate = measure(arm, folder, requests, args.connections)
                rates[arm].append(rate)
                print(f"repeat {repeat}: {arm:<17} {rate:9,.0f} req/s", flush=True)
    base = statistics.median(rates["by hand"])
    spread = (max(rates["by hand"]) - min(rates["by hand"])) / base
    print(f"\nby hand: median {base:,.0f} req/s, run-to-run spread {spread:.1%} (the noise)")
    for arm in ARMS[1:]:
        ratio = statistics.median(rates[arm]) / base
        verdict = "within noise" if abs(ratio - 1) <= max(spread, 0.02) else "outside noise"
        print(f"{arm}: median {statistics.median(rates[arm]):,.0f} req/s, "
              f"ratio {ratio:.3f} of by hand ({verdict})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
