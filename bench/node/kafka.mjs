// Kafka producing from Node, 100 B and 1 KB records, each client to a fresh
// topic of its own on the same broker (3 partitions, created up front):
//   - attache through the Node SDK's ProduceStream (one stream, several sends
//     in flight, answered in order), ack "spooled" on a sidecar with
//     kafka.spool.fsync "interval" and on one with "always", and ack
//     "delivered" (on the "interval" one);
//   - kafkajs 2.2.4, idempotent (acks -1), no compression (kafkajs has no
//     LZ4 of its own; gzip would be its pure-JS zlib on the event loop);
//   - @confluentinc/kafka-javascript 1.10.1 (librdkafka in the Node process)
//     through its KafkaJS-compatible API, idempotent (acks -1), LZ4,
//     linger.ms 5: the settings attache's own librdkafka producer has.
// Each client is measured two ways, in ROUNDS interleaved rounds after a
// warm-up, pooled (the machine's speed drifts):
//   - throughput: BATCH records per send, IN_FLIGHT sends in flight, as fast
//     as it goes; timed from the first send to the last acknowledgement.
//     Its per-send latency is mostly queueing (Little's law: IN_FLIGHT ×
//     BATCH records in flight over the rate);
//   - latency at a steady load: an open loop offering RATE records/s (about
//     every millisecond, one send of the records due), PACED_SECONDS per
//     client and size, whether or not earlier sends were answered.
// Both report records/s, per-send acknowledgement latency p50/p99 and the
// event loop's delay p99 (monitorEventLoopDelay, 1 ms resolution: how late
// a 1 ms timer fires; the median of the rounds' p99s). After each run the
// topic's end offsets are polled until the broker has every record sent:
// "at the broker" is the time from the first send to then (for attache's
// spooled acknowledgements, when delivery caught up). The sidecar's RSS is
// sampled every 200 ms while it is driven.
//
// Usage:
//   node kafka.mjs bench BROKER ATTACHE_SOCKET ATTACHE_ALWAYS_SOCKET [N_100B] [N_1KB] [SIDECAR_PID] [SIDECAR_ALWAYS_PID]
//     -> JSON on stdout. BROKER is host:port (testing/kafka/start's output).
//   node kafka.mjs fill ATTACHE_SOCKET SPOOL_DIR BYTES SIDECAR_PID
//     -> JSON: produces 1 KB records (ack spooled) to a sidecar whose brokers
//        are unreachable until BYTES are spooled, then its RSS.
// Environment: BENCH_BATCH (records per send, default 200), BENCH_IN_FLIGHT
// (sends in flight, default 8), BENCH_ROUNDS (default 3), BENCH_RATE
// (default 20000), BENCH_PACED_SECONDS (default 6), BENCH_ONLY (comma
// list of client keys: attache-spooled, attache-spooled-always,
// attache-delivered, kafkajs, confluent).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createRequire } from "node:module";
import { Attache } from "@attache/sdk";

const require = createRequire(import.meta.url);
const BATCH = Number(process.env.BENCH_BATCH ?? 200);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
// The steady rate for the latency runs, and their length per client and size.
const RATE = Number(process.env.BENCH_RATE ?? 20_000);
const PACED_SECONDS = Number(process.env.BENCH_PACED_SECONDS ?? 6);
const PARTITIONS = 3;
const KEYS = 1024;

