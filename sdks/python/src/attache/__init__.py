"""attache: the Python SDK of the attache sidecar.

    import attache
    client = attache.Client()            # or attache.AsyncClient()
    client.redis.set("greeting", "hello")
    client.password.hash("correct horse")

Errors are :class:`AttacheError` with ``.code``; each code has a subclass
(:class:`Unavailable`, :class:`InvalidArgument`, …).
"""

from ._config import default_socket
from .client import AsyncClient, Client, Info
from .errors import (
    Aborted,
    AlreadyExists,
    AttacheError,
    Canceled,
    DataLoss,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PermissionDenied,
    RedisReplyError,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    Unimplemented,
    UniqueViolation,
    Unknown,
)
from .kafka import Position, Record
from .postgres import Interval, Statement, typed

__version__ = "0.1.0"

__all__ = [
    "Client",
    "AsyncClient",
    "Info",
    "default_socket",
    "AttacheError",
    "Aborted",
    "AlreadyExists",
    "Canceled",
    "DataLoss",
    "DeadlineExceeded",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "RedisReplyError",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "UniqueViolation",
    "Unknown",
    "Record",
    "Position",
    "Interval",
    "Statement",
    "typed",
]
