"""PostgreSQL through the sidecar's one pool per host. Values travel typed
(proto ``Value``), not as text, and map to Python types here; parameters map
from Python values and Postgres infers their types unless :func:`typed`
names one. No call is retried: the proto marks none idempotent."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, AsyncIterator, Iterator, Literal, Mapping, Sequence

from ._atransport import AsyncCaller
from ._gen.postgres.v1 import postgres_pb2 as pb
from ._stream import AsyncStream, SyncStream
from ._transport import Caller
from ._wire import method
from .errors import AttacheError, DeadlineExceeded, FailedPrecondition, Internal, InvalidArgument

_service = pb.DESCRIPTOR.services_by_name["PostgresService"]
QUERY = method(_service, "Query", pb.QueryRequest, pb.QueryResponse)
EXECUTE = method(_service, "Execute", pb.ExecuteRequest, pb.ExecuteResponse)
BEGIN = method(_service, "Begin", pb.BeginRequest, pb.BeginResponse)
COMMIT = method(_service, "Commit", pb.CommitRequest, pb.CommitResponse)
ROLLBACK = method(_service, "Rollback", pb.RollbackRequest, pb.RollbackResponse)
INSERT = method(_service, "Insert", pb.InsertRequest, pb.InsertResponse)
GET_OR_LOAD = method(_service, "GetOrLoad", pb.GetOrLoadRequest, pb.GetOrLoadResponse)
TRANSACTION = method(_service, "Transaction", pb.TransactionRequest, pb.TransactionResponse)

Isolation = Literal["read committed", "repeatable read", "serializable"]
CacheStatus = Literal["bypass", "miss", "coalesced", "hit"]

_ISOLATIONS: dict[str, pb.Isolation] = {
    "read committed": pb.ISOLATION_READ_COMMITTED,
    "repeatable read": pb.ISOLATION_REPEATABLE_READ,
    "serializable": pb.ISOLATION_SERIALIZABLE,
}
_STATUSES: dict[int, CacheStatus] = {
    pb.CACHE_STATUS_BYPASS: "bypass",
    pb.CACHE_STATUS_MISS: "miss",
    pb.CACHE_STATUS_COALESCED: "coalesced",
    pb.CACHE_STATUS_HIT: "hit",
}
_EPOCH = dt.datetime(1970, 1, 1)
_EPOCH_DATE = dt.date(1970, 1, 1)
_INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class Interval:
    """An interval as Postgres keeps it: months, days and microseconds are independent."""

    months: int = 0
    days: int = 0
    micros: int = 0


@dataclass(frozen=True)
class Typed:
    """A parameter with an explicit Postgres type; make one with :func:`typed`."""

    value: Any
    type: str


def typed(value: Any, type: str) -> Typed:
    """A parameter sent with a type hint, e.g. ``typed(ids, "uuid[]")`` or
    ``typed([1, 2], "jsonb")`` (with json/jsonb any value is sent as JSON; a
    str is taken as JSON text already)."""
    return Typed(value, type)


@dataclass(frozen=True)
class Column:
    name: str
    type_oid: int
    #: Postgres's name for the type, e.g. ``"int8"``, ``"_text"`` for text[].
    type_name: str


@dataclass(frozen=True)
class CacheInfo:
    """Where a result came from: ``"miss"`` (run on the database),
    ``"coalesced"`` (shared from an identical read running), ``"hit"`` (the
    cache), ``"bypass"`` (not eligible; ``reason`` says why)."""

    status: CacheStatus = "bypass"
    reason: str = ""
    #: For ``"hit"``: how long ago, in ms, the result was read from the database.
    age_ms: int = 0


@dataclass(frozen=True)
class QueryResult:
    #: One dict per row, keyed by column name (of duplicate names, the last wins).
    rows: list[dict[str, Any]]
    columns: list[Column]
    rows_affected: int = 0
    #: As Postgres reports it, e.g. ``"INSERT 0 1"``.
    command_tag: str = ""
    cache: CacheInfo = field(default_factory=CacheInfo)


@dataclass(frozen=True)
class InsertResult:
    #: False when ``on_conflict="nothing"`` skipped the row.
    inserted: bool
    #: The ``returning`` columns of the row; None if none were asked or nothing was inserted.
    row: dict[str, Any] | None
    #: Rows in the statement that carried this one (inserts of one shape are merged).
    batch_size: int


@dataclass(frozen=True)
class Statement:
    sql: str
    params: Sequence[Any] = ()


# Parameters: Python values to proto Values.


def _bad(why: str) -> InvalidArgument:
    return InvalidArgument(f"cannot send this parameter: {why}")


def _micros(delta: dt.timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _shape(v: Sequence[Any]) -> list[int] | None:
    if not any(isinstance(e, (list, tuple)) for e in v):
        return [len(v)]
    if not all(isinstance(e, (list, tuple)) for e in v):
        return None
    inner = [_shape(e) for e in v]
    first = inner[0]
    if first is None or any(s != first for s in inner):
        return None
    return [len(v), *first]


def _flatten(v: Sequence[Any], depth: int) -> list[Any]:
    if depth == 1:
        return list(v)
    return [x for e in v for x in _flatten(e, depth - 1)]


def to_value(v: Any) -> pb.Value:
    if v is None:
        return pb.Value(null=True)
    if isinstance(v, bool):
        return pb.Value(bool=v)
    if isinstance(v, int):
        return pb.Value(int=v) if _INT64[0] <= v <= _INT64[1] else pb.Value(numeric=str(v))
    if isinstance(v, float):
        return pb.Value(float=v)
    if isinstance(v, str):
        return pb.Value(text=v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return pb.Value(bytes=bytes(v))
    if isinstance(v, Decimal):
        return pb.Value(numeric=str(v))
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            micros = _micros(v.astimezone(dt.timezone.utc).replace(tzinfo=None) - _EPOCH)
            return pb.Value(timestamptz=pb.Timestamp(micros=micros))
        return pb.Value(timestamp=pb.Timestamp(micros=_micros(v - _EPOCH)))
    if isinstance(v, dt.date):
        return pb.Value(date=pb.Date(days=(v - _EPOCH_DATE).days))
    if isinstance(v, dt.time):
        if v.tzinfo is not None:
            raise _bad("a time with a time zone; send it naive or as typed(str, 'timetz')")
        return pb.Value(time=((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000 + v.microsecond)
    if isinstance(v, dt.timedelta):
        # Days stay days, as Postgres (and psycopg) keep them: not 24 hours across a DST change.
        return pb.Value(interval=pb.Interval(days=v.days, micros=v.seconds * 1_000_000 + v.microseconds))
    if isinstance(v, Interval):
        return pb.Value(interval=pb.Interval(months=v.months, days=v.days, micros=v.micros))
    if isinstance(v, uuid.UUID):
        return pb.Value(uuid=str(v))
    if isinstance(v, (list, tuple)):
        dims = _shape(v)
        if dims is None:
            raise _bad("a nested list must be rectangular, as Postgres arrays are")
        if 0 in dims:
            return pb.Value(array=pb.Array())
        elements = [to_value(e) for e in _flatten(v, len(dims))]
        return pb.Value(
            array=pb.Array(dimensions=[pb.Dimension(length=n, lower_bound=1) for n in dims], elements=elements)
        )
    if isinstance(v, Typed):
        raise _bad("typed() applies to a whole parameter, not to an array element")
    if isinstance(v, dict):
        return pb.Value(json=json.dumps(v))
    raise _bad(f"{type(v).__name__} has no Postgres form; send json.dumps(...) or a dict")


def to_param(v: Any) -> pb.Param:
    if isinstance(v, Typed):
        if v.type.strip().lower() in ("json", "jsonb") and v.value is not None:
            text = v.value if isinstance(v.value, str) else json.dumps(v.value)
            return pb.Param(value=pb.Value(json=text), type=v.type)
        return pb.Param(value=to_value(v.value), type=v.type)
    return pb.Param(value=to_value(v))


# Results: proto Values to Python values.


def _timestamp(t: pb.Timestamp, tz: bool) -> dt.datetime | float:
    if t.infinity == pb.INFINITY_POSITIVE:
        return float("inf")
    if t.infinity == pb.INFINITY_NEGATIVE:
        return float("-inf")
    try:
        value = _EPOCH + dt.timedelta(microseconds=t.micros)
    except OverflowError:
        raise Internal(f"timestamp {t.micros} µs is beyond what a Python datetime holds") from None
    return value.replace(tzinfo=dt.timezone.utc) if tz else value


def _date(d: pb.Date) -> dt.date | str:
    if d.infinity == pb.INFINITY_POSITIVE:
        return "infinity"
    if d.infinity == pb.INFINITY_NEGATIVE:
        return "-infinity"
    try:
        return _EPOCH_DATE + dt.timedelta(days=d.days)
    except OverflowError:
        raise Internal(f"date {d.days} days from 1970 is beyond what a Python date holds") from None


def _array(a: pb.Array) -> list[Any]:
    elements = [from_value(e) for e in a.elements]
    dims = [d.length for d in a.dimensions]
    if not dims or 0 in dims:
        return []
    total = 1
    for n in dims:
        total *= n
    if total != len(elements):
        raise Internal(f"the sidecar sent an array of {len(elements)} elements for dimensions {dims}")
    it = iter(elements)

    def build(depth: int) -> list[Any]:
        if depth == len(dims) - 1:
            return [next(it) for _ in range(dims[depth])]
        return [build(depth + 1) for _ in range(dims[depth])]

    return build(0)


def from_value(v: pb.Value) -> Any:
    kind = v.WhichOneof("kind")
    if kind is None or kind == "null":
        return None
    if kind in ("bool", "float", "text", "bytes", "int"):
        return getattr(v, kind)
    if kind == "numeric":
        return Decimal(v.numeric)
    if kind == "timestamp":
        return _timestamp(v.timestamp, False)
    if kind == "timestamptz":
        return _timestamp(v.timestamptz, True)
    if kind == "date":
        return _date(v.date)
    if kind == "time":
        seconds, micros = divmod(v.time, 1_000_000)
        if seconds >= 86_400:  # 24:00:00
            return dt.time.max
        return dt.time(seconds // 3600, seconds // 60 % 60, seconds % 60, micros)
    if kind == "interval":
        return Interval(v.interval.months, v.interval.days, v.interval.micros)
    if kind == "uuid":
        return uuid.UUID(v.uuid)
    if kind == "json":
        return json.loads(v.json)
    if kind == "array":
        return _array(v.array)
    if kind == "record":
        fields = v.record.fields
        if fields and all(f.name for f in fields):
            return {f.name: from_value(f.value) for f in fields}
        return [from_value(f.value) for f in fields]
    if kind == "typed":
        return v.typed.text
    raise Internal(f"unknown Postgres value kind {kind}")


def _columns(columns: Sequence[pb.Column]) -> list[Column]:
    return [Column(c.name, c.type_oid, c.type_name) for c in columns]


def _row(row: pb.Row, columns: list[Column]) -> dict[str, Any]:
    return {(columns[i].name if i < len(columns) else str(i)): from_value(v) for i, v in enumerate(row.values)}


def _cache(info: pb.CacheInfo | None) -> CacheInfo:
    if info is None:
        return CacheInfo()
    return CacheInfo(_STATUSES.get(info.status, "bypass"), info.reason, info.age_ms)


def _result(r: pb.QueryResponse) -> QueryResult:
    columns = _columns(r.columns)
    return QueryResult(
        rows=[_row(row, columns) for row in r.rows],
        columns=columns,
        rows_affected=r.rows_affected,
        command_tag=r.command_tag,
        cache=_cache(r.cache if r.HasField("cache") else None),
    )


def _ms(seconds: float | None, what: str) -> int:
    if seconds is None:
        return 0
    if not isinstance(seconds, (int, float)) or seconds < 0:
        raise InvalidArgument(f"{what} must be a number of seconds, 0 or more")
    return int(seconds * 1000)


def _isolation(name: Isolation | None) -> pb.Isolation:
    if name is None:
        return pb.ISOLATION_UNSPECIFIED
    if name not in _ISOLATIONS:
        raise InvalidArgument(f'unknown isolation {name}; use "read committed", "repeatable read" or "serializable"')
    return _ISOLATIONS[name]


def _query_request(
    sql: str, params: Sequence[Any], max_rows: int | None, cache_ttl: float | None, transaction_id: str
) -> pb.QueryRequest:
    request = pb.QueryRequest(sql=sql, params=[to_param(p) for p in params], transaction_id=transaction_id)
    ttl = _ms(cache_ttl, "cache_ttl")
    if max_rows or ttl:
        request.options.CopyFrom(pb.QueryOptions(max_rows=max_rows or 0, cache_ttl_ms=ttl))
    return request


def _insert_request(
    table: str,
    row: Mapping[str, Any],
    returning: Sequence[str],
    on_conflict: Literal["nothing", "update"] | None,
    conflict_target: Sequence[str],
    update: Sequence[str],
) -> pb.InsertRequest:
    request = pb.InsertRequest(
        table=table, columns=list(row), values=[to_param(v) for v in row.values()], returning=list(returning)
    )
    if on_conflict is not None:
        actions = {"nothing": pb.CONFLICT_ACTION_NOTHING, "update": pb.CONFLICT_ACTION_UPDATE}
        if on_conflict not in actions:
            raise InvalidArgument(f'unknown on_conflict {on_conflict}; use "nothing" or "update"')
        request.on_conflict.CopyFrom(
            pb.OnConflict(action=actions[on_conflict], target=list(conflict_target), update=list(update))
        )
    return request


def _insert_result(r: pb.InsertResponse) -> InsertResult:
    row = _row(r.row, _columns(r.columns)) if r.HasField("row") else None
    return InsertResult(r.inserted, row, r.batch_size)


def _execute_request(
    statements: Sequence[Statement | str], transactional: bool, isolation: Isolation | None, read_only: bool
) -> pb.ExecuteRequest:
    return pb.ExecuteRequest(
        statements=[
            pb.Statement(sql=s, params=[])
            if isinstance(s, str)
            else pb.Statement(sql=s.sql, params=[to_param(p) for p in s.params])
            for s in statements
        ],
        transactional=transactional,
        isolation=_isolation(isolation),
        read_only=read_only,
    )


def _get_or_load_result(r: pb.GetOrLoadResponse) -> QueryResult:
    columns = _columns(r.columns)
    return QueryResult(rows=[_row(row, columns) for row in r.rows], columns=columns, cache=_cache(r.cache))


def _answer(reply: pb.TransactionResponse | None, want: str) -> pb.TransactionResponse:
    if reply is None:
        raise Internal("the sidecar ended the transaction's stream without answering")
    if reply.WhichOneof("step") != want:
        raise Internal(f"the sidecar answered a transaction step with {reply.WhichOneof('step')}, not {want}")
    return reply


def _unanswered(timeout: float) -> DeadlineExceeded:
    return DeadlineExceeded(f"no answer from the sidecar within {timeout} s; the transaction is rolled back")


def _ended(failure: AttacheError | None) -> FailedPrecondition:
    why = f" ({failure})" if failure is not None else ""
    return FailedPrecondition(f"the transaction has ended{why}; begin a new one")


class _TxStream:
    """A transaction that is a stream of its own: one step at a time, each
    answered in order, so a step that fails or is not answered in time
    ends the stream, and the sidecar rolls the transaction back."""

    def __init__(self, path: str, timeout: float) -> None:
        self._stream = SyncStream(path, TRANSACTION, timeout)
        self._failure: AttacheError | None = None

    def step(self, request: pb.TransactionRequest, want: str, timeout: float) -> pb.TransactionResponse:
        if self._stream.ended:
            raise _ended(self._failure)
        try:
            self._stream.send(request)
            try:
                reply = self._stream.receive(timeout)
            except DeadlineExceeded:
                raise _unanswered(timeout) from None
            return _answer(reply, want)
        except AttacheError as err:
            self._failure = err
            self._stream.close()
            raise

    def end(self, request: pb.TransactionRequest, want: str, timeout: float) -> None:
        try:
            self.step(request, want, timeout)
        finally:
            self._stream.close()


class Transaction:
    """The handle ``with client.postgres.transaction() as tx`` gives."""

    def __init__(self, client: PostgresClient, id: str, stream: _TxStream | None = None) -> None:
        self._client = client
        #: The sidecar's id for the transaction; empty for ``stream=True``.
        self.id = id
        self._stream = stream

    def query(
        self, sql: str, params: Sequence[Any] = (), *, max_rows: int | None = None, timeout: float | None = None
    ) -> QueryResult:
        request = _query_request(sql, params, max_rows, None, self.id)
        if self._stream is None:
            return _result(self._client._call(QUERY, request, timeout))
        wait = self._client._call.timeout if timeout is None else timeout
        return _result(self._stream.step(pb.TransactionRequest(query=request), "result", wait).result)


class PostgresClient:
    """``client.postgres``. Errors carry Postgres's fields (``sqlstate``,
    ``constraint``, ``detail``, ``position``…); a unique violation is
    :class:`attache.UniqueViolation` (an ``AlreadyExists``)."""

    def __init__(self, call: Caller, path: str) -> None:
        self._call = call
        self._path = path

    def query(
        self,
        sql: str,
        params: Sequence[Any] = (),
        *,
        max_rows: int | None = None,
        cache_ttl: float | None = None,
        timeout: float | None = None,
    ) -> QueryResult:
        """Runs one statement, e.g. ``query("select * from users where id = $1", [id])``.
        ``cache_ttl`` (seconds): answer identical reads from the sidecar's cache
        until a write through attache to a table it reads."""
        return _result(self._call(QUERY, _query_request(sql, params, max_rows, cache_ttl, ""), timeout))

    def execute(
        self,
        statements: Sequence[Statement | str],
        *,
        transactional: bool = False,
        isolation: Isolation | None = None,
        read_only: bool = False,
        timeout: float | None = None,
    ) -> list[QueryResult]:
        """Runs statements in order on one connection in one call; with ``transactional``, all or none."""
        reply = self._call(EXECUTE, _execute_request(statements, transactional, isolation, read_only), timeout)
        return [_result(r) for r in reply.results]

    def insert(
        self,
        table: str,
        row: Mapping[str, Any],
        *,
        returning: Sequence[str] = (),
        on_conflict: Literal["nothing", "update"] | None = None,
        conflict_target: Sequence[str] = (),
        update: Sequence[str] = (),
        timeout: float | None = None,
    ) -> InsertResult:
        """Inserts one row (its keys are the columns). Inserts of one shape
        from any callers on the host go together in one statement; only a bad
        row's caller gets its error (a unique violation: UniqueViolation,
        unless ``on_conflict`` says otherwise)."""
        request = _insert_request(table, row, returning, on_conflict, conflict_target, update)
        return _insert_result(self._call(INSERT, request, timeout))

    def get_or_load(
        self, key: str, sql: str, params: Sequence[Any] = (), *, ttl: float, timeout: float | None = None
    ) -> QueryResult:
        """Cache-aside in one call (needs Redis on the sidecar too): the
        result stored at ``key`` in Redis, else ``sql`` run once for every
        concurrent caller and stored for ``ttl`` seconds."""
        request = pb.GetOrLoadRequest(key=key, sql=sql, params=[to_param(p) for p in params], ttl_ms=_ms(ttl, "ttl"))
        return _get_or_load_result(self._call(GET_OR_LOAD, request, timeout))

    @contextmanager
    def transaction(
        self,
        *,
        isolation: Isolation | None = None,
        read_only: bool = False,
        deferrable: bool = False,
        stream: bool = False,
        timeout: float | None = None,
    ) -> Iterator[Transaction]:
        """``with client.postgres.transaction() as tx: tx.query(...)``: commits
        when the block ends, rolls back if it raises. An ``Aborted`` error
        (serialization failure, deadlock) means: run the whole block again.

        ``stream=True``: the transaction is a stream of its own (a connection
        of its own) rather than unary calls naming it: if this process dies
        or the connection breaks before the commit, the sidecar rolls it back
        at once, not after its idle timeout. A statement that fails, or is
        not answered within its timeout, ends it, rolled back."""
        request = pb.BeginRequest(isolation=_isolation(isolation), read_only=read_only, deferrable=deferrable)
        if stream:
            with self._stream_transaction(request, self._call.timeout if timeout is None else timeout) as tx:
                yield tx
            return
        tid = self._call(BEGIN, request, timeout).transaction_id
        try:
            yield Transaction(self, tid)
        except BaseException:
            self._rollback(tid)
            raise
        try:
            self._call(COMMIT, pb.CommitRequest(transaction_id=tid), timeout)
        except BaseException:
            # If the commit never arrived, free the transaction now.
            self._rollback(tid)
            raise

    def _rollback(self, tid: str) -> None:
        try:
            self._call(ROLLBACK, pb.RollbackRequest(transaction_id=tid))
        except Exception:  # noqa: BLE001 - must not hide the error that caused it
            pass  # The sidecar rolls back on its own after the idle timeout.

    @contextmanager
    def _stream_transaction(self, begin: pb.BeginRequest, timeout: float) -> Iterator[Transaction]:
        stream = _TxStream(self._path, timeout)
        try:
            stream.step(pb.TransactionRequest(begin=begin), "begun", timeout)
            yield Transaction(self, "", stream)
        except BaseException:
            try:
                stream.end(pb.TransactionRequest(rollback=pb.RollbackRequest()), "rolled_back", timeout)
            except AttacheError:
                pass  # Ended already: the sidecar rolled it back.
            raise
        stream.end(pb.TransactionRequest(commit=pb.CommitRequest()), "committed", timeout)


class _AsyncTxStream:
    """As :class:`_TxStream`, on asyncio."""

    def __init__(self, stream: AsyncStream[pb.TransactionRequest, pb.TransactionResponse]) -> None:
        self._stream = stream
        self._failure: AttacheError | None = None

    async def step(self, request: pb.TransactionRequest, want: str, timeout: float) -> pb.TransactionResponse:
        if self._stream.ended:
            raise _ended(self._failure)
        try:
            self._stream.send(request)
            try:
                reply = await asyncio.wait_for(self._stream.receive(), timeout)
            except asyncio.TimeoutError:
                raise _unanswered(timeout) from None
            return _answer(reply, want)
        except AttacheError as err:
            self._failure = err
            self._stream.close()
            raise

    async def end(self, request: pb.TransactionRequest, want: str, timeout: float) -> None:
        try:
            await self.step(request, want, timeout)
        finally:
            self._stream.close()


class AsyncTransaction:
    def __init__(self, client: AsyncPostgresClient, id: str, stream: _AsyncTxStream | None = None) -> None:
        self._client = client
        self.id = id
        self._stream = stream

    async def query(
        self, sql: str, params: Sequence[Any] = (), *, max_rows: int | None = None, timeout: float | None = None
    ) -> QueryResult:
        request = _query_request(sql, params, max_rows, None, self.id)
        if self._stream is None:
            return _result(await self._client._call(QUERY, request, timeout))
        wait = self._client._call.timeout if timeout is None else timeout
        return _result((await self._stream.step(pb.TransactionRequest(query=request), "result", wait)).result)


class AsyncPostgresClient:
    """``AsyncClient.postgres``: as :class:`PostgresClient`, awaitable."""

    def __init__(self, call: AsyncCaller, path: str) -> None:
        self._call = call
        self._path = path

    async def query(
        self,
        sql: str,
        params: Sequence[Any] = (),
        *,
        max_rows: int | None = None,
        cache_ttl: float | None = None,
        timeout: float | None = None,
    ) -> QueryResult:
        return _result(await self._call(QUERY, _query_request(sql, params, max_rows, cache_ttl, ""), timeout))

    async def execute(
        self,
        statements: Sequence[Statement | str],
        *,
        transactional: bool = False,
        isolation: Isolation | None = None,
        read_only: bool = False,
        timeout: float | None = None,
    ) -> list[QueryResult]:
        reply = await self._call(EXECUTE, _execute_request(statements, transactional, isolation, read_only), timeout)
        return [_result(r) for r in reply.results]

    async def insert(
        self,
        table: str,
        row: Mapping[str, Any],
        *,
        returning: Sequence[str] = (),
        on_conflict: Literal["nothing", "update"] | None = None,
        conflict_target: Sequence[str] = (),
        update: Sequence[str] = (),
        timeout: float | None = None,
    ) -> InsertResult:
        request = _insert_request(table, row, returning, on_conflict, conflict_target, update)
        return _insert_result(await self._call(INSERT, request, timeout))

    async def get_or_load(
        self, key: str, sql: str, params: Sequence[Any] = (), *, ttl: float, timeout: float | None = None
    ) -> QueryResult:
        request = pb.GetOrLoadRequest(key=key, sql=sql, params=[to_param(p) for p in params], ttl_ms=_ms(ttl, "ttl"))
        return _get_or_load_result(await self._call(GET_OR_LOAD, request, timeout))

    @asynccontextmanager
    async def transaction(
        self,
        *,
        isolation: Isolation | None = None,
        read_only: bool = False,
        deferrable: bool = False,
        stream: bool = False,
        timeout: float | None = None,
    ) -> AsyncIterator[AsyncTransaction]:
        request = pb.BeginRequest(isolation=_isolation(isolation), read_only=read_only, deferrable=deferrable)
        if stream:
            async with self._stream_transaction(request, self._call.timeout if timeout is None else timeout) as tx:
                yield tx
            return
        tid = (await self._call(BEGIN, request, timeout)).transaction_id
        try:
            yield AsyncTransaction(self, tid)
        except BaseException:
            await self._rollback(tid)
            raise
        try:
            await self._call(COMMIT, pb.CommitRequest(transaction_id=tid), timeout)
        except BaseException:
            await self._rollback(tid)
            raise

    async def _rollback(self, tid: str) -> None:
        try:
            await self._call(ROLLBACK, pb.RollbackRequest(transaction_id=tid))
        except Exception:  # noqa: BLE001
            pass

    @asynccontextmanager
    async def _stream_transaction(self, begin: pb.BeginRequest, timeout: float) -> AsyncIterator[AsyncTransaction]:
        stream = _AsyncTxStream(await AsyncStream.open(self._path, TRANSACTION))
        try:
            await stream.step(pb.TransactionRequest(begin=begin), "begun", timeout)
            yield AsyncTransaction(self, "", stream)
        except BaseException:
            try:
                await stream.end(pb.TransactionRequest(rollback=pb.RollbackRequest()), "rolled_back", timeout)
            except AttacheError:
                pass
            raise
        await stream.end(pb.TransactionRequest(commit=pb.CommitRequest()), "committed", timeout)
