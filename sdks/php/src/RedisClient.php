<?php
declare(strict_types=1);

namespace Attache;

/**
 * Redis/Valkey through the sidecar: every PHP worker on the host shares its
 * pipelined connections and its client-side cache, so even a request that
 * lives 20 ms reads from a warm cache.
 *
 * Replies: nil is null, bulk/simple/verbatim strings and big numbers are
 * strings, integers int, doubles float, booleans bool, arrays and sets
 * lists, maps associative arrays; error replies are RedisReplyError.
 */
final class RedisClient
{
    private const SERVICE = 'attache.redis.v1.RedisService/';

    public function __construct(private readonly Transport $transport)
    {
    }

    /**
     * Runs one command, e.g. do(['HINCRBY', 'stats', 'hits', 1]). Not retried.
     *
     * @param list<string|int|float> $args
     */
    public function do(array $args, ?int $timeoutMs = null): mixed
    {
        $reply = $this->transport->call(self::SERVICE . 'Do', ['args' => self::encodeArgs($args)], $timeoutMs, false);
        return self::orThrow(self::decode($reply['reply'] ?? null));
    }

    /**
     * Runs commands in order; replies in order, error replies as
     * RedisReplyError values. MULTI ... EXEC (with WATCH) in one call is atomic.
     *
     * @param list<list<string|int|float>> $commands
     * @return list<mixed>
     */
    public function doMulti(array $commands, ?int $timeoutMs = null): array
    {
        $request = ['commands' => array_map(static fn (array $args) => ['args' => self::encodeArgs($args)], $commands)];
        $reply = $this->transport->call(self::SERVICE . 'DoMulti', $request, $timeoutMs, false);
        return array_map(self::decode(...), $reply['replies'] ?? []);
    }

    /**
     * A read-only command served from the sidecar's cache (kept correct by
     * Redis invalidation); $ttlMs caps how long (0: the sidecar's default).
     *
     * @param list<string|int|float> $args
     * @return array{value: mixed, cacheHit: bool}
     */
    public function doCached(array $args, int $ttlMs = 0, ?int $timeoutMs = null): array
    {
        $request = ['args' => self::encodeArgs($args), 'ttlMs' => (string) $ttlMs];
        $reply = $this->transport->call(self::SERVICE . 'DoCached', $request, $timeoutMs);
        return ['value' => self::orThrow(self::decode($reply['reply'] ?? null)), 'cacheHit' => (bool) ($reply['cacheHit'] ?? false)];
    }

    /**
     * Reads many keys: hits from the cache, misses from Redis in one round trip.
     *
     * @param list<string> $keys
     * @return array{values: list<?string>, cacheHits: int}
     */
    public function mgetCached(array $keys, int $ttlMs = 0, ?int $timeoutMs = null): array
    {
        $request = ['keys' => self::encodeArgs($keys), 'ttlMs' => (string) $ttlMs];
        $reply = $this->transport->call(self::SERVICE . 'MGetCached', $request, $timeoutMs);
        return ['values' => array_map(self::decode(...), $reply['values'] ?? []), 'cacheHits' => (int) ($reply['cacheHits'] ?? 0)];
    }

    /**
     * Subscribes to channels and/or patterns and calls $onMessage(channel,
     * payload, pattern) for each message until it returns false, $timeoutMs
     * passes, or the stream ends with an error (ResourceExhaustedException
     * for a subscriber that fell behind, UnavailableException when Redis
     * went away). $onSubscribed runs once Redis has confirmed them.
     *
     * @param list<string> $channels
     * @param list<string> $patterns
     * @param callable(string, string, ?string): (bool|null) $onMessage
     * @param ?callable(): void $onSubscribed
     */
    public function subscribe(array $channels, array $patterns, callable $onMessage, ?int $timeoutMs = null, ?callable $onSubscribed = null): void
    {
        $this->transport->stream(
            self::SERVICE . 'Subscribe',
            ['channels' => $channels, 'patterns' => $patterns],
            static function (array $event) use ($onMessage, $onSubscribed): ?bool {
                if (isset($event['subscribed'])) {
                    if ($onSubscribed !== null) {
                        $onSubscribed();
                    }
                    return null;
                }
                $m = $event['message'] ?? [];
                $pattern = ($m['pattern'] ?? '') === '' ? null : $m['pattern'];
                return $onMessage((string) ($m['channel'] ?? ''), base64_decode((string) ($m['payload'] ?? '')), $pattern);
            },
            $timeoutMs,
        );
    }

