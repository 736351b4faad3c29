"""Kafka through the sidecar's spool: produce, produce streams, consumer
groups on a stream, and leases."""

from __future__ import annotations

import asyncio
import time

import pytest

import attache
from attache.kafka import ConsumedRecord, Position, Record
from conftest import Sidecar, name


def produce(client: attache.Client, topic: str, n: int) -> None:
    results = client.kafka.produce([Record(topic, value=f"v{i}", key="k") for i in range(n)], ack="delivered", timeout=60)
    assert all(r.error is None and r.offset is not None for r in results)


def test_produce_spooled_and_delivered(client: attache.Client) -> None:
    topic = name("t")
    spooled = client.kafka.produce([Record(topic, value="a"), {"topic": topic, "value": b"b", "headers": {"h": "1"}}])
    assert len(spooled) == 2 and all(r.id and r.offset is None for r in spooled)
    delivered = client.kafka.produce(
        [Record(topic, value="c", key="k", headers=[("x", None), ("x", "2")], timestamp=1_700_000_000_000)],
        ack="delivered",
        timeout=60,
    )
    assert delivered[0].partition is not None and delivered[0].offset is not None and delivered[0].error is None


def test_produce_bad_input_names_the_field(client: attache.Client) -> None:
    topic = name("t")
    fine = Record(topic, value="ok")
    with pytest.raises(attache.InvalidArgument, match=r"^records\[1\]\.topic") as err:
        client.kafka.produce([fine, Record("bad topic!", value="x")])
    assert err.value.code == "invalid_argument"
    with pytest.raises(attache.InvalidArgument, match=r"^records\[1\]\.headers"):
        client.kafka.produce([fine, Record(topic, headers={"attache-id": "mine"})])
    with pytest.raises(attache.InvalidArgument, match=r"^records\[1\]\.value: must be str, bytes or None, not int"):
        client.kafka.produce([fine, Record(topic, value=42)])  # type: ignore[arg-type]
    with pytest.raises(attache.InvalidArgument, match="^ack: "):
        client.kafka.produce([fine], ack="eventually")  # type: ignore[arg-type]
    with pytest.raises(attache.InvalidArgument, match=r"^records\[0\]\.partition"):
        client.kafka.produce([Record(topic, partition=2**40)])


def test_produce_stream(client: attache.Client) -> None:
    topic = name("s")
    with client.kafka.produce_stream() as stream:
        for i in range(5):
            results = stream.send([Record(topic, value=str(i))])
            assert len(results) == 1 and results[0].id
        delivered = stream.send([Record(topic, value="d")], ack="delivered", timeout=60)
        assert delivered[0].offset is not None
        with pytest.raises(attache.InvalidArgument):
            stream.send([Record("bad topic!")])
        with pytest.raises(attache.FailedPrecondition, match="open a new one"):
            stream.send([Record(topic)])


def test_consume_with_acks(client: attache.Client) -> None:
    topic = name("c")
    produce(client, topic, 5)
    group = name("g")
    seen: list[ConsumedRecord] = []
    with client.kafka.consume(group, [topic]) as consumer:
        deadline = time.monotonic() + 60
        while len(seen) < 5 and time.monotonic() < deadline:
            m = consumer.poll(timeout=1)
            if m is not None:
                seen.append(m)
                assert m.ack() and not m.ack()  # once only
        assert consumer.assignment
    assert sorted(r.text() or "" for r in seen) == [f"v{i}" for i in range(5)]
    assert all(r.id and r.key == b"k" for r in seen)


def test_consume_bad_input(client: attache.Client) -> None:
    with pytest.raises(attache.InvalidArgument, match="^topics: must be a list"):
        client.kafka.consume("g", "topic")  # type: ignore[arg-type]
    with pytest.raises(attache.InvalidArgument, match="^start: "):
        client.kafka.consume("g", ["t"], start="middle")  # type: ignore[arg-type]
    with pytest.raises(attache.InvalidArgument, match="^max_unacked: "):
        client.kafka.consume("g", ["t"], max_unacked=0)
    bad = client.kafka.consume("", [name("t")])
    with pytest.raises(attache.InvalidArgument, match="^group: "):
        bad.poll(timeout=10)
    bad.close()


def test_fetch_and_commit(client: attache.Client) -> None:
    topic = name("f")
    produce(client, topic, 3)
    group = name("fg")
    records: list[ConsumedRecord] = []
    deadline = time.monotonic() + 60
    while len(records) < 3 and time.monotonic() < deadline:
        lease = client.kafka.fetch(group, [topic], max_wait=5, max_records=10)
        if not lease.records:
            continue
        records += lease.records
        with pytest.raises(attache.InvalidArgument, match=r"^acked\[0\]: .*not a record of this lease"):
            lease.commit([Position(topic, 0, 999_999)])
        done = lease.commit()
        assert done.acked == len(lease.records) and done.redelivered == 0
        with pytest.raises(attache.NotFound):
            lease.commit()
    assert sorted(r.text() or "" for r in records) == ["v0", "v1", "v2"]
    empty = client.kafka.fetch(group, [topic], max_wait=0.2)
    assert empty.id == "" and empty.records == [] and empty.commit() == attache.kafka.CommitResult(0, 0)
    with pytest.raises(attache.InvalidArgument, match="^max_records: "):
        client.kafka.fetch(group, [topic], max_records=0)
    with pytest.raises(attache.InvalidArgument, match="^timeout: "):
        client.kafka.fetch(group, [topic], max_wait=2, timeout=1)


def test_without_brokers_delivery_is_failed_precondition(bare_sidecar: Sidecar) -> None:
    c = attache.Client(socket=bare_sidecar.socket)
    assert c.kafka.produce([Record(name("t"), value="kept in the spool")])[0].id
    with pytest.raises(attache.FailedPrecondition):
        c.kafka.produce([Record(name("t"), value="x")], ack="delivered")
    with pytest.raises(attache.FailedPrecondition, match="brokers"):
        c.kafka.fetch("g", [name("t")], max_wait=0)


def test_async_kafka(sidecar: Sidecar) -> None:
    topic = name("a")
    group = name("ag")

    async def main() -> None:
        c = attache.AsyncClient(socket=sidecar.socket)
        stream = await c.kafka.produce_stream()
        # Concurrent sends are pipelined on one stream, each answered.
        answers = await asyncio.gather(*(stream.send([Record(topic, value=f"v{i}", key="k")]) for i in range(10)))
        assert len({a[0].id for a in answers}) == 10
        await stream.send([Record(topic, value="last", key="k")], ack="delivered", timeout=60)
        await stream.close()
        got: list[str] = []
        async with await c.kafka.consume(group, [topic]) as consumer:
            async for m in consumer:
                got.append(m.text() or "")
                m.ack()
                if len(got) == 11:
                    break
        assert sorted(got) == sorted([f"v{i}" for i in range(10)] + ["last"])
        lease = await c.kafka.fetch(name("afg"), [topic], max_wait=10)
        assert lease.records and (await lease.commit()).acked == len(lease.records)
        with pytest.raises(attache.InvalidArgument, match=r"^records\[0\]\.topic"):
            await c.kafka.produce([Record("bad topic!")])

    asyncio.run(asyncio.wait_for(main(), 120))