function kib(pid, field) {
  if (!pid) return null;
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Samples a process's VmRSS every 200 ms while on; the highest seen. */
function rssSampler(pid) {
  let max = null;
  let timer;
  const sample = () => {
    const rss = kib(pid, "VmRSS");
    if (rss !== null && (max === null || rss > max)) max = rss;
  };
  return {
    start() {
      if (!pid) return;
      sample();
      timer = setInterval(sample, 200);
    },
    stop() {
      clearInterval(timer);
      if (pid) sample();
    },
    get max() {
      return max;
    },
  };
}

/** `count` values of `size` bytes: random base64 text (compresses about as text does, not as a run of one byte). */
function values(size, count) {
  return Array.from({ length: count }, () => {
    const raw = Buffer.alloc(Math.ceil((size * 3) / 4));
    for (let i = 0; i < raw.length; i++) raw[i] = (Math.random() * 256) | 0;
    return Buffer.from(raw.toString("base64").slice(0, size));
  });
}
const keyOf = (i) => `user-${i % KEYS}`;

function percentiles(samples) {
  if (samples.length === 0) return { p50_ms: null, p99_ms: null };
  samples.sort((a, b) => a - b);
  const at = (q) => samples[Math.round((samples.length - 1) * q)] / 1e6;
  return { p50_ms: at(0.5), p99_ms: at(0.99) };
}

/**
 * Sends `n` records (keys and values from `pool`) with `send(records)`,
 * BATCH per send, IN_FLIGHT sends in flight; per-send latencies in ns.
 */
async function drive(n, pool, send) {
  let next = 0;
  const samples = [];
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < n) {
        const first = next;
        const count = Math.min(BATCH, n - first);
        next += count;
        const batch = new Array(count);
        for (let i = 0; i < count; i++) batch[i] = { key: keyOf(first + i), value: pool[(first + i) % pool.length] };
        const t = process.hrtime.bigint();
        await send(batch);
        samples.push(Number(process.hrtime.bigint() - t));
      }
    }),
  );
  return samples;
}

/**
 * Open loop at `rate` records/s for `seconds`: about every millisecond, one
 * send of the records due by then, whether or not earlier sends were
 * answered. Per-send latencies in ns, from the send to its answer.
 */
