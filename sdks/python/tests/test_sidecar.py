"""The client itself: info, defaults, errors, deadlines, retries, threads, fork."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import stat
import subprocess
import tempfile
import threading
import time

import pytest

import attache
from attache import _config
from conftest import Sidecar, name, start_sidecar, wait_for_socket

MODULES = {"password", "redis", "image", "postgres", "kafka"}


def test_info_reports_version_and_modules(client: attache.Client) -> None:
    info = client.info()
    assert info.version.count(".") == 2
    assert set(info.modules) == MODULES


def test_async_info(sidecar: Sidecar) -> None:
    async def main() -> attache.Info:
        async with attache.AsyncClient(socket=sidecar.socket) as c:
            return await c.info()

    assert set(asyncio.run(main()).modules) == MODULES


def test_socket_and_timeout_come_from_the_environment(sidecar: Sidecar, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTACHE_SOCKET", sidecar.socket)
    monkeypatch.setenv("ATTACHE_TIMEOUT_MS", "2500")
    c = attache.Client()
    assert c.socket == sidecar.socket and c.timeout == 2.5
    assert c.info().modules
    monkeypatch.delenv("ATTACHE_TIMEOUT_MS")
    assert attache.Client().timeout == 10.0
    assert attache.Client(timeout=0.5).timeout == 0.5


def test_default_socket_follows_the_sidecars_rule(tmp_path: object) -> None:
    assert _config.default_socket({"RUNTIME_DIRECTORY": "/run/a:/run/b"}, 1000) == "/run/a/attache.sock"
    assert _config.default_socket({}, 0) == "/run/attache/attache.sock"
    assert _config.default_socket({"XDG_RUNTIME_DIR": "/run/user/1000"}, 1000) == "/run/user/1000/attache/attache.sock"
    assert _config.default_socket({"XDG_RUNTIME_DIR": "relative"}, 4242, ) == "/tmp/attache-4242/attache.sock"
    base = tempfile.mkdtemp()
    uid = 4242
    assert _config.default_socket({"TMPDIR": base}, uid) == f"{base}/attache-{uid}/attache.sock"
    # A directory other users may write is refused: they could answer in the sidecar's place.
    mine = os.path.join(base, f"attache-{uid}")
    os.mkdir(mine)
    os.chown(mine, uid, -1)
    os.chmod(mine, 0o777)
    with pytest.raises(attache.Unavailable, match="other users may write it"):
        _config.default_socket({"TMPDIR": base}, uid)
    os.chmod(mine, 0o700)
    assert _config.default_socket({"TMPDIR": base}, uid) == f"{mine}/attache.sock"
    # Owned by another uid: refused.
    with pytest.raises(attache.Unavailable, match="owned by uid 4242"):
        os.rename(mine, os.path.join(base, "attache-4243"))
        _config.default_socket({"TMPDIR": base}, 4243)
    assert stat.S_IMODE(os.stat(os.path.join(base, "attache-4243")).st_mode) == 0o700


def test_the_sidecar_and_the_sdk_agree_on_the_default_socket(tmp_path: object) -> None:
    runtime = tempfile.mkdtemp()
    expected = _config.default_socket({"RUNTIME_DIRECTORY": runtime}, os.geteuid())
    s = start_sidecar_default(runtime)
    try:
        wait_for_socket(expected, s)
        assert attache.Client(socket=expected).info().modules
    finally:
        s.terminate()
        s.wait(10)


def start_sidecar_default(runtime: str) -> subprocess.Popen[bytes]:
    from conftest import BINARY, POLICY

    env = {"PATH": os.environ["PATH"], "ATTACHE_LOG_LEVEL": "warn", "RUNTIME_DIRECTORY": runtime,
           "ATTACHE_KAFKA_SPOOL_DIR": tempfile.mkdtemp(), **POLICY}
    return subprocess.Popen([str(BINARY), "run", "--admin", "off"], env=env)


def test_no_sidecar_is_unavailable_after_retries() -> None:
    missing = os.path.join(tempfile.mkdtemp(), "none.sock")
    c = attache.Client(socket=missing, timeout=5, retries=2)
    started = time.monotonic()
    with pytest.raises(attache.Unavailable, match="is the sidecar running") as err:
        c.info()
    # Two backoffs of 12.5-25 ms and 25-50 ms: retried, well within the deadline.
    assert 0.03 < time.monotonic() - started < 1.0
    assert err.value.code == "unavailable" and err.value.is_retryable


def test_idempotent_calls_are_retried_until_the_sidecar_answers() -> None:
    directory = tempfile.mkdtemp()
    path = os.path.join(directory, "late.sock")
    c = attache.Client(socket=path, timeout=5, retries=8)
    late: list[Sidecar] = []
    starter = threading.Timer(0.05, lambda: late.append(start_sidecar({}, path)))
    starter.start()
    try:
        # GetInfo is NO_SIDE_EFFECTS in the proto: retried on UNAVAILABLE.
        assert c.info().modules
    finally:
        starter.join()
        for s in late:
            s.stop()


def test_calls_the_proto_does_not_mark_idempotent_are_not_retried() -> None:
    missing = os.path.join(tempfile.mkdtemp(), "none.sock")
    c = attache.Client(socket=missing, timeout=5, retries=8)
    started = time.monotonic()
    with pytest.raises(attache.Unavailable):
        c.redis.do("INCR", "k")  # Do has no idempotency_level: one attempt
    assert time.monotonic() - started < 0.012  # less than the first backoff
    from attache import client as client_module, kafka, password, postgres, redis

    assert client_module.GET_INFO.idempotent and password.HASH.idempotent and redis.DO_CACHED.idempotent
    assert not redis.DO.idempotent and not postgres.QUERY.idempotent and not kafka.PRODUCE.idempotent


def test_async_unavailable_and_not_retried_for_do() -> None:
    missing = os.path.join(tempfile.mkdtemp(), "none.sock")

    async def main() -> None:
        c = attache.AsyncClient(socket=missing, timeout=5)
        with pytest.raises(attache.Unavailable):
            await c.info()
        started = time.monotonic()
        with pytest.raises(attache.Unavailable):
            await c.redis.do("INCR", "k")
        assert time.monotonic() - started < 0.012

    asyncio.run(main())


def test_the_deadline_expires(client: attache.Client) -> None:
    key = name("blocked")
    started = time.monotonic()
    with pytest.raises(attache.DeadlineExceeded):
        client.redis.do("BLPOP", key, 5, timeout=0.2)
    assert time.monotonic() - started < 1.5
    # The connection pool is still fine afterwards.
    assert client.redis.set(key, "v") and client.redis.get(key) == "v"


def test_async_deadline_expires(sidecar: Sidecar) -> None:
    async def main() -> None:
        c = attache.AsyncClient(socket=sidecar.socket)
        with pytest.raises(attache.DeadlineExceeded):
            await c.redis.do("BLPOP", name("blocked"), 5, timeout=0.2)
        with pytest.raises(attache.DeadlineExceeded):
            await c.password.hash("x", argon2={"memory_kib": 65536, "iterations": 20}, timeout=0.05)

    asyncio.run(main())


def test_one_client_shared_by_threads(client: attache.Client) -> None:
    key = name("threads")
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(50):
                client.redis.incr(key)
                mine = f"{key}:{i}"
                client.redis.set(mine, str(j))
                assert client.redis.get(mine) == str(j)
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert client.redis.get(key) == "400"


def _worker(sock_client: attache.Client, key: str, results: "multiprocessing.Queue[tuple[int, bool]]") -> None:
    ok = True
    for j in range(100):
        mine = f"{key}:{os.getpid()}"
        sock_client.redis.set(mine, f"{os.getpid()}-{j}")
        ok = ok and sock_client.redis.get(mine) == f"{os.getpid()}-{j}"
        sock_client.redis.incr(key)
    results.put((os.getpid(), ok))


def test_one_client_shared_by_forked_workers(client: attache.Client) -> None:
    # As gunicorn does: the client is made (and used) before the fork, and
    # every worker goes on using it. Each must get its own connections, or
    # replies would reach the wrong process.
    key = name("fork")
    assert client.info().modules  # the parent has a pooled connection now
    ctx = multiprocessing.get_context("fork")
    results: multiprocessing.Queue[tuple[int, bool]] = ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(client, key, results)) for _ in range(4)]
    for w in workers:
        w.start()
    for j in range(100):  # the parent goes on calling meanwhile
        assert client.redis.set(f"{key}:parent", str(j)) and client.redis.get(f"{key}:parent") == str(j)
    got = [results.get(timeout=30) for _ in workers]
    for w in workers:
        w.join(10)
        assert w.exitcode == 0
    assert all(ok for _, ok in got) and len({pid for pid, _ in got}) == 4
    assert client.redis.get(key) == "400"


def test_a_raw_fork_child_reconnects(client: attache.Client) -> None:
    key = name("rawfork")
    client.redis.set(key, "parent")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no pytest here, only the answer down the pipe
        try:
            value = client.redis.get(key)
            os.write(write, (value or "").encode())
        finally:
            os._exit(0)
    os.close(write)
    assert client.redis.get(key) == "parent"
    os.waitpid(pid, 0)
    assert os.read(read, 100) == b"parent"


def test_errors_have_a_class_per_code() -> None:
    from attache.errors import error_for

    assert isinstance(error_for("invalid_argument", "m"), attache.InvalidArgument)
    assert isinstance(error_for("NOT_FOUND", "m"), attache.NotFound)
    assert isinstance(error_for("cancelled", "m"), attache.Canceled)
    assert error_for("nonsense", "m").code == "unknown"
    e = error_for("already_exists", "dup", metadata={"sqlstate": "23505", "constraint": "c"})
    assert isinstance(e, attache.UniqueViolation) and isinstance(e, attache.AlreadyExists)
    assert e.sqlstate == "23505" and e.constraint == "c" and e.grpc_code == 6
    assert str(e) == "dup"


def test_a_restarted_sidecar_is_reconnected_to_even_for_calls_not_retried() -> None:
    # A pooled connection the old sidecar closed is detected (no byte of a
    # reply came) and the call goes out once more on a fresh connection:
    # the request never reached a sidecar, so this is safe for any call.
    path = os.path.join(tempfile.mkdtemp(), "attache.sock")
    first = start_sidecar({}, path)
    c = attache.Client(socket=path)
    a = attache.AsyncClient(socket=path)

    async def produce() -> str:
        return (await a.kafka.produce([attache.Record(name("t"), value="x")]))[0].id

    async def both() -> None:
        assert await a.info()
        first.stop()
        second.append(start_sidecar({}, path))
        assert await produce()

    second: list[Sidecar] = []
    try:
        assert c.info().modules
        asyncio.run(both())
        assert c.kafka.produce([attache.Record(name("t"), value="x")])[0].id  # Produce is not retried
    finally:
        for s in second:
            s.stop()


def test_streams_to_a_missing_sidecar_are_unavailable() -> None:
    missing = os.path.join(tempfile.mkdtemp(), "none.sock")
    with pytest.raises(attache.Unavailable):
        attache.Client(socket=missing).kafka.produce_stream()
    with pytest.raises(attache.Unavailable):
        attache.Client(socket=missing).redis.subscribe(["c"])

    async def main() -> None:
        with pytest.raises(attache.Unavailable):
            await attache.AsyncClient(socket=missing).kafka.consume("g", ["t"])

    asyncio.run(main())
