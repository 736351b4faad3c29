<?php
declare(strict_types=1);

namespace Attache;

/**
 * Image resizing on the sidecar's image threads, off the PHP worker.
 *
 *     $out = $attache->image->resize(file_get_contents('upload.jpg'), ['width' => 720, 'fit' => 'cover']);
 *     file_put_contents('thumb.jpg', $out->data);
 *
 * Options (sharp's names): width, height, fit (cover|contain|fill|inside|
 * outside), gravity (centre|north|northeast|...|northwest|entropy), format
 * (jpeg|png|webp; avif is refused), quality (1-100), withoutEnlargement,
 * background ("#rrggbb" or "#rrggbbaa"), progressive, keepMetadata.
 */
final class ImageClient
{
    private const SERVICE = 'attache.image.v1.ImageService/';
    private const FITS = ['cover' => 'FIT_COVER', 'contain' => 'FIT_CONTAIN', 'fill' => 'FIT_FILL', 'inside' => 'FIT_INSIDE', 'outside' => 'FIT_OUTSIDE'];
    private const GRAVITIES = [
        'centre' => 'GRAVITY_CENTRE', 'center' => 'GRAVITY_CENTRE', 'north' => 'GRAVITY_NORTH',
        'northeast' => 'GRAVITY_NORTH_EAST', 'east' => 'GRAVITY_EAST', 'southeast' => 'GRAVITY_SOUTH_EAST',
        'south' => 'GRAVITY_SOUTH', 'southwest' => 'GRAVITY_SOUTH_WEST', 'west' => 'GRAVITY_WEST',
        'northwest' => 'GRAVITY_NORTH_WEST', 'entropy' => 'GRAVITY_ENTROPY',
    ];
    private const FORMATS = ['jpeg' => 'FORMAT_JPEG', 'png' => 'FORMAT_PNG', 'webp' => 'FORMAT_WEBP', 'avif' => 'FORMAT_AVIF'];
    private const PLAIN = ['width', 'height', 'quality', 'withoutEnlargement', 'background', 'progressive', 'keepMetadata'];

    public function __construct(private readonly Transport $transport)
    {
    }

    /** @param array<string, mixed> $options */
    public function resize(string $image, array $options = [], ?int $timeoutMs = null): ResizedImage
    {
        $request = ['image' => base64_encode($image)] + self::options($options);
        return ResizedImage::fromReply($this->transport->call(self::SERVICE . 'Resize', $request, $timeoutMs));
    }

    /**
     * Several outputs (a thumbnail set) from one input, decoded once.
     *
     * @param list<array<string, mixed>> $outputs
     * @return list<ResizedImage>
     */
    public function resizeMany(string $image, array $outputs, ?int $timeoutMs = null): array
    {
        $request = ['image' => base64_encode($image), 'outputs' => array_map(self::options(...), $outputs)];
        $reply = $this->transport->call(self::SERVICE . 'ResizeMany', $request, $timeoutMs);
        return array_map(ResizedImage::fromReply(...), $reply['outputs'] ?? []);
    }

    /**
     * What the header says, without decoding pixels: format, width, height,
     * orientation, uprightWidth, uprightHeight, hasAlpha, colorSpace,
     * bitDepth, progressive, hasIccProfile, hasExif.
     *
     * @return array<string, mixed>
     */
    public function probe(string $image, ?int $timeoutMs = null): array
    {
        $r = $this->transport->call(self::SERVICE . 'Probe', ['image' => base64_encode($image)], $timeoutMs);
        return [
            'format' => ResizedImage::formatName($r['format'] ?? ''),
            'width' => (int) ($r['width'] ?? 0),
            'height' => (int) ($r['height'] ?? 0),
            'orientation' => (int) ($r['orientation'] ?? 1),
            'uprightWidth' => (int) ($r['uprightWidth'] ?? 0),
            'uprightHeight' => (int) ($r['uprightHeight'] ?? 0),
            'hasAlpha' => (bool) ($r['hasAlpha'] ?? false),
            'colorSpace' => strtolower(substr((string) ($r['colorSpace'] ?? ''), strlen('COLOR_SPACE_'))),
            'bitDepth' => (int) ($r['bitDepth'] ?? 0),
            'progressive' => (bool) ($r['progressive'] ?? false),
            'hasIccProfile' => (bool) ($r['hasIccProfile'] ?? false),
            'hasExif' => (bool) ($r['hasExif'] ?? false),
        ];
    }

    /**
     * @param array<string, mixed> $options
     * @return array<string, mixed>
     */
    private static function options(array $options): array
    {
        $out = [];
        foreach ($options as $name => $value) {
            $out[$name] = match ($name) {
                'fit' => self::FITS[$value] ?? throw self::unknown('fit', $value, self::FITS),
                'gravity' => self::GRAVITIES[$value] ?? throw self::unknown('gravity', $value, self::GRAVITIES),
                'format' => self::FORMATS[$value] ?? throw self::unknown('format', $value, self::FORMATS),
                default => in_array($name, self::PLAIN, true)
                    ? $value
                    : throw new InvalidArgumentException("unknown option \"$name\"; use fit, gravity, format, " . implode(', ', self::PLAIN)),
            };
        }
        return $out;
    }

    /** @param array<string, string> $table */
    private static function unknown(string $what, mixed $value, array $table): InvalidArgumentException
    {
        return new InvalidArgumentException("unknown $what \"$value\"; use " . implode(', ', array_keys($table)));
    }
}
