"""The classifier kernel alone: does batching pay on this CPU, and how many threads per session?

It builds the model into a fresh directory (the cold build time), then times, in this process,
round-robin so that drift on a shared box hits every variant alike:

- `session.run` per image at batch 1, 4, 8 and 16, one intra-op thread (the configuration every
  offload worker process uses), and batch 1 and 16 with two threads;
- decode + preprocess per image (Pillow, one of foolbox's 512x512 JPEG photos, or
  scikit-image's cat where foolbox is not installed);
- throughput with every core busy: one single-threaded session per core in separate processes,
  against one process whose session uses every core.

The classify study's `process-x2` cell serves what "every core busy, N processes" computes
here: the share it reaches is the cost of HTTP, the upload and the pool around the kernel.

Usage:
    .venv/bin/python benchmarks/micro/classify_kernel.py               # ~30 s
    .venv/bin/python benchmarks/micro/classify_kernel.py --seconds 2 --json out.json
    .venv/bin/python benchmarks/micro/classify_kernel.py --smoke       # seconds: proves it runs

Batching pays if per-image time at batch N is clearly below batch 1's; the process pool's
one thread per session is right if N single-threaded processes beat one N-threaded session.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from perflab.app.classify.model import Session, ensure_model, open_session
from perflab.app.classify.service import RESIZE_PX, decode_image, preprocess
from perflab.app.classify.shape import INPUT_NAME
from perflab.loadgen.metadata import machine_metadata

BATCH_SIZES = (1, 4, 8, 16)
ROUNDS = [5]  # --smoke: 1


def foolbox_photo() -> bytes:
    """A 512x512 ImageNet photo from foolbox, else the bench's cat (scikit-image)."""
    # find_spec locates the package without importing it: foolbox is installed without its
    # dependencies, for its photos alone (the test extra).
    spec = importlib.util.find_spec("foolbox")
    if spec is None or not spec.submodule_search_locations:
        from perflab.bench.bodies import cat_photo

        return cat_photo()
    data_dir = Path(spec.submodule_search_locations[0]) / "data"
    return (data_dir / "imagenet_00_243.jpg").read_bytes()


def batch_of(n: int, image: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return np.ascontiguousarray(np.broadcast_to(image, (n, *image.shape)))


def time_per_image_s(
    session: Session, batch: npt.NDArray[np.float32], seconds: float
) -> tuple[float, float]:
    """Medians over runs of (wall, CPU) seconds per image, running for about `seconds`.

    CPU time is this process's, every thread of it: on a shared box, where other work steals
    the cores, it is the steadier figure; wall time is what a request waits.
    """
    session.run(None, {INPUT_NAME: batch})  # first run allocates; not timed
    wall: list[float] = []
    cpu: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(wall) < 3:
        started, started_cpu = time.perf_counter(), time.process_time()
        session.run(None, {INPUT_NAME: batch})
        wall.append((time.perf_counter() - started) / len(batch))
        cpu.append((time.process_time() - started_cpu) / len(batch))
    return statistics.median(wall), statistics.median(cpu)


def _throughput_worker(
    model_dir: Path, threads: int, seconds: float, start: Any, results: Any
) -> None:
    session = open_session(model_dir, intra_op_threads=threads)
    batch = batch_of(1, np.zeros((3, 224, 224), np.float32))
    session.run(None, {INPUT_NAME: batch})
    start.wait()  # every process starts timing together
    count, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        session.run(None, {INPUT_NAME: batch})
        count += 1
    results.put(count / seconds)


def images_per_s(model_dir: Path, processes: int, threads: int, seconds: float) -> float:
    """Total images/s of `processes` processes, each running batch 1 on its own session."""
    context = multiprocessing.get_context("forkserver")
    start, results = context.Barrier(processes), context.Queue()
    workers = [
        context.Process(
            target=_throughput_worker, args=(model_dir, threads, seconds, start, results)
        )
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    total = sum(results.get(timeout=seconds + 120) for _ in workers)
    for worker in workers:
        worker.join()
    return float(total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="per variant and round")
    parser.add_argument("--json", type=Path, help="also write every figure here, with metadata")
    parser.add_argument("--smoke", action="store_true", help="1 round of 0.05 s per variant")
    args = parser.parse_args()
    if args.smoke:
        args.seconds, ROUNDS[0] = 0.05, 1
    cores = len(os.sched_getaffinity(0))

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp)
        started = time.perf_counter()
        ensure_model(model_dir)
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        sessions = {1: open_session(model_dir), 2: open_session(model_dir, intra_op_threads=2)}
        session_s = (time.perf_counter() - started) / 2
        print(f"cold model build: {build_s:.2f} s; opening a session: {session_s:.2f} s")

        photo = foolbox_photo()
        image = preprocess(decode_image(photo, 10**8))
        variants = [(1, n) for n in BATCH_SIZES] + [(2, 1), (2, 16)]
        samples: dict[tuple[int, int], list[tuple[float, float]]] = {v: [] for v in variants}
        prep_samples: list[float] = []
        for _ in range(ROUNDS[0]):
            for threads, n in variants:
                batch = batch_of(n, image)
                samples[threads, n].append(time_per_image_s(sessions[threads], batch, args.seconds))
            started = time.process_time()
            for _ in range(20):
                preprocess(decode_image(photo, 10**8))
            prep_samples.append((time.process_time() - started) / 20)

        per_image_ms = {
            v: tuple(statistics.median(run[i] for run in runs) * 1e3 for i in (0, 1))
            for v, runs in samples.items()
        }
        base_wall, base_cpu = per_image_ms[1, 1]
        print(f"\nsession.run per image ({cores} cores, median of {ROUNDS[0]} rounds):")
        print("threads  batch  wall ms/image  CPU ms/image  images/s  wall vs batch 1  CPU vs 1")
        for (threads, n), (wall_ms, cpu_ms) in per_image_ms.items():
            print(
                f"{threads:7d}  {n:5d}  {wall_ms:13.2f}  {cpu_ms:12.2f}  {1e3 / wall_ms:8.1f}"
                f"  {base_wall / wall_ms:14.2f}x  {base_cpu / cpu_ms:7.2f}x"
            )
        prep_ms = statistics.median(prep_samples) * 1e3
        print(
            f"decode + preprocess, CPU (512x512 JPEG, {RESIZE_PX} -> 224): {prep_ms:.2f} ms/image"
        )

        many = images_per_s(model_dir, cores, 1, args.seconds * 3)
        one = images_per_s(model_dir, 1, cores, args.seconds * 3)
        print(f"\nevery core busy, batch 1: {cores} processes x 1 thread {many:.1f} images/s;")
        print(f"1 process x {cores} threads {one:.1f} images/s; ratio {many / one:.2f}x")

    if args.json:
        document = {
            "machine": machine_metadata(),
            "cold_build_s": build_s,
            "session_open_s": session_s,
            "per_image_ms": [
                {"threads": t, "batch": n, "wall_ms": wall_ms, "cpu_ms": cpu_ms}
                for (t, n), (wall_ms, cpu_ms) in per_image_ms.items()
            ],
            "preprocess_ms": prep_ms,
            "images_per_s": {"processes_x_1_thread": many, "one_process_all_threads": one},
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
