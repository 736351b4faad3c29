// Redis from Node, 64 concurrent callers, 100k keys, Zipf(0.99) reads with
// 5% writes, for a fixed time each: ioredis direct, ioredis with its
// auto-pipelining, attache Do, attache DoCached (reads; writes through Do).
// Reports ops/s, latency p50/p99 and the commands Redis processed per app
// operation (INFO commandstats), pooled over interleaved rounds. Then lone-caller latency: a cache hit
// through attache vs a GET with ioredis.
// Usage: node redis.mjs ATTACHE_SOCKET REDIS_URL SECONDS  -> JSON on stdout.
import Redis from "ioredis";
import { Attache } from "@attache/sdk";

const [socket, redisUrl, secondsArg] = process.argv.slice(2);
const SECONDS = Number(secondsArg ?? 10);
const WARMUP_SECONDS = Math.max(2, SECONDS / 3);
const CALLERS = 64;
const KEYS = 100_000;
const WRITE_SHARE = 0.05;
const THETA = 0.99;

// Zipf(θ) over key ranks 1..KEYS by inverse CDF.
const cdf = new Float64Array(KEYS);
{
  let sum = 0;
  for (let i = 0; i < KEYS; i++) cdf[i] = sum += 1 / Math.pow(i + 1, THETA);
  for (let i = 0; i < KEYS; i++) cdf[i] /= sum;
}
function zipfKey() {
  const u = Math.random();
  let lo = 0;
  let hi = KEYS - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return `key:${lo}`;
}

const admin = new Redis(redisUrl);
async function commandStats() {
  const info = await admin.info("commandstats");
  const calls = {};
  for (const line of info.split("\r\n")) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (m && m[1] !== "info" && m[1] !== "config") calls[m[1]] = Number(m[2]);
  }
  return calls;
}

// 100k keys of 100 bytes.
{
  const value = "v".repeat(100);
  for (let start = 0; start < KEYS; start += 10_000) {
    const pipeline = admin.pipeline();
    for (let i = start; i < start + 10_000; i++) pipeline.set(`key:${i}`, value);
    await pipeline.exec();
  }
}

function percentiles(samples) {
  samples.sort((a, b) => a - b);
  const at = (q) => samples[Math.round((samples.length - 1) * q)] / 1000;
  return { p50_us: at(0.5), p99_us: at(0.99) };
}

/** Runs the workload for `seconds` with `read`/`write`; returns ops, reads and latencies (ns). */
async function workload(seconds, read, write) {
  const stopAt = performance.now() + seconds * 1000;
  const samples = [];
  let ops = 0;
  let reads = 0;
  let written = 0;
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (performance.now() < stopAt) {
        const key = zipfKey();
        const isWrite = Math.random() < WRITE_SHARE;
        const t = process.hrtime.bigint();
        if (isWrite) await write(key, `w${written++}`);
        else await read(key);
        samples.push(Number(process.hrtime.bigint() - t));
        ops++;
        if (!isWrite) reads++;
      }
    }),
  );
  return { ops, reads, samples };
}

// The machine's speed drifts by tens of percent over minutes, so modes are
// measured in interleaved rounds and each mode's rounds are pooled: every
// mode sees the same slow and fast moments.
const ROUNDS = 5;

