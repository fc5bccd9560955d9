"""Whether the services a cell needs (PostgreSQL, Redis) can be reached, and the server it
runs on (a runner of the server matrix) is installed, and why not.

Services are checked once per run with a short TCP connect, at the URLs the servers will be
given: ``PERFLAB_DATABASE_URL`` and ``PERFLAB_REDIS_URL`` (defaults on 127.0.0.1, as in the
tests). A runner need reads ``runner:NAME:INTERFACE`` (``@PYTHON`` when the study names the
interpreter): `perflab.bench.runners` says whether it is installed there.

Usage::

    problem = missing_service(("redis",))   # None, or "Redis not reachable at ...: ..."
    missing_service(("runner:gunicorn:asgi",))   # None, or "gunicorn is not installed (...)"
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterable
from functools import cache
from urllib.parse import urlsplit

from perflab.bench.faults.private_services import missing_private_service
from perflab.bench.runners import has_module, runner_problem

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
CONNECT_TIMEOUT_S = 1.0


def postgres_url() -> str:
    """The PostgreSQL URL postgres cells use. Usage: ``postgres_url()``"""
    url = os.environ.get("PERFLAB_DATABASE_URL", "")
    return url if url.startswith("postgres") else DEFAULT_DATABASE_URL


def redis_url() -> str:
    """The Redis URL queue cells use. Usage: ``redis_url()``"""
    return os.environ.get("PERFLAB_REDIS_URL") or DEFAULT_REDIS_URL


@cache
def _unreachable(host: str, port: int) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            return None
    except OSError as exc:
        return str(exc) or type(exc).__name__


def _problem(label: str, url: str, default_port: int) -> str | None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    error = _unreachable(host, port)
    if error is None:
        return None
    return f"{label} not reachable at {host}:{port} ({error}); set {_env_name(label)}"


def _env_name(label: str) -> str:
    return "PERFLAB_DATABASE_URL" if label == "PostgreSQL" else "PERFLAB_REDIS_URL"


def missing_service(needs: Iterable[str]) -> str | None:
    """Why a cell needing `needs` cannot run here, or None. Usage: see module."""
    for service in needs:
        if service == "postgres":
            problem = _problem("PostgreSQL", postgres_url(), 5432)
        elif service == "redis":
            problem = _problem("Redis", redis_url(), 6379)
        elif service.startswith("private:"):
            problem = missing_private_service(service.removeprefix("private:"))
        elif service.startswith("runner:"):
            need, _, python = service.removeprefix("runner:").partition("@")
            runner, _, interface = need.partition(":")
            problem = runner_problem(runner, interface or "asgi", python or sys.executable)
        else:
            problem = f"unknown service {service!r}"
        if problem:
            return problem
    return None


def forget() -> None:
    """Check again on the next call (tests change the URLs). Usage: ``forget()``"""
    _unreachable.cache_clear()
    has_module.cache_clear()
