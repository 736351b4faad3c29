<?php
declare(strict_types=1);

namespace Attache;

/**
 * A Connect bidirectional stream (JSON envelopes, application/connect+json)
 * over HTTP/1.1 on a Unix-socket connection of its own: the request body is
 * chunked, one chunk per message, and the reply's chunked body is read as
 * its envelopes arrive. This works on HTTP/1.1 because the sidecar reads a
 * request body and writes the reply at the same time; one blocking socket
 * is enough, since each owner (KafkaConsumer, KafkaProduceStream, a streamed
 * transaction) alternates between sending and reading.
 *
 * Never the unary calls' persistent connection: a stream may live for
 * hours, and it ends with its connection, which close() and the destructor
 * close. Not shared between owners; one owner sends and reads.
 *
 * @internal made by KafkaClient::consume(), KafkaClient::produceStream()
 *           and PostgresClient::transaction(stream: true)
 */
final class Stream
{
    /** @var resource|null */
    private $conn;
    /** Reply bytes read and not yet taken apart. */
    private string $raw = '';
    /** The reply body de-chunked, not yet cut into envelopes. */
    private string $body = '';
    private ?int $status = null;
    private bool $chunked = false;
    private ?int $length = null;
    private bool $bodyDone = false;
    /** @var list<array<string, mixed>> messages read, not yet received */
    private array $messages = [];
    /** The sidecar ended the stream (its end-of-stream envelope, or an error reply). */
    private bool $ended = false;
    private ?AttacheException $error = null;
    private bool $sendClosed = false;

