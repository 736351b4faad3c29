<?php
// The PHP SDK's tests, against a real attache binary (no PHPUnit: Composer's
// registry is not reachable from our build machines). Prints the plain
// "N passed, N failed" line and exits non-zero on any failure.
declare(strict_types=1);

require __DIR__ . '/../src/autoload.php';

use Attache\AttacheException;
use Attache\Client;
use Attache\DeadlineExceededException;
use Attache\InvalidArgumentException;
use Attache\RedisReplyError;
use Attache\ResourceExhaustedException;
use Attache\UnavailableException;

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
$env = [
    'ATTACHE_REDIS_URL' => $redisUrl,
    'PATH' => getenv('PATH'),
    'ATTACHE_LOG_LEVEL' => 'warn',
    'ATTACHE_PASSWORD_ARGON2_MEMORY_KIB' => '1024',
    'ATTACHE_PASSWORD_ARGON2_ITERATIONS' => '1',
    'ATTACHE_PASSWORD_BCRYPT_COST' => '4',
];
$process = proc_open([$binary, 'run', '--socket', $socket, '--admin', 'off'], [0 => ['file', '/dev/null', 'r']], $pipes, null, $env);
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

$attache = new Client($socket);

check('info reports the version and modules', function () use ($attache) {
    $info = $attache->info();
    expect(preg_match('/^\d+\.\d+\.\d+/', $info['version']) === 1, 'version ' . $info['version']);
    expect($info['modules'] === ['password', 'redis', 'image'], 'modules ' . json_encode($info['modules']));
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

check('a persistent connection survives a sidecar restart', function () use ($binary, $dir, $env) {
    $other = "$dir/other.sock";
    $start = function () use ($binary, $other, $env) {
        $p = proc_open([$binary, 'run', '--socket', $other, '--admin', 'off'], [0 => ['file', '/dev/null', 'r']], $pipes, null, $env);
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

check('the sidecar and a client with no socket configured meet on the same path', function () use ($binary, $dir, $env) {
    $runtime = "$dir/runtime";
    mkdir($runtime, 0o700);
    $socket = "$runtime/attache.sock";
    $p = proc_open([$binary, 'run', '--admin', 'off'], [0 => ['file', '/dev/null', 'r']], $pipes, null, $env + ['RUNTIME_DIRECTORY' => $runtime]);
    for ($i = 0; $i < 500 && !file_exists($socket); $i++) {
        usleep(20_000);
    }
    try {
        $script = 'require ' . var_export(__DIR__ . '/../src/autoload.php', true) . ';'
            . ' $c = new Attache\Client(); echo json_encode([$c->socket, $c->info()["modules"]]);';
        $child = proc_open([PHP_BINARY, '-r', $script], [1 => ['pipe', 'w']], $out, null, ['PATH' => getenv('PATH'), 'RUNTIME_DIRECTORY' => $runtime]);
        $reply = json_decode(stream_get_contents($out[1]), true);
        proc_close($child);
        expect($reply === [$socket, ['password', 'redis', 'image']], 'reply ' . json_encode($reply));
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
@rmdir($dir);
echo "$passed passed, $failed failed\n";
exit($failed === 0 ? 0 : 1);
