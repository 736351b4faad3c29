<?php
declare(strict_types=1);

namespace Attache;

/**
 * The module is not configured or enabled on the sidecar, or the system is
 * not in the state the call needs (e.g. a Postgres foreign-key, not-null or
 * check constraint violation).
 */
final class FailedPreconditionException extends AttacheException
{
    /** @param array<string, string> $metadata */
    public function __construct(string $message, ?\Throwable $previous = null, array $metadata = [], ?string $reason = null, ?string $domain = null)
    {
        parent::__construct('failed_precondition', $message, $previous, $metadata, $reason, $domain);
    }
}
