"""perflab studies on locust's distributed master/worker runner (the `perflab[locust]` extra).

perflab does not distribute load itself: it runs its study cells *on* locust's runner and adds
what locust lacks: every answer checked as `perflab load` checks it (the same failure kinds),
exact latencies (HdrHistograms per name and per second, merged losslessly at the master
instead of locust's rounded buckets), the closed model as an exact request count and the open
model (a fixed arrival rate, latency from the scheduled time), and a perflab.bench results
document that `perflab report` and `perflab compare` read like any other (docs/locust.md).

Only the locustfile and the modules it loads import locust (which monkey-patches the process
with gevent); `driver` (what `perflab bench --engine locust` calls) starts locust in child
processes and imports none of it.

Usage::

    locust -f $(python -m perflab.locust) --master --headless --expect-workers 2 ...
    LocustDriver(workers=2, work_dir=out)(streams)       # from perflab.locust.driver
"""

from pathlib import Path


def locustfile_path() -> Path:
    """The locustfile to give ``locust -f``. Usage: ``locustfile_path()``"""
    return Path(__file__).resolve().parent / "entry" / "locustfile.py"
