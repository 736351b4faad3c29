"""Redis/Valkey through the sidecar: every process on the host shares its
pipelined connections and its client-side cache (RESP3 CLIENT TRACKING)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, AsyncIterator, Iterator, Mapping, Sequence, Union

from ._atransport import AsyncCaller
from ._atransport import with_policy as async_with_policy
from ._gen.redis.v1 import redis_pb2 as pb
from ._stream import AsyncStream, SyncStream
from ._transport import Caller
from ._wire import method
from .errors import AttacheError, DeadlineExceeded, Internal, RedisReplyError, error_for

_service = pb.DESCRIPTOR.services_by_name["RedisService"]
DO = method(_service, "Do", pb.DoRequest, pb.DoResponse)
DO_MULTI = method(_service, "DoMulti", pb.DoMultiRequest, pb.DoMultiResponse)
DO_CACHED = method(_service, "DoCached", pb.DoCachedRequest, pb.DoCachedResponse)
MGET_CACHED = method(_service, "MGetCached", pb.MGetCachedRequest, pb.MGetCachedResponse)
BATCH = method(_service, "Batch", pb.BatchRequest, pb.BatchResponse)
SUBSCRIBE = method(_service, "Subscribe", pb.SubscribeRequest, pb.SubscribeResponse)

#: A command argument: str (sent as UTF-8), bytes, int or float (sent in decimal).
RedisArg = Union[str, bytes, bytearray, memoryview, int, float]

#: A RESP3 reply: None (nil), bytes (bulk string), str (simple string,
#: verbatim string), int (integer, big number), float, bool, list (array,
#: set), dict (map), or RedisReplyError inside arrays (a top-level error
#: reply is raised instead).
RedisValue = Union[None, bytes, str, int, float, bool, RedisReplyError, list["RedisValue"], dict[Any, "RedisValue"]]


@dataclass(frozen=True)
class Cached:
    """A reply served through the sidecar's cache."""

    value: RedisValue
    #: The reply came from the sidecar's cache without asking Redis.
    cache_hit: bool


@dataclass(frozen=True)
class CachedValues:
    values: list[bytes | None]
    cache_hits: int


@dataclass(frozen=True, init=False)
class Cmd:
    """A ``do`` call of :meth:`RedisClient.batch`: ``Cmd("INCR", "hits")``."""

    args: tuple[RedisArg, ...]

    def __init__(self, *args: RedisArg) -> None:
        object.__setattr__(self, "args", args)


@dataclass(frozen=True, init=False)
class CachedCmd:
    """A ``do_cached`` call of :meth:`RedisClient.batch`: ``CachedCmd("GET", "k", ttl=60)``."""

    args: tuple[RedisArg, ...]
    ttl: float | None

    def __init__(self, *args: RedisArg, ttl: float | None = None) -> None:
        object.__setattr__(self, "args", args)
        object.__setattr__(self, "ttl", ttl)


@dataclass(frozen=True)
class BatchResult:
    """The outcome of one call of a batch."""

    value: RedisValue = None
    #: A :class:`CachedCmd` was answered from the sidecar's cache.
    cache_hit: bool = False
    #: The call's own failure: the AttacheError it would have raised alone,
    #: or the RedisReplyError of an error reply (``value`` is then None).
    error: AttacheError | RedisReplyError | None = None


@dataclass(frozen=True)
class PubSubMessage:
    channel: str
    payload: bytes
    #: The pattern that matched, for pattern subscriptions; None otherwise.
    pattern: str | None = None


def _arg(a: RedisArg) -> bytes:
    if isinstance(a, bytes):
        return a
    if isinstance(a, str):
        return a.encode()
    if isinstance(a, bool):
        raise TypeError("a Redis argument cannot be a bool; send 1/0 or a string")
    if isinstance(a, (int, float)):
        return repr(a).encode() if isinstance(a, float) else str(a).encode()
    if isinstance(a, (bytearray, memoryview)):
        return bytes(a)
    raise TypeError(f"a Redis argument must be str, bytes, int or float, not {type(a).__name__}")


def _args(args: Sequence[RedisArg]) -> list[bytes]:
    return [_arg(a) for a in args]


def _hashable(v: RedisValue) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(e) for e in v)
    if isinstance(v, dict):
        return tuple((k, _hashable(x)) for k, x in v.items())
    return v


