// A pino transport (`@attache/sdk/pino`) that ships each log line to a
// Kafka topic through attache, which spools it on this host's disk: lines
// logged while Kafka is down reach it later. pino runs a transport in a
// worker thread, so none of this touches the app's event loop.
//
// Lines are batched (every `batchMs`, or sooner once `batchLines` or
// `batchBytes` wait) and sent as ProduceStream messages with ack "spooled",
// up to `maxInFlight` at once. While attache itself is unreachable, lines
// are held in memory, up to `maxBufferBytes`, and sending is retried with
// capped, jittered backoff; beyond that bound new lines are dropped (never
// blocking the app, as sonic-boom's maxLength), counted, and reported on
// stderr and, once attache answers again, by a log line in the topic. A
// batch cut short by a lost connection is sent again: at least once, so a
// line may reach Kafka twice (each time with an `attache-id` of its own).
import { writeSync } from "node:fs";
import { hostname } from "node:os";
import type { Transform } from "node:stream";
import build from "pino-abstract-transport";
import { AttacheError } from "./errors.js";
import { Attache } from "./index.js";
import type { KafkaRecord, ProduceStream } from "./kafka.js";

export interface AttacheTransportOptions {
  /** The Kafka topic for the log lines (create it first: with ack "spooled" an unknown topic is only found out on delivery). */
  topic: string;
  /** The sidecar's socket; defaults to `$ATTACHE_SOCKET`, then the sidecar's default, as `new Attache()`. */
  socket?: string;
  /** A record key for every line (e.g. the host name, keeping its lines in order on one partition); default none. */
  key?: string;
  /** Headers for every record. */
  headers?: Record<string, string>;
  /** Longest a line waits to be batched, in ms; default 10. */
  batchMs?: number;
  /** Most lines in one batch; default 1000. */
  batchLines?: number;
  /** Most bytes of lines in one batch; default 1 MiB. A single longer line is dropped (and counted). */
  batchBytes?: number;
  /** Batches sent and not yet acknowledged, at most; default 8. */
  maxInFlight?: number;
  /** Bytes of lines held in memory (waiting and in flight), at most; beyond, new lines are dropped and counted. Default 16 MiB. */
  maxBufferBytes?: number;
  /** Longest wait between retries while attache is unreachable, in ms; default 2000. */
  retryMaxMs?: number;
  /** How long a batch may wait for attache's answer before the stream is opened again, in ms; default 10000. */
  timeoutMs?: number;
  /**
   * How long `logger.flush()` and the transport's end (`transport.end()`,
   * process exit) wait for held lines to be spooled, in ms; default 5000,
   * at most 8000 (pino gives up on a transport's end after 10 s). Lines
   * still held then are lost, and counted on stderr.
   */
  closeTimeoutMs?: number;
}

interface Line {
  value: Buffer;
  /** When the transport got it: the record's timestamp. */
  time: number;
  /** Its place in the order lines came in, from 1. */
  n: number;
}

interface Batch {
  lines: Line[];
  bytes: number;
}

const PREFIX = "attache pino transport: ";
/**
 * A stream with nothing in flight this long is closed (and opened again for
 * the next batch): an open stream is a request in flight, which holds a
 * sidecar's shutdown for its drain_timeout.
 */
const IDLE_CLOSE_MS = 1000;

/** Writes to stderr at once (a worker's process.stderr is relayed through the main thread, and may be lost at exit). */
function stderr(message: string): void {
  try {
    writeSync(2, `${PREFIX}${message}\n`);
  } catch {
    // Nowhere left to say it.
  }
}

function positive(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) throw new TypeError(`${PREFIX}${name} must be a positive number`);
  return value;
}

/** The index of the record an `invalid_argument` error names (`records[3].value: …`). */
function recordIndex(error: AttacheError): number | undefined {
  const match = /^records\[(\d+)\]/.exec(error.metadata.field ?? error.message);
  return match ? Number(match[1]) : undefined;
}

