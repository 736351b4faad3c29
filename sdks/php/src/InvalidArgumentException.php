<?php
declare(strict_types=1);

namespace Attache;

/** The request was malformed or broke a limit; fix it before retrying. */
final class InvalidArgumentException extends AttacheException
{
    public function __construct(string $message, ?\Throwable $previous = null)
    {
        parent::__construct('invalid_argument', $message, $previous);
    }
}
