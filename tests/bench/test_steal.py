"""Steal: the share of CPU time the host withheld, from two readings of the kernel's counters."""

from __future__ import annotations

import sys
import time
from collections import namedtuple

import pytest

from perflab.bench.steal import StealMeter, steal_between

# The fields psutil.cpu_times() has on Linux (guest time is inside user and nice there).
Times = namedtuple(
    "Times", "user nice system idle iowait irq softirq steal guest guest_nice", defaults=[0.0] * 10
)
NoSteal = namedtuple("NoSteal", "user system idle")  # macOS has no steal counter


def test_steal_is_its_share_of_all_cpu_time_between_the_readings() -> None:
    before = Times(user=100.0, idle=400.0, steal=5.0)
    after = Times(user=160.0, system=20.0, idle=500.0, steal=25.0, guest=30.0)
    # 60 user + 20 system + 100 idle + 20 steal = 200 s of CPU time; guest is inside user.
    assert steal_between(before, after) == pytest.approx(10.0)


def test_no_steal_counter_or_no_time_says_nothing() -> None:
    assert steal_between(NoSteal(1.0, 1.0, 1.0), NoSteal(2.0, 2.0, 2.0)) is None
    same = Times(user=5.0, idle=5.0, steal=1.0)
    assert steal_between(same, same) is None


@pytest.mark.skipif(sys.platform != "linux", reason="only Linux counts steal")
def test_the_meter_reads_this_machine() -> None:
    meter = StealMeter()
    time.sleep(0.2)  # let the counters move (they count in ticks of 10 ms)
    stolen = meter.pct()
    assert stolen is not None
    assert 0.0 <= stolen <= 100.0
