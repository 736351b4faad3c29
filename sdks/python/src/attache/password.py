"""Password hashing on the sidecar's dedicated threads: argon2id, bcrypt,
scrypt; verification of hashes made by attache or by any compatible library."""

from __future__ import annotations

from typing import Literal, NamedTuple, TypedDict

from ._atransport import AsyncCaller
from ._gen.password.v1 import password_pb2 as pb
from ._transport import Caller
from ._wire import method
from .errors import InvalidArgument

_service = pb.DESCRIPTOR.services_by_name["PasswordService"]
HASH = method(_service, "Hash", pb.HashRequest, pb.HashResponse)
VERIFY = method(_service, "Verify", pb.VerifyRequest, pb.VerifyResponse)

Algorithm = Literal["argon2id", "bcrypt", "scrypt"]

_ALGORITHMS: dict[str, pb.Algorithm] = {"argon2id": pb.ALGORITHM_ARGON2ID, "bcrypt": pb.ALGORITHM_BCRYPT, "scrypt": pb.ALGORITHM_SCRYPT}


class Argon2Params(TypedDict, total=False):
    memory_kib: int
    iterations: int
    parallelism: int


class BcryptParams(TypedDict, total=False):
    cost: int


class ScryptParams(TypedDict, total=False):
    log_n: int
    r: int
    p: int


class Verification(NamedTuple):
    valid: bool
    #: The hash's algorithm or costs differ from the sidecar's policy: store a fresh hash.
    needs_rehash: bool


def _hash_request(
    password: str,
    algorithm: Algorithm | None,
    argon2: Argon2Params | None,
    bcrypt: BcryptParams | None,
    scrypt: ScryptParams | None,
) -> pb.HashRequest:
    if algorithm is not None and algorithm not in _ALGORITHMS:
        raise InvalidArgument(f"unknown algorithm {algorithm}; use argon2id, bcrypt or scrypt")
    request = pb.HashRequest(password=password, algorithm=_ALGORITHMS[algorithm] if algorithm else pb.ALGORITHM_UNSPECIFIED)
    if argon2 is not None:
        request.argon2.CopyFrom(pb.Argon2Params(**argon2))
    if bcrypt is not None:
        request.bcrypt.CopyFrom(pb.BcryptParams(**bcrypt))
    if scrypt is not None:
        request.scrypt.CopyFrom(pb.ScryptParams(**scrypt))
    return request


class PasswordClient:
    """``client.password``: hash and verify. Both calls are retried on UNAVAILABLE (the proto marks them free of side effects)."""

    def __init__(self, call: Caller) -> None:
        self._call = call

    def hash(
        self,
        password: str,
        *,
        algorithm: Algorithm | None = None,
        argon2: Argon2Params | None = None,
        bcrypt: BcryptParams | None = None,
        scrypt: ScryptParams | None = None,
        timeout: float | None = None,
    ) -> str:
        """A new salted hash: PHC (``$argon2id$…``, ``$scrypt$…``) or bcrypt (``$2b$…``).

        The sidecar's policy (argon2id unless configured) unless ``algorithm``
        or cost overrides say otherwise."""
        reply = self._call(HASH, _hash_request(password, algorithm, argon2, bcrypt, scrypt), timeout)
        return reply.hash

    def verify(self, password: str, hash: str, *, timeout: float | None = None) -> Verification:
        """Checks ``password`` against a stored hash from attache or any compatible library."""
        reply = self._call(VERIFY, pb.VerifyRequest(password=password, hash=hash), timeout)
        return Verification(reply.valid, reply.needs_rehash)


class AsyncPasswordClient:
    """``AsyncClient.password``: as :class:`PasswordClient`, awaitable."""

    def __init__(self, call: AsyncCaller) -> None:
        self._call = call

    async def hash(
        self,
        password: str,
        *,
        algorithm: Algorithm | None = None,
        argon2: Argon2Params | None = None,
        bcrypt: BcryptParams | None = None,
        scrypt: ScryptParams | None = None,
        timeout: float | None = None,
    ) -> str:
        reply = await self._call(HASH, _hash_request(password, algorithm, argon2, bcrypt, scrypt), timeout)
        return reply.hash

    async def verify(self, password: str, hash: str, *, timeout: float | None = None) -> Verification:
        reply = await self._call(VERIFY, pb.VerifyRequest(password=password, hash=hash), timeout)
        return Verification(reply.valid, reply.needs_rehash)
