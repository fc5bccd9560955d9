"""Process trees and process groups: what a started server is made of, what it holds, and how
to end all of it (`perflab.bench.launcher` starts; this module looks and kills).

A server the lab starts leads its own process group (``start_new_session=True``): its
workers, pools and helpers share the group, so one ``killpg`` reaches them. A helper that
made a session of its own leaves the group but stays a descendant, so a stop also remembers
the tree it saw before signalling and ends what is left of it.

Usage::

    tree = process_tree(pid)                 # the leader and its descendants
    tree_rss_bytes(pid), tree_cpu_s(pid)     # what the whole tree holds and used
    listens_on(pid, 8123)                    # does this tree own the port it answers on?
    end_group(pid, grace_s=5.0, remembered=tree)
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterable

import psutil


def process_tree(pid: int) -> list[psutil.Process]:
    """A process and all its descendants (server workers, offload pool); [] once it is gone.

    Usage: `pids = [p.pid for p in process_tree(server.pid)]`
    """
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants. Usage: `tree_rss_bytes(s.pid)`"""
    total = 0
    for process in process_tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            total += process.memory_info().rss
    return total


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants. Usage: `tree_cpu_s(pid)`"""
    total = 0.0
    for process in process_tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def listens_on(pid: int, port: int) -> bool:
    """Whether a process of `pid`'s tree listens on TCP `port` (the server answering there is
    this one, not another program that held the port). Usage: ``listens_on(s.pid, 8123)``"""
    for process in process_tree(pid):
        with contextlib.suppress(psutil.Error):
            for connection in process.net_connections(kind="tcp"):
                if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port:
                    return True
    return False


def still_running(processes: Iterable[psutil.Process]) -> list[psutil.Process]:
    """Those of `processes` still running; a zombie waiting to be reaped has stopped.

    Usage: ``assert still_running(tree) == []``
    """
    running = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                running.append(process)
    return running


def kill_group(pgid: int) -> None:
    """SIGKILL to every process of group `pgid`. Usage: ``kill_group(launched.pid)``"""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def group_members(pgid: int) -> list[psutil.Process]:
    """Running processes of process group `pgid` (zombies count as gone)."""
    members = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process)
    return members


def end_group(pgid: int, grace_s: float, remembered: Iterable[psutil.Process] = ()) -> None:
    """After the leader exited: give what outlived it `grace_s` to exit on its own, then
    SIGKILL it, the group and any `remembered` descendant that left the group.

    Usage: ``end_group(pid, grace_s=5.0, remembered=tree_seen_before_the_stop)``
    """
    leftovers = group_members(pgid)
    strays = [p for p in still_running(remembered) if p not in leftovers and p.pid != pgid]
    if leftovers or strays:
        _, alive = psutil.wait_procs([*leftovers, *strays], timeout=grace_s)
        if alive:
            kill_group(pgid)
            for process in alive:
                with contextlib.suppress(psutil.Error):
                    process.kill()
            psutil.wait_procs(alive, timeout=grace_s)
