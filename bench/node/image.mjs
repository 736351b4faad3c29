// Image resizing from Node, one (mode, case) per process so peak RSS is
// that run's own: through attache (the SDK; the sidecar's peak RSS is read
// from /proc after resetting it), sharp in-process (libvips on libuv's
// pool), and jimp in-process (pure JS). Reports images/s, latency p50/p99,
// the event-loop delay p99 while the images are processed, and peak RSS.
// Usage: node image.mjs MODE CASE N CONCURRENCY ATTACHE_SOCKET ATTACHE_PID FIXTURES -> one JSON line.
import { readFileSync, writeFileSync } from "node:fs";

const [mode, caseName, n, concurrency, socket, sidecarPid, fixtures] = process.argv.slice(2);
const CASES = {
  // sharp's published benchmark: 2725x2225 JPEG -> 720x588, JPEG q80.
  jpeg_720: { file: "bench_2725x2225.jpg", width: 720, height: 588, format: "jpeg" },
  // A 12 MP photo to a 400x300 thumbnail.
  jpeg_thumb: { file: "bench_4000x3000.jpg", width: 400, height: 300, format: "jpeg" },
  // A PNG with alpha to a 400x300 PNG.
  png_alpha: { file: "bench_alpha_1600x1200.png", width: 400, height: 300, format: "png" },
};
const c = CASES[caseName];
const input = readFileSync(`${fixtures}/${c.file}`);

async function resizer() {
  if (mode === "attache") {
    const { Attache } = await import("@attache/sdk");
    const attache = new Attache({ socket, timeoutMs: 600_000 });
    return [(buf) => attache.image.resize(buf, { width: c.width, height: c.height, fit: "cover", format: c.format, quality: 80 }).then((r) => r.data), () => attache.close()];
  }
  if (mode === "sharp") {
    const sharp = (await import("sharp")).default;
    // Real uploads differ each time: no operation cache.
    sharp.cache(false);
    return [(buf) => {
      const s = sharp(buf).resize(c.width, c.height, { fit: "cover" });
      return (c.format === "jpeg" ? s.jpeg({ quality: 80 }) : s.png()).toBuffer();
    }, () => {}];
  }
  const { Jimp } = await import("jimp");
  return [async (buf) => {
    const img = await Jimp.read(buf);
    img.cover({ w: c.width, h: c.height });
    return img.getBuffer(c.format === "jpeg" ? "image/jpeg" : "image/png", c.format === "jpeg" ? { quality: 80 } : {});
  }, () => {}];
}

function sidecarPeakRss() {
  const status = readFileSync(`/proc/${sidecarPid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)[1]) * 1024;
}

const [resize, close] = await resizer();
await resize(input); // warm-up (loads codecs, fills pools)
if (mode === "attache") writeFileSync(`/proc/${sidecarPid}/clear_refs`, "5"); // reset the sidecar's peak RSS
const total = Number(n);
const latencies = [];
// Event-loop delay: how late a 1 ms timer fires (monitorEventLoopDelay
// misses loops blocked for seconds, as jimp's are).
const lags = [];
let last = performance.now();
const timer = setInterval(() => {
  const now = performance.now();
  lags.push(Math.max(0, now - last - 1));
  last = now;
}, 1);
let next = 0;
let bytesOut = 0;
const started = performance.now();
await Promise.all(
  Array.from({ length: Number(concurrency) }, async () => {
    while (next < total) {
      next++;
      const t = performance.now();
      const out = await resize(input);
      latencies.push(performance.now() - t);
      bytesOut = out.length;
    }
  }),
);
clearInterval(timer);
lags.push(Math.max(0, performance.now() - last - 1));
const seconds = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
lags.sort((a, b) => a - b);
const pctOf = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];
const pct = (p) => pctOf(latencies, p);
const result = {
  mode, case: caseName, images: total, concurrency: Number(concurrency), seconds,
  images_per_s: total / seconds, p50_ms: pct(50), p99_ms: pct(99),
  loop_delay_p99_ms: pctOf(lags, 99),
  loop_delay_max_ms: lags[lags.length - 1],
  node_peak_rss: process.resourceUsage().maxRSS * 1024,
  sidecar_peak_rss: mode === "attache" ? sidecarPeakRss() : null,
  input_bytes: input.length, output_bytes: bytesOut,
};
close();
console.error(`${mode.padEnd(8)} ${caseName.padEnd(11)} ${result.images_per_s.toFixed(1).padStart(7)} img/s  p50 ${result.p50_ms.toFixed(1)} ms  p99 ${result.p99_ms.toFixed(1)} ms  loop p99 ${result.loop_delay_p99_ms.toFixed(1)} ms  rss node ${(result.node_peak_rss / 2 ** 20).toFixed(0)} MiB${result.sidecar_peak_rss ? ` sidecar ${(result.sidecar_peak_rss / 2 ** 20).toFixed(0)} MiB` : ""}`);
console.log(JSON.stringify(result));
