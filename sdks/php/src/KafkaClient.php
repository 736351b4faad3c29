<?php
declare(strict_types=1);

namespace Attache;

/**
 * Kafka producing through the sidecar's durable spool: a record is
 * acknowledged once it is on this host's disk (the default, 'spooled') or
 * once Kafka has it ('delivered'), and the sidecar delivers what it spooled
 * while Kafka is down or after a restart. Delivery is at least once: every
 * record carries an `attache-id` header, the same on each delivery of it,
 * for consumers to drop duplicates; results carry it as 'id'.
 *
 *     $attache->kafka->produceOne('orders', json_encode($order), key: (string) $order['id']);
 *     $results = $attache->kafka->produce([
 *         ['topic' => 'orders', 'key' => '42', 'value' => $json, 'headers' => ['source' => 'checkout']],
 *     ], 'delivered'); // [['id' => '…-7', 'partition' => 1, 'offset' => 1234, 'error' => null]]
 *
 * A record is an array: 'topic' (required), 'key' (?string; absent or null:
 * no key), 'value' (?string, binary-safe; absent or null: a null value, a
 * tombstone), 'headers' (['name' => ?string, …], or a list of [name, value]
 * pairs for repeated names), 'partition' (?int; absent: by key, with
 * Java's murmur2 partitioner), 'timestampMs' (?int; absent: when spooled).
 *
 * Consuming, for a short-lived request: fetch() leases records of a
 * consumer group (shared by every process of the group on this host),
 * the request handles them, and KafkaLease::commit() acknowledges them;
 * what is not committed in time comes back to a later fetch.
 *
 *     $lease = $attache->kafka->fetch('mailer', ['emails'], maxRecords: 20);
 *     foreach ($lease->records as $record) { send(json_decode($record['value'], true)); }
 *     $lease->commit();
 *
 * A long-running process uses streams instead, each on a connection of its
 * own: consume() joins the group for as long as the consumer is open
 * (iterate it, ack() each record, close()), and produceStream() sends
 * batches without a call's overhead each.
 *
 *     $consumer = $attache->kafka->consume('mailer', ['emails']);
 *     foreach ($consumer as $record) { send(json_decode($record['value'], true)); $consumer->ack($record); }
 *
 * Nothing here is retried: Produce is not idempotent, and a call that
 * failed after the sidecar spooled its records (a deadline) would deliver
 * them twice if sent again; Fetch takes records, and a Commit sent again
 * after it went through answers NOT_FOUND.
 */
final class KafkaClient
{
    private const SERVICE = 'attache.kafka.v1.KafkaService/';
    private const ACKS = ['spooled' => 'ACK_SPOOLED', 'delivered' => 'ACK_DELIVERED'];
    private const FIELDS = ['topic', 'key', 'value', 'headers', 'partition', 'timestampMs'];
    private const STARTS = ['earliest' => 'START_FROM_EARLIEST', 'latest' => 'START_FROM_LATEST'];
    /** The sidecar waits at most this long for a first record. */
    private const MAX_WAIT_MS = 60_000;
    /** And leases for at most this long. */
    private const MAX_LEASE_MS = 3_600_000;

    public function __construct(private readonly Transport $transport)
    {
    }

