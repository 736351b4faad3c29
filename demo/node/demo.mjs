// The Node half of the demo: hashes through attache, verifies, upgrades a
// legacy bcrypt hash, and shows the event loop stays free while 32 hashes run.
import { readFileSync, writeFileSync } from "node:fs";
import bcryptjs from "bcryptjs";
import { Attache, AttacheError } from "@attache/sdk";

const attache = new Attache();
const say = (...a) => console.log("[node]", ...a);
const ms = (t) => `${(performance.now() - t).toFixed(1)} ms`;

let t = performance.now();
const hash = await attache.password.hash("correct horse battery staple");
say(`hash()            -> ${hash} (${ms(t)})`);
say(`verify(right)     ->`, await attache.password.verify("correct horse battery staple", hash));
say(`verify(wrong)     ->`, await attache.password.verify("Tr0ub4dor&3", hash));

const legacy = bcryptjs.hashSync("hunter2", 10);
const check = await attache.password.verify("hunter2", legacy);
say(`legacy bcryptjs hash ${legacy.slice(0, 29)}… ->`, check);
if (check.valid && check.needsRehash) {
  say(`  upgraded to      ${(await attache.password.hash("hunter2")).slice(0, 40)}…`);
}

try {
  await attache.password.hash("x".repeat(100), { algorithm: "bcrypt" });
} catch (err) {
  if (!(err instanceof AttacheError)) throw err;
  say(`bcrypt of 100 bytes -> AttacheError ${err.code}: ${err.message}`);
}

// Event-loop delay as the lateness of a 1 ms timer, measured by the timer
// itself: when bcryptjs starves the timers, monitorEventLoopDelay records
// no samples and would report no delay for a loop blocked for seconds.
async function loopDelayDuring(label, work) {
  const lateness = [];
  let expected = performance.now() + 1;
  const timer = setInterval(() => {
    const now = performance.now();
    lateness.push(Math.max(0, now - expected));
    expected = now + 1;
  }, 1);
  const started = performance.now();
  await work();
  const elapsed = performance.now() - started;
  clearInterval(timer);
  // The wait from the last tick to the end counts too (a loop blocked to
  // the end never ticks again).
  lateness.push(Math.max(0, performance.now() - expected));
  lateness.sort((a, b) => a - b);
  const p99 = lateness[Math.min(lateness.length - 1, Math.floor(lateness.length * 0.99))];
  say(`${label.padEnd(34)} ${elapsed.toFixed(0).padStart(5)} ms, event-loop delay p99 ${p99.toFixed(1)} ms (max ${lateness[lateness.length - 1].toFixed(0)} ms)`);
}
await loopDelayDuring("32 bcrypt-10 hashes via attache", () =>
  Promise.all(Array.from({ length: 32 }, (_, i) => attache.password.hash(`pw${i}`, { algorithm: "bcrypt", bcrypt: { cost: 10 } }))));
await loopDelayDuring("32 bcrypt-10 hashes with bcryptjs", () =>
  Promise.all(Array.from({ length: 32 }, (_, i) => bcryptjs.hash(`pw${i}`, 10))));

// Redis through the sidecar: one pipelined connection and one cache for
// every process on the host, kept correct by Redis invalidation.
await attache.redis.set("demo:user:42:name", "Ada");
t = performance.now();
let read = await attache.redis.doCached(["GET", "demo:user:42:name"]);
say(`redis doCached(GET) -> ${read.value} (cache hit: ${read.cacheHit}, ${ms(t)})`);
t = performance.now();
read = await attache.redis.doCached(["GET", "demo:user:42:name"]);
say(`redis doCached(GET) -> ${read.value} (cache hit: ${read.cacheHit}, ${ms(t)})`);
const orders = await attache.redis.subscribe({ channels: ["demo:orders"] });
await attache.redis.do(["PUBLISH", "demo:orders", "order #1001 paid"]);
for await (const m of orders) {
  say(`redis subscribe(demo:orders) -> "${m.payload}"`);
  break;
}
const counts = await Promise.all(Array.from({ length: 100 }, () => attache.redis.incr("demo:visits")));
say(`redis 100 concurrent incr() -> last ${Math.max(...counts)} (sent as one Batch RPC, one pipelined write)`);

