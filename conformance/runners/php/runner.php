<?php
// The PHP SDK's conformance runner (see conformance/README.md): one request
// per line on stdin, one reply per line on stdout, every op through the
// SDK's public API. Nothing but protocol lines goes to stdout.
declare(strict_types=1);

require __DIR__ . '/../../../sdks/php/src/autoload.php';

use Attache\AttacheException;
use Attache\Client;
use Attache\DeadlineExceededException;
use Attache\KafkaLease;
use Attache\Postgres;
use Attache\PostgresTransaction;
use Attache\RedisReplyError;

/** An op this SDK cannot express, with the reason. */
final class Unsupported extends \Exception
{
}

/** Thrown from a transaction's callback to end it with a rollback. */
final class RollBack extends \Exception
{
    /** @param list<array<string, mixed>> $results */
    public function __construct(public readonly array $results)
    {
        parent::__construct('rolled back on request');
    }
}

/** One client per socket (null: made without one, so $ATTACHE_SOCKET), made on first use. */
function client(?string $socket, string $role = 'main'): Client
{
    static $clients = [];
    return $clients["$role:$socket"] ??= $socket === null ? new Client() : new Client($socket);
}

// Values: JSON in the requests to PHP values, PHP values to JSON in the replies.

/** Bytes in arguments: a string is its UTF-8 bytes, {"$b64": ...} raw bytes. */
function bytesArg(mixed $v): mixed
{
    return is_array($v) && isset($v['$b64']) ? base64_decode($v['$b64'], true) : $v;
}

/** Bytes in results: a string when valid UTF-8, else {"$b64": ...}. */
function bytesOut(?string $b): string|array|null
{
    return $b === null || preg_match('//u', $b) === 1 ? $b : ['$b64' => base64_encode($b)];
}

/** Integers beyond 2^53 as decimal strings; NaN and infinities as protobuf JSON writes them. */
function number(int|float $n): int|float|string
{
    if (is_int($n)) {
        return abs($n) > 2 ** 53 ? (string) $n : $n;
    }
    return is_nan($n) ? 'NaN' : (is_infinite($n) ? ($n > 0 ? 'Infinity' : '-Infinity') : $n);
}

/** A Redis reply (as RedisClient gives it). */
function redisOut(mixed $v): mixed
{
    return match (true) {
        $v instanceof RedisReplyError => ['$error' => $v->getMessage()],
        is_string($v) => bytesOut($v),
        is_int($v), is_float($v) => number($v),
        is_array($v) && array_is_list($v) => array_map(redisOut(...), $v),
        // A map: its pairs (the SDK keys it by the key's string; PHP turns "1" into 1).
        is_array($v) => array_map(static fn ($k, $x) => [bytesOut((string) $k), redisOut($x)], array_keys($v), $v),
        default => $v, // null, bool
    };
}

/** A Postgres parameter. */
function pgParam(mixed $p): mixed
{
    if (is_float($p) && floor($p) === $p && abs($p) < 2 ** 63) {
        return (int) $p; // integral: int8
    }
    if (is_array($p) && isset($p['$b64'])) {
        return Postgres::bytea(bytesArg($p));
    }
    if (is_array($p) && isset($p['$type'])) {
        return Postgres::typed(pgParam($p['value'] ?? null), $p['$type']);
    }
    return is_array($p) && array_is_list($p) ? array_map(pgParam(...), $p) : $p;
}

/** A Postgres value (as PostgresClient decodes it). */
function pgOut(mixed $v): mixed
{
    return match (true) {
        $v instanceof \DateTimeInterface => $v->format('Y-m-d\TH:i:s.u\Z'),
        is_string($v) => bytesOut($v),
        is_int($v), is_float($v) => number($v),
        is_array($v) && array_is_list($v) => array_map(pgOut(...), $v),
        is_array($v) => (object) array_map(pgOut(...), $v), // json objects, intervals, records
        default => $v,
    };
}

/** A run()-shaped result: rows as lists in column order. */
function pgResult(array $r): array
{
    $names = array_column($r['columns'], 'name');
    $out = [
        'columns' => $names,
        'rows' => array_map(static fn (array $row) => array_map(static fn ($name) => pgOut($row[$name] ?? null), $names), $r['rows']),
    ];
    if (isset($r['rowsAffected'])) {
        $out['rows_affected'] = $r['rowsAffected'];
    }
    $out['cache'] = $r['cache']['status'];
    return $out;
}

