"""Round-trip latency from Python of a trivial unary call through the SDK
(``attache.Client.info()``, the sync client: SidecarService.GetInfo, Connect
binary over HTTP/1.1 on the Unix socket), beside two raw Unix-socket echoes
of 32 bytes from Python's own ``socket`` (the floors): one blocking thread
per connection and tokio. Each server's CPU per call is read from /proc
over its run; the servers take turns in rounds so drift falls on all of
them alike. The same contract as bench/node/transport.mjs and
bench/php/transport.php.

    target/python-sdk-venv/bin/python bench/python/transport.py \\
        ATTACHE_SOCKET:PID ECHO_SOCKET:PID ECHO_ASYNC_SOCKET:PID N   -> JSON on stdout

The SDK is imported from sdks/python/src, the checkout's; the venv supplies
its dependency (protobuf). sdks/python/bench/transport.py is the spike that
compared transports (asyncio, grpcio); this one times only the sync client.
"""

from __future__ import annotations

import glob
import json
import socket
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sdks/python/src"))

from attache import Client  # noqa: E402

ROUNDS = 5


def server(arg: str) -> tuple[str, int]:
    path, _, pid = arg.rpartition(":")
    return path, int(pid)


def cpu_ns(pid: int) -> int:
    """Nanoseconds ``pid`` has run on a CPU, all its threads (schedstat)."""
    total = 0
    for name in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(name) as f:
                total += int(f.read().split(" ", 1)[0])
        except (OSError, ValueError):
            pass
    return total


class Run:
    def __init__(self) -> None:
        self.samples: list[int] = []
        self.cpu = 0

    def time(self, pid: int, warmup: int, calls: int, call: Callable[[], object]) -> None:
        for _ in range(warmup):
            call()
        samples = self.samples
        clock = time.perf_counter_ns
        before = cpu_ns(pid)
        for _ in range(calls):
            t = clock()
            call()
            samples.append(clock() - t)
        self.cpu += cpu_ns(pid) - before

    def report(self) -> dict[str, float | int]:
        s = sorted(self.samples)
        at = lambda q: s[round((len(s) - 1) * q)] / 1000  # noqa: E731
        return {"p50_us": at(0.5), "p99_us": at(0.99), "n": len(s), "server_cpu_us_per_call": self.cpu / len(s) / 1000}


def echo_client(path: str) -> Callable[[], None]:
    """A blocking round trip of 32 bytes on one connection."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    msg = b"\x07" * 32

    def call() -> None:
        s.sendall(msg)
        got = 0
        while got < 32:
            chunk = s.recv(32 - got)
            if not chunk:
                raise ConnectionError("echo closed the connection")
            got += len(chunk)

    return call


def main() -> None:
    (attache_sock, attache_pid), (echo_sock, echo_pid), (async_sock, async_pid) = map(server, sys.argv[1:4])
    n = int(sys.argv[4])
    per_round, warmup = n // ROUNDS, n // 10 // ROUNDS
    blocking, tokio = echo_client(echo_sock), echo_client(async_sock)
    client = Client(socket=attache_sock)
    floor, floor_tokio, sdk = Run(), Run(), Run()
    for _ in range(ROUNDS):
        floor.time(echo_pid, warmup, per_round, blocking)
        floor_tokio.time(async_pid, warmup, per_round, tokio)
        sdk.time(attache_pid, warmup, per_round, client.info)
    client.close()
    print(json.dumps({"client": "python", "floor": floor.report(), "floor_tokio": floor_tokio.report(), "attache": sdk.report()}))


if __name__ == "__main__":
    main()
