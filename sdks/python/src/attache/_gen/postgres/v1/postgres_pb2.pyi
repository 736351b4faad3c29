from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Infinity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INFINITY_UNSPECIFIED: _ClassVar[Infinity]
    INFINITY_POSITIVE: _ClassVar[Infinity]
    INFINITY_NEGATIVE: _ClassVar[Infinity]

class CacheStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CACHE_STATUS_UNSPECIFIED: _ClassVar[CacheStatus]
    CACHE_STATUS_BYPASS: _ClassVar[CacheStatus]
    CACHE_STATUS_MISS: _ClassVar[CacheStatus]
    CACHE_STATUS_COALESCED: _ClassVar[CacheStatus]
    CACHE_STATUS_HIT: _ClassVar[CacheStatus]

class Isolation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ISOLATION_UNSPECIFIED: _ClassVar[Isolation]
    ISOLATION_READ_COMMITTED: _ClassVar[Isolation]
    ISOLATION_REPEATABLE_READ: _ClassVar[Isolation]
    ISOLATION_SERIALIZABLE: _ClassVar[Isolation]

class ConflictAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONFLICT_ACTION_UNSPECIFIED: _ClassVar[ConflictAction]
    CONFLICT_ACTION_NOTHING: _ClassVar[ConflictAction]
    CONFLICT_ACTION_UPDATE: _ClassVar[ConflictAction]
INFINITY_UNSPECIFIED: Infinity
INFINITY_POSITIVE: Infinity
INFINITY_NEGATIVE: Infinity
CACHE_STATUS_UNSPECIFIED: CacheStatus
CACHE_STATUS_BYPASS: CacheStatus
CACHE_STATUS_MISS: CacheStatus
CACHE_STATUS_COALESCED: CacheStatus
CACHE_STATUS_HIT: CacheStatus
ISOLATION_UNSPECIFIED: Isolation
ISOLATION_READ_COMMITTED: Isolation
ISOLATION_REPEATABLE_READ: Isolation
ISOLATION_SERIALIZABLE: Isolation
CONFLICT_ACTION_UNSPECIFIED: ConflictAction
CONFLICT_ACTION_NOTHING: ConflictAction
CONFLICT_ACTION_UPDATE: ConflictAction

class Value(_message.Message):
    __slots__ = ("null", "bool", "int", "float", "text", "bytes", "numeric", "timestamp", "timestamptz", "date", "time", "interval", "uuid", "json", "array", "record", "typed")
    NULL_FIELD_NUMBER: _ClassVar[int]
    BOOL_FIELD_NUMBER: _ClassVar[int]
    INT_FIELD_NUMBER: _ClassVar[int]
    FLOAT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    NUMERIC_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMPTZ_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    ARRAY_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    TYPED_FIELD_NUMBER: _ClassVar[int]
    null: bool
    bool: bool
    int: int
    float: float
    text: str
    bytes: bytes
    numeric: str
    timestamp: Timestamp
    timestamptz: Timestamp
    date: Date
    time: int
    interval: Interval
    uuid: str
    json: str
    array: Array
    record: Record
    typed: Typed
    def __init__(self, null: _Optional[bool] = ..., bool: _Optional[bool] = ..., int: _Optional[int] = ..., float: _Optional[float] = ..., text: _Optional[str] = ..., bytes: _Optional[bytes] = ..., numeric: _Optional[str] = ..., timestamp: _Optional[_Union[Timestamp, _Mapping]] = ..., timestamptz: _Optional[_Union[Timestamp, _Mapping]] = ..., date: _Optional[_Union[Date, _Mapping]] = ..., time: _Optional[int] = ..., interval: _Optional[_Union[Interval, _Mapping]] = ..., uuid: _Optional[str] = ..., json: _Optional[str] = ..., array: _Optional[_Union[Array, _Mapping]] = ..., record: _Optional[_Union[Record, _Mapping]] = ..., typed: _Optional[_Union[Typed, _Mapping]] = ...) -> None: ...

