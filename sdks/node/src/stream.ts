// Connect streaming (binary protobuf envelopes over HTTP/1.1 chunked
// encoding) on a connection of its own: a stream may live for hours, so it
// never holds one of the pool's request connections. Server streams send
// one request message; bidi streams send a chunk per message for as long
// as they like while answers come back on the same connection (the
// sidecar's HTTP/1.1 reads the request body and writes the reply at once).
import * as net from "node:net";
import { create, fromBinary, toBinary, type DescMessage, type DescMethod, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { AttacheError, codeFromName, errorFromConnect } from "./errors.js";

type Method<I extends DescMessage, O extends DescMessage> = Omit<DescMethod, "input" | "output"> & { input: I; output: O };

const CRLF = Buffer.from("\r\n");
const CRLF2 = Buffer.from("\r\n\r\n");
const END_STREAM = 0x02;
const EMPTY = Buffer.alloc(0);

/** A message in a Connect envelope: flags (0), length, bytes. */
function envelope<I extends DescMessage>(schema: I, input: MessageInitShape<I>): Buffer {
  const message = toBinary(schema, create(schema, input));
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt8(0, 0);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

function requestHead(method: { parent: { typeName: string }; name: string }, framing: string): string {
  return (
    `POST /${method.parent.typeName}/${method.name} HTTP/1.1\r\nhost: localhost\r\n` +
    `content-type: application/connect+proto\r\nconnect-protocol-version: 1\r\n${framing}\r\n\r\n`
  );
}

/** What one read of a streaming reply gave: its messages, and whether (and how) the stream ended. */
interface Read<O extends DescMessage> {
  messages: MessageShape<O>[];
  /** The stream ended cleanly. */
  done: boolean;
  /** The stream ended with this error (after `messages`). */
  error?: AttacheError;
}

/**
 * A Connect streaming reply read as its bytes arrive: the HTTP/1.1 head, a
 * chunked (or sized) body, and in it the envelopes, the last of which ends
 * the stream, with an error or not. A reply that is not 200 is a Connect
 * error body (JSON), read whole.
 */
class ReplyReader<O extends DescMessage> {
  private raw: Buffer = EMPTY; // bytes as read
  private body: Buffer = EMPTY; // de-chunked, not yet parsed
  private status = 0;
  private headers: Map<string, string> | undefined;
  private bodyDone = false;

  constructor(private readonly output: O) {}

  read(chunk: Buffer): Read<O> {
    this.raw = this.raw.length === 0 ? chunk : Buffer.concat([this.raw, chunk]);
    const messages: MessageShape<O>[] = [];
    if (!this.headers && !this.readHead()) return { messages, done: false };
    this.dechunk();
    if (this.status !== 200) {
      return this.bodyDone ? { messages, done: false, error: this.httpError() } : { messages, done: false };
    }
    while (this.body.length >= 5 && this.body.length >= 5 + this.body.readUInt32BE(1)) {
      const flags = this.body.readUInt8(0);
      const length = this.body.readUInt32BE(1);
      const data = this.body.subarray(5, 5 + length);
      this.body = this.body.subarray(5 + length);
      if (flags & END_STREAM) {
        let end: { error?: unknown };
        try {
          end = JSON.parse(data.toString("utf8") || "{}") as { error?: unknown };
        } catch {
          return { messages, done: false, error: new AttacheError(codeFromName("internal"), "malformed end of stream from the sidecar") };
        }
        return end.error ? { messages, done: false, error: errorFromConnect(end.error, "stream failed") } : { messages, done: true };
      }
      // Copy out: the body buffer is reused for what follows.
      messages.push(fromBinary(this.output, Buffer.from(data)));
    }
    return { messages, done: false };
  }

  /** The error for a connection that closed before the stream ended. */
  closed(): AttacheError {
    if (this.headers && this.status !== 200 && this.body.length > 0) return this.httpError();
    return new AttacheError(codeFromName("unavailable"), "the sidecar closed the stream");
  }

  private readHead(): boolean {
    const end = this.raw.indexOf(CRLF2);
    if (end < 0) return false;
    const lines = this.raw.toString("latin1", 0, end).split("\r\n");
    this.status = Number(lines[0].split(" ")[1]);
    this.headers = new Map(lines.slice(1).map((l) => [l.slice(0, l.indexOf(":")).trim().toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
    this.raw = this.raw.subarray(end + 4);
    return true;
  }

  private dechunk(): void {
    if (!this.headers!.get("transfer-encoding")?.includes("chunked")) {
      this.body = this.body.length === 0 ? this.raw : Buffer.concat([this.body, this.raw]);
      this.raw = EMPTY;
      const length = this.headers!.get("content-length");
      if (length !== undefined && this.body.length >= Number(length)) this.bodyDone = true;
      return;
    }
    const parts: Buffer[] = [this.body];
    while (!this.bodyDone) {
      const lineEnd = this.raw.indexOf(CRLF);
      if (lineEnd < 0) break;
      const size = parseInt(this.raw.toString("latin1", 0, lineEnd), 16);
      if (Number.isNaN(size)) throw new AttacheError(codeFromName("internal"), "malformed chunked stream from the sidecar");
      if (size === 0) {
        this.bodyDone = true; // trailers, if any, are not read
        break;
      }
      if (this.raw.length < lineEnd + 2 + size + 2) break;
      parts.push(this.raw.subarray(lineEnd + 2, lineEnd + 2 + size));
      this.raw = this.raw.subarray(lineEnd + 2 + size + 2);
    }
    this.body = parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  private httpError(): AttacheError {
    let error: unknown;
    try {
      error = JSON.parse(this.body.toString("utf8"));
    } catch {
      // Not a Connect error body; report the HTTP status.
    }
    return errorFromConnect(error, `HTTP ${this.status} from the sidecar`);
  }
}

/** Yields each message of a server stream; breaking out of the loop closes it. */
export async function* serverStream<I extends DescMessage, O extends DescMessage>(
  socketPath: string,
  method: Method<I, O>,
  input: MessageInitShape<I>,
  signal?: AbortSignal,
): AsyncGenerator<MessageShape<O>> {
  const message = envelope(method.input, input);
  const head = requestHead(method, `content-length: ${message.length}`);

  const socket = net.createConnection(socketPath);
  const chunks: Buffer[] = [];
  let failure: unknown;
  let closed = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  socket.on("data", (chunk: Buffer) => {
    chunks.push(chunk);
    notify();
  });
  socket.on("error", (err) => {
    failure ??= err;
    notify();
  });
  socket.on("close", () => {
    closed = true;
    notify();
  });
  const abort = () => socket.destroy(new AttacheError(codeFromName("canceled"), "the stream was aborted"));
  signal?.addEventListener("abort", abort, { once: true });
  socket.write(Buffer.concat([Buffer.from(head, "latin1"), message]));

  const reader = new ReplyReader(method.output);
  try {
    for (;;) {
      while (chunks.length === 0) {
        if (failure) throw AttacheError.from(failure);
        if (closed) throw reader.closed();
        await new Promise<void>((resolve) => (wake = resolve));
      }
      const read = reader.read(chunks.length === 1 ? chunks.pop()! : Buffer.concat(chunks.splice(0)));
      for (const m of read.messages) yield m;
      if (read.error) throw read.error;
      if (read.done) return;
    }
  } finally {
    signal?.removeEventListener("abort", abort);
    socket.destroy();
  }
}

/** How a bidi stream reports what comes back. */
export interface BidiHandlers<O extends DescMessage> {
  /** Each answer, in order. */
  message(message: MessageShape<O>): void;
  /**
   * Once, when the stream is over: `error` undefined if the sidecar ended it
   * cleanly; `fromServer` when the sidecar ended it with that error (rather
   * than the connection failing or the client ending it).
   */
  end(error: AttacheError | undefined, fromServer: boolean): void;
}

/**
 * A bidi stream on a connection of its own: `send` writes each message as
 * one chunk of the request body at once; answers reach `handlers` as they
 * arrive. The connection keeps the process alive only while `ref()`'d.
 */
export class BidiStream<I extends DescMessage, O extends DescMessage> {
  private readonly socket: net.Socket;
  private readonly reader: ReplyReader<O>;
  private sendClosed = false;
  private over = false;

  constructor(
    socketPath: string,
    private readonly method: Method<I, O>,
    private readonly handlers: BidiHandlers<O>,
    private readonly signal?: AbortSignal,
  ) {
    this.reader = new ReplyReader(method.output);
    this.socket = net.createConnection(socketPath);
    this.socket.unref();
    this.socket.on("data", (chunk: Buffer) => this.onData(chunk));
    this.socket.on("error", (err) => this.finish(AttacheError.from(err), false));
    this.socket.on("close", () => this.finish(this.reader.closed(), false));
    signal?.addEventListener("abort", this.abort, { once: true });
    if (signal?.aborted) queueMicrotask(this.abort);
    this.socket.write(requestHead(method, "transfer-encoding: chunked"), "latin1");
  }

  /** Whether the stream is over (ended, failed or aborted). */
  get ended(): boolean {
    return this.over;
  }

  /** Writes one message; throws if the stream is over or its sending side closed. */
  send(input: MessageInitShape<I>): void {
    if (this.over || this.sendClosed) throw new AttacheError(codeFromName("failed_precondition"), "the stream is closed");
    const message = envelope(this.method.input, input);
    // One writev for the parts.
    this.socket.cork();
    this.socket.write(`${message.length.toString(16)}\r\n`, "latin1");
    this.socket.write(message);
    this.socket.write(CRLF);
    this.socket.uncork();
  }

  /** Ends the request body: the sidecar answers what it has and ends the stream. */
  closeSend(): void {
    if (this.over || this.sendClosed) return;
    this.sendClosed = true;
    this.socket.write("0\r\n\r\n", "latin1");
  }

  /** Ends the stream now with `error`. */
  destroy(error: AttacheError): void {
    this.finish(error, false);
  }

  /** Keeps the process alive while the stream is open (answers are awaited). */
  ref(): void {
    if (!this.over) this.socket.ref();
  }

  unref(): void {
    this.socket.unref();
  }

  private readonly abort = () => this.finish(new AttacheError(codeFromName("canceled"), "the stream was aborted"), false);

  private onData(chunk: Buffer): void {
    if (this.over) return;
    let read: Read<O>;
    try {
      read = this.reader.read(chunk);
    } catch (err) {
      this.finish(AttacheError.from(err), false);
      return;
    }
    for (const m of read.messages) {
      if (this.over) return;
      this.handlers.message(m);
    }
    if (read.error) this.finish(read.error, true);
    else if (read.done) this.finish(undefined, true);
  }

  private finish(error: AttacheError | undefined, fromServer: boolean): void {
    if (this.over) return;
    this.over = true;
    this.signal?.removeEventListener("abort", this.abort);
    this.socket.destroy();
    this.handlers.end(error, fromServer);
  }
}
