<?php
declare(strict_types=1);

namespace Attache;

/**
 * Connect unary calls (JSON over HTTP/1.1) on the sidecar's Unix socket;
 * streams go on connections of their own (stream(), openStream()).
 *
 * The connection is a persistent stream (STREAM_CLIENT_PERSISTENT): under
 * PHP-FPM it outlives the request, so a worker's next request reuses it
 * instead of connecting again; measured, a fresh curl handle per request
 * cost ~900 µs per call against ~450 µs on a reused connection. JSON rather
 * than binary protobuf because it needs no extension and PHP encodes it
 * natively; the field names are protobuf's canonical JSON names.
 */
final class Transport
{
    /** @var resource|null */
    private $stream = null;

    public function __construct(
        public readonly string $socket,
        /** The deadline of a call that sets none of its own. */
        public readonly int $timeoutMs,
        private readonly int $retries,
    ) {
    }

    /**
     * Calls `$procedure` (e.g. "attache.password.v1.PasswordService/Hash").
     * Idempotent calls that fail with UNAVAILABLE are retried with jittered
     * backoff inside the deadline.
     *
     * @param array<string, mixed> $request
     * @return array<string, mixed>
     */
    public function call(string $procedure, array $request, ?int $timeoutMs = null, bool $idempotent = true): array
    {
        $timeoutMs ??= $this->timeoutMs;
        $deadline = hrtime(true) + $timeoutMs * 1_000_000;
        $body = json_encode((object) $request, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
        for ($attempt = 0; ; $attempt++) {
            $left = max(1, intdiv($deadline - hrtime(true), 1_000_000));
            try {
                return $this->once($procedure, $body, $left);
            } catch (UnavailableException $e) {
                $backoffMs = min(1000, 25 * 2 ** $attempt) * (0.5 + mt_rand() / mt_getrandmax() / 2);
                if (!$idempotent || $attempt >= $this->retries || hrtime(true) + $backoffMs * 1_000_000 >= $deadline) {
                    throw $e;
                }
                usleep((int) ($backoffMs * 1000));
            }
        }
    }

    /** @return array<string, mixed> */
    private function once(string $procedure, string $body, int $timeoutMs): array
    {
        $request = "POST /$procedure HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            . "Connect-Protocol-Version: 1\r\nConnect-Timeout-Ms: $timeoutMs\r\nContent-Length: " . strlen($body) . "\r\n\r\n" . $body;
        $stream = $this->connection();
        // The server enforces the deadline; this margin only catches a hung socket.
        $wait = $timeoutMs + 1000;
        stream_set_timeout($stream, intdiv($wait, 1000), ($wait % 1000) * 1000);
        if (@fwrite($stream, $request) !== strlen($request)) {
            $this->drop();
            throw new UnavailableException("cannot write to the attache socket {$this->socket}; is the sidecar running?");
        }
        try {
            [$status, $headers, $response] = $this->readResponse($stream);
        } catch (AttacheException $e) {
            // A half-read reply leaves the connection unusable.
            $this->drop();
            throw $e;
        }
        if (($headers['connection'] ?? '') === 'close') {
            $this->drop();
        }
        $decoded = json_decode($response, true);
        if ($status === 200 && is_array($decoded)) {
            return $decoded;
        }
        if (is_array($decoded) && isset($decoded['code'])) {
            throw AttacheException::fromCode((string) $decoded['code'], (string) ($decoded['message'] ?? ''), self::details($decoded));
        }
        throw new AttacheException('unknown', "unexpected HTTP $status from attache: " . substr($response, 0, 200));
    }

    /** @return resource the persistent connection, checked to be alive */
    private function connection()
    {
        if ($this->stream === null) {
            $stream = @stream_socket_client("unix://{$this->socket}", $errno, $error, 1.0, STREAM_CLIENT_CONNECT | STREAM_CLIENT_PERSISTENT);
            if ($stream === false) {
                throw new UnavailableException("cannot reach the attache socket {$this->socket} ($error); is the sidecar running?");
            }
            $this->stream = $stream;
        }
        // An idle connection with something to read has been closed by the
        // sidecar (restarted, or shut it): start over on a fresh one.
        $read = [$this->stream];
        $none = [];
        if (@stream_select($read, $none, $none, 0) !== 0 || feof($this->stream)) {
            $this->drop();
            return $this->connection();
        }
        return $this->stream;
    }

    private function drop(): void
    {
        if ($this->stream !== null) {
            @fclose($this->stream);
            $this->stream = null;
        }
    }

    /**
     * @param resource $stream
     * @return array{int, array<string, string>, string}
     */
    private function readResponse($stream): array
    {
        $buffer = '';
        while (($end = strpos($buffer, "\r\n\r\n")) === false) {
            $buffer .= $this->read($stream);
        }
        $headers = self::parseHead(substr($buffer, 0, $end), $status);
        $buffer = substr($buffer, $end + 4);
        if (isset($headers['content-length'])) {
            $length = (int) $headers['content-length'];
            while (strlen($buffer) < $length) {
                $buffer .= $this->read($stream);
            }
            return [$status, $headers, substr($buffer, 0, $length)];
        }
        if (str_contains($headers['transfer-encoding'] ?? '', 'chunked')) {
            $body = '';
            for (;;) {
                while (($lineEnd = strpos($buffer, "\r\n")) === false) {
                    $buffer .= $this->read($stream);
                }
                $size = hexdec(substr($buffer, 0, $lineEnd));
                while (strlen($buffer) < $lineEnd + 2 + $size + 2) {
                    $buffer .= $this->read($stream);
                }
                if ($size === 0) {
                    return [$status, $headers, $body];
                }
                $body .= substr($buffer, $lineEnd + 2, $size);
                $buffer = substr($buffer, $lineEnd + 2 + $size + 2);
            }
        }
        throw new AttacheException('unknown', 'reply from attache has neither content-length nor chunked encoding');
    }

    /**
     * The status and the headers that frame a reply (content-length,
     * transfer-encoding, connection), read from its head without splitting
     * every line: measured with bench/php/steps.php, splitting the whole
     * head into an array was ~4 µs of a ~65 µs call.
     *
     * @internal also Stream's
     * @return array<string, string>
     */
    public static function parseHead(string $head, ?int &$status): array
    {
        $space = strpos($head, ' ');
        $status = $space === false ? 0 : (int) substr($head, $space + 1, 3);
        $lower = strtolower($head);
        $headers = [];
        foreach (['content-length', 'transfer-encoding', 'connection'] as $name) {
            $at = strpos($lower, "\r\n$name:");
            if ($at !== false) {
                $from = $at + strlen($name) + 3;
                $to = strpos($head, "\r\n", $from);
                $headers[$name] = trim($to === false ? substr($head, $from) : substr($head, $from, $to - $from));
            }
        }
        return $headers;
    }

    /** @param resource $stream */
    private function read($stream): string
    {
        $data = fread($stream, 65536);
        if ($data === false || $data === '') {
            if (stream_get_meta_data($stream)['timed_out']) {
                throw new DeadlineExceededException("no answer from the attache socket {$this->socket} in time");
            }
            throw new UnavailableException("the attache socket {$this->socket} closed the connection; is the sidecar running?");
        }
        return $data;
    }

    /**
     * A Connect server stream (JSON envelopes over HTTP/1.1) on a curl
     * handle of its own. Calls `$onMessage` with each decoded message;
     * returning false from it ends the stream. Without `$timeoutMs` the
     * stream runs until the server or the callback ends it.
     *
     * @param array<string, mixed> $request
     * @param callable(array<string, mixed>): (bool|null) $onMessage
     */
    public function stream(string $procedure, array $request, callable $onMessage, ?int $timeoutMs = null): void
    {
        $json = json_encode((object) $request, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
        $buffer = '';
        $stopped = false;
        $end = null;
        $curl = curl_init();
        curl_setopt_array($curl, [
            CURLOPT_UNIX_SOCKET_PATH => $this->socket,
            CURLOPT_URL => 'http://localhost/' . $procedure,
            CURLOPT_POST => true,
            CURLOPT_POSTFIELDS => pack('CN', 0, strlen($json)) . $json,
            CURLOPT_HTTPHEADER => ['Content-Type: application/connect+json', 'Connect-Protocol-Version: 1', 'Expect:'],
            CURLOPT_HTTP_VERSION => CURL_HTTP_VERSION_1_1,
            CURLOPT_TIMEOUT_MS => $timeoutMs ?? 0,
            CURLOPT_WRITEFUNCTION => function ($curl, string $data) use (&$buffer, &$stopped, &$end, $onMessage): int {
                $buffer .= $data;
                while (strlen($buffer) >= 5) {
                    ['flags' => $flags, 'length' => $length] = unpack('Cflags/Nlength', $buffer);
                    if (strlen($buffer) < 5 + $length) {
                        break;
                    }
                    $message = json_decode(substr($buffer, 5, $length), true) ?? [];
                    $buffer = substr($buffer, 5 + $length);
                    if ($flags & 0x02) {
                        $end = $message;
                        continue;
                    }
                    if ($onMessage($message) === false) {
                        $stopped = true;
                        return 0; // makes curl stop with a write error
                    }
                }
                return strlen($data);
            },
        ]);
        $ok = curl_exec($curl);
        $errno = curl_errno($curl);
        $error = curl_error($curl);
        $status = curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
        curl_close($curl);
        if ($stopped) {
            return;
        }
        if ($ok === false && $errno === CURLE_OPERATION_TIMEDOUT) {
            return; // the caller's time is up; the stream ends without error
        }
        if ($ok === false) {
            throw new UnavailableException("the stream from the attache socket {$this->socket} broke: $error");
        }
        if ($status !== 200) {
            $decoded = json_decode($buffer, true);
            throw AttacheException::fromCode((string) ($decoded['code'] ?? 'unknown'), (string) ($decoded['message'] ?? "HTTP $status from attache"), self::details($decoded));
        }
        if (isset($end['error'])) {
            throw AttacheException::fromCode((string) ($end['error']['code'] ?? 'unknown'), (string) ($end['error']['message'] ?? ''), self::details($end['error']));
        }
    }

    /**
     * A bidirectional Connect stream on a connection of its own (see
     * Stream), connecting and writing within `$timeoutMs` (null: the
     * client's deadline).
     */
    public function openStream(string $procedure, ?int $timeoutMs = null): Stream
    {
        return new Stream($this->socket, $procedure, $timeoutMs ?? $this->timeoutMs);
    }

    /**
     * A Connect error's "details" list.
     *
     * @internal also Stream's
     * @return list<mixed>
     */
    public static function details(mixed $error): array
    {
        $details = is_array($error) ? ($error['details'] ?? null) : null;
        return is_array($details) ? array_values($details) : [];
    }
}
