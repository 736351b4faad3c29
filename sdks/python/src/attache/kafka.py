"""Kafka through the sidecar's durable spool: a record is acknowledged once
it is on this host's disk (or, with ``ack="delivered"``, once Kafka has it).
Consuming, at least once: a group member per stream (:meth:`consume`), or
records leased to short-lived callers (:meth:`fetch` and ``commit``).
Nothing here is retried: producing is not idempotent, nor is taking records."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Iterator, Literal, Mapping, Sequence, Union

from ._atransport import AsyncCaller
from ._gen.kafka.v1 import kafka_pb2 as pb
from ._stream import AsyncStream, SyncStream
from ._transport import Caller
from ._wire import method
from .errors import AttacheError, DeadlineExceeded, FailedPrecondition, Internal, InvalidArgument, Unavailable, error_for

_service = pb.DESCRIPTOR.services_by_name["KafkaService"]
PRODUCE = method(_service, "Produce", pb.ProduceRequest, pb.ProduceResponse)
PRODUCE_STREAM = method(_service, "ProduceStream", pb.ProduceStreamRequest, pb.ProduceStreamResponse)
CONSUME = method(_service, "Consume", pb.ConsumeRequest, pb.ConsumeResponse)
FETCH = method(_service, "Fetch", pb.FetchRequest, pb.FetchResponse)
COMMIT = method(_service, "Commit", pb.CommitRequest, pb.CommitResponse)

Ack = Literal["spooled", "delivered"]
Start = Literal["earliest", "latest"]
Bytes = Union[str, bytes, None]
Headers = Union[Mapping[str, Bytes], Sequence[tuple[str, Bytes]]]

_ACKS: dict[str, pb.Ack] = {"spooled": pb.ACK_SPOOLED, "delivered": pb.ACK_DELIVERED}
_STARTS: dict[str, pb.StartFrom] = {"earliest": pb.START_FROM_EARLIEST, "latest": pb.START_FROM_LATEST}
MAX_WAIT = 60.0
MAX_LEASE = 3600.0


@dataclass
class Record:
    """A record to produce. ``key`` None: the partitioner spreads such
    records; ``value`` None: a tombstone. ``headers`` as a dict or as
    ``(key, value)`` pairs (which may repeat a key); ``attache-id`` is
    attache's own. ``timestamp``: a datetime or ms since the epoch."""

    topic: str
    value: Bytes = None
    key: Bytes = None
    headers: Headers | None = None
    partition: int | None = None
    timestamp: dt.datetime | int | None = None


@dataclass(frozen=True)
class ProduceResult:
    #: The record's ``attache-id`` header, the same on every delivery of it.
    id: str
    #: With ``ack="delivered"``: where Kafka stored it.
    partition: int | None = None
    offset: int | None = None
    #: With ``ack="delivered"``: why Kafka refused this record (NotFound, InvalidArgument…).
    error: AttacheError | None = None


@dataclass(frozen=True)
class Position:
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class TopicPartition:
    topic: str
    partition: int


@dataclass(frozen=True)
class ConsumedRecord:
    topic: str
    partition: int
    offset: int
    #: None: the record has no key.
    key: bytes | None
    #: None: a null value (a tombstone).
    value: bytes | None
    #: In order, repeated names kept, ``attache-id`` among them.
    headers: list[tuple[str, bytes | None]]
    #: Milliseconds since the Unix epoch.
    timestamp: int
    #: The ``attache-id`` header, to drop duplicates by; None for records produced otherwise.
    id: str | None

    def text(self) -> str | None:
        """The value as UTF-8 text."""
        return None if self.value is None else self.value.decode()


@dataclass(frozen=True)
class CommitResult:
    acked: int
    #: Records of the lease left out, which a later fetch delivers again.
    redelivered: int


def _bad(field: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"{field}: {why}")


def _bytes(v: Any, field: str) -> bytes | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v.encode()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    raise _bad(field, f"must be str, bytes or None, not {type(v).__name__}")


