from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Ack(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACK_UNSPECIFIED: _ClassVar[Ack]
    ACK_SPOOLED: _ClassVar[Ack]
    ACK_DELIVERED: _ClassVar[Ack]

class StartFrom(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    START_FROM_UNSPECIFIED: _ClassVar[StartFrom]
    START_FROM_EARLIEST: _ClassVar[StartFrom]
    START_FROM_LATEST: _ClassVar[StartFrom]
ACK_UNSPECIFIED: Ack
ACK_SPOOLED: Ack
ACK_DELIVERED: Ack
START_FROM_UNSPECIFIED: StartFrom
START_FROM_EARLIEST: StartFrom
START_FROM_LATEST: StartFrom

class Header(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: bytes
    def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...

class Record(_message.Message):
    __slots__ = ("topic", "key", "value", "headers", "partition", "timestamp_ms")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    topic: str
    key: bytes
    value: bytes
    headers: _containers.RepeatedCompositeFieldContainer[Header]
    partition: int
    timestamp_ms: int
    def __init__(self, topic: _Optional[str] = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., headers: _Optional[_Iterable[_Union[Header, _Mapping]]] = ..., partition: _Optional[int] = ..., timestamp_ms: _Optional[int] = ...) -> None: ...

class ProduceRequest(_message.Message):
    __slots__ = ("records", "ack")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[Record]
    ack: Ack
    def __init__(self, records: _Optional[_Iterable[_Union[Record, _Mapping]]] = ..., ack: _Optional[_Union[Ack, str]] = ...) -> None: ...

class ProduceStreamRequest(_message.Message):
    __slots__ = ("records", "ack", "sequence")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[Record]
    ack: Ack
    sequence: int
    def __init__(self, records: _Optional[_Iterable[_Union[Record, _Mapping]]] = ..., ack: _Optional[_Union[Ack, str]] = ..., sequence: _Optional[int] = ...) -> None: ...

class RecordResult(_message.Message):
    __slots__ = ("id", "partition", "offset", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    partition: int
    offset: int
    error: RecordError
    def __init__(self, id: _Optional[str] = ..., partition: _Optional[int] = ..., offset: _Optional[int] = ..., error: _Optional[_Union[RecordError, _Mapping]] = ...) -> None: ...

class RecordError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ProduceResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[RecordResult]
    def __init__(self, results: _Optional[_Iterable[_Union[RecordResult, _Mapping]]] = ...) -> None: ...

class ProduceStreamResponse(_message.Message):
    __slots__ = ("results", "sequence")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[RecordResult]
    sequence: int
    def __init__(self, results: _Optional[_Iterable[_Union[RecordResult, _Mapping]]] = ..., sequence: _Optional[int] = ...) -> None: ...

class Subscribe(_message.Message):
    __slots__ = ("group", "topics", "instance_id", "max_unacked", "start")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    TOPICS_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_UNACKED_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    group: str
    topics: _containers.RepeatedScalarFieldContainer[str]
    instance_id: str
    max_unacked: int
    start: StartFrom
    def __init__(self, group: _Optional[str] = ..., topics: _Optional[_Iterable[str]] = ..., instance_id: _Optional[str] = ..., max_unacked: _Optional[int] = ..., start: _Optional[_Union[StartFrom, str]] = ...) -> None: ...

class Position(_message.Message):
    __slots__ = ("topic", "partition", "offset")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    topic: str
    partition: int
    offset: int
    def __init__(self, topic: _Optional[str] = ..., partition: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class Acks(_message.Message):
    __slots__ = ("positions",)
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    positions: _containers.RepeatedCompositeFieldContainer[Position]
    def __init__(self, positions: _Optional[_Iterable[_Union[Position, _Mapping]]] = ...) -> None: ...

class ConsumeRequest(_message.Message):
    __slots__ = ("subscribe", "ack")
    SUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    subscribe: Subscribe
    ack: Acks
    def __init__(self, subscribe: _Optional[_Union[Subscribe, _Mapping]] = ..., ack: _Optional[_Union[Acks, _Mapping]] = ...) -> None: ...

class ConsumedRecord(_message.Message):
    __slots__ = ("topic", "partition", "offset", "key", "value", "headers", "timestamp_ms")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    headers: _containers.RepeatedCompositeFieldContainer[Header]
    timestamp_ms: int
    def __init__(self, topic: _Optional[str] = ..., partition: _Optional[int] = ..., offset: _Optional[int] = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., headers: _Optional[_Iterable[_Union[Header, _Mapping]]] = ..., timestamp_ms: _Optional[int] = ...) -> None: ...

class TopicPartition(_message.Message):
    __slots__ = ("topic", "partition")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    topic: str
    partition: int
    def __init__(self, topic: _Optional[str] = ..., partition: _Optional[int] = ...) -> None: ...

class ConsumedRecords(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[ConsumedRecord]
    def __init__(self, records: _Optional[_Iterable[_Union[ConsumedRecord, _Mapping]]] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("partitions",)
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    partitions: _containers.RepeatedCompositeFieldContainer[TopicPartition]
    def __init__(self, partitions: _Optional[_Iterable[_Union[TopicPartition, _Mapping]]] = ...) -> None: ...

class ConsumeResponse(_message.Message):
    __slots__ = ("records", "assigned", "revoked")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    records: ConsumedRecords
    assigned: Assignment
    revoked: Assignment
    def __init__(self, records: _Optional[_Union[ConsumedRecords, _Mapping]] = ..., assigned: _Optional[_Union[Assignment, _Mapping]] = ..., revoked: _Optional[_Union[Assignment, _Mapping]] = ...) -> None: ...

class FetchRequest(_message.Message):
    __slots__ = ("group", "topics", "max_records", "max_wait_ms", "lease_ms", "start")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    TOPICS_FIELD_NUMBER: _ClassVar[int]
    MAX_RECORDS_FIELD_NUMBER: _ClassVar[int]
    MAX_WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    LEASE_MS_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    group: str
    topics: _containers.RepeatedScalarFieldContainer[str]
    max_records: int
    max_wait_ms: int
    lease_ms: int
    start: StartFrom
    def __init__(self, group: _Optional[str] = ..., topics: _Optional[_Iterable[str]] = ..., max_records: _Optional[int] = ..., max_wait_ms: _Optional[int] = ..., lease_ms: _Optional[int] = ..., start: _Optional[_Union[StartFrom, str]] = ...) -> None: ...

class FetchResponse(_message.Message):
    __slots__ = ("lease_id", "records")
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    lease_id: str
    records: _containers.RepeatedCompositeFieldContainer[ConsumedRecord]
    def __init__(self, lease_id: _Optional[str] = ..., records: _Optional[_Iterable[_Union[ConsumedRecord, _Mapping]]] = ...) -> None: ...

class CommitRequest(_message.Message):
    __slots__ = ("lease_id", "acked", "all")
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    ACKED_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    lease_id: str
    acked: _containers.RepeatedCompositeFieldContainer[Position]
    all: bool
    def __init__(self, lease_id: _Optional[str] = ..., acked: _Optional[_Iterable[_Union[Position, _Mapping]]] = ..., all: _Optional[bool] = ...) -> None: ...

class CommitResponse(_message.Message):
    __slots__ = ("acked", "redelivered")
    ACKED_FIELD_NUMBER: _ClassVar[int]
    REDELIVERED_FIELD_NUMBER: _ClassVar[int]
    acked: int
    redelivered: int
    def __init__(self, acked: _Optional[int] = ..., redelivered: _Optional[int] = ...) -> None: ...
