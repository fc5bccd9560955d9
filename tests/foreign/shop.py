"""A small FastAPI shop that no perflab code path serves: the foreign app of the bench's tests.

Run it as any user would: ``uvicorn shop:app --port 8000`` in this folder (any runner).

- ``GET /``: the shop's front page (the bench's default ready path)
- ``POST /login`` (form ``username``, ``password``; any password but "wrong"): ``{"access_token",
  "token_type"}``, a token signed for that user (stateless, so it works on every worker)
- ``POST /items`` ``{"name", "price"}`` with ``Authorization: Bearer TOKEN``: 201, the item
- ``GET /items``: the caller's items; ``GET|PUT|DELETE /items/{item_id}``: only the owner's
  item (another user's or a deleted one: 404)

Items live in SQLite (``SHOP_DB``, default ``shop.db`` in the working folder; WAL, so two
workers share it). Switches for the failure tests, all environment variables: ``SHOP_CRASH``
(fail at import), ``SHOP_NEVER_READY`` (``/`` answers 503), ``SHOP_METRICS`` (serve a
Prometheus ``/metrics`` with ``http_requests_inprogress``). Without ``SHOP_METRICS`` there is
no ``/metrics``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Form, HTTPException, Request, Response
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel, Field

if os.environ.get("SHOP_CRASH"):
    raise RuntimeError("shop: SHOP_CRASH is set, refusing to start")

SECRET = b"not-a-secret: a test app"
DB_PATH = os.environ.get("SHOP_DB", "shop.db")
app = FastAPI(title="Foreign shop", version="1.0.0")
oauth2 = OAuth2PasswordBearer(tokenUrl="login")


class ItemIn(BaseModel):
    name: str = Field(min_length=1, max_length=50, examples=["teapot"])
    price: float = Field(default=1.0, ge=0)


class Item(ItemIn):
    id: int
    owner: str


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


def _schema() -> None:
    with sqlite3.connect(DB_PATH) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "name TEXT NOT NULL, price REAL NOT NULL, owner TEXT NOT NULL)"
        )


_schema()


@contextmanager
def _db() -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(DB_PATH, timeout=10)
    try:
        with db:
            yield db
    finally:
        db.close()


def _sign(user: str) -> str:
    return hmac.new(SECRET, user.encode(), hashlib.sha256).hexdigest()[:32]


def current_user(token: Annotated[str, Depends(oauth2)]) -> str:
    user, _, signature = token.rpartition(".")
    if not user or not hmac.compare_digest(signature, _sign(user)):
        raise HTTPException(401, "bad token", headers={"WWW-Authenticate": "Bearer"})
    return user


User = Annotated[str, Depends(current_user)]

if os.environ.get("SHOP_METRICS"):
    _in_progress = 0

    @app.middleware("http")
    async def count(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        global _in_progress
        _in_progress += 1
        try:
            return await call_next(request)
        finally:
            _in_progress -= 1

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        text = (
            "# HELP http_requests_inprogress Requests in progress.\n"
            "# TYPE http_requests_inprogress gauge\n"
            f"http_requests_inprogress {_in_progress}\n"
        )
        return Response(text, media_type="text/plain; version=0.0.4")


@app.get("/")
def front_page() -> dict[str, str]:
    if os.environ.get("SHOP_NEVER_READY"):
        raise HTTPException(503, "warming up forever")
    return {"shop": "open"}


@app.post("/login")
def login(
    username: Annotated[str, Form(min_length=1, max_length=40, pattern=r"^[a-z0-9]+$")],
    password: Annotated[str, Form(min_length=1)],
) -> Token:
    if password == "wrong":
        raise HTTPException(401, "wrong password")
    return Token(access_token=f"{username}.{_sign(username)}")


@app.post("/items", status_code=201)
def create_item(item: ItemIn, user: User) -> Item:
    with _db() as db:
        cursor = db.execute(
            "INSERT INTO items (name, price, owner) VALUES (?, ?, ?)",
            (item.name, item.price, user),
        )
        item_id = cursor.lastrowid
    assert item_id is not None
    return Item(id=item_id, owner=user, **item.model_dump())


@app.get("/items")
def list_items(user: User) -> list[Item]:
    with _db() as db:
        rows = db.execute(
            "SELECT id, name, price, owner FROM items WHERE owner = ? ORDER BY id DESC LIMIT 20",
            (user,),
        ).fetchall()
    return [Item(id=r[0], name=r[1], price=r[2], owner=r[3]) for r in rows]


def _owned(db: sqlite3.Connection, item_id: int, user: str) -> Item:
    row = db.execute(
        "SELECT id, name, price, owner FROM items WHERE id = ? AND owner = ?", (item_id, user)
    ).fetchone()
    if row is None:
        raise HTTPException(404, f"no item {item_id} of yours")
    return Item(id=row[0], name=row[1], price=row[2], owner=row[3])


@app.get("/items/{item_id}")
def read_item(item_id: int, user: User) -> Item:
    with _db() as db:
        return _owned(db, item_id, user)


@app.put("/items/{item_id}")
def update_item(item_id: int, item: ItemIn, user: User) -> Item:
    with _db() as db:
        _owned(db, item_id, user)
        db.execute(
            "UPDATE items SET name = ?, price = ? WHERE id = ?", (item.name, item.price, item_id)
        )
    return Item(id=item_id, owner=user, **item.model_dump())


@app.delete("/items/{item_id}", status_code=204)
def delete_item(item_id: int, user: User) -> Response:
    with _db() as db:
        _owned(db, item_id, user)
        db.execute("DELETE FROM items WHERE id = ?", (item_id,))
    return Response(status_code=204)