class Timestamp(_message.Message):
    __slots__ = ("micros", "infinity")
    MICROS_FIELD_NUMBER: _ClassVar[int]
    INFINITY_FIELD_NUMBER: _ClassVar[int]
    micros: int
    infinity: Infinity
    def __init__(self, micros: _Optional[int] = ..., infinity: _Optional[_Union[Infinity, str]] = ...) -> None: ...

class Date(_message.Message):
    __slots__ = ("days", "infinity")
    DAYS_FIELD_NUMBER: _ClassVar[int]
    INFINITY_FIELD_NUMBER: _ClassVar[int]
    days: int
    infinity: Infinity
    def __init__(self, days: _Optional[int] = ..., infinity: _Optional[_Union[Infinity, str]] = ...) -> None: ...

class Interval(_message.Message):
    __slots__ = ("months", "days", "micros")
    MONTHS_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    MICROS_FIELD_NUMBER: _ClassVar[int]
    months: int
    days: int
    micros: int
    def __init__(self, months: _Optional[int] = ..., days: _Optional[int] = ..., micros: _Optional[int] = ...) -> None: ...

class Array(_message.Message):
    __slots__ = ("dimensions", "elements", "element_type_oid")
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    ELEMENTS_FIELD_NUMBER: _ClassVar[int]
    ELEMENT_TYPE_OID_FIELD_NUMBER: _ClassVar[int]
    dimensions: _containers.RepeatedCompositeFieldContainer[Dimension]
    elements: _containers.RepeatedCompositeFieldContainer[Value]
    element_type_oid: int
    def __init__(self, dimensions: _Optional[_Iterable[_Union[Dimension, _Mapping]]] = ..., elements: _Optional[_Iterable[_Union[Value, _Mapping]]] = ..., element_type_oid: _Optional[int] = ...) -> None: ...

class Dimension(_message.Message):
    __slots__ = ("length", "lower_bound")
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    LOWER_BOUND_FIELD_NUMBER: _ClassVar[int]
    length: int
    lower_bound: int
    def __init__(self, length: _Optional[int] = ..., lower_bound: _Optional[int] = ...) -> None: ...

class Record(_message.Message):
    __slots__ = ("fields",)
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.RepeatedCompositeFieldContainer[Field]
    def __init__(self, fields: _Optional[_Iterable[_Union[Field, _Mapping]]] = ...) -> None: ...

