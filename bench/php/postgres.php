<?php
// PostgreSQL from short-lived PHP: WORKERS processes (as PHP-FPM's children)
// each serve "requests" for SECONDS; every request makes its client anew,
// as a PHP request does, runs one primary-key SELECT on a 100k-row table
// (Zipf 0.99 ids) and lets it go. PDO with a new connection per request,
// PDO with a persistent connection (ATTR_PERSISTENT), and attache (a new
// Client per request on the SDK's persistent socket connection; no result
// cache). Reports requests/s, latency p50/p99, the statements the server
// executed per request (pg_stat_statements), the most client connections
// the server had while each ran (pg_stat_activity, sampled with psql, which
// counts itself; the sidecar's pool is open in every mode, so it is counted
// apart too), and the sidecar's peak RSS (VmHWM) at the end.
// Expects the table bench_rows (id int primary key, name text, score int)
// with ids 0..99999 (bench/run makes it) and psql on the PATH.
// Usage: php postgres.php ATTACHE_SOCKET PG_SOCKET_DIR PG_PORT SECONDS WORKERS [SIDECAR_PID]  -> JSON on stdout.
declare(strict_types=1);

require __DIR__ . '/../../sdks/php/src/autoload.php';

const ROWS = 100_000;
const PK_SQL = 'SELECT id, name, score FROM bench_rows WHERE id = $1';
const PDO_PK_SQL = 'SELECT id, name, score FROM bench_rows WHERE id = ?';

function zipfCdf(): array
{
    $cdf = [];
    $sum = 0.0;
    for ($i = 0; $i < ROWS; $i++) {
        $cdf[$i] = $sum += 1 / (($i + 1) ** 0.99);
    }
    foreach ($cdf as $i => $v) {
        $cdf[$i] = $v / $sum;
    }
    return $cdf;
}

function zipfId(array $cdf): int
{
    $u = mt_rand() / mt_getrandmax();
    [$lo, $hi] = [0, ROWS - 1];
    while ($lo < $hi) {
        $mid = ($lo + $hi) >> 1;
        if ($cdf[$mid] < $u) {
            $lo = $mid + 1;
        } else {
            $hi = $mid;
        }
    }
    return $lo;
}

/** Worker mode: serve requests until the time is up; write latencies (ns) to $out. */
function worker(string $mode, string $socket, string $host, int $port, float $seconds, string $out): void
{
    $cdf = zipfCdf();
    $dsn = "pgsql:host=$host;port=$port;dbname=postgres";
    $samples = [];
    $stopAt = microtime(true) + $seconds;
    while (microtime(true) < $stopAt) {
        $id = zipfId($cdf);
        $t = hrtime(true);
        if ($mode === 'pdo' || $mode === 'pdo-persistent') {
            $pdo = new PDO($dsn, 'postgres', null, $mode === 'pdo' ? [] : [PDO::ATTR_PERSISTENT => true]);
            $statement = $pdo->prepare(PDO_PK_SQL);
            $statement->execute([$id]);
            $rows = $statement->fetchAll(PDO::FETCH_ASSOC);
            unset($statement, $pdo);
        } else {
            $attache = new Attache\Client($socket);
            $rows = $attache->postgres->query(PK_SQL, [$id]);
            unset($attache);
        }
        $samples[] = hrtime(true) - $t;
        if (count($rows) !== 1 || (int) $rows[0]['id'] !== $id) {
            throw new RuntimeException("expected row $id, got " . json_encode($rows));
        }
    }
    file_put_contents($out, pack('J*', ...$samples));
}

if (($argv[1] ?? '') === 'worker') {
    worker($argv[2], $argv[3], $argv[4], (int) $argv[5], (float) $argv[6], $argv[7]);
    exit(0);
}

[, $socket, $host, $port, $seconds, $workers] = $argv;
$sidecarPid = $argv[6] ?? '';
[$port, $seconds, $workers] = [(int) $port, (float) $seconds, (int) $workers];