    /**
     * Spools records (all of them or none) and returns one result per
     * record, in order: ['id' => the record's attache-id header,
     * 'partition' => ?int, 'offset' => ?int, 'error' => ?AttacheException].
     *
     * $ack 'spooled' answers once the records are durable in the host's
     * spool (partition and offset null: Kafka has not seen them yet).
     * 'delivered' waits until Kafka acknowledged each one (acks=all) and
     * gives its partition and offset, or, for a record Kafka refused for
     * good, its 'error' (not thrown): a NotFoundException for an unknown
     * topic or partition, an InvalidArgumentException for a record the
     * broker finds too large or invalid; such a record is not retried.
     *
     * Throws InvalidArgumentException naming the bad field
     * ('records[2].topic: …', also in ->metadata['field']),
     * ResourceExhaustedException when the spool is full,
     * FailedPreconditionException when the module is off,
     * UnavailableException when the sidecar or its spool cannot be reached
     * (nothing was spooled), DeadlineExceededException when the time ran
     * out: with 'delivered' the records were spooled and will still be
     * delivered, so sending them again means duplicates (same payload,
     * other attache-id).
     *
     * @param list<array{topic: string, key?: ?string, value?: ?string, headers?: array<string, ?string>|list<array{string, ?string}>, partition?: ?int, timestampMs?: ?int}> $records
     * @param 'spooled'|'delivered' $ack
     * @return list<array{id: string, partition: ?int, offset: ?int, error: ?AttacheException}>
     */
    public function produce(array $records, string $ack = 'spooled', ?int $timeoutMs = null): array
    {
        $request = [
            'records' => array_map(self::record(...), array_values($records), array_keys(array_values($records))),
            'ack' => self::ACKS[$ack] ?? throw new InvalidArgumentException("unknown ack \"$ack\"; use spooled or delivered"),
        ];
        $reply = $this->transport->call(self::SERVICE . 'Produce', $request, $timeoutMs, false);
        return array_map(self::result(...), $reply['results'] ?? []);
    }

    /**
     * Produces one record and returns its result without 'error': a record
     * Kafka refused (with 'delivered') is thrown instead, as
     * NotFoundException, InvalidArgumentException….
     *
     * @param array<string, ?string>|list<array{string, ?string}> $headers
     * @param 'spooled'|'delivered' $ack
     * @return array{id: string, partition: ?int, offset: ?int}
     */
    public function produceOne(
        string $topic,
        ?string $value,
        ?string $key = null,
        array $headers = [],
        string $ack = 'spooled',
        ?int $timeoutMs = null,
    ): array {
        $result = $this->produce([['topic' => $topic, 'key' => $key, 'value' => $value, 'headers' => $headers]], $ack, $timeoutMs)[0]
            ?? throw new AttacheException('unknown', 'attache answered Produce without a result');
        if ($result['error'] !== null) {
            throw $result['error'];
        }
        unset($result['error']);
        return $result;
    }

