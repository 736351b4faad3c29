// Round-trip latency from Node: raw Unix-socket echo (the floor) and a
// trivial unary RPC through the SDK (SidecarService.GetInfo over gRPC).
// Usage: node transport.mjs ATTACHE_SOCKET ECHO_SOCKET N  -> JSON on stdout.
import { connect } from "node:net";
import { Attache } from "@attache/sdk";

const [attacheSocket, echoSocket, nArg] = process.argv.slice(2);
const n = Number(nArg);
const warmup = Math.floor(n / 10);

function percentiles(samples) {
  samples.sort((a, b) => a - b);
  const at = (q) => samples[Math.round((samples.length - 1) * q)] / 1000;
  return { p50_us: at(0.5), p99_us: at(0.99), n: samples.length };
}

async function floor() {
  const socket = connect(echoSocket);
  await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  socket.setNoDelay?.(true);
  const msg = Buffer.alloc(32, 7);
  let pending;
  let received = 0;
  socket.on("data", (chunk) => {
    received += chunk.length;
    if (received >= 32) {
      received -= 32;
      pending();
    }
  });
  const samples = [];
  for (let i = 0; i < n + warmup; i++) {
    const t = process.hrtime.bigint();
    await new Promise((resolve) => {
      pending = resolve;
      socket.write(msg);
    });
    if (i >= warmup) samples.push(Number(process.hrtime.bigint() - t));
  }
  socket.destroy();
  return percentiles(samples);
}

async function sdk() {
  const client = new Attache({ socket: attacheSocket });
  const samples = [];
  for (let i = 0; i < n + warmup; i++) {
    const t = process.hrtime.bigint();
    await client.info();
    if (i >= warmup) samples.push(Number(process.hrtime.bigint() - t));
  }
  client.close();
  return percentiles(samples);
}

console.log(JSON.stringify({ client: "node", floor: await floor(), attache: await sdk() }));
