"""The sync transport: Connect unary calls over a pool of blocking
Unix-socket connections, safe to share across threads and across fork().

Threads: each call takes an idle connection (or opens one) under a lock and
gives it back when its reply is read, so concurrent threads each get their
own. Fork: a child must not share the parent's connections (two processes
reading one socket would take each other's replies), so a pid change, or
``os.register_at_fork``'s hook, drops them; the child opens its own.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
import weakref
from typing import Any, Callable, TypeVar

from google.protobuf.message import Message

from . import _wire
from .errors import AttacheError, DeadlineExceeded, Unavailable

T = TypeVar("T")
Res = TypeVar("Res", bound=Message)

_transports: "weakref.WeakSet[Transport]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for t in list(_transports):
        t._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def unreachable(path: str, err: OSError) -> Unavailable:
    name = type(err).__name__
    return Unavailable(f"cannot reach the attache socket {path} ({name}: {err.strerror or err}); is the sidecar running?")


def connect(path: str, timeout: float) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
    except OSError as err:
        s.close()
        raise unreachable(path, err) from err
    return s


class _Stale(Exception):
    """A pooled connection the sidecar had closed: nothing of the request was read."""


class Transport:
    def __init__(self, path: str, idle: float = 30.0) -> None:
        self.path = path
        self._idle_for = idle
        self._idle: list[tuple[socket.socket, float]] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False
        _transports.add(self)

    def _forget(self) -> None:
        # In a forked child: the parent's connections are its own. Closing
        # our copies of their descriptors leaves the parent's open.
        self._lock = threading.Lock()
        for s, _ in self._idle:
            s.close()  # close(2) of this process's descriptor; no shutdown(2)
        self._idle = []
        self._pid = os.getpid()

    def _acquire(self, timeout: float) -> tuple[socket.socket, bool]:
        if self._pid != os.getpid():
            self._forget()
        now = time.monotonic()
        with self._lock:
            while self._idle:
                s, since = self._idle.pop()
                if now - since < self._idle_for:
                    return s, True
                s.close()
        return connect(self.path, timeout), False

    def _release(self, s: socket.socket) -> None:
        if self._closed or self._pid != os.getpid():
            s.close()
            return
        with self._lock:
            self._idle.append((s, time.monotonic()))

    def unary(self, m: _wire.Method[Any, Res], request: Message, timeout: float) -> Res:
        payload = _wire.unary_request(m, request.SerializeToString(), timeout)
        for _ in range(2):
            s, reused = self._acquire(timeout + 1.0)
            try:
                reply = self._exchange(s, payload, timeout, reused)
            except _Stale:
                s.close()
                continue
            except BaseException:
                s.close()
                raise
            if reply.close:
                s.close()
            else:
                self._release(s)
            return reply.result(m.output)
        raise Unavailable("the sidecar closed the connection before answering")

    def _exchange(self, s: socket.socket, payload: bytes, timeout: float, reused: bool) -> _wire.Reply:
        # The sidecar enforces the deadline; this margin only catches a hung socket.
        s.settimeout(timeout + 1.0)
        reply = _wire.Reply()
        got = False
        try:
            s.sendall(payload)
            while True:
                data = s.recv(65536)
                if not data:
                    if reused and not got:
                        raise _Stale()
                    raise Unavailable("the sidecar closed the connection before answering")
                got = True
                if reply.feed(data):
                    return reply
        except socket.timeout:
            raise DeadlineExceeded(f"no reply from the sidecar within {timeout:.3f} s") from None
        except (BrokenPipeError, ConnectionResetError) as err:
            if reused and not got:
                raise _Stale() from err
            raise Unavailable(f"the connection to the sidecar broke ({type(err).__name__})") from err
        except OSError as err:
            raise Unavailable(f"the connection to the sidecar failed ({err})") from err

    def close(self) -> None:
        """Closes idle connections; calls in flight close theirs when done."""
        self._closed = True
        with self._lock:
            idle, self._idle = self._idle, []
        for s, _ in idle:
            s.close()


def backoff(attempt: int) -> float:
    """Capped, jittered exponential backoff in seconds: 25 ms doubling, at most 1 s."""
    return float(min(1.0, 0.025 * 2**attempt) * (0.5 + random.random() / 2))


def with_policy(timeout: float, retries: int, call: Callable[[float], T]) -> T:
    """Runs ``call(remaining)`` within the deadline, retrying UNAVAILABLE
    with jittered backoff inside it (``retries`` is 0 for calls the proto
    does not mark idempotent)."""
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        try:
            return call(max(0.001, deadline - time.monotonic()))
        except Unavailable:
            pause = backoff(attempt)
            if attempt >= retries or time.monotonic() + pause >= deadline:
                raise
            time.sleep(pause)
            attempt += 1


class Caller:
    """What a module client calls through: the transport and the defaults."""

    def __init__(self, transport: Transport, timeout: float, retries: int) -> None:
        self.transport = transport
        self.timeout = timeout
        self.retries = retries

    def __call__(self, m: _wire.Method[Any, Res], request: Message, timeout: float | None = None) -> Res:
        return with_policy(
            self.timeout if timeout is None else timeout,
            self.retries if m.idempotent else 0,
            lambda remaining: self.transport.unary(m, request, remaining),
        )


__all__ = ["Transport", "Caller", "with_policy", "AttacheError"]
