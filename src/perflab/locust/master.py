"""The master side of a perflab run on locust: ship the load, start it together, merge exactly.

At init the master builds the cell's streams (a study cell, or the bench's workload file),
tells locust how many users of which class to run, and answers each worker's HELLO with the
workload. When locust starts the test, a controller greenlet waits until every worker has
built its requests (and, for closed and open streams, until every user is spawned), gives
each its SHARE and one common start time, then waits until every worker is DONE or lost (or,
for timed loads, until the deadline), stops the test, collects the FINAL reports and writes
the merged recording (and, for a study, a perflab.bench results document). Ctrl-C (or
SIGTERM) does the same with what was measured, and says so in the recording's metadata.

Runs inside the locust master process only.

Usage (from the locustfile's init event)::

    run = MasterRun(environment, options, cell)
    run.install()
"""

from __future__ import annotations

import logging
import time
from typing import Any

import gevent
from locust import __version__ as locust_version
from locust.env import Environment
from locust.rpc.protocol import Message
from locust.runners import MasterRunner

from perflab.loadgen import Closed
from perflab.locust import protocol
from perflab.locust.cell_load import CellLoad
from perflab.locust.ledger import Ledger
from perflab.locust.outputs import write_outputs
from perflab.locust.shares import waits_for_spawning, worker_share
from perflab.locust.wire import streams_to_wire

logger = logging.getLogger("perflab.locust")

START_MARGIN_S = 0.5  # the share must reach every worker (maybe remote) before the start
POLL_S = 0.2
FINALS_TIMEOUT_S = 15.0
DEADLINE_MARGIN_S = 10.0
LOST_AFTER_S = 5.0  # missing this long (after locust's own ~3 s of missed heartbeats): lost


