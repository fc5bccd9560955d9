"""The server matrix: the command line that runs an app on each server, and whether that server
is installed.

``server = { app = "shop:app", runner = "gunicorn", workers = 2 }`` in a study becomes, bound to
the cell's host and port (``PY`` is the interpreter: perflab's own, or the table's ``python``)::

    uvicorn    PY -m uvicorn APP --host H --port P --workers N --no-access-log
    gunicorn   PY -m gunicorn APP --bind H:P --workers N --worker-class uvicorn_worker.UvicornWorker
               (interface = "wsgi": gunicorn's own sync workers, no --worker-class)
    granian    PY -m granian --interface asgi|wsgi --host H --port P --workers N APP
    hypercorn  PY -m hypercorn --bind H:P --workers N APP
    fastapi    PY -m fastapi run --entrypoint APP --host H --port P --workers N

Why these choices: uvicorn alone logs every request by default and the others do not, so its
access log is turned off to compare like with like (``fastapi run`` has no such switch and
keeps uvicorn's log). gunicorn runs an ASGI app through uvicorn's worker class, which now lives
in the ``uvicorn-worker`` package (``uvicorn.workers`` is deprecated); the old home is used
only where the new one is not installed. Every runner is started as ``PY -m NAME``, so it is
the one installed beside the app, whatever PATH says.

A runner (or the worker class gunicorn needs) that is not installed for that interpreter is a
reason to skip the cell, like a missing PostgreSQL: `runner_problem` says which and what to
install.

Usage::

    runner_argv("granian", "asgi", "shop:app", python="/usr/bin/python3", host="127.0.0.1",
                port=8123, workers=2)
    runner_problem("gunicorn", "asgi", sys.executable)   # None, or "gunicorn is not installed..."
"""

from __future__ import annotations

import functools
import importlib.util
import subprocess
import sys

from perflab.results.errors import StudyError

RUNNERS = ("uvicorn", "gunicorn", "granian", "hypercorn", "fastapi")
INTERFACES = ("asgi", "wsgi")
WSGI_RUNNERS = ("gunicorn", "granian")
# runner -> (module that must import, the package that installs it)
_MODULES = {
    "uvicorn": ("uvicorn", "uvicorn"),
    "gunicorn": ("gunicorn", "gunicorn"),
    "granian": ("granian", "granian"),
    "hypercorn": ("hypercorn", "hypercorn"),
    "fastapi": ("fastapi_cli", "fastapi-cli"),  # `python -m fastapi run` needs it
}
UVICORN_WORKERS = ("uvicorn_worker.UvicornWorker", "uvicorn.workers.UvicornWorker")


def check_runner(runner: str, interface: str, where: str) -> None:
    """StudyError for an unknown runner or interface, or a pair no server serves.

    Usage: ``check_runner("uvicorn", "wsgi", "cell x")  # StudyError: uvicorn serves ASGI``
    """
    if runner not in RUNNERS:
        raise StudyError(f"{where}: runner must be one of {list(RUNNERS)}, got {runner!r}")
    if interface not in INTERFACES:
        raise StudyError(f"{where}: interface must be one of {list(INTERFACES)}, got {interface!r}")
    if interface == "wsgi" and runner not in WSGI_RUNNERS:
        raise StudyError(
            f"{where}: runner {runner} serves ASGI apps; a WSGI app (Flask, Django) runs on "
            f"{' or '.join(WSGI_RUNNERS)}"
        )


@functools.cache
def has_module(python: str, module: str) -> bool:
    """Whether `module` imports for interpreter `python` (found, not imported: no side effects).

    Usage: ``has_module(sys.executable, "gunicorn")``
    """
    if python == sys.executable:
        try:
            return importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # a parent package is missing
            return False
    probe = (
        "import importlib.util, sys\n"
        "try: found = importlib.util.find_spec(sys.argv[1]) is not None\n"
        "except ModuleNotFoundError: found = False\n"
        "sys.exit(0 if found else 1)"
    )
    try:
        completed = subprocess.run([python, "-c", probe, module], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return completed.returncode == 0


def uvicorn_worker_class(python: str) -> str | None:
    """gunicorn's ASGI worker class installed for `python`, the current home first."""
    for worker_class in UVICORN_WORKERS:
        if has_module(python, worker_class.rsplit(".", 1)[0]):
            return worker_class
    return None


def runner_problem(runner: str, interface: str, python: str) -> str | None:
    """Why `runner` cannot serve an `interface` app for `python`, or None. Usage: see module."""
    module, package = _MODULES[runner]
    where = "" if python == sys.executable else f" for {python}"
    if not has_module(python, module):
        return f"{runner} is not installed{where} (pip install {package})"
    if runner == "gunicorn" and interface == "asgi" and uvicorn_worker_class(python) is None:
        return (
            f"gunicorn needs uvicorn's worker class for an ASGI app{where} "
            "(pip install uvicorn-worker)"
        )
    return None


def runner_argv(
    runner: str, interface: str, app: str, *, python: str, host: str, port: int, workers: int
) -> list[str]:
    """The command line that serves `app` with `runner`. Usage: see module."""
    bind = ["--host", host, "--port", str(port)]
    count = ["--workers", str(workers)]
    if runner == "uvicorn":
        return [python, "-m", "uvicorn", app, *bind, *count, "--no-access-log"]
    if runner == "gunicorn":
        argv = [python, "-m", "gunicorn", app, "--bind", f"{host}:{port}", *count]
        if interface == "asgi":
            argv += ["--worker-class", uvicorn_worker_class(python) or UVICORN_WORKERS[0]]
        return argv
    if runner == "granian":
        return [python, "-m", "granian", "--interface", interface, *bind, *count, app]
    if runner == "hypercorn":
        return [python, "-m", "hypercorn", "--bind", f"{host}:{port}", *count, app]
    return [python, "-m", "fastapi", "run", "--entrypoint", app, *bind, *count]
