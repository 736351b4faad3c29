// Connect server streaming (binary protobuf envelopes over HTTP/1.1
// chunked encoding) on a connection of its own: a stream may live for
// hours, so it never holds one of the pool's request connections.
import * as net from "node:net";
import { create, fromBinary, toBinary, type DescMessage, type DescMethod, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { AttacheError, codeFromName, errorFromConnect } from "./errors.js";

type Method<I extends DescMessage, O extends DescMessage> = Omit<DescMethod, "input" | "output"> & { input: I; output: O };

const CRLF2 = Buffer.from("\r\n\r\n");
const END_STREAM = 0x02;

/** Yields each message of a server stream; breaking out of the loop closes it. */
export async function* serverStream<I extends DescMessage, O extends DescMessage>(
  socketPath: string,
  method: Method<I, O>,
  input: MessageInitShape<I>,
  signal?: AbortSignal,
): AsyncGenerator<MessageShape<O>> {
  const message = toBinary(method.input, create(method.input, input));
  const envelope = Buffer.alloc(5 + message.length);
  envelope.writeUInt8(0, 0);
  envelope.writeUInt32BE(message.length, 1);
  envelope.set(message, 5);
  const head =
    `POST /${method.parent.typeName}/${method.name} HTTP/1.1\r\nhost: localhost\r\n` +
    `content-type: application/connect+proto\r\nconnect-protocol-version: 1\r\ncontent-length: ${envelope.length}\r\n\r\n`;

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
  socket.write(Buffer.concat([Buffer.from(head, "latin1"), envelope]));

  let raw = Buffer.alloc(0); // bytes as read
  let body = Buffer.alloc(0); // de-chunked body
  let headers: Map<string, string> | undefined;
  let status = 0;
  const more = async () => {
    while (chunks.length === 0) {
      if (failure) throw AttacheError.from(failure);
      if (closed) throw new AttacheError(codeFromName("unavailable"), "the sidecar closed the stream");
      await new Promise<void>((resolve) => (wake = resolve));
    }
    raw = Buffer.concat([raw, ...chunks.splice(0)]);
  };
  try {
    while (!headers) {
      const end = raw.indexOf(CRLF2);
      if (end < 0) {
        await more();
        continue;
      }
      const lines = raw.toString("latin1", 0, end).split("\r\n");
      status = Number(lines[0].split(" ")[1]);
      headers = new Map(lines.slice(1).map((l) => [l.slice(0, l.indexOf(":")).trim().toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
      raw = raw.subarray(end + 4);
    }
    const chunked = headers.get("transfer-encoding")?.includes("chunked");
    for (;;) {
      // De-chunk what has arrived.
      if (chunked) {
        for (;;) {
          const lineEnd = raw.indexOf("\r\n");
          if (lineEnd < 0) break;
          const size = parseInt(raw.toString("latin1", 0, lineEnd), 16);
          if (Number.isNaN(size)) throw new AttacheError(codeFromName("internal"), "malformed chunked stream from the sidecar");
          if (raw.length < lineEnd + 2 + size + 2) break;
          body = Buffer.concat([body, raw.subarray(lineEnd + 2, lineEnd + 2 + size)]);
          raw = raw.subarray(lineEnd + 2 + size + 2);
        }
      } else {
        body = Buffer.concat([body, raw]);
        raw = Buffer.alloc(0);
      }
      if (status !== 200) {
        if (headers.get("content-length") !== undefined && body.length < Number(headers.get("content-length"))) {
          await more();
          continue;
        }
        let error: unknown;
        try {
          error = JSON.parse(body.toString("utf8"));
        } catch {
          // Not a Connect error body.
        }
        throw errorFromConnect(error, `HTTP ${status} from the sidecar`);
      }
      // Yield every complete envelope.
      while (body.length >= 5 && body.length >= 5 + body.readUInt32BE(1)) {
        const flags = body.readUInt8(0);
        const data = body.subarray(5, 5 + body.readUInt32BE(1));
        body = body.subarray(5 + data.length);
        if (flags & END_STREAM) {
          const end = JSON.parse(data.toString("utf8") || "{}") as { error?: unknown };
          if (end.error) throw errorFromConnect(end.error, "stream failed");
          return;
        }
        yield fromBinary(method.output, Buffer.from(data));
      }
      await more();
    }
  } finally {
    signal?.removeEventListener("abort", abort);
    socket.destroy();
  }
}
