// A lean Connect unary client (binary protobuf over HTTP/1.1) on the
// sidecar's Unix socket.
//
// Why not @connectrpc/connect-node: measured on our 2-core machines, its
// gRPC transport cost ~760 µs p50 per trivial call over the socket (Node's
// http2 stack alone ~360 µs) against a 78 µs raw-socket floor; this client
// writes each request in one syscall on an idle keep-alive connection and
// parses the reply in place. One request per connection at a time (HTTP/1.1
// has no multiplexing and the sidecar answers in order), so concurrent calls
// open more connections, up to `maxConnections`; Unix-socket connections
// are cheap and idle ones close after `idleMs`.
//
// Per call, no timer is made: one sweep every half second closes
// connections idle past `idleMs` and fails calls whose socket hung past
// their deadline (the sidecar enforces the deadline itself; this only
// catches a socket that never answers). Profiled with `--cpu-prof`, the two
// timers made and cleared per call, the `Promise.race` around each reply
// and the split of every reply head into a Map were the SDK's own largest
// costs after the socket write itself.
import * as net from "node:net";
import { fromBinary, toBinary, type DescMessage, type DescMethod, type MessageShape, type MessageInitShape, create } from "@bufbuild/protobuf";
import { AttacheError, codeFromName, errorFromConnect } from "./errors.js";

export interface TransportOptions {
  socket: string;
  maxConnections: number;
  idleMs: number;
}

interface Reply {
  status: number;
  /** The connection is closed after this reply (`connection: close`). */
  close: boolean;
  body: Buffer;
}

/** How often idle connections and hung calls are looked for. */
const SWEEP_MS = 500;
/** Requests this small are written as one buffer (one `write`, no `writev`). */
const COPY_BELOW = 16 * 1024;

type Method<I extends DescMessage, O extends DescMessage> = Omit<DescMethod, "input" | "output"> & { input: I; output: O };

const CRLF2 = Buffer.from("\r\n\r\n");

/** The constant start of each method's request head, built once. */
const heads = new WeakMap<object, string>();
function headOf(method: { parent: { typeName: string }; name: string }): string {
  let head = heads.get(method);
  if (head === undefined) {
    head =
      `POST /${method.parent.typeName}/${method.name} HTTP/1.1\r\n` +
      `host: localhost\r\ncontent-type: application/proto\r\nconnect-protocol-version: 1\r\n`;
    heads.set(method, head);
  }
  return head;
}

/** One keep-alive HTTP/1.1 connection carrying one request at a time. */
class Connection {
  private readonly socket: net.Socket;
  private buffer: Buffer = Buffer.alloc(0);
  private head: { status: number; length: number; chunked: boolean; close: boolean; start: number } | undefined;
  private pending: { resolve: (r: Reply) => void; reject: (e: unknown) => void } | undefined;
  /** While a call is in flight: when its socket counts as hung (`performance.now()` ms, a monotonic clock). */
  private hungAfter = 0;
  private hungTimeoutMs = 0;
  /** While idle: since when (`performance.now()` ms). */
  idleSince = performance.now();
  closed = false;

  constructor(path: string, private readonly onIdle: (c: Connection) => void, private readonly onClosed: (c: Connection) => void) {
    this.socket = net.createConnection(path);
    this.socket.on("data", (chunk: Buffer) => this.onData(chunk));
    this.socket.on("error", (err) => this.fail(err));
    this.socket.on("close", () => this.fail(Object.assign(new Error("connection closed by the sidecar"), { code: "ECONNRESET" })));
  }

  get busy(): boolean {
    return this.pending !== undefined;
  }

