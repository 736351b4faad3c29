// PostgreSQL through the sidecar: every process on the host shares one pool
// of connections, so a fleet of short-lived workers does not open a
// connection each. Values travel typed (proto `Value`), not as text, and are
// mapped to JS here; parameters are mapped from JS to `Value`s and the
// server lets Postgres infer their types unless `typed()` names one.
import { type MessageInitShape } from "@bufbuild/protobuf";
import {
  CacheStatus as PbCacheStatus,
  ConflictAction as PbConflictAction,
  Infinity as PbInfinity,
  Isolation as PbIsolation,
  PostgresService,
  type ValueSchema,
  type Array as PbArray,
  type CacheInfo as PbCacheInfo,
  type Column as PbColumn,
  type QueryResponse as PbQueryResponse,
  type Row as PbRow,
  type Timestamp as PbTimestamp,
  type TransactionResponse as PbTransactionResponse,
  type TransactionRequestSchema,
  type Value as PbValue,
} from "../gen/attache/postgres/v1/postgres_pb.js";
import { AttacheError, Code } from "./errors.js";
import { type CallOptions, type Defaults, withPolicy } from "./policy.js";
import { BidiStream } from "./stream.js";
import { type Transport } from "./transport.js";

/**
 * How int8 (and other 64-bit) values come back: `bigint` (default, exact),
 * `string` (exact, decimal), or `number` (throws `out_of_range` for a value
 * beyond ±Number.MAX_SAFE_INTEGER rather than round it). int2, int4 and oid
 * columns (and arrays of them) always come back as `number`: they always fit.
 */
export type Int8Mode = "bigint" | "string" | "number";

export type Isolation = "read committed" | "repeatable read" | "serializable";

/** Client-wide Postgres settings (`new Attache({ postgres: { … } })`). */
export interface PostgresOptions {
  /** Default `"bigint"`. */
  int8?: Int8Mode;
}

export interface QueryColumn {
  name: string;
  typeOid: number;
  /** Postgres's name for the type, e.g. `"int8"`, `"_text"` for text[]. */
  typeName: string;
}

/**
 * Where a result came from: `"miss"`, run on the database (for this caller
 * and any identical read that joined it); `"coalesced"`, shared from an
 * identical read already running; `"hit"`, answered from the cache;
 * `"bypass"`, not eligible for sharing or caching (a write, a transaction,
 * a volatile function…; `reason` says which).
 */
export type CacheStatus = "bypass" | "miss" | "coalesced" | "hit";

export interface CacheInfo {
  status: CacheStatus;
  /** Why the statement could not be shared or cached (`"bypass"`), or why a read asked to be cached was not (`"miss"`); else `""`. */
  reason: string;
  /** For `"hit"`: how long ago, in ms, the result was read from the database; else 0. */
  ageMs: number;
}

export interface QueryResult<R = Record<string, unknown>> {
  /** One object per row, keyed by column name (of duplicate names, the last column wins). */
  rows: R[];
  columns: QueryColumn[];
  /** Rows returned, inserted, updated or deleted. */
  rowsAffected: number;
  /** As Postgres reports it, e.g. `"INSERT 0 1"`. */
  commandTag: string;
  /** How the result was obtained (an `execute()` result always says `"bypass"`). */
  cache: CacheInfo;
}

/** An interval, as Postgres keeps it: months, days and microseconds are independent. */
export interface Interval {
  months: number;
  days: number;
  /** A bigint, string or number per the `int8` setting. */
  micros: bigint | string | number;
}

export interface QueryOptions extends CallOptions {
  /** Overrides the client's `int8` setting for this call. */
  int8?: Int8Mode;
  /** Fail with `resource_exhausted` rather than return more rows than this. */
  maxRows?: number;
  /**
   * Keep this read's result for this many ms and answer identical reads
   * (same SQL and parameters) from it, until a write through attache to a
   * table it reads (a write made outside attache is seen when it expires).
   * Capped by the sidecar's `postgres.cache.max_ttl`; `result.cache` says
   * whether it was a hit, and why a read could not be cached.
   */
  cacheTtlMs?: number;
}

