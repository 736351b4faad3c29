"""The Python SDK's runner of the conformance suite (conformance/README.md).

Reads one request per line on stdin, runs its op through ``attache.Client``'s
public API (one client per socket), and writes one reply per line on stdout,
after a hello line. Logs go to stderr; nothing else to stdout.

    target/python-sdk-venv/bin/python conformance/runners/python/runner.py
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import io
import json
import math
import sys
import time
import traceback
import uuid
from decimal import Decimal
from typing import Any, Callable

import attache
from attache.kafka import ConsumedRecord, ProduceResult, Record
from attache.postgres import Interval, QueryResult, Statement, typed
from attache.redis import BatchResult, CachedCmd, Cmd, RedisValue

Args = dict[str, Any]
Op = Callable[[attache.Client, Args, float | None], Any]

OPS: dict[str, Op] = {}


def op(name: str) -> Callable[[Op], Op]:
    def register(f: Op) -> Op:
        OPS[name] = f
        return f

    return register


# Values in.


def data(v: Any) -> bytes | None:
    """Bytes in arguments: a string is its UTF-8, {"$b64": ...} raw bytes."""
    if v is None:
        return None
    if isinstance(v, dict) and set(v) == {"$b64"}:
        return base64.b64decode(v["$b64"])
    if isinstance(v, str):
        return v.encode()
    raise ValueError(f"runner: not bytes: {v!r}")


def param(v: Any) -> Any:
    """A Postgres parameter: integral numbers are int8, {"$type"} a typed one."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**63:
        return int(v)
    if isinstance(v, list):
        return [param(e) for e in v]
    if isinstance(v, dict):
        if set(v) == {"$b64"}:
            return data(v)
        if set(v) == {"$type", "value"}:
            return typed(param(v["value"]), v["$type"])
    return v


def seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000


def enum(name: str | None, sep: str) -> Any:
    """The suite's lower snake case enum name in the SDK's spelling
    ("north_east" is "northeast", "read_committed" "read committed")."""
    return None if name is None else name.replace("_", sep)


# Values out.


def blob(b: bytes | None) -> Any:
    if b is None:
        return None
    try:
        return b.decode()
    except UnicodeDecodeError:
        return {"$b64": base64.b64encode(b).decode()}


def number(n: int | float) -> Any:
    if isinstance(n, float):
        return n if math.isfinite(n) else {math.inf: "Infinity", -math.inf: "-Infinity"}.get(n, "NaN")
    return n if abs(n) <= 2**53 else str(n)


def redis_value(v: RedisValue | tuple[Any, ...]) -> Any:
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, (int, float)):
        return number(v)
    if isinstance(v, bytes):
        return blob(v)
    if isinstance(v, attache.RedisReplyError):
        return {"$error": str(v)}
    if isinstance(v, dict):
        return [[redis_value(k), redis_value(x)] for k, x in v.items()]
    return [redis_value(e) for e in v]  # arrays, sets; tuples are map keys that were arrays


def pg_value(v: Any) -> Any:
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, (int, float)):
        return number(v)
    if isinstance(v, bytes):
        return blob(v)
    if isinstance(v, Decimal):
        return format(v, "f")  # as Postgres writes it, never in exponent form
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            return v.strftime("%Y-%m-%dT%H:%M:%S.%f")
        return v.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, Interval):
        return {"months": v.months, "days": v.days, "micros": number(v.micros)}
    if isinstance(v, dict):  # json objects, records
        return {k: pg_value(x) for k, x in v.items()}
    if isinstance(v, list):  # arrays, json arrays
        return [pg_value(e) for e in v]
    raise TypeError(f"runner: no JSON form for the Postgres value {v!r}")


def query_result(r: QueryResult) -> Any:
    # Rows are dicts by column name (of duplicate names, the last wins).
    names = [c.name for c in r.columns]
    return {
        "columns": names,
        "rows": [[pg_value(row.get(n)) for n in names] for row in r.rows],
        "rows_affected": number(r.rows_affected),
        "cache": r.cache.status,
    }


def failure(e: BaseException) -> dict[str, str]:
    """The SDK's code, redis_reply for a Redis error reply, internal for
    anything that is not the SDK's error (the runner's own failures too)."""
    if isinstance(e, attache.RedisReplyError):
        return {"code": "redis_reply", "message": str(e)}
    if isinstance(e, attache.AttacheError):
        return {"code": e.code, "message": e.message}
    return {"code": "internal", "message": f"{type(e).__name__}: {e}"}


