// Kafka through the sidecar's durable spool: a record is acknowledged once
// it is on this host's disk (or, with ack "delivered", once Kafka has it),
// and reaches Kafka even if Kafka is down now or attache restarts. And
// consuming, at least once: a consumer group member per stream (Consume),
// or records leased to short-lived callers (Fetch and Commit).
import { EventEmitter } from "node:events";
import { type MessageInitShape } from "@bufbuild/protobuf";
import {
  Ack as PbAck,
  KafkaService,
  StartFrom as PbStartFrom,
  type ConsumeResponse as PbConsumeResponse,
  type ConsumedRecord as PbConsumedRecord,
  type ProduceStreamResponse as PbProduceStreamResponse,
  type RecordResult as PbRecordResult,
  type RecordSchema,
} from "../gen/attache/kafka/v1/kafka_pb.js";
import { AttacheError, Code, codeFromName } from "./errors.js";
import { type CallOptions, type Defaults, withPolicy } from "./policy.js";
import { BidiStream } from "./stream.js";
import { type Transport } from "./transport.js";

/**
 * When a record counts as acknowledged: `"spooled"` (default), durable in
 * this host's spool, on its way to Kafka as soon as Kafka takes it;
 * `"delivered"`, Kafka has it (acks=all), and the result says where.
 */
export type KafkaAck = "spooled" | "delivered";

/** A key, value or header value: a string (sent as UTF-8) or bytes; `null` for none. */
export type KafkaBytes = string | Uint8Array | null;

/**
 * Headers, as an object (`{ trace: "abc", flag: null }`; an `undefined`
 * value is left out) or as `[key, value]` pairs, which keep their order and
 * may repeat a key. `null` is a header with no value. `attache-id` is
 * attache's own and may not be set.
 */
export type KafkaHeaders = Readonly<Record<string, KafkaBytes | undefined>> | ReadonlyArray<readonly [string, KafkaBytes]>;

export interface KafkaRecord {
  topic: string;
  /** None (default): the partitioner spreads such records. Records of one topic and key keep their order. */
  key?: KafkaBytes;
  /** None (default) is a null value: a tombstone on a compacted topic. */
  value?: KafkaBytes;
  headers?: KafkaHeaders;
  /** Default: chosen by key with Java's partitioner (murmur2). */
  partition?: number;
  /** A `Date` or ms since the Unix epoch; default: when attache spooled it. */
  timestamp?: Date | number;
}

export interface ProduceOptions extends CallOptions {
  /** Default `"spooled"`. */
  ack?: KafkaAck;
}

/** What became of one record. */
export interface ProduceResult {
  /** The record's `attache-id` header: the same on every delivery of it, for consumers to drop duplicates. */
  id: string;
  /** With ack `"delivered"`: where Kafka stored it. */
  partition?: number;
  /** With ack `"delivered"` (a number: exact below 2^53, as offsets are). */
  offset?: number;
  /**
   * With ack `"delivered"`: why Kafka refused this record (it is out of the
   * spool, not retried): `not_found` (no such topic), `invalid_argument`
   * (too large, invalid), `permission_denied`.
   */
  error?: AttacheError;
}

export interface ProduceStreamOptions {
  /** How long each `send` may wait for its answer; default the client's `timeoutMs`. */
  timeoutMs?: number;
  /** Aborting ends the stream: its unanswered sends reject with `canceled`. */
  signal?: AbortSignal;
}

export interface SendOptions {
  /** Default `"spooled"`. */
  ack?: KafkaAck;
  /**
   * How long this send may wait for its answer; default the stream's. Answers
   * come in order, so one that does not come holds up the rest: the stream
   * ends with `deadline_exceeded`.
   */
  timeoutMs?: number;
}

type RecordInit = MessageInitShape<typeof RecordSchema>;

const acks: Record<KafkaAck, PbAck> = { spooled: PbAck.SPOOLED, delivered: PbAck.DELIVERED };

function bad(field: string, why: string): AttacheError {
  return new AttacheError(Code.InvalidArgument, `${field}: ${why}`);
}

function kind(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "object") return v.constructor?.name ?? "object";
  return typeof v;
}

function toAck(ack: KafkaAck | undefined): PbAck {
  if (ack === undefined) return PbAck.SPOOLED;
  const value = acks[ack];
  if (value === undefined) throw bad("ack", `unknown value ${String(ack)}; use "spooled" or "delivered"`);
  return value;
}

