"""What flows cost the load generator: one endpoint of a real `perflab serve`, driven three ways.

- **plain**: ``GET /healthz`` as a plain request (the engines' hot path);
- **flow1**: the same request as a one-step flow (the flow engine, nothing captured);
- **flow2**: a two-step flow: ``GET /healthz`` capturing ``status`` from its JSON, then
  ``GET /healthz?status={status}`` (a capturing connection, and bytes built per send).

Each round runs the three closed-model loads back to back in a rotated order (interleaved,
so a noisy neighbour on this shared machine hits every variant alike), against one server
(1 worker, inline offloader). Printed per variant: requests/s and the generator's own CPU per
request, each round and the median over rounds, and the ratios to plain. Goal: a one-step
flow's throughput within 3% of plain.

    .venv/bin/python benchmarks/micro/loadgen_flows.py                # 5 rounds x 10,000 requests
    .venv/bin/python benchmarks/micro/loadgen_flows.py --smoke        # 1 round x 2,000: seconds
    .venv/bin/python benchmarks/micro/loadgen_flows.py --rounds 9 --requests 50000 -c 10
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from perflab.bench.launcher import perflab_serve
from perflab.loadgen import Closed, Expectation, Flow, Recording, RequestSpec, run

VARIANTS = ("plain", "flow1", "flow2")


def _runner(name: str, base_url: str) -> Callable[[Closed], Recording]:
    """A function that runs variant `name` under a closed model."""
    ok = Expectation(status=(200,))
    health = RequestSpec(f"{base_url}/healthz", name="healthz", expect=ok)
    if name == "plain":
        return lambda model: run([health], model)
    if name == "flow1":
        return lambda model: run([health], model, flows=[Flow("one", ("healthz",))])
    first = RequestSpec(f"{base_url}/healthz", name="first", expect=ok,
                        capture={"status": "json:status"})  # fmt: skip
    second = RequestSpec(f"{base_url}/healthz?status={{status}}", name="second", expect=ok)
    two = [Flow("two", ("first", "second"))]
    return lambda model: run([first, second], model, flows=two)


def _measure(recording: Recording) -> tuple[float, float]:
    """(requests/s, generator CPU us per request); fails loudly on any failed request."""
    total = recording.total()
    if total.failure_count or total.skipped:
        raise SystemExit(f"failures {total.failures}, skipped {total.skipped}: not comparable")
    rate = total.requests / recording.duration_s
    return rate, 1e6 * recording.generator_cpu_s / total.requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=10_000, help="per variant and round")
    parser.add_argument("-c", "--connections", type=int, default=10)
    parser.add_argument("--smoke", action="store_true", help="1 round of 2,000: a few seconds")
    args = parser.parse_args()
    rounds, requests = (1, 2_000) if args.smoke else (args.rounds, args.requests)
    model = Closed(requests, args.connections)
    rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
    cpus: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with (
        tempfile.TemporaryDirectory() as log_dir,
        perflab_serve(["--workers", "1", "--offload", "inline"], log_dir=Path(log_dir)) as server,
    ):
        assert server.base_url is not None  # set by perflab_serve
        runners = {name: _runner(name, server.base_url) for name in VARIANTS}
        runners["plain"](Closed(max(500, requests // 10), args.connections))  # warm up
        print(f"closed model, {requests} requests over {args.connections} connections per run")
        print(f"{'round':<6} " + " ".join(f"{n + ' req/s':>12} {'us/req':>7}" for n in VARIANTS))
        for index in range(rounds):
            order = VARIANTS[index % 3 :] + VARIANTS[: index % 3]  # rotate: interleaved
            for name in order:
                rate, cpu_us = _measure(runners[name](model))
                rates[name].append(rate)
                cpus[name].append(cpu_us)
            cells = " ".join(f"{rates[n][-1]:>12.0f} {cpus[n][-1]:>7.1f}" for n in VARIANTS)
            print(f"{index + 1:<6} {cells}")
    median_rate = {name: statistics.median(values) for name, values in rates.items()}
    median_cpu = {name: statistics.median(values) for name, values in cpus.items()}
    cells = " ".join(f"{median_rate[n]:>12.0f} {median_cpu[n]:>7.1f}" for n in VARIANTS)
    print(f"{'median':<6} {cells}")
    for name in VARIANTS[1:]:
        ratio = median_rate[name] / median_rate["plain"]
        cpu_ratio = median_cpu[name] / median_cpu["plain"]
        print(f"{name} / plain: throughput {ratio:.3f}, generator CPU per request {cpu_ratio:.3f}")
    one_step = median_rate["flow1"] / median_rate["plain"]
    verdict = "met" if one_step >= 0.97 else "NOT met"
    print(f"goal: one-step flow within 3% of plain throughput: {verdict} ({one_step:.3f})")


if __name__ == "__main__":
    main()