# Sidecar, password, image.


@op("sidecar.info")
def sidecar_info(c: attache.Client, a: Args, t: float | None) -> Any:
    info = c.info(timeout=t)
    return {"version": info.version, "modules": info.modules}


@op("password.hash")
def password_hash(c: attache.Client, a: Args, t: float | None) -> Any:
    algorithm = a.get("algorithm")
    params = a.get("params")
    costs: Args = {}
    if params is not None:
        kind = algorithm or ("bcrypt" if "cost" in params else "scrypt" if "log_n" in params else "argon2id")
        slot = {"argon2id": "argon2", "bcrypt": "bcrypt", "scrypt": "scrypt"}.get(kind)
        costs = {slot: params} if slot else {}
    return {"hash": c.password.hash(a["password"], algorithm=algorithm, timeout=t, **costs)}


@op("password.verify")
def password_verify(c: attache.Client, a: Args, t: float | None) -> Any:
    v = c.password.verify(a["password"], a["hash"], timeout=t)
    return {"valid": v.valid, "needs_rehash": v.needs_rehash}


def resize_options(a: Args) -> Any:
    options = {k: v for k, v in a.items() if k != "image"}
    if "gravity" in options:
        options["gravity"] = enum(options["gravity"], "")
    return options


def resized(r: attache.image.ResizedImage) -> Any:
    return {"format": r.format, "width": r.width, "height": r.height, "size": len(r.data)}


@op("image.resize")
def image_resize(c: attache.Client, a: Args, t: float | None) -> Any:
    return resized(c.image.resize(data(a["image"]) or b"", timeout=t, **resize_options(a)))


@op("image.resize_many")
def image_resize_many(c: attache.Client, a: Args, t: float | None) -> Any:
    outputs = c.image.resize_many(data(a["image"]) or b"", [resize_options(o) for o in a["outputs"]], timeout=t)
    return {"outputs": [resized(r) for r in outputs]}


@op("image.probe")
def image_probe(c: attache.Client, a: Args, t: float | None) -> Any:
    return dataclasses.asdict(c.image.probe(data(a["image"]) or b"", timeout=t))


# Redis.


def redis_args(args: list[Any]) -> list[bytes]:
    return [data(x) or b"" for x in args]


@op("redis.do")
def redis_do(c: attache.Client, a: Args, t: float | None) -> Any:
    return {"reply": redis_value(c.redis.do(*redis_args(a["args"]), timeout=t))}


@op("redis.do_multi")
def redis_do_multi(c: attache.Client, a: Args, t: float | None) -> Any:
    replies = c.redis.do_multi([redis_args(cmd) for cmd in a["commands"]], timeout=t)
    return {"replies": [redis_value(v) for v in replies]}


@op("redis.do_cached")
def redis_do_cached(c: attache.Client, a: Args, t: float | None) -> Any:
    r = c.redis.do_cached(*redis_args(a["args"]), ttl=seconds(a.get("ttl_ms")), timeout=t)
    return {"reply": redis_value(r.value), "cache_hit": r.cache_hit}


@op("redis.mget_cached")
def redis_mget_cached(c: attache.Client, a: Args, t: float | None) -> Any:
    r = c.redis.mget_cached(redis_args(a["keys"]), ttl=seconds(a.get("ttl_ms")), timeout=t)
    return {"values": [blob(v) for v in r.values], "cache_hits": r.cache_hits}


@op("redis.batch")
def redis_batch(c: attache.Client, a: Args, t: float | None) -> Any:
    calls: list[Cmd | CachedCmd] = []
    for call in a["calls"]:
        if "do" in call:
            calls.append(Cmd(*redis_args(call["do"])))
        else:
            cached = call["do_cached"]
            calls.append(CachedCmd(*redis_args(cached["args"]), ttl=seconds(cached.get("ttl_ms"))))

    def result(call: Cmd | CachedCmd, r: BatchResult) -> Any:
        if r.error is not None:
            return {"error": failure(r.error)}
        if isinstance(call, CachedCmd):
            return {"reply": redis_value(r.value), "cache_hit": r.cache_hit}
        return {"reply": redis_value(r.value)}

    return {"results": [result(call, r) for call, r in zip(calls, c.redis.batch(calls, timeout=t))]}