// Images: resized on the sidecar's image threads (shrink-on-load JPEG
// decode, Lanczos3), so the event loop only moves bytes.
const photo = readFileSync(new URL("../../target/images/bench_2725x2225.jpg", import.meta.url));
t = performance.now();
const thumb = await attache.image.resize(photo, { width: 720, height: 588, fit: "cover", quality: 80 });
say(`image.resize(2725x2225 JPEG, 720x588 cover) -> ${thumb.width}x${thumb.height} ${thumb.format}, ${photo.length} -> ${thumb.data.length} bytes (${ms(t)})`);
await loopDelayDuring("16 photo resizes via attache", () =>
  Promise.all(Array.from({ length: 16 }, () => attache.image.resize(photo, { width: 720, height: 588, format: "webp" }))));
try {
  await attache.image.resize(readFileSync(new URL("../../target/images/bomb.png", import.meta.url)), { width: 100 });
} catch (err) {
  if (!(err instanceof AttacheError)) throw err;
  say(`image.resize(3.8 KB PNG bomb) -> AttacheError ${err.code}: ${err.message}`);
}

// Postgres: one pool of connections for every process on the host, a
// response cache that writes through attache keep correct, and inserts from
// many callers merged into one statement.
const pg = attache.postgres;
await pg.query("drop table if exists demo_users");
await pg.query("create table demo_users (id serial primary key, email text not null constraint demo_users_email_key unique, name text)");
await pg.insert("demo_users", { email: "ada@example.com", name: "Ada" });
const byEmail = "select name from demo_users where email = $1";
for (let i = 0; i < 2; i++) {
  t = performance.now();
  const r = await pg.query(byEmail, ["ada@example.com"], { cacheTtlMs: 60_000 });
  say(`postgres query(cacheTtlMs) -> ${r.rows[0].name} (cache ${r.cache.status}${r.cache.status === "hit" ? `, ${r.cache.ageMs} ms old` : ""}, ${ms(t)})`);
}
t = performance.now();
const inserted = await Promise.all(Array.from({ length: 100 }, (_, i) =>
  pg.insert("demo_users", { email: `user${i}@example.com`, name: `User ${i}` }, { returning: ["id"] })));
const sizes = inserted.map((r) => r.batchSize);
say(`postgres 100 concurrent insert() -> ids ${Math.min(...inserted.map((r) => r.row.id))}..${Math.max(...inserted.map((r) => r.row.id))}, merged into statements of up to ${Math.max(...sizes)} rows (${ms(t)})`);
const wave = await Promise.allSettled(Array.from({ length: 10 }, (_, i) =>
  pg.insert("demo_users", { email: i === 5 ? "ada@example.com" : `late${i}@example.com`, name: `Late ${i}` })));
const refused = wave.filter((r) => r.status === "rejected").map((r) => r.reason);
for (const err of refused) {
  say(`postgres 10 more, one a duplicate -> that caller alone gets AttacheError ${err.code} (constraint ${err.constraint}); ${wave.length - refused.length} inserted`);
}
const conns = await pg.query("select count(*) as n from pg_stat_activity where application_name like 'attache%'");
say(`postgres server connections held by attache: ${conns.rows[0].n} (pool of 10, plus its cache channel)`);

// Kafka: a record is acknowledged once it is in attache's spool on this
// host (durable whether or not Kafka is up); attache delivers it, batched,
// and never loses an acknowledged one.
t = performance.now();
const stream = attache.kafka.produceStream();
const sends = [];
for (let batch = 0; batch < 10; batch++) {
  sends.push(stream.send(Array.from({ length: 100 }, (_, i) => {
    const order = batch * 100 + i;
    return { topic: "demo.orders", key: `customer-${order % 7}`, value: JSON.stringify({ order, total: (order % 50) + 1 }) };
  })));
}
const spooled = (await Promise.all(sends)).flat();
stream.close();
say(`kafka produceStream(1000 orders) -> all spooled in ${ms(t)}, each with its attache-id (e.g. ${spooled[0].id})`);
t = performance.now();
const [delivered] = await attache.kafka.produce(
  [{ topic: "demo.orders", key: "customer-0", value: JSON.stringify({ order: 1000, total: 1 }) }], { ack: "delivered" });
say(`kafka produce(ack "delivered") -> Kafka has it at partition ${delivered.partition}, offset ${delivered.offset} (${ms(t)})`);

attache.close();
// Hand the hash to the PHP half of the demo.
if (process.env.DEMO_HASH_FILE) writeFileSync(process.env.DEMO_HASH_FILE, hash);
