// Redis from Node, 64 concurrent callers, 100k keys, Zipf(0.99) reads with
// 5% writes, for a fixed time each: ioredis direct, ioredis with its
// auto-pipelining, attache Do, attache DoCached (reads; writes through Do).
// Reports ops/s, latency p50/p99 and the commands Redis processed per app
// operation (INFO commandstats). Then lone-caller latency: a cache hit
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

async function measure(name, read, write) {
  await workload(WARMUP_SECONDS, read, write);
  await admin.config("RESETSTAT");
  const started = performance.now();
  const { ops, reads, samples } = await workload(SECONDS, read, write);
  const seconds = (performance.now() - started) / 1000;
  const calls = await commandStats();
  const total = Object.values(calls).reduce((a, b) => a + b, 0);
  const readPath = ["get", "mget", "pttl", "multi", "exec"].reduce((a, c) => a + (calls[c] ?? 0), 0);
  const result = {
    name,
    ops,
    seconds,
    ops_per_s: ops / seconds,
    ...percentiles(samples),
    redis_commands_per_op: total / ops,
    redis_read_commands_per_read: readPath / reads,
    commandstats: calls,
  };
  console.error(
    `${name.padEnd(32)} ${result.ops_per_s.toFixed(0).padStart(7)} ops/s  p50 ${result.p50_us.toFixed(0)} µs  p99 ${result.p99_us.toFixed(0)} µs  ` +
      `${result.redis_commands_per_op.toFixed(3)} redis cmds/op, ${result.redis_read_commands_per_read.toFixed(3)} per read`,
  );
  return result;
}

// BENCH_ONLY=name,name runs just those (for profiling).
const only = process.env.BENCH_ONLY?.split(",");
const wanted = (name) => !only || only.includes(name);
const results = [];
if (wanted("ioredis direct")) {
  const direct = new Redis(redisUrl);
  results.push(await measure("ioredis direct", (k) => direct.get(k), (k, v) => direct.set(k, v)));
  direct.disconnect();
}
if (wanted("ioredis auto-pipelining")) {
  const auto = new Redis(redisUrl, { enableAutoPipelining: true });
  results.push(await measure("ioredis auto-pipelining", (k) => auto.get(k), (k, v) => auto.set(k, v)));
  auto.disconnect();
}
const attache = new Attache({ socket });
if (wanted("attache Do")) results.push(await measure("attache Do", (k) => attache.redis.do(["GET", k]), (k, v) => attache.redis.do(["SET", k, v])));
// The cache of a long-running sidecar is warm: fill it with every key
// first (MGetCached in chunks), as a deployment would be after a while.
if (wanted("attache DoCached")) {
  for (let start = 0; start < KEYS; start += 500) {
    await attache.redis.mgetCached(Array.from({ length: 500 }, (_, i) => `key:${start + i}`), { ttlMs: 600_000 });
  }
}
if (wanted("attache DoCached")) results.push(
  await measure(
    "attache DoCached",
    (k) => attache.redis.doCached(["GET", k], { ttlMs: 600_000 }),
    (k, v) => attache.redis.do(["SET", k, v]),
  ),
);

// Lone caller: sequential calls, one at a time.
async function lone(n, call) {
  for (let i = 0; i < n / 10; i++) await call();
  const samples = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await call();
    samples.push(Number(process.hrtime.bigint() - t));
  }
  return percentiles(samples);
}
const direct = new Redis(redisUrl);
await attache.redis.doCached(["GET", "key:0"], { ttlMs: 600_000 });
const latency = {
  ioredis_get: await lone(20_000, () => direct.get("key:0")),
  attache_do_get: await lone(20_000, () => attache.redis.do(["GET", "key:0"])),
  attache_cache_hit: await lone(20_000, async () => {
    if (!(await attache.redis.doCached(["GET", "key:0"], { ttlMs: 600_000 })).cacheHit) throw new Error("expected a hit");
  }),
};
console.error(`lone caller: ${JSON.stringify(latency)}`);
direct.disconnect();
admin.disconnect();
attache.close();
console.log(JSON.stringify({ callers: CALLERS, keys: KEYS, seconds: SECONDS, results, latency }));
