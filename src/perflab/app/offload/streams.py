"""The queue protocol on Redis: the names both sides use and the scripts that must be atomic.

    {ns}:jobs:<kernel>   stream, one per kernel (a lane: small work never waits behind large).
                         It holds only unfinished jobs: a worker XACKs and XDELs a job when it
                         answers, so XLEN is the backlog and the stream is never trimmed.
                         Entry fields: deadline_ms (Redis clock), job (wire.JobMessage).
    {ns}-workers         the consumer group on every job stream
    {ns}:reply:<id>      stream, one per API instance; entry field: reply (wire.Reply)
    {ns}:dead            dead-letter stream: jobs delivered too many times, with why
    {ns}:workers         sorted set: consumer name -> last heartbeat (Redis clock, ms)
    {ns}:stats           hash of worker-side totals (jobs, batches, expired, reclaimed, ...)

`{ns}` is a Redis Cluster hash tag: one namespace's keys share a slot, so the scripts and
transactions that touch a job stream and a reply stream together stay legal there. Deadlines
and heartbeats use Redis's clock (TIME), so the machines' own clocks need not agree.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

DEAD_LETTER_MAXLEN = 10_000  # the dead-letter stream is for inspection, not for replay
REPLY_MAXLEN = 100_000  # a reply stream whose reader stopped must not grow without bound
REPLY_TTL_S = 3600  # a dead API instance's reply stream goes away; every enqueue renews it


@dataclass(frozen=True)
class QueueNames:
    namespace: str

    @property
    def tag(self) -> str:
        return "{" + self.namespace + "}"

    def jobs(self, kernel: str) -> str:
        return f"{self.tag}:jobs:{kernel}"

    def reply(self, instance: str) -> str:
        return f"{self.tag}:reply:{instance}"

    @property
    def group(self) -> str:
        return f"{self.namespace}-workers"

    @property
    def dead(self) -> str:
        return f"{self.tag}:dead"

    @property
    def workers(self) -> str:
        return f"{self.tag}:workers"

    @property
    def stats(self) -> str:
        return f"{self.tag}:stats"

    def consumer(self) -> str:
        """A name for a new consumer process: its host and pid, for people reading XINFO."""
        return f"{self.namespace}:{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def connect(url: str, *, max_connections: int = 64, client_name: str | None = None) -> Redis:
    """A client that fails at once when Redis is down, and never retries by itself.

    No retries: a retried enqueue could add the job twice, and a caller that answers 503 at
    once is worth more than one that hangs on backoff. A bounded pool: concurrent requests
    share connections (a command takes well under a millisecond) instead of opening one each.
    `client_name` names every connection (CLIENT SETNAME): a worker's, by its consumer name,
    can be told apart in CLIENT LIST.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        client_name=client_name,
        timeout=10.0,  # waiting for a free connection: a burst queues here, briefly
        socket_connect_timeout=1.0,
        socket_timeout=10.0,  # above the longest blocking read (1 s) with room to spare
        retry=Retry(NoBackoff(), 0),
    )
    return Redis.from_pool(pool)


def raise_if_cancelled() -> None:
    """Re-raise a cancellation that redis-py swallowed.

    A cancel that lands while redis-py's own read timeout is running can come out as a Redis
    TimeoutError, or as a normal return: a loop that retries on Redis errors would never see
    it and run on forever (seen with redis-py 8.1). Loops call this after every Redis call.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


# The bounded enqueue. KEYS: job stream, reply stream. ARGV: most unfinished jobs allowed,
# timeout ms, job bytes, reply-stream TTL s. Refuses past the bound instead of trimming: a
# trimmed job is a request that silently never gets an answer. Returns {1, id, backlog} or
# {0, backlog}. The reply stream is created empty (a group holds it open) so that workers can
# answer with NOMKSTREAM and never recreate the stream of an API instance that is gone.
ENQUEUE = """
local backlog = redis.call('XLEN', KEYS[1])
if backlog >= tonumber(ARGV[1]) then return {0, backlog} end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[2], 'open', '$', 'MKSTREAM')
end
redis.call('EXPIRE', KEYS[2], ARGV[4])
local t = redis.call('TIME')
local deadline = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
local id = redis.call('XADD', KEYS[1], '*', 'deadline_ms', string.format('%.0f', deadline),
  'job', ARGV[3])
