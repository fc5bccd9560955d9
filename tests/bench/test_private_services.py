"""Private Redis and PostgreSQL for fault cells: they start on their own port, survive a
stop and start with their data, and leave no process or file behind."""

from __future__ import annotations

from pathlib import Path

import psutil
import psycopg
import pytest
import redis

from perflab.bench.faults.private_services import (
    missing_private_service,
    private_postgres,
    private_redis,
)


def _listening(port: int) -> bool:
    return any(
        c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
        for c in psutil.net_connections("tcp")
    )


@pytest.mark.skipif(missing_private_service("postgres") is not None, reason="no PostgreSQL")
def test_a_private_postgres_restarts_with_its_data(tmp_path: Path) -> None:
    with private_postgres(tmp_path) as pg:
        assert pg.url.endswith(f":{pg.port}/perflab")
        with psycopg.connect(pg.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (x int)")
            conn.execute("INSERT INTO t VALUES (41)")
        pg.stop("immediate")
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(pg.url, connect_timeout=2)
        pg.start()
        with psycopg.connect(pg.url) as conn:
            assert conn.execute("SELECT x + 1 FROM t").fetchone() == (42,)
        data_dir = pg.data_dir
    assert not data_dir.exists()
    assert not _listening(pg.port)


@pytest.mark.skipif(missing_private_service("redis") is not None, reason="no redis-server")
def test_a_private_redis_restarts_empty(tmp_path: Path) -> None:
    with private_redis(tmp_path) as server:
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        server.stop()
        with pytest.raises(redis.ConnectionError):
            client.ping()
        server.start()
        assert client.get("k") is None  # nothing on disk: a restart loses what it held
        client.close()
    assert not _listening(server.port)