class Shipper {
  private readonly attache: Attache;
  private readonly topic: string;
  private readonly key: Buffer | undefined;
  private readonly headers: Record<string, string> | undefined;
  private readonly batchMs: number;
  private readonly batchLines: number;
  private readonly batchBytes: number;
  private readonly maxInFlight: number;
  private readonly maxBufferBytes: number;
  private readonly retryMaxMs: number;
  private readonly closeTimeoutMs: number;

  private stream: ProduceStream | undefined;
  /** Lines waiting to be sent, oldest first. */
  private queue: Line[] = [];
  private queueBytes = 0;
  /** Batches sent on `stream` and not yet answered, in the order sent. */
  private readonly inflight: Batch[] = [];
  /** Bytes of every line held: waiting and in flight. */
  private heldBytes = 0;
  private lines = 0;
  private batchTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private backoffMs = 0;
  /** Since when, and why, attache cannot be reached. */
  private outage: { since: number; error: AttacheError } | undefined;
  private dropped = 0;
  private dropReasons = new Set<string>();
  private lastReport = 0;
  private lastWarned = 0;
  private waiters: Array<{ upTo: number; resolve: () => void }> = [];
  private closed = false;

  constructor(options: AttacheTransportOptions) {
    if (typeof options?.topic !== "string" || options.topic === "") throw new TypeError(`${PREFIX}the topic option is required`);
    this.topic = options.topic;
    this.key = options.key === undefined ? undefined : Buffer.from(String(options.key), "utf8");
    this.headers = options.headers;
    this.batchMs = positive(options.batchMs, "batchMs", 10);
    this.batchLines = Math.floor(positive(options.batchLines, "batchLines", 1000));
    this.batchBytes = positive(options.batchBytes, "batchBytes", 1024 * 1024);
    this.maxInFlight = Math.floor(positive(options.maxInFlight, "maxInFlight", 8));
    this.maxBufferBytes = positive(options.maxBufferBytes, "maxBufferBytes", 16 * 1024 * 1024);
    this.retryMaxMs = positive(options.retryMaxMs, "retryMaxMs", 2000);
    this.closeTimeoutMs = Math.min(8000, positive(options.closeTimeoutMs, "closeTimeoutMs", 5000));
    this.attache = new Attache({ socket: options.socket, timeoutMs: positive(options.timeoutMs, "timeoutMs", 10_000) });
  }

  /** Takes one line from pino; never waits. */
  push(line: string): void {
    if (this.closed || line.length === 0) return;
    const value = Buffer.from(line, "utf8");
    if (value.length > this.batchBytes) {
      this.drop(`a line was longer than batchBytes (${this.batchBytes})`);
      return;
    }
    if (this.heldBytes + value.length > this.maxBufferBytes) {
      this.drop(
        `the buffer was full (maxBufferBytes, ${this.maxBufferBytes})`,
        1,
        this.outage ? `attache is unreachable: ${this.outage.error.message}` : "attache has not yet taken the lines held",
      );
      return;
    }
    this.hold(value);
    if (this.queue.length >= this.batchLines || this.queueBytes >= this.batchBytes) this.pump();
    else this.batchTimer ??= setTimeout(() => this.onBatchTimer(), this.batchMs).unref();
  }

