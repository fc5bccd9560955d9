"""Seed 002: notes CRUD on SQLite or PostgreSQL, an async and a sync variant compared like for like.

Both variants run the *same* service functions (`service.py`) on the same pre-built SQLAlchemy
Core statements (`tables.py`) with the same pool size; only the handler differs:

- `/notes/`: `async def` handlers; the async engine (asyncpg / aiosqlite) runs the service
  function in a greenlet on the event loop (`sqlalchemy.util.greenlet_spawn`);
- `/notes/sync/`: plain `def` handlers in the threadpool; the sync engine (psycopg 3 / sqlite3).
"""