/** @return list<array{sql: string, params: list<mixed>}> */
function pgStatements(array $statements): array
{
    return array_map(static fn (array $s) => ['sql' => $s['sql'], 'params' => array_map(pgParam(...), $s['params'] ?? [])], $statements);
}

function errorOut(?\Throwable $e): ?array
{
    if ($e === null) {
        return null;
    }
    $code = match (true) {
        $e instanceof AttacheException => $e->errorCode,
        $e instanceof RedisReplyError => 'redis_reply',
        default => 'internal',
    };
    return ['code' => $code, 'message' => $e->getMessage()];
}

/** snake_case to the SDK's camelCase: keep_metadata to keepMetadata. */
function camel(string $name): string
{
    return lcfirst(str_replace('_', '', ucwords($name, '_')));
}

/** Image options: the contract's snake_case names and enums to the SDK's (sharp's). */
function imageOptions(array $o): array
{
    $out = [];
    foreach ($o as $name => $value) {
        $name = camel($name);
        $out[$name] = $name === 'gravity' ? str_replace('_', '', $value) : $value;
    }
    return $out;
}

function resized(\Attache\ResizedImage $r): array
{
    return ['format' => $r->format, 'width' => $r->width, 'height' => $r->height, 'size' => strlen($r->data)];
}

function kafkaRecord(array $r): array
{
    foreach (['key', 'value'] as $name) {
        if (array_key_exists($name, $r)) {
            $r[$name] = bytesArg($r[$name]);
        }
    }
    if (isset($r['headers'])) {
        $r['headers'] = array_map(static fn (array $h) => [$h[0], bytesArg($h[1])], $r['headers']);
    }
    return $r;
}

/** A produce result: partition and offset, and the error if Kafka refused the record. */
function produced(array $r): array
{
    return ['partition' => $r['partition'], 'offset' => $r['offset'] === null ? null : number($r['offset']), 'error' => errorOut($r['error'])];
}

/** A consumed record (fetch's or a consumer's). */
function consumed(array $r): array
{
    return [
        'topic' => $r['topic'],
        'partition' => $r['partition'],
        'offset' => number($r['offset']),
        'key' => bytesOut($r['key']),
        'value' => bytesOut($r['value']),
        'headers' => array_map(static fn (array $h) => [$h[0], bytesOut($h[1])], $r['headers']),
    ];
}

