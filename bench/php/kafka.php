<?php
// Kafka from short-lived PHP: WORKERS processes (as PHP-FPM's children) each
// serve "requests" for SECONDS; every request makes its client anew, as a
// PHP request does, produces one event (a 100-byte value with a key) and
// lets the client go. attache: a new Attache\Client per request (the SDK
// keeps its socket connection persistent across requests) and
// `$attache->kafka->produceOne(...)`, ack 'spooled' (on the host's disk)
// and, for comparison, ack 'delivered' (Kafka has it). The direct way, if
// the rdkafka extension (php-rdkafka) is loaded: a new RdKafka\Producer per
// request (idempotent, acks all, lz4, as attache's own producer), one
// message, flush() until Kafka acknowledged it; without the extension that
// row says it is not available. Each mode produces to a topic of its own
// (auto-created by the broker on the first record). Reports requests/s,
// latency p50/p99, and the records the broker holds per request (end
// offsets read with kcat once every mode's records are in), and the
// sidecar's peak RSS (VmHWM) at the end.
// Usage: php kafka.php ATTACHE_SOCKET BROKER SECONDS WORKERS [SIDECAR_PID]  -> JSON on stdout.
declare(strict_types=1);

require __DIR__ . '/../../sdks/php/src/autoload.php';

const VALUE_BYTES = 100;
const KEYS = 1024;

function value(): string
{
    return substr(base64_encode(random_bytes(VALUE_BYTES)), 0, VALUE_BYTES);
}

/** Worker mode: serve requests until the time is up; write latencies (ns) to $out. */
function worker(string $mode, string $socket, string $broker, string $topic, float $seconds, string $out): void
{
    $values = array_map(fn () => value(), range(0, 255));
    $samples = [];
    $stopAt = microtime(true) + $seconds;
    $n = random_int(0, KEYS - 1);
    while (microtime(true) < $stopAt) {
        $key = 'user-' . ($n % KEYS);
        $value = $values[$n % count($values)];
        $n++;
        $t = hrtime(true);
        if ($mode === 'rdkafka') {
            $conf = new RdKafka\Conf();
            $conf->set('bootstrap.servers', $broker);
            $conf->set('enable.idempotence', 'true');
            $conf->set('acks', 'all');
            $conf->set('compression.codec', 'lz4');
            $conf->set('linger.ms', '5');
            $delivered = null;
            $conf->setDrMsgCb(function ($kafka, $message) use (&$delivered): void {
                $delivered = $message->err;
            });
            $producer = new RdKafka\Producer($conf);
            $kafkaTopic = $producer->newTopic($topic);
            $kafkaTopic->produce(RD_KAFKA_PARTITION_UA, 0, $value, $key);
            $flushed = $producer->flush(30_000);
            if ($flushed !== RD_KAFKA_RESP_ERR_NO_ERROR || $delivered !== RD_KAFKA_RESP_ERR_NO_ERROR) {
                throw new RuntimeException("rdkafka: flush $flushed, delivery " . var_export($delivered, true));
            }
            unset($kafkaTopic, $producer, $conf);
        } else {
            $attache = new Attache\Client($socket);
            $attache->kafka->produceOne($topic, $value, key: $key, ack: $mode === 'attache-delivered' ? 'delivered' : 'spooled');
            unset($attache);
        }
        $samples[] = hrtime(true) - $t;
    }
    file_put_contents($out, pack('J*', ...$samples));
}

if (($argv[1] ?? '') === 'worker') {
    worker($argv[2], $argv[3], $argv[4], $argv[5], (float) $argv[6], $argv[7]);
    exit(0);
}

[, $socket, $broker, $seconds, $workers] = $argv;
$sidecarPid = $argv[5] ?? '';
[$seconds, $workers] = [(float) $seconds, (int) $workers];

