from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Algorithm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALGORITHM_UNSPECIFIED: _ClassVar[Algorithm]
    ALGORITHM_ARGON2ID: _ClassVar[Algorithm]
    ALGORITHM_BCRYPT: _ClassVar[Algorithm]
    ALGORITHM_SCRYPT: _ClassVar[Algorithm]
ALGORITHM_UNSPECIFIED: Algorithm
ALGORITHM_ARGON2ID: Algorithm
ALGORITHM_BCRYPT: Algorithm
ALGORITHM_SCRYPT: Algorithm

class Argon2Params(_message.Message):
    __slots__ = ("memory_kib", "iterations", "parallelism")
    MEMORY_KIB_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    PARALLELISM_FIELD_NUMBER: _ClassVar[int]
    memory_kib: int
    iterations: int
    parallelism: int
    def __init__(self, memory_kib: _Optional[int] = ..., iterations: _Optional[int] = ..., parallelism: _Optional[int] = ...) -> None: ...

class BcryptParams(_message.Message):
    __slots__ = ("cost",)
    COST_FIELD_NUMBER: _ClassVar[int]
    cost: int
    def __init__(self, cost: _Optional[int] = ...) -> None: ...

class ScryptParams(_message.Message):
    __slots__ = ("log_n", "r", "p")
    LOG_N_FIELD_NUMBER: _ClassVar[int]
    R_FIELD_NUMBER: _ClassVar[int]
    P_FIELD_NUMBER: _ClassVar[int]
    log_n: int
    r: int
    p: int
    def __init__(self, log_n: _Optional[int] = ..., r: _Optional[int] = ..., p: _Optional[int] = ...) -> None: ...

class HashRequest(_message.Message):
    __slots__ = ("password", "algorithm", "argon2", "bcrypt", "scrypt")
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    ARGON2_FIELD_NUMBER: _ClassVar[int]
    BCRYPT_FIELD_NUMBER: _ClassVar[int]
    SCRYPT_FIELD_NUMBER: _ClassVar[int]
    password: str
    algorithm: Algorithm
    argon2: Argon2Params
    bcrypt: BcryptParams
    scrypt: ScryptParams
    def __init__(self, password: _Optional[str] = ..., algorithm: _Optional[_Union[Algorithm, str]] = ..., argon2: _Optional[_Union[Argon2Params, _Mapping]] = ..., bcrypt: _Optional[_Union[BcryptParams, _Mapping]] = ..., scrypt: _Optional[_Union[ScryptParams, _Mapping]] = ...) -> None: ...

class HashResponse(_message.Message):
    __slots__ = ("hash",)
    HASH_FIELD_NUMBER: _ClassVar[int]
    hash: str
    def __init__(self, hash: _Optional[str] = ...) -> None: ...

class VerifyRequest(_message.Message):
    __slots__ = ("password", "hash")
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    password: str
    hash: str
    def __init__(self, password: _Optional[str] = ..., hash: _Optional[str] = ...) -> None: ...

class VerifyResponse(_message.Message):
    __slots__ = ("valid", "needs_rehash")
    VALID_FIELD_NUMBER: _ClassVar[int]
    NEEDS_REHASH_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    needs_rehash: bool
    def __init__(self, valid: _Optional[bool] = ..., needs_rehash: _Optional[bool] = ...) -> None: ...
