"""perflab's locustfile: run a perflab study cell on locust's master/worker runner.

Locust imports this file on the master and on every worker. It exports one user class per
stream of a cell and registers perflab's options and event handlers (`perflab.locust.hooks`);
the master ships the cell's load to the workers, so a worker needs nothing but this file.

Usage::

    locust -f $(python -m perflab.locust) --master --headless --expect-workers 2 \\
        --perflab-study fanout --perflab-cell async-concurrent --host http://10.0.0.5:8000
    locust -f $(python -m perflab.locust) --worker --master-host 10.0.0.4
"""

from perflab.locust.hooks import register
from perflab.locust.users import PerflabStream0, PerflabStream1, PerflabStream2, PerflabStream3

register()

__all__ = ["PerflabStream0", "PerflabStream1", "PerflabStream2", "PerflabStream3"]