@op("redis.subscribe")
def redis_subscribe(c: attache.Client, a: Args, t: float | None) -> Any:
    wait = c.timeout if t is None else t
    deadline = time.monotonic() + wait
    publish = a.get("publish", [])
    messages: list[Any] = []
    with c.redis.subscribe(a.get("channels", []), a.get("patterns", []), timeout=t) as sub:
        for channel, payload in publish:
            c.redis.do("PUBLISH", data(channel) or b"", data(payload) or b"", timeout=t)
        while len(messages) < len(publish):
            m = sub.get_message(timeout=max(0.0, deadline - time.monotonic()))
            if m is None:
                raise attache.DeadlineExceeded(f"runner: {len(messages)} of {len(publish)} messages within {wait} s")
            messages.append({"channel": m.channel, "pattern": m.pattern or "", "payload": blob(m.payload)})
    return {"messages": messages}


# Postgres.


def params(a: Args) -> list[Any]:
    return [param(p) for p in a.get("params") or []]


@op("postgres.query")
def postgres_query(c: attache.Client, a: Args, t: float | None) -> Any:
    r = c.postgres.query(
        a["sql"], params(a), max_rows=a.get("max_rows"), cache_ttl=seconds(a.get("cache_ttl_ms")), timeout=t
    )
    return query_result(r)


@op("postgres.execute")
def postgres_execute(c: attache.Client, a: Args, t: float | None) -> Any:
    results = c.postgres.execute(
        [Statement(s["sql"], params(s)) for s in a["statements"]],
        transactional=a.get("transactional", False),
        isolation=enum(a.get("isolation"), " "),
        read_only=a.get("read_only", False),
        timeout=t,
    )
    return {"results": [query_result(r) for r in results]}


@op("postgres.insert")
def postgres_insert(c: attache.Client, a: Args, t: float | None) -> Any:
    conflict = a.get("on_conflict") or {}
    r = c.postgres.insert(
        a["table"],
        {k: param(v) for k, v in a["row"].items()},
        returning=a.get("returning", []),
        on_conflict=conflict.get("action"),
        conflict_target=conflict.get("target", []),
        update=conflict.get("update", []),
        timeout=t,
    )
    return {"inserted": r.inserted, "row": None if r.row is None else {k: pg_value(v) for k, v in r.row.items()}}


@op("postgres.get_or_load")
def postgres_get_or_load(c: attache.Client, a: Args, t: float | None) -> Any:
    r = c.postgres.get_or_load(a["key"], a["sql"], params(a), ttl=(seconds(a.get("ttl_ms")) or 0), timeout=t)
    result = query_result(r)
    return {"columns": result["columns"], "rows": result["rows"], "cache": result["cache"]}


class Rollback(Exception):
    """Leaves a transaction block so that the SDK rolls it back."""


@op("postgres.transaction")
def postgres_transaction(c: attache.Client, a: Args, t: float | None) -> Any:
    results = []
    try:
        with c.postgres.transaction(
            isolation=enum(a.get("isolation"), " "),
            read_only=a.get("read_only", False),
            deferrable=a.get("deferrable", False),
            stream=a.get("stream", False),
            timeout=t,
        ) as tx:
            for step in a["steps"]:
                results.append(query_result(tx.query(step["sql"], params(step), timeout=t)))
            if a["end"] == "rollback":
                raise Rollback()
    except Rollback:
        pass
    return {"results": results}


# Kafka.


def record(r: Args) -> Record:
    return Record(
        r["topic"],
        value=data(r.get("value")),
        key=data(r.get("key")),
        headers=[(k, data(v)) for k, v in r.get("headers") or []],
        partition=r.get("partition"),
    )


def produced(r: ProduceResult) -> Any:
    return {"partition": r.partition, "offset": r.offset, "error": None if r.error is None else failure(r.error)}


def consumed(r: ConsumedRecord) -> Any:
    return {
        "topic": r.topic,
        "partition": r.partition,
        "offset": number(r.offset),
        "key": blob(r.key),
        "value": blob(r.value),
        "headers": [[k, blob(v)] for k, v in r.headers],
    }


def ack_option(a: Args) -> Args:
    return {"ack": a["ack"]} if a.get("ack") is not None else {}


