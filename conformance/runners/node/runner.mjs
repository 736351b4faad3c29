// The Node SDK's conformance runner (see conformance/README.md): a request
// a line on stdin, its reply a line on stdout, every op through the SDK's
// public API. Logs go to stderr; stdout carries protocol lines only.
import { Buffer, isUtf8 } from "node:buffer";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { Attache, AttacheError, RedisReplyError, typed } from "../../../sdks/node/dist/src/index.js";

const { version } = JSON.parse(readFileSync(new URL("../../../sdks/node/package.json", import.meta.url), "utf8"));

// Nothing but protocol lines on stdout, whatever logs.
console.log = console.info = console.debug = console.error;
process.on("unhandledRejection", (err) => console.error("unhandled rejection:", err));

// --- values (conformance/README.md, "Values") --------------------------------

/** Bytes in arguments: a string is its UTF-8 bytes (a number its decimal), `{ $b64 }` raw bytes; null stays null. */
function bytes(v) {
  if (v === null || v === undefined) return v;
  if (typeof v === "string" || typeof v === "number") return Buffer.from(String(v), "utf8");
  if (typeof v.$b64 === "string") return Buffer.from(v.$b64, "base64");
  throw new TypeError(`bytes must be a string or {"$b64": ...}, not ${JSON.stringify(v)}`);
}

/** Bytes in results: a string when valid UTF-8, else `{ $b64 }`. */
const bytesOut = (b) => (b === null || b === undefined ? null : isUtf8(b) ? b.toString("utf8") : { $b64: b.toString("base64") });

/** A JSON number when |n| ≤ 2^53, else a decimal string. */
const integer = (n) => (n >= -(2n ** 53n) && n <= 2n ** 53n ? Number(n) : n.toString());

/** JSON has no NaN nor infinities: Postgres's spellings of them. */
const float = (f) => (Number.isNaN(f) ? "NaN" : f === Infinity ? "Infinity" : f === -Infinity ? "-Infinity" : f);

/** A Redis reply as the suite writes V. */
function redisValue(v) {
  if (v === null || v === undefined) return null;
  if (Buffer.isBuffer(v)) return bytesOut(v);
  if (v instanceof RedisReplyError) return { $error: v.message };
  if (Array.isArray(v)) return v.map(redisValue);
  if (v instanceof Map) return [...v].map(([k, e]) => [redisValue(k), redisValue(e)]);
  if (typeof v === "bigint") return v.toString(); // an integer beyond 2^53, or a big number
  if (typeof v === "number") return float(v);
  return v; // simple and verbatim strings, booleans
}

/** A Postgres value as the suite writes PV; `type` is the column's (timestamps and ±infinity). */
function pgValue(v, type = "") {
  if (v === null || v === undefined) return null;
  if (typeof v === "bigint") return integer(v);
  if (typeof v === "number") {
    if (!Number.isFinite(v) && !Number.isNaN(v) && /^_?timestamp/.test(type)) return v > 0 ? "infinity" : "-infinity";
    return float(v);
  }
  if (Buffer.isBuffer(v)) return bytesOut(v);
  // The SDK's Dates hold milliseconds: the microseconds are zero.
  if (v instanceof Date) return v.toISOString().replace(/Z$/, "000Z");
  if (Array.isArray(v)) return v.map((e) => pgValue(e, type));
  if (typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, pgValue(e)]));
  return v;
}

/** A Postgres parameter as the suite writes P. */
function param(v) {
  if (Array.isArray(v)) return v.map(param);
  if (v !== null && typeof v === "object") {
    if ("$b64" in v) return bytes(v);
    if ("$type" in v) return typed(param(v.value), v.$type);
  }
  return v;
}

const params = (ps) => (ps ?? []).map(param);

function queryResult(r) {
  const columns = r.columns.map((c) => c.name);
  return {
    columns,
    rows: r.rows.map((row) => r.columns.map((c) => pgValue(row[c.name], c.typeName))),
    rows_affected: r.rowsAffected,
    cache: r.cache.status,
  };
}