class Field(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: Value
    def __init__(self, name: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...

class Typed(_message.Message):
    __slots__ = ("type_oid", "type_name", "text")
    TYPE_OID_FIELD_NUMBER: _ClassVar[int]
    TYPE_NAME_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    type_oid: int
    type_name: str
    text: str
    def __init__(self, type_oid: _Optional[int] = ..., type_name: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class Param(_message.Message):
    __slots__ = ("value", "type")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    value: Value
    type: str
    def __init__(self, value: _Optional[_Union[Value, _Mapping]] = ..., type: _Optional[str] = ...) -> None: ...

class Column(_message.Message):
    __slots__ = ("name", "type_oid", "type_name")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_OID_FIELD_NUMBER: _ClassVar[int]
    TYPE_NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    type_oid: int
    type_name: str
    def __init__(self, name: _Optional[str] = ..., type_oid: _Optional[int] = ..., type_name: _Optional[str] = ...) -> None: ...

class Row(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[Value]
    def __init__(self, values: _Optional[_Iterable[_Union[Value, _Mapping]]] = ...) -> None: ...

class QueryOptions(_message.Message):
    __slots__ = ("max_rows", "cache_ttl_ms")
    MAX_ROWS_FIELD_NUMBER: _ClassVar[int]
    CACHE_TTL_MS_FIELD_NUMBER: _ClassVar[int]
    max_rows: int
    cache_ttl_ms: int
    def __init__(self, max_rows: _Optional[int] = ..., cache_ttl_ms: _Optional[int] = ...) -> None: ...

class QueryRequest(_message.Message):
    __slots__ = ("sql", "params", "options", "transaction_id")
    SQL_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    sql: str
    params: _containers.RepeatedCompositeFieldContainer[Param]
    options: QueryOptions
    transaction_id: str
    def __init__(self, sql: _Optional[str] = ..., params: _Optional[_Iterable[_Union[Param, _Mapping]]] = ..., options: _Optional[_Union[QueryOptions, _Mapping]] = ..., transaction_id: _Optional[str] = ...) -> None: ...

class QueryResponse(_message.Message):
    __slots__ = ("columns", "rows", "rows_affected", "command_tag", "cache")
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    ROWS_AFFECTED_FIELD_NUMBER: _ClassVar[int]
    COMMAND_TAG_FIELD_NUMBER: _ClassVar[int]
    CACHE_FIELD_NUMBER: _ClassVar[int]
    columns: _containers.RepeatedCompositeFieldContainer[Column]
    rows: _containers.RepeatedCompositeFieldContainer[Row]
    rows_affected: int
    command_tag: str
    cache: CacheInfo
    def __init__(self, columns: _Optional[_Iterable[_Union[Column, _Mapping]]] = ..., rows: _Optional[_Iterable[_Union[Row, _Mapping]]] = ..., rows_affected: _Optional[int] = ..., command_tag: _Optional[str] = ..., cache: _Optional[_Union[CacheInfo, _Mapping]] = ...) -> None: ...

class CacheInfo(_message.Message):
    __slots__ = ("status", "reason", "age_ms")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AGE_MS_FIELD_NUMBER: _ClassVar[int]
    status: CacheStatus
    reason: str
    age_ms: int
    def __init__(self, status: _Optional[_Union[CacheStatus, str]] = ..., reason: _Optional[str] = ..., age_ms: _Optional[int] = ...) -> None: ...

class Statement(_message.Message):
    __slots__ = ("sql", "params")
    SQL_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    sql: str
    params: _containers.RepeatedCompositeFieldContainer[Param]
    def __init__(self, sql: _Optional[str] = ..., params: _Optional[_Iterable[_Union[Param, _Mapping]]] = ...) -> None: ...

class ExecuteRequest(_message.Message):
    __slots__ = ("statements", "transactional", "isolation", "read_only")
    STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONAL_FIELD_NUMBER: _ClassVar[int]
    ISOLATION_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    statements: _containers.RepeatedCompositeFieldContainer[Statement]
    transactional: bool
    isolation: Isolation
    read_only: bool
    def __init__(self, statements: _Optional[_Iterable[_Union[Statement, _Mapping]]] = ..., transactional: _Optional[bool] = ..., isolation: _Optional[_Union[Isolation, str]] = ..., read_only: _Optional[bool] = ...) -> None: ...

class ExecuteResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[QueryResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[QueryResponse, _Mapping]]] = ...) -> None: ...

class BeginRequest(_message.Message):
    __slots__ = ("isolation", "read_only", "deferrable")
    ISOLATION_FIELD_NUMBER: _ClassVar[int]
    READ_ONLY_FIELD_NUMBER: _ClassVar[int]
    DEFERRABLE_FIELD_NUMBER: _ClassVar[int]
    isolation: Isolation
    read_only: bool
    deferrable: bool
    def __init__(self, isolation: _Optional[_Union[Isolation, str]] = ..., read_only: _Optional[bool] = ..., deferrable: _Optional[bool] = ...) -> None: ...

class BeginResponse(_message.Message):
    __slots__ = ("transaction_id",)
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    def __init__(self, transaction_id: _Optional[str] = ...) -> None: ...

class CommitRequest(_message.Message):
    __slots__ = ("transaction_id",)
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    def __init__(self, transaction_id: _Optional[str] = ...) -> None: ...

class CommitResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RollbackRequest(_message.Message):
    __slots__ = ("transaction_id",)
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    def __init__(self, transaction_id: _Optional[str] = ...) -> None: ...

class RollbackResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class InsertRequest(_message.Message):
    __slots__ = ("table", "columns", "values", "on_conflict", "returning")
    TABLE_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    ON_CONFLICT_FIELD_NUMBER: _ClassVar[int]
    RETURNING_FIELD_NUMBER: _ClassVar[int]
    table: str
    columns: _containers.RepeatedScalarFieldContainer[str]
    values: _containers.RepeatedCompositeFieldContainer[Param]
    on_conflict: OnConflict
    returning: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, table: _Optional[str] = ..., columns: _Optional[_Iterable[str]] = ..., values: _Optional[_Iterable[_Union[Param, _Mapping]]] = ..., on_conflict: _Optional[_Union[OnConflict, _Mapping]] = ..., returning: _Optional[_Iterable[str]] = ...) -> None: ...

class OnConflict(_message.Message):
    __slots__ = ("action", "target", "update")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    action: ConflictAction
    target: _containers.RepeatedScalarFieldContainer[str]
    update: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, action: _Optional[_Union[ConflictAction, str]] = ..., target: _Optional[_Iterable[str]] = ..., update: _Optional[_Iterable[str]] = ...) -> None: ...

