<?php
declare(strict_types=1);

namespace Attache;

/**
 * The call lost a race, e.g. a Postgres serialization failure or deadlock:
 * run the whole transaction again.
 */
final class AbortedException extends AttacheException
{
    /** @param array<string, string> $metadata */
    public function __construct(string $message, ?\Throwable $previous = null, array $metadata = [], ?string $reason = null, ?string $domain = null)
    {
        parent::__construct('aborted', $message, $previous, $metadata, $reason, $domain);
    }
}