async function measureAll(modes) {
  for (const m of modes) await workload(WARMUP_SECONDS / modes.length + 1, m.read, m.write);
  const totals = new Map(modes.map((m) => [m.name, { ops: 0, reads: 0, seconds: 0, samples: [], calls: {} }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const m of modes) {
      const t = totals.get(m.name);
      await m.before?.();
      await admin.config("RESETSTAT");
      const started = performance.now();
      const { ops, reads, samples } = await workload(SECONDS / ROUNDS, m.read, m.write);
      t.seconds += (performance.now() - started) / 1000;
      t.ops += ops;
      t.reads += reads;
      for (const s of samples) t.samples.push(s);
      for (const [c, n] of Object.entries(await commandStats())) t.calls[c] = (t.calls[c] ?? 0) + n;
    }
  }
  return modes.map((m) => {
    const t = totals.get(m.name);
    const total = Object.values(t.calls).reduce((a, b) => a + b, 0);
    const readPath = ["get", "mget", "pttl", "multi", "exec"].reduce((a, c) => a + (t.calls[c] ?? 0), 0);
    const result = {
      name: m.name,
      ops: t.ops,
      seconds: t.seconds,
      ops_per_s: t.ops / t.seconds,
      ...percentiles(t.samples),
      redis_commands_per_op: total / t.ops,
      redis_read_commands_per_read: readPath / t.reads,
      commandstats: t.calls,
    };
    console.error(
      `${m.name.padEnd(32)} ${result.ops_per_s.toFixed(0).padStart(7)} ops/s  p50 ${result.p50_us.toFixed(0)} µs  p99 ${result.p99_us.toFixed(0)} µs  ` +
        `${result.redis_commands_per_op.toFixed(3)} redis cmds/op, ${result.redis_read_commands_per_read.toFixed(3)} per read`,
    );
    return result;
  });
}

// BENCH_ONLY=name,name runs just those (for profiling).
const only = process.env.BENCH_ONLY?.split(",");
const direct = new Redis(redisUrl);
const auto = new Redis(redisUrl, { enableAutoPipelining: true });
const attache = new Attache({ socket });
// The cache of a long-running sidecar is warm: fill it with every key
// (MGetCached in chunks), as a deployment's would be after a while. Again
// before each of its rounds, or the other modes' writes in between would
// count as its misses.
async function warmCache() {
  for (let start = 0; start < KEYS; start += 500) {
    await attache.redis.mgetCached(Array.from({ length: 500 }, (_, i) => `key:${start + i}`), { ttlMs: 600_000 });
  }
}
const modes = [
  { name: "ioredis direct", read: (k) => direct.get(k), write: (k, v) => direct.set(k, v) },
  { name: "ioredis auto-pipelining", read: (k) => auto.get(k), write: (k, v) => auto.set(k, v) },
  { name: "attache Do", read: (k) => attache.redis.do(["GET", k]), write: (k, v) => attache.redis.do(["SET", k, v]) },
  {
    name: "attache DoCached",
    read: (k) => attache.redis.doCached(["GET", k], { ttlMs: 600_000 }),
    write: (k, v) => attache.redis.do(["SET", k, v]),
    before: warmCache,
  },
].filter((m) => !only || only.includes(m.name));
const results = await measureAll(modes);
auto.disconnect();

// Lone caller: sequential calls, one at a time, interleaved in rounds too.
await attache.redis.doCached(["GET", "key:0"], { ttlMs: 600_000 });
const lone = {
  ioredis_get: () => direct.get("key:0"),
  attache_do_get: () => attache.redis.do(["GET", "key:0"]),
  attache_cache_hit: async () => {
    if (!(await attache.redis.doCached(["GET", "key:0"], { ttlMs: 600_000 })).cacheHit) throw new Error("expected a hit");
  },
};
const loneSamples = Object.fromEntries(Object.keys(lone).map((k) => [k, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, call] of Object.entries(lone)) {
    for (let i = 0; i < 400; i++) await call();
    for (let i = 0; i < 4000; i++) {
      const t = process.hrtime.bigint();
      await call();
      loneSamples[name].push(Number(process.hrtime.bigint() - t));
    }
  }
}
const latency = Object.fromEntries(Object.entries(loneSamples).map(([k, v]) => [k, percentiles(v)]));
console.error(`lone caller: ${JSON.stringify(latency)}`);
direct.disconnect();
admin.disconnect();
attache.close();
console.log(JSON.stringify({ callers: CALLERS, keys: KEYS, seconds: SECONDS, results, latency }));
