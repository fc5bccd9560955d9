"""A small Flask (WSGI) app for the bench's WSGI path: gunicorn and granian's WSGI interface.

``GET /`` answers the front page; ``GET /items/<id>`` a fixed item; ``POST /echo`` its JSON.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request

app = Flask(__name__)


@app.get("/")
def front_page() -> dict[str, str]:
    return {"shop": "open", "interface": "wsgi"}


@app.get("/items/<int:item_id>")
def read_item(item_id: int) -> dict[str, Any]:
    return {"id": item_id, "name": "teapot"}


@app.post("/echo")
def echo() -> Any:
    return request.get_json()
