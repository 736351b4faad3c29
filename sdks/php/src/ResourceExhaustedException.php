<?php
declare(strict_types=1);

namespace Attache;

/** The sidecar is at its limit; retry with backoff. */
final class ResourceExhaustedException extends AttacheException
{
    /** @param array<string, string> $metadata */
    public function __construct(string $message, ?\Throwable $previous = null, array $metadata = [], ?string $reason = null, ?string $domain = null)
    {
        parent::__construct('resource_exhausted', $message, $previous, $metadata, $reason, $domain);
    }
}
