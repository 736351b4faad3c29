<?php
declare(strict_types=1);

namespace Attache;

/**
 * A Postgres unique violation (SQLSTATE 23505): constraint() names the
 * unique index, detail() the duplicate key.
 */
final class UniqueViolationException extends AlreadyExistsException
{
}
