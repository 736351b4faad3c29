<?php
declare(strict_types=1);

namespace Attache;

/** The call's deadline passed. */
final class DeadlineExceededException extends AttacheException
{
    /** @param array<string, string> $metadata */
    public function __construct(string $message, ?\Throwable $previous = null, array $metadata = [], ?string $reason = null, ?string $domain = null)
    {
        parent::__construct('deadline_exceeded', $message, $previous, $metadata, $reason, $domain);
    }
}
