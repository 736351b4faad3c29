// Round-trip latency from Node of a trivial unary call through the SDK
// (SidecarService.GetInfo), beside two raw Unix-socket echoes of 32 bytes
// from Node's own socket (the floors): one blocking thread per connection
// and tokio. Each server's CPU per call is read from /proc over its run;
// the servers take turns in rounds so drift falls on all of them alike.
// Usage: node transport.mjs ATTACHE_SOCKET:PID ECHO_SOCKET:PID ECHO_ASYNC_SOCKET:PID N
//   -> JSON on stdout.
import { readFileSync, readdirSync } from "node:fs";
import { connect } from "node:net";
import { Attache } from "@attache/sdk";

const server = (arg) => {
  const at = arg.lastIndexOf(":");
  return { path: arg.slice(0, at), pid: Number(arg.slice(at + 1)) };
};
const [attache, echo, echoAsync] = process.argv.slice(2, 5).map(server);
const n = Number(process.argv[5]);
const ROUNDS = 5;
const perRound = Math.floor(n / ROUNDS);
const warmup = Math.floor(n / 10 / ROUNDS);

/** Nanoseconds `pid` has run on a CPU, all its threads (schedstat). */
function cpuNs(pid) {
  let total = 0n;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += BigInt(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
    } catch {}
  }
  return total;
}

class Run {
  samples = [];
  cpu = 0n;
  async time(pid, call) {
    for (let i = 0; i < warmup; i++) await call();
    const before = cpuNs(pid);
    for (let i = 0; i < perRound; i++) {
      const t = process.hrtime.bigint();
      await call();
      this.samples.push(Number(process.hrtime.bigint() - t));
    }
    this.cpu += cpuNs(pid) - before;
  }
  report() {
    const calls = this.samples.length;
    this.samples.sort((a, b) => a - b);
    const at = (q) => this.samples[Math.round((calls - 1) * q)] / 1000;
    return { p50_us: at(0.5), p99_us: at(0.99), n: calls, server_cpu_us_per_call: Number(this.cpu) / calls / 1000 };
  }
}

async function echoClient(path) {
  const socket = connect(path);
  await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
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
  return {
    call: () =>
      new Promise((resolve) => {
        pending = resolve;
        socket.write(msg);
      }),
    close: () => socket.destroy(),
  };
}

const blocking = await echoClient(echo.path);
const tokio = await echoClient(echoAsync.path);
const client = new Attache({ socket: attache.path });
const [floor, floorTokio, sdk] = [new Run(), new Run(), new Run()];
for (let round = 0; round < ROUNDS; round++) {
  await floor.time(echo.pid, blocking.call);
  await floorTokio.time(echoAsync.pid, tokio.call);
  await sdk.time(attache.pid, () => client.info());
}
blocking.close();
tokio.close();
client.close();
console.log(JSON.stringify({ client: "node", floor: floor.report(), floor_tokio: floorTokio.report(), attache: sdk.report() }));
