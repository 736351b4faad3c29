// Kafka end to end: the real attache binary, real Apache Kafka brokers
// (testing/kafka/), and kcat as the independent client that reads back
// what attache produced.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import {
  Attache,
  AttacheError,
  type ConsumedMessage,
  type ConsumedRecord,
  type KafkaConsumer,
  type KafkaLease,
  type KafkaRecord,
  type ProduceResult,
  type TopicPartition,
} from "../src/index.js";
import { startSidecar, type Sidecar } from "./sidecar.js";

const scripts = resolve(fileURLToPath(new URL(".", import.meta.url)), "../../../../testing/kafka");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A throwaway broker, killed with this process if nothing stops it. */
class Broker {
  readonly dir = mkdtempSync(join(tmpdir(), "attache-node-kafka-"));
  bootstrap = "";

  constructor(private readonly autoCreate: boolean) {}

  start(): this {
    const env = { ...process.env, KAFKA_AUTO_CREATE: String(this.autoCreate), KAFKA_PARENT_PID: String(process.pid) };
    this.bootstrap = execFileSync(join(scripts, "start"), [this.dir], { env, encoding: "utf8" }).trim();
    return this;
  }

  stop(): void {
    execFileSync(join(scripts, "stop"), [this.dir]);
  }

  remove(): void {
    this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Makes `topic` exist (asking for its metadata auto-creates it) and waits until all its partitions have leaders. */
  async createTopic(topic: string): Promise<void> {
    assert.ok(this.autoCreate, "only a broker with auto-create makes topics here");
    for (let i = 0; ; i++) {
      const out = execFileSync("kcat", ["-b", this.bootstrap, "-L", "-t", topic, "-J"], { encoding: "utf8" });
      const meta = JSON.parse(out) as { topics: Array<{ topic: string; err?: string; partitions: Array<{ leader: number }> }> };
      const t = meta.topics.find((x) => x.topic === topic);
      if (t && !t.err && t.partitions.length === 3 && t.partitions.every((p) => p.leader >= 0)) return;
      if (i > 100) throw new Error(`topic ${topic} never became available: ${out}`);
      await sleep(100);
    }
  }

  /** Every record in `topic` now, read by kcat from the beginning. */
  read(topic: string): Read[] {
    const out = execFileSync("kcat", ["-C", "-b", this.bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-J"], { encoding: "utf8" });
    return out
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => {
        const v = JSON.parse(l) as { partition: number; offset: number; ts: number; key: string | null; payload: string | null; headers?: (string | null)[] };
        const headers: Array<[string, string | null]> = [];
        for (let i = 0; v.headers && i < v.headers.length; i += 2) headers.push([v.headers[i]!, v.headers[i + 1]]);
        return { partition: v.partition, offset: v.offset, ts: v.ts, key: v.key, value: v.payload, headers, id: headers.find(([k]) => k === "attache-id")?.[1] ?? "" };
      });
  }

  /** Reads `topic` until it holds at least `count` records or `timeoutMs` passes; returns what it holds. */
  async waitFor(topic: string, count: number, timeoutMs = 30_000): Promise<Read[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const records = this.read(topic);
      if (records.length >= count || Date.now() > deadline) return records;
      await sleep(200);
    }
  }
}

interface Read {
  partition: number;
  offset: number;
  ts: number;
  key: string | null;
  value: string | null;
  headers: Array<[string, string | null]>;
  id: string;
}

/** A socket path in a fresh directory (removed after the tests) where no sidecar runs yet. */
const scratch: string[] = [];
function scratchSocket(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `attache-node-${name}-`));
  scratch.push(dir);
  return join(dir, "attache.sock");
}

const topicName = (prefix: string) => `${prefix}-${randomBytes(6).toString("hex")}`;

function kafkaSidecar(broker: Broker, env: Record<string, string> = {}, options: { socket?: string } = {}): Promise<Sidecar> {
  return startSidecar({ ATTACHE_KAFKA_BROKERS: broker.bootstrap, ATTACHE_KAFKA_PRODUCER_UNKNOWN_TOPIC_TIMEOUT: "2s", ...env }, options);
}

/** A pino logger shipping to `topic` through the transport under test. */
function pinoLogger(options: Record<string, unknown>) {
  // Resolved as an app would: the package's own `@attache/sdk/pino` export.
  const transport = pino.transport({ target: "@attache/sdk/pino", options: { retryMaxMs: 200, ...options } });
  return { transport, logger: pino(transport) };
}

async function ready(transport: ReturnType<typeof pino.transport>): Promise<void> {
  await new Promise((resolve) => transport.once("ready", resolve));
}

/** The JSON log lines read back, parsed. */
function logLines(records: Read[]): Array<{ level: number; msg: string; i?: number; droppedLines?: number }> {
  return records.map((r) => JSON.parse(r.value!));
}

/**
 * Produces `values` with kcat (the independent client) to `partition` of
 * `topic`, in order, each keyed `key` if given; `null` is a null value.
 * `headers` go on every record (`null`: a header without a value).
 */
function kcatProduce(
  broker: Broker,
  topic: string,
  partition: number,
  values: ReadonlyArray<string | null>,
  options: { key?: string; headers?: Record<string, string | null> } = {},
): void {
  const args = ["-P", "-b", broker.bootstrap, "-t", topic, "-p", String(partition), "-Z"];
  for (const [k, v] of Object.entries(options.headers ?? {})) args.push("-H", v === null ? k : `${k}=${v}`);
  if (options.key !== undefined) args.push("-K", "\t");
  const lines = values.map((v) => (options.key !== undefined ? `${options.key}\t${v ?? ""}` : (v ?? "")));
  execFileSync("kcat", args, { input: lines.join("\n") + "\n" });
}

