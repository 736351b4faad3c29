"""The transport spike: sequential SidecarService.GetInfo calls over the
sidecar's Unix socket through each candidate, beside the floor, a raw
Unix-socket echo of 32 bytes in Python, all in one run.

    ATTACHE_BIN=target/release/attache \
      target/python-sdk-venv/bin/python sdks/python/bench/transport.py [--calls 10000]

Candidates: the SDK's own Connect-over-HTTP/1.1 client (sync and asyncio),
and grpcio (C core, ``unix:`` target; sync and grpc.aio), when installed.
Prints a markdown table of p50 and p99 in microseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Awaitable, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from attache import AsyncClient, Client  # noqa: E402
from attache._gen.sidecar.v1 import sidecar_pb2  # noqa: E402


def quantiles(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    return s[len(s) // 2] * 1e6, s[min(len(s) - 1, int(len(s) * 0.99))] * 1e6


def measure(call: Callable[[], object], calls: int, warmup: int) -> tuple[float, float]:
    for _ in range(warmup):
        call()
    samples = []
    clock = time.perf_counter
    for _ in range(calls):
        t = clock()
        call()
        samples.append(clock() - t)
    return quantiles(samples)


def ameasure(call: Callable[[], Awaitable[object]], calls: int, warmup: int) -> tuple[float, float]:
    async def run() -> tuple[float, float]:
        for _ in range(warmup):
            await call()
        samples = []
        clock = time.perf_counter
        for _ in range(calls):
            t = clock()
            await call()
            samples.append(clock() - t)
        return quantiles(samples)

    return asyncio.run(run())


ECHO_SERVER = """
import os, socket, sys
path = sys.argv[1]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path); srv.listen(1)
print("ready", flush=True)
conn, _ = srv.accept()
while True:
    data = conn.recv(64)
    if not data:
        break
    conn.sendall(data)
"""


def echo_floor(directory: str, calls: int, warmup: int) -> tuple[float, float]:
    path = os.path.join(directory, "echo.sock")
    server = subprocess.Popen([sys.executable, "-c", ECHO_SERVER, path], stdout=subprocess.PIPE)
    assert server.stdout is not None and server.stdout.readline().strip() == b"ready"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    payload = b"x" * 32

    def call() -> None:
        s.sendall(payload)
        got = 0
        while got < 32:
            got += len(s.recv(64))

    try:
        return measure(call, calls, warmup)
    finally:
        s.close()
        server.wait(5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=1_000)
    args = parser.parse_args()
    binary = os.environ.get("ATTACHE_BIN", str(HERE.parents[2] / "target/debug/attache"))
    directory = tempfile.mkdtemp(prefix="attache-py-bench-")
    sock = os.path.join(directory, "attache.sock")
    env = {"PATH": os.environ.get("PATH", ""), "ATTACHE_LOG_LEVEL": "warn", "ATTACHE_KAFKA_SPOOL_DIR": os.path.join(directory, "spool")}
    sidecar = subprocess.Popen([binary, "run", "--socket", sock, "--admin", "off"], env=env)
    try:
        for _ in range(500):
            if os.path.exists(sock):
                break
            time.sleep(0.02)
        rows: list[tuple[str, tuple[float, float]]] = []
        rows.append(("raw Unix-socket echo, 32 B (floor)", echo_floor(directory, args.calls, args.warmup)))

        client = Client(socket=sock)
        rows.append(("attache.Client (Connect, HTTP/1.1, sync)", measure(client.info, args.calls, args.warmup)))
        client.close()

        async def with_async() -> AsyncClient:
            return AsyncClient(socket=sock)

        aclient = asyncio.run(with_async())
        rows.append(("attache.AsyncClient (Connect, HTTP/1.1, asyncio)", ameasure(aclient.info, args.calls, args.warmup)))

        try:
            import grpc
        except ImportError:
            print("grpcio is not installed: its rows are left out", file=sys.stderr)
        else:
            request = sidecar_pb2.GetInfoRequest()
            path = "/attache.sidecar.v1.SidecarService/GetInfo"
            # Without a default authority, grpcio's calls over a unix: target
            # are refused by the sidecar's HTTP/2 stack (RST_STREAM,
            # PROTOCOL_ERROR); any SDK on grpcio must set one.
            options = [("grpc.default_authority", "localhost")]
            channel = grpc.insecure_channel(f"unix:{sock}", options=options)
            get_info = channel.unary_unary(
                path,
                request_serializer=sidecar_pb2.GetInfoRequest.SerializeToString,
                response_deserializer=sidecar_pb2.GetInfoResponse.FromString,
            )
            rows.append((f"grpcio {grpc.__version__} (gRPC, HTTP/2, sync)", measure(lambda: get_info(request, timeout=10), args.calls, args.warmup)))
            channel.close()

            async def aio() -> tuple[float, float]:
                achannel = grpc.aio.insecure_channel(f"unix:{sock}", options=options)
                aget = achannel.unary_unary(
                    path,
                    request_serializer=sidecar_pb2.GetInfoRequest.SerializeToString,
                    response_deserializer=sidecar_pb2.GetInfoResponse.FromString,
                )
                for _ in range(args.warmup):
                    await aget(request, timeout=10)
                samples = []
                for _ in range(args.calls):
                    t = time.perf_counter()
                    await aget(request, timeout=10)
                    samples.append(time.perf_counter() - t)
                await achannel.close()
                return quantiles(samples)

            rows.append((f"grpcio {grpc.__version__} (gRPC, HTTP/2, grpc.aio)", asyncio.run(aio())))

        floor = rows[0][1][0]
        print(f"Sequential SidecarService.GetInfo, {args.calls} calls after {args.warmup} warm-up, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
        print("| client | p50 µs | p99 µs | p50 over floor µs |")
        print("| --- | ---: | ---: | ---: |")
        for name, (p50, p99) in rows:
            print(f"| {name} | {p50:.0f} | {p99:.0f} | {p50 - floor:+.0f} |")
    finally:
        sidecar.terminate()
        sidecar.wait(10)


if __name__ == "__main__":
    main()
