<?php
declare(strict_types=1);

namespace Attache;

/**
 * PostgreSQL through the sidecar: every PHP worker on the host shares one
 * pool of connections, so a request that lives 20 ms does not open one.
 *
 * Rows come back as associative arrays (as PDO::FETCH_ASSOC; of duplicate
 * column names the last wins): int2/int4/int8 are int, float4/float8 float
 * (NAN, INF), numeric string (exact), text, uuid and enums string, bytea a
 * binary string, bool bool, NULL null, timestamp/timestamptz a
 * DateTimeImmutable in UTC (microseconds kept; the infinities as the
 * strings 'infinity' and '-infinity'), date a 'Y-m-d' string ('infinity',
 * '-infinity', 'YYYY-MM-DD BC'), time 'H:i:s.u', interval
 * ['months' => int, 'days' => int, 'micros' => int], json/jsonb decoded to
 * arrays, arrays nested lists, composite values associative arrays (lists
 * for anonymous records), other types Postgres's text for them.
 *
 * Parameters: null, bool, int, float, string (text), lists (Postgres
 * arrays), associative arrays and stdClass/JsonSerializable (JSON),
 * DateTimeInterface (timestamptz), and the Postgres:: wrappers. Postgres
 * infers each parameter's type from the statement unless Postgres::typed()
 * names it. No call is retried: none is idempotent.
 */
final class PostgresClient
{
    private const SERVICE = 'attache.postgres.v1.PostgresService/';

    private const ISOLATIONS = [
        'read committed' => 'ISOLATION_READ_COMMITTED',
        'repeatable read' => 'ISOLATION_REPEATABLE_READ',
        'serializable' => 'ISOLATION_SERIALIZABLE',
    ];

    private const CONFLICT_ACTIONS = [
        'nothing' => 'CONFLICT_ACTION_NOTHING',
        'update' => 'CONFLICT_ACTION_UPDATE',
    ];

    /** CacheStatus by its protobuf JSON name (or number). */
    private const CACHE_STATUSES = [
        'CACHE_STATUS_BYPASS' => 'bypass', 1 => 'bypass',
        'CACHE_STATUS_MISS' => 'miss', 2 => 'miss',
        'CACHE_STATUS_COALESCED' => 'coalesced', 3 => 'coalesced',
        'CACHE_STATUS_HIT' => 'hit', 4 => 'hit',
    ];

    public function __construct(private readonly Transport $transport)
    {
    }

    /**
     * Runs one statement and returns its rows, e.g.
     * query('select * from users where id = $1', [$id]). With $cacheTtlMs
     * (ms), a read's result is kept that long and identical reads are
     * answered from it (see run()).
     *
     * @param list<mixed> $params
     * @return list<array<string, mixed>>
     */
    public function query(string $sql, array $params = [], ?int $timeoutMs = null, int $cacheTtlMs = 0): array
    {
        return $this->run($sql, $params, $timeoutMs, cacheTtlMs: $cacheTtlMs)['rows'];
    }

    /**
     * The first row, or null if there is none.
     *
     * @param list<mixed> $params
     * @return ?array<string, mixed>
     */
    public function queryOne(string $sql, array $params = [], ?int $timeoutMs = null, int $cacheTtlMs = 0): ?array
    {
        return $this->query($sql, $params, $timeoutMs, $cacheTtlMs)[0] ?? null;
    }