const TIMED_OUT = Symbol("timed out");

/**
 * Reads a consumer with deadlines. A read that timed out stays pending
 * (the consumer's `next()` cannot be taken back) and gives its record to
 * the next read, so nothing read is lost.
 */
class Reader {
  private pending: Promise<IteratorResult<ConsumedMessage, undefined>> | undefined;

  constructor(readonly consumer: KafkaConsumer) {}

  /** The next result, or undefined if none came within `ms`. */
  async next(ms: number): Promise<IteratorResult<ConsumedMessage, undefined> | undefined> {
    this.pending ??= this.consumer.next();
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([this.pending, new Promise<typeof TIMED_OUT>((r) => (timer = setTimeout(() => r(TIMED_OUT), ms)))]);
      if (result === TIMED_OUT) return undefined;
      this.pending = undefined;
      return result;
    } catch (err) {
      this.pending = undefined;
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Exactly `n` records, within `ms` in all. */
  async take(n: number, ms = 30_000): Promise<ConsumedMessage[]> {
    const deadline = Date.now() + ms;
    const out: ConsumedMessage[] = [];
    while (out.length < n) {
      const result = await this.next(Math.max(1, deadline - Date.now()));
      assert.ok(result, `${out.length} of ${n} records came within ${ms} ms: ${JSON.stringify(out.map(where))}`);
      assert.ok(!result.done, `the consumer ended after ${out.length} of ${n} records`);
      out.push(result.value);
    }
    return out;
  }

  /** Asserts that no record comes within `ms`. */
  async quiet(ms: number, why: string): Promise<void> {
    const result = await this.next(ms);
    assert.equal(result, undefined, `${why}; came: ${result && !result.done ? where(result.value) : "the end"}`);
  }
}

/** A record's place and value, for comparing and messages: "p/offset=value". */
const where = (m: ConsumedRecord) => `${m.partition}/${m.offset}=${m.text()}`;

/** Waits until `condition` holds, polling, or fails after `ms` with `why`. */
async function until(condition: () => boolean, why: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    assert.ok(Date.now() < deadline, `not within ${ms} ms: ${why}`);
    await sleep(50);
  }
}

/** Partitions as sorted numbers (one topic). */
const numbers = (partitions: readonly TopicPartition[]) => partitions.map((p) => p.partition).sort((a, b) => a - b);

