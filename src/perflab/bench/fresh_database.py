"""A fresh PostgreSQL database for one run of a cell, so every repeat starts from the same
state: created on the server at ``PERFLAB_DATABASE_URL`` before the cell's server starts,
dropped after it stops (also when the cell failed), so tables never grow across runs.

The name is ``perflab_bench_<hex>``; the URL handed to the server keeps the given one's
scheme, user, host and options and changes only the database. The drop uses ``WITH (FORCE)``
(PostgreSQL 13+): a pool the server left open cannot keep the database alive.

Usage::

    with fresh_database("postgresql://postgres@127.0.0.1:5432/test") as url:
        env["PERFLAB_DATABASE_URL"] = url        # .../perflab_bench_3f9a1c2b
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from perflab.results.errors import StartError

PREFIX = "perflab_bench_"


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name`. Usage: ``with_database("postgresql://h/test", "x")``"""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def _admin_url(url: str) -> str:
    """A libpq URL for psycopg: SQLAlchemy's ``postgresql+asyncpg://`` loses its driver."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=parts.scheme.split("+", 1)[0]))


@contextlib.contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """A new, empty database on `url`'s server for the block; its URL. Usage: see module."""
    name = PREFIX + secrets.token_hex(4)
    admin = _admin_url(url)
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise StartError(f"cannot create database {name} at {url}: {exc}") from exc
    try:
        yield with_database(url, name)
    finally:
        drop_database(url, name)


def drop_database(url: str, name: str) -> None:
    """Drop database `name` on `url`'s server if it is there. Usage: ``drop_database(url, n)``"""
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(_admin_url(url), autocommit=True, connect_timeout=10) as connection:
        connection.execute(drop)
