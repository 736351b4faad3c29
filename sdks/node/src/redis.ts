// Redis/Valkey through the sidecar: every process on the host shares its
// pipelined connections and its client-side cache.
import { type Value } from "../gen/attache/redis/v1/redis_pb.js";
import { RedisService } from "../gen/attache/redis/v1/redis_pb.js";
import { AttacheError, codeFromName } from "./errors.js";
import { type CallOptions, type Defaults, withPolicy } from "./policy.js";
import { serverStream } from "./stream.js";
import { type Transport } from "./transport.js";

/** A command argument; numbers are sent in decimal. */
export type RedisArg = string | Buffer | Uint8Array | number;

/**
 * A RESP3 reply: `null` (nil), `Buffer` (bulk string), `string` (simple
 * string), `number` (integer or double; integers beyond 2^53 are `bigint`),
 * `boolean`, arrays (and sets), `Map` (maps), or `RedisReplyError` inside
 * arrays (a top-level error reply is thrown instead).
 */
export type RedisValue = null | Buffer | string | number | bigint | boolean | RedisReplyError | RedisValue[] | Map<RedisValue, RedisValue>;

/** An error reply from Redis, e.g. `WRONGTYPE Operation against a key …`. */
export class RedisReplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RedisReplyError";
  }
}

export interface CachedOptions extends CallOptions {
  /** Longest time the reply may be served from the cache; the key's own TTL shortens it. Default: the sidecar's. */
  ttlMs?: number;
}

export interface SetOptions extends CallOptions {
  /** Expire after this many milliseconds. */
  px?: number;
  /** Only set if the key does not exist. */
  nx?: boolean;
}

export interface PubSubMessage {
  channel: string;
  /** The pattern that matched, for pattern subscriptions. */
  pattern?: string;
  payload: Buffer;
}

/** A live subscription: iterate it for messages; `close()` (or leaving the loop) unsubscribes. */
export interface Subscription extends AsyncIterable<PubSubMessage> {
  close(): void;
}

function toArg(arg: RedisArg): Uint8Array {
  if (typeof arg === "string") return Buffer.from(arg, "utf8");
  if (typeof arg === "number") return Buffer.from(String(arg), "latin1");
  return arg;
}

function fromValue(value: Value | undefined): RedisValue {
  const kind = value?.kind;
  switch (kind?.case) {
    case undefined:
    case "null":
      return null;
    case "bulk":
      return Buffer.from(kind.value.buffer, kind.value.byteOffset, kind.value.byteLength);
    case "simple":
      return kind.value;
    case "integer":
      return kind.value >= BigInt(Number.MIN_SAFE_INTEGER) && kind.value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(kind.value) : kind.value;
    case "error":
      return new RedisReplyError(kind.value);
    case "array":
    case "set":
      return kind.value.values.map(fromValue);
    case "map":
      return new Map(kind.value.entries.map((e) => [fromValue(e.key), fromValue(e.value)]));
    case "double":
      return kind.value;
    case "boolean":
      return kind.value;
    case "bigNumber":
      return BigInt(kind.value);
    case "verbatim":
      return Buffer.from(kind.value.text).toString("utf8");
  }
}

/** Throws a top-level error reply, as other Redis clients do. */
function orThrow(value: RedisValue): RedisValue {
  if (value instanceof RedisReplyError) throw value;
  return value;
}

function text(value: RedisValue): string | null {
  if (value === null) return null;
  if (Buffer.isBuffer(value)) return value.toString("utf8");
  return String(value);
}

/** Commands that block; they never share a batch (they would hold it up). */
const BLOCKING = new Set(["BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP", "WAIT", "WAITAOF"]);

function batchable(args: RedisArg[]): boolean {
  const name = String(args[0] ?? "").toUpperCase();
  if (BLOCKING.has(name)) return false;
  if (name === "XREAD" || name === "XREADGROUP") return !args.some((a) => String(a).toUpperCase() === "BLOCK");
  return true;
}

/**
 * Most calls one Batch RPC carries; a larger tick is split into several
 * RPCs in flight at once. Measured with 64 callers: one batch of 64 left
 * callers in lock-step behind a single RPC (35k ops/s); batches of 32
 * overlap on the sidecar's threads (60k ops/s); 8 and 16 pay more per-RPC
 * cost than they gain.
 */
const MAX_BATCH = 32;

