"""Errors: one :class:`AttacheError` with the status code, a subclass per code.

Every failed call raises an ``AttacheError``; catch the subclass for the code
you handle (``except attache.Unavailable``) or read ``err.code``
(``"unavailable"``). Codes are named as in Connect and the Node SDK.
"""

from __future__ import annotations

import base64
import json
from typing import Any, ClassVar, Mapping

from ._gen.sidecar.v1 import sidecar_pb2

__all__ = [
    "AttacheError",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
    "UniqueViolation",
    "RedisReplyError",
    "error_for",
]

#: Connect code names by their numeric gRPC code.
CODES: dict[int, str] = {
    1: "canceled",
    2: "unknown",
    3: "invalid_argument",
    4: "deadline_exceeded",
    5: "not_found",
    6: "already_exists",
    7: "permission_denied",
    8: "resource_exhausted",
    9: "failed_precondition",
    10: "aborted",
    11: "out_of_range",
    12: "unimplemented",
    13: "internal",
    14: "unavailable",
    15: "data_loss",
    16: "unauthenticated",
}
_NUMBERS = {name: number for number, name in CODES.items()}


class AttacheError(Exception):
    """A failed call: ``code`` is the status code name, e.g. ``"invalid_argument"``.

    ``reason``, ``domain`` and ``metadata`` come from the error's
    ``attache.sidecar.v1.ErrorInfo`` detail when it has one (for Postgres:
    the SQLSTATE as ``reason``, and ``sqlstate``, ``constraint``, ``table``,
    ``column``, ``detail``, ``hint``, ``position`` in ``metadata``).
    """

    code: ClassVar[str] = "unknown"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        domain: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.domain = domain
        self.metadata: dict[str, str] = dict(metadata or {})

    @property
    def grpc_code(self) -> int:
        """The numeric gRPC code, e.g. 3."""
        return _NUMBERS.get(self.code, 2)

    @property
    def is_retryable(self) -> bool:
        """Whether the same call may succeed if sent again later."""
        return self.code in ("unavailable", "resource_exhausted")

    @property
    def sqlstate(self) -> str | None:
        """Postgres's SQLSTATE, e.g. ``"23505"`` (unique violation)."""
        return self.metadata.get("sqlstate")

    @property
    def constraint(self) -> str | None:
        """The constraint a Postgres error names, e.g. ``"users_email_key"``."""
        return self.metadata.get("constraint")

    @property
    def table(self) -> str | None:
        return self.metadata.get("table")

    @property
    def column(self) -> str | None:
        return self.metadata.get("column")

    @property
    def detail(self) -> str | None:
        """Postgres's DETAIL line, e.g. ``Key (email)=(a@b.c) already exists.``"""
        return self.metadata.get("detail")

    @property
    def hint(self) -> str | None:
        return self.metadata.get("hint")

    @property
    def position(self) -> str | None:
        """Where in the SQL text the error is: a 1-based character index, as a string."""
        return self.metadata.get("position")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class Canceled(AttacheError):
    code = "canceled"


class Unknown(AttacheError):
    code = "unknown"


class InvalidArgument(AttacheError):
    """Bad input; the message names the field, e.g. ``records[2].topic: …``."""

    code = "invalid_argument"


class DeadlineExceeded(AttacheError):
    code = "deadline_exceeded"


class NotFound(AttacheError):
    code = "not_found"


class AlreadyExists(AttacheError):
    code = "already_exists"


class PermissionDenied(AttacheError):
    code = "permission_denied"


class ResourceExhausted(AttacheError):
    code = "resource_exhausted"


class FailedPrecondition(AttacheError):
    """The module is not configured (or the call does not fit its state)."""

    code = "failed_precondition"


class Aborted(AttacheError):
    code = "aborted"


class OutOfRange(AttacheError):
    code = "out_of_range"


class Unimplemented(AttacheError):
    code = "unimplemented"


class Internal(AttacheError):
    code = "internal"


