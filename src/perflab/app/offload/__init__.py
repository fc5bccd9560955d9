"""How CPU-heavy kernels leave the event loop: one protocol, several strategies.

An `async def` endpoint never calls a kernel directly; it awaits `offloader.run(kernel, *args)`:

- `InlineOffloader` calls the kernel in the event loop: the seeds' mistake, kept to measure it.
- `ThreadOffloader` runs it in an anyio worker thread: helps only when the kernel releases the GIL.
- `ProcessOffloader` (the default) runs it in a pool of worker processes; per-process state (a
  detector, a model) is built once per process by warm-up functions, never shared by threads.
- `QueueOffloader` sends it through Redis Streams to `perflab worker` processes on any machine
  (docs/queue.md): kernels by name (kernels.py), typed msgpack messages (wire.py).

    base.py      the protocol, the stats, how a kernel is called and timed
    local.py     inline and thread
    process.py   the worker-process pool: one dead or stuck worker fails only its own job
    factory.py   the offloader the settings name
    kernels.py   kernels by name, and the types their jobs travel as; wire.py the messages
    queue.py     the queue offloader (API side); streams.py the names and Lua scripts on Redis
    worker.py    `perflab worker`: consumer.py is one worker process, job_runner.py its kernels

Every offloader admits jobs through its `Admission` (perflab.app.admission): by expected wait and
by memory, 503 with Retry-After at once when a job would wait past its budget. A kernel raising
a `ClientError` keeps its meaning (e.g. 400 for an undecodable image); any other exception becomes
`KernelFailed`. Kernels and their arguments must be picklable: send encoded bytes (a JPEG, a
request body), never decoded pixel arrays, to worker processes.
"""

from perflab.app.offload.base import Offloader, OffloadStats, sampler
from perflab.app.offload.factory import make_offloader
from perflab.app.offload.local import InlineOffloader, ThreadOffloader
from perflab.app.offload.process import ProcessOffloader
from perflab.app.offload.queue import QueueOffloader

__all__ = [
    "InlineOffloader",
    "OffloadStats",
    "Offloader",
    "ProcessOffloader",
    "QueueOffloader",
    "ThreadOffloader",
    "make_offloader",
    "sampler",
]