return {1, id, backlog}
"""

# A worker's answers to one batch, in one command (one round trip, one reply to parse, where
# MULTI/EXEC took seven). KEYS: stats hash, then the job streams to acknowledge in, then the
# reply streams. ARGV: group, reply-stream maxlen, number of job streams S, number of replies
# R; per job stream its id count and ids; per reply the index of its stream in KEYS and the
# reply; then stats field and increment pairs. Atomic like the transaction it replaces: a job
# is never acknowledged without its reply sent. A command that fails (XACK on a group that
# vanished: NOGROUP) does not stop the others, as in MULTI/EXEC; the failures are returned.
# NOMKSTREAM: a gone API instance's reply stream is never re-created.
ANSWER = """
local group, maxlen = ARGV[1], ARGV[2]
local a = 5
local failed = {}
local function try(...)
  local answer = redis.pcall(...)
  if type(answer) == 'table' and answer.err then table.insert(failed, answer.err) end
end
for s = 1, tonumber(ARGV[3]) do
  local n = tonumber(ARGV[a])
  local ids = {unpack(ARGV, a + 1, a + n)}
  try('XACK', KEYS[1 + s], group, unpack(ids))
  try('XDEL', KEYS[1 + s], unpack(ids))
  a = a + 1 + n
end
for r = 1, tonumber(ARGV[4]) do
  try('XADD', KEYS[tonumber(ARGV[a])], 'NOMKSTREAM', 'MAXLEN', '~', maxlen, '*', 'reply',
    ARGV[a + 1])
  a = a + 2
end
while a < #ARGV do
  redis.call('HINCRBY', KEYS[1], ARGV[a], ARGV[a + 1])
  a = a + 2
end
return failed
"""


def answer_call(
    names: QueueNames,
    acks: dict[str, list[str]],
    replies: list[tuple[str, bytes]],
    counts: Mapping[str, int],
) -> tuple[list[str], list[str | int | bytes]]:
    """KEYS and ARGV of one ANSWER: ids to acknowledge by job stream, (reply stream, reply)
    pairs, and the stats to add."""
    reply_keys = list(dict.fromkeys(stream for stream, _ in replies))
    keys = [names.stats, *acks, *reply_keys]
    index = {key: position for position, key in enumerate(keys, 1)}
    args: list[str | int | bytes] = [names.group, REPLY_MAXLEN, len(acks), len(replies)]
    for ids in acks.values():
        args += [len(ids), *ids]
    for stream, reply in replies:
        args += [index[stream], reply]
    for field, count in counts.items():
        args += [field, count]
    return keys, args


# A worker's heartbeat. KEYS: its job streams..., then the workers set. ARGV: group, consumer,
# then per job stream the number of jobs the process holds in memory and their ids. Resets the
# idle time of those jobs (XCLAIM to itself, JUSTID: the delivery count stays), so a slow but
# live worker's jobs are never re-claimed. Only jobs it holds: one delivered to it but lost on
# the way is left to go idle and be re-claimed (recovery.py). Only jobs it still owns: one
# already re-claimed by another worker is not taken back. Returns Redis's ms.
HEARTBEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local group, consumer = ARGV[1], ARGV[2]
redis.call('ZADD', KEYS[#KEYS], now, consumer)
local a = 3
for i = 1, #KEYS - 1 do
  local n = tonumber(ARGV[a])
  local claim = {'XCLAIM', KEYS[i], group, consumer, '0'}
  for j = a + 1, a + n do
    local mine = redis.pcall('XPENDING', KEYS[i], group, ARGV[j], ARGV[j], 1, consumer)
    if type(mine) == 'table' and not mine.err and #mine > 0 then table.insert(claim, ARGV[j]) end
  end
  if #claim > 5 then
    table.insert(claim, 'JUSTID')
    redis.call(unpack(claim))
  end
  a = a + 1 + n
end
return string.format('%.0f', now)
"""

