<?php
declare(strict_types=1);

namespace Attache;

/** A value is outside the range its type can hold. */
final class OutOfRangeException extends AttacheException
{
    /** @param array<string, string> $metadata */
    public function __construct(string $message, ?\Throwable $previous = null, array $metadata = [], ?string $reason = null, ?string $domain = null)
    {
        parent::__construct('out_of_range', $message, $previous, $metadata, $reason, $domain);
    }
}