/** @param array<string, mixed> $a */
function op(string $op, array $a, ?string $socket, ?int $t): array
{
    $attache = client($socket);
    switch ($op) {
        case 'sidecar.info':
            return $attache->info($t);

        case 'password.hash':
            $params = $a['params'] ?? [];
            $algorithm = $a['algorithm'] ?? null;
            $kind = match (true) {
                isset($params['cost']) => 'bcrypt',
                isset($params['log_n']) || isset($params['r']) || isset($params['p']) => 'scrypt',
                default => 'argon2',
            };
            $costs = $params === [] ? [] : [$kind => array_combine(array_map(camel(...), array_keys($params)), $params)];
            return ['hash' => $attache->password->hash($a['password'], $algorithm, $costs, $t)];
        case 'password.verify':
            $v = $attache->password->verify($a['password'], $a['hash'], $t);
            return ['valid' => $v->valid, 'needs_rehash' => $v->needsRehash];

        case 'image.resize':
            $image = bytesArg($a['image']);
            unset($a['image']);
            return resized($attache->image->resize($image, imageOptions($a), $t));
        case 'image.resize_many':
            $outputs = $attache->image->resizeMany(bytesArg($a['image']), array_map(imageOptions(...), $a['outputs']), $t);
            return ['outputs' => array_map(resized(...), $outputs)];
        case 'image.probe':
            $p = $attache->image->probe(bytesArg($a['image']), $t);
            return array_combine(array_map(static fn ($k) => strtolower(preg_replace('/[A-Z]/', '_$0', $k)), array_keys($p)), $p);

        case 'redis.do':
            return ['reply' => redisOut($attache->redis->do(array_map(bytesArg(...), $a['args']), $t))];
        case 'redis.do_multi':
            $commands = array_map(static fn (array $c) => array_map(bytesArg(...), $c), $a['commands']);
            return ['replies' => array_map(redisOut(...), $attache->redis->doMulti($commands, $t))];
        case 'redis.do_cached':
            $r = $attache->redis->doCached(array_map(bytesArg(...), $a['args']), $a['ttl_ms'] ?? 0, $t);
            return ['reply' => redisOut($r['value']), 'cache_hit' => $r['cacheHit']];
        case 'redis.mget_cached':
            $r = $attache->redis->mgetCached(array_map(bytesArg(...), $a['keys']), $a['ttl_ms'] ?? 0, $t);
            return ['values' => array_map(redisOut(...), $r['values']), 'cache_hits' => $r['cacheHits']];
        case 'redis.batch':
            $calls = array_map(static fn (array $c) => isset($c['do'])
                ? array_map(bytesArg(...), $c['do'])
                : ['doCached' => array_map(bytesArg(...), $c['do_cached']['args']), 'ttlMs' => $c['do_cached']['ttl_ms'] ?? 0], $a['calls']);
            $results = [];
            foreach ($attache->redis->batch($calls, $t) as $i => $r) {
                $cached = isset($a['calls'][$i]['do_cached']);
                $results[] = $r['error'] !== null
                    ? ['error' => errorOut($r['error'])]
                    : ['reply' => redisOut($r['value'])] + ($cached ? ['cache_hit' => $r['cacheHit']] : []);
            }
            return ['results' => $results];
        case 'redis.subscribe':
            // Subscribe blocks until its callback stops it: publish from a
            // second client once Redis has confirmed the subscriptions.
            $publish = $a['publish'] ?? [];
            $publisher = client($socket, 'publisher');
            $messages = [];
            $attache->redis->subscribe(
                $a['channels'] ?? [],
                $a['patterns'] ?? [],
                static function (string $channel, string $payload, ?string $pattern) use (&$messages, $publish): bool {
                    $messages[] = ['channel' => $channel, 'pattern' => $pattern ?? '', 'payload' => bytesOut($payload)];
                    return count($messages) < count($publish);
                },
                $t ?? 10_000,
                static function () use ($publisher, $publish, $t): void {
                    foreach ($publish as [$channel, $payload]) {
                        $publisher->redis->do(['PUBLISH', bytesArg($channel), bytesArg($payload)], $t);
                    }
                },
            );
            return ['messages' => $messages];

        case 'postgres.query':
            $params = array_map(pgParam(...), $a['params'] ?? []);
            return pgResult($attache->postgres->run($a['sql'], $params, $t, $a['max_rows'] ?? 0, $a['cache_ttl_ms'] ?? 0));
        case 'postgres.execute':
            $results = $attache->postgres->execute(pgStatements($a['statements']), $a['transactional'] ?? false, $a['isolation'] ?? null, $a['read_only'] ?? false, $t);
            return ['results' => array_map(pgResult(...), $results)];
        case 'postgres.insert':
            $row = array_map(pgParam(...), $a['row']);
            $r = $attache->postgres->insert($a['table'], $row, $a['returning'] ?? [], $a['on_conflict'] ?? null, $t);
            return ['inserted' => $r['inserted'], 'row' => $r['row'] === null ? null : (object) array_map(pgOut(...), $r['row'])];
        case 'postgres.get_or_load':
            $params = array_map(pgParam(...), $a['params'] ?? []);
            $r = $attache->postgres->getOrLoadResult($a['key'], $a['sql'], $params, $a['ttl_ms'], $t);
            return pgResult($r);
        case 'postgres.transaction':
            // transaction() commits when its callback returns and rolls
            // back when it throws: a rollback on request is a throw. With
            // stream, the steps go on the Transaction stream.
            try {
                $results = $attache->postgres->transaction(static function (PostgresTransaction $tx) use ($a, $t): array {
                    $results = [];
                    foreach (pgStatements($a['steps']) as $step) {
                        $results[] = pgResult($tx->run($step['sql'], $step['params'], $t));
                    }
                    if (($a['end'] ?? 'commit') === 'rollback') {
                        throw new RollBack($results);
                    }
                    return $results;
                }, $a['isolation'] ?? null, $a['read_only'] ?? false, $a['deferrable'] ?? false, $t, $a['stream'] ?? false);
            } catch (RollBack $r) {
                $results = $r->results;
            }
            return ['results' => $results];

        case 'kafka.produce':
            $results = $attache->kafka->produce(array_map(kafkaRecord(...), $a['records']), $a['ack'] ?? 'spooled', $t);
            return ['results' => array_map(produced(...), $results)];
        case 'kafka.fetch':
            // Fetch again until `want` records came or max_wait_ms passed; then commit each lease as told.
            $maxWaitMs = $a['max_wait_ms'] ?? 1000;
            $want = $a['want'] ?? null;
            $until = hrtime(true) + $maxWaitMs * 1_000_000;
            /** @var list<KafkaLease> $leases */
            $leases = [];
            $records = [];
            do {
                $wait = max(0, intdiv($until - hrtime(true), 1_000_000));
                $max = $a['max_records'] ?? 100;
                $lease = $attache->kafka->fetch($a['group'], $a['topics'], $want === null ? $max : min($max, $want - count($records)), $wait, $a['lease_ms'] ?? null, $a['start'] ?? 'earliest', $t);
                $leases[] = $lease;
                array_push($records, ...$lease->records);
            } while ($want !== null && count($records) < $want && hrtime(true) < $until);
            $committed = 0;
            if (($a['commit'] ?? 'all') === 'all') {
                foreach ($leases as $lease) {
                    $committed += $lease->commit(null, $t)['acked'];
                }
            }
            return ['records' => array_map(consumed(...), $records), 'committed' => $committed];
        case 'kafka.produce_stream':
            // One stream, the batches sent in order, each answered before the next.
            $producer = $attache->kafka->produceStream($a['ack'] ?? 'spooled', $t);
            try {
                $results = array_map(static fn (array $batch) => array_map(produced(...), $producer->send(array_map(kafkaRecord(...), $batch))), $a['batches']);
            } finally {
                $producer->close();
            }
            return ['results' => $results];
        case 'kafka.consume':
            // Read `count` records within the deadline, acking each if told, then close.
            $wait = $t ?? (((int) getenv('ATTACHE_TIMEOUT_MS')) ?: 10_000); // the client's default deadline
            $until = hrtime(true) + $wait * 1_000_000;
            $consumer = $attache->kafka->consume($a['group'], $a['topics'], $a['start'] ?? 'earliest', $a['max_unacked'] ?? null, timeoutMs: $t);
            $records = [];
            try {
                while (count($records) < $a['count']) {
                    $record = $consumer->poll(max(0, intdiv($until - hrtime(true), 1_000_000)));
                    if ($record === null) {
                        throw new DeadlineExceededException('runner: ' . count($records) . " of {$a['count']} records within $wait ms");
                    }
                    $records[] = consumed($record);
                    if ($a['ack'] ?? false) {
                        $consumer->ack($record);
                    }
                }
            } finally {
                $consumer->close();
            }
            return ['records' => $records];
    }
    throw new \InvalidArgumentException("unknown op \"$op\"");
}

