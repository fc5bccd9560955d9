"""Private Redis and PostgreSQL instances for cells that break them on purpose.

A fault study stops and restarts the database or Redis under load; doing that to the
machine's shared server would hurt everyone else on it (and every other test). So such a
cell gets its own instance: `redis-server` on a free port with nothing on disk, or a
PostgreSQL cluster made by `initdb` in a temporary folder and run by `pg_ctl` on a free port
(as the `postgres` user when the bench runs as root: PostgreSQL refuses to run as root). Both
stop, and remove their files, when the block ends.

`find_redis_server()` / `find_postgres_bin()` say whether the programs exist; a cell whose
service cannot be provided is skipped with the reason (`missing_private_service`).

Usage::

    with private_postgres(log_dir) as pg:
        pg.url                        # postgresql://postgres@127.0.0.1:PORT/perflab
        pg.stop(); pg.start()         # a restart on the same port and data
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from perflab.bench.placement import on_server_cpus
from perflab.results.errors import StartError

READY_TIMEOUT_S = 30.0
POSTGRES_USER = "postgres"
DATABASE = "perflab"


def find_redis_server() -> str | None:
    """The redis-server program, or None. Usage: ``find_redis_server()``"""
    return shutil.which("redis-server")


def find_postgres_bin() -> Path | None:
    """The folder holding initdb, pg_ctl and createdb together (Debian's
    /usr/lib/postgresql/N/bin, newest first, then PATH's), or None. Usage: above."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for folder in candidates:
        if all((folder / tool).is_file() for tool in ("initdb", "pg_ctl", "createdb")):
            return folder
    return None


def missing_private_service(service: str) -> str | None:
    """Why a private `service` ("redis" or "postgres") cannot be started here, or None.
    Usage: ``missing_private_service("postgres")``"""
    if service == "redis" and find_redis_server() is None:
        return "no redis-server program on this machine (Debian: apt install redis-server)"
    if service == "postgres":
        if find_postgres_bin() is None:
            return "no initdb/pg_ctl on this machine (Debian: apt install postgresql)"
        if os.geteuid() == 0 and not _has_user(POSTGRES_USER):
            return "running as root and no 'postgres' user to run a private PostgreSQL"
    return None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now. Usage: ``free_port()``"""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _wait_port(port: int, process: subprocess.Popen[bytes] | None, what: str, log: Path) -> None:
    deadline_s = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline_s:
        if process is not None and process.poll() is not None:
            raise StartError(f"{what} exited with {process.returncode}; log {log}:\n{_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise StartError(f"{what} not ready after {READY_TIMEOUT_S:g} s; log {log}:\n{_tail(log)}")


def _tail(log: Path) -> str:
    try:
        return log.read_text(encoding="utf-8", errors="replace")[-2000:]
    except OSError:
        return "(no log)"


@dataclass
class PrivateRedis:
    """A redis-server of the bench's own. Usage: ``r.stop(); r.start()``"""

    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its URL, database 0. Usage: ``r.url``"""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (again) on the same port, with nothing on disk. Usage: ``r.start()``"""
        program = find_redis_server()
        if program is None:
            raise StartError(missing_private_service("redis") or "no redis-server")
        command = [
            *(program, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "no", "--daemonize", "no", "--logfile", str(self.log)),
        ]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            preexec_fn=on_server_cpus(),  # the service's part: on its CPUs when placed
        )
        _wait_port(self.port, self.process, "private redis-server", self.log)

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL). Usage: ``r.stop()``"""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of the bench's own. Usage: ``pg.stop(); pg.start()``"""

    port: int
    data_dir: Path
    log: Path
    bin_dir: Path
    run_as: list[str] = field(default_factory=list)  # ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        """Its URL (trust auth, database `perflab`). Usage: ``pg.url``"""
        return f"postgresql://{POSTGRES_USER}@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *args: str) -> None:
        command = [*self.run_as, *args]
        # pg_ctl's server inherits the CPUs: the service's part, on its CPUs when placed.
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False,
                              preexec_fn=on_server_cpus())  # fmt: skip
        if done.returncode != 0:
            raise StartError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr}")

    def init(self) -> None:
        """initdb with trust auth and the `perflab` database. Usage: ``pg.init()``"""
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", POSTGRES_USER,
                  "-A", "trust", "--no-sync", "-E", "UTF8")  # fmt: skip
        self.start()
        self._run(str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", POSTGRES_USER, DATABASE)  # fmt: skip

    def start(self) -> None:
        """Start (again) on the same port and data. Usage: ``pg.start()``"""
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off -k {self.data_dir}"
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log),
                  "-o", options, "-w", "-t", str(int(READY_TIMEOUT_S)), "start")  # fmt: skip
        _wait_port(self.port, None, "private PostgreSQL", self.log)

    def stop(self, mode: str = "fast") -> None:
        """Stop it: "fast" (clients disconnected) or "immediate" (a crash, no checkpoint).
        Usage: ``pg.stop("immediate")``"""
        with contextlib.suppress(StartError, subprocess.TimeoutExpired):
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode,
                      "-w", "stop")  # fmt: skip


@contextlib.contextmanager
def private_redis(log_dir: Path) -> Iterator[PrivateRedis]:
    """A private Redis for the block. Raises StartError. Usage: see module."""
    log_dir.mkdir(parents=True, exist_ok=True)
    redis = PrivateRedis(free_port(), log_dir / "private-redis.log")
    try:
        redis.start()
        yield redis
    finally:
        redis.stop()


@contextlib.contextmanager
def private_postgres(log_dir: Path) -> Iterator[PrivatePostgres]:
    """A private PostgreSQL for the block, files removed after. Raises StartError."""
    bin_dir = find_postgres_bin()
    problem = missing_private_service("postgres")
    if bin_dir is None or problem:
        raise StartError(problem or "no PostgreSQL programs")
    log_dir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="perflab-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: its files and processes belong to `postgres`,
        # which may not enter the bench's folders, so its log lives with its data and is
        # copied into log_dir at the end.
        user = pwd.getpwnam(POSTGRES_USER)
        os.chown(root, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", POSTGRES_USER, "--"]
    log = root / "postgres.log"
    postgres = PrivatePostgres(free_port(), root / "data", log, bin_dir, run_as)
    try:
        postgres.init()
        yield postgres
    finally:
        postgres.stop("immediate")
        with contextlib.suppress(OSError):
            shutil.copyfile(log, log_dir / "private-postgres.log")
        shutil.rmtree(root, ignore_errors=True)
