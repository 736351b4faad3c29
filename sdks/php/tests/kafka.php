<?php
// The Kafka client's and the Monolog handler's tests, included by run.php:
// its sidecar ($attache on $socket) produces to the broker $kafkaBroker, and
// kcat (from testing/kafka/install) reads back as an independent client;
// fetch and commit consume through the same sidecar (and others started here).
declare(strict_types=1);

use Attache\AttacheException;
use Attache\Client;
use Attache\DeadlineExceededException;
use Attache\FailedPreconditionException;
use Attache\InvalidArgumentException;
use Attache\KafkaLease;
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
    // The file appears at bind(), a moment before listen(): on a busy
    // machine a connection made then is refused. Wait for one to be taken.
    $up = static function () use ($sock): bool {
        $conn = file_exists($sock) ? @stream_socket_client("unix://$sock", $errno, $error, 1.0) : false;
        return $conn !== false && fclose($conn);
    };
    for ($i = 0; $i < 500 && !$up(); $i++) {
        usleep(20_000);
    }
    expect($up(), "the $name sidecar started");
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

// Consuming: fetch and commit.

/**
 * Leases of $group's records until $want came or $timeout seconds passed:
 * a fetch answers with the records ready, which may be one partition's.
 *
 * @param list<string> $topics
 * @param array<string, mixed> $options fetch()'s other named arguments
 * @return list<KafkaLease>
 */
function fetchLeases(Client $client, string $group, array $topics, int $want, array $options = [], float $timeout = 20.0): array
{
    $leases = [];
    $got = 0;
    $deadline = microtime(true) + $timeout;
    while ($got < $want && microtime(true) < $deadline) {
        $lease = $client->kafka->fetch($group, $topics, ...$options + ['maxRecords' => $want - $got, 'maxWaitMs' => 5000]);
        expect($lease->isEmpty() === ($lease->id === ''), 'a lease id exactly when records came: ' . json_encode([$lease->id, count($lease->records)]));
        if (!$lease->isEmpty()) {
            $leases[] = $lease;
            $got += count($lease->records);
        }
    }
    return $leases;
}

/**
 * The records of some leases, each as 'partition/offset' => value.
 *
 * @param list<KafkaLease> $leases
 * @return array<string, ?string>
 */
function leased(array $leases): array
{
    $out = [];
    foreach ($leases as $lease) {
        foreach ($lease->records as $r) {
            expect(!isset($out["{$r['partition']}/{$r['offset']}"]), "{$r['partition']}/{$r['offset']} leased twice");
            $out["{$r['partition']}/{$r['offset']}"] = $r['value'];
        }
    }
    ksort($out);
    return $out;
}

/**
 * Produces values "0".."$n-1" to $topic, spread over its partitions, and
 * returns them as 'partition/offset' => value.
 *
 * @return array<string, string>
 */
function produceNumbered(Client $client, string $topic, int $n, int $from = 0): array
{
    $results = $client->kafka->produce(array_map(fn (int $i) => ['topic' => $topic, 'key' => "key-$i", 'value' => (string) $i], range($from, $from + $n - 1)), 'delivered');
    $out = [];
    foreach ($results as $i => $r) {
        expect($r['error'] === null && is_int($r['offset']), 'delivered ' . json_encode($r));
        $out["{$r['partition']}/{$r['offset']}"] = (string) ($from + $i);
    }
    ksort($out);
    expect(count(array_unique(array_map(fn ($k) => explode('/', $k)[0], array_keys($out)))) > 1 || $n < 6, 'over several partitions ' . json_encode(array_keys($out)));
    return $out;
}

$kafkaGroup = static fn (string $what): string => "php-group-$what-" . bin2hex(random_bytes(4));