# A worker's own lost deliveries. KEYS: job stream. ARGV: group, consumer, count, then the ids
# the process holds. Returns up to count jobs of the consumer's pending list that it does not
# hold, each {id, fields, deliveries}, their idle time reset (XCLAIM JUSTID: the delivery count
# stays, they were never run). An entry whose job is gone (the API deleted it: its request
# ended) is only acknowledged. Changes nothing else, so a lost answer is just asked again.
RECOVER = """
local held = {}
for i = 4, #ARGV do held[ARGV[i]] = true end
local want = tonumber(ARGV[3])
local mine = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', want + #ARGV - 3, ARGV[2])
local found = {}
for _, p in ipairs(mine) do
  if #found >= want then break end
  if not held[p[1]] then
    local entry = redis.call('XRANGE', KEYS[1], p[1], p[1])
    if #entry > 0 then
      redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], '0', p[1], 'JUSTID')
      table.insert(found, {p[1], entry[1][2], tonumber(p[4])})
    else
      redis.call('XACK', KEYS[1], ARGV[1], p[1])
    end
  end
end
return found
"""

# Re-claim a dead worker's jobs. KEYS: job stream, dead-letter stream. ARGV: group, consumer,
# visibility timeout ms, count, max deliveries, dead-letter maxlen. Atomic, so two workers
# never both take a job and a worker killed halfway loses nothing. A job already handed out
# max-deliveries times goes to the dead-letter stream instead. Returns the claimed jobs and
# the dead-lettered ones (whose requests the caller answers), each {id, fields, deliveries}.
RECLAIM = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[3], '-', '+', ARGV[4])
local claimed, dead = {}, {}
for _, p in ipairs(pending) do
  local id, deliveries = p[1], tonumber(p[4])
  if deliveries >= tonumber(ARGV[5]) then
    local entry = redis.call('XRANGE', KEYS[1], id, id)
    if #entry > 0 then
      redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'stream', KEYS[1], 'id', id,
        'last_consumer', p[2], 'deliveries', deliveries, unpack(entry[1][2]))
      table.insert(dead, {id, entry[1][2], deliveries})
    end
    redis.call('XACK', KEYS[1], ARGV[1], id)
    redis.call('XDEL', KEYS[1], id)
  else
    local entry = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], id)
    if #entry > 0 and entry[1] then
      table.insert(claimed, {id, entry[1][2], deliveries + 1})
    end
  end
end
return {claimed, dead}
"""

# Live workers, as the API counts them for admission. KEYS: workers set. ARGV: liveness ms.
LIVE_WORKERS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - tonumber(ARGV[1])))
return redis.call('ZCARD', KEYS[1])
"""

# Forget consumers of workers long gone. KEYS: job streams. ARGV: group, idle ms. Only those
# holding no job: a consumer's pending jobs would vanish with it. Atomic for the same reason.
FORGET_CONSUMERS = """
local forgotten = 0
for i = 1, #KEYS do
  local consumers = redis.pcall('XINFO', 'CONSUMERS', KEYS[i], ARGV[1])
  if type(consumers) == 'table' and not consumers.err then
    for _, c in ipairs(consumers) do
      local info = {}
      for j = 1, #c, 2 do info[c[j]] = c[j + 1] end
      if tonumber(info['pending']) == 0 and tonumber(info['idle']) > tonumber(ARGV[2]) then
        redis.call('XGROUP', 'DELCONSUMER', KEYS[i], ARGV[1], info['name'])
        forgotten = forgotten + 1
      end
    end
  end
end
return forgotten
"""