/** `read_committed` → the SDK's `"read committed"`. */
const isolation = (name) => name?.replaceAll("_", " ");

/** A record to produce, as the SDK takes it. */
function kafkaRecord(r) {
  return {
    topic: r.topic,
    key: bytes(r.key),
    value: bytes(r.value),
    headers: (r.headers ?? []).map(([k, v]) => [k, bytes(v)]),
    partition: r.partition,
  };
}

/** A fetched or consumed record, as the suite writes it (headers as the SDK gives them, `attache-id` included). */
function consumed(r) {
  return {
    topic: r.topic,
    partition: r.partition,
    offset: r.offset,
    key: bytesOut(r.key),
    value: bytesOut(r.value),
    headers: r.headers.map(([k, v]) => [k, bytesOut(v)]),
  };
}

const produced = (r) => ({
  partition: r.partition ?? null,
  offset: r.offset ?? null,
  error: r.error ? { code: r.error.code, message: r.error.message } : null,
});

/** The options of one resize output, from the suite's names to the SDK's. */
function resizeOptions(o) {
  return {
    width: o.width,
    height: o.height,
    fit: o.fit,
    gravity: o.gravity?.replaceAll("_", ""), // north_east → northeast
    format: o.format,
    quality: o.quality,
    withoutEnlargement: o.without_enlargement,
    background: o.background,
    progressive: o.progressive,
    keepMetadata: o.keep_metadata,
  };
}

const resized = (r) => ({ format: r.format, width: r.width, height: r.height, size: r.data.length });

/** Leaves out keys whose value is undefined. */
const defined = (o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

function error(err) {
  if (err instanceof AttacheError) return { code: err.code, message: err.message };
  if (err instanceof RedisReplyError) return { code: "redis_reply", message: err.message };
  return { code: "internal", message: `not an AttacheError: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}` };
}

/** Streams have no deadline of their own in the SDK: the runner's, through their signal. */
function deadline(timeoutMs) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs ?? 30_000);
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

class Rollback extends Error {}

// --- ops -----------------------------------------------------------------------

