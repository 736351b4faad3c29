from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Value(_message.Message):
    __slots__ = ("null", "bulk", "simple", "integer", "error", "array", "map", "set", "double", "boolean", "big_number", "verbatim")
    NULL_FIELD_NUMBER: _ClassVar[int]
    BULK_FIELD_NUMBER: _ClassVar[int]
    SIMPLE_FIELD_NUMBER: _ClassVar[int]
    INTEGER_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ARRAY_FIELD_NUMBER: _ClassVar[int]
    MAP_FIELD_NUMBER: _ClassVar[int]
    SET_FIELD_NUMBER: _ClassVar[int]
    DOUBLE_FIELD_NUMBER: _ClassVar[int]
    BOOLEAN_FIELD_NUMBER: _ClassVar[int]
    BIG_NUMBER_FIELD_NUMBER: _ClassVar[int]
    VERBATIM_FIELD_NUMBER: _ClassVar[int]
    null: bool
    bulk: bytes
    simple: str
    integer: int
    error: str
    array: Array
    map: Map
    set: Array
    double: float
    boolean: bool
    big_number: str
    verbatim: Verbatim
    def __init__(self, null: _Optional[bool] = ..., bulk: _Optional[bytes] = ..., simple: _Optional[str] = ..., integer: _Optional[int] = ..., error: _Optional[str] = ..., array: _Optional[_Union[Array, _Mapping]] = ..., map: _Optional[_Union[Map, _Mapping]] = ..., set: _Optional[_Union[Array, _Mapping]] = ..., double: _Optional[float] = ..., boolean: _Optional[bool] = ..., big_number: _Optional[str] = ..., verbatim: _Optional[_Union[Verbatim, _Mapping]] = ...) -> None: ...

class Array(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[Value]
    def __init__(self, values: _Optional[_Iterable[_Union[Value, _Mapping]]] = ...) -> None: ...

class Map(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[MapEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[MapEntry, _Mapping]]] = ...) -> None: ...

class MapEntry(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: Value
    value: Value
    def __init__(self, key: _Optional[_Union[Value, _Mapping]] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...

class Verbatim(_message.Message):
    __slots__ = ("format", "text")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    format: str
    text: bytes
    def __init__(self, format: _Optional[str] = ..., text: _Optional[bytes] = ...) -> None: ...

class Command(_message.Message):
    __slots__ = ("args",)
    ARGS_FIELD_NUMBER: _ClassVar[int]
    args: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, args: _Optional[_Iterable[bytes]] = ...) -> None: ...

class DoRequest(_message.Message):
    __slots__ = ("args",)
    ARGS_FIELD_NUMBER: _ClassVar[int]
    args: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, args: _Optional[_Iterable[bytes]] = ...) -> None: ...

class DoResponse(_message.Message):
    __slots__ = ("reply",)
    REPLY_FIELD_NUMBER: _ClassVar[int]
    reply: Value
    def __init__(self, reply: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...

class DoMultiRequest(_message.Message):
    __slots__ = ("commands",)
    COMMANDS_FIELD_NUMBER: _ClassVar[int]
    commands: _containers.RepeatedCompositeFieldContainer[Command]
    def __init__(self, commands: _Optional[_Iterable[_Union[Command, _Mapping]]] = ...) -> None: ...

class DoMultiResponse(_message.Message):
    __slots__ = ("replies",)
    REPLIES_FIELD_NUMBER: _ClassVar[int]
    replies: _containers.RepeatedCompositeFieldContainer[Value]
    def __init__(self, replies: _Optional[_Iterable[_Union[Value, _Mapping]]] = ...) -> None: ...

class DoCachedRequest(_message.Message):
    __slots__ = ("args", "ttl_ms")
    ARGS_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    args: _containers.RepeatedScalarFieldContainer[bytes]
    ttl_ms: int
    def __init__(self, args: _Optional[_Iterable[bytes]] = ..., ttl_ms: _Optional[int] = ...) -> None: ...

class DoCachedResponse(_message.Message):
    __slots__ = ("reply", "cache_hit")
    REPLY_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_FIELD_NUMBER: _ClassVar[int]
    reply: Value
    cache_hit: bool
    def __init__(self, reply: _Optional[_Union[Value, _Mapping]] = ..., cache_hit: _Optional[bool] = ...) -> None: ...

class MGetCachedRequest(_message.Message):
    __slots__ = ("keys", "ttl_ms")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    ttl_ms: int
    def __init__(self, keys: _Optional[_Iterable[bytes]] = ..., ttl_ms: _Optional[int] = ...) -> None: ...

class MGetCachedResponse(_message.Message):
    __slots__ = ("values", "cache_hits")
    VALUES_FIELD_NUMBER: _ClassVar[int]
    CACHE_HITS_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[Value]
    cache_hits: int
    def __init__(self, values: _Optional[_Iterable[_Union[Value, _Mapping]]] = ..., cache_hits: _Optional[int] = ...) -> None: ...

class BatchRequest(_message.Message):
    __slots__ = ("calls",)
    CALLS_FIELD_NUMBER: _ClassVar[int]
    calls: _containers.RepeatedCompositeFieldContainer[BatchCall]
    def __init__(self, calls: _Optional[_Iterable[_Union[BatchCall, _Mapping]]] = ...) -> None: ...

class BatchCall(_message.Message):
    __slots__ = ("do", "do_cached")
    DO_FIELD_NUMBER: _ClassVar[int]
    DO_CACHED_FIELD_NUMBER: _ClassVar[int]
    do: DoRequest
    do_cached: DoCachedRequest
    def __init__(self, do: _Optional[_Union[DoRequest, _Mapping]] = ..., do_cached: _Optional[_Union[DoCachedRequest, _Mapping]] = ...) -> None: ...

class BatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BatchResult]
    def __init__(self, results: _Optional[_Iterable[_Union[BatchResult, _Mapping]]] = ...) -> None: ...

class BatchResult(_message.Message):
    __slots__ = ("do", "do_cached", "error")
    DO_FIELD_NUMBER: _ClassVar[int]
    DO_CACHED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    do: DoResponse
    do_cached: DoCachedResponse
    error: CallError
    def __init__(self, do: _Optional[_Union[DoResponse, _Mapping]] = ..., do_cached: _Optional[_Union[DoCachedResponse, _Mapping]] = ..., error: _Optional[_Union[CallError, _Mapping]] = ...) -> None: ...

class CallError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("channels", "patterns")
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    PATTERNS_FIELD_NUMBER: _ClassVar[int]
    channels: _containers.RepeatedScalarFieldContainer[str]
    patterns: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, channels: _Optional[_Iterable[str]] = ..., patterns: _Optional[_Iterable[str]] = ...) -> None: ...

class SubscribeResponse(_message.Message):
    __slots__ = ("subscribed", "message")
    SUBSCRIBED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    subscribed: Subscribed
    message: Message
    def __init__(self, subscribed: _Optional[_Union[Subscribed, _Mapping]] = ..., message: _Optional[_Union[Message, _Mapping]] = ...) -> None: ...

class Subscribed(_message.Message):
    __slots__ = ("channels", "patterns")
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    PATTERNS_FIELD_NUMBER: _ClassVar[int]
    channels: _containers.RepeatedScalarFieldContainer[str]
    patterns: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, channels: _Optional[_Iterable[str]] = ..., patterns: _Optional[_Iterable[str]] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("channel", "pattern", "payload")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    channel: str
    pattern: str
    payload: bytes
    def __init__(self, channel: _Optional[str] = ..., pattern: _Optional[str] = ..., payload: _Optional[bytes] = ...) -> None: ...