function toBytes(v: unknown, field: string): Uint8Array | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === "string") return Buffer.from(v, "utf8");
  if (v instanceof Uint8Array) return v;
  throw bad(field, `must be a string, a Uint8Array or null, not ${kind(v)}`);
}

function toHeaders(headers: KafkaHeaders | undefined, field: string) {
  if (headers === undefined || headers === null) return [];
  if (Array.isArray(headers)) {
    return headers.map((pair: unknown, i) => {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string") {
        throw bad(`${field}[${i}]`, "must be a [key, value] pair with a string key");
      }
      return { key: pair[0], value: toBytes(pair[1], `${field}[${i}].value`) };
    });
  }
  if (typeof headers !== "object") throw bad(field, `must be an object or an array of [key, value] pairs, not ${kind(headers)}`);
  return Object.entries(headers)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => ({ key, value: toBytes(value, `${field}.${key}`) }));
}

function toTimestamp(t: Date | number | undefined, field: string): bigint | undefined {
  if (t === undefined || t === null) return undefined;
  const ms = t instanceof Date ? t.getTime() : t;
  if (typeof ms !== "number" || !Number.isSafeInteger(ms)) throw bad(field, `must be a valid Date or whole ms since the epoch, not ${String(t)}`);
  return BigInt(ms);
}

function toRecord(r: KafkaRecord, i: number): RecordInit {
  const field = `records[${i}]`;
  if (r === null || typeof r !== "object") throw bad(field, `must be a record object, not ${kind(r)}`);
  if (typeof r.topic !== "string") throw bad(`${field}.topic`, `must be a string, not ${kind(r.topic)}`);
  if (r.partition !== undefined && r.partition !== null && !(Number.isInteger(r.partition) && r.partition >= -(2 ** 31) && r.partition < 2 ** 31)) {
    throw bad(`${field}.partition`, `must be a 32-bit integer, not ${String(r.partition)}`);
  }
  return {
    topic: r.topic,
    key: toBytes(r.key, `${field}.key`),
    value: toBytes(r.value, `${field}.value`),
    headers: toHeaders(r.headers, `${field}.headers`),
    partition: r.partition ?? undefined,
    timestampMs: toTimestamp(r.timestamp, `${field}.timestamp`),
  };
}

/** The wire's records; a bad one throws `invalid_argument` naming it, as the sidecar does (`records[2].value: …`). */
function toRecords(records: readonly KafkaRecord[]): RecordInit[] {
  if (!Array.isArray(records)) throw bad("records", `must be an array of records, not ${kind(records)}`);
  return records.map(toRecord);
}

/** RecordError's google.rpc code names (NOT_FOUND, CANCELLED) as the SDK's (`not_found`, `canceled`). */
function recordCode(name: string): Code {
  const lower = name.toLowerCase();
  return codeFromName(lower === "cancelled" ? "canceled" : lower);
}

function toResult(r: PbRecordResult): ProduceResult {
  const out: ProduceResult = { id: r.id };
  if (r.partition !== undefined) out.partition = r.partition;
  if (r.offset !== undefined) out.offset = Number(r.offset);
  if (r.error) out.error = new AttacheError(recordCode(r.error.code), r.error.message);
  return out;
}

interface Pending {
  resolve: (results: ProduceResult[]) => void;
  reject: (err: AttacheError) => void;
  timer: NodeJS.Timeout;
}

/**
 * Produce for high rates: many `send`s in flight on one bidi stream (a
 * connection of its own), each answered in order. Make one with
 * `attache.kafka.produceStream()`.
 *
 * A stream ends at its first failure: a bad message (the sidecar's error,
 * e.g. `invalid_argument`), a lost connection (`unavailable`), a send not
 * answered in time (`deadline_exceeded`) or an abort (`canceled`). The send
 * that failed rejects with that error; sends after it, unanswered, reject
 * too (with `aborted` after a bad message: they may or may not have been
 * spooled), as does every later send. Open a new stream to go on. Nothing
 * is retried (producing is not idempotent; a record sent again is a second
 * record, with an `attache-id` of its own).
 */
export class ProduceStream {
  private readonly stream: BidiStream<typeof KafkaService.method.produceStream.input, typeof KafkaService.method.produceStream.output>;
  /** Sends awaiting answers, by sequence; a Map keeps them in order. */
  private readonly pending = new Map<bigint, Pending>();
  private sequence = 0n;
  private failure: AttacheError | undefined;
  private closing: Promise<void> | undefined;
  private ended!: () => void;
  private readonly over = new Promise<void>((resolve) => (this.ended = resolve));

