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
attache.close();