  request(payload: Uint8Array[], length: number, timeoutMs: number): Promise<Reply> {
    // Busy connections keep the process alive; idle ones do not (as
    // http.Agent's free sockets), so a script may exit without close().
    this.socket.ref();
    // The sidecar enforces the deadline; this margin only catches a hung socket.
    this.hungTimeoutMs = timeoutMs;
    this.hungAfter = performance.now() + timeoutMs + 1000;
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      if (payload.length === 1) {
        this.socket.write(payload[0]);
      } else if (length < COPY_BELOW) {
        // One small buffer: one write, where writev costs more per call.
        this.socket.write(Buffer.concat(payload, length));
      } else {
        // One writev for the parts, none of them copied.
        this.socket.cork();
        for (const part of payload) this.socket.write(part);
        this.socket.uncork();
      }
    });
  }

  /** Fails a call whose socket has hung past its deadline (from the sweep). */
  expireIfHung(now: number): void {
    if (this.pending && now >= this.hungAfter) {
      const error = new AttacheError(codeFromName("deadline_exceeded"), `no reply from the sidecar within ${this.hungTimeoutMs} ms`);
      this.fail(error);
      this.socket.destroy();
    }
  }

  destroy(): void {
    if (!this.closed) {
      this.closed = true;
      this.onClosed(this);
    }
    this.socket.destroy();
  }

  private fail(err: unknown): void {
    if (!this.closed) {
      this.closed = true;
      this.onClosed(this);
    }
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(err);
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    try {
      const reply = this.parse();
      if (!reply) return;
      const pending = this.pending;
      this.pending = undefined;
      if (reply.close) {
        this.destroy();
      } else {
        this.socket.unref();
        this.idleSince = performance.now();
        this.onIdle(this);
      }
      pending?.resolve(reply);
    } catch (err) {
      this.socket.destroy();
      this.fail(err);
    }
  }

  /** A complete reply from the buffer, or undefined if more bytes are needed. */
  private parse(): Reply | undefined {
    if (!this.head) {
      const end = this.buffer.indexOf(CRLF2);
      if (end < 0) return undefined;
      this.head = parseHead(this.buffer.toString("latin1", 0, end), end + 4);
    }
    const { status, length, chunked, close, start } = this.head;
    let body: Buffer;
    let consumed: number;
    if (length >= 0) {
      consumed = start + length;
      if (this.buffer.length < consumed) return undefined;
      body = this.buffer.subarray(start, consumed);
    } else if (chunked) {
      const chunks: Buffer[] = [];
      let at = start;
      for (;;) {
        const lineEnd = this.buffer.indexOf("\r\n", at);
        if (lineEnd < 0) return undefined;
        const size = parseInt(this.buffer.toString("latin1", at, lineEnd), 16);
        if (Number.isNaN(size)) throw new Error("malformed chunked reply from the sidecar");
        if (size === 0) {
          const trailerEnd = this.buffer.indexOf(CRLF2, lineEnd - 2 < at ? at : lineEnd - 2);
          if (trailerEnd < 0) return undefined;
          consumed = trailerEnd + 4;
          break;
        }
        if (this.buffer.length < lineEnd + 2 + size + 2) return undefined;
        chunks.push(this.buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
        at = lineEnd + 2 + size + 2;
      }
      body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    } else {
      throw new Error("reply from the sidecar has neither content-length nor chunked encoding");
    }
    this.head = undefined;
    // Copy out: the buffer is reused for whatever follows, and decoded
    // bytes fields are views of the body, which must not keep a whole read
    // chunk alive.
    const reply = { status, close, body: Buffer.from(body) };
    this.buffer = this.buffer.subarray(consumed);
    return reply;
  }
}

/** The status and the framing headers of a reply head (latin1 text, without its final CRLFCRLF). */
function parseHead(text: string, start: number): { status: number; length: number; chunked: boolean; close: boolean; start: number } {
  const status = Number(text.slice(text.indexOf(" ") + 1, text.indexOf(" ") + 4));
  let length = -1;
  let chunked = false;
  let close = false;
  let at = text.indexOf("\r\n");
  while (at >= 0) {
    const next = text.indexOf("\r\n", at + 2);
    const line = next < 0 ? text.slice(at + 2) : text.slice(at + 2, next);
    const colon = line.indexOf(":");
    // Only three headers matter; the sidecar writes names in lower case,
    // any other server may not.
    const name = line.slice(0, colon).trim().toLowerCase();
    if (name === "content-length") length = Number(line.slice(colon + 1).trim());
    else if (name === "transfer-encoding") chunked = line.slice(colon + 1).toLowerCase().includes("chunked");
    else if (name === "connection") close = line.slice(colon + 1).trim().toLowerCase() === "close";
    at = next;
  }
  if (Number.isNaN(length)) throw new Error("malformed content-length in a reply from the sidecar");
  return { status, length, chunked, close, start };
}

