"""Real backends and a real attache binary for the SDK's tests.

Redis, PostgreSQL and Kafka are started once per session by the repository's
testing/ scripts (Kafka with KAFKA_PARENT_PID, so a dead run leaves no
broker behind) and stopped at its end. The sidecar is ``$ATTACHE_BIN``,
default ``../../target/debug/attache`` from sdks/python.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

import attache

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
TESTING = ROOT / "testing"
BINARY = Path(os.environ.get("ATTACHE_BIN", str(HERE.parent / "../../target/debug/attache"))).resolve()

# Cheap password costs, so the tests spend their time on behaviour.
POLICY = {
    "ATTACHE_PASSWORD_ARGON2_MEMORY_KIB": "1024",
    "ATTACHE_PASSWORD_ARGON2_ITERATIONS": "1",
    "ATTACHE_PASSWORD_BCRYPT_COST": "4",
}


@dataclass
class Backends:
    redis_url: str
    redis_port: int
    postgres_url: str
    kafka: str
    dir: str


@dataclass
class Sidecar:
    socket: str
    process: subprocess.Popen[bytes]
    spool: str

    def stop(self) -> int:
        self.process.terminate()
        try:
            code = self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(5)
        shutil.rmtree(self.spool, ignore_errors=True)
        return code


def wait_for_socket(path: str, process: subprocess.Popen[bytes] | None = None, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"attache exited with {process.returncode}")
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            return
        except OSError:
            time.sleep(0.02)
        finally:
            s.close()
    raise RuntimeError(f"attache did not listen on {path} within {within} s")


def start_sidecar(env: dict[str, str], socket_path: str | None = None) -> Sidecar:
    if not BINARY.exists():
        raise RuntimeError(f"no attache binary at {BINARY}; run cargo build or set ATTACHE_BIN")
    path = socket_path or os.path.join(tempfile.mkdtemp(prefix="attache-py-"), "attache.sock")
    spool = tempfile.mkdtemp(prefix="attache-py-spool-")
    full = {"PATH": os.environ.get("PATH", ""), "ATTACHE_LOG_LEVEL": "warn", "ATTACHE_KAFKA_SPOOL_DIR": spool, **POLICY, **env}
    process = subprocess.Popen(
        [str(BINARY), "run", "--socket", path, "--admin", "off"], env=full, stdin=subprocess.DEVNULL
    )
    wait_for_socket(path, process)
    return Sidecar(path, process, spool)


@pytest.fixture(scope="session")
def backends() -> Iterator[Backends]:
    directory = tempfile.mkdtemp(prefix="attache-py-", dir="/tmp")
    subprocess.run([str(TESTING / "kafka/install")], check=True, stdout=subprocess.DEVNULL)
    kafka = subprocess.Popen(
        [str(TESTING / "kafka/start"), f"{directory}/kafka"],
        stdout=subprocess.PIPE,
        env={**os.environ, "KAFKA_PARENT_PID": str(os.getpid()), "KAFKA_AUTO_CREATE": "true"},
    )
    started: list[tuple[str, str]] = []
    try:
        subprocess.run([str(TESTING / "redis/install")], check=True, stdout=subprocess.DEVNULL)
        redis_url = subprocess.run(
            [str(TESTING / "redis/start"), f"{directory}/redis"], check=True, capture_output=True, text=True
        ).stdout.strip()
        started.append(("redis", f"{directory}/redis"))
        postgres_url = subprocess.run(
            [str(TESTING / "postgres/start"), f"{directory}/pg"], check=True, capture_output=True, text=True
        ).stdout.strip()
        started.append(("postgres", f"{directory}/pg"))
        out, _ = kafka.communicate(timeout=180)
        started.append(("kafka", f"{directory}/kafka"))
        address = out.decode().strip()
        assert address.startswith("127.0.0.1:"), f"testing/kafka/start failed: {address!r}"
        yield Backends(redis_url, int(redis_url.rsplit(":", 1)[1].split("/")[0]), postgres_url, address, directory)
    finally:
        if kafka.poll() is None:
            kafka.kill()
        for service, where in reversed(started):
            subprocess.run([str(TESTING / service / "stop"), where], check=False)
        shutil.rmtree(directory, ignore_errors=True)


def full_env(b: Backends) -> dict[str, str]:
    return {
        "ATTACHE_REDIS_URL": b.redis_url,
        "ATTACHE_POSTGRES_URL": b.postgres_url,
        "ATTACHE_KAFKA_BROKERS": b.kafka,
    }


@pytest.fixture(scope="session")
def sidecar(backends: Backends) -> Iterator[Sidecar]:
    s = start_sidecar(full_env(backends))
    yield s
    s.stop()


@pytest.fixture(scope="session")
def bare_sidecar() -> Iterator[Sidecar]:
    """A sidecar with no backend configured: Redis and Postgres answer
    FAILED_PRECONDITION, Kafka is spool-only."""
    s = start_sidecar({})
    yield s
    s.stop()


@pytest.fixture(scope="session")
def dead_backends_sidecar() -> Iterator[Sidecar]:
    """A sidecar whose Redis and Postgres are configured but not running."""
    port = free_port()
    s = start_sidecar(
        {
            "ATTACHE_LOG_LEVEL": "error",  # it would warn of the missing servers every 100 ms
            "ATTACHE_REDIS_URL": f"redis://127.0.0.1:{port}/0",
            "ATTACHE_POSTGRES_URL": f"postgres://postgres@127.0.0.1:{port}/postgres",
        }
    )
    yield s
    s.stop()


@pytest.fixture()
def client(sidecar: Sidecar) -> Iterator[attache.Client]:
    c = attache.Client(socket=sidecar.socket)
    yield c
    c.close()


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


def name(prefix: str) -> str:
    """A random name for a key, table, topic or group."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"