  /** @internal Use `attache.kafka.produceStream()`. */
  constructor(
    socketPath: string,
    private readonly timeoutMs: number,
    signal?: AbortSignal,
  ) {
    this.stream = new BidiStream(
      socketPath,
      KafkaService.method.produceStream,
      { message: (m) => this.answer(m), end: (error, fromServer) => this.end(error, fromServer) },
      signal,
    );
  }

  /**
   * Sends records as one message: resolves to one result per record once
   * each is acknowledged as `ack` asks. Either every record of a send is
   * spooled or none is. Sends made one after another are pipelined.
   */
  send(records: readonly KafkaRecord[], options: SendOptions = {}): Promise<ProduceResult[]> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(new AttacheError(Code.FailedPrecondition, "the stream is closed"));
    let request;
    try {
      request = { records: toRecords(records), ack: toAck(options.ack), sequence: ++this.sequence };
    } catch (err) {
      return Promise.reject(err);
    }
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const sequence = request.sequence;
    return new Promise<ProduceResult[]>((resolve, reject) => {
      const timer = setTimeout(
        () => this.stream.destroy(new AttacheError(Code.DeadlineExceeded, `no answer from the sidecar within ${timeoutMs} ms; the stream is ended`)),
        timeoutMs,
      ).unref();
      this.pending.set(sequence, { resolve, reject, timer });
      this.stream.ref();
      try {
        this.stream.send(request);
      } catch (err) {
        this.pending.delete(sequence);
        clearTimeout(timer);
        reject(AttacheError.from(err));
      }
    });
  }

  /**
   * Closes the stream: no more sends; resolves once those in flight are
   * answered (or have failed) and the stream is over.
   */
  close(): Promise<void> {
    if (!this.closing) {
      this.closing = this.over;
      this.stream.closeSend();
      // Awaiting the end keeps the process alive until it comes.
      this.stream.ref();
    }
    return this.closing;
  }

  private answer(message: PbProduceStreamResponse): void {
    const pending = this.pending.get(message.sequence);
    if (!pending) {
      this.stream.destroy(new AttacheError(Code.Internal, `the sidecar answered message ${message.sequence}, which is not awaiting an answer`));
      return;
    }
    this.pending.delete(message.sequence);
    clearTimeout(pending.timer);
    if (this.pending.size === 0) this.stream.unref();
    pending.resolve(message.results.map(toResult));
  }

  private end(error: AttacheError | undefined, fromServer: boolean): void {
    const failure =
      error ?? (this.pending.size > 0 ? new AttacheError(Code.Internal, "the sidecar ended the stream without answering every message") : undefined);
    this.failure = failure
      ? new AttacheError(Code.FailedPrecondition, `the stream has ended (${failure.code}: ${failure.message}); open a new one`, { cause: failure })
      : new AttacheError(Code.FailedPrecondition, "the stream is closed");
    if (!failure) return this.ended();
    // The sidecar's error is the first unanswered message's; those after it
    // were cut short by it.
    const cut = new AttacheError(
      Code.Aborted,
      `the stream ended before this message was answered (an earlier one failed: ${failure.message}); it may or may not have been spooled`,
      { cause: failure },
    );
    let first = true;
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(first || !fromServer ? failure : cut);
      first = false;
    }
    this.pending.clear();
    this.ended();
  }
}

/**
 * Where a group with no committed offset starts reading a partition: its
 * oldest record (`"earliest"`, the default) or the next one produced
 * (`"latest"`).
 */
export type KafkaStart = "earliest" | "latest";

/** One partition of a topic. */
export interface TopicPartition {
  topic: string;
  partition: number;
}

/** Names one record, to acknowledge it: a {@link ConsumedRecord} is one. */
export interface KafkaPosition {
  topic: string;
  partition: number;
  offset: number;
}

