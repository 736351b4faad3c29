import { fromBinary } from "@bufbuild/protobuf";
import { ErrorInfoSchema } from "../gen/attache/sidecar/v1/sidecar_pb.js";

/** gRPC status codes, numbered as on the wire. */
export enum Code {
  Canceled = 1,
  Unknown = 2,
  InvalidArgument = 3,
  DeadlineExceeded = 4,
  NotFound = 5,
  AlreadyExists = 6,
  PermissionDenied = 7,
  ResourceExhausted = 8,
  FailedPrecondition = 9,
  Aborted = 10,
  OutOfRange = 11,
  Unimplemented = 12,
  Internal = 13,
  Unavailable = 14,
  DataLoss = 15,
  Unauthenticated = 16,
}

/** The status codes attache answers with, by their Connect names. */
export type ErrorCode =
  | "canceled"
  | "unknown"
  | "invalid_argument"
  | "deadline_exceeded"
  | "not_found"
  | "already_exists"
  | "permission_denied"
  | "resource_exhausted"
  | "failed_precondition"
  | "aborted"
  | "out_of_range"
  | "unimplemented"
  | "internal"
  | "unavailable"
  | "data_loss"
  | "unauthenticated";

const names: Record<Code, ErrorCode> = {
  [Code.Canceled]: "canceled",
  [Code.Unknown]: "unknown",
  [Code.InvalidArgument]: "invalid_argument",
  [Code.DeadlineExceeded]: "deadline_exceeded",
  [Code.NotFound]: "not_found",
  [Code.AlreadyExists]: "already_exists",
  [Code.PermissionDenied]: "permission_denied",
  [Code.ResourceExhausted]: "resource_exhausted",
  [Code.FailedPrecondition]: "failed_precondition",
  [Code.Aborted]: "aborted",
  [Code.OutOfRange]: "out_of_range",
  [Code.Unimplemented]: "unimplemented",
  [Code.Internal]: "internal",
  [Code.Unavailable]: "unavailable",
  [Code.DataLoss]: "data_loss",
  [Code.Unauthenticated]: "unauthenticated",
};

/** The numeric code of a Connect error code name; unknown names are `unknown`. */
export function codeFromName(name: string): Code {
  const entry = Object.entries(names).find(([, n]) => n === name);
  return entry ? (Number(entry[0]) as Code) : Code.Unknown;
}

/**
 * The structured detail an error may carry (`attache.sidecar.v1.ErrorInfo`,
 * shaped as `google.rpc.ErrorInfo`): for Postgres, the SQLSTATE and the
 * fields Postgres gave (`sqlstate`, `constraint`, `table`, `column`,
 * `schema`, `datatype`, `detail`, `hint`, `position`) in `metadata`.
 */
export interface ErrorDetail {
  reason?: string;
  domain?: string;
  metadata?: Record<string, string>;
}

/** Every failed call rejects with an AttacheError carrying the status code. */
export class AttacheError extends Error {
  /** The status code name, e.g. `"invalid_argument"`. */
  readonly code: ErrorCode;
  /** The numeric gRPC code, e.g. 3. */
  readonly grpcCode: number;
  /** A stable machine-readable reason from the error's detail, if it has one. */
  readonly reason?: string;
  /** The module that raised it, e.g. `"postgres"`, if the error has a detail. */
  readonly domain?: string;
  /** Named facts about the error (empty when it has none), e.g. `{ sqlstate: "23505", constraint: "users_email_key" }`. */
  readonly metadata: Record<string, string>;

  constructor(code: Code, message: string, options?: { cause?: unknown; detail?: ErrorDetail }) {
    super(message, options);
    this.name = "AttacheError";
    this.code = names[code] ?? "unknown";
    this.grpcCode = code;
    const detail = options?.detail;
    if (detail?.reason) this.reason = detail.reason;
    if (detail?.domain) this.domain = detail.domain;
    this.metadata = { ...(detail?.metadata ?? {}) };
  }

  /** Whether the same call may succeed if sent again later. */
  get isRetryable(): boolean {
    return this.code === "unavailable" || this.code === "resource_exhausted";
  }

