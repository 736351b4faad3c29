<?php
// The Kafka client's and the Monolog handler's tests, included by run.php:
// its sidecar ($attache on $socket) produces to the broker $kafkaBroker, and
// kcat (from testing/kafka/install) reads back as an independent client.
declare(strict_types=1);

use Attache\AttacheException;
use Attache\Client;
use Attache\DeadlineExceededException;
use Attache\FailedPreconditionException;
use Attache\InvalidArgumentException;
use Attache\Monolog\KafkaHandler;
use Attache\NotFoundException;
use Attache\ResourceExhaustedException;
use Attache\UnavailableException;

// Debian's Monolog (and PSR-3's interfaces) for the handler's tests,
// installed as testing/*/install install what they need.
const MONOLOG_AUTOLOAD = '/usr/share/php/Monolog/autoload.php';
if (!is_file(MONOLOG_AUTOLOAD)) {
    $sudo = posix_geteuid() === 0 ? '' : 'sudo ';
    exec("{$sudo}apt-get update -qq 2>&1 && DEBIAN_FRONTEND=noninteractive {$sudo}apt-get install -y -qq --no-install-recommends php-monolog 2>&1", $aptLog, $aptStatus);
    if ($aptStatus !== 0) {
        fwrite(STDERR, "installing php-monolog failed:\n" . implode("\n", $aptLog) . "\n");
    }
}
// What a script does to load Debian's Monolog (its autoloader finds PSR-3 on the include path).
const LOAD_MONOLOG = "set_include_path(get_include_path() . PATH_SEPARATOR . '/usr/share/php'); require '" . MONOLOG_AUTOLOAD . "';";

/**
 * Every record of $topic as kcat's JSON gives it (headers as [name, value]
 * pairs), once there are $want of them or $timeout seconds have passed.
 *
 * @return list<array<string, mixed>>
 */
function kcatRead(string $broker, string $topic, int $want, float $timeout = 20.0): array
{
    $deadline = microtime(true) + $timeout;
    for (;;) {
        // A topic nothing was delivered to yet is an error to kcat: none read.
        $out = (string) shell_exec('timeout 20 kcat -C -b ' . escapeshellarg($broker) . ' -t ' . escapeshellarg($topic) . ' -o beginning -e -q -J 2>/dev/null');
        $records = [];
        foreach (explode("\n", trim($out)) as $line) {
            if ($line === '') {
                continue;
            }
            // kcat writes a binary payload's bytes as they are, not always UTF-8.
            $record = json_decode($line, true, 512, JSON_INVALID_UTF8_SUBSTITUTE);
            expect(is_array($record), "kcat wrote $line");
            $record['headers'] = array_chunk($record['headers'] ?? [], 2);
            $records[] = $record;
        }
        if (count($records) >= $want || microtime(true) > $deadline) {
            return $records;
        }
        usleep(100_000);
    }
}

/** One record's value, byte for byte, by kcat. */
function kcatValue(string $broker, string $topic, int $partition, int $offset): string
{
    return (string) shell_exec('timeout 20 kcat -C -b ' . escapeshellarg($broker) . ' -t ' . escapeshellarg($topic)
        . " -p $partition -o $offset -c 1 -e -q -f '%s' 2>/dev/null");
}

/** @param array<string, mixed> $record a kcatRead() record */
function attacheIds(array $record): array
{
    return array_values(array_map(fn (array $h) => $h[1], array_filter($record['headers'], fn (array $h) => $h[0] === 'attache-id')));
}

/** @param array<string, mixed> $record a kcatRead() record */
function ownHeaders(array $record): array
{
    return array_values(array_filter($record['headers'], fn (array $h) => $h[0] !== 'attache-id'));
}

/**
 * Runs `php -r $script ...$args` and returns [exit code, stdout, stderr].
 *
 * @param list<string> $args
 * @param array<string, string> $vars
 */
