<?php
declare(strict_types=1);

namespace Attache;

/**
 * A member of a consumer group for as long as it is open, made by
 * KafkaClient::consume(), on a Consume stream (a connection) of its own:
 * iterate it for records, ack() each once handled, close() when done. For
 * long-running processes; a short-lived request uses KafkaClient::fetch().
 *
 *     $consumer = $attache->kafka->consume('mailer', ['emails']);
 *     foreach ($consumer as $record) {            // waits for records
 *         sendEmail(json_decode($record['value'], true));
 *         $consumer->ack($record);
 *     }
 *     // or, bounded: while (($record = $consumer->poll(5_000)) !== null) { … }
 *     $consumer->close(); // sends the acks, the sidecar commits them
 *
 * At least once: records not acknowledged when the consumer closes (or
 * dies) are delivered again to the group. Acks are sent in batches, and
 * whenever the consumer waits for records, and by close(). Not for sharing
 * between fibers: one loop reads and acks. The connection is closed by
 * close() or when the object goes away (which closes as close() does).
 *
 * @implements \IteratorAggregate<int, array{topic: string, partition: int, offset: int, key: ?string, value: ?string, headers: list<array{string, ?string}>, timestampMs: int, id: ?string}>
 */
final class KafkaConsumer implements \IteratorAggregate
{
    /** @var list<array<string, mixed>> records received, not yet handed out */
    private array $queue = [];
    /** @var array<string, true> 'topic/partition/offset' of records delivered and not yet acked */
    private array $outstanding = [];
    /** @var list<array{topic: string, partition: int, offset: string}> acks not yet sent */
    private array $acks = [];
    /** @var array<string, array{topic: string, partition: int}> by 'topic/partition' */
    private array $assignment = [];
    private bool $closed = false;

    /**
     * @internal made by KafkaClient::consume()
     * @param \Closure(array<string, mixed>): array<string, mixed> $decode a ConsumedRecord's protobuf JSON to a record
     */
    public function __construct(
        private readonly Stream $stream,
        private readonly \Closure $decode,
        private readonly int $timeoutMs,
        private readonly int $ackBatchSize,
    ) {
    }

    public function __destruct()
    {
        $this->close();
    }

    /**
     * The records, as they come, until close() (from the loop, or a signal
     * handler) ends the iteration. Waits for records as long as it takes;
     * the sidecar ending the stream (it is shutting down) or the connection
     * breaking throws UnavailableException: make a new consumer.
     *
     * @return \Generator<int, array{topic: string, partition: int, offset: int, key: ?string, value: ?string, headers: list<array{string, ?string}>, timestampMs: int, id: ?string}>
     */
    public function getIterator(): \Generator
    {
        while (($record = $this->poll()) !== null) {
            yield $record;
        }
    }

    /**
     * The next record, waiting up to `$timeoutMs` (null: until one comes);
     * null if none came in time, or once the consumer is closed. A record
     * is an array as KafkaClient::fetch() gives them: ['topic',
     * 'partition', 'offset', 'key', 'value', 'headers', 'timestampMs',
     * 'id'].
     *
     * Throws the error the stream ended with: InvalidArgumentException for
     * a bad subscription ('group: …'), FailedPreconditionException when the
     * module is off or the sidecar has no brokers, AbortedException when
     * another consumer with the same instance id took over,
     * UnavailableException when the sidecar ended the stream or went away.
     * The consumer is closed then.
     *
     * @return ?array{topic: string, partition: int, offset: int, key: ?string, value: ?string, headers: list<array{string, ?string}>, timestampMs: int, id: ?string}
     */
    public function poll(?int $timeoutMs = null): ?array
    {
        $deadline = $timeoutMs === null ? null : hrtime(true) + max(0, $timeoutMs) * 1_000_000;
        $read = false;
        while ($this->queue === []) {
            if ($this->closed) {
                return null;
            }
            $left = null;
            if ($deadline !== null) {
                $left = max(0, intdiv($deadline - hrtime(true), 1_000_000));
                if ($left === 0 && $read) {
                    return null;
                }
            }
            // A wait of 0 still takes what has arrived.
            $read = true;
            try {
                $this->flush();
                $message = $this->stream->receive($left);
            } catch (AttacheException $e) {
                $this->end();
                throw $e;
            }
            if ($message === false) {
                return null;
            }
            if ($message === null) {
                $this->end();
                throw new UnavailableException('attache ended the consume stream (it is shutting down); make a new consumer');
            }
            $this->take($message);
        }
        return array_shift($this->queue);
    }