  /** Postgres's SQLSTATE, e.g. `"23505"` (unique violation) or `"42601"` (syntax error). */
  get sqlstate(): string | undefined {
    return this.metadata.sqlstate;
  }

  /** The constraint a Postgres error names, e.g. `"users_email_key"`. */
  get constraint(): string | undefined {
    return this.metadata.constraint;
  }

  /** The table a Postgres error names. */
  get table(): string | undefined {
    return this.metadata.table;
  }

  /** The column a Postgres error names. */
  get column(): string | undefined {
    return this.metadata.column;
  }

  /** Postgres's DETAIL line, e.g. `Key (email)=(a@b.c) already exists.` */
  get detail(): string | undefined {
    return this.metadata.detail;
  }

  /** Postgres's HINT line. */
  get hint(): string | undefined {
    return this.metadata.hint;
  }

  /** Where in the SQL text the error is, as Postgres gives it: a 1-based character index, as a string. */
  get position(): string | undefined {
    return this.metadata.position;
  }

  static from(err: unknown): AttacheError {
    if (err instanceof AttacheError) return err;
    // A socket that is missing or refuses connections means the sidecar is
    // down or restarting: unavailable (and so retried), not internal.
    const socketError = connectionErrorCode(err);
    if (socketError) {
      return new AttacheError(Code.Unavailable, `cannot reach the attache socket (${socketError}); is the sidecar running?`, { cause: err });
    }
    return new AttacheError(Code.Internal, `unexpected failure talking to the sidecar: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

const ERROR_INFO = "attache.sidecar.v1.ErrorInfo";

/** A Connect error's JSON form: `{ code, message, details: [{ type, value, debug }] }`. */
interface ConnectErrorJson {
  code?: string;
  message?: string;
  details?: Array<{ type?: string; value?: string; debug?: unknown }>;
}

/**
 * The AttacheError for a Connect error body (unary reply or end of stream),
 * with its ErrorInfo detail: decoded from the protobuf `value`, else read
 * from the JSON `debug` copy.
 */
export function errorFromConnect(body: unknown, fallbackMessage: string): AttacheError {
  const error = (body && typeof body === "object" ? body : {}) as ConnectErrorJson;
  const code = codeFromName(typeof error.code === "string" ? error.code : "unknown");
  const message = typeof error.message === "string" ? error.message : fallbackMessage;
  return new AttacheError(code, message, { detail: errorDetail(error.details) });
}

function errorDetail(details: ConnectErrorJson["details"]): ErrorDetail | undefined {
  if (!Array.isArray(details)) return undefined;
  for (const d of details) {
    // Connect names the type bare; gRPC's Any has a type.googleapis.com/ prefix.
    const type = typeof d?.type === "string" ? d.type.slice(d.type.lastIndexOf("/") + 1) : "";
    if (type !== ERROR_INFO) continue;
    if (typeof d.value === "string") {
      try {
        // Connect writes it unpadded; Node's decoder takes either, and base64url.
        const info = fromBinary(ErrorInfoSchema, Buffer.from(d.value, "base64"));
        return { reason: info.reason, domain: info.domain, metadata: { ...info.metadata } };
      } catch {
        // Fall back to the JSON copy below.
      }
    }
    const debug = d.debug as { reason?: unknown; domain?: unknown; metadata?: unknown } | undefined;
    if (debug && typeof debug === "object") {
      const metadata: Record<string, string> = {};
      if (debug.metadata && typeof debug.metadata === "object") {
        for (const [k, v] of Object.entries(debug.metadata)) if (v !== null && v !== undefined) metadata[k] = String(v);
      }
      return {
        reason: typeof debug.reason === "string" ? debug.reason : undefined,
        domain: typeof debug.domain === "string" ? debug.domain : undefined,
        metadata,
      };
    }
  }
  return undefined;
}

const connectionErrors = new Set(["ENOENT", "ECONNREFUSED", "ECONNRESET", "EPIPE", "ENOTSOCK"]);

function connectionErrorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && connectionErrors.has(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