export interface ConsumeOptions {
  /** The consumer group: 1 to 249 of `[a-zA-Z0-9._-]`. */
  group: string;
  topics: readonly string[];
  /**
   * Static membership: a stable id of this app instance (a pod name, say).
   * A consumer that comes back with the same id within the sidecar's
   * `kafka.consumer.session_timeout` (45 s) keeps its partitions, without
   * a rebalance; closing does not leave the group, so its partitions wait
   * that long for it. Two live consumers with one id fence each other: the
   * older ends with `aborted`.
   */
  instanceId?: string;
  /**
   * Most records delivered and not yet acknowledged; default (and cap) the
   * sidecar's `kafka.consumer.max_unacked` (1000). Past it, no more come
   * until some are acknowledged.
   */
  maxUnacked?: number;
  /** Default `"earliest"`. */
  start?: KafkaStart;
  /** Aborting closes the consumer (pending acks are sent first); the loop rejects with `canceled`. */
  signal?: AbortSignal;
  /** Longest an `ack()` waits to be sent with others; default 5 ms. */
  ackBatchMs?: number;
  /** Acks sent at once as soon as this many wait; default 500. */
  ackBatchSize?: number;
}

export interface FetchOptions extends CallOptions {
  group: string;
  topics: readonly string[];
  /** Most records in the lease; default 100. */
  maxRecords?: number;
  /** How long to wait for a first record (at most 60 000; 0 answers at once); default 1000. */
  maxWaitMs?: number;
  /** How long the lease lasts (at most an hour); default the sidecar's `kafka.consumer.lease_timeout` (30 s). */
  leaseMs?: number;
  /** Default `"earliest"`. */
  start?: KafkaStart;
  /** The call's deadline, which must exceed `maxWaitMs`; default `maxWaitMs` plus the client's `timeoutMs`. */
  timeoutMs?: number;
}

/** What a {@link KafkaLease.commit} did. */
export interface CommitResult {
  /** Records acknowledged. */
  acked: number;
  /** Records of the lease left out, which a later fetch delivers again. */
  redelivered: number;
}

const starts: Record<KafkaStart, PbStartFrom> = { earliest: PbStartFrom.EARLIEST, latest: PbStartFrom.LATEST };

/** The sidecar waits at most this long for a first record, and leases for at most this long. */
const MAX_WAIT_MS = 60_000;
const MAX_LEASE_MS = 3_600_000;
const UINT32 = 2 ** 32 - 1;

function toStart(start: KafkaStart | undefined): PbStartFrom {
  if (start === undefined) return PbStartFrom.EARLIEST;
  const value = starts[start];
  if (value === undefined) throw bad("start", `unknown value ${String(start)}; use "earliest" or "latest"`);
  return value;
}

function toTopics(topics: readonly string[]): string[] {
  if (!Array.isArray(topics)) throw bad("topics", `must be an array of topic names, not ${kind(topics)}`);
  topics.forEach((t: unknown, i) => {
    if (typeof t !== "string") throw bad(`topics[${i}]`, `must be a string, not ${kind(t)}`);
  });
  return [...topics];
}

/** A whole number in [min, max], or undefined. */
function toCount(v: unknown, field: string, min: number, max: number, why: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) throw bad(field, `must be ${why}, not ${String(v)}`);
  return v;
}

function checkOptions(options: { group: string; topics: readonly string[] }, what: string): void {
  if (options === null || typeof options !== "object") throw bad("options", `${what} takes { group, topics, … }, not ${kind(options)}`);
  if (typeof options.group !== "string") throw bad("group", `must be a string, not ${kind(options.group)}`);
}

const partitionKey = (topic: string, partition: number) => `${partition}\u0000${topic}`;

/**
 * A record read from Kafka. Offsets are numbers (exact below 2^53, as
 * offsets are); `key` and `value` are Buffers over the bytes received.
 */
export class ConsumedRecord implements KafkaPosition {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** `null`: the record has no key. */
  readonly key: Buffer | null;
  /** `null`: a null value (a tombstone). */
  readonly value: Buffer | null;
  /** In order, a repeated name kept, `attache-id` among them; a `null` value is a header without one. */
  readonly headers: ReadonlyArray<readonly [string, Buffer | null]>;
  /** Milliseconds since the Unix epoch, as the record carries it. */
  readonly timestamp: number;
  /**
   * The `attache-id` header: the same on every delivery of a record attache
   * produced, to drop duplicates by; `undefined` for records produced
   * otherwise.
   */
  readonly id: string | undefined;

  /** @internal */
  constructor(r: PbConsumedRecord) {
    this.topic = r.topic;
    this.partition = r.partition;
    this.offset = Number(r.offset);
    this.key = r.key === undefined ? null : Buffer.from(r.key.buffer, r.key.byteOffset, r.key.byteLength);
    this.value = r.value === undefined ? null : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    let id: string | undefined;
    this.headers = r.headers.map((h) => {
      const value = h.value === undefined ? null : Buffer.from(h.value.buffer, h.value.byteOffset, h.value.byteLength);
      if (h.key === "attache-id" && id === undefined && value !== null) id = value.toString("utf8");
      return [h.key, value] as const;
    });
    this.timestamp = Number(r.timestampMs);
    this.id = id;
  }

