"""The asyncio transport: the sync transport's Connect unary calls, each
connection an ``asyncio.Protocol``; streams use asyncio streams
(:func:`open_connection`, for ``_stream``).

A pool of idle connections per event loop (an ``AsyncClient`` used from a
new loop starts a new pool); at most ``max_connections`` calls in flight,
one per connection.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, Awaitable, Callable, TypeVar

from google.protobuf.message import Message

from . import _wire
from ._transport import backoff, unreachable
from .errors import AttacheError, DeadlineExceeded, Unavailable

T = TypeVar("T")
Res = TypeVar("Res", bound=Message)

Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def open_connection(path: str) -> Conn:
    try:
        return await asyncio.open_unix_connection(path, limit=1 << 20)
    except OSError as err:
        raise unreachable(path, err) from err


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one call at a time. A protocol
    rather than asyncio streams: fewer layers and no task per call, which
    matters at ~100 µs a call (see README.md, "Transport")."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reply: _wire.Reply | None = None
        self.waiter: asyncio.Future[_wire.Reply] | None = None
        self.got = False
        self.closed = False
        self.since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.got = True
        waiter, reply = self.waiter, self.reply
        if waiter is None or reply is None or waiter.done():
            self.close()  # bytes nobody asked for: this connection cannot be trusted
            return
        try:
            done = reply.feed(data)
        except AttacheError as err:
            self.close()
            waiter.set_exception(err)
            return
        if done:
            self.waiter = None
            waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(
                _Stale() if not self.got else Unavailable("the sidecar closed the connection before answering")
            )

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class AsyncTransport:
    def __init__(self, path: str, max_connections: int = 128, idle: float = 30.0) -> None:
        self.path = path
        self._max = max_connections
        self._idle_for = idle
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: list[_Connection] = []
        self._slots: asyncio.Semaphore | None = None
        self._pid = os.getpid()
        self._closed = False

    def _pool(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if loop is not self._loop or self._pid != os.getpid() or self._slots is None:
            # Connections belong to the loop (and the process) that opened them.
            self._idle = []
            self._loop = loop
            self._pid = os.getpid()
            self._slots = asyncio.Semaphore(self._max)
        return self._slots

    async def unary(self, m: _wire.Method[Any, Res], request: Message, timeout: float) -> Res:
        payload = _wire.unary_request(m, request.SerializeToString(), timeout)
        loop = asyncio.get_running_loop()
        async with self._pool():
            for _ in range(2):
                conn, reused = await self._acquire(loop)
                conn.reply = _wire.Reply()
                conn.got = False
                waiter: asyncio.Future[_wire.Reply] = loop.create_future()
                conn.waiter = waiter
                # The sidecar enforces the deadline; this margin only catches a hung socket.
                timer = loop.call_later(timeout + 1.0, _expire, conn, waiter, timeout)
                try:
                    assert conn.transport is not None
                    conn.transport.write(payload)
                    reply = await waiter
                except _Stale:
                    if reused:
                        continue
                    raise Unavailable("the sidecar closed the connection before answering") from None
                except BaseException:
                    conn.close()
                    raise
                finally:
                    timer.cancel()
                if reply.close or self._closed or conn.closed:
                    conn.close()
                else:
                    conn.since = time.monotonic()
                    self._idle.append(conn)
                return reply.result(m.output)
        raise Unavailable("the sidecar closed the connection before answering")

    async def _acquire(self, loop: asyncio.AbstractEventLoop) -> tuple[_Connection, bool]:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if now - conn.since < self._idle_for and not conn.closed:
                return conn, True
            conn.close()
        try:
            _, conn = await loop.create_unix_connection(_Connection, self.path)
        except OSError as err:
            raise unreachable(self.path, err) from err
        return conn, False

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _expire(conn: _Connection, waiter: asyncio.Future[_wire.Reply], timeout: float) -> None:
    conn.close()
    if not waiter.done():
        waiter.set_exception(DeadlineExceeded(f"no reply from the sidecar within {timeout:.3f} s"))


class _Stale(Exception):
    """A pooled connection the sidecar had closed: nothing of the request was read."""


async def with_policy(timeout: float, retries: int, call: Callable[[float], Awaitable[T]]) -> T:
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        try:
            return await call(max(0.001, deadline - time.monotonic()))
        except Unavailable:
            pause = backoff(attempt)
            if attempt >= retries or time.monotonic() + pause >= deadline:
                raise
            await asyncio.sleep(pause)
            attempt += 1


class AsyncCaller:
    def __init__(self, transport: AsyncTransport, timeout: float, retries: int) -> None:
        self.transport = transport
        self.timeout = timeout
        self.retries = retries

    async def __call__(self, m: _wire.Method[Any, Res], request: Message, timeout: float | None = None) -> Res:
        return await with_policy(
            self.timeout if timeout is None else timeout,
            self.retries if m.idempotent else 0,
            lambda remaining: self.transport.unary(m, request, remaining),
        )