def _headers(headers: Any, field: str) -> list[pb.Header]:
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        pairs = list(headers.items())
    elif isinstance(headers, (list, tuple)):
        pairs = list(headers)
    else:
        raise _bad(field, f"must be a dict or a list of (key, value) pairs, not {type(headers).__name__}")
    out = []
    for i, pair in enumerate(pairs):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not isinstance(pair[0], str):
            raise _bad(f"{field}[{i}]", "must be a (key, value) pair with a str key")
        h = pb.Header(key=pair[0])
        value = _bytes(pair[1], f"{field}.{pair[0]}")
        if value is not None:
            h.value = value
        out.append(h)
    return out


def _record(r: Any, i: int) -> pb.Record:
    field = f"records[{i}]"
    if isinstance(r, Mapping):
        try:
            r = Record(**r)
        except TypeError as err:
            raise _bad(field, str(err)) from None
    if not isinstance(r, Record):
        raise _bad(field, f"must be an attache.kafka.Record or a dict, not {type(r).__name__}")
    if not isinstance(r.topic, str):
        raise _bad(f"{field}.topic", f"must be a str, not {type(r.topic).__name__}")
    out = pb.Record(topic=r.topic, headers=_headers(r.headers, f"{field}.headers"))
    key = _bytes(r.key, f"{field}.key")
    if key is not None:
        out.key = key
    value = _bytes(r.value, f"{field}.value")
    if value is not None:
        out.value = value
    if r.partition is not None:
        if isinstance(r.partition, bool) or not isinstance(r.partition, int) or not -(2**31) <= r.partition < 2**31:
            raise _bad(f"{field}.partition", f"must be a 32-bit integer, not {r.partition!r}")
        out.partition = r.partition
    if r.timestamp is not None:
        if isinstance(r.timestamp, dt.datetime):
            out.timestamp_ms = int(r.timestamp.timestamp() * 1000)
        elif isinstance(r.timestamp, int) and not isinstance(r.timestamp, bool):
            out.timestamp_ms = r.timestamp
        else:
            raise _bad(f"{field}.timestamp", f"must be a datetime or whole ms since the epoch, not {r.timestamp!r}")
    return out


def _records(records: Any) -> list[pb.Record]:
    if not isinstance(records, (list, tuple)):
        raise _bad("records", f"must be a list of records, not {type(records).__name__}")
    return [_record(r, i) for i, r in enumerate(records)]


def _ack(ack: Any) -> pb.Ack:
    if ack not in _ACKS:
        raise _bad("ack", f'unknown value {ack!r}; use "spooled" or "delivered"')
    return _ACKS[ack]


def _start(start: Any) -> pb.StartFrom:
    if start not in _STARTS:
        raise _bad("start", f'unknown value {start!r}; use "earliest" or "latest"')
    return _STARTS[start]


def _topics(topics: Any) -> list[str]:
    if isinstance(topics, str) or not isinstance(topics, (list, tuple)):
        raise _bad("topics", f"must be a list of topic names, not {type(topics).__name__}")
    for i, t in enumerate(topics):
        if not isinstance(t, str):
            raise _bad(f"topics[{i}]", f"must be a str, not {type(t).__name__}")
    return list(topics)


def _count(v: Any, field: str, low: int, high: int, why: str) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
        raise _bad(field, f"must be {why}, not {v!r}")
    return v


def _result(r: pb.RecordResult) -> ProduceResult:
    return ProduceResult(
        id=r.id,
        partition=r.partition if r.HasField("partition") else None,
        offset=r.offset if r.HasField("offset") else None,
        error=error_for(r.error.code, r.error.message) if r.HasField("error") else None,
    )


def _consumed(r: pb.ConsumedRecord) -> dict[str, Any]:
    headers: list[tuple[str, bytes | None]] = [(h.key, h.value if h.HasField("value") else None) for h in r.headers]
    ident = next((v.decode() for k, v in headers if k == "attache-id" and v is not None), None)
    return dict(
        topic=r.topic,
        partition=r.partition,
        offset=r.offset,
        key=r.key if r.HasField("key") else None,
        value=r.value if r.HasField("value") else None,
        headers=headers,
        timestamp=r.timestamp_ms,
        id=ident,
    )


