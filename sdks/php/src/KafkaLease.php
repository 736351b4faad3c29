<?php
declare(strict_types=1);

namespace Attache;

/**
 * Records KafkaClient::fetch() leased to this caller: no other caller of
 * the group gets them while the lease lasts. Commit the ones handled
 * before it ends; those left out, and all of them if the lease runs out
 * first, go to a later fetch of the group.
 *
 *     $lease = $attache->kafka->fetch('mailer', ['emails']);
 *     foreach ($lease->records as $record) { … }
 *     $lease->commit(); // all of them; or commit($handled), a list of records
 */
final class KafkaLease
{
    /**
     * @param list<array{topic: string, partition: int, offset: int, key: ?string, value: ?string, headers: list<array{string, ?string}>, timestampMs: int, id: ?string}> $records
     * @param \Closure(string, ?list<array{topic: string, partition: int, offset: int}>, ?int): array{acked: int, redelivered: int} $commit
     */
    public function __construct(
        /** The sidecar's id for the lease; empty when no record came. */
        public readonly string $id,
        /**
         * The records, in the order the group's consumer read them: each
         * ['topic', 'partition', 'offset', 'key' => ?string, 'value' =>
         * ?string, 'headers' => list of [name, ?value] pairs, in order
         * (attache-id among them), 'timestampMs', 'id' => the attache-id
         * header's value, or null for a record attache did not produce].
         */
        public readonly array $records,
        private readonly \Closure $commit,
    ) {
    }

    /** Whether no record came (within fetch()'s $maxWaitMs). */
    public function isEmpty(): bool
    {
        return $this->records === [];
    }

    /**
     * Acknowledges records of the lease and ends it: all of them
     * (`$acked` null), or those listed, records of `$this->records` or
     * positions ['topic' => …, 'partition' => …, 'offset' => …]; the
     * lease's other records are delivered again by a later fetch. Returns
     * ['acked' => how many were acknowledged, 'redelivered' => how many go
     * back]. An empty lease answers [0, 0] without a call.
     *
     * Throws NotFoundException when the lease is over: committed already,
     * or expired (its records are delivered again, perhaps to another
     * caller, perhaps already handled there). Not retried: a Commit that
     * reached the sidecar and is sent again answers NOT_FOUND, which would
     * hide that it went through; after an UnavailableException or a
     * DeadlineExceededException, the records were either acknowledged or
     * come back once the lease ends, as at-least-once allows.
     *
     * @param ?list<array{topic: string, partition: int, offset: int}> $acked
     * @return array{acked: int, redelivered: int}
     */
    public function commit(?array $acked = null, ?int $timeoutMs = null): array
    {
        $positions = null;
        if ($acked !== null) {
            $positions = [];
            foreach (array_values($acked) as $i => $record) {
                $positions[] = $this->position($record, $i);
            }
        }
        if ($this->records === []) {
            return ['acked' => 0, 'redelivered' => 0];
        }
        return ($this->commit)($this->id, $positions, $timeoutMs);
    }

    /**
     * A position of one of the lease's records; a position not in the
     * lease is refused here, since the sidecar would silently ignore it.
     *
     * @return array{topic: string, partition: int, offset: int}
     */
    private function position(mixed $record, int $i): array
    {
        $topic = is_array($record) ? ($record['topic'] ?? null) : null;
        $partition = is_array($record) ? ($record['partition'] ?? null) : null;
        $offset = is_array($record) ? ($record['offset'] ?? null) : null;
        if (!is_string($topic) || !is_int($partition) || !is_int($offset)) {
            throw new InvalidArgumentException("acked[$i]: a record of the lease or ['topic' => string, 'partition' => int, 'offset' => int], not " . (is_array($record) ? json_encode(array_intersect_key($record, ['topic' => 0, 'partition' => 0, 'offset' => 0])) : get_debug_type($record)));
        }
        foreach ($this->records as $r) {
            if ($r['topic'] === $topic && $r['partition'] === $partition && $r['offset'] === $offset) {
                return ['topic' => $topic, 'partition' => $partition, 'offset' => $offset];
            }
        }
        throw new InvalidArgumentException("acked[$i]: $topic/$partition offset $offset is not a record of this lease");
    }
}
