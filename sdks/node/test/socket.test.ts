import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultSocket } from "../src/index.js";
import { startSidecar } from "./sidecar.js";

const nothing = () => false;

describe("default socket", () => {
  test("follows the sidecar's rule: RUNTIME_DIRECTORY, root, XDG_RUNTIME_DIR, then a per-user temp dir", () => {
    const all = { RUNTIME_DIRECTORY: "/run/svc:/run/other", XDG_RUNTIME_DIR: "/run/user/1000", TMPDIR: "/var/tmp" };
    assert.equal(defaultSocket(all, 0, nothing), "/run/svc/attache.sock");
    assert.equal(defaultSocket(all, 1000, nothing), "/run/svc/attache.sock");
    const { RUNTIME_DIRECTORY: _, ...noRuntime } = all;
    assert.equal(defaultSocket(noRuntime, 0, nothing), "/run/attache/attache.sock");
    assert.equal(defaultSocket(noRuntime, 1000, nothing), "/run/user/1000/attache/attache.sock");
    // A client that is not root finds a root sidecar's socket where it is.
    assert.equal(defaultSocket(noRuntime, 1000, (p) => p === "/run/attache/attache.sock"), "/run/attache/attache.sock");
    assert.equal(defaultSocket({ TMPDIR: "/nonexistent-tmp" }, 1000, nothing), "/nonexistent-tmp/attache-1000/attache.sock");
    assert.equal(defaultSocket({}, 1000, nothing), "/tmp/attache-1000/attache.sock");
  });

  test("empty or relative values count as unset", () => {
    for (const bad of ["", "relative/dir", ":/run/b"]) {
      const env = { RUNTIME_DIRECTORY: bad, XDG_RUNTIME_DIR: bad, TMPDIR: bad };
      assert.equal(defaultSocket(env, 1000, nothing).startsWith("/tmp/attache-1000/"), true, JSON.stringify(env));
    }
  });

  test("a per-user temp dir another user owns or may write is refused", () => {
    const me = process.geteuid!();
    // The temp dir is not used by root (its rule comes first); play nobody.
    const user = me === 0 ? 65534 : me;
    const tmp = mkdtempSync(join(tmpdir(), "attache-node-sock-"));
    const dir = join(tmp, `attache-${user}`);
    const socket = join(dir, "attache.sock");
    assert.equal(defaultSocket({ TMPDIR: tmp }, user, nothing), socket, "a dir not made yet is fine");
    mkdirSync(dir, { mode: 0o750 });
    if (me === 0) chownSync(dir, user, user);
    assert.equal(defaultSocket({ TMPDIR: tmp }, user, nothing), socket);
    chmodSync(dir, 0o770);
    assert.throws(() => defaultSocket({ TMPDIR: tmp }, user, nothing), { code: "unavailable", message: /mode 770/ });

    // A dir this process owns is another user's to a process of another uid.
    const other = mkdtempSync(join(tmpdir(), "attache-node-sock-"));
    const stranger = me === 0 ? 65534 : me + 1;
    mkdirSync(join(other, `attache-${stranger}`), { mode: 0o750 });
    assert.throws(() => defaultSocket({ TMPDIR: other }, stranger, nothing), {
      code: "unavailable",
      message: new RegExp(`owned by uid ${me}, not by this process's uid ${stranger}`),
    });

    const linked = mkdtempSync(join(tmpdir(), "attache-node-sock-"));
    chmodSync(dir, 0o750);
    symlinkSync(dir, join(linked, `attache-${user}`));
    assert.throws(() => defaultSocket({ TMPDIR: linked }, user, nothing), { code: "unavailable", message: /symbolic link/ });
  });

  test("the sidecar and a client with no socket configured meet on the same path", async () => {
    const runtime = mkdtempSync(join(tmpdir(), "attache-node-runtime-"));
    const socket = join(runtime, "attache.sock");
    const sidecar = await startSidecar({ RUNTIME_DIRECTORY: runtime }, { defaultSocket: socket });
    try {
      const script = `import { Attache } from ${JSON.stringify(new URL("../src/index.js", import.meta.url).href)};
        const a = new Attache();
        console.log(JSON.stringify({ socket: a.socket, info: await a.info() }));
        a.close();`;
      const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
        env: { PATH: process.env.PATH ?? "", RUNTIME_DIRECTORY: runtime },
        timeout: 10_000,
      }).toString();
      const reply = JSON.parse(out);
      assert.equal(reply.socket, socket);
      assert.deepEqual(reply.info.modules, ["password", "image", "kafka"]);
    } finally {
      assert.equal(await sidecar.stop(), 0);
    }
  });
});
