"""Connect streams (binary envelopes over HTTP/1.1 chunked encoding), each on
a connection of its own: a stream may live for hours, so it never holds one
of the pool's connections. The sidecar's HTTP/1.1 reads the request body
and writes the reply at once, so bidi streams work over it.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message

from . import _wire
from ._atransport import open_connection
from ._transport import connect
from .errors import AttacheError, DeadlineExceeded, FailedPrecondition, Unavailable

Req = TypeVar("Req", bound=Message)
Res = TypeVar("Res", bound=Message)


class SyncStream(Generic[Req, Res]):
    """A bidi (or server) stream on a blocking socket. Not thread-safe: one
    owner sends and reads."""

    def __init__(self, path: str, m: _wire.Method[Req, Res], connect_timeout: float) -> None:
        self._m = m
        self._sock = connect(path, connect_timeout)
        self._reader = _wire.StreamReader()
        self._pending: list[bytes] = []
        self.ended = False
        self._send_closed = False
        self._sock.sendall(_wire.stream_request_head(m, None))

    def send(self, message: Req) -> None:
        if self.ended or self._send_closed:
            raise FailedPrecondition("the stream is closed")
        try:
            self._sock.sendall(_wire.envelope_chunk(message.SerializeToString()))
        except OSError as err:
            self.close()
            raise Unavailable(f"the stream to the sidecar broke ({err})") from err

    def close_send(self) -> None:
        if self.ended or self._send_closed:
            return
        self._send_closed = True
        try:
            self._sock.sendall(_wire.END_OF_BODY)
        except OSError:
            pass

    def receive(self, timeout: float | None) -> Res | None:
        """The next message; None once the sidecar ended the stream cleanly.
        Raises the stream's error, or DeadlineExceeded after ``timeout`` s
        (the stream stays usable)."""
        while not self._pending:
            if self._reader.error is not None:
                self.close()
                raise self._reader.error
            if self._reader.done or self.ended:
                self.close()
                return None
            self._sock.settimeout(timeout)
            try:
                data = self._sock.recv(65536)
            except socket.timeout:
                raise DeadlineExceeded(f"no message from the sidecar within {timeout} s") from None
            except OSError as err:
                self.close()
                raise Unavailable(f"the stream to the sidecar broke ({err})") from err
            if not data:
                error = self._reader.closed()
                self.close()
                raise error
            self._pending.extend(self._reader.feed(data))
        return self._m.output.FromString(self._pending.pop(0))

    def close(self) -> None:
        self.ended = True
        self._sock.close()


class AsyncStream(Generic[Req, Res]):
    """A bidi (or server) stream on asyncio streams."""

    def __init__(self, m: _wire.Method[Req, Res], conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self._m = m
        self._r, self._w = conn
        self._reader = _wire.StreamReader()
        self._pending: list[bytes] = []
        self.ended = False
        self._send_closed = False
        self._w.write(_wire.stream_request_head(m, None))

    @classmethod
    async def open(cls, path: str, m: _wire.Method[Req, Res]) -> "AsyncStream[Req, Res]":
        return cls(m, await open_connection(path))

    def send(self, message: Req) -> None:
        if self.ended or self._send_closed:
            raise FailedPrecondition("the stream is closed")
        self._w.write(_wire.envelope_chunk(message.SerializeToString()))

    def close_send(self) -> None:
        if self.ended or self._send_closed:
            return
        self._send_closed = True
        self._w.write(_wire.END_OF_BODY)

    async def receive(self) -> Res | None:
        while not self._pending:
            if self._reader.error is not None:
                self.close()
                raise self._reader.error
            if self._reader.done or self.ended:
                self.close()
                return None
            try:
                data = await self._r.read(65536)
            except OSError as err:
                self.close()
                raise Unavailable(f"the stream to the sidecar broke ({err})") from err
            if not data:
                error = self._reader.closed()
                self.close()
                raise error
            self._pending.extend(self._reader.feed(data))
        return self._m.output.FromString(self._pending.pop(0))

    def close(self) -> None:
        self.ended = True
        self._w.close()


def end_error(error: AttacheError | None) -> AttacheError:
    return error if error is not None else Unavailable("the sidecar ended the stream")


__all__ = ["SyncStream", "AsyncStream", "Any"]
