<?php
// The PHP SDK's tests, against a real attache binary (no PHPUnit: Composer's
// registry is not reachable from our build machines). Prints the plain
// "N passed, N failed" line and exits non-zero on any failure.
declare(strict_types=1);

require __DIR__ . '/../src/autoload.php';

use Attache\AlreadyExistsException;
use Attache\AttacheException;
use Attache\Client;
use Attache\DeadlineExceededException;
use Attache\FailedPreconditionException;
use Attache\InvalidArgumentException;
use Attache\NotFoundException;
use Attache\Postgres;
use Attache\PostgresTransaction;
use Attache\RedisReplyError;
use Attache\ResourceExhaustedException;
use Attache\UnavailableException;
use Attache\UniqueViolationException;

$binary = getenv('ATTACHE_BIN') ?: __DIR__ . '/../../../target/debug/attache';
if (!is_executable($binary)) {
    fwrite(STDERR, "no attache binary at $binary; run cargo build or set ATTACHE_BIN\n");
    exit(1);
}
$dir = sys_get_temp_dir() . '/attache-php-' . bin2hex(random_bytes(4));
mkdir($dir);
$socket = "$dir/attache.sock";
// A real redis-server for the Redis client's tests (testing/redis/).
$redisScripts = __DIR__ . '/../../../testing/redis';
$redisUrl = trim((string) shell_exec(escapeshellarg("$redisScripts/start") . ' ' . escapeshellarg("$dir/redis")));
if (!str_starts_with($redisUrl, 'redis://')) {
    fwrite(STDERR, "testing/redis/start failed\n");
    exit(1);
}
$redisPort = (int) explode('/', explode(':', $redisUrl)[2])[0];
$cli = static fn (string ...$args): string => trim((string) shell_exec('redis-cli -p ' . $redisPort . ' ' . implode(' ', array_map('escapeshellarg', $args))));
// And a real PostgreSQL server for the Postgres client's (testing/postgres/).
$postgresScripts = __DIR__ . '/../../../testing/postgres';
$postgresUrl = trim((string) shell_exec(escapeshellarg("$postgresScripts/start") . ' ' . escapeshellarg("$dir/pg")));
if (!str_starts_with($postgresUrl, 'postgres://')) {
    fwrite(STDERR, "testing/postgres/start failed\n");
    shell_exec(escapeshellarg("$redisScripts/stop") . ' ' . escapeshellarg("$dir/redis"));
    exit(1);
}
// And real Kafka brokers (testing/kafka/), started side by side: one that
// creates topics as they are used, one that does not (for unknown topics).
// KAFKA_PARENT_PID: a run that dies leaves no broker behind.
$kafkaScripts = __DIR__ . '/../../../testing/kafka';
exec(escapeshellarg("$kafkaScripts/install") . ' 2>&1', $installLog, $installStatus);
if ($installStatus !== 0) {
    fwrite(STDERR, "testing/kafka/install failed:\n" . implode("\n", $installLog) . "\n");
    exit(1);
}
$kafkaStart = static function (string $name, bool $autoCreate) use ($kafkaScripts, $dir): \Closure {
    $vars = ['KAFKA_AUTO_CREATE' => $autoCreate ? 'true' : 'false', 'KAFKA_PARENT_PID' => (string) getmypid()] + getenv();
    $p = proc_open(["$kafkaScripts/start", "$dir/$name"], [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w']], $pipes, null, $vars);
    $address = null;
    // Its address once it is up (the first call waits for it).
    return static function () use ($p, $pipes, $name, &$address): string {
        if ($address === null) {
            $address = trim((string) stream_get_contents($pipes[1]));
            proc_close($p);
            if (preg_match('/^127\.0\.0\.1:\d+$/', $address) !== 1) {
                throw new \RuntimeException("testing/kafka/start $name failed: " . var_export($address, true));
            }
        }
        return $address;
    };
};
$kafkaBrokerOf = $kafkaStart('kafka', true);
$kafkaStrictBrokerOf = $kafkaStart('kafka-strict', false);
try {
    $kafkaBroker = $kafkaBrokerOf();
} catch (\RuntimeException $e) {
    fwrite(STDERR, $e->getMessage() . "\n");
    shell_exec(escapeshellarg("$redisScripts/stop") . ' ' . escapeshellarg("$dir/redis"));
    shell_exec(escapeshellarg("$postgresScripts/stop") . ' ' . escapeshellarg("$dir/pg"));
    exit(1);
}
// Every sidecar needs a Kafka spool directory of its own (one process locks
// it); this gives each start a fresh one.
$spools = 0;
$spool = static function () use ($dir, &$spools): string {
    return "$dir/spool-" . $spools++;
};
$env = [
    'ATTACHE_REDIS_URL' => $redisUrl,
    'ATTACHE_POSTGRES_URL' => $postgresUrl,
    'ATTACHE_KAFKA_BROKERS' => $kafkaBroker,
    'ATTACHE_KAFKA_PRODUCER_UNKNOWN_TOPIC_TIMEOUT' => '2s',
    'PATH' => getenv('PATH'),
    'ATTACHE_LOG_LEVEL' => 'warn',
    'ATTACHE_PASSWORD_ARGON2_MEMORY_KIB' => '1024',
    'ATTACHE_PASSWORD_ARGON2_ITERATIONS' => '1',
    'ATTACHE_PASSWORD_BCRYPT_COST' => '4',
];
$process = proc_open([$binary, 'run', '--socket', $socket, '--admin', 'off'], [0 => ['file', '/dev/null', 'r']], $pipes, null, $env + ['ATTACHE_KAFKA_SPOOL_DIR' => $spool()]);
$started = microtime(true);
while (!file_exists($socket)) {
    if (microtime(true) - $started > 10) {
        fwrite(STDERR, "attache did not start\n");
        exit(1);
    }
    usleep(20_000);
}

$passed = 0;
$failed = 0;
function check(string $name, callable $test): void
{
    global $passed, $failed;
    try {
        $test();
        $passed++;
        echo "ok - $name\n";
    } catch (\Throwable $e) {
        $failed++;
        echo "not ok - $name: " . get_class($e) . ': ' . $e->getMessage() . "\n";
    }
}
function expect(bool $condition, string $what): void
{
    if (!$condition) {
        throw new \AssertionError($what);
    }
}
/** @param class-string<\Throwable> $class */
function expectThrows(string $class, callable $call, string $messagePart = ''): \Throwable
{
    try {
        $call();
    } catch (\Throwable $e) {
        expect($e instanceof $class, "expected $class, got " . get_class($e) . ': ' . $e->getMessage());
        expect($messagePart === '' || str_contains($e->getMessage(), $messagePart), "message lacks \"$messagePart\": " . $e->getMessage());
        return $e;
    }
    throw new \AssertionError("expected $class, nothing was thrown");
}

function removeTree(string $path): void
{
    if (is_dir($path) && !is_link($path)) {
        foreach (scandir($path) ?: [] as $entry) {
            if ($entry !== '.' && $entry !== '..') {
                removeTree("$path/$entry");
            }
        }
        @rmdir($path);
    } else {
        @unlink($path);
    }
}

/**
 * The same modules, in any order (where a new module lands in the list is
 * not the point).
 *
 * @param list<string> $got
 * @param list<string> $want
 */
function modulesAre(array $got, array $want): bool
{
    sort($got);
    sort($want);
    return $got === $want;
}

$attache = new Client($socket);

check('info reports the version and modules', function () use ($attache) {
    $info = $attache->info();
    expect(preg_match('/^\d+\.\d+\.\d+/', $info['version']) === 1, 'version ' . $info['version']);
    expect(modulesAre($info['modules'], ['password', 'redis', 'image', 'postgres', 'kafka']), 'modules ' . json_encode($info['modules']));
});

check('hash and verify round trip under the policy', function () use ($attache) {
    $hash = $attache->password->hash('correct horse');
    expect(str_starts_with($hash, '$argon2id$v=19$m=1024,t=1,p=1$'), $hash);
    $ok = $attache->password->verify('correct horse', $hash);
    expect($ok->valid && !$ok->needsRehash, 'valid, no rehash');
    expect(!$attache->password->verify('wrong horse', $hash)->valid, 'wrong password rejected');
});

check("attache hashes pass PHP's password_verify", function () use ($attache) {
    foreach (['argon2id', 'bcrypt'] as $algorithm) {
        $hash = $attache->password->hash('pässwörd', $algorithm);
        expect(password_verify('pässwörd', $hash), "$algorithm: $hash");
        expect(!password_verify('passwort', $hash), "$algorithm rejects wrong");
    }
});

check("PHP's password_hash verifies in attache and needs a rehash", function () use ($attache) {
    foreach ([PASSWORD_BCRYPT, PASSWORD_ARGON2I] as $algo) {
        $hash = password_hash('s3cret', $algo);
        $v = $attache->password->verify('s3cret', $hash);
        expect($v->valid && $v->needsRehash, "$hash valid and needs rehash");
    }
});

check('cost overrides reach the sidecar', function () use ($attache) {
    $hash = $attache->password->hash('x', 'bcrypt', ['bcrypt' => ['cost' => 5]]);
    expect(str_starts_with($hash, '$2b$05$'), $hash);
});

check('bad input throws typed exceptions with the code', function () use ($attache) {
    $e = expectThrows(InvalidArgumentException::class, fn () => $attache->password->verify('x', 'not-a-hash'), 'not in a recognised form');
    expect($e instanceof AttacheException && $e->errorCode === 'invalid_argument' && !$e->isRetryable(), 'code');
    expectThrows(InvalidArgumentException::class, fn () => $attache->password->hash(str_repeat('x', 73), 'bcrypt'), '72 bytes');
    expectThrows(InvalidArgumentException::class, fn () => $attache->password->hash('x', 'md5'), 'unknown algorithm');
});

check('deadlines throw DeadlineExceededException', function () use ($attache) {
    expectThrows(DeadlineExceededException::class, fn () => $attache->password->hash('x', 'bcrypt', ['bcrypt' => ['cost' => 14]], timeoutMs: 20));
});

check('a missing sidecar is UnavailableException', function () {
    $down = new Client('/nonexistent/attache.sock', timeoutMs: 300);
    $e = expectThrows(UnavailableException::class, fn () => $down->password->hash('x'), 'is the sidecar running');
    expect($e->isRetryable(), 'retryable');
});

// The background connection to Redis comes up right after start.
for ($i = 0; $i < 200; $i++) {
    try {
        $attache->redis->do(['PING']);
        break;
    } catch (UnavailableException) {
        usleep(20_000);
    }
}

check('redis helpers and do speak RESP3 values', function () use ($attache, $cli) {
    expect($attache->redis->set('greeting', 'héllo'), 'set');
    expect(!$attache->redis->set('greeting', 'x', nx: true), 'set nx on an existing key');
    expect($attache->redis->get('greeting') === 'héllo', 'get');
    expect($cli('GET', 'greeting') === 'héllo', 'redis-cli reads what PHP wrote');
    expect($attache->redis->incr('n') === 1, 'incr');
    expect($attache->redis->hset('h', ['a' => '1', 'b' => 2]) === 2, 'hset');
    expect($attache->redis->hgetall('h') === ['a' => '1', 'b' => '2'], 'hgetall ' . json_encode($attache->redis->hgetall('h')));
    expect($attache->redis->mget(['greeting', 'missing']) === ['héllo', null], 'mget');
    $binary = "\x00\xff\r\n";
    $attache->redis->do(['SET', 'bin', $binary]);
    expect($attache->redis->do(['GET', 'bin']) === $binary, 'binary-safe');
    expectThrows(RedisReplyError::class, fn () => $attache->redis->do(['INCR', 'bin']), 'not an integer');
    $replies = $attache->redis->doMulti([['SET', 't', '1'], ['INCR', 'bin'], ['MULTI'], ['INCR', 't'], ['EXEC']]);
    expect($replies[0] === 'OK' && $replies[1] instanceof RedisReplyError && $replies[4] === [2], json_encode($replies));
    expect($attache->redis->del(['greeting', 'n', 'h', 'bin', 't']) === 5, 'del');
});

check('redis doCached serves hits and sees writes by other clients', function () use ($attache, $cli) {
    $cli('SET', 'user:1', 'alice');
    expect($attache->redis->doCached(['GET', 'user:1'], 60_000) === ['value' => 'alice', 'cacheHit' => false], 'miss');
    expect($attache->redis->doCached(['GET', 'user:1'])['cacheHit'], 'hit');
    $cli('SET', 'user:1', 'bob');
    $value = null;
    for ($i = 0; $i < 100 && $value !== 'bob'; $i++) {
        $value = $attache->redis->getCached('user:1');
    }
    expect($value === 'bob', "invalidated, got $value");
    $many = $attache->redis->mgetCached(['user:1', 'nobody']);
    expect($many === ['values' => ['bob', null], 'cacheHits' => 1], json_encode($many));
    expectThrows(InvalidArgumentException::class, fn () => $attache->redis->doCached(['SET', 'k', 'v']), 'not cacheable');
});

check('redis batch runs commands and cached reads in one call, each with its own result', function () use ($attache, $cli) {
    $results = $attache->redis->batch([
        ['SET', 'batched', '1'],
        ['INCR', 'batched'],
        ['doCached' => ['GET', 'batched'], 'ttlMs' => 60_000],
        ['doCached' => ['INCR', 'batched']], // not cacheable: fails alone
        ['HGET', 'batched', 'f'], // WRONGTYPE: an error reply
    ]);
    expect($results[0] === ['value' => 'OK', 'cacheHit' => false, 'error' => null], 'SET ' . json_encode($results[0]));
    expect($results[1] === ['value' => 2, 'cacheHit' => false, 'error' => null], 'INCR ' . json_encode($results[1]));
    expect($results[2] === ['value' => '2', 'cacheHit' => false, 'error' => null], 'cached GET ' . json_encode($results[2]));
    $e = $results[3]['error'];
    expect($e instanceof InvalidArgumentException && str_contains($e->getMessage(), 'not cacheable') && $results[3]['value'] === null, 'cached INCR ' . json_encode([$results[3]['value'], $e?->getMessage()]));
    $e = $results[4]['error'];
    expect($e instanceof RedisReplyError && str_starts_with($e->getMessage(), 'WRONGTYPE'), 'HGET of a string');
    $attache->redis->batch([['doCached' => ['GET', 'batched'], 'ttlMs' => 60_000]]); // cached now, if the write above kept it from it
    $again = $attache->redis->batch([['doCached' => ['GET', 'batched'], 'ttlMs' => 60_000], ['GET', 'batched']]);
    expect($again === [['value' => '2', 'cacheHit' => true, 'error' => null], ['value' => '2', 'cacheHit' => false, 'error' => null]], 'hit ' . json_encode($again));
    expect($attache->redis->batch([]) === [], 'an empty batch');
    expectThrows(InvalidArgumentException::class, fn () => $attache->redis->batch([['GET', 'batched'], ['doCached' => ['GET', 'batched'], 'ttl' => 5]]), 'calls[1]');
    expect($cli('DEL', 'batched') === '1', 'del');
});

check('redis subscribe delivers messages until the callback says stop', function () use ($attache, $cli, $redisPort) {
    $got = [];
    $attache->redis->subscribe(['events'], ['ev*'], function (string $channel, string $payload, ?string $pattern) use (&$got) {
        $got[] = [$channel, $payload, $pattern];
        return count($got) < 4;
    }, timeoutMs: 5000, onSubscribed: function () use ($redisPort) {
        // Another process publishes while this one listens.
        exec("(redis-cli -p $redisPort PUBLISH events one; redis-cli -p $redisPort PUBLISH events two) >/dev/null 2>&1 &");
    });
    sort($got);
    expect($got === [['events', 'one', null], ['events', 'one', 'ev*'], ['events', 'two', null], ['events', 'two', 'ev*']], json_encode($got));
    $deadline = microtime(true) + 2;
    while ($cli('PUBSUB', 'NUMSUB', 'events') !== "events\n0" && microtime(true) < $deadline) {
        usleep(20_000);
    }
    expect($cli('PUBSUB', 'NUMSUB', 'events') === "events\n0", 'unsubscribed after the callback stopped');
});

// The pool's first connection to Postgres may take a moment after start.
for ($i = 0; $i < 200; $i++) {
    try {
        $attache->postgres->query('select 1');
        break;
    } catch (AttacheException) {
        usleep(20_000);
    }
}
// A table of its own per run, so a rerun against a kept server starts clean.
$pgTable = 'attache_php_' . bin2hex(random_bytes(4));
check('postgres answers and takes DDL', function () use ($attache, $pgTable) {
    $result = $attache->postgres->run("create table $pgTable (id int8 primary key, email text unique, name text)");
    expect($result['rows'] === [] && $result['columns'] === [], 'create table ' . json_encode($result));
});

check('postgres values come back as PHP types', function () use ($attache) {
    $result = $attache->postgres->run(<<<'SQL'
        select 9007199254740993::int8 as big, 42::int4 as small, 0::int4 as zero,
          '123456789012345678901234567890'::numeric as num, 'NaN'::float8 as nan, 1.5::float4 as f,
          'infinity'::timestamptz as inf, '-infinity'::timestamptz as ninf,
          '2024-02-29 12:34:56.789123+00'::timestamptz as ts, '1969-12-31 23:59:59.9995+00'::timestamptz as before_epoch,
          '2024-01-02 03:04:05.678901'::timestamp as naive, 'epoch'::timestamptz as epoch,
          '2024-02-29'::date as day, '0044-03-15 BC'::date as ides, 'infinity'::date as someday,
          '12:34:56.5'::time as clock, '1 mon 2 days 00:00:03'::interval as span,
          '\x00ff0d0a'::bytea as bin, '{"a": [1, 2, {"b": null}], "big": 12345678901234567890123}'::jsonb as doc,
          array[[1, 2, 3], [4, 5, 6]]::int[] as grid, '{}'::int[] as empty, array['a', null]::text[] as texts,
          null::text as nothing, 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid as id,
          true as yes, false as no, ''::text as blank, row(1, 'x') as rec, '192.168.0.1/24'::inet as net
        SQL);
    $row = $result['rows'][0];
    $utc = fn (mixed $t): string => $t instanceof \DateTimeImmutable ? $t->format('Y-m-d H:i:s.u e') : 'not a DateTimeImmutable: ' . json_encode($t);
    expect($row['big'] === 9007199254740993, 'int8 ' . var_export($row['big'], true));
    expect($row['small'] === 42 && $row['zero'] === 0, 'int4');
    expect($row['num'] === '123456789012345678901234567890', 'numeric ' . var_export($row['num'], true));
    expect(is_float($row['nan']) && is_nan($row['nan']) && $row['f'] === 1.5, 'floats');
    expect($row['inf'] === 'infinity' && $row['ninf'] === '-infinity', 'infinite timestamps');
    expect($utc($row['ts']) === '2024-02-29 12:34:56.789123 UTC', 'timestamptz ' . $utc($row['ts']));
    expect($utc($row['before_epoch']) === '1969-12-31 23:59:59.999500 UTC', 'before 1970 ' . $utc($row['before_epoch']));
    expect($utc($row['naive']) === '2024-01-02 03:04:05.678901 UTC', 'timestamp ' . $utc($row['naive']));
    expect($utc($row['epoch']) === '1970-01-01 00:00:00.000000 UTC', 'epoch ' . $utc($row['epoch']));
    expect($row['day'] === '2024-02-29' && $row['ides'] === '0044-03-15 BC' && $row['someday'] === 'infinity', 'dates');
    expect($row['clock'] === '12:34:56.500000', 'time ' . $row['clock']);
    expect($row['span'] === ['months' => 1, 'days' => 2, 'micros' => 3_000_000], 'interval ' . json_encode($row['span']));
    expect($row['bin'] === "\x00\xff\r\n", 'bytea');
    expect($row['doc'] === ['a' => [1, 2, ['b' => null]], 'big' => '12345678901234567890123'], 'jsonb ' . json_encode($row['doc']));
    expect($row['grid'] === [[1, 2, 3], [4, 5, 6]] && $row['empty'] === [] && $row['texts'] === ['a', null], 'arrays');
    expect($row['nothing'] === null, 'null');
    expect($row['id'] === 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'uuid');
    expect($row['yes'] === true && $row['no'] === false && $row['blank'] === '', 'zero values');
    expect($row['rec'] === [1, 'x'], 'record ' . json_encode($row['rec']));
    expect($row['net'] === '192.168.0.1/24', 'inet as text');
    expect($result['columns'][0] === ['name' => 'big', 'typeOid' => 20, 'typeName' => 'int8'], 'columns ' . json_encode($result['columns'][0]));
    expect($result['rowsAffected'] === 1 && $result['commandTag'] === 'SELECT 1', 'command tag');
    expect($attache->postgres->query('select 1 as one, 2 as one') === [['one' => 2]], 'the last of duplicate names wins');
    expect($attache->postgres->queryOne('select 1 where false') === null, 'queryOne of no rows');
});

check('postgres parameters of each PHP kind reach Postgres', function () use ($attache, $pgTable) {
    $when = new \DateTimeImmutable('2024-01-02 03:04:05.678901', new \DateTimeZone('UTC'));
    $row = $attache->postgres->queryOne(
        'select $1::int8 as a, $2::float8 as b, $3::text as c, $4::bytea as d, $5::timestamptz as e, $6::int[] as f,
           $7::jsonb as g, $8::bool as h, $9::text as i, $10 as j, $11::jsonb as k, $12::float8 as l, $13::text[] as m,
           $14::bool as n, $15::int8 as o, pg_typeof($16)::text as p, $17::jsonb as q, $18::timestamptz as r',
        [
            PHP_INT_MAX, 1.5, 'héllo', Postgres::bytea("\x00\xff"), $when, [[1, 2], [3, 4]], ['a' => [1, 'x'], 'b' => null],
            true, null, Postgres::typed('9007199254740993', 'int8'), Postgres::json([1, 'two']), NAN, ['x', null, 'z'],
            false, 0, Postgres::typed('2024-01-02', 'date'), Postgres::typed([1, 2], 'jsonb'),
            new \DateTimeImmutable('1969-12-31 23:59:59.5', new \DateTimeZone('UTC')),
        ],
    );
    expect($row['a'] === PHP_INT_MAX && $row['b'] === 1.5 && $row['c'] === 'héllo' && $row['d'] === "\x00\xff", 'scalars ' . json_encode(array_slice($row, 0, 3)));
    expect($row['e'] == $when && $row['e']->format('u') === '678901', 'DateTimeInterface as timestamptz');
    expect($row['f'] === [[1, 2], [3, 4]], 'a nested list as an int[][] ' . json_encode($row['f']));
    expect($row['g'] === ['a' => [1, 'x'], 'b' => null], 'an associative array as JSON');
    expect($row['h'] === true && $row['i'] === null && $row['n'] === false && $row['o'] === 0, 'bool, null, zero values');
    expect($row['j'] === 9007199254740993, 'typed int8 ' . var_export($row['j'], true));
    expect($row['k'] === [1, 'two'] && $row['q'] === [1, 2], 'JSON lists');
    expect(is_nan($row['l']), 'NaN');
    expect($row['m'] === ['x', null, 'z'], 'text[] with a null');
    expect($row['p'] === 'date', 'typed date ' . $row['p']);
    expect($row['r']->format('Y-m-d H:i:s.u') === '1969-12-31 23:59:59.500000', 'before 1970');
    // Untyped parameters take the type Postgres infers from the statement.
    $attache->postgres->query("insert into $pgTable (id, email, name) values ($1, $2, $3)", [100, 'infer@example.com', 'Ada']);
    $found = $attache->postgres->query("select id, name from $pgTable where email = $1", ['infer@example.com']);
    expect($found === [['id' => 100, 'name' => 'Ada']], 'inferred ' . json_encode($found));
    expectThrows(InvalidArgumentException::class, fn () => $attache->postgres->query('select $1', ["\xff\xfe"]), 'Postgres::bytea');
    expectThrows(InvalidArgumentException::class, fn () => $attache->postgres->query('select $1', [[[1, 2], [3]]]), 'rectangular');
    expectThrows(InvalidArgumentException::class, fn () => $attache->postgres->query('select $1', [new \ArrayObject()]), 'no Postgres form');
});

check('postgres unique violation is UniqueViolationException with the fields', function () use ($attache, $pgTable) {
    $attache->postgres->query("insert into $pgTable (id, email) values ($1, $2)", [1, 'a@example.com']);
    $e = expectThrows(UniqueViolationException::class, fn () => $attache->postgres->query("insert into $pgTable (id, email) values ($1, $2)", [2, 'a@example.com']));
    expect($e instanceof AlreadyExistsException && $e->errorCode === 'already_exists' && !$e->isRetryable(), 'already_exists');
    expect($e->domain === 'postgres' && $e->sqlstate() === '23505' && $e->metadata['sqlstate'] === '23505', 'sqlstate ' . json_encode($e->metadata));
    expect($e->constraint() === "{$pgTable}_email_key" && $e->table() === $pgTable, 'constraint ' . json_encode($e->metadata));
    expect(str_contains((string) $e->detail(), 'already exists'), 'detail ' . $e->detail());
});

check('postgres syntax error is InvalidArgumentException with the position', function () use ($attache, $pgTable) {
    $e = expectThrows(InvalidArgumentException::class, fn () => $attache->postgres->query('select * form nowhere'), 'syntax error');
    expect($e->sqlstate() === '42601' && $e->position() === '10', 'fields ' . json_encode($e->metadata));
    $e = expectThrows(InvalidArgumentException::class, fn () => $attache->postgres->query("select nope from $pgTable"));
    expect($e->sqlstate() === '42703', 'undefined column ' . json_encode($e->metadata));
});

check('postgres transaction commits what its callback did', function () use ($attache, $pgTable) {
    $n = $attache->postgres->transaction(function (PostgresTransaction $tx) use ($pgTable) {
        $tx->query("insert into $pgTable (id, email) values ($1, $2)", [10, 'tx@example.com']);
        return $tx->queryOne("select count(*) as n from $pgTable where id = $1", [10])['n'];
    });
    expect($n === 1, "the callback's value, got " . var_export($n, true));
    expect($attache->postgres->query("select email from $pgTable where id = 10") === [['email' => 'tx@example.com']], 'committed');
});

check('postgres transaction whose callback throws is rolled back', function () use ($attache, $pgTable) {
    $saved = null;
    // A closure, not fn (): an arrow function would capture a copy of $saved.
    expectThrows(\RuntimeException::class, function () use ($attache, $pgTable, &$saved) {
        $attache->postgres->transaction(function (PostgresTransaction $tx) use ($pgTable, &$saved) {
            $saved = $tx;
            $tx->query("insert into $pgTable (id, email) values ($1, $2)", [11, 'gone@example.com']);
            throw new \RuntimeException('changed my mind');
        }, isolation: 'serializable');
    }, 'changed my mind');
    expect($saved instanceof PostgresTransaction, 'the callback ran');
    expect($attache->postgres->query("select id from $pgTable where id = 11") === [], 'rolled back');
    // The transaction is over: its id is no longer known.
    expectThrows(NotFoundException::class, fn () => $saved->query('select 1'));
    expectThrows(UniqueViolationException::class, fn () => $attache->postgres->transaction(function (PostgresTransaction $tx) use ($pgTable) {
        $tx->query("insert into $pgTable (id, email) values ($1, $2)", [12, 'twelve@example.com']);
        $tx->query("insert into $pgTable (id, email) values ($1, $2)", [13, 'twelve@example.com']);
    }));
    expect($attache->postgres->query("select id from $pgTable where id in (12, 13)") === [], 'a failed statement rolls back the rest');
});

// The Transaction stream: begin, statements and the end as steps on one
// stream (a connection of its own) rather than unary calls naming it.

check('postgres stream transaction commits what its callback did, beside unary calls on the same client', function () use ($attache, $pgTable) {
    $seen = null;
    $n = $attache->postgres->transaction(function (PostgresTransaction $tx) use ($attache, $pgTable, &$seen) {
        expect($tx->id === '', 'a stream transaction has no id: ' . var_export($tx->id, true));
        $insert = $tx->run("insert into $pgTable (id, email) values ($1, $2)", [40, 'stream@example.com']);
        expect($insert['rowsAffected'] === 1 && $insert['commandTag'] === 'INSERT 0 1', 'insert ' . json_encode($insert));
        // The client's unary calls go on meanwhile (the stream does not
        // hold their connection), and do not see the uncommitted row.
        $seen = $attache->postgres->query("select id from $pgTable where id = 40");
        expect($tx->queryOne('select 1 as one') === ['one' => 1], 'a step after a unary call');
        return $tx->queryOne("select count(*) as n from $pgTable where id = $1", [40])['n'];
    }, stream: true);
    expect($n === 1, "the callback's value, got " . var_export($n, true));
    expect($seen === [], 'uncommitted outside the transaction: ' . json_encode($seen));
    expect($attache->postgres->query("select email from $pgTable where id = 40") === [['email' => 'stream@example.com']], 'committed');
    $level = $attache->postgres->transaction(
        fn (PostgresTransaction $tx) => $tx->queryOne("select current_setting('transaction_isolation') as i, current_setting('transaction_read_only') as ro")
            + $tx->queryOne('select count(*) as n from ' . $pgTable),
        isolation: 'repeatable read',
        readOnly: true,
        stream: true,
    );
    expect($level['i'] === 'repeatable read' && $level['ro'] === 'on' && $level['n'] >= 1, 'begin options ' . json_encode($level));
});

check('postgres stream transaction whose callback throws is rolled back, and its handle is dead', function () use ($attache, $pgTable) {
    $saved = null;
    expectThrows(\RuntimeException::class, function () use ($attache, $pgTable, &$saved) {
        $attache->postgres->transaction(function (PostgresTransaction $tx) use ($pgTable, &$saved) {
            $saved = $tx;
            $tx->query("insert into $pgTable (id, email) values ($1, $2)", [41, 'gone-stream@example.com']);
            expect($tx->queryOne("select current_setting('transaction_isolation') as i")['i'] === 'serializable', 'isolation');
            throw new \RuntimeException('changed my mind');
        }, isolation: 'serializable', stream: true);
    }, 'changed my mind');
    expect($saved instanceof PostgresTransaction, 'the callback ran');
    expect($attache->postgres->query("select id from $pgTable where id = 41") === [], 'rolled back');
    expectThrows(FailedPreconditionException::class, fn () => $saved->query('select 1'), 'the transaction has ended');
});

check("postgres stream transaction: a failing statement ends it, rolled back, with that statement's error", function () use ($attache, $pgTable) {
    $attache->postgres->query("insert into $pgTable (id, email) values ($1, $2)", [42, 'taken-stream@example.com']);
    $e = expectThrows(UniqueViolationException::class, fn () => $attache->postgres->transaction(function (PostgresTransaction $tx) use ($pgTable) {
        $tx->query("insert into $pgTable (id, email) values ($1, $2)", [43, 'fresh-stream@example.com']);
        $tx->query("insert into $pgTable (id, email) values ($1, $2)", [44, 'taken-stream@example.com']);
        throw new \AssertionError('a statement after the failing one ran');
    }, stream: true));
    expect($e->constraint() === "{$pgTable}_email_key" && $e->sqlstate() === '23505', 'the error with its fields ' . json_encode($e->metadata));
    expect($attache->postgres->query("select id from $pgTable where id in (43, 44)") === [], 'nothing of it was committed');
    // A callback that swallows the failure cannot go on, nor commit.
    $after = null;
    // A closure, not fn (): an arrow function would capture a copy of $after.
    $e = expectThrows(FailedPreconditionException::class, function () use ($attache, $pgTable, &$after) {
        $attache->postgres->transaction(function (PostgresTransaction $tx) use ($pgTable, &$after) {
            $tx->query("insert into $pgTable (id, email) values ($1, $2)", [45, 'swallowed@example.com']);
            try {
                $tx->query('select 1 / 0');
            } catch (InvalidArgumentException $e) {
                expect(str_contains($e->getMessage(), 'division by zero') && $e->sqlstate() === '22012', 'the failing statement ' . $e->getMessage());
            }
            $after = expectThrows(FailedPreconditionException::class, fn () => $tx->query('select 1'));
        }, stream: true);
    }, 'division by zero');
    expect(str_contains($after->getMessage(), 'division by zero'), 'a later step says why: ' . $after->getMessage());
    expect($attache->postgres->query("select id from $pgTable where id = 45") === [], 'rolled back');
    // Bad parameters are refused before anything is sent: the transaction goes on.
    $ok = $attache->postgres->transaction(function (PostgresTransaction $tx) {
        expectThrows(InvalidArgumentException::class, fn () => $tx->query('select $1', [new \ArrayObject()]), 'no Postgres form');
        return $tx->queryOne('select 2 as two');
    }, stream: true);
    expect($ok === ['two' => 2], 'went on ' . json_encode($ok));
});

check('postgres stream transaction: a step not answered in time is DeadlineExceededException and rolls back', function () use ($attache, $pgTable) {
    $started = microtime(true);
    expectThrows(DeadlineExceededException::class, fn () => $attache->postgres->transaction(function (PostgresTransaction $tx) use ($pgTable) {
        $tx->query("insert into $pgTable (id, email) values ($1, $2)", [46, 'slow@example.com']);
        $tx->query('select pg_sleep(3)', [], 300);
    }, stream: true), 'rolled back');
    $took = microtime(true) - $started;
    expect($took < 2.0, "gave up after its 300 ms, not the statement's 3 s: $took s");
    expect($attache->postgres->query("select id from $pgTable where id = 46") === [], 'not committed');
    // And a sidecar that is not there.
    expectThrows(UnavailableException::class, fn () => (new Client('/nonexistent/attache.sock'))->postgres->transaction(fn () => null, stream: true), 'cannot reach');
});

check('postgres stream transaction of a process that dies is rolled back at once, its locks freed', function () use ($attache, $socket, $pgTable) {
    // The child takes a row lock in a stream transaction and is killed; the
    // sidecar sees the stream break (no idle timeout to wait out), so this
    // process's update of the row does not wait for the lock.
    $attache->postgres->query("insert into $pgTable (id, email) values ($1, $2)", [47, 'locked@example.com']);
    $child = <<<'PHP'
        [, $autoload, $socket, $table] = $argv;
        require $autoload;
        (new Attache\Client($socket))->postgres->transaction(function (Attache\PostgresTransaction $tx) use ($table) {
            $tx->query("update $table set name = 'child' where id = 47");
            echo "locked\n";
            posix_kill(getmypid(), SIGKILL);
        }, stream: true);
        PHP;
    $p = proc_open([PHP_BINARY, '-r', $child, __DIR__ . '/../src/autoload.php', $socket, $pgTable], [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w']], $pipes);
    $line = fgets($pipes[1]);
    proc_close($p);
    expect($line === "locked\n", 'the child locked the row: ' . var_export($line, true));
    $started = microtime(true);
    $update = $attache->postgres->run("update $pgTable set name = 'parent' where id = 47", [], 5_000);
    expect($update['rowsAffected'] === 1, 'updated ' . json_encode($update));
    expect(microtime(true) - $started < 3.0, 'the lock was freed at once: ' . round(microtime(true) - $started, 2) . ' s');
    expect($attache->postgres->query("select name from $pgTable where id = 47") === [['name' => 'parent']], "the child's update was rolled back");
});

check('postgres execute runs statements in order; transactional is all or nothing', function () use ($attache, $pgTable) {
    $results = $attache->postgres->execute([
        ['sql' => "insert into $pgTable (id, email) values ($1, $2)", 'params' => [30, 'thirty@example.com']],
        ["select id, email from $pgTable where id = $1", [30]],
        "select 1 as one",
    ]);
    expect(count($results) === 3 && $results[0]['rowsAffected'] === 1 && $results[0]['commandTag'] === 'INSERT 0 1', 'insert ' . json_encode($results[0]));
    expect($results[1]['rows'] === [['id' => 30, 'email' => 'thirty@example.com']] && $results[2]['rows'] === [['one' => 1]], 'selects');
    expectThrows(UniqueViolationException::class, fn () => $attache->postgres->execute([
        ['sql' => "insert into $pgTable (id, email) values ($1, $2)", 'params' => [20, 'twenty@example.com']],
        ['sql' => "insert into $pgTable (id, email) values ($1, $2)", 'params' => [21, 'twenty@example.com']],
    ], transactional: true, isolation: 'repeatable read'));
    expect($attache->postgres->query("select id from $pgTable where id in (20, 21)") === [], 'nothing from the first statement');
    expectThrows(InvalidArgumentException::class, fn () => $attache->postgres->execute(['select 1'], isolation: 'chaos'), 'unknown isolation');
});

check('postgres cached read is a miss, then a hit, until a write through attache', function () use ($attache, $pgTable) {
    $attache->postgres->query("insert into $pgTable (id, email, name) values ($1, $2, $3)", [500, 'cached@example.com', 'before']);
    $read = fn () => $attache->postgres->run("select name from $pgTable where id = $1", [500], cacheTtlMs: 60_000);
    $first = $read();
    expect($first['rows'] === [['name' => 'before']], 'rows ' . json_encode($first['rows']));
    expect($first['cache'] === ['status' => 'miss', 'reason' => '', 'ageMs' => 0], 'first ' . json_encode($first['cache']));
    $second = $read();
    expect($second['rows'] === [['name' => 'before']], 'cached rows ' . json_encode($second['rows']));
    expect($second['cache']['status'] === 'hit' && is_int($second['cache']['ageMs']) && $second['cache']['ageMs'] >= 0, 'second ' . json_encode($second['cache']));
    expect($attache->postgres->query("select name from $pgTable where id = $1", [500], cacheTtlMs: 60_000) === [['name' => 'before']], 'query() with cacheTtlMs');
    $write = $attache->postgres->run("update $pgTable set name = $1 where id = $2", ['after', 500]);
    expect($write['cache']['status'] === 'bypass', 'a write ' . json_encode($write['cache']));
    $third = $read();
    expect($third['rows'] === [['name' => 'after']] && $third['cache']['status'] === 'miss', 'after the update ' . json_encode($third));
    $inTx = $attache->postgres->transaction(fn (PostgresTransaction $tx) => $tx->run("select name from $pgTable where id = $1", [500]));
    expect($inTx['cache']['status'] === 'bypass', 'in a transaction ' . json_encode($inTx['cache']));
    expectThrows(InvalidArgumentException::class, fn () => $attache->postgres->query('select 1', cacheTtlMs: -1), 'cacheTtlMs');
});

check('postgres concurrent inserts merge; each caller gets its own row; a conflict fails its caller alone', function () use ($attache, $socket, $pgTable) {
    $t = "{$pgTable}_ins";
    $attache->postgres->query("create table $t (id bigserial primary key, email text unique, n int, meta jsonb)");
    // A PHP call blocks: concurrent callers are processes, each connected
    // and then waiting on its stdin until all are released together.
    $child = <<<'PHP'
        [, $autoload, $socket, $table, $email, $n] = $argv;
        require $autoload;
        $client = new Attache\Client($socket);
        $client->info();
        echo "ready\n";
        fgets(STDIN);
        try {
            echo json_encode(['ok' => true] + $client->postgres->insert($table, ['email' => $email, 'n' => (int) $n], ['id', 'email', 'n']));
        } catch (Attache\AttacheException $e) {
            echo json_encode(['ok' => false, 'class' => get_class($e), 'constraint' => $e->constraint(), 'message' => $e->getMessage()]);
        }
        PHP;
    $insertAll = function (array $emails) use ($child, $socket, $t): array {
        $children = [];
        try {
            foreach ($emails as $n => $email) {
                $p = proc_open([PHP_BINARY, '-r', $child, __DIR__ . '/../src/autoload.php', $socket, $t, $email, (string) $n], [0 => ['pipe', 'r'], 1 => ['pipe', 'w']], $pipes);
                expect(is_resource($p), "child $n started");
                $children[] = [$p, $pipes];
            }
            foreach ($children as $n => [, $pipes]) {
                $line = fgets($pipes[1]);
                expect($line === "ready\n", "child $n ready: " . var_export($line, true));
            }
        } finally {
            // Released together (or, on a failure above, let go).
            foreach ($children as [, $pipes]) {
                fclose($pipes[0]);
            }
        }
        $replies = [];
        foreach ($children as [$p, $pipes]) {
            $replies[] = json_decode((string) stream_get_contents($pipes[1]), true);
            fclose($pipes[1]);
            proc_close($p);
        }
        return $replies;
    };
    $own = function (mixed $reply, string $email, int $n): array {
        expect(is_array($reply) && $reply['ok'] === true, "insert of $email " . json_encode($reply));
        expect($reply['inserted'] === true && is_int($reply['batchSize']) && $reply['batchSize'] >= 1, 'inserted ' . json_encode($reply));
        $row = $reply['row'];
        expect(is_array($row) && is_int($row['id']) && $row['email'] === $email && $row['n'] === $n, "its own row back for $email: " . json_encode($row));
        return [$row['id'], $reply['batchSize']];
    };

    // Inserts merge while a batch runs; a round that happens to go one by
    // one (a busy machine) is tried again, a few times.
    $largest = 0;
    for ($round = 0; $round < 3 && $largest <= 1; $round++) {
        $emails = array_map(fn (int $i) => "r$round-$i@example.com", range(0, 19));
        $ids = [];
        foreach ($insertAll($emails) as $n => $reply) {
            [$id, $batchSize] = $own($reply, $emails[$n], $n);
            $ids[$id] = true;
            $largest = max($largest, $batchSize);
        }
        expect(count($ids) === 20, 'each row its own id');
        expect($attache->postgres->queryOne("select count(*) as n from $t where email like $1", ["r$round-%"])['n'] === 20, 'all 20 rows');
    }
    expect($largest > 1, 'no inserts were merged');

    // One conflicting row among them: only its caller fails.
    $attache->postgres->insert($t, ['email' => 'taken@example.com', 'n' => -1]);
    $emails = array_map(fn (int $i) => $i === 7 ? 'taken@example.com' : "c-$i@example.com", range(0, 19));
    foreach ($insertAll($emails) as $n => $reply) {
        if ($n !== 7) {
            $own($reply, $emails[$n], $n);
            continue;
        }
        expect(is_array($reply) && $reply['ok'] === false && $reply['class'] === UniqueViolationException::class, 'the conflict ' . json_encode($reply));
        expect($reply['constraint'] === "{$t}_email_key", 'constraint ' . json_encode($reply));
    }
    expect($attache->postgres->queryOne("select count(*) as n from $t where email like 'c-%'")['n'] === 19, 'the others were inserted');
    // And in this process.
    $e = expectThrows(UniqueViolationException::class, fn () => $attache->postgres->insert($t, ['email' => 'taken@example.com', 'n' => 0]));
    expect($e->constraint() === "{$t}_email_key" && $e->sqlstate() === '23505', 'constraint ' . json_encode($e->metadata));
});

check('postgres insert: onConflict, returning and typed values', function () use ($attache, $pgTable) {
    $t = "{$pgTable}_ins";
    $skipped = $attache->postgres->insert($t, ['email' => 'taken@example.com', 'n' => 1], ['id'], ['action' => 'nothing']);
    expect($skipped['inserted'] === false && $skipped['row'] === null, 'skipped ' . json_encode($skipped));
    $updated = $attache->postgres->insert(
        $t,
        ['email' => 'taken@example.com', 'n' => 42, 'meta' => Postgres::typed([1, 'two'], 'jsonb')],
        ['*'],
        ['action' => 'update', 'target' => ['email'], 'update' => ['n', 'meta']],
    );
    $row = $updated['row'];
    expect($updated['inserted'] === true && is_int($row['id'] ?? null), 'updated ' . json_encode($updated));
    unset($row['id']);
    expect($row === ['email' => 'taken@example.com', 'n' => 42, 'meta' => [1, 'two']], 'the updated row ' . json_encode($row));
    $plain = $attache->postgres->insert($t, ['email' => 'plain@example.com', 'n' => null]);
    expect($plain['inserted'] === true && $plain['row'] === null && $plain['batchSize'] >= 1, 'nothing asked back ' . json_encode($plain));
    expect($attache->postgres->query("select n, meta from $t where email = $1", ['plain@example.com']) === [['n' => null, 'meta' => null]], 'NULLs');
    expectThrows(InvalidArgumentException::class, fn () => $attache->postgres->insert($t, ['nope' => 1]));
    expectThrows(InvalidArgumentException::class, fn () => $attache->postgres->insert($t, ['x@example.com', 1]), "['column' => value");
    expectThrows(InvalidArgumentException::class, fn () => $attache->postgres->insert($t, ['email' => 'x@example.com'], [], ['action' => 'replace']), 'onConflict');
});

check('postgres getOrLoad keeps a result in Redis: a miss, then a hit, until a write through attache', function () use ($attache, $pgTable, $cli) {
    $attache->postgres->query("insert into $pgTable (id, email, name) values ($1, $2, $3)", [600, 'loaded@example.com', 'pen']);
    $key = "$pgTable:item:600";
    $load = fn () => $attache->postgres->getOrLoadResult($key, "select name from $pgTable where id = $1", [600], 60_000);
    $first = $load();
    expect($first['rows'] === [['name' => 'pen']] && $first['columns'][0]['name'] === 'name', 'loaded ' . json_encode($first));
    expect($first['cache'] === ['status' => 'miss', 'reason' => '', 'ageMs' => 0], 'first ' . json_encode($first['cache']));
    expect($cli('EXISTS', $key) === '1', 'stored in Redis');
    $second = $load();
    expect($second['rows'] === [['name' => 'pen']] && $second['cache']['status'] === 'hit', 'second ' . json_encode($second));
    expect($attache->postgres->getOrLoad($key, "select name from $pgTable where id = $1", [600], 60_000) === [['name' => 'pen']], 'getOrLoad() rows');
    $attache->postgres->query("update $pgTable set name = $1 where id = $2", ['ink', 600]);
    $third = $load();
    expect($third['rows'] === [['name' => 'ink']] && $third['cache']['status'] === 'miss', 'after the update ' . json_encode($third));
    expect($load()['cache']['status'] === 'hit', 'stored again');
});

check('postgres getOrLoad without Redis configured is FailedPreconditionException', function () use ($binary, $dir, $env, $spool) {
    $other = "$dir/no-redis.sock";
    $p = proc_open([$binary, 'run', '--socket', $other, '--admin', 'off'], [0 => ['file', '/dev/null', 'r']], $pipes, null, array_diff_key($env, ['ATTACHE_REDIS_URL' => 1]) + ['ATTACHE_KAFKA_SPOOL_DIR' => $spool()]);
    for ($i = 0; $i < 500 && !file_exists($other); $i++) {
        usleep(20_000);
    }
    try {
        expectThrows(FailedPreconditionException::class, fn () => (new Client($other))->postgres->getOrLoad('k', 'select 1', [], 1000), 'ATTACHE_REDIS_URL');
    } finally {
        proc_terminate($p, 15);
        while (proc_get_status($p)['running']) {
            usleep(20_000);
        }
    }
});

check('postgres without a database configured is FailedPreconditionException', function () use ($binary, $dir, $env, $spool) {
    $other = "$dir/no-pg.sock";
    $p = proc_open([$binary, 'run', '--socket', $other, '--admin', 'off'], [0 => ['file', '/dev/null', 'r']], $pipes, null, array_diff_key($env, ['ATTACHE_POSTGRES_URL' => 1]) + ['ATTACHE_KAFKA_SPOOL_DIR' => $spool()]);
    for ($i = 0; $i < 500 && !file_exists($other); $i++) {
        usleep(20_000);
    }
    try {
        expectThrows(FailedPreconditionException::class, fn () => (new Client($other))->postgres->query('select 1'));
    } finally {
        proc_terminate($p, 15);
        while (proc_get_status($p)['running']) {
            usleep(20_000);
        }
    }
});

try {
    $attache->postgres->query("drop table if exists $pgTable, {$pgTable}_ins");
} catch (AttacheException) {
    // Reported by the checks above.
}

$fixtures = __DIR__ . '/../../../target/images';
check('image resize returns what PHP itself reads back', function () use ($attache, $fixtures) {
    $input = file_get_contents("$fixtures/bench_2725x2225.jpg");
    $out = $attache->image->resize($input, ['width' => 720, 'height' => 588, 'fit' => 'cover', 'quality' => 80]);
    expect([$out->width, $out->height, $out->format] === [720, 588, 'jpeg'], "resized to {$out->width}x{$out->height} {$out->format}");
    expect($out->inputBytes === strlen($input) && $out->outputBytes === strlen($out->data), 'byte counts');
    // PHP's own header reader, independent of attache.
    $size = getimagesizefromstring($out->data);
    expect($size[0] === 720 && $size[1] === 588 && $size['mime'] === 'image/jpeg', 'getimagesize ' . json_encode($size));
    $webp = $attache->image->resize(file_get_contents("$fixtures/alpha.png"), ['width' => 100, 'format' => 'webp']);
    expect(getimagesizefromstring($webp->data)['mime'] === 'image/webp', 'webp output');
    $set = $attache->image->resizeMany($input, [['width' => 200], ['width' => 64, 'height' => 64, 'format' => 'png']]);
    expect(array_map(fn ($o) => [$o->width, $o->height, $o->format], $set) === [[200, 163, 'jpeg'], [64, 64, 'png']], 'resizeMany');
    $probe = $attache->image->probe(file_get_contents("$fixtures/orientation_6.jpg"));
    expect($probe['orientation'] === 6 && $probe['uprightWidth'] === 451 && $probe['colorSpace'] === 'srgb', 'probe ' . json_encode($probe));
    expectThrows(InvalidArgumentException::class, fn () => $attache->image->resize('not an image', ['width' => 10]), 'not a JPEG, PNG or WebP');
    expectThrows(ResourceExhaustedException::class, fn () => $attache->image->resize(file_get_contents("$fixtures/bomb.png"), ['width' => 10]), 'max_source_pixels');
    expectThrows(InvalidArgumentException::class, fn () => $attache->image->resize($input, ['fit' => 'squash']), 'unknown fit');
});

// Kafka: the client, and the Monolog handler (tests/kafka.php).
require __DIR__ . '/kafka.php';

check('a persistent connection survives a sidecar restart', function () use ($binary, $dir, $env, $spool) {
    $other = "$dir/other.sock";
    $start = function () use ($binary, $other, $env, $spool) {
        $p = proc_open([$binary, 'run', '--socket', $other, '--admin', 'off'], [0 => ['file', '/dev/null', 'r']], $pipes, null, $env + ['ATTACHE_KAFKA_SPOOL_DIR' => $spool()]);
        for ($i = 0; $i < 500 && !file_exists($other); $i++) {
            usleep(20_000);
        }
        return $p;
    };
    $stop = function ($p) {
        proc_terminate($p, 15);
        while (proc_get_status($p)['running']) {
            usleep(20_000);
        }
    };
    $p = $start();
    // Separate clients in one process share the persistent connection, as
    // requests of one PHP-FPM worker do.
    (new Client($other))->info();
    $stop($p);
    $p = $start();
    $info = (new Client($other))->info();
    expect($info['version'] !== '', 'answered after the restart');
    $stop($p);
});

check("the default socket follows the sidecar's rule", function () {
    $none = static fn (string $path): bool => false;
    $all = ['RUNTIME_DIRECTORY' => '/run/svc:/run/other', 'XDG_RUNTIME_DIR' => '/run/user/1000', 'TMPDIR' => '/var/tmp'];
    $noRuntime = array_diff_key($all, ['RUNTIME_DIRECTORY' => 1]);
    $cases = [
        [$all, 0, $none, '/run/svc/attache.sock'],
        [$all, 1000, $none, '/run/svc/attache.sock'],
        [$noRuntime, 0, $none, '/run/attache/attache.sock'],
        [$noRuntime, 1000, $none, '/run/user/1000/attache/attache.sock'],
        // A client that is not root finds a root sidecar's socket where it is.
        [$noRuntime, 1000, static fn (string $p): bool => $p === '/run/attache/attache.sock', '/run/attache/attache.sock'],
        [['TMPDIR' => '/nonexistent-tmp/'], 1000, $none, '/nonexistent-tmp/attache-1000/attache.sock'],
        [[], 1000, $none, '/tmp/attache-1000/attache.sock'],
    ];
    foreach (['', 'relative/dir', ':/run/b'] as $bad) {
        $cases[] = [['RUNTIME_DIRECTORY' => $bad, 'XDG_RUNTIME_DIR' => $bad, 'TMPDIR' => $bad], 1000, $none, '/tmp/attache-1000/attache.sock'];
    }
    foreach ($cases as [$env, $euid, $exists, $expected]) {
        $got = Client::defaultSocket($env, $euid, $exists);
        expect($got === $expected, json_encode($env) . " euid $euid: $got, not $expected");
    }
});

check('a per-user temp dir another user owns or may write is refused', function () use ($dir) {
    $me = posix_geteuid();
    // The temp dir is not used by root (its rule comes first); play nobody.
    $user = $me === 0 ? 65534 : $me;
    $none = static fn (string $path): bool => false;
    $tmp = "$dir/tmp";
    mkdir($tmp);
    $own = "$tmp/attache-$user";
    expect(Client::defaultSocket(['TMPDIR' => $tmp], $user, $none) === "$own/attache.sock", 'a dir not made yet is fine');
    mkdir($own, 0o750);
    if ($me === 0) {
        chown($own, $user);
    }
    expect(Client::defaultSocket(['TMPDIR' => $tmp], $user, $none) === "$own/attache.sock", 'a private dir is used');
    chmod($own, 0o770);
    expectThrows(UnavailableException::class, fn () => Client::defaultSocket(['TMPDIR' => $tmp], $user, $none), 'mode 770');
    chmod($own, 0o750);
    // A dir this process owns is another user's to a process of another uid.
    $stranger = $me === 0 ? 65534 : $me + 1;
    $other = "$dir/other-tmp";
    mkdir("$other/attache-$stranger", 0o750, true);
    expectThrows(UnavailableException::class, fn () => Client::defaultSocket(['TMPDIR' => $other], $stranger, $none), "owned by uid $me, not by this process's uid $stranger");
    $linked = "$dir/linked-tmp";
    mkdir($linked);
    symlink($own, "$linked/attache-$user");
    expectThrows(UnavailableException::class, fn () => Client::defaultSocket(['TMPDIR' => $linked], $user, $none), 'symbolic link');
    foreach (["$linked/attache-$user", $linked, "$other/attache-$stranger", $other, $own, $tmp] as $path) {
        is_link($path) ? unlink($path) : rmdir($path);
    }
});

check('the sidecar and a client with no socket configured meet on the same path', function () use ($binary, $dir, $env, $spool) {
    $runtime = "$dir/runtime";
    mkdir($runtime, 0o700);
    $socket = "$runtime/attache.sock";
    $p = proc_open([$binary, 'run', '--admin', 'off'], [0 => ['file', '/dev/null', 'r']], $pipes, null, $env + ['RUNTIME_DIRECTORY' => $runtime, 'ATTACHE_KAFKA_SPOOL_DIR' => $spool()]);
    for ($i = 0; $i < 500 && !file_exists($socket); $i++) {
        usleep(20_000);
    }
    try {
        $script = 'require ' . var_export(__DIR__ . '/../src/autoload.php', true) . ';'
            . ' $c = new Attache\Client(); echo json_encode([$c->socket, $c->info()["modules"]]);';
        $child = proc_open([PHP_BINARY, '-r', $script], [1 => ['pipe', 'w']], $out, null, ['PATH' => getenv('PATH'), 'RUNTIME_DIRECTORY' => $runtime]);
        $reply = json_decode(stream_get_contents($out[1]), true);
        proc_close($child);
        expect(($reply[0] ?? null) === $socket && modulesAre($reply[1] ?? [], ['password', 'redis', 'image', 'postgres', 'kafka']), 'reply ' . json_encode($reply));
    } finally {
        proc_terminate($p, 15);
        while (proc_get_status($p)['running']) {
            usleep(20_000);
        }
        @rmdir($runtime);
    }
});

check('the sidecar exits 0 on SIGTERM and removes its socket', function () use ($process, $socket) {
    proc_terminate($process, 15);
    $deadline = microtime(true) + 10;
    while (($status = proc_get_status($process))['running'] && microtime(true) < $deadline) {
        usleep(20_000);
    }
    expect(!$status['running'] && $status['exitcode'] === 0, 'exit code ' . $status['exitcode']);
    expect(!file_exists($socket), 'socket removed');
});

shell_exec(escapeshellarg("$redisScripts/stop") . ' ' . escapeshellarg("$dir/redis"));
shell_exec(escapeshellarg("$postgresScripts/stop") . ' ' . escapeshellarg("$dir/pg"));
try {
    $kafkaStrictBrokerOf(); // reaped, if no test asked for it
} catch (\RuntimeException) {
}
foreach (['kafka', 'kafka-strict'] as $name) {
    shell_exec(escapeshellarg("$kafkaScripts/stop") . ' ' . escapeshellarg("$dir/$name"));
}
if ($failed === 0) {
    // The brokers' data and the spools; a failed run keeps them to look at.
    foreach (array_merge(glob("$dir/kafka*") ?: [], glob("$dir/spool-*") ?: []) as $path) {
        removeTree($path);
    }
}
@rmdir($dir);
echo "$passed passed, $failed failed\n";
exit($failed === 0 ? 0 : 1);
