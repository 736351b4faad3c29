// Soak: mixed overload from many callers against one sidecar for a while,
// with the sidecar's RSS sampled every second. Callers: image resizes,
// password hashes, Redis reads and writes (single, cached, Batch of
// cached reads of large values), pub/sub subscribers (one that never
// reads), callers that ask for large values and never read the answer,
// uploads held one byte short, and over-limit uploads. Every call's outcome
// is counted by code; a normal call must always be answered.
// Usage: node soak.mjs SOCKET SIDECAR_PID REDIS_CLI_PORT FIXTURES SECONDS [IDLE_SECONDS] -> one JSON line.
import { readFileSync } from "node:fs";
import net from "node:net";
import { execFileSync } from "node:child_process";
import { Attache, AttacheError } from "@attache/sdk";

const [socket, pid, redisPort, fixtures, seconds, idleSeconds = "15"] = process.argv.slice(2);
const until = Date.now() + Number(seconds) * 1000;
const attache = new Attache({ socket, timeoutMs: 30_000 });
const photo = readFileSync(`${fixtures}/bench_2725x2225.jpg`);

function rss() {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) * 1024;
}

const outcomes = {};
const count = (kind, code) => {
  const key = `${kind}:${code}`;
  outcomes[key] = (outcomes[key] ?? 0) + 1;
};
async function loop(kind, concurrency, call) {
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < until) {
      try {
        await call();
        count(kind, "ok");
      } catch (err) {
        count(kind, err instanceof AttacheError ? err.code : `js:${err.code ?? err.message}`);
        if (!(err instanceof AttacheError)) await new Promise((r) => setTimeout(r, 50));
      }
    }
  }));
}

// A 1 MiB and a 10 MiB value, set behind the sidecar's back.
const cli = (...args) => execFileSync("redis-cli", ["-p", redisPort, ...args]).toString();
cli("EVAL", "redis.call('SET', 'soak:1m', string.rep('m', 1048576)) redis.call('SET', 'soak:10m', string.rep('x', 10485760))", "0");

// Raw HTTP/1.1 callers that misbehave.
function rawRequest(procedure, contentType, body, { send = true, read = true, holdMs = 2000 } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(socket);
    const head = `POST /${procedure} HTTP/1.1\r\nHost: localhost\r\nContent-Type: ${contentType}\r\nContent-Length: ${body.length}\r\n\r\n`;
    s.on("error", () => resolve("reset"));
    s.on("close", () => resolve("closed"));
    if (!read) s.pause();
    s.write(head);
    if (send) s.write(body);
    else s.write(body.subarray(0, body.length - 1));
    setTimeout(() => { s.destroy(); resolve("held"); }, holdMs);
  });
}
const slowReaders = async () => {
  while (Date.now() < until) {
    count("slow-reader", await rawRequest("attache.redis.v1.RedisService/Do", "application/json", Buffer.from('{"args":["R0VU","c29hazoxMG0="]}'), { read: false, holdMs: 5000 }));
  }
};
const heldUploads = async () => {
  const body = Buffer.alloc(3 * 1024 * 1024);
  while (Date.now() < until) {
    count("held-upload", await rawRequest("attache.image.v1.ImageService/Probe", "application/proto", body, { send: false, holdMs: 3000 }));
  }
};

const samples = [];
const sampler = setInterval(() => samples.push(rss()), 1000);
const started = Date.now();

// Subscribers: nine that read and one that never does.
const subscribers = [];
for (let i = 0; i < 9; i++) {
  const sub = await attache.redis.subscribe({ channels: ["soak:news"] });
  subscribers.push((async () => {
    try {
      for await (const _ of sub) count("subscriber", "message");
    } catch (err) {
      count("subscriber", err instanceof AttacheError ? err.code : "js");
    }
  })());
}
const subscribeJson = Buffer.from('{"channels":["soak:news"]}');
const envelope = Buffer.alloc(5);
envelope.writeUInt32BE(subscribeJson.length, 1);
const stuck = rawRequest("attache.redis.v1.RedisService/Subscribe", "application/connect+json", Buffer.concat([envelope, subscribeJson]), { read: false, holdMs: Number(seconds) * 1000 });

const big = Array.from({ length: 64 }, () => "soak:1m");
await Promise.all([
  loop("image", 6, () => attache.image.resize(photo, { width: 720, height: 588, fit: "cover", format: "jpeg" })),
  loop("password", 6, () => attache.password.hash("correct horse battery staple")),
  loop("redis-get", 32, () => attache.redis.getCached(`soak:k${Math.floor(Math.random() * 1000)}`)),
  loop("redis-set", 4, () => attache.redis.set(`soak:k${Math.floor(Math.random() * 1000)}`, "v".repeat(100))),
  loop("redis-batch-big", 2, () => Promise.all(big.map((k) => attache.redis.getCached(k)))),
  loop("publish", 1, async () => { await attache.redis.do(["PUBLISH", "soak:news", "x".repeat(1000)]); await new Promise((r) => setTimeout(r, 5)); }),
  loop("oversized", 1, async () => { await attache.image.resize(Buffer.alloc(40 * 1024 * 1024), { width: 10 }); }),
  slowReaders(),
  slowReaders(),
  heldUploads(),
  heldUploads(),
  heldUploads(),
]);
const loaded = Date.now() - started;
await stuck;
attache.close();
// Idle: what the sidecar gives back once the load is gone.
await new Promise((r) => setTimeout(r, Number(idleSeconds) * 1000));
clearInterval(sampler);
const final = rss();
console.log(JSON.stringify({
  seconds: loaded / 1000,
  peak_rss: Math.max(...samples),
  final_rss: final,
  rss_samples: samples,
  outcomes,
}));
process.exit(0);