    /**
     * Acknowledges a record this consumer delivered (a record of the
     * iteration or poll(), or its ['topic', 'partition', 'offset']): its
     * offset is committed once every record before it on its partition is
     * acknowledged too. Returns false, doing nothing, for a record that is
     * acknowledged already or cannot be any more: its partition was revoked
     * since (the group delivers it again elsewhere), or the consumer is
     * closed. Sending a full batch of acks can fail as poll() does (the
     * consumer is closed then).
     *
     * @param array{topic: string, partition: int, offset: int} $record
     */
    public function ack(array $record): bool
    {
        $topic = $record['topic'] ?? null;
        $partition = $record['partition'] ?? null;
        $offset = $record['offset'] ?? null;
        if (!is_string($topic) || !is_int($partition) || !is_int($offset)) {
            throw new InvalidArgumentException("ack: a record of the consumer or ['topic' => string, 'partition' => int, 'offset' => int], not " . json_encode(array_intersect_key($record, ['topic' => 0, 'partition' => 0, 'offset' => 0])));
        }
        $key = "$topic/$partition/$offset";
        if ($this->closed || !isset($this->outstanding[$key])) {
            return false;
        }
        unset($this->outstanding[$key]);
        // int64: a string in protobuf JSON
        $this->acks[] = ['topic' => $topic, 'partition' => $partition, 'offset' => (string) $offset];
        if (count($this->acks) >= $this->ackBatchSize) {
            try {
                $this->flush();
            } catch (AttacheException $e) {
                $this->end();
                throw $e;
            }
        }
        return true;
    }

    /**
     * The partitions this consumer reads now, as the sidecar last said.
     *
     * @return list<array{topic: string, partition: int}>
     */
    public function assignment(): array
    {
        return array_values($this->assignment);
    }

    /**
     * Sends the acks not yet sent and ends the stream: the sidecar commits
     * what was acknowledged, the member leaves the group, and the stream
     * ends; this waits for that end (at most the consumer's deadline), then
     * closes the connection. Records delivered and not acknowledged go to
     * the group again. Closing twice does nothing; a failure here is not
     * thrown (what was not committed is delivered again).
     */
    public function close(): void
    {
        if ($this->closed && !$this->stream->isOpen()) {
            return;
        }
        try {
            $this->flush();
        } catch (AttacheException) {
            // The stream broke: the end below finds it closed.
        }
        $this->closed = true;
        $this->queue = [];
        $this->outstanding = [];
        if ($this->stream->isOpen()) {
            $this->stream->closeSend();
            $deadline = hrtime(true) + $this->timeoutMs * 1_000_000;
            try {
                // Records sent meanwhile are not handed out: they come again.
                while (is_array($this->stream->receive(max(1, intdiv($deadline - hrtime(true), 1_000_000))))) {
                }
            } catch (AttacheException) {
                // Ended with an error, or broke: what was not committed comes again.
            }
        }
        $this->stream->close();
    }

    private function flush(): void
    {
        if ($this->acks !== [] && $this->stream->isOpen()) {
            $acks = $this->acks;
            $this->acks = [];
            $this->stream->send(['ack' => ['positions' => $acks]]);
        }
    }

    /** The stream ended or broke: nothing more to hand out or ack. */
    private function end(): void
    {
        $this->closed = true;
        $this->queue = [];
        $this->outstanding = [];
        $this->acks = [];
        $this->stream->close();
    }

    /** @param array<string, mixed> $message a ConsumeResponse */
    private function take(array $message): void
    {
        if (is_array($message['records'] ?? null)) {
            foreach ($message['records']['records'] ?? [] as $r) {
                $record = ($this->decode)(is_array($r) ? $r : []);
                $this->outstanding["{$record['topic']}/{$record['partition']}/{$record['offset']}"] = true;
                $this->queue[] = $record;
            }
        } elseif (is_array($message['assigned'] ?? null)) {
            foreach ($message['assigned']['partitions'] ?? [] as $p) {
                $tp = ['topic' => (string) ($p['topic'] ?? ''), 'partition' => (int) ($p['partition'] ?? 0)];
                $this->assignment["{$tp['topic']}/{$tp['partition']}"] = $tp;
            }
        } elseif (is_array($message['revoked'] ?? null)) {
            $gone = [];
            foreach ($message['revoked']['partitions'] ?? [] as $p) {
                $gone[(string) ($p['topic'] ?? '') . '/' . (int) ($p['partition'] ?? 0)] = true;
            }
            $this->assignment = array_diff_key($this->assignment, $gone);
            // Their records go elsewhere: hand none out, and drop their acks
            // (they no longer count).
            $partitionOf = static fn (string $topic, int $partition): string => "$topic/$partition";
            $this->queue = array_values(array_filter($this->queue, static fn (array $r) => !isset($gone[$partitionOf($r['topic'], $r['partition'])])));
            $this->acks = array_values(array_filter($this->acks, static fn (array $a) => !isset($gone[$partitionOf($a['topic'], (int) $a['partition'])])));
            foreach (array_keys($this->outstanding) as $key) {
                if (isset($gone[substr($key, 0, (int) strrpos($key, '/'))])) {
                    unset($this->outstanding[$key]);
                }
            }
        }
    }
}
