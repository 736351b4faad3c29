// PostgreSQL from Node, 64 concurrent callers, primary-key reads of a
// 100k-row table (Zipf 0.99 ids), for a fixed time each: node-postgres (`pg`)
// with a Pool of 10 connections on the server's Unix socket; attache Query
// uncached (only identical reads in flight at once are coalesced); attache
// Query with its response cache (`cacheTtlMs`); and, for the cache-hit
// latency to compare with, attache Redis DoCached reading the row's JSON
// from the sidecar's Redis client cache. Both caches are filled with every
// id before measuring, as a long-running sidecar's would be. Reports ops/s,
// latency p50/p99 (and of cache hits alone), cache statuses and the
// statements the server executed per app read (pg_stat_statements), pooled
// over interleaved rounds; then lone-caller latency (one query at a time);
// then 100 identical reads fired at once through pg and attache, counting
// the server's executions; then merged inserts: 64 callers inserting one
// row per call, per-row INSERT through the pg Pool vs attache Insert (rows/s,
// latency, statements per row, batch size); then the sidecar's peak RSS
// (VmHWM).
// Expects the tables bench_rows (id int primary key, name text, score int)
// with ids 0..99999 and bench_inserts (id bigserial primary key, name text,
// score int) (bench/run makes them), and a sidecar with Redis configured.
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
// The longest the sidecar keeps a result (postgres.cache.max_ttl); the
// Redis DoCached reads are given the same.
const CACHE_TTL_MS = 300_000;
const MSET_CHUNK = 1000;
const redisKey = (id) => `bench:row:${id}`;
const INSERT_SQL = "INSERT INTO bench_inserts (name, score) VALUES ($1, $2) RETURNING id";

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
/** Executions of the statements whose text matches `%fragment%` (LIKE), since the last reset. */
async function executions(fragment) {
  const { rows } = await admin.query(
    "select coalesce(sum(calls), 0)::int8 as calls from pg_stat_statements where query like $1 and query not like '%pg_stat_statements%'",
    [`%${fragment}%`],
  );
  return Number(rows[0].calls);
}

function percentiles(samples) {
  if (samples.length === 0) return { p50_us: null, p99_us: null };
  samples.sort((a, b) => a - b);
  const at = (q) => samples[Math.round((samples.length - 1) * q)] / 1000;
  return { p50_us: at(0.5), p99_us: at(0.99) };
}

/** Cache statuses counted (`"hit"`, `"miss"`, `"miss: <reason>"`…) and the hits' share and latency. */
function cacheSummary(statuses, hitSamples, ops) {
  if (Object.keys(statuses).length === 0) return {};
  const hit = percentiles(hitSamples);
  return { cache_statuses: statuses, hit_ratio: (statuses.hit ?? 0) / ops, hit_p50_us: hit.p50_us, hit_p99_us: hit.p99_us };
}

/**
 * Runs the workload for `seconds` with `read`; returns ops and latencies
 * (ns). `read` may resolve to a cache status, which is counted; the
 * latencies of `"hit"`s are also kept apart.
 */
async function workload(seconds, read) {
  const stopAt = performance.now() + seconds * 1000;
  const samples = [];
  const hitSamples = [];
  const statuses = {};
  let ops = 0;
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (performance.now() < stopAt) {
        const id = zipfId();
        const t = process.hrtime.bigint();
        const status = await read(id);
        const ns = Number(process.hrtime.bigint() - t);
        samples.push(ns);
        ops++;
        if (status !== undefined) {
          statuses[status] = (statuses[status] ?? 0) + 1;
          if (status === "hit") hitSamples.push(ns);
        }
      }
    }),
  );
  return { ops, samples, hitSamples, statuses };
}

// The machine's speed drifts by tens of percent over minutes, so modes are
// measured in interleaved rounds and each mode's rounds are pooled: every
// mode sees the same slow and fast moments.
const ROUNDS = 5;

async function measureAll(modes) {
  for (const m of modes) await workload(WARMUP_SECONDS / modes.length + 1, m.read);
  const totals = new Map(modes.map((m) => [m.name, { ops: 0, seconds: 0, samples: [], hitSamples: [], statuses: {}, executions: 0 }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const m of modes) {
      const t = totals.get(m.name);
      await resetStatements();
      const started = performance.now();
      const { ops, samples, hitSamples, statuses } = await workload(SECONDS / ROUNDS, m.read);
      t.seconds += (performance.now() - started) / 1000;
      t.ops += ops;
      for (const s of samples) t.samples.push(s);
      for (const s of hitSamples) t.hitSamples.push(s);
      for (const [k, n] of Object.entries(statuses)) t.statuses[k] = (t.statuses[k] ?? 0) + n;
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
      ...cacheSummary(t.statuses, t.hitSamples, t.ops),
    };
    const hits = result.hit_ratio === undefined ? "" : `  hits ${(result.hit_ratio * 100).toFixed(1)}% (p50 ${result.hit_p50_us?.toFixed(0)} µs)`;
    console.error(
      `${m.name.padEnd(32)} ${result.ops_per_s.toFixed(0).padStart(7)} ops/s  p50 ${result.p50_us.toFixed(0)} µs  p99 ${result.p99_us.toFixed(0)} µs  ` +
        `${result.server_executions_per_op.toFixed(3)} server executions/op${hits}`,
    );
    return result;
  });
}