    /**
     * Runs one statement and returns the whole result, with the row count of
     * an INSERT, UPDATE or DELETE. With $maxRows, a result of more rows
     * fails with ResourceExhaustedException.
     *
     * With $cacheTtlMs (ms), a read's result is kept that long (at most the
     * sidecar's postgres.cache.max_ttl) and identical reads (same SQL and
     * parameters) are answered from it, until a write through attache to a
     * table it reads; a write made outside attache is seen when it expires.
     * 'cache' says where the result came from: 'status' is 'miss' (ran on
     * the database), 'coalesced' (shared an identical read already
     * running), 'hit' (from the cache, read 'ageMs' ago) or 'bypass' (not
     * eligible: a write, a transaction...), and 'reason' why a statement
     * could not be shared or cached.
     *
     * @param list<mixed> $params
     * @return array{rows: list<array<string, mixed>>, columns: list<array{name: string, typeOid: int, typeName: string}>, rowsAffected: int, commandTag: string, cache: array{status: string, reason: string, ageMs: int}}
     */
    public function run(string $sql, array $params = [], ?int $timeoutMs = null, int $maxRows = 0, int $cacheTtlMs = 0): array
    {
        return $this->send($sql, $params, $timeoutMs, $maxRows, '', $cacheTtlMs);
    }

    /**
     * Inserts one row, given as ['column' => value, ...] (names used
     * exactly as given; values sent as query parameters are), and returns
     * ['inserted' => bool, 'row' => ?array, 'batchSize' => int]. 'row'
     * holds the $returning columns (['*'] for all) of the inserted row,
     * decoded as query rows are; null if none were asked or nothing was
     * inserted. Inserts of the same shape (table, columns, $onConflict,
     * $returning) from any process on the host while one runs go together
     * in one statement of 'batchSize' rows; each caller gets its own row
     * back, and only a bad row's caller the error.
     *
     * A unique violation throws UniqueViolationException, unless
     * $onConflict says otherwise: ['action' => 'nothing'] skips the row
     * ('inserted' => false); ['action' => 'update', 'target' => ['email'],
     * 'update' => ['name']] updates the existing row (ON CONFLICT (email)
     * DO UPDATE SET name = EXCLUDED.name).
     *
     * @param array<string, mixed> $row
     * @param list<string> $returning
     * @param ?array{action: string, target?: list<string>, update?: list<string>} $onConflict
     * @return array{inserted: bool, row: ?array<string, mixed>, batchSize: int}
     */
    public function insert(string $table, array $row, array $returning = [], ?array $onConflict = null, ?int $timeoutMs = null): array
    {
        if ($row !== [] && array_is_list($row)) {
            throw new InvalidArgumentException("insert() takes the row as ['column' => value, ...]");
        }
        $request = [
            'table' => $table,
            'columns' => array_map('strval', array_keys($row)),
            'values' => array_map(self::param(...), array_values($row)),
            'returning' => array_values($returning),
        ];
        if ($onConflict !== null) {
            $request['onConflict'] = self::onConflict($onConflict);
        }
        $reply = $this->transport->call(self::SERVICE . 'Insert', $request, $timeoutMs, false);
        $inserted = is_array($reply['row'] ?? null) ? $reply['row'] : null;
        return [
            'inserted' => (bool) ($reply['inserted'] ?? false),
            'row' => $inserted === null ? null : self::row($inserted, self::columns($reply)),
            'batchSize' => (int) ($reply['batchSize'] ?? 0),
        ];
    }

    /**
     * Cache-aside in one call (the sidecar needs Redis configured too): the
     * rows stored at $key in Redis if there are any, else $sql run once for
     * every concurrent caller on the host and stored at $key for $ttlMs. A
     * write through attache to a table the query reads deletes $key.
     *
     * @param list<mixed> $params
     * @return list<array<string, mixed>>
     */
    public function getOrLoad(string $key, string $sql, array $params, int $ttlMs, ?int $timeoutMs = null): array
    {
        return $this->getOrLoadResult($key, $sql, $params, $ttlMs, $timeoutMs)['rows'];
    }

