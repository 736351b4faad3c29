<?php
declare(strict_types=1);

namespace Attache;

/** The sidecar is at its limit; retry with backoff. */
final class ResourceExhaustedException extends AttacheException
{
    public function __construct(string $message, ?\Throwable $previous = null)
    {
        parent::__construct('resource_exhausted', $message, $previous);
    }
}
