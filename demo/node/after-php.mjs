// The last step of the demo: the Node app reads the key PHP rewrote and
// gets the new value; Redis's invalidation reached the shared cache.
import { Attache } from "@attache/sdk";

const attache = new Attache();
let read = await attache.redis.doCached(["GET", "demo:user:42:name"]);
for (let i = 0; i < 50 && String(read.value) !== "Grace"; i++) {
  await new Promise((r) => setTimeout(r, 10));
  read = await attache.redis.doCached(["GET", "demo:user:42:name"]);
}
console.log(`[node] redis doCached(GET) -> ${read.value} (cache hit: ${read.cacheHit}; PHP's write invalidated the old value)`);
// PHP renamed the user through attache: the cached read is gone, and the
// next one reads the new name.
const r = await attache.postgres.query("select name from demo_users where email = $1", ["ada@example.com"], { cacheTtlMs: 60_000 });
console.log(`[node] postgres query(cacheTtlMs) -> ${r.rows[0].name} (cache ${r.cache.status}; PHP's write invalidated the cached row)`);
attache.close();
