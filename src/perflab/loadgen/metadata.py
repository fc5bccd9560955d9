"""Machine metadata stored with every recording: results are data (house rule 7).

Usage: ``machine_metadata()  # -> {"cpu": "...", "cores": 2, "python": "3.11.7", ...}``
"""

from __future__ import annotations

import os
import platform
import socket
import sys
from functools import cache
from importlib import metadata
from typing import Any

_PACKAGES = ("perflab", "httptools", "uvloop", "hdrhistogram", "numpy", "orjson", "aiohttp")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions(names: tuple[str, ...]) -> dict[str, str | None]:
    """Installed versions, None where missing. Usage: ``package_versions(("numpy",))``"""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


@cache
def machine_metadata() -> dict[str, Any]:
    """CPU, cores, OS, Python and package versions. Usage: ``machine_metadata()["cores"]``"""
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return {
        "hostname": socket.gethostname(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(affinity) if affinity is not None else os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "packages": package_versions(_PACKAGES),
    }
