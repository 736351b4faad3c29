// PostgreSQL from Node, 64 concurrent callers, primary-key reads of a
// 100k-row table (Zipf 0.99 ids), for a fixed time each: node-postgres (`pg`)
// with a Pool of 10 connections on the server's Unix socket, and attache
// Query (no result cache: only identical reads in flight at once are
// coalesced). Reports ops/s, latency p50/p99 and the statements the server
// executed per app read (pg_stat_statements), pooled over interleaved
// rounds; then lone-caller latency (one query at a time); then 100
// identical reads fired at once through each, counting the server's
// executions; then the sidecar's peak RSS (VmHWM).
// Expects the table bench_rows (id int primary key, name text, score int)
// with ids 0..99999 (bench/run makes it).
// Usage: node postgres.mjs ATTACHE_SOCKET PG_SOCKET_DIR PG_PORT SECONDS [SIDECAR_PID]  -> JSON on stdout.
import { readFileSync } from "node:fs";
import pg from "pg";
import { Attache } from "@attache/sdk";

const [socket, pgHost, pgPort, secondsArg, sidecarPid] = process.argv.slice(2);
const SECONDS = Number(secondsArg ?? 10);
const WARMUP_SECONDS = Math.max(2, SECONDS / 3);
const CALLERS = 64;
const ROWS = 100_000;
const THETA = 0.99;
const POOL_SIZE = 10;
const IDENTICAL = 100;
const PK_SQL = "SELECT id, name, score FROM bench_rows WHERE id = $1";
const COUNT_SQL = "SELECT count(*) FROM bench_rows WHERE score > $1";
const COUNT_PARAM = 500;

// Zipf(θ) over id ranks 1..ROWS by inverse CDF (as redis.mjs draws keys).
const cdf = new Float64Array(ROWS);
{
  let sum = 0;
  for (let i = 0; i < ROWS; i++) cdf[i] = sum += 1 / Math.pow(i + 1, THETA);
  for (let i = 0; i < ROWS; i++) cdf[i] /= sum;
}
function zipfId() {
  const u = Math.random();
  let lo = 0;
  let hi = ROWS - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const connection = { host: pgHost, port: Number(pgPort), user: "postgres", database: "postgres" };
const admin = new pg.Client(connection);
await admin.connect();
{
  const { rows } = await admin.query("select count(*)::int as n from bench_rows");
  if (rows[0].n !== ROWS) throw new Error(`bench_rows has ${rows[0].n} rows, expected ${ROWS}`);
}
async function resetStatements() {
  await admin.query("select pg_stat_statements_reset()");
}
/** Executions of the statements whose text contains `fragment`, since the last reset. */
async function executions(fragment) {
  const { rows } = await admin.query(
    "select coalesce(sum(calls), 0)::int8 as calls from pg_stat_statements where query like $1 and query not like '%pg_stat_statements%'",
    [`%${fragment}%`],
  );
  return Number(rows[0].calls);
}

function percentiles(samples) {
  samples.sort((a, b) => a - b);
  const at = (q) => samples[Math.round((samples.length - 1) * q)] / 1000;
  return { p50_us: at(0.5), p99_us: at(0.99) };
}

/** Runs the workload for `seconds` with `read`; returns ops and latencies (ns). */
async function workload(seconds, read) {
  const stopAt = performance.now() + seconds * 1000;
  const samples = [];
  let ops = 0;
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (performance.now() < stopAt) {
        const id = zipfId();
        const t = process.hrtime.bigint();
        await read(id);
        samples.push(Number(process.hrtime.bigint() - t));
        ops++;
      }
    }),
  );
  return { ops, samples };
}

// The machine's speed drifts by tens of percent over minutes, so modes are
// measured in interleaved rounds and each mode's rounds are pooled: every
// mode sees the same slow and fast moments.
const ROUNDS = 5;

