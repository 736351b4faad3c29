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
use Attache\UnavailableException;

$binary = getenv('ATTACHE_BIN') ?: __DIR__ . '/../../../target/debug/attache';
if (!is_executable($binary)) {
    fwrite(STDERR, "no attache binary at $binary; run cargo build or set ATTACHE_BIN\n");
    exit(1);
}
$dir = sys_get_temp_dir() . '/attache-php-' . bin2hex(random_bytes(4));
mkdir($dir);
$socket = "$dir/attache.sock";
$env = [
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
    expect($info['modules'] === ['password'], 'modules ' . json_encode($info['modules']));
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

check('the sidecar exits 0 on SIGTERM and removes its socket', function () use ($process, $socket) {
    proc_terminate($process, 15);
    $deadline = microtime(true) + 10;
    while (($status = proc_get_status($process))['running'] && microtime(true) < $deadline) {
        usleep(20_000);
    }
    expect(!$status['running'] && $status['exitcode'] === 0, 'exit code ' . $status['exitcode']);
    expect(!file_exists($socket), 'socket removed');
});

@rmdir($dir);
echo "$passed passed, $failed failed\n";
exit($failed === 0 ? 0 : 1);