    /**
     * getOrLoad() with the whole result: 'rows', 'columns', and 'cache'
     * (as run()'s): 'status' is 'hit' (from Redis), 'miss' (loaded, and
     * stored unless 'reason' says why not) or 'coalesced' (shared another
     * caller's load).
     *
     * @param list<mixed> $params
     * @return array{rows: list<array<string, mixed>>, columns: list<array{name: string, typeOid: int, typeName: string}>, cache: array{status: string, reason: string, ageMs: int}}
     */
    public function getOrLoadResult(string $key, string $sql, array $params, int $ttlMs, ?int $timeoutMs = null): array
    {
        $request = ['key' => $key, 'sql' => $sql, 'params' => array_map(self::param(...), array_values($params)), 'ttlMs' => (string) $ttlMs];
        $reply = $this->transport->call(self::SERVICE . 'GetOrLoad', $request, $timeoutMs, false);
        $columns = self::columns($reply);
        return [
            'rows' => array_map(static fn ($row) => self::row($row, $columns), self::listOf($reply['rows'] ?? [])),
            'columns' => $columns,
            'cache' => self::cache($reply['cache'] ?? null),
        ];
    }

    /**
     * Runs statements in order on one connection in one call; with
     * $transactional, all of them or none. A statement is an SQL string,
     * ['sql' => ..., 'params' => [...]] or [$sql, $params].
     *
     * @param list<string|array<mixed>> $statements
     * @param ?string $isolation 'read committed', 'repeatable read' or 'serializable'; null: the server's default
     * @return list<array{rows: list<array<string, mixed>>, columns: list<array{name: string, typeOid: int, typeName: string}>, rowsAffected: int, commandTag: string, cache: array{status: string, reason: string, ageMs: int}}>
     */
    public function execute(array $statements, bool $transactional = false, ?string $isolation = null, bool $readOnly = false, ?int $timeoutMs = null): array
    {
        $request = ['statements' => array_map(self::statement(...), array_values($statements)), 'transactional' => $transactional, 'readOnly' => $readOnly];
        if ($isolation !== null) {
            $request['isolation'] = self::isolation($isolation);
        }
        $reply = $this->transport->call(self::SERVICE . 'Execute', $request, $timeoutMs, false);
        return array_map(self::result(...), self::listOf($reply['results'] ?? []));
    }

    /**
     * Runs $fn(PostgresTransaction) in a transaction: commits if it returns
     * (and returns what it returned), rolls back and rethrows if it throws.
     * An AbortedException (serialization failure, deadlock) means: run the
     * whole transaction again. $timeoutMs applies to Begin and Commit, each;
     * a statement takes its own (PostgresTransaction::run()'s), else the
     * client's deadline.
     *
     * With $stream, the transaction is a Transaction stream on a connection
     * of its own instead of unary calls naming it: begin, each statement
     * and the commit or rollback are steps on the stream, each answered
     * before the next is sent. If this process dies or the connection
     * breaks before the commit, the sidecar rolls back at once rather than
     * after postgres.transaction.idle_timeout. A statement that fails ends
     * the transaction, rolled back, with that statement's error; so does a
     * step not answered in time (DeadlineExceededException: the stream is
     * closed, which rolls back). The handle's id is then ''.
     *
     * @template T
     * @param callable(PostgresTransaction): T $fn
     * @return T
     */
    public function transaction(callable $fn, ?string $isolation = null, bool $readOnly = false, bool $deferrable = false, ?int $timeoutMs = null, bool $stream = false): mixed
    {
        $request = ['readOnly' => $readOnly, 'deferrable' => $deferrable];
        if ($isolation !== null) {
            $request['isolation'] = self::isolation($isolation);
        }
        if ($stream) {
            return $this->streamTransaction($fn, $request, $timeoutMs);
        }
        $begun = $this->transport->call(self::SERVICE . 'Begin', $request, $timeoutMs, false);
        $id = (string) ($begun['transactionId'] ?? '');
        $tx = new PostgresTransaction(
            $id,
            fn (string $sql, array $params, ?int $timeoutMs, int $maxRows): array => $this->send($sql, $params, $timeoutMs, $maxRows, $id),
        );
        try {
            $result = $fn($tx);
        } catch (\Throwable $e) {
            $this->rollback($id);
            throw $e;
        }
        try {
            $this->transport->call(self::SERVICE . 'Commit', ['transactionId' => $id], $timeoutMs, false);
        } catch (\Throwable $e) {
            // If the commit never arrived, free the transaction now; if it
            // ended already, rolling back is a no-op.
            $this->rollback($id);
            throw $e;
        }
        return $result;
    }