    // Typed helpers for the common commands.

    public function get(string $key, ?int $timeoutMs = null): ?string
    {
        return $this->do(['GET', $key], $timeoutMs);
    }

    /** GET from the sidecar's cache. */
    public function getCached(string $key, int $ttlMs = 0, ?int $timeoutMs = null): ?string
    {
        return $this->doCached(['GET', $key], $ttlMs, $timeoutMs)['value'];
    }

    /** SET; false when $nx is set and the key existed. $pxMs expires it. */
    public function set(string $key, string|int|float $value, ?int $pxMs = null, bool $nx = false, ?int $timeoutMs = null): bool
    {
        $args = ['SET', $key, $value];
        if ($pxMs !== null) {
            array_push($args, 'PX', $pxMs);
        }
        if ($nx) {
            $args[] = 'NX';
        }
        return $this->do($args, $timeoutMs) !== null;
    }

    /** @param list<string> $keys */
    public function del(array $keys, ?int $timeoutMs = null): int
    {
        return $this->do(['DEL', ...$keys], $timeoutMs);
    }

    public function incr(string $key, ?int $timeoutMs = null): int
    {
        return $this->do(['INCR', $key], $timeoutMs);
    }

    public function expire(string $key, int $seconds, ?int $timeoutMs = null): bool
    {
        return $this->do(['EXPIRE', $key, $seconds], $timeoutMs) === 1;
    }

    public function hget(string $key, string $field, ?int $timeoutMs = null): ?string
    {
        return $this->do(['HGET', $key, $field], $timeoutMs);
    }

    /** @param array<string, string|int|float> $fields */
    public function hset(string $key, array $fields, ?int $timeoutMs = null): int
    {
        $args = ['HSET', $key];
        foreach ($fields as $field => $value) {
            array_push($args, (string) $field, $value);
        }
        return $this->do($args, $timeoutMs);
    }

    /** @return array<string, string> */
    public function hgetall(string $key, ?int $timeoutMs = null): array
    {
        return $this->do(['HGETALL', $key], $timeoutMs);
    }

    /**
     * @param list<string> $keys
     * @return list<?string>
     */
    public function mget(array $keys, ?int $timeoutMs = null): array
    {
        return $this->do(['MGET', ...$keys], $timeoutMs);
    }

    /**
     * @param list<string|int|float> $args
     * @return list<string>
     */
    private static function encodeArgs(array $args): array
    {
        return array_map(static fn ($a) => base64_encode((string) $a), $args);
    }

    private static function orThrow(mixed $value): mixed
    {
        if ($value instanceof RedisReplyError) {
            throw $value;
        }
        return $value;
    }

    /** A Value in protobuf JSON form as a PHP value. */
    private static function decode(mixed $value): mixed
    {
        if (!is_array($value) || $value === [] || array_key_exists('null', $value)) {
            return null;
        }
        $kind = array_key_first($value);
        $v = $value[$kind];
        return match ($kind) {
            'bulk' => base64_decode((string) $v),
            'simple', 'bigNumber' => (string) $v,
            'integer' => (int) $v,
            'error' => new RedisReplyError((string) $v),
            'array', 'set' => array_map(self::decode(...), $v['values'] ?? []),
            'map' => self::decodeMap($v['entries'] ?? []),
            'double' => (float) $v,
            'boolean' => (bool) $v,
            'verbatim' => base64_decode((string) ($v['text'] ?? '')),
            default => throw new AttacheException('unknown', "unknown reply kind \"$kind\" from attache; upgrade the SDK"),
        };
    }

    /** @param list<array{key?: mixed, value?: mixed}> $entries */
    private static function decodeMap(array $entries): array
    {
        $map = [];
        foreach ($entries as $entry) {
            $key = self::decode($entry['key'] ?? null);
            $map[is_int($key) ? $key : (string) $key] = self::decode($entry['value'] ?? null);
        }
        return $map;
    }
}
