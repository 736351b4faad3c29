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
     * Runs many independent calls in one round trip: each is a command, as
     * do() takes it (['INCR', 'hits']), or a cached read, as doCached()
     * takes it (['doCached' => ['GET', 'user:1'], 'ttlMs' => 60_000];
     * 'ttlMs' optional). Returns one result per call, in order:
     * ['value' => the reply, 'cacheHit' => bool (false for a command),
     * 'error' => null, a RedisReplyError for an error reply, or the
     * AttacheException the call would have thrown on its own]. A call that
     * fails does not fail the others. Not retried: commands may not be
     * idempotent.
     *
     * @param list<list<string|int|float>|array{doCached: list<string|int|float>, ttlMs?: int}> $calls
     * @return list<array{value: mixed, cacheHit: bool, error: RedisReplyError|AttacheException|null}>
     */
    public function batch(array $calls, ?int $timeoutMs = null): array
    {
        $request = [];
        foreach (array_values($calls) as $i => $call) {
            $request[] = self::batchCall($call, $i);
        }
        if ($request === []) {
            return [];
        }
        $reply = $this->transport->call(self::SERVICE . 'Batch', ['calls' => $request], $timeoutMs, false);
        $results = $reply['results'] ?? [];
        $out = [];
        foreach (array_keys($request) as $i) {
            $out[] = self::batchResult($results[$i] ?? null, $i);
        }
        return $out;
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

    /** @return array<string, mixed> a BatchCall in protobuf JSON form */
    private static function batchCall(mixed $call, int $i): array
    {
        if (is_array($call) && $call !== [] && array_is_list($call)) {
            return ['do' => ['args' => self::encodeArgs($call)]];
        }
        $args = is_array($call) ? ($call['doCached'] ?? null) : null;
        $ttlMs = is_array($call) ? ($call['ttlMs'] ?? 0) : null;
        if (!is_array($args) || $args === [] || !array_is_list($args) || !is_int($ttlMs) || $ttlMs < 0 || array_diff(array_keys($call), ['doCached', 'ttlMs']) !== []) {
            throw new InvalidArgumentException("calls[$i]: a command such as ['GET', 'k'], or ['doCached' => ['GET', 'k'], 'ttlMs' => 60_000]");
        }
        return ['doCached' => ['args' => self::encodeArgs($args), 'ttlMs' => (string) $ttlMs]];
    }

    /** @return array{value: mixed, cacheHit: bool, error: RedisReplyError|AttacheException|null} */
    private static function batchResult(mixed $result, int $i): array
    {
        $result = is_array($result) ? $result : [];
        if (is_array($result['error'] ?? null)) {
            $error = AttacheException::fromCode((string) ($result['error']['code'] ?? 'unknown'), (string) ($result['error']['message'] ?? ''));
            return ['value' => null, 'cacheHit' => false, 'error' => $error];
        }
        $kind = isset($result['doCached']) ? 'doCached' : (isset($result['do']) ? 'do' : null);
        if ($kind === null) {
            $error = new AttacheException('internal', "attache's batch reply lacks result $i");
            return ['value' => null, 'cacheHit' => false, 'error' => $error];
        }
        $value = self::decode($result[$kind]['reply'] ?? null);
        $error = $value instanceof RedisReplyError ? $value : null;
        return ['value' => $error === null ? $value : null, 'cacheHit' => (bool) ($result[$kind]['cacheHit'] ?? false), 'error' => $error];
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
