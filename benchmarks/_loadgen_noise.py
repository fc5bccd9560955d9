"""How much *other* work ran on the benchmark's two cores while a tool was measured.

The machine is shared: another engineer's test run on the server's or the generator's core
changes every figure. `NoiseMeter` reads the per-core busy time from /proc/stat around a
run and subtracts what the server and the tool themselves used; the rest is foreign CPU.

    meter = NoiseMeter(server_pid, cores=("0", "1"))
    ... run the tool ...
    foreign_cpu_s = meter.foreign_cpu_s(tool_cpu_s)
"""

from __future__ import annotations

import os

_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


def core_busy_s(cores: tuple[str, ...]) -> float:
    """Busy seconds (everything but idle and iowait, steal included) summed over `cores`."""
    total = 0.0
    with open("/proc/stat", encoding="ascii") as stat:
        for line in stat:
            name, *fields = line.split()
            if name.startswith("cpu") and name[3:] in cores:
                ticks = [int(f) for f in fields]
                total += (sum(ticks) - ticks[3] - ticks[4]) * _TICK_S
    return total


def process_cpu_s(pid: int) -> float:
    """User + system seconds of one process so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * _TICK_S


class NoiseMeter:
    """Foreign CPU seconds on `cores` between construction and `foreign_cpu_s`."""

    def __init__(self, server_pid: int, cores: tuple[str, ...]) -> None:
        self.server_pid = server_pid
        self.cores = cores
        self.busy_start_s = core_busy_s(cores)
        self.server_start_s = process_cpu_s(server_pid)

    def foreign_cpu_s(self, tool_cpu_s: float) -> float:
        busy_s = core_busy_s(self.cores) - self.busy_start_s
        server_s = process_cpu_s(self.server_pid) - self.server_start_s
        return max(0.0, busy_s - server_s - tool_cpu_s)
