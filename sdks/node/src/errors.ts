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

/** Every failed call rejects with an AttacheError carrying the status code. */
export class AttacheError extends Error {
  /** The status code name, e.g. `"invalid_argument"`. */
  readonly code: ErrorCode;
  /** The numeric gRPC code, e.g. 3. */
  readonly grpcCode: number;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AttacheError";
    this.code = names[code] ?? "unknown";
    this.grpcCode = code;
  }

  /** Whether the same call may succeed if sent again later. */
  get isRetryable(): boolean {
    return this.code === "unavailable" || this.code === "resource_exhausted";
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

const connectionErrors = new Set(["ENOENT", "ECONNREFUSED", "ECONNRESET", "EPIPE", "ENOTSOCK"]);

function connectionErrorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && connectionErrors.has(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