const pool = new pg.Pool({ ...connection, max: POOL_SIZE });
const attache = new Attache({ socket });

/** One row for `id`, or throw: every client must have done the work. */
function one(rows, id) {
  if (rows.length !== 1 || rows[0].id !== id) throw new Error(`expected row ${id}, got ${JSON.stringify(rows)}`);
}
/** A cache status as counted: the status, with the reason if the sidecar gave one. */
const statusOf = (cache) => (cache.reason ? `${cache.status}: ${cache.reason}` : cache.status);

// Each row's JSON, from the table, stored in Redis under bench:row:<id>
// (MSET through attache, 1000 keys a call) for the DoCached reads.
const rowJson = new Array(ROWS);
{
  const { rows } = await admin.query("select id, name, score from bench_rows order by id");
  for (const r of rows) rowJson[r.id] = JSON.stringify({ id: r.id, name: r.name, score: r.score });
  for (let start = 0; start < ROWS; start += MSET_CHUNK) {
    const args = ["MSET"];
    for (let id = start; id < Math.min(start + MSET_CHUNK, ROWS); id++) args.push(redisKey(id), rowJson[id]);
    const reply = await attache.redis.do(args);
    if (reply !== "OK") throw new Error(`MSET replied ${reply}`);
  }
}

const cachedQuery = async (id) => {
  const r = await attache.postgres.query(PK_SQL, [id], { cacheTtlMs: CACHE_TTL_MS });
  one(r.rows, id);
  return statusOf(r.cache);
};
const redisCached = async (id) => {
  const { value, cacheHit } = await attache.redis.doCached(["GET", redisKey(id)], { ttlMs: CACHE_TTL_MS });
  if (value === null || value.toString() !== rowJson[id]) throw new Error(`expected ${rowJson[id]} at ${redisKey(id)}, got ${value}`);
  return cacheHit ? "hit" : "miss";
};

// Both caches filled with every id, as a long-running sidecar's would be
// after a while: each id read once through the cached Query (64 at a time),
// and every key through MGetCached in chunks. Entries live CACHE_TTL_MS
// from here (a hit does not extend them); with SECONDS 10 everything below
// through the lone-caller reads takes well under that, and the hit ratios
// reported say how warm each cache was.
{
  const t = performance.now();
  let next = 0;
  const statuses = {};
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (next < ROWS) {
        const s = await cachedQuery(next++);
        statuses[s] = (statuses[s] ?? 0) + 1;
      }
    }),
  );
  for (let start = 0; start < ROWS; start += 500) {
    const keys = Array.from({ length: Math.min(500, ROWS - start) }, (_, i) => redisKey(start + i));
    const { values } = await attache.redis.mgetCached(keys, { ttlMs: CACHE_TTL_MS });
    if (values.some((v, i) => v === null || v.toString() !== rowJson[start + i])) throw new Error(`MGetCached from ${start}: wrong values`);
  }
  console.error(`caches filled in ${((performance.now() - t) / 1000).toFixed(1)} s; the cached Query's statuses: ${JSON.stringify(statuses)}`);
  const again = await cachedQuery(0);
  if (again !== "hit") console.error(`warning: a cached read right after the fill was not a hit (${again}); the hit ratios below will say how much`);
}

const modes = [
  { name: `pg Pool (max ${POOL_SIZE})`, read: async (id) => one((await pool.query(PK_SQL, [id])).rows, id) },
  {
    name: "attache Query",
    read: async (id) => {
      const r = await attache.postgres.query(PK_SQL, [id]);
      one(r.rows, id);
      return statusOf(r.cache);
    },
  },
  { name: "attache Query cached", read: cachedQuery },
  { name: "attache Redis DoCached", read: redisCached },
];
const results = await measureAll(modes);