    /**
     * Leases up to `$maxRecords` records of `$topics` for consumer group
     * `$group`, waiting up to `$maxWaitMs` (at most 60 s; 0: answers at
     * once) for the first; an empty lease (isEmpty()) when none came. The
     * caller has `$leaseMs` (null: the sidecar's kafka.consumer.lease_timeout,
     * 30 s; at most an hour) to commit them; records not committed by then,
     * or left out of the commit, go to a later fetch of the group, by this
     * process or another. The group's consumer lives in the sidecar, shared
     * by every caller of the group (and these topics) on the host: its
     * first fetch joins the group, which takes a moment, and `$start`
     * ('earliest' or 'latest', as that first fetch gives it) says where it
     * begins on partitions the group has no committed offset for.
     *
     * The call's deadline is `$timeoutMs`, which must exceed the wait;
     * null: the wait plus the client's deadline.
     *
     * Throws InvalidArgumentException naming the bad field ('group: …',
     * 'topics[1]: …', also in ->metadata['field']),
     * FailedPreconditionException when the module is off or the sidecar
     * has no brokers, UnavailableException, DeadlineExceededException (the
     * records it may have leased come back when the lease ends). Not
     * retried: Fetch takes records.
     *
     * @param list<string> $topics
     * @param 'earliest'|'latest' $start
     */
    public function fetch(
        string $group,
        array $topics,
        int $maxRecords = 100,
        int $maxWaitMs = 1000,
        ?int $leaseMs = null,
        string $start = 'earliest',
        ?int $timeoutMs = null,
    ): KafkaLease {
        foreach (array_values($topics) as $i => $topic) {
            if (!is_string($topic)) {
                throw new InvalidArgumentException("topics[$i]: a topic is a string, not " . get_debug_type($topic));
            }
        }
        if ($maxRecords < 1) {
            throw new InvalidArgumentException("maxRecords: ask for at least one record, not $maxRecords");
        }
        if ($maxWaitMs < 0) {
            throw new InvalidArgumentException("maxWaitMs: 0 or more milliseconds, not $maxWaitMs");
        }
        if ($leaseMs !== null && $leaseMs < 1) {
            throw new InvalidArgumentException("leaseMs: 1 or more milliseconds (null: the sidecar's kafka.consumer.lease_timeout), not $leaseMs");
        }
        $waitMs = min($maxWaitMs, self::MAX_WAIT_MS);
        if ($timeoutMs !== null && $timeoutMs <= $waitMs) {
            throw new InvalidArgumentException("timeoutMs: the deadline ($timeoutMs ms) must exceed the wait for records (maxWaitMs, $waitMs ms)");
        }
        $request = [
            'group' => $group,
            'topics' => array_values($topics),
            'maxRecords' => $maxRecords,
            'maxWaitMs' => $waitMs,
            'start' => self::STARTS[$start] ?? throw new InvalidArgumentException("unknown start \"$start\"; use earliest or latest"),
        ];
        if ($leaseMs !== null) {
            $request['leaseMs'] = min($leaseMs, self::MAX_LEASE_MS);
        }
        $reply = $this->transport->call(self::SERVICE . 'Fetch', $request, $timeoutMs ?? $waitMs + $this->transport->timeoutMs, false);
        return new KafkaLease(
            (string) ($reply['leaseId'] ?? ''),
            array_map(self::consumed(...), $reply['records'] ?? []),
            fn (string $id, ?array $acked, ?int $timeoutMs): array => $this->commit($id, $acked, $timeoutMs),
        );
    }

    /**
     * Produce over one stream, on a connection of its own, for high rates
     * from a long-running process: each KafkaProduceStream::send() is
     * answered before it returns, in order, as produce() answers, without
     * a call's overhead. `$ack` holds for every send; `$timeoutMs` (null:
     * the client's deadline) bounds each send's wait for its answer, and
     * close()'s for the end. A failure ends the stream: open another.
     *
     * @param 'spooled'|'delivered' $ack
     */
    public function produceStream(string $ack = 'spooled', ?int $timeoutMs = null): KafkaProduceStream
    {
        $ack = self::ACKS[$ack] ?? throw new InvalidArgumentException("unknown ack \"$ack\"; use spooled or delivered");
        return new KafkaProduceStream(
            $this->transport->openStream(self::SERVICE . 'ProduceStream', $timeoutMs),
            $ack,
            $timeoutMs ?? $this->transport->timeoutMs,
            fn (array $records): array => array_map(self::record(...), array_values($records), array_keys(array_values($records))),
            self::result(...),
        );
    }

