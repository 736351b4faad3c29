"""Connect over HTTP/1.1, the bytes only: request heads, reply parsing and
stream envelopes, shared by the sync and the asyncio transports.

Why hand-written rather than grpcio or an HTTP library: see README.md,
"Transport" (the measured spike). One request per connection at a time;
the sidecar answers in order.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.descriptor_pb2 import MethodOptions
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from .errors import AttacheError, Internal, Unavailable, from_connect, from_connect_json

Req = TypeVar("Req", bound=Message)
Res = TypeVar("Res", bound=Message)

_IDEMPOTENT = (MethodOptions.NO_SIDE_EFFECTS, MethodOptions.IDEMPOTENT)


@dataclass(frozen=True)
class Method(Generic[Req, Res]):
    """One RPC: its path, message classes, and whether the proto marks it
    idempotent (``idempotency_level``), which is what makes it retryable."""

    path: str
    input: type[Req]
    output: type[Res]
    idempotent: bool
    unary_head: bytes
    stream_head: bytes


def method(service: ServiceDescriptor, name: str, input: type[Req], output: type[Res]) -> Method[Req, Res]:
    md: MethodDescriptor = service.methods_by_name[name]
    if GetMessageClass(md.input_type) is not input or GetMessageClass(md.output_type) is not output:
        raise TypeError(f"{service.full_name}/{name} does not take {input.__name__} and return {output.__name__}")
    path = f"/{service.full_name}/{name}"
    common = f"POST {path} HTTP/1.1\r\nhost: localhost\r\nconnect-protocol-version: 1\r\n"
    return Method(
        path=path,
        input=input,
        output=output,
        idempotent=md.GetOptions().idempotency_level in _IDEMPOTENT,
        unary_head=(common + "content-type: application/proto\r\n").encode("latin-1"),
        stream_head=(common + "content-type: application/connect+proto\r\ntransfer-encoding: chunked\r\n").encode(
            "latin-1"
        ),
    )


def unary_request(m: Method[Any, Any], body: bytes, timeout: float) -> bytes:
    ms = max(1, int(timeout * 1000))
    return b"%sconnect-timeout-ms: %d\r\ncontent-length: %d\r\n\r\n%s" % (m.unary_head, ms, len(body), body)


def stream_request_head(m: Method[Any, Any], timeout: float | None) -> bytes:
    deadline = b"" if timeout is None else b"connect-timeout-ms: %d\r\n" % max(1, int(timeout * 1000))
    return m.stream_head + deadline + b"\r\n"


def envelope_chunk(message: bytes) -> bytes:
    """One stream message as one chunk of the chunked request body."""
    frame = struct.pack(">BI", 0, len(message)) + message
    return b"%x\r\n%s\r\n" % (len(frame), frame)


END_OF_BODY = b"0\r\n\r\n"


class Reply:
    """An HTTP/1.1 reply parsed as its bytes arrive (unary: the whole body)."""

    __slots__ = ("status", "headers", "body", "_buf", "_head_done", "_length", "_chunked", "close")

    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""
        self.close = False
        self._buf = bytearray()
        self._head_done = False
        self._length = -1
        self._chunked = False

    def feed(self, data: bytes) -> bool:
        """Adds bytes; True once the reply is complete."""
        self._buf += data
        if not self._head_done:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return False
            self._parse_head(bytes(self._buf[:end]))
            del self._buf[: end + 4]
            self._head_done = True
            self._length = int(self.headers.get("content-length", "-1"))
            self._chunked = "chunked" in self.headers.get("transfer-encoding", "")
            self.close = self.headers.get("connection", "").lower() == "close"
            if self._length < 0 and not self._chunked:
                raise Internal("reply from the sidecar has neither content-length nor chunked encoding")
        if not self._chunked:
            if len(self._buf) < self._length:
                return False
            self.body = bytes(self._buf[: self._length])
            return True
        body = _dechunk_all(self._buf)
        if body is None:
            return False
        self.body = body
        return True

    def _parse_head(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise Internal(f"malformed reply from the sidecar: {lines[0][:80]!r}")
        self.status = int(parts[1])
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()

    def result(self, output: type[Res]) -> Res:
        if self.status == 200:
            return output.FromString(self.body)
        raise from_connect(self.body, self.status)


def _dechunk_all(buf: bytearray) -> bytes | None:
    out = bytearray()
    at = 0
    while True:
        line_end = buf.find(b"\r\n", at)
        if line_end < 0:
            return None
        try:
            size = int(bytes(buf[at:line_end]).split(b";")[0], 16)
        except ValueError:
            raise Internal("malformed chunked reply from the sidecar") from None
        if size == 0:
            if buf.find(b"\r\n\r\n", line_end - 2 if line_end >= 2 else 0) < 0 and not buf.endswith(b"\r\n\r\n"):
                return None
            return bytes(out)
        if len(buf) < line_end + 2 + size + 2:
            return None
        out += buf[line_end + 2 : line_end + 2 + size]
        at = line_end + 2 + size + 2


class StreamReader:
    """A Connect streaming reply read as its bytes arrive: the head, a
    chunked (or sized) body, and in it the envelopes, the last of which ends
    the stream, with an error or not. A reply that is not 200 is a Connect
    error body (JSON), read whole."""

    def __init__(self) -> None:
        self._raw = bytearray()
        self._body = bytearray()
        self._status = 0
        self._headers: dict[str, str] | None = None
        self._body_done = False
        self.done = False
        self.error: AttacheError | None = None

    def feed(self, data: bytes) -> list[bytes]:
        """Adds bytes; returns the complete messages. Sets ``done`` or ``error`` at the end."""
        self._raw += data
        messages: list[bytes] = []
        if self._headers is None:
            end = self._raw.find(b"\r\n\r\n")
            if end < 0:
                return messages
            lines = bytes(self._raw[:end]).decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            self._status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            self._headers = headers
            del self._raw[: end + 4]
        self._dechunk()
        if self._status != 200:
            if self._body_done:
                self.error = from_connect(bytes(self._body), self._status)
            return messages
        body = self._body
        while len(body) >= 5:
            flags, length = struct.unpack_from(">BI", body)
            if len(body) < 5 + length:
                break
            data = bytes(body[5 : 5 + length])
            del body[: 5 + length]
            if flags & 0x02:
                try:
                    end_message: Any = json.loads(data or b"{}")
                except ValueError:
                    self.error = Internal("malformed end of stream from the sidecar")
                    return messages
                if isinstance(end_message, dict) and end_message.get("error"):
                    self.error = from_connect_json(end_message["error"], "stream failed")
                else:
                    self.done = True
                return messages
            messages.append(data)
        return messages

    def closed(self) -> AttacheError:
        """The error for a connection that closed before the stream ended."""
        if self._headers is not None and self._status != 200 and self._body:
            return from_connect(bytes(self._body), self._status)
        return Unavailable("the sidecar closed the stream")

    def _dechunk(self) -> None:
        assert self._headers is not None
        if "chunked" not in self._headers.get("transfer-encoding", ""):
            self._body += self._raw
            self._raw.clear()
            length = self._headers.get("content-length")
            if length is not None and len(self._body) >= int(length):
                self._body_done = True
            return
        raw = self._raw
        while not self._body_done:
            line_end = raw.find(b"\r\n")
            if line_end < 0:
                break
            try:
                size = int(bytes(raw[:line_end]).split(b";")[0], 16)
            except ValueError:
                raise Internal("malformed chunked stream from the sidecar") from None
            if size == 0:
                self._body_done = True
                break
            if len(raw) < line_end + 2 + size + 2:
                break
            self._body += raw[line_end + 2 : line_end + 2 + size]
            del raw[: line_end + 2 + size + 2]
