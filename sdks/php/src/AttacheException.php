<?php
declare(strict_types=1);

namespace Attache;

/**
 * Every failed call throws an AttacheException (or one of its subclasses)
 * carrying the status code name, e.g. "invalid_argument".
 */
class AttacheException extends \RuntimeException
{
    private const CLASSES = [
        'invalid_argument' => InvalidArgumentException::class,
        'resource_exhausted' => ResourceExhaustedException::class,
        'unavailable' => UnavailableException::class,
        'deadline_exceeded' => DeadlineExceededException::class,
        'failed_precondition' => FailedPreconditionException::class,
    ];

    public function __construct(public readonly string $errorCode, string $message, ?\Throwable $previous = null)
    {
        parent::__construct($message, 0, $previous);
    }

    /** Builds the most specific exception class for a Connect error code. */
    public static function fromCode(string $code, string $message): self
    {
        $class = self::CLASSES[$code] ?? self::class;
        return $class === self::class ? new self($code, $message) : new $class($message);
    }

    /** Whether the same call may succeed if sent again later. */
    public function isRetryable(): bool
    {
        return $this->errorCode === 'unavailable' || $this->errorCode === 'resource_exhausted';
    }
}
