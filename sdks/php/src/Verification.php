<?php
declare(strict_types=1);

namespace Attache;

/** The result of PasswordClient::verify(). */
final class Verification
{
    public function __construct(
        public readonly bool $valid,
        /** The hash's algorithm or costs differ from the sidecar's policy: store a fresh hash. */
        public readonly bool $needsRehash,
    ) {
    }
}
