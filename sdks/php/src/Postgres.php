<?php
declare(strict_types=1);

namespace Attache;

/**
 * Parameter wrappers for $attache->postgres. Strings are sent as text, so
 * binary data needs bytea(); PHP lists are sent as Postgres arrays and
 * associative arrays as JSON, so a JSON list needs json().
 *
 *     $attache->postgres->query('insert into files (name, data, meta, n) values ($1, $2, $3, $4)', [
 *         'a.png', Postgres::bytea($png), Postgres::json(['tags' => []]), Postgres::typed('12', 'int8'),
 *     ]);
 */
final class Postgres
{
    /** Binary data, sent as bytea. */
    public static function bytea(string $bytes): PostgresParam
    {
        return new PostgresParam($bytes, null, 'bytes');
    }

    /** Any value sent as JSON (json_encode), lists and strings included. */
    public static function json(mixed $value): PostgresParam
    {
        return new PostgresParam($value, null, 'json');
    }

    /**
     * A parameter with an explicit Postgres type, e.g. typed('2024-01-02', 'date')
     * or typed(Postgres::bytea($b), 'bytea'). With 'json' or 'jsonb', any
     * value but a string is sent as json_encode() would write it; a string
     * is taken as JSON text already.
     */
    public static function typed(mixed $value, string $type): PostgresParam
    {
        if ($value instanceof PostgresParam) {
            return new PostgresParam($value->value, $type, $value->kind);
        }
        $json = preg_match('/^\s*jsonb?\s*$/i', $type) === 1 && $value !== null && !is_string($value);
        return new PostgresParam($value, $type, $json ? 'json' : null);
    }
}
