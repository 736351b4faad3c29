// The call policy every client shares: a default deadline, and retries of
// idempotent calls that failed with UNAVAILABLE, with jittered backoff
// inside that deadline.
import { AttacheError } from "./errors.js";

export interface CallOptions {
  /** Deadline for this call. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export type Defaults = { timeoutMs: number; retries: number };

/** Runs `call` with the deadline, retrying UNAVAILABLE with jittered backoff inside it (idempotent calls only). */
export async function withPolicy<T>(
  defaults: Defaults,
  options: CallOptions,
  call: (timeoutMs: number) => Promise<T>,
  idempotent = true,
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? defaults.timeoutMs;
  const deadline = Date.now() + timeoutMs;
  const retries = idempotent ? defaults.retries : 0;
  for (let attempt = 0; ; attempt++) {
    try {
      return await call(Math.max(1, deadline - Date.now()));
    } catch (err) {
      const error = AttacheError.from(err);
      const backoff = Math.min(1000, 25 * 2 ** attempt) * (0.5 + Math.random() / 2);
      if (error.code !== "unavailable" || attempt >= retries || Date.now() + backoff >= deadline || options.signal?.aborted) {
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, backoff));
    }
  }
}
