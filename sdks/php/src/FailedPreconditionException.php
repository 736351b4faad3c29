<?php
declare(strict_types=1);

namespace Attache;

/** The module is not configured or enabled on the sidecar. */
final class FailedPreconditionException extends AttacheException
{
    public function __construct(string $message, ?\Throwable $previous = null)
    {
        parent::__construct('failed_precondition', $message, $previous);
    }
}
