<?php
declare(strict_types=1);

namespace Attache;

/** What the call names does not exist, e.g. a Postgres transaction that ended or was never begun. */
final class NotFoundException extends AttacheException
{
    /** @param array<string, string> $metadata */
    public function __construct(string $message, ?\Throwable $previous = null, array $metadata = [], ?string $reason = null, ?string $domain = null)
    {
        parent::__construct('not_found', $message, $previous, $metadata, $reason, $domain);
    }
}
