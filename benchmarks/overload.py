"""Overload on default settings: the seeds' own load shapes, every answer checked, side by side.

Each part starts `perflab serve` on defaults (only the worker count the seed used) and drives it
with `perflab.loadgen`, while probe threads time `/healthz` and, where it sheds, the 503s:

1. Seed 000: `ab -c 100` then `-c 200` posting the base64 JSON of a 1366x768 JPEG, async
   (`/api/blur/encoded`, process offloader) against the sync variant (`/api/blur/encoded/sync`,
   threadpool); every answer byte-compared with the kernel's own output. 2 server workers.
2. Seed 004: 500 locust-style users, no think time, `GET /async_concurrent` (three 5 s calls at
   once): steady-state throughput as a share of users / latency. 2 server workers.
3. Seed 003: small `/pong` bodies at 10/s while two clients send 25 MB bodies back to back, then
   while 25 MB bodies arrive at 1.5x the measured large-body capacity. 1 server worker.

Usage:
    .venv/bin/python benchmarks/overload.py             # about 5 minutes
    .venv/bin/python benchmarks/overload.py --quick     # shorter runs, same shapes
    .venv/bin/python benchmarks/overload.py --json results/overload.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any

from _harness import perflab_serve
from _overload_parts import Probe, blur_request, fanout_request, percentile_ms
from perflab.loadgen import Closed, NameStats, Open, Stream, Users, run, run_streams
from perflab.loadgen.large_body import large_body_streams
from perflab.loadgen.metadata import machine_metadata

Goal = tuple[str, bool]
# Seed 003's client times out after httpx's default 5 s; it asks for at most 3 s of queueing,
# leaving the rest for the upload and the ~1 s parse.
SEED_003_CLIENT_BUDGET_S = 3.0


def ok_share(stats: NameStats) -> float:
    return (stats.requests - stats.failure_count) / stats.requests if stats.requests else 0.0


def seed_000(requests: int, log_dir: Path) -> tuple[list[dict[str, Any]], list[Goal]]:
    rows: list[dict[str, Any]] = []
    with perflab_serve(["--workers", "2"], {}, log_dir / "seed000.log") as server:
        spec_async, spec_sync = (
            blur_request(server.base_url + path)
            for path in ("/api/blur/encoded", "/api/blur/encoded/sync")
        )
        shed_probe_spec = blur_request(server.base_url + "/api/blur/encoded", budget_s=0.0)
        for concurrency in (100, 200):
            for variant, spec in (("async", spec_async), ("sync", spec_sync)):
                with (
                    Probe(server.base_url + "/healthz") as health,
                    Probe.of(shed_probe_spec) as shed,
                ):
                    stats = run([spec], Closed(requests, concurrency), timeout_s=120).total()
                rows.append(
                    {
                        "part": "seed000",
                        "variant": variant,
                        # The sync variant is the seed's own mistake, reproduced to measure it.
                        "naive": variant == "sync",
                        "concurrency": concurrency,
                        "requests": stats.requests,
                        "ok_share": ok_share(stats),
                        "failures": dict(stats.failures),
                        "p50_ms": percentile_ms(stats, 50),
                        "p99_ms": percentile_ms(stats, 99),
                        "healthz_p99_ms": health.p99_ms(),
                        "shed_p99_ms": shed.p99_ms(status=503),
                        "shed_probes": shed.count(status=503),
                    }
                )
    goals: list[Goal] = []
    for row in rows:
        if row["variant"] == "async":
            sync = next(
                r for r in rows if r["variant"] == "sync" and r["concurrency"] == row["concurrency"]
            )
            goals.append(
                (
                    f"seed 000 c={row['concurrency']}: async answered {row['ok_share']:.1%} "
                    f"correctly (sync {sync['ok_share']:.1%}), p50 {row['p50_ms']:.0f} ms "
                    f"vs sync {sync['p50_ms']:.0f} ms",
                    row["ok_share"] == 1.0,
                )
            )
    return rows, goals


def seed_004(
    users: int, duration_s: float, log_dir: Path
) -> tuple[list[dict[str, Any]], list[Goal]]:
    latency_s = 5.0
    spawn_per_s = 50.0
    log_path = log_dir / "seed004.log"
    with (
        perflab_serve(["--workers", "2"], {}, log_path) as server,
        Probe(server.base_url + "/healthz") as health,
    ):
        recording = run(
            [fanout_request(server.base_url + "/async_concurrent")],
            Users(users, spawn_per_s, duration_s),
            timeout_s=60,
        )
    stats = recording.total()
    # Steady state: every user spawned and through its first call, until the last full second.
    first = int(users / spawn_per_s + latency_s) + 1
    last = int(recording.duration_s) - 1
    steady = [stats.windows[s].requests for s in range(first, last) if s in stats.windows]
    rate = sum(steady) / len(steady) if steady else 0.0
    ratio = rate / (users / latency_s)
    row = {
        "part": "seed004",
        "users": users,
        "steady_seconds": len(steady),
        "steady_rate_per_s": rate,
        "ratio": ratio,
        "failures": dict(stats.failures),
        "p50_ms": percentile_ms(stats, 50),
        "p99_ms": percentile_ms(stats, 99),
        "healthz_p99_ms": health.p99_ms(),
    }
    goal = (
        f"seed 004, {users} users on /async_concurrent: {rate:.1f} req/s = {ratio:.3f} of "
        f"users/latency (goal >= 0.97), {stats.failure_count} failures",
        ratio >= 0.97 and stats.failure_count == 0,
    )
    return [row], [goal]


def payload_rows(
    name: str, recording_names: dict[str, NameStats], health: Probe, duration_s: float
) -> dict[str, Any]:
    small, large = recording_names["small"], recording_names["large"]
    lost = {k: v for k, v in large.failures.items() if k != "shed"}
    return {
        "part": "seed003",
        "load": name,
        "small_requests": small.requests,
        "small_failures": dict(small.failures),
        "small_p50_ms": percentile_ms(small, 50),
        "small_p99_ms": percentile_ms(small, 99),
        "large_requests": large.requests,
        "large_ok_per_s": (large.requests - large.failure_count) / duration_s,
        "large_shed": large.failures.get("shed", 0),
        "large_lost": sum(lost.values()) + large.dropped_sends,
        "large_failures": dict(large.failures),
        "large_p50_ms": percentile_ms(large, 50),
        "healthz_p99_ms": health.p99_ms(),
    }


def seed_003(duration_s: float, log_dir: Path) -> tuple[list[dict[str, Any]], list[Goal]]:
    rows = []
    with perflab_serve(["--workers", "1"], {}, log_dir / "seed003.log") as server:
        streams = large_body_streams(server.base_url, "/pong", duration_s=duration_s)
        small_stream, large_stream = streams
        # The seed's client (httpx) gives every request its default 5 s timeout: such a client
        # would rather have a 503 at once than an answer after it gave up, and says so.
        budget = {"X-Queue-Budget-S": str(SEED_003_CLIENT_BUDGET_S)}
        large = [dataclasses.replace(spec, headers=budget) for spec in large_stream.requests]
        back_to_back = Stream(large, Users(2, 2.0, duration_s), timeout_s=60)
        with Probe(server.base_url + "/healthz") as health:
            names = run_streams([small_stream, back_to_back]).names
        rows.append(payload_rows("two 25 MB senders back to back", names, health, duration_s))
        capacity_per_s = rows[0]["large_ok_per_s"]
        over_rate = 1.5 * capacity_per_s
        over = Stream(large, Open(over_rate, duration_s, connections=64), timeout_s=60)
        with (
            Probe(server.base_url + "/healthz") as health,
            Probe.large_shed(server.base_url) as shed,
        ):
            names = run_streams([small_stream, over]).names
        row = payload_rows(
            f"25 MB bodies at 1.5x capacity ({over_rate:.1f}/s)", names, health, duration_s
        )
        row["shed_p99_ms"] = shed.p99_ms(status=503)
        rows.append(row)
    goals: list[Goal] = []
    for row in rows:
        goals.append(
            (
                f"seed 003, {row['load']}: small /pong p99 {row['small_p99_ms']:.1f} ms "
                "(goal <= 50), "
                f"{sum(row['small_failures'].values())} small failures",
                row["small_p99_ms"] <= 50 and not row["small_failures"],
            )
        )
    over = rows[1]
    goals.append(
        (
            f"seed 003 over capacity: {over['large_shed']} large bodies shed, "
            f"{over['large_lost']} lost "
            f"(goal: shed > 0, none lost)",
            over["large_shed"] > 0 and over["large_lost"] == 0,
        )
    )
    return rows, goals


def shed_and_health_goals(rows: list[dict[str, Any]]) -> list[Goal]:
    shed = [r["shed_p99_ms"] for r in rows if r.get("shed_p99_ms") is not None]
    health = [
        r["healthz_p99_ms"] for r in rows if r["healthz_p99_ms"] is not None and not r.get("naive")
    ]
    worst_shed = max(shed) if shed else float("nan")
    naive = [r["healthz_p99_ms"] for r in rows if r.get("naive") and r["healthz_p99_ms"]]
    naive_worst = max(naive, default=float("nan"))
    return [
        (
            f"time to a 503 when shedding, worst p99 over the runs: {worst_shed:.1f} ms "
            "(goal <= 50)",
            bool(shed) and worst_shed <= 50,
        ),
        (
            f"/healthz p99, worst over the runs on perflab's own variants: "
            f"{max(health, default=float('nan')):.1f} ms (goal <= 50; the seed's sync variant, "
            f"CPU work in 40 threads, starves the loop: {naive_worst:.0f} ms)",
            bool(health) and max(health) <= 50,
        ),
    ]


def print_rows(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}
        print("  " + json.dumps(shown))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests, shorter runs")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    requests = 200 if args.quick else 400
    fanout_s = 30.0 if args.quick else 45.0
    payload_s = 20.0 if args.quick else 40.0
    all_rows: list[dict[str, Any]] = []
    goals: list[Goal] = []
    with tempfile.TemporaryDirectory(prefix="perflab-overload-") as tmp:
        log_dir = Path(tmp)
        for part in (
            lambda: seed_000(requests, log_dir),
            lambda: seed_004(500, fanout_s, log_dir),
            lambda: seed_003(payload_s, log_dir),
        ):
            rows, part_goals = part()
            print_rows(rows)
            all_rows += rows
            goals += part_goals
    goals += shed_and_health_goals(all_rows)
    print()
    for text, met in goals:
        print(f"  [{'met' if met else 'MISSED'}] {text}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "benchmark": "overload",
            "machine": machine_metadata(),
            "rows": all_rows,
            "goals": [{"goal": text, "met": met} for text, met in goals],
        }
        args.json.write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