// Lone caller: sequential queries, one at a time, interleaved in rounds too
// (the caches are still warm from above, so the cached reads are mostly
// hits; their hit ratio is reported).
const lone = {
  pg_pool: modes[0].read,
  attache_query: modes[1].read,
  attache_query_cached: modes[2].read,
  attache_redis_docached: modes[3].read,
};
const loneRuns = Object.fromEntries(Object.keys(lone).map((k) => [k, { samples: [], hitSamples: [], statuses: {} }]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, read] of Object.entries(lone)) {
    const run = loneRuns[name];
    for (let i = 0; i < 100; i++) await read(zipfId());
    for (let i = 0; i < 400; i++) {
      const id = zipfId();
      const t = process.hrtime.bigint();
      const status = await read(id);
      const ns = Number(process.hrtime.bigint() - t);
      run.samples.push(ns);
      if (status !== undefined) {
        run.statuses[status] = (run.statuses[status] ?? 0) + 1;
        if (status === "hit") run.hitSamples.push(ns);
      }
    }
  }
}
const latency = Object.fromEntries(
  Object.entries(loneRuns).map(([k, r]) => [
    k,
    { queries: r.samples.length, ...percentiles(r.samples), ...(k.endsWith("cached") ? cacheSummary(r.statuses, r.hitSamples, r.samples.length) : {}) },
  ]),
);
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

// Merged inserts: 64 callers each inserting one row per call, for a fixed
// time, in interleaved rounds (bench_inserts just grows). The server's
// INSERT statements are counted per row; attache's writes also send cache
// invalidations to other attaches (SELECT pg_notify), counted apart.
let inserted = 0;
const insertModes = [
  {
    name: `pg Pool (max ${POOL_SIZE}) per-row INSERT`,
    insert: async (name, score) => {
      const { rows } = await pool.query(INSERT_SQL, [name, score]);
      if (rows.length !== 1 || rows[0].id == null) throw new Error(`INSERT returned ${JSON.stringify(rows)}`);
    },
  },
  {
    name: "attache Insert",
    insert: async (name, score) => {
      const r = await attache.postgres.insert("bench_inserts", { name, score }, { returning: ["id"] });
      if (!r.inserted || r.row?.id == null) throw new Error(`insert returned ${JSON.stringify(r, (_, v) => (typeof v === "bigint" ? String(v) : v))}`);
      return r.batchSize;
    },
  },
];
/** Runs `insert` from CALLERS callers for `seconds`; returns rows, latencies (ns) and the batch sizes' sum. */
async function insertWorkload(seconds, insert) {
  const stopAt = performance.now() + seconds * 1000;
  const samples = [];
  let rows = 0;
  let batchSizes = 0;
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (performance.now() < stopAt) {
        const n = inserted++;
        const t = process.hrtime.bigint();
        const batchSize = await insert(`row ${n}`, n % 1000);
        samples.push(Number(process.hrtime.bigint() - t));
        rows++;
        batchSizes += batchSize ?? 0;
      }
    }),
  );
  return { rows, samples, batchSizes };
}
for (const m of insertModes) await insertWorkload(WARMUP_SECONDS / insertModes.length + 1, m.insert);
const insertTotals = new Map(insertModes.map((m) => [m.name, { rows: 0, seconds: 0, samples: [], batchSizes: 0, statements: 0, notifies: 0 }]));
for (let round = 0; round < ROUNDS; round++) {
  for (const m of insertModes) {
    const t = insertTotals.get(m.name);
    await resetStatements();
    const started = performance.now();
    const { rows, samples, batchSizes } = await insertWorkload(SECONDS / ROUNDS, m.insert);
    t.seconds += (performance.now() - started) / 1000;
    t.rows += rows;
    t.batchSizes += batchSizes;
    for (const s of samples) t.samples.push(s);
    t.statements += await executions("INSERT INTO%bench_inserts");
    t.notifies += await executions("pg_notify");
  }
}
const insertResults = insertModes.map((m) => {
  const t = insertTotals.get(m.name);
  const result = {
    name: m.name,
    rows: t.rows,
    seconds: t.seconds,
    rows_per_s: t.rows / t.seconds,
    ...percentiles(t.samples),
    server_statements_per_row: t.statements / t.rows,
    server_notifies_per_row: t.notifies / t.rows,
    // The batch size each caller was told, averaged over callers (rows in
    // bigger batches weigh more than rows per statement does).
    mean_batch_size: t.batchSizes > 0 ? t.batchSizes / t.rows : null,
  };
  console.error(
    `${m.name.padEnd(32)} ${result.rows_per_s.toFixed(0).padStart(7)} rows/s  p50 ${result.p50_us.toFixed(0)} µs  p99 ${result.p99_us.toFixed(0)} µs  ` +
      `${result.server_statements_per_row.toFixed(3)} INSERT statements/row` +
      (result.mean_batch_size === null ? "" : `  mean batchSize ${result.mean_batch_size.toFixed(1)}`),
  );
  return result;
});

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
    cache_ttl_ms: CACHE_TTL_MS,
    results,
    latency,
    identical: { reads: IDENTICAL, sql: COUNT_SQL, param: COUNT_PARAM, ...identical },
    inserts: { callers: CALLERS, seconds: SECONDS, sql: INSERT_SQL, results: insertResults },
    sidecar,
  }),
);
