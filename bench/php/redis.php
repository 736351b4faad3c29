<?php
// Redis from short-lived PHP: WORKERS processes (as PHP-FPM's children)
// each serve "requests" for SECONDS; every request makes its client anew,
// as a PHP request does, does one operation on one of 100k keys (Zipf 0.99,
// 5% writes) and lets it go. phpredis (connect() and pconnect()) vs attache
// (a new Client per request on the SDK's persistent socket connection;
// DoCached or Do reads, Do writes). Reports requests/s, latency p50/p99 and the commands Redis
// processed per request (INFO commandstats).
// Usage: php redis.php ATTACHE_SOCKET REDIS_HOST REDIS_PORT SECONDS WORKERS  -> JSON on stdout.
declare(strict_types=1);

require __DIR__ . '/../../sdks/php/src/autoload.php';

const KEYS = 100_000;
const WRITE_SHARE = 0.05;

function zipfCdf(): array
{
    $cdf = [];
    $sum = 0.0;
    for ($i = 0; $i < KEYS; $i++) {
        $cdf[$i] = $sum += 1 / (($i + 1) ** 0.99);
    }
    foreach ($cdf as $i => $v) {
        $cdf[$i] = $v / $sum;
    }
    return $cdf;
}

function zipfKey(array $cdf): string
{
    $u = mt_rand() / mt_getrandmax();
    [$lo, $hi] = [0, KEYS - 1];
    while ($lo < $hi) {
        $mid = ($lo + $hi) >> 1;
        if ($cdf[$mid] < $u) {
            $lo = $mid + 1;
        } else {
            $hi = $mid;
        }
    }
    return "key:$lo";
}

/** Worker mode: serve requests until the time is up; write latencies (ns) to $out. */
function worker(string $mode, string $socket, string $host, int $port, float $seconds, string $out): void
{
    $cdf = zipfCdf();
    $samples = [];
    $stopAt = microtime(true) + $seconds;
    $n = 0;
    while (microtime(true) < $stopAt) {
        $key = zipfKey($cdf);
        $write = mt_rand() / mt_getrandmax() < WRITE_SHARE;
        $t = hrtime(true);
        if ($mode === 'phpredis' || $mode === 'phpredis-persistent') {
            $redis = new Redis();
            $mode === 'phpredis' ? $redis->connect($host, $port) : $redis->pconnect($host, $port);
            $write ? $redis->set($key, 'w' . $n) : $redis->get($key);
            $redis->close();
        } else {
            $attache = new Attache\Client($socket);
            if ($write) {
                $attache->redis->do(['SET', $key, 'w' . $n]);
            } elseif ($mode === 'attache-cached') {
                $attache->redis->getCached($key, 600_000);
            } else {
                $attache->redis->get($key);
            }
            unset($attache);
        }
        $samples[] = hrtime(true) - $t;
        $n++;
    }
    file_put_contents($out, pack('J*', ...$samples));
}

if (($argv[1] ?? '') === 'worker') {
    worker($argv[2], $argv[3], $argv[4], (int) $argv[5], (float) $argv[6], $argv[7]);
    exit(0);
}

[, $socket, $host, $port, $seconds, $workers] = $argv;
[$port, $seconds, $workers] = [(int) $port, (float) $seconds, (int) $workers];
$admin = new Redis();
$admin->connect($host, $port);

/** One timed segment of one mode: latencies (ns) and Redis calls. */
function segment(string $mode, string $socket, string $host, int $port, float $seconds, int $workers, Redis $admin): array
{
    $dir = sys_get_temp_dir() . '/attache-bench-php-' . bin2hex(random_bytes(4));
    mkdir($dir);
    $admin->rawCommand('CONFIG', 'RESETSTAT');
    $procs = [];
    for ($w = 0; $w < $workers; $w++) {
        $procs[] = proc_open([PHP_BINARY, __FILE__, 'worker', $mode, $socket, $host, (string) $port, (string) $seconds, "$dir/$w"], [], $pipes);
    }
    foreach ($procs as $p) {
        proc_close($p);
    }
    $samples = [];
    for ($w = 0; $w < $workers; $w++) {
        $samples = array_merge($samples, array_values(unpack('J*', (string) file_get_contents("$dir/$w"))));
        unlink("$dir/$w");
    }
    rmdir($dir);
    $calls = 0;
    foreach ($admin->info('commandstats') as $name => $stat) {
        if (!str_contains($name, 'info') && !str_contains($name, 'config') && preg_match('/calls=(\d+)/', (string) $stat, $m)) {
            $calls += (int) $m[1];
        }
    }
    return [$samples, $calls];
}

// The warm cache a long-running sidecar has (see the Node benchmark),
// filled again before each DoCached round so other modes' writes in
// between do not count as its misses.
function warmCache(string $socket): void
{
    $warm = new Attache\Client($socket);
    for ($start = 0; $start < KEYS; $start += 500) {
        $warm->redis->mgetCached(array_map(fn ($i) => 'key:' . ($start + $i), range(0, 499)), 600_000);
    }
}

// attache's SDK keeps its socket connection persistent across requests
// (as phpredis's pconnect does), so both ways are measured for phpredis.
// Modes run in interleaved rounds (the machine's speed drifts), pooled.
$modes = [
    'phpredis' => 'phpredis connect()',
    'phpredis-persistent' => 'phpredis pconnect() (persistent)',
    'attache' => 'attache Do',
    'attache-cached' => 'attache DoCached',
];
$rounds = 5;
$pooled = array_fill_keys(array_keys($modes), [[], 0]);
for ($round = 0; $round < $rounds; $round++) {
    foreach ($modes as $mode => $label) {
        if ($mode === 'attache-cached') {
            warmCache($socket);
        }
        [$samples, $calls] = segment($mode, $socket, $host, $port, $seconds / $rounds, $workers, $admin);
        $pooled[$mode][0] = array_merge($pooled[$mode][0], $samples);
        $pooled[$mode][1] += $calls;
    }
}
$results = [];
foreach ($modes as $mode => $label) {
    [$samples, $calls] = $pooled[$mode];
    sort($samples);
    $at = fn (float $q) => $samples[(int) round((count($samples) - 1) * $q)] / 1000;
    $result = [
        'name' => $label,
        'requests' => count($samples),
        'requests_per_s' => count($samples) / $seconds,
        'p50_us' => $at(0.5),
        'p99_us' => $at(0.99),
        'redis_commands_per_request' => $calls / count($samples),
    ];
    fprintf(STDERR, "%-36s %7.0f req/s  p50 %5.0f µs  p99 %6.0f µs  %.3f redis cmds/req\n", $label, $result['requests_per_s'], $result['p50_us'], $result['p99_us'], $result['redis_commands_per_request']);
    $results[] = $result;
}
echo json_encode(['workers' => $workers, 'seconds' => $seconds, 'results' => $results]), "\n";