check('kafka fetch returns what produce sent, byte for byte, where it was placed; commit all and the group sees them no more', function () use ($attache, $kafkaTopic, $kafkaGroup) {
    $topic = $kafkaTopic('fetch');
    $group = $kafkaGroup('fetch');
    $binary = "\x00\xff\r\n\x80 bytes";
    $sent = [
        ['topic' => $topic, 'key' => 'k0', 'value' => 'héllo', 'headers' => ['trace' => 'abc', 'flag' => null, 'empty' => '']],
        ['topic' => $topic, 'key' => "k\x001", 'value' => $binary, 'headers' => [['dup', '1'], ['dup', '2']]],
        ['topic' => $topic, 'key' => 'k2', 'value' => null],
        ['topic' => $topic, 'value' => '', 'partition' => 2, 'timestampMs' => 1_700_000_000_123],
    ];
    $results = $attache->kafka->produce($sent, 'delivered');
    $leases = fetchLeases($attache, $group, [$topic], 4);
    $records = array_merge(...array_map(fn (KafkaLease $l) => $l->records, $leases));
    expect(count($records) === 4, 'fetched ' . count($records));
    $byId = array_column($records, null, 'id');
    foreach ($results as $i => $result) {
        $r = $byId[$result['id']] ?? null;
        expect($r !== null, "record $i came, by its attache-id " . json_encode(array_keys($byId)));
        expect(array_keys($r) === ['topic', 'partition', 'offset', 'key', 'value', 'headers', 'timestampMs', 'id'], 'fields ' . json_encode(array_keys($r)));
        expect($r['topic'] === $topic && $r['partition'] === $result['partition'] && $r['offset'] === $result['offset'], "record $i where produce placed it: " . json_encode([$r['partition'], $r['offset'], $result]));
        expect($r['key'] === ($sent[$i]['key'] ?? null) && $r['value'] === ($sent[$i]['value'] ?? null), "record $i key and value " . json_encode([$r['key'], $r['value']], JSON_INVALID_UTF8_SUBSTITUTE));
        expect(is_int($r['timestampMs']) && $r['timestampMs'] > 0, "record $i timestamp {$r['timestampMs']}");
        expect(array_slice($r['headers'], -1) === [['attache-id', $result['id']]], "record $i ends with its attache-id header " . json_encode($r['headers']));
    }
    [$hello, $bin, , $placed] = array_map(fn (array $result) => $byId[$result['id']], $results);
    expect(array_slice($hello['headers'], 0, -1) === [['trace', 'abc'], ['flag', null], ['empty', '']], 'headers in order, null and empty kept ' . json_encode($hello['headers']));
    expect(array_slice($bin['headers'], 0, -1) === [['dup', '1'], ['dup', '2']], 'a repeated header ' . json_encode($bin['headers']));
    expect($bin['value'] === $binary && $bin['key'] === "k\x001", 'binary key and value');
    expect($placed['key'] === null && $placed['value'] === '' && $placed['partition'] === 2 && $placed['timestampMs'] === 1_700_000_000_123, 'no key, empty value, timestamp ' . json_encode($placed));

    $acked = 0;
    foreach ($leases as $lease) {
        $committed = $lease->commit();
        expect($committed === ['acked' => count($lease->records), 'redelivered' => 0], 'commit ' . json_encode($committed));
        $acked += $committed['acked'];
        // Over once committed: a second commit finds no lease.
        expectThrows(NotFoundException::class, fn () => $lease->commit(), $lease->id);
    }
    expect($acked === 4, "$acked acknowledged");
    $started = microtime(true);
    $none = $attache->kafka->fetch($group, [$topic], maxWaitMs: 1000);
    expect($none->isEmpty() && $none->id === '' && $none->records === [], 'nothing left: ' . json_encode($none->records));
    expect(microtime(true) - $started >= 0.9, 'it waited maxWaitMs for a record');
    expect($none->commit() === ['acked' => 0, 'redelivered' => 0], 'an empty lease commits nothing');
    // The group still reads its topic: a new record, and only it, comes.
    $new = $attache->kafka->produceOne($topic, 'new', ack: 'delivered');
    $later = fetchLeases($attache, $group, [$topic], 1);
    expect(leased($later) === ["{$new['partition']}/{$new['offset']}" => 'new'], 'only the new record ' . json_encode(leased($later)));
    $none = $attache->kafka->fetch($group, [$topic], maxWaitMs: 300);
    expect($none->isEmpty(), 'and no other: ' . json_encode($none->records));
    $later[0]->commit();
});

check('kafka commit of some records of a lease: the others, and only they, come back to the next fetch', function () use ($attache, $kafkaTopic, $kafkaGroup) {
    $topic = $kafkaTopic('fetch-half');
    $group = $kafkaGroup('half');
    $produced = produceNumbered($attache, $topic, 12);
    $leases = fetchLeases($attache, $group, [$topic], 12);
    expect(leased($leases) === $produced, 'all leased ' . json_encode(leased($leases)));
    $rest = [];
    foreach ($leases as $lease) {
        // Every other record: handled ones passed back whole, as fetched.
        $handled = array_values(array_filter($lease->records, fn (array $r) => (int) $r['value'] % 2 === 0));
        foreach ($lease->records as $r) {
            if ((int) $r['value'] % 2 === 1) {
                $rest["{$r['partition']}/{$r['offset']}"] = $r['value'];
            }
        }
        $committed = $lease->commit($handled);
        expect($committed === ['acked' => count($handled), 'redelivered' => count($lease->records) - count($handled)], 'commit ' . json_encode($committed));
    }
    ksort($rest);
    expect(count($rest) === 6, 'half left out ' . json_encode($rest));
    $again = fetchLeases($attache, $group, [$topic], 6);
    expect(leased($again) === $rest, 'the others came back ' . json_encode([leased($again), $rest]));
    $none = $attache->kafka->fetch($group, [$topic], maxWaitMs: 500);
    expect($none->isEmpty(), 'and nothing else: ' . json_encode($none->records));
    // Positions do as well as records; none acknowledges none.
    $first = $again[0];
    $one = $first->records[0];
    expect($first->commit([['topic' => $topic, 'partition' => $one['partition'], 'offset' => $one['offset']]]) === ['acked' => 1, 'redelivered' => count($first->records) - 1], 'one by its position');
    foreach (array_slice($again, 1) as $lease) {
        expect($lease->commit([]) === ['acked' => 0, 'redelivered' => count($lease->records)], 'none acknowledged');
    }
    unset($rest["{$one['partition']}/{$one['offset']}"]);
    $last = fetchLeases($attache, $group, [$topic], 5);
    expect(leased($last) === $rest, 'all but the acknowledged one came back ' . json_encode(leased($last)));
    foreach ($last as $lease) {
        $lease->commit();
    }
});

