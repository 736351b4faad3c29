import { create } from "@bufbuild/protobuf";
import {
  Algorithm as PbAlgorithm,
  Argon2ParamsSchema,
  BcryptParamsSchema,
  PasswordService,
  ScryptParamsSchema,
} from "../gen/attache/password/v1/password_pb.js";
import { SidecarService } from "../gen/attache/sidecar/v1/sidecar_pb.js";
import { AttacheError } from "./errors.js";
import { Transport } from "./transport.js";
import { type CallOptions, type Defaults, withPolicy } from "./policy.js";
import { RedisClient } from "./redis.js";
import { ImageClient } from "./image.js";
import { PostgresClient, type PostgresOptions } from "./postgres.js";
import { KafkaClient } from "./kafka.js";
import { defaultSocket } from "./socket.js";

export { AttacheError, type ErrorCode, type ErrorDetail } from "./errors.js";

export { defaultSocket } from "./socket.js";

export interface AttacheOptions {
  /** Unix socket path; defaults to $ATTACHE_SOCKET, then {@link defaultSocket}, the sidecar's own default. */
  socket?: string;
  /** Deadline for every call unless a call sets its own; default 10 s. */
  timeoutMs?: number;
  /** Retries of idempotent calls that failed with UNAVAILABLE; default 2. */
  retries?: number;
  /** Most connections to the socket at once (one call each); default 128. */
  maxConnections?: number;
  /** Postgres settings, e.g. `{ int8: "string" }`. */
  postgres?: PostgresOptions;
}

export type { CallOptions } from "./policy.js";
export { RedisClient, RedisReplyError, type RedisArg, type RedisValue, type SetOptions, type CachedOptions, type Subscription, type PubSubMessage } from "./redis.js";

export {
  PostgresClient,
  TypedParam,
  typed,
  type PostgresOptions,
  type Int8Mode,
  type Isolation,
  type QueryResult,
  type QueryColumn,
  type QueryOptions,
  type Statement,
  type ExecuteOptions,
  type TransactionOptions,
  type Transaction,
  type Interval,
  type CacheInfo,
  type CacheStatus,
  type OnConflict,
  type InsertOptions,
  type InsertResult,
  type GetOrLoadOptions,
  type GetOrLoadResult,
} from "./postgres.js";

export {
  KafkaClient,
  ProduceStream,
  KafkaConsumer,
  KafkaLease,
  ConsumedRecord,
  ConsumedMessage,
  type ConsumeOptions,
  type FetchOptions,
  type CommitResult,
  type KafkaStart,
  type KafkaPosition,
  type TopicPartition,
  type KafkaAck,
  type KafkaBytes,
  type KafkaHeaders,
  type KafkaRecord,
  type ProduceOptions,
  type ProduceResult,
  type ProduceStreamOptions,
  type SendOptions,
} from "./kafka.js";

export { ImageClient, type ResizeOptions, type ResizedImage, type ImageInfo, type Fit, type Gravity, type ImageFormat } from "./image.js";

export type Algorithm = "argon2id" | "bcrypt" | "scrypt";

export interface HashOptions extends CallOptions {
  /** Defaults to the sidecar's policy (argon2id unless configured). */
  algorithm?: Algorithm;
  argon2?: { memoryKib?: number; iterations?: number; parallelism?: number };
  bcrypt?: { cost?: number };
  scrypt?: { logN?: number; r?: number; p?: number };
}

export interface Verification {
  valid: boolean;
  /** The hash's algorithm or costs differ from the sidecar's policy: store a fresh hash. */
  needsRehash: boolean;
}

const algorithms: Record<Algorithm, PbAlgorithm> = {
  argon2id: PbAlgorithm.ARGON2ID,
  bcrypt: PbAlgorithm.BCRYPT,
  scrypt: PbAlgorithm.SCRYPT,
};

