// Kafka through the sidecar's durable spool: a record is acknowledged once
// it is on this host's disk (or, with ack "delivered", once Kafka has it),
// and reaches Kafka even if Kafka is down now or attache restarts.
import { type MessageInitShape } from "@bufbuild/protobuf";
import {
  Ack as PbAck,
  KafkaService,
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
 * Kafka through the sidecar's durable spool. No call is retried (producing
 * is not idempotent); delivery to Kafka is at least once, each record
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
}