/** What `insert` does with a row that conflicts with a unique constraint (by default: fail with `already_exists`). */
export interface OnConflict {
  /** `"nothing"`: skip the row (`inserted: false`); `"update"`: update the existing row's `update` columns. */
  action: "nothing" | "update";
  /** The conflict target's columns (required for `"update"`). */
  target?: string[];
  /** For `"update"`: the columns that take the new row's values. */
  update?: string[];
}

export interface InsertOptions extends CallOptions {
  /** Columns of the inserted row to return; `["*"]` for all of them. */
  returning?: string[];
  onConflict?: OnConflict;
  int8?: Int8Mode;
}

export interface InsertResult<R = Record<string, unknown>> {
  /** False when `onConflict: { action: "nothing" }` skipped the row. */
  inserted: boolean;
  /** The `returning` columns of the row, decoded as query rows are; undefined if none were asked or nothing was inserted. */
  row: R | undefined;
  /** Rows in the statement that carried this one (inserts of one shape from any caller are merged). */
  batchSize: number;
}

export interface GetOrLoadOptions extends CallOptions {
  /** How long, in ms, Redis keeps the result; required. */
  ttlMs: number;
  int8?: Int8Mode;
}

/** A `getOrLoad` result: as a query's, without the row count and command tag. */
export type GetOrLoadResult<R = Record<string, unknown>> = Pick<QueryResult<R>, "rows" | "columns" | "cache">;

export interface Statement {
  sql: string;
  params?: unknown[];
}

export interface ExecuteOptions extends CallOptions {
  /** All statements or none, in one transaction. */
  transactional?: boolean;
  isolation?: Isolation;
  readOnly?: boolean;
  int8?: Int8Mode;
}

export interface TransactionOptions extends CallOptions {
  isolation?: Isolation;
  readOnly?: boolean;
  /** With `serializable` and `readOnly`: wait for a snapshot that cannot fail. */
  deferrable?: boolean;
  /**
   * Run the transaction on a stream (a connection) of its own, whose
   * lifetime is the transaction's: if this process dies or the connection
   * breaks before Commit, the sidecar rolls it back at once rather than
   * after its idle timeout. A statement that fails ends it, rolled back.
   */
  stream?: boolean;
}

/** The handle `transaction()` passes to its callback. */
export interface Transaction {
  /** The sidecar's id for the transaction; `""` for one on a stream (the stream is the transaction). */
  readonly id: string;
  /** Runs one statement inside the transaction. */
  query<R = Record<string, unknown>>(sql: string, params?: unknown[], options?: QueryOptions): Promise<QueryResult<R>>;
}

/** A parameter with an explicit Postgres type; make one with {@link typed}. */
export class TypedParam {
  constructor(
    readonly value: unknown,
    readonly type: string,
  ) {}
}

/**
 * A parameter sent with a type hint, e.g. `typed("9007199254740993", "int8")`,
 * `typed(ids, "uuid[]")` or `typed([1, 2], "jsonb")` (with a json or jsonb
 * type, any non-string value is sent as JSON, arrays included; a string is
 * taken as JSON text already).
 */
export function typed(value: unknown, type: string): TypedParam {
  return new TypedParam(value, type);
}

const isolations: Record<Isolation, PbIsolation> = {
  "read committed": PbIsolation.READ_COMMITTED,
  "repeatable read": PbIsolation.REPEATABLE_READ,
  serializable: PbIsolation.SERIALIZABLE,
};

const conflictActions: Record<OnConflict["action"], PbConflictAction> = {
  nothing: PbConflictAction.NOTHING,
  update: PbConflictAction.UPDATE,
};

function onConflict(conflict: OnConflict | undefined) {
  if (conflict === undefined) return undefined;
  const action = conflictActions[conflict.action];
  if (action === undefined) {
    throw new AttacheError(Code.InvalidArgument, `unknown onConflict action ${conflict.action}; use "nothing" or "update"`);
  }
  return { action, target: conflict.target ?? [], update: conflict.update ?? [] };
}

/** A duration option in ms as the wire's uint64; undefined is 0. */
function millis(ms: number | undefined, what: string): bigint {
  if (ms === undefined) return 0n;
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
    throw new AttacheError(Code.InvalidArgument, `${what} must be a number of ms, 0 or more`);
  }
  return BigInt(Math.floor(ms));
}

