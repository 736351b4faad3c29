<?php
// Where a PHP SDK call's time goes: the steps of Attache\Transport::call for
// a trivial GetInfo, done here one by one with hrtime() around each, on one
// persistent Unix-socket connection (the SDK's own code, step for step).
// Usage: php steps.php ATTACHE_SOCKET N  -> JSON of p50 µs per step on stdout.
declare(strict_types=1);

[, $socket, $n] = $argv;
$n = (int) $n;
$stream = stream_socket_client("unix://$socket", $errno, $error, 1.0, STREAM_CLIENT_CONNECT | STREAM_CLIENT_PERSISTENT);
$steps = [];
$time = function (string $step, callable $fn) use (&$steps) {
    $t = hrtime(true);
    $out = $fn();
    $steps[$step][] = hrtime(true) - $t;
    return $out;
};
for ($i = 0; $i < $n + intdiv($n, 10); $i++) {
    $t0 = hrtime(true);
    $body = $time('json_encode', fn () => json_encode((object) [], JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE));
    $request = $time('build request', fn () => "POST /attache.sidecar.v1.SidecarService/GetInfo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        . "Connect-Protocol-Version: 1\r\nConnect-Timeout-Ms: 10000\r\nContent-Length: " . strlen($body) . "\r\n\r\n" . $body);
    $time('liveness check (stream_select, feof)', function () use ($stream) {
        $read = [$stream];
        $none = [];
        return @stream_select($read, $none, $none, 0) !== 0 || feof($stream);
    });
    $time('stream_set_timeout', fn () => stream_set_timeout($stream, 11, 0));
    $time('fwrite', fn () => fwrite($stream, $request));
    $buffer = $time('fread until the head (the round trip)', function () use ($stream) {
        $buffer = '';
        while (strpos($buffer, "\r\n\r\n") === false) {
            $buffer .= fread($stream, 65536);
        }
        return $buffer;
    });
    $body = $time('parse head', function () use ($buffer) {
        $end = strpos($buffer, "\r\n\r\n");
        $head = substr($buffer, 0, $end);
        $status = (int) substr($head, strpos($head, ' ') + 1, 3);
        $lower = strtolower($head);
        $headers = [];
        foreach (['content-length', 'transfer-encoding', 'connection'] as $name) {
            $at = strpos($lower, "\r\n$name:");
            if ($at !== false) {
                $from = $at + strlen($name) + 3;
                $to = strpos($head, "\r\n", $from);
                $headers[$name] = trim($to === false ? substr($head, $from) : substr($head, $from, $to - $from));
            }
        }
        return substr(substr($buffer, $end + 4), 0, (int) $headers['content-length']);
    });
    $time('json_decode', fn () => json_decode($body, true));
    $steps['whole call'][] = hrtime(true) - $t0;
}
$out = [];
foreach ($steps as $step => $samples) {
    $samples = array_slice($samples, intdiv($n, 10));
    sort($samples);
    $out[$step] = round($samples[intdiv(count($samples), 2)] / 1000, 2);
}
echo json_encode($out, JSON_PRETTY_PRINT), "\n";
