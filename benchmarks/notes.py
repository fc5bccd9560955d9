"""Seed 002's benchmark, like for like: POST /notes/ (async) and /notes/sync/ (sync) on
PostgreSQL and SQLite with 1 and 2 workers, and a bare Starlette + raw asyncpg INSERT as the
ceiling, all in one run.

Each configuration: a fresh database, `perflab serve --workers N` (on PostgreSQL with the
ceiling app up beside it), 1,000 warm-up requests per endpoint, then rounds: in each, every
endpoint in turn gets the table emptied and the seed's test (10,000 requests, concurrency 10,
body `{"title": "title1", "description": "desc1"}`) driven by `perflab.loadgen` (closed model,
keep-alive). Every answer is checked (201 and the title echoed), the table is counted
afterwards, and the server's CPU time per request is measured: on a busy box it is less
at the mercy of the neighbours than req/s.

Usage: `.venv/bin/python benchmarks/notes.py [--requests 10000] [--repeat 3] [--json out.json]`
       (PostgreSQL from PERFLAB_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/test)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url, text

from _harness import free_port, perflab_serve, tree_cpu_s
from perflab.loadgen import Closed, Expectation, RequestSpec, json_body, run

NOTE = {"title": "title1", "description": "desc1"}
WARMUP_REQUESTS = 1_000
REPEAT = [1]  # measured runs per configuration (--repeat); the median is reported
CONCURRENCY = 10
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
INSERT_SQL = (
    "INSERT INTO notes (title, description) VALUES ($1, $2) RETURNING id, title, description"
)


# --- the ceiling: bare Starlette, raw asyncpg pool, same INSERT, same pool size ---------------


def ceiling_app() -> Any:
    """ASGI app factory for uvicorn: `uvicorn --factory --app-dir benchmarks notes:ceiling_app`."""
    import asyncpg
    import orjson
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    dsn, pool_size = os.environ["NOTES_CEILING_DSN"], int(os.environ["NOTES_CEILING_POOL"])
    pools: list[asyncpg.Pool] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with asyncpg.create_pool(dsn, min_size=pool_size, max_size=pool_size) as pool:
            pools.append(pool)
            yield

    async def create(request: Request) -> Response:
        body = orjson.loads(await request.body())
        row = await pools[0].fetchrow(INSERT_SQL, body["title"], body["description"])
        return Response(orjson.dumps(dict(row)), 201, media_type="application/json")

    return Starlette(routes=[Route("/notes/", create, methods=["POST"])], lifespan=lifespan)


# --- servers and databases ----------------------------------------------------------------------


@contextlib.contextmanager
def _server(command: list[str], env: dict[str, str], ready_path: str, port: int) -> Iterator[int]:
    """Run the ceiling app's server until the block ends; yield its pid (the root of the
    process tree). Not perflab, so not perflab.bench.launcher: any HTTP answer means up."""
    log_fd, log_name = tempfile.mkstemp(prefix="notes-bench-", suffix=".log")
    process = subprocess.Popen(command, env={**os.environ, **env}, stdout=log_fd, stderr=log_fd)
    os.close(log_fd)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{Path(log_name).read_text()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{ready_path}", timeout=2):
                    break
            except urllib.error.HTTPError:
                break  # it answers (404 on /): up
            except OSError:
                pass
            time.sleep(0.2)
        yield process.pid
    finally:
        process.terminate()
        process.wait(timeout=60)
        os.unlink(log_name)


@contextlib.contextmanager
def _postgres_database(admin_url: str) -> Iterator[str]:
    """A throwaway database on the server of `admin_url`, dropped afterwards."""
    name = f"perflab_bench_notes_{secrets.token_hex(4)}"
    admin = create_engine(
        make_url(admin_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def _sql_url(url: str) -> str:
    parsed = make_url(url)
    return (
        parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        if parsed.drivername.startswith("postgres")
        else url
    )


def _execute(url: str, sql: str) -> int:
    engine = create_engine(_sql_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            result = conn.execute(text(sql))
            return int(result.scalar_one()) if result.returns_rows else 0
    finally:
        engine.dispose()


# --- one measured run ---------------------------------------------------------------------------


@dataclass
class Result:
    config: str
    database: str
    workers: int
    variant: str
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p99_ms: float
    rows: int
    server_cpu_us_per_request: float


def _load(url: str, requests: int) -> Any:
    expect = Expectation(status=(201,), json_fields={"title": NOTE["title"]})
    spec = RequestSpec(url, method="POST", body=json_body(NOTE), expect=expect)
    return run([spec], Closed(requests, CONCURRENCY))


def _measure_once(config: str, db_url: str, url: str, pid: int, requests: int) -> Result:
    _execute(db_url, "DELETE FROM notes")
    cpu_before_s = tree_cpu_s(pid)
    recording = _load(url, requests)
    cpu_s = tree_cpu_s(pid) - cpu_before_s
    total = recording.total()
    database, workers, variant = config.split("/")
    return Result(
        config=config,
        database=database,
        workers=int(workers.removesuffix("w")),
        variant=variant,
        requests=total.requests,
        failures=total.failure_count,
        rps=round(total.requests / recording.duration_s, 1),
        p50_ms=total.histogram.value_at_percentile(50) / 1000,
        p99_ms=total.histogram.value_at_percentile(99) / 1000,
        rows=_execute(db_url, "SELECT count(*) FROM notes"),
        server_cpu_us_per_request=round(1e6 * cpu_s / max(total.requests, 1), 1),
    )


def _median(runs: list[Result], requests: int) -> Result:
    """The median run by req/s, with every run's failures added up and a wrong row count from
    any run kept (so neither can hide in the median)."""
    median = sorted(runs, key=lambda r: r.rps)[len(runs) // 2]
    wrong_rows = [r.rows for r in runs if r.rows != requests]
    median.failures = sum(r.failures for r in runs)
    median.rows = wrong_rows[0] if wrong_rows else median.rows
    return median


@dataclass(frozen=True)
class Target:
    config: str  # "database/Nw/variant"
    url: str
    pid: int  # root of the server's process tree, for its CPU time


def _measure(targets: list[Target], db_url: str, requests: int) -> list[Result]:
    """Warm every target up, then REPEAT rounds that measure each target in turn.

    Rounds rather than one target's runs back to back: the box's speed drifts over minutes
    (neighbours, PostgreSQL's own work), and a ratio of two targets measured minutes apart
    carries that drift; measured in alternation, both see the same box.
    """
    for target in targets:
        _load(target.url, WARMUP_REQUESTS)
    runs: dict[str, list[Result]] = {target.config: [] for target in targets}
    for _ in range(REPEAT[0]):
        for target in targets:
            runs[target.config].append(
                _measure_once(target.config, db_url, target.url, target.pid, requests)
            )
    return [_median(runs[target.config], requests) for target in targets]


@contextlib.contextmanager
def _perflab(db_url: str, workers: int, data_dir: str, name: str) -> Iterator[list[Target]]:
    """`perflab serve --workers N` on `db_url`; its async and sync endpoints as targets.

    Ready once /healthz says 200, which it does only once the database answers.
    """
    args = ["--workers", str(workers), "--offload", "inline"]
    env = {"PERFLAB_DATABASE_URL": db_url, "PERFLAB_DATA_DIR": data_dir}
    log_path = Path(data_dir) / f"server-{name}-{workers}w.log"
    with perflab_serve(args, env, log_path) as server:
        yield [
            Target(f"{name}/{workers}w/async", server.url("/notes/"), server.pid),
            Target(f"{name}/{workers}w/sync", server.url("/notes/sync/"), server.pid),
        ]


@contextlib.contextmanager
def _ceiling(db_url: str, workers: int) -> Iterator[Target]:
    """The bare Starlette + raw asyncpg app under uvicorn with N workers, as a target."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", "notes:ceiling_app",
               "--app-dir", str(Path(__file__).parent), "--port", str(port),
               "--workers", str(workers), "--loop", "uvloop", "--http", "httptools",
               "--no-access-log", "--log-level", "warning"]  # fmt: skip
    env = {"NOTES_CEILING_DSN": db_url, "NOTES_CEILING_POOL": "10"}
    # The table must exist first: the perflab server started before it has created it.
    with _server(command, env, "/", port) as pid:
        yield Target(f"postgresql/{workers}w/ceiling", f"http://127.0.0.1:{port}/notes/", pid)


