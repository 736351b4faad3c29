<?php
declare(strict_types=1);

namespace Attache;

/** The sidecar (or its backend) cannot be reached; retry later. */
final class UnavailableException extends AttacheException
{
    public function __construct(string $message, ?\Throwable $previous = null)
    {
        parent::__construct('unavailable', $message, $previous);
    }
}
