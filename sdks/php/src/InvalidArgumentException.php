<?php
declare(strict_types=1);

namespace Attache;

/** The request was malformed or broke a limit; fix it before retrying. */
final class InvalidArgumentException extends AttacheException
{
    /** @param array<string, string> $metadata */
    public function __construct(string $message, ?\Throwable $previous = null, array $metadata = [], ?string $reason = null, ?string $domain = null)
    {
        parent::__construct('invalid_argument', $message, $previous, $metadata, $reason, $domain);
    }
}