def _fetch_request(
    group: str, topics: Sequence[str], max_records: int | None, max_wait: float, lease: float | None, start: Start
) -> pb.FetchRequest:
    if not isinstance(group, str):
        raise _bad("group", f"must be a str, not {type(group).__name__}")
    if not isinstance(max_wait, (int, float)) or max_wait < 0:
        raise _bad("max_wait", f"must be seconds, 0 or more, not {max_wait!r}")
    if lease is not None and (not isinstance(lease, (int, float)) or lease <= 0):
        raise _bad("lease", f"must be seconds, more than 0, not {lease!r}")
    return pb.FetchRequest(
        group=group,
        topics=_topics(topics),
        max_records=_count(max_records, "max_records", 1, 2**32 - 1, "a whole number of records, at least 1") or 100,
        max_wait_ms=int(min(max_wait, MAX_WAIT) * 1000),
        lease_ms=0 if lease is None else max(1, int(min(lease, MAX_LEASE) * 1000)),
        start=_start(start),
    )


def _commit_request(lease: Lease, acked: Sequence[Any] | None) -> pb.CommitRequest:
    request = pb.CommitRequest(lease_id=lease.id, all=acked is None)
    if acked is not None:
        if not isinstance(acked, (list, tuple)):
            raise _bad("acked", f"must be a list of records or positions, not {type(acked).__name__}")
        held = {(r.topic, r.partition, r.offset) for r in lease.records}
        for i, p in enumerate(acked):
            try:
                key = (p.topic, p.partition, p.offset)
            except AttributeError:
                raise _bad(f"acked[{i}]", "must be a record of the lease or a Position") from None
            if key not in held:
                raise _bad(f"acked[{i}]", f"{p.topic}/{p.partition} offset {p.offset} is not a record of this lease")
            request.acked.append(pb.Position(topic=p.topic, partition=p.partition, offset=p.offset))
    return request


@dataclass
class Lease:
    """Records :meth:`KafkaClient.fetch` leased to this caller: commit the
    ones handled before the lease ends; the others go to a later fetch."""

    #: The sidecar's id for the lease; empty when no record came.
    id: str
    records: list[ConsumedRecord]
    _commit: Any = field(repr=False, default=None)

    def commit(self, acked: Sequence[Position | ConsumedRecord] | None = None, *, timeout: float | None = None) -> CommitResult:
        """Acknowledges all the lease's records (``acked`` None) or those
        listed, and ends the lease. NotFound when the lease is over."""
        request = _commit_request(self, acked)
        if not self.records:
            return CommitResult(0, 0)
        r = self._commit(request, timeout)
        return CommitResult(r.acked, r.redelivered)


@dataclass
class AsyncLease:
    id: str
    records: list[ConsumedRecord]
    _commit: Any = field(repr=False, default=None)

    async def commit(
        self, acked: Sequence[Position | ConsumedRecord] | None = None, *, timeout: float | None = None
    ) -> CommitResult:
        request = _commit_request(self, acked)  # type: ignore[arg-type]
        if not self.records:
            return CommitResult(0, 0)
        r = await self._commit(request, timeout)
        return CommitResult(r.acked, r.redelivered)


