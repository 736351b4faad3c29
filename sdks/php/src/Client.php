<?php
declare(strict_types=1);

namespace Attache;

/**
 * A client of the attache sidecar on its Unix socket.
 *
 *     $attache = new Attache\Client();           // $ATTACHE_SOCKET or /tmp/attache.sock
 *     $hash = $attache->password->hash('secret');
 *     $name = $attache->redis->getCached('user:1:name');
 */
final class Client
{
    public const DEFAULT_SOCKET = '/tmp/attache.sock';

    public readonly PasswordClient $password;
    /** Redis/Valkey through the sidecar's shared connections and cache. */
    public readonly RedisClient $redis;
    /** Image resizing on the sidecar's image threads. */
    public readonly ImageClient $image;
    public readonly string $socket;
    private readonly Transport $transport;

    /**
     * @param ?string $socket    Unix socket path; default $ATTACHE_SOCKET, then /tmp/attache.sock
     * @param int     $timeoutMs deadline for every call unless the call sets its own
     * @param int     $retries   retries of idempotent calls that fail with UNAVAILABLE
     */
    public function __construct(?string $socket = null, ?int $timeoutMs = null, int $retries = 2)
    {
        $this->socket = $socket ?? (getenv('ATTACHE_SOCKET') ?: self::DEFAULT_SOCKET);
        $timeoutMs ??= ((int) getenv('ATTACHE_TIMEOUT_MS')) ?: 10_000;
        $this->transport = new Transport($this->socket, $timeoutMs, $retries);
        $this->password = new PasswordClient($this->transport);
        $this->redis = new RedisClient($this->transport);
        $this->image = new ImageClient($this->transport);
    }

    /**
     * The sidecar's version and the modules it serves; a cheap call to check
     * that the socket answers.
     *
     * @return array{version: string, modules: list<string>}
     */
    public function info(?int $timeoutMs = null): array
    {
        $reply = $this->transport->call('attache.sidecar.v1.SidecarService/GetInfo', [], $timeoutMs);
        return ['version' => (string) ($reply['version'] ?? ''), 'modules' => array_values($reply['modules'] ?? [])];
    }
}
