"""Process limits that decide how many connections one perflab process can hold.

Every connection is a file descriptor. Most systems start a process with a soft limit of
1,024 open files (systemd's default, kept for `select()`-era programs) under a much higher
hard limit (524,288 or more): seed 004's 500 users already need 1,500 downstream
connections, and `perflab load` with 10,000 users needs 10,000 sockets. A process may raise
its own soft limit up to the hard limit without privileges, as Go's runtime has done at
start-up since 1.19; `perflab serve`, `perflab downstream` and `perflab load` do so first
thing (server workers and generator processes inherit it).

`listen_backlog()` is the accept-queue length to ask of `listen()`: the kernel silently caps
the request at `net.core.somaxconn`, so asking for that is asking for the most there is.

Usage:
    raise_open_files_limit()     # returns the soft limit now in force
"""

from __future__ import annotations

import logging
import resource  # POSIX only, as uvloop already is
import socket
from pathlib import Path

log = logging.getLogger("perflab.limits")

# macOS refuses a soft limit above OPEN_MAX (10,240) even when the hard limit says unlimited.
_MACOS_OPEN_MAX = 10_240
_SOMAXCONN_PATH = Path("/proc/sys/net/core/somaxconn")


def open_files_limit() -> int | None:
    """The soft limit on open files (None: unlimited)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def raise_open_files_limit() -> int | None:
    """Raise this process's soft open-files limit to its hard limit; return the new soft limit.

    Never lowers it, never fails: where the system refuses, the limit stays as it was.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or (hard != resource.RLIM_INFINITY and soft >= hard):
        return open_files_limit()
    for target in (hard, _MACOS_OPEN_MAX):
        if target != resource.RLIM_INFINITY and target <= soft:
            continue
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            continue
        break
    else:
        log.warning("could not raise the open-files limit above %d", soft)
    return open_files_limit()


def cap_open_files_limit(limit: int) -> int | None:
    """Lower this process's soft open-files limit to `limit` (never raise it); the new limit.

    Usage: `cap_open_files_limit(settings.open_files_limit)` before the server starts.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or limit < soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    return open_files_limit()


def listen_backlog() -> int:
    """The longest accept queue the kernel grants (`net.core.somaxconn`, else Python's guess)."""
    try:
        return int(_SOMAXCONN_PATH.read_text())
    except (OSError, ValueError):
        return socket.SOMAXCONN
