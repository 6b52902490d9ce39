"""Jobs and batches in Redis: the store of the scaled mode (QUEUE_URL), read and written
by every web process and every worker on every machine. Same interface as the SQLite
store (app.jobs.JobStore): add, get, list, update with compare-and-set, delete,
ids_with_status, counts, in_batch.

Keys, all under PREFIX ("syncdub:"):

    job:<id>            hash: one field per Job field, each value JSON-encoded
    jobs                sorted set of job ids by creation time (list: newest first)
    status:<status>     set of job ids per status (counts, ids_with_status)
    batch-jobs:<batch>  sorted set of a batch's job ids by creation time
    batch:<batch>       a batch's record (JSON); batches: sorted set of batch ids

An update is one Lua script: the status check (compare-and-set), the status sets and the
fields change together, so a cancel, a worker and the reaper (app.queue) never overwrite
each other. One Redis server, not a cluster (the script names keys it computes).

Redis unreachable (stopped, restarting, still loading its data) is QueueUnavailable
(HTTP 503) naming the server; the client reconnects by itself when it is back.
"""
from __future__ import annotations

import functools
import json
import time
from dataclasses import asdict, fields
from typing import Any, Callable, TypeVar

import redis

from app.errors import QueueUnavailable
from app.jobs import STATUSES, Job
from config import redact_url

PREFIX = "syncdub:"
#: Seconds to wait for a connection to Redis, and for an answer: a health check or a page
#: must say "cannot reach redis" quickly rather than hang.
CONNECT_TIMEOUT_S = 2.0
SOCKET_TIMEOUT_S = 10.0

_COLUMNS = [f.name for f in fields(Job)]
F = TypeVar("F", bound=Callable[..., Any])

# ARGV: prefix, id, a key that must not exist ("" = none), n, n statuses (the job must be
# in one of them; n = 0: any), then field / JSON value pairs. Returns 1 when written.
_UPDATE = """
local prefix, id, absent, n = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local key = prefix .. 'job:' .. id
local raw = redis.call('HGET', key, 'status')
if not raw then return 0 end
local status = cjson.decode(raw)
if n > 0 then
  local ok = false
  for i = 1, n do if ARGV[4 + i] == status then ok = true end end
  if not ok then return 0 end
end
if absent ~= '' and redis.call('EXISTS', absent) == 1 then return 0 end
for i = 5 + n, #ARGV, 2 do
  local f, v = ARGV[i], ARGV[i + 1]
  if f == 'status' then
    local new = cjson.decode(v)
    redis.call('SREM', prefix .. 'status:' .. status, id)
    redis.call('SADD', prefix .. 'status:' .. new, id)
    status = new
  elseif f == 'batch_id' then
    local old = cjson.decode(redis.call('HGET', key, 'batch_id') or 'null')
    local new = cjson.decode(v)
    if type(old) == 'string' then redis.call('ZREM', prefix .. 'batch-jobs:' .. old, id) end
    if type(new) == 'string' then
      local score = redis.call('ZSCORE', prefix .. 'jobs', id) or 0
      redis.call('ZADD', prefix .. 'batch-jobs:' .. new, score, id)
    end
  end
  redis.call('HSET', key, f, v)
end
return 1
"""


def connect(url: str) -> redis.Redis:
    """A client for `url` (text answers, short timeouts; it reconnects by itself)."""
    return redis.Redis.from_url(url, decode_responses=True,
                                socket_connect_timeout=CONNECT_TIMEOUT_S,
                                socket_timeout=SOCKET_TIMEOUT_S, health_check_interval=15)


def unreachable(url: str, error: Exception) -> QueueUnavailable:
    """The error the API shows while Redis is away."""
    return QueueUnavailable(f"queue: cannot reach redis at {redact_url(url)} ({error}); "
                            "jobs cannot be queued or read until it is back")