# --- the whole study ----------------------------------------------------------------------------


def run_study(pg_admin_url: str, requests: int) -> list[Result]:
    """Every configuration: PostgreSQL with the ceiling up beside perflab and measured in the
    same rounds, then SQLite."""
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="notes-bench-") as data_dir:
        with _postgres_database(pg_admin_url) as pg_url:
            for workers in (1, 2):
                with (
                    _perflab(pg_url, workers, data_dir, "postgresql") as targets,
                    _ceiling(pg_url, workers) as ceiling,  # after: perflab creates the table
                ):
                    results += _measure([*targets, ceiling], pg_url, requests)
        for workers in (1, 2):
            sqlite_url = f"sqlite:///{data_dir}/notes-{workers}w.db"
            with _perflab(sqlite_url, workers, data_dir, "sqlite") as targets:
                results += _measure(targets, sqlite_url, requests)
    return results


def _by(results: list[Result], config: str) -> Result:
    return next(r for r in results if r.config == config)


def goals(results: list[Result], requests: int) -> list[tuple[str, float, str, bool | None]]:
    """(name, measured, goal, met) for each goal of issue 5, PostgreSQL with 2 workers; `met`
    is None for lines printed as context, which are not goals of the issue."""
    a, s, c = (_by(results, f"postgresql/2w/{v}") for v in ("async", "sync", "ceiling"))
    cpu_ratio = c.server_cpu_us_per_request / a.server_cpu_us_per_request
    return [
        ("async req/s", a.rps, ">= 3000", a.rps >= 3000),
        ("async / raw-asyncpg ceiling", a.rps / c.rps, ">= 0.70", a.rps / c.rps >= 0.70),
        # The same ratio from server CPU per request: steadier on a box shared with the client,
        # PostgreSQL and anything else, and stricter: req/s also pays for the client's and
        # PostgreSQL's CPU on the same two cores, which is the same for both servers.
        ("  by server CPU per request", cpu_ratio, "(context)", None),
        ("sync / async", s.rps / a.rps, ">= 0.50", s.rps / a.rps >= 0.50),
        ("async / seed's own app (~600/s)", a.rps / 600, "(context)", None),
        (
            "failures, all runs",
            sum(r.failures for r in results),
            "== 0",
            all(r.failures == 0 for r in results),
        ),
        (
            "runs whose rows == requests",
            sum(r.rows == requests for r in results),
            f"== {len(results)}",
            all(r.rows == requests for r in results),
        ),
    ]


