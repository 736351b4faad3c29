import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Attache, AttacheError } from "../src/index.js";
import { startSidecar, type Sidecar } from "./sidecar.js";

const root = resolve(fileURLToPath(new URL(".", import.meta.url)), "../../../..");
const python = join(root, "target/interop-venv/bin/python");
const fixtures = join(root, "target/images");

/** Pillow's reading of an output: the independent check. */
function pillowInfo(data: Buffer): { format: string; width: number; height: number; mode: string } {
  const path = join(mkdtempSync(join(tmpdir(), "attache-image-")), "out");
  writeFileSync(path, data);
  return JSON.parse(execFileSync(python, [join(root, "testing/images/check.py"), "info", path], { encoding: "utf8" }));
}

describe("image", () => {
  let sidecar: Sidecar;
  let client: Attache;

  before(async () => {
    execFileSync(python, [join(root, "testing/images/fixtures.py"), fixtures]);
    sidecar = await startSidecar({ ATTACHE_IMAGE_MAX_INPUT_BYTES: "2 MiB" });
    client = new Attache({ socket: sidecar.socket });
  });

  after(async () => {
    client.close();
    assert.equal(await sidecar.stop(), 0);
  });

  test("resize with sharp's option names", async () => {
    const input = readFileSync(join(fixtures, "bench_2725x2225.jpg"));
    const out = await client.image.resize(input, { width: 720, height: 588, fit: "cover", quality: 80 });
    assert.equal(out.width, 720);
    assert.equal(out.height, 588);
    assert.equal(out.format, "jpeg");
    assert.equal(out.inputBytes, input.length);
    assert.equal(out.outputBytes, out.data.length);
    assert.deepEqual(pillowInfo(out.data), { format: "JPEG", width: 720, height: 588, mode: "RGB", orientation: null, icc: false });

    const webp = await client.image.resize(readFileSync(join(fixtures, "alpha.png")), { width: 100, format: "webp", gravity: "entropy" });
    assert.equal(pillowInfo(webp.data).mode, "RGBA");
    const contain = await client.image.resize(input, { width: 300, height: 300, fit: "contain", background: "#00000000", format: "png" });
    assert.deepEqual([contain.width, contain.height, pillowInfo(contain.data).mode], [300, 300, "RGBA"]);
  });

  test("resizeMany and probe", async () => {
    const input = readFileSync(join(fixtures, "orientation_6.jpg"));
    const info = await client.image.probe(input);
    assert.equal(info.orientation, 6);
    assert.deepEqual([info.width, info.height, info.uprightWidth, info.uprightHeight], [300, 451, 451, 300]);
    assert.equal(info.colorSpace, "srgb");
    const outs = await client.image.resizeMany(input, [{ width: 200 }, { width: 64, height: 64, format: "png" }]);
    assert.deepEqual(outs.map((o) => [o.width, o.height, o.format]), [[200, 133, "jpeg"], [64, 64, "png"]]);
  });

  test("errors carry the sidecar's codes", async () => {
    const bomb = readFileSync(join(fixtures, "bomb.png"));
    await assert.rejects(client.image.resize(bomb, { width: 10 }), (e: AttacheError) => e.code === "resource_exhausted" && /max_source_pixels/.test(e.message));
    await assert.rejects(client.image.resize(Buffer.from("nope"), { width: 10 }), (e: AttacheError) => e.code === "invalid_argument");
    const big = readFileSync(join(fixtures, "bench_4000x3000.jpg"));
    await assert.rejects(client.image.resize(big, { width: 10 }), (e: AttacheError) => e.code === "resource_exhausted" && /max_input_bytes/.test(e.message));
    await assert.rejects(client.image.resize(bomb, { format: "avif" }), (e: AttacheError) => e.code === "unimplemented");
    await assert.rejects(client.image.resize(bomb, { fit: "squash" as never }), (e: AttacheError) => e.code === "invalid_argument" && /unknown fit/.test(e.message));
  });
});