const ops = {
  "sidecar.info": (c, a, call) => c.info(call),

  "password.hash": async (c, a, call) => {
    const p = a.params ?? {};
    const options = { ...call, algorithm: a.algorithm };
    if ("memory_kib" in p || "iterations" in p || "parallelism" in p) {
      options.argon2 = defined({ memoryKib: p.memory_kib, iterations: p.iterations, parallelism: p.parallelism });
    }
    if ("cost" in p) options.bcrypt = { cost: p.cost };
    if ("log_n" in p || "r" in p || "p" in p) options.scrypt = defined({ logN: p.log_n, r: p.r, p: p.p });
    return { hash: await c.password.hash(a.password, defined(options)) };
  },

  "password.verify": async (c, a, call) => {
    const { valid, needsRehash } = await c.password.verify(a.password, a.hash, call);
    return { valid, needs_rehash: needsRehash };
  },

  "image.resize": async (c, a, call) => resized(await c.image.resize(bytes(a.image), defined({ ...resizeOptions(a), ...call }))),

  "image.resize_many": async (c, a, call) => ({
    outputs: (await c.image.resizeMany(bytes(a.image), a.outputs.map((o) => defined(resizeOptions(o))), call)).map(resized),
  }),

  "image.probe": async (c, a, call) => {
    const i = await c.image.probe(bytes(a.image), call);
    return {
      format: i.format,
      width: i.width,
      height: i.height,
      orientation: i.orientation,
      upright_width: i.uprightWidth,
      upright_height: i.uprightHeight,
      has_alpha: i.hasAlpha,
      color_space: i.colorSpace,
      bit_depth: i.bitDepth,
      progressive: i.progressive,
      has_icc_profile: i.hasIccProfile,
      has_exif: i.hasExif,
    };
  },

  "redis.do": async (c, a, call) => ({ reply: redisValue(await c.redis.do(a.args.map(bytes), call)) }),

  "redis.do_multi": async (c, a, call) => ({
    replies: (await c.redis.doMulti(a.commands.map((args) => args.map(bytes)), call)).map(redisValue),
  }),

  "redis.do_cached": async (c, a, call) => {
    const { value, cacheHit } = await c.redis.doCached(a.args.map(bytes), { ...call, ttlMs: a.ttl_ms });
    return { reply: redisValue(value), cache_hit: cacheHit };
  },

  "redis.mget_cached": async (c, a, call) => {
    const { values, cacheHits } = await c.redis.mgetCached(a.keys.map(bytes), { ...call, ttlMs: a.ttl_ms });
    return { values: values.map(redisValue), cache_hits: cacheHits };
  },

  // Calls made in one tick go to the sidecar as one Batch (auto-pipelining).
  "redis.batch": async (c, a, call) => {
    const calls = a.calls.map((one) =>
      "do" in one
        ? c.redis.do(one.do.map(bytes), call).then((reply) => ({ reply: redisValue(reply) }))
        : c.redis
            .doCached(one.do_cached.args.map(bytes), { ...call, ttlMs: one.do_cached.ttl_ms })
            .then(({ value, cacheHit }) => ({ reply: redisValue(value), cache_hit: cacheHit })),
    );
    const settled = await Promise.allSettled(calls);
    return { results: settled.map((s) => (s.status === "fulfilled" ? s.value : { error: error(s.reason) })) };
  },

  "redis.subscribe": async (c, a, call) => {
    const { signal, clear } = deadline(call.timeoutMs);
    const subscription = await c.redis.subscribe({ channels: a.channels ?? [], patterns: a.patterns ?? [] }, { signal });
    const messages = [];
    try {
      for (const [channel, payload] of a.publish ?? []) await c.redis.do(["PUBLISH", bytes(channel), bytes(payload)], call);
      if (messages.length < (a.publish ?? []).length) {
        for await (const m of subscription) {
          messages.push({ channel: m.channel, pattern: m.pattern ?? "", payload: bytesOut(m.payload) });
          if (messages.length >= a.publish.length) break;
        }
      }
    } finally {
      clear();
      subscription.close();
    }
    return { messages };
  },

  "postgres.query": async (c, a, call) =>
    queryResult(await c.postgres.query(a.sql, params(a.params), defined({ ...call, maxRows: a.max_rows, cacheTtlMs: a.cache_ttl_ms }))),

  "postgres.execute": async (c, a, call) => {
    const statements = a.statements.map((s) => ({ sql: s.sql, params: params(s.params) }));
    const options = defined({ ...call, transactional: a.transactional, isolation: isolation(a.isolation), readOnly: a.read_only });
    return { results: (await c.postgres.execute(statements, options)).map(queryResult) };
  },

  "postgres.insert": async (c, a, call) => {
    const row = Object.fromEntries(Object.entries(a.row).map(([k, v]) => [k, param(v)]));
    const onConflict = a.on_conflict && defined({ action: a.on_conflict.action, target: a.on_conflict.target, update: a.on_conflict.update });
    const r = await c.postgres.insert(a.table, row, defined({ ...call, returning: a.returning, onConflict }));
    return { inserted: r.inserted, row: r.row === undefined ? null : pgValue(r.row) };
  },

  "postgres.get_or_load": async (c, a, call) => {
    const r = await c.postgres.getOrLoad(a.key, a.sql, params(a.params), { ...call, ttlMs: a.ttl_ms });
    const { columns, rows } = queryResult({ ...r, rowsAffected: 0 });
    return { columns, rows, cache: r.cache.status };
  },

  // `end: "rollback"` is the callback throwing: the SDK rolls back and rethrows.
  "postgres.transaction": async (c, a, call) => {
    const results = [];
    const options = defined({
      ...call,
      stream: a.stream,
      isolation: isolation(a.isolation),
      readOnly: a.read_only,
      deferrable: a.deferrable,
    });
    try {
      await c.postgres.transaction(async (tx) => {
        for (const s of a.steps) results.push(queryResult(await tx.query(s.sql, params(s.params), call)));
        if (a.end === "rollback") throw new Rollback();
      }, options);
    } catch (err) {
      if (!(err instanceof Rollback)) throw err;
    }
    return { results };
  },

  "kafka.produce": async (c, a, call) => ({
    results: (await c.kafka.produce(a.records.map(kafkaRecord), defined({ ...call, ack: a.ack }))).map(produced),
  }),

  "kafka.produce_stream": async (c, a, call) => {
    const stream = c.kafka.produceStream(call);
    const sends = a.batches.map((batch) => stream.send(batch.map(kafkaRecord), defined({ ack: a.ack })));
    const settled = await Promise.allSettled(sends);
    await stream.close();
    const failed = settled.find((s) => s.status === "rejected");
    if (failed) throw failed.reason;
    return { results: settled.map((s) => s.value.map(produced)) };
  },

  // Fetches until `want` records (or once without it) or `max_wait_ms` has passed; commits each lease as told.
  "kafka.fetch": async (c, a, call) => {
    const wait = a.max_wait_ms ?? 1000;
    const until = Date.now() + wait;
    const records = [];
    let committed = 0;
    for (let first = true; first || (records.length < a.want && Date.now() < until); first = false) {
      const lease = await c.kafka.fetch(
        defined({
          ...call,
          group: a.group,
          topics: a.topics,
          maxRecords: a.max_records,
          maxWaitMs: first ? wait : Math.max(0, until - Date.now()),
          leaseMs: a.lease_ms,
          start: a.start,
        }),
      );
      records.push(...lease.records.map(consumed));
      if (a.commit === "all") committed += (await lease.commit(undefined, call)).acked;
    }
    return { records, committed };
  },

  "kafka.consume": async (c, a, call) => {
    const { signal, clear } = deadline(call.timeoutMs);
    const consumer = c.kafka.consume(defined({ group: a.group, topics: a.topics, start: a.start, maxUnacked: a.max_unacked, signal }));
    const records = [];
    try {
      if (a.count > 0) {
        for await (const m of consumer) {
          if (a.ack) m.ack();
          records.push(consumed(m));
          if (records.length >= a.count) break;
        }
      }
    } finally {
      clear();
      await consumer.close();
    }
    return { records };
  },
};

function write(line) {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

// --- the loop ------------------------------------------------------------------

/** One client per socket, made on first use; `null` is the client made without a socket option. */
const clients = new Map();
function client(socket) {
  let c = clients.get(socket);
  if (!c) {
    c = socket === null || socket === undefined ? new Attache() : new Attache({ socket });
    clients.set(socket, c);
  }
  return c;
}

async function answer(request) {
  const op = ops[request.op];
  if (!op) return { error: { code: "internal", message: `the node runner knows no op ${request.op}` } };
  const call = request.timeout_ms === undefined || request.timeout_ms === null ? {} : { timeoutMs: request.timeout_ms };
  try {
    return { result: await op(client(request.socket), request.args ?? {}, call) };
  } catch (err) {
    return { error: error(err) };
  }
}

write({ hello: { sdk: "node", version } });
for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (!line.trim()) continue;
  let id = null;
  let reply;
  try {
    const request = JSON.parse(line);
    id = request.id;
    reply = JSON.stringify({ id, ...(await answer(request)) });
  } catch (err) {
    reply = JSON.stringify({ id, error: error(err) });
  }
  process.stdout.write(`${reply}\n`);
}
for (const c of clients.values()) c.close();
process.exit(0);
