"""`create_app(settings)`: the FastAPI service, with everything it opens in its lifespan."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from perflab import __version__
from perflab.app import admission, observe, ops, threadpool
from perflab.app.body_limit import BodyLimitMiddleware
from perflab.app.classify.router import router as classify_router
from perflab.app.deps import Resources
from perflab.app.diag.router import make_router as make_diag_router
from perflab.app.error_handlers import install_error_handlers
from perflab.app.faceblur.router import router as faceblur_router
from perflab.app.fanout.clients import open_fanout_clients
from perflab.app.fanout.router import router as fanout_router
from perflab.app.health import HealthChecks
from perflab.app.middleware import ObserveMiddleware
from perflab.app.notes.resources import open_notes_resources
from perflab.app.notes.router import router as notes_router
from perflab.app.observe import LoopLagMonitor
from perflab.app.offload import make_offloader, sampler
from perflab.app.offload.base import run_warmups
from perflab.app.offload.queue import QueueOffloader
from perflab.app.payload.router import router as payload_router
from perflab.app.payload.spool import remove_stale_spool_files
from perflab.app.web.router import router as web_router
from perflab.config import OffloadKind, ServerKind, Settings

log = logging.getLogger("perflab.app")

# "module:function" references each offload worker process calls once at start: domains that
# keep per-process state (a detector, a model) add their warm-up here.
OFFLOAD_WARMUPS: tuple[str, ...] = (
    # domain warm-ups
    "perflab.app.faceblur.service:warm_up",
    "perflab.app.classify.service:warm_up",
)


# FastAPI's own OpenTelemetry instrumentation, all of it off (PERFLAB_OTEL=false, the default).
_NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}


def _tune_garbage_collector() -> None:
    """Fewer, cheaper collections in a server worker holding thousands of requests at once.

    With 5,000 requests in flight (seed 004 at 10,000 users) CPython's default thresholds ran
    full collections for 20 s of a 35 s run. A request there lives 5 s, so each of its objects
    outlives any young collection and is walked again at every one; CPython counts
    allocations net of frees *since the last collection* (frees below zero are lost), so under
    that churn a 10,000 threshold still fired ~1,000 young collections and ~85 middle ones per
    worker in 45 s: 6 s of CPU, pauses up to 0.5 s, 0.90-0.95 of the users/latency ceiling.
    At 50,000 the same run makes ~28 young collections (0.3 s of CPU, pauses under 65 ms) and
    reaches 0.99 (docs/overload.md). Garbage cycles wait longer, but they are few: those
    collections found almost nothing to free. `gc.freeze()` moves everything built at start-up
    (modules, the app, the model session) out of the collector's walks for good.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def create_app(settings: Settings) -> FastAPI:
    """Build the service for `settings`. Nothing is opened until the lifespan starts.

    Usage: `uvicorn.run(create_app(Settings(offload="thread")))`
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        async with AsyncExitStack() as stack:
            # Registered first, so it runs last: requests still finishing while the rest
            # closes are counted too.
            stack.callback(observe.publish_requests)
            offloader = make_offloader(settings, OFFLOAD_WARMUPS)
            await offloader.start()
            if offloader.kind in (OffloadKind.INLINE, OffloadKind.THREAD):
                # These run kernels in this process: warm it like a worker, so the kernels see
                # the settings (limits, model directory) and the first request pays nothing.
                run_warmups(OFFLOAD_WARMUPS, settings)
            stack.push_async_callback(offloader.close)

            health = HealthChecks(settings.health_interval_s)
            if isinstance(offloader, QueueOffloader):
                # Not ready while Redis is unreachable: requests get 503 at once meanwhile.
                health.add("queue", offloader.ready)
            samplers = [observe.sample_threadpool, sampler(offloader), observe.publish_requests]
            monitor = LoopLagMonitor(settings.loop_lag_interval_s, samplers)
            resources = Resources(settings, offloader, health, monitor)
            resources.admissions["offload"] = offloader.admission
            resources.admissions["threadpool"] = threadpool.threadpool_admission(settings)
            samplers.append(admission.sampler(resources.admissions.values))
            resources.extras["fanout"] = fanout = await stack.enter_async_context(
                open_fanout_clients(settings, health)
            )
            resources.admissions.update(fanout.admissions)
            # domain resources
            remove_stale_spool_files()  # bodies a killed server left in /dev/shm
            resources.extras["notes"] = await stack.enter_async_context(
                open_notes_resources(settings, health)
            )

            monitor.start()
            stack.push_async_callback(monitor.stop)
            await health.start()
            stack.push_async_callback(health.stop)
            stack.callback(observe.mark_worker_dead)

            app.state.resources = resources
            _tune_garbage_collector()
            log.info("perflab ready: offload=%s", offloader.stats().as_dict())
            yield

    app = FastAPI(
        title="perflab",
        version=__version__,
        summary="Every endpoint of the five seed studies, done right, with the offload strategy "
        "chosen by configuration.",
        lifespan=lifespan,
        telemetry=None if settings.otel else _NO_TELEMETRY,
    )
    install_error_handlers(app)
    # FastAPI matches routes in order, and in this version every candidate it tries costs a few
    # microseconds of scope bookkeeping (measured: a trivial route answered in 140 us at the
    # front of this table, 250 us at its end). So the request-per-second-bound endpoints come
    # first, then health probes, then CPU-bound and slow ones, where microseconds do not show.
    app.include_router(notes_router)
    app.include_router(ops.router)
    # Fanout next: seed 004 at 10,000 users is request-rate bound too (route matching showed
    # in its profile); the CPU-bound endpoints after it never notice a few microseconds.
    app.include_router(fanout_router)
    app.include_router(payload_router)
    app.include_router(faceblur_router)
    app.include_router(classify_router)
    app.include_router(make_diag_router(settings.diag_max_work_ms))
    app.include_router(web_router)
    # domain routers
    # Added last = outermost: ids and metrics see every answer, including 413s.
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        # nginx's order (answer, then drain) lets curl stop uploading at once; granian stops
        # reading a request once its answer is complete, so there the last byte waits.
        answer_before_drain=settings.server is ServerKind.UVICORN,
    )
    app.add_middleware(ObserveMiddleware)
    return app


def create_app_from_env() -> FastAPI:
    """App factory for server worker processes: the CLI passed the settings as PERFLAB_* vars."""
    return create_app(Settings())
