<?php
declare(strict_types=1);

namespace Attache;

/** The sidecar (or its backend) cannot be reached; retry later. */
final class UnavailableException extends AttacheException
{
    /** @param array<string, string> $metadata */
    public function __construct(string $message, ?\Throwable $previous = null, array $metadata = [], ?string $reason = null, ?string $domain = null)
    {
        parent::__construct('unavailable', $message, $previous, $metadata, $reason, $domain);
    }
}