class Unavailable(AttacheError):
    """The sidecar or its backend cannot be reached; idempotent calls are retried."""

    code = "unavailable"


class DataLoss(AttacheError):
    code = "data_loss"


class Unauthenticated(AttacheError):
    code = "unauthenticated"


class UniqueViolation(AlreadyExists):
    """A Postgres unique violation (SQLSTATE 23505); ``constraint`` names the index."""


class RedisReplyError(Exception):
    """An error reply from Redis, e.g. ``WRONGTYPE Operation against a key …``.

    Raised for a top-level error reply; inside arrays (``do_multi``) it is a value.
    """

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RedisReplyError) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


_CLASSES: dict[str, type[AttacheError]] = {
    cls.code: cls
    for cls in (
        Canceled,
        Unknown,
        InvalidArgument,
        DeadlineExceeded,
        NotFound,
        AlreadyExists,
        PermissionDenied,
        ResourceExhausted,
        FailedPrecondition,
        Aborted,
        OutOfRange,
        Unimplemented,
        Internal,
        Unavailable,
        DataLoss,
        Unauthenticated,
    )
}


def error_for(
    code: str,
    message: str,
    *,
    reason: str | None = None,
    domain: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> AttacheError:
    """The error of the subclass for ``code`` (a Connect name; google.rpc's
    upper-case names and ``cancelled`` are taken too)."""
    name = code.lower()
    if name == "cancelled":
        name = "canceled"
    cls = _CLASSES.get(name, Unknown)
    if cls is AlreadyExists and metadata is not None and metadata.get("sqlstate") == "23505":
        cls = UniqueViolation
    return cls(message, reason=reason, domain=domain, metadata=metadata)


_ERROR_INFO = "attache.sidecar.v1.ErrorInfo"


def from_connect(body: bytes, status: int) -> AttacheError:
    """The error for a Connect error body (unary reply or end of stream)."""
    try:
        parsed: Any = json.loads(body) if body else {}
    except ValueError:
        parsed = {}
    return from_connect_json(parsed, f"HTTP {status} from the sidecar", _http_code(status))


def from_connect_json(error: Any, fallback: str, fallback_code: str = "unknown") -> AttacheError:
    if not isinstance(error, dict):
        return error_for(fallback_code, fallback)
    code = error.get("code")
    message = error.get("message")
    reason = domain = None
    metadata: dict[str, str] | None = None
    for d in error.get("details") or []:
        if not isinstance(d, dict):
            continue
        kind = str(d.get("type", ""))
        if kind.rsplit("/", 1)[-1] != _ERROR_INFO:
            continue
        value = d.get("value")
        if isinstance(value, str):
            try:
                # Connect writes it unpadded.
                info = sidecar_pb2.ErrorInfo.FromString(base64.b64decode(value + "=" * (-len(value) % 4)))
                reason, domain, metadata = info.reason or None, info.domain or None, dict(info.metadata)
                break
            except Exception:  # noqa: BLE001 - fall back to the JSON copy
                pass
        debug = d.get("debug")
        if isinstance(debug, dict):
            reason = debug.get("reason") if isinstance(debug.get("reason"), str) else None
            domain = debug.get("domain") if isinstance(debug.get("domain"), str) else None
            raw = debug.get("metadata")
            metadata = {str(k): str(v) for k, v in raw.items() if v is not None} if isinstance(raw, dict) else {}
            break
    return error_for(
        code if isinstance(code, str) else fallback_code,
        message if isinstance(message, str) else fallback,
        reason=reason,
        domain=domain,
        metadata=metadata,
    )


def _http_code(status: int) -> str:
    # Connect's mapping of HTTP statuses for bodies that are not Connect errors.
    return {
        400: "internal",
        401: "unauthenticated",
        403: "permission_denied",
        404: "unimplemented",
        408: "deadline_exceeded",
        429: "unavailable",
        502: "unavailable",
        503: "unavailable",
        504: "unavailable",
    }.get(status, "unknown")
