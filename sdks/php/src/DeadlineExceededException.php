<?php
declare(strict_types=1);

namespace Attache;

/** The call's deadline passed. */
final class DeadlineExceededException extends AttacheException
{
    public function __construct(string $message, ?\Throwable $previous = null)
    {
        parent::__construct('deadline_exceeded', $message, $previous);
    }
}