def print_report(results: list[Result], requests: int) -> None:
    header = (
        f"{'configuration':26} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'fail':>5} {'rows':>7} "
        f"{'server CPU us/req':>18}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.config:26} {r.rps:8.0f} {r.p50_ms:7.2f} {r.p99_ms:7.2f} {r.failures:5d} "
            f"{r.rows:7d} {r.server_cpu_us_per_request:18.0f}"
        )
    print("\nGoals (PostgreSQL, 2 workers):")
    for name, value, goal, met in goals(results, requests):
        shown = f"{value:.2f}" if isinstance(value, float) and value < 100 else f"{value:.0f}"
        verdict = "" if met is None else "met" if met else "MISSED"
        print(f"  {name:34} {shown:>8}  goal {goal:10} {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument(
        "--repeat", type=int, default=1, help="measured runs per configuration; median reported"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    REPEAT[0] = max(1, args.repeat)
    pg_admin_url = os.environ.get("PERFLAB_DATABASE_URL", DEFAULT_PG)
    started, load_before = time.time(), os.getloadavg()[0]
    results = run_study(pg_admin_url, args.requests)
    print(
        f"notes study: {args.requests} requests, concurrency {CONCURRENCY}, median of "
        f"{REPEAT[0]} run(s); {os.cpu_count()} cores, load average {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after\n"
    )
    print_report(results, args.requests)
    if args.json:
        document = {
            "started_at_unix_s": started,
            "requests": args.requests,
            "concurrency": CONCURRENCY,
            "repeat": REPEAT[0],
            "load_average_before": load_before,
            "results": [asdict(r) for r in results],
        }
        args.json.write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