/** One command's output, or throw. */
function run(array $command): string
{
    $proc = proc_open($command, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
    $out = stream_get_contents($pipes[1]);
    $err = stream_get_contents($pipes[2]);
    if (proc_close($proc) !== 0) {
        throw new RuntimeException(implode(' ', $command) . " failed: $err");
    }
    return (string) $out;
}

/** The records the broker holds in $topic: its partitions' end offsets (kcat -Q, timestamp -1), summed. */
function brokerCount(string $broker, string $topic): int
{
    preg_match_all('/partition (\d+),/', run(['kcat', '-L', '-b', $broker, '-t', $topic]), $m);
    $query = ['kcat', '-b', $broker, '-Q'];
    foreach (array_unique($m[1]) as $p) {
        array_push($query, '-t', "$topic:$p:-1");
    }
    preg_match_all('/offset (\d+)/', run($query), $o);
    return array_sum(array_map('intval', $o[1]));
}

/** One timed segment of one mode: latencies (ns). */
function segment(string $mode, string $socket, string $broker, string $topic, float $seconds, int $workers): array
{
    $dir = sys_get_temp_dir() . '/attache-bench-php-' . bin2hex(random_bytes(4));
    mkdir($dir);
    $procs = [];
    for ($w = 0; $w < $workers; $w++) {
        $procs[] = proc_open([PHP_BINARY, __FILE__, 'worker', $mode, $socket, $broker, $topic, (string) $seconds, "$dir/$w"], [], $pipes);
    }
    foreach ($procs as $w => $p) {
        if (($code = proc_close($p)) !== 0) {
            throw new RuntimeException("$mode worker $w exited with $code");
        }
    }
    $samples = [];
    for ($w = 0; $w < $workers; $w++) {
        $samples = array_merge($samples, array_values(unpack('J*', (string) file_get_contents("$dir/$w"))));
        unlink("$dir/$w");
    }
    rmdir($dir);
    return $samples;
}

$modes = [
    'attache' => "attache produceOne, ack 'spooled'",
    'attache-delivered' => "attache produceOne, ack 'delivered'",
];
$rdkafka = extension_loaded('rdkafka')
    ? ['available' => true, 'version' => phpversion('rdkafka'), 'librdkafka' => defined('RD_KAFKA_VERSION') ? sprintf('%d.%d.%d', RD_KAFKA_VERSION >> 24, (RD_KAFKA_VERSION >> 16) & 0xff, (RD_KAFKA_VERSION >> 8) & 0xff) : null]
    : ['available' => false, 'reason' => 'the rdkafka extension is not loaded (Debian has no php-rdkafka package for this PHP; bench/run installs it when apt has one)'];
if ($rdkafka['available']) {
    $modes['rdkafka'] = "php-rdkafka {$rdkafka['version']}, a new producer per request (idempotent, lz4), flush";
} else {
    fprintf(STDERR, "php-rdkafka: not available: %s\n", $rdkafka['reason']);
}

// A topic per mode, made by the broker on its first record: one produced
// through attache with ack 'delivered' (which waits for the topic).
$run = base_convert((string) time(), 10, 36);
$topics = [];
$setup = new Attache\Client($socket, 120_000);
foreach (array_keys($modes) as $mode) {
    $topics[$mode] = "bench-php-$run-$mode";
    $setup->kafka->produceOne($topics[$mode], 'create', ack: 'delivered', timeoutMs: 100_000);
}
// A short warm-up of each (the sidecar's connections, the broker's topic).
$sent = array_fill_keys(array_keys($modes), 1);
foreach (array_keys($modes) as $mode) {
    $sent[$mode] += count(segment($mode, $socket, $broker, $topics[$mode], 0.5, $workers));
}

/** Waits (up to 120 s) until the broker has $expected records of $topic; how many it has. */
function awaitBroker(string $broker, string $topic, int $expected): int
{
    $deadline = microtime(true) + 120;
    while (($count = brokerCount($broker, $topic)) < $expected && microtime(true) < $deadline) {
        usleep(200_000);
    }
    return $count;
}
// What the measured requests add is counted from here, once the warm-up's
// records (spooled ones may still be on their way) are in.
$before = [];
foreach (array_keys($modes) as $mode) {
    $before[$mode] = awaitBroker($broker, $topics[$mode], $sent[$mode]);
}
// Modes run in interleaved rounds (the machine's speed drifts), pooled.
$rounds = 5;
$pooled = array_fill_keys(array_keys($modes), []);
for ($round = 0; $round < $rounds; $round++) {
    foreach ($modes as $mode => $label) {
        $pooled[$mode] = array_merge($pooled[$mode], segment($mode, $socket, $broker, $topics[$mode], $seconds / $rounds, $workers));
    }
}
$results = [];
foreach ($modes as $mode => $label) {
    $samples = $pooled[$mode];
    // Every request's record at the broker (attache's spooled ones after delivery).
    $atBroker = awaitBroker($broker, $topics[$mode], $before[$mode] + count($samples)) - $before[$mode];
    sort($samples);
    $at = fn (float $q) => $samples[(int) round((count($samples) - 1) * $q)] / 1000;
    $result = [
        'name' => $label,
        'mode' => $mode,
        'requests' => count($samples),
        'requests_per_s' => count($samples) / $seconds,
        'p50_us' => $at(0.5),
        'p99_us' => $at(0.99),
        'at_broker_per_request' => $atBroker / count($samples),
    ];
    fprintf(STDERR, "%-70s %7.0f req/s  p50 %6.0f µs  p99 %7.0f µs  %.3f records at the broker per request\n", $label, $result['requests_per_s'], $result['p50_us'], $result['p99_us'], $result['at_broker_per_request']);
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
echo json_encode(['workers' => $workers, 'seconds' => $seconds, 'value_bytes' => VALUE_BYTES, 'rounds' => $rounds, 'results' => $results, 'rdkafka' => $rdkafka, 'sidecar' => $sidecar]), "\n";