    /**
     * transaction() on the Transaction stream: one step at a time, each
     * answered in order before the next goes out.
     *
     * @template T
     * @param callable(PostgresTransaction): T $fn
     * @param array<string, mixed> $begin a BeginRequest
     * @return T
     */
    private function streamTransaction(callable $fn, array $begin, ?int $timeoutMs): mixed
    {
        $stream = $this->transport->openStream(self::SERVICE . 'Transaction', $timeoutMs);
        $failure = null;
        // Sends a step and returns its answer's `$want`; any failure ends
        // the stream (the sidecar rolls back) and is kept to say why later
        // steps are refused.
        $step = function (array $request, string $want, ?int $timeoutMs) use ($stream, &$failure): array {
            if ($failure !== null || !$stream->isOpen()) {
                $why = $failure instanceof \Throwable ? ' (' . $failure->getMessage() . ')' : '';
                throw new FailedPreconditionException("the transaction has ended$why; begin a new one");
            }
            $timeoutMs ??= $this->transport->timeoutMs;
            try {
                $stream->send($request);
                $reply = $stream->receive($timeoutMs);
                if ($reply === false) {
                    throw new DeadlineExceededException("no answer from attache within $timeoutMs ms; the transaction is rolled back");
                }
                if ($reply === null) {
                    throw new UnavailableException('attache ended the transaction\'s stream without answering; the transaction is rolled back');
                }
                if (!array_key_exists($want, $reply)) {
                    throw new AttacheException('internal', "attache answered a transaction step with " . (string) array_key_first($reply) . ", not $want");
                }
                return is_array($reply[$want]) ? $reply[$want] : [];
            } catch (\Throwable $e) {
                $failure = $e;
                $stream->close();
                throw $e;
            }
        };
        try {
            $step(['begin' => (object) $begin], 'begun', $timeoutMs);
            $tx = new PostgresTransaction(
                '',
                fn (string $sql, array $params, ?int $timeoutMs, int $maxRows): array => self::result($step(['query' => self::queryRequest($sql, $params, $maxRows, 0)], 'result', $timeoutMs)),
            );
            try {
                $result = $fn($tx);
            } catch (\Throwable $e) {
                if ($failure === null) {
                    try {
                        $step(['rollback' => new \stdClass()], 'rolledBack', $timeoutMs);
                    } catch (\Throwable) {
                        // The stream is closed below, which rolls back too.
                    }
                }
                throw $e;
            }
            $step(['commit' => new \stdClass()], 'committed', $timeoutMs);
            return $result;
        } finally {
            $stream->close();
        }
    }

    /**
     * @param list<mixed> $params
     * @return array{rows: list<array<string, mixed>>, columns: list<array{name: string, typeOid: int, typeName: string}>, rowsAffected: int, commandTag: string, cache: array{status: string, reason: string, ageMs: int}}
     */
    private function send(string $sql, array $params, ?int $timeoutMs, int $maxRows, string $transactionId, int $cacheTtlMs = 0): array
    {
        $request = self::queryRequest($sql, $params, $maxRows, $cacheTtlMs);
        if ($transactionId !== '') {
            $request['transactionId'] = $transactionId;
        }
        return self::result($this->transport->call(self::SERVICE . 'Query', $request, $timeoutMs, false));
    }