async function measureAll(modes) {
  for (const m of modes) await workload(WARMUP_SECONDS / modes.length + 1, m.read);
  const totals = new Map(modes.map((m) => [m.name, { ops: 0, seconds: 0, samples: [], executions: 0 }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const m of modes) {
      const t = totals.get(m.name);
      await resetStatements();
      const started = performance.now();
      const { ops, samples } = await workload(SECONDS / ROUNDS, m.read);
      t.seconds += (performance.now() - started) / 1000;
      t.ops += ops;
      for (const s of samples) t.samples.push(s);
      t.executions += await executions("FROM bench_rows WHERE id =");
    }
  }
  return modes.map((m) => {
    const t = totals.get(m.name);
    const result = {
      name: m.name,
      ops: t.ops,
      seconds: t.seconds,
      ops_per_s: t.ops / t.seconds,
      ...percentiles(t.samples),
      server_executions_per_op: t.executions / t.ops,
    };
    console.error(
      `${m.name.padEnd(32)} ${result.ops_per_s.toFixed(0).padStart(7)} ops/s  p50 ${result.p50_us.toFixed(0)} µs  p99 ${result.p99_us.toFixed(0)} µs  ` +
        `${result.server_executions_per_op.toFixed(3)} server executions/op`,
    );
    return result;
  });
}

const pool = new pg.Pool({ ...connection, max: POOL_SIZE });
const attache = new Attache({ socket });

/** One row for `id`, or throw: both clients must have done the work. */
function one(rows, id) {
  if (rows.length !== 1 || rows[0].id !== id) throw new Error(`expected row ${id}, got ${JSON.stringify(rows)}`);
}
const modes = [
  { name: `pg Pool (max ${POOL_SIZE})`, read: async (id) => one((await pool.query(PK_SQL, [id])).rows, id) },
  { name: "attache Query", read: async (id) => one((await attache.postgres.query(PK_SQL, [id])).rows, id) },
];
const results = await measureAll(modes);

// Lone caller: sequential queries, one at a time, interleaved in rounds too.
const lone = { pg_pool: modes[0].read, attache_query: modes[1].read };
const loneSamples = Object.fromEntries(Object.keys(lone).map((k) => [k, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, read] of Object.entries(lone)) {
    for (let i = 0; i < 100; i++) await read(zipfId());
    for (let i = 0; i < 400; i++) {
      const id = zipfId();
      const t = process.hrtime.bigint();
      await read(id);
      loneSamples[name].push(Number(process.hrtime.bigint() - t));
    }
  }
}
const latency = Object.fromEntries(Object.entries(loneSamples).map(([k, v]) => [k, { queries: v.length, ...percentiles(v) }]));
console.error(`lone caller: ${JSON.stringify(latency)}`);

// 100 identical reads at once: how many times did the server run it?
const countOf = {
  pg_pool: async () => Number((await pool.query(COUNT_SQL, [COUNT_PARAM])).rows[0].count),
  attache: async () => Number((await attache.postgres.query(COUNT_SQL, [COUNT_PARAM])).rows[0].count),
};
const expected = await countOf.pg_pool();
const identical = Object.fromEntries(Object.keys(countOf).map((k) => [k, { executions: [], wall_ms: [] }]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, run] of Object.entries(countOf)) {
    await run(); // the same warmth for both: plan and pages cached
    await resetStatements();
    const t = performance.now();
    const counts = await Promise.all(Array.from({ length: IDENTICAL }, run));
    identical[name].wall_ms.push(performance.now() - t);
    if (counts.some((c) => c !== expected)) throw new Error(`${name}: expected count ${expected}, got ${counts}`);
    identical[name].executions.push(await executions("count(*) FROM bench_rows"));
  }
}
console.error(`${IDENTICAL} identical reads, server executions per round: ${JSON.stringify(identical)}`);

/** The sidecar's VmHWM and VmRSS in bytes, from /proc. */
function sidecarMemory() {
  if (!sidecarPid) return null;
  const status = readFileSync(`/proc/${sidecarPid}/status`, "utf8");
  const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)[1]) * 1024;
  return { vm_hwm_bytes: kib("VmHWM"), vm_rss_bytes: kib("VmRSS") };
}
const sidecar = sidecarMemory();
console.error(`sidecar: ${JSON.stringify(sidecar)}`);

await pool.end();
await admin.end();
attache.close();
console.log(
  JSON.stringify({
    callers: CALLERS,
    rows: ROWS,
    seconds: SECONDS,
    pool_size: POOL_SIZE,
    results,
    latency,
    identical: { reads: IDENTICAL, sql: COUNT_SQL, param: COUNT_PARAM, ...identical },
    sidecar,
  }),
);
