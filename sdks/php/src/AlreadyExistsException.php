<?php
declare(strict_types=1);

namespace Attache;

/** What the call would create exists already, e.g. a row with the same unique key. */
class AlreadyExistsException extends AttacheException
{
    /** @param array<string, string> $metadata */
    public function __construct(string $message, ?\Throwable $previous = null, array $metadata = [], ?string $reason = null, ?string $domain = null)
    {
        parent::__construct('already_exists', $message, $previous, $metadata, $reason, $domain);
    }
}