@op("kafka.produce")
def kafka_produce(c: attache.Client, a: Args, t: float | None) -> Any:
    results = c.kafka.produce([record(r) for r in a["records"]], timeout=t, **ack_option(a))
    return {"results": [produced(r) for r in results]}


@op("kafka.produce_stream")
def kafka_produce_stream(c: attache.Client, a: Args, t: float | None) -> Any:
    with c.kafka.produce_stream(timeout=t) as stream:
        results = [stream.send([record(r) for r in batch], **ack_option(a)) for batch in a["batches"]]
    return {"results": [[produced(r) for r in batch] for batch in results]}


@op("kafka.fetch")
def kafka_fetch(c: attache.Client, a: Args, t: float | None) -> Any:
    """Fetches until ``want`` records came or ``max_wait_ms`` passed (once
    without ``want``), then commits every lease or none."""
    if a["commit"] not in ("all", "none"):
        raise ValueError(f"runner: commit must be all or none, not {a['commit']!r}")
    max_wait = seconds(a.get("max_wait_ms"))
    options: Args = {"max_records": a.get("max_records"), "lease": seconds(a.get("lease_ms")), "timeout": t}
    if a.get("start") is not None:
        options["start"] = a["start"]
    wait = 1.0 if max_wait is None else max_wait  # the SDK's default
    until = time.monotonic() + wait
    leases = []
    records: list[Any] = []
    while True:
        lease = c.kafka.fetch(a["group"], a["topics"], max_wait=wait, **options)
        leases.append(lease)
        records += [consumed(r) for r in lease.records]
        wait = until - time.monotonic()
        if len(records) >= a.get("want", 0) or wait <= 0.001:
            break
    committed = 0
    if a["commit"] == "all":
        committed = sum(lease.commit(timeout=t).acked for lease in leases)
    return {"records": records, "committed": committed}


@op("kafka.consume")
def kafka_consume(c: attache.Client, a: Args, t: float | None) -> Any:
    wait = c.timeout if t is None else t
    deadline = time.monotonic() + wait
    options: Args = {"max_unacked": a.get("max_unacked")}
    if a.get("start") is not None:
        options["start"] = a["start"]
    records: list[Any] = []
    with c.kafka.consume(a["group"], a["topics"], **options) as consumer:
        while len(records) < a["count"]:
            m = consumer.poll(timeout=max(0.0, deadline - time.monotonic()))
            if m is None:
                raise attache.DeadlineExceeded(f"runner: {len(records)} of {a['count']} records within {wait} s")
            records.append(consumed(m))
            if a.get("ack"):
                m.ack()
    return {"records": records}


# The loop.


class Runner:
    def __init__(self) -> None:
        # By socket; None is the client made without one (ATTACHE_SOCKET).
        self.clients: dict[str | None, attache.Client] = {}

    def client(self, socket: str | None) -> attache.Client:
        if socket not in self.clients:
            self.clients[socket] = attache.Client() if socket is None else attache.Client(socket=socket)
        return self.clients[socket]

    def handle(self, line: str) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except ValueError as e:
            return {"id": None, "error": {"code": "internal", "message": f"runner: bad request line: {e}"}}
        rid = request.get("id") if isinstance(request, dict) else None
        try:
            run = OPS.get(request["op"])
            if run is None:
                return {"id": rid, "error": {"code": "internal", "message": f"runner: unknown op {request['op']}"}}
            c = self.client(request.get("socket"))
            result = run(c, request.get("args") or {}, seconds(request.get("timeout_ms")))
            return {"id": rid, "result": result}
        except Exception as e:  # noqa: BLE001 - every request gets a reply
            if not isinstance(e, (attache.AttacheError, attache.RedisReplyError)):
                traceback.print_exc(file=sys.stderr)
            return {"id": rid, "error": failure(e)}


def main() -> None:
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing but protocol lines on stdout

    def write(reply: dict[str, Any]) -> None:
        try:
            text = json.dumps(reply, allow_nan=False)
        except (TypeError, ValueError) as e:
            text = json.dumps({"id": reply.get("id"), "error": {"code": "internal", "message": f"runner: {e}"}})
        out.write(text + "\n")
        out.flush()

    write({"hello": {"sdk": "python", "version": attache.__version__}})
    runner = Runner()
    for line in io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8"):
        if line.strip():
            write(runner.handle(line))


if __name__ == "__main__":
    main()