def from_value(v: pb.Value | None) -> RedisValue:
    if v is None:
        return None
    kind = v.WhichOneof("kind")
    if kind is None or kind == "null":
        return None
    if kind == "bulk":
        return v.bulk
    if kind == "simple":
        return v.simple
    if kind == "integer":
        return v.integer
    if kind == "error":
        return RedisReplyError(v.error)
    if kind == "array":
        return [from_value(e) for e in v.array.values]
    if kind == "set":
        return [from_value(e) for e in v.set.values]
    if kind == "map":
        return {_hashable(from_value(e.key)): from_value(e.value) for e in v.map.entries}
    if kind == "double":
        return v.double
    if kind == "boolean":
        return v.boolean
    if kind == "big_number":
        return int(v.big_number)
    if kind == "verbatim":
        return v.verbatim.text.decode("utf-8", "replace")
    raise Internal(f"unknown Redis reply kind {kind}")


def _or_raise(v: RedisValue) -> RedisValue:
    if isinstance(v, RedisReplyError):
        raise v
    return v


def _text(v: RedisValue) -> str | None:
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode()
    return str(v)


def _set_args(key: RedisArg, value: RedisArg, px: int | None, nx: bool) -> list[RedisArg]:
    args: list[RedisArg] = ["SET", key, value]
    if px is not None:
        args += ["PX", px]
    if nx:
        args.append("NX")
    return args


def _ttl(ttl: float | None) -> int:
    return 0 if ttl is None else max(0, int(ttl * 1000))


def _batch_request(calls: Sequence[Cmd | CachedCmd]) -> pb.BatchRequest:
    request = pb.BatchRequest()
    for c in calls:
        if isinstance(c, Cmd):
            request.calls.append(pb.BatchCall(do=pb.DoRequest(args=_args(c.args))))
        elif isinstance(c, CachedCmd):
            request.calls.append(pb.BatchCall(do_cached=pb.DoCachedRequest(args=_args(c.args), ttl_ms=_ttl(c.ttl))))
        else:
            raise TypeError(f"a batch call must be a Cmd or a CachedCmd, not {type(c).__name__}")
    return request


def _batch_result(r: pb.BatchResult) -> BatchResult:
    which = r.WhichOneof("result")
    if which == "do":
        value, hit = from_value(r.do.reply), False
    elif which == "do_cached":
        value, hit = from_value(r.do_cached.reply), r.do_cached.cache_hit
    elif which == "error":
        return BatchResult(error=error_for(r.error.code, r.error.message))
    else:
        return BatchResult(error=Internal("the sidecar's batch reply lacks a result"))
    if isinstance(value, RedisReplyError):
        return BatchResult(cache_hit=hit, error=value)
    return BatchResult(value, hit)


def _batch_results(reply: pb.BatchResponse, n: int) -> list[BatchResult]:
    if len(reply.results) != n:
        raise Internal(f"the sidecar answered {len(reply.results)} of {n} calls")
    return [_batch_result(r) for r in reply.results]


def _message(r: pb.SubscribeResponse) -> PubSubMessage | None:
    if r.WhichOneof("event") != "message":
        return None
    m = r.message
    return PubSubMessage(channel=m.channel, payload=m.payload, pattern=m.pattern or None)