/** One statement through psql (no connection of ours stays open); its output, trimmed. */
function psql(string $host, int $port, string $sql): string
{
    $proc = proc_open(['psql', '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-h', $host, '-p', (string) $port, '-U', 'postgres', '-d', 'postgres', '-c', $sql],
        [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
    $out = stream_get_contents($pipes[1]);
    $err = stream_get_contents($pipes[2]);
    if (proc_close($proc) !== 0) {
        throw new RuntimeException("psql failed: $err");
    }
    return trim((string) $out);
}

// All client connections (the brief's count: psql's own included), and the
// sidecar's among them (it names itself application_name 'attache').
const CONNECTIONS_SQL = "select count(*), count(*) filter (where application_name = 'attache') from pg_stat_activity where backend_type = 'client backend'";

/**
 * One timed segment of one mode: latencies (ns), server executions of the
 * query, and the server's client connections sampled while it ran ([all,
 * the sidecar's] each time).
 */
function segment(string $mode, string $socket, string $host, int $port, float $seconds, int $workers): array
{
    $dir = sys_get_temp_dir() . '/attache-bench-php-' . bin2hex(random_bytes(4));
    mkdir($dir);
    psql($host, $port, 'select pg_stat_statements_reset()');
    $procs = [];
    for ($w = 0; $w < $workers; $w++) {
        $procs[] = proc_open([PHP_BINARY, __FILE__, 'worker', $mode, $socket, $host, (string) $port, (string) $seconds, "$dir/$w"], [], $pipes);
    }
    // Every mode is sampled alike (psql costs the machine the same in each).
    $connections = [];
    $next = microtime(true) + min(0.3, $seconds / 4);
    $running = $procs;
    while ($running !== []) {
        foreach ($running as $w => $p) {
            $status = proc_get_status($p);
            if (!$status['running']) {
                if ($status['exitcode'] !== 0) {
                    throw new RuntimeException("$mode worker $w exited with {$status['exitcode']}");
                }
                unset($running[$w]);
            }
        }
        if ($running !== [] && microtime(true) >= $next) {
            $connections[] = array_map('intval', explode('|', psql($host, $port, CONNECTIONS_SQL)));
            $next = microtime(true) + 0.5;
        }
        usleep(10_000);
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
    $executions = (int) psql($host, $port, "select coalesce(sum(calls), 0) from pg_stat_statements where query like '%FROM bench_rows WHERE id =%' and query not like '%pg_stat_statements%'");
    return [$samples, $executions, $connections];
}

// Modes run in interleaved rounds (the machine's speed drifts), pooled.
$modes = [
    'pdo' => 'PDO, new connection per request',
    'pdo-persistent' => 'PDO, persistent connection',
    'attache' => 'attache Query',
];
$rounds = 5;
// A short warm-up of each, so no mode pays for the first connections or pages.
foreach (array_keys($modes) as $mode) {
    segment($mode, $socket, $host, $port, 0.5, $workers);
}
$pooled = array_fill_keys(array_keys($modes), [[], 0, []]);
for ($round = 0; $round < $rounds; $round++) {
    foreach ($modes as $mode => $label) {
        [$samples, $executions, $connections] = segment($mode, $socket, $host, $port, $seconds / $rounds, $workers);
        $pooled[$mode][0] = array_merge($pooled[$mode][0], $samples);
        $pooled[$mode][1] += $executions;
        $pooled[$mode][2] = array_merge($pooled[$mode][2], $connections);
    }
}
$results = [];
foreach ($modes as $mode => $label) {
    [$samples, $executions, $connections] = $pooled[$mode];
    sort($samples);
    $at = fn (float $q) => $samples[(int) round((count($samples) - 1) * $q)] / 1000;
    $result = [
        'name' => $label,
        'mode' => $mode,
        'requests' => count($samples),
        'requests_per_s' => count($samples) / $seconds,
        'p50_us' => $at(0.5),
        'p99_us' => $at(0.99),
        'server_executions_per_request' => $executions / count($samples),
        'server_connections_max' => $connections === [] ? null : max(array_column($connections, 0)),
        'sidecar_connections_max' => $connections === [] ? null : max(array_column($connections, 1)),
        'server_connections_samples' => array_column($connections, 0),
    ];
    fprintf(STDERR, "%-36s %7.0f req/s  p50 %5.0f µs  p99 %6.0f µs  %.3f executions/req  max %s server connections (%s the sidecar's)\n", $label, $result['requests_per_s'], $result['p50_us'], $result['p99_us'], $result['server_executions_per_request'], $result['server_connections_max'] ?? '?', $result['sidecar_connections_max'] ?? '?');
    $results[] = $result;
}

/** The sidecar's VmHWM and VmRSS in bytes, from /proc. */
function sidecarMemory(string $pid): ?array
{
    if ($pid === '') {
        return null;
    }
    $status = (string) file_get_contents("/proc/$pid/status");
    $kib = fn (string $field) => preg_match("/^$field:\\s+(\\d+) kB/m", $status, $m) ? (int) $m[1] * 1024 : null;
    return ['vm_hwm_bytes' => $kib('VmHWM'), 'vm_rss_bytes' => $kib('VmRSS')];
}
$sidecar = sidecarMemory($sidecarPid);
fprintf(STDERR, "sidecar: %s\n", json_encode($sidecar));
echo json_encode(['workers' => $workers, 'seconds' => $seconds, 'rows' => ROWS, 'results' => $results, 'sidecar' => $sidecar]), "\n";