  /** The value as UTF-8 text; `null` for a null value. */
  text(): string | null {
    return this.value === null ? null : this.value.toString("utf8");
  }
}

type AckSink = (message: ConsumedMessage, epoch: number) => boolean;

/** A record a {@link KafkaConsumer} delivered: acknowledge it with `ack()` once handled. */
export class ConsumedMessage extends ConsumedRecord {
  readonly #sink: AckSink;
  readonly #epoch: number;
  #acked = false;

  /** @internal */
  constructor(r: PbConsumedRecord, sink: AckSink, epoch: number) {
    super(r);
    this.#sink = sink;
    this.#epoch = epoch;
  }

  /**
   * Acknowledges the record: handled, never to be delivered again to the
   * group. Acks are sent together (every `ackBatchMs`, or `ackBatchSize` at
   * once, or when the loop waits for records); the group's offset moves
   * only past records all acknowledged, so any order is fine. Returns
   * false, doing nothing, if it was acknowledged before, or can no longer
   * be: its partition was revoked since, or the consumer is closed or
   * failed; the group then delivers it again.
   */
  ack(): boolean {
    if (this.#acked) return false;
    this.#acked = this.#sink(this, this.#epoch);
    return this.#acked;
  }
}

type ConsumeMethod = typeof KafkaService.method.consume;

interface Waiter {
  resolve: (result: IteratorResult<ConsumedMessage, undefined>) => void;
  reject: (err: AttacheError) => void;
}

const DONE: IteratorResult<ConsumedMessage, undefined> = { done: true, value: undefined };

/**
 * A member of a consumer group for as long as it is open, on a stream (a
 * connection) of its own: iterate it for the group's records of its
 * topics, `ack()` each once handled, `close()` it when done (leaving a
 * `for await` loop closes it). Make one with `attache.kafka.consume()`.
 *
 * At least once: a record not acknowledged when the consumer closes, fails
 * or loses its partition is delivered again to the group (here or to
 * another member), as are the records after it on its partition. Events
 * `"assigned"` and `"revoked"` carry the partitions a rebalance gave or
 * took (`assignment` is the current set); the records of a revoked
 * partition not yet handed out are dropped, and acks of those handed out
 * do nothing.
 *
 * A failure ends the loop with an `AttacheError`: `unavailable` (the
 * connection was lost), `aborted` (fenced by another consumer with the
 * same `instanceId`), `invalid_argument` (a bad group or topic),
 * `failed_precondition` (no brokers on the sidecar), `canceled` (the
 * signal). Nothing is retried: open a new consumer.
 */
export class KafkaConsumer
  extends EventEmitter<{ assigned: [partitions: TopicPartition[]]; revoked: [partitions: TopicPartition[]] }>
  implements AsyncIterableIterator<ConsumedMessage, undefined>
{
  private readonly stream: BidiStream<ConsumeMethod["input"], ConsumeMethod["output"]>;
  private readonly signal: AbortSignal | undefined;
  private readonly ackBatchMs: number;
  private readonly ackBatchSize: number;
  /** Delivered by the sidecar, not yet by `next()`. */
  private queue: ConsumedMessage[] = [];
  private readonly waiting: Waiter[] = [];
  private acks: Array<{ topic: string; partition: number; offset: bigint }> = [];
  private ackTimer: NodeJS.Timeout | undefined;
  /** Per partition, bumped when it is revoked: acks of records delivered before then do nothing. */
  private readonly epochs = new Map<string, number>();
  private readonly assigned = new Map<string, TopicPartition>();
  private failure: AttacheError | undefined;
  /** The failure was thrown from `next()`; later calls are done. */
  private reported = false;
  private closing: Promise<void> | undefined;
  private ended!: () => void;
  private readonly over = new Promise<void>((resolve) => (this.ended = resolve));
  private readonly sink: AckSink = (message, epoch) => this.acknowledge(message, epoch);

  /** @internal Use `attache.kafka.consume()`. */
  constructor(
    socketPath: string,
    private readonly timeoutMs: number,
    options: ConsumeOptions,
  ) {
    super();
    checkOptions(options, "consume");
    if (options.instanceId !== undefined && typeof options.instanceId !== "string") throw bad("instanceId", `must be a string, not ${kind(options.instanceId)}`);
    const subscribe = {
      group: options.group,
      topics: toTopics(options.topics),
      instanceId: options.instanceId ?? "",
      maxUnacked: toCount(options.maxUnacked, "maxUnacked", 1, UINT32, "a whole number of records, at least 1") ?? 0,
      start: toStart(options.start),
    };
    this.ackBatchMs = toCount(options.ackBatchMs, "ackBatchMs", 0, 60_000, "a whole number of milliseconds") ?? 5;
    this.ackBatchSize = toCount(options.ackBatchSize, "ackBatchSize", 1, 100_000, "a whole number of acks, at least 1") ?? 500;
    this.signal = options.signal;
    this.stream = new BidiStream(socketPath, KafkaService.method.consume, {
      message: (m) => this.receive(m),
      end: (error) => this.end(error),
    });
    this.stream.send({ step: { case: "subscribe", value: subscribe } });
    if (this.signal?.aborted) queueMicrotask(this.abort);
    else this.signal?.addEventListener("abort", this.abort, { once: true });
  }

  /** The partitions this consumer reads now (empty until the group assigns it some). */
  get assignment(): TopicPartition[] {
    return [...this.assigned.values()].map((p) => ({ ...p }));
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** The next record, waiting for one; done once the consumer is closed, rejecting with its failure once. */
  next(): Promise<IteratorResult<ConsumedMessage, undefined>> {
    const message = this.queue.shift();
    if (message) return Promise.resolve({ done: false, value: message });
    if (this.failure) {
      if (this.reported) return Promise.resolve(DONE);
      this.reported = true;
      return Promise.reject(this.failure);
    }
    if (this.closing || this.stream.ended) return Promise.resolve(DONE);
    // Nothing to hand out: the sidecar may be holding records back until
    // these acks free room under maxUnacked.
    this.flushAcks();
    this.stream.ref();
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  /** Leaving a `for await` loop (break, return, throw) closes the consumer. */
  async return(): Promise<IteratorResult<ConsumedMessage, undefined>> {
    await this.close();
    return DONE;
  }

  /**
   * Sends the acks not yet sent, then ends the stream: the sidecar commits
   * what was acknowledged and the member leaves the group (with an
   * `instanceId`, it keeps its partitions for the session timeout).
   * Records delivered and not yet handed out by the loop are dropped (the
   * group delivers them again), and the loop ends. Resolves once the
   * sidecar has ended the stream; never rejects.
   */
  close(): Promise<void> {
    if (!this.closing) this.shutdown();
    return this.closing!;
  }

  private shutdown(): void {
    this.closing = this.over;
    this.queue = [];
    this.flushAcks();
    for (const w of this.waiting.splice(0)) w.resolve(DONE);
    if (this.stream.ended) return;
    this.stream.closeSend();
    this.stream.ref();
    const timer = setTimeout(
      () => this.stream.destroy(new AttacheError(Code.DeadlineExceeded, `the sidecar did not end the stream within ${this.timeoutMs} ms`)),
      this.timeoutMs,
    ).unref();
    void this.over.then(() => clearTimeout(timer));
  }

  private readonly abort = () => {
    if (this.closing || this.stream.ended) return;
    this.fail(new AttacheError(Code.Canceled, "the consumer was aborted"));
    this.shutdown();
  };

  private fail(error: AttacheError): void {
    if (this.failure) return;
    this.failure = error;
    this.queue = [];
    if (this.waiting.length > 0) {
      this.reported = true;
      for (const w of this.waiting.splice(0)) w.reject(error);
    }
  }

  private acknowledge(m: ConsumedMessage, epoch: number): boolean {
    if (this.closing || this.failure || this.stream.ended) return false;
    if ((this.epochs.get(partitionKey(m.topic, m.partition)) ?? 0) !== epoch) return false;
    this.acks.push({ topic: m.topic, partition: m.partition, offset: BigInt(m.offset) });
    if (this.acks.length >= this.ackBatchSize) this.flushAcks();
    else this.ackTimer ??= setTimeout(() => this.flushAcks(), this.ackBatchMs).unref();
    return true;
  }

  private flushAcks(): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (this.acks.length === 0 || this.stream.ended) return;
    const positions = this.acks;
    this.acks = [];
    try {
      this.stream.send({ step: { case: "ack", value: { positions } } });
    } catch {
      // The stream is over; end() reports why.
    }
  }

  private receive(message: PbConsumeResponse): void {
    const event = message.event;
    switch (event.case) {
      case "records": {
        if (this.closing || this.failure) return;
        for (const r of event.value.records) {
          this.queue.push(new ConsumedMessage(r, this.sink, this.epochs.get(partitionKey(r.topic, r.partition)) ?? 0));
        }
        while (this.waiting.length > 0 && this.queue.length > 0) this.waiting.shift()!.resolve({ done: false, value: this.queue.shift()! });
        if (this.waiting.length === 0) this.stream.unref();
        return;
      }
      case "assigned": {
        const partitions = event.value.partitions.map((p) => ({ topic: p.topic, partition: p.partition }));
        for (const p of partitions) this.assigned.set(partitionKey(p.topic, p.partition), { ...p });
        this.emit("assigned", partitions);
        return;
      }
      case "revoked": {
        const partitions = event.value.partitions.map((p) => ({ topic: p.topic, partition: p.partition }));
        const gone = new Set(partitions.map((p) => partitionKey(p.topic, p.partition)));
        for (const key of gone) {
          this.assigned.delete(key);
          this.epochs.set(key, (this.epochs.get(key) ?? 0) + 1);
        }
        // The group delivers these again elsewhere; acks of them would do nothing.
        this.queue = this.queue.filter((m) => !gone.has(partitionKey(m.topic, m.partition)));
        this.acks = this.acks.filter((a) => !gone.has(partitionKey(a.topic, a.partition)));
        this.emit("revoked", partitions);
        return;
      }
    }
  }

  private end(error: AttacheError | undefined): void {
    clearTimeout(this.ackTimer);
    this.acks = [];
    this.signal?.removeEventListener("abort", this.abort);
    if (!this.closing) this.fail(error ?? new AttacheError(Code.Unavailable, "the sidecar ended the stream; open a new consumer"));
    this.queue = [];
    for (const w of this.waiting.splice(0)) w.resolve(DONE);
    this.ended();
  }
}

/**
 * Records `attache.kafka.fetch()` leased to this caller: no other caller of
 * the group gets them while the lease lasts. Commit the ones handled before
 * it ends; those left out, and all of them if the lease runs out first, go
 * to a later fetch of the group.
 */
export class KafkaLease {
  /** @internal Use `attache.kafka.fetch()`. */
  constructor(
    /** The sidecar's id for the lease; empty when no record came. */
    readonly id: string,
    /** The records, in the order the group's consumer read them; empty when none came within `maxWaitMs`. */
    readonly records: readonly ConsumedRecord[],
    private readonly send: (acked: KafkaPosition[] | undefined, options: CallOptions) => Promise<CommitResult>,
  ) {}

  /**
   * Acknowledges records of the lease and ends it: all of them (`acked`
   * left out), or those listed (records of `records`, or positions
   * `{ topic, partition, offset }`); the others are delivered again by a
   * later fetch. An empty lease resolves to `{ acked: 0, redelivered: 0 }`
   * without a call. Rejects with `not_found` when the lease is over
   * (committed already, or expired: its records are delivered again,
   * perhaps already handled elsewhere), `invalid_argument` for a position
   * not in the lease. Not retried: a commit that went through and is sent
   * again is `not_found`.
   */
  async commit(acked?: readonly KafkaPosition[], options: CallOptions = {}): Promise<CommitResult> {
    let positions: KafkaPosition[] | undefined;
    if (acked !== undefined && acked !== null) {
      if (!Array.isArray(acked)) throw bad("acked", `must be an array of records or positions, not ${kind(acked)}`);
      positions = acked.map((p: unknown, i) => {
        const { topic, partition, offset } = (p ?? {}) as Partial<KafkaPosition>;
        if (typeof topic !== "string" || typeof partition !== "number" || typeof offset !== "number") {
          throw bad(`acked[${i}]`, "must be a record of the lease or { topic, partition, offset }");
        }
        if (!this.records.some((r) => r.topic === topic && r.partition === partition && r.offset === offset)) {
          throw bad(`acked[${i}]`, `${topic}/${partition} offset ${offset} is not a record of this lease`);
        }
        return { topic, partition, offset };
      });
    }
    if (this.records.length === 0) return { acked: 0, redelivered: 0 };
    return this.send(positions, options);
  }
}

/**
 * Kafka through the sidecar's durable spool, and consumer groups. No call
 * is retried (producing is not idempotent, nor is taking records);
 * delivery is at least once both ways, each record attache produced
 * carrying an `attache-id` header for consumers to drop duplicates.
 */
export class KafkaClient {
  constructor(
    private readonly transport: Transport,
    private readonly defaults: Defaults,
  ) {}

  /**
   * Produces records: resolves to one result per record, in order, once
   * each is acknowledged as `ack` asks. Either every record is spooled or
   * none is (the call rejects). With ack `"delivered"`, a record Kafka
   * refused has `error` set instead of `partition` and `offset`.
   */
  async produce(records: readonly KafkaRecord[], options: ProduceOptions = {}): Promise<ProduceResult[]> {
    const request = { records: toRecords(records), ack: toAck(options.ack) };
    const reply = await withPolicy(
      this.defaults,
      options,
      (timeoutMs) => this.transport.unary(KafkaService.method.produce, request, timeoutMs, options.signal),
      false,
    );
    return reply.results.map(toResult);
  }

  /** A stream of pipelined sends (see {@link ProduceStream}); close it when done. */
  produceStream(options: ProduceStreamOptions = {}): ProduceStream {
    return new ProduceStream(this.transport.socketPath, options.timeoutMs ?? this.defaults.timeoutMs, options.signal);
  }

  /**
   * Joins consumer group `group` for `topics` (see {@link KafkaConsumer}):
   * iterate it, `ack()` what was handled, close it when done. Throws
   * `invalid_argument` at once for options of the wrong JS types; the
   * sidecar's refusals (a bad group or topic, no brokers) end the loop.
   */
  consume(options: ConsumeOptions): KafkaConsumer {
    return new KafkaConsumer(this.transport.socketPath, this.defaults.timeoutMs, options);
  }

  /**
   * Leases up to `maxRecords` of group `group`'s records of `topics`,
   * waiting up to `maxWaitMs` for the first (then taking what is ready);
   * an empty lease (`records` empty, `id` "") if none came. For callers
   * that cannot hold a consumer open: the group's member lives in the
   * sidecar, shared by every fetch of the group (and these topics) on the
   * host; its first fetch joins the group, which takes a moment. Commit the
   * lease within `leaseMs`, or its records go to a later fetch. Not retried
   * (a fetch takes records; after a failure they come back once the lease
   * ends).
   */
  async fetch(options: FetchOptions): Promise<KafkaLease> {
    checkOptions(options, "fetch");
    const maxWaitMs = Math.min(toCount(options.maxWaitMs, "maxWaitMs", 0, UINT32, "a whole number of milliseconds") ?? 1000, MAX_WAIT_MS);
    const leaseMs = toCount(options.leaseMs, "leaseMs", 1, UINT32, "a whole number of milliseconds, at least 1 (default: the sidecar's kafka.consumer.lease_timeout)");
    const request = {
      group: options.group,
      topics: toTopics(options.topics),
      maxRecords: toCount(options.maxRecords, "maxRecords", 1, UINT32, "a whole number of records, at least 1") ?? 100,
      maxWaitMs,
      leaseMs: leaseMs === undefined ? 0 : Math.min(leaseMs, MAX_LEASE_MS),
      start: toStart(options.start),
    };
    if (options.timeoutMs !== undefined && !(options.timeoutMs > maxWaitMs)) {
      throw bad("timeoutMs", `the deadline (${options.timeoutMs} ms) must exceed the wait for records (maxWaitMs, ${maxWaitMs} ms)`);
    }
    const call = { timeoutMs: options.timeoutMs ?? maxWaitMs + this.defaults.timeoutMs, signal: options.signal };
    const reply = await withPolicy(
      this.defaults,
      call,
      (timeoutMs) => this.transport.unary(KafkaService.method.fetch, request, timeoutMs, options.signal),
      false,
    );
    const id = reply.leaseId;
    return new KafkaLease(
      id,
      reply.records.map((r) => new ConsumedRecord(r)),
      (acked, commitOptions) => this.commit(id, acked, commitOptions),
    );
  }

  private async commit(leaseId: string, acked: KafkaPosition[] | undefined, options: CallOptions): Promise<CommitResult> {
    const request = {
      leaseId,
      all: acked === undefined,
      acked: (acked ?? []).map((p) => ({ topic: p.topic, partition: p.partition, offset: BigInt(p.offset) })),
    };
    const reply = await withPolicy(
      this.defaults,
      options,
      (timeoutMs) => this.transport.unary(KafkaService.method.commit, request, timeoutMs, options.signal),
      false,
    );
    return { acked: reply.acked, redelivered: reply.redelivered };
  }
}
