"""A study's own server: the ``[server]`` table that names a command or an app, checked when
the study loads and turned into a command line when its cell starts.

::

    [base.server]
    command = "uvicorn shop:app --host {host} --port {port} --workers {workers}"
    cwd = "."                      # relative to the study file (default: its folder)
    env = { DATABASE_URL = "sqlite:///shop.db" }   # any variables
    ready = "/openapi.json"        # polled until it answers 2xx (default "/")
    ready_timeout_s = 60.0
    stop_grace_s = 10.0            # SIGTERM, then SIGKILL after this long
    workers = 1

    # or the server matrix (`perflab.bench.runners`) builds the command:
    server = { app = "shop:app", runner = "gunicorn", workers = 2, interface = "asgi" }

A ``[server]`` table with ``command`` or ``app`` is a foreign server; without them it holds
`perflab serve` options (workers, offload, ...). Placeholders, in the command, ``args`` and
``env`` values: ``{port}``, ``{host}``, ``{workers}``, ``{python}`` (the interpreter: perflab's
own, or the table's ``python``) and the cell's ``vars``. A command that does not parse (shell
quoting), lacks ``{port}``, uses an unknown placeholder or names a program that is not there is
a StudyError when the study loads, before anything starts.

Usage::

    check_server(server, variables, base_dir, "cell x")            # at load time
    command = server_command(server, variables, base_dir, port=8123)
    launch_server(command.argv, port=8123, env=command.env, cwd=command.cwd, ...)
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perflab.bench.runners import check_runner, runner_argv
from perflab.results.errors import StudyError

HOST = "127.0.0.1"
SERVER_PLACEHOLDERS = ("port", "host", "workers", "python")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def is_foreign(server: Mapping[str, Any] | None) -> bool:
    """Whether a [server] table starts a command or an app (not `perflab serve`).

    Usage: ``is_foreign({"command": "uvicorn app:app --port {port}"})  # True``
    """
    return server is not None and ("command" in server or "app" in server)


@dataclass(frozen=True)
class ServerCommand:
    """What to start for one cell. Usage: ``server_command(server, {}, Path("."), port=8123)``"""

    argv: list[str]
    cwd: Path
    env: dict[str, str]
    ready_path: str
    ready_timeout_s: float
    stop_grace_s: float
    label: str  # the command line as a person would type it (for messages)


def _fill(text: str, values: Mapping[str, Any], where: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            known = ", ".join(f"{{{n}}}" for n in values)
            raise StudyError(f"{where}: unknown placeholder {{{name}}}; known: {known}")
        return str(values[name])

    return _PLACEHOLDER.sub(value, text)


def _python(server: Mapping[str, Any], base_dir: Path, where: str) -> str:
    python = server.get("python")
    if python is None:
        return sys.executable
    found = _program(str(python), base_dir, {}, f"{where}: python")
    return found


def _program(program: str, cwd: Path, env: Mapping[str, str], where: str) -> str:
    """`program` as an absolute path: a path (relative to `cwd`), a name on PATH, or a script
    installed beside perflab's interpreter (a venv's bin, also when it is not on PATH)."""
    if "/" in program:
        # Not resolved: a venv's python is a symlink, and only its own path finds the venv.
        path = Path(os.path.abspath(cwd / program))
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        raise StudyError(f"{where}: program {program} not found (or not executable) in {cwd}")
    found = shutil.which(program, path=env.get("PATH", os.environ.get("PATH")))
    found = found or shutil.which(program, path=str(Path(sys.executable).parent))
    if found is None:
        raise StudyError(f"{where}: program {program!r} not found on PATH")
    return found


def _workers(server: Mapping[str, Any], where: str) -> int:
    workers = server.get("workers", 1)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise StudyError(f"{where}: workers must be a whole number >= 1, got {workers!r}")
    return workers


def _cwd(server: Mapping[str, Any], base_dir: Path, where: str) -> Path:
    cwd = (base_dir / str(server.get("cwd", "."))).resolve()
    if not cwd.is_dir():
        raise StudyError(f"{where}: cwd {cwd} is not a folder")
    return cwd


def server_command(
    server: Mapping[str, Any],
    variables: Mapping[str, Any],
    base_dir: Path,
    *,
    port: int,
    host: str = HOST,
    where: str = "[server]",
    extra_env: Mapping[str, Any] | None = None,
) -> ServerCommand:
    """The command line, folder and environment that run `server` on `port`; StudyError when
    it cannot be built (see module). `extra_env`: the cell's [env] table, under the server's.

    Usage: ``server_command({"app": "shop:app", "runner": "granian"}, {}, Path("."), port=81)``
    """
    if "command" in server and "app" in server:
        raise StudyError(f"{where}: give `command` or `app` (with `runner`), not both")
    python = _python(server, base_dir, where)
    workers = _workers(server, where)
    cwd = _cwd(server, base_dir, where)
    values = {**variables, "port": port, "host": host, "workers": workers, "python": python}
    env_table = {**(extra_env or {}), **dict(server.get("env", {}))}
    env = {str(k): _fill(str(v), values, f"{where} env {k}") for k, v in env_table.items()}
    args = server.get("args", [])
    if not isinstance(args, list):
        raise StudyError(f"{where}: args is a list of strings")
    extra = [_fill(str(arg), values, f"{where} args") for arg in args]
    if "command" in server:
        try:
            words = shlex.split(str(server["command"]))
        except ValueError as exc:
            command = server["command"]
            raise StudyError(f"{where}: command {command!r} does not parse: {exc}") from None
        if not words:
            raise StudyError(f"{where}: command is empty")
        if not any("{port}" in word for word in words):
            raise StudyError(f"{where}: command must bind the cell's port: put {{port}} in it")
        argv = [_fill(word, values, f"{where} command") for word in words] + extra
        argv[0] = _program(argv[0], cwd, env, f"{where} command")
    else:
        runner = str(server.get("runner", "uvicorn"))
        interface = str(server.get("interface", "asgi"))
        check_runner(runner, interface, where)
        app = str(server["app"])
        if ":" not in app or not all(app.partition(":")[::2]):
            raise StudyError(f"{where}: app is 'module:attribute', e.g. 'shop:app', got {app!r}")
        argv = runner_argv(
            runner, interface, app, python=python, host=host, port=port, workers=workers
        )
        argv += extra
    ready = str(server.get("ready", "/"))
    if not ready.startswith("/"):
        raise StudyError(f"{where}: ready is a path starting with '/', got {ready!r}")
    return ServerCommand(
        argv=argv,
        cwd=cwd,
        env=env,
        ready_path=ready,
        ready_timeout_s=float(server.get("ready_timeout_s", 60.0)),
        stop_grace_s=float(server.get("stop_grace_s", 10.0)),
        label=shlex.join([("python" if a == python else a) for a in argv]),
    )


def check_server(
    server: Mapping[str, Any],
    variables: Mapping[str, Any],
    base_dir: Path,
    where: str,
    extra_env: Mapping[str, Any] | None = None,
) -> None:
    """StudyError for a [server] table that cannot start (see module); nothing is started.

    Usage: ``check_server(plan.server, plan.settings.get("vars", {}), study_dir, "cell x")``
    """
    server_command(server, variables, base_dir, port=0, where=where, extra_env=extra_env)


def command_template(
    server: Mapping[str, Any], variables: Mapping[str, Any], base_dir: Path
) -> str:
    """The command line with ``{port}`` left as it is, for the results file and listings.

    Usage: ``command_template(plan.server, plan.settings.get("vars", {}), plan.base_dir)``
    """
    marker = 65535  # a port no cell gets from free_port on this machine's ephemeral range
    label = server_command(server, variables, base_dir, port=marker).label
    return label.replace(str(marker), "{port}")