def guarded(method: F) -> F:
    """Redis connection errors raised by `method` become QueueUnavailable."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as e:
            raise unreachable(self.url, e) from None
    return wrapper  # type: ignore[return-value]


def _encode(value: Any) -> str:
    return json.dumps(value)


class RedisJobStore:
    """Jobs in Redis (see the module's docstring); safe to share between threads."""

    def __init__(self, url: str, prefix: str = PREFIX) -> None:
        self.url = url
        self.prefix = prefix
        self.redis = connect(url)
        self._update = self.redis.register_script(_UPDATE)

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    @staticmethod
    def _decode(raw: dict[str, str]) -> Job | None:
        if not raw:
            return None
        return Job(**{k: json.loads(v) for k, v in raw.items() if k in _COLUMNS})

    @guarded
    def add(self, job: Job) -> Job:
        score = time.time()
        with self.redis.pipeline() as p:
            p.hset(self.key("job", job.id),
                   mapping={k: _encode(v) for k, v in asdict(job).items()})
            p.zadd(self.key("jobs"), {job.id: score})
            p.sadd(self.key("status", job.status), job.id)
            if job.batch_id:
                p.zadd(self.key("batch-jobs", job.batch_id), {job.id: score})
            p.execute()
        return job

    @guarded
    def get(self, job_id: str) -> Job | None:
        return self._decode(self.redis.hgetall(self.key("job", job_id)))

    def _many(self, ids: list[str]) -> list[Job]:
        with self.redis.pipeline(transaction=False) as p:
            for job_id in ids:
                p.hgetall(self.key("job", job_id))
            rows = p.execute()
        return [j for j in map(self._decode, rows) if j is not None]

    @guarded
    def list(self, limit: int = 200) -> list[Job]:
        return self._many(self.redis.zrevrange(self.key("jobs"), 0, limit - 1))

    @guarded
    def update(self, job_id: str, only_if_status: tuple[str, ...] | None = None,
               unless_key: str = "", **changes: Any) -> bool:
        """Set fields; with `only_if_status`, only when the job is in one of those states;
        with `unless_key`, only while that key does not exist (app.queue: a job's lease),
        all in one step."""
        unknown = set(changes) - set(_COLUMNS)
        if unknown:
            raise ValueError(f"unknown job fields {unknown}")
        allowed = list(only_if_status or ())
        args: list[Any] = [self.prefix, job_id, unless_key, len(allowed), *allowed]
        for k, v in changes.items():
            args += [k, _encode(v)]
        return bool(self._update(args=args))

    @guarded
    def delete(self, job_id: str) -> None:
        batch = self.redis.hget(self.key("job", job_id), "batch_id")
        batch_id = json.loads(batch) if batch else None
        with self.redis.pipeline() as p:
            p.delete(self.key("job", job_id))
            p.zrem(self.key("jobs"), job_id)
            for s in STATUSES:
                p.srem(self.key("status", s), job_id)
            if batch_id:
                p.zrem(self.key("batch-jobs", batch_id), job_id)
            p.execute()

    @guarded
    def ids_with_status(self, *statuses: str) -> list[str]:
        """Oldest first, as the SQLite store."""
        ids = list(self.redis.sunion([self.key("status", s) for s in statuses])) \
            if statuses else []
        if not ids:
            return []
        with self.redis.pipeline(transaction=False) as p:
            for job_id in ids:
                p.zscore(self.key("jobs"), job_id)
            scores = p.execute()
        return [i for _, i in sorted(zip((s or 0.0 for s in scores), ids))]

    @guarded
    def counts(self) -> dict[str, int]:
        with self.redis.pipeline(transaction=False) as p:
            for s in STATUSES:
                p.scard(self.key("status", s))
            return dict(zip(STATUSES, p.execute()))

    @guarded
    def in_batch(self, batch_id: str) -> list[Job]:
        """The jobs of one season batch, oldest first."""
        return self._many(self.redis.zrange(self.key("batch-jobs", batch_id), 0, -1))

    @guarded
    def ping(self) -> None:
        self.redis.ping()

    def close(self) -> None:
        self.redis.close()


class RedisBatchStore:
    """Season batches (app.batches.Batch) beside the jobs in Redis; the BatchStore
    interface: add, get, list, delete."""

    def __init__(self, jobs: RedisJobStore) -> None:
        self.jobs = jobs
        self.url = jobs.url
        self.redis = jobs.redis

    @guarded
    def add(self, batch):
        with self.redis.pipeline() as p:
            p.set(self.jobs.key("batch", batch.id), json.dumps(asdict(batch)))
            p.zadd(self.jobs.key("batches"), {batch.id: time.time()})
            p.execute()
        return batch

    @staticmethod
    def _decode(raw: str | None):
        from app.batches import Batch
        if not raw:
            return None
        known = {f.name for f in fields(Batch)}
        return Batch(**{k: v for k, v in json.loads(raw).items() if k in known})

    @guarded
    def get(self, batch_id: str):
        return self._decode(self.redis.get(self.jobs.key("batch", batch_id)))

    @guarded
    def list(self, limit: int = 200):
        ids = self.redis.zrevrange(self.jobs.key("batches"), 0, limit - 1)
        if not ids:
            return []
        raws = self.redis.mget([self.jobs.key("batch", i) for i in ids])
        return [b for b in map(self._decode, raws) if b is not None]

    @guarded
    def delete(self, batch_id: str) -> None:
        with self.redis.pipeline() as p:
            p.delete(self.jobs.key("batch", batch_id))
            p.zrem(self.jobs.key("batches"), batch_id)
            p.execute()
