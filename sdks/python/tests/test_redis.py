"""Redis through the sidecar, checked against the real server with redis-cli."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time

import pytest

import attache
from attache.redis import BatchResult, CachedCmd, Cmd
from conftest import Backends, Sidecar, name


def cli(b: Backends, *args: str) -> str:
    return subprocess.run(["redis-cli", "-p", str(b.redis_port), *args], check=True, capture_output=True, text=True).stdout.strip()


def test_commands(client: attache.Client, backends: Backends) -> None:
    k = name("k")
    assert client.redis.set(k, "v1")
    assert cli(backends, "GET", k) == "v1"  # read back by an independent client
    assert client.redis.get(k) == "v1"
    assert not client.redis.set(k, "v2", nx=True)
    assert client.redis.set(k, "v3", px=60_000)
    assert 0 < int(cli(backends, "PTTL", k)) <= 60_000
    assert client.redis.incr(k + "n") == 1 and client.redis.incr(k + "n") == 2
    assert client.redis.expire(k, 100) and not client.redis.expire(name("missing"), 1)
    assert client.redis.hset(k + "h", {"a": "1", "b": 2}) == 2
    assert client.redis.hget(k + "h", "b") == "2"
    assert client.redis.hgetall(k + "h") == {"a": "1", "b": "2"}
    assert client.redis.mget(k, name("missing")) == ["v3", None]
    assert client.redis.delete(k, k + "n", k + "h") == 3
    assert client.redis.get(k) is None
    assert client.redis.do("PING") == "PONG"
    assert client.redis.do("SET", k, b"\x00\xff") == "OK" and client.redis.do("GET", k) == b"\x00\xff"


def test_error_replies(client: attache.Client) -> None:
    k = name("list")
    client.redis.do("RPUSH", k, "a")
    with pytest.raises(attache.RedisReplyError, match="WRONGTYPE"):
        client.redis.get(k)
    replies = client.redis.do_multi([["GET", k], ["LLEN", k], ["MULTI"], ["INCR", k + "n"], ["EXEC"]])
    assert isinstance(replies[0], attache.RedisReplyError)
    assert replies[1] == 1 and replies[4] == [1]


def test_cached_reads_are_invalidated_by_writes(client: attache.Client, backends: Backends) -> None:
    k = name("cached")
    client.redis.set(k, "one")
    first = client.redis.do_cached("GET", k)
    assert first == attache.redis.Cached(b"one", False)
    assert client.redis.do_cached("GET", k).cache_hit
    cli(backends, "SET", k, "two")  # a write from outside: Redis invalidates the cache
    deadline = time.monotonic() + 5
    while client.redis.get_cached(k) != "two":
        assert time.monotonic() < deadline, "the cached value was not invalidated"
        time.sleep(0.01)
    many = client.redis.mget_cached([k, name("missing")], ttl=10)
    assert many.values == [b"two", None]


def test_batch(client: attache.Client, backends: Backends) -> None:
    k = name("batch")
    cli(backends, "SET", k, "v")
    results = client.redis.batch(
        [Cmd("INCR", k + "n"), CachedCmd("GET", k, ttl=60), CachedCmd("SET", k, "x"), Cmd("LLEN", k), Cmd("GET", k)]
    )
    assert results[0] == BatchResult(1) and results[1] == BatchResult(b"v", False)
    assert isinstance(results[2].error, attache.InvalidArgument) and results[2].value is None
    assert results[3].error == attache.RedisReplyError("WRONGTYPE Operation against a key holding the wrong kind of value")
    assert results[4] == BatchResult(b"v")
    assert client.redis.batch([CachedCmd("GET", k, ttl=60)])[0].cache_hit
    assert client.redis.batch([]) == []
    with pytest.raises(TypeError):
        client.redis.batch([["GET", k]])  # type: ignore[list-item]
    assert cli(backends, "GET", k + "n") == "1"


def test_redis_bad_input(client: attache.Client) -> None:
    with pytest.raises(attache.InvalidArgument, match="not cacheable"):
        client.redis.do_cached("SET", "k", "v")
    with pytest.raises(attache.InvalidArgument):
        client.redis.do()
    with pytest.raises(TypeError):
        client.redis.do("SET", "k", object())  # type: ignore[arg-type]


def test_subscribe(client: attache.Client, backends: Backends) -> None:
    channel = name("chan")
    with client.redis.subscribe([channel], patterns=[channel + ":*"]) as sub:
        assert cli(backends, "PUBLISH", channel, "hello") == "1"
        cli(backends, "PUBLISH", channel + ":x", "world")
        m1 = sub.get_message(timeout=5)
        m2 = sub.get_message(timeout=5)
        assert m1 == attache.redis.PubSubMessage(channel, b"hello")
        assert m2 == attache.redis.PubSubMessage(channel + ":x", b"world", channel + ":*")
        assert sub.get_message(timeout=0.05) is None


def test_module_disabled_is_failed_precondition(bare_sidecar: Sidecar) -> None:
    c = attache.Client(socket=bare_sidecar.socket)
    with pytest.raises(attache.FailedPrecondition, match="(?i)redis"):
        c.redis.get("k")
    assert "redis" not in c.info().modules


def test_backend_down_is_unavailable(dead_backends_sidecar: Sidecar) -> None:
    c = attache.Client(socket=dead_backends_sidecar.socket, timeout=5)
    with pytest.raises(attache.Unavailable):
        c.redis.get("k")


def test_async_auto_pipelining_and_helpers(sidecar: Sidecar, backends: Backends) -> None:
    k = name("pipe")

    async def main() -> None:
        c = attache.AsyncClient(socket=sidecar.socket)
        # Calls made in one loop iteration travel in Batch RPCs; each gets its own reply.
        replies = await asyncio.gather(*(c.redis.incr(k) for _ in range(100)))
        assert sorted(replies) == list(range(1, 101))
        await c.redis.set(k + "s", "v")
        got = await asyncio.gather(c.redis.get(k + "s"), c.redis.do_cached("GET", k + "s"), c.redis.get(name("none")))
        assert got[0] == "v" and got[1].value == b"v" and got[2] is None
        bad = await asyncio.gather(c.redis.do_cached("SET", "x", "y"), c.redis.get(k + "s"), return_exceptions=True)
        assert isinstance(bad[0], attache.InvalidArgument) and bad[1] == "v"
        assert await c.redis.hgetall(name("none")) == {}
        with pytest.raises(attache.RedisReplyError):
            await c.redis.do("INCR", k + "s")
        explicit = await c.redis.batch([Cmd("INCR", k), CachedCmd("GET", k + "s", ttl=10), Cmd("INCR", k + "s")])
        assert explicit[0] == BatchResult(101) and explicit[1].value == b"v"
        assert isinstance(explicit[2].error, attache.RedisReplyError)
        await c.redis.do("DECR", k)

    asyncio.run(main())
    assert cli(backends, "GET", k) == "100"


def test_async_subscribe(sidecar: Sidecar, backends: Backends) -> None:
    channel = name("achan")

    async def main() -> None:
        c = attache.AsyncClient(socket=sidecar.socket)
        async with await c.redis.subscribe([channel]) as sub:
            threading.Thread(target=cli, args=(backends, "PUBLISH", channel, "hi")).start()
            async for m in sub:
                assert m.payload == b"hi" and m.channel == channel
                break

    asyncio.run(main())


def test_async_disabled_and_down(bare_sidecar: Sidecar, dead_backends_sidecar: Sidecar) -> None:
    async def main() -> None:
        with pytest.raises(attache.FailedPrecondition):
            await attache.AsyncClient(socket=bare_sidecar.socket).redis.get("k")
        with pytest.raises(attache.Unavailable):
            await attache.AsyncClient(socket=dead_backends_sidecar.socket, timeout=5).redis.do_cached("GET", "k")

    asyncio.run(main())