type Call = { case: "do"; value: { args: Uint8Array[] } } | { case: "doCached"; value: { args: Uint8Array[]; ttlMs: bigint } };
type Outcome = { value: RedisValue; cacheHit: boolean };
interface Queued {
  call: Call;
  timeoutMs: number;
  resolve: (outcome: Outcome) => void;
  reject: (err: unknown) => void;
}

export class RedisClient {
  private queue: Queued[] = [];
  private scheduled = false;

  constructor(
    private readonly transport: Transport,
    private readonly defaults: Defaults,
  ) {}

  /**
   * Auto-pipelining, as ioredis's option but across the socket: calls made
   * in the same event-loop tick go to the sidecar in one Batch RPC, so one
   * request's cost is shared by all of them, and the sidecar writes their
   * commands to Redis together. A lone call goes alone, unbatched.
   */
  private enqueue(call: Call, timeoutMs: number): Promise<Outcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ call, timeoutMs, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        process.nextTick(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      if (batch.length === 1) void this.sendOne(batch[0]);
      else void this.sendBatch(batch);
    }
  }

  private async sendOne(q: Queued): Promise<void> {
    try {
      if (q.call.case === "do") {
        const reply = await this.transport.unary(RedisService.method.do, q.call.value, q.timeoutMs);
        q.resolve({ value: fromValue(reply.reply), cacheHit: false });
      } else {
        const reply = await this.transport.unary(RedisService.method.doCached, q.call.value, q.timeoutMs);
        q.resolve({ value: fromValue(reply.reply), cacheHit: reply.cacheHit });
      }
    } catch (err) {
      q.reject(err);
    }
  }

  private async sendBatch(batch: Queued[]): Promise<void> {
    try {
      // Nobody's call is cut short by a neighbour's shorter deadline.
      const timeoutMs = Math.max(...batch.map((q) => q.timeoutMs));
      const reply = await this.transport.unary(RedisService.method.batch, { calls: batch.map((q) => ({ call: q.call })) }, timeoutMs);
      batch.forEach((q, i) => {
        const result = reply.results[i]?.result;
        switch (result?.case) {
          case "do":
            return q.resolve({ value: fromValue(result.value.reply), cacheHit: false });
          case "doCached":
            return q.resolve({ value: fromValue(result.value.reply), cacheHit: result.value.cacheHit });
          case "error":
            return q.reject(new AttacheError(codeFromName(result.value.code), result.value.message));
          default:
            return q.reject(new AttacheError(codeFromName("internal"), "the sidecar's batch reply lacks a result"));
        }
      });
    } catch (err) {
      for (const q of batch) q.reject(err);
    }
  }

  /** Runs one command, e.g. `do(["HINCRBY", "stats", "hits", 1])`. Not retried (it may not be idempotent). */
  async do(args: RedisArg[], options: CallOptions = {}): Promise<RedisValue> {
    const encoded = args.map(toArg);
    if (options.signal || !batchable(args)) {
      const reply = await withPolicy(
        this.defaults,
        options,
        (timeoutMs) => this.transport.unary(RedisService.method.do, { args: encoded }, timeoutMs, options.signal),
        false,
      );
      return orThrow(fromValue(reply.reply));
    }
    const outcome = await withPolicy(this.defaults, options, (timeoutMs) => this.enqueue({ case: "do", value: { args: encoded } }, timeoutMs), false);
    return orThrow(outcome.value);
  }

  /** Runs commands in order, replies in order; error replies are `RedisReplyError` values. MULTI … EXEC (with WATCH) in one call is atomic. */
  async doMulti(commands: RedisArg[][], options: CallOptions = {}): Promise<RedisValue[]> {
    const request = { commands: commands.map((args) => ({ args: args.map(toArg) })) };
    const reply = await withPolicy(
      this.defaults,
      options,
      (timeoutMs) => this.transport.unary(RedisService.method.doMulti, request, timeoutMs, options.signal),
      false,
    );
    return reply.replies.map(fromValue);
  }

  /** A read-only command served from the sidecar's cache, which Redis keeps correct by invalidation. */
  async doCached(args: RedisArg[], options: CachedOptions = {}): Promise<{ value: RedisValue; cacheHit: boolean }> {
    const request = { args: args.map(toArg), ttlMs: BigInt(Math.max(0, Math.floor(options.ttlMs ?? 0))) };
    if (options.signal) {
      const reply = await withPolicy(this.defaults, options, (timeoutMs) =>
        this.transport.unary(RedisService.method.doCached, request, timeoutMs, options.signal),
      );
      return { value: orThrow(fromValue(reply.reply)), cacheHit: reply.cacheHit };
    }
    const outcome = await withPolicy(this.defaults, options, (timeoutMs) => this.enqueue({ case: "doCached", value: request }, timeoutMs));
    return { value: orThrow(outcome.value), cacheHit: outcome.cacheHit };
  }

  /** Reads many keys, hits from the cache and misses from Redis in one round trip. */
  async mgetCached(keys: RedisArg[], options: CachedOptions = {}): Promise<{ values: (Buffer | null)[]; cacheHits: number }> {
    const request = { keys: keys.map(toArg), ttlMs: BigInt(Math.max(0, Math.floor(options.ttlMs ?? 0))) };
    const reply = await withPolicy(this.defaults, options, (timeoutMs) =>
      this.transport.unary(RedisService.method.mGetCached, request, timeoutMs, options.signal),
    );
    return { values: reply.values.map((v) => fromValue(v) as Buffer | null), cacheHits: reply.cacheHits };
  }

  /**
   * Subscribes to channels and/or patterns; resolves once Redis has
   * confirmed them. A subscriber that falls behind is ended with a
   * `resource_exhausted` error; a lost connection with `unavailable`.
   */
  async subscribe(topics: { channels?: string[]; patterns?: string[] }, options: { signal?: AbortSignal } = {}): Promise<Subscription> {
    const controller = new AbortController();
    options.signal?.addEventListener("abort", () => controller.abort(), { once: true });
    const stream = serverStream(
      this.transport.socketPath,
      RedisService.method.subscribe,
      { channels: topics.channels ?? [], patterns: topics.patterns ?? [] },
      controller.signal,
    );
    const first = await stream.next();
    if (first.done || first.value.event.case !== "subscribed") throw new Error("the subscription ended before it was confirmed");
    const messages = async function* (): AsyncGenerator<PubSubMessage> {
      try {
        for await (const response of stream) {
          if (response.event.case !== "message") continue;
          const m = response.event.value;
          yield { channel: m.channel, pattern: m.pattern || undefined, payload: Buffer.from(m.payload) };
        }
      } finally {
        controller.abort();
      }
    };
    const iterator = messages();
    return {
      [Symbol.asyncIterator]: () => iterator,
      close: () => {
        controller.abort();
        void iterator.return(undefined);
      },
    };
  }

  // Typed helpers for the common commands.

  /** GET as UTF-8 text; `null` if missing. */
  async get(key: RedisArg, options?: CallOptions): Promise<string | null> {
    return text(await this.do(["GET", key], options));
  }

  /** GET from the cache (see `doCached`). */
  async getCached(key: RedisArg, options?: CachedOptions): Promise<string | null> {
    return text((await this.doCached(["GET", key], options)).value);
  }

  /** SET; false when `nx` was given and the key existed. */
  async set(key: RedisArg, value: RedisArg, options: SetOptions = {}): Promise<boolean> {
    const args: RedisArg[] = ["SET", key, value];
    if (options.px !== undefined) args.push("PX", options.px);
    if (options.nx) args.push("NX");
    return (await this.do(args, options)) !== null;
  }

  async del(keys: RedisArg[], options?: CallOptions): Promise<number> {
    return (await this.do(["DEL", ...keys], options)) as number;
  }

  async incr(key: RedisArg, options?: CallOptions): Promise<number> {
    return (await this.do(["INCR", key], options)) as number;
  }

  /** EXPIRE in seconds; false if the key does not exist. */
  async expire(key: RedisArg, seconds: number, options?: CallOptions): Promise<boolean> {
    return (await this.do(["EXPIRE", key, seconds], options)) === 1;
  }

  async hget(key: RedisArg, field: RedisArg, options?: CallOptions): Promise<string | null> {
    return text(await this.do(["HGET", key, field], options));
  }

  /** HSET of several fields; resolves to the number of new fields. */
  async hset(key: RedisArg, fields: Record<string, RedisArg>, options?: CallOptions): Promise<number> {
    return (await this.do(["HSET", key, ...Object.entries(fields).flat()], options)) as number;
  }

  async hgetall(key: RedisArg, options?: CallOptions): Promise<Record<string, string>> {
    const map = (await this.do(["HGETALL", key], options)) as Map<RedisValue, RedisValue>;
    return Object.fromEntries([...map].map(([k, v]) => [text(k) ?? "", text(v) ?? ""]));
  }

  async mget(keys: RedisArg[], options?: CallOptions): Promise<(string | null)[]> {
    return ((await this.do(["MGET", ...keys], options)) as RedisValue[]).map(text);
  }
}
