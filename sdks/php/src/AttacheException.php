<?php
declare(strict_types=1);

namespace Attache;

/**
 * Every failed call throws an AttacheException (or one of its subclasses)
 * carrying the status code name, e.g. "invalid_argument", and the error's
 * structured detail when it has one (attache.sidecar.v1.ErrorInfo): for
 * Postgres, the SQLSTATE and the fields Postgres gave (sqlstate(),
 * constraint(), detail(), position()...).
 */
class AttacheException extends \RuntimeException
{
    private const CLASSES = [
        'invalid_argument' => InvalidArgumentException::class,
        'resource_exhausted' => ResourceExhaustedException::class,
        'unavailable' => UnavailableException::class,
        'deadline_exceeded' => DeadlineExceededException::class,
        'failed_precondition' => FailedPreconditionException::class,
        'not_found' => NotFoundException::class,
        'already_exists' => AlreadyExistsException::class,
        'aborted' => AbortedException::class,
        'out_of_range' => OutOfRangeException::class,
    ];

    private const ERROR_INFO = 'attache.sidecar.v1.ErrorInfo';

    /**
     * @param array<string, string> $metadata named facts about the error, e.g. ['sqlstate' => '23505', 'constraint' => 'users_email_key']
     * @param ?string               $reason   a stable machine-readable reason
     * @param ?string               $domain   the module that raised it, e.g. 'postgres'
     */
    public function __construct(
        public readonly string $errorCode,
        string $message,
        ?\Throwable $previous = null,
        public readonly array $metadata = [],
        public readonly ?string $reason = null,
        public readonly ?string $domain = null,
    ) {
        parent::__construct($message, 0, $previous);
    }

    /**
     * Builds the most specific exception class for a Connect error code,
     * with the ErrorInfo among `$details` (a Connect error's "details").
     *
     * @param list<mixed> $details
     */
    public static function fromCode(string $code, string $message, array $details = []): self
    {
        [$metadata, $reason, $domain] = self::errorInfo($details);
        $class = self::CLASSES[$code] ?? self::class;
        if ($class === AlreadyExistsException::class && $domain === 'postgres' && ($metadata['sqlstate'] ?? null) === '23505') {
            $class = UniqueViolationException::class;
        }
        return $class === self::class
            ? new self($code, $message, null, $metadata, $reason, $domain)
            : new $class($message, null, $metadata, $reason, $domain);
    }

    /** Whether the same call may succeed if sent again later. */
    public function isRetryable(): bool
    {
        return $this->errorCode === 'unavailable' || $this->errorCode === 'resource_exhausted';
    }

    /** Postgres's SQLSTATE, e.g. '23505' (unique violation) or '42601' (syntax error). */
    public function sqlstate(): ?string
    {
        return $this->metadata['sqlstate'] ?? null;
    }

    /** The constraint a Postgres error names, e.g. 'users_email_key'. */
    public function constraint(): ?string
    {
        return $this->metadata['constraint'] ?? null;
    }

    /** The table a Postgres error names. */
    public function table(): ?string
    {
        return $this->metadata['table'] ?? null;
    }

    /** The column a Postgres error names. */
    public function column(): ?string
    {
        return $this->metadata['column'] ?? null;
    }

    /** Postgres's DETAIL line, e.g. 'Key (email)=(a@b.c) already exists.' */
    public function detail(): ?string
    {
        return $this->metadata['detail'] ?? null;
    }

    /** Postgres's HINT line. */
    public function hint(): ?string
    {
        return $this->metadata['hint'] ?? null;
    }

    /** Where in the SQL the error is, as Postgres gives it: a 1-based character index, as a string. */
    public function position(): ?string
    {
        return $this->metadata['position'] ?? null;
    }

    /**
     * The ErrorInfo detail: its JSON copy in `debug`, else its protobuf `value`.
     *
     * @param list<mixed> $details
     * @return array{array<string, string>, ?string, ?string}
     */
    private static function errorInfo(array $details): array
    {
        foreach ($details as $detail) {
            // Connect names the type bare; a gRPC Any has a type.googleapis.com/ prefix.
            $type = is_array($detail) ? (string) ($detail['type'] ?? '') : '';
            if (substr($type, (int) strrpos('/' . $type, '/')) !== self::ERROR_INFO) {
                continue;
            }
            $debug = $detail['debug'] ?? null;
            if (is_array($debug)) {
                $metadata = [];
                foreach (is_array($debug['metadata'] ?? null) ? $debug['metadata'] : [] as $key => $value) {
                    if (is_scalar($value)) {
                        $metadata[(string) $key] = (string) $value;
                    }
                }
                return [$metadata, self::nonEmpty($debug['reason'] ?? null), self::nonEmpty($debug['domain'] ?? null)];
            }
            if (is_string($detail['value'] ?? null)) {
                $bytes = base64_decode(strtr($detail['value'], '-_', '+/'), true);
                if ($bytes !== false) {
                    $decoded = self::decodeErrorInfo($bytes);
                    if ($decoded !== null) {
                        return $decoded;
                    }
                }
            }
        }
        return [[], null, null];
    }

    private static function nonEmpty(mixed $value): ?string
    {
        return is_string($value) && $value !== '' ? $value : null;
    }

    /**
     * ErrorInfo from its protobuf bytes: reason = 1, domain = 2, metadata =
     * 3 (map entries: key = 1, value = 2), all length-delimited.
     *
     * @return ?array{array<string, string>, ?string, ?string} null if malformed
     */
    private static function decodeErrorInfo(string $bytes): ?array
    {
        $fields = self::lengthDelimited($bytes);
        if ($fields === null) {
            return null;
        }
        $metadata = [];
        $reason = $domain = null;
        foreach ($fields as [$number, $value]) {
            if ($number === 1) {
                $reason = $value;
            } elseif ($number === 2) {
                $domain = $value;
            } elseif ($number === 3) {
                $entry = self::lengthDelimited($value);
                if ($entry === null) {
                    return null;
                }
                $key = $val = '';
                foreach ($entry as [$n, $v]) {
                    if ($n === 1) {
                        $key = $v;
                    } elseif ($n === 2) {
                        $val = $v;
                    }
                }
                $metadata[$key] = $val;
            }
        }
        return [$metadata, self::nonEmpty($reason), self::nonEmpty($domain)];
    }

    /**
     * The length-delimited fields of a message, as [number, bytes] pairs;
     * varint fields are skipped; null if the bytes are not protobuf.
     *
     * @return ?list<array{int, string}>
     */
    private static function lengthDelimited(string $bytes): ?array
    {
        $fields = [];
        $at = 0;
        $end = strlen($bytes);
        $varint = static function () use ($bytes, &$at, $end): ?int {
            $value = 0;
            for ($shift = 0; $at < $end && $shift < 64; $shift += 7) {
                $byte = ord($bytes[$at++]);
                $value |= ($byte & 0x7f) << $shift;
                if ($byte < 0x80) {
                    return $value;
                }
            }
            return null;
        };
        while ($at < $end) {
            $tag = $varint();
            if ($tag === null) {
                return null;
            }
            $wire = $tag & 7;
            if ($wire === 0) {
                if ($varint() === null) {
                    return null;
                }
            } elseif ($wire === 2) {
                $length = $varint();
                if ($length === null || $length < 0 || $at + $length > $end) {
                    return null;
                }
                $fields[] = [$tag >> 3, substr($bytes, $at, $length)];
                $at += $length;
            } else {
                return null;
            }
        }
        return $fields;
    }
}