  /** Resolves once every line taken so far is spooled (or dropped), or after closeTimeoutMs. */
  flush(): Promise<void> {
    const upTo = this.lines;
    this.pump();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => done(), this.closeTimeoutMs).unref();
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        resolve();
      };
      this.waiters.push({ upTo, resolve: done });
      this.wake();
    });
  }

  /** Ships what is held (waiting at most closeTimeoutMs), then lets go of attache. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.dropped > 0) this.report();
    await this.flush();
    this.closed = true;
    clearTimeout(this.batchTimer);
    clearTimeout(this.retryTimer);
    clearTimeout(this.idleTimer);
    const left = this.queue.length + this.inflight.reduce((n, b) => n + b.lines.length, 0);
    if (left > 0) {
      const why = this.outage ? `attache unreachable: ${this.outage.error.message}` : "attache did not answer in time";
      stderr(`closing with ${left} log lines not spooled in ${this.closeTimeoutMs} ms (${why}); they are lost`);
    }
    if (this.dropped > 0) stderr(`${this.dropped} more log lines were dropped (${[...this.dropReasons].join("; ")})`);
    const stream = this.stream;
    this.stream = undefined;
    if (stream) await Promise.race([stream.close(), new Promise((resolve) => setTimeout(resolve, 500).unref())]);
    this.attache.close();
  }

  private hold(value: Buffer): void {
    this.queue.push({ value, time: Date.now(), n: ++this.lines });
    this.queueBytes += value.length;
    this.heldBytes += value.length;
  }

  private onBatchTimer(): void {
    this.batchTimer = undefined;
    this.pump();
  }

  /** Sends waiting lines in batches while the window has room. */
  private pump(): void {
    if (this.closed || this.retryTimer) return;
    while (this.queue.length > 0 && this.inflight.length < this.maxInFlight) {
      let count = 0;
      let bytes = 0;
      while (count < this.queue.length && count < this.batchLines && bytes + this.queue[count].value.length <= this.batchBytes) {
        bytes += this.queue[count].value.length;
        count++;
      }
      const batch = { lines: this.queue.splice(0, count), bytes };
      this.queueBytes -= bytes;
      this.inflight.push(batch);
      this.send(batch);
    }
    if (this.queue.length === 0) {
      clearTimeout(this.batchTimer);
      this.batchTimer = undefined;
    }
  }

  private send(batch: Batch): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const stream = (this.stream ??= this.attache.kafka.produceStream());
    const records: KafkaRecord[] = batch.lines.map((line) => ({
      topic: this.topic,
      key: this.key,
      value: line.value,
      headers: this.headers,
      timestamp: line.time,
    }));
    stream.send(records, { ack: "spooled" }).then(
      () => this.sent(batch),
      (err: unknown) => this.failed(stream, AttacheError.from(err)),
    );
  }

  private sent(batch: Batch): void {
    const at = this.inflight.indexOf(batch);
    if (at < 0) return;
    this.inflight.splice(at, 1);
    this.heldBytes -= batch.bytes;
    this.backoffMs = 0;
    if (this.outage) {
      stderr(`attache answers again; shipping the held log lines (unreachable for ${((Date.now() - this.outage.since) / 1000).toFixed(1)} s)`);
      this.outage = undefined;
    }
    // Drops are reported in the topic at most once a second, and when all caught up.
    if (this.dropped > 0 && (Date.now() - this.lastReport >= 1000 || (this.queue.length === 0 && this.inflight.length === 0))) this.report();
    this.wake();
    this.pump();
    if (this.inflight.length === 0 && this.stream) this.idleTimer ??= setTimeout(() => this.closeIdle(), IDLE_CLOSE_MS).unref();
  }

  private closeIdle(): void {
    this.idleTimer = undefined;
    const stream = this.stream;
    if (!stream || this.inflight.length > 0) return;
    this.stream = undefined;
    void stream.close();
  }

  /**
   * The stream failed: its unanswered batches go back, in order, before the
   * waiting lines. A line attache refuses (`invalid_argument`: too large
   * for `kafka.max_record_bytes`) is dropped and the rest sent again at
   * once; any other failure (attache down or restarting, spool full,
   * module off) is retried with backoff.
   */
  private failed(stream: ProduceStream, error: AttacheError): void {
    // Only the stream's first failure counts: it is about the first batch in
    // flight, and every batch in flight then was on this stream.
    if (stream !== this.stream) return;
    this.stream = undefined;
    void stream.close();
    const first = this.inflight[0];
    if (error.code === "invalid_argument" && first) {
      const index = recordIndex(error);
      const refused = index !== undefined && index < first.lines.length ? first.lines.splice(index, 1) : first.lines.splice(0);
      for (const line of refused) {
        first.bytes -= line.value.length;
        this.heldBytes -= line.value.length;
      }
      this.drop(`attache refused ${refused.length === 1 ? "a line" : `a batch of ${refused.length} lines`}: ${error.message}`, refused.length);
    }
    const back = this.inflight.splice(0).flatMap((b) => b.lines);
    this.queue = back.concat(this.queue);
    this.queueBytes += back.reduce((n, line) => n + line.value.length, 0);
    this.wake();
    if (error.code === "invalid_argument") {
      this.pump();
      return;
    }
    if (!this.outage) {
      this.outage = { since: Date.now(), error };
      stderr(`cannot ship log lines to attache (${error.code}: ${error.message}); retrying, holding up to ${this.maxBufferBytes} bytes of lines meanwhile`);
    } else {
      this.outage.error = error;
    }
    this.backoffMs = Math.min(this.retryMaxMs, this.backoffMs === 0 ? 100 : this.backoffMs * 2);
    this.retryTimer = setTimeout(
      () => {
        this.retryTimer = undefined;
        this.pump();
      },
      this.backoffMs * (0.5 + Math.random() / 2),
    ).unref();
  }

  /** Counts dropped lines; says so on stderr at most every 10 s. */
  private drop(reason: string, count = 1, detail?: string): void {
    this.dropped += count;
    if (this.dropReasons.size < 8) this.dropReasons.add(reason);
    if (Date.now() - this.lastWarned >= 10_000) {
      this.lastWarned = Date.now();
      stderr(`dropping log lines: ${reason}${detail ? `; ${detail}` : ""}`);
    }
  }

  /** Puts a line in the topic saying how many lines were dropped, and why (it is held whatever the bound). */
  private report(): void {
    const count = this.dropped;
    const reasons = [...this.dropReasons].join("; ");
    this.dropped = 0;
    this.dropReasons = new Set();
    this.lastReport = Date.now();
    const line = JSON.stringify({
      level: 40,
      time: Date.now(),
      pid: process.pid,
      hostname: hostname(),
      msg: `${PREFIX}${count} log lines were dropped (${reasons})`,
      droppedLines: count,
    });
    this.hold(Buffer.from(line, "utf8"));
    this.batchTimer ??= setTimeout(() => this.onBatchTimer(), this.batchMs).unref();
  }

  /** Resolves the flushes whose lines are all spooled. */
  private wake(): void {
    if (this.waiters.length === 0) return;
    const oldest = this.inflight.find((b) => b.lines.length > 0)?.lines[0].n ?? this.queue[0]?.n ?? Infinity;
    for (const w of this.waiters.filter((w) => w.upTo < oldest)) w.resolve();
  }
}

/**
 * The transport: `pino.transport({ target: "@attache/sdk/pino", options: { topic: "app.logs" } })`.
 * `logger.flush(cb)` calls back once every line logged before it is spooled
 * by attache (or after `closeTimeoutMs`).
 */
export default function attacheTransport(options: AttacheTransportOptions): Transform {
  const shipper = new Shipper(options);
  const stream = build(
    (source) => {
      source.on("data", (line: string) => shipper.push(line));
    },
    {
      parse: "lines",
      // Lines go to Kafka as pino wrote them: no need to parse them.
      parseLine: (line) => line,
      metadata: false,
      close: () => shipper.close(),
    },
  );
  // thread-stream calls it for pino's logger.flush(cb); it never fails.
  Object.assign(stream, {
    flush: (cb: (err?: Error) => void) => {
      void shipper.flush().then(() => cb());
    },
  });
  return stream;
}