    /**
     * Joins consumer group `$group` for `$topics` for as long as the
     * returned consumer is open, on a stream (a connection) of its own:
     * iterate it for records, ack() each once handled, close() when done.
     * For long-running processes (workers, daemons); a short-lived request
     * uses fetch(). The first message of the stream subscribes; an error in
     * it (a bad group, the module off) is thrown by the first read.
     *
     * An offset is committed only once every record before it on its
     * partition is acknowledged, so what is not acked comes back to the
     * group after close() (or a crash). `$maxUnacked` (null: the sidecar's
     * kafka.consumer.max_unacked, which also caps it) is how many records
     * may be delivered and not yet acknowledged. `$instanceId` is a stable
     * id of this process (static membership): a consumer that comes back
     * with it within the session timeout keeps its partitions. Acks are sent
     * in batches of `$ackBatchSize`, and whenever the consumer waits for
     * records, and by close(). `$timeoutMs` (null: the client's deadline)
     * bounds connecting, sending, and close()'s wait for the sidecar to
     * commit and end the stream; waiting for records is poll()'s.
     *
     * @param list<string> $topics
     * @param 'earliest'|'latest' $start
     */
    public function consume(
        string $group,
        array $topics,
        string $start = 'earliest',
        ?int $maxUnacked = null,
        ?string $instanceId = null,
        int $ackBatchSize = 500,
        ?int $timeoutMs = null,
    ): KafkaConsumer {
        foreach (array_values($topics) as $i => $topic) {
            if (!is_string($topic)) {
                throw new InvalidArgumentException("topics[$i]: a topic is a string, not " . get_debug_type($topic));
            }
        }
        if ($maxUnacked !== null && ($maxUnacked < 1 || $maxUnacked > 0xFFFF_FFFF)) {
            throw new InvalidArgumentException("maxUnacked: 1 or more records (null: the sidecar's kafka.consumer.max_unacked), not $maxUnacked");
        }
        if ($ackBatchSize < 1) {
            throw new InvalidArgumentException("ackBatchSize: 1 or more acks, not $ackBatchSize");
        }
        $subscribe = [
            'group' => $group,
            'topics' => array_values($topics),
            'start' => self::STARTS[$start] ?? throw new InvalidArgumentException("unknown start \"$start\"; use earliest or latest"),
        ];
        if ($instanceId !== null && $instanceId !== '') {
            $subscribe['instanceId'] = $instanceId;
        }
        if ($maxUnacked !== null) {
            $subscribe['maxUnacked'] = $maxUnacked;
        }
        $stream = $this->transport->openStream(self::SERVICE . 'Consume', $timeoutMs);
        $stream->send(['subscribe' => $subscribe]);
        return new KafkaConsumer($stream, self::consumed(...), $timeoutMs ?? $this->transport->timeoutMs, $ackBatchSize);
    }

    /**
     * @param ?list<array{topic: string, partition: int, offset: int}> $acked null: all
     * @return array{acked: int, redelivered: int}
     */
    private function commit(string $id, ?array $acked, ?int $timeoutMs): array
    {
        $request = ['leaseId' => $id];
        if ($acked === null) {
            $request['all'] = true;
        } else {
            // int64: a string in protobuf JSON
            $request['acked'] = array_map(fn (array $p) => ['topic' => $p['topic'], 'partition' => $p['partition'], 'offset' => (string) $p['offset']], $acked);
        }
        $reply = $this->transport->call(self::SERVICE . 'Commit', $request, $timeoutMs, false);
        return ['acked' => (int) ($reply['acked'] ?? 0), 'redelivered' => (int) ($reply['redelivered'] ?? 0)];
    }

    /**
     * A consumed record from its protobuf JSON form (zeros and empty lists
     * are left out there).
     *
     * @param array<string, mixed> $r
     * @return array{topic: string, partition: int, offset: int, key: ?string, value: ?string, headers: list<array{string, ?string}>, timestampMs: int, id: ?string}
     */
    private static function consumed(array $r): array
    {
        $headers = [];
        $id = null;
        foreach ($r['headers'] ?? [] as $h) {
            $name = (string) ($h['key'] ?? '');
            $value = isset($h['value']) ? self::unbase64($h['value']) : null;
            $headers[] = [$name, $value];
            if ($name === 'attache-id' && $id === null) {
                $id = $value;
            }
        }
        return [
            'topic' => (string) ($r['topic'] ?? ''),
            'partition' => (int) ($r['partition'] ?? 0),
            'offset' => (int) ($r['offset'] ?? 0), // int64: a string in protobuf JSON
            'key' => isset($r['key']) ? self::unbase64($r['key']) : null,
            'value' => isset($r['value']) ? self::unbase64($r['value']) : null,
            'headers' => $headers,
            'timestampMs' => (int) ($r['timestampMs'] ?? 0),
            'id' => $id,
        ];
    }