/** Password hashing on the sidecar's dedicated threads, off the event loop. */
export class PasswordClient {
  constructor(
    private readonly transport: Transport,
    private readonly defaults: Defaults,
  ) {}

  /** Hashes `password`; resolves to a PHC (`$argon2id$…`) or bcrypt (`$2b$…`) string. */
  async hash(password: string, options: HashOptions = {}): Promise<string> {
    if (options.algorithm && !(options.algorithm in algorithms)) {
      throw new AttacheError(3, `unknown algorithm ${options.algorithm}; use argon2id, bcrypt or scrypt`);
    }
    const request = {
      password,
      algorithm: options.algorithm ? algorithms[options.algorithm] : PbAlgorithm.UNSPECIFIED,
      argon2: options.argon2 && create(Argon2ParamsSchema, options.argon2),
      bcrypt: options.bcrypt && create(BcryptParamsSchema, options.bcrypt),
      scrypt: options.scrypt && create(ScryptParamsSchema, options.scrypt),
    };
    const reply = await withPolicy(this.defaults, options, (timeoutMs) =>
      this.transport.unary(PasswordService.method.hash, request, timeoutMs, options.signal),
    );
    return reply.hash;
  }

  /** Checks `password` against a stored hash from attache or any compatible library. */
  async verify(password: string, hash: string, options: CallOptions = {}): Promise<Verification> {
    const reply = await withPolicy(this.defaults, options, (timeoutMs) =>
      this.transport.unary(PasswordService.method.verify, { password, hash }, timeoutMs, options.signal),
    );
    return { valid: reply.valid, needsRehash: reply.needsRehash };
  }
}

/**
 * A client of the attache sidecar on its Unix socket: Connect (binary
 * protobuf) over a pool of keep-alive connections, one call per connection
 * at a time. Create one per process and share it.
 */
export interface Info {
  /** The sidecar's version. */
  version: string;
  /** Modules that serve requests, e.g. `["password"]`. */
  modules: string[];
}

export class Attache {
  readonly password: PasswordClient;
  /** Redis/Valkey through the sidecar's shared pipelined connections and cache. */
  readonly redis: RedisClient;
  /** Image resizing on the sidecar's image threads. */
  readonly image: ImageClient;
  /** PostgreSQL through the sidecar's shared connection pool. */
  readonly postgres: PostgresClient;
  /** Kafka through the sidecar's durable spool. */
  readonly kafka: KafkaClient;
  readonly socket: string;
  private readonly transport: Transport;
  private readonly defaults: Defaults;

  constructor(options: AttacheOptions = {}) {
    this.socket = options.socket ?? (process.env.ATTACHE_SOCKET || defaultSocket());
    const envTimeout = Number(process.env.ATTACHE_TIMEOUT_MS);
    const defaults = {
      timeoutMs: options.timeoutMs ?? (Number.isFinite(envTimeout) && envTimeout > 0 ? envTimeout : 10_000),
      retries: options.retries ?? 2,
    };
    this.transport = new Transport({ socket: this.socket, maxConnections: options.maxConnections ?? 128, idleMs: 30_000 });
    this.password = new PasswordClient(this.transport, defaults);
    this.redis = new RedisClient(this.transport, defaults);
    this.image = new ImageClient(this.transport, defaults);
    this.postgres = new PostgresClient(this.transport, defaults, options.postgres);
    this.kafka = new KafkaClient(this.transport, defaults);
    this.defaults = defaults;
  }

  /** The sidecar's version and modules; a cheap call to check the socket answers. */
  async info(options: CallOptions = {}): Promise<Info> {
    const reply = await withPolicy(this.defaults, options, (timeoutMs) =>
      this.transport.unary(SidecarService.method.getInfo, {}, timeoutMs, options.signal),
    );
    return { version: reply.version, modules: [...reply.modules] };
  }

  /** Closes idle connections; calls in flight finish first. */
  close(): void {
    this.transport.close();
  }
}
