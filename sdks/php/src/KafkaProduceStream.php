<?php
declare(strict_types=1);

namespace Attache;

/**
 * Produce over one ProduceStream, made by KafkaClient::produceStream(): for
 * a long-running process that sends many batches, without a call's
 * overhead each. Each send() is answered before it returns, in order (the
 * answer carries the send's sequence number); a failure ends the stream,
 * and later sends throw FailedPreconditionException: open a new one. The
 * stream has a connection of its own, closed by close() or when the object
 * goes away.
 *
 *     $producer = $attache->kafka->produceStream('delivered');
 *     foreach ($batches as $batch) {
 *         $results = $producer->send($batch); // as produce() gives them
 *     }
 *     $producer->close();
 */
final class KafkaProduceStream
{
    private int $sequence = 0;
    private ?\Throwable $failure = null;

    /**
     * @internal made by KafkaClient::produceStream()
     * @param string $ack the Ack by its protobuf JSON name
     * @param \Closure(array<mixed>): list<array<string, mixed>> $records records to their protobuf JSON form
     * @param \Closure(array<string, mixed>): array{id: string, partition: ?int, offset: ?int, error: ?AttacheException} $result
     */
    public function __construct(
        private readonly Stream $stream,
        private readonly string $ack,
        private readonly int $timeoutMs,
        private readonly \Closure $records,
        private readonly \Closure $result,
    ) {
    }

    public function __destruct()
    {
        $this->close();
    }

    /**
     * Spools `$records` (all of them or none) as produce() does, with the
     * stream's ack, and returns one result per record, in order:
     * ['id', 'partition', 'offset', 'error' => ?AttacheException].
     *
     * `$timeoutMs` (null: the stream's) bounds the wait for the answer;
     * past it, DeadlineExceededException, and the stream ends (the records
     * may have been spooled). A bad record is refused before anything is
     * sent (InvalidArgumentException naming the field; the stream goes on).
     * Any error from the sidecar ends the stream with that error: the
     * batches answered before stay acknowledged.
     *
     * @param list<array{topic: string, key?: ?string, value?: ?string, headers?: array<string, ?string>|list<array{string, ?string}>, partition?: ?int, timestampMs?: ?int}> $records
     * @return list<array{id: string, partition: ?int, offset: ?int, error: ?AttacheException}>
     */
    public function send(array $records, ?int $timeoutMs = null): array
    {
        if ($this->failure !== null || !$this->stream->isOpen()) {
            $why = $this->failure === null ? '' : ' (' . $this->failure->getMessage() . ')';
            throw new FailedPreconditionException("the produce stream has ended$why; open a new one");
        }
        $request = ['records' => ($this->records)($records), 'ack' => $this->ack, 'sequence' => (string) ($this->sequence + 1)];
        $this->sequence++;
        $timeoutMs ??= $this->timeoutMs;
        try {
            $this->stream->send($request);
            $reply = $this->stream->receive($timeoutMs);
            if ($reply === false) {
                throw new DeadlineExceededException("no answer from attache within $timeoutMs ms; the stream is ended, and the records may have been spooled");
            }
            if ($reply === null) {
                // The sidecar is draining: it takes no more messages.
                throw new UnavailableException('attache ended the produce stream without taking these records (it is shutting down); send them on a new stream');
            }
            if ((int) ($reply['sequence'] ?? 0) !== $this->sequence) {
                throw new AttacheException('internal', "attache answered message {$this->sequence} of the produce stream with sequence " . json_encode($reply['sequence'] ?? null));
            }
        } catch (\Throwable $e) {
            $this->failure = $e;
            $this->stream->close();
            throw $e;
        }
        return array_map($this->result, is_array($reply['results'] ?? null) ? array_values($reply['results']) : []);
    }

    /**
     * Ends the stream: the sidecar finishes and ends it, and the connection
     * is closed (waiting at most the stream's deadline). Closing twice, or
     * after a failure, does nothing.
     */
    public function close(): void
    {
        if (!$this->stream->isOpen()) {
            return;
        }
        $this->stream->closeSend();
        try {
            while (is_array($this->stream->receive($this->timeoutMs))) {
                // Nothing is unanswered: every send waited for its answer.
            }
        } catch (AttacheException) {
            // Ended with an error: nothing is left to answer anyway.
        }
        $this->stream->close();
    }
}
