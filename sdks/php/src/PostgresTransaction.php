<?php
declare(strict_types=1);

namespace Attache;

/**
 * The handle PostgresClient::transaction() passes to its callback: its
 * statements run inside the transaction. It ends when the callback does.
 */
final class PostgresTransaction
{
    /** @param \Closure(string, list<mixed>, ?int, int): array{rows: list<array<string, mixed>>, columns: list<array{name: string, typeOid: int, typeName: string}>, rowsAffected: int, commandTag: string, cache: array{status: string, reason: string, ageMs: int}} $send */
    public function __construct(
        /** The sidecar's id for the transaction. */
        public readonly string $id,
        private readonly \Closure $send,
    ) {
    }

    /**
     * Runs one statement in the transaction and returns its rows.
     *
     * @param list<mixed> $params
     * @return list<array<string, mixed>>
     */
    public function query(string $sql, array $params = [], ?int $timeoutMs = null): array
    {
        return $this->run($sql, $params, $timeoutMs)['rows'];
    }

    /**
     * The first row, or null if there is none.
     *
     * @param list<mixed> $params
     * @return ?array<string, mixed>
     */
    public function queryOne(string $sql, array $params = [], ?int $timeoutMs = null): ?array
    {
        return $this->query($sql, $params, $timeoutMs)[0] ?? null;
    }

    /**
     * Runs one statement in the transaction and returns the whole result
     * (see PostgresClient::run()).
     *
     * @param list<mixed> $params
     * @return array{rows: list<array<string, mixed>>, columns: list<array{name: string, typeOid: int, typeName: string}>, rowsAffected: int, commandTag: string, cache: array{status: string, reason: string, ageMs: int}}
     */
    public function run(string $sql, array $params = [], ?int $timeoutMs = null, int $maxRows = 0): array
    {
        return ($this->send)($sql, $params, $timeoutMs, $maxRows);
    }
}