/** The tag and length that start a length-delimited protobuf field. */
function bytesFieldPrefix(field: number, length: number): Uint8Array {
  const out = [(field << 3) | 2];
  for (let n = length; ; n = Math.floor(n / 128)) {
    if (n < 128) {
      out.push(n);
      break;
    }
    out.push((n % 128) | 128);
  }
  return Uint8Array.from(out);
}

/** Connect unary calls over a pool of Unix-socket connections. */
export class Transport {
  private readonly idle: Connection[] = [];
  /** Every open connection, for the sweep. */
  private readonly all = new Set<Connection>();
  private sweeper: NodeJS.Timeout | undefined;
  private open = 0;
  private closed = false;
  private readonly waiting: Array<(c: Connection) => void> = [];

  constructor(private readonly options: TransportOptions) {}

  get socketPath(): string {
    return this.options.socket;
  }

  async unary<I extends DescMessage, O extends DescMessage>(
    method: Method<I, O>,
    input: MessageInitShape<I>,
    timeoutMs: number,
    signal?: AbortSignal,
    bulk?: Uint8Array,
  ): Promise<MessageShape<O>> {
    const body = toBinary(method.input, create(method.input, input));
    // `bulk` is the request's field 1 (bytes), written as is: protobuf-es
    // copies byte by byte (~2.7 ms for a 1.4 MB photo, on the event loop).
    const parts: Uint8Array[] = bulk ? [bytesFieldPrefix(1, bulk.length), bulk, body] : [body];
    const length = parts.reduce((n, p) => n + p.length, 0);
    const head = Buffer.from(
      headOf(method) + `connect-timeout-ms: ${Math.max(1, Math.floor(timeoutMs))}\r\ncontent-length: ${length}\r\n\r\n`,
      "latin1",
    );
    const payload = length === 0 ? [head] : [head, ...parts];

    const connection = this.idleConnection() ?? (await this.acquire());
    const abort = () => connection.destroy();
    signal?.addEventListener("abort", abort, { once: true });
    try {
      const reply = await connection.request(payload, head.length + length, timeoutMs);
      if (reply.status === 200) return fromBinary(method.output, reply.body);
      let error: unknown;
      try {
        error = JSON.parse(reply.body.toString("utf8"));
      } catch {
        // Not a Connect error body; report the HTTP status below.
      }
      throw errorFromConnect(error, `HTTP ${reply.status} from the sidecar`);
    } catch (err) {
      if (signal?.aborted) throw new AttacheError(codeFromName("canceled"), "the call was aborted", { cause: err });
      throw AttacheError.from(err);
    } finally {
      signal?.removeEventListener("abort", abort);
    }
  }

  /** A connection closed (by either side): free its slot, and give a waiter a fresh one. */
  private closedConnection(c: Connection): void {
    this.all.delete(c);
    this.open--;
    const next = this.waiting.shift();
    if (next) next(this.connect());
    else if (this.all.size === 0) this.stopSweep();
  }

  /** Closes idle connections now and busy ones when their call ends. */
  close(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.destroy();
    if (this.all.size === 0) this.stopSweep();
  }

  private connect(): Connection {
    this.open++;
    const c = new Connection(this.options.socket, (c) => this.release(c), (c) => this.closedConnection(c));
    this.all.add(c);
    this.sweeper ??= setInterval(() => this.sweep(), SWEEP_MS).unref();
    return c;
  }

  private stopSweep(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /** Closes connections idle past `idleMs` and fails calls on hung sockets. */
  private sweep(): void {
    const now = performance.now();
    for (const c of this.all) {
      if (c.busy) c.expireIfHung(now);
      else if (now - c.idleSince >= this.options.idleMs) c.destroy();
    }
    for (let i = this.idle.length - 1; i >= 0; i--) if (this.idle[i].closed) this.idle.splice(i, 1);
  }

  /** An idle open connection, if there is one (no promise, no tick). */
  private idleConnection(): Connection | undefined {
    while (this.idle.length > 0) {
      const c = this.idle.pop()!;
      if (!c.closed) return c;
    }
    return undefined;
  }

  private acquire(): Promise<Connection> {
    if (this.open < this.options.maxConnections) return Promise.resolve(this.connect());
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(c: Connection): void {
    const next = this.waiting.shift();
    if (next) next(c);
    else if (this.closed) c.destroy();
    else this.idle.push(c);
  }
}