describe("kafka", () => {
  let broker: Broker;
  let sidecar: Sidecar;
  let client: Attache;

  before(async () => {
    execFileSync(join(scripts, "install"), { stdio: "inherit" });
    broker = new Broker(true).start();
    sidecar = await kafkaSidecar(broker);
    client = new Attache({ socket: sidecar.socket });
  });

  after(async () => {
    client?.close();
    if (sidecar) assert.equal(await sidecar.stop(), 0);
    broker?.remove();
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  });

  test("produce: keys, values, null values, headers and timestamps arrive as sent, each with a unique attache-id", async () => {
    const topic = topicName("round-trip");
    await broker.createTopic(topic);
    const results = await client.kafka.produce([
      { topic, key: "user-1", value: "héllo", headers: { trace: "abc", flag: null, skipped: undefined } },
      { topic, key: Buffer.from("user-2"), value: new TextEncoder().encode("bytes"), headers: [["dup", "1"], ["dup", Buffer.from("2")]] },
      { topic, key: "user-3", value: null, timestamp: new Date(1_700_000_000_000) },
      { topic, value: "no key", timestamp: 1_700_000_000_123 },
    ]);
    assert.equal(results.length, 4);
    for (const r of results) assert.deepEqual(Object.keys(r), ["id"], "a spooled ack has an id and nothing else");
    assert.equal(new Set(results.map((r) => r.id)).size, 4, "ids are unique");

    const read = await broker.waitFor(topic, 4);
    assert.equal(read.length, 4);
    const byId = new Map(read.map((r) => [r.id, r]));
    const [a, b, c, d] = results.map((r) => byId.get(r.id)!);
    assert.ok(a && b && c && d, "every record carries its result's attache-id");
    assert.deepEqual([a.key, a.value], ["user-1", "héllo"]);
    assert.deepEqual(a.headers, [["trace", "abc"], ["flag", null], ["attache-id", results[0].id]]);
    assert.deepEqual([b.key, b.value], ["user-2", "bytes"]);
    assert.deepEqual(b.headers.slice(0, 2), [["dup", "1"], ["dup", "2"]]);
    assert.deepEqual([c.key, c.value, c.ts], ["user-3", null, 1_700_000_000_000]);
    assert.deepEqual([d.key, d.value, d.ts], [null, "no key", 1_700_000_000_123]);
  });

  test("ack delivered gives the partition and offset kcat finds each record at", async () => {
    const topic = topicName("delivered");
    await broker.createTopic(topic);
    const records: KafkaRecord[] = Array.from({ length: 12 }, (_, i) => ({ topic, key: `k${i % 4}`, value: `v${i}` }));
    records.push({ topic, key: "k0", value: "pinned", partition: 2 });
    const results = await client.kafka.produce(records, { ack: "delivered" });
    assert.equal(results.length, 13);
    assert.equal(results[12].partition, 2, "an explicit partition is kept");
    const read = broker.read(topic);
    assert.equal(read.length, 13, "delivered means kcat can read them at once");
    results.forEach((r, i) => {
      assert.equal(r.error, undefined);
      assert.equal(typeof r.partition, "number");
      assert.equal(typeof r.offset, "number");
      const at = read.find((x) => x.partition === r.partition && x.offset === r.offset);
      assert.ok(at, `kcat has a record at ${r.partition}/${r.offset}`);
      assert.equal(at.id, r.id);
      assert.equal(at.value, records[i].value);
    });
    // Java's partitioner: one key, one partition.
    for (let k = 0; k < 4; k++) assert.equal(new Set(results.filter((_, i) => i < 12 && i % 4 === k).map((r) => r.partition)).size, 1);
  });

  test("a bad record rejects the whole call with invalid_argument naming its field, and nothing is spooled", async () => {
    const topic = topicName("bad");
    await broker.createTopic(topic);
    const fine = { topic, value: "must not arrive" };
    await assert.rejects(client.kafka.produce([fine, fine, { topic: "bad topic!", value: "x" }]), (e: unknown) => {
      assert.ok(e instanceof AttacheError);
      assert.equal(e.code, "invalid_argument");
      assert.match(e.message, /^records\[2\]\.topic: /);
      assert.equal(e.metadata.field, "records[2].topic");
      return true;
    });
    await assert.rejects(client.kafka.produce([fine, { topic, headers: { "attache-id": "mine" } }]), { code: "invalid_argument", message: /^records\[1\]\.headers/ });
    // Checked before sending: the wrong JS types.
    await assert.rejects(client.kafka.produce([fine, { topic, value: 42 as unknown as string }]), { code: "invalid_argument", message: /^records\[1\]\.value: must be a string, a Uint8Array or null, not number/ });
    await assert.rejects(client.kafka.produce([fine], { ack: "eventually" as "spooled" }), { code: "invalid_argument", message: /^ack: / });
    const [marker] = await client.kafka.produce([{ topic, value: "marker" }], { ack: "delivered" });
    await sleep(500);
    assert.deepEqual(
      broker.read(topic).map((r) => [r.id, r.value]),
      [[marker.id, "marker"]],
      "a refused call spooled none of its records",
    );
  });

  test("an unknown topic is a per-record not_found with ack delivered", async () => {
    const strict = new Broker(false).start();
    const other = await kafkaSidecar(strict);
    const c = new Attache({ socket: other.socket });
    try {
      const started = Date.now();
      const results = await c.kafka.produce(
        [
          { topic: topicName("missing"), value: "a" },
          { topic: topicName("missing"), value: "b" },
        ],
        { ack: "delivered" },
      );
      assert.equal(results.length, 2);
      for (const r of results) {
        assert.ok(r.error instanceof AttacheError, "the result carries the error");
        assert.equal(r.error.code, "not_found");
        assert.equal(r.partition, undefined);
        assert.equal(r.offset, undefined);
        assert.match(r.id, /./);
      }
      assert.ok(Date.now() - started >= 1500, "refused only after unknown_topic_timeout (2 s here)");
    } finally {
      c.close();
      assert.equal(await other.stop(), 0);
      strict.remove();
    }
  });

  test("produceStream: many pipelined sends are answered in order, and each key keeps its order in Kafka", async () => {
    const topic = topicName("stream");
    await broker.createTopic(topic);
    const stream = client.kafka.produceStream();
    const order: number[] = [];
    const sends: Promise<ProduceResult[]>[] = [];
    for (let n = 0; n < 200; n++) {
      const records = Array.from({ length: 5 }, (_, k) => ({ topic, key: `k${k}`, value: String(n) }));
      const send = stream.send(records, { ack: n % 25 === 24 ? "delivered" : "spooled" });
      void send.then(() => order.push(n));
      sends.push(send);
    }
    const answers = await Promise.all(sends);
    await stream.close();
    assert.deepEqual(order, Array.from({ length: 200 }, (_, n) => n), "answered in the order sent");
    for (const [n, results] of answers.entries()) {
      assert.equal(results.length, 5);
      const delivered = n % 25 === 24;
      assert.ok(results.every((r) => (r.offset !== undefined) === delivered && !r.error), `send ${n}: offsets only with ack delivered`);
    }
    assert.equal(new Set(answers.flat().map((r) => r.id)).size, 1000, "every record has an id of its own");

    const read = await broker.waitFor(topic, 1000);
    assert.equal(read.length, 1000);
    for (let k = 0; k < 5; k++) {
      const values = read.filter((r) => r.key === `k${k}`).sort((x, y) => x.offset - y.offset).map((r) => Number(r.value));
      assert.equal(new Set(read.filter((r) => r.key === `k${k}`).map((r) => r.partition)).size, 1);
      assert.deepEqual(values, Array.from({ length: 200 }, (_, n) => n), `k${k}: records of one key keep their order`);
    }
  });

  test("produceStream: a bad message ends the stream with its error; the sends before it stay, those after it fail", async () => {
    const topic = topicName("stream-bad");
    await broker.createTopic(topic);
    const stream = client.kafka.produceStream();
    const [ok, bad, cut] = await Promise.allSettled([
      stream.send([{ topic, value: "before" }]),
      stream.send([{ topic, value: "x" }, { topic: "", value: "y" }]),
      stream.send([{ topic, value: "after" }]),
    ]);
    assert.equal(ok.status, "fulfilled");
    assert.ok(bad.status === "rejected" && bad.reason instanceof AttacheError);
    assert.equal(bad.reason.code, "invalid_argument");
    assert.match(bad.reason.message, /^records\[1\]\.topic: /);
    assert.ok(cut.status === "rejected" && cut.reason instanceof AttacheError);
    assert.equal(cut.reason.code, "aborted");
    await assert.rejects(stream.send([{ topic, value: "later" }]), { code: "failed_precondition", message: /open a new one/ });
    await stream.close();
    // A fresh stream works; "before" was spooled.
    const again = client.kafka.produceStream();
    await again.send([{ topic, value: "fresh" }], { ack: "delivered" });
    await again.close();
    await assert.rejects(again.send([{ topic, value: "closed" }]), { code: "failed_precondition" });
    const values = (await broker.waitFor(topic, 2)).map((r) => r.value);
    assert.ok(values.includes("before") && values.includes("fresh"), JSON.stringify(values));
    assert.ok(!values.includes("x") && !values.includes("y"), "the bad message spooled nothing");
  });

  test("produceStream: an unreachable sidecar fails the sends with unavailable", async () => {
    const c = new Attache({ socket: scratchSocket("none") });
    const stream = c.kafka.produceStream();
    await assert.rejects(stream.send([{ topic: "t", value: "v" }]), { code: "unavailable" });
    await stream.close();
    c.close();
  });

  test("produceStream: awaiting close() keeps a process with nothing else to do alive until the stream ends", async () => {
    const topic = topicName("stream-close");
    await broker.createTopic(topic);
    // A script whose last act is `await stream.close()`: it must not exit
    // (code 13, a top-level await never settled) before the stream is over.
    const script = `
      import { Attache } from ${JSON.stringify(new URL("../src/index.js", import.meta.url).href)};
      const client = new Attache({ socket: ${JSON.stringify(sidecar.socket)} });
      const stream = client.kafka.produceStream();
      await stream.send([{ topic: ${JSON.stringify(topic)}, value: "v" }]);
      await stream.close();
      client.close();
      console.log("closed");
    `;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    assert.equal(out.trim(), "closed");
  });

  test("pino transport: every line a real logger logs arrives as one JSON record", async () => {
    const topic = topicName("pino");
    await broker.createTopic(topic);
    const { transport, logger } = pinoLogger({ topic, socket: sidecar.socket, batchLines: 64 });
    await ready(transport);
    const n = 3000;
    for (let i = 0; i < n; i++) logger.info({ i }, "line %d", i);
    await new Promise((resolve) => logger.flush(resolve));
    logger.warn({ i: n }, "last");
    transport.end();
    const read = await broker.waitFor(topic, n + 1);
    await sleep(1000); // nothing more comes
    const lines = logLines(broker.read(topic));
    assert.equal(lines.length, n + 1, "exactly one record per line");
    assert.deepEqual(
      lines.map((l) => l.i).sort((x, y) => x! - y!),
      Array.from({ length: n + 1 }, (_, i) => i),
    );
    assert.ok(lines.every((l) => (l.i === n ? l.level === 40 && l.msg === "last" : l.level === 30 && l.msg === `line ${l.i}`)));
    assert.equal(new Set(read.map((r) => r.id)).size, read.length);
  });

  test("pino transport: lines logged while Kafka is down arrive once it is back", async () => {
    const own = new Broker(true).start();
    const side = await kafkaSidecar(own);
    const topic = topicName("pino-down");
    const other = topicName("down-delivered");
    try {
      await own.createTopic(topic);
      await own.createTopic(other);
      const { transport, logger } = pinoLogger({ topic, socket: side.socket });
      await ready(transport);
      for (let i = 0; i < 200; i++) logger.info({ i }, "before");
      await new Promise((resolve) => logger.flush(resolve));
      assert.equal((await own.waitFor(topic, 200)).length, 200);
      own.stop();
      for (let i = 200; i < 500; i++) logger.info({ i }, "while down");
      // Spooled by attache even though Kafka is down: flush resolves, end does not wait.
      const flushed = Date.now();
      await new Promise((resolve) => logger.flush(resolve));
      assert.ok(Date.now() - flushed < 3000, `flush took ${Date.now() - flushed} ms with Kafka down`);
      transport.end();
      // Ack delivered waits for Kafka: within the deadline, or not at all.
      const c = new Attache({ socket: side.socket });
      await assert.rejects(c.kafka.produce([{ topic: other, value: "unary" }], { ack: "delivered", timeoutMs: 300 }), { code: "deadline_exceeded" });
      const stream = c.kafka.produceStream({ timeoutMs: 300 });
      const [spooled, delivered, behind] = await Promise.allSettled([
        stream.send([{ topic: other, value: "spooled" }]),
        stream.send([{ topic: other, value: "stream" }], { ack: "delivered" }),
        stream.send([{ topic: other, value: "behind" }], { timeoutMs: 5000 }),
      ]);
      assert.equal(spooled.status, "fulfilled");
      assert.ok(delivered.status === "rejected" && delivered.reason.code === "deadline_exceeded", String(delivered));
      assert.ok(behind.status === "rejected" && behind.reason.code === "deadline_exceeded", "answers come in order: one late answer ends the stream");
      c.close();
      own.start();
      const read = await own.waitFor(topic, 500, 60_000);
      const unique = new Map(read.map((r) => [r.id, JSON.parse(r.value!) as { i: number }]));
      assert.deepEqual(
        [...unique.values()].map((l) => l.i).sort((x, y) => x - y),
        Array.from({ length: 500 }, (_, i) => i),
        "every line arrived (at least once)",
      );
      // What timed out waiting for Kafka was spooled all the same.
      const late = (await own.waitFor(other, 4)).map((r) => r.value).sort();
      assert.deepEqual([...new Set(late)], ["behind", "spooled", "stream", "unary"]);
    } finally {
      assert.equal(await side.stop(), 0);
      own.remove();
    }
  });

  test("pino transport: lines logged while attache is unreachable are held and shipped once it is up", async () => {
    const topic = topicName("pino-later");
    await broker.createTopic(topic);
    const socket = scratchSocket("later");
    const { transport, logger } = pinoLogger({ topic, socket });
    await ready(transport);
    for (let i = 0; i < 300; i++) logger.info({ i }, "held");
    await sleep(700); // a few failed attempts
    const late = await kafkaSidecar(broker, {}, { socket });
    let stopped = false;
    try {
      await new Promise((resolve) => logger.flush(resolve));
      // An idle transport closes its stream, so it does not hold up the
      // sidecar's shutdown (an open stream is a request in flight: drained).
      await sleep(1500);
      const stopping = Date.now();
      assert.equal(await late.stop(), 0);
      stopped = true;
      assert.ok(Date.now() - stopping < 3000, `the sidecar took ${Date.now() - stopping} ms to stop`);
      transport.end();
      const read = await broker.waitFor(topic, 300);
      await sleep(500);
      const lines = logLines(broker.read(topic));
      assert.equal(read.length, 300);
      assert.equal(lines.length, 300, "nothing dropped, nothing reported");
      assert.deepEqual(
        lines.map((l) => l.i).sort((x, y) => x! - y!),
        Array.from({ length: 300 }, (_, i) => i),
      );
    } finally {
      if (!stopped) assert.equal(await late.stop(), 0);
    }
  });

  test("pino transport: beyond maxBufferBytes new lines are dropped, counted, and reported in the topic", async () => {
    const topic = topicName("pino-bound");
    await broker.createTopic(topic);
    const socket = scratchSocket("bound");
    const { transport, logger } = pinoLogger({ topic, socket, maxBufferBytes: 4000 });
    await ready(transport);
    for (let i = 0; i < 200; i++) logger.info({ i }, "bounded");
    await sleep(500);
    const late = await kafkaSidecar(broker, {}, { socket });
    try {
      await new Promise((resolve) => logger.flush(resolve));
      transport.end();
      await sleep(300);
      const lines = logLines(await broker.waitFor(topic, 2));
      await sleep(500);
      const all = logLines(broker.read(topic));
      const kept = all.filter((l) => l.msg === "bounded");
      const reports = all.filter((l) => l.droppedLines !== undefined);
      assert.ok(lines.length > 0);
      assert.ok(kept.length > 10 && kept.length < 100, `${kept.length} lines fit in 4000 bytes`);
      // The oldest lines are kept; the newest, which found the buffer full, dropped.
      assert.deepEqual(
        kept.map((l) => l.i).sort((x, y) => x! - y!),
        Array.from({ length: kept.length }, (_, i) => i),
      );
      assert.equal(reports.length, 1, JSON.stringify(reports));
      assert.equal(reports[0].droppedLines, 200 - kept.length);
      assert.equal(reports[0].level, 40);
      assert.match(reports[0].msg, /log lines were dropped \(the buffer was full/);
    } finally {
      assert.equal(await late.stop(), 0);
    }
  });

  test("pino transport: end() with attache unreachable gives up after closeTimeoutMs", async () => {
    const socket = scratchSocket("never");
    const { transport, logger } = pinoLogger({ topic: "never", socket, closeTimeoutMs: 500 });
    await ready(transport);
    logger.info("lost");
    const started = Date.now();
    const closed = new Promise((resolve) => transport.once("close", resolve));
    transport.end();
    await Promise.race([closed, sleep(8000)]);
    const took = Date.now() - started;
    assert.ok(took >= 400 && took < 3000, `end took ${took} ms`);
  });

  test("consume: what kcat produced arrives whole, in offset order per partition; acked and closed, the group's next consumer gets none of it", async () => {
    const topic = topicName("consume");
    const group = topicName("group");
    await broker.createTopic(topic);
    for (let p = 0; p < 3; p++) kcatProduce(broker, topic, p, Array.from({ length: 5 }, (_, i) => `p${p}-${i}`), { key: `k${p}` });
    kcatProduce(broker, topic, 0, [null], { key: "tombstone", headers: { trace: "abc", flag: null } });
    const [produced] = await client.kafka.produce([{ topic, key: "by-attache", value: "héllo", partition: 1, timestamp: 1_700_000_000_123 }], { ack: "delivered" });

    const consumer = client.kafka.consume({ group, topics: [topic] });
    const assigned: TopicPartition[][] = [];
    consumer.on("assigned", (partitions) => assigned.push(partitions));
    const got = await new Reader(consumer).take(17);
    const started = Date.now();
    for (const m of got) assert.equal(m.ack(), true);
    assert.equal(got[0].ack(), false, "a second ack does nothing");
    assert.deepEqual(assigned.map(numbers), [[0, 1, 2]], "the only member is assigned every partition");
    assert.deepEqual(numbers(consumer.assignment), [0, 1, 2]);

    for (let p = 0; p < 3; p++) {
      const mine = got.filter((m) => m.partition === p);
      assert.deepEqual(mine.map((m) => m.offset), Array.from({ length: mine.length }, (_, i) => i), `partition ${p} in offset order, none twice`);
      assert.deepEqual(mine.slice(0, 5).map((m) => [m.key?.toString(), m.text()]), Array.from({ length: 5 }, (_, i) => [`k${p}`, `p${p}-${i}`]));
    }
    const tombstone = got.find((m) => m.key?.toString() === "tombstone")!;
    assert.ok(tombstone, "the null value came");
    assert.equal(tombstone.value, null);
    assert.equal(tombstone.text(), null);
    assert.deepEqual(tombstone.headers.map(([k, v]) => [k, v === null ? null : v.toString()]), [["trace", "abc"], ["flag", null]]);
    assert.equal(tombstone.id, undefined, "no attache-id on a record kcat produced");
    assert.ok(Math.abs(tombstone.timestamp - started) < 60_000, `a timestamp of now: ${tombstone.timestamp}`);
    const mine = got.find((m) => m.id === produced.id)!;
    assert.ok(mine, "attache's record came, found by its attache-id");
    assert.deepEqual([mine.topic, mine.partition, mine.offset, mine.timestamp], [topic, 1, produced.offset, 1_700_000_000_123]);
    assert.ok(Buffer.isBuffer(mine.value) && mine.value.equals(Buffer.from("héllo")));
    assert.deepEqual(mine.headers.map(([k, v]) => [k, v?.toString()]), [["attache-id", produced.id]]);

    await consumer.close();
    assert.deepEqual(await consumer.next(), { done: true, value: undefined }, "a closed consumer's loop is over");
    assert.equal(got[1].ack(), false);

    const next = client.kafka.consume({ group, topics: [topic] });
    try {
      const reader = new Reader(next);
      await until(() => next.assignment.length === 3, "the next consumer is assigned the partitions");
      await reader.quiet(1500, "everything acknowledged was committed: the next consumer gets none of it");
      kcatProduce(broker, topic, 2, ["new"]);
      const [fresh] = await reader.take(1);
      assert.deepEqual([fresh.partition, fresh.offset, fresh.text()], [2, 5, "new"], "it reads on from there");
      fresh.ack();
    } finally {
      await next.close();
    }
  });

  test("consume: acks of some records commit the partition only below its oldest unacknowledged one: the group's next consumer gets exactly that tail", async () => {
    const topic = topicName("tail");
    const group = topicName("group");
    await broker.createTopic(topic);
    kcatProduce(broker, topic, 1, Array.from({ length: 10 }, (_, i) => `v${i}`));
    const first = client.kafka.consume({ group, topics: [topic] });
    const got = await new Reader(first).take(10);
    assert.deepEqual(got.map(where), Array.from({ length: 10 }, (_, i) => `1/${i}=v${i}`));
    for (const i of [0, 1, 2, 3, 6]) assert.equal(got[i].ack(), true);
    await first.close(); // sends the acks still batched
    assert.equal(got[4].ack(), false, "a closed consumer acknowledges nothing");

    const second = client.kafka.consume({ group, topics: [topic] });
    try {
      const reader = new Reader(second);
      const tail = await reader.take(6);
      assert.deepEqual(
        tail.map(where),
        [4, 5, 6, 7, 8, 9].map((i) => `1/${i}=v${i}`),
        "from the oldest unacknowledged record on (6, acknowledged after it, comes again: at least once)",
      );
      await reader.quiet(1000, "and nothing else");
      for (const m of tail) m.ack();
    } finally {
      await second.close();
    }
  });

  test("consume: maxUnacked bounds the records outstanding; acks let more come", async () => {
    const topic = topicName("bound");
    const group = topicName("group");
    await broker.createTopic(topic);
    kcatProduce(broker, topic, 0, Array.from({ length: 12 }, (_, i) => `v${i}`));
    const consumer = client.kafka.consume({ group, topics: [topic], maxUnacked: 5 });
    try {
      const reader = new Reader(consumer);
      const first = await reader.take(5);
      await reader.quiet(1500, "no more than maxUnacked before any ack");
      first[0].ack();
      first[1].ack();
      const more = await reader.take(2);
      await reader.quiet(1000, "two acks make room for two records");
      for (const m of [...first.slice(2), ...more]) m.ack();
      const rest = await reader.take(5);
      assert.deepEqual([...first, ...more, ...rest].map(where), Array.from({ length: 12 }, (_, i) => `0/${i}=v${i}`));
      for (const m of rest) m.ack();
    } finally {
      await consumer.close();
    }
  });

  test("consume: two consumers of one group split the partitions; the first sees its partitions revoked and some assigned again", async () => {
    const topic = topicName("split");
    const group = topicName("group");
    await broker.createTopic(topic);
    const a = client.kafka.consume({ group, topics: [topic] });
    const events: string[] = [];
    a.on("assigned", (p) => events.push(`assigned ${numbers(p)}`));
    a.on("revoked", (p) => events.push(`revoked ${numbers(p)}`));
    let b: KafkaConsumer | undefined;
    try {
      await until(() => a.assignment.length === 3, "the first consumer is assigned every partition");
      for (let p = 0; p < 3; p++) kcatProduce(broker, topic, p, [`p${p}-0`]);
      const held = await new Reader(a).take(3); // and not acknowledged
      b = client.kafka.consume({ group, topics: [topic] });
      const other = b;
      await until(
        () => a.assignment.length > 0 && other.assignment.length > 0 && a.assignment.length + other.assignment.length === 3,
        "the group splits the partitions between them",
      );
      const mineA = numbers(a.assignment);
      const mineB = numbers(b.assignment);
      assert.deepEqual([...mineA, ...mineB].sort(), [0, 1, 2], `disjoint: ${mineA} and ${mineB}`);
      assert.deepEqual(events.slice(0, 2), ["assigned 0,1,2", "revoked 0,1,2"], "eager rebalancing: all revoked…");
      assert.equal(events.at(-1), `assigned ${mineA}`, `…then some assigned: ${events}`);
      assert.deepEqual(held.map((m) => m.ack()), [false, false, false], "acks of records of a revoked partition do nothing");

      for (let p = 0; p < 3; p++) kcatProduce(broker, topic, p, [`p${p}-1`, `p${p}-2`]);
      const [readerA, readerB] = [new Reader(a), new Reader(b)];
      const gotA = await readerA.take(3 * mineA.length);
      const gotB = await readerB.take(3 * mineB.length);
      const sorted = (got: ConsumedMessage[]) => got.map(where).sort();
      const expected = (mine: number[]) => mine.flatMap((p) => [0, 1, 2].map((o) => `${p}/${o}=p${p}-${o}`));
      assert.deepEqual(sorted(gotA), expected(mineA), "each reads its own partitions, the unacknowledged records again");
      assert.deepEqual(sorted(gotB), expected(mineB));
      for (const m of [...gotA, ...gotB]) m.ack();
      await readerA.quiet(500, "nothing more for the first");
      await readerB.quiet(500, "nothing more for the second");
    } finally {
      await b?.close();
      await a.close();
    }
  });

  test("consume: leaving a for await loop closes the stream (after sending its acks), and the group gives its partitions, unacknowledged records and all, to the other consumer", async () => {
    const topic = topicName("leave");
    const group = topicName("group");
    await broker.createTopic(topic);
    const a = client.kafka.consume({ group, topics: [topic] });
    const b = client.kafka.consume({ group, topics: [topic] });
    try {
      await until(() => a.assignment.length > 0 && b.assignment.length > 0 && a.assignment.length + b.assignment.length === 3, "the group splits");
      const mineB = numbers(b.assignment);
      for (let p = 0; p < 3; p++) kcatProduce(broker, topic, p, [`p${p}-0`, `p${p}-1`, `p${p}-2`]);

      // A takes and acknowledges everything it is given, all along.
      const seenA = new Map<string, ConsumedMessage>();
      const loopA = (async () => {
        for await (const m of a) {
          seenA.set(`${m.partition}/${m.offset}`, m);
          m.ack();
        }
      })();

      let handled: ConsumedMessage | undefined;
      for await (const m of b) {
        handled = m;
        assert.equal(m.ack(), true);
        break; // the ack is still batched here: closing sends it
      }
      assert.ok(handled && mineB.includes(handled.partition));
      assert.deepEqual(await new Reader(b).next(1000), { done: true, value: undefined }, "the loop closed the consumer");
      assert.equal(handled.ack(), false);

      const all = [0, 1, 2].flatMap((p) => [0, 1, 2].map((o) => `${p}/${o}`));
      const expected = all.filter((k) => k !== `${handled!.partition}/${handled!.offset}`);
      await until(() => a.assignment.length === 3, "the other consumer is assigned every partition");
      await until(() => expected.every((k) => seenA.has(k)), `the other consumer gets every record but the acknowledged one: ${[...seenA.keys()]}`);
      await sleep(1000);
      await a.close();
      await loopA;
      assert.deepEqual([...seenA.keys()].sort(), expected, "and not the one acknowledged before the loop was left");
      for (const m of seenA.values()) assert.equal(m.text(), `p${m.partition}-${m.offset}`);
    } finally {
      await b.close();
      await a.close();
    }
  });

  test("consume: an aborted signal ends the loop with canceled; acks made before it are sent and committed", async () => {
    const topic = topicName("abort");
    const group = topicName("group");
    await broker.createTopic(topic);
    kcatProduce(broker, topic, 2, ["v0", "v1", "v2", "v3"]);
    const controller = new AbortController();
    const first = client.kafka.consume({ group, topics: [topic], signal: controller.signal, ackBatchMs: 10_000 });
    const got = await new Reader(first).take(4);
    got[0].ack();
    got[1].ack();
    controller.abort();
    assert.equal(got[2].ack(), false, "no acks once aborted");
    await assert.rejects(first.next(), (e: unknown) => e instanceof AttacheError && e.code === "canceled");
    assert.deepEqual(await first.next(), { done: true, value: undefined }, "the failure is thrown once");
    await first.close();

    const second = client.kafka.consume({ group, topics: [topic] });
    try {
      const reader = new Reader(second);
      assert.deepEqual((await reader.take(2)).map(where), ["2/2=v2", "2/3=v3"], "the two acks, held back by a long ackBatchMs, were sent at the abort");
      await reader.quiet(1000, "nothing else");
    } finally {
      await second.close();
    }
  });

  test("consume: with an instanceId, a closed consumer keeps its partitions for the session timeout; back with the same id, it gets them without a rebalance", async () => {
    const topic = topicName("static");
    const group = topicName("group");
    await broker.createTopic(topic);
    // The dynamic member joins first (and leads the group).
    const other = client.kafka.consume({ group, topics: [topic] });
    const instanceId = topicName("pod");
    let a = client.kafka.consume({ group, topics: [topic], instanceId });
    try {
      await until(() => other.assignment.length > 0 && a.assignment.length > 0 && other.assignment.length + a.assignment.length === 3, "the group splits");
      const mineA = numbers(a.assignment);
      const events: string[] = [];
      other.on("assigned", (p) => events.push(`assigned ${numbers(p)}`));
      other.on("revoked", (p) => events.push(`revoked ${numbers(p)}`));
      for (const p of mineA) kcatProduce(broker, topic, p, ["v0", "v1"]);
      const got = await new Reader(a).take(2 * mineA.length);
      got.filter((m) => m.offset === 0).forEach((m) => m.ack());
      await a.close();
      await sleep(4000); // more than a heartbeat: a member that left would have rebalanced the group by now
      assert.deepEqual(events, [], "the group did not rebalance: the static member still holds its partitions");

      a = client.kafka.consume({ group, topics: [topic], instanceId });
      const again = await new Reader(a).take(mineA.length);
      assert.deepEqual(again.map(where).sort(), mineA.map((p) => `${p}/1=v1`), "back with its id, it gets its unacknowledged records");
      assert.deepEqual(numbers(a.assignment), mineA, "and its partitions");
      assert.deepEqual(events, [], "still without a rebalance");
      for (const m of again) m.ack();
    } finally {
      await a.close();
      await other.close();
    }
  });

  test("fetch: a lease's records, a partial commit redelivering the rest, an expired lease redelivering all", async () => {
    const topic = topicName("fetch");
    const group = topicName("group");
    await broker.createTopic(topic);
    kcatProduce(broker, topic, 0, Array.from({ length: 6 }, (_, i) => `v${i}`), { key: "k" });
    const fetchAll = async (want: number, options: { leaseMs?: number } = {}): Promise<KafkaLease[]> => {
      const leases: KafkaLease[] = [];
      for (let got = 0, tries = 0; got < want; tries++) {
        assert.ok(tries < 20, `only ${got} of ${want} records leased`);
        const lease = await client.kafka.fetch({ group, topics: [topic], maxRecords: want - got, maxWaitMs: 5000, ...options });
        assert.equal(lease.id === "", lease.records.length === 0, "a lease id exactly when records came");
        if (lease.records.length > 0) leases.push(lease);
        got += lease.records.length;
      }
      return leases;
    };
    // Sorted: records a commit left out go back to the front of the group's queue, lease by lease.
    const records = (leases: KafkaLease[]) => leases.flatMap((l) => l.records.map(where)).sort();

    const leases = await fetchAll(6);
    assert.deepEqual(records(leases), Array.from({ length: 6 }, (_, i) => `0/${i}=v${i}`));
    const [r0] = leases[0].records;
    assert.deepEqual([r0.topic, r0.key?.toString(), r0.id, typeof r0.timestamp], [topic, "k", undefined, "number"]);
    // Every other record; the first lease's by position, the others' as the records.
    const rest: string[] = [];
    for (const [i, lease] of leases.entries()) {
      const handled = lease.records.filter((r) => r.offset % 2 === 0);
      rest.push(...lease.records.filter((r) => r.offset % 2 === 1).map(where));
      const acked = i === 0 ? handled.map((r) => ({ topic: r.topic, partition: r.partition, offset: r.offset })) : handled;
      assert.deepEqual(await lease.commit(acked), { acked: handled.length, redelivered: lease.records.length - handled.length });
      await assert.rejects(lease.commit(), { code: "not_found" }, "a lease ends at its commit");
    }
    await assert.rejects(leases[0].commit([{ topic, partition: 0, offset: 99 }]), { code: "invalid_argument", message: /^acked\[0\]: .*not a record of this lease/ });

    // Left uncommitted, a short lease's records come back once it expires.
    rest.sort();
    const expiring = await fetchAll(3, { leaseMs: 1000 });
    assert.deepEqual(records(expiring), rest, "the records left out come back, and only they");
    await sleep(1300);
    const again = await fetchAll(3);
    assert.deepEqual(records(again), rest, "an expired lease's records come back");
    await assert.rejects(expiring[0].commit(), { code: "not_found" });
    for (const lease of again) assert.deepEqual(await lease.commit(), { acked: lease.records.length, redelivered: 0 });

    const started = Date.now();
    const empty = await client.kafka.fetch({ group, topics: [topic], maxWaitMs: 500 });
    assert.ok(Date.now() - started >= 450, "it waited maxWaitMs for a record");
    assert.deepEqual([empty.id, empty.records], ["", []], "nothing left");
    assert.deepEqual(await empty.commit(), { acked: 0, redelivered: 0 }, "an empty lease commits nothing, without a call");
    assert.throws(() => client.kafka.consume({ group, topics: topic as unknown as string[] }), { code: "invalid_argument", message: /^topics: must be an array/ });
    await assert.rejects(client.kafka.fetch({ group, topics: [topic], maxRecords: 0 }), { code: "invalid_argument", message: /^maxRecords: / });
    await assert.rejects(client.kafka.fetch({ group, topics: [topic], maxWaitMs: 2000, timeoutMs: 1000 }), { code: "invalid_argument", message: /^timeoutMs: / });
  });

  test("consume and fetch: the sidecar's refusals end the loop or reject as AttacheErrors", async () => {
    const topic = topicName("refused");
    const bad = client.kafka.consume({ group: "", topics: [topic] });
    await assert.rejects(bad.next(), (e: unknown) => e instanceof AttacheError && e.code === "invalid_argument" && /^group: /.test(e.message));
    await bad.close();
    assert.throws(() => client.kafka.consume({ group: "g", topics: [topic], start: "middle" as "earliest" }), { code: "invalid_argument", message: /^start: / });
    assert.throws(() => client.kafka.consume({ group: "g", topics: [topic], maxUnacked: 0 }), { code: "invalid_argument", message: /^maxUnacked: / });
    await assert.rejects(client.kafka.fetch({ group: "g", topics: ["bad topic!"] }), { code: "invalid_argument", message: /^topics\[0\]: / });

    const unreachable = new Attache({ socket: scratchSocket("none") });
    const lost = unreachable.kafka.consume({ group: "g", topics: [topic] });
    await assert.rejects(lost.next(), { code: "unavailable" });
    unreachable.close();

    const none = await startSidecar(); // Kafka on, with no brokers
    const c = new Attache({ socket: none.socket });
    try {
      const consumer = c.kafka.consume({ group: "g", topics: [topic] });
      await assert.rejects(consumer.next(), (e: unknown) => {
        assert.ok(e instanceof AttacheError);
        assert.equal(e.code, "failed_precondition");
        assert.match(e.message, /brokers/);
        return true;
      });
      await consumer.close();
      await assert.rejects(c.kafka.fetch({ group: "g", topics: [topic], maxWaitMs: 0 }), { code: "failed_precondition", message: /brokers/ });
    } finally {
      c.close();
      assert.equal(await none.stop(), 0);
    }
  });
});
