// Password hashing from Node, three ways, 64 hashes in flight at a time:
// through attache, in-process pure JS (bcryptjs), and native addons on
// libuv's thread pool (bcrypt, @node-rs/argon2). Reports hashes/s and the
// event-loop delay p99 while they run.
// Usage: node password.mjs ATTACHE_SOCKET ATTACHE_1WORKER_SOCKET  -> JSON.
import { monitorEventLoopDelay } from "node:perf_hooks";
import bcrypt from "bcrypt";
import bcryptjs from "bcryptjs";
import * as argon2 from "@node-rs/argon2";
import { Attache } from "@attache/sdk";

const [socket, oneWorkerSocket] = process.argv.slice(2);
const attache = new Attache({ socket, timeoutMs: 600_000 });
const oneWorker = new Attache({ socket: oneWorkerSocket, timeoutMs: 600_000 });
const CONCURRENCY = 64;
const ARGON2 = { memoryCost: 19456, timeCost: 2, parallelism: 1 };

async function measure(name, total, hashOne) {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  let next = 0;
  const started = performance.now();
  delay.enable();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < total) {
        const i = next++;
        await hashOne(`password-${i}`);
      }
    }),
  );
  delay.disable();
  const seconds = (performance.now() - started) / 1000;
  const result = { name, hashes: total, seconds, hashes_per_s: total / seconds, loop_delay_p99_ms: delay.percentile(99) / 1e6, loop_delay_max_ms: delay.max / 1e6 };
  console.error(`${name.padEnd(40)} ${result.hashes_per_s.toFixed(1).padStart(7)} hashes/s  loop p99 ${result.loop_delay_p99_ms.toFixed(1)} ms`);
  return result;
}

const results = [];
// bcrypt cost 10
results.push(await measure("bcrypt-10 attache (1 worker)", 128, (p) => oneWorker.password.hash(p, { algorithm: "bcrypt", bcrypt: { cost: 10 } })));
results.push(await measure("bcrypt-10 attache", 256, (p) => attache.password.hash(p, { algorithm: "bcrypt", bcrypt: { cost: 10 } })));
results.push(await measure("bcrypt-10 bcryptjs (in-process)", 128, (p) => bcryptjs.hash(p, 10)));
results.push(await measure("bcrypt-10 bcrypt (native, libuv pool)", 256, (p) => bcrypt.hash(p, 10)));
// argon2id, OWASP parameters
results.push(await measure("argon2id attache (1 worker)", 128, (p) => oneWorker.password.hash(p, { algorithm: "argon2id" })));
results.push(await measure("argon2id attache", 256, (p) => attache.password.hash(p, { algorithm: "argon2id" })));
results.push(await measure("argon2id @node-rs/argon2 (libuv pool)", 256, (p) => argon2.hash(p, ARGON2)));

attache.close();
oneWorker.close();
console.log(JSON.stringify({ concurrency: CONCURRENCY, results }));