async function paced(rate, seconds, pool, send) {
  const samples = [];
  const pending = new Set();
  let sent = 0;
  let failed = null;
  let acked = 0;
  const started = performance.now();
  const stopAt = started + seconds * 1000;
  while (performance.now() < stopAt && !failed) {
    const due = Math.min(1000, Math.floor(((performance.now() - started) / 1000) * rate) - sent);
    if (due > 0) {
      const first = sent;
      sent += due;
      const batch = new Array(due);
      for (let i = 0; i < due; i++) batch[i] = { key: keyOf(first + i), value: pool[(first + i) % pool.length] };
      const t = process.hrtime.bigint();
      const p = send(batch).then(
        () => {
          samples.push(Number(process.hrtime.bigint() - t));
          acked = performance.now();
        },
        (err) => {
          failed ??= err;
        },
      );
      pending.add(p);
      p.then(() => pending.delete(p));
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
  if (failed) throw failed;
  return { samples, records: sent, started, acked };
}

if (process.argv[2] === "fill") {
  await fill(...process.argv.slice(3));
  process.exit(0);
}
if (process.argv[2] !== "bench") {
  console.error("usage: node kafka.mjs bench BROKER SOCKET ALWAYS_SOCKET [N_100B] [N_1KB] [PID] [ALWAYS_PID] | fill SOCKET SPOOL_DIR BYTES PID");
  process.exit(2);
}

const [broker, socket, alwaysSocket, n100Arg, n1kArg, sidecarPid, alwaysPid] = process.argv.slice(3);
const SIZES = [
  { size: 100, records: Number(n100Arg ?? 200_000) },
  { size: 1024, records: Number(n1kArg ?? 50_000) },
];
const only = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(",")) : null;

process.env.KAFKAJS_NO_PARTITIONER_WARNING = "1";
const kafkajs = require("kafkajs");
const confluent = require("@confluentinc/kafka-javascript");
const versions = {
  kafkajs: require("kafkajs/package.json").version,
  confluent: require("@confluentinc/kafka-javascript/package.json").version,
  librdkafka: confluent.librdkafkaVersion,
};

// The admin (kafkajs): topics, and end offsets to count what the broker has.
const adminKafka = new kafkajs.Kafka({ clientId: "bench-admin", brokers: [broker], logLevel: kafkajs.logLevel.NOTHING });
const admin = adminKafka.admin();
await admin.connect();
const run = Date.now().toString(36);
const topicOf = (client, size) => `bench-${run}-${client}-${size}`;

/** The records the broker has in `topic` (the end offsets' sum), retrying while a new topic's leaders settle. */
async function brokerCount(topic) {
  for (let attempt = 0; ; attempt++) {
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      return offsets.reduce((sum, p) => sum + Number(p.high), 0);
    } catch (err) {
      if (!err.retriable || attempt >= 300) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
/** Polls until the broker has `target` records of `topic`; the time it did (performance.now()), or null after 180 s. */
async function atBroker(topic, target) {
  const deadline = performance.now() + 180_000;
  for (;;) {
    const count = await brokerCount(topic);
    if (count >= target) return { at: performance.now(), count };
    if (performance.now() > deadline) return { at: null, count };
    await new Promise((r) => setTimeout(r, 25));
  }
}

const attache = new Attache({ socket, timeoutMs: 120_000 });
const attacheAlways = new Attache({ socket: alwaysSocket, timeoutMs: 120_000 });
const streams = { interval: attache.kafka.produceStream(), always: attacheAlways.kafka.produceStream() };

const kjs = new kafkajs.Kafka({ clientId: "bench-kafkajs", brokers: [broker], logLevel: kafkajs.logLevel.NOTHING });
const kjsProducer = kjs.producer({ idempotent: true, allowAutoTopicCreation: false });
const ck = new confluent.KafkaJS.Kafka({ kafkaJS: { brokers: [broker], logLevel: confluent.KafkaJS.logLevel.NOTHING } });
const ckProducer = ck.producer({
  kafkaJS: { idempotent: true, acks: -1, compression: confluent.KafkaJS.CompressionTypes.LZ4, allowAutoTopicCreation: false },
  "linger.ms": 5,
});

function attacheSend(stream, ack) {
  return (topic) => async (batch) => {
    const records = batch.map((r) => ({ topic, key: r.key, value: r.value }));
    const results = await stream.send(records, { ack });
    if (results.length !== records.length) throw new Error(`attache answered ${results.length} results for ${records.length} records`);
    if (ack === "delivered") for (const r of results) if (r.error || r.offset === undefined) throw new Error(`attache: a record was not delivered: ${r.error?.message}`);
  };
}
const clients = [
  { key: "attache-spooled", name: 'attache ProduceStream, ack "spooled" (fsync interval)', ack: "spooled", pid: sidecarPid, send: attacheSend(streams.interval, "spooled") },
  { key: "attache-spooled-always", name: 'attache ProduceStream, ack "spooled" (fsync always)', ack: "spooled", pid: alwaysPid, send: attacheSend(streams.always, "spooled") },
  { key: "attache-delivered", name: 'attache ProduceStream, ack "delivered"', ack: "delivered", pid: sidecarPid, send: attacheSend(streams.interval, "delivered") },
  {
    key: "kafkajs",
    name: `kafkajs ${versions.kafkajs} (idempotent, no compression)`,
    ack: "delivered",
    send: (topic) => async (batch) => {
      await kjsProducer.send({ topic, messages: batch, acks: -1 });
    },
  },
  {
    key: "confluent",
    name: `@confluentinc/kafka-javascript ${versions.confluent} (librdkafka ${versions.librdkafka}, idempotent, lz4)`,
    ack: "delivered",
    // It takes its messages over (sets partition, headers...): each send's are its own.
    send: (topic) => async (batch) => {
      await ckProducer.send({ topic, messages: batch });
    },
  },
].filter((c) => !only || only.has(c.key));

await kjsProducer.connect();
await ckProducer.connect();
await admin.createTopics({
  waitForLeaders: true,
  topics: clients.flatMap((c) => SIZES.map(({ size }) => ({ topic: topicOf(c.key, size), numPartitions: PARTITIONS, replicationFactor: 1 }))),
});
console.error(`topics bench-${run}-*: ${clients.length * SIZES.length}, ${PARTITIONS} partitions each; batch ${BATCH}, ${IN_FLIGHT} sends in flight, ${ROUNDS} rounds`);

const sidecarIdle = { interval: kib(sidecarPid, "VmRSS"), always: kib(alwaysPid, "VmRSS") };
/** The median of `xs`. */
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * One measured run of client `c`: `drive` (ns latencies, records, started
 * and last-ack times), timed with a fresh event-loop histogram (one enabled
 * again would count the time it was off as its first delay) and the
 * sidecar's RSS sampled; then waits until the broker has every record.
 */
async function measured(c, topic, drive) {
  const before = await brokerCount(topic);
  const rss = rssSampler(c.pid);
  rss.start();
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const r = await drive();
  delay.disable();
  const got = await atBroker(topic, before + r.records);
  rss.stop();
  if (got.at === null) throw new Error(`${c.key}: the broker has ${got.count - before} of ${r.records} records after 180 s`);
  return {
    ...r,
    seconds: (r.acked - r.started) / 1000,
    atBrokerSeconds: (got.at - r.started) / 1000,
    extra: got.count - before - r.records,
    loopP99: delay.percentile(99) / 1e6,
    loopMax: delay.max / 1e6,
    rss: rss.max,
  };
}

function pool_() {
  return { samples: [], records: 0, seconds: 0, atBrokerSeconds: 0, extra: 0, loopP99: [], loopMax: 0, rss: null };
}
function add(total, m) {
  for (const s of m.samples) total.samples.push(s);
  total.records += m.records;
  total.seconds += m.seconds;
  total.atBrokerSeconds += m.atBrokerSeconds;
  total.extra += m.extra;
  total.loopP99.push(m.loopP99);
  total.loopMax = Math.max(total.loopMax, m.loopMax);
  if (m.rss !== null) total.rss = Math.max(total.rss ?? 0, m.rss);
}
function summary(t) {
  return {
    records: t.records,
    seconds: t.seconds,
    records_per_s: t.records / t.seconds,
    sends: t.samples.length,
    ...percentiles(t.samples),
    at_broker_seconds: t.atBrokerSeconds,
    at_broker_records_per_s: t.records / t.atBrokerSeconds,
    // More records at the broker than were sent: duplicates (attache
    // delivers at least once; the idempotent producers should have none).
    extra_at_broker: t.extra,
    // The median of the rounds' p99s, and the worst round's.
    loop_delay_p99_ms: median(t.loopP99),
    loop_delay_p99_worst_ms: Math.max(...t.loopP99),
    loop_delay_max_ms: t.loopMax,
    sidecar_rss_max_bytes: t.rss,
  };
}

const results = [];
for (const { size, records } of SIZES) {
  const pool = values(size, 4096);
  const perRound = Math.ceil(records / ROUNDS);
  const rows = new Map(clients.map((c) => [c.key, { throughput: pool_(), paced: pool_() }]));
  // Warm-up: connections, metadata, producer ids, JIT, the sidecar's spool.
  for (const c of clients) {
    const topic = topicOf(c.key, size);
    const warm = Math.max(2000, Math.ceil(records / 10));
    const before = await brokerCount(topic);
    await drive(warm, pool, c.send(topic));
    const got = await atBroker(topic, before + warm);
    if (got.at === null) throw new Error(`${c.key}: the broker has ${got.count - before} of the ${warm} warm-up records after 180 s`);
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of clients) {
      const topic = topicOf(c.key, size);
      const row = rows.get(c.key);
      // Throughput: as fast as the client goes.
      add(
        row.throughput,
        await measured(c, topic, async () => {
          const started = performance.now();
          const samples = await drive(perRound, pool, c.send(topic));
          return { samples, records: perRound, started, acked: performance.now() };
        }),
      );
      // Latency at a steady offered rate, below what every client sustains.
      add(row.paced, await measured(c, topic, () => paced(RATE, PACED_SECONDS / ROUNDS, pool, c.send(topic))));
    }
  }
  for (const c of clients) {
    const row = rows.get(c.key);
    const result = { key: c.key, name: c.name, ack: c.ack, size, ...summary(row.throughput), mb_per_s: (row.throughput.records * size) / row.throughput.seconds / 1e6 };
    const p = summary(row.paced);
    result.paced = { offered_records_per_s: RATE, ...p };
    const mib = (b) => (b ? `  sidecar RSS ≤ ${(b / 2 ** 20).toFixed(0)} MiB` : "");
    console.error(
      `${String(size).padStart(4)} B  ${c.name.padEnd(76)} ${result.records_per_s.toFixed(0).padStart(7)} rec/s  ` +
        `send p50 ${result.p50_ms.toFixed(2)} ms  p99 ${result.p99_ms.toFixed(2)} ms  loop p99 ${result.loop_delay_p99_ms.toFixed(1)} ms  ` +
        `at broker ${result.at_broker_records_per_s.toFixed(0)} rec/s${mib(result.sidecar_rss_max_bytes)}\n` +
        `${"".padStart(83)}at ${RATE} rec/s: send p50 ${p.p50_ms.toFixed(2)} ms  p99 ${p.p99_ms.toFixed(2)} ms  loop p99 ${p.loop_delay_p99_ms.toFixed(1)} ms  ` +
        `achieved ${p.records_per_s.toFixed(0)} rec/s${mib(p.sidecar_rss_max_bytes)}`,
    );
    results.push(result);
  }
}

await streams.interval.close();
await streams.always.close();
attache.close();
attacheAlways.close();
await kjsProducer.disconnect();
await ckProducer.disconnect();
await admin.disconnect();
const sidecar = {
  interval: sidecarPid ? { idle_rss_bytes: sidecarIdle.interval, vm_hwm_bytes: kib(sidecarPid, "VmHWM"), vm_rss_bytes: kib(sidecarPid, "VmRSS") } : null,
  always: alwaysPid ? { idle_rss_bytes: sidecarIdle.always, vm_hwm_bytes: kib(alwaysPid, "VmHWM"), vm_rss_bytes: kib(alwaysPid, "VmRSS") } : null,
};
console.error(`sidecars: ${JSON.stringify(sidecar)}`);
console.log(
  JSON.stringify({ batch: BATCH, in_flight: IN_FLIGHT, rounds: ROUNDS, rate: RATE, paced_seconds: PACED_SECONDS, partitions: PARTITIONS, sizes: SIZES, versions, results, sidecar }),
);

/**
 * Fills a sidecar's spool: 1 KB records, ack spooled, until BYTES of
 * records (values and keys) are acknowledged; its brokers unreachable, so
 * nothing leaves the spool. Then, after 3 s, its RSS and the spool
 * directory's size.
 */
async function fill(socketPath, spoolDir, bytesArg, pid) {
  const target = Number(bytesArg);
  const size = 1024;
  const pool = values(size, 4096);
  const client = new Attache({ socket: socketPath, timeoutMs: 120_000 });
  const stream = client.kafka.produceStream();
  const topic = "bench-fill";
  const idle = kib(pid, "VmRSS");
  const rss = rssSampler(pid);
  const dirBytes = (dir = spoolDir) =>
    readdirSync(dir, { withFileTypes: true }).reduce((sum, e) => sum + (e.isDirectory() ? dirBytes(join(dir, e.name)) : statSync(join(dir, e.name)).size), 0);
  rss.start();
  const started = performance.now();
  let records = 0;
  const perRecord = size + keyOf(0).length;
  const n = Math.ceil(target / perRecord);
  await drive(n, pool, async (batch) => {
    const results = await stream.send(batch.map((r) => ({ topic, key: r.key, value: r.value })));
    records += results.length;
  });
  const seconds = (performance.now() - started) / 1000;
  await stream.close();
  client.close();
  await new Promise((r) => setTimeout(r, 3000));
  rss.stop();
  const out = {
    records,
    record_bytes: size,
    seconds,
    records_per_s: records / seconds,
    spooled_bytes: dirBytes(),
    idle_rss_bytes: idle,
    rss_max_while_filling_bytes: rss.max,
    rss_after_bytes: kib(pid, "VmRSS"),
    vm_hwm_bytes: kib(pid, "VmHWM"),
  };
  console.error(`fill: ${JSON.stringify(out)}`);
  console.log(JSON.stringify(out));
}
