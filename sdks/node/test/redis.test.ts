import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Attache, AttacheError, RedisReplyError } from "../src/index.js";
import { startSidecar, type Sidecar } from "./sidecar.js";

const scripts = resolve(fileURLToPath(new URL(".", import.meta.url)), "../../../../testing/redis");

describe("redis", () => {
  let sidecar: Sidecar;
  let client: Attache;
  let redisDir: string;
  let port: string;
  const cli = (...args: string[]) => execFileSync("redis-cli", ["-p", port, ...args], { encoding: "utf8" }).trim();

  before(async () => {
    redisDir = mkdtempSync(join(tmpdir(), "attache-node-redis-"));
    const url = execFileSync(join(scripts, "start"), [redisDir], { encoding: "utf8" }).trim();
    port = url.split(":")[2].split("/")[0];
    sidecar = await startSidecar({ ATTACHE_REDIS_URL: url });
    client = new Attache({ socket: sidecar.socket });
    for (let i = 0; ; i++) {
      try {
        await client.redis.do(["PING"]);
        break;
      } catch (err) {
        if (i > 200) throw err;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  });

  after(async () => {
    client.close();
    assert.equal(await sidecar.stop(), 0);
    execFileSync(join(scripts, "stop"), [redisDir]);
  });

  test("helpers and do speak RESP3 values", async () => {
    assert.equal(await client.redis.set("greeting", "héllo"), true);
    assert.equal(await client.redis.set("greeting", "x", { nx: true }), false);
    assert.equal(await client.redis.get("greeting"), "héllo");
    assert.equal(cli("GET", "greeting"), "héllo");
    assert.equal(await client.redis.incr("n"), 1);
    assert.equal(await client.redis.expire("n", 100), true);
    assert.equal(await client.redis.hset("h", { a: "1", b: 2 }), 2);
    assert.equal(await client.redis.hget("h", "b"), "2");
    assert.deepEqual(await client.redis.hgetall("h"), { a: "1", b: "2" });
    assert.deepEqual(await client.redis.mget(["greeting", "missing"]), ["héllo", null]);
    assert.equal(await client.redis.del(["greeting", "n", "h"]), 3);
    const binary = Buffer.from([0, 255, 13, 10]);
    await client.redis.do(["SET", "bin", binary]);
    assert.deepEqual(await client.redis.do(["GET", "bin"]), binary);
    await assert.rejects(client.redis.do(["INCR", "bin"]), (e) => e instanceof RedisReplyError && /not an integer/.test(e.message));
    const replies = await client.redis.doMulti([["SET", "t", "1"], ["INCR", "bin"], ["MULTI"], ["INCR", "t"], ["EXEC"]]);
    assert.equal(replies[0], "OK");
    assert.ok(replies[1] instanceof RedisReplyError);
    assert.deepEqual(replies[4], [2]);
  });

  test("doCached serves hits and sees writes from other clients", async () => {
    cli("SET", "user:1", "alice");
    assert.deepEqual(await client.redis.doCached(["GET", "user:1"], { ttlMs: 60_000 }), { value: Buffer.from("alice"), cacheHit: false });
    assert.equal((await client.redis.doCached(["GET", "user:1"])).cacheHit, true);
    cli("SET", "user:1", "bob");
    let value: string | null = null;
    for (let i = 0; i < 100 && value !== "bob"; i++) value = await client.redis.getCached("user:1");
    assert.equal(value, "bob");
    const many = await client.redis.mgetCached(["user:1", "nobody"]);
    assert.deepEqual(many.values, [Buffer.from("bob"), null]);
    assert.equal(many.cacheHits, 1);
  });

  test("bad input gets invalid_argument", async () => {
    await assert.rejects(client.redis.doCached(["SET", "k", "v"]), (e) => e instanceof AttacheError && e.code === "invalid_argument" && /not cacheable/.test(e.message));
    await assert.rejects(client.redis.do([]), (e) => e instanceof AttacheError && e.code === "invalid_argument");
    await assert.rejects(client.redis.do(["SUBSCRIBE", "c"]), (e) => e instanceof AttacheError && /Subscribe RPC/.test(e.message));
  });

  test("calls in the same tick share a batch, each with its own outcome", async () => {
    cli("CONFIG", "RESETSTAT");
    const incrs = await Promise.all(Array.from({ length: 300 }, () => client.redis.incr("batched")));
    assert.deepEqual([...incrs].sort((a, b) => a - b), Array.from({ length: 300 }, (_, i) => i + 1));
    const [ok, refused, replyError, cachedGet] = await Promise.allSettled([
      client.redis.do(["SET", "batched:k", "v"]),
      client.redis.doCached(["SET", "batched:k", "w"]),
      client.redis.do(["HGET", "batched:k", "f"]),
      client.redis.doCached(["GET", "batched"]),
    ]);
    assert.deepEqual(ok, { status: "fulfilled", value: "OK" });
    assert.ok(refused.status === "rejected" && refused.reason instanceof AttacheError && refused.reason.code === "invalid_argument");
    assert.ok(replyError.status === "rejected" && replyError.reason instanceof RedisReplyError && /WRONGTYPE/.test(replyError.reason.message));
    assert.deepEqual(cachedGet, { status: "fulfilled", value: { value: Buffer.from("300"), cacheHit: false } });
    assert.equal(cli("GET", "batched:k"), "v");
    // 300 INCRs crossed the socket in a few Batch RPCs, not 300 calls.
    assert.match(cli("INFO", "commandstats"), /cmdstat_incr:calls=300,/);
  });

  test("subscribe receives messages and unsubscribes on close", async () => {
    const a = await client.redis.subscribe({ channels: ["events"] });
    const b = await client.redis.subscribe({ patterns: ["ev*"] });
    assert.equal(cli("PUBSUB", "NUMSUB", "events"), "events\n1");
    assert.equal(await client.redis.do(["PUBLISH", "events", "one"]), 2);
    cli("PUBLISH", "events", "two");
    const got: string[] = [];
    for await (const m of a) {
      got.push(m.payload.toString());
      if (got.length === 2) break;
    }
    assert.deepEqual(got, ["one", "two"]);
    const first = await b[Symbol.asyncIterator]().next();
    assert.deepEqual(first.value, { channel: "events", pattern: "ev*", payload: Buffer.from("one") });
    b.close();
    for (let i = 0; i < 100 && cli("PUBSUB", "NUMPAT") !== "0"; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(cli("PUBSUB", "NUMPAT"), "0");
    assert.equal(cli("PUBSUB", "NUMSUB", "events"), "events\n0");
  });
});