check('kafka a lease not committed in time is delivered again, and its late commit is NotFoundException', function () use ($attache, $kafkaTopic, $kafkaGroup) {
    $topic = $kafkaTopic('fetch-expiry');
    $group = $kafkaGroup('expiry');
    $produced = produceNumbered($attache, $topic, 6);
    $leases = fetchLeases($attache, $group, [$topic], 6, ['leaseMs' => 300]);
    expect(leased($leases) === $produced, 'leased ' . json_encode(leased($leases)));
    // Leased: no one else gets them meanwhile.
    $meanwhile = $attache->kafka->fetch($group, [$topic], maxWaitMs: 0);
    expect($meanwhile->isEmpty(), 'not while leased: ' . json_encode($meanwhile->records));
    usleep(600_000);
    $again = fetchLeases($attache, $group, [$topic], 6);
    expect(leased($again) === $produced, 'the same records again ' . json_encode(leased($again)));
    foreach ($leases as $lease) {
        $e = expectThrows(NotFoundException::class, fn () => $lease->commit(), 'expired');
        expect($e->errorCode === 'not_found' && !$e->isRetryable(), 'not retryable');
    }
    foreach ($again as $lease) {
        expect($lease->commit()['acked'] === count($lease->records), 'the new lease commits');
    }
    $none = $attache->kafka->fetch($group, [$topic], maxWaitMs: 500);
    expect($none->isEmpty(), 'nothing more: ' . json_encode($none->records));
});