function isolation(name: Isolation | undefined): PbIsolation {
  if (name === undefined) return PbIsolation.UNSPECIFIED;
  const value = isolations[name];
  if (value === undefined) {
    throw new AttacheError(Code.InvalidArgument, `unknown isolation ${name}; use "read committed", "repeatable read" or "serializable"`);
  }
  return value;
}

// Parameters: JS values to proto Values.

type ValueInit = MessageInitShape<typeof ValueSchema>;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function badParam(why: string): AttacheError {
  return new AttacheError(Code.InvalidArgument, `cannot send this parameter: ${why}`);
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function jsonValue(v: unknown): ValueInit {
  const text = JSON.stringify(v);
  if (text === undefined) throw badParam(`${typeof v} has no JSON form`);
  return { kind: { case: "json", value: text } };
}

/** The dimensions of a rectangular nested array, or undefined if it is jagged. */
function shape(v: unknown[]): number[] | undefined {
  if (!v.some(Array.isArray)) return [v.length];
  if (!v.every(Array.isArray)) return undefined;
  const inner = v.map((e) => shape(e as unknown[]));
  const first = inner[0];
  if (!first || inner.some((s) => !s || s.length !== first.length || s.some((n, i) => n !== first[i]))) return undefined;
  return [v.length, ...first];
}

function arrayValue(v: unknown[]): ValueInit {
  const dims = shape(v);
  if (!dims) throw badParam("a nested array must be rectangular, as Postgres arrays are");
  if (dims.includes(0)) return { kind: { case: "array", value: { dimensions: [], elements: [] } } };
  const elements = (v as unknown[]).flat(dims.length - 1).map(toValue);
  return {
    kind: { case: "array", value: { dimensions: dims.map((length) => ({ length, lowerBound: 1 })), elements } },
  };
}

function toValue(v: unknown): ValueInit {
  switch (typeof v) {
    case "undefined":
      return { kind: { case: "null", value: true } };
    case "boolean":
      return { kind: { case: "bool", value: v } };
    case "bigint":
      return v >= INT64_MIN && v <= INT64_MAX ? { kind: { case: "int", value: v } } : { kind: { case: "numeric", value: v.toString() } };
    case "number":
      return Number.isSafeInteger(v) ? { kind: { case: "int", value: BigInt(v) } } : { kind: { case: "float", value: v } };
    case "string":
      return { kind: { case: "text", value: v } };
    case "object": {
      if (v === null) return { kind: { case: "null", value: true } };
      if (v instanceof Uint8Array) return { kind: { case: "bytes", value: v } };
      if (v instanceof ArrayBuffer) return { kind: { case: "bytes", value: new Uint8Array(v) } };
      if (v instanceof Date) {
        const ms = v.getTime();
        if (Number.isNaN(ms)) throw badParam("an invalid Date");
        return { kind: { case: "timestamptz", value: { micros: BigInt(ms) * 1000n } } };
      }
      if (Array.isArray(v)) return arrayValue(v);
      if (v instanceof TypedParam) throw badParam("typed() applies to a whole parameter, not to an array element");
      if (isPlainObject(v) || typeof (v as { toJSON?: unknown }).toJSON === "function") return jsonValue(v);
      throw badParam(`${v.constructor?.name ?? "this object"} has no Postgres form; send JSON.stringify(…) or a plain object`);
    }
    default:
      throw badParam(`a ${typeof v} has no Postgres form`);
  }
}

function toParam(v: unknown): { value: ValueInit; type: string } {
  if (v instanceof TypedParam) {
    const json = /^jsonb?$/i.test(v.type.trim());
    if (json && typeof v.value === "string") return { value: { kind: { case: "json", value: v.value } }, type: v.type };
    if (json && v.value !== null && v.value !== undefined) return { value: jsonValue(v.value), type: v.type };
    return { value: toValue(v.value), type: v.type };
  }
  return { value: toValue(v), type: "" };
}

// Results: proto Values to JS values.

/** int2, int4, and the 32-bit oid, regproc, xid, cid, regclass, regtype (and such arrays' elements): always safe as numbers. */
const SMALL_INTS = new Set([21, 23, 24, 26, 28, 29, 2205, 2206]);

function int(v: bigint, mode: Int8Mode, oid: number): bigint | string | number {
  if (SMALL_INTS.has(oid)) return Number(v);
  if (mode === "string") return v.toString();
  if (mode === "number") {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new AttacheError(Code.OutOfRange, `${v} does not fit a JS number exactly; use the int8 setting "bigint" or "string"`);
    }
    return Number(v);
  }
  return v;
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

const MAX_DATE_MS = 8.64e15;

function timestamp(t: PbTimestamp): Date | number {
  if (t.infinity === PbInfinity.POSITIVE) return Number.POSITIVE_INFINITY;
  if (t.infinity === PbInfinity.NEGATIVE) return Number.NEGATIVE_INFINITY;
  // Sub-millisecond digits are dropped (towards the past, as a clock reads).
  const ms = Number(floorDiv(t.micros, 1000n));
  if (Math.abs(ms) > MAX_DATE_MS) throw new AttacheError(Code.OutOfRange, `timestamp ${t.micros} µs is beyond what a JS Date holds`);
  return new Date(ms);
}

const pad = (n: number | bigint, width: number) => String(n).padStart(width, "0");

/** Days since 1970-01-01 as Postgres prints the date (proleptic Gregorian; "0044-03-15 BC"). */
function date(days: number): string {
  // Howard Hinnant's civil_from_days.
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const text = `${pad(year > 0 ? year : 1 - year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
  return year > 0 ? text : `${text} BC`;
}

/** Microseconds since midnight as "HH:MM:SS.ffffff". */
function time(micros: bigint): string {
  const seconds = micros / 1_000_000n;
  return `${pad(seconds / 3600n, 2)}:${pad((seconds / 60n) % 60n, 2)}:${pad(seconds % 60n, 2)}.${pad(micros % 1_000_000n, 6)}`;
}

/** Sets a key without `__proto__` turning into a prototype change. */
function put(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

function array(a: PbArray, mode: Int8Mode): unknown[] {
  const elements = a.elements.map((e) => fromValue(e, mode, a.elementTypeOid));
  const dims = a.dimensions.map((d) => d.length);
  if (dims.length === 0 || dims.includes(0)) return [];
  if (dims.reduce((n, d) => n * d, 1) !== elements.length) {
    throw new AttacheError(Code.Internal, `the sidecar sent an array of ${elements.length} elements for dimensions ${dims.join("×")}`);
  }
  let next = 0;
  const build = (depth: number): unknown[] => {
    const out: unknown[] = [];
    for (let i = 0; i < dims[depth]; i++) out.push(depth === dims.length - 1 ? elements[next++] : build(depth + 1));
    return out;
  };
  return build(0);
}

function fromValue(value: PbValue | undefined, mode: Int8Mode, oid: number): unknown {
  const kind = value?.kind;
  switch (kind?.case) {
    case undefined:
    case "null":
      return null;
    case "bool":
    case "float":
    case "text":
    case "numeric":
    case "uuid":
      return kind.value;
    case "int":
      return int(kind.value, mode, oid);
    case "bytes":
      return Buffer.from(kind.value.buffer, kind.value.byteOffset, kind.value.byteLength);
    case "timestamp":
    case "timestamptz":
      return timestamp(kind.value);
    case "date":
      if (kind.value.infinity === PbInfinity.POSITIVE) return "infinity";
      if (kind.value.infinity === PbInfinity.NEGATIVE) return "-infinity";
      return date(kind.value.days);
    case "time":
      return time(kind.value);
    case "interval":
      return { months: kind.value.months, days: kind.value.days, micros: int(kind.value.micros, mode, 0) } satisfies Interval;
    case "json":
      return JSON.parse(kind.value);
    case "array":
      return array(kind.value, mode);
    case "record": {
      const fields = kind.value.fields;
      if (fields.length > 0 && fields.every((f) => f.name !== "")) {
        const out: Record<string, unknown> = {};
        for (const f of fields) put(out, f.name, fromValue(f.value, mode, 0));
        return out;
      }
      return fields.map((f) => fromValue(f.value, mode, 0));
    }
    case "typed":
      return kind.value.text;
  }
}

function toColumns(columns: PbColumn[]): QueryColumn[] {
  return columns.map((c) => ({ name: c.name, typeOid: c.typeOid, typeName: c.typeName }));
}

function toRow<R>(row: PbRow, columns: QueryColumn[], mode: Int8Mode): R {
  const out: Record<string, unknown> = {};
  row.values.forEach((v, i) => put(out, columns[i]?.name ?? String(i), fromValue(v, mode, columns[i]?.typeOid ?? 0)));
  return out as R;
}

const cacheStatuses: Partial<Record<PbCacheStatus, CacheStatus>> = {
  [PbCacheStatus.BYPASS]: "bypass",
  [PbCacheStatus.MISS]: "miss",
  [PbCacheStatus.COALESCED]: "coalesced",
  [PbCacheStatus.HIT]: "hit",
};

/** No cache info (Execute's results, an older sidecar) reads as a bypass. */
function toCache(info: PbCacheInfo | undefined): CacheInfo {
  return { status: (info && cacheStatuses[info.status]) ?? "bypass", reason: info?.reason ?? "", ageMs: Number(info?.ageMs ?? 0n) };
}

function toResult<R>(reply: PbQueryResponse, mode: Int8Mode): QueryResult<R> {
  const columns = toColumns(reply.columns);
  const rows = reply.rows.map((row) => toRow<R>(row, columns, mode));
  return { rows, columns, rowsAffected: Number(reply.rowsAffected), commandTag: reply.commandTag, cache: toCache(reply.cache) };
}

function queryRequest(sql: string, params: unknown[], options: QueryOptions, transactionId: string) {
  const cacheTtlMs = millis(options.cacheTtlMs, "cacheTtlMs");
  return {
    sql,
    params: params.map(toParam),
    options: options.maxRows || cacheTtlMs ? { maxRows: options.maxRows ? BigInt(Math.floor(options.maxRows)) : 0n, cacheTtlMs } : undefined,
    transactionId,
  };
}

type TransactionStep = MessageInitShape<typeof TransactionRequestSchema>["step"];
type TransactionAnswer = NonNullable<PbTransactionResponse["step"]["case"]>;

interface PendingStep {
  expect: TransactionAnswer;
  resolve: (reply: PbTransactionResponse) => void;
  reject: (err: AttacheError) => void;
  timer: NodeJS.Timeout;
}

/**
 * One Transaction stream: each step a message, answered in order. The
 * first failure ends it (the sidecar rolls the transaction back): the step
 * that failed rejects with its error, any later one with
 * `failed_precondition`. A step not answered within its deadline ends the
 * stream too (`deadline_exceeded`), since answers come in order.
 */
class TransactionStream {
  private readonly stream: BidiStream<typeof TransactionRequestSchema, typeof PostgresService.method.transaction.output>;
  /** Steps awaiting answers, in the order sent. */
  private readonly pending: PendingStep[] = [];
  private failure: AttacheError | undefined;

  constructor(socketPath: string, signal?: AbortSignal) {
    this.stream = new BidiStream(
      socketPath,
      PostgresService.method.transaction,
      { message: (m) => this.answer(m), end: (error) => this.end(error) },
      signal,
    );
  }

  step(step: TransactionStep, expect: TransactionAnswer, timeoutMs: number): Promise<PbTransactionResponse> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => this.stream.destroy(new AttacheError(Code.DeadlineExceeded, `no answer from the sidecar within ${timeoutMs} ms; the transaction is rolled back`)),
        timeoutMs,
      ).unref();
      this.pending.push({ expect, resolve, reject, timer });
      this.stream.ref();
      try {
        this.stream.send({ step });
      } catch (err) {
        this.pending.pop();
        clearTimeout(timer);
        reject(AttacheError.from(err));
      }
    });
  }

  /** Ends the stream; a transaction not committed is rolled back. */
  close(): void {
    this.stream.closeSend();
    this.stream.unref();
  }

  private answer(message: PbTransactionResponse): void {
    const pending = this.pending.shift();
    if (!pending || message.step.case !== pending.expect) {
      if (pending) this.pending.unshift(pending);
      this.stream.destroy(new AttacheError(Code.Internal, `the sidecar answered a transaction step with ${message.step.case ?? "nothing"}`));
      return;
    }
    clearTimeout(pending.timer);
    if (this.pending.length === 0) this.stream.unref();
    pending.resolve(message);
  }

  private end(error: AttacheError | undefined): void {
    const failure = error ?? (this.pending.length > 0 ? new AttacheError(Code.Internal, "the sidecar ended the transaction's stream without answering") : undefined);
    this.failure = new AttacheError(
      Code.FailedPrecondition,
      failure ? `the transaction has ended (${failure.code}: ${failure.message}); begin a new one` : "the transaction has ended; begin a new one",
      { cause: failure },
    );
    this.pending.splice(0).forEach((p, i) => {
      clearTimeout(p.timer);
      p.reject(i === 0 && failure ? failure : this.failure!);
    });
  }
}

/**
 * PostgreSQL through the sidecar's shared connection pool. No call is
 * retried: none is idempotent. Errors are `AttacheError`s with Postgres's
 * fields (`sqlstate`, `constraint`, `detail`, `position`…).
 */
export class PostgresClient {
  private readonly int8: Int8Mode;

  constructor(
    private readonly transport: Transport,
    private readonly defaults: Defaults,
    settings: PostgresOptions = {},
  ) {
    this.int8 = settings.int8 ?? "bigint";
  }

  /** Runs one statement, e.g. `query("select * from users where id = $1", [id])`. */
  query<R = Record<string, unknown>>(sql: string, params: unknown[] = [], options: QueryOptions = {}): Promise<QueryResult<R>> {
    return this.run<R>(sql, params, options, "");
  }

  /**
   * Inserts one row, e.g. `insert("users", { email, name }, { returning: ["id"] })`:
   * its keys (in order) are the columns, its values sent as query
   * parameters are (`undefined` is NULL; leave a key out for the column's
   * default). Inserts of one shape (table, columns, `onConflict`,
   * `returning`) from any callers on the host while one runs go together in
   * one statement; each caller gets its own row back, and only a bad row's
   * caller its error (a unique violation: `already_exists` with the
   * constraint's name, unless `onConflict` says otherwise).
   */
  async insert<R = Record<string, unknown>>(table: string, row: Record<string, unknown>, options: InsertOptions = {}): Promise<InsertResult<R>> {
    const entries = Object.entries(row);
    const request = {
      table,
      columns: entries.map(([column]) => column),
      values: entries.map(([, value]) => toParam(value)),
      onConflict: onConflict(options.onConflict),
      returning: options.returning ?? [],
    };
    const reply = await withPolicy(
      this.defaults,
      options,
      (timeoutMs) => this.transport.unary(PostgresService.method.insert, request, timeoutMs, options.signal),
      false,
    );
    const mode = options.int8 ?? this.int8;
    return {
      inserted: reply.inserted,
      row: reply.row ? toRow<R>(reply.row, toColumns(reply.columns), mode) : undefined,
      batchSize: reply.batchSize,
    };
  }

  /**
   * Cache-aside in one call (the sidecar needs Redis configured too): the
   * result stored at `key` in Redis if there is one, else `sql` run once
   * for every concurrent caller on the host and stored at `key` for `ttlMs`
   * ms. A write through attache to a table the query reads deletes `key`.
   * `cache.status` is `"hit"` (from Redis), `"miss"` (loaded; `reason` says
   * why it was not stored, if it was not) or `"coalesced"`.
   */
  async getOrLoad<R = Record<string, unknown>>(key: string, sql: string, params: unknown[], options: GetOrLoadOptions): Promise<GetOrLoadResult<R>> {
    const request = { key, sql, params: params.map(toParam), ttlMs: millis(options.ttlMs, "getOrLoad's ttlMs") };
    const reply = await withPolicy(
      this.defaults,
      options,
      (timeoutMs) => this.transport.unary(PostgresService.method.getOrLoad, request, timeoutMs, options.signal),
      false,
    );
    const mode = options.int8 ?? this.int8;
    const columns = toColumns(reply.columns);
    return { rows: reply.rows.map((row) => toRow<R>(row, columns, mode)), columns, cache: toCache(reply.cache) };
  }

  /** Runs statements in order on one connection in one call; with `transactional`, all of them or none. */
  async execute(statements: Statement[], options: ExecuteOptions = {}): Promise<QueryResult[]> {
    const request = {
      statements: statements.map((s) => ({ sql: s.sql, params: (s.params ?? []).map(toParam) })),
      transactional: options.transactional ?? false,
      isolation: isolation(options.isolation),
      readOnly: options.readOnly ?? false,
    };
    const reply = await withPolicy(
      this.defaults,
      options,
      (timeoutMs) => this.transport.unary(PostgresService.method.execute, request, timeoutMs, options.signal),
      false,
    );
    const mode = options.int8 ?? this.int8;
    return reply.results.map((r) => toResult(r, mode));
  }

  /**
   * Runs `fn` in a transaction: commits if it resolves (and resolves to its
   * value), rolls back and rethrows if it throws. An `aborted` error
   * (serialization failure, deadlock) means: run the whole transaction again.
   * `timeoutMs` and `signal` apply to Begin and Commit, each; with
   * `stream`, aborting `signal` ends the whole transaction (rolled back).
   */
  async transaction<T>(fn: (tx: Transaction) => Promise<T> | T, options: TransactionOptions = {}): Promise<T> {
    const request = { isolation: isolation(options.isolation), readOnly: options.readOnly ?? false, deferrable: options.deferrable ?? false };
    if (options.stream) return this.streamTransaction(fn, request, options);
    const { transactionId } = await withPolicy(
      this.defaults,
      options,
      (timeoutMs) => this.transport.unary(PostgresService.method.begin, request, timeoutMs, options.signal),
      false,
    );
    const tx: Transaction = {
      id: transactionId,
      query: <R>(sql: string, params: unknown[] = [], queryOptions: QueryOptions = {}) => this.run<R>(sql, params, queryOptions, transactionId),
    };
    let result: T;
    try {
      result = await fn(tx);
    } catch (err) {
      await this.rollback(transactionId);
      throw err;
    }
    try {
      await withPolicy(
        this.defaults,
        options,
        (timeoutMs) => this.transport.unary(PostgresService.method.commit, { transactionId }, timeoutMs, options.signal),
        false,
      );
    } catch (err) {
      // If the commit never arrived, free the transaction now; if it ended
      // already, rolling back is a no-op.
      await this.rollback(transactionId);
      throw err;
    }
    return result;
  }

  /** `transaction()` with `stream`: Begin, the statements and Commit (or Rollback) are messages of one Transaction stream. */
  private async streamTransaction<T>(
    fn: (tx: Transaction) => Promise<T> | T,
    begin: { isolation: PbIsolation; readOnly: boolean; deferrable: boolean },
    options: TransactionOptions,
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.defaults.timeoutMs;
    const stream = new TransactionStream(this.transport.socketPath, options.signal);
    await stream.step({ case: "begin", value: begin }, "begun", timeoutMs);
    const tx: Transaction = {
      id: "",
      query: async <R>(sql: string, params: unknown[] = [], queryOptions: QueryOptions = {}) => {
        const request = queryRequest(sql, params, queryOptions, "");
        const reply = await stream.step({ case: "query", value: request }, "result", queryOptions.timeoutMs ?? this.defaults.timeoutMs);
        return toResult<R>(reply.step.value as PbQueryResponse, queryOptions.int8 ?? this.int8);
      },
    };
    let result: T;
    try {
      result = await fn(tx);
    } catch (err) {
      // Best effort: ending the stream rolls the transaction back anyway.
      await stream.step({ case: "rollback", value: {} }, "rolledBack", timeoutMs).catch(() => undefined);
      stream.close();
      throw err;
    }
    try {
      await stream.step({ case: "commit", value: {} }, "committed", timeoutMs);
    } finally {
      stream.close();
    }
    return result;
  }

  private async run<R>(sql: string, params: unknown[], options: QueryOptions, transactionId: string): Promise<QueryResult<R>> {
    const request = queryRequest(sql, params, options, transactionId);
    const reply = await withPolicy(
      this.defaults,
      options,
      (timeoutMs) => this.transport.unary(PostgresService.method.query, request, timeoutMs, options.signal),
      false,
    );
    return toResult<R>(reply, options.int8 ?? this.int8);
  }

  /** Best effort: its failure must not hide the error that caused it. */
  private async rollback(transactionId: string): Promise<void> {
    try {
      await withPolicy(this.defaults, {}, (timeoutMs) => this.transport.unary(PostgresService.method.rollback, { transactionId }, timeoutMs), false);
    } catch {
      // The sidecar rolls back on its own after the idle timeout.
    }
  }
}
