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
}