    /**
     * Connects and sends the request's head.
     *
     * @param int $timeoutMs how long connecting, and each write, may take
     */
    public function __construct(
        public readonly string $socket,
        public readonly string $procedure,
        private readonly int $timeoutMs,
    ) {
        $conn = @stream_socket_client("unix://$socket", $errno, $error, min(1.0, $timeoutMs / 1000), STREAM_CLIENT_CONNECT);
        if ($conn === false) {
            throw new UnavailableException("cannot reach the attache socket $socket ($error); is the sidecar running?");
        }
        $this->conn = $conn;
        // No Connect-Timeout-Ms: the stream lives as long as its owner
        // wants; each step is bounded here, on the client's side.
        $this->write("POST /$procedure HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/connect+json\r\n"
            . "Connect-Protocol-Version: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
    }

    public function __destruct()
    {
        $this->close();
    }

    /** Whether the stream goes on: neither ended by the sidecar nor closed here. */
    public function isOpen(): bool
    {
        return $this->conn !== null;
    }

    /**
     * Sends one message as one envelope in one chunk. Throws
     * UnavailableException (and closes) if the connection broke,
     * DeadlineExceededException if the sidecar took nothing in time.
     *
     * @param array<string, mixed> $message in protobuf JSON form
     */
    public function send(array $message): void
    {
        if ($this->conn === null || $this->sendClosed) {
            throw new FailedPreconditionException('the stream to attache is closed');
        }
        $json = json_encode((object) $message, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
        $frame = pack('CN', 0, strlen($json)) . $json;
        $this->write(dechex(strlen($frame)) . "\r\n" . $frame . "\r\n");
    }

    /**
     * Ends the request body: the sidecar sees the end of the client's
     * messages, and ends the stream once it has answered them. Quietly does
     * nothing on a stream that is closed.
     */
    public function closeSend(): void
    {
        if ($this->conn === null || $this->sendClosed) {
            return;
        }
        $this->sendClosed = true;
        try {
            $this->write("0\r\n\r\n");
        } catch (AttacheException) {
            // Closed on the way; reading says how the stream ended.
        }
    }

    /**
     * The next message, waiting up to `$timeoutMs` (null: as long as it
     * takes; the sidecar going away ends the wait, since the connection
     * closes): an array, null once the sidecar ended the stream cleanly, or
     * false if none came in time (the stream stays usable). Throws the
     * error the stream ended with, then and on every later call.
     *
     * @return array<string, mixed>|null|false
     */
    public function receive(?int $timeoutMs): array|null|false
    {
        $deadline = $timeoutMs === null ? null : hrtime(true) + max(0, $timeoutMs) * 1_000_000;
        $read = false;
        while ($this->messages === []) {
            if ($this->error !== null) {
                throw $this->error;
            }
            if ($this->ended || $this->conn === null) {
                return null;
            }
            if ($deadline === null) {
                // "As long as it takes" in slices of a day: a read is never unbounded.
                stream_set_timeout($this->conn, 86_400);
            } else {
                $left = max(0, intdiv($deadline - hrtime(true), 1000)); // µs
                if ($left === 0 && $read) {
                    return false;
                }
                // A wait of 0 still takes what has arrived.
                stream_set_timeout($this->conn, intdiv($left, 1_000_000), $left % 1_000_000);
            }
            $read = true;
            $data = @fread($this->conn, 65536);
            if ($data === false || $data === '') {
                if (stream_get_meta_data($this->conn)['timed_out']) {
                    continue; // the deadline check above says whether to go on
                }
                if (!feof($this->conn)) {
                    continue; // interrupted
                }
                $this->fail($this->status !== null && $this->status !== 200 && $this->body !== ''
                    ? $this->errorReply()
                    : new UnavailableException("the attache socket {$this->socket} closed the stream before its end; is the sidecar running?"));
                continue;
            }
            $this->raw .= $data;
            $this->parse();
        }
        return array_shift($this->messages);
    }

    /** Closes the connection (the sidecar sees the stream break, if it had not ended). */
    public function close(): void
    {
        if ($this->conn !== null) {
            @fclose($this->conn);
            $this->conn = null;
        }
    }

    private function write(string $bytes): void
    {
        if ($this->conn === null) {
            throw new FailedPreconditionException('the stream to attache is closed');
        }
        stream_set_timeout($this->conn, intdiv($this->timeoutMs, 1000), ($this->timeoutMs % 1000) * 1000);
        while ($bytes !== '') {
            $written = @fwrite($this->conn, $bytes);
            if ($written === false || $written === 0) {
                $timedOut = stream_get_meta_data($this->conn)['timed_out'];
                $this->close();
                throw $timedOut
                    ? new DeadlineExceededException("the attache socket {$this->socket} took nothing in {$this->timeoutMs} ms; the stream is closed")
                    : new UnavailableException("cannot write to the attache socket {$this->socket}: the stream broke; is the sidecar running?");
            }
            $bytes = substr($bytes, $written);
        }
    }

    private function fail(AttacheException $error): void
    {
        $this->error = $error;
        $this->ended = true;
        $this->close();
    }

    /** Takes apart what was read: the head, the chunks, the envelopes. */
    private function parse(): void
    {
        if ($this->status === null) {
            $end = strpos($this->raw, "\r\n\r\n");
            if ($end === false) {
                return;
            }
            $headers = Transport::parseHead(substr($this->raw, 0, $end), $status);
            $this->status = $status;
            $this->chunked = str_contains($headers['transfer-encoding'] ?? '', 'chunked');
            $this->length = isset($headers['content-length']) ? (int) $headers['content-length'] : null;
            $this->raw = substr($this->raw, $end + 4);
        }
        $this->dechunk();
        if ($this->status !== 200) {
            // Not a stream: a Connect error, as a unary call's, in the body.
            if ($this->bodyDone) {
                $this->fail($this->errorReply());
            }
            return;
        }
        while (strlen($this->body) >= 5) {
            ['flags' => $flags, 'length' => $length] = unpack('Cflags/Nlength', $this->body);
            if (strlen($this->body) < 5 + $length) {
                break;
            }
            $json = substr($this->body, 5, $length);
            $this->body = substr($this->body, 5 + $length);
            $message = json_decode($json === '' ? '{}' : $json, true);
            if (!is_array($message)) {
                $this->fail(new AttacheException('internal', 'attache sent a stream message that is not a JSON object: ' . substr($json, 0, 200)));
                return;
            }
            if ($flags & 0x01) {
                $this->fail(new AttacheException('internal', 'attache sent a compressed stream message, which was not asked for'));
                return;
            }
            if ($flags & 0x02) {
                // The end of the stream: an error, or none (trailers are not used).
                $error = $message['error'] ?? null;
                if (is_array($error)) {
                    $this->fail(AttacheException::fromCode((string) ($error['code'] ?? 'unknown'), (string) ($error['message'] ?? ''), Transport::details($error)));
                } else {
                    $this->ended = true;
                    $this->close();
                }
                return;
            }
            $this->messages[] = $message;
        }
        if ($this->bodyDone && !$this->ended) {
            $this->fail(new UnavailableException("the reply from the attache socket {$this->socket} ended without the stream's end"));
        }
    }

    private function dechunk(): void
    {
        if (!$this->chunked) {
            $this->body .= $this->raw;
            $this->raw = '';
            $this->bodyDone = $this->length !== null && strlen($this->body) >= $this->length;
            return;
        }
        while (!$this->bodyDone && ($lineEnd = strpos($this->raw, "\r\n")) !== false) {
            $size = hexdec(explode(';', substr($this->raw, 0, $lineEnd), 2)[0]);
            if ($size === 0) {
                $this->bodyDone = true;
                $this->raw = '';
                return;
            }
            if (strlen($this->raw) < $lineEnd + 2 + $size + 2) {
                return;
            }
            $this->body .= substr($this->raw, $lineEnd + 2, (int) $size);
            $this->raw = substr($this->raw, $lineEnd + 2 + (int) $size + 2);
        }
    }

    private function errorReply(): AttacheException
    {
        $decoded = json_decode($this->body, true);
        if (is_array($decoded) && isset($decoded['code'])) {
            return AttacheException::fromCode((string) $decoded['code'], (string) ($decoded['message'] ?? ''), Transport::details($decoded));
        }
        return new AttacheException('unknown', "unexpected HTTP {$this->status} from attache: " . substr($this->body, 0, 200));
    }
}