    /**
     * A QueryRequest without its transaction.
     *
     * @param list<mixed> $params
     * @return array<string, mixed>
     */
    private static function queryRequest(string $sql, array $params, int $maxRows, int $cacheTtlMs): array
    {
        $request = ['sql' => $sql, 'params' => array_map(self::param(...), array_values($params))];
        if ($cacheTtlMs < 0) {
            throw new InvalidArgumentException("cacheTtlMs is in ms, 0 or more; got $cacheTtlMs");
        }
        if ($maxRows > 0) {
            $request['options']['maxRows'] = (string) $maxRows;
        }
        if ($cacheTtlMs > 0) {
            $request['options']['cacheTtlMs'] = (string) $cacheTtlMs;
        }
        return $request;
    }

    /** Best effort: its failure must not hide the error that caused it. */
    private function rollback(string $id): void
    {
        try {
            $this->transport->call(self::SERVICE . 'Rollback', ['transactionId' => $id], null, false);
        } catch (\Throwable) {
            // The sidecar rolls back on its own after the idle timeout.
        }
    }

    /**
     * @param array<mixed> $onConflict
     * @return array{action: string, target: list<string>, update: list<string>}
     */
    private static function onConflict(array $onConflict): array
    {
        $action = $onConflict['action'] ?? null;
        $target = $onConflict['target'] ?? [];
        $update = $onConflict['update'] ?? [];
        if (!is_string($action) || !isset(self::CONFLICT_ACTIONS[$action])) {
            throw new InvalidArgumentException("onConflict needs 'action' => 'nothing' or 'update'");
        }
        if (!is_array($target) || !is_array($update)) {
            throw new InvalidArgumentException("onConflict's 'target' and 'update' are lists of column names");
        }
        return ['action' => self::CONFLICT_ACTIONS[$action], 'target' => array_values($target), 'update' => array_values($update)];
    }

    private static function isolation(string $name): string
    {
        $key = strtolower(trim(str_replace(['_', '-'], ' ', $name)));
        return self::ISOLATIONS[$key]
            ?? throw new InvalidArgumentException("unknown isolation \"$name\"; use 'read committed', 'repeatable read' or 'serializable'");
    }

    /** @return array{sql: string, params: list<array<string, mixed>>} */
    private static function statement(mixed $statement): array
    {
        if (is_string($statement)) {
            return ['sql' => $statement, 'params' => []];
        }
        if (is_array($statement) && isset($statement['sql'])) {
            [$sql, $params] = [$statement['sql'], $statement['params'] ?? []];
        } elseif (is_array($statement) && array_is_list($statement) && is_string($statement[0] ?? null)) {
            [$sql, $params] = [$statement[0], $statement[1] ?? []];
        } else {
            throw new InvalidArgumentException("a statement is an SQL string, ['sql' => ..., 'params' => [...]] or [\$sql, \$params]");
        }
        if (!is_string($sql) || !is_array($params)) {
            throw new InvalidArgumentException('a statement needs its SQL as a string and its params as an array');
        }
        return ['sql' => $sql, 'params' => array_map(self::param(...), array_values($params))];
    }

    // Parameters: PHP values to Values in protobuf JSON form.

    /** @return array<string, mixed> */
    private static function param(mixed $value): array
    {
        if ($value instanceof PostgresParam) {
            $param = ['value' => self::wrapped($value)];
            if ($value->type !== null && $value->type !== '') {
                $param['type'] = $value->type;
            }
            return $param;
        }
        return ['value' => self::value($value)];
    }

    /** @return array<string, mixed> */
    private static function wrapped(PostgresParam $param): array
    {
        return match ($param->kind) {
            'bytes' => is_string($param->value)
                ? ['bytes' => base64_encode($param->value)]
                : throw new InvalidArgumentException('Postgres::bytea() takes a string of bytes'),
            'json' => self::json($param->value),
            default => self::value($param->value),
        };
    }

