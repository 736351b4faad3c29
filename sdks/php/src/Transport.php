<?php
declare(strict_types=1);

namespace Attache;

/**
 * Connect unary calls (JSON over HTTP/1.1) on the sidecar's Unix socket,
 * through one reused curl handle so consecutive calls share a connection.
 * JSON rather than binary protobuf because it needs no extension and PHP
 * encodes it natively; the field names are protobuf's canonical JSON names.
 */
final class Transport
{
    private \CurlHandle $curl;

    public function __construct(
        public readonly string $socket,
        private readonly int $timeoutMs,
        private readonly int $retries,
    ) {
        $this->curl = curl_init();
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
        curl_reset($this->curl);
        curl_setopt_array($this->curl, [
            CURLOPT_UNIX_SOCKET_PATH => $this->socket,
            CURLOPT_URL => 'http://localhost/' . $procedure,
            CURLOPT_POST => true,
            CURLOPT_POSTFIELDS => $body,
            CURLOPT_HTTPHEADER => [
                'Content-Type: application/json',
                'Connect-Protocol-Version: 1',
                'Connect-Timeout-Ms: ' . $timeoutMs,
                'Expect:',
            ],
            CURLOPT_RETURNTRANSFER => true,
            // The server enforces the deadline; curl's margin only catches a hung socket.
            CURLOPT_TIMEOUT_MS => $timeoutMs + 1000,
            CURLOPT_HTTP_VERSION => CURL_HTTP_VERSION_1_1,
        ]);
        $response = curl_exec($this->curl);
        if ($response === false) {
            $errno = curl_errno($this->curl);
            $error = curl_error($this->curl);
            if ($errno === CURLE_OPERATION_TIMEDOUT) {
                throw new DeadlineExceededException("no answer from the attache socket {$this->socket} in time: $error");
            }
            throw new UnavailableException("cannot reach the attache socket {$this->socket} ($error); is the sidecar running?");
        }
        $status = curl_getinfo($this->curl, CURLINFO_RESPONSE_CODE);
        $decoded = json_decode((string) $response, true);
        if ($status === 200 && is_array($decoded)) {
            return $decoded;
        }
        if (is_array($decoded) && isset($decoded['code'])) {
            throw AttacheException::fromCode((string) $decoded['code'], (string) ($decoded['message'] ?? ''));
        }
        throw new AttacheException('unknown', "unexpected HTTP $status from attache: " . substr((string) $response, 0, 200));
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
            throw AttacheException::fromCode((string) ($decoded['code'] ?? 'unknown'), (string) ($decoded['message'] ?? "HTTP $status from attache"));
        }
        if (isset($end['error'])) {
            throw AttacheException::fromCode((string) ($end['error']['code'] ?? 'unknown'), (string) ($end['error']['message'] ?? ''));
        }
    }
}
