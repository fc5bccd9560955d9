"""The users model's engine (locust): users spawned at a rate, each looping with think time.

Each user has its own connection, as locust's FastHttpUser; everything is callbacks and
timers on one event loop.

`UsersFlowEngine` runs flows (`perflab.loadgen.flow`): each user runs on_start, then flows
picked by weight, with think time between any two requests it sends.

Usage::

    recording = await UsersEngine(specs, Users(200, 20, 60), keepalive=True, timeout_s=30).run()
    flows = UsersFlowEngine(specs, Users(200, 20, 60), keepalive=True, timeout_s=30,
                            on_start=[login], flows=[Flow("buy", ("create", "read"))])
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Unpack

from perflab.loadgen.connection import HttpConnection, Prepared
from perflab.loadgen.engine import Engine, EngineOptions
from perflab.loadgen.flow_user import FlowUser, User
from perflab.loadgen.models import Users
from perflab.loadgen.request_spec import RequestSpec


class UsersEngine(Engine):
    """locust's model: users spawned at a rate, looping with think time. Usage: see module."""

    def __init__(
        self,
        specs: Sequence[RequestSpec],
        model: Users,
        *,
        seed: int | None = None,  # think times' random generator
        **options: Unpack[EngineOptions],
    ) -> None:
        super().__init__(specs, model=model.describe(), connections=model.users, **options)
        self.users_model = model
        self.in_flight = 0
        self.stopping = False
        self._random = random.Random(seed)

    def begin(self) -> None:
        """Send the first requests. Usage: ``Engine.run`` calls it at the start time."""
        for i in range(self.users_model.users):
            self.loop.call_later(
                i / self.users_model.spawn_rate_per_s, self._user_next, self._new_user()
            )
        self.loop.call_later(self.users_model.duration_s, self._stop)

    def _new_user(self) -> User:
        return User()

    def _request_for(self, user: User) -> Prepared:
        """What `user` sends next: the next request in weighted order (flows override it)."""
        return self.next_request()

    def _stop(self) -> None:
        self.stopping = True
        if self.in_flight == 0:
            self.finish()

    def _user_next(self, user: User) -> None:
        if self.stopping:
            return
        self.in_flight += 1
        request = self._request_for(user)
        if user.conn is None or user.conn.closed:
            user.conn = None
            self.connect_and_send(request, time.perf_counter_ns(), owner=user)
        else:
            user.conn.send(request)

    def _after(self, user: User) -> None:
        self.in_flight -= 1
        if self.stopping:
            if self.in_flight == 0:
                self.finish()
            return
        low, high = self.users_model.think_s
        if high > 0:
            self.loop.call_later(self._random.uniform(low, high), self._user_next, user)
        else:
            self._user_next(user)

    def connection_free(self, conn: HttpConnection) -> None:
        """An answer arrived (or failed) on `conn`. Usage: ``HttpConnection`` calls it."""
        user = conn.owner
        assert isinstance(user, User)
        if conn.closed:
            self.open_connections.discard(conn)
        user.conn = conn
        self._after(user)

    def connect_failed(self, owner: object) -> None:
        """A connect failed (already recorded). Usage: ``Engine.connect_and_send`` calls it."""
        assert isinstance(owner, User)
        self._after(owner)


class UsersFlowEngine(UsersEngine):
    """The users model over flows. Usage: see the module docstring."""

    def _new_user(self) -> User:
        return FlowUser(self.flow_plan)

    def _request_for(self, user: User) -> Prepared:
        assert isinstance(user, FlowUser)
        return user.next_request()

    def connection_free(self, conn: HttpConnection) -> None:
        """An answer arrived (or failed) on `conn`. Usage: ``HttpConnection`` calls it."""
        user: FlowUser = conn.owner
        if user.step.captures:
            user.step_done(conn.captured)
        super().connection_free(conn)

    def connect_failed(self, owner: object) -> None:
        """A connect failed (already recorded). Usage: ``Engine.connect_and_send`` calls it."""
        assert isinstance(owner, FlowUser)
        if owner.step.captures:
            owner.step_done(None)
        super().connect_failed(owner)