class RedisClient:
    """``client.redis``. ``do`` and ``do_multi`` are not retried (a command
    may not be idempotent); cached reads are, on UNAVAILABLE."""

    def __init__(self, call: Caller, path: str) -> None:
        self._call = call
        self._path = path

    def do(self, *args: RedisArg, timeout: float | None = None) -> RedisValue:
        """Runs one command, e.g. ``do("HINCRBY", "stats", "hits", 1)``; an error reply raises RedisReplyError."""
        return _or_raise(from_value(self._call(DO, pb.DoRequest(args=_args(args)), timeout).reply))

    def do_multi(self, commands: Sequence[Sequence[RedisArg]], *, timeout: float | None = None) -> list[RedisValue]:
        """Runs commands in order, replies in order; error replies are RedisReplyError values.
        MULTI … EXEC (with WATCH) in one call is atomic."""
        request = pb.DoMultiRequest(commands=[pb.Command(args=_args(c)) for c in commands])
        return [from_value(v) for v in self._call(DO_MULTI, request, timeout).replies]

    def do_cached(self, *args: RedisArg, ttl: float | None = None, timeout: float | None = None) -> Cached:
        """A read-only command served from the sidecar's cache, which Redis keeps correct by invalidation.
        ``ttl``: longest time in seconds the reply may be served from the cache."""
        reply = self._call(DO_CACHED, pb.DoCachedRequest(args=_args(args), ttl_ms=_ttl(ttl)), timeout)
        return Cached(_or_raise(from_value(reply.reply)), reply.cache_hit)

    def mget_cached(self, keys: Sequence[RedisArg], *, ttl: float | None = None, timeout: float | None = None) -> CachedValues:
        """Many keys, hits from the cache and misses from Redis in one round trip."""
        reply = self._call(MGET_CACHED, pb.MGetCachedRequest(keys=_args(keys), ttl_ms=_ttl(ttl)), timeout)
        return CachedValues([v.bulk if v.WhichOneof("kind") == "bulk" else None for v in reply.values], reply.cache_hits)

    def batch(self, calls: Sequence[Cmd | CachedCmd], *, timeout: float | None = None) -> list[BatchResult]:
        """Independent calls in one round trip, each with its own result: a
        failed call does not fail the others, e.g. ``batch([Cmd("INCR", "n"),
        CachedCmd("GET", "k", ttl=60)])``. The explicit form of the asyncio
        client's auto-pipelining; raises only for the batch as a whole (the
        sidecar unreachable, the deadline passed)."""
        return _batch_results(self._call(BATCH, _batch_request(calls), timeout), len(calls))

    def subscribe(
        self, channels: Sequence[str] = (), patterns: Sequence[str] = (), *, timeout: float | None = None
    ) -> Subscription:
        """Subscribes; returns once Redis has confirmed (within ``timeout``).
        A subscriber that falls behind ends with ResourceExhausted."""
        wait = self._call.timeout if timeout is None else timeout
        stream = SyncStream(self._path, SUBSCRIBE, wait)
        stream.send(pb.SubscribeRequest(channels=list(channels), patterns=list(patterns)))
        stream.close_send()
        try:
            first = stream.receive(wait)
        except BaseException:
            stream.close()
            raise
        if first is None or first.WhichOneof("event") != "subscribed":
            stream.close()
            raise Internal("the subscription ended before it was confirmed")
        return Subscription(stream)

    # Typed helpers for the common commands.

    def get(self, key: RedisArg, *, timeout: float | None = None) -> str | None:
        return _text(self.do("GET", key, timeout=timeout))

    def get_cached(self, key: RedisArg, *, ttl: float | None = None, timeout: float | None = None) -> str | None:
        return _text(self.do_cached("GET", key, ttl=ttl, timeout=timeout).value)

    def set(
        self, key: RedisArg, value: RedisArg, *, px: int | None = None, nx: bool = False, timeout: float | None = None
    ) -> bool:
        """SET; False when ``nx`` was given and the key existed. ``px``: expire after this many ms."""
        return self.do(*_set_args(key, value, px, nx), timeout=timeout) is not None

    def delete(self, *keys: RedisArg, timeout: float | None = None) -> int:
        return int(self.do("DEL", *keys, timeout=timeout))  # type: ignore[arg-type]

    def incr(self, key: RedisArg, *, timeout: float | None = None) -> int:
        return int(self.do("INCR", key, timeout=timeout))  # type: ignore[arg-type]

    def expire(self, key: RedisArg, seconds: int, *, timeout: float | None = None) -> bool:
        return self.do("EXPIRE", key, seconds, timeout=timeout) == 1

    def hget(self, key: RedisArg, field: RedisArg, *, timeout: float | None = None) -> str | None:
        return _text(self.do("HGET", key, field, timeout=timeout))

    def hset(self, key: RedisArg, fields: Mapping[str, RedisArg], *, timeout: float | None = None) -> int:
        flat: list[RedisArg] = [x for kv in fields.items() for x in kv]
        return int(self.do("HSET", key, *flat, timeout=timeout))  # type: ignore[arg-type]

    def hgetall(self, key: RedisArg, *, timeout: float | None = None) -> dict[str, str]:
        return _pairs(self.do("HGETALL", key, timeout=timeout))

    def mget(self, *keys: RedisArg, timeout: float | None = None) -> list[str | None]:
        reply = self.do("MGET", *keys, timeout=timeout)
        return [_text(v) for v in reply] if isinstance(reply, list) else []


def _pairs(reply: RedisValue) -> dict[str, str]:
    if isinstance(reply, dict):
        return {_text(k) or "": _text(v) or "" for k, v in reply.items()}
    if isinstance(reply, list):  # RESP2 servers answer a flat list
        return {_text(reply[i]) or "": _text(reply[i + 1]) or "" for i in range(0, len(reply) - 1, 2)}
    return {}