function runPhp(string $script, array $args = [], array $vars = []): array
{
    $p = proc_open([PHP_BINARY, '-r', $script, ...$args], [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, $vars + ['PATH' => (string) getenv('PATH')]);
    $out = stream_get_contents($pipes[1]);
    $err = stream_get_contents($pipes[2]);
    return [proc_close($p), (string) $out, (string) $err];
}

$kafkaTopic = static fn (string $what): string => "php-$what-" . bin2hex(random_bytes(4));

/**
 * Starts another sidecar with `$vars` over run.php's environment (a null
 * value removes one) and a spool of its own; returns its process and socket.
 *
 * @param array<string, ?string> $vars
 * @return array{resource, string}
 */
$sidecar = static function (string $name, array $vars) use ($binary, $dir, $env, $spool): array {
    $sock = "$dir/$name.sock";
    $vars += ['ATTACHE_KAFKA_SPOOL_DIR' => $spool()] + $env;
    $p = proc_open([$binary, 'run', '--socket', $sock, '--admin', 'off'], [0 => ['file', '/dev/null', 'r']], $pipes, null, array_filter($vars, fn ($v) => $v !== null));
    for ($i = 0; $i < 500 && !file_exists($sock); $i++) {
        usleep(20_000);
    }
    expect(file_exists($sock), "the $name sidecar started");
    return [$p, $sock];
};
$stopSidecar = static function ($p, int $signal = 15): void {
    proc_terminate($p, $signal);
    while (proc_get_status($p)['running']) {
        usleep(20_000);
    }
};

check('kafka produce round trip: keys, binary and null values, headers and attache-ids, as kcat reads them', function () use ($attache, $kafkaBroker, $kafkaTopic) {
    $topic = $kafkaTopic('round-trip');
    $binary = "\x00\xff\r\n\x80 bytes";
    $results = $attache->kafka->produce([
        ['topic' => $topic, 'key' => 'k0', 'value' => 'héllo', 'headers' => ['trace' => 'abc', 'flag' => null, 'empty' => '', '7' => 'a numeric name']],
        ['topic' => $topic, 'key' => "k\x001", 'value' => $binary],
        ['topic' => $topic, 'key' => 'k2', 'value' => null],
        ['topic' => $topic, 'key' => 'k3'],
        ['topic' => $topic, 'value' => '', 'partition' => 2, 'timestampMs' => 1_700_000_000_123, 'headers' => [['dup', '1'], ['dup', '2']]],
    ]);
    expect(count($results) === 5, 'five results ' . json_encode($results));
    $ids = array_column($results, 'id');
    expect(count(array_unique($ids)) === 5 && !in_array('', $ids, true), 'unique ids ' . json_encode($ids));
    foreach ($results as $r) {
        expect($r['partition'] === null && $r['offset'] === null && $r['error'] === null, 'spooled, not yet placed: ' . json_encode($r));
    }
    $got = kcatRead($kafkaBroker, $topic, 5);
    expect(count($got) === 5, 'kcat read ' . count($got) . ' records');
    $byId = [];
    foreach ($got as $record) {
        $own = attacheIds($record);
        expect(count($own) === 1, 'one attache-id header each: ' . json_encode($record['headers']));
        $byId[$own[0]] = $record;
    }
    $read = array_keys($byId);
    sort($read);
    $sent = $ids;
    sort($sent);
    expect($read === $sent, 'the attache-ids kcat read are the results\' ids: ' . json_encode([$read, $sent]));
    [$hello, $bin, $tombstone, $absent, $placed] = array_map(fn (string $id) => $byId[$id], $ids);
    expect($hello['key'] === 'k0' && $hello['payload'] === 'héllo', 'text ' . json_encode($hello));
    expect(ownHeaders($hello) === [['trace', 'abc'], ['flag', null], ['empty', ''], ['7', 'a numeric name']], 'headers in order, null and empty kept: ' . json_encode($hello['headers']));
    expect(kcatValue($kafkaBroker, $topic, $bin['partition'], $bin['offset']) === $binary, 'binary value byte for byte');
    expect($bin['key'] === "k\x001", 'binary key ' . json_encode($bin['key']));
    expect($tombstone['payload'] === null && $tombstone['key'] === 'k2' && $absent['payload'] === null, 'null values');
    expect($placed['key'] === null && $placed['payload'] === '' && $placed['partition'] === 2 && $placed['ts'] === 1_700_000_000_123, 'no key, empty value, partition and timestamp ' . json_encode($placed));
    expect(ownHeaders($placed) === [['dup', '1'], ['dup', '2']], 'a repeated header ' . json_encode($placed['headers']));
});

check('kafka ack delivered gives the partition and offset kcat finds the record at', function () use ($attache, $kafkaBroker, $kafkaTopic) {
    $topic = $kafkaTopic('delivered');
    $results = $attache->kafka->produce([
        ['topic' => $topic, 'key' => 'same', 'value' => 'one'],
        ['topic' => $topic, 'key' => 'same', 'value' => 'two'],
        ['topic' => $topic, 'key' => 'other', 'value' => 'three'],
    ], 'delivered');
    foreach ($results as $r) {
        expect(is_int($r['partition']) && is_int($r['offset']) && $r['error'] === null, 'placed ' . json_encode($r));
    }
    expect($results[1]['partition'] === $results[0]['partition'] && $results[1]['offset'] === $results[0]['offset'] + 1, 'one key: one partition, in order ' . json_encode($results));
    $one = $attache->kafka->produceOne($topic, 'four', key: 'same', ack: 'delivered');
    expect(array_keys($one) === ['id', 'partition', 'offset'], 'produceOne result ' . json_encode($one));
    expect($one['partition'] === $results[0]['partition'] && $one['offset'] === $results[1]['offset'] + 1, 'after the others of its key ' . json_encode($one));
    $got = kcatRead($kafkaBroker, $topic, 4);
    expect(count($got) === 4, 'kcat read ' . count($got));
    foreach ([[$results[0], 'one'], [$results[1], 'two'], [$results[2], 'three'], [$one, 'four']] as [$r, $value]) {
        $at = array_values(array_filter($got, fn (array $m) => $m['partition'] === $r['partition'] && $m['offset'] === $r['offset']));
        expect(count($at) === 1 && $at[0]['payload'] === $value && attacheIds($at[0]) === [$r['id']], "$value at {$r['partition']}/{$r['offset']}: " . json_encode($at));
    }
});

check('kafka records Kafka refuses are per-record errors: an unknown partition, an unknown topic', function () use ($attache, $kafkaTopic, $kafkaStrictBrokerOf, $sidecar, $stopSidecar) {
    $topic = $kafkaTopic('refused');
    $results = $attache->kafka->produce([
        ['topic' => $topic, 'value' => 'fine'],
        ['topic' => $topic, 'value' => 'nowhere', 'partition' => 99],
    ], 'delivered', 15_000);
    expect($results[0]['error'] === null && is_int($results[0]['offset']), 'the good one was delivered ' . json_encode($results[0]));
    $e = $results[1]['error'];
    expect($e instanceof NotFoundException && $e->errorCode === 'not_found' && !$e->isRetryable(), 'an unknown partition is not_found: ' . ($e ? get_class($e) . ': ' . $e->getMessage() : 'none'));
    expect($results[1]['id'] !== '' && $results[1]['partition'] === null && $results[1]['offset'] === null, 'not placed ' . json_encode($results[1]));

    // A topic that does not exist, on a broker that creates none.
    [$p, $sock] = $sidecar('kafka-strict', ['ATTACHE_KAFKA_BROKERS' => $kafkaStrictBrokerOf()]);
    try {
        $strict = new Client($sock);
        $missing = 'php-no-such-topic-' . bin2hex(random_bytes(4));
        // Spooled is all ACK_SPOOLED says: the refusal comes later.
        $spooled = $strict->kafka->produce([['topic' => $missing, 'value' => 'x']]);
        expect($spooled[0]['error'] === null && $spooled[0]['id'] !== '', 'spooled ' . json_encode($spooled));
        $started = microtime(true);
        expectThrows(NotFoundException::class, fn () => $strict->kafka->produceOne($missing, 'y', ack: 'delivered', timeoutMs: 20_000), $missing);
        // ATTACHE_KAFKA_PRODUCER_UNKNOWN_TOPIC_TIMEOUT=2s
        expect(microtime(true) - $started < 10, 'refused within the unknown-topic timeout');
    } finally {
        $stopSidecar($p);
    }
});

check('kafka bad records throw InvalidArgumentException naming the field, and nothing of the call is spooled', function () use ($attache, $kafkaBroker, $kafkaTopic) {
    $topic = $kafkaTopic('invalid');
    $good = ['topic' => $topic, 'key' => 'same', 'value' => 'must not arrive'];
    $e = expectThrows(InvalidArgumentException::class, fn () => $attache->kafka->produce([$good, $good, ['topic' => 'no spaces', 'value' => 'x']]), 'records[2].topic: ');
    expect($e->metadata === ['field' => 'records[2].topic'] && $e->domain === 'kafka' && $e->errorCode === 'invalid_argument' && !$e->isRetryable(), 'detail ' . json_encode([$e->metadata, $e->domain]));
    expectThrows(InvalidArgumentException::class, fn () => $attache->kafka->produce([$good, ['topic' => $topic, 'headers' => ['Attache-Id' => 'mine']]]), 'records[1].headers[0].key: ');
    expectThrows(InvalidArgumentException::class, fn () => $attache->kafka->produce([$good + ['partition' => -1]]), 'records[0].partition: ');
    expectThrows(InvalidArgumentException::class, fn () => $attache->kafka->produce([]), 'records: ');
    expectThrows(InvalidArgumentException::class, fn () => $attache->kafka->produce([['topic' => '', 'value' => 'x']], 'delivered'), 'records[0].topic: ');
    // Caught before the call.
    expectThrows(InvalidArgumentException::class, fn () => $attache->kafka->produce([$good, ['topic' => $topic, 'valeu' => 'x']]), 'records[1]: unknown field "valeu"');
    expectThrows(InvalidArgumentException::class, fn () => $attache->kafka->produce([['topic' => $topic, 'value' => 42]]), 'records[0].value: ');
    expectThrows(InvalidArgumentException::class, fn () => $attache->kafka->produce([['value' => 'x']]), 'records[0].topic: ');
    expectThrows(InvalidArgumentException::class, fn () => $attache->kafka->produce([['topic' => $topic, 'headers' => ['h' => 1]]]), 'records[0].headers[0].value: ');
    expectThrows(InvalidArgumentException::class, fn () => $attache->kafka->produce([$good], 'eventually'), 'unknown ack "eventually"');
    // None of the refused calls' records was spooled: the next record of
    // their key is the first of its partition, and alone in the topic.
    $first = $attache->kafka->produceOne($topic, 'first', key: 'same', ack: 'delivered');
    expect($first['offset'] === 0, 'offset ' . json_encode($first));
    $got = kcatRead($kafkaBroker, $topic, 1);
    expect(count($got) === 1 && $got[0]['payload'] === 'first', 'kcat read ' . json_encode(array_column($got, 'payload')));
});

check('kafka with the module off is FailedPreconditionException; a full spool ResourceExhaustedException', function () use ($sidecar, $stopSidecar) {
    [$p, $sock] = $sidecar('kafka-off', ['ATTACHE_KAFKA_ENABLED' => 'false']);
    try {
        $off = new Client($sock);
        expect(!in_array('kafka', $off->info()['modules'], true), 'not among the modules');
        expectThrows(FailedPreconditionException::class, fn () => $off->kafka->produceOne('t', 'x'), 'kafka.enabled');
    } finally {
        $stopSidecar($p);
    }
    // A spool of 8 KiB, and brokers that never answer: it fills up.
    [$p, $sock] = $sidecar('kafka-full', [
        'ATTACHE_KAFKA_BROKERS' => '127.0.0.1:1',
        'ATTACHE_KAFKA_MAX_RECORD_BYTES' => '1KiB',
        'ATTACHE_KAFKA_SPOOL_SEGMENT_BYTES' => '2KiB',
        'ATTACHE_KAFKA_SPOOL_MAX_BYTES' => '8KiB',
    ]);
    try {
        $full = new Client($sock);
        $e = null;
        for ($i = 0; $i < 50 && $e === null; $i++) {
            try {
                $full->kafka->produceOne('t', str_repeat('v', 900));
            } catch (AttacheException $caught) {
                $e = $caught;
            }
        }
        expect($e instanceof ResourceExhaustedException && $e->isRetryable() && str_contains($e->getMessage(), 'kafka.spool.max_bytes'), 'full after ' . $i . ': ' . ($e ? get_class($e) . ': ' . $e->getMessage() : 'never'));
        expect($i > 3, "$i records of 900 bytes fit in 8 KiB");
    } finally {
        $stopSidecar($p, 9);
    }
});

// The Monolog handler.

check('the SDK needs no Monolog: the handler is loaded only when used', function () use ($socket, $kafkaTopic) {
    foreach (glob(__DIR__ . '/../src/*.php') ?: [] as $file) {
        expect(!str_contains((string) file_get_contents($file), 'Monolog'), basename($file) . ' mentions Monolog');
    }
    // No /usr/share/php on the include path: Debian's Monolog cannot load.
    $script = 'set_include_path("."); require ' . var_export(__DIR__ . '/../src/autoload.php', true) . ';'
        . ' $r = (new Attache\Client($argv[1]))->kafka->produceOne($argv[2], "x");'
        . ' $loaded = array_values(array_filter(get_declared_classes(), fn ($c) => preg_match("/^(Monolog|Psr)\\\\\\\\/", $c) === 1));'
        . ' echo json_encode([$r["id"] !== "", $loaded, class_exists("Attache\\\\Monolog\\\\KafkaHandler", false)]);';
    [$status, $out, $err] = runPhp($script, [$socket, $kafkaTopic('no-monolog')]);
    expect($status === 0 && json_decode($out, true) === [true, [], false], "child said $out $err");
});

eval(LOAD_MONOLOG);
expect(interface_exists(\Psr\Log\LoggerInterface::class), 'PSR-3 with Monolog');

/**
 * A handler whose sends fail (no sidecar at $socket), and the calls of its
 * fallback: each send is one call, with the values it held.
 *
 * @return array{KafkaHandler, \ArrayObject<int, array{\Throwable, list<string>}>}
 */
function failingHandler(string $socket, array $options = []): array
{
    $calls = new \ArrayObject();
    $handler = new KafkaHandler(...['topic' => 't', 'client' => new Client($socket), 'onFailure' => function (\Throwable $e, array $values) use ($calls) {
        $calls[] = [$e, $values];
    }] + $options);
    return [$handler, $calls];
}

check('the Monolog handler holds records until close, reset, handleBatch or its limit, then sends them in one call', function () use ($dir) {
    $nowhere = "$dir/nowhere.sock";
    $messages = fn (array $values) => array_map(fn (string $v) => json_decode($v, true)['message'] ?? null, $values);

    [$handler, $calls] = failingHandler($nowhere, ['level' => 'info']);
    $log = new \Monolog\Logger('app', [$handler]);
    $log->info('one');
    $log->debug('below the level');
    $log->warning('two');
    $log->error('three', ['n' => 3]);
    expect(count($calls) === 0 && $handler->failedCount() === 0, 'nothing sent before close');
    $log->close();
    expect(count($calls) === 1 && $messages($calls[0][1]) === ['one', 'two', 'three'], 'one send at close ' . json_encode($messages($calls[0][1] ?? [])));
    expect($calls[0][0] instanceof UnavailableException && $handler->lastError() === $calls[0][0] && $handler->failedCount() === 3, 'counted, with why');
    $log->close();
    expect(count($calls) === 1, 'nothing left to send');

    [$handler, $calls] = failingHandler($nowhere, ['bufferLimit' => 2]);
    $log = new \Monolog\Logger('app', [$handler]);
    foreach (['a', 'b', 'c'] as $m) {
        $log->info($m);
    }
    expect(count($calls) === 1 && $messages($calls[0][1]) === ['a', 'b'], 'sent at the limit');
    $log->reset();
    expect(count($calls) === 2 && $messages($calls[1][1]) === ['c'], 'and on reset');

    [$handler, $calls] = failingHandler($nowhere, ['bufferBytes' => 300]);
    $log = new \Monolog\Logger('app', [$handler]);
    $log->info('small');
    $log->info('large', ['pad' => str_repeat('x', 300)]);
    expect(count($calls) === 2 && $messages($calls[0][1]) === ['small'] && $messages($calls[1][1]) === ['large'], 'byte limit: the held records go first, a large one alone');

    // Monolog's BufferHandler hands its records over in one handleBatch().
    [$handler, $calls] = failingHandler($nowhere);
    $log = new \Monolog\Logger('app', [new \Monolog\Handler\BufferHandler($handler)]);
    foreach (['w', 'x', 'y', 'z'] as $m) {
        $log->info($m);
    }
    $log->close();
    expect(count($calls) === 1 && $messages($calls[0][1]) === ['w', 'x', 'y', 'z'], 'handleBatch: one send ' . json_encode(array_map(fn ($c) => $messages($c[1]), (array) $calls)));
});

check('the Monolog handler from short-lived PHP processes: kcat reads exactly the lines logged, as JSON', function () use ($socket, $kafkaBroker, $kafkaTopic) {
    $topic = $kafkaTopic('monolog');
    // A request: logs through PSR-3 and ends; the handler sends at shutdown
    // (child 0 closes the logger itself).
    $script = LOAD_MONOLOG . ' [, $autoload, $socket, $topic, $child] = $argv; require $autoload;'
        . <<<'PHP'
            // A deadline with room for a busy test machine: what is checked here is what arrives.
            $handler = new Attache\Monolog\KafkaHandler($topic, new Attache\Client($socket), level: 'info', timeoutMs: 5000, key: fn ($record) => "child-$child");
            $logger = new Monolog\Logger('request', [$handler]);
            $request = function (Psr\Log\LoggerInterface $log) use ($child): void {
                $log->debug('below the level', ['child' => (int) $child]);
                for ($line = 0; $line < 3; $line++) {
                    $log->info("child $child line $line", ['child' => (int) $child, 'line' => $line, 'text' => "é\n\"quoted\""]);
                }
            };
            $request($logger);
            if ($child === '0') {
                $logger->close();
            }
            // After the handler's own shutdown function, which sends.
            register_shutdown_function(function () use ($handler) {
                echo json_encode(['failed' => $handler->failedCount()]);
            });
            PHP;
    $children = [];
    foreach (range(0, 3) as $child) {
        $p = proc_open([PHP_BINARY, '-r', $script, __DIR__ . '/../src/autoload.php', $socket, $topic, (string) $child], [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        $children[] = [$p, $pipes];
    }
    foreach ($children as $child => [$p, $pipes]) {
        $out = stream_get_contents($pipes[1]);
        $err = stream_get_contents($pipes[2]);
        $status = proc_close($p);
        $said = json_decode((string) $out, true);
        expect($status === 0 && $err === '' && ($said['failed'] ?? null) === 0, "child $child: $status $out $err");
    }
    $got = kcatRead($kafkaBroker, $topic, 12);
    expect(count($got) === 12, 'kcat read ' . count($got) . ' records, not 12');
    $lines = [];
    foreach ($got as $m) {
        $json = json_decode((string) $m['payload'], true);
        expect(is_array($json), 'a JSON object: ' . $m['payload']);
        ['child' => $child, 'line' => $line] = $json['context'];
        expect($json['message'] === "child $child line $line" && $json['context'] === ['child' => $child, 'line' => $line, 'text' => "é\n\"quoted\""], 'message and context ' . $m['payload']);
        expect($json['level_name'] === 'INFO' && $json['channel'] === 'request', 'level and channel ' . $m['payload']);
        expect($m['key'] === "child-$child", 'keyed by the closure ' . json_encode($m['key']));
        $loggedAt = (int) (new \DateTimeImmutable($json['datetime']))->format('Uv');
        expect($m['ts'] === $loggedAt, "the Kafka timestamp is the log record's: {$m['ts']} vs $loggedAt");
        expect(count(attacheIds($m)) === 1, 'an attache-id');
        $lines[] = [$child, $line, $m['partition'], $m['offset']];
    }
    sort($lines);
    expect(array_map(fn ($l) => [$l[0], $l[1]], $lines) === array_merge(...array_map(fn ($c) => [[$c, 0], [$c, 1], [$c, 2]], range(0, 3))), 'each line once ' . json_encode($lines));
    foreach (array_chunk($lines, 3) as $child => $its) {
        // One key: one partition, in the order logged.
        expect($its[0][2] === $its[2][2] && $its[0][3] < $its[1][3] && $its[1][3] < $its[2][3], "child $child in order " . json_encode($its));
    }
    $ids = array_merge(...array_map(fn ($m) => attacheIds($m), $got));
    expect(count(array_unique($ids)) === 12, 'unique attache-ids');
});

check('the Monolog handler sets a record the sidecar refuses aside and sends the others', function () use ($socket, $kafkaBroker, $kafkaTopic) {
    $topic = $kafkaTopic('monolog-big');
    $failures = [];
    $handler = new KafkaHandler($topic, new Client($socket), timeoutMs: 5000, bufferBytes: 3 << 20, onFailure: function (\Throwable $e, array $values) use (&$failures) {
        $failures[] = [$e, $values];
    });
    $log = new \Monolog\Logger('app', [$handler]);
    $log->info('before');
    $log->info('too large', ['blob' => str_repeat('x', 1_100_000)]); // over kafka.max_record_bytes
    $log->info('after');
    $log->close();
    expect(count($failures) === 1 && $failures[0][0] instanceof InvalidArgumentException && str_contains($failures[0][0]->getMessage(), 'records[1].value'), 'the large one refused: ' . ($failures ? $failures[0][0]->getMessage() : 'nothing'));
    expect(count($failures[0][1]) === 1 && json_decode($failures[0][1][0], true)['message'] === 'too large' && $handler->failedCount() === 1, 'alone');
    $got = kcatRead($kafkaBroker, $topic, 2);
    $messages = array_map(fn ($m) => json_decode($m['payload'], true)['message'], $got);
    sort($messages);
    expect($messages === ['after', 'before'], 'the others arrived ' . json_encode($messages));
});

check('with attache down or stuck the Monolog handler never throws, falls back to error_log, and costs the request little', function () use ($dir, $sidecar, $stopSidecar) {
    $script = LOAD_MONOLOG . ' [, $autoload, $socket, $timeoutMs] = $argv; require $autoload;'
        . <<<'PHP'
            // No client given: Attache\Client() from ATTACHE_SOCKET, made when sending.
            $handler = new Attache\Monolog\KafkaHandler('app-logs', timeoutMs: (int) $timeoutMs);
            $logger = new Monolog\Logger('request', [$handler]);
            $logger->info('first', ['user' => 7]);
            $logger->error('second');
            // Logging does no I/O; the send, at the end of the request, is what could wait.
            $started = hrtime(true);
            $logger->close();
            echo json_encode(['ms' => (hrtime(true) - $started) / 1e6, 'failed' => $handler->failedCount(), 'error' => get_class($handler->lastError())]);
            PHP;
    $run = function (string $sock, int $timeoutMs) use ($script): array {
        [$status, $out, $err] = runPhp($script, [__DIR__ . '/../src/autoload.php', $sock, (string) $timeoutMs], ['ATTACHE_SOCKET' => $sock]);
        $said = json_decode($out, true);
        expect($status === 0 && is_array($said) && $said['failed'] === 2, "the request went on: $status $out $err");
        $lines = explode("\n", trim($err));
        expect(count($lines) === 3 && str_contains($lines[0], 'attache KafkaHandler: 2 log record(s) for Kafka topic "app-logs" were not sent'), 'why, in error_log: ' . $err);
        $first = json_decode(substr($lines[1], strlen('attache KafkaHandler [app-logs]: ')), true);
        expect(str_starts_with($lines[1], 'attache KafkaHandler [app-logs]: {') && $first['message'] === 'first' && $first['context'] === ['user' => 7], 'each record in error_log: ' . $lines[1]);
        expect(json_decode(substr($lines[2], strlen('attache KafkaHandler [app-logs]: ')), true)['message'] === 'second', 'in order: ' . $lines[2]);
        return $said;
    };
    // No sidecar at all.
    $said = $run("$dir/never-started.sock", 250);
    expect($said['error'] === UnavailableException::class && $said['ms'] < 200, 'no sidecar: ' . json_encode($said));
    // A sidecar killed -9: its socket file is left, refusing connections.
    [$p, $sock] = $sidecar('killed', []);
    $stopSidecar($p, 9);
    expect(file_exists($sock), 'the socket file is left behind');
    try {
        $said = $run($sock, 250);
        expect($said['error'] === UnavailableException::class && $said['ms'] < 200, 'a dead sidecar: ' . json_encode($said));
    } finally {
        @unlink($sock);
    }
    // A stuck one: it takes the connection and never answers. The deadline
    // and the transport's 1 s margin for a hung socket bound the wait.
    $stuck = "$dir/stuck.sock";
    $server = stream_socket_server("unix://$stuck");
    try {
        $said = $run($stuck, 100);
        expect($said['error'] === DeadlineExceededException::class && $said['ms'] >= 100 && $said['ms'] < 1600, 'a stuck sidecar: ' . json_encode($said));
    } finally {
        fclose($server);
        @unlink($stuck);
    }
});
