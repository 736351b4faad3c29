<?php
declare(strict_types=1);

namespace Attache;

/** An encoded output of ImageClient::resize(). */
final class ResizedImage
{
    public function __construct(
        public readonly string $data,
        public readonly int $width,
        public readonly int $height,
        /** "jpeg", "png" or "webp". */
        public readonly string $format,
        public readonly int $inputBytes,
        public readonly int $outputBytes,
    ) {
    }

    /** @param array<string, mixed> $r */
    public static function fromReply(array $r): self
    {
        return new self(
            base64_decode((string) ($r['image'] ?? ''), true) ?: '',
            (int) ($r['width'] ?? 0),
            (int) ($r['height'] ?? 0),
            self::formatName((string) ($r['format'] ?? '')),
            (int) ($r['inputBytes'] ?? 0),
            (int) ($r['outputBytes'] ?? 0),
        );
    }

    public static function formatName(string $wire): string
    {
        return strtolower(substr($wire, strlen('FORMAT_')));
    }
}
