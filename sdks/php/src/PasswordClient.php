<?php
declare(strict_types=1);

namespace Attache;

/** Password hashing on the sidecar's dedicated threads. */
final class PasswordClient
{
    private const SERVICE = 'attache.password.v1.PasswordService/';
    private const ALGORITHMS = [
        'argon2id' => 'ALGORITHM_ARGON2ID',
        'bcrypt' => 'ALGORITHM_BCRYPT',
        'scrypt' => 'ALGORITHM_SCRYPT',
    ];

    public function __construct(private readonly Transport $transport)
    {
    }

    /**
     * Hashes a password; returns a PHC (`$argon2id$...`) or bcrypt (`$2b$...`)
     * string that PHP's password_verify() also accepts (argon2id, bcrypt).
     *
     * @param ?string $algorithm "argon2id", "bcrypt", "scrypt", or null for the sidecar's policy
     * @param array{argon2?: array{memoryKib?: int, iterations?: int, parallelism?: int}, bcrypt?: array{cost?: int}, scrypt?: array{logN?: int, r?: int, p?: int}} $costs
     */
    public function hash(string $password, ?string $algorithm = null, array $costs = [], ?int $timeoutMs = null): string
    {
        $request = ['password' => $password];
        if ($algorithm !== null) {
            $request['algorithm'] = self::ALGORITHMS[$algorithm]
                ?? throw new InvalidArgumentException("unknown algorithm \"$algorithm\"; use argon2id, bcrypt or scrypt");
        }
        foreach (['argon2', 'bcrypt', 'scrypt'] as $name) {
            if (isset($costs[$name])) {
                $request[$name] = $costs[$name];
            }
        }
        $reply = $this->transport->call(self::SERVICE . 'Hash', $request, $timeoutMs);
        return (string) $reply['hash'];
    }

    /** Checks a password against a stored hash made by attache or any compatible library. */
    public function verify(string $password, string $hash, ?int $timeoutMs = null): Verification
    {
        $reply = $this->transport->call(self::SERVICE . 'Verify', ['password' => $password, 'hash' => $hash], $timeoutMs);
        return new Verification((bool) ($reply['valid'] ?? false), (bool) ($reply['needsRehash'] ?? false));
    }
}