class ProduceStream:
    """Produce over one stream (a connection of its own), for high rates.
    Each :meth:`send` blocks until its records are acknowledged. A failure
    ends the stream: open a new one. Use as a context manager."""

    def __init__(self, path: str, timeout: float) -> None:
        self._timeout = timeout
        self._stream = SyncStream(path, PRODUCE_STREAM, timeout)
        self._sequence = 0
        self._failure: AttacheError | None = None

    def send(self, records: Sequence[Record | Mapping[str, Any]], *, ack: Ack = "spooled", timeout: float | None = None) -> list[ProduceResult]:
        if self._failure is not None:
            raise FailedPrecondition(f"the stream has ended ({self._failure}); open a new one")
        request = pb.ProduceStreamRequest(records=_records(records), ack=_ack(ack), sequence=self._sequence + 1)
        self._sequence += 1
        wait = self._timeout if timeout is None else timeout
        try:
            self._stream.send(request)
            deadline = time.monotonic() + wait
            reply = self._stream.receive(max(0.001, deadline - time.monotonic()))
        except AttacheError as err:
            self._failure = err
            self._stream.close()
            raise
        if reply is None or reply.sequence != request.sequence:
            self._failure = Internal("the sidecar ended the stream without answering every message")
            self._stream.close()
            raise self._failure
        return [_result(r) for r in reply.results]

    def close(self) -> None:
        if not self._stream.ended:
            self._stream.close_send()
            try:
                self._stream.receive(self._timeout)
            except AttacheError:
                pass
            self._stream.close()

    def __enter__(self) -> ProduceStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncProduceStream:
    """As :class:`ProduceStream`; sends made concurrently are pipelined on the stream."""

    def __init__(self, stream: AsyncStream[pb.ProduceStreamRequest, pb.ProduceStreamResponse], timeout: float) -> None:
        self._stream = stream
        self._timeout = timeout
        self._sequence = 0
        self._pending: dict[int, asyncio.Future[list[ProduceResult]]] = {}
        self._failure: AttacheError | None = None
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        error: AttacheError | None = None
        try:
            while True:
                reply = await self._stream.receive()
                if reply is None:
                    break
                future = self._pending.pop(reply.sequence, None)
                if future is None:
                    error = Internal(f"the sidecar answered message {reply.sequence}, which is not awaiting an answer")
                    break
                if not future.done():
                    future.set_result([_result(r) for r in reply.results])
        except AttacheError as err:
            error = err
        except Exception as err:  # noqa: BLE001
            error = Unavailable(str(err))
        self._stream.close()
        if error is None and self._pending:
            error = Internal("the sidecar ended the stream without answering every message")
        self._failure = error or FailedPrecondition("the stream is closed")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(self._failure)
        self._pending.clear()

    async def send(
        self, records: Sequence[Record | Mapping[str, Any]], *, ack: Ack = "spooled", timeout: float | None = None
    ) -> list[ProduceResult]:
        if self._failure is not None:
            raise FailedPrecondition(f"the stream has ended ({self._failure}); open a new one")
        request = pb.ProduceStreamRequest(records=_records(records), ack=_ack(ack), sequence=self._sequence + 1)
        self._sequence += 1
        future: asyncio.Future[list[ProduceResult]] = asyncio.get_running_loop().create_future()
        self._pending[request.sequence] = future
        self._stream.send(request)
        wait = self._timeout if timeout is None else timeout
        try:
            return await asyncio.wait_for(asyncio.shield(future), wait)
        except asyncio.TimeoutError:
            self._stream.close()
            raise DeadlineExceeded(f"no answer from the sidecar within {wait} s; the stream is ended") from None

    async def close(self) -> None:
        if not self._stream.ended:
            self._stream.close_send()
        try:
            await asyncio.wait_for(self._reader, self._timeout)
        except (asyncio.TimeoutError, AttacheError):
            self._stream.close()

    async def __aenter__(self) -> AsyncProduceStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


@dataclass(frozen=True)
class ConsumedMessage(ConsumedRecord):
    """A record a consumer delivered: ``ack()`` it once handled."""

    _consumer: Any = field(default=None, repr=False, compare=False)
    _epoch: int = field(default=0, repr=False, compare=False)
    _acked: bool = field(default=False, repr=False, compare=False)

    def ack(self) -> bool:
        """Acknowledges the record; False (doing nothing) if it was
        acknowledged before, or cannot be any more: its partition was revoked
        since, or the consumer is closed (the group delivers it again)."""
        if self._acked:
            return False
        acked = bool(self._consumer._acknowledge(self))
        object.__setattr__(self, "_acked", acked)
        return acked


