// The last step of the demo, after the PHP, Python and Go apps: the Node app
// reads the key PHP rewrote and gets the new value (Redis's invalidation
// reached the shared cache, and the Python app's read cached it again), the
// row PHP renamed, and, from the billing group PHP drained, exactly the
// order the Go app placed. Exits 1 when one of them is not what it should be.
import { Attache } from "@attache/sdk";

const attache = new Attache();
const fail = (what) => {
  console.error(`[node] FAILED: ${what}`);
  process.exit(1);
};

let read = await attache.redis.doCached(["GET", "demo:user:42:name"]);
for (let i = 0; i < 50 && String(read.value) !== "Grace"; i++) {
  await new Promise((r) => setTimeout(r, 10));
  read = await attache.redis.doCached(["GET", "demo:user:42:name"]);
}
console.log(`[node] redis doCached(GET) -> ${read.value} (cache hit: ${read.cacheHit}; PHP's write invalidated Ada, Python's read cached Grace)`);
if (String(read.value) !== "Grace") fail(`expected the name PHP wrote, Grace, got ${read.value}`);
// PHP renamed the user through attache: the cached read is gone, and the
// next one reads the new name.
const r = await attache.postgres.query("select name from demo_users where email = $1", ["ada@example.com"], { cacheTtlMs: 60_000 });
console.log(`[node] postgres query(cacheTtlMs) -> ${r.rows[0].name} (cache ${r.cache.status}; PHP's write invalidated the cached row)`);
if (r.rows[0].name !== "Ada Lovelace") fail(`expected the name PHP set, Ada Lovelace, got ${r.rows[0].name}`);
// PHP committed all 1001 orders of the group: what is left is the Go app's.
const t = performance.now();
const lease = await attache.kafka.fetch({ group: "demo-billing", topics: ["demo.orders"], maxWaitMs: 10_000 });
const orders = lease.records.map((rec) => `order #${JSON.parse(rec.text()).order} for ${rec.key}`).join(", ") || "nothing";
console.log(`[node] kafka fetch(demo-billing) -> ${orders}, the Go app's (${(performance.now() - t).toFixed(1)} ms; PHP committed the other 1001)`);
const goOrder = process.env.DEMO_ORDER_ID;
if (lease.records.length !== 1 || (goOrder && lease.records[0].id !== goOrder)) {
  fail(`expected only the Go app's order ${goOrder ?? ""}, got ${lease.records.map((rec) => rec.id).join(", ") || "none"}`);
}
await lease.commit();
attache.close();