    /** @return array<string, mixed> */
    private static function value(mixed $v): array
    {
        return match (true) {
            $v === null => ['null' => true],
            is_bool($v) => ['bool' => $v],
            is_int($v) => ['int' => (string) $v],
            is_float($v) => ['float' => self::encodeFloat($v)],
            is_string($v) => preg_match('//u', $v) === 1
                ? ['text' => $v]
                : throw new InvalidArgumentException('a string parameter is not valid UTF-8; send binary data as Postgres::bytea($bytes)'),
            is_array($v) => array_is_list($v) ? self::array($v) : self::json($v),
            $v instanceof PostgresParam => $v->type === null
                ? self::wrapped($v)
                : throw new InvalidArgumentException('Postgres::typed() applies to a whole parameter, not to an array element'),
            $v instanceof \DateTimeInterface => ['timestamptz' => ['micros' => (string) ((int) $v->format('U') * 1_000_000 + (int) $v->format('u'))]],
            $v instanceof \BackedEnum => self::value($v->value),
            $v instanceof \JsonSerializable, $v instanceof \stdClass => self::json($v),
            default => throw new InvalidArgumentException('a parameter of type ' . get_debug_type($v) . ' has no Postgres form'),
        };
    }

    private static function encodeFloat(float $v): float|string
    {
        if (is_nan($v)) {
            return 'NaN';
        }
        if (is_infinite($v)) {
            return $v > 0 ? 'Infinity' : '-Infinity';
        }
        return $v;
    }

    /** @return array<string, string> */
    private static function json(mixed $v): array
    {
        try {
            return ['json' => json_encode($v, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION)];
        } catch (\JsonException $e) {
            throw new InvalidArgumentException('a parameter cannot be sent as JSON: ' . $e->getMessage(), $e);
        }
    }

    /**
     * A list as a Postgres array: nested lists of equal lengths are its
     * dimensions.
     *
     * @param list<mixed> $list
     * @return array<string, mixed>
     */
    private static function array(array $list): array
    {
        $dims = self::shape($list) ?? throw new InvalidArgumentException('nested lists must be rectangular, as Postgres arrays are');
        if (in_array(0, $dims, true)) {
            return ['array' => ['dimensions' => [], 'elements' => []]];
        }
        $elements = $list;
        for ($i = 1; $i < count($dims); $i++) {
            $elements = array_merge(...$elements);
        }
        return ['array' => [
            'dimensions' => array_map(static fn (int $length) => ['length' => $length, 'lowerBound' => 1], $dims),
            'elements' => array_map(self::value(...), $elements),
        ]];
    }

    /**
     * The dimensions of nested lists, or null if they are jagged.
     *
     * @param list<mixed> $list
     * @return ?list<int>
     */
    private static function shape(array $list): ?array
    {
        $nested = array_map(static fn ($e) => is_array($e) && array_is_list($e), $list);
        if (!in_array(true, $nested, true)) {
            return [count($list)];
        }
        if (in_array(false, $nested, true)) {
            return null;
        }
        $inner = null;
        foreach ($list as $e) {
            $shape = self::shape($e);
            if ($shape === null || ($inner !== null && $shape !== $inner)) {
                return null;
            }
            $inner = $shape;
        }
        return [count($list), ...$inner];
    }

    // Results: Values in protobuf JSON form to PHP values. Protobuf JSON
    // leaves out fields at their zero value, writes 64-bit integers as
    // strings, bytes as base64 and enums by name.

    /**
     * @param array<string, mixed> $reply
     * @return array{rows: list<array<string, mixed>>, columns: list<array{name: string, typeOid: int, typeName: string}>, rowsAffected: int, commandTag: string, cache: array{status: string, reason: string, ageMs: int}}
     */
    private static function result(mixed $reply): array
    {
        $reply = is_array($reply) ? $reply : [];
        $columns = self::columns($reply);
        return [
            'rows' => array_map(static fn ($row) => self::row($row, $columns), self::listOf($reply['rows'] ?? [])),
            'columns' => $columns,
            'rowsAffected' => (int) ($reply['rowsAffected'] ?? 0),
            'commandTag' => (string) ($reply['commandTag'] ?? ''),
            'cache' => self::cache($reply['cache'] ?? null),
        ];
    }

