<?php
// Interop peer: PHP's own password_hash / password_verify.
//   php vectors.php make    prints [{lib, password, hash}] made by PHP
//   php vectors.php check   reads [{password, hash}] on stdin, prints [bool]
declare(strict_types=1);

$passwords = ['correct horse battery staple', 'pässwörd ✓', str_repeat('long-', 20)];

if (($argv[1] ?? '') === 'make') {
    $out = [];
    foreach ($passwords as $pw) {
        $out[] = ['lib' => 'php bcrypt', 'password' => $pw, 'hash' => password_hash($pw, PASSWORD_BCRYPT, ['cost' => 4])];
        $out[] = ['lib' => 'php argon2i', 'password' => $pw, 'hash' => password_hash($pw, PASSWORD_ARGON2I, ['memory_cost' => 1024, 'time_cost' => 1, 'threads' => 1])];
        $out[] = ['lib' => 'php argon2id', 'password' => $pw, 'hash' => password_hash($pw, PASSWORD_ARGON2ID, ['memory_cost' => 1024, 'time_cost' => 1, 'threads' => 1])];
    }
    echo json_encode($out, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES), "\n";
} elseif (($argv[1] ?? '') === 'check') {
    $cases = json_decode(stream_get_contents(STDIN), true, flags: JSON_THROW_ON_ERROR);
    echo json_encode(array_map(fn ($c) => password_verify($c['password'], $c['hash']), $cases)), "\n";
} else {
    fwrite(STDERR, "usage: php vectors.php make|check\n");
    exit(2);
}
