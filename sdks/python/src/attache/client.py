"""``attache.Client`` and ``attache.AsyncClient``: the same shape, one sync
and one asyncio. Create one per process and share it."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from ._atransport import AsyncCaller, AsyncTransport
from ._config import DEFAULT_RETRIES, resolve_socket, resolve_timeout
from ._gen.sidecar.v1 import sidecar_pb2 as pb
from ._transport import Caller, Transport
from ._wire import method
from .image import AsyncImageClient, ImageClient
from .kafka import AsyncKafkaClient, KafkaClient
from .password import AsyncPasswordClient, PasswordClient
from .postgres import AsyncPostgresClient, PostgresClient
from .redis import AsyncRedisClient, RedisClient

GET_INFO = method(pb.DESCRIPTOR.services_by_name["SidecarService"], "GetInfo", pb.GetInfoRequest, pb.GetInfoResponse)


@dataclass(frozen=True)
class Info:
    #: The sidecar's version.
    version: str
    #: Modules that serve requests, e.g. ``["password", "redis"]``.
    modules: list[str]


class Client:
    """A client of the attache sidecar on its Unix socket (Connect, binary
    protobuf, over keep-alive HTTP/1.1 connections, one call each at a time).

    Safe to share across threads, and across ``fork()`` (gunicorn workers):
    a child process opens connections of its own.

    :param socket: the socket path; default ``$ATTACHE_SOCKET``, then the
        sidecar's own default (:func:`attache.default_socket`).
    :param timeout: seconds for every call unless a call sets ``timeout=``;
        default ``$ATTACHE_TIMEOUT_MS`` (ms), else 10 s.
    :param retries: retries of calls the proto marks idempotent that failed
        with UNAVAILABLE, with jittered backoff inside the deadline; default 2.
    """

    def __init__(self, socket: str | None = None, *, timeout: float | None = None, retries: int = DEFAULT_RETRIES) -> None:
        self.socket = resolve_socket(socket)
        self.timeout = resolve_timeout(timeout)
        self._transport = Transport(self.socket)
        self._call = Caller(self._transport, self.timeout, retries)
        self.password = PasswordClient(self._call)
        self.image = ImageClient(self._call)
        self.redis = RedisClient(self._call, self.socket)
        self.postgres = PostgresClient(self._call, self.socket)
        self.kafka = KafkaClient(self._call, self.socket)

    def info(self, *, timeout: float | None = None) -> Info:
        """The sidecar's version and modules; a cheap call to check the socket answers."""
        reply = self._call(GET_INFO, pb.GetInfoRequest(), timeout)
        return Info(reply.version, list(reply.modules))

    def close(self) -> None:
        """Closes idle connections; calls in flight finish first."""
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class AsyncClient:
    """The asyncio client: :class:`Client`'s shape, every call awaitable.

    :param max_connections: most calls in flight at once (one connection
        each); default 128.
    """

    def __init__(
        self,
        socket: str | None = None,
        *,
        timeout: float | None = None,
        retries: int = DEFAULT_RETRIES,
        max_connections: int = 128,
    ) -> None:
        self.socket = resolve_socket(socket)
        self.timeout = resolve_timeout(timeout)
        self._transport = AsyncTransport(self.socket, max_connections)
        self._call = AsyncCaller(self._transport, self.timeout, retries)
        self.password = AsyncPasswordClient(self._call)
        self.image = AsyncImageClient(self._call)
        self.redis = AsyncRedisClient(self._call, self.socket)
        self.postgres = AsyncPostgresClient(self._call, self.socket)
        self.kafka = AsyncKafkaClient(self._call, self.socket)

    async def info(self, *, timeout: float | None = None) -> Info:
        reply = await self._call(GET_INFO, pb.GetInfoRequest(), timeout)
        return Info(reply.version, list(reply.modules))

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()