def _subscribe(
    group: str, topics: Sequence[str], instance_id: str | None, max_unacked: int | None, start: Start
) -> pb.ConsumeRequest:
    if not isinstance(group, str):
        raise _bad("group", f"must be a str, not {type(group).__name__}")
    if instance_id is not None and not isinstance(instance_id, str):
        raise _bad("instance_id", f"must be a str, not {type(instance_id).__name__}")
    return pb.ConsumeRequest(
        subscribe=pb.Subscribe(
            group=group,
            topics=_topics(topics),
            instance_id=instance_id or "",
            max_unacked=_count(max_unacked, "max_unacked", 1, 2**32 - 1, "a whole number of records, at least 1") or 0,
            start=_start(start),
        )
    )


class _ConsumerState:
    """What both consumers keep: the queue, pending acks, partition epochs."""

    def __init__(self, ack_batch_size: int) -> None:
        self.queue: list[ConsumedMessage] = []
        self.acks: list[pb.Position] = []
        self.epochs: dict[tuple[str, int], int] = {}
        self.assignment: set[TopicPartition] = set()
        self.closed = False
        self.ack_batch_size = ack_batch_size

    def receive(self, r: pb.ConsumeResponse, consumer: Any) -> None:
        event = r.WhichOneof("event")
        if event == "records":
            for rec in r.records.records:
                epoch = self.epochs.get((rec.topic, rec.partition), 0)
                self.queue.append(ConsumedMessage(**_consumed(rec), _consumer=consumer, _epoch=epoch))
        elif event == "assigned":
            for p in r.assigned.partitions:
                self.assignment.add(TopicPartition(p.topic, p.partition))
        elif event == "revoked":
            gone = {(p.topic, p.partition) for p in r.revoked.partitions}
            for key in gone:
                self.assignment.discard(TopicPartition(*key))
                self.epochs[key] = self.epochs.get(key, 0) + 1
            self.queue = [m for m in self.queue if (m.topic, m.partition) not in gone]
            self.acks = [a for a in self.acks if (a.topic, a.partition) not in gone]

    def acknowledge(self, m: ConsumedMessage) -> bool:
        if self.closed or self.epochs.get((m.topic, m.partition), 0) != m._epoch:
            return False
        self.acks.append(pb.Position(topic=m.topic, partition=m.partition, offset=m.offset))
        return True

    def take_acks(self) -> pb.ConsumeRequest | None:
        if not self.acks:
            return None
        acks, self.acks = self.acks, []
        return pb.ConsumeRequest(ack=pb.Acks(positions=acks))