    /**
     * @param array<string, mixed> $reply
     * @return list<array{name: string, typeOid: int, typeName: string}>
     */
    private static function columns(array $reply): array
    {
        return array_map(static fn ($c) => [
            'name' => (string) ($c['name'] ?? ''),
            'typeOid' => (int) ($c['typeOid'] ?? 0),
            'typeName' => (string) ($c['typeName'] ?? ''),
        ], self::listOf($reply['columns'] ?? []));
    }

    /**
     * One Row as an associative array by column name.
     *
     * @param list<array{name: string, typeOid: int, typeName: string}> $columns
     * @return array<string, mixed>
     */
    private static function row(mixed $row, array $columns): array
    {
        $out = [];
        foreach (self::listOf(is_array($row) ? ($row['values'] ?? []) : []) as $i => $value) {
            $out[$columns[$i]['name'] ?? (string) $i] = self::decode($value);
        }
        return $out;
    }

    /**
     * CacheInfo; none (Execute's results, an older sidecar) reads as a bypass.
     *
     * @return array{status: string, reason: string, ageMs: int}
     */
    private static function cache(mixed $info): array
    {
        $info = is_array($info) ? $info : [];
        $status = $info['status'] ?? null;
        return [
            'status' => is_string($status) || is_int($status) ? (self::CACHE_STATUSES[$status] ?? 'bypass') : 'bypass',
            'reason' => (string) ($info['reason'] ?? ''),
            'ageMs' => (int) ($info['ageMs'] ?? 0),
        ];
    }

    /** @return list<mixed> */
    private static function listOf(mixed $value): array
    {
        return is_array($value) ? array_values($value) : [];
    }

    private static function decode(mixed $value): mixed
    {
        if (!is_array($value) || $value === []) {
            return null;
        }
        $kind = array_key_first($value);
        $v = $value[$kind];
        return match ($kind) {
            'null' => null,
            'bool' => (bool) $v,
            'int' => (int) $v,
            'float' => self::decodeFloat($v),
            'text', 'numeric', 'uuid' => (string) $v,
            'bytes' => self::bytes((string) $v),
            'timestamp', 'timestamptz' => self::timestamp(is_array($v) ? $v : []),
            'date' => self::date(is_array($v) ? $v : []),
            'time' => self::time((int) $v),
            'interval' => ['months' => (int) ($v['months'] ?? 0), 'days' => (int) ($v['days'] ?? 0), 'micros' => (int) ($v['micros'] ?? 0)],
            'json' => json_decode((string) $v, true, 512, JSON_THROW_ON_ERROR | JSON_BIGINT_AS_STRING),
            'array' => self::decodeArray(is_array($v) ? $v : []),
            'record' => self::record(is_array($v) ? $v : []),
            'typed' => (string) ($v['text'] ?? ''),
            default => throw new AttacheException('unknown', "unknown value kind \"$kind\" from attache; upgrade the SDK"),
        };
    }

    private static function decodeFloat(mixed $v): float
    {
        return match ($v) {
            'NaN' => NAN,
            'Infinity' => INF,
            '-Infinity' => -INF,
            default => (float) $v,
        };
    }

    private static function bytes(string $base64): string
    {
        // Protobuf JSON readers take standard and URL-safe base64, padded or not.
        $bytes = base64_decode(strtr($base64, '-_', '+/'), true);
        return $bytes === false ? throw new AttacheException('internal', 'attache sent bytes that are not base64') : $bytes;
    }

    /** 'INFINITY_POSITIVE' (or 1) is 1, 'INFINITY_NEGATIVE' (or 2) is -1, else 0. */
    private static function infinity(mixed $v): int
    {
        return match ($v) {
            'INFINITY_POSITIVE', 1 => 1,
            'INFINITY_NEGATIVE', 2 => -1,
            default => 0,
        };
    }

