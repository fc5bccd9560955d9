"""What a study file may say, and how overrides merge: the rules `study.py` applies.

A study file has metadata at the top, a ``[base]`` table, ``[[cell]]`` tables that override the
base, ``[profile.NAME]`` tables that override both (and pick cells), and ``[[reference]]`` rows.
Overrides merge deeply: tables key by key, and lists of named tables (``[[request]]``,
``[[stream]]``, ``[[on_start]]``, ``[[flow]]``) name by name, so a cell can change one
request's path without restating it. A ``server`` table that names another ``command`` drops
the ``app``/``runner`` it overrides, and the other way round.

A ``[server]`` table with ``command`` or ``app`` is a foreign server (`FOREIGN_SERVER_KEYS`,
`perflab.bench.server_command`): any environment variables, no perflab-only settings.

Usage: ``merged = merge(base, cell_overrides); check_keys(table, SETTING_KEYS, "cell x")``
"""

from __future__ import annotations

from typing import Any

from perflab.bench.faults.reconcile import ReconcileRule
from perflab.bench.faults.spec import parse_faults
from perflab.bench.placement import PLACEMENT_SETTINGS
from perflab.results.errors import StudyError

TOP_KEYS = {
    "title",
    "seed",
    "question",
    "slo_p99_ms",
    "needs",
    "main_request",
    "base_url",  # a user's own running service: nothing is started
    "pid",  # optional: that service's process, for CPU and memory signals
    "base",
    "cell",
    "profile",
    "reference",
    "goal",  # [[goal]]: a ratio between two cells' metrics (or one metric) with a threshold
}
# Keys of [base], of a [[cell]] and of a [profile.X]: what a cell's run is made of.
SETTING_KEYS = {
    "server",  # `perflab serve` options, or a foreign server (command / app + runner)
    "env",  # PERFLAB_* variables for perflab's server (and workers); any for a foreign one
    "database",  # "sqlite" (a fresh file per cell) | "postgres" (PERFLAB_DATABASE_URL)
    "vars",  # substituted into request paths: "{name}"
    "load",  # one stream's load model and its parameters
    "stream",  # or several streams, side by side in separate processes
    "request",  # loadgen scenario request tables (+ body = { generator = "..." })
    "on_start",  # requests each user runs once, first (a login); scenario syntax
    "flow",  # [[flow]]: name, weight, steps (request names run in order, captures passed on)
    "warmup_s",
    "timeout_s",
    "keepalive",
    "queue_workers",  # `perflab worker` processes started beside the server (offload=queue)
    "downstream_service",  # start `perflab downstream` and point the server at it
    "downstream_latency_s",
    "needs",  # extra services the cell needs: postgres, redis
    "knee",  # knobs of --find-knee (knee.py): start/max rate, window, settle, steps
    "fault",  # [[fault]]: what breaks when in the measured window (bench/faults.py)
    "reconcile",  # after the load: acknowledged writes against the rows (bench/reconcile.py)
    "placement",  # "split": the service on its own CPU, the load on the others (placement.py)
}
CELL_KEYS = SETTING_KEYS | {"name", "label", "role"}
# `repeat`: runs per cell when `perflab bench` is given no --repeat (a goal between two noisy
# cells needs interleaved repeats to be read the same way twice).
PROFILE_KEYS = SETTING_KEYS | {"cells", "cell", "slo_p99_ms", "repeat"}
PROFILE_CELL_KEYS = SETTING_KEYS | {"label"}
SERVER_KEYS = {"workers", "server", "offload", "threads", "downstream"}
FOREIGN_SERVER_KEYS = {
    "command",  # a shell-style command line with {port} (and {host}, {workers}, {vars})
    "app",  # or "module:attr", started by `runner` (perflab.bench.runners)
    "runner",  # uvicorn (default) | gunicorn | granian | hypercorn | fastapi
    "interface",  # asgi (default) | wsgi
    "workers",
    "python",  # the interpreter that runs `runner` (default: perflab's own)
    "args",  # extra arguments appended to the command line
    "cwd",  # relative to the study file
    "env",  # any variables
    "ready",  # the path polled until it answers 2xx (default "/")
    "ready_timeout_s",
    "stop_grace_s",  # SIGTERM, then SIGKILL after this long
}
_COMMAND_KEYS = {"command"}
_APP_KEYS = {"app", "runner", "interface"}
PERFLAB_ONLY = ("database", "queue_workers", "downstream_service", "downstream_latency_s")
REFERENCE_KEYS = {
    "cell",
    "request",  # the request name the figures are for (seed 003: small vs large), or absent
    "label",
    "requests_per_s",
    "p50_ms",
    "p99_ms",
    "mean_ms",
    "failure_pct",
    "machine",
    "source",
}
ROLES = ("naive", "right", "variant")
SERVICES = ("postgres", "redis")
DATABASES = ("sqlite", "postgres")
LOAD_KEYS = {
    "closed": {"requests", "connections"},
    "users": {"users", "spawn_rate_per_s", "duration_s", "think_s"},
    "open": {"rate_per_s", "duration_s", "connections", "late_after_ms"},
}
COMMON_LOAD_KEYS = {"model", "processes"}
STREAM_KEYS = {"name", "requests", "timeout_s"}  # plus the load keys of its model
KNEE_KEYS = {  # knee.py's KneeOptions
    "start_rate_per_s",
    "max_rate_per_s",
    "window_s",
    "settle_s",
    "bisect_steps",
    "connections",
}