check('kafka fetch from concurrent short-lived PHP processes: each record handled by one of them, every record once', function () use ($attache, $socket, $kafkaTopic, $kafkaGroup) {
    $topic = $kafkaTopic('fetch-workers');
    $group = $kafkaGroup('workers');
    $produced = produceNumbered($attache, $topic, 40);
    // A worker: FPM-like requests, each fetch, handle, commit, until none
    // comes (the first may wait for the group to be joined).
    $script = '[, $autoload, $socket, $group, $topic] = $argv; require $autoload;'
        . <<<'PHP'
            $attache = new Attache\Client($socket);
            $handled = [];
            $acked = 0;
            for ($request = 0; ; $request++) {
                $lease = $attache->kafka->fetch($group, [$topic], maxRecords: 3, maxWaitMs: $request === 0 ? 10_000 : 1500);
                if ($lease->isEmpty()) {
                    break;
                }
                foreach ($lease->records as $r) {
                    usleep(5_000); // the work
                    $handled[] = "{$r['partition']}/{$r['offset']}=" . $r['value'];
                }
                $acked += $lease->commit()['acked'];
            }
            echo json_encode(['handled' => $handled, 'acked' => $acked]);
            PHP;
    $children = [];
    foreach (range(0, 3) as $child) {
        $p = proc_open([PHP_BINARY, '-r', $script, __DIR__ . '/../src/autoload.php', $socket, $group, $topic], [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        $children[] = [$p, $pipes];
    }
    $all = [];
    $busy = 0;
    foreach ($children as $child => [$p, $pipes]) {
        $out = stream_get_contents($pipes[1]);
        $err = stream_get_contents($pipes[2]);
        $status = proc_close($p);
        $said = json_decode((string) $out, true);
        expect($status === 0 && $err === '' && is_array($said), "child $child: $status $out $err");
        expect($said['acked'] === count($said['handled']), "child $child committed each record it handled: " . json_encode($said));
        $busy += $said['handled'] === [] ? 0 : 1;
        $all = array_merge($all, $said['handled']);
    }
    expect(count($all) === count(array_unique($all)), 'no record handled twice: ' . json_encode(array_diff_assoc($all, array_unique($all))));
    sort($all);
    $want = array_map(fn ($at, $value) => "$at=$value", array_keys($produced), $produced);
    sort($want);
    expect($all === $want, 'every record handled: ' . json_encode(array_values(array_diff($want, $all))));
    expect($busy >= 2, "the work was shared: $busy of 4 workers handled records");
    $none = $attache->kafka->fetch($group, [$topic], maxWaitMs: 500);
    expect($none->isEmpty(), 'nothing comes back: ' . json_encode($none->records));
});

check('kafka offsets reach Kafka only below the oldest unacknowledged record: another sidecar of the group resumes there', function () use ($attache, $kafkaTopic, $kafkaGroup, $sidecar, $stopSidecar) {
    $topic = $kafkaTopic('fetch-offsets');
    $group = $kafkaGroup('offsets');
    $attache->kafka->produce(array_map(fn (int $i) => ['topic' => $topic, 'value' => (string) $i, 'partition' => $i % 3], range(0, 11)), 'delivered');
    [$p, $sock] = $sidecar('kafka-consumer-a', []);
    try {
        $a = new Client($sock);
        $leases = fetchLeases($a, $group, [$topic], 12);
        expect(count(leased($leases)) === 12, 'leased ' . json_encode(leased($leases)));
        // Offset 1 of each partition not handled; the others are.
        foreach ($leases as $lease) {
            $lease->commit(array_values(array_filter($lease->records, fn (array $r) => $r['offset'] !== 1)));
        }
    } finally {
        $stopSidecar($p); // leaves the group, committing what it may
    }
    [$p, $sock] = $sidecar('kafka-consumer-b', []);
    try {
        $b = new Client($sock);
        $leases = fetchLeases($b, $group, [$topic], 9);
        $expect = [];
        foreach ([0, 1, 2] as $partition) {
            foreach ([1, 2, 3] as $offset) {
                $expect["$partition/$offset"] = (string) ($offset * 3 + $partition);
            }
        }
        ksort($expect);
        // Offsets 2 and 3 were acknowledged, but not committed past 1.
        expect(leased($leases) === $expect, 'resumed at offset 1 of each partition: ' . json_encode(leased($leases)));
        foreach ($leases as $lease) {
            $lease->commit();
        }
        $none = $b->kafka->fetch($group, [$topic], maxWaitMs: 300);
        expect($none->isEmpty(), 'no more ' . json_encode($none->records));
    } finally {
        $stopSidecar($p);
    }
});

check('kafka fetch start latest skips what was there before the group; earliest is the default', function () use ($attache, $kafkaTopic, $kafkaGroup) {
    $topic = $kafkaTopic('fetch-latest');
    $attache->kafka->produceOne($topic, 'before', ack: 'delivered');
    $early = fetchLeases($attache, $kafkaGroup('earliest'), [$topic], 1);
    expect(array_values(leased($early)) === ['before'], 'earliest reads it ' . json_encode(leased($early)));
    $early[0]->commit();
    // Until the group is joined and placed at the end, records produced go
    // unseen too: produce until one comes, and never 'before'.
    $group = $kafkaGroup('latest');
    $seen = [];
    for ($i = 0; $i < 20 && $seen === []; $i++) {
        $lease = $attache->kafka->fetch($group, [$topic], maxWaitMs: $i === 0 ? 1000 : 500, start: 'latest');
        $seen = array_column($lease->records, 'value');
        $lease->commit();
        if ($seen === []) {
            $attache->kafka->produceOne($topic, "after $i", ack: 'delivered');
        }
    }
    expect($seen !== [] && !in_array('before', $seen, true), 'only records produced later: ' . json_encode($seen));
});

check("kafka fetch's deadline covers its wait: a client's short deadline still waits maxWaitMs", function () use ($attache, $socket, $kafkaTopic, $kafkaGroup) {
    $topic = $kafkaTopic('fetch-wait');
    $attache->kafka->produceOne($topic, 'x', ack: 'delivered');
    $short = new Client($socket, 200);
    $group = $kafkaGroup('wait');
    fetchLeases($short, $group, [$topic], 1)[0]->commit();
    $started = microtime(true);
    $lease = $short->kafka->fetch($group, [$topic], maxWaitMs: 1000);
    $took = microtime(true) - $started;
    expect($lease->isEmpty() && $took >= 0.95 && $took < 3, "an empty lease after the wait, not a deadline: {$took}s");
    expectThrows(InvalidArgumentException::class, fn () => $short->kafka->fetch($group, [$topic], maxWaitMs: 1000, timeoutMs: 1000), 'timeoutMs: ');
});

check('kafka fetch and commit refuse bad arguments with InvalidArgumentException naming the field', function () use ($attache, $kafkaTopic, $kafkaGroup) {
    $topic = $kafkaTopic('fetch-invalid');
    $e = expectThrows(InvalidArgumentException::class, fn () => $attache->kafka->fetch('', [$topic]), 'group: ');
    expect($e->metadata === ['field' => 'group'] && $e->domain === 'kafka' && !$e->isRetryable(), 'detail ' . json_encode([$e->metadata, $e->domain]));
    expectThrows(InvalidArgumentException::class, fn () => $attache->kafka->fetch("bad\ngroup", [$topic]), 'group: ');
    expectThrows(InvalidArgumentException::class, fn () => $attache->kafka->fetch(str_repeat('g', 250), [$topic]), 'group: ');
    $e = expectThrows(InvalidArgumentException::class, fn () => $attache->kafka->fetch('g', []), 'topics: ');
    expect($e->metadata === ['field' => 'topics'], 'field ' . json_encode($e->metadata));
    $e = expectThrows(InvalidArgumentException::class, fn () => $attache->kafka->fetch('g', [$topic, 'no spaces']), 'topics[1]: ');
    expect($e->metadata === ['field' => 'topics[1]'], 'field ' . json_encode($e->metadata));
    // Caught before the call.
    expectThrows(InvalidArgumentException::class, fn () => $attache->kafka->fetch('g', [$topic, 7]), 'topics[1]: ');
    expectThrows(InvalidArgumentException::class, fn () => $attache->kafka->fetch('g', [$topic], maxRecords: 0), 'maxRecords: ');
    expectThrows(InvalidArgumentException::class, fn () => $attache->kafka->fetch('g', [$topic], maxWaitMs: -1), 'maxWaitMs: ');
    expectThrows(InvalidArgumentException::class, fn () => $attache->kafka->fetch('g', [$topic], leaseMs: 0), 'leaseMs: ');
    expectThrows(InvalidArgumentException::class, fn () => $attache->kafka->fetch('g', [$topic], start: 'middle'), 'unknown start "middle"');
    // A commit names only records of its lease.
    $attache->kafka->produceOne($topic, 'x', ack: 'delivered');
    $lease = fetchLeases($attache, $kafkaGroup('invalid'), [$topic], 1)[0];
    $r = $lease->records[0];
    expectThrows(InvalidArgumentException::class, fn () => $lease->commit([$r, ['topic' => $topic, 'partition' => $r['partition'], 'offset' => $r['offset'] + 1]]), 'acked[1]: ');
    expectThrows(InvalidArgumentException::class, fn () => $lease->commit([['topic' => $topic, 'partition' => $r['partition'], 'offset' => (string) $r['offset']]]), 'acked[0]: ');
    expectThrows(InvalidArgumentException::class, fn () => $lease->commit(['x']), 'acked[0]: ');
    expect($lease->commit([$r]) === ['acked' => 1, 'redelivered' => 0], 'the refusals left the lease as it was');
});

check('kafka Fetch and Commit are not retried when the connection breaks; an idempotent call is', function () use ($dir) {
    // A fake sidecar: answers the first Fetch with a lease, and closes every
    // other connection unanswered (UNAVAILABLE to the client); it counts the
    // calls it got and says so once idle for a second.
    $fake = "$dir/fake-kafka.sock";
    $script = <<<'PHP'
        $server = stream_socket_server('unix://' . $argv[1]);
        $calls = [];
        while ($conn = @stream_socket_accept($server, 1.0)) {
            $buffer = '';
            while (!str_contains($buffer, "\r\n\r\n") && ($chunk = fread($conn, 65536)) !== false && $chunk !== '') {
                $buffer .= $chunk;
            }
            [$head, $body] = explode("\r\n\r\n", $buffer, 2) + [1 => ''];
            preg_match('/content-length: *(\d+)/i', $head, $m);
            while (strlen($body) < (int) ($m[1] ?? 0) && ($chunk = fread($conn, 65536)) !== false && $chunk !== '') {
                $body .= $chunk;
            }
            $procedure = explode(' ', $head)[1] ?? '?';
            $calls[$procedure][] = json_decode($body, true);
            if (str_ends_with($procedure, '/Fetch') && count($calls[$procedure]) === 1) {
                $json = json_encode(['leaseId' => 'lease-1', 'records' => [['topic' => 't', 'offset' => '7', 'value' => base64_encode('v')]]]);
                fwrite($conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " . strlen($json) . "\r\n\r\n$json");
            }
            fclose($conn);
        }
        echo json_encode($calls);
        PHP;
    $p = proc_open([PHP_BINARY, '-r', $script, $fake], [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
    try {
        for ($i = 0; $i < 250 && !file_exists($fake); $i++) {
            usleep(20_000);
        }
        $client = new Client($fake, 5000, retries: 2);
        $lease = $client->kafka->fetch('g', ['t'], maxRecords: 5, maxWaitMs: 100, leaseMs: 2000, start: 'latest');
        // Protobuf JSON leaves zeros and empty lists out.
        expect($lease->id === 'lease-1' && $lease->records === [['topic' => 't', 'partition' => 0, 'offset' => 7, 'key' => null, 'value' => 'v', 'headers' => [], 'timestampMs' => 0, 'id' => null]], 'the lease ' . json_encode([$lease->id, $lease->records]));
        expectThrows(UnavailableException::class, fn () => $lease->commit([$lease->records[0]]));
        expectThrows(UnavailableException::class, fn () => $client->kafka->fetch('g', ['t'], maxWaitMs: 0));
        expectThrows(UnavailableException::class, fn () => $client->info());
    } finally {
        $calls = json_decode((string) stream_get_contents($pipes[1]), true);
        $err = stream_get_contents($pipes[2]);
        proc_close($p);
        @unlink($fake);
    }
    $fetches = $calls['/attache.kafka.v1.KafkaService/Fetch'] ?? [];
    $commits = $calls['/attache.kafka.v1.KafkaService/Commit'] ?? [];
    expect(count($fetches) === 2 && count($commits) === 1, 'Fetch and Commit sent once each: ' . json_encode($calls) . $err);
    expect(count($calls['/attache.sidecar.v1.SidecarService/GetInfo'] ?? []) === 3, 'GetInfo retried twice: ' . json_encode($calls));
    expect($fetches[0] === ['group' => 'g', 'topics' => ['t'], 'maxRecords' => 5, 'maxWaitMs' => 100, 'start' => 'START_FROM_LATEST', 'leaseMs' => 2000], 'the Fetch sent ' . json_encode($fetches[0]));
    expect($commits[0] === ['leaseId' => 'lease-1', 'acked' => [['topic' => 't', 'partition' => 0, 'offset' => '7']]], 'the Commit sent ' . json_encode($commits[0]));
});

check('kafka fetch without brokers, or with the module off, is FailedPreconditionException', function () use ($sidecar, $stopSidecar, $kafkaTopic) {
    [$p, $sock] = $sidecar('kafka-no-brokers', ['ATTACHE_KAFKA_BROKERS' => null]);
    try {
        $spoolOnly = new Client($sock);
        expect(in_array('kafka', $spoolOnly->info()['modules'], true), 'the module is on (it spools)');
        $e = expectThrows(FailedPreconditionException::class, fn () => $spoolOnly->kafka->fetch('g', [$kafkaTopic('no-brokers')], maxWaitMs: 0), 'kafka.brokers');
        expect($e->errorCode === 'failed_precondition' && !$e->isRetryable(), 'not retryable');
        // Producing still works there: into the spool.
        expect($spoolOnly->kafka->produceOne('t', 'x')['id'] !== '', 'spooled');
    } finally {
        $stopSidecar($p);
    }
    [$p, $sock] = $sidecar('kafka-off-fetch', ['ATTACHE_KAFKA_ENABLED' => 'false']);
    try {
        expectThrows(FailedPreconditionException::class, fn () => (new Client($sock))->kafka->fetch('g', ['t']), 'kafka.enabled');
    } finally {
        $stopSidecar($p);
    }
});

// Streams: produceStream() and consume(), each on a connection of its own.

check('kafka produceStream answers each send in order, with the offsets kcat finds the records at', function () use ($attache, $kafkaBroker, $kafkaTopic) {
    $topic = $kafkaTopic('produce-stream');
    $producer = $attache->kafka->produceStream('delivered');
    $results = [];
    foreach ([['a'], ['b', 'c'], ['d', 'e', 'f']] as $batch) {
        $answer = $producer->send(array_map(fn (string $v) => ['topic' => $topic, 'key' => "k-$v", 'value' => $v, 'partition' => 0, 'headers' => ['n' => $v]], $batch));
        expect(count($answer) === count($batch), 'one result per record ' . json_encode($answer));
        foreach ($answer as $r) {
            expect($r['error'] === null && $r['partition'] === 0 && is_int($r['offset']) && $r['id'] !== '', 'delivered ' . json_encode($r));
            $results[] = $r;
        }
    }
    expect(array_column($results, 'offset') === [0, 1, 2, 3, 4, 5], 'in order ' . json_encode(array_column($results, 'offset')));
    // A bad record is refused before anything is sent: the stream goes on.
    expectThrows(InvalidArgumentException::class, fn () => $producer->send([['topic' => $topic, 'valeu' => 'x']]), 'records[0]: unknown field "valeu"');
    $next = $producer->send([['topic' => $topic, 'value' => 'g', 'partition' => 0]]);
    expect($next[0]['offset'] === 6, 'after the refused one ' . json_encode($next));
    $producer->close();
    $producer->close();
    expectThrows(FailedPreconditionException::class, fn () => $producer->send([['topic' => $topic, 'value' => 'late']]), 'has ended');
    // 'spooled': answered from the spool, not yet placed; destroyed, it is closed.
    $spooled = $attache->kafka->produceStream();
    $r = $spooled->send([['topic' => $topic, 'value' => 'h', 'partition' => 0], ['topic' => $topic, 'value' => 'i', 'partition' => 0]]);
    expect(count($r) === 2 && $r[0]['partition'] === null && $r[0]['offset'] === null && $r[0]['error'] === null && $r[1]['id'] !== $r[0]['id'], 'spooled ' . json_encode($r));
    unset($spooled);
    $got = kcatRead($kafkaBroker, $topic, 9);
    expect(array_column($got, 'payload') === ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'], 'kcat read ' . json_encode(array_column($got, 'payload')));
    expect(array_column($got, 'offset') === range(0, 8), 'offsets ' . json_encode(array_column($got, 'offset')));
    foreach (array_slice($got, 0, 6) as $i => $record) {
        expect(attacheIds($record) === [$results[$i]['id']] && ownHeaders($record) === [['n', $record['payload']]], 'ids and headers ' . json_encode($record['headers']));
    }
    expectThrows(InvalidArgumentException::class, fn () => $attache->kafka->produceStream('eventually'), 'unknown ack "eventually"');
});

check('kafka produceStream: a message the sidecar refuses ends the stream with its error', function () use ($attache, $kafkaBroker, $kafkaTopic) {
    $topic = $kafkaTopic('produce-stream-refused');
    $producer = $attache->kafka->produceStream();
    expect($producer->send([['topic' => $topic, 'value' => 'kept', 'partition' => 1]])[0]['id'] !== '', 'the first send');
    $e = expectThrows(InvalidArgumentException::class, fn () => $producer->send([['topic' => $topic, 'value' => 'forged', 'headers' => ['attache-id' => 'mine']]]), 'attache-id');
    expect(str_starts_with($e->getMessage(), 'records[0].headers'), 'names the field: ' . $e->getMessage());
    $later = expectThrows(FailedPreconditionException::class, fn () => $producer->send([['topic' => $topic, 'value' => 'after']]), 'the produce stream has ended');
    expect(str_contains($later->getMessage(), 'attache-id'), 'says why: ' . $later->getMessage());
    $producer->close();
    $got = kcatRead($kafkaBroker, $topic, 1, 5.0);
    expect(array_column($got, 'payload') === ['kept'], 'what was answered before stays: ' . json_encode(array_column($got, 'payload')));
});

/**
 * A consumer's records until $want came (or $timeout seconds passed), as
 * 'partition/offset' => record, each delivered once.
 *
 * @return array<string, array<string, mixed>>
 */
function consumeSome(Attache\KafkaConsumer $consumer, int $want, float $timeout = 20.0): array
{
    $got = [];
    $deadline = microtime(true) + $timeout;
    while (count($got) < $want && microtime(true) < $deadline) {
        $record = $consumer->poll(500);
        if ($record !== null) {
            expect(!isset($got["{$record['partition']}/{$record['offset']}"]), "{$record['partition']}/{$record['offset']} delivered twice");
            $got["{$record['partition']}/{$record['offset']}"] = $record;
        }
    }
    ksort($got);
    return $got;
}

check('kafka consume: acks go on the stream and close commits them; a second consumer and fetch get only what was not acked', function () use ($attache, $kafkaTopic, $kafkaGroup) {
    $topic = $kafkaTopic('consume');
    $group = $kafkaGroup('consume');
    $sent = produceNumbered($attache, $topic, 6);
    $consumer = $attache->kafka->consume($group, [$topic], ackBatchSize: 2);
    $got = consumeSome($consumer, 6);
    expect(array_map(fn (array $r) => $r['value'], $got) === $sent, 'every record, where it was placed: ' . json_encode(array_keys($got)));
    foreach ($got as $r) {
        expect($r['topic'] === $topic && is_string($r['id']) && $r['id'] !== '' && is_int($r['timestampMs']) && $r['headers'][count($r['headers']) - 1][0] === 'attache-id', 'a record as fetch gives them ' . json_encode($r));
    }
    $assigned = $consumer->assignment();
    usort($assigned, fn (array $a, array $b) => $a['partition'] <=> $b['partition']);
    expect($assigned === array_map(fn (int $p) => ['topic' => $topic, 'partition' => $p], [0, 1, 2]), 'assignment ' . json_encode($assigned));
    // All acked but the last record of one partition: it alone comes again.
    $kept = array_key_last($got);
    foreach ($got as $at => $r) {
        if ($at !== $kept) {
            expect($consumer->ack($r) === true, "ack $at");
            expect($consumer->ack($r) === false, "$at acked once only");
        }
    }
    expect($consumer->poll(300) === null, 'nothing more');
    $consumer->close();
    expect($consumer->poll(0) === null && $consumer->ack($got[$kept]) === false, 'closed: no records, no acks');

    $second = $attache->kafka->consume($group, [$topic]);
    $again = consumeSome($second, 1);
    expect(array_keys($again) === [$kept] && $again[$kept]['value'] === $got[$kept]['value'], 'redelivered: only the unacked one ' . json_encode(array_keys($again)));
    expect($second->poll(1500) === null, 'and nothing else');
    expect($second->ack($again[$kept]) === true, 'acked by the second consumer');
    unset($second); // destroyed: closed, as close() does

    $lease = $attache->kafka->fetch($group, [$topic], maxWaitMs: 2000);
    expect($lease->isEmpty(), 'fetch finds nothing left: ' . json_encode(array_map(fn (array $r) => "{$r['partition']}/{$r['offset']}", $lease->records)));
});

check('kafka consume: iterating, a bad group id is InvalidArgumentException, and bad arguments are refused before connecting', function () use ($attache, $kafkaTopic, $kafkaGroup) {
    $topic = $kafkaTopic('consume-iterate');
    $attache->kafka->produce([['topic' => $topic, 'value' => 'x', 'partition' => 0], ['topic' => $topic, 'value' => 'y', 'partition' => 0]], 'delivered');
    $consumer = $attache->kafka->consume($kafkaGroup('iterate'), [$topic]);
    $values = [];
    foreach ($consumer as $record) {
        $values[] = $record['value'];
        $consumer->ack($record);
        if (count($values) === 2) {
            $consumer->close(); // ends the iteration
        }
    }
    expect($values === ['x', 'y'], 'iterated ' . json_encode($values));

    $bad = $attache->kafka->consume('bad group!', [$topic]);
    $e = expectThrows(InvalidArgumentException::class, fn () => $bad->poll(10_000), 'group');
    expect($e->errorCode === 'invalid_argument' && str_starts_with($e->getMessage(), 'group'), 'names the field: ' . $e->getMessage());
    expect($bad->poll(0) === null && iterator_to_array($bad) === [], 'ended with it');
    $bad->close();

    expectThrows(InvalidArgumentException::class, fn () => $attache->kafka->consume('g', [1]), 'topics[0]');
    expectThrows(InvalidArgumentException::class, fn () => $attache->kafka->consume('g', ['t'], 'middle'), 'unknown start "middle"');
    expectThrows(InvalidArgumentException::class, fn () => $attache->kafka->consume('g', ['t'], maxUnacked: 0), 'maxUnacked');
    expectThrows(InvalidArgumentException::class, fn () => $attache->kafka->consume('g', ['t'], ackBatchSize: 0), 'ackBatchSize');
    $idle = $attache->kafka->consume($kafkaGroup('idle'), [$kafkaTopic('idle')]);
    expectThrows(InvalidArgumentException::class, fn () => $idle->ack(['topic' => 't']), 'ack: a record');
    expect($idle->ack(['topic' => 't', 'partition' => 0, 'offset' => 5]) === false, 'a record it did not deliver');
    $started = microtime(true);
    expect($idle->poll(300) === null, 'no record');
    $took = microtime(true) - $started;
    expect($took >= 0.29 && $took < 1.5, "poll waited its 300 ms: $took s");
    $idle->close();
    expectThrows(UnavailableException::class, fn () => (new Client('/nonexistent/attache.sock'))->kafka->consume('g', ['t']), 'cannot reach');
});

check('kafka streams: every wait is bounded, and a sidecar shutting down ends a consumer', function () use ($sidecar, $stopSidecar) {
    // Brokers that never answer: nothing is ever delivered.
    [$p, $sock] = $sidecar('kafka-stuck-streams', ['ATTACHE_KAFKA_BROKERS' => '127.0.0.1:1']);
    try {
        $stuck = new Client($sock, 2_000);
        $producer = $stuck->kafka->produceStream('delivered', 500);
        $started = microtime(true);
        expectThrows(DeadlineExceededException::class, fn () => $producer->send([['topic' => 't', 'value' => 'v']]), 'within 500 ms');
        expect(microtime(true) - $started < 2.0, 'gave up after 500 ms: ' . round(microtime(true) - $started, 2) . ' s');
        expectThrows(FailedPreconditionException::class, fn () => $producer->send([['topic' => 't', 'value' => 'v']]), 'within 500 ms');
        $consumer = $stuck->kafka->consume('g', ['t']);
        expect($consumer->poll(200) === null, 'no record');
        // SIGTERM: the sidecar drains, which ends the stream.
        proc_terminate($p);
        $started = microtime(true);
        expectThrows(UnavailableException::class, fn () => $consumer->poll(20_000));
        expect(microtime(true) - $started < 10.0, 'ended at the shutdown: ' . round(microtime(true) - $started, 2) . ' s');
        expect($consumer->poll(0) === null, 'and stays ended');
        $consumer->close();
    } finally {
        $stopSidecar($p, 9);
    }
});

check('kafka streams with the module off, or without brokers, are FailedPreconditionException', function () use ($sidecar, $stopSidecar, $kafkaTopic) {
    [$p, $sock] = $sidecar('kafka-off-streams', ['ATTACHE_KAFKA_ENABLED' => 'false']);
    try {
        $off = new Client($sock);
        expectThrows(FailedPreconditionException::class, fn () => $off->kafka->consume('g', ['t'])->poll(10_000), 'kafka.enabled');
        expectThrows(FailedPreconditionException::class, fn () => $off->kafka->produceStream()->send([['topic' => 't', 'value' => 'v']]), 'kafka.enabled');
    } finally {
        $stopSidecar($p);
    }
    [$p, $sock] = $sidecar('kafka-no-brokers-streams', ['ATTACHE_KAFKA_BROKERS' => null]);
    try {
        $spoolOnly = new Client($sock);
        expectThrows(FailedPreconditionException::class, fn () => $spoolOnly->kafka->consume('g', [$kafkaTopic('no-brokers')])->poll(10_000), 'kafka.brokers');
        // Producing still works there: into the spool.
        $producer = $spoolOnly->kafka->produceStream();
        expect($producer->send([['topic' => 't', 'value' => 'x']])[0]['id'] !== '', 'spooled');
        $producer->close();
    } finally {
        $stopSidecar($p);
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