    /** @param array<string, mixed> $v */
    private static function timestamp(array $v): \DateTimeImmutable|string
    {
        $infinity = self::infinity($v['infinity'] ?? null);
        if ($infinity !== 0) {
            return $infinity > 0 ? 'infinity' : '-infinity';
        }
        $micros = (int) ($v['micros'] ?? 0);
        $seconds = self::floorDiv($micros, 1_000_000);
        $fraction = $micros - $seconds * 1_000_000;
        $utc = new \DateTimeZone('UTC');
        $time = \DateTimeImmutable::createFromFormat('U.u', sprintf('%d.%06d', $seconds, $fraction), $utc);
        return $time === false ? throw new AttacheException('out_of_range', "timestamp $micros µs is beyond what PHP reads") : $time->setTimezone($utc);
    }

    /**
     * Days since 1970-01-01 as Postgres prints the date: 'Y-m-d', with
     * ' BC' for years before 1 (Howard Hinnant's civil_from_days).
     *
     * @param array<string, mixed> $v
     */
    private static function date(array $v): string
    {
        $infinity = self::infinity($v['infinity'] ?? null);
        if ($infinity !== 0) {
            return $infinity > 0 ? 'infinity' : '-infinity';
        }
        $z = (int) ($v['days'] ?? 0) + 719468;
        $era = self::floorDiv($z, 146097);
        $doe = $z - $era * 146097;
        $yoe = intdiv($doe - intdiv($doe, 1460) + intdiv($doe, 36524) - intdiv($doe, 146096), 365);
        $doy = $doe - (365 * $yoe + intdiv($yoe, 4) - intdiv($yoe, 100));
        $mp = intdiv(5 * $doy + 2, 153);
        $day = $doy - intdiv(153 * $mp + 2, 5) + 1;
        $month = $mp < 10 ? $mp + 3 : $mp - 9;
        $year = $yoe + $era * 400 + ($month <= 2 ? 1 : 0);
        $text = sprintf('%04d-%02d-%02d', $year > 0 ? $year : 1 - $year, $month, $day);
        return $year > 0 ? $text : "$text BC";
    }

    /** Microseconds since midnight as 'H:i:s.u'. */
    private static function time(int $micros): string
    {
        $seconds = intdiv($micros, 1_000_000);
        return sprintf('%02d:%02d:%02d.%06d', intdiv($seconds, 3600), intdiv($seconds, 60) % 60, $seconds % 60, $micros % 1_000_000);
    }

    private static function floorDiv(int $a, int $b): int
    {
        $q = intdiv($a, $b);
        return ($a % $b !== 0 && ($a < 0) !== ($b < 0)) ? $q - 1 : $q;
    }

    /**
     * @param array<string, mixed> $v
     * @return list<mixed>
     */
    private static function decodeArray(array $v): array
    {
        $elements = array_map(self::decode(...), self::listOf($v['elements'] ?? []));
        $dims = array_map(static fn ($d) => (int) ($d['length'] ?? 0), self::listOf($v['dimensions'] ?? []));
        if ($dims === [] || in_array(0, $dims, true)) {
            return [];
        }
        if (array_product($dims) !== count($elements)) {
            throw new AttacheException('internal', 'attache sent an array of ' . count($elements) . ' elements for dimensions ' . implode('x', $dims));
        }
        // Split the row-major elements from the innermost dimension out.
        for ($i = count($dims) - 1; $i > 0; $i--) {
            $elements = array_chunk($elements, $dims[$i]);
        }
        return $elements;
    }

    /**
     * @param array<string, mixed> $v
     * @return array<mixed>
     */
    private static function record(array $v): array
    {
        $fields = self::listOf($v['fields'] ?? []);
        $named = $fields !== [] && !in_array('', array_map(static fn ($f) => (string) ($f['name'] ?? ''), $fields), true);
        $out = [];
        foreach ($fields as $f) {
            $value = self::decode($f['value'] ?? null);
            if ($named) {
                $out[(string) $f['name']] = $value;
            } else {
                $out[] = $value;
            }
        }
        return $out;
    }
}