class MasterRun:
    """The master's part of a perflab run. Usage: see the module docstring."""

    def __init__(self, environment: Environment, cell: CellLoad) -> None:
        runner = environment.runner
        assert isinstance(runner, MasterRunner)
        self.environment = environment
        self.runner = runner
        self.cell = cell
        self.wire = streams_to_wire(cell.streams)
        self.ledger = Ledger()
        self.planned: list[str] = []
        self.start_at_unix_s: float | None = None
        self.error: str | None = None  # the run could not go on
        self.reason: str | None = None  # why the run is not complete, though it ran
        self.collected = False  # stopped, and the final reports are in (or given up on)
        self.written = False
        self.controller: gevent.Greenlet[[], None] | None = None
        self.cpu_start_s = time.process_time()
        self.dispatch_started_unix_s = 0.0
        self.missing_since: dict[str, float] = {}  # worker -> when locust first missed it

    def install(self) -> None:
        """Register handlers and listeners. Usage: see module."""
        runner = self.runner
        runner.register_message(protocol.HELLO, self._on_hello)
        runner.register_message(protocol.READY, self._on_ready)
        runner.register_message(protocol.DELTA, self._on_delta)
        runner.register_message(protocol.DONE, self._on_done)
        runner.register_message(protocol.FINAL, self._on_final)
        events = self.environment.events
        protocol.listen(events.test_start, self._on_test_start)
        protocol.listen(events.quitting, self._on_quitting)

    # -- messages --------------------------------------------------------------------------------

    def _on_hello(self, environment: Environment, msg: Message, **_: Any) -> None:
        self.ledger.join(msg.node_id, msg.data or {})
        self.runner.send_message(protocol.WORKLOAD, self.wire, client_id=msg.node_id)

    def _on_ready(self, environment: Environment, msg: Message, **_: Any) -> None:
        error = (msg.data or {}).get("error")
        if error:
            self.error = f"worker {msg.node_id} could not build the requests: {error}"
            logger.error(self.error)
            return
        self.ledger.account(msg.node_id).ready = True

    def _on_done(self, environment: Environment, msg: Message, **_: Any) -> None:
        self.ledger.account(msg.node_id).done = True

    def _on_final(self, environment: Environment, msg: Message, **_: Any) -> None:
        self.ledger.add(msg.node_id, msg.data, final=True)

    def _on_delta(self, environment: Environment, msg: Message, **_: Any) -> None:
        self.ledger.add(msg.node_id, msg.data)

    # -- the run ---------------------------------------------------------------------------------

    def _on_test_start(self, environment: Environment, **_: Any) -> None:
        if self.controller is None:
            self.dispatch_started_unix_s = time.time()  # locust starts spawning users now
            self.controller = gevent.spawn(self._control)

    def _active(self) -> list[str]:
        runner = self.runner
        nodes = runner.clients.ready + runner.clients.spawning + runner.clients.running
        return sorted((node.id for node in nodes), key=runner.get_worker_index)

    def _lost(self, client_id: str) -> bool:
        """Gone from locust's workers, or missing (no heartbeat) for LOST_AFTER_S: a worker
        busy at full CPU may miss a heartbeat or two and come back (locust says self-healed)."""
        node = self.runner.clients.get(client_id)
        if node is not None and node.state != "missing":
            self.missing_since.pop(client_id, None)
            return False
        since = self.missing_since.setdefault(client_id, time.monotonic())
        return node is None or time.monotonic() - since >= LOST_AFTER_S

    def _wait(self, condition: Any, timeout_s: float, what: str) -> bool:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if self.error is not None:
                return False
            if time.monotonic() > deadline:
                logger.warning("perflab: gave up waiting for %s after %.0f s", what, timeout_s)
                return False
            gevent.sleep(POLL_S)
        return True

    def _control(self) -> None:
        try:
            self._start()
            if self.start_at_unix_s is not None:
                if not self._wait(self._complete, self._deadline_s(), "the load to complete"):
                    self.reason = self.reason or "stopped at the deadline (duration + timeout)"
                self._stop_and_collect()
        except gevent.GreenletExit:
            raise
        except Exception:
            logger.exception("perflab: the controller failed")
            self.error = self.error or "the perflab controller failed (see the master's log)"
        self.collected = True
        # Outputs are written at quitting: by then locust's own last statistics are in too
        # (each worker sends them when told to quit).
        self.runner.quit()

    def _start(self) -> None:
        self.planned = self._active()
        timeout_s = self.cell.ready_timeout_s
        ready = self._wait(
            lambda: all(self.ledger.account(c).ready or self._lost(c) for c in self.planned),
            timeout_s, "every worker to build its requests",
        )  # fmt: skip
        if waits_for_spawning(self.cell.streams):
            self._wait(lambda: self.runner.spawning_completed, timeout_s, "users to spawn")
        self.planned = [c for c in self.planned if self.ledger.account(c).ready]
        if (not ready and not self.planned) or self.error is not None:
            self.error = self.error or "no worker got ready"
            return
        nodes = {c: self.runner.clients.get(c) for c in self.planned}
        users = {c: dict(node.user_classes_count) if node else {} for c, node in nodes.items()}
        self.start_at_unix_s = time.time() + START_MARGIN_S
        for index, client_id in enumerate(self.planned):
            account = self.ledger.account(client_id)
            account.index = index
            class_names = protocol.STREAM_CLASS_NAMES
            account.users = {
                str(i): users[client_id].get(class_names[i], 0)
                for i in range(len(self.cell.streams))
            }
            shares = [
                worker_share(
                    stream.model,
                    {c: users[c].get(class_names[i], 0) for c in self.planned},
                    client_id,
                ).to_dict()
                for i, stream in enumerate(self.cell.streams)
            ]
            self.runner.send_message(
                protocol.SHARE,
                {
                    "index": index,
                    "workers": len(self.planned),
                    "start_at_unix_s": self.start_at_unix_s,
                    # users-model users start this much after they were spawned, so that
                    # locust's ramp (from the dispatch) is replayed from the common start
                    "ramp_shift_s": max(0.0, self.start_at_unix_s - self.dispatch_started_unix_s),
                    "shares": shares,
                },
                client_id=client_id,
            )
        logger.info("perflab: %d workers start at %.3f", len(self.planned), self.start_at_unix_s)

    def _complete(self) -> bool:
        self.cell.write_progress(self.ledger, self.start_at_unix_s)
        return all(self.ledger.account(c).done or self._lost(c) for c in self.planned)

    def _deadline_s(self) -> float:
        """How long a timed load may take: its duration, then in-flight answers' timeout."""
        streams = self.cell.streams
        if any(isinstance(stream.model, Closed) for stream in streams):
            return float("inf")  # a request count: as long as its requests take
        longest_s = max(s.model.duration_s for s in streams if not isinstance(s.model, Closed))
        timeout_s = max(stream.timeout_s for stream in streams)
        return longest_s + timeout_s + START_MARGIN_S + DEADLINE_MARGIN_S

    def _stop_and_collect(self) -> None:
        lost = {c for c in self.planned if self._lost(c)}
        self.runner.stop()
        self._wait(
            lambda: all(self.ledger.account(c).final for c in self.planned if c not in lost),
            FINALS_TIMEOUT_S, "the workers' final reports",
        )  # fmt: skip

    def _on_quitting(self, environment: Environment, **_: Any) -> None:
        if self.written:
            return
        self.written = True
        reason = self.error or self.reason
        if not self.collected:
            if self.controller is not None and not self.controller.dead:
                self.controller.kill(block=True)
            if self.planned and all(self._lost(c) for c in self.planned):
                reason = "every worker was lost"
            else:
                reason = "interrupted (Ctrl-C or SIGTERM)"
            if self.start_at_unix_s is not None:
                self._stop_and_collect()
        if self.start_at_unix_s is None:
            logger.error("perflab: the load never started%s", f": {reason}" if reason else "")
            return
        write_outputs(
            self.cell, self.ledger, self.environment,
            started_at_unix_s=self.start_at_unix_s,
            master_cpu_s=time.process_time() - self.cpu_start_s,
            locust_version=locust_version, reason=reason,
        )  # fmt: skip