function reply(string $line): array
{
    $id = null;
    try {
        $request = json_decode($line, true, 512, JSON_THROW_ON_ERROR);
        $id = $request['id'] ?? null;
        $result = op((string) $request['op'], $request['args'] ?? [], $request['socket'] ?? null, $request['timeout_ms'] ?? null);
        return ['id' => $id, 'result' => (object) $result];
    } catch (Unsupported $e) {
        return ['id' => $id, 'unsupported' => $e->getMessage()];
    } catch (AttacheException|RedisReplyError $e) {
        return ['id' => $id, 'error' => errorOut($e)];
    } catch (\Throwable $e) {
        return ['id' => $id, 'error' => ['code' => 'internal', 'message' => get_class($e) . ': ' . $e->getMessage()]];
    }
}

function send(array $reply): void
{
    try {
        $json = json_encode($reply, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION);
    } catch (\JsonException $e) {
        $json = json_encode(['id' => $reply['id'] ?? null, 'error' => ['code' => 'internal', 'message' => 'the reply is not JSON: ' . $e->getMessage()]]);
    }
    if (@fwrite(STDOUT, $json . "\n") === false) {
        exit(0); // the launcher is gone
    }
    fflush(STDOUT);
}

// A warning (a missing argument, say) fails its request, and never reaches stdout.
ini_set('display_errors', 'stderr');
set_error_handler(static function (int $severity, string $message, string $file, int $line): bool {
    if ((error_reporting() & $severity) === 0) {
        return false; // silenced with @ (the SDK does, where it handles the failure itself)
    }
    throw new \ErrorException($message, 0, $severity, $file, $line);
});

send(['hello' => ['sdk' => 'php', 'version' => 'dev (PHP ' . PHP_VERSION . ')']]);
while (($line = fgets(STDIN)) !== false) {
    if (trim($line) !== '') {
        send(reply($line));
    }
}
