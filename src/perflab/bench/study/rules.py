"""What a study file may say, and how overrides merge: the rules `study.py` applies.

A study file has metadata at the top, a ``[base]`` table, ``[[cell]]`` tables that override the
base, ``[profile.NAME]`` tables that override both (and pick cells), and ``[[reference]]`` rows.
Overrides merge deeply: tables key by key, and lists of named tables (``[[request]]``,
``[[stream]]``) name by name, so a cell can change one request's path without restating it.

Usage: ``merged = merge(base, cell_overrides); check_keys(table, SETTING_KEYS, "cell x")``
"""

from __future__ import annotations

from typing import Any

from perflab.results.errors import StudyError

TOP_KEYS = {
    "title",
    "seed",
    "question",
    "slo_p99_ms",
    "needs",
    "main_request",
    "base_url",  # a user's own service: no perflab server is started
    "pid",  # optional: that service's process, for CPU and memory signals
    "base",
    "cell",
    "profile",
    "reference",
    "goal",  # [[goal]]: a ratio between two cells' metrics (or one metric) with a threshold
}
# Keys of [base], of a [[cell]] and of a [profile.X]: what a cell's run is made of.
SETTING_KEYS = {
    "server",  # `perflab serve` options
    "env",  # PERFLAB_* variables for the server (and workers)
    "database",  # "sqlite" (a fresh file per cell) | "postgres" (PERFLAB_DATABASE_URL)
    "vars",  # substituted into request paths: "{name}"
    "load",  # one stream's load model and its parameters
    "stream",  # or several streams, side by side in separate processes
    "request",  # loadgen scenario request tables (+ body = { generator = "..." })
    "warmup_s",
    "timeout_s",
    "keepalive",
    "queue_workers",  # `perflab worker` processes started beside the server (offload=queue)
    "downstream_service",  # start `perflab downstream` and point the server at it
    "downstream_latency_s",
    "needs",  # extra services the cell needs: postgres, redis
    "knee",  # knobs of --find-knee (knee.py): start/max rate, window, settle, steps
}
CELL_KEYS = SETTING_KEYS | {"name", "label", "role"}
PROFILE_KEYS = SETTING_KEYS | {"cells", "cell", "slo_p99_ms"}
PROFILE_CELL_KEYS = SETTING_KEYS | {"label"}
SERVER_KEYS = {"workers", "server", "offload", "threads", "downstream"}
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
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    if _named(base) and _named(override):
        by_name = {item["name"]: item for item in base}
        for item in override:
            by_name[item["name"]] = merge(by_name.get(item["name"], {}), item)
        return list(by_name.values())
    return override


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
    check_keys(settings.get("server", {}), SERVER_KEYS, f"{where}: [server]")
    check_keys(settings.get("knee", {}), KNEE_KEYS, f"{where}: knee")
    for key in ("env", "vars"):
        table = check_keys(settings.get(key, {}), set(settings.get(key, {})), f"{where}: [{key}]")
        for name, value in table.items():
            if not isinstance(value, str | int | float | bool):
                raise StudyError(f"{where}: [{key}] {name} must be a string or number")
    bad_env = sorted(k for k in settings.get("env", {}) if not k.startswith("PERFLAB_"))
    if bad_env:
        raise StudyError(f"{where}: [env] holds PERFLAB_* settings only, not {bad_env}")
    database = settings.get("database")
    if database is not None and database not in DATABASES:
        raise StudyError(f"{where}: database must be one of {list(DATABASES)}, got {database!r}")
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