class Subscription:
    """A live subscription: iterate it for messages; ``close()`` (or leaving a ``with`` block) unsubscribes."""

    def __init__(self, stream: SyncStream[pb.SubscribeRequest, pb.SubscribeResponse]) -> None:
        self._stream = stream

    def get_message(self, timeout: float | None = None) -> PubSubMessage | None:
        """The next message, waiting up to ``timeout`` s (None: forever); None if none came in time."""
        while True:
            try:
                r = self._stream.receive(timeout)
            except DeadlineExceeded:
                return None
            if r is None:
                return None
            m = _message(r)
            if m is not None:
                return m

    def __iter__(self) -> Iterator[PubSubMessage]:
        while not self._stream.ended:
            m = self.get_message(None)
            if m is None:
                return
            yield m

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncSubscription:
    """As :class:`Subscription`: ``async for`` it; ``await close()``."""

    def __init__(self, stream: AsyncStream[pb.SubscribeRequest, pb.SubscribeResponse]) -> None:
        self._stream = stream

    async def get_message(self, timeout: float | None = None) -> PubSubMessage | None:
        while True:
            try:
                r = await asyncio.wait_for(self._stream.receive(), timeout)
            except asyncio.TimeoutError:
                return None
            if r is None:
                return None
            m = _message(r)
            if m is not None:
                return m

    async def __aiter__(self) -> AsyncIterator[PubSubMessage]:
        while not self._stream.ended:
            m = await self.get_message(None)
            if m is None:
                return
            yield m

    async def close(self) -> None:
        self._stream.close()

    async def __aenter__(self) -> AsyncSubscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


#: Most calls one Batch RPC carries (as the Node SDK, measured there).
MAX_BATCH = 32
_BLOCKING = {"BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP", "WAIT", "WAITAOF"}


def _batchable(args: Sequence[bytes]) -> bool:
    name = args[0].upper().decode("latin-1") if args else ""
    if name in _BLOCKING:
        return False
    if name in ("XREAD", "XREADGROUP"):
        return not any(a.upper() == b"BLOCK" for a in args)
    return True


class _Queued:
    __slots__ = ("call", "timeout", "future")

    def __init__(self, call: pb.BatchCall, timeout: float, future: asyncio.Future[tuple[RedisValue, bool]]) -> None:
        self.call = call
        self.timeout = timeout
        self.future = future


