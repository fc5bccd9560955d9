"""The queue worker alone: does `perflab worker` keep its kernel busy, or wait on Redis?

Each round: the classifier kernel looping in one process (no queue, no HTTP: the ceiling),
then one `perflab worker --processes 1` draining JOBS classify jobs queued in Redis before it
started, from its first answer to its last (no API, no HTTP: the worker's own rate). Printed:
images/s of both, their ratio per round and its median, and the worker's CPU per image.
Every answer is checked against the label the kernel gives the same photo in this process.

A study cannot express this (it drives the queue through the API); the classify study's
`queue-x1` / `process-x1` goal is what this explains.

Usage:
    .venv/bin/python benchmarks/micro/classify_drain.py                 # 400 jobs, 3 rounds
    .venv/bin/python benchmarks/micro/classify_drain.py --jobs 1000 --rounds 5
    .venv/bin/python benchmarks/micro/classify_drain.py --smoke         # seconds

Needs Redis at PERFLAB_REDIS_URL (default redis://127.0.0.1:6379/0); without it, it exits 77,
"skipped", saying so. The worker runs in a namespace of its own, deleted afterwards.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import msgspec
import redis

from perflab.app.classify.model import ensure_model
from perflab.app.classify.service import ClassifyOptions, Prediction, classify_with
from perflab.app.offload import wire
from perflab.app.offload.kernels import kernel_named
from perflab.app.offload.streams import QueueNames
from perflab.bench.launcher import perflab_worker, tree_cpu_s

SKIPPED = 77  # the exit status tests/benchmarks/test_micro_smoke.py reads as "skipped"
Photo = tuple[bytes, str]  # JPEG bytes, the label the kernel gives them here


def photos(model_dir: Path) -> list[Photo]:
    """Package images (scikit-image) as JPEGs, each with the label the kernel gives it."""
    import skimage.data
    from PIL import Image

    options, found = ClassifyOptions(model_dir=model_dir), []
    for name in ("chelsea", "coffee", "astronaut", "rocket", "cat"):
        out = io.BytesIO()
        Image.fromarray(getattr(skimage.data, name)()).convert("RGB").save(out, "JPEG")
        (prediction,) = classify_with([out.getvalue()], options)
        assert isinstance(prediction, Prediction), prediction
        found.append((out.getvalue(), prediction.label))
    return found


def _kernel_loop(model_dir: Path, seconds: float, start: Barrier, results: Queue[float]) -> None:
    images = photos(model_dir)  # also opens this process's session, untimed
    options, count = ClassifyOptions(model_dir=model_dir), 0
    start.wait()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        classify_with([images[count % len(images)][0]], options)
        count += 1
    results.put(count / seconds)


def kernel_alone(model_dir: Path, seconds: float) -> float:
    """Images/s of the kernel looping in one fresh process, batch 1."""
    context = multiprocessing.get_context("forkserver")
    start, results = context.Barrier(1), context.Queue()
    worker = context.Process(target=_kernel_loop, args=(model_dir, seconds, start, results))
    worker.start()
    rate = float(results.get(timeout=seconds + 120))
    worker.join()
    return rate


@dataclass
class Drained:
    images_per_s: float
    wrong: int
    cpu_ms_per_image: float


def drain(redis_url: str, model_dir: Path, images: list[Photo], jobs: int) -> Drained:
    """Queue `jobs` classify jobs, then start one worker process and time it draining them."""
    names = QueueNames(f"drain-{os.getpid()}-{time.monotonic_ns()}")
    kernel, reply_stream = kernel_named("classify"), names.reply("drain")
    client = redis.Redis.from_url(redis_url)
    try:
        client.xgroup_create(reply_stream, "open", id="$", mkstream=True)  # as the API would
        seconds, micros = client.time()
        deadline_ms = str(seconds * 1000 + micros // 1000 + 3_600_000)
        with client.pipeline(transaction=False) as pipe:
            for number in range(jobs):
                raw = msgspec.Raw(wire.encode_args(kernel, (images[number % len(images)][0],)))
                job = wire.encode(wire.JobMessage(number, "classify", reply_stream, raw))
                pipe.xadd(names.jobs("classify"), {"deadline_ms": deadline_ms, "job": job})
            pipe.execute()
        env = {"PERFLAB_MODEL_DIR": str(model_dir), "PERFLAB_BATCH_MAX": "1"}
        args = ["--redis", redis_url, "--namespace", names.namespace, "--processes", "1"]
        with (
            tempfile.TemporaryDirectory(prefix="classify-drain-") as log_dir,
            perflab_worker([*args, "--kernels", "classify"], env, log_dir=Path(log_dir)) as w,
        ):
            while (first := int(client.xlen(reply_stream))) == 0:
                time.sleep(0.002)
            started_s, cpu_s = time.perf_counter(), tree_cpu_s(w.pid)
            while (answered := int(client.xlen(reply_stream))) < jobs:
                time.sleep(0.002)
            taken_s, cpu_s = time.perf_counter() - started_s, tree_cpu_s(w.pid) - cpu_s
        wrong = 0
        for _, fields in client.xrange(reply_stream) or []:
            data = (fields or {})[b"reply"]
            assert isinstance(data, bytes)  # a client without decode_responses
            reply = wire.decode_reply(data)
            found = wire.decode_result(kernel, reply.result) if reply.error is None else None
            label = images[reply.job_id % len(images)][1]
            wrong += not isinstance(found, Prediction) or found.label != label
        done = max(1, answered - first)
        return Drained(done / taken_s, wrong, 1000 * cpu_s / done)
    finally:
        keys = client.keys(f"{names.tag}:*")
        if keys:
            client.delete(*keys)
        client.close()


def redis_reachable(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kernel-s", type=float, default=6.0, help="kernel alone, per round")
    parser.add_argument("--smoke", action="store_true", help="1 round, 20 jobs, 1 s")
    args = parser.parse_args()
    if args.smoke:
        args.jobs, args.rounds, args.kernel_s = 20, 1, 1.0
    redis_url = os.environ.get("PERFLAB_REDIS_URL", "redis://127.0.0.1:6379/0")
    if not redis_reachable(redis_url):
        print(f"skipped: Redis not reachable at {redis_url}", file=sys.stderr)
        sys.exit(SKIPPED)
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
    ratios = []
    with tempfile.TemporaryDirectory(prefix="perflab-classify-") as tmp:
        model_dir = Path(tmp)
        ensure_model(model_dir)
        images = photos(model_dir)
        for number in range(1, args.rounds + 1):
            alone = kernel_alone(model_dir, args.kernel_s)
            drained = drain(redis_url, model_dir, images, args.jobs)
            ratios.append(drained.images_per_s / alone)
            print(f"round {number}: kernel alone {alone:.1f} images/s; worker draining "
                  f"{drained.images_per_s:.1f} images/s ({drained.cpu_ms_per_image:.1f} ms of "
                  f"worker CPU per image, {drained.wrong} wrong labels)", flush=True)  # fmt: skip
    each = ", ".join(f"{ratio:.2f}" for ratio in ratios)
    median = sorted(ratios)[len(ratios) // 2]
    print(f"worker drain x1 / kernel alone x1: {each}; median {median:.2f}")
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
