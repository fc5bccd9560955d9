"""locust's fastest user type, no think time: the comparison benchmarks/loadgen.py runs."""

from locust import FastHttpUser, constant, task


class Trivial(FastHttpUser):  # type: ignore[misc]  # locust lives in .venv-bench only
    wait_time = constant(0)

    @task
    def root(self) -> None:
        self.client.get("/")
