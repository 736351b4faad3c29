<?php
// Round-trip latency from PHP: raw Unix-socket echo (the floor) and a
// trivial unary RPC through the SDK (Connect JSON over curl).
// Usage: php transport.php ATTACHE_SOCKET ECHO_SOCKET N  -> JSON on stdout.
declare(strict_types=1);

require __DIR__ . '/../../sdks/php/src/autoload.php';

[, $attacheSocket, $echoSocket, $n] = $argv;
$n = (int) $n;
$warmup = intdiv($n, 10);

function percentiles(array $samples): array
{
    sort($samples);
    $at = fn (float $q) => $samples[(int) round((count($samples) - 1) * $q)] / 1000;
    return ['p50_us' => $at(0.5), 'p99_us' => $at(0.99), 'n' => count($samples)];
}

$echo = stream_socket_client("unix://$echoSocket");
$msg = str_repeat("\x07", 32);
$floor = [];
for ($i = 0; $i < $n + $warmup; $i++) {
    $t = hrtime(true);
    fwrite($echo, $msg);
    $got = '';
    while (strlen($got) < 32) {
        $got .= fread($echo, 32 - strlen($got));
    }
    if ($i >= $warmup) {
        $floor[] = hrtime(true) - $t;
    }
}

$client = new Attache\Client($attacheSocket);
$sdk = [];
for ($i = 0; $i < $n + $warmup; $i++) {
    $t = hrtime(true);
    $client->info();
    if ($i >= $warmup) {
        $sdk[] = hrtime(true) - $t;
    }
}

// A PHP-FPM request that lives once: a new client (new curl handle, new
// connection) per call.
$fresh = [];
for ($i = 0; $i < intdiv($n, 4) + $warmup; $i++) {
    $t = hrtime(true);
    (new Attache\Client($attacheSocket))->info();
    if ($i >= $warmup) {
        $fresh[] = hrtime(true) - $t;
    }
}

echo json_encode(['client' => 'php', 'floor' => percentiles($floor), 'attache' => percentiles($sdk), 'attache_new_connection' => percentiles($fresh)]), "\n";