class InsertResponse(_message.Message):
    __slots__ = ("inserted", "columns", "row", "batch_size")
    INSERTED_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ROW_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    inserted: bool
    columns: _containers.RepeatedCompositeFieldContainer[Column]
    row: Row
    batch_size: int
    def __init__(self, inserted: _Optional[bool] = ..., columns: _Optional[_Iterable[_Union[Column, _Mapping]]] = ..., row: _Optional[_Union[Row, _Mapping]] = ..., batch_size: _Optional[int] = ...) -> None: ...

class GetOrLoadRequest(_message.Message):
    __slots__ = ("key", "sql", "params", "ttl_ms")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SQL_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    key: str
    sql: str
    params: _containers.RepeatedCompositeFieldContainer[Param]
    ttl_ms: int
    def __init__(self, key: _Optional[str] = ..., sql: _Optional[str] = ..., params: _Optional[_Iterable[_Union[Param, _Mapping]]] = ..., ttl_ms: _Optional[int] = ...) -> None: ...

class GetOrLoadResponse(_message.Message):
    __slots__ = ("columns", "rows", "cache")
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    CACHE_FIELD_NUMBER: _ClassVar[int]
    columns: _containers.RepeatedCompositeFieldContainer[Column]
    rows: _containers.RepeatedCompositeFieldContainer[Row]
    cache: CacheInfo
    def __init__(self, columns: _Optional[_Iterable[_Union[Column, _Mapping]]] = ..., rows: _Optional[_Iterable[_Union[Row, _Mapping]]] = ..., cache: _Optional[_Union[CacheInfo, _Mapping]] = ...) -> None: ...

class TransactionRequest(_message.Message):
    __slots__ = ("begin", "query", "commit", "rollback")
    BEGIN_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_FIELD_NUMBER: _ClassVar[int]
    begin: BeginRequest
    query: QueryRequest
    commit: CommitRequest
    rollback: RollbackRequest
    def __init__(self, begin: _Optional[_Union[BeginRequest, _Mapping]] = ..., query: _Optional[_Union[QueryRequest, _Mapping]] = ..., commit: _Optional[_Union[CommitRequest, _Mapping]] = ..., rollback: _Optional[_Union[RollbackRequest, _Mapping]] = ...) -> None: ...

class TransactionResponse(_message.Message):
    __slots__ = ("begun", "result", "committed", "rolled_back")
    BEGUN_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_FIELD_NUMBER: _ClassVar[int]
    ROLLED_BACK_FIELD_NUMBER: _ClassVar[int]
    begun: BeginResponse
    result: QueryResponse
    committed: CommitResponse
    rolled_back: RollbackResponse
    def __init__(self, begun: _Optional[_Union[BeginResponse, _Mapping]] = ..., result: _Optional[_Union[QueryResponse, _Mapping]] = ..., committed: _Optional[_Union[CommitResponse, _Mapping]] = ..., rolled_back: _Optional[_Union[RollbackResponse, _Mapping]] = ...) -> None: ...
