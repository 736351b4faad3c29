"""PostgreSQL through the sidecar: typed values, errors with SQLSTATE,
transactions, batch inserts and the caches."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal

import pytest

import attache
from attache.postgres import Interval, Statement, typed
from conftest import Sidecar, name


@pytest.fixture()
def table(client: attache.Client) -> str:
    t = name("users")
    client.postgres.execute([f"create table {t} (id bigint primary key, email text unique, meta jsonb)"])
    return t


def test_values_round_trip(client: attache.Client) -> None:
    when = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.timezone.utc)
    params = [
        None, True, 42, 2**62, 2**70, 1.5, "tēxt", b"\x00\x01", Decimal("12345.678900"),
        when, dt.datetime(2001, 2, 3, 4, 5, 6), dt.date(1999, 12, 31), dt.time(13, 14, 15, 16),
        dt.timedelta(days=1, seconds=2), uuid.UUID("12345678-1234-5678-1234-567812345678"),
        [[1, 2], [3, 4]], {"a": [1, "b"]},
    ]
    casts = ["text", "bool", "int4", "int8", "numeric", "float8", "text", "bytea", "numeric", "timestamptz",
             "timestamp", "date", "time", "interval", "uuid", "int8[]", "jsonb"]
    sql = "select " + ", ".join(f"${i + 1}::{c} as c{i}" for i, c in enumerate(casts))
    r = client.postgres.query(sql, params)
    row = r.rows[0]
    got = [row[f"c{i}"] for i in range(len(casts))]
    expected = list(params)
    expected[4] = Decimal(2**70)
    expected[13] = Interval(0, 1, 2_000_000)
    assert got == expected
    assert [c.type_name for c in r.columns][:4] == ["text", "bool", "int4", "int8"]
    assert r.command_tag == "SELECT 1" and r.rows_affected == 1


def test_typed_params_and_special_values(client: attache.Client) -> None:
    r = client.postgres.query(
        "select $1 as j, $2 as ids, 'infinity'::timestamp as inf, 'infinity'::date as dinf, "
        "row(1, 'a') as rec, '10.0.0.1'::inet as addr, null::int as n",
        [typed([1, 2], "jsonb"), typed([str(uuid.UUID(int=1))], "uuid[]")],
    )
    row = r.rows[0]
    assert row["j"] == [1, 2] and row["ids"] == [uuid.UUID(int=1)]
    assert row["inf"] == float("inf") and row["dinf"] == "infinity"
    assert row["rec"] == [1, "a"] and row["addr"] == "10.0.0.1/32" and row["n"] is None


def test_insert_and_unique_violation(client: attache.Client, table: str) -> None:
    r = client.postgres.insert(table, {"id": 1, "email": "a@example.com", "meta": {"k": 1}}, returning=["id", "meta"])
    assert r.inserted and r.row == {"id": 1, "meta": {"k": 1}} and r.batch_size >= 1
    with pytest.raises(attache.UniqueViolation) as err:
        client.postgres.insert(table, {"id": 2, "email": "a@example.com"})
    e = err.value
    assert e.code == "already_exists" and e.sqlstate == "23505" and e.constraint == f"{table}_email_key"
    skipped = client.postgres.insert(table, {"id": 3, "email": "a@example.com"}, on_conflict="nothing")
    assert not skipped.inserted and skipped.row is None
    client.postgres.insert(
        table, {"id": 1, "email": "b@example.com"}, on_conflict="update", conflict_target=["id"], update=["email"]
    )
    assert client.postgres.query(f"select email from {table} where id = $1", [1]).rows == [{"email": "b@example.com"}]
    with pytest.raises(attache.UniqueViolation):
        client.postgres.query(f"insert into {table} (id, email) values ($1, $2)", [9, "b@example.com"])


def test_postgres_bad_input(client: attache.Client, table: str) -> None:
    with pytest.raises(attache.InvalidArgument) as err:
        client.postgres.query("select * form nowhere")
    assert err.value.sqlstate == "42601" and err.value.position is not None and err.value.domain == "postgres"
    with pytest.raises(attache.InvalidArgument) as err:
        client.postgres.query(f"select nope from {table}")
    assert err.value.sqlstate == "42703"
    with pytest.raises(attache.InvalidArgument, match="rectangular"):
        client.postgres.query("select $1", [[[1, 2], [3]]])
    with pytest.raises(attache.InvalidArgument, match="no Postgres form"):
        client.postgres.query("select $1", [object()])
    with pytest.raises(attache.InvalidArgument):
        client.postgres.insert(table, {"nope": 1})
    with pytest.raises(attache.InvalidArgument, match="on_conflict"):
        client.postgres.insert(table, {"id": 1}, on_conflict="explode")  # type: ignore[arg-type]
    with pytest.raises(attache.InvalidArgument, match="cache_ttl"):
        client.postgres.query("select 1", cache_ttl=-1)


def test_transactions_commit_and_roll_back(client: attache.Client, table: str) -> None:
    with client.postgres.transaction() as tx:
        tx.query(f"insert into {table} (id) values (1)")
        assert tx.query(f"select count(*) as n from {table}").rows == [{"n": 1}]
    with pytest.raises(RuntimeError):
        with client.postgres.transaction(isolation="serializable") as tx:
            tx.query(f"insert into {table} (id) values (2)")
            raise RuntimeError("boom")
    with pytest.raises(attache.UniqueViolation):
        with client.postgres.transaction() as tx:
            tx.query(f"insert into {table} (id) values (3)")
            tx.query(f"insert into {table} (id) values (1)")
    assert client.postgres.query(f"select id from {table} order by id").rows == [{"id": 1}]
    with pytest.raises(attache.InvalidArgument, match="isolation"):
        with client.postgres.transaction(isolation="chaos"):  # type: ignore[arg-type]
            pass


def test_stream_transactions(client: attache.Client, table: str) -> None:
    with client.postgres.transaction(stream=True, isolation="repeatable read") as tx:
        assert tx.id == ""
        tx.query(f"insert into {table} (id) values ($1)", [1])
        assert tx.query(f"select count(*) as n from {table}").rows == [{"n": 1}]
    with pytest.raises(RuntimeError):
        with client.postgres.transaction(stream=True) as tx:
            tx.query(f"insert into {table} (id) values (2)")
            raise RuntimeError("boom")
    with pytest.raises(attache.UniqueViolation):
        with client.postgres.transaction(stream=True) as tx:
            tx.query(f"insert into {table} (id) values (3)")
            try:
                tx.query(f"insert into {table} (id) values (1)")
            finally:
                # The failed statement ended the transaction.
                with pytest.raises(attache.FailedPrecondition, match="has ended"):
                    tx.query("select 1")
    with pytest.raises(attache.DeadlineExceeded, match="rolled back"):
        with client.postgres.transaction(stream=True) as tx:
            tx.query(f"insert into {table} (id) values (4)")
            tx.query("select pg_sleep(2)", timeout=0.2)
    with pytest.raises(attache.FailedPrecondition, match="read-only"):
        with client.postgres.transaction(stream=True, read_only=True) as tx:
            tx.query(f"insert into {table} (id) values (5)")
    assert client.postgres.query(f"select id from {table} order by id").rows == [{"id": 1}]


def test_execute_is_all_or_nothing(client: attache.Client, table: str) -> None:
    results = client.postgres.execute(
        [Statement(f"insert into {table} (id) values ($1)", [1]), f"select count(*) as n from {table}"], transactional=True
    )
    assert results[0].command_tag == "INSERT 0 1" and results[1].rows == [{"n": 1}]
    with pytest.raises(attache.UniqueViolation) as err:
        client.postgres.execute(
            [Statement(f"insert into {table} (id) values ($1)", [2]), Statement(f"insert into {table} (id) values ($1)", [1])],
            transactional=True,
        )
    assert err.value.metadata.get("statement") == "2"
    assert client.postgres.query(f"select count(*) as n from {table}").rows == [{"n": 1}]


def test_caches(client: attache.Client, table: str) -> None:
    client.postgres.insert(table, {"id": 1, "email": "x@example.com"})
    sql = f"select email from {table} where id = $1"
    first = client.postgres.query(sql, [1], cache_ttl=30)
    second = client.postgres.query(sql, [1], cache_ttl=30)
    assert first.cache.status == "miss" and second.cache.status == "hit"
    client.postgres.query(f"update {table} set email = 'y@example.com' where id = 1")
    third = client.postgres.query(sql, [1], cache_ttl=30)
    assert third.cache.status == "miss" and third.rows == [{"email": "y@example.com"}]
    key = name("gol")
    loaded = client.postgres.get_or_load(key, sql, [1], ttl=30)
    again = client.postgres.get_or_load(key, sql, [1], ttl=30)
    assert loaded.cache.status == "miss" and again.cache.status == "hit" and again.rows == [{"email": "y@example.com"}]


def test_module_disabled_and_backend_down(bare_sidecar: Sidecar, dead_backends_sidecar: Sidecar) -> None:
    with pytest.raises(attache.FailedPrecondition, match="(?i)postgres"):
        attache.Client(socket=bare_sidecar.socket).postgres.query("select 1")
    with pytest.raises(attache.Unavailable):
        attache.Client(socket=dead_backends_sidecar.socket, timeout=10).postgres.query("select 1")


def test_async_postgres(sidecar: Sidecar, client: attache.Client, table: str) -> None:
    async def main() -> None:
        c = attache.AsyncClient(socket=sidecar.socket)
        # Concurrent inserts of one shape are merged into batches.
        results = await asyncio.gather(*(c.postgres.insert(table, {"id": i}, returning=["id"]) for i in range(1, 41)))
        assert sorted(r.row["id"] for r in results if r.row) == list(range(1, 41))
        async with c.postgres.transaction() as tx:
            await tx.query(f"delete from {table} where id > $1", [10])
        async with c.postgres.transaction(stream=True) as tx:
            await tx.query(f"delete from {table} where id > $1", [20])
            assert (await tx.query(f"select count(*) as n from {table}")).rows == [{"n": 10}]
        with pytest.raises(attache.UniqueViolation):
            async with c.postgres.transaction(stream=True) as tx:
                await tx.query(f"update {table} set id = id + 100 where id = 1")
                await tx.query(f"insert into {table} (id) values (2)")
        with pytest.raises(attache.UniqueViolation):
            await c.postgres.insert(table, {"id": 1})
        r = await c.postgres.query(f"select count(*) as n from {table}")
        assert r.rows == [{"n": 10}]
        assert (await c.postgres.execute([f"select 1 as one"]))[0].rows == [{"one": 1}]
        g = await c.postgres.get_or_load(name("agol"), f"select count(*) as n from {table}", ttl=5)
        assert g.rows == [{"n": 10}]

    asyncio.run(main())
