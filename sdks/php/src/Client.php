<?php
declare(strict_types=1);

namespace Attache;

/**
 * A client of the attache sidecar on its Unix socket.
 *
 *     $attache = new Attache\Client();           // $ATTACHE_SOCKET or the sidecar's default
 *     $hash = $attache->password->hash('secret');
 *     $name = $attache->redis->getCached('user:1:name');
 *     $user = $attache->postgres->queryOne('select * from users where id = $1', [42]);
 *     $attache->kafka->produceOne('orders', json_encode($order));
 *     $lease = $attache->kafka->fetch('mailer', ['emails']); // …; $lease->commit();
 */
final class Client
{
    public readonly PasswordClient $password;
    /** Redis/Valkey through the sidecar's shared connections and cache. */
    public readonly RedisClient $redis;
    /** Image resizing on the sidecar's image threads. */
    public readonly ImageClient $image;
    /** PostgreSQL through the sidecar's shared connection pool. */
    public readonly PostgresClient $postgres;
    /** Kafka producing through the sidecar's durable spool, and consuming through leases or a stream. */
    public readonly KafkaClient $kafka;
    public readonly string $socket;
    private readonly Transport $transport;

    /**
     * @param ?string $socket    Unix socket path; default $ATTACHE_SOCKET, then self::defaultSocket()
     * @param int     $timeoutMs deadline for every call unless the call sets its own
     * @param int     $retries   retries of idempotent calls that fail with UNAVAILABLE
     */
    public function __construct(?string $socket = null, ?int $timeoutMs = null, int $retries = 2)
    {
        $this->socket = $socket ?? (getenv('ATTACHE_SOCKET') ?: self::defaultSocket());
        $timeoutMs ??= ((int) getenv('ATTACHE_TIMEOUT_MS')) ?: 10_000;
        $this->transport = new Transport($this->socket, $timeoutMs, $retries);
        $this->password = new PasswordClient($this->transport);
        $this->redis = new RedisClient($this->transport);
        $this->image = new ImageClient($this->transport);
        $this->postgres = new PostgresClient($this->transport);
        $this->kafka = new KafkaClient($this->transport);
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

    /**
     * The socket the sidecar uses when nothing is configured, by the
     * sidecar's own rule (crates/server/src/socket_path.rs; keep the two,
     * and the Node SDK's, in step), always in a directory only its user may
     * write: a fixed path in /tmp could be bound first by any local user,
     * who would then receive the calls.
     *
     * `$RUNTIME_DIRECTORY/attache.sock` (the first of several), else
     * `/run/attache/attache.sock` when running as root or when it exists,
     * else `$XDG_RUNTIME_DIR/attache/attache.sock`, else
     * `$TMPDIR/attache-<euid>/attache.sock` (`/tmp` when TMPDIR is unset).
     * Empty or relative values count as unset. Throws if the last one's
     * directory exists but another user owns it or may write it: that user
     * could be listening there in the sidecar's place.
     *
     * @param ?array<string, string> $env    variables to use instead of getenv()'s
     * @param ?int                   $euid   uid to use instead of this process's
     * @param ?callable(string): bool $exists file test to use instead of file_exists()
     */
    public static function defaultSocket(?array $env = null, ?int $euid = null, ?callable $exists = null): string
    {
        $var = static fn (string $name): ?string => $env === null ? (getenv($name) ?: null) : ($env[$name] ?? null);
        $absolute = static fn (?string $value): ?string => $value !== null && str_starts_with($value, '/') ? $value : null;
        $euid ??= self::euid();
        $exists ??= 'file_exists';

        $runtime = $absolute(explode(':', $var('RUNTIME_DIRECTORY') ?? '')[0]);
        if ($runtime !== null) {
            return rtrim($runtime, '/') . '/attache.sock';
        }
        $root = '/run/attache/attache.sock';
        if ($euid === 0 || $exists($root)) {
            return $root;
        }
        $xdg = $absolute($var('XDG_RUNTIME_DIR'));
        if ($xdg !== null) {
            return rtrim($xdg, '/') . '/attache/attache.sock';
        }
        $dir = rtrim($absolute($var('TMPDIR')) ?? '/tmp', '/') . "/attache-$euid";
        self::checkPrivate($dir, $euid);
        return "$dir/attache.sock";
    }

    private static function euid(): int
    {
        if (function_exists('posix_geteuid')) {
            return posix_geteuid();
        }
        // Without ext-posix, Linux says it here: "Uid: real effective saved fs".
        $status = @file_get_contents('/proc/self/status');
        if ($status !== false && preg_match('/^Uid:\s+\d+\s+(\d+)/m', $status, $m) === 1) {
            return (int) $m[1];
        }
        throw new UnavailableException('cannot tell this process\'s uid to find the attache socket; install ext-posix or set ATTACHE_SOCKET');
    }

    // Only the temp dir sits where other users may create files; the other
    // places are made by systemd, root or the login session.
    private static function checkPrivate(string $dir, int $euid): void
    {
        clearstatcache(true, $dir);
        $stat = @lstat($dir);
        if ($stat === false) {
            return; // Not made yet: the sidecar creates it, privately, when it starts.
        }
        if (($stat['mode'] & 0o170000) !== 0o040000) { // lstat: a link is not a directory
            throw new UnavailableException("refusing $dir: the socket directory is a symbolic link or not a directory; remove it, or set ATTACHE_SOCKET");
        }
        if ($stat['uid'] !== $euid) {
            throw new UnavailableException("refusing $dir: the socket directory is owned by uid {$stat['uid']}, not by this process's uid $euid, and its owner could answer in the sidecar's place; remove it, or set ATTACHE_SOCKET");
        }
        if (($stat['mode'] & 0o022) !== 0) {
            $mode = decoct($stat['mode'] & 0o7777);
            throw new UnavailableException("refusing $dir: the socket directory has mode $mode, so other users may write it; chmod 750 it, or set ATTACHE_SOCKET");
        }
    }
}