class AsyncRedisClient:
    """``AsyncClient.redis``: as :class:`RedisClient`, awaitable, with
    auto-pipelining: ``do`` and ``do_cached`` calls made in the same
    event-loop iteration go to the sidecar in one Batch RPC."""

    def __init__(self, call: AsyncCaller, path: str) -> None:
        self._call = call
        self._path = path
        self._queue: list[_Queued] = []
        self._scheduled = False

    def _enqueue(self, call: pb.BatchCall, timeout: float) -> asyncio.Future[tuple[RedisValue, bool]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[RedisValue, bool]] = loop.create_future()
        self._queue.append(_Queued(call, timeout, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._scheduled = False
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            asyncio.ensure_future(self._send(batch))

    async def _send(self, batch: list[_Queued]) -> None:
        try:
            if len(batch) == 1:
                q = batch[0]
                if q.call.WhichOneof("call") == "do":
                    r = await self._call.transport.unary(DO, q.call.do, q.timeout)
                    outcome: tuple[RedisValue, bool] = (from_value(r.reply), False)
                else:
                    rc = await self._call.transport.unary(DO_CACHED, q.call.do_cached, q.timeout)
                    outcome = (from_value(rc.reply), rc.cache_hit)
                if not q.future.done():
                    q.future.set_result(outcome)
                return
            # Nobody's call is cut short by a neighbour's shorter deadline.
            timeout = max(q.timeout for q in batch)
            reply = await self._call.transport.unary(BATCH, pb.BatchRequest(calls=[q.call for q in batch]), timeout)
            for i, q in enumerate(batch):
                if q.future.done():
                    continue
                result = reply.results[i] if i < len(reply.results) else None
                which = result.WhichOneof("result") if result is not None else None
                if result is None or which is None:
                    q.future.set_exception(Internal("the sidecar's batch reply lacks a result"))
                elif which == "do":
                    q.future.set_result((from_value(result.do.reply), False))
                elif which == "do_cached":
                    q.future.set_result((from_value(result.do_cached.reply), result.do_cached.cache_hit))
                else:
                    q.future.set_exception(error_for(result.error.code, result.error.message))
        except BaseException as err:  # noqa: BLE001 - handed to every caller of the batch
            for q in batch:
                if not q.future.done():
                    q.future.set_exception(err if isinstance(err, AttacheError) else Internal(str(err)))

    async def do(self, *args: RedisArg, timeout: float | None = None) -> RedisValue:
        encoded = _args(args)
        if not _batchable(encoded):
            return _or_raise(from_value((await self._call(DO, pb.DoRequest(args=encoded), timeout)).reply))
        call = pb.BatchCall(do=pb.DoRequest(args=encoded))
        value, _ = await async_with_policy(
            self._call.timeout if timeout is None else timeout, 0, lambda t: self._enqueue(call, t)
        )
        return _or_raise(value)

    async def do_multi(self, commands: Sequence[Sequence[RedisArg]], *, timeout: float | None = None) -> list[RedisValue]:
        request = pb.DoMultiRequest(commands=[pb.Command(args=_args(c)) for c in commands])
        return [from_value(v) for v in (await self._call(DO_MULTI, request, timeout)).replies]

    async def do_cached(self, *args: RedisArg, ttl: float | None = None, timeout: float | None = None) -> Cached:
        call = pb.BatchCall(do_cached=pb.DoCachedRequest(args=_args(args), ttl_ms=_ttl(ttl)))
        value, hit = await async_with_policy(
            self._call.timeout if timeout is None else timeout,
            self._call.retries if DO_CACHED.idempotent else 0,
            lambda t: self._enqueue(call, t),
        )
        return Cached(_or_raise(value), hit)

    async def mget_cached(
        self, keys: Sequence[RedisArg], *, ttl: float | None = None, timeout: float | None = None
    ) -> CachedValues:
        reply = await self._call(MGET_CACHED, pb.MGetCachedRequest(keys=_args(keys), ttl_ms=_ttl(ttl)), timeout)
        return CachedValues([v.bulk if v.WhichOneof("kind") == "bulk" else None for v in reply.values], reply.cache_hits)

    async def batch(self, calls: Sequence[Cmd | CachedCmd], *, timeout: float | None = None) -> list[BatchResult]:
        """As :meth:`RedisClient.batch`: these calls in one Batch RPC of their own."""
        return _batch_results(await self._call(BATCH, _batch_request(calls), timeout), len(calls))

    async def subscribe(
        self, channels: Sequence[str] = (), patterns: Sequence[str] = (), *, timeout: float | None = None
    ) -> AsyncSubscription:
        wait = self._call.timeout if timeout is None else timeout
        stream = await AsyncStream.open(self._path, SUBSCRIBE)
        stream.send(pb.SubscribeRequest(channels=list(channels), patterns=list(patterns)))
        stream.close_send()
        try:
            first = await asyncio.wait_for(stream.receive(), wait)
        except asyncio.TimeoutError:
            stream.close()
            raise DeadlineExceeded(f"the subscription was not confirmed within {wait} s") from None
        except BaseException:
            stream.close()
            raise
        if first is None or first.WhichOneof("event") != "subscribed":
            stream.close()
            raise Internal("the subscription ended before it was confirmed")
        return AsyncSubscription(stream)

    async def get(self, key: RedisArg, *, timeout: float | None = None) -> str | None:
        return _text(await self.do("GET", key, timeout=timeout))

    async def get_cached(self, key: RedisArg, *, ttl: float | None = None, timeout: float | None = None) -> str | None:
        return _text((await self.do_cached("GET", key, ttl=ttl, timeout=timeout)).value)

    async def set(
        self, key: RedisArg, value: RedisArg, *, px: int | None = None, nx: bool = False, timeout: float | None = None
    ) -> bool:
        return (await self.do(*_set_args(key, value, px, nx), timeout=timeout)) is not None

    async def delete(self, *keys: RedisArg, timeout: float | None = None) -> int:
        return int(await self.do("DEL", *keys, timeout=timeout))  # type: ignore[arg-type]

    async def incr(self, key: RedisArg, *, timeout: float | None = None) -> int:
        return int(await self.do("INCR", key, timeout=timeout))  # type: ignore[arg-type]

    async def expire(self, key: RedisArg, seconds: int, *, timeout: float | None = None) -> bool:
        return (await self.do("EXPIRE", key, seconds, timeout=timeout)) == 1

    async def hget(self, key: RedisArg, field: RedisArg, *, timeout: float | None = None) -> str | None:
        return _text(await self.do("HGET", key, field, timeout=timeout))

    async def hset(self, key: RedisArg, fields: Mapping[str, RedisArg], *, timeout: float | None = None) -> int:
        flat: list[RedisArg] = [x for kv in fields.items() for x in kv]
        return int(await self.do("HSET", key, *flat, timeout=timeout))  # type: ignore[arg-type]

    async def hgetall(self, key: RedisArg, *, timeout: float | None = None) -> dict[str, str]:
        return _pairs(await self.do("HGETALL", key, timeout=timeout))

    async def mget(self, *keys: RedisArg, timeout: float | None = None) -> list[str | None]:
        reply = await self.do("MGET", *keys, timeout=timeout)
        return [_text(v) for v in reply] if isinstance(reply, list) else []
