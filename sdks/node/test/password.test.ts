import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import bcryptjs from "bcryptjs";
import { Attache, AttacheError } from "../src/index.js";
import { startSidecar, type Sidecar } from "./sidecar.js";

describe("password", () => {
  let sidecar: Sidecar;
  let client: Attache;

  before(async () => {
    sidecar = await startSidecar({
      ATTACHE_PASSWORD_ARGON2_MEMORY_KIB: "1024",
      ATTACHE_PASSWORD_ARGON2_ITERATIONS: "1",
      ATTACHE_PASSWORD_BCRYPT_COST: "4",
    });
    client = new Attache({ socket: sidecar.socket });
  });

  after(async () => {
    client.close();
    assert.equal(await sidecar.stop(), 0, "attache exits 0 on SIGTERM");
  });

  test("info reports the version and modules", async () => {
    const info = await client.info();
    assert.match(info.version, /^\d+\.\d+\.\d+/);
    assert.deepEqual(info.modules, ["password", "image", "kafka"]);
  });

  test("hash and verify round trip with the configured policy", async () => {
    const hash = await client.password.hash("correct horse");
    assert.match(hash, /^\$argon2id\$v=19\$m=1024,t=1,p=1\$/);
    assert.deepEqual(await client.password.verify("correct horse", hash), { valid: true, needsRehash: false });
    assert.deepEqual(await client.password.verify("wrong horse", hash), { valid: false, needsRehash: false });
  });

  test("bcrypt hashes interoperate with bcryptjs both ways", async () => {
    const ours = await client.password.hash("pässwörd", { algorithm: "bcrypt" });
    assert.match(ours, /^\$2b\$04\$/);
    assert.equal(bcryptjs.compareSync("pässwörd", ours), true);
    const theirs = bcryptjs.hashSync("pässwörd", 4);
    assert.deepEqual(await client.password.verify("pässwörd", theirs), { valid: true, needsRehash: true });
  });

  test("per-call cost overrides reach the sidecar", async () => {
    const hash = await client.password.hash("x", { algorithm: "scrypt", scrypt: { logN: 5 } });
    assert.match(hash, /^\$scrypt\$ln=5,r=8,p=1\$/);
  });

  test("bad input rejects with a typed AttacheError", async () => {
    await assert.rejects(client.password.verify("x", "not-a-hash"), (err: unknown) => {
      assert.ok(err instanceof AttacheError);
      assert.equal(err.code, "invalid_argument");
      assert.equal(err.grpcCode, 3);
      assert.match(err.message, /not in a recognised form/);
      assert.equal(err.isRetryable, false);
      return true;
    });
    await assert.rejects(client.password.hash("x".repeat(73), { algorithm: "bcrypt" }), { code: "invalid_argument", message: /72 bytes/ });
  });

  test("deadlines map to deadline_exceeded", async () => {
    await assert.rejects(client.password.hash("slow", { algorithm: "bcrypt", bcrypt: { cost: 14 }, timeoutMs: 20 }), { code: "deadline_exceeded" });
  });

  test("many concurrent calls share one connection and each gets its own answer", async () => {
    const passwords = Array.from({ length: 32 }, (_, i) => `pw-${i}`);
    const hashes = await Promise.all(passwords.map((p) => client.password.hash(p, { algorithm: "bcrypt" })));
    const checks = await Promise.all(hashes.map((h, i) => client.password.verify(passwords[(i + 1) % passwords.length], h)));
    assert.ok(checks.every((c) => !c.valid));
    const own = await Promise.all(hashes.map((h, i) => client.password.verify(passwords[i], h)));
    assert.ok(own.every((c) => c.valid));
  });
});

describe("connection", () => {
  test("idle connections do not keep the process alive", async () => {
    const sidecar = await startSidecar();
    try {
      const script = `import { Attache } from ${JSON.stringify(new URL("../src/index.js", import.meta.url).href)};
        const a = new Attache({ socket: ${JSON.stringify(sidecar.socket)} });
        console.log(JSON.stringify(await a.info()));`;
      const started = Date.now();
      const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { timeout: 10_000 }).toString();
      assert.match(out, /"modules":\["password","image","kafka"\]/);
      assert.ok(Date.now() - started < 5_000, `the script took ${Date.now() - started} ms to exit`);
    } finally {
      await sidecar.stop();
    }
  });

  test("a sidecar that is not running is unavailable, after retries", async () => {
    const client = new Attache({ socket: "/nonexistent/attache.sock", timeoutMs: 500 });
    await assert.rejects(client.password.hash("x"), { code: "unavailable" });
    client.close();
  });
});