def check_keys(table: Any, allowed: set[str], where: str) -> dict[str, Any]:
    """The table itself, or StudyError naming unknown keys. Usage: ``check_keys(t, KEYS, "x")``"""
    if not isinstance(table, dict):
        raise StudyError(f"{where}: expected a table, got {type(table).__name__}")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise StudyError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    return table


def _named(items: Any) -> bool:
    return isinstance(items, list) and all(isinstance(i, dict) and "name" in i for i in items)


def merge(base: Any, override: Any) -> Any:
    """`override` on top of `base`: tables deeply, lists of named tables by name, else replace.

    Usage: ``merge({"load": {"requests": 10}}, {"load": {"connections": 2}})``
    """
    if isinstance(base, dict) and isinstance(override, dict):
        if "model" in override and override.get("model") != base.get("model"):
            return dict(override)  # another load model: the old parameters mean nothing
        merged = dict(base)
        for key, value in override.items():
            if key == "server" and isinstance(value, dict) and isinstance(base.get(key), dict):
                merged[key] = merge(_server_base(base[key], value), value)
            else:
                merged[key] = merge(base[key], value) if key in base else value
        return merged
    if _named(base) and _named(override):
        by_name = {item["name"]: item for item in base}
        for item in override:
            by_name[item["name"]] = merge(by_name.get(item["name"], {}), item)
        return list(by_name.values())
    return override


def _server_base(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """The base server table without what `override` replaces: a command replaces an app and
    its runner, an app or runner replaces a command."""
    if _COMMAND_KEYS & set(override):
        return {k: v for k, v in base.items() if k not in _APP_KEYS}
    if _APP_KEYS & set(override):
        return {k: v for k, v in base.items() if k not in _COMMAND_KEYS}
    return base


def is_foreign_server(server: Any) -> bool:
    """A [server] table that names a command or an app. Usage: ``is_foreign_server(t)``"""
    return isinstance(server, dict) and ("command" in server or "app" in server)


def check_load(load: Any, where: str, extra: set[str] | None = None) -> dict[str, Any]:
    """Validate a load table (model and its keys). Usage: ``check_load(table, "[load]")``"""
    if not isinstance(load, dict):
        raise StudyError(f"{where}: expected a table, got {type(load).__name__}")
    model = load.get("model")
    if model not in LOAD_KEYS:
        raise StudyError(f"{where}: model must be one of {sorted(LOAD_KEYS)}, got {model!r}")
    return check_keys(load, LOAD_KEYS[model] | COMMON_LOAD_KEYS | (extra or set()), where)


def check_settings(settings: dict[str, Any], where: str) -> None:
    """Validate the merged settings of one cell. Usage: ``check_settings(resolved, "cell x")``"""
    server = settings.get("server", {})
    foreign = is_foreign_server(server)
    check_keys(server, FOREIGN_SERVER_KEYS if foreign else SERVER_KEYS, f"{where}: [server]")
    check_keys(settings.get("knee", {}), KNEE_KEYS, f"{where}: knee")
    parse_faults(settings.get("fault", []), where)
    if "reconcile" in settings:
        ReconcileRule.parse(settings["reconcile"], where)
    if foreign:
        check_keys(server.get("env", {}), set(server.get("env", {})), f"{where}: [server] env")
        given = [key for key in PERFLAB_ONLY if key in settings]
        if given:
            raise StudyError(
                f"{where}: {given} are settings of perflab's own service, not of "
                "a server command; give the server what it needs in [server] env"
            )
    for key in ("env", "vars"):
        table = check_keys(settings.get(key, {}), set(settings.get(key, {})), f"{where}: [{key}]")
        for name, value in table.items():
            if not isinstance(value, str | int | float | bool):
                raise StudyError(f"{where}: [{key}] {name} must be a string or number")
    bad_env = sorted(k for k in settings.get("env", {}) if not k.startswith("PERFLAB_"))
    if bad_env and not foreign:
        raise StudyError(
            f"{where}: [env] holds PERFLAB_* settings only, not {bad_env} (a server command's "
            "environment takes any variables)"
        )
    database = settings.get("database")
    if database is not None and database not in DATABASES:
        raise StudyError(f"{where}: database must be one of {list(DATABASES)}, got {database!r}")
    placement = settings.get("placement")
    if placement is not None and placement not in PLACEMENT_SETTINGS:
        raise StudyError(
            f"{where}: placement must be one of {list(PLACEMENT_SETTINGS)}, got {placement!r}"
        )
    for service in settings.get("needs", []):
        if service not in SERVICES:
            raise StudyError(f"{where}: needs {service!r}; known services: {list(SERVICES)}")
    has_load, has_streams = "load" in settings, bool(settings.get("stream"))
    if has_load == has_streams:
        raise StudyError(f"{where}: give either [load] or [[stream]] tables (one of them)")
    if has_load:
        check_load(settings["load"], f"{where}: [load]")
    for index, stream in enumerate(settings.get("stream", [])):
        check_load(stream, f"{where}: stream #{index + 1}", STREAM_KEYS)
    if not settings.get("request"):
        raise StudyError(f"{where}: needs at least one [[request]] table")
    for key in ("on_start", "flow"):
        tables = settings.get(key, [])
        if not isinstance(tables, list) or not all(isinstance(t, dict) and "name" in t
                                                   for t in tables):  # fmt: skip
            raise StudyError(f"{where}: [[{key}]] tables each need a `name`")
