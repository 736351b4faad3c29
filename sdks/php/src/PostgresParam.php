<?php
declare(strict_types=1);

namespace Attache;

/**
 * A statement parameter sent other than by its PHP type: binary data, JSON,
 * or with a Postgres type hint. Make one with Postgres::bytea(),
 * Postgres::json() or Postgres::typed().
 */
final class PostgresParam
{
    /**
     * @param ?string $type a Postgres type name such as 'int8', 'jsonb' or 'uuid[]'; null lets Postgres infer it
     * @param ?string $kind 'bytes' or 'json' to send the value as such; null to go by its PHP type
     */
    public function __construct(
        public readonly mixed $value,
        public readonly ?string $type = null,
        public readonly ?string $kind = null,
    ) {
    }
}