    /** Protobuf JSON's bytes: base64, standard or URL-safe. */
    private static function unbase64(mixed $base64): string
    {
        return (string) base64_decode(strtr((string) $base64, '-_', '+/'));
    }

    /**
     * A record in protobuf JSON form; the checks the sidecar would make of
     * types are made here, naming the field as it does.
     *
     * @param array<string, mixed> $record
     * @return array<string, mixed>
     */
    private static function record(mixed $record, int $i): array
    {
        if (!is_array($record)) {
            throw new InvalidArgumentException("records[$i]: a record is an array ['topic' => …, 'value' => …], not " . get_debug_type($record));
        }
        foreach (array_keys($record) as $name) {
            if (!in_array($name, self::FIELDS, true)) {
                throw new InvalidArgumentException("records[$i]: unknown field \"$name\"; use " . implode(', ', self::FIELDS));
            }
        }
        $topic = $record['topic'] ?? null;
        if (!is_string($topic)) {
            throw new InvalidArgumentException("records[$i].topic: the topic is a string, not " . get_debug_type($topic));
        }
        $out = ['topic' => $topic];
        foreach (['key', 'value'] as $name) {
            $bytes = $record[$name] ?? null;
            if ($bytes !== null) {
                $out[$name] = base64_encode(self::bytes($bytes, "records[$i].$name"));
            }
        }
        $headers = self::headers($record['headers'] ?? [], $i);
        if ($headers !== []) {
            $out['headers'] = $headers;
        }
        foreach (['partition', 'timestampMs'] as $name) {
            $number = $record[$name] ?? null;
            if ($number !== null && !is_int($number)) {
                throw new InvalidArgumentException("records[$i].$name: an int or null, not " . get_debug_type($number));
            }
        }
        if (isset($record['partition'])) {
            $out['partition'] = $record['partition'];
        }
        if (isset($record['timestampMs'])) {
            $out['timestampMs'] = (string) $record['timestampMs']; // int64: a string in protobuf JSON
        }
        return $out;
    }

    /** @return list<array{key: string, value?: string}> */
    private static function headers(mixed $headers, int $i): array
    {
        if (!is_array($headers)) {
            throw new InvalidArgumentException("records[$i].headers: ['name' => ?string, …] or a list of [name, value] pairs, not " . get_debug_type($headers));
        }
        $pairs = [];
        foreach ($headers as $name => $value) {
            // A list of pairs, for a name that repeats (Kafka keeps every one, in order).
            if (is_int($name) && is_array($value) && array_is_list($value) && count($value) === 2) {
                [$name, $value] = $value;
            }
            $pairs[] = [(string) $name, $value];
        }
        $out = [];
        foreach ($pairs as $h => [$name, $value]) {
            $header = ['key' => $name];
            if ($value !== null) {
                $header['value'] = base64_encode(self::bytes($value, "records[$i].headers[$h].value"));
            }
            $out[] = $header;
        }
        return $out;
    }

    private static function bytes(mixed $value, string $field): string
    {
        if (!is_string($value)) {
            throw new InvalidArgumentException("$field: a string (bytes) or null, not " . get_debug_type($value));
        }
        return $value;
    }

    /**
     * @param array<string, mixed> $r
     * @return array{id: string, partition: ?int, offset: ?int, error: ?AttacheException}
     */
    private static function result(array $r): array
    {
        $error = $r['error'] ?? null;
        return [
            'id' => (string) ($r['id'] ?? ''),
            'partition' => isset($r['partition']) ? (int) $r['partition'] : null,
            'offset' => isset($r['offset']) ? (int) $r['offset'] : null, // int64: a string in protobuf JSON
            'error' => is_array($error) && ($error['code'] ?? '') !== ''
                ? AttacheException::fromCode(strtolower((string) $error['code']), (string) ($error['message'] ?? ''))
                : null,
        ];
    }
}