class Consumer:
    """A consumer group member for as long as it is open, on a stream of its
    own: iterate it for records, ``ack()`` each once handled, ``close()``
    when done (or use ``with``). Acks are sent in batches, and whenever the
    loop waits for records. At least once: records not acknowledged are
    delivered again to the group. Not thread-safe: one thread iterates."""

    def __init__(self, path: str, timeout: float, request: pb.ConsumeRequest, ack_batch_size: int) -> None:
        self._timeout = timeout
        self._state = _ConsumerState(ack_batch_size)
        self._stream = SyncStream(path, CONSUME, timeout)
        self._stream.send(request)
        self._acked = 0

    @property
    def assignment(self) -> set[TopicPartition]:
        """The partitions this consumer reads now."""
        return set(self._state.assignment)

    def _acknowledge(self, m: ConsumedMessage) -> bool:
        if self._stream.ended or not self._state.acknowledge(m):
            return False
        if len(self._state.acks) >= self._state.ack_batch_size:
            self._flush()
        return True

    def _flush(self) -> None:
        request = self._state.take_acks()
        if request is not None and not self._stream.ended:
            self._stream.send(request)

    def poll(self, timeout: float | None = None) -> ConsumedMessage | None:
        """The next record, waiting up to ``timeout`` s (None: until one
        comes); None if none came in time, or once the consumer is closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._state.queue:
            if self._state.closed:
                return None
            self._flush()
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            try:
                r = self._stream.receive(left)
            except DeadlineExceeded:
                return None
            except AttacheError:
                self._state.closed = True
                raise
            if r is None:
                self._state.closed = True
                raise Unavailable("the sidecar ended the stream; open a new consumer")
            self._state.receive(r, self)
        return self._state.queue.pop(0)

    def __iter__(self) -> Iterator[ConsumedMessage]:
        while True:
            m = self.poll(None)
            if m is None:
                return
            yield m

    def close(self) -> None:
        """Sends the acks not yet sent, then ends the stream: the sidecar
        commits what was acknowledged and the member leaves the group."""
        if self._state.closed and self._stream.ended:
            return
        try:
            self._flush()
        except AttacheError:
            pass
        self._state.closed = True
        self._state.queue = []
        if not self._stream.ended:
            self._stream.close_send()
            deadline = time.monotonic() + self._timeout
            try:
                while self._stream.receive(max(0.001, deadline - time.monotonic())) is not None:
                    pass
            except AttacheError:
                pass
            self._stream.close()

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncConsumer:
    """As :class:`Consumer`: ``async for`` it; acks also go out after
    ``ack_batch`` seconds without waiting for the loop."""

    def __init__(
        self,
        stream: AsyncStream[pb.ConsumeRequest, pb.ConsumeResponse],
        timeout: float,
        ack_batch_size: int,
        ack_batch: float,
    ) -> None:
        self._stream = stream
        self._timeout = timeout
        self._state = _ConsumerState(ack_batch_size)
        self._ack_batch = ack_batch
        self._timer: asyncio.TimerHandle | None = None

    @property
    def assignment(self) -> set[TopicPartition]:
        return set(self._state.assignment)

    def _acknowledge(self, m: ConsumedMessage) -> bool:
        if self._stream.ended or not self._state.acknowledge(m):
            return False
        if len(self._state.acks) >= self._state.ack_batch_size:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._ack_batch, self._flush)
        return True

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        request = self._state.take_acks()
        if request is not None and not self._stream.ended:
            self._stream.send(request)

    async def poll(self, timeout: float | None = None) -> ConsumedMessage | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._state.queue:
            if self._state.closed:
                return None
            self._flush()
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            try:
                r = await asyncio.wait_for(self._stream.receive(), left)
            except asyncio.TimeoutError:
                return None
            except AttacheError:
                self._state.closed = True
                raise
            if r is None:
                self._state.closed = True
                raise Unavailable("the sidecar ended the stream; open a new consumer")
            self._state.receive(r, self)
        return self._state.queue.pop(0)

    def __aiter__(self) -> AsyncIterator[ConsumedMessage]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ConsumedMessage]:
        while True:
            m = await self.poll(None)
            if m is None:
                return
            yield m

    async def close(self) -> None:
        if self._state.closed and self._stream.ended:
            return
        self._flush()
        self._state.closed = True
        self._state.queue = []
        if not self._stream.ended:
            self._stream.close_send()

            async def drain() -> None:
                while await self._stream.receive() is not None:
                    pass

            try:
                await asyncio.wait_for(drain(), self._timeout)
            except (asyncio.TimeoutError, AttacheError):
                pass
            self._stream.close()

    async def __aenter__(self) -> AsyncConsumer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class KafkaClient:
    """``client.kafka``."""

    def __init__(self, call: Caller, path: str) -> None:
        self._call = call
        self._path = path

    def produce(
        self, records: Sequence[Record | Mapping[str, Any]], *, ack: Ack = "spooled", timeout: float | None = None
    ) -> list[ProduceResult]:
        """One result per record, in order, once each is acknowledged as
        ``ack`` asks. Either every record is spooled or none is (the call raises)."""
        request = pb.ProduceRequest(records=_records(records), ack=_ack(ack))
        return [_result(r) for r in self._call(PRODUCE, request, timeout).results]

    def produce_stream(self, *, timeout: float | None = None) -> ProduceStream:
        return ProduceStream(self._path, self._call.timeout if timeout is None else timeout)

    def consume(
        self,
        group: str,
        topics: Sequence[str],
        *,
        instance_id: str | None = None,
        max_unacked: int | None = None,
        start: Start = "earliest",
        ack_batch_size: int = 500,
    ) -> Consumer:
        """Joins consumer group ``group`` for ``topics``: iterate, ``ack()``, ``close()``."""
        request = _subscribe(group, topics, instance_id, max_unacked, start)
        return Consumer(self._path, self._call.timeout, request, ack_batch_size)

    def fetch(
        self,
        group: str,
        topics: Sequence[str],
        *,
        max_records: int | None = None,
        max_wait: float = 1.0,
        lease: float | None = None,
        start: Start = "earliest",
        timeout: float | None = None,
    ) -> Lease:
        """Leases up to ``max_records`` of the group's records, waiting up to
        ``max_wait`` s for the first; an empty lease if none came. Commit it
        within ``lease`` s (default: the sidecar's lease timeout)."""
        request = _fetch_request(group, topics, max_records, max_wait, lease, start)
        wait = request.max_wait_ms / 1000
        if timeout is not None and not timeout > wait:
            raise _bad("timeout", f"the deadline ({timeout} s) must exceed the wait for records (max_wait, {wait} s)")
        reply = self._call(FETCH, request, wait + self._call.timeout if timeout is None else timeout)
        return Lease(
            reply.lease_id, [ConsumedRecord(**_consumed(r)) for r in reply.records], lambda req, t: self._call(COMMIT, req, t)
        )


class AsyncKafkaClient:
    """``AsyncClient.kafka``: as :class:`KafkaClient`, awaitable."""

    def __init__(self, call: AsyncCaller, path: str) -> None:
        self._call = call
        self._path = path

    async def produce(
        self, records: Sequence[Record | Mapping[str, Any]], *, ack: Ack = "spooled", timeout: float | None = None
    ) -> list[ProduceResult]:
        request = pb.ProduceRequest(records=_records(records), ack=_ack(ack))
        return [_result(r) for r in (await self._call(PRODUCE, request, timeout)).results]

    async def produce_stream(self, *, timeout: float | None = None) -> AsyncProduceStream:
        stream = await AsyncStream.open(self._path, PRODUCE_STREAM)
        return AsyncProduceStream(stream, self._call.timeout if timeout is None else timeout)

    async def consume(
        self,
        group: str,
        topics: Sequence[str],
        *,
        instance_id: str | None = None,
        max_unacked: int | None = None,
        start: Start = "earliest",
        ack_batch_size: int = 500,
        ack_batch: float = 0.005,
    ) -> AsyncConsumer:
        request = _subscribe(group, topics, instance_id, max_unacked, start)
        stream = await AsyncStream.open(self._path, CONSUME)
        stream.send(request)
        return AsyncConsumer(stream, self._call.timeout, ack_batch_size, ack_batch)

    async def fetch(
        self,
        group: str,
        topics: Sequence[str],
        *,
        max_records: int | None = None,
        max_wait: float = 1.0,
        lease: float | None = None,
        start: Start = "earliest",
        timeout: float | None = None,
    ) -> AsyncLease:
        request = _fetch_request(group, topics, max_records, max_wait, lease, start)
        wait = request.max_wait_ms / 1000
        if timeout is not None and not timeout > wait:
            raise _bad("timeout", f"the deadline ({timeout} s) must exceed the wait for records (max_wait, {wait} s)")
        reply = await self._call(FETCH, request, wait + self._call.timeout if timeout is None else timeout)
        return AsyncLease(
            reply.lease_id, [ConsumedRecord(**_consumed(r)) for r in reply.records], lambda req, t: self._call(COMMIT, req, t)
        )
